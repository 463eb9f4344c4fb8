#include "up.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bottle.h"
#include "bstate.h"
#include "file.h"
#include "json.h"
#include "child.h"

#define PORT_EGRESS 9099
#define PORT_GITGATE 9420
#define PORT_SUPERVISE 9100
#define SOCKET_WAIT_MS 5000
#define STOP_GRACE_MS 2000

static volatile sig_atomic_t got_signal;

static void on_signal(int sig)
{
	got_signal = sig;
}

struct launch {
	const struct bb_up_opts *o;
	json_t *plan;
	const char *slug, *backend;
	char *state, *run, *home, *guestdir, *envfile, *relay_path;
	char *cwd; /* --cwd made absolute */
	pid_t sidecar, agent;
	struct bb_bottle b;
	struct timespec t0;
};

static double ms_since(const struct timespec *t0)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)(t.tv_sec - t0->tv_sec) * 1e3 +
	       (double)(t.tv_nsec - t0->tv_nsec) / 1e6;
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static char *path2(const char *dir, const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

static const char *jstr(const json_t *o, const char *key)
{
	const char *s = json_string_value(json_object_get(o, key));

	return s ? s : "";
}

/* ---- the plan ---------------------------------------------------------- */

static json_t *run_json(char *const *argv, const char *in, size_t inlen,
			const char *label, struct bb_err *err)
{
	char *out = NULL;
	size_t outlen = 0;
	int code = bb_run_pipe(argv, NULL, in, inlen, &out, &outlen, BB_JSON_MAX,
			       err);
	json_t *doc;

	if (code < 0)
		return NULL;
	if (code != 0) {
		free(out);
		/* The tool already printed its own one-line error. */
		bb_errf(err, label, "failed with exit status %d", code);
		return NULL;
	}
	doc = bb_json_parse(out, outlen, label, err);
	free(out);
	return doc;
}

static json_t *make_plan(const struct bb_up_opts *o, struct bb_err *err)
{
	struct bb_strv a = {0};
	char *manifest_text;
	json_t *manifest, *plan;

	if (o->plan_file)
		return bb_json_load(o->plan_file, err);
	bb_strv_push(&a, bb_sibling("bb-manifest"));
	manifest = run_json(a.v, NULL, 0, "bb-manifest", err);
	bb_strv_free(&a);
	if (!manifest)
		return NULL;
	manifest_text = bb_json_string(manifest);
	json_decref(manifest);
	bb_strv_push(&a, bb_sibling("bb-plan"));
	if (o->backend) {
		bb_strv_push(&a, "--backend");
		bb_strv_push(&a, o->backend);
	}
	if (o->cwd) {
		bb_strv_push(&a, "--cwd");
		bb_strv_push(&a, o->cwd);
	}
	if (o->resume) {
		bb_strv_push(&a, "--slug");
		bb_strv_push(&a, o->resume);
	}
	bb_strv_push(&a, o->agent);
	plan = run_json(a.v, manifest_text, strlen(manifest_text), "bb-plan", err);
	bb_strv_free(&a);
	free(manifest_text);
	return plan;
}

/* ---- preflight --------------------------------------------------------- */

static void preflight(const struct launch *l)
{
	const json_t *routes = json_object_get(json_object_get(l->plan, "egress"),
					       "routes");
	const json_t *repos = json_object_get(json_object_get(l->plan, "git_gate"),
					      "repos");
	const json_t *v;
	size_t i;

	fprintf(stderr, "\nagent : %s\n", jstr(l->plan, "agent"));
	fprintf(stderr, "slug : %s\n", l->slug);
	fprintf(stderr, "backend : %s\n", l->backend);
	fprintf(stderr, "bottle : %s\n", jstr(l->plan, "bottle"));
	if (json_array_size(repos)) {
		fprintf(stderr, "  git gate\n");
		json_array_foreach(repos, i, v)
			fprintf(stderr, "    %s → %s:%lld\n", jstr(v, "name"),
				jstr(v, "host"),
				(long long)json_integer_value(json_object_get(v, "port")));
	}
	if (json_array_size(routes)) {
		fprintf(stderr, "  egress\n");
		json_array_foreach(routes, i, v) {
			const char *scheme = jstr(v, "auth_scheme");

			if (*scheme)
				fprintf(stderr, "    %s [auth:%s]\n", jstr(v, "host"), scheme);
			else
				fprintf(stderr, "    %s\n", jstr(v, "host"));
		}
	}
	fputc('\n', stderr);
}

static int confirm(const struct bb_up_opts *o, struct bb_err *err)
{
	char line[16];

	if (o->yes)
		return 0;
	if (!isatty(0))
		return bb_errf(err, "", "standard input is not a terminal: pass -y to start without asking");
	fputs("start this bottle? [y/N] ", stderr);
	if (!fgets(line, sizeof(line), stdin) || (line[0] != 'y' && line[0] != 'Y'))
		return bb_errf(err, "", "not started");
	return 0;
}

/* ---- state ------------------------------------------------------------- */

static int write_metadata(struct launch *l, struct bb_err *err)
{
	char stamp[64];
	time_t now = time(NULL);
	struct tm tm;
	json_t *m;
	int rc;

	gmtime_r(&now, &tm);
	strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%S+00:00", &tm);
	m = json_pack("{s:s, s:s, s:s, s:s, s:b, s:s, s:I, s:I, s:b, s:s}",
		      "identity", l->slug, "agent", jstr(l->plan, "agent"),
		      "backend", l->backend, "cwd", l->cwd ? l->cwd : "",
		      "copy_cwd", l->o->cwd != NULL, "started_at", stamp,
		      "pid", (json_int_t)getpid(),
		      "pid_start", (json_int_t)bb_pid_starttime(getpid()),
		      "running", 1, "bottle", jstr(l->plan, "bottle"));
	rc = bb_meta_save(l->slug, m, err);
	json_decref(m);
	return rc;
}

static int prepare_dirs(struct launch *l, struct bb_err *err)
{
	struct bb_err ignored = {0};
	json_t *old = bb_meta_load(l->slug, &ignored);
	char *text;
	int rc;

	if (old && bb_meta_active(old)) {
		json_decref(old);
		return bb_errf(err, l->slug, "bottle is already running");
	}
	json_decref(old);
	l->state = bb_state_dir(l->slug);
	l->run = bb_runtime_dir(l->slug);
	l->home = path2(l->state, "home");
	l->guestdir = path2(l->state, "guest");
	if (bb_mkdir_p(l->state, 0700, err) < 0 ||
	    bb_mkdir_p(l->home, 0700, err) < 0 ||
	    bb_mkdir_p(l->run, 0700, err) < 0)
		return -1;
	if (write_metadata(l, err) < 0)
		return -1;
	text = bb_json_string(l->plan);
	{
		char *p = path2(l->state, "plan.json");

		rc = bb_write_file_atomic(p, text, strlen(text), 0600, err);
		free(p);
	}
	free(text);
	return rc;
}

/* ---- relays ------------------------------------------------------------ */

static int needs(const struct launch *l, const char *sock)
{
	if (!strcmp(sock, "egress.sock"))
		return json_array_size(json_object_get(
			       json_object_get(l->plan, "egress"), "routes")) > 0;
	if (!strcmp(sock, "gitgate.sock"))
		return json_array_size(json_object_get(
			       json_object_get(l->plan, "git_gate"), "repos")) > 0;
	return json_is_true(json_object_get(json_object_get(l->plan, "supervise"),
					    "enabled"));
}

static int socket_exists(const char *dir, const char *name)
{
	char *p = path2(dir, name);
	struct stat st;
	int ok = stat(p, &st) == 0 && S_ISSOCK(st.st_mode);

	free(p);
	return ok;
}

/* Relay each sidecar the plan needs; with --no-sidecars, each socket an
 * operator-run sidecar already provides. */
static int setup_relays(struct launch *l, struct bb_err *err)
{
	static const struct bb_relay_port all[] = {
		{PORT_EGRESS, "egress.sock"},
		{PORT_GITGATE, "gitgate.sock"},
		{PORT_SUPERVISE, "supervise.sock"},
	};

	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
		int want = l->o->no_sidecars ? socket_exists(l->run, all[i].sock)
					     : needs(l, all[i].sock);

		if (!want)
			continue;
		if (!socket_exists(l->run, all[i].sock))
			return bb_errf(err, l->run, "%s: no sidecar socket", all[i].sock);
		l->b.relays[l->b.nrelays++] = all[i];
	}
	return 0;
}

