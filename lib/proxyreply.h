/* proxyreply: a parent proxy's refusal of our CONNECT (pipelock's
 * "403 blocked: REASON"), as the agent is told it.  The answer is
 * untrusted text: only its status and a short, cleaned reason are kept. */
#ifndef BB_PROXYREPLY_H
#define BB_PROXYREPLY_H

#include <stddef.h>

#define BB_PROXY_REASON_MAX 200 /* bytes of reason the agent is given */
#define BB_PROXY_BODY_READ 1024 /* bytes of body read for it */

struct bb_proxy_refusal {
	int status;
	char reason[BB_PROXY_REASON_MAX + 1];
};

/* buf holds the proxy's answer from its first byte, len bytes so far;
 * eof: no more will come.  The reason is the body, cleaned, or when that
 * is empty the status line's reason phrase.  Returns 1 with r filled once
 * the body is in (complete, BB_PROXY_BODY_READ bytes, or all that came
 * with the head when its length is only known at the close), 0 when more
 * is needed, -1 when buf is not an HTTP response head. */
int bb_proxy_refusal(const char *buf, size_t len, int eof,
		     struct bb_proxy_refusal *r);

/* Untrusted text made fit for one line of JSON or log: printable ASCII
 * kept, each run of whitespace and control characters one space, each
 * run of other bytes one '?', trimmed, at most size - 1 bytes.  Returns
 * the length written. */
size_t bb_text_clean(const char *in, size_t n, char *out, size_t size);

#endif
