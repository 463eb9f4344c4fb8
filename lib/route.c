#include "route.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

/* ---- hosts and paths ---------------------------------------------- */

int bb_host_norm(const char *in, size_t len, char *out, size_t outsz,
		 int *port)
{
	const char *colon = memchr(in, ':', len);
	size_t hlen = colon ? (size_t)(colon - in) : len;
	size_t i;

	*port = 0;
	if (colon) {
		long p = 0;
		const char *c = colon + 1;
		size_t n = len - hlen - 1;

		if (n == 0 || n > 5)
			return -1;
		for (i = 0; i < n; i++) {
			if (!isdigit((unsigned char)c[i]))
				return -1;
			p = p * 10 + (c[i] - '0');
		}
		if (p < 1 || p > 65535)
			return -1;
		*port = (int)p;
	}
	if (hlen > 0 && in[hlen - 1] == '.')
		hlen--;
	if (hlen == 0 || hlen > BB_HOST_MAX || hlen >= outsz)
		return -1;
	for (i = 0; i < hlen; i++) {
		unsigned char ch = (unsigned char)tolower((unsigned char)in[i]);

		if (!(isalnum(ch) || ch == '-' || ch == '.' || ch == '_'))
			return -1;
		if (ch == '.' && (i == 0 || out[i - 1] == '.'))
			return -1;
		out[i] = (char)ch;
	}
	out[hlen] = '\0';
	return 0;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

static int unreserved(int c)
{
	return isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~';
}

/* Decode one segment [s, s+n) into seg; returns its length or -1. */
static long norm_segment(const char *s, size_t n, char *seg, size_t segsz,
			 const char **reason)
{
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (o + 3 >= segsz) {
			*reason = "path too long";
			return -1;
		}
		if (c == '%') {
			int hi = i + 2 < n ? hexval(s[i + 1]) : -1;
			int lo = i + 2 < n ? hexval(s[i + 2]) : -1;
			int v;

			if (hi < 0 || lo < 0) {
				*reason = "path has a malformed percent escape";
				return -1;
			}
			v = hi * 16 + lo;
			if (v == '/' || v == '\\' || v == 0) {
				*reason = "path has an encoded '/', '\\' or NUL";
				return -1;
			}
			if (unreserved(v)) {
				seg[o++] = (char)v;
			} else {
				seg[o++] = '%';
				seg[o++] = "0123456789ABCDEF"[hi];
				seg[o++] = "0123456789ABCDEF"[lo];
			}
			i += 2;
			continue;
		}
		if (c < 0x20 || c == 0x7f || c == '\\') {
			*reason = "path has a control character or '\\'";
			return -1;
		}
		seg[o++] = (char)c;
	}
	seg[o] = '\0';
	return (long)o;
}

int bb_path_norm(const char *target, size_t len, char *out, size_t outsz,
		 const char **reason)
{
	size_t end = 0, o = 0, i;
	char seg[2048];

	while (end < len && target[end] != '?' && target[end] != '#')
		end++;
	if (end == 0 || target[0] != '/') {
		*reason = "path must start with '/'";
		return -1;
	}
	if (outsz < 2) {
		*reason = "path too long";
		return -1;
	}
	out[o++] = '/';
	i = 1;
	while (i <= end) {
		size_t j = i;
		long n;
		int last;

		while (j < end && target[j] != '/')
			j++;
		last = (j >= end);
		n = norm_segment(target + i, j - i, seg, sizeof(seg), reason);
		if (n < 0)
			return -1;
		if (strcmp(seg, "..") == 0) {
			*reason = "path has a '..' segment";
			return -1;
		}
		if (n == 0 && !last) {
			*reason = "path has an empty segment ('//')";
			return -1;
		}
		if (strcmp(seg, ".") != 0 && n > 0) {
			if (o + (size_t)n + 2 >= outsz) {
				*reason = "path too long";
				return -1;
			}
			memcpy(out + o, seg, (size_t)n);
			o += (size_t)n;
			if (!last)
				out[o++] = '/';
		}
		i = j + 1;
	}
	out[o] = '\0';
	return 0;
}