static int wait_sockets(struct launch *l, struct bb_err *err)
{
	for (int waited = 0;; waited += 5) {
		int missing = 0;
		const char *name = NULL;

		for (int i = 0; i < 3; i++) {
			static const char *const socks[] = {"egress.sock",
				"gitgate.sock", "supervise.sock"};

			if (needs(l, socks[i]) && !socket_exists(l->run, socks[i])) {
				missing++;
				name = socks[i];
			}
		}
		if (!missing)
			return 0;
		if (waitpid(l->sidecar, NULL, WNOHANG) == l->sidecar) {
			l->sidecar = 0;
			return bb_errf(err, "bb-sidecar", "exited before %s appeared (see %s/logs)",
				       name, l->state);
		}
		if (waited >= SOCKET_WAIT_MS || got_signal)
			return bb_errf(err, l->run, "%s did not appear within %d ms",
				       name, SOCKET_WAIT_MS);
		sleep_ms(5);
	}
}

/* ---- sidecars --------------------------------------------------------- */

static int start_sidecars(struct launch *l, struct bb_err *err)
{
	char *exe = bb_sibling("bb-sidecar");
	int ok = access(exe, X_OK) == 0;

	free(exe);
	if (!ok)
		return bb_errf(err, "sidecars", "bb-sidecar is not installed next to bb-up: use --no-sidecars");
	return bb_errf(err, "sidecars", "not wired yet");
}

