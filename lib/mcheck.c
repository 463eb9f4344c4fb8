/* Leaf validation of one bottle or agent file (bb-manifest(5)): every
 * field checked, defaults filled in, paths and hosts canonicalised.  The
 * messages follow the original's wording, with the field path moved into
 * WHERE. */
#include "manifest.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "file.h"
#include "json.h"
#include "netaddr.h"

struct chk {
	const char *path;    /* the file, first part of WHERE */
	char subject[300];   /* "bottle 'dev'" */
	struct bb_err *err;
};

__attribute__((format(printf, 3, 4)))
static int fail(struct chk *c, const char *field, const char *fmt, ...)
{
	char where[512];
	va_list ap;

	if (field && *field)
		snprintf(where, sizeof(where), "%s: %s", c->path, field);
	else
		snprintf(where, sizeof(where), "%s", c->path);
	va_start(ap, fmt);
	bb_verrf(c->err, where, fmt, ap);
	va_end(ap);
	return -1;
}

static const char *a_type(json_type t)
{
	switch (t) {
	case JSON_OBJECT:
		return "an object";
	case JSON_ARRAY:
		return "an array";
	case JSON_STRING:
		return "a string";
	case JSON_TRUE:
	case JSON_FALSE:
		return "a boolean";
	default:
		return "a number";
	}
}

/* v must be of type t (JSON_TRUE stands for either boolean). */
static int need(struct chk *c, json_t *v, const char *field, json_type t)
{
	if (json_typeof(v) == t || (t == JSON_TRUE && json_is_boolean(v)))
		return 0;
	return fail(c, field, "must be %s (was %s)", a_type(t),
		    bb_json_type(v));
}

static int need_string(struct chk *c, json_t *v, const char *field,
		       int nonempty)
{
	if (json_is_string(v) && (!nonempty || json_string_length(v) > 0))
		return 0;
	if (nonempty)
		return fail(c, field, "must be a non-empty string (was %s)",
			    json_is_string(v) ? "''" : bb_json_type(v));
	return need(c, v, field, JSON_STRING);
}

static int has_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < ' ' || s[i] == 0x7f)
			return 1;
	return 0;
}

