#include "provider.h"
#include "toml.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codexauth.h"
#include "json.h"
#include "share.h"

#define FILE_MODE "0600"
#define DIR_MODE "0700"

json_t *bb_provider_template(const char *name, struct bb_err *err)
{
	char rel[128];
	char *path;
	json_t *t;

	if (strcmp(name, "claude") != 0 && strcmp(name, "codex") != 0) {
		bb_errf(err, "agent_provider.template",
			"'%s' is not one of ['claude', 'codex']", name);
		return NULL;
	}
	snprintf(rel, sizeof(rel), "providers/%s.json", name);
	path = bb_share_path(rel);
	t = path ? bb_json_load(path, err) : NULL;
	free(path);
	if (t && !json_is_object(t)) {
		json_decref(t);
		bb_errf(err, rel, "must be a JSON object");
		return NULL;
	}
	return t;
}

/* --- {placeholder} expansion -------------------------------------------- */

struct vars {
	const char *home, *prompt_path, *codex_home, *workdir;
};

static const char *var_value(const struct vars *v, const char *name,
			     size_t n)
{
	if (n == 4 && !strncmp(name, "home", n))
		return v->home;
	if (n == 11 && !strncmp(name, "prompt_path", n))
		return v->prompt_path;
	if (n == 10 && !strncmp(name, "codex_home", n))
		return v->codex_home;
	if (n == 7 && !strncmp(name, "workdir", n))
		return v->workdir;
	return NULL;
}

static char *expand_str(const struct vars *v, const char *s)
{
	size_t cap = strlen(s) + 1, n = 0;
	char *out = malloc(cap);

	while (out && *s) {
		const char *close = *s == '{' ? strchr(s, '}') : NULL;
		const char *val =
			close ? var_value(v, s + 1, (size_t)(close - s - 1))
			      : NULL;
		const char *add = val ? val : s;
		size_t alen = val ? strlen(val) : 1;

		if (n + alen + 1 > cap) {
			char *nb;

			cap = (n + alen + 1) * 2;
			nb = realloc(out, cap);
			if (!nb) {
				free(out);
				return NULL;
			}
			out = nb;
		}
		memcpy(out + n, add, alen);
		n += alen;
		s = val ? close + 1 : s + 1;
	}
	if (out)
		out[n] = '\0';
	return out;
}

static json_t *expand(const struct vars *v, const json_t *t)
{
	json_t *out, *item;
	const char *k;
	size_t i;

	if (json_is_string(t)) {
		char *s = expand_str(v, json_string_value(t));

		out = s ? json_string(s) : NULL;
		free(s);
		return out;
	}
	if (json_is_array(t)) {
		out = json_array();
		json_array_foreach(t, i, item)
			json_array_append_new(out, expand(v, item));
		return out;
	}
	if (json_is_object(t)) {
		out = json_object();
		json_object_foreach((json_t *)(uintptr_t)t, k, item)
			json_object_set_new(out, k, expand(v, item));
		return out;
	}
	return json_deep_copy(t);
}

/* --- trust files -------------------------------------------------------- */

char *bb_provider_claude_json(const char *home, const char *workdir)
{
	json_t *projects = json_object(), *doc;
	char *text;

	json_object_set_new(projects, home,
			    json_pack("{s:b}", "hasTrustDialogAccepted", 1));
	json_object_set_new(projects, workdir,
			    json_pack("{s:b}", "hasTrustDialogAccepted", 1));
	doc = json_pack("{s:b, s:s, s:b, s:o}", "hasCompletedOnboarding", 1,
			"theme", "dark", "bypassPermissionsModeAccepted", 1,
			"projects", projects);
	text = doc ? bb_json_string(doc) : NULL;
	json_decref(doc);
	return text;
}

/* One trust table; the path as a TOML basic string (lib/toml.c). */
static void toml_table(FILE *f, const char *path)
{
	fputs("[projects.", f);
	bb_toml_string(f, path);
	fputs("]\ntrust_level = \"trusted\"\n", f);
}

char *bb_provider_codex_toml(const char *home, const char *workdir)
{
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);

	if (!f)
		return NULL;
	toml_table(f, home);
	if (strcmp(home, workdir) != 0) {
		fputc('\n', f);
		toml_table(f, workdir);
	}
	fclose(f);
	return buf;
}

/* --- the plan's provider section ---------------------------------------- */

static json_t *entry(const char *path, const char *mode, const char *owner)
{
	return json_pack("{s:s, s:s, s:s}", "path", path, "mode", mode,
			 "owner", owner);
}