/* ---- the agent's environment and command ------------------------------- */

static void infra_env(struct launch *l, struct bb_strv *env)
{
	static const char *const ca_vars[] = {"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS",
		"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", NULL};
	const char *term = getenv("TERM");
	char proxy[64];

	bb_strv_setenv(env, "HOME", BB_GUEST_HOME);
	bb_strv_setenv(env, "USER", BB_GUEST_USER);
	bb_strv_setenv(env, "LOGNAME", BB_GUEST_USER);
	bb_strv_setenv(env, "PATH", "/usr/local/bin:/usr/bin:/bin");
	bb_strv_setenv(env, "LANG", "C.UTF-8");
	if (term && *term)
		bb_strv_setenv(env, "TERM", term);
	for (int i = 0; ca_vars[i]; i++)
		bb_strv_setenv(env, ca_vars[i], BB_GUEST_CA_BUNDLE);
	bb_strv_setenv(env, "NO_PROXY", "localhost,127.0.0.1");
	bb_strv_setenv(env, "no_proxy", "localhost,127.0.0.1");
	if (needs(l, "egress.sock") || socket_exists(l->run, "egress.sock")) {
		snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", PORT_EGRESS);
		bb_strv_setenv(env, "HTTPS_PROXY", proxy);
		bb_strv_setenv(env, "HTTP_PROXY", proxy);
		bb_strv_setenv(env, "https_proxy", proxy);
		bb_strv_setenv(env, "http_proxy", proxy);
	}
	if (needs(l, "gitgate.sock")) {
		snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", PORT_GITGATE);
		bb_strv_setenv(env, "GIT_GATE_URL", proxy);
	}
	if (needs(l, "supervise.sock")) {
		snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d/mcp", PORT_SUPERVISE);
		bb_strv_setenv(env, "MCP_SUPERVISE_URL", proxy);
	}
}

/* The plan's guest env: literals as they are, forwarded names from our own
 * environment (a forwarded variable that is unset is an error, not ""). */
