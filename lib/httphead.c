#include "httphead.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct collect {
	struct bb_http_head *h;
	struct bb_http_msg *msg;
	int in_value;
	int oom;
};

size_t bb_http_head_end(const char *buf, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++) {
		if (buf[i] != '\n')
			continue;
		if (i + 1 < len && buf[i + 1] == '\n')
			return i + 2;
		if (i + 2 < len && buf[i + 1] == '\r' && buf[i + 2] == '\n')
			return i + 3;
	}
	return 0;
}

static int append(char **dst, const char *at, size_t n)
{
	size_t old = *dst ? strlen(*dst) : 0;
	char *s;

	if (old + n > BB_HEAD_MAX)
		return -1;
	s = realloc(*dst, old + n + 1);
	if (!s)
		return -1;
	memcpy(s + old, at, n);
	s[old + n] = '\0';
	*dst = s;
	return 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct collect *c = p->data;

	if (append(&c->h->target, at, n) < 0)
		c->oom = 1;
	return c->oom;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
	struct collect *c = p->data;
	struct bb_http_head *h = c->h;

	if (c->in_value || h->nh == 0) {
		struct bb_hdr *nv;

		if (h->nh >= BB_HEADERS_MAX ||
		    !(nv = realloc(h->h, (h->nh + 1) * sizeof(*nv)))) {
			c->oom = 1;
			return 1;
		}
		h->h = nv;
		h->h[h->nh].name = NULL;
		h->h[h->nh].value = NULL;
		h->nh++;
		c->in_value = 0;
	}
	if (append(&h->h[h->nh - 1].name, at, n) < 0)
		c->oom = 1;
	return c->oom;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
	struct collect *c = p->data;

	c->in_value = 1;
	if (append(&c->h->h[c->h->nh - 1].value, at, n) < 0)
		c->oom = 1;
	return c->oom;
}

static int on_head_done(http_parser *p)
{
	struct collect *c = p->data;

	c->msg->headers_done = 1;
	http_parser_pause(p, 1);
	return 0;
}

static int on_headers_complete(http_parser *p)
{
	struct bb_http_msg *m = p->data;

	m->headers_done = 1;
	m->status = p->status_code;
	return m->skip_body ? 1 : 0;
}

static int on_message_complete(http_parser *p)
{
	struct bb_http_msg *m = p->data;

	m->complete = 1;
	m->keep_alive = http_should_keep_alive(p);
	m->upgrade = p->upgrade;
	http_parser_pause(p, 1);
	return 0;
}

static const http_parser_settings head_settings = {
	.on_url = on_url,
	.on_header_field = on_field,
	.on_header_value = on_value,
	.on_headers_complete = on_head_done,
};

static const http_parser_settings body_settings = {
	.on_headers_complete = on_headers_complete,
	.on_message_complete = on_message_complete,
};

void bb_http_head_free(struct bb_http_head *h)
{
	size_t i;

	for (i = 0; i < h->nh; i++) {
		free(h->h[i].name);
		free(h->h[i].value);
	}
	free(h->h);
	free(h->target);
	memset(h, 0, sizeof(*h));
}

const char *bb_http_get(const struct bb_http_head *h, const char *name)
{
	size_t i;

	for (i = 0; i < h->nh; i++)
		if (h->h[i].name && strcasecmp(h->h[i].name, name) == 0)
			return h->h[i].value ? h->h[i].value : "";
	return NULL;
}

static size_t count(const struct bb_http_head *h, const char *name)
{
	size_t i, n = 0;

	for (i = 0; i < h->nh; i++)
		if (h->h[i].name && strcasecmp(h->h[i].name, name) == 0)
			n++;
	return n;
}

static int te_is_chunked(const char *v)
{
	if (!v)
		return 0;
	while (*v == ' ' || *v == '\t')
		v++;
	if (strncasecmp(v, "chunked", 7) != 0)
		return 0;
	for (v += 7; *v == ' ' || *v == '\t'; v++)
		;
	return *v == '\0';
}

