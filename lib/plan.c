#include "plan.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "codexauth.h"
#include "file.h"
#include "json.h"
#include "netaddr.h"
#include "netcheck.h"
#include "provider.h"
#include "slug.h"

#define GUEST_USER "node"
#define GUEST_OWNER "node:node"
#define DEFAULT_HOME "/home/node"
#define PROMPT_NAME ".bot-bottle-prompt.txt"
#define SUPERVISE_HOST "supervise"
#define SUPERVISE_TIMEOUT 30

/* Everything the builder threads through its steps. */
struct ctx {
	const struct bb_plan_opts *o;
	const json_t *agent, *bottle;
	const char *agent_name, *bottle_name;
	char where[256]; /* "bottles.dev" */
	char home[PATH_MAX], workdir[PATH_MAX], prompt_path[PATH_MAX];
	char state_dir[PATH_MAX];
	json_t *plan;
	struct bb_err *err;
};

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static int field_err(struct ctx *c, const char *field, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int field_err(struct ctx *c, const char *field, const char *fmt, ...)
{
	char where[512];
	va_list ap;

	snprintf(where, sizeof(where), "%s%s%s", c->where, *field ? "." : "",
		 field);
	va_start(ap, fmt);
	bb_verrf(c->err, where, fmt, ap);
	va_end(ap);
	return -1;
}

/* A value of the expected JSON type, or an error naming the field.  Absent
 * optional fields read as NULL. */
static int want(struct ctx *c, const json_t *v, json_type type,
		const char *field, const char *tname)
{
	if (!v || json_typeof(v) == type ||
	    (type == JSON_TRUE && json_is_boolean(v)))
		return 0;
	return field_err(c, field, "must be %s (was %s)", tname,
			 bb_json_type(v));
}

/* --- finding the agent and its bottle ----------------------------------- */

static void list_keys(const json_t *o, char *buf, size_t n)
{
	const char *k;
	json_t *v;
	size_t used = 0;

	buf[0] = '\0';
	json_object_foreach((json_t *)(uintptr_t)o, k, v) {
		int w = snprintf(buf + used, n - used, "%s%s",
				 used ? ", " : "", k);
		if (w < 0 || (size_t)w >= n - used)
			break;
		used += (size_t)w;
	}
	if (!used)
		snprintf(buf, n, "(none)");
}

static int locate(struct ctx *c, const json_t *m)
{
	const json_t *agents = json_object_get(m, "agents");
	const json_t *bottles = json_object_get(m, "bottles");
	char avail[1024];

	if (!json_is_object(m))
		return bb_errf(c->err, "manifest", "must be a JSON object");
	if (json_integer_value(json_object_get(m, "version")) != 1)
		return bb_errf(c->err, "manifest.version",
			       "must be 1 (this bb-plan reads version 1)");
	if (json_is_object(json_object_get(m, "agent")) &&
	    json_is_object(json_object_get(m, "bottle"))) {
		/* bb-manifest -a AGENT: one agent, its bottle already merged. */
		c->agent = json_object_get(m, "agent");
		c->bottle = json_object_get(m, "bottle");
		if (strcmp(str(c->agent, "name"), c->o->agent) != 0)
			return bb_errf(c->err, "agent.name",
				       "document is for agent '%s', not '%s'",
				       str(c->agent, "name"), c->o->agent);
		c->agent_name = c->o->agent;
		c->bottle_name = str(c->bottle, "name");
	} else {
		if (!json_is_object(agents) || !json_is_object(bottles))
			return bb_errf(c->err, "manifest",
				       "needs 'agents' and 'bottles' objects");
		c->agent = json_object_get(agents, c->o->agent);
		if (!json_is_object(c->agent)) {
			list_keys(agents, avail, sizeof(avail));
			return bb_errf(c->err, "agents",
				       "no agent '%s'; available: %s",
				       c->o->agent, avail);
		}
		c->agent_name = c->o->agent;
		c->bottle_name = str(c->agent, "bottle");
		c->bottle = json_object_get(bottles, c->bottle_name);
		if (!json_is_object(c->bottle)) {
			list_keys(bottles, avail, sizeof(avail));
			return bb_errf(c->err, "agents",
				       "agent '%s' references bottle '%s', "
				       "which is not defined. Available: %s",
				       c->agent_name, c->bottle_name, avail);
		}
	}
	snprintf(c->where, sizeof(c->where), "bottles.%s", c->bottle_name);
	return 0;
}

/* --- identity, guest, workspace ----------------------------------------- */

static int guest_path_ok(const char *p)
{
	if (p[0] != '/' || strlen(p) >= PATH_MAX / 2)
		return 0;
	for (; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int identity(struct ctx *c)
{
	char slug[BB_SLUG_MAX];
	const char *state = getenv("XDG_STATE_HOME");
	const char *home = getenv("HOME");

	if (c->o->slug) {
		if (!bb_label_valid(c->o->slug))
			return bb_errf(c->err, "--slug",
				       "'%s' is not a valid hostname label "
				       "(1-63 of a-z 0-9 -, not starting or "
				       "ending with -)",
				       c->o->slug);
		snprintf(slug, sizeof(slug), "%s", c->o->slug);
	} else if (bb_slug_new(c->agent_name, slug, sizeof(slug), c->err) <
		   0) {
		return -1;
	}
	if (state && state[0] == '/')
		snprintf(c->state_dir, sizeof(c->state_dir),
			 "%s/bb/bottles/%s", state, slug);
	else
		snprintf(c->state_dir, sizeof(c->state_dir),
			 "%s/.local/state/bb/bottles/%s", home ? home : "",
			 slug);
	json_object_set_new(c->plan, "slug", json_string(slug));
	json_object_set_new(c->plan, "instance",
			    json_sprintf("bb-%s", slug));
	json_object_set_new(c->plan, "state_dir", json_string(c->state_dir));
	return 0;
}

static int guest(struct ctx *c)
{
	const char *h = getenv("BB_GUEST_HOME");

	if (h && *h && !guest_path_ok(h))
		return bb_errf(c->err, "BB_GUEST_HOME",
			       "must be an absolute path without control "
			       "characters");
	snprintf(c->home, sizeof(c->home), "%s", h && *h ? h : DEFAULT_HOME);
	json_object_set_new(c->plan, "guest",
			    json_pack("{s:s, s:s, s:s, s:s}", "home", c->home,
				      "user", GUEST_USER, "group", GUEST_USER,
				      "owner", GUEST_OWNER));
	return 0;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int workspace(struct ctx *c)
{
	char host[PATH_MAX], gitdir[PATH_MAX + 8], guest_path[PATH_MAX];
	int enabled = c->o->cwd != NULL;
	json_t *w;

	if (enabled) {
		char *t = bb_expand_tilde(c->o->cwd);

		if (!t || !realpath(t, host) || !is_dir(host)) {
			bb_errf(c->err, "--cwd", "cwd not found at %s",
				c->o->cwd);
			free(t);
			return -1;
		}
		free(t);
		snprintf(guest_path, sizeof(guest_path), "%s/workspace",
			 c->home);
	} else {
		if (!getcwd(host, sizeof(host)))
			return bb_errf(c->err, "cwd", "getcwd: %s",
				       strerror(errno));
		snprintf(guest_path, sizeof(guest_path), "%s", c->home);
	}
	snprintf(c->workdir, sizeof(c->workdir), "%s", guest_path);
	snprintf(gitdir, sizeof(gitdir), "%s/.git", host);
	w = json_pack("{s:b, s:s, s:s, s:s, s:b}", "enabled", enabled,
		      "host_path", host, "guest_path", guest_path, "workdir",
		      c->workdir, "has_host_git_dir", is_dir(gitdir));
	if (enabled) {
		json_object_set_new(w, "owner", json_string(GUEST_OWNER));
		json_object_set_new(w, "mode", json_string("0755"));
	}
	json_object_set_new(w, "copy_contents", json_boolean(enabled));
	json_object_set_new(w, "copy_git", json_boolean(enabled));
	json_object_set_new(c->plan, "workspace", w);
	return 0;
}

static int prompt(struct ctx *c)
{
	const json_t *p = json_object_get(c->agent, "prompt");

	if (want(c, p, JSON_STRING, "prompt", "a string") < 0)
		return -1;
	snprintf(c->prompt_path, sizeof(c->prompt_path), "%s/%s", c->home,
		 PROMPT_NAME);
	json_object_set_new(c->plan, "prompt",
			    json_pack("{s:s, s:s, s:s, s:s}", "guest_path",
				      c->prompt_path, "mode", "0600", "owner",
				      GUEST_OWNER, "content", str(c->agent,
								"prompt")));
	return 0;
}

/* --- environment -------------------------------------------------------- */

static int env_name_ok(const char *s)
{
	if (!*s || !(isalpha((unsigned char)*s) || *s == '_'))
		return 0;
	for (; *s; s++)
		if (!(isalnum((unsigned char)*s) || *s == '_'))
			return 0;
	return 1;
}

/* "${NAME}" -> NAME (in buf), or NULL if v is not a whole reference. */
static const char *host_ref(const char *v, char *buf, size_t n)
{
	size_t len = strlen(v);

	if (len < 4 || strncmp(v, "${", 2) != 0 || v[len - 1] != '}' ||
	    len - 3 >= n)
		return NULL;
	memcpy(buf, v + 2, len - 3);
	buf[len - 3] = '\0';
	return buf;
}

static json_t *env_entry(struct ctx *c, const char *name, const json_t *v)
{
	char field[512], ref[256];
	const char *s = json_string_value(v), *var;

	snprintf(field, sizeof(field), "env.%s", name);
	if (!env_name_ok(name)) {
		field_err(c, field, "is not a valid environment variable "
				    "name");
		return NULL;
	}
	if (!s) {
		field_err(c, field, "must be a string (was %s)",
			  bb_json_type(v));
		return NULL;
	}
	if (!strcmp(s, "?prompt"))
		return json_pack("{s:s, s:s}", "source", "prompt", "origin",
				 "bottle");
	if ((var = host_ref(s, ref, sizeof(ref)))) {
		if (!env_name_ok(var)) {
			field_err(c, field, "'%s' is not a valid host variable "
					    "reference; use ${NAME}",
				  s);
			return NULL;
		}
		if (!getenv(var)) {
			field_err(c, field, "host variable %s is not set", var);
			return NULL;
		}
		return json_pack("{s:s, s:s, s:s}", "source", "host",
				 "host_var", var, "origin", "bottle");
	}
	if (strstr(s, "${")) {
		field_err(c, field, "'${' must make up the whole value "
				    "(${NAME}); partial interpolation is not "
				    "supported");
		return NULL;
	}
	return json_pack("{s:s, s:s, s:s}", "source", "literal", "value", s,
			 "origin", "bottle");
}

static int env(struct ctx *c, const json_t *provider_env, json_t **out)
{
	const json_t *benv = json_object_get(c->bottle, "env");
	json_t *e = json_object(), *v, *ent;
	const char *k;

	if (want(c, benv, JSON_OBJECT, "env", "an object") < 0)
		goto fail;
	json_object_foreach((json_t *)(uintptr_t)benv, k, v) {
		if (!(ent = env_entry(c, k, v)))
			goto fail;
		json_object_set_new(e, k, ent);
	}
	/* Provider defaults only where the bottle says nothing. */
	json_object_foreach((json_t *)(uintptr_t)provider_env, k, v)
		if (!json_object_get(e, k))
			json_object_set_new(
				e, k,
				json_pack("{s:s, s:O, s:s}", "source",
					  "literal", "value", v, "origin",
					  "provider"));
	*out = e;
	return 0;
fail:
	json_decref(e);
	return -1;
}

static json_t *ca_env(const char *template)
{
	json_t *e = json_pack("{s:s, s:s, s:s}", "SSL_CERT_FILE",
			      BB_GUEST_CA_BUNDLE, "NODE_EXTRA_CA_CERTS",
			      BB_GUEST_CA_BUNDLE, "REQUESTS_CA_BUNDLE",
			      BB_GUEST_CA_BUNDLE);

	if (!strcmp(template, "codex"))
		json_object_set_new(e, "CODEX_CA_CERTIFICATE",
				    json_string(BB_GUEST_CA_BUNDLE));
	return e;
}

/* --- egress: merge provider and manifest routes, assign slots ------------ */

static int string_list(struct ctx *c, const json_t *v, const char *field,
		       json_t **out)
{
	char f[512];
	json_t *item;
	size_t i;

	*out = json_array();
	if (!v)
		return 0;
	if (want(c, v, JSON_ARRAY, field, "an array") < 0)
		return -1;
	json_array_foreach(v, i, item) {
		if (!json_is_string(item)) {
			snprintf(f, sizeof(f), "%s[%zu]", field, i);
			return field_err(c, f, "must be a string (was %s)",
					 bb_json_type(item));
		}
		json_array_append(*out, item);
	}
	return 0;
}

static int has_host(const json_t *routes, const char *host)
{
	json_t *r;
	size_t i;

	json_array_foreach(routes, i, r)
		if (!strcasecmp(str(r, "host"), host))
			return 1;
	return 0;
}

static int is_provider_host(const json_t *routes, size_t nprov,
			    const char *host)
{
	for (size_t k = 0; k < nprov; k++)
		if (!strcasecmp(str(json_array_get(routes, k), "host"), host))
			return 1;
	return 0;
}

static json_t *manifest_route(struct ctx *c, const json_t *r, size_t i)
{
	char f[128], g[160];
	const json_t *auth = json_object_get(r, "auth");
	const json_t *pl = json_object_get(r, "pipelock");
	json_t *paths = NULL, *ssrf = NULL, *host, *item, *out;
	char canon[256];
	const char *why;
	size_t j;

	snprintf(f, sizeof(f), "egress.routes[%zu]", i);
	if (!json_is_object(r)) {
		field_err(c, f, "must be an object (was %s)", bb_json_type(r));
		return NULL;
	}
	snprintf(g, sizeof(g), "%s.host", f);
	if (!json_is_string(json_object_get(r, "host")) ||
	    !json_string_length(json_object_get(r, "host"))) {
		field_err(c, g, "must be a non-empty string");
		return NULL;
	}
	why = bb_host_canon(str(r, "host"), canon, sizeof(canon));
	if (why) {
		field_err(c, g, "'%s' %s", str(r, "host"), why);
		return NULL;
	}
	host = json_string(canon);
	snprintf(g, sizeof(g), "%s.path_allowlist", f);
	if (string_list(c, json_object_get(r, "path_allowlist"), g, &paths) < 0)
		goto fail;
	snprintf(g, sizeof(g), "%s.auth", f);
	if (want(c, auth, JSON_OBJECT, g, "an object") < 0)
		goto fail;
	if (auth && (!*str(auth, "scheme") || !*str(auth, "token_ref"))) {
		field_err(c, g, "needs both 'scheme' and 'token_ref'");
		goto fail;
	}
	snprintf(g, sizeof(g), "%s.pipelock", f);
	if (want(c, pl, JSON_OBJECT, g, "an object") < 0)
		goto fail;
	snprintf(g, sizeof(g), "%s.pipelock.ssrf_ip_allowlist", f);
	if (string_list(c, json_object_get(pl, "ssrf_ip_allowlist"), g,
			&ssrf) < 0)
		goto fail;
	json_array_foreach(ssrf, j, item) {
		char w[600];

		snprintf(w, sizeof(w), "%s.%s[%zu]", c->where, g, j);
		if (bb_cidr_check(json_string_value(item), w, c->err) < 0)
			goto fail;
	}
	out = json_pack("{s:o, s:o, s:s, s:s, s:s, s:b, s:o, s:b}", "host",
			host, "path_allowlist", paths, "auth_scheme",
			str(auth, "scheme"), "token_ref", str(auth, "token_ref"),
			"token_env", "", "tls_passthrough",
			json_is_true(json_object_get(pl, "tls_passthrough")),
			"ssrf_ip_allowlist", ssrf, "provider", 0);
	return out;
fail:
	json_decref(host);
	json_decref(paths);
	json_decref(ssrf);
	return NULL;
}

static int merge_routes(struct ctx *c, json_t *routes)
{
	const json_t *eg = json_object_get(c->bottle, "egress");
	const json_t *mr = json_object_get(eg, "routes");
	size_t nprov = json_array_size(routes), i;
	json_t *r, *route;

	if (want(c, eg, JSON_OBJECT, "egress", "an object") < 0 ||
	    want(c, mr, JSON_ARRAY, "egress.routes", "an array") < 0)
		return -1;
	json_array_foreach(mr, i, r) {
		if (!(route = manifest_route(c, r, i)))
			return -1;
		if (has_host(routes, str(route, "host"))) {
			/* Provider routes own their hosts (invariant 5). */
			if (!is_provider_host(routes, nprov,
					      str(route, "host"))) {
				char f[64];

				snprintf(f, sizeof(f), "egress.routes[%zu].host",
					 i);
				json_decref(route);
				return field_err(c, f, "duplicate host '%s'; "
						       "each host must be "
						       "unique on the proxy",
						 str(r, "host"));
			}
			bb_warnx("egress route '%s' is provider-owned; "
				 "manifest entry ignored",
				 str(route, "host"));
			json_decref(route);
			continue;
		}
		json_array_append_new(routes, route);
	}
	return 0;
}

/* One slot per distinct token_ref, in route order (provider routes first). */
static int assign_slots(struct ctx *c, json_t *routes, json_t **token_env)
{
	json_t *map = json_object(), *byref = json_object(), *r;
	size_t i;

	json_array_foreach(routes, i, r) {
		const char *ref = str(r, "token_ref");
		json_t *slot;

		if (!*ref || !*str(r, "auth_scheme"))
			continue;
		slot = json_object_get(byref, ref);
		if (!slot) {
			slot = json_sprintf("EGRESS_TOKEN_%zu",
					    json_object_size(byref));
			json_object_set_new(byref, ref, slot);
		}
		json_object_set(r, "token_env", slot);
		if (json_object_get(map, json_string_value(slot)) &&
		    strcmp(str(map, json_string_value(slot)), ref) != 0) {
			json_decref(map);
			json_decref(byref);
			return bb_errf(c->err, "egress",
				       "slot %s maps to two token_refs",
				       json_string_value(slot));
		}
		json_object_set_new(map, json_string_value(slot),
				    json_string(ref));
	}
	json_decref(byref);
	*token_env = map;
	return 0;
}

static void warn_unset_refs(const json_t *routes, const json_t *provisioned)
{
	json_t *r;
	size_t i;

	json_array_foreach(routes, i, r) {
		const char *ref = str(r, "token_ref"), *v;

		if (!*ref || json_object_get(provisioned, ref))
			continue;
		v = getenv(ref);
		if (!v || !*v)
			bb_warnx("egress route '%s': host variable %s is not "
				 "set or empty; the launch will fail",
				 str(r, "host"), ref);
	}
}

/* --- git gate, supervise, pipelock, skills ------------------------------ */

static json_t *git_user(const json_t *bottle_gg, const json_t *agent_gg)
{
	const json_t *bu = json_object_get(bottle_gg, "user");
	const json_t *au = json_object_get(agent_gg, "user");
	const char *name = *str(au, "name") ? str(au, "name") : str(bu, "name");
	const char *email =
		*str(au, "email") ? str(au, "email") : str(bu, "email");

	return json_pack("{s:s, s:s}", "name", name, "email", email);
}

static int cmp_cstr(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int git_gate(struct ctx *c)
{
	const json_t *gg = json_object_get(c->bottle, "git-gate");
	const json_t *repos = json_object_get(gg, "repos");
	json_t *list = json_array(), *r;
	const char *name;

	if (want(c, gg, JSON_OBJECT, "git-gate", "an object") < 0 ||
	    want(c, repos, JSON_OBJECT, "git-gate.repos", "an object") < 0) {
		json_decref(list);
		return -1;
	}
	/* jansson iterates objects in insertion order; sort for stability. */
	const char **names = calloc(json_object_size(repos) + 1, sizeof(*names));
	size_t n = 0;

	json_object_foreach((json_t *)(uintptr_t)repos, name, r)
		names[n++] = name;
	qsort(names, n, sizeof(*names), cmp_cstr);
	for (size_t i = 0; i < n; i++) {
		json_t *port;

		name = names[i];
		r = json_object_get(repos, name);
		port = json_object_get(r, "port");
		if (!*str(r, "host_key"))
			bb_warnx("git-gate repo '%s' has no host_key; fetch "
				 "and push will be refused",
				 name);
		json_array_append_new(
			list,
			json_pack("{s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s}",
				  "name", name, "url", str(r, "url"), "user",
				  str(r, "user"), "host", str(r, "host"),
				  "port",
				  json_is_integer(port)
					  ? json_integer_value(port)
					  : (json_int_t)22,
				  "path", str(r, "path"), "identity_file",
				  str(r, "identity"), "host_key",
				  str(r, "host_key")));
	}
	free(names);
	json_object_set_new(
		c->plan, "git_gate",
		json_pack("{s:o, s:o}", "user",
			  git_user(gg, json_object_get(c->agent, "git-gate")),
			  "repos", list));
	return 0;
}

static int supervise(struct ctx *c, int *on)
{
	const json_t *s = json_object_get(c->bottle, "supervise");
	char q[PATH_MAX + 8];

	if (want(c, s, JSON_TRUE, "supervise", "a boolean") < 0)
		return -1;
	*on = json_is_true(s);
	snprintf(q, sizeof(q), "%s/queue", c->state_dir);
	json_object_set_new(c->plan, "supervise",
			    json_pack("{s:b, s:i, s:s, s:s}", "enabled", *on,
				      "timeout_seconds", SUPERVISE_TIMEOUT,
				      "queue_dir", q, "host", SUPERVISE_HOST));
	return 0;
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
		      json_string_value(*(json_t *const *)b));
}

/* Sorted, de-duplicated copy of an array of strings. */
static json_t *sorted_unique(const json_t *a)
{
	size_t n = json_array_size(a), i;
	json_t **v = calloc(n + 1, sizeof(*v)), *out = json_array();

	for (i = 0; i < n; i++)
		v[i] = json_array_get(a, i);
	qsort(v, n, sizeof(*v), cmp_json_str);
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(json_string_value(v[i]),
				     json_string_value(v[i - 1])))
			json_array_append(out, v[i]);
	free(v);
	return out;
}

static void pipelock(struct ctx *c, const json_t *routes, int sup)
{
	json_t *allow = json_array(), *pass = json_array(), *ssrf = json_array();
	json_t *r;
	size_t i;
	char cert[PATH_MAX + 32], key[PATH_MAX + 32];

	json_array_foreach(routes, i, r) {
		json_array_append(allow, json_object_get(r, "host"));
		if (json_is_true(json_object_get(r, "tls_passthrough")))
			json_array_append(pass, json_object_get(r, "host"));
		json_array_extend(ssrf, json_object_get(r, "ssrf_ip_allowlist"));
	}
	if (sup)
		json_array_append_new(allow, json_string(SUPERVISE_HOST));
	snprintf(cert, sizeof(cert), "%s/pipelock/ca.pem", c->state_dir);
	snprintf(key, sizeof(key), "%s/pipelock/ca.key", c->state_dir);
	json_object_set_new(c->plan, "pipelock",
			    json_pack("{s:o, s:o, s:o, s:s, s:s}",
				      "api_allowlist", sorted_unique(allow),
				      "passthrough_domains", sorted_unique(pass),
				      "ssrf_ip_allowlist", sorted_unique(ssrf),
				      "ca_cert", cert, "ca_key", key));
	json_decref(allow);
	json_decref(pass);
	json_decref(ssrf);
}

static int skill_name_ok(const char *s)
{
	if (!*s || !strcmp(s, ".") || !strcmp(s, ".."))
		return 0;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return 0;
	return 1;
}

static int skills(struct ctx *c, const json_t *manifest, const char *dir,
		  json_t **out)
{
	const json_t *list = json_object_get(c->agent, "skills");
	const char *mhome = str(manifest, "home");
	json_t *item, *s = json_array();
	size_t i;
	char f[64], home[PATH_MAX];

	/* The -a form has no "home": bottles live in <home>/bottles/. */
	if (!*mhome) {
		const char *src = str(c->bottle, "source");
		const char *cut = NULL;

		for (const char *p = src; (p = strstr(p, "/bottles/")); p++)
			cut = p;

		snprintf(home, sizeof(home), "%.*s",
			 cut ? (int)(cut - src) : 0, src);
		mhome = home;
	}

	if (want(c, list, JSON_ARRAY, "skills", "an array") < 0)
		goto fail;
	json_array_foreach(list, i, item) {
		const char *name = json_string_value(item);

		if (!name || !skill_name_ok(name)) {
			snprintf(f, sizeof(f), "agents.%.32s.skills[%zu]",
				 c->agent_name, i);
			bb_errf(c->err, f,
				"must be a skill directory name (A-Z a-z 0-9 . "
				"_ -)");
			goto fail;
		}
		json_array_append_new(
			s, json_pack("{s:s, s:s++, s:s++}", "name", name,
				     "host_path", mhome, "/skills/", name,
				     "guest_path", dir, "/", name));
	}
	*out = s;
	return 0;
fail:
	json_decref(s);
	return -1;
}

static json_t *steps(const json_t *plan, int skills_on, int sup)
{
	const json_t *gg = json_object_get(plan, "git_gate");
	const json_t *u = json_object_get(gg, "user");
	int git = json_array_size(json_object_get(gg, "repos")) > 0 ||
		  *str(u, "name") || *str(u, "email");

	return json_pack(
		"[{s:s,s:b}, {s:s,s:b}, {s:s,s:b}, {s:s,s:b}, {s:s,s:b}, "
		"{s:s,s:b}, {s:s,s:b}]",
		"step", "ca", "enabled", 1, "step", "prompt", "enabled", 1,
		"step", "provider_auth", "enabled", 1, "step", "skills",
		"enabled", skills_on, "step", "workspace", "enabled",
		json_is_true(json_object_get(
			json_object_get(plan, "workspace"), "enabled")),
		"step", "git", "enabled", git, "step", "supervise", "enabled",
		sup);
}

/* --- the whole plan ----------------------------------------------------- */

static int egress_section(struct ctx *c, json_t *routes,
			  const json_t *provisioned)
{
	json_t *token_env = NULL;

	if (merge_routes(c, routes) < 0 ||
	    assign_slots(c, routes, &token_env) < 0)
		return -1;
	warn_unset_refs(routes, provisioned);
	json_object_set_new(c->plan, "egress",
			    json_pack("{s:O, s:o}", "routes", routes,
				      "token_env", token_env));
	return 0;
}

static int provider_and_env(struct ctx *c, const json_t *manifest)
{
	struct bb_provider_out po;
	struct bb_provider_ctx pc = {
		.home = c->home,
		.owner = GUEST_OWNER,
		.prompt_path = c->prompt_path,
		.workdir = c->workdir,
		.has_prompt = *str(c->agent, "prompt") != '\0',
		.agent_provider = json_object_get(c->bottle, "agent_provider"),
		.bottle_env = json_object_get(c->bottle, "env"),
		.now = c->o->now,
	};
	json_t *e, *sk;
	int sup, rc = -1;

	if (want(c, pc.agent_provider, JSON_OBJECT, "agent_provider",
		 "an object") < 0)
		return -1;
	if (bb_provider_plan(&pc, &po, c->err) < 0) {
		/* Field errors are the bottle's; host-credential ones are not. */
		if (!strncmp(c->err->where, "agent_provider", 14))
			bb_err_prefix(c->err, c->where, ".");
		return -1;
	}
	if (env(c, po.env, &e) < 0)
		goto out;
	json_object_set_new(c->plan, "env", e);
	json_object_set_new(c->plan, "ca_env",
			    ca_env(str(po.section, "template")));
	if (egress_section(c, po.routes,
			   json_object_get(po.section, "provisioned_env")) < 0 ||
	    git_gate(c) < 0 || supervise(c, &sup) < 0 ||
	    skills(c, manifest, str(po.section, "skills_dir"), &sk) < 0)
		goto out;
	json_object_set_new(c->plan, "skills", sk);
	pipelock(c, po.routes, sup);
	json_object_set(c->plan, "provider", po.section);
	json_object_set_new(c->plan, "provisioning",
			    steps(c->plan, json_array_size(sk) > 0, sup));
	rc = 0;
out:
	bb_provider_out_free(&po);
	return rc;
}

json_t *bb_plan_build(const json_t *manifest, const struct bb_plan_opts *o,
		      struct bb_err *err)
{
	struct ctx c = {.o = o, .err = err};
	const char *backend = o->backend ? o->backend : "ns";

	if (strcmp(backend, "ns") && strcmp(backend, "podman") &&
	    strcmp(backend, "docker")) {
		bb_errf(err, "--backend", "'%s' is not one of ns, podman, docker",
			backend);
		return NULL;
	}
	if (locate(&c, manifest) < 0)
		return NULL;
	c.plan = json_pack("{s:i, s:s, s:s, s:s}", "version", BB_PLAN_VERSION,
			   "agent", c.agent_name, "bottle", c.bottle_name,
			   "backend", backend);
	if (identity(&c) < 0 || guest(&c) < 0 || workspace(&c) < 0 ||
	    prompt(&c) < 0 || provider_and_env(&c, manifest) < 0) {
		json_decref(c.plan);
		return NULL;
	}
	return c.plan;
}

/* --- preflight summary -------------------------------------------------- */

static int in_array(const json_t *a, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(a, i, v)
		if (!strcmp(json_string_value(v), s))
			return 1;
	return 0;
}

static void multi(FILE *f, const char *label, const json_t *values)
{
	json_t *v;
	size_t i;

	if (!json_array_size(values)) {
		fprintf(f, "%s : (none)\n", label);
		return;
	}
	fprintf(f, "%s :\n", label);
	json_array_foreach(values, i, v)
		fprintf(f, "    %s\n", json_string_value(v));
}

int bb_plan_summary(FILE *f, const json_t *plan)
{
	const json_t *prov = json_object_get(plan, "provider");
	const json_t *hidden = json_object_get(prov, "hidden_env");
	const json_t *gg = json_object_get(plan, "git_gate");
	const json_t *u = json_object_get(gg, "user");
	const json_t *routes =
		json_object_get(json_object_get(plan, "egress"), "routes");
	json_t *names = json_array(), *sorted, *skills = json_array(), *v;
	const char *k;
	size_t i;

	json_object_foreach(json_object_get(plan, "env"), k, v)
		if (*k && !in_array(hidden, k))
			json_array_append_new(names, json_string(k));
	sorted = sorted_unique(names);
	json_array_foreach(json_object_get(plan, "skills"), i, v)
		json_array_append(skills, json_object_get(v, "name"));
	fprintf(f, "\nagent : %s\nprovider : %s\n", str(plan, "agent"),
		str(prov, "template"));
	multi(f, "env", sorted);
	multi(f, "skills", skills);
	fprintf(f, "bottle : %s\n", str(plan, "bottle"));
	if (*str(u, "name") && *str(u, "email"))
		fprintf(f, "  git identity : %s <%s>\n", str(u, "name"),
			str(u, "email"));
	else if (*str(u, "name") || *str(u, "email"))
		fprintf(f, "  git identity : %s%s\n", str(u, "name"),
			str(u, "email"));
	if (json_array_size(json_object_get(gg, "repos"))) {
		fputs("  git gate :\n", f);
		json_array_foreach(json_object_get(gg, "repos"), i, v)
			fprintf(f, "    %s \u2192 %s:%lld\n", str(v, "name"),
				str(v, "host"),
				(long long)json_integer_value(
					json_object_get(v, "port")));
	}
	if (json_array_size(routes)) {
		fputs("  egress :\n", f);
		json_array_foreach(routes, i, v) {
			fprintf(f, "    %s", str(v, "host"));
			if (*str(v, "auth_scheme"))
				fprintf(f, " [auth:%s]", str(v, "auth_scheme"));
			if (json_is_true(json_object_get(v, "provider")))
				fputs(" (provider)", f);
			fputc('\n', f);
		}
	}
	fputc('\n', f);
	json_decref(names);
	json_decref(sorted);
	json_decref(skills);
	return fflush(f) == EOF ? -1 : 0;
}
