#include "mcpserver.h"

#include <errno.h>
#include <math.h>
#include <event2/event.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>
#include <event2/listener.h>
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "egressadmin.h"
#include "file.h"
#include "json.h"
#include "mcp.h"
#include "queue.h"
#include "routeapply.h"

#define TICK_USEC 50000 /* how often a waiting call looks for an answer */
#define ADMIN_TIMEOUT_MS 5000
#define ROUTE_CALLS_MAX 16 /* list_egress_routes calls in flight */

struct waiter;
struct rcall;

struct server {
	const struct bb_mcpserver_opts *o;
	struct event_base *base;
	struct evhttp *http;
	char *queue;
	const char *slug;
	struct bb_mcp_hooks hooks;
	struct waiter *waiters;
	size_t nwaits;
	struct rcall *rcalls; /* list_egress_routes asking egress */
	size_t nrcalls;
	char **unix_paths;
	size_t nunix;
};

struct waiter {
	struct server *s;
	struct evhttp_request *req;
	json_t *rpc_id;
	char id[BB_QUEUE_ID_MAX];
	double deadline;
	struct event *tick;
	struct waiter *next, **prevp;
};

/* A list_egress_routes call waiting for egress's admin socket, which is
 * asked on the event loop so one slow egress stalls no other client. */
struct rcall {
	struct server *s;
	struct evhttp_request *req;
	json_t *rpc_id;
	struct bb_admin_call *call;
	struct rcall *next, **prevp;
};

double bb_parse_seconds(const char *s)
{
	char *end;
	double v;

	if (!s || !*s)
		return -1;
	errno = 0;
	v = strtod(s, &end);
	if (errno || *end || !isfinite(v) || v <= 0 || v > 86400)
		return -1;
	return v;
}

static double now_mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void logx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logx(const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "%s: ", bb_progname);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

/* ---- hooks: what the tools do ----------------------------------------- */

static int hook_propose(void *ctx, const char *tool, json_t *payload,
			const char *justification, char id[BB_QUEUE_ID_MAX],
			struct bb_err *err)
{
	struct server *s = ctx;
	char now[32];
	json_t *p;
	int rc;

	if (bb_queue_count_pending(s->queue) >= BB_SUPERVISE_MAX_PENDING)
		return bb_errf(err, NULL,
			       "%d proposals already wait for the operator; "
			       "follow them up with proposal_status first",
			       BB_SUPERVISE_MAX_PENDING);
	if (strcmp(tool, "request_egress_route") == 0 &&
	    bb_route_admissible(s->o->state,
				json_object_get(payload, "route"), err) < 0)
		return -1;
	if (bb_queue_new_id(id, err) < 0)
		return -1;
	bb_queue_now(now);
	p = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:O}", "version", 1,
		      "id", id, "tool", tool, "bottle_slug", s->slug,
		      "created_at", now, "justification", justification,
		      "payload", payload);
	rc = p ? bb_queue_put_proposal(s->queue, p, err)
	       : bb_errf(err, NULL, "out of memory");
	json_decref(p);
	if (rc < 0) {
		bb_report(err);
		return bb_errf(err, NULL, "could not queue the proposal");
	}
	logx("%s %s for bottle %s; waiting for operator...", tool, id,
	     s->slug);
	return 0;
}

static int hook_status(void *ctx, const char *id, json_t **answer,
		       struct bb_err *err)
{
	struct server *s = ctx;

	if ((*answer = bb_queue_answer(s->queue, id)))
		return 0;
	if (bb_queue_is_pending(s->queue, id))
		return 1;
	return bb_errf(err, NULL, "no proposal '%s' in this bottle", id);
}

/* ---- HTTP --------------------------------------------------------------- */

static const char *reason_of(int code)
{
	switch (code) {
	case 200: return "OK";
	case 202: return "Accepted";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 415: return "Unsupported Media Type";
	default: return "Error";
	}
}