static void add_file(json_t *files, const char *path, const char *owner,
		     char *content)
{
	json_t *f = entry(path, FILE_MODE, owner);

	json_object_set_new(f, "content", json_string(content ? content : ""));
	json_array_append_new(files, f);
	free(content);
}

static json_t *route(const char *host, int passthrough, const char *scheme,
		     const char *ref)
{
	return json_pack("{s:s, s:[], s:s, s:s, s:s, s:b, s:[], s:b}", "host",
			 host, "path_allowlist", "auth_scheme", scheme,
			 "token_ref", ref, "token_env", "", "tls_passthrough",
			 passthrough, "ssrf_ip_allowlist", "provider", 1);
}

static void add_routes(json_t *routes, const json_t *tmpl_routes,
		       const char *scheme, const char *ref)
{
	json_t *r;
	size_t i;

	json_array_foreach(tmpl_routes, i, r)
		json_array_append_new(
			routes,
			route(json_string_value(json_object_get(r, "host")),
			      json_is_true(json_object_get(r,
							   "tls_passthrough")),
			      scheme, ref));
}

static void merge_env(json_t *env, const json_t *add)
{
	json_object_update_missing(env, (json_t *)(uintptr_t)add);
}

static json_t *argv_concat(const json_t *a, const json_t *b, const json_t *c,
			   const json_t *d)
{
	json_t *out = json_array();

	json_array_extend(out, (json_t *)(uintptr_t)a);
	json_array_extend(out, (json_t *)(uintptr_t)b);
	json_array_extend(out, (json_t *)(uintptr_t)c);
	json_array_extend(out, (json_t *)(uintptr_t)d);
	return out;
}

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

static void warn_lifetime(long long exp, time_t now)
{
	long long left = exp - (long long)now;
	time_t t = (time_t)exp;
	struct tm tm;
	char at[32];

	gmtime_r(&t, &tm);
	strftime(at, sizeof(at), "%Y-%m-%dT%H:%M:%SZ", &tm);
	bb_warnx("codex host access token expires in %lldh%02lldm (at %s); "
		 "the bottle cannot refresh it: then run `codex login "
		 "--device-auth` on the host and restart the bottle",
		 left / 3600, left % 3600 / 60, at);
}

/* Forwarding: check the host auth.json now (so a bad login fails the plan,
 * not the launch) and write the dummy; the token itself stays out of the
 * plan and is re-read by the launcher (docs/provisioned-secrets.md). */
static int forward_codex(const struct bb_provider_ctx *ctx,
			 const json_t *fwd, json_t *section, json_t *files,
			 struct bb_err *err)
{
	struct bb_codexauth ca;
	char *path = bb_codexauth_host_path();
	json_t *prov;

	if (!path)
		return bb_errf(err, "codex host credentials", "out of memory");
	if (bb_codexauth_load(path, ctx->now, &ca, err) < 0) {
		free(path);
		return -1;
	}
	warn_lifetime(ca.exp, ctx->now);
	add_file(files, str(fwd, "auth_file"), ctx->owner,
		 bb_codexauth_dummy(&ca, ctx->now));
	prov = json_pack("{s:s, s:s, s:I}", "source", "codex-host-auth",
			 "path", path, "expires_at", (json_int_t)ca.exp);
	json_object_set_new(json_object_get(section, "provisioned_env"),
			    str(fwd, "token_ref"), prov);
	bb_codexauth_free(&ca);
	free(path);
	json_object_set(section, "pre_copy", json_object_get(fwd, "pre_copy"));
	json_object_set(section, "verify", json_object_get(fwd, "verify"));
	return 0;
}

static const char *codex_home(const struct bb_provider_ctx *ctx,
			      char *buf, size_t n)
{
	const char *v =
		json_string_value(json_object_get(ctx->bottle_env, "CODEX_HOME"));

	/* Only a literal relocates it: a forwarded value is unknown here. */
	if (v && v[0] == '/')
		return v;
	snprintf(buf, n, "%s/.codex", ctx->home);
	return buf;
}

static void trust_file(const json_t *tf, const struct bb_provider_ctx *ctx,
		       json_t *files)
{
	const char *fmt = str(tf, "format");
	char *content = !strcmp(fmt, "claude_json")
				? bb_provider_claude_json(ctx->home,
							  ctx->workdir)
				: bb_provider_codex_toml(ctx->home,
							 ctx->workdir);

	add_file(files, str(tf, "path"), ctx->owner, content);
}