static int plan_env(struct launch *l, struct bb_strv *env, struct bb_err *err)
{
	json_t *penv = json_object_get(l->plan, "env");
	const char *k;
	json_t *v;

	json_object_foreach(penv, k, v) {
		if (json_is_string(v)) {
			bb_strv_setenv(env, k, json_string_value(v));
		} else if (json_is_object(v) && json_object_get(v, "from_host")) {
			const char *name = jstr(v, "from_host");
			const char *val = getenv(name);

			if (!val)
				return bb_errf(err, "env", "%s: host variable %s is not set",
					       k, name);
			bb_strv_setenv(env, k, val);
		}
	}
	return 0;
}

static int agent_env(struct launch *l, struct bb_strv *env, struct bb_err *err)
{
	json_t *prov = json_object_get(json_object_get(l->plan, "provider"), "env");
	const char *k;
	json_t *v;

	if (plan_env(l, env, err) < 0)
		return -1;
	infra_env(l, env);
	/* Provider defaults only where the bottle did not set the name. */
	json_object_foreach(prov, k, v)
		if (json_is_string(v) && !bb_strv_getenv(env, k))
			bb_strv_setenv(env, k, json_string_value(v));
	return 0;
}

static void push_strings(struct bb_strv *a, const json_t *arr)
{
	size_t i;
	json_t *v;

	json_array_foreach(arr, i, v)
		if (json_is_string(v))
			bb_strv_push(a, json_string_value(v));
}

static int agent_argv(struct launch *l, struct bb_strv *a, struct bb_err *err)
{
	const json_t *prov = json_object_get(l->plan, "provider");

	if (l->o->cmd) {
		for (char *const *p = l->o->cmd; *p; p++)
			bb_strv_push(a, *p);
		return 0;
	}
	if (!json_array_size(json_object_get(prov, "command")))
		return bb_errf(err, "plan", "provider.command: missing (give -- CMD)");
	push_strings(a, json_object_get(prov, "command"));
	if (l->o->resume)
		push_strings(a, json_object_get(prov, "resume_args"));
	push_strings(a, json_object_get(prov, "args"));
	return 0;
}

/* ---- provisioning ------------------------------------------------------ */

static int copy_tree(const char *src, const char *dst, struct bb_err *err)
{
	struct bb_strv a = {0};
	struct bb_child sp;
	char *from;
	int code;
	pid_t pid;

	if (asprintf(&from, "%s/.", src) < 0)
		abort();
	bb_strv_push(&a, "/bin/cp");
	bb_strv_push(&a, "-a");
	bb_strv_push(&a, "--");
	bb_strv_push(&a, from);
	bb_strv_push(&a, dst);
	bb_child_init(&sp, a.v);
	pid = bb_child_start(&sp, err);
	code = pid < 0 ? -1 : bb_wait_exit(pid);
	bb_strv_free(&a);
	free(from);
	if (pid < 0)
		return -1;
	if (code != 0)
		return bb_errf(err, src, "workspace copy failed (cp exit %d)", code);
	return 0;
}

static int provision_workspace(struct launch *l, struct bb_err *err)
{
	char *ws = path2(l->home, "workspace");
	struct stat st;
	int rc = 0;

	if (!l->cwd || l->o->resume) {
		free(ws);
		return 0;
	}
	if (stat(l->cwd, &st) != 0 || !S_ISDIR(st.st_mode)) {
		free(ws);
		return bb_errf(err, "--cwd", "cwd not found at %s", l->cwd);
	}
	if (bb_mkdir_p(ws, 0755, err) < 0 || copy_tree(l->cwd, ws, err) < 0)
		rc = -1;
	free(ws);
	return rc;
}

static int write_home_file(struct launch *l, const char *rel, const char *text,
			   mode_t mode, struct bb_err *err)
{
	char *p = path2(l->home, rel);
	int rc = bb_write_file_atomic(p, text, strlen(text), mode, err);

	free(p);
	return rc;
}

