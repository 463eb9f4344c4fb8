#include "egress.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent_struct.h>
#include <event2/dns.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "ca.h"
#include "file.h"
#include "httphead.h"
#include "json.h"
#include "proxyreply.h"

#define HWM (256 * 1024)      /* per-direction buffer bound */
#define IDLE_SECS 120         /* client idle between requests */
#define UPSTREAM_SECS 600     /* upstream silence (long SSE gaps) */
#define CONNECT_SECS 30
#define DRAIN_SECS 10
#define MAX_LISTEN 16
#define MAX_CONNS 400         /* agent connections at once (2 fds each) */
#define SESS_CACHE 64
#define POOL_MAX 64           /* idle upstream connections kept */
#define POOL_SECS 30          /* and for how long */
#define PROXY_ANSWER_MAX (8192 + BB_PROXY_BODY_READ) /* a refusal's head and body */

static const char HINT[] =
	"ask the operator with the supervise tool request_egress_route";

enum cstate { C_HEAD, C_BODY, C_WAIT, C_RELAY, C_CLOSING };

struct conn;

struct upstream {
	struct bufferevent *bev;
	struct evbuffer *pending; /* held until a chained tunnel is up */
	char host[BB_HOST_MAX + 1];
	int port;
	int tls;
	int ready;                /* bytes may go to bev */
	int connected;            /* its socket is (write_now may run) */
	int proxy_wait;           /* waiting for the parent proxy's 200 */
	http_parser p;
	struct bb_http_msg msg;
	struct conn *c;
	struct upstream *pprev, *pnext; /* in S.pool when idle */
	int pooled;
};

struct conn {
	struct bufferevent *bev;
	evutil_socket_t fd;
	int tls, admin;
	char thost[BB_HOST_MAX + 1];
	int tport;
	enum cstate st;
	http_parser rp;
	struct bb_http_msg rmsg;
	/* the exchange in flight */
	int active, req_keep, req_upgrade, resp_started;
	char method[24];
	char host[BB_HOST_MAX + 1];
	char path[2048];
	char route[BB_HOST_MAX + 1];
	struct timespec t0;
	unsigned long long bytes_in, bytes_out;
	struct upstream *up;
	struct conn *prev, *next;
};

struct sess {
	char key[BB_HOST_MAX + 8];
	SSL_SESSION *s;
};

static struct server {
	const struct bb_egress_cfg *cfg;
	struct event_base *base;
	struct evdns_base *dns;
	struct evconnlistener *ls[MAX_LISTEN];
	int lsadmin[MAX_LISTEN];
	char *lspath[MAX_LISTEN];
	size_t nls;
	struct bb_routes routes;
	struct bb_tokens tokens;
	struct bb_ca ca;
	SSL_CTX *srv, *cli;
	int audit;             /* fd, or -1 */
	char abuf[1 << 16];    /* whole audit lines not yet written */
	size_t alen;
	struct conn *conns;
	size_t nconns;
	int draining;
	char proxy_host[BB_HOST_MAX + 1];
	int proxy_port;
	struct sess sess[SESS_CACHE];
	unsigned sess_next;
	struct event *flush_ev;
	int flush_pending;
	struct upstream *pool; /* idle kept-alive upstream connections */
	size_t npool;
	int worker;            /* a forked worker: the parent owns the files */
	pid_t parent;          /* the process that forked the workers */
	pid_t kids[BB_EGRESS_WORKERS_MAX];
	int nkids, kid_failed;
} S;

/* ---- environment tokens ------------------------------------------- */

extern char **environ;

int bb_egress_take_env_tokens(struct bb_tokens *t, struct bb_err *err)
{
	size_t i = 0;

	while (environ && environ[i]) {
		char *e = environ[i], *eq = strchr(e, '=');
		char name[64];
		size_t n = eq ? (size_t)(eq - e) : 0;

		if (!eq || n >= sizeof(name)) {
			i++;
			continue;
		}
		memcpy(name, e, n);
		name[n] = '\0';
		if (!bb_token_name_ok(name)) {
			i++;
			continue;
		}
		if (bb_tokens_set(t, name, eq + 1) < 0)
			return bb_errf(err, name, "out of memory");
		/* unsetenv drops the pointer; the bytes /proc shows stay. */
		n = strlen(e);
		unsetenv(name);
		explicit_bzero(e, n);
	}
	return 0;
}

int bb_resolve_parse(const char *s, struct bb_resolve *r)
{
	const char *c1 = strchr(s, ':'), *c2 = c1 ? strchr(c1 + 1, ':') : NULL;
	char port[8];
	struct in6_addr a6;
	int p;

	memset(r, 0, sizeof(*r));
	if (!c1 || !c2 || (size_t)(c2 - c1 - 1) >= sizeof(port) ||
	    strlen(c2 + 1) >= sizeof(r->addr))
		return -1;
	if (bb_host_norm(s, (size_t)(c1 - s), r->host, sizeof(r->host), &p) < 0)
		return -1;
	memcpy(port, c1 + 1, (size_t)(c2 - c1 - 1));
	port[c2 - c1 - 1] = '\0';
	r->port = atoi(port);
	strcpy(r->addr, c2 + 1);
	if (r->port < 1 || r->port > 65535 ||
	    (inet_pton(AF_INET, r->addr, &a6) != 1 &&
	     inet_pton(AF_INET6, r->addr, &a6) != 1))
		return -1;
	return 0;
}

/* ---- audit -------------------------------------------------------- */

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void write_all(int fd, const char *p, size_t n)
{
	ssize_t w;

	while (n > 0) {
		w = write(fd, p, n);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the log is gone: the proxy goes on */
		p += w;
		n -= (size_t)w;
	}
}

/* Write whole lines only, at most PIPE_BUF at a time where lines allow:
 * workers share the audit file (O_APPEND) or pipe, and a write of that
 * size is never interleaved with another's. */
static void audit_flush(void)
{
	size_t off = 0, end, n;

	while (off < S.alen) {
		n = S.alen - off < PIPE_BUF ? S.alen - off : PIPE_BUF;
		end = n;
		while (end > 0 && S.abuf[off + end - 1] != '\n')
			end--;
		if (end == 0) /* one line longer than PIPE_BUF */
			end = (size_t)((char *)memchr(S.abuf + off, '\n',
						      S.alen - off) -
				       (S.abuf + off)) + 1;
		write_all(S.audit, S.abuf + off, end);
		off += end;
	}
	S.alen = 0;
}

static void audit_line(const json_t *o)
{
	size_t flags = JSON_COMPACT | JSON_REAL_PRECISION(6), room, n;
	char *big;

	for (;;) {
		room = sizeof(S.abuf) - S.alen;
		n = json_dumpb(o, S.abuf + S.alen, room, flags);
		if (n == 0)
			return;
		if (n < room) {
			S.alen += n;
			S.abuf[S.alen++] = '\n';
			return;
		}
		if (S.alen == 0)
			break;
		audit_flush();
	}
	if ((big = json_dumps(o, flags))) { /* larger than the buffer */
		n = strlen(big);
		write_all(S.audit, big, n);
		write_all(S.audit, "\n", 1);
		free(big);
	}
}

static void audit(struct conn *c, const char *decision, int status,
		  const char *reason)
{
	struct timespec now;
	struct tm tm;
	char ts[40];
	json_t *o;

	if (S.audit < 0)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	snprintf(ts, sizeof(ts), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, now.tv_nsec / 1000000);
	o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:I, s:I, s:f}",
		      "time", ts, "method", c->method, "host", c->host,
		      "path", c->path, "decision", decision, "status", status,
		      "reason", reason ? reason : "", "bytes",
		      (json_int_t)c->bytes_out, "request_bytes",
		      (json_int_t)c->bytes_in, "duration_ms",
		      c->active ? ms_since(&c->t0) : 0.0);
	if (!o)
		return;
	json_object_set_new(o, "route",
			    c->route[0] ? json_string(c->route) : json_null());
	audit_line(o);
	json_decref(o);
	/* Flushed once the callbacks of this loop turn are done. */
	if (S.flush_ev && !S.flush_pending) {
		S.flush_pending = 1;
		event_active(S.flush_ev, EV_TIMEOUT, 0);
	} else if (!S.flush_ev) {
		audit_flush();
	}
}