/* Answer req (which evhttp then frees) with body, or with no body. */
static void send_json(struct evhttp_request *req, int code, json_t *body)
{
	struct evbuffer *buf = evbuffer_new();
	char *text = body ? bb_json_string(body) : NULL;

	if (text) {
		evbuffer_add(buf, text, strlen(text));
		evhttp_add_header(evhttp_request_get_output_headers(req),
				  "Content-Type", "application/json");
	}
	evhttp_send_reply(req, code, reason_of(code), buf);
	evbuffer_free(buf);
	free(text);
	json_decref(body);
}

static void send_plain(struct evhttp_request *req, int code, const char *msg)
{
	struct evbuffer *buf = evbuffer_new();
	struct evkeyvalq *h = evhttp_request_get_output_headers(req);

	evbuffer_add_printf(buf, "%s\n", msg);
	evhttp_add_header(h, "Content-Type", "text/plain");
	if (code == 405)
		evhttp_add_header(h, "Allow", "POST");
	evhttp_send_reply(req, code, reason_of(code), buf);
	evbuffer_free(buf);
}

static void waiter_finish(struct waiter *w, json_t *body)
{
	struct server *s = w->s;

	event_free(w->tick);
	*w->prevp = w->next;
	if (w->next)
		w->next->prevp = w->prevp;
	s->nwaits--;
	/* Even to an agent that is gone: the failed write is how evhttp
	 * learns it and frees the connection and the request. */
	send_json(w->req, 200, body);
	json_decref(w->rpc_id);
	free(w);
}

/* evhttp does not read from a connection whose request it has handed
 * over, so an agent that hung up is seen by peeking at its socket. */
