#include "gitconfig.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gitcmd.h"

char *gg_gate_url(const char *url, struct bb_err *err)
{
	const char *auth;
	size_t n;
	char *out;

	if (strncmp(url, "http://", 7) == 0)
		auth = url + 7;
	else if (strncmp(url, "https://", 8) == 0)
		auth = url + 8;
	else {
		bb_errf(err, "--gate-url",
			"must be an http:// or https:// URL (was '%s')", url);
		return NULL;
	}
	if (!*auth || *auth == '/') {
		bb_errf(err, "--gate-url", "has no host (was '%s')", url);
		return NULL;
	}
	for (const char *s = url; *s; s++) {
		if ((unsigned char)*s <= 0x20 || *s == 0x7f || *s == '@' ||
		    *s == '?' || *s == '#' || *s == '\\' || *s == '"') {
			bb_errf(err, "--gate-url",
				"must not contain credentials, a query, a "
				"fragment or blanks (was '%s')",
				url);
			return NULL;
		}
	}
	n = strlen(url);
	while (n > 0 && url[n - 1] == '/')
		n--;
	out = strndup(url, n);
	if (!out)
		bb_errf(err, "--gate-url", "out of memory");
	return out;
}

struct strv {
	char **v;
	size_t n, cap;
};

static int strv_add(struct strv *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static int strv_add(struct strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		s = NULL;
	va_end(ap);
	if (!s)
		return -1;
	for (size_t i = 0; i < sv->n; i++) {
		if (strcmp(sv->v[i], s) == 0) {
			free(s);
			return 0;
		}
	}
	if (sv->n + 2 > sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **nv = realloc(sv->v, cap * sizeof(*nv));

		if (!nv) {
			free(s);
			return -1;
		}
		sv->v = nv;
		sv->cap = cap;
	}
	sv->v[sv->n++] = s;
	sv->v[sv->n] = NULL;
	return 0;
}

void gg_strv_free(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Both the path as declared and, for a ".git" path, the path without it
 * (insteadOf matches prefixes and the longest wins, so the shorter
 * spelling never steals a longer declared repo's URLs). */
static int add_paths(struct strv *sv, const char *prefix, const char *path)
{
	size_t n = strlen(path);

	if (strv_add(sv, "%s%s", prefix, path) < 0)
		return -1;
	if (n > 4 && strcmp(path + n - 4, ".git") == 0)
		return strv_add(sv, "%s%.*s", prefix, (int)(n - 4), path);
	return 0;
}

int gg_url_spellings(const struct gg_repo *r, char ***out)
{
	struct strv sv = {0};
	char host[300], prefix[700];
	const char *rel = r->path[0] == '/' ? r->path + 1 : r->path;
	const char *abs = r->path[0] == '/' ? r->path : NULL;
	int rc = 0;

	/* IPv6 literals go in brackets in URLs and scp-style addresses. */
	snprintf(host, sizeof(host), strchr(r->host, ':') ? "[%s]" : "%s",
		 r->host);
	rc |= strv_add(&sv, "%s", r->url);
	snprintf(prefix, sizeof(prefix), "ssh://%s@%s:%d%s", r->user, host,
		 r->port, abs ? "" : "/");
	rc |= add_paths(&sv, prefix, r->path);
	if (r->port == 22) {
		snprintf(prefix, sizeof(prefix), "ssh://%s@%s%s", r->user,
			 host, abs ? "" : "/");
		rc |= add_paths(&sv, prefix, r->path);
		/* scp-style cannot name a port, so only for port 22. */
		snprintf(prefix, sizeof(prefix), "%s@%s:", r->user, host);
		rc |= add_paths(&sv, prefix, rel);
		if (abs)
			rc |= add_paths(&sv, prefix, abs);
	}
	snprintf(prefix, sizeof(prefix), "https://%s/", host);
	rc |= add_paths(&sv, prefix, rel);
	if (rc < 0 || !sv.v) {
		gg_strv_free(sv.v);
		return -1;
	}
	*out = sv.v;
	return 0;
}

static int git_config(const char *path, const char *key, const char *val,
		      struct gg_env *env, struct bb_err *err)
{
	const char *argv[] = {"git", "config", "-f", path, "--add",
			      key,   val,      NULL};
	struct gg_out out;
	int rc = 0;

	if (gg_run(argv, env, NULL, 0, 4096, 30, &out, err) < 0)
		return -1;
	if (out.status != 0)
		rc = bb_errf(err, path, "git config %s failed: %s", key,
			     out.errout[0] ? out.errout : "no message");
	gg_out_free(&out);
	return rc;
}

static int write_repo(const struct gg_repo *r, const char *gate,
		      const char *path, struct gg_env *env,
		      struct bb_err *err)
{
	char **sp, *key;
	int rc = 0;

	if (gg_url_spellings(r, &sp) < 0)
		return bb_errf(err, r->name, "out of memory");
	if (asprintf(&key, "url.%s/%s.git.insteadOf", gate, r->name) < 0) {
		gg_strv_free(sp);
		return bb_errf(err, r->name, "out of memory");
	}
	for (size_t i = 0; sp[i] && rc == 0; i++)
		rc = git_config(path, key, sp[i], env, err);
	free(key);
	gg_strv_free(sp);
	return rc;
}

int gg_gitconfig_write(const struct gg_plan *plan, const char *gate_url,
		       const char *path, struct bb_err *err)
{
	struct gg_env env;
	int rc = 0;

	if (gg_env_base(&env) < 0)
		return bb_errf(err, path, "out of memory");
	for (size_t i = 0; i < plan->n && rc == 0; i++)
		rc = write_repo(&plan->repos[i], gate_url, path, &env, err);
	if (rc == 0 && plan->user_name[0])
		rc = git_config(path, "user.name", plan->user_name, &env, err);
	if (rc == 0 && plan->user_email[0])
		rc = git_config(path, "user.email", plan->user_email, &env,
				err);
	gg_env_free(&env);
	return rc;
}