static void flush_audit(evutil_socket_t fd, short what, void *arg)
{
	S.flush_pending = 0;
	audit_flush();
}

/* ---- connections -------------------------------------------------- */

static void client_read(struct bufferevent *bev, void *arg);
static void client_write(struct bufferevent *bev, void *arg);
static void client_event(struct bufferevent *bev, short what, void *arg);
static void up_read(struct bufferevent *bev, void *arg);
static void up_write(struct bufferevent *bev, void *arg);
static void up_event(struct bufferevent *bev, short what, void *arg);

static void pool_remove(struct upstream *u)
{
	if (!u->pooled)
		return;
	if (u->pprev)
		u->pprev->pnext = u->pnext;
	else
		S.pool = u->pnext;
	if (u->pnext)
		u->pnext->pprev = u->pprev;
	u->pooled = 0;
	u->pprev = u->pnext = NULL;
	S.npool--;
}

static void up_free(struct upstream *u)
{
	if (!u)
		return;
	pool_remove(u);
	if (u->bev)
		bufferevent_free(u->bev);
	if (u->pending)
		evbuffer_free(u->pending);
	if (u->c && u->c->up == u)
		u->c->up = NULL;
	free(u);
}

/* An idle pooled connection that speaks or closes is done. */
static void pool_read(struct bufferevent *bev, void *arg)
{
	up_free(arg);
}

static void pool_event(struct bufferevent *bev, short what, void *arg)
{
	up_free(arg);
}

/* Keep a finished, kept-alive upstream connection for the next agent
 * connection to the same host (agents often open one connection per
 * request); else free it.  The pool serves one bottle only. */
static void pool_put(struct upstream *u)
{
	struct timeval tv = {POOL_SECS, 0};

	if (!u)
		return;
	if (u->c && u->c->up == u)
		u->c->up = NULL;
	u->c = NULL;
	if (S.draining || S.npool >= POOL_MAX || !u->ready || u->proxy_wait ||
	    !u->msg.complete || !u->msg.keep_alive || u->msg.upgrade ||
	    evbuffer_get_length(bufferevent_get_input(u->bev)) ||
	    evbuffer_get_length(bufferevent_get_output(u->bev)) ||
	    evbuffer_get_length(u->pending) ||
	    (bufferevent_openssl_get_ssl(u->bev) &&
	     SSL_has_pending(bufferevent_openssl_get_ssl(u->bev)))) {
		up_free(u);
		return;
	}
	bufferevent_setcb(u->bev, pool_read, NULL, pool_event, u);
	bufferevent_set_timeouts(u->bev, &tv, NULL);
	bufferevent_enable(u->bev, EV_READ);
	u->pnext = S.pool;
	if (S.pool)
		S.pool->pprev = u;
	S.pool = u;
	u->pooled = 1;
	S.npool++;
}

static struct upstream *pool_take(const char *host, int port, int tls)
{
	struct upstream *u;

	for (u = S.pool; u; u = u->pnext)
		if (u->port == port && u->tls == tls && strcmp(u->host, host) == 0)
			break;
	if (u)
		pool_remove(u);
	return u;
}

static void maybe_finish_drain(void)
{
	if (S.draining && S.nconns == 0)
		event_base_loopexit(S.base, NULL);
}

static void conn_free(struct conn *c)
{
	if (c->up && !c->active && c->st != C_RELAY)
		pool_put(c->up);
	else
		up_free(c->up);
	if (c->bev)
		bufferevent_free(c->bev);
	if (!c->tls && c->fd >= 0)
		evutil_closesocket(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		S.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	S.nconns--;
	free(c);
	maybe_finish_drain();
}

static void reset_exchange(struct conn *c)
{
	c->active = c->req_keep = c->req_upgrade = c->resp_started = 0;
	c->method[0] = c->host[0] = c->path[0] = c->route[0] = '\0';
	c->bytes_in = c->bytes_out = 0;
}

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 431: return "Request Header Fields Too Large";
	case 502: return "Bad Gateway";
	default: return "Error";
	}
}

static void send_json(struct conn *c, int status, const char *tag,
		      json_t *body)
{
	struct evbuffer *out = bufferevent_get_output(c->bev);
	char *s = tag ? json_dumps(body, JSON_COMPACT) : bb_json_string(body);
	size_t n = s ? strlen(s) : 0, before = evbuffer_get_length(out);

	evbuffer_add_printf(out,
			    "HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			    "Content-Length: %zu\r\n%s%s%sConnection: close\r\n\r\n",
			    status, status_text(status), n + (tag ? 1 : 0),
			    tag ? "X-Bb-Egress: " : "", tag ? tag : "",
			    tag ? "\r\n" : "");
	if (s)
		evbuffer_add(out, s, n);
	if (tag)
		evbuffer_add(out, "\n", 1);
	c->bytes_out += evbuffer_get_length(out) - before;
	free(s);
	json_decref(body);
	c->st = C_CLOSING;
	bufferevent_disable(c->bev, EV_READ);
	bufferevent_enable(c->bev, EV_WRITE);
	up_free(c->up);
}

/* Answer the agent ourselves and close: a refusal or a failure, with
 * the fields of extra (NULL, or an object this takes) added. */
static void refuse_more(struct conn *c, int status, const char *reason,
			json_t *extra)
{
	const char *error, *tag, *hint;
	json_t *body;

	switch (status) {
	case 403:
		error = "egress_denied", tag = "denied", hint = HINT;
		break;
	case 431:
		error = "egress_head_too_large", tag = "head-too-large";
		hint = "send a request head under 32 KiB";
		break;
	case 502:
		error = "egress_upstream_error", tag = "upstream-error";
		hint = "retry later, or ask the operator if it persists";
		break;
	default:
		status = 400;
		error = "egress_bad_request", tag = "bad-request";
		hint = "send a well-formed HTTP/1.1 request";
		break;
	}
	body = json_pack("{s:s, s:s, s:s, s:s, s:s}", "error", error, "host",
			 c->host, "path", c->path, "reason", reason, "hint",
			 hint);
	if (extra)
		json_object_update(body, extra);
	json_decref(extra);
	send_json(c, status, tag, body);
	audit(c, status == 403 ? "deny" : "error", status, reason);
}

static void refuse(struct conn *c, int status, const char *reason)
{
	refuse_more(c, status, reason, NULL);
}

/* ---- upstream ----------------------------------------------------- */

static struct evbuffer *up_out(struct upstream *u)
{
	return u->ready ? bufferevent_get_output(u->bev) : u->pending;
}

static int sess_slot(const char *host, int port, char *key, size_t n)
{
	unsigned i;

	snprintf(key, n, "%s:%d", host, port);
	for (i = 0; i < SESS_CACHE; i++)
		if (S.sess[i].s && strcmp(S.sess[i].key, key) == 0)
			return (int)i;
	return -1;
}

static int sess_new(SSL *ssl, SSL_SESSION *sess)
{
	struct upstream *u = SSL_get_app_data(ssl);
	char key[BB_HOST_MAX + 8];
	int i;

	if (!u)
		return 0;
	i = sess_slot(u->host, u->port, key, sizeof(key));
	if (i < 0) {
		i = (int)(S.sess_next++ % SESS_CACHE);
		snprintf(S.sess[i].key, sizeof(S.sess[i].key), "%s", key);
	}
	SSL_SESSION_free(S.sess[i].s);
	S.sess[i].s = sess;
	return 1;
}

static SSL *up_ssl(struct upstream *u)
{
	SSL *ssl = SSL_new(S.cli);
	char key[BB_HOST_MAX + 8];
	int i;

	if (!ssl)
		return NULL;
	SSL_set_app_data(ssl, u);
	if (!SSL_set_tlsext_host_name(ssl, u->host) ||
	    !SSL_set1_host(ssl, u->host)) {
		SSL_free(ssl);
		return NULL;
	}
	if ((i = sess_slot(u->host, u->port, key, sizeof(key))) >= 0)
		SSL_set_session(ssl, S.sess[i].s);
	return ssl;
}