static json_t *base_section(const json_t *t, const struct bb_provider_ctx *ctx)
{
	const json_t *ap = ctx->agent_provider;
	json_t *prompt = ctx->has_prompt ? json_deep_copy(json_object_get(
						   t, "prompt_args"))
					 : json_array();
	json_t *s = json_pack(
		"{s:s, s:O, s:O, s:O, s:s, s:o, s:O, s:s, s:s, s:s, s:O, "
		"s:[], s:[], s:[], s:[], s:{}, s:b}",
		"template", str(t, "template"), "command",
		json_object_get(t, "command"), "bypass_args",
		json_object_get(t, "bypass_args"), "resume_args",
		json_object_get(t, "resume_args"), "prompt_mode",
		str(t, "prompt_mode"), "prompt_args", prompt,
		"remote_control_args", json_object_get(t, "remote_control_args"),
		"image", str(t, "image"), "dockerfile", str(ap, "dockerfile"),
		"rootfs", str(t, "rootfs"), "skills_dir",
		json_object_get(t, "skills_dir"), "dirs", "files", "pre_copy",
		"verify", "provisioned_env", "forward_host_credentials",
		json_is_true(json_object_get(ap, "forward_host_credentials")));

	/* Ours: command, resume, autonomy, prompt, remote control. */
	json_object_set_new(s, "argv",
			    argv_concat(json_object_get(t, "command"), NULL,
					json_object_get(t, "bypass_args"),
					prompt));
	json_object_set_new(s, "resume_argv",
			    argv_concat(json_object_get(t, "command"),
					json_object_get(t, "resume_args"),
					json_object_get(t, "bypass_args"),
					prompt));
	return s;
}

int bb_provider_plan(const struct bb_provider_ctx *ctx,
		     struct bb_provider_out *out, struct bb_err *err)
{
	const json_t *ap = ctx->agent_provider;
	const char *name = str(ap, "template");
	const char *auth_token = str(ap, "auth_token");
	char chome[4096];
	struct vars v = {ctx->home, ctx->prompt_path, NULL, ctx->workdir};
	json_t *raw, *t, *dir, *hidden, *fwd;
	size_t i;

	memset(out, 0, sizeof(*out));
	raw = bb_provider_template(name[0] ? name : "claude", err);
	if (!raw)
		return -1;
	v.codex_home = codex_home(ctx, chome, sizeof(chome));
	t = expand(&v, raw);
	json_decref(raw);
	out->section = base_section(t, ctx);
	out->routes = json_array();
	out->env = json_deep_copy(json_object_get(t, "env"));
	hidden = json_array();
	json_object_set_new(out->section, "hidden_env", hidden);
	json_array_foreach(json_object_get(t, "dirs"), i, dir)
		json_array_append_new(
			json_object_get(out->section, "dirs"),
			entry(json_string_value(dir), DIR_MODE, ctx->owner));
	trust_file(json_object_get(t, "trust_file"), ctx,
		   json_object_get(out->section, "files"));

	if (*auth_token && !json_is_object(json_object_get(t, "auth_token"))) {
		json_decref(t);
		bb_provider_out_free(out);
		return bb_errf(err, "agent_provider.auth_token",
			       "is only supported for template 'claude'");
	}
	fwd = json_object_get(t, "forward_host_credentials");
	if (json_is_true(json_object_get(ap, "forward_host_credentials")) &&
	    !json_is_object(fwd)) {
		json_decref(t);
		bb_provider_out_free(out);
		return bb_errf(err, "agent_provider.forward_host_credentials",
			       "is currently only supported for template "
			       "'codex'");
	}
	if (*auth_token) {
		const json_t *at = json_object_get(t, "auth_token");

		add_routes(out->routes, json_object_get(t, "routes"),
			   str(at, "scheme"), auth_token);
		merge_env(out->env, json_object_get(at, "env"));
		json_array_extend(hidden, json_object_get(at, "hidden_env"));
	} else if (json_is_true(
			   json_object_get(ap, "forward_host_credentials"))) {
		add_routes(out->routes, json_object_get(t, "routes"),
			   str(fwd, "scheme"), str(fwd, "token_ref"));
		merge_env(out->env, json_object_get(fwd, "env"));
		if (forward_codex(ctx, fwd, out->section,
				  json_object_get(out->section, "files"),
				  err) < 0) {
			json_decref(t);
			bb_provider_out_free(out);
			return -1;
		}
	} else {
		add_routes(out->routes, json_object_get(t, "routes"), "", "");
	}
	json_decref(t);
	return 0;
}

void bb_provider_out_free(struct bb_provider_out *out)
{
	json_decref(out->section);
	json_decref(out->routes);
	json_decref(out->env);
	memset(out, 0, sizeof(*out));
}
