#include "prereceive.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "gitcmd.h"
#include "json.h"
#include "mirror.h"
#include "secscan.h"

#define MAX_SHOWN 20
#define PUSH_TIMEOUT 600

char *gg_hook_script(const char *exe)
{
	char *q = gg_sh_quote(exe), *s = NULL;

	if (q &&
	    asprintf(&s, "#!/bin/sh\n"
			 "# Written by bb-gitgate: scan the pushed commits for "
			 "secrets, then\n"
			 "# forward them upstream with the gate's identity.\n"
			 "exec %s hook pre-receive\n",
		     q) < 0)
		s = NULL;
	free(q);
	return s;
}

/* Say it to the pusher: receive-pack relays our stderr on the sideband,
 * so each line shows up as "remote: bb-gitgate: ...". */
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void say(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	for (char *c = line; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	fprintf(stderr, "bb-gitgate: %s\n", line);
	fflush(stderr);
}

struct hook {
	char *name, *url, *identity, *known_hosts, *scanner;
	int has_host_key;
	struct gg_env env;
};

struct update {
	char old[72], new_[72];
	const char *ref;
	int create, delete;
};

/* receive-pack's quarantine: the pushed objects live there until we say
 * yes, and every git we run must see them. */
static int hook_env(struct gg_env *env)
{
	static const char *const keep[] = {
		"GIT_DIR", "GIT_OBJECT_DIRECTORY",
		"GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"};

	if (gg_env_base(env) < 0)
		return -1;
	for (size_t i = 0; i < sizeof(keep) / sizeof(keep[0]); i++) {
		const char *v = getenv(keep[i]);

		if (v && gg_env_set(env, keep[i], v) < 0)
			return -1;
	}
	return 0;
}

static void set_field(struct hook *h, const char *key, const char *val)
{
	char **slot = NULL;

	if (strcmp(key, "bb-gitgate.name") == 0)
		slot = &h->name;
	else if (strcmp(key, "bb-gitgate.url") == 0)
		slot = &h->url;
	else if (strcmp(key, "bb-gitgate.identityfile") == 0)
		slot = &h->identity;
	else if (strcmp(key, "bb-gitgate.knownhosts") == 0)
		slot = &h->known_hosts;
	else if (strcmp(key, "bb-gitgate.scanner") == 0)
		slot = &h->scanner;
	else if (strcmp(key, "bb-gitgate.hashostkey") == 0)
		h->has_host_key = strcmp(val, "true") == 0;
	if (slot) {
		free(*slot);
		*slot = strdup(val);
	}
}

static int read_config(struct hook *h)
{
	const char *argv[] = {"git", "config", "-z", "--get-regexp",
			      "^bb-gitgate\\.", NULL};
	struct gg_out out;
	struct bb_err err = {0};

	if (gg_run(argv, &h->env, NULL, 0, 1 << 20, 30, &out, &err) < 0) {
		bb_report(&err);
		return -1;
	}
	for (size_t i = 0; i < out.out_len;) {
		char *rec = out.out + i, *nl = strchr(rec, '\n');
		size_t n = strlen(rec);

		if (nl) {
			*nl = '\0';
			set_field(h, rec, nl + 1);
		}
		i += n + 1;
	}
	gg_out_free(&out);
	if (!h->name || !h->url || !h->identity || !h->known_hosts) {
		say("this repository is not a gate mirror; refusing push");
		return -1;
	}
	if (!h->scanner)
		h->scanner = strdup("auto");
	return 0;
}

static void hook_free(struct hook *h)
{
	free(h->name);
	free(h->url);
	free(h->identity);
	free(h->known_hosts);
	free(h->scanner);
	gg_env_free(&h->env);
}

static int hex_ok(const char *s)
{
	size_t n = strlen(s);

	if (n != 40 && n != 64)
		return 0;
	for (; *s; s++)
		if (!((*s >= '0' && *s <= '9') || (*s >= 'a' && *s <= 'f')))
			return 0;
	return 1;
}

static int all_zero(const char *s)
{
	return strspn(s, "0") == strlen(s);
}

/* Parse "OLD NEW REF" lines in place. */
static int parse_updates(char *in, struct update **out, size_t *n)
{
	size_t cap = 16;
	struct update *u = calloc(cap, sizeof(*u));
	char *save = NULL;

	*n = 0;
	if (!u)
		return -1;
	for (char *line = strtok_r(in, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save)) {
		char old[72], new_[72];
		int off = 0;

		if (!*line)
			continue;
		if (sscanf(line, "%71s %71s %n", old, new_, &off) != 2 ||
		    !off || !hex_ok(old) || !hex_ok(new_) || !line[off]) {
			say("malformed ref update from receive-pack");
			free(u);
			return -1;
		}
		if (*n == cap) {
			struct update *nu = realloc(u, cap * 2 * sizeof(*u));

			if (!nu) {
				free(u);
				return -1;
			}
			u = nu;
			cap *= 2;
		}
		snprintf(u[*n].old, sizeof(u[*n].old), "%s", old);
		snprintf(u[*n].new_, sizeof(u[*n].new_), "%s", new_);
		u[*n].ref = line + off;
		u[*n].create = all_zero(old);
		u[*n].delete = all_zero(new_);
		(*n)++;
	}
	*out = u;
	return 0;
}

/* Only branches and tags go upstream: other refs would sit in the mirror
 * outside what the next fetch prunes. */
static int refs_ok(const struct update *u, size_t n)
{
	int ok = 1;

	for (size_t i = 0; i < n; i++) {
		if (strncmp(u[i].ref, "refs/heads/", 11) != 0 &&
		    strncmp(u[i].ref, "refs/tags/", 10) != 0) {
			say("refusing to update %s: only refs/heads/* and "
			    "refs/tags/* are forwarded upstream",
			    u[i].ref);
			ok = 0;
		}
	}
	return ok;
}

/* --- scanning ------------------------------------------------------------ */

struct scan_ctx {
	unsigned long shown;
};

static void on_finding(void *ctx, const char *commit, const char *file,
		       long line, const char *rule)
{
	struct scan_ctx *sc = ctx;

	if (sc->shown++ >= MAX_SHOWN)
		return;
	if (commit[0])
		say("secret found: commit %.12s file %s line %ld: rule %s",
		    commit, file, line, rule);
	else
		say("secret found: file %s line %ld: rule %s", file, line,
		    rule);
}

int gg_scan_stream(FILE *in)
{
	struct gg_diffscan ds;
	struct scan_ctx sc = {0};
	char *line = NULL;
	size_t cap = 0;
	ssize_t len;

	gg_diffscan_init(&ds, on_finding, &sc);
	while ((len = getline(&line, &cap, in)) > 0)
		gg_diffscan_line(&ds, line, (size_t)len);
	free(line);
	if (ds.findings > MAX_SHOWN)
		say("... and %lu more", ds.findings - MAX_SHOWN);
	return ds.findings ? 1 : 0;
}

/* argv: "git log ... NEW... --not --all"; the caller frees the array. */
static const char **log_argv(const struct update *u, size_t n)
{
	static const char *const head[] = {
		"git", "log", "-p", "--cc", "--no-color", "--no-ext-diff",
		"--no-textconv", "--format=commit %H"};
	size_t h = sizeof(head) / sizeof(head[0]), k = h;
	const char **argv = calloc(h + n + 3, sizeof(*argv));

	if (!argv)
		return NULL;
	memcpy(argv, head, sizeof(head));
	for (size_t i = 0; i < n; i++)
		if (!u[i].delete)
			argv[k++] = u[i].new_;
	argv[k++] = "--not";
	argv[k++] = "--all";
	argv[k] = NULL;
	return argv;
}

/* 0 clean, 1 findings, -1 could not scan (the push is refused). */
static int scan_builtin(struct hook *h, const struct update *u, size_t n)
{
	const char **argv = log_argv(u, n);
	struct bb_err err = {0};
	int p[2], st, found;
	pid_t pid;
	FILE *f;

	if (!argv || pipe2(p, O_CLOEXEC) < 0) {
		free(argv);
		return -1;
	}
	pid = gg_spawn(argv, &h->env, -1, p[1], 2, &err);
	free(argv);
	close(p[1]);
	if (pid < 0) {
		close(p[0]);
		bb_report(&err);
		return -1;
	}
	f = fdopen(p[0], "r");
	if (!f) {
		close(p[0]);
		gg_wait(pid, 0, NULL);
		return -1;
	}
	found = gg_scan_stream(f);
	fclose(f);
	st = gg_wait(pid, 0, NULL);
	if (st != 0) {
		say("could not list the pushed commits (git log exit %d)", st);
		return -1;
	}
	return found;
}

static int report_gitleaks(const char *report)
{
	struct bb_err err = {0};
	json_t *doc = bb_json_load(report, &err), *f;
	size_t i;

	if (!doc || !json_is_array(doc)) {
		json_decref(doc);
		say("gitleaks gave no readable report");
		return -1;
	}
	json_array_foreach(doc, i, f) {
		if (i >= MAX_SHOWN)
			break;
		say("secret found: commit %.12s file %s line %lld: rule %s",
		    json_string_value(json_object_get(f, "Commit"))
			    ?: "?",
		    json_string_value(json_object_get(f, "File")) ?: "?",
		    json_integer_value(json_object_get(f, "StartLine")),
		    json_string_value(json_object_get(f, "RuleID")) ?: "?");
	}
	i = json_array_size(doc);
	json_decref(doc);
	return i ? 1 : 0;
}

static int scan_gitleaks(struct hook *h, const struct update *u, size_t n)
{
	char report[] = "/tmp/bb-gitgate-gitleaks.XXXXXX", *opts = NULL;
	size_t olen = 0;
	FILE *m = open_memstream(&opts, &olen);
	struct gg_out out;
	struct bb_err err = {0};
	int fd, rc;

	if (!m)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (!u[i].delete)
			fprintf(m, "%s ", u[i].new_);
	fputs("--not --all", m);
	fclose(m);
	fd = mkstemp(report);
	if (fd < 0) {
		free(opts);
		return -1;
	}
	close(fd);
	{
		const char *argv[] = {"gitleaks", "git", "--no-banner",
				      "--redact", "--exit-code", "1",
				      "--report-format", "json",
				      "--report-path", report,
				      "--log-opts", opts, ".", NULL};

		rc = gg_run(argv, &h->env, NULL, 0, 64 * 1024, PUSH_TIMEOUT,
			    &out, &err);
	}
	free(opts);
	if (rc < 0) {
		unlink(report);
		bb_report(&err);
		return -1;
	}
	if (out.status == 0 || out.status == 1)
		rc = report_gitleaks(report);
	else
		rc = -1;
	if (rc == 0 && out.status == 1)
		rc = -1;
	if (rc < 0)
		say("gitleaks failed (exit %d); refusing push", out.status);
	gg_out_free(&out);
	unlink(report);
	return rc;
}

static int on_path(const char *prog)
{
	const char *path = getenv("PATH");
	char *copy, *save = NULL;
	int found = 0;

	if (!path || !(copy = strdup(path)))
		return 0;
	for (char *d = strtok_r(copy, ":", &save); d && !found;
	     d = strtok_r(NULL, ":", &save)) {
		char full[4096];

		snprintf(full, sizeof(full), "%s/%s", d, prog);
		found = access(full, X_OK) == 0;
	}
	free(copy);
	return found;
}

static int scan(struct hook *h, const struct update *u, size_t n)
{
	int leaks = strcmp(h->scanner, "gitleaks") == 0 ||
		    (strcmp(h->scanner, "auto") == 0 && on_path("gitleaks"));
	size_t live = 0;

	for (size_t i = 0; i < n; i++)
		live += !u[i].delete;
	if (!live)
		return 0;
	if (leaks && !on_path("gitleaks")) {
		say("gitleaks is required (--scanner gitleaks) but not "
		    "installed; refusing push");
		return -1;
	}
	return leaks ? scan_gitleaks(h, u, n) : scan_builtin(h, u, n);
}

/* --- forwarding ------------------------------------------------------------ */

static void relay_upstream(const struct hook *h, const char *errout)
{
	const char *s = errout;

	while (*s) {
		const char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char line[1024];

		snprintf(line, sizeof(line), "%.*s", (int)n, s);
		s += n + (e ? 1 : 0);
		if (line[0] && !strstr(line, h->identity) &&
		    !strstr(line, h->known_hosts))
			say("upstream: %s", line);
	}
}

static int forward(struct hook *h, const struct update *u, size_t n)
{
	const char **argv = calloc(2 * n + 8, sizeof(*argv));
	char **owned = calloc(2 * n + 1, sizeof(*owned));
	char *ssh = gg_ssh_command(h->identity, h->known_hosts);
	struct gg_out out = {0};
	struct bb_err err = {0};
	size_t k = 0, o = 0;
	int rc = -1;

	if (!argv || !owned || !ssh || gg_env_set(&h->env, "GIT_SSH_COMMAND",
						   ssh) < 0)
		goto done;
	argv[k++] = "git";
	argv[k++] = "push";
	argv[k++] = "--atomic";
	argv[k++] = "--quiet";
	argv[k++] = h->url;
	/* Lease on what the mirror held: upstream moved since means no. */
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&owned[o], "--force-with-lease=%s:%s", u[i].ref,
			     u[i].create ? "" : u[i].old) < 0)
			goto done;
		argv[k++] = owned[o++];
	}
	for (size_t i = 0; i < n; i++) {
		if (asprintf(&owned[o], "%s:%s", u[i].delete ? "" : u[i].new_,
			     u[i].ref) < 0)
			goto done;
		argv[k++] = owned[o++];
		if (u[i].delete)
			say("forwarding the deletion of %s upstream", u[i].ref);
	}
	argv[k] = NULL;
	if (gg_run(argv, &h->env, NULL, 0, 64 * 1024, PUSH_TIMEOUT, &out,
		   &err) < 0) {
		bb_report(&err);
		goto done;
	}
	if (out.status == 0) {
		rc = 0;
	} else {
		relay_upstream(h, out.errout);
		say("upstream refused the push%s; nothing changed on the gate",
		    out.timed_out ? " (timed out)" : "");
	}