static const struct bb_resolve *resolve_find(const char *host, int port)
{
	size_t i;

	for (i = 0; i < S.cfg->nresolve; i++)
		if (S.cfg->resolve[i].port == port &&
		    strcmp(S.cfg->resolve[i].host, host) == 0)
			return &S.cfg->resolve[i];
	return NULL;
}

static int dial(struct bufferevent *bev, const char *host, int port)
{
	const struct bb_resolve *r = resolve_find(host, port);
	struct sockaddr_storage ss;
	struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;

	if (!r)
		return bufferevent_socket_connect_hostname(bev, S.dns, AF_UNSPEC,
							   host, port);
	memset(&ss, 0, sizeof(ss));
	if (inet_pton(AF_INET, r->addr, &s4->sin_addr) == 1) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		return bufferevent_socket_connect(bev, (struct sockaddr *)s4,
						  sizeof(*s4));
	}
	inet_pton(AF_INET6, r->addr, &s6->sin6_addr);
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)port);
	return bufferevent_socket_connect(bev, (struct sockaddr *)s6,
					  sizeof(*s6));
}

static struct upstream *up_connect(struct conn *c, const char *host, int port,
				   int tls)
{
	struct upstream *u;
	int chained = S.proxy_host[0] != '\0';
	SSL *ssl = NULL;
	struct timeval tv = {CONNECT_SECS, 0};

	if ((u = pool_take(host, port, tls))) {
		struct timeval up_tv = {UPSTREAM_SECS, 0};

		u->c = c;
		bufferevent_setcb(u->bev, up_read, up_write, up_event, c);
		bufferevent_set_timeouts(u->bev, &up_tv, &up_tv);
		bufferevent_enable(u->bev, EV_READ | EV_WRITE);
		c->up = u;
		return u;
	}
	if (!(u = calloc(1, sizeof(*u))))
		return NULL;
	snprintf(u->host, sizeof(u->host), "%s", host);
	u->port = port;
	u->tls = tls;
	u->c = c;
	u->pending = evbuffer_new();
	if (!u->pending)
		goto fail;
	if (tls && !chained) {
		if (!(ssl = up_ssl(u)))
			goto fail;
		u->bev = bufferevent_openssl_socket_new(
			S.base, -1, ssl, BUFFEREVENT_SSL_CONNECTING,
			BEV_OPT_CLOSE_ON_FREE);
		if (!u->bev) {
			SSL_free(ssl);
			goto fail;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(u->bev, 1);
		u->ready = 1;
	} else {
		u->bev = bufferevent_socket_new(S.base, -1, BEV_OPT_CLOSE_ON_FREE);
		if (!u->bev)
			goto fail;
		u->ready = !chained;
		u->proxy_wait = chained;
	}
	bufferevent_setcb(u->bev, up_read, up_write, up_event, c);
	bufferevent_setwatermark(u->bev, EV_READ, 0, HWM);
	bufferevent_set_timeouts(u->bev, &tv, &tv);
	bufferevent_enable(u->bev, EV_READ | EV_WRITE);
	if ((chained ? dial(u->bev, S.proxy_host, S.proxy_port)
		     : dial(u->bev, host, port)) < 0)
		goto fail;
	c->up = u;
	return u;
fail:
	up_free(u);
	return NULL;
}

/* The parent proxy refused our CONNECT: once its short answer is in
 * (or it closed), the agent gets its status and why.  0: wait. */
static int proxy_refused(struct conn *c, struct upstream *u, int eof)
{
	static const char what[] = "upstream proxy refused the CONNECT";
	struct evbuffer *in = bufferevent_get_input(u->bev);
	size_t len = evbuffer_get_length(in);
	struct bb_proxy_refusal r;
	const char *p;
	int rc;

	if (len >= PROXY_ANSWER_MAX)
		len = PROXY_ANSWER_MAX, eof = 1;
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)len);
	rc = p ? bb_proxy_refusal(p, len, eof, &r) : -1;
	if (rc == 0)
		return 0;
	if (rc < 0)
		refuse(c, 502, what);
	else
		refuse_more(c, 502, what,
			    json_pack("{s:i, s:s}", "upstream_status", r.status,
				      "upstream_reason", r.reason));
	return -1;
}

/* The parent proxy answered our CONNECT: start TLS inside the tunnel. */
static int proxy_established(struct conn *c, struct upstream *u)
{
	struct evbuffer *in = bufferevent_get_input(u->bev);
	size_t len = evbuffer_get_length(in), end;
	char *p = (char *)evbuffer_pullup(in, (ev_ssize_t)(len < 8192 ? len : 8192));
	struct bufferevent *tb;
	SSL *ssl;
	int major, minor, status;

	end = p ? bb_http_head_end(p, len < 8192 ? len : 8192) : 0;
	if (!end) {
		if (len >= 8192) {
			refuse(c, 502, "upstream proxy sent an oversized answer");
			return -1;
		}
		return 0;
	}
	if (sscanf(p, "HTTP/%d.%d %d", &major, &minor, &status) != 3 ||
	    status != 200)
		return proxy_refused(c, u, 0);
	evbuffer_drain(in, end);
	u->proxy_wait = 0;
	if (u->tls) {
		if (!(ssl = up_ssl(u))) {
			refuse(c, 502, "cannot start upstream TLS");
			return -1;
		}
		SSL_set_read_ahead(ssl, 0); /* it reads from memory */
		tb = bufferevent_openssl_filter_new(S.base, u->bev, ssl,
						    BUFFEREVENT_SSL_CONNECTING,
						    BEV_OPT_CLOSE_ON_FREE);
		if (!tb) {
			SSL_free(ssl);
			refuse(c, 502, "cannot start upstream TLS");
			return -1;
		}
		bufferevent_openssl_set_allow_dirty_shutdown(tb, 1);
		u->bev = tb;
		bufferevent_setcb(tb, up_read, up_write, up_event, c);
		bufferevent_setwatermark(tb, EV_READ, 0, HWM);
		bufferevent_enable(tb, EV_READ | EV_WRITE);
	}
	u->ready = 1;
	bufferevent_write_buffer(u->bev, u->pending);
	return 0;
}

/* ---- moving bytes ------------------------------------------------- */

/* Throttle src while dst holds more than HWM; dst's write callback
 * (fired at HWM/2) lets it go again. */
static void throttle(struct bufferevent *src, struct bufferevent *dst,
		     struct evbuffer *dstout)
{
	if (evbuffer_get_length(dstout) > HWM) {
		bufferevent_disable(src, EV_READ);
		if (dst)
			bufferevent_setwatermark(dst, EV_WRITE, HWM / 2, 0);
	}
}

/* Feed the parser from the front of in, move what it consumed to out.
 * Returns the bytes moved, or -1 on a framing error. */
static long feed_move(http_parser *p, struct evbuffer *in,
		      struct evbuffer *out, const char **reason)
{
	struct evbuffer_iovec v[16];
	int nv = evbuffer_peek(in, -1, NULL, v, 16), i;
	size_t total = 0, n;
	struct bb_http_msg *m = p->data;

	if (nv > 16)
		nv = 16;
	for (i = 0; i < nv && !m->complete; i++) {
		n = bb_http_feed(p, v[i].iov_base, v[i].iov_len, reason);
		if (n == (size_t)-1)
			return -1;
		total += n;
		if (n < v[i].iov_len)
			break;
	}
	if (total)
		evbuffer_remove_buffer(in, out, total);
	return (long)total;
}

static int pump_request(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	struct upstream *u = c->up;
	const char *reason = NULL;
	long n;

	if (!u)
		return 0;
	do {
		n = feed_move(&c->rp, in, up_out(u), &reason);
		if (n < 0) {
			if (c->resp_started)
				return -1;
			refuse(c, 400, reason ? reason : "malformed request body");
			return 0;
		}
		c->bytes_in += (unsigned long long)n;
	} while (n > 0 && !c->rmsg.complete && evbuffer_get_length(in));
	if (c->rmsg.complete) {
		/* Input stays buffered (bounded by the read watermark). */
		c->st = C_WAIT;
	} else {
		throttle(c->bev, u->ready ? u->bev : NULL, up_out(u));
	}
	return 0;
}

static int handle_head(struct conn *c);

