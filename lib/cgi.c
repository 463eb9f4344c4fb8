#include "cgi.h"
#include "httphead.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

/* A CGI header block ends like an HTTP head: one finder for both. */
size_t gg_cgi_head_end(const char *buf, size_t len)
{
	return bb_http_head_end(buf, len);
}

const char *gg_http_reason(int status)
{
	switch (status) {
	case 100: return "Continue";
	case 200: return "OK";
	case 206: return "Partial Content";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 411: return "Length Required";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	default: return "Unknown";
	}
}

static int token_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || (c && strchr("!#$%&'*+-.^_`|~", c));
}

static int hop_by_hop(const char *name, size_t n)
{
	static const char *const drop[] = {"Connection", "Keep-Alive",
					   "Transfer-Encoding", "Upgrade",
					   "Proxy-Connection", "Server"};

	for (size_t i = 0; i < sizeof(drop) / sizeof(drop[0]); i++)
		if (strlen(drop[i]) == n && strncasecmp(name, drop[i], n) == 0)
			return 1;
	return 0;
}

struct out {
	char *p;
	size_t len, cap;
};

static int put(struct out *o, const char *s, size_t n)
{
	if (o->len + n + 1 > o->cap) {
		size_t cap = (o->len + n + 1) * 2;
		char *np = realloc(o->p, cap);

		if (!np)
			return -1;
		o->p = np;
		o->cap = cap;
	}
	memcpy(o->p + o->len, s, n);
	o->len += n;
	o->p[o->len] = '\0';
	return 0;
}

/* "Status: 404 Not Found" -> 404; -1 when not three digits in 100..599. */
static int parse_status(const char *v, size_t n)
{
	if (n < 3 || v[0] < '1' || v[0] > '5' || v[1] < '0' || v[1] > '9' ||
	    v[2] < '0' || v[2] > '9' || (n > 3 && v[3] != ' '))
		return -1;
	return (v[0] - '0') * 100 + (v[1] - '0') * 10 + (v[2] - '0');
}

static int add_line(struct out *hdrs, const char *line, size_t n,
		    int *status)
{
	const char *colon = memchr(line, ':', n), *v;
	size_t nl, vl;

	if (!colon || colon == line)
		return -1;
	nl = (size_t)(colon - line);
	for (size_t i = 0; i < nl; i++)
		if (!token_char(line[i]))
			return -1;
	v = colon + 1;
	vl = n - nl - 1;
	while (vl && (*v == ' ' || *v == '\t')) {
		v++;
		vl--;
	}
	for (size_t i = 0; i < vl; i++)
		if ((unsigned char)v[i] < 0x20 && v[i] != '\t')
			return -1;
	if (nl == 6 && strncasecmp(line, "Status", 6) == 0) {
		*status = parse_status(v, vl);
		return *status < 0 ? -1 : 0;
	}
	if (hop_by_hop(line, nl))
		return 0;
	if (put(hdrs, line, nl) < 0 || put(hdrs, ": ", 2) < 0 ||
	    put(hdrs, v, vl) < 0 || put(hdrs, "\r\n", 2) < 0)
		return -1;
	return 0;
}

char *gg_cgi_http_head(const char *buf, size_t end, int *status)
{
	struct out hdrs = {0}, head = {0};
	size_t i = 0;
	char first[64];
	int n;

	*status = 200;
	while (i < end) {
		const char *nl = memchr(buf + i, '\n', end - i);
		size_t len;

		if (!nl)
			goto bad;
		len = (size_t)(nl - (buf + i));
		if (len && buf[i + len - 1] == '\r')
			len--;
		if (len == 0)
			break;
		if (add_line(&hdrs, buf + i, len, status) < 0)
			goto bad;
		i = (size_t)(nl - buf) + 1;
	}
	n = snprintf(first, sizeof(first), "HTTP/1.1 %d %s\r\n", *status,
		     gg_http_reason(*status));
	if (put(&head, first, (size_t)n) < 0 ||
	    (hdrs.len && put(&head, hdrs.p, hdrs.len) < 0) ||
	    put(&head, "Server: bb-gitgate\r\nConnection: close\r\n\r\n",
		41) < 0)
		goto bad;
	free(hdrs.p);
	return head.p;
bad:
	free(hdrs.p);
	free(head.p);
	return NULL;
}
