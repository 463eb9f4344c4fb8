#include "egressadmin.h"

#include <curl/curl.h>
#include <event2/event.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ADMIN_MAX (1u << 20)

struct body {
	char *buf;
	size_t len;
	int too_big;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *nb;

	if (b->len + add > ADMIN_MAX) {
		b->too_big = 1;
		return 0;
	}
	if (!(nb = realloc(b->buf, b->len + add + 1)))
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, p, add);
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

static json_t *project(json_t *doc, const char *sock, struct bb_err *err)
{
	json_t *routes = json_is_array(doc) ? doc
					    : json_object_get(doc, "routes");
	json_t *out = json_array(), *r;
	size_t i;

	if (!json_is_array(routes)) {
		json_decref(out);
		bb_errf(err, sock, "egress answered without a routes list");
		return NULL;
	}
	json_array_foreach(routes, i, r) {
		json_t *host = json_object_get(r, "host");
		json_t *paths = json_object_get(r, "path_allowlist");
		json_t *scheme = json_object_get(r, "auth_scheme");
		json_t *flag = json_object_get(r, "authenticated");
		int authed = json_is_boolean(flag)
				     ? json_is_true(flag)
				     : json_string_length(scheme) > 0;
		json_t *e;

		if (!json_is_string(host))
			continue;
		e = json_pack("{s:O, s:o, s:b}", "host", host,
			      "path_allowlist", json_array(), "authenticated",
			      authed);
		if (json_is_array(paths)) {
			json_t *p;
			size_t j;

			json_array_foreach(paths, j, p)
				if (json_is_string(p))
					json_array_append(
						json_object_get(e,
								"path_allowlist"),
						p);
		}
		if (authed && json_string_length(scheme) > 0)
			json_object_set(e, "auth_scheme", scheme);
		json_array_append_new(out, e);
	}
	return json_pack("{s:o}", "routes", out);
}

static CURL *admin_easy(const char *sock, long timeout_ms, struct body *b)
{
	CURL *c = curl_easy_init();

	if (!c)
		return NULL;
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, "http://egress/routes");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, b);
	curl_easy_setopt(c, CURLOPT_FORBID_REUSE, 1L);
	return c;
}

/* What a finished transfer on c means: the routes, or NULL with err. */
static json_t *admin_result(CURL *c, CURLcode rc, const struct body *b,
			    const char *sock, struct bb_err *err)
{
	long status = 0;
	json_t *doc = NULL, *out = NULL;

	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	if (rc != CURLE_OK)
		bb_errf(err, sock, "%s",
			b->too_big ? "answer larger than 1 MiB"
				   : curl_easy_strerror(rc));
	else if (status != 200)
		bb_errf(err, sock, "egress answered HTTP %ld", status);
	else if ((doc = bb_json_parse(b->buf ? b->buf : "", b->len, sock, err)))
		out = project(doc, sock, err);
	json_decref(doc);
	return out;
}

json_t *bb_egress_admin_routes(const char *sock, long timeout_ms,
			       struct bb_err *err)
{
	struct body b = {0};
	CURL *c = admin_easy(sock, timeout_ms, &b);
	json_t *out;

	if (!c) {
		bb_errf(err, sock, "could not start libcurl");
		return NULL;
	}
	out = admin_result(c, curl_easy_perform(c), &b, sock, err);
	curl_easy_cleanup(c);
	free(b.buf);
	return out;
}

/* ---- on an event loop: libcurl's multi socket interface ---------------- */

struct bb_admin_call {
	struct event_base *base;
	CURLM *multi;
	CURL *easy;
	struct event *timer;
	struct body b;
	char *sock;
	bb_admin_done done;
	void *arg;
};

static void call_free(struct bb_admin_call *a)
{
	if (a->multi && a->easy)
		curl_multi_remove_handle(a->multi, a->easy);
	if (a->easy)
		curl_easy_cleanup(a->easy);
	if (a->multi)
		curl_multi_cleanup(a->multi);
	if (a->timer)
		event_free(a->timer);
	free(a->b.buf);
	free(a->sock);
	free(a);
}