static int exchange_done(struct conn *c)
{
	struct upstream *u = c->up;
	int keep = c->req_keep && u && u->msg.keep_alive && c->rmsg.complete &&
		   !S.draining;

	audit(c, "allow", u ? u->msg.status : 0, NULL);
	if (u && !u->msg.keep_alive)
		up_free(u);
	reset_exchange(c);
	if (!keep) {
		c->st = C_CLOSING;
		bufferevent_disable(c->bev, EV_READ);
		if (c->rmsg.complete)
			pool_put(c->up);
		else
			up_free(c->up);
		if (evbuffer_get_length(bufferevent_get_output(c->bev)) == 0)
			return -1;
		return 0;
	}
	c->st = C_HEAD;
	bufferevent_enable(c->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_input(c->bev)))
		return handle_head(c);
	return 0;
}

static void relay(struct bufferevent *src, struct bufferevent *dst)
{
	struct evbuffer *out = bufferevent_get_output(dst);

	bufferevent_read_buffer(src, out);
	throttle(src, dst, out);
}

static int pump_response(struct conn *c)
{
	struct upstream *u = c->up;
	struct evbuffer *in = bufferevent_get_input(u->bev);
	struct evbuffer *out = bufferevent_get_output(c->bev);
	const char *reason = NULL;
	long n;

	for (;;) {
		n = feed_move(&u->p, in, out, &reason);
		if (n < 0)
			return c->resp_started ? -1
					       : (refuse(c, 502, "malformed upstream response"), 0);
		if (n > 0)
			c->resp_started = 1;
		c->bytes_out += (unsigned long long)n;
		if (!u->msg.complete)
			break;
		if (u->msg.status >= 100 && u->msg.status < 200 &&
		    u->msg.status != 101) {
			bb_http_next(&u->p, &u->msg);
			continue;
		}
		if (u->msg.status == 101 && c->req_upgrade) {
			audit(c, "allow", 101, "upgraded");
			c->st = C_RELAY;
			evbuffer_add_buffer(out, in);
			bufferevent_enable(c->bev, EV_READ);
			if (evbuffer_get_length(bufferevent_get_input(c->bev)))
				relay(c->bev, u->bev);
			return 0;
		}
		return exchange_done(c);
	}
	throttle(u->bev, c->bev, out);
	return 0;
}

/* ---- requests ----------------------------------------------------- */

/* Pipelock blocks compressed responses on the hosts it bumps (it scans
 * them), so through it only passthrough hosts may negotiate an encoding. */
static int identity_only(const struct bb_decision *d)
{
	return S.proxy_host[0] && !d->route->tls_passthrough;
}

static int hop_by_hop(const char *name, int authed)
{
	static const char *const drop[] = {
		"Proxy-Authorization", "Proxy-Connection", "Connection",
		"Keep-Alive", "TE", "Trailer", "Host", NULL};
	size_t i;

	if (authed && strcasecmp(name, "Authorization") == 0)
		return 1;
	for (i = 0; drop[i]; i++)
		if (strcasecmp(name, drop[i]) == 0)
			return 1;
	return 0;
}

static void build_head(struct evbuffer *b, const struct bb_http_head *h,
		       const struct bb_decision *d, const char *query,
		       int default_port)
{
	size_t i;

	evbuffer_add_printf(b, "%s %s%s HTTP/1.1\r\nHost: %s", h->method,
			    d->path, query ? query : "", d->host);
	if (d->port && d->port != default_port)
		evbuffer_add_printf(b, ":%d", d->port);
	evbuffer_add(b, "\r\n", 2);
	for (i = 0; i < h->nh; i++) {
		if (hop_by_hop(h->h[i].name, d->route->scheme != NULL) ||
		    (identity_only(d) &&
		     strcasecmp(h->h[i].name, "Accept-Encoding") == 0))
			continue;
		evbuffer_add_printf(b, "%s: %s\r\n", h->h[i].name,
				    h->h[i].value ? h->h[i].value : "");
	}
	if (h->upgrade)
		evbuffer_add(b, "Connection: Upgrade\r\n", 21);
	if (identity_only(d))
		evbuffer_add(b, "Accept-Encoding: identity\r\n", 27);
	if (d->auth_value)
		evbuffer_add_printf(b, "Authorization: %s %s\r\n",
				    d->route->scheme, d->auth_value);
	evbuffer_add(b, "\r\n", 2);
}

/* Split an absolute-form http:// target into authority and origin form. */
static const char *absolute_form(const char *target, char *auth, size_t an,
				 char *origin, size_t on)
{
	struct http_parser_url u;
	size_t len = strlen(target);

	http_parser_url_init(&u);
	if (http_parser_parse_url(target, len, 0, &u) != 0 ||
	    !(u.field_set & (1 << UF_SCHEMA)) || !(u.field_set & (1 << UF_HOST)))
		return "request-target must be an absolute http:// URL";
	if (u.field_data[UF_SCHEMA].len != 4 ||
	    strncasecmp(target + u.field_data[UF_SCHEMA].off, "http", 4) != 0)
		return "use CONNECT for https:// URLs";
	if (u.field_set & (1 << UF_USERINFO))
		return "credentials in the URL are not allowed";
	snprintf(auth, an, "%.*s", (int)(u.field_data[UF_HOST].len),
		 target + u.field_data[UF_HOST].off);
	if (u.field_set & (1 << UF_PORT))
		snprintf(auth + strlen(auth), an - strlen(auth), ":%.*s",
			 (int)u.field_data[UF_PORT].len,
			 target + u.field_data[UF_PORT].off);
	if (u.field_set & (1 << UF_PATH))
		snprintf(origin, on, "%s", target + u.field_data[UF_PATH].off);
	else
		snprintf(origin, on, "/%s", strchr(target, '?') ? strchr(target, '?') : "");
	return NULL;
}

static int do_request(struct conn *c, const struct bb_http_head *h)
{
	struct bb_request_view v = {0};
	struct bb_decision d;
	char auth[BB_HOST_MAX + 16], origin[8192];
	const char *bad = NULL, *query;
	struct evbuffer *hb;
	int port;

	snprintf(c->host, sizeof(c->host), "%s", c->tls ? c->thost : "");
	snprintf(c->path, sizeof(c->path), "%.*s", (int)strcspn(h->target, "?#"),
		 h->target);
	v.method = h->method;
	v.tls = c->tls;
	if (h->method_id == HTTP_CONNECT)
		bad = c->tls ? "CONNECT inside a tunnel" : NULL;
	else if (c->tls) {
		if (h->target[0] != '/')
			bad = "request-target must be a path inside a tunnel";
		v.target = h->target;
		v.host_header = bb_http_get(h, "Host");
		v.tunnel_host = c->thost;
		v.tunnel_port = c->tport;
	} else {
		bad = absolute_form(h->target, auth, sizeof(auth), origin,
				    sizeof(origin));
		v.target = origin;
		v.host_header = auth;
		if (!bad)
			snprintf(c->path, sizeof(c->path), "%.*s",
				 (int)strcspn(origin, "?#"), origin);
	}
	if (bad) {
		refuse(c, 400, bad);
		return 0;
	}
	bb_route_decide(&S.routes, &S.tokens, &v, &d);
	snprintf(c->host, sizeof(c->host), "%s", d.host);
	snprintf(c->path, sizeof(c->path), "%s", d.path);
	if (d.route)
		snprintf(c->route, sizeof(c->route), "%s", d.route->host);
	if (d.verdict != BB_ALLOW) {
		refuse(c, d.status, d.reason);
		return 0;
	}
	port = d.port ? d.port : (c->tls ? 443 : 80);
	if (c->up && (strcmp(c->up->host, d.host) || c->up->port != port ||
		      c->up->tls != c->tls))
		up_free(c->up);
	if (!c->up && !up_connect(c, d.host, port, c->tls)) {
		refuse(c, 502, "cannot connect upstream");
		return 0;
	}
	hb = evbuffer_new();
	if (!hb) {
		refuse(c, 502, "out of memory");
		return 0;
	}
	query = strchr(v.target, '?');
	build_head(hb, h, &d, query, c->tls ? 443 : 80);
	evbuffer_add_buffer(up_out(c->up), hb);
	evbuffer_free(hb);
	c->req_keep = h->keep_alive;
	c->req_upgrade = h->upgrade;
	if (c->up->p.data != &c->up->msg)
		bb_http_response_init(&c->up->p, &c->up->msg);
	else
		bb_http_next(&c->up->p, &c->up->msg);
	c->up->msg.skip_body = h->method_id == HTTP_HEAD;
	if (h->complete) {
		c->st = C_WAIT;
		return 0;
	}
	c->st = C_BODY;
	return pump_request(c);
}