/* The original's order: CA, prompt, provider auth, skills, workspace,
 * git, supervise. */
static int provision(struct launch *l, struct bb_err *err)
{
	char *ca = path2(l->state, "egress/ca.pem");
	json_t *files = json_object_get(json_object_get(l->plan, "provider"), "files");
	const char *k;
	json_t *v;
	struct stat st;
	int rc = bb_bottle_guest_files(&l->b, stat(ca, &st) == 0 ? ca : NULL, err);

	free(ca);
	if (rc < 0)
		return -1;
	if (write_home_file(l, ".bot-bottle-prompt.txt", jstr(l->plan, "prompt"),
			    0600, err) < 0)
		return -1;
	json_object_foreach(files, k, v) {
		char *text = json_is_string(v) ? strdup(json_string_value(v))
					       : bb_json_string(v);

		if (strstr(k, "..") || k[0] == '/' || !*k) {
			free(text);
			return bb_errf(err, "plan", "provider.files: %s: must be a relative path", k);
		}
		rc = write_home_file(l, k, text, 0600, err);
		free(text);
		if (rc < 0)
			return -1;
	}
	if (provision_workspace(l, err) < 0)
		return -1;
	return 0;
}

/* ---- run and teardown -------------------------------------------------- */

static void stop_child(pid_t pid, int sig)
{
	struct timespec t0;

	if (pid <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	kill(pid, sig);
	while (waitpid(pid, NULL, WNOHANG) == 0) {
		if (ms_since(&t0) > STOP_GRACE_MS) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
			return;
		}
		sleep_ms(1);
	}
}

static void teardown(struct launch *l)
{
	struct bb_err err = {0};
	json_t *meta;

	if (l->agent > 0)
		stop_child(l->agent, SIGKILL);
	if (!strcmp(l->backend, "podman") || !strcmp(l->backend, "docker"))
		bb_podman_remove(l->backend, l->slug);
	if (l->sidecar > 0)
		stop_child(l->sidecar, SIGTERM);
	if (l->envfile)
		unlink(l->envfile);
	if (l->run && bb_rmtree(l->run) < 0 && errno != ENOENT)
		bb_warnx("teardown failed for %s (remove %s): %s", l->slug, l->run,
			 strerror(errno));
	if (l->state) {
		char *pid = path2(l->state, "sidecar.pid");

		unlink(pid);
		free(pid);
		meta = bb_meta_load(l->slug, &err);
		if (meta) {
			json_object_set_new(meta, "running", json_false());
			if (bb_meta_save(l->slug, meta, &err) < 0)
				bb_report(&err);
			json_decref(meta);
		}
	}
}

static int wait_agent(struct launch *l)
{
	int st;

	for (;;) {
		pid_t r = waitpid(l->agent, &st, 0);

		if (r == l->agent)
			break;
		if (r < 0 && errno != EINTR)
			return 1;
		if (got_signal) {
			int sig = got_signal;

			stop_child(l->agent, SIGTERM);
			l->agent = 0;
			return 128 + sig;
		}
	}
	l->agent = 0;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	return 128 + WTERMSIG(st);
}

static void catch_signals(void)
{
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
}

static int start_agent(struct launch *l, struct bb_err *err)
{
	struct bb_strv argv = {0};

	if (agent_argv(l, &argv, err) < 0)
		return -1;
	l->b.argv = argv.v;
	if (!strcmp(l->backend, "ns")) {
		l->agent = bb_ns_start(&l->b, err);
	} else {
		struct bb_strv lines = {0};
		size_t len = 0;
		char *text;

		for (size_t i = 0; i < l->b.env.n; i++) {
			if (strchr(l->b.env.v[i], '\n')) {
				bb_strv_free(&argv);
				bb_strv_free(&lines);
				return bb_errf(err, "env", "a value holds a newline, which %s env files cannot carry",
					       l->backend);
			}
			len += strlen(l->b.env.v[i]) + 1;
		}
		text = calloc(1, len + 1);
		for (size_t i = 0; i < l->b.env.n; i++) {
			strcat(text, l->b.env.v[i]);
			strcat(text, "\n");
		}
		l->envfile = path2(l->state, "agent.env");
		if (bb_write_file_atomic(l->envfile, text, len, 0600, err) < 0)
			l->agent = -1;
		else
			l->agent = bb_podman_start(l->backend, &l->b, l->envfile, err);
		explicit_bzero(text, len);
		free(text);
		bb_strv_free(&lines);
	}
	bb_strv_free(&argv);
	l->b.argv = NULL;
	return l->agent < 0 ? -1 : 0;
}

