#include "proxyreply.h"

#include <http_parser.h>
#include <stdint.h>
#include <string.h>

struct acc {
	char phrase[BB_PROXY_REASON_MAX + 1];
	size_t plen;
	char body[BB_PROXY_BODY_READ];
	size_t blen;
	int head, done, till_close;
};

static void add(char *dst, size_t *len, size_t cap, const char *at, size_t n)
{
	if (n > cap - *len)
		n = cap - *len;
	memcpy(dst + *len, at, n);
	*len += n;
}

static int on_status(http_parser *p, const char *at, size_t n)
{
	struct acc *a = p->data;

	add(a->phrase, &a->plen, sizeof(a->phrase) - 1, at, n);
	return 0;
}

static int on_headers(http_parser *p)
{
	struct acc *a = p->data;

	a->head = 1;
	a->till_close = !(p->flags & F_CHUNKED) && p->content_length == UINT64_MAX;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct acc *a = p->data;

	add(a->body, &a->blen, sizeof(a->body), at, n);
	if (a->blen == sizeof(a->body)) {
		a->done = 1;
		http_parser_pause(p, 1);
	}
	return 0;
}

static int on_complete(http_parser *p)
{
	struct acc *a = p->data;

	a->done = 1;
	http_parser_pause(p, 1);
	return 0;
}

int bb_proxy_refusal(const char *buf, size_t len, int eof,
		     struct bb_proxy_refusal *r)
{
	static const http_parser_settings s = {
		.on_status = on_status,
		.on_headers_complete = on_headers,
		.on_body = on_body,
		.on_message_complete = on_complete,
	};
	struct acc a = {0};
	http_parser p;
	enum http_errno e;

	http_parser_init(&p, HTTP_RESPONSE);
	p.data = &a;
	http_parser_execute(&p, &s, buf, len);
	e = HTTP_PARSER_ERRNO(&p);
	if (!a.head)
		return e != HPE_OK || eof ? -1 : 0;
	/* A broken body still has its status and what came before. */
	if (!a.done && !eof && !a.till_close && e == HPE_OK)
		return 0;
	r->status = (int)p.status_code;
	if (!bb_text_clean(a.body, a.blen, r->reason, sizeof(r->reason)))
		bb_text_clean(a.phrase, a.plen, r->reason, sizeof(r->reason));
	return 1;
}

size_t bb_text_clean(const char *in, size_t n, char *out, size_t size)
{
	size_t o = 0, i;

	if (!size)
		return 0;
	for (i = 0; i < n && o + 1 < size; i++) {
		unsigned char ch = (unsigned char)in[i];
		char c = ch >= 0x80 ? '?' : ch <= ' ' || ch == 0x7f ? ' ' : (char)ch;

		if (c == ' ' && (o == 0 || out[o - 1] == ' '))
			continue;
		if (ch >= 0x80 && i > 0 && (unsigned char)in[i - 1] >= 0x80)
			continue;
		out[o++] = c;
	}
	while (o && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
	return o;
}