static int sni_check(SSL *ssl, int *al, void *arg)
{
	struct conn *c = SSL_get_app_data(ssl);
	const char *name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
	char host[BB_HOST_MAX + 1];
	int port;

	if (!c || !name)
		return SSL_TLSEXT_ERR_OK;
	if (bb_host_norm(name, strlen(name), host, sizeof(host), &port) == 0 &&
	    !port && strcmp(host, c->thost) == 0)
		return SSL_TLSEXT_ERR_OK;
	snprintf(c->method, sizeof(c->method), "CONNECT");
	snprintf(c->host, sizeof(c->host), "%s", c->thost);
	audit(c, "deny", 0, "TLS SNI does not match the CONNECT target");
	*al = SSL_AD_UNRECOGNIZED_NAME;
	return SSL_TLSEXT_ERR_ALERT_FATAL;
}

static int do_connect(struct conn *c, const struct bb_http_head *h)
{
	static const char ok[] = "HTTP/1.1 200 Connection established\r\n\r\n";
	struct evbuffer *in = bufferevent_get_input(c->bev);
	X509 *leaf;
	SSL *ssl;
	struct timeval tv = {IDLE_SECS, 0};

	snprintf(c->method, sizeof(c->method), "CONNECT");
	snprintf(c->path, sizeof(c->path), "%s", h->target);
	if (bb_host_norm(h->target, strlen(h->target), c->thost,
			 sizeof(c->thost), &c->tport) < 0 || !c->tport) {
		refuse(c, 400, "CONNECT target must be host:port");
		return 0;
	}
	snprintf(c->host, sizeof(c->host), "%s", c->thost);
	/* No tunnel at all to a port nobody declared (ssh, smtp, ...). */
	if (!bb_route_port_ok(bb_routes_find(&S.routes, c->thost), c->tport, 1)) {
		refuse(c, 403, bb_routes_find(&S.routes, c->thost)
				       ? "port not allowed"
				       : "host not allowed");
		return 0;
	}
	if (evbuffer_get_length(in)) {
		refuse(c, 400, "data sent before the CONNECT answer");
		return 0;
	}
	if (!(leaf = bb_ca_leaf(&S.ca, c->thost)) || !(ssl = SSL_new(S.srv))) {
		refuse(c, 502, "cannot make a certificate for the host");
		return 0;
	}
	SSL_set_app_data(ssl, c);
	if (SSL_use_certificate(ssl, leaf) != 1 ||
	    SSL_use_PrivateKey(ssl, S.ca.leaf_key) != 1 ||
	    send(c->fd, ok, sizeof(ok) - 1, MSG_NOSIGNAL) != (ssize_t)sizeof(ok) - 1) {
		SSL_free(ssl);
		return -1;
	}
	bufferevent_free(c->bev);
	c->bev = bufferevent_openssl_socket_new(S.base, c->fd, ssl,
						BUFFEREVENT_SSL_ACCEPTING,
						BEV_OPT_CLOSE_ON_FREE);
	if (!c->bev) {
		SSL_free(ssl);
		return -1;
	}
	c->tls = 1;
	bufferevent_openssl_set_allow_dirty_shutdown(c->bev, 1);
	bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, HWM);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	reset_exchange(c);
	return 0;
}

static void do_admin(struct conn *c, const struct bb_http_head *h)
{
	snprintf(c->method, sizeof(c->method), "%s", h->method);
	if (h->method_id == HTTP_GET && strcmp(h->target, "/routes") == 0) {
		send_json(c, 200, NULL, bb_routes_describe(&S.routes));
		return;
	}
	send_json(c, 404, NULL,
		  json_pack("{s:s, s:s}", "error", "not_found", "hint",
			    "GET /routes"));
}

static int handle_head(struct conn *c)
{
	struct evbuffer *in = bufferevent_get_input(c->bev);
	size_t len = evbuffer_get_length(in), n = len < BB_HEAD_MAX ? len : BB_HEAD_MAX;
	const char *p, *reason = NULL;
	size_t end;
	struct bb_http_head h;
	int status, rc = 0;

	if (!len)
		return 0;
	p = (const char *)evbuffer_pullup(in, (ev_ssize_t)n);
	end = p ? bb_http_head_end(p, n) : 0;
	if (!end) {
		if (len >= BB_HEAD_MAX)
			refuse(c, 431, "request head larger than 32 KiB");
		return 0;
	}
	reset_exchange(c);
	c->active = 1;
	clock_gettime(CLOCK_MONOTONIC, &c->t0);
	status = bb_http_request_head(&c->rp, &c->rmsg, p, end, &h, &reason);
	evbuffer_drain(in, end);
	if (h.method)
		snprintf(c->method, sizeof(c->method), "%s", h.method);
	if (status)
		refuse(c, status, reason);
	else if (c->admin)
		do_admin(c, &h);
	else if (!c->tls && h.method_id == HTTP_CONNECT)
		rc = do_connect(c, &h);
	else
		rc = do_request(c, &h);
	bb_http_head_free(&h);
	return rc;
}

/* ---- callbacks ---------------------------------------------------- */

/* The bufferevent that owns the socket: a TLS filter's underlying one
 * (the filter writes its records into it at once), else bev itself. */
static struct bufferevent *sock_bev(struct bufferevent *bev)
{
	struct bufferevent *under = bufferevent_get_underlying(bev);

	return under ? under : bev;
}

/* Write what bev holds in this loop turn.  Left to itself libevent arms
 * EPOLLOUT when output arrives, waits a turn for the socket to report
 * writable, writes, and disarms: two epoll_ctl and an epoll_wait for each
 * write of a keep-alive exchange.  Running its write handler now makes
 * the arm and the disarm cancel out in the changelist; a socket that is
 * full gets EAGAIN and waits for EPOLLOUT as before, so backpressure is
 * unchanged.  Never for a socket still connecting (the handler would take
 * the run for the end of the connect) nor during a TLS handshake. */
static void write_now(struct bufferevent *bev)
{
	SSL *ssl = bufferevent_openssl_get_ssl(bev);

	if (!bufferevent_get_underlying(bev) && ssl && !SSL_is_init_finished(ssl))
		return;
	bev = sock_bev(bev);
	if (evbuffer_get_length(bufferevent_get_output(bev)) &&
	    event_pending(&bev->ev_write, EV_WRITE, NULL))
		event_active(&bev->ev_write, EV_WRITE, 1);
}

/* OpenSSL reads ahead (a record's header and body, or several records,
 * in one read), but libevent 2.1 reads again only when the socket says
 * so, not while OpenSSL still holds records: run its read handler for
 * those, else a request that came with the handshake's last flight, or
 * behind another, would wait for bytes that never come.  Called wherever
 * reading may resume: after our callbacks, when the other side drained,
 * when a handshake ends. */
static void read_now(struct bufferevent *bev)
{
	SSL *ssl;

	if (!bev || bufferevent_get_underlying(bev) ||
	    !(ssl = bufferevent_openssl_get_ssl(bev)) ||
	    !SSL_is_init_finished(ssl) || !SSL_has_pending(ssl))
		return;
	if (event_pending(&bev->ev_read, EV_READ, NULL))
		event_active(&bev->ev_read, EV_READ, 1);
}

/* Which sides had nothing queued when a callback began.  Only those get
 * write_now: bytes still queued from before mean the socket was full and
 * EPOLLOUT is armed, and a write now would only get EAGAIN. */
struct idle_out {
	int client, up;
};

static int out_empty(struct bufferevent *bev)
{
	return !bev || !evbuffer_get_length(bufferevent_get_output(sock_bev(bev)));
}

static struct idle_out idle_out(const struct conn *c)
{
	struct idle_out o;

