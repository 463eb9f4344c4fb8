#include "gitplan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

int gg_repo_name_ok(const char *name)
{
	size_t n = strlen(name);

	if (n == 0 || n > 100 || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return 0;
	for (const char *s = name; *s; s++) {
		char c = *s;

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

/* Plan strings end up in config files and log lines: no control bytes. */
static int printable(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 0;
	return 1;
}

static int get_str(json_t *obj, const char *key, int required,
		   const char *where, char **out, struct bb_err *err)
{
	json_t *v = json_object_get(obj, key);
	char w[256];

	snprintf(w, sizeof(w), "%s.%s", where, key);
	if (!v && !required) {
		*out = strdup("");
		return *out ? 0 : bb_errf(err, w, "out of memory");
	}
	if (!v)
		return bb_errf(err, w, "missing required string field");
	if (!json_is_string(v))
		return bb_errf(err, w, "must be a string (was %s)",
			       bb_json_type(v));
	if (!printable(json_string_value(v)))
		return bb_errf(err, w, "must not contain control characters");
	if (required && !*json_string_value(v))
		return bb_errf(err, w, "must be a non-empty string");
	*out = strdup(json_string_value(v));
	return *out ? 0 : bb_errf(err, w, "out of memory");
}

static int check_url(const struct gg_repo *r, const char *where,
		     struct bb_err *err)
{
	char w[256];
	const char *rest = r->url + 6, *at, *slash;

	snprintf(w, sizeof(w), "%s.url", where);
	if (strncmp(r->url, "ssh://", 6) != 0)
		return bb_errf(err, w, "must be an ssh:// URL (was '%s')",
			       r->url);
	slash = strchr(rest, '/');
	at = strchr(rest, '@');
	if (!at || (slash && at > slash))
		return bb_errf(err, w,
			       "must include a user (e.g. "
			       "ssh://git@host/path.git); was '%s'",
			       r->url);
	/* A password in the URL would reach the agent's config. */
	if (memchr(rest, ':', (size_t)(at - rest)))
		return bb_errf(err, w,
			       "must not carry a password; the gate "
			       "authenticates with identity_file");
	if (strpbrk(r->url, " \t\\"))
		return bb_errf(err, w, "must not contain blanks or "
				       "backslashes (was '%s')", r->url);
	return 0;
}

static int load_repo(json_t *o, const char *where, struct gg_repo *r,
		     struct bb_err *err)
{
	json_t *port;
	char w[256];

	if (!json_is_object(o))
		return bb_errf(err, where, "must be an object (was %s)",
			       bb_json_type(o));
	if (get_str(o, "name", 1, where, &r->name, err) < 0 ||
	    get_str(o, "url", 1, where, &r->url, err) < 0 ||
	    get_str(o, "user", 1, where, &r->user, err) < 0 ||
	    get_str(o, "host", 1, where, &r->host, err) < 0 ||
	    get_str(o, "path", 1, where, &r->path, err) < 0 ||
	    get_str(o, "identity_file", 1, where, &r->identity_file, err) <
		    0 ||
	    get_str(o, "host_key", 0, where, &r->host_key, err) < 0)
		return -1;
	snprintf(w, sizeof(w), "%s.name", where);
	if (!gg_repo_name_ok(r->name))
		return bb_errf(err, w,
			       "'%s' is invalid; allowed characters: "
			       "A-Z a-z 0-9 . _ - (not . or ..)",
			       r->name);
	snprintf(w, sizeof(w), "%s.host", where);
	if (r->host[0] == '-' || strpbrk(r->host, " /@"))
		return bb_errf(err, w, "'%s' is not a host name", r->host);
	snprintf(w, sizeof(w), "%s.port", where);
	port = json_object_get(o, "port");
	if (!json_is_integer(port) || json_integer_value(port) < 1 ||
	    json_integer_value(port) > 65535)
		return bb_errf(err, w, "must be an integer from 1 to 65535");
	r->port = (int)json_integer_value(port);
	return check_url(r, where, err);
}

static int load_user(json_t *gg, struct gg_plan *plan, struct bb_err *err)
{
	json_t *u = json_object_get(gg, "user");

	if (!u) {
		plan->user_name = strdup("");
		plan->user_email = strdup("");
		return plan->user_name && plan->user_email
			       ? 0
			       : bb_errf(err, "git_gate.user", "out of memory");
	}
	if (!json_is_object(u))
		return bb_errf(err, "git_gate.user",
			       "must be an object (was %s)", bb_json_type(u));
	if (get_str(u, "name", 0, "git_gate.user", &plan->user_name, err) <
		    0 ||
	    get_str(u, "email", 0, "git_gate.user", &plan->user_email, err) <
		    0)
		return -1;
	return 0;
}

static int load_plan(json_t *doc, struct gg_plan *plan, struct bb_err *err)
{
	json_t *gg, *repos, *v = json_object_get(doc, "version");

	if (!json_is_object(doc))
		return bb_errf(err, "", "must be a JSON object (was %s)",
			       bb_json_type(doc));
	if (!json_is_integer(v) || json_integer_value(v) != 1)
		return bb_errf(err, "version", "must be 1");
	gg = json_object_get(doc, "git_gate");
	if (!gg)
		return load_user(NULL, plan, err);
	if (!json_is_object(gg))
		return bb_errf(err, "git_gate", "must be an object (was %s)",
			       bb_json_type(gg));
	if (load_user(gg, plan, err) < 0)
		return -1;
	repos = json_object_get(gg, "repos");
	if (!repos)
		return 0;
	if (!json_is_array(repos))
		return bb_errf(err, "git_gate.repos",
			       "must be an array (was %s)",
			       bb_json_type(repos));
	plan->repos = calloc(json_array_size(repos) + 1, sizeof(*plan->repos));
	if (!plan->repos)
		return bb_errf(err, "git_gate.repos", "out of memory");
	for (size_t i = 0; i < json_array_size(repos); i++) {
		char w[64];

		snprintf(w, sizeof(w), "git_gate.repos[%zu]", i);
		plan->n = i + 1;
		if (load_repo(json_array_get(repos, i), w, &plan->repos[i],
			      err) < 0)
			return -1;
		for (size_t j = 0; j < i; j++)
			if (strcmp(plan->repos[j].name, plan->repos[i].name) ==
			    0)
				return bb_errf(err, w,
					       "duplicate name '%s'; each "
					       "entry maps to a distinct "
					       "mirror on the gate",
					       plan->repos[i].name);
	}
	return 0;
}

int gg_plan_load(const char *path, struct gg_plan *plan, struct bb_err *err)
{
	json_t *doc;
	int rc;

	memset(plan, 0, sizeof(*plan));
	doc = bb_json_load(path, err);
	if (!doc)
		return -1;
	rc = load_plan(doc, plan, err);
	json_decref(doc);
	if (rc < 0) {
		bb_err_prefix(err, strcmp(path, "-") == 0 ? "<stdin>" : path,
			      ": ");
		gg_plan_free(plan);
	}
	return rc;
}

void gg_plan_free(struct gg_plan *plan)
{
	for (size_t i = 0; i < plan->n; i++) {
		struct gg_repo *r = &plan->repos[i];

		free(r->name);
		free(r->url);
		free(r->user);
		free(r->host);
		free(r->path);
		free(r->identity_file);
		free(r->host_key);
	}
	free(plan->repos);
	free(plan->user_name);
	free(plan->user_email);
	memset(plan, 0, sizeof(*plan));
}

const struct gg_repo *gg_plan_repo(const struct gg_plan *plan,
				   const char *name)
{
	for (size_t i = 0; i < plan->n; i++)
		if (strcmp(plan->repos[i].name, name) == 0)
			return &plan->repos[i];
	return NULL;
}