/* The checks http-parser leaves to us, or whose wording we want fixed. */
static const char *smuggling_shape(const char *buf, size_t len,
				   const struct bb_http_head *h)
{
	size_t i, te = count(h, "Transfer-Encoding");
	size_t cl = count(h, "Content-Length");
	const char *v;

	if (memchr(buf, '\0', len))
		return "NUL byte in the request head";
	for (i = 0; i + 1 < len; i++)
		if (buf[i] == '\n' && (buf[i + 1] == ' ' || buf[i + 1] == '\t'))
			return "obsolete line folding in the request head";
	if (cl && te)
		return "both Content-Length and Transfer-Encoding";
	if (cl > 1)
		return "more than one Content-Length";
	if (te > 1 || (te && !te_is_chunked(bb_http_get(h, "Transfer-Encoding"))))
		return "Transfer-Encoding other than chunked";
	if (cl) {
		v = bb_http_get(h, "Content-Length");
		if (!v || !*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 18)
			return "invalid Content-Length";
	}
	if (count(h, "Host") > 1)
		return "more than one Host header";
	for (i = 0; i < h->nh; i++)
		if (!h->h[i].name || !*h->h[i].name)
			return "empty header name";
	return NULL;
}

int bb_http_request_head(http_parser *p, struct bb_http_msg *msg,
			 const char *buf, size_t len, struct bb_http_head *h,
			 const char **reason)
{
	struct collect c = {.h = h, .msg = msg};
	size_t n, rest;

	memset(h, 0, sizeof(*h));
	memset(msg, 0, sizeof(*msg));
	http_parser_init(p, HTTP_REQUEST);
	/* Refused below with a clearer reason. */
	p->allow_chunked_length = 1;
	p->data = &c;
	n = http_parser_execute(p, &head_settings, buf, len);
	if (c.oom) {
		*reason = "request head too large or too many headers";
		return 431;
	}
	if (!msg->headers_done ||
	    (HTTP_PARSER_ERRNO(p) != HPE_OK && HTTP_PARSER_ERRNO(p) != HPE_PAUSED)) {
		*reason = smuggling_shape(buf, len, h);
		if (!*reason)
			*reason = HTTP_PARSER_ERRNO(p) != HPE_OK
				  ? http_errno_description(HTTP_PARSER_ERRNO(p))
				  : "incomplete request head";
		return 400;
	}
	h->method_id = (int)p->method;
	h->method = http_method_str((enum http_method)p->method);
	h->major = p->http_major;
	h->minor = p->http_minor;
	h->keep_alive = http_should_keep_alive(p);
	if (!h->target || h->major != 1) {
		*reason = "unsupported HTTP version";
		return 400;
	}
	if ((*reason = smuggling_shape(buf, len, h)))
		return 400;
	/* The blank line's last byte is still unread: finish the head. */
	http_parser_pause(p, 0);
	p->data = msg;
	rest = len - n;
	if (bb_http_feed(p, buf + n, rest, reason) != rest && !msg->complete) {
		if (!*reason)
			*reason = "malformed request head";
		return 400;
	}
	h->upgrade = p->upgrade;
	h->complete = msg->complete;
	return 0;
}

void bb_http_response_init(http_parser *p, struct bb_http_msg *msg)
{
	memset(msg, 0, sizeof(*msg));
	http_parser_init(p, HTTP_RESPONSE);
	p->data = msg;
}

size_t bb_http_feed(http_parser *p, const char *buf, size_t len,
		    const char **reason)
{
	struct bb_http_msg *m = p->data;
	size_t n;

	*reason = NULL;
	if (m->complete)
		return 0;
	n = http_parser_execute(p, &body_settings, buf, len);
	if (HTTP_PARSER_ERRNO(p) != HPE_OK && HTTP_PARSER_ERRNO(p) != HPE_PAUSED) {
		*reason = http_errno_description(HTTP_PARSER_ERRNO(p));
		return (size_t)-1;
	}
	if (p->upgrade && m->headers_done && !m->complete) {
		/* http-parser stops at an upgrade without completing. */
		m->complete = 1;
		m->upgrade = 1;
		m->keep_alive = 0;
	}
	return n;
}

void bb_http_next(http_parser *p, struct bb_http_msg *msg)
{
	int skip = msg->skip_body;

	memset(msg, 0, sizeof(*msg));
	msg->skip_body = skip;
	http_parser_pause(p, 0);
}