	o.client = out_empty(c->bev);
	o.up = !c->up || out_empty(c->up->bev);
	return o;
}

/* After a callback that may have queued or drained bytes on either side. */
static void write_both(struct conn *c, struct idle_out o)
{
	struct upstream *u = c->up;

	if (c->bev && o.client)
		write_now(c->bev);
	if (u && u->bev && u->ready && u->connected && o.up)
		write_now(u->bev);
	read_now(c->bev);
	if (u)
		read_now(u->bev);
}

static void client_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct idle_out o = idle_out(c);
	int rc = 0;

	switch (c->st) {
	case C_HEAD:
		rc = handle_head(c);
		break;
	case C_BODY:
		rc = pump_request(c);
		break;
	case C_RELAY:
		if (c->up && c->up->bev)
			relay(bev, c->up->bev);
		break;
	default:
		break;
	}
	if (rc < 0)
		conn_free(c);
	else
		write_both(c, o);
}

static void client_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct evbuffer *out = bufferevent_get_output(bev);

	if (c->st == C_CLOSING && evbuffer_get_length(out) == 0) {
		conn_free(c);
		return;
	}
	if (evbuffer_get_length(out) <= HWM / 2) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (c->up && c->up->bev) {
			bufferevent_enable(c->up->bev, EV_READ);
			read_now(c->up->bev);
		}
	}
}

static void client_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR | BEV_EVENT_TIMEOUT))
		conn_free(c);
	else if (what & BEV_EVENT_CONNECTED)
		read_now(bev);
}

static void up_read(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;
	struct upstream *u = c->up;
	struct idle_out o = idle_out(c);
	int rc = 0;

	if (!u || u->bev != bev)
		return;
	if (u->proxy_wait)
		rc = proxy_established(c, u);
	else if (c->st == C_RELAY)
		relay(bev, c->bev);
	else if (c->active)
		rc = pump_response(c);
	else
		evbuffer_drain(bufferevent_get_input(bev), (size_t)-1);
	/* A refusal is queued for the agent: client_write frees once sent. */
	if (rc < 0 && c->st != C_CLOSING)
		conn_free(c);
	else
		write_both(c, o);
}

static void up_write(struct bufferevent *bev, void *arg)
{
	struct conn *c = arg;

	if (evbuffer_get_length(bufferevent_get_output(bev)) <= HWM / 2) {
		bufferevent_setwatermark(bev, EV_WRITE, 0, 0);
		if (c->st == C_BODY || c->st == C_RELAY) {
			bufferevent_enable(c->bev, EV_READ);
			read_now(c->bev);
		}
	}
}

static const char *up_error(struct bufferevent *bev)
{
	static char buf[300];
	unsigned long e, last = 0;
	SSL *ssl = bufferevent_openssl_get_ssl(bev);
	int se = EVUTIL_SOCKET_ERROR();
	long vr;

	while ((e = bufferevent_get_openssl_error(bev)))
		last = e;
	ERR_clear_error();
	if (ssl && (vr = SSL_get_verify_result(ssl)) != X509_V_OK) {
		snprintf(buf, sizeof(buf),
			 "upstream TLS failed: certificate verify failed (%s)",
			 X509_verify_cert_error_string(vr));
	} else if (last) {
		const char *r = ERR_reason_error_string(last);

		snprintf(buf, sizeof(buf), "upstream TLS failed: %s",
			 r ? r : "handshake error");
	} else {
		snprintf(buf, sizeof(buf), "upstream connection failed: %s",
			 se ? evutil_socket_error_to_string(se) : "closed");
	}
	return buf;
}

static void up_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn *c = arg;
	struct upstream *u = c->up;
	const char *reason = NULL;
	int one = 1;

	if (!u || u->bev != bev)
		return;
	if (what & BEV_EVENT_CONNECTED) {
		evutil_socket_t fd = bufferevent_getfd(bev);

		struct timeval tv = {UPSTREAM_SECS, 0};

		if (fd >= 0)
			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		u->connected = 1;
		if (!u->proxy_wait)
			bufferevent_set_timeouts(bev, &tv, &tv);
		if (u->proxy_wait)
			evbuffer_add_printf(bufferevent_get_output(bev),
					    "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
					    u->host, u->port, u->host, u->port);
		read_now(bev);
		return;
	}
	if (u->proxy_wait && !(what & BEV_EVENT_ERROR) &&
	    evbuffer_get_length(bufferevent_get_input(bev))) {
		proxy_refused(c, u, 1);
		return;
	}
	if ((what & BEV_EVENT_EOF) && c->active && !u->proxy_wait &&
	    c->st != C_RELAY) {
		/* A response delimited by the close ends here. */
		struct idle_out o = idle_out(c);

		bb_http_feed(&u->p, NULL, 0, &reason);
		if (u->msg.complete) {
			if (exchange_done(c) < 0)
				conn_free(c);
			else
				write_both(c, o);
			return;
		}
	}
	if (!c->active && c->st != C_RELAY) {
		up_free(u); /* an idle kept-alive upstream went away */
		return;
	}
	if (c->resp_started || c->st == C_RELAY) {
		conn_free(c);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		refuse(c, 502, "upstream timed out");
	else if (what & BEV_EVENT_ERROR)
		refuse(c, 502, up_error(bev));
	else
		refuse(c, 502, "upstream closed the connection");
}

static void accept_cb(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	struct conn *c;
	struct timeval tv = {IDLE_SECS, 0};
	int one = 1;

	if (S.draining || S.nconns >= MAX_CONNS || !(c = calloc(1, sizeof(*c)))) {
		evutil_closesocket(fd);
		return;
	}
	c->fd = fd;
	c->admin = *(int *)arg;
	if (sa->sa_family != AF_UNIX)
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->bev = bufferevent_socket_new(S.base, fd, 0);
	if (!c->bev) {
		evutil_closesocket(fd);
		free(c);
		return;
	}
	c->next = S.conns;
	if (S.conns)
		S.conns->prev = c;
	S.conns = c;
	S.nconns++;
	bufferevent_setcb(c->bev, client_read, client_write, client_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, HWM);
	bufferevent_set_timeouts(c->bev, &tv, NULL);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
}

/* ---- listening, signals, reload ----------------------------------- */

static int listen_on(const char *spec, int *admin, struct bb_err *err)
{
	struct evconnlistener *l;
	unsigned flags = LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE;

	if (S.nls >= MAX_LISTEN)
		return bb_errf(err, spec, "too many listeners");
	if (strncmp(spec, "unix:", 5) == 0) {
		struct sockaddr_un sun = {.sun_family = AF_UNIX};
		const char *path = spec + 5;
		struct stat st;
		mode_t old;

		if (!*path || strlen(path) >= sizeof(sun.sun_path))
			return bb_errf(err, spec, "bad socket path");
		strcpy(sun.sun_path, path);
		if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
			unlink(path);
		/* The agent's socket is 0666: who reaches it is the business
		 * of its directory (the bottle's, bound into the bottle only);
		 * docker's agent is not our uid.  The admin socket is ours. */
		old = umask(*admin ? 0177 : 0111);
		l = evconnlistener_new_bind(S.base, accept_cb, admin, flags, 128,
					    (struct sockaddr *)&sun, sizeof(sun));
		umask(old);
		if (l)
			S.lspath[S.nls] = strdup(path);
	} else {
		const char *colon = strrchr(spec, ':');
		char host[256];
		struct addrinfo hints = {.ai_socktype = SOCK_STREAM,
					 .ai_flags = AI_NUMERICSERV}, *ai;
		int rc;

		if (!colon || (size_t)(colon - spec) >= sizeof(host))
			return bb_errf(err, spec, "expected unix:PATH or HOST:PORT");
		snprintf(host, sizeof(host), "%.*s", (int)(colon - spec), spec);
		if ((rc = getaddrinfo(host, colon + 1, &hints, &ai)) != 0)
			return bb_errf(err, spec, "%s", gai_strerror(rc));
		l = evconnlistener_new_bind(S.base, accept_cb, admin, flags, 128,
					    ai->ai_addr, (int)ai->ai_addrlen);
		freeaddrinfo(ai);
	}
	if (!l)
		return bb_errf(err, spec, "cannot listen: %s", strerror(errno));
	S.ls[S.nls++] = l;
	return 0;
}