static int is_env_name(const char *s)
{
	if (!(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (s++; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* [A-Za-z0-9][A-Za-z0-9._-]*: repo and skill names, which become path
 * components and must not look like options or walk out (. and ..). */
static int is_plain_name(const char *s)
{
	if (!isalnum((unsigned char)*s))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '.' || *s == '_' ||
		      *s == '-'))
			return 0;
	return 1;
}

static int in_list(const char *k, const char *const *list)
{
	for (; list && *list; list++)
		if (!strcmp(k, *list))
			return 1;
	return 0;
}

/* Damerau-Levenshtein (optimal string alignment), case-insensitive,
 * on short words only. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t n = strlen(a), m = strlen(b), d[33][33];

	if (n > 32 || m > 32)
		return 99;
	for (size_t i = 0; i <= n; i++)
		d[i][0] = i;
	for (size_t j = 0; j <= m; j++)
		d[0][j] = j;
	for (size_t i = 1; i <= n; i++)
		for (size_t j = 1; j <= m; j++) {
			int ne = tolower((unsigned char)a[i - 1]) !=
				 tolower((unsigned char)b[j - 1]);
			size_t v = d[i - 1][j - 1] + (size_t)ne;

			if (d[i - 1][j] + 1 < v)
				v = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < v)
				v = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && tolower((unsigned char)a[i - 1]) ==
			    tolower((unsigned char)b[j - 2]) &&
			    tolower((unsigned char)a[i - 2]) ==
			    tolower((unsigned char)b[j - 1]) &&
			    d[i - 2][j - 2] + 1 < v)
				v = d[i - 2][j - 2] + 1;
			d[i][j] = v;
		}
	return d[n][m];
}

static int is_prefix(const char *pre, const char *s)
{
	return strncasecmp(pre, s, strlen(pre)) == 0;
}

/* A typo is a few edits away (a third of the word), or a truncation or
 * extension of a known key ("path" for path_allowlist). */
const char *bb_did_you_mean(const char *word, const char *const *cands)
{
	size_t n = strlen(word), best = 99, limit = n / 3 ? n / 3 : 1;
	const char *pick = NULL;

	for (const char *const *c = cands; c && *c; c++) {
		size_t d = edit_distance(word, *c);

		if (d < best)
			best = d, pick = *c;
	}
	if (best <= limit)
		return pick;
	for (const char *const *c = cands; n >= 3 && c && *c; c++)
		if (strlen(*c) >= 3 && (is_prefix(word, *c) || is_prefix(*c, word)))
			return *c;
	return NULL;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void appendf(char *buf, size_t sz, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void appendf(char *buf, size_t sz, const char *fmt, ...)
{
	size_t n = strlen(buf);
	va_list ap;

	if (n + 1 >= sz)
		return;
	va_start(ap, fmt);
	vsnprintf(buf + n, sz - n, fmt, ap);
	va_end(ap);
}

/* Every key of obj outside allowed (and ignored) is reported at once,
 * each with a suggestion when one is close.  field "" means the top of
 * the frontmatter; tail completes the message with what is allowed. */
static int check_keys(struct chk *c, json_t *obj, const char *field,
		      const char *const *allowed, const char *const *ignored,
		      const char *tail)
{
	const char *bad[64], *k;
	json_t *v;
	size_t n = 0;
	char msg[900] = "";

	json_object_foreach(obj, k, v)
		if (!in_list(k, allowed) && !in_list(k, ignored) && n < 64)
			bad[n++] = k;
	if (n == 0)
		return 0;
	qsort(bad, n, sizeof(*bad), cmp_str);
	if (!*field)
		appendf(msg, sizeof(msg), "unknown frontmatter key(s) [");
	else
		appendf(msg, sizeof(msg), "unknown key%s ", n > 1 ? "s" : "");
	for (size_t i = 0; i < n; i++) {
		const char *hint = bb_did_you_mean(bad[i], allowed);

		appendf(msg, sizeof(msg), "%s'%.100s'", i ? ", " : "", bad[i]);
		if (hint)
			appendf(msg, sizeof(msg), " (did you mean '%s'?)", hint);
	}
	appendf(msg, sizeof(msg), "%s%s", *field ? "" : "]", tail);
	return fail(c, field, "%s", msg);
}

/* A path from the manifest: ~ and ~/ expand against $HOME; a relative
 * path is taken from the directory of the file that names it. */
static char *resolve_path(struct chk *c, const char *field, const char *p)
{
	const char *home = getenv("HOME"), *slash;
	char *out;
	size_t n;

	if (p[0] == '~') {
		if (p[1] != '\0' && p[1] != '/') {
			fail(c, field, "'%s': ~user paths are not supported; "
				       "write ~/ or an absolute path", p);
			return NULL;
		}
		if (!home || !*home) {
			fail(c, field, "'%s': HOME is not set", p);
			return NULL;
		}
		return bb_expand_tilde(p);
	}
	if (p[0] == '/')
		return strdup(p);
	slash = strrchr(c->path, '/');
	n = slash ? (size_t)(slash - c->path) : 1;
	out = malloc(n + strlen(p) + 2);
	if (out)
		sprintf(out, "%.*s/%s", (int)n, slash ? c->path : ".", p);
	return out;
}

/* ---- env ---------------------------------------------------------- */

static int check_env_value(struct chk *c, const char *field, json_t *v)
{
	const char *s;

	if (!json_is_string(v))
		return fail(c, field, "must be a string (was %s); quote the "
				      "value in YAML", bb_json_type(v));
	s = json_string_value(v);
	if (strlen(s) != json_string_length(v))
		return fail(c, field, "must not contain a NUL byte");
	/* ${NAME} is forwarded by name; anything else with "${" would be
	 * taken literally, which is never what the operator meant. */
	if (strstr(s, "${")) {
		size_t n = strlen(s);
		char name[256];

		if (s[0] != '$' || s[n - 1] != '}' || n < 4 ||
		    n - 3 >= sizeof(name) || strchr(s + 2, '$'))
			goto bad_ref;
		memcpy(name, s + 2, n - 3);
		name[n - 3] = '\0';
		if (!is_env_name(name))
			goto bad_ref;
	}
	return 0;
bad_ref:
	return fail(c, field, "'%.200s' is not a host variable reference: "
			      "write ${NAME} as the whole value, NAME matching "
			      "[A-Za-z_][A-Za-z0-9_]*", s);
}

static int check_env(struct chk *c, json_t *env, json_t *out)
{
	const char *k;
	json_t *v;

	if (need(c, env, "env", JSON_OBJECT) < 0)
		return -1;
	json_object_foreach(env, k, v) {
		char field[300];

		snprintf(field, sizeof(field), "env.%.200s", k);
		if (!is_env_name(k))
			return fail(c, "env", "'%.200s' is not a valid "
					      "environment variable name "
					      "([A-Za-z_][A-Za-z0-9_]*)", k);
		if (check_env_value(c, field, v) < 0)
			return -1;
		json_object_set(out, k, v);
	}
	return 0;
}

/* ---- agent_provider ----------------------------------------------- */

static const char *const provider_keys[] = {
	"template", "dockerfile", "auth_token", "forward_host_credentials",
	NULL,
};

static int check_provider(struct chk *c, json_t *ap, json_t *out)
{
	json_t *t = json_object_get(ap, "template");
	json_t *df = json_object_get(ap, "dockerfile");
	json_t *at = json_object_get(ap, "auth_token");
	json_t *fh = json_object_get(ap, "forward_host_credentials");
	const char *tmpl = "claude";
	char *dpath = NULL;

	if (need(c, ap, "agent_provider", JSON_OBJECT) < 0 ||
	    check_keys(c, ap, "agent_provider", provider_keys, NULL,
		       "; allowed: template, dockerfile, auth_token, "
		       "forward_host_credentials") < 0)
		return -1;
	if (t) {
		if (!json_is_string(t) || !json_string_length(t))
			return fail(c, "agent_provider.template",
				    "must be a non-empty string");
		tmpl = json_string_value(t);
		if (strcmp(tmpl, "claude") && strcmp(tmpl, "codex"))
			return fail(c, "agent_provider.template",
				    "'%.100s' is not one of ['claude', 'codex']",
				    tmpl);
	}
	if (df && need(c, df, "agent_provider.dockerfile", JSON_STRING) < 0)
		return -1;
	if (df && json_string_length(df) &&
	    !(dpath = resolve_path(c, "agent_provider.dockerfile",
				   json_string_value(df))))
		return -1;
	if (at) {
		const char *s;

		if (need(c, at, "agent_provider.auth_token", JSON_STRING) < 0)
			return free(dpath), -1;
		s = json_string_value(at);
		if (*s && !is_env_name(s)) {
			free(dpath);
			return fail(c, "agent_provider.auth_token",
				    "'%.100s' is not a valid environment variable"
				    " name; auth_token names the host variable "
				    "holding the token", s);
		}
		if (*s && strcmp(tmpl, "claude")) {
			free(dpath);
			return fail(c, "agent_provider.auth_token",
				    "is only supported for template 'claude'");
		}
	}
	if (fh) {
		if (need(c, fh, "agent_provider.forward_host_credentials",
			 JSON_TRUE) < 0)
			return free(dpath), -1;
		if (json_is_true(fh) && strcmp(tmpl, "codex")) {
			free(dpath);
			return fail(c, "agent_provider.forward_host_credentials",
				    "is currently only supported for template "
				    "'codex'");
		}
	}
	json_object_set_new(out, "template", json_string(tmpl));
	json_object_set_new(out, "dockerfile", json_string(dpath ? dpath : ""));
	json_object_set_new(out, "auth_token",
			    json_string(at ? json_string_value(at) : ""));
	json_object_set_new(out, "forward_host_credentials",
			    json_boolean(json_is_true(fh)));
	free(dpath);
	return 0;
}

/* ---- egress ------------------------------------------------------- */

static const char *const egress_keys[] = {"routes", NULL};
static const char *const route_keys[] = {
	"host", "path_allowlist", "auth", "role", "pipelock", NULL,
};
static const char *const auth_keys[] = {"scheme", "token_ref", NULL};
static const char *const pipelock_keys[] = {
	"tls_passthrough", "ssrf_ip_allowlist", NULL,
};

static int is_hex(int ch)
{
	return isxdigit(ch);
}

/* Why the path prefix p is refused, or NULL. */
static const char *path_prefix_why(const char *p)
{
	if (p[0] != '/')
		return "must be an absolute path prefix starting with '/'";
	for (const char *s = p; *s; s++) {
		if ((unsigned char)*s <= ' ' || *s == 0x7f || *s == '?' ||
		    *s == '#')
			return "may not hold spaces, control characters, '?' "
			       "or '#'";
		if (*s == '%' && !(is_hex((unsigned char)s[1]) &&
				   is_hex((unsigned char)s[2])))
			return "has a '%' that does not start an escape %XX";
		if (*s == '/' && s[1] == '/')
			return "may not hold an empty segment ('//')";
		if (*s == '/' && s[1] == '.' &&
		    (s[2] == '/' || !s[2] ||
		     (s[2] == '.' && (s[3] == '/' || !s[3]))))
			return "may not hold '.' or '..' segments";
	}
	return NULL;
}

static int check_paths(struct chk *c, const char *label, json_t *pa,
		       json_t *out)
{
	char field[300];
	size_t j;
	json_t *v;

	snprintf(field, sizeof(field), "%s.path_allowlist", label);
	if (need(c, pa, field, JSON_ARRAY) < 0)
		return -1;
	json_array_foreach(pa, j, v) {
		const char *why;

		snprintf(field, sizeof(field), "%s.path_allowlist[%zu]", label,
			 j);
		if (need(c, v, field, JSON_STRING) < 0)
			return -1;
		if (strlen(json_string_value(v)) != json_string_length(v))
			return fail(c, field, "must not contain a NUL byte");
		if ((why = path_prefix_why(json_string_value(v))))
			return fail(c, field, "'%.200s' %s",
				    json_string_value(v), why);
		json_array_append(out, v);
	}
	return 0;
}

static int check_auth(struct chk *c, const char *label, json_t *auth,
		      json_t *route)
{
	char field[300];
	json_t *s, *t;
	const char *sv, *tv;

	snprintf(field, sizeof(field), "%s.auth", label);
	if (need(c, auth, field, JSON_OBJECT) < 0)
		return -1;
	if (json_object_size(auth) == 0)
		return fail(c, field, "is empty ({}); omit the 'auth' key "
				      "entirely if this route is "
				      "unauthenticated. Otherwise both 'scheme'"
				      " and 'token_ref' are required.");
	if (check_keys(c, auth, field, auth_keys, NULL,
		       "; only 'scheme' and 'token_ref' are accepted") < 0)
		return -1;
	s = json_object_get(auth, "scheme");
	t = json_object_get(auth, "token_ref");
	snprintf(field, sizeof(field), "%s.auth.scheme", label);
	if (!json_is_string(s) || !json_string_length(s))
		return fail(c, field, "is required when 'auth' is set "
				      "(non-empty string)");
	sv = json_string_value(s);
	if (strcmp(sv, "Bearer") && strcmp(sv, "token"))
		return fail(c, field, "'%.100s' is not one of Bearer, token", sv);
	snprintf(field, sizeof(field), "%s.auth.token_ref", label);
	if (!json_is_string(t) || !json_string_length(t))
		return fail(c, field, "is required when 'auth' is set (name of "
				      "the host env var holding the token "
				      "value)");
	tv = json_string_value(t);
	if (!is_env_name(tv))
		return fail(c, field, "'%.100s' is not a valid environment "
				      "variable name ([A-Za-z_][A-Za-z0-9_]*)",
			    tv);
	json_object_set_new(route, "auth",
			    json_pack("{s:s, s:s}", "scheme", sv, "token_ref",
				      tv));
	return 0;
}

static int check_role(struct chk *c, const char *label, json_t *role)
{
	char field[300];
	size_t j;
	json_t *v;

	snprintf(field, sizeof(field), "%s.role", label);
	if (json_is_string(role)) {
		if (json_string_length(role))
			return fail(c, field, "'%.100s' is not accepted; the "
					      "'role' field is reserved for "
					      "future use",
				    json_string_value(role));
		return 0;
	}
	if (!json_is_array(role))
		return fail(c, field, "must be a string or a list of strings "
				      "(was %s)", bb_json_type(role));
	json_array_foreach(role, j, v) {
		if (!json_is_string(v))
			return fail(c, field, "items must be strings (got %s)",
				    bb_json_type(v));
		return fail(c, field, "'%.100s' is not accepted; the 'role' "
				      "field is reserved for future use",
			    json_string_value(v));
	}
	return 0;
}

static int check_pipelock(struct chk *c, const char *label, json_t *pl,
			  json_t *route)
{
	char field[300];
	json_t *tp, *ssrf;
	json_t *out_list = json_array();
	size_t j;
	json_t *v;

	snprintf(field, sizeof(field), "%s.pipelock", label);
	if (pl && (need(c, pl, field, JSON_OBJECT) < 0 ||
		   check_keys(c, pl, field, pipelock_keys, NULL,
			      "; only 'tls_passthrough' and "
			      "'ssrf_ip_allowlist' are accepted") < 0))
		goto fail;
	tp = json_object_get(pl, "tls_passthrough");
	ssrf = json_object_get(pl, "ssrf_ip_allowlist");
	snprintf(field, sizeof(field), "%s.pipelock.tls_passthrough", label);
	if (tp && need(c, tp, field, JSON_TRUE) < 0)
		goto fail;
	snprintf(field, sizeof(field), "%s.pipelock.ssrf_ip_allowlist", label);
	if (ssrf && need(c, ssrf, field, JSON_ARRAY) < 0)
		goto fail;
	json_array_foreach(ssrf, j, v) {
		char canon[128];
		const char *why;

		snprintf(field, sizeof(field),
			 "%s.pipelock.ssrf_ip_allowlist[%zu]", label, j);
		if (!json_is_string(v) || !json_string_length(v)) {
			fail(c, field, "must be a non-empty string (was %s)",
			     json_is_string(v) ? "''" : bb_json_type(v));
			goto fail;
		}
		if ((why = bb_cidr_canon(json_string_value(v), canon,
					 sizeof(canon)))) {
			fail(c, field, "must be an IP address or CIDR (was "
				       "'%.100s'): %s", json_string_value(v),
			     why);
			goto fail;
		}
		json_array_append_new(out_list, json_string(canon));
	}
	json_object_set_new(route, "pipelock",
			    json_pack("{s:b, s:o}", "tls_passthrough",
				      json_is_true(tp), "ssrf_ip_allowlist",
				      out_list));
	return 0;
fail:
	json_decref(out_list);
	return -1;
}

static json_t *check_route_at(struct chk *c, const char *label, json_t *r)
{
	char field[300], host[256];
	json_t *h = json_object_get(r, "host");
	json_t *pa = json_object_get(r, "path_allowlist");
	json_t *auth = json_object_get(r, "auth");
	json_t *role = json_object_get(r, "role");
	json_t *route, *paths;
	const char *why;

	if (need(c, r, label, JSON_OBJECT) < 0 ||
	    check_keys(c, r, label, route_keys, NULL,
		       "; accepted keys are 'host', 'path_allowlist', 'auth', "
		       "'role', 'pipelock'") < 0)
		return NULL;
	snprintf(field, sizeof(field), "%s.host", label);
	if (!h) {
		fail(c, label, "missing required string field 'host'");
		return NULL;
	}
	if (need_string(c, h, field, 1) < 0)
		return NULL;
	why = strlen(json_string_value(h)) != json_string_length(h)
		      ? "must not contain a NUL byte"
		      : bb_host_canon(json_string_value(h), host, sizeof(host));
	if (why) {
		fail(c, field, "'%.200s' %s", json_string_value(h), why);
		return NULL;
	}
	if (role && check_role(c, label, role) < 0)
		return NULL;
	route = json_pack("{s:s}", "host", host);
	paths = json_array();
	json_object_set_new(route, "path_allowlist", paths);
	if ((pa && check_paths(c, label, pa, paths) < 0) ||
	    (auth && check_auth(c, label, auth, route) < 0) ||
	    check_pipelock(c, label, json_object_get(r, "pipelock"), route) < 0) {
		json_decref(route);
		return NULL;
	}
	return route;
}

static json_t *check_route(struct chk *c, size_t i, json_t *r)
{
	char label[64];

	snprintf(label, sizeof(label), "egress.routes[%zu]", i);
	return check_route_at(c, label, r);
}

json_t *bb_manifest_route_check(json_t *route, const char *source,
				const char *label, struct bb_err *err)
{
	struct chk c = {.path = source, .err = err};

	snprintf(c.subject, sizeof(c.subject), "%s", label);
	return check_route_at(&c, label, route);
}

/* Hosts are unique on the proxy (canonical hosts are lower case). */
static int check_unique_hosts(struct chk *c, json_t *routes)
{
	size_t i, j;
	json_t *a, *b;

	json_array_foreach(routes, i, a) {
		const char *ha = json_string_value(json_object_get(a, "host"));

		for (j = 0; j < i; j++) {
			b = json_array_get(routes, j);
			if (strcmp(ha, json_string_value(
					       json_object_get(b, "host"))))
				continue;
			char field[64];

			snprintf(field, sizeof(field), "egress.routes[%zu].host",
				 i);
			return fail(c, field, "%s egress.routes has duplicate "
					      "host '%s' (also routes[%zu]); each "
					      "host must be unique on the proxy.",
				    c->subject, ha, j);
		}
	}
	return 0;
}

static int check_egress(struct chk *c, json_t *eg, json_t *out)
{
	json_t *routes;
	json_t *list = json_object_get(out, "routes");
	size_t i;
	json_t *r;

	if (need(c, eg, "egress", JSON_OBJECT) < 0 ||
	    check_keys(c, eg, "egress", egress_keys, NULL,
		       "; only 'routes' is accepted") < 0)
		return -1;
	routes = json_object_get(eg, "routes");
	if (!routes)
		return 0;
	if (need(c, routes, "egress.routes", JSON_ARRAY) < 0)
		return -1;
	json_array_foreach(routes, i, r) {
		json_t *route = check_route(c, i, r);

		if (!route)
			return -1;
		json_array_append_new(list, route);
	}
	return check_unique_hosts(c, list);
}

/* ---- git-gate ----------------------------------------------------- */

static const char *const gg_keys[] = {"user", "repos", NULL};
static const char *const user_keys[] = {"name", "email", NULL};
static const char *const repo_keys[] = {"url", "identity", "host_key", NULL};

/* git-gate.user, on bottles and agents: {name, email}, which end up in
 * the guest's git config, so one line each. */
static int check_user(struct chk *c, json_t *u, json_t *out)
{
	const char *const fields[] = {"name", "email"};
	int any = 0;

	if (need(c, u, "git-gate.user", JSON_OBJECT) < 0 ||
	    check_keys(c, u, "git-gate.user", user_keys, NULL,
		       "; allowed: name, email") < 0)
		return -1;
	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(u, fields[i]);
		char field[64];

		snprintf(field, sizeof(field), "git-gate.user.%s", fields[i]);
		if (!v) {
			json_object_set_new(out, fields[i], json_string(""));
			continue;
		}
		if (need(c, v, field, JSON_STRING) < 0)
			return -1;
		if (has_ctl(json_string_value(v), json_string_length(v)))
			return fail(c, field, "must not contain control "
					      "characters");
		any |= json_string_length(v) > 0;
		json_object_set(out, fields[i], v);
	}
	if (!any)
		return fail(c, "git-gate.user", "%s git-gate.user is set but "
				"neither name nor email is non-empty; remove "
				"the block or fill at least one field.",
			    c->subject);
	return 0;
}

static int check_identity(struct chk *c, const char *field, const char *p,
			  json_t *repo)
{
	char *abs = resolve_path(c, field, p);
	struct stat st;
	int rc = 0;

	if (!abs)
		return -1;
	if (stat(abs, &st) < 0)
		rc = fail(c, field, "'%.200s' does not exist (looked for "
				    "'%.200s'); it must be the SSH private key "
				    "the gate uses upstream", p, abs);
	else if (!S_ISREG(st.st_mode))
		rc = fail(c, field, "'%.200s' is not a regular file", p);
	else
		json_object_set_new(repo, "identity", json_string(abs));
	free(abs);
	return rc;
}

static json_t *check_repo(struct chk *c, const char *name, json_t *r)
{
	char label[200], field[260], why[600];
	json_t *url, *id, *hk;
	struct bb_ssh_url u;
	json_t *repo;
	char *key;

	snprintf(label, sizeof(label), "git-gate.repos['%s']", name);
	if (need(c, r, label, JSON_OBJECT) < 0 ||
	    check_keys(c, r, label, repo_keys, NULL,
		       "; allowed: url, identity, host_key") < 0)
		return NULL;
	url = json_object_get(r, "url");
	id = json_object_get(r, "identity");
	hk = json_object_get(r, "host_key");
	if (!json_is_string(url) || !json_string_length(url)) {
		fail(c, label, "missing required string field 'url'");
		return NULL;
	}
	snprintf(field, sizeof(field), "%s.url", label);
	if (bb_ssh_url_parse(json_string_value(url), &u, why, sizeof(why)) < 0) {
		fail(c, field, "%s", why);
		return NULL;
	}
	if (!json_is_string(id) || !json_string_length(id)) {
		fail(c, label, "missing required string field 'identity'");
		return NULL;
	}
	if (!hk) {
		fail(c, label, "missing required string field 'host_key' (the "
			       "upstream's OpenSSH host key line, e.g. from "
			       "ssh-keyscan; the gate refuses every fetch and "
			       "push without it)");
		return NULL;
	}
	snprintf(field, sizeof(field), "%s.host_key", label);
	if (need(c, hk, field, JSON_STRING) < 0)
		return NULL;
	key = malloc(json_string_length(hk) + 1);
	if (!key || bb_ssh_host_key_canon(json_string_value(hk), key,
					  json_string_length(hk) + 1, why,
					  sizeof(why)) < 0) {
		fail(c, field, "%s", key ? why : "out of memory");
		free(key);
		return NULL;
	}
	repo = json_pack("{s:s, s:s, s:s, s:s, s:i, s:s}",
			 "url", json_string_value(url), "host_key", key,
			 "user", u.user, "host", u.host, "port", u.port,
			 "path", u.path);
	free(key);
	snprintf(field, sizeof(field), "%s.identity", label);
	if (check_identity(c, field, json_string_value(id), repo) < 0) {
		json_decref(repo);
		return NULL;
	}
	return repo;
}

static int check_repos(struct chk *c, json_t *repos, json_t *out)
{
	const char *names[256], *k;
	json_t *v;
	size_t n = 0;

	if (need(c, repos, "git-gate.repos", JSON_OBJECT) < 0)
		return -1;
	json_object_foreach(repos, k, v) {
		if (n == 256)
			return fail(c, "git-gate.repos", "more than 256 repos");
		names[n++] = k;
	}
	qsort(names, n, sizeof(*names), cmp_str);
	for (size_t i = 0; i < n; i++) {
		json_t *repo;

		if (!*names[i])
			return fail(c, "git-gate.repos", "%s git-gate.repos has "
					"an empty key", c->subject);
		if (!is_plain_name(names[i]))
			return fail(c, "git-gate.repos", "%s git-gate.repos "
					"name '%.100s' is invalid; allowed "
					"characters: A-Z a-z 0-9 . _ - (starting "
					"with a letter or digit)", c->subject,
				    names[i]);
		for (size_t j = 0; j < i; j++)
			if (!strcasecmp(names[i], names[j]))
				return fail(c, "git-gate.repos", "%s "
					"git-gate.repos has duplicate name "
					"'%s' (also '%s', differing only in "
					"case); each entry maps to a distinct "
					"bare repo on the gate.", c->subject,
					names[i], names[j]);
		repo = check_repo(c, names[i], json_object_get(repos, names[i]));
		if (!repo)
			return -1;
		json_object_set_new(out, names[i], repo);
	}
	return 0;
}

static int check_gitgate(struct chk *c, json_t *gg, json_t *out,
			 unsigned *decl)
{
	json_t *u, *r;

	if (need(c, gg, "git-gate", JSON_OBJECT) < 0 ||
	    check_keys(c, gg, "git-gate", gg_keys, NULL,
		       "; allowed: user, repos") < 0)
		return -1;
	u = json_object_get(gg, "user");
	r = json_object_get(gg, "repos");
	if (u) {
		*decl |= BB_DECL_GG_USER;
		if (check_user(c, u, json_object_get(out, "user")) < 0)
			return -1;
	}
	if (r) {
		*decl |= BB_DECL_GG_REPOS;
		if (check_repos(c, r, json_object_get(out, "repos")) < 0)
			return -1;
	}
	return 0;
}

/* ---- bottle ------------------------------------------------------- */

static const char *const bottle_keys[] = {
	"env", "extends", "agent_provider", "git-gate", "egress", "supervise",
	NULL,
};

static json_t *empty_user(void)
{
	return json_pack("{s:s, s:s}", "name", "", "email", "");
}

static json_t *bottle_defaults(const char *path)
{
	return json_pack("{s:s, s:s, s:{}, s:b, s:{s:s, s:s, s:s, s:b},"
			 " s:{s:[]}, s:{s:o, s:{}}}",
			 "source", path, "extends", "", "env", "supervise", 0,
			 "agent_provider", "template", "claude", "dockerfile",
			 "", "auth_token", "", "forward_host_credentials", 0,
			 "egress", "routes", "git-gate", "user", empty_user(),
			 "repos");
}

static int uses_old_git(struct chk *c, json_t *front, const char *more)
{
	if (!json_object_get(front, "git"))
		return 0;
	return fail(c, "git", "%s uses 'git' which has been replaced by "
			      "'git-gate'. Move git.user → git-gate.user%s.",
		    c->subject, more);
}

static int bottle_fields(struct chk *c, json_t *front, json_t *b,
			 unsigned *decl)
{
	json_t *v;

	if ((v = json_object_get(front, "env"))) {
		*decl |= BB_DECL_ENV;
		if (check_env(c, v, json_object_get(b, "env")) < 0)
			return -1;
	}
	if ((v = json_object_get(front, "extends"))) {
		*decl |= BB_DECL_EXTENDS;
		if (!json_is_string(v))
			return fail(c, "extends", "%s extends must be a string "
					"(was %s)", c->subject, bb_json_type(v));
		if (!json_string_length(v))
			return fail(c, "extends", "%s extends must name a "
					"bottle (was '')", c->subject);
		json_object_set(b, "extends", v);
	}
	if ((v = json_object_get(front, "supervise"))) {
		*decl |= BB_DECL_SUPERVISE;
		if (need(c, v, "supervise", JSON_TRUE) < 0)
			return -1;
		json_object_set(b, "supervise", v);
	}
	if ((v = json_object_get(front, "agent_provider"))) {
		*decl |= BB_DECL_PROVIDER;
		if (check_provider(c, v, json_object_get(b, "agent_provider")) < 0)
			return -1;
	}
	if ((v = json_object_get(front, "egress"))) {
		*decl |= BB_DECL_EGRESS;
		if (check_egress(c, v, json_object_get(b, "egress")) < 0)
			return -1;
	}
	if ((v = json_object_get(front, "git-gate")) &&
	    check_gitgate(c, v, json_object_get(b, "git-gate"), decl) < 0)
		return -1;
	return 0;
}

json_t *bb_bottle_check(json_t *front, const char *name,
			const char *path, unsigned *declared,
			struct bb_err *err)
{
	struct chk c = {.path = path, .err = err};
	json_t *b;

	*declared = 0;
	snprintf(c.subject, sizeof(c.subject), "bottle '%s'", name);
	if (uses_old_git(&c, front, " and git.remotes → git-gate.repos") < 0 ||
	    check_keys(&c, front, "", bottle_keys, NULL,
		       "; allowed keys are env, extends, agent_provider, "
		       "git-gate, egress, supervise") < 0)
		return NULL;
	b = bottle_defaults(path);
	if (!b) {
		bb_errf(err, path, "out of memory");
		return NULL;
	}
	if (bottle_fields(&c, front, b, declared) < 0) {
		json_decref(b);
		return NULL;
	}
	return b;
}

/* ---- agent -------------------------------------------------------- */

static const char *const agent_keys[] = {"bottle", "skills", "git-gate", NULL};
/* Claude Code subagent keys: one file can serve both tools. */
static const char *const passthrough_keys[] = {
	"name", "description", "model", "color", "memory", NULL,
};

static int check_skills(struct chk *c, json_t *sk, json_t *out)
{
	size_t i;
	json_t *v;

	if (!json_is_array(sk))
		return fail(c, "skills", "%s skills must be an array (was %s)",
			    c->subject, bb_json_type(sk));
	json_array_foreach(sk, i, v) {
		char field[64];

		snprintf(field, sizeof(field), "skills[%zu]", i);
		if (!json_is_string(v))
			return fail(c, field, "%s skills[%zu] must be a string "
					      "(was %s)", c->subject, i,
				    bb_json_type(v));
		if (strlen(json_string_value(v)) != json_string_length(v) ||
		    !is_plain_name(json_string_value(v)))
			return fail(c, field, "'%.100s' is not a skill directory"
					      " name (A-Z a-z 0-9 . _ -, starting"
					      " with a letter or digit)",
				    json_string_value(v));
		json_array_append(out, v);
	}
	return 0;
}

static int check_agent_gitgate(struct chk *c, json_t *gg, json_t *user)
{
	const char *bad[32], *k;
	json_t *v;
	size_t n = 0;

	if (need(c, gg, "git-gate", JSON_OBJECT) < 0)
		return -1;
	json_object_foreach(gg, k, v)
		if (strcmp(k, "user") && n < 32)
			bad[n++] = k;
	if (n) {
		char field[200];

		qsort(bad, n, sizeof(*bad), cmp_str);
		snprintf(field, sizeof(field), "git-gate.%.100s", bad[0]);
		return fail(c, field, "%s git-gate.%.100s is not allowed at "
				"the agent level; only git-gate.user "
				"(name/email) may be set on an agent. "
				"git-gate.repos is bottle-only (it carries "
				"credentials and host trust).",
			    c->subject, bad[0]);
	}
	v = json_object_get(gg, "user");
	return v ? check_user(c, v, user) : 0;
}

static char *strip(const char *s)
{
	const char *e = s + strlen(s);

	while (*s && isspace((unsigned char)*s))
		s++;
	while (e > s && isspace((unsigned char)e[-1]))
		e--;
	return strndup(s, (size_t)(e - s));
}

static int agent_fields(struct chk *c, json_t *front, json_t *a)
{
	json_t *b = json_object_get(front, "bottle");
	json_t *v;

	if (!b)
		return fail(c, "", "%s must declare a 'bottle' field naming a "
				   "defined bottle", c->subject);
	if (!json_is_string(b) || !json_string_length(b))
		return fail(c, "bottle", "%s must declare a 'bottle' field "
				"naming a defined bottle (was %s)", c->subject,
			    json_is_string(b) ? "''" : bb_json_type(b));
	json_object_set(a, "bottle", b);
	if ((v = json_object_get(front, "skills")) &&
	    check_skills(c, v, json_object_get(a, "skills")) < 0)
		return -1;
	if ((v = json_object_get(front, "git-gate")) &&
	    check_agent_gitgate(c, v, json_object_get(
				       json_object_get(a, "git-gate"), "user")) < 0)
		return -1;
	return 0;
}

json_t *bb_agent_check(json_t *front, const char *body,
		       const char *name, const char *path,
		       enum bb_morigin origin, struct bb_err *err)
{
	struct chk c = {.path = path, .err = err};
	json_t *a, *prompt;
	char *text;

	snprintf(c.subject, sizeof(c.subject), "agent '%s'", name);
	if (uses_old_git(&c, front, "") < 0)
		return NULL;
	if (json_object_get(front, "prompt")) {
		fail(&c, "prompt", "the prompt is the file's Markdown body, "
				   "not a frontmatter key");
		return NULL;
	}
	if (check_keys(&c, front, "", agent_keys, passthrough_keys,
		       "; allowed keys are bottle, skills, git-gate (and the "
		       "ignored Claude Code keys name, description, model, "
		       "color, memory)") < 0)
		return NULL;
	text = strip(body);
	prompt = text ? json_string(text) : NULL;
	free(text);
	if (!prompt) {
		fail(&c, "", "the Markdown body (the prompt) is not valid "
			     "UTF-8");
		return NULL;
	}
	a = json_pack("{s:s, s:s, s:s, s:[], s:o, s:{s:o}}", "source", path,
		      "origin", origin == BB_ORIGIN_HOME ? "home" : "project",
		      "bottle", "", "skills", "prompt", prompt, "git-gate",
		      "user", empty_user());
	if (!a) {
		bb_errf(err, path, "out of memory");
		return NULL;
	}
	if (agent_fields(&c, front, a) < 0) {
		json_decref(a);
		return NULL;
	}
	return a;
}