static int ends_with(const char *s, size_t n, const char *suffix)
{
	size_t k = strlen(suffix);

	return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

int bb_is_git_push(const char *target, size_t len)
{
	const char *q = memchr(target, '?', len);
	size_t plen = q ? (size_t)(q - target) : len;
	const char *p;

	if (ends_with(target, plen, "/git-receive-pack"))
		return 1;
	if (!q || !ends_with(target, plen, "/info/refs"))
		return 0;
	for (p = q + 1; p < target + len;) {
		const char *amp = memchr(p, '&', (size_t)(target + len - p));
		size_t n = amp ? (size_t)(amp - p) : (size_t)(target + len - p);

		if (n == strlen("service=git-receive-pack") &&
		    strncasecmp(p, "service=git-receive-pack", n) == 0)
			return 1;
		p += n + 1;
	}
	return 0;
}

/* ---- tokens ------------------------------------------------------- */

int bb_token_name_ok(const char *name)
{
	const char *p = "EGRESS_TOKEN_";
	size_t n = strlen(p), i;

	if (strncmp(name, p, n) != 0 || !name[n] || strlen(name) > n + 6)
		return 0;
	for (i = n; name[i]; i++)
		if (!isdigit((unsigned char)name[i]))
			return 0;
	return 1;
}

const char *bb_tokens_get(const struct bb_tokens *t, const char *name)
{
	size_t i;

	for (i = 0; t && i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0)
			return t->v[i].value;
	return NULL;
}

static void wipe_free(char *s)
{
	if (s) {
		volatile char *v = s;

		while (*v)
			*v++ = 0;
		free(s);
	}
}

int bb_tokens_set(struct bb_tokens *t, const char *name, const char *value)
{
	size_t i;
	struct bb_token *nv;
	char *val = strdup(value);

	if (!val)
		return -1;
	for (i = 0; i < t->n; i++) {
		if (strcmp(t->v[i].name, name) == 0) {
			wipe_free(t->v[i].value);
			t->v[i].value = val;
			return 0;
		}
	}
	nv = realloc(t->v, (t->n + 1) * sizeof(*nv));
	if (!nv || !(nv[t->n].name = strdup(name))) {
		if (nv)
			t->v = nv;
		wipe_free(val);
		return -1;
	}
	t->v = nv;
	t->v[t->n++].value = val;
	return 0;
}

void bb_tokens_free(struct bb_tokens *t)
{
	size_t i;

	for (i = 0; i < t->n; i++) {
		free(t->v[i].name);
		wipe_free(t->v[i].value);
	}
	free(t->v);
	t->v = NULL;
	t->n = 0;
}

int bb_tokens_parse(const char *buf, size_t len, const char *label,
		    struct bb_tokens *out, struct bb_err *err)
{
	struct bb_tokens t = {0};
	size_t i = 0;
	int line = 0;
	char where[600];

	while (i < len) {
		const char *s = buf + i, *nl = memchr(s, '\n', len - i);
		size_t n = nl ? (size_t)(nl - s) : len - i;
		const char *eq = memchr(s, '=', n);
		char name[64], *val;

		line++;
		i += n + 1;
		if (n > 0 && s[n - 1] == '\r')
			n--;
		snprintf(where, sizeof(where), "%s: line %d", label, line);
		if (n == 0 || s[0] == '#')
			continue;
		if (!eq || (size_t)(eq - s) >= sizeof(name)) {
			bb_tokens_free(&t);
			return bb_errf(err, where, "expected EGRESS_TOKEN_N=VALUE");
		}
		memcpy(name, s, (size_t)(eq - s));
		name[eq - s] = '\0';
		if (!bb_token_name_ok(name)) {
			bb_tokens_free(&t);
			return bb_errf(err, where, "expected EGRESS_TOKEN_N=VALUE");
		}
		if (memchr(eq + 1, '\0', n - (size_t)(eq + 1 - s)) ||
		    t.n >= BB_TOKENS_MAX ||
		    !(val = strndup(eq + 1, n - (size_t)(eq + 1 - s)))) {
			bb_tokens_free(&t);
			return bb_errf(err, where, "bad or too many values");
		}
		if (bb_tokens_set(&t, name, val) < 0) {
			wipe_free(val);
			bb_tokens_free(&t);
			return bb_errf(err, where, "out of memory");
		}
		wipe_free(val);
	}
	*out = t;
	return 0;
}

/* ---- routes file -------------------------------------------------- */

static int scheme_ok(const char *s)
{
	if (!*s || strlen(s) > 64)
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("!#$%&'*+-.^_`|~", *s))
			return 0;
	return 1;
}