static int check_backend(const char *backend, struct bb_err *err)
{
	if (strcmp(backend, "ns") && strcmp(backend, "podman") &&
	    strcmp(backend, "docker"))
		return bb_errf(err, "--backend", "unknown backend '%s' (ns, podman, docker)",
			       backend);
	return 0;
}

static int launch(struct launch *l, struct bb_err *err)
{
	const char *want = l->o->backend ? l->o->backend : jstr(l->plan, "backend");

	l->slug = jstr(l->plan, "slug");
	l->backend = *want ? want : "ns";
	if (check_backend(l->backend, err) < 0)
		return -1;
	if (!bb_slug_valid(l->slug))
		return bb_errf(err, "plan", "slug: '%s' is not a valid slug", l->slug);
	preflight(l);
	if (l->o->dry_run) {
		bb_json_dump(stdout, l->plan);
		return 0;
	}
	if (l->o->cwd && !(l->cwd = realpath(l->o->cwd, NULL)))
		return bb_errf(err, "--cwd", "cwd not found at %s", l->o->cwd);
	if (confirm(l->o, err) < 0)
		return -1;
	clock_gettime(CLOCK_MONOTONIC, &l->t0);
	if (prepare_dirs(l, err) < 0)
		return -1;
	if (!l->o->no_sidecars && (needs(l, "egress.sock") || needs(l, "gitgate.sock") ||
				   needs(l, "supervise.sock")) &&
	    (start_sidecars(l, err) < 0 || wait_sockets(l, err) < 0))
		return -1;
	l->b.slug = l->slug;
	l->b.home = l->home;
	l->b.guestdir = l->guestdir;
	l->b.rundir = l->run;
	l->relay_path = bb_sibling("bb-relay");
	l->b.relay = l->relay_path;
	l->b.workdir = l->cwd ? BB_GUEST_HOME "/workspace" : BB_GUEST_HOME;
	if (setup_relays(l, err) < 0 || provision(l, err) < 0 ||
	    agent_env(l, &l->b.env, err) < 0)
		return -1;
	if (got_signal)
		return 128 + got_signal;
	if (start_agent(l, err) < 0)
		return -1;
	if (getenv("BB_UP_TIMING"))
		fprintf(stderr, "bb-up: timing: agent started after %.1f ms\n", ms_since(&l->t0));
	return wait_agent(l);
}

int bb_up_launch(const struct bb_up_opts *o, struct bb_err *err)
{
	struct launch l;
	int code;

	memset(&l, 0, sizeof(l));
	l.o = o;
	catch_signals();
	bb_bottles_clean_stale();
	l.plan = make_plan(o, err);
	if (!l.plan)
		return -1;
	if (!json_is_object(l.plan)) {
		json_decref(l.plan);
		return bb_errf(err, "plan", "must be a JSON object");
	}
	code = launch(&l, err);
	if (l.state) {
		struct timespec t;

		clock_gettime(CLOCK_MONOTONIC, &t);
		teardown(&l);
		if (getenv("BB_UP_TIMING"))
			fprintf(stderr, "bb-up: timing: teardown took %.1f ms\n", ms_since(&t));
	}
	free(l.state);
	free(l.run);
	free(l.home);
	free(l.guestdir);
	free(l.envfile);
	free(l.cwd);
	free(l.relay_path);
	bb_strv_free(&l.b.env);
	json_decref(l.plan);
	return code;
}
