/* httphead: HTTP/1.x request heads and message framing over http-parser.
 *
 * A request head is parsed whole (bounded by the caller) and checked for
 * the shapes that let a proxy and an origin disagree about where a message
 * ends (request smuggling): Content-Length with Transfer-Encoding, several
 * Content-Length, a Transfer-Encoding other than "chunked", obs-fold
 * continuation lines, NUL bytes, several Host headers.  Bodies and
 * responses are not rebuilt: the caller forwards the raw bytes the parser
 * consumed, and the parser says where each message ends. */
#ifndef BB_HTTPHEAD_H
#define BB_HTTPHEAD_H

#include <stddef.h>
#include <stdint.h>
#include <http_parser.h>

#define BB_HEAD_MAX (32u * 1024) /* larger request heads are refused, 431 */
#define BB_HEADERS_MAX 100

struct bb_hdr {
	char *name;
	char *value;
};

struct bb_http_head {
	const char *method;      /* static, from http-parser */
	int method_id;           /* enum http_method */
	char *target;            /* request-target as sent */
	int major, minor;
	struct bb_hdr *h;
	size_t nh;
	int keep_alive;          /* http_should_keep_alive after the head */
	int upgrade;             /* Upgrade requested (no body follows) */
	int complete;            /* the message ended with the head */
};

/* Framing state the feeders report. */
struct bb_http_msg {
	int headers_done;
	int complete;    /* the message ended; the parser is paused */
	int status;      /* response status */
	int skip_body;   /* set by the caller: response to HEAD */
	int keep_alive;
	int upgrade;
};

/* Offset just past the blank line ending a head in buf, or 0 when the
 * head is incomplete.  Both CRLF and bare LF line ends count. */
size_t bb_http_head_end(const char *buf, size_t len);

/* Parse a complete request head of exactly len bytes.  p is initialised
 * here and is left ready for bb_http_feed (the body).  Returns 0, or the
 * HTTP status to refuse with (400) and *reason. */
int bb_http_request_head(http_parser *p, struct bb_http_msg *msg,
			 const char *buf, size_t len, struct bb_http_head *h,
			 const char **reason);
void bb_http_head_free(struct bb_http_head *h);

/* First header named name (case-insensitive), or NULL. */
const char *bb_http_get(const struct bb_http_head *h, const char *name);

/* Initialise p for a stream of responses. */
void bb_http_response_init(http_parser *p, struct bb_http_msg *msg);

/* Feed bytes of a message body (request) or of responses.  Returns the
 * number of bytes consumed; stops after a message completes
 * (msg->complete).  Returns (size_t)-1 and *reason on a framing error.
 * len 0 signals end of input. */
size_t bb_http_feed(http_parser *p, const char *buf, size_t len,
		    const char **reason);

/* Start the next message on a paused parser. */
void bb_http_next(http_parser *p, struct bb_http_msg *msg);

#endif