static void route_free(struct bb_route *r)
{
	size_t i;

	free(r->host);
	for (i = 0; i < r->nprefix; i++)
		free(r->prefixes[i]);
	free(r->prefixes);
	free(r->scheme);
	free(r->token_env);
	free(r->ports);
}

void bb_routes_free(struct bb_routes *r)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		route_free(&r->v[i]);
	free(r->v);
	r->v = NULL;
	r->n = 0;
}

static int parse_prefixes(const json_t *a, const char *where,
			  struct bb_route *r, struct bb_err *err)
{
	size_t i;
	json_t *v;
	char w[700], norm[2048];
	const char *reason;

	if (!json_is_array(a))
		return bb_errf(err, where, "must be an array, not %s",
			       bb_json_type(a));
	if (json_array_size(a) == 0)
		return bb_errf(err, where, "must be absent rather than empty");
	r->prefixes = calloc(json_array_size(a), sizeof(char *));
	if (!r->prefixes)
		return bb_errf(err, where, "out of memory");
	json_array_foreach(a, i, v) {
		const char *s = json_string_value(v);

		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (!s)
			return bb_errf(err, w, "must be a string");
		if (strchr(s, '?') || strchr(s, '#') ||
		    bb_path_norm(s, strlen(s), norm, sizeof(norm), &reason) < 0 ||
		    strcmp(norm, s) != 0)
			return bb_errf(err, w,
				       "must be a normalised path starting with '/'");
		if (!(r->prefixes[r->nprefix] = strdup(s)))
			return bb_errf(err, w, "out of memory");
		r->nprefix++;
	}
	return 0;
}

#define BB_PORTS_MAX 64

static int parse_ports(const json_t *a, const char *where,
		       struct bb_route *r, struct bb_err *err)
{
	size_t i, j;
	json_t *v;
	char w[700];

	if (!json_is_array(a) || json_array_size(a) == 0 ||
	    json_array_size(a) > BB_PORTS_MAX)
		return bb_errf(err, where,
			       "must be a non-empty array of at most %d ports",
			       BB_PORTS_MAX);
	if (!(r->ports = calloc(json_array_size(a), sizeof(int))))
		return bb_errf(err, where, "out of memory");
	json_array_foreach(a, i, v) {
		json_int_t p = json_integer_value(v);

		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (!json_is_integer(v) || p < 1 || p > 65535)
			return bb_errf(err, w, "must be a port from 1 to 65535");
		for (j = 0; j < r->nport; j++)
			if (r->ports[j] == (int)p)
				return bb_errf(err, w, "duplicate port %d",
					       (int)p);
		r->ports[r->nport++] = (int)p;
	}
	return 0;
}

static int parse_route(json_t *o, const char *where, struct bb_route *r,
		       struct bb_err *err)
{
	const char *key;
	json_t *v, *scheme, *env;
	char w[700], host[BB_HOST_MAX + 1];
	const char *h;
	int port;