done:
	gg_out_free(&out);
	for (size_t i = 0; i < o; i++)
		free(owned[i]);
	free(owned);
	free(argv);
	free(ssh);
	return rc;
}

static int checks(const struct hook *h)
{
	struct stat st;

	if (!h->has_host_key || stat(h->known_hosts, &st) < 0) {
		say("repo '%s' has no host key; add host_key to "
		    "git-gate.repos.%s in the bottle and restart the bottle",
		    h->name, h->name);
		return -1;
	}
	if (access(h->identity, R_OK) < 0) {
		say("missing credentials for '%s'; refusing push", h->name);
		return -1;
	}
	return 0;
}

static int run_hook(struct hook *h)
{
	struct bb_err err = {0};
	struct update *u = NULL;
	size_t n = 0;
	char *in;
	int rc;

	if (bb_read_fd(0, "<stdin>", 16u << 20, &in, NULL, &err) < 0) {
		bb_report(&err);
		return 1;
	}
	if (read_config(h) < 0 || checks(h) < 0 ||
	    parse_updates(in, &u, &n) < 0) {
		free(in);
		return 1;
	}
	rc = 1;
	if (n == 0 || !refs_ok(u, n))
		goto out;
	switch (scan(h, u, n)) {
	case 0:
		break;
	case 1:
		say("push refused: secrets in the pushed commits; nothing "
		    "was sent upstream. Remove them from the commits, or "
		    "mark a test fixture line with bb-gitgate:allow");
		goto out;
	default:
		say("push refused: the secret scan did not complete");
		goto out;
	}
	if (forward(h, u, n) == 0)
		rc = 0;
out:
	free(u);
	free(in);
	return rc;
}

int gg_pre_receive(void)
{
	struct hook h = {0};
	int rc;

	if (!getenv("GIT_DIR")) {
		say("hook pre-receive runs under git receive-pack only");
		return 1;
	}
	if (hook_env(&h.env) < 0) {
		say("out of memory");
		return 1;
	}
	rc = run_hook(&h);
	hook_free(&h);
	return rc;
}