static int peer_gone(struct evhttp_request *req)
{
	struct evhttp_connection *c = evhttp_request_get_connection(req);
	struct bufferevent *bev = c ? evhttp_connection_get_bufferevent(c)
				    : NULL;
	evutil_socket_t fd = bev ? bufferevent_getfd(bev) : -1;
	char b;
	ssize_t r;

	if (fd < 0)
		return 1;
	r = recv(fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	return r == 0 || (r < 0 && errno != EAGAIN && errno != EWOULDBLOCK &&
			  errno != EINTR);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct waiter *w = arg;
	json_t *answer = bb_queue_answer(w->s->queue, w->id);
	char why[96];

	if (answer) {
		logx("%s answered: %s", w->id,
		     json_string_value(json_object_get(answer, "status")));
		waiter_finish(w, bb_mcp_decided(w->rpc_id, w->id, answer));
		json_decref(answer);
	} else if (peer_gone(w->req)) {
		logx("%s: the agent hung up; proposal remains queued", w->id);
		waiter_finish(w, NULL);
	} else if (now_mono() >= w->deadline) {
		snprintf(why, sizeof(why),
			 "operator response timed out after %gs",
			 w->s->o->timeout);
		logx("%s: %s; proposal remains queued", w->id, why);
		waiter_finish(w, bb_mcp_pending(w->rpc_id, w->id, why));
	}
}


static void start_wait(struct server *s, struct evhttp_request *req,
		       struct bb_mcp_out *out)
{
	struct timeval tv = {0, TICK_USEC};
	struct waiter *w;
	char why[128];

	if (s->nwaits >= s->o->max_waits || !(w = calloc(1, sizeof(*w)))) {
		snprintf(why, sizeof(why),
			 "%zu calls already wait for the operator",
			 s->nwaits);
		send_json(req, 200,
			  bb_mcp_pending(out->rpc_id, out->wait_id, why));
		return;
	}
	w->s = s;
	w->req = req;
	w->rpc_id = out->rpc_id;
	out->rpc_id = NULL;
	memcpy(w->id, out->wait_id, sizeof(w->id));
	w->deadline = now_mono() + s->o->timeout;
	w->tick = event_new(s->base, -1, EV_PERSIST, on_tick, w);
	event_add(w->tick, &tv);
	w->next = s->waiters;
	if (w->next)
		w->next->prevp = &w->next;
	w->prevp = &s->waiters;
	s->waiters = w;
	s->nwaits++;
}

/* Answer a routes call (routes taken, or NULL and why) and forget it. */
static void rcall_finish(struct rcall *r, json_t *routes,
			 const struct bb_err *err)
{
	*r->prevp = r->next;
	if (r->next)
		r->next->prevp = r->prevp;
	r->s->nrcalls--;
	send_json(r->req, 200, bb_mcp_routes(r->rpc_id, routes, err));
	json_decref(r->rpc_id);
	free(r);
}

static void routes_done(void *arg, json_t *routes, const struct bb_err *err)
{
	struct rcall *r = arg;

	rcall_finish(r, routes, err);
}

static void start_routes(struct server *s, struct evhttp_request *req,
			 struct bb_mcp_out *out)
{
	struct bb_err err = {0};
	struct rcall *r = NULL;

	if (!s->o->egress_admin)
		bb_errf(&err, NULL, "no egress admin socket configured");
	else if (s->nrcalls >= ROUTE_CALLS_MAX || !(r = calloc(1, sizeof(*r))))
		bb_errf(&err, NULL, "%zu list_egress_routes calls already wait "
			"for egress", s->nrcalls);
	else if (!(r->call = bb_egress_admin_routes_start(
			   s->base, s->o->egress_admin, ADMIN_TIMEOUT_MS,
			   routes_done, r, &err))) {
		free(r);
		r = NULL;
	}
	if (!r) {
		send_json(req, 200, bb_mcp_routes(out->rpc_id, NULL, &err));
		return;
	}
	r->s = s;
	r->req = req;
	r->rpc_id = out->rpc_id;
	out->rpc_id = NULL;
	r->next = s->rcalls;
	if (r->next)
		r->next->prevp = &r->next;
	r->prevp = &s->rcalls;
	s->rcalls = r;
	s->nrcalls++;
}

/* Shutting down: the calls still asking egress are answered so. */
static void rcalls_cancel(struct server *s)
{
	struct bb_err err = {0};

	bb_errf(&err, NULL, "bb-supervise is shutting down");
	while (s->rcalls) {
		bb_egress_admin_cancel(s->rcalls->call);
		rcall_finish(s->rcalls, NULL, &err);
	}
}

/* Browsers send Origin; a page elsewhere must not drive the agent's
 * supervise endpoint (DNS rebinding). */
static int origin_ok(const char *origin)
{
	struct evhttp_uri *u;
	const char *host;
	int ok;

	if (!origin)
		return 1;
	if (!(u = evhttp_uri_parse(origin)))
		return 0;
	host = evhttp_uri_get_host(u);
	ok = host && (strcmp(host, "localhost") == 0 ||
		      strcmp(host, "127.0.0.1") == 0 ||
		      strcmp(host, "[::1]") == 0 || strcmp(host, "::1") == 0);
	evhttp_uri_free(u);
	return ok;
}

static int json_type_ok(const char *ct)
{
	static const char want[] = "application/json";
	size_t n = sizeof(want) - 1;

	return ct && strncasecmp(ct, want, n) == 0 &&
	       (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static int path_ok(struct evhttp_request *req)
{
	const struct evhttp_uri *u = evhttp_request_get_evhttp_uri(req);
	const char *p = u ? evhttp_uri_get_path(u) : NULL;

	return p && (strcmp(p, "/") == 0 || strcmp(p, "/mcp") == 0);
}

/* HTTP-level refusals; NULL when the request may go to JSON-RPC, else
 * the request has been answered. */
static const char *refuse(struct evhttp_request *req, struct evkeyvalq *in,
			  const char *version)
{
	if (!path_ok(req)) {
		send_plain(req, 404, "no such endpoint; MCP is at /");
		return "path";
	}
	if (evhttp_request_get_command(req) != EVHTTP_REQ_POST) {
		send_plain(req, 405,
			   "only POST: this server offers no event stream and "
			   "no sessions");
		return "method";
	}
	if (!origin_ok(evhttp_find_header(in, "Origin"))) {
		send_plain(req, 403, "origin not allowed");
		return "origin";
	}
	if (!json_type_ok(evhttp_find_header(in, "Content-Type"))) {
		send_plain(req, 415, "Content-Type must be application/json");
		return "type";
	}
	if (version && !bb_mcp_version_ok(version)) {
		send_json(req, 400,
			  bb_mcp_error(NULL, BB_RPC_INVALID_REQUEST,
				       "unsupported MCP-Protocol-Version '%.64s'",
				       version));
		return "version";
	}
	return NULL;
}

static void on_request(struct evhttp_request *req, void *arg)
{
	struct server *s = arg;
	struct evkeyvalq *in = evhttp_request_get_input_headers(req);
	const char *version = evhttp_find_header(in, "MCP-Protocol-Version");
	struct evbuffer *body = evhttp_request_get_input_buffer(req);
	size_t len = evbuffer_get_length(body);
	struct bb_mcp_out out;

	if (refuse(req, in, version))
		return;
	bb_mcp_handle(&s->hooks, (const char *)evbuffer_pullup(body, -1), len,
		      &out);
	if (out.routes_wait) {
		start_routes(s, req, &out);
	} else if (out.wait_id[0] && !out.body) {
		start_wait(s, req, &out);
	} else {
		send_json(req, out.http_status, out.body);
		out.body = NULL;
	}
	bb_mcp_out_free(&out);
}

/* ---- listeners ---------------------------------------------------------- */

static int listen_unix(struct server *s, const char *path,
		       struct bb_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct evconnlistener *l;
	struct stat st;
	char *dir, *slash;
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return bb_errf(err, path, "socket path too long");
	if ((dir = strdup(path)) && (slash = strrchr(dir, '/')) &&
	    slash != dir) {
		*slash = '\0';
		if (bb_mkdir_p(dir, 0700, err) < 0) {
			free(dir);
			return -1;
		}
	}
	free(dir);
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path); /* a stale socket of ours */
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, 128) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		return bb_errf(err, path, "could not listen: %s", strerror(e));
	}
	l = evconnlistener_new(s->base, NULL, NULL,
			       LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC,
			       -1, fd);
	if (!l || !evhttp_bind_listener(s->http, l)) {
		if (l)
			evconnlistener_free(l);
		else
			close(fd);
		return bb_errf(err, path, "could not listen");
	}
	s->unix_paths[s->nunix++] = strdup(path);
	return 0;
}