	if (!json_is_object(o))
		return bb_errf(err, where, "must be an object, not %s",
			       bb_json_type(o));
	json_object_foreach(o, key, v) {
		if (strcmp(key, "host") && strcmp(key, "path_allowlist") &&
		    strcmp(key, "auth_scheme") && strcmp(key, "token_env") &&
		    strcmp(key, "ports") && strcmp(key, "tls_passthrough")) {
			snprintf(w, sizeof(w), "%s.%s", where, key);
			return bb_errf(err, w, "unknown key");
		}
	}
	snprintf(w, sizeof(w), "%s.host", where);
	h = json_string_value(json_object_get(o, "host"));
	if (!h)
		return bb_errf(err, w, "must be a string");
	if (bb_host_norm(h, strlen(h), host, sizeof(host), &port) < 0 || port)
		return bb_errf(err, w, "must be a host name without port");
	if (!(r->host = strdup(host)))
		return bb_errf(err, w, "out of memory");
	if ((v = json_object_get(o, "path_allowlist"))) {
		snprintf(w, sizeof(w), "%s.path_allowlist", where);
		if (parse_prefixes(v, w, r, err) < 0)
			return -1;
	}
	if ((v = json_object_get(o, "ports"))) {
		snprintf(w, sizeof(w), "%s.ports", where);
		if (parse_ports(v, w, r, err) < 0)
			return -1;
	}
	if ((v = json_object_get(o, "tls_passthrough"))) {
		snprintf(w, sizeof(w), "%s.tls_passthrough", where);
		if (!json_is_boolean(v))
			return bb_errf(err, w, "must be true or false");
		r->tls_passthrough = json_is_true(v);
	}
	scheme = json_object_get(o, "auth_scheme");
	env = json_object_get(o, "token_env");
	if (!scheme != !env)
		return bb_errf(err, where,
			       "auth_scheme and token_env must be both present or both absent");
	if (!scheme)
		return 0;
	snprintf(w, sizeof(w), "%s.auth_scheme", where);
	if (!json_is_string(scheme) || !scheme_ok(json_string_value(scheme)))
		return bb_errf(err, w, "must be an HTTP auth scheme token");
	snprintf(w, sizeof(w), "%s.token_env", where);
	if (!json_is_string(env) || !bb_token_name_ok(json_string_value(env)))
		return bb_errf(err, w, "must be a slot name EGRESS_TOKEN_N");
	r->scheme = strdup(json_string_value(scheme));
	r->token_env = strdup(json_string_value(env));
	if (!r->scheme || !r->token_env)
		return bb_errf(err, where, "out of memory");
	return 0;
}

int bb_routes_from_json(json_t *doc, const char *label,
			struct bb_routes *out, struct bb_err *err)
{
	struct bb_routes r = {0};
	json_t *routes, *v;
	const char *key;
	char w[600];
	size_t i, j;

	if (!json_is_object(doc))
		return bb_errf(err, label, "must be an object");
	json_object_foreach(doc, key, v) {
		if (strcmp(key, "version") && strcmp(key, "routes")) {
			snprintf(w, sizeof(w), "%s: %s", label, key);
			return bb_errf(err, w, "unknown key");
		}
	}
	v = json_object_get(doc, "version");
	if (!json_is_integer(v) || json_integer_value(v) != 1) {
		snprintf(w, sizeof(w), "%s: version", label);
		return bb_errf(err, w, "must be 1");
	}
	routes = json_object_get(doc, "routes");
	snprintf(w, sizeof(w), "%s: routes", label);
	if (!json_is_array(routes))
		return bb_errf(err, w, "must be an array");
	if (json_array_size(routes) > BB_ROUTES_MAX)
		return bb_errf(err, w, "more than %d routes", BB_ROUTES_MAX);
	r.v = calloc(json_array_size(routes) + 1, sizeof(*r.v));
	if (!r.v)
		return bb_errf(err, w, "out of memory");
	json_array_foreach(routes, i, v) {
		snprintf(w, sizeof(w), "%s: routes[%zu]", label, i);
		r.n++;
		if (parse_route(v, w, &r.v[i], err) < 0)
			goto fail;
		for (j = 0; j < i; j++) {
			if (strcmp(r.v[j].host, r.v[i].host) == 0) {
				snprintf(w, sizeof(w), "%s: routes[%zu].host",
					 label, i);
				bb_errf(err, w, "duplicate host %s (also routes[%zu])",
					r.v[i].host, j);
				goto fail;
			}
		}
	}
	*out = r;
	return 0;
fail:
	bb_routes_free(&r);
	return -1;
}

int bb_routes_parse(const char *buf, size_t len, const char *label,
		    struct bb_routes *out, struct bb_err *err)
{
	json_t *doc = bb_json_parse(buf, len, label, err);
	int rc;

	if (!doc)
		return -1;
	rc = bb_routes_from_json(doc, label, out, err);
	json_decref(doc);
	return rc;
}

int bb_routes_load(const char *path, struct bb_routes *out,
		   struct bb_err *err)
{
	json_t *doc = bb_json_load(path, err);
	int rc;

