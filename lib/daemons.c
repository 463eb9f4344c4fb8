#include "daemons.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "file.h"
#include "json.h"
#include "proc.h"

#define NAME_MAX_LEN 32
#define VAR_MAX_LEN 128

static int fail_type(struct bb_err *err, const char *where, const char *want,
		     const json_t *got)
{
	return bb_errf(err, where, "must be %s, not %s", want,
		       bb_json_type(got));
}

/* Names end up in log file names and log prefixes. */
static int valid_daemon_name(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > NAME_MAX_LEN || !(s[0] >= 'a' && s[0] <= 'z'))
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-' ||
		      s[i] == '_'))
			return 0;
	return 1;
}

static size_t var_name_len(const char *s)
{
	size_t n = 0;

	if (!((s[0] >= 'A' && s[0] <= 'Z') || (s[0] >= 'a' && s[0] <= 'z') ||
	      s[0] == '_'))
		return 0;
	while ((s[n] >= 'A' && s[n] <= 'Z') || (s[n] >= 'a' && s[n] <= 'z') ||
	       (s[n] >= '0' && s[n] <= '9') || s[n] == '_')
		n++;
	return n;
}

static void free_strv(char **v)
{
	if (!v)
		return;
	for (char **p = v; *p; p++)
		free(*p);
	free(v);
}

/* A non-empty array of strings, copied NULL-terminated. */
static int load_strv(const json_t *arr, const char *where, int need_one,
		     char ***out, struct bb_err *err)
{
	char w[300];
	size_t n, i;
	json_t *v;
	char **sv;

	if (!json_is_array(arr))
		return fail_type(err, where, "an array of strings", arr);
	n = json_array_size(arr);
	if (need_one && n == 0)
		return bb_errf(err, where, "must not be empty");
	if (n > BB_DAEMON_ARGS_MAX)
		return bb_errf(err, where, "has %zu entries; at most %d allowed",
			       n, BB_DAEMON_ARGS_MAX);
	sv = calloc(n + 1, sizeof(*sv));
	if (!sv)
		return bb_errf(err, where, "out of memory");
	json_array_foreach(arr, i, v) {
		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (!json_is_string(v)) {
			free_strv(sv);
			return fail_type(err, w, "a string", v);
		}
		sv[i] = strdup(json_string_value(v));
		if (!sv[i]) {
			free_strv(sv);
			return bb_errf(err, w, "out of memory");
		}
	}
	*out = sv;
	return 0;
}

static int check_env_entry(char *const *env, size_t i, const char *where,
			   struct bb_err *err)
{
	const char *e = env[i];
	size_t nl = var_name_len(e);

	if (nl == 0 || nl > VAR_MAX_LEN || (e[nl] != '\0' && e[nl] != '='))
		return bb_errf(err, where,
			       "must be a variable NAME or NAME=VALUE, not "
			       "\"%.40s\"",
			       e);
	/* Token slots carry secrets: the file may only name them. */
	if (e[nl] == '=' && strncmp(e, "EGRESS_TOKEN_", 13) == 0)
		return bb_errf(err, where,
			       "%.*s must be passed by name, never with a value",
			       (int)nl, e);
	for (size_t j = 0; j < i; j++)
		if (var_name_len(env[j]) == nl &&
		    strncmp(env[j], e, nl) == 0)
			return bb_errf(err, where, "duplicate variable %.*s",
				       (int)nl, e);
	return 0;
}

static int load_signal(const json_t *v, const char *where, int *out,
		       const int *allowed, const char *allowed_text,
		       struct bb_err *err)
{
	int sig;

	if (!json_is_string(v))
		return fail_type(err, where, "a string", v);
	sig = bb_signal_number(json_string_value(v));
	for (; sig && *allowed; allowed++)
		if (*allowed == sig) {
			*out = sig;
			return 0;
		}
	return bb_errf(err, where, "must be one of %s, not \"%.40s\"",
		       allowed_text, json_string_value(v));
}

static const int reload_ok[] = {SIGHUP, SIGUSR1, SIGUSR2, 0};
static const int restart_ok[] = {SIGUSR1, SIGUSR2, 0};

static int load_max_restarts(const json_t *v, const char *where, int *out,
			     struct bb_err *err)
{
	json_int_t n;

	if (!json_is_integer(v))
		return fail_type(err, where, "an integer", v);
	n = json_integer_value(v);
	if (n < 0 || n > 1000)
		return bb_errf(err, where, "must be between 0 and 1000");
	*out = (int)n;
	return 0;
}

static int load_env(const json_t *v, const char *where, struct bb_daemon *d,
		    struct bb_err *err)
{
	char w[300];

	if (load_strv(v, where, 0, &d->env, err) < 0)
		return -1;
	for (size_t i = 0; d->env[i]; i++) {
		snprintf(w, sizeof(w), "%s[%zu]", where, i);
		if (check_env_entry(d->env, i, w, err) < 0)
			return -1;
	}
	return 0;
}