/* After curl has run: when the transfer is over, answer and free. */
static void call_check(struct bb_admin_call *a)
{
	struct bb_err err = {0};
	CURLMsg *m;
	int left;
	json_t *routes;

	while ((m = curl_multi_info_read(a->multi, &left)))
		if (m->msg == CURLMSG_DONE) {
			routes = admin_result(a->easy, m->data.result, &a->b,
					      a->sock, &err);
			a->done(a->arg, routes, &err);
			call_free(a);
			return;
		}
}

static void on_io(evutil_socket_t fd, short what, void *arg)
{
	struct bb_admin_call *a = arg;
	int running;

	curl_multi_socket_action(a->multi, fd,
				 ((what & EV_READ) ? CURL_CSELECT_IN : 0) |
					 ((what & EV_WRITE) ? CURL_CSELECT_OUT : 0),
				 &running);
	call_check(a);
}

static void on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct bb_admin_call *a = arg;
	int running;

	curl_multi_socket_action(a->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	call_check(a);
}

/* curl says which socket to watch for what: one event per socket. */
static int want_socket(CURL *e, curl_socket_t s, int what, void *userp,
		       void *socketp)
{
	struct bb_admin_call *a = userp;
	struct event *ev = socketp;
	short kind = EV_PERSIST;

	if (what == CURL_POLL_REMOVE) {
		if (ev)
			event_free(ev);
		curl_multi_assign(a->multi, s, NULL);
		return 0;
	}
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if (ev)
		event_free(ev);
	if (!(ev = event_new(a->base, s, kind, on_io, a)) ||
	    event_add(ev, NULL) < 0) {
		if (ev)
			event_free(ev);
		curl_multi_assign(a->multi, s, NULL);
		return -1;
	}
	curl_multi_assign(a->multi, s, ev);
	return 0;
}

static int want_timer(CURLM *m, long ms, void *userp)
{
	struct bb_admin_call *a = userp;
	struct timeval tv = {ms / 1000, (ms % 1000) * 1000};

	if (ms < 0)
		return evtimer_del(a->timer);
	return evtimer_add(a->timer, &tv);
}

struct bb_admin_call *bb_egress_admin_routes_start(struct event_base *base,
						   const char *sock,
						   long timeout_ms,
						   bb_admin_done done,
						   void *arg,
						   struct bb_err *err)
{
	struct bb_admin_call *a = calloc(1, sizeof(*a));

	if (!a) {
		bb_errf(err, sock, "out of memory");
		return NULL;
	}
	a->base = base;
	a->done = done;
	a->arg = arg;
	if (!(a->sock = strdup(sock)) || !(a->timer = evtimer_new(base, on_timer, a)) ||
	    !(a->multi = curl_multi_init()) ||
	    !(a->easy = admin_easy(sock, timeout_ms, &a->b))) {
		call_free(a);
		bb_errf(err, sock, "could not start libcurl");
		return NULL;
	}
	curl_multi_setopt(a->multi, CURLMOPT_SOCKETFUNCTION, want_socket);
	curl_multi_setopt(a->multi, CURLMOPT_SOCKETDATA, a);
	curl_multi_setopt(a->multi, CURLMOPT_TIMERFUNCTION, want_timer);
	curl_multi_setopt(a->multi, CURLMOPT_TIMERDATA, a);
	/* The transfer starts from the timer curl sets here, in the loop. */
	if (curl_multi_add_handle(a->multi, a->easy) != CURLM_OK) {
		curl_easy_cleanup(a->easy);
		a->easy = NULL;
		call_free(a);
		bb_errf(err, sock, "could not start libcurl");
		return NULL;
	}
	return a;
}

void bb_egress_admin_cancel(struct bb_admin_call *call)
{
	if (call)
		call_free(call);
}