static void close_listeners(void)
{
	size_t i;

	for (i = 0; i < S.nls; i++) {
		evconnlistener_free(S.ls[i]);
		if (S.lspath[i]) {
			if (!S.worker)
				unlink(S.lspath[i]);
			free(S.lspath[i]);
		}
	}
	S.nls = 0;
}

static int load_token_file(const char *path, struct bb_tokens *t,
			   struct bb_err *err)
{
	struct stat st;
	char *buf;
	size_t len;
	int rc;

	if (stat(path, &st) < 0)
		return bb_errf(err, path, "%s", strerror(errno));
	if (st.st_mode & 077)
		return bb_errf(err, path, "must not be readable by group or others (mode 0600)");
	if (bb_read_file(path, 1 << 20, &buf, &len, err) < 0)
		return -1;
	rc = bb_tokens_parse(buf, len, path, t, err);
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

/* Every slot a route names must be one this process was given. */
static int check_slots(const struct bb_routes *r, const struct bb_tokens *t,
		       const char *label, struct bb_err *err)
{
	size_t i;
	char w[600];

	for (i = 0; i < r->n; i++) {
		if (!r->v[i].token_env || bb_tokens_get(t, r->v[i].token_env))
			continue;
		snprintf(w, sizeof(w), "%s: routes[%zu].token_env", label, i);
		return bb_errf(err, w,
			       "slot %s was not given to this process (new slots need a restart)",
			       r->v[i].token_env);
	}
	return 0;
}

/* Values from the file override, slots absent from it keep theirs. */
static int merge_tokens(struct bb_tokens *dst, const struct bb_tokens *src)
{
	size_t i;

	for (i = 0; i < src->n; i++)
		if (bb_tokens_set(dst, src->v[i].name, src->v[i].value) < 0)
			return -1;
	return 0;
}

static int copy_tokens(struct bb_tokens *dst, const struct bb_tokens *src)
{
	memset(dst, 0, sizeof(*dst));
	return merge_tokens(dst, src);
}

static int bb_err_set(struct bb_err *err, const char *where)
{
	if (!err->set)
		bb_errf(err, where, "out of memory");
	return -1;
}

static void reload(void)
{
	const struct bb_egress_cfg *cfg = S.cfg;
	struct bb_routes nr = {0};
	struct bb_tokens nt = {0};
	struct bb_err err = {0};

	struct bb_tokens ft = {0};
	int bad = bb_routes_load(cfg->routes_path, &nr, &err) < 0;

	if (!bad && cfg->token_file)
		bad = load_token_file(cfg->token_file, &ft, &err) < 0 ||
		      copy_tokens(&nt, &S.tokens) < 0 ||
		      merge_tokens(&nt, &ft) < 0;
	bb_tokens_free(&ft);
	if (!bad)
		bad = check_slots(&nr, cfg->token_file ? &nt : &S.tokens,
				  cfg->routes_path, &err) < 0;
	if (bad) {
		if (!err.set)
			bb_errf(&err, cfg->routes_path, "out of memory");
		size_t n = strlen(err.what);

		snprintf(err.what + n, sizeof(err.what) - n,
			 " (reload refused; the old routes stay in force)");
		bb_report(&err);
		bb_routes_free(&nr);
		bb_tokens_free(&nt);
		return;
	}
	bb_routes_free(&S.routes);
	S.routes = nr;
	if (cfg->token_file) {
		bb_tokens_free(&S.tokens);
		S.tokens = nt;
	}
	fprintf(stderr, "%s: reloaded %s: %zu routes\n", bb_progname,
		cfg->routes_path, S.routes.n);
}

static void on_hup(evutil_socket_t fd, short what, void *arg)
{
	reload();
}

static void drain_timeout(evutil_socket_t fd, short what, void *arg)
{
	event_base_loopexit(S.base, NULL);
}

static void on_term(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c, *next;
	struct timeval tv = {DRAIN_SECS, 0};

	if (S.draining)
		return;
	S.draining = 1;
	close_listeners();
	for (c = S.conns; c; c = next) {
		next = c->next;
		if (c->st == C_HEAD && !c->active &&
		    !evbuffer_get_length(bufferevent_get_input(c->bev)))
			conn_free(c);
	}
	event_base_once(S.base, -1, EV_TIMEOUT, drain_timeout, NULL, &tv);
	maybe_finish_drain();
}

static int parse_proxy(const char *url, struct bb_err *err)
{
	char auth[BB_HOST_MAX + 16], origin[16];
	int port;

	if (absolute_form(url, auth, sizeof(auth), origin, sizeof(origin)) ||
	    bb_host_norm(auth, strlen(auth), S.proxy_host, sizeof(S.proxy_host),
			 &port) < 0)
		return bb_errf(err, "--upstream-proxy",
			       "must be http://HOST:PORT");
	S.proxy_port = port ? port : 80;
	return 0;
}

static int tls_setup(const struct bb_egress_cfg *cfg, struct bb_err *err)
{
	static const unsigned char alpn[] = "\x08http/1.1";

	S.srv = SSL_CTX_new(TLS_server_method());
	S.cli = SSL_CTX_new(TLS_client_method());
	if (!S.srv || !S.cli)
		return bb_errf(err, "TLS", "cannot make a context");
	SSL_CTX_set_min_proto_version(S.srv, TLS1_2_VERSION);
	SSL_CTX_set_min_proto_version(S.cli, TLS1_2_VERSION);
	/* A record in one read, not header then body (see read_now). */
	SSL_CTX_set_read_ahead(S.srv, 1);
	SSL_CTX_set_read_ahead(S.cli, 1);
	SSL_CTX_set_tlsext_servername_callback(S.srv, sni_check);
	SSL_CTX_set_session_id_context(S.srv, (const unsigned char *)"bb", 2);
	SSL_CTX_set_verify(S.cli, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_alpn_protos(S.cli, alpn, sizeof(alpn) - 1);
	SSL_CTX_set_session_cache_mode(S.cli, SSL_SESS_CACHE_CLIENT |
						      SSL_SESS_CACHE_NO_INTERNAL_STORE);
	SSL_CTX_sess_set_new_cb(S.cli, sess_new);
	if (SSL_CTX_set_default_verify_paths(S.cli) != 1)
		return bb_errf(err, "TLS", "cannot load the system trust store");
	if (cfg->upstream_ca &&
	    SSL_CTX_load_verify_locations(S.cli, cfg->upstream_ca, NULL) != 1)
		return bb_errf(err, cfg->upstream_ca,
			       "cannot load CA certificates");
	return 0;
}

static int open_audit(const char *path, struct bb_err *err)
{
	if (!path || strcmp(path, "-") == 0) {
		fflush(stdout);
		S.audit = STDOUT_FILENO;
		return 0;
	}
	S.audit = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (S.audit < 0)
		return bb_errf(err, path, "cannot open: %s", strerror(errno));
	return 0;
}

static void cleanup(void)
{
	size_t i;

	while (S.conns)
		conn_free(S.conns);
	while (S.pool)
		up_free(S.pool);
	close_listeners();
	for (i = 0; i < SESS_CACHE; i++)
		SSL_SESSION_free(S.sess[i].s);
	bb_routes_free(&S.routes);
	bb_tokens_free(&S.tokens);
	bb_ca_free(&S.ca);
	SSL_CTX_free(S.srv);
	SSL_CTX_free(S.cli);
	if (S.dns)
		evdns_base_free(S.dns, 0);
	if (S.audit >= 0) {
		audit_flush();
		if (S.audit != STDOUT_FILENO)
			close(S.audit);
	}
	S.audit = -1;
	if (S.cfg && S.cfg->pid_file && !S.worker)
		unlink(S.cfg->pid_file);
	if (S.flush_ev)
		event_free(S.flush_ev);
	if (S.base)
		event_base_free(S.base);
	libevent_global_shutdown();
}

/* Each process its own resolver socket: answers must come back to the
 * process that asked. */
static void make_dns(void)
{
	S.dns = evdns_base_new(S.base, EVDNS_BASE_INITIALIZE_NAMESERVERS |
					       EVDNS_BASE_DISABLE_WHEN_INACTIVE);
	if (!S.dns)
		S.dns = evdns_base_new(S.base, 0);
}

static int setup(const struct bb_egress_cfg *cfg, struct bb_err *err)
{
	struct event_config *ec;

	/* The 16 KiB TLS record buffers come and go at the top of the heap:
	 * without this glibc gives that memory back and takes it again with
	 * brk on every few requests, and each shrink is a TLB shootdown. */
	mallopt(M_TRIM_THRESHOLD, 4 << 20);
	mallopt(M_MMAP_THRESHOLD, 1 << 20);
	if (bb_routes_load(cfg->routes_path, &S.routes, err) < 0)
		return -1;
	if (cfg->token_file) {
		struct bb_tokens ft = {0};

		if (load_token_file(cfg->token_file, &ft, err) < 0 ||
		    merge_tokens(&S.tokens, &ft) < 0) {
			bb_tokens_free(&ft);
			return bb_err_set(err, cfg->token_file);
		}
		bb_tokens_free(&ft);
	}
	if (check_slots(&S.routes, &S.tokens, cfg->routes_path, err) < 0) {
		bb_warnx("%s: slot not in the environment or the token file; "
			 "requests on that route get 502", err->where);
		memset(err, 0, sizeof(*err));
	}
	if (bb_ca_load(cfg->ca_dir, &S.ca, err) < 0 || tls_setup(cfg, err) < 0)
		return -1;
	if (cfg->upstream_proxy && parse_proxy(cfg->upstream_proxy, err) < 0)
		return -1;
	if (open_audit(cfg->audit, err) < 0)
		return -1;
	if ((ec = event_config_new()))
		/* Fewer epoll_ctl calls: events toggle on every exchange. */
		event_config_set_flag(ec, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	S.base = ec ? event_base_new_with_config(ec) : NULL;
	if (ec)
		event_config_free(ec);
	if (!S.base)
		return bb_errf(err, "libevent", "cannot make an event base");
	S.flush_ev = event_new(S.base, -1, 0, flush_audit, NULL);
	if (cfg->workers <= 1)
		make_dns();
	return 0;
}

/* After the signal handlers: a peer that sees us listening may signal. */
static int start_listening(const struct bb_egress_cfg *cfg, struct bb_err *err)
{
	static int plain = 0, admin = 1;
	char pid[32];
	size_t i;

	for (i = 0; i < cfg->nlisten; i++)
		if (listen_on(cfg->listen[i], &plain, err) < 0)
			return -1;
	if (cfg->admin && listen_on(cfg->admin, &admin, err) < 0)
		return -1;
	if (cfg->pid_file) {
		snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
		if (bb_write_file_atomic(cfg->pid_file, pid, strlen(pid), 0644,
					 err) < 0)
			return -1;
	}
	return 0;
}

/* ---- workers ------------------------------------------------------ */

/* The parent of --workers N accepts nothing: it passes SIGHUP and SIGTERM
 * on to every worker and exits when they all have. */
static void parent_signal(evutil_socket_t sig, short what, void *arg)
{
	int i;

	if (sig == SIGINT)
		sig = SIGTERM;
	if (sig == SIGTERM && !S.draining) {
		S.draining = 1;
		close_listeners();
	}
	for (i = 0; i < S.nkids; i++)
		if (S.kids[i] > 0)
			kill(S.kids[i], (int)sig);
}

static void parent_child(evutil_socket_t sig, short what, void *arg)
{
	int i, status, alive = 0;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0)
		for (i = 0; i < S.nkids; i++)
			if (S.kids[i] == pid) {
				S.kids[i] = 0;
				if (!WIFEXITED(status) || WEXITSTATUS(status))
					S.kid_failed = 1;
			}
	for (i = 0; i < S.nkids; i++)
		alive += S.kids[i] > 0;
	/* A worker that dies on its own takes the others down: the
	 * supervisor restarts the whole proxy, never half of it. */
	if (S.kid_failed && !S.draining) {
		bb_warnx("a worker exited unexpectedly; stopping");
		parent_signal(SIGTERM, 0, NULL);
	}
	if (!alive)
		event_base_loopexit(S.base, NULL);
}

/* Fork the workers; returns 1 in a worker, 0 in the parent, -1. */
static int fork_workers(int n, struct bb_err *err)
{
	int i;
	pid_t pid;

	S.parent = getpid();
	for (i = 0; i < n; i++) {
		if ((pid = fork()) < 0)
			return bb_errf(err, "--workers", "fork: %s", strerror(errno));
		if (pid == 0) {
			/* A worker outliving its parent would keep serving
			 * routes nobody reloads or drains. */
			if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 ||
			    getppid() != S.parent)
				_exit(1);
			S.worker = 1;
			S.nkids = 0;
			if (event_reinit(S.base) < 0)
				_exit(1);
			make_dns();
			return 1;
		}
		S.kids[S.nkids++] = pid;
	}
	for (i = 0; i < (int)S.nls; i++)
		evconnlistener_disable(S.ls[i]);
	return 0;
}

static int run_parent(struct bb_err *err)
{
	static const int sigs[] = {SIGHUP, SIGTERM, SIGINT, SIGCHLD};
	struct event *ev[4] = {0};
	int i, rc = 0;

	for (i = 0; i < 4; i++) {
		ev[i] = evsignal_new(S.base, sigs[i],
				     sigs[i] == SIGCHLD ? parent_child : parent_signal,
				     NULL);
		if (!ev[i] || evsignal_add(ev[i], NULL) < 0)
			rc = -1;
	}
	if (rc == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		parent_child(SIGCHLD, 0, NULL); /* one may be gone already */
		event_base_dispatch(S.base);
	} else {
		parent_signal(SIGTERM, 0, NULL);
		while (wait(NULL) > 0)
			;
		bb_errf(err, "signals", "cannot install handlers");
	}
	for (i = 0; i < 4; i++)
		if (ev[i])
			event_free(ev[i]);
	if (rc == 0 && S.kid_failed)
		rc = bb_errf(err, "workers", "a worker failed");
	return rc;
}

/* Listen, then fork the workers with the signals held, so that none is
 * lost between the fork and a worker's handlers. */
static int start_workers(const struct bb_egress_cfg *cfg, struct bb_err *err)
{
	sigset_t hold;

	sigemptyset(&hold);
	sigaddset(&hold, SIGHUP);
	sigaddset(&hold, SIGTERM);
	sigaddset(&hold, SIGINT);
	sigaddset(&hold, SIGCHLD);
	sigprocmask(SIG_BLOCK, &hold, NULL);
	if (start_listening(cfg, err) < 0)
		return -1;
	return fork_workers(cfg->workers, err);
}

int bb_egress_serve(const struct bb_egress_cfg *cfg, struct bb_tokens *tokens,
		    struct bb_err *err)
{
	struct event *hup = NULL, *term = NULL, *intr = NULL;
	int rc = -1, multi = cfg->workers > 1;

	memset(&S, 0, sizeof(S));
	S.audit = -1;
	S.cfg = cfg;
	S.tokens = *tokens;
	memset(tokens, 0, sizeof(*tokens));
	signal(SIGPIPE, SIG_IGN);
	if (setup(cfg, err) < 0)
		goto out;
	if (multi) {
		int w = start_workers(cfg, err);

		if (w < 0)
			goto out;
		if (w == 0) {
			rc = run_parent(err);
			goto out;
		}
	}
	hup = evsignal_new(S.base, SIGHUP, on_hup, NULL);
	term = evsignal_new(S.base, SIGTERM, on_term, NULL);
	intr = evsignal_new(S.base, SIGINT, on_term, NULL);
	if (!hup || !term || !intr || evsignal_add(hup, NULL) ||
	    evsignal_add(term, NULL) || evsignal_add(intr, NULL)) {
		bb_errf(err, "signals", "cannot install handlers");
		goto out;
	}
	if (multi) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
	} else if (start_listening(cfg, err) < 0) {
		goto out;
	}
	event_base_dispatch(S.base);
	rc = 0;
out:
	if (hup)
		event_free(hup);
	if (term)
		event_free(term);
	if (intr)
		event_free(intr);
	cleanup();
	return rc;
}