static int load_field(const char *key, const json_t *v, const char *where,
		      struct bb_daemon *d, struct bb_err *err)
{
	if (strcmp(key, "name") == 0) {
		if (!json_is_string(v))
			return fail_type(err, where, "a string", v);
		if (!valid_daemon_name(json_string_value(v)))
			return bb_errf(err, where,
				       "must be 1 to %d of a-z, 0-9, '-', '_', "
				       "starting with a letter",
				       NAME_MAX_LEN);
		d->name = strdup(json_string_value(v));
		return d->name ? 0 : bb_errf(err, where, "out of memory");
	}
	if (strcmp(key, "argv") == 0)
		return load_strv(v, where, 1, &d->argv, err);
	if (strcmp(key, "env") == 0)
		return load_env(v, where, d, err);
	if (strcmp(key, "reload_signal") == 0)
		return load_signal(v, where, &d->reload_signal, reload_ok,
				   "SIGHUP, SIGUSR1, SIGUSR2", err);
	if (strcmp(key, "restart_on") == 0)
		return load_signal(v, where, &d->restart_on, restart_ok,
				   "SIGUSR1, SIGUSR2", err);
	if (strcmp(key, "max_restarts") == 0)
		return load_max_restarts(v, where, &d->max_restarts, err);
	return bb_errf(err, where,
		       "unknown key; allowed: name, argv, env, reload_signal, "
		       "restart_on, max_restarts");
}

static int load_daemon(json_t *obj, const char *where,
		       struct bb_daemon *d, struct bb_err *err)
{
	char w[300];
	const char *key;
	json_t *v;

	d->max_restarts = BB_DAEMON_RESTARTS_DEFAULT;
	if (!json_is_object(obj))
		return fail_type(err, where, "an object", obj);
	json_object_foreach(obj, key, v) {
		snprintf(w, sizeof(w), "%s.%.64s", where, key);
		if (load_field(key, v, w, d, err) < 0)
			return -1;
	}
	if (!d->name)
		return bb_errf(err, where, "missing required key \"name\"");
	if (!d->argv)
		return bb_errf(err, where, "missing required key \"argv\"");
	if (!d->env) {
		d->env = calloc(1, sizeof(*d->env));
		if (!d->env)
			return bb_errf(err, where, "out of memory");
	}
	return 0;
}

static int check_unique(const struct bb_daemons *ds, struct bb_err *err)
{
	char w[64];

	for (size_t i = 0; i < ds->n; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(ds->d[i].name, ds->d[j].name) == 0) {
				snprintf(w, sizeof(w), "daemons[%zu].name", i);
				return bb_errf(err, w,
					       "duplicate daemon name \"%s\"",
					       ds->d[i].name);
			}
	return 0;
}

static int check_top_keys(json_t *doc, struct bb_err *err)
{
	const char *key;
	json_t *v;
	const json_t *ver;

	json_object_foreach(doc, key, v) {
		if (strcmp(key, "version") && strcmp(key, "daemons"))
			return bb_errf(err, key,
				       "unknown key; allowed: version, daemons");
	}
	ver = json_object_get(doc, "version");
	if (!ver)
		return bb_errf(err, NULL, "missing required key \"version\"");
	if (!json_is_integer(ver) || json_integer_value(ver) != 1)
		return bb_errf(err, "version", "must be 1");
	return 0;
}

static int load_doc(json_t *doc, struct bb_daemons *out,
		    struct bb_err *err)
{
	char w[64];
	const json_t *arr;
	size_t n;

	if (!json_is_object(doc))
		return fail_type(err, NULL, "an object", doc);
	if (check_top_keys(doc, err) < 0)
		return -1;
	arr = json_object_get(doc, "daemons");
	if (!arr)
		return bb_errf(err, NULL, "missing required key \"daemons\"");
	if (!json_is_array(arr))
		return fail_type(err, "daemons", "an array", arr);
	n = json_array_size(arr);
	if (n == 0)
		return bb_errf(err, "daemons", "must not be empty");
	if (n > BB_DAEMONS_MAX)
		return bb_errf(err, "daemons",
			       "has %zu entries; at most %d allowed", n,
			       BB_DAEMONS_MAX);
	out->d = calloc(n, sizeof(*out->d));
	if (!out->d)
		return bb_errf(err, "daemons", "out of memory");
	for (size_t i = 0; i < n; i++) {
		out->n = i + 1;
		snprintf(w, sizeof(w), "daemons[%zu]", i);
		if (load_daemon(json_array_get(arr, i), w, &out->d[i], err) < 0)
			return -1;
	}
	return check_unique(out, err);
}

int bb_daemons_parse(const char *buf, size_t len, const char *label,
		     struct bb_daemons *out, struct bb_err *err)
{
	json_t *doc;
	int rc;

	memset(out, 0, sizeof(*out));
	doc = bb_json_parse(buf, len, label, err);
	if (!doc)
		return -1;
	rc = load_doc(doc, out, err);
	json_decref(doc);
	if (rc < 0) {
		bb_err_prefix(err, label, ": ");
		bb_daemons_free(out);
	}
	return rc;
}

int bb_daemons_load(const char *path, struct bb_daemons *out,
		    struct bb_err *err)
{
	char *buf;
	size_t len;
	int rc;

	memset(out, 0, sizeof(*out));
	if (bb_read_file(path, BB_DAEMONS_FILE_MAX, &buf, &len, err) < 0)
		return -1;
	rc = bb_daemons_parse(buf, len, strcmp(path, "-") ? path : "<stdin>",
			      out, err);
	free(buf);
	return rc;
}

void bb_daemons_free(struct bb_daemons *ds)
{
	for (size_t i = 0; i < ds->n; i++) {
		free(ds->d[i].name);
		free_strv(ds->d[i].argv);
		free_strv(ds->d[i].env);
	}
	free(ds->d);
	ds->d = NULL;
	ds->n = 0;
}