	if (!doc)
		return -1;
	rc = bb_routes_from_json(doc, path, out, err);
	json_decref(doc);
	return rc;
}

const struct bb_route *bb_routes_find(const struct bb_routes *r,
				      const char *host)
{
	size_t i;

	for (i = 0; r && i < r->n; i++)
		if (strcmp(r->v[i].host, host) == 0)
			return &r->v[i];
	return NULL;
}

json_t *bb_routes_describe(const struct bb_routes *r)
{
	json_t *a = json_array();
	size_t i, j;

	for (i = 0; i < r->n; i++) {
		json_t *o = json_object(), *p = json_array();

		for (j = 0; j < r->v[i].nprefix; j++)
			json_array_append_new(p, json_string(r->v[i].prefixes[j]));
		json_object_set_new(o, "host", json_string(r->v[i].host));
		json_object_set_new(o, "path_allowlist", p);
		json_object_set_new(o, "authenticated",
				    json_boolean(r->v[i].scheme != NULL));
		json_object_set_new(o, "auth_scheme",
				    json_string(r->v[i].scheme ? r->v[i].scheme : ""));
		if (r->v[i].nport) {
			json_t *ports = json_array();

			for (j = 0; j < r->v[i].nport; j++)
				json_array_append_new(ports,
						      json_integer(r->v[i].ports[j]));
			json_object_set_new(o, "ports", ports);
		}
		json_array_append_new(a, o);
	}
	return json_pack("{s:i, s:o}", "version", 1, "routes", a);
}

/* ---- plan -> routes file ------------------------------------------ */

json_t *bb_route_wire(const json_t *pr, const char *where, struct bb_err *err)
{
	const char *host = json_string_value(json_object_get(pr, "host"));
	const char *scheme = json_string_value(json_object_get(pr, "auth_scheme"));
	const char *env = json_string_value(json_object_get(pr, "token_env"));
	json_t *paths = json_object_get(pr, "path_allowlist");
	json_t *o;
	char w[700];

	if (!json_is_object(pr)) {
		bb_errf(err, where, "must be an object");
		return NULL;
	}
	snprintf(w, sizeof(w), "%s.host", where);
	if (!host) {
		bb_errf(err, w, "must be a string");
		return NULL;
	}
	snprintf(w, sizeof(w), "%s.path_allowlist", where);
	if (paths && !json_is_array(paths)) {
		bb_errf(err, w, "must be an array");
		return NULL;
	}
	if (!(scheme && *scheme) != !(env && *env)) {
		bb_errf(err, where, "auth_scheme and token_env must be both "
				    "present or both absent");
		return NULL;
	}
	o = json_pack("{s:s}", "host", host);
	if (paths && json_array_size(paths) > 0)
		json_object_set(o, "path_allowlist", paths);
	if (scheme && *scheme) {
		json_object_set_new(o, "auth_scheme", json_string(scheme));
		json_object_set_new(o, "token_env", json_string(env));
	}
	/* bb-egress asks for identity encoding where pipelock bumps. */
	if (json_is_true(json_object_get(pr, "tls_passthrough")))
		json_object_set_new(o, "tls_passthrough", json_true());
	return o;
}

json_t *bb_routes_from_plan(const json_t *plan, struct bb_err *err)
{
	const json_t *eg = json_object_get(plan, "egress");
	const json_t *pr = json_object_get(eg, "routes");
	json_t *routes = json_array(), *doc, *v;
	struct bb_routes check;
	char w[64];
	size_t i;

	if (!json_is_array(pr)) {
		json_decref(routes);
		bb_errf(err, "egress.routes", "must be an array");
		return NULL;
	}
	json_array_foreach(pr, i, v) {
		snprintf(w, sizeof(w), "egress.routes[%zu]", i);
		json_t *o = bb_route_wire(v, w, err);

		if (!o) {
			json_decref(routes);
			return NULL;
		}
		json_array_append_new(routes, o);
	}
	doc = json_pack("{s:i, s:o}", "version", 1, "routes", routes);
	/* What we write must be what serve accepts. */
	if (bb_routes_from_json(doc, "routes", &check, err) < 0) {
		json_decref(doc);
		return NULL;
	}
	bb_routes_free(&check);
	return doc;
}