static int listen_tcp(struct server *s, const char *spec,
		      struct bb_err *err)
{
	const char *colon = strrchr(spec, ':');
	char addr[64], *end;
	long port;
	size_t n;

	if (!colon || colon == spec)
		return bb_errf(err, spec,
			       "expected unix:PATH or ADDRESS:PORT");
	port = strtol(colon + 1, &end, 10);
	if (*end || end == colon + 1 || port < 1 || port > 65535)
		return bb_errf(err, spec, "bad port");
	n = (size_t)(colon - spec);
	if (spec[0] == '[' && n > 2 && spec[n - 1] == ']') {
		spec++;
		n -= 2;
	}
	if (n >= sizeof(addr))
		return bb_errf(err, spec, "bad address");
	memcpy(addr, spec, n);
	addr[n] = '\0';
	if (!evhttp_bind_socket_with_handle(s->http, addr, (ev_uint16_t)port))
		return bb_errf(err, spec, "could not listen: %s",
			       strerror(errno));
	return 0;
}

static int listen_all(struct server *s, struct bb_err *err)
{
	s->unix_paths = calloc(s->o->nlisten + 1, sizeof(char *));
	if (!s->unix_paths)
		return bb_errf(err, NULL, "out of memory");
	for (size_t i = 0; i < s->o->nlisten; i++) {
		const char *l = s->o->listen[i];
		int rc = strncmp(l, "unix:", 5) == 0
				 ? listen_unix(s, l + 5, err)
				 : listen_tcp(s, l, err);

		if (rc < 0) {
			bb_err_prefix(err, "--listen", " ");
			return -1;
		}
	}
	return 0;
}

/* ---- lifetime ----------------------------------------------------------- */

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	struct timeval flush = {0, 200000};
	int answered = s->waiters != NULL || s->rcalls != NULL;

	logx("shutting down (%s)", sig == SIGTERM ? "SIGTERM" : "SIGINT");
	while (s->waiters)
		waiter_finish(s->waiters,
			      bb_mcp_pending(s->waiters->rpc_id,
					     s->waiters->id,
					     "bb-supervise is shutting down"));
	rcalls_cancel(s);
	/* Time to flush only the answers just given: an idle server stops
	 * at once (bb-up's teardown waits for it). */
	event_base_loopexit(s->base, answered ? &flush : NULL);
}

static void server_free(struct server *s)
{
	if (s->http)
		evhttp_free(s->http);
	for (size_t i = 0; i < s->nunix; i++) {
		unlink(s->unix_paths[i]);
		free(s->unix_paths[i]);
	}
	free(s->unix_paths);
	if (s->base)
		event_base_free(s->base);
	free(s->queue);
}

static void log_start(const struct server *s)
{
	fprintf(stderr, "%s: supervise listening on", bb_progname);
	for (size_t i = 0; i < s->o->nlisten; i++)
		fprintf(stderr, " %s", s->o->listen[i]);
	fprintf(stderr, "; slug='%s'; queue=%s; timeout=%gs\n", s->slug,
		s->queue, s->o->timeout);
}

int bb_mcpserver_run(const struct bb_mcpserver_opts *o, struct bb_err *err)
{
	struct server s = {.o = o};
	struct event *sigterm = NULL, *sigint = NULL;
	struct stat st;
	const char *slash = strrchr(o->state, '/');
	int rc = -1;

	if (stat(o->state, &st) < 0 || !S_ISDIR(st.st_mode))
		return bb_errf(err, o->state, "not a bottle state directory");
	s.slug = slash && slash[1] ? slash + 1 : o->state;
	if (asprintf(&s.queue, "%s/queue", o->state) < 0)
		return bb_errf(err, o->state, "out of memory");
	/* routes NULL: list_egress_routes is answered from the loop. */
	s.hooks = (struct bb_mcp_hooks){&s, hook_propose, NULL, hook_status};
	signal(SIGPIPE, SIG_IGN);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (bb_queue_init(s.queue, err) < 0 || !(s.base = event_base_new()) ||
	    !(s.http = evhttp_new(s.base))) {
		if (!err->set)
			bb_errf(err, NULL, "could not start the event loop");
		goto out;
	}
	evhttp_set_max_body_size(s.http, BB_SUPERVISE_BODY_MAX);
	evhttp_set_max_headers_size(s.http, 16384);
	evhttp_set_timeout(s.http, (int)o->timeout + 31);
	evhttp_set_allowed_methods(s.http, EVHTTP_REQ_GET | EVHTTP_REQ_POST |
						   EVHTTP_REQ_HEAD |
						   EVHTTP_REQ_PUT |
						   EVHTTP_REQ_DELETE |
						   EVHTTP_REQ_OPTIONS |
						   EVHTTP_REQ_PATCH);
	evhttp_set_gencb(s.http, on_request, &s);
	if (listen_all(&s, err) < 0)
		goto out;
	sigterm = evsignal_new(s.base, SIGTERM, on_signal, &s);
	sigint = evsignal_new(s.base, SIGINT, on_signal, &s);
	event_add(sigterm, NULL);
	event_add(sigint, NULL);
	log_start(&s);
	event_base_dispatch(s.base);
	rc = 0;
out:
	while (s.waiters)
		waiter_finish(s.waiters, NULL);
	rcalls_cancel(&s);
	if (sigterm)
		event_free(sigterm);
	if (sigint)
		event_free(sigint);
	server_free(&s);
	curl_global_cleanup();
	return rc;
}