/* ---- the decision ------------------------------------------------- */

static int deny(struct bb_decision *d, enum bb_verdict v, int status,
		const char *reason)
{
	d->verdict = v;
	d->status = status;
	d->reason = reason;
	return -1;
}

int bb_route_port_ok(const struct bb_route *r, int port, int tls)
{
	size_t i;

	if (!r || r->nport == 0)
		return port == (tls ? 443 : 80);
	for (i = 0; i < r->nport; i++)
		if (r->ports[i] == port)
			return 1;
	return 0;
}

static int prefix_match(const struct bb_route *r, const char *path)
{
	size_t i;

	if (r->nprefix == 0)
		return 1;
	for (i = 0; i < r->nprefix; i++)
		if (strncmp(path, r->prefixes[i], strlen(r->prefixes[i])) == 0)
			return 1;
	return 0;
}

/* On the normalised path, so that an escaped spelling cannot hide it. */
static int is_push(const char *path, const char *target)
{
	const char *q = strchr(target, '?');
	char buf[4096];
	int n = snprintf(buf, sizeof(buf), "%s%s", path, q ? q : "");

	if (n < 0 || (size_t)n >= sizeof(buf))
		return 1;
	return bb_is_git_push(buf, (size_t)n);
}

static void raw_path(const char *target, char *out, size_t outsz)
{
	size_t n = strcspn(target, "?#");

	if (n >= outsz)
		n = outsz - 1;
	memcpy(out, target, n);
	out[n] = '\0';
}

static int decide(const struct bb_routes *routes,
		  const struct bb_tokens *tokens,
		  const struct bb_request_view *req, struct bb_decision *d)
{
	const char *hh = req->host_header;
	const char *why = NULL;
	char tun[BB_HOST_MAX + 1];
	int tport;
	const char *tok;

	memset(d, 0, sizeof(*d));
	raw_path(req->target, d->path, sizeof(d->path));
	if (!hh && req->tunnel_host)
		hh = req->tunnel_host;
	if (!hh)
		return deny(d, BB_BAD, 400, "missing Host header");
	if (bb_host_norm(hh, strlen(hh), d->host, sizeof(d->host), &d->port) < 0)
		return deny(d, BB_BAD, 400, "invalid Host header");
	if (req->tunnel_host) {
		if (bb_host_norm(req->tunnel_host, strlen(req->tunnel_host), tun,
				 sizeof(tun), &tport) < 0 ||
		    strcmp(tun, d->host) != 0 ||
		    (d->port && d->port != req->tunnel_port))
			return deny(d, BB_DENY, 403,
				    "Host header does not match the CONNECT target");
		d->port = req->tunnel_port;
	}
	d->route = bb_routes_find(routes, d->host);
	if (!d->route)
		return deny(d, BB_DENY, 403, "host not allowed");
	if (!bb_route_port_ok(d->route, d->port ? d->port : (req->tls ? 443 : 80),
			      req->tls))
		return deny(d, BB_DENY, 403, "port not allowed");
	if (bb_path_norm(req->target, strlen(req->target), d->path,
			 sizeof(d->path), &why) < 0) {
		raw_path(req->target, d->path, sizeof(d->path));
		return deny(d, BB_DENY, 403, why);
	}
	if (!prefix_match(d->route, d->path))
		return deny(d, BB_DENY, 403, "path not allowed");
	if (is_push(d->path, req->target))
		return deny(d, BB_DENY, 403,
			    "git push goes through the git gate, not egress");
	if (d->route->scheme) {
		if (!req->tls)
			return deny(d, BB_DENY, 403,
				    "authenticated route needs https");
		tok = bb_tokens_get(tokens, d->route->token_env);
		if (!tok || !*tok)
			return deny(d, BB_DENY, 502, "credential slot is empty");
		d->auth_value = tok;
	}
	d->verdict = BB_ALLOW;
	d->status = 200;
	d->reason = "allowed";
	return 0;
}

void bb_route_decide(const struct bb_routes *routes,
		     const struct bb_tokens *tokens,
		     const struct bb_request_view *req,
		     struct bb_decision *d)
{
	decide(routes, tokens, req, d);
}
