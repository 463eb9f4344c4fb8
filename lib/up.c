#include "up.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdarg.h>
#include <stdlib.h>
#include <termios.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <sys/mman.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bottle.h"
#include "bstate.h"
#include "file.h"
#include "json.h"
#include "proc.h"
#include "codexauth.h"
#include "toml.h"

#define PORT_EGRESS 9099
#define PORT_GITGATE 9420
#define PORT_SUPERVISE 9100
#define SOCKET_WAIT_MS 15000 /* the daemons listen before any upstream work */
#define STOP_GRACE_MS 2000
/* The runtime dir's subdirectory of the sockets the bottle may reach; it
 * is bound into the bottle whole (read-only), so a daemon that restarts
 * and re-creates its socket is reachable again.  egress-admin.sock stays
 * in the runtime dir itself, out of the bottle's sight. */
#define SOCK_DIR "bottle"
/* bb-sidecar's own grace (seconds) must end before ours, or we SIGKILL it
 * while it is still stopping a stuck daemon. */
#define SIDECAR_GRACE "1"

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
	char *socks;   /* RUN/bottle: the sockets the bottle sees, bound whole */
	char *cwd; /* --cwd made absolute */
	pid_t sidecar, agent;
	pid_t inner;   /* ns: the bottle's pid 1, as seen from the host */
	int infofd;    /* ns: bwrap's info pipe until the inner pid is read */
	int envw;      /* ns: the agent's environment goes here once ready */
	char *pipelock;    /* the pipelock executable, NULL when absent */
	const char *pipelock_why;
	int pipelock_port;
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

static double ms_since(const struct timespec *t0);

struct launch;
static void timing(const struct launch *l, const char *what);
static void stop_bottle(struct launch *l);
static char *read_output(int fd);
static int tool_missing(const char *tool, struct bb_err *err);

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

static void push_sibling(struct bb_strv *a, const char *name)
{
	char *p = bb_sibling(name);

	bb_strv_push(a, p);
	free(p);
}

static json_t *make_plan(const struct bb_up_opts *o, struct bb_err *err)
{
	struct bb_strv a = {0};
	char *manifest_text;
	json_t *manifest, *plan;

	if (o->plan_file)
		return bb_json_load(o->plan_file, err);
	push_sibling(&a, "bb-manifest");
	if (o->cwd) {
		bb_strv_push(&a, "-p");
		bb_strv_push(&a, o->cwd);
	}
	bb_strv_push(&a, "-a");
	bb_strv_push(&a, o->agent);
	manifest = run_json(a.v, NULL, 0, "bb-manifest", err);
	bb_strv_free(&a);
	if (!manifest)
		return NULL;
	manifest_text = bb_json_string(manifest);
	json_decref(manifest);
	push_sibling(&a, "bb-plan");
	bb_strv_push(&a, "--summary");
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
	l->socks = path2(l->run, SOCK_DIR);
	/* The runtime root may be /tmp/bb-UID: another user's, if made first. */
	if (bb_mkdir_p(l->state, 0700, err) < 0 ||
	    bb_mkdir_p(l->home, 0700, err) < 0 ||
	    bb_private_dir(bb_runtime_root(), err) < 0 ||
	    bb_mkdir_p(l->socks, 0700, err) < 0)
		return -1;
	if (write_metadata(l, err) < 0)
		return -1;
	text = bb_json_string(l->plan);
	{
		char *p = path2(l->state, "plan.json"), *prev = NULL;

		/* Unchanged (a resume): left as it is, so that the files made
		 * from it stay newer than it (see derived_fresh). */
		if (bb_read_file(p, BB_JSON_MAX, &prev, NULL, NULL) == 0 &&
		    !strcmp(prev, text))
			rc = 0;
		else
			rc = bb_write_state_file(p, text, strlen(text), 0600, err);
		free(prev);
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
		int want = l->o->no_sidecars ? socket_exists(l->socks, all[i].sock)
					     : needs(l, all[i].sock);

		if (!want)
			continue;
		l->b.relays[l->b.nrelays++] = all[i];
	}
	return 0;
}

/* The first socket the plan needs that is not there yet, or NULL. */
static const char *missing_socket(const struct launch *l)
{
	static const char *const socks[] = {"egress.sock", "gitgate.sock",
					    "supervise.sock"};

	for (int i = 0; i < 3; i++)
		if (needs(l, socks[i]) && !socket_exists(l->socks, socks[i]))
			return socks[i];
	return NULL;
}

/* Readiness: the daemons create their sockets when they listen, so an
 * inotify watch on the socket directory wakes us as each one appears;
 * no polling delay.  The short poll timeout only notices a supervisor
 * that died (and works without inotify). */
static int wait_sockets(struct launch *l, struct bb_err *err)
{
	int in = inotify_init1(IN_CLOEXEC | IN_NONBLOCK);
	struct timespec t0;
	const char *name;
	char buf[4096];
	int rc = 0;

	if (in >= 0 && inotify_add_watch(in, l->socks, IN_CREATE | IN_MOVED_TO) < 0) {
		close(in);
		in = -1;
	}
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while ((name = missing_socket(l)) != NULL) {
		struct pollfd p = {in, POLLIN, 0};

		if (waitpid(l->sidecar, NULL, WNOHANG) == l->sidecar) {
			l->sidecar = 0;
			rc = bb_errf(err, "bb-sidecar", "exited before %s appeared (see %s/logs)",
				     name, l->state);
			break;
		}
		if (ms_since(&t0) >= SOCKET_WAIT_MS || got_signal) {
			rc = bb_errf(err, l->socks, "%s did not appear within %d ms",
				     name, SOCKET_WAIT_MS);
			break;
		}
		if (poll(&p, 1, in >= 0 ? 20 : 2) > 0)
			while (read(in, buf, sizeof(buf)) > 0)
				;
	}
	if (in >= 0)
		close(in);
	return rc;
}

/* ---- sidecars --------------------------------------------------------- */

static void timing(const struct launch *l, const char *what)
{
	if (getenv("BB_UP_TIMING"))
		fprintf(stderr, "bb-up: timing: %s after %.1f ms\n", what, ms_since(&l->t0));
}

static json_t *strings(const char *first, ...)
{
	json_t *arr = json_array();
	va_list ap;

	va_start(ap, first);
	for (const char *s = first; s; s = va_arg(ap, const char *))
		json_array_append_new(arr, json_string(s));
	va_end(ap);
	return arr;
}

static int run_tool(char *const *argv, const char *outfile, struct bb_err *err)
{
	char *out = NULL;
	size_t len = 0;
	int code = bb_run_pipe(argv, NULL, NULL, 0, &out, &len, BB_JSON_MAX, err);

	if (code > 0)
		bb_errf(err, argv[0], "failed with exit status %d", code);
	if (code == 0 && outfile &&
	    bb_write_state_file(outfile, out, len, 0600, err) < 0)
		code = -1;
	free(out);
	return code == 0 ? 0 : -1;
}

/* The host of the first route fed by slot, for messages. */
static const char *slot_host(const struct launch *l, const char *slot)
{
	json_t *routes = json_object_get(json_object_get(l->plan, "egress"), "routes");
	json_t *r;
	size_t i;

	json_array_foreach(routes, i, r)
		if (!strcmp(jstr(r, "token_env"), slot))
			return jstr(r, "host");
	return "?";
}

/* ---- provisioned secrets (docs/provisioned-secrets.md) ---------------- */

/* A token the launcher supplies itself: the host Codex access token, read
 * in process from the host auth.json (re-checked now: a login that expired
 * since the plan fails here), put in the egress slot and wiped. */
static int provisioned_token(const char *name, const json_t *ref, const char *slot,
			     struct bb_strv *env, struct bb_err *err)
{
	struct bb_codexauth ca;
	json_t *planned = json_object_get(ref, "expires_at");

	if (strcmp(jstr(ref, "source"), "codex-host-auth") != 0 || !*jstr(ref, "path"))
		return bb_errf(err, "plan", "provider.provisioned_env.%s: unknown source '%s'",
			       name, jstr(ref, "source"));
	if (bb_codexauth_load(jstr(ref, "path"), time(NULL), &ca, err) < 0)
		return -1;
	bb_strv_setenv(env, slot, ca.token);
	if (json_is_integer(planned) && json_integer_value(planned) != ca.exp)
		bb_warnx("codex host credentials: the host login changed since the plan; "
			 "the bottle's dummy auth.json carries the old expiry: restart the bottle "
			 "if Codex asks to sign in");
	bb_codexauth_free(&ca);
	return 0;
}

/* EGRESS_TOKEN_N=value for bb-sidecar's environment, and the names for
 * the egress daemon's env list.  Values come from our environment only,
 * and go nowhere else. */
static int token_env(struct launch *l, struct bb_strv *env, json_t *names,
		     struct bb_err *err)
{
	json_t *map = json_object_get(json_object_get(l->plan, "egress"), "token_env");
	json_t *prov = json_object_get(json_object_get(l->plan, "provider"),
				       "provisioned_env");
	const char *slot;
	json_t *ref;

	json_object_foreach(map, slot, ref) {
		const char *name = json_string_value(ref);
		const char *val = name ? getenv(name) : NULL;

		if (strncmp(slot, "EGRESS_TOKEN_", 13) != 0 || !name)
			return bb_errf(err, "plan", "egress.token_env.%s: not a token slot", slot);
		if (json_object_get(prov, name)) {
			if (provisioned_token(name, json_object_get(prov, name), slot,
					      env, err) < 0)
				return -1;
			json_array_append_new(names, json_string(slot));
			continue;
		}
		if (!val || !*val)
			return bb_errf(err, "egress", "route '%s': host variable %s is not set or empty",
				       slot_host(l, slot), name);
		bb_strv_setenv(env, slot, val);
		json_array_append_new(names, json_string(slot));
	}
	return 0;
}

/* A CA pair from an earlier launch of this bottle is kept as it is. */
static int ca_cached(const char *dir)
{
	char *pem = path2(dir, "ca.pem"), *key = path2(dir, "ca.key");
	int ok = access(pem, R_OK) == 0 && access(key, R_OK) == 0;

	free(pem);
	free(key);
	return ok;
}

/* A file made from plan.json (routes.json, the agent's .gitconfig) is
 * current when it is strictly newer than the plan: a resumed bottle
 * whose plan did not change does not make it again.  bb-supervise's
 * approve rewrites routes.json and plan.json together, plan last, so
 * the next launch makes routes.json again from the new plan. */
static int derived_fresh(const struct launch *l, const char *path)
{
	char *plan = path2(l->state, "plan.json");
	struct stat d, p;
	int ok = stat(path, &d) == 0 && stat(plan, &p) == 0 &&
		 (d.st_mtim.tv_sec > p.st_mtim.tv_sec ||
		  (d.st_mtim.tv_sec == p.st_mtim.tv_sec &&
		   d.st_mtim.tv_nsec > p.st_mtim.tv_nsec));

	free(plan);
	return ok;
}

/* ---- pipelock (reference 5.1, 6, 9) ------------------------------------ */

#define PIPELOCK_ENV "BB_PIPELOCK"

char *bb_up_pipelock_path(const char **why)
{
	const char *want = getenv(PIPELOCK_ENV), *path = getenv("PATH");
	char *p;

	if (want && !strcmp(want, "none")) {
		*why = "turned off (" PIPELOCK_ENV "=none)";
		return NULL;
	}
	if (want && *want) {
		if (access(want, X_OK) == 0)
			return strdup(want);
		*why = "not an executable: $" PIPELOCK_ENV;
		return NULL;
	}
	for (const char *d = path ? path : ""; *d; d += strcspn(d, ":") + (d[strcspn(d, ":")] == ':')) {
		int n = (int)strcspn(d, ":");

		if (n == 0)
			continue;
		if (asprintf(&p, "%.*s/pipelock", n, d) < 0)
			abort();
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	*why = "not found on PATH (nor $" PIPELOCK_ENV ")";
	return NULL;
}

/* The plan names the CA as DIR/ca.pem and DIR/ca.key: the layout of
 * bb-egress ca init.  DIR, malloc'd. */
static char *pipelock_ca_dir(const struct launch *l, struct bb_err *err)
{
	json_t *pl = json_object_get(l->plan, "pipelock");
	const char *cert = jstr(pl, "ca_cert"), *key = jstr(pl, "ca_key");
	size_t n = strlen(cert);

	if (n <= 7 || strcmp(cert + n - 7, "/ca.pem") || strlen(key) != n ||
	    strncmp(cert, key, n - 6) || strcmp(key + n - 6, "ca.key") || *cert != '/') {
		bb_errf(err, "plan", "pipelock.ca_cert, ca_key: want /DIR/ca.pem and /DIR/ca.key");
		return NULL;
	}
	return strndup(cert, n - 7);
}

static int free_tcp_port(struct bb_err *err)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = -1;

	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	if (port < 0)
		bb_errf(err, "pipelock", "no free loopback port: %s", strerror(errno));
	return port;
}

/* pipelock check --config F, with nothing but PATH in its environment;
 * its own words on failure. */
static int pipelock_check(struct launch *l, const char *yaml, struct bb_err *err)
{
	struct bb_strv argv = {0};
	char *envp[] = {"PATH=/usr/local/bin:/usr/bin:/bin", NULL};
	int fd = memfd_create("bb-pipelock-check", MFD_CLOEXEC), code;
	struct bb_child sp;
	pid_t pid;
	char *out;

	if (fd < 0)
		return bb_errf(err, "pipelock check", "memfd_create: %s", strerror(errno));
	bb_strv_push(&argv, l->pipelock);
	bb_strv_push(&argv, "check");
	bb_strv_push(&argv, "--config");
	bb_strv_push(&argv, yaml);
	bb_child_init(&sp, argv.v);
	sp.envp = envp;
	sp.fd_out = sp.fd_err = fd;
	pid = bb_child_start(&sp, err);
	code = pid < 0 ? -1 : bb_wait_exit(pid);
	bb_strv_free(&argv);
	out = read_output(fd);
	close(fd);
	if (code > 0)
		bb_errf(err, "pipelock check", "%s", *out ? out : "failed");
	free(out);
	return code == 0 ? 0 : -1;
}

/* Before the sidecars start: the CA (minted once per bottle, P-256, key
 * 0600), pipelock.yaml rendered from the plan where bb-supervise
 * re-renders it on approve, validated by pipelock itself. */
static int pipelock_prepare(struct launch *l, struct bb_err *err)
{
	char *egress = bb_sibling("bb-egress"), *render = bb_sibling("bb-render-pipelock");
	char *yaml = path2(l->state, "pipelock.yaml"), *plan = path2(l->state, "plan.json");
	char *dir = pipelock_ca_dir(l, err);
	int rc = -1;

	if (dir && tool_missing("bb-render-pipelock", err) == 0 &&
	    (ca_cached(dir) || bb_mkdir_p(dir, 0700, err) == 0)) {
		char *ca_argv[] = {egress, "ca", "init", dir, NULL};
		char *r_argv[] = {render, "-o", yaml, plan, NULL};

		if ((ca_cached(dir) || run_tool(ca_argv, NULL, err) == 0) &&
		    run_tool(r_argv, NULL, err) == 0 && pipelock_check(l, yaml, err) == 0 &&
		    (l->pipelock_port = free_tcp_port(err)) > 0)
			rc = 0;
	}
	timing(l, "pipelock checked");
	free(egress);
	free(render);
	free(yaml);
	free(plan);
	free(dir);
	return rc;
}

static void pipelock_daemon(struct launch *l, json_t *daemons)
{
	char *yaml = path2(l->state, "pipelock.yaml"), listen[64];

	snprintf(listen, sizeof(listen), "127.0.0.1:%d", l->pipelock_port);
	/* No credential in its environment: dlp.scan_env reads it. */
	json_array_append_new(daemons, json_pack("{s:s, s:o, s:o, s:s}", "name", "pipelock",
		"argv", strings(l->pipelock, "run", "--listen", listen, "--config", yaml, NULL),
		"env", strings("PATH", NULL), "restart_on", "SIGUSR1"));
	free(yaml);
}

static int upstream_ca_arg(char *const *p)
{
	return !strcmp(*p, "--upstream-ca") || !strncmp(*p, "--upstream-ca=", 14);
}

/* bb-egress sends everything through pipelock and trusts pipelock's CA
 * (the hosts it bumps) as well as the system store: one bundle of the
 * pipelock CA and any --upstream-ca given with -E. */
static int pipelock_upstream(struct launch *l, json_t *argv, struct bb_err *err)
{
	char *dir = pipelock_ca_dir(l, err), *bundle = path2(l->state, "egress-upstream-ca.pem");
	char *text = NULL, url[64];
	size_t len = 0;
	FILE *m = open_memstream(&text, &len);
	int rc = -1;

	for (int i = -1; dir; i++) {
		char *const *p = l->o->egress_args;
		const char *file = NULL;
		char *buf = NULL, *own = NULL;
		size_t n = 0;

		if (i < 0)
			file = own = path2(dir, "ca.pem");
		else if (!p || !p[i])
			break;
		else if (!strncmp(p[i], "--upstream-ca=", 14))
			file = p[i] + 14;
		else if (!strcmp(p[i], "--upstream-ca") && p[i + 1])
			file = p[++i];
		if (file && bb_read_file(file, BB_JSON_MAX, &buf, &n, err) < 0) {
			free(own);
			goto out;
		}
		fwrite(buf ? buf : "", 1, n, m);
		free(buf);
		free(own);
	}
	if (!dir)
		goto out;
	fclose(m);
	m = NULL;
	if (bb_write_state_file(bundle, text, len, 0600, err) < 0)
		goto out;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", l->pipelock_port);
	json_array_append_new(argv, json_string("--upstream-proxy"));
	json_array_append_new(argv, json_string(url));
	json_array_append_new(argv, json_string("--upstream-ca"));
	json_array_append_new(argv, json_string(bundle));
	rc = 0;
out:
	if (m)
		fclose(m);
	free(text);
	free(dir);
	free(bundle);
	return rc;
}

/* pipelock listens before egress needs it, or the launch fails. */
static int pipelock_wait(struct launch *l, struct bb_err *err)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
				.sin_port = htons((uint16_t)l->pipelock_port)};

	for (int waited = 0;; waited += 5) {
		int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		int ok = fd >= 0 && connect(fd, (struct sockaddr *)&a, sizeof(a)) == 0;

		if (fd >= 0)
			close(fd);
		if (ok)
			return 0;
		if (waited >= SOCKET_WAIT_MS || got_signal || waitpid(l->sidecar, NULL, WNOHANG) == l->sidecar)
			return bb_errf(err, "pipelock", "not listening on 127.0.0.1:%d (see %s/logs)",
				       l->pipelock_port, l->state);
		sleep_ms(5);
	}
}

static int egress_daemon(struct launch *l, json_t *daemons, struct bb_strv *env,
			 struct bb_err *err)
{
	char *exe = bb_sibling("bb-egress"), *ca = path2(l->state, "egress");
	char *routes = path2(l->state, "routes.json"), *plan = path2(l->state, "plan.json");
	char *listen, *admin, *audit = path2(l->state, "logs/egress-audit.log");
	char *ca_argv[] = {exe, "ca", "init", ca, NULL};
	char *routes_argv[] = {exe, "routes", plan, NULL};
	json_t *argv = NULL, *names = strings("PATH", NULL);
	int rc = -1;

	if (asprintf(&listen, "unix:%s/egress.sock", l->socks) < 0 ||
	    asprintf(&admin, "unix:%s/egress-admin.sock", l->run) < 0)
		abort();
	if (!ca_cached(ca) && run_tool(ca_argv, NULL, err) < 0)
		goto out;
	timing(l, "ca ready");
	if ((!derived_fresh(l, routes) && run_tool(routes_argv, routes, err) < 0) ||
	    token_env(l, env, names, err) < 0)
		goto out;
	/* One worker per CPU: a single process is the bottleneck on keep-alive
	 * (two TLS sessions per request; docs/bench-egress.md). */
	argv = strings(exe, "serve", "--routes", routes, "--ca-dir", ca, "--listen",
		       listen, "--admin", admin, "--audit", audit, "--workers",
		       "auto", NULL);
	if (l->pipelock && pipelock_upstream(l, argv, err) < 0)
		goto out;
	for (char *const *p = l->o->egress_args; p && *p; p++) {
		if (l->pipelock && upstream_ca_arg(p))
			p += strchr(*p, '=') ? 0 : !!p[1];
		else
			json_array_append_new(argv, json_string(*p));
	}
	json_array_append_new(daemons, json_pack("{s:s, s:O, s:O, s:s}", "name", "egress",
						 "argv", argv, "env", names,
						 "reload_signal", "SIGHUP"));
	rc = 0;
out:
	json_decref(argv);
	json_decref(names);
	free(exe);
	free(ca);
	free(routes);
	free(plan);
	free(listen);
	free(admin);
	free(audit);
	return rc;
}

static char *sock_addr(const struct launch *l, const char *name)
{
	char *a;

	if (asprintf(&a, "unix:%s/%s", l->socks, name) < 0)
		abort();
	return a;
}

static int gitgate_daemon(struct launch *l, json_t *daemons)
{
	char *exe = bb_sibling("bb-gitgate"), *plan = path2(l->state, "plan.json");
	char *state = path2(l->state, "gitgate"), *listen = sock_addr(l, "gitgate.sock");

	json_array_append_new(daemons, json_pack("{s:s, s:o, s:o}", "name", "gitgate",
		"argv", strings(exe, "serve", "--plan", plan, "--state", state,
				"--listen", listen, NULL),
		"env", strings("PATH", "HOME", NULL)));
	free(exe);
	free(plan);
	free(state);
	free(listen);
	return 0;
}

static int supervise_daemon(struct launch *l, json_t *daemons)
{
	char *exe = bb_sibling("bb-supervise"), *listen = sock_addr(l, "supervise.sock");
	char *admin, timeout[32];
	json_t *t = json_object_get(json_object_get(l->plan, "supervise"), "timeout_seconds");
	json_t *argv;

	if (asprintf(&admin, "unix:%s/egress-admin.sock", l->run) < 0)
		abort();
	snprintf(timeout, sizeof(timeout), "%g", json_is_number(t) ? json_number_value(t) : 30.0);
	argv = strings(exe, "serve", "--state", l->state, "--listen", listen,
		       "--egress-admin", admin, "--timeout", timeout, NULL);
	json_array_append_new(daemons, json_pack("{s:s, s:o, s:o}", "name", "supervise",
		"argv", argv, "env", strings("PATH", "HOME", "USER", "XDG_STATE_HOME",
					     "XDG_RUNTIME_DIR", NULL)));
	free(exe);
	free(listen);
	free(admin);
	return 0;
}

static int tool_missing(const char *tool, struct bb_err *err)
{
	char *exe = bb_sibling(tool);
	int ok = access(exe, X_OK) == 0;

	free(exe);
	if (ok)
		return 0;
	return bb_errf(err, "sidecars", "%s is not installed next to bb-up", tool);
}

static int start_sidecars(struct launch *l, struct bb_err *err)
{
	char *exe = bb_sibling("bb-sidecar"), *file = path2(l->state, "daemons.json");
	char *logs = path2(l->state, "logs"), *pidf = path2(l->state, "sidecar.pid");
	char *logf = path2(logs, "sidecar.log");
	json_t *daemons = json_array(), *doc;
	struct bb_strv env = {0}, argv = {0};
	struct bb_child sp;
	char *text = NULL;
	int logfd = -1, rc = -1;

	bb_strv_push(&env, "PATH=/usr/local/bin:/usr/bin:/bin");
	{
		static const char *const pass[] = {"HOME", "USER", "XDG_STATE_HOME",
						   "XDG_RUNTIME_DIR", NULL};

		for (int i = 0; pass[i]; i++)
			if (getenv(pass[i]))
				bb_strv_setenv(&env, pass[i], getenv(pass[i]));
	}
	if (tool_missing("bb-sidecar", err) < 0 || bb_mkdir_p(logs, 0700, err) < 0)
		goto out;
	if (l->pipelock)
		pipelock_daemon(l, daemons);
	if (needs(l, "egress.sock") && (tool_missing("bb-egress", err) < 0 ||
					egress_daemon(l, daemons, &env, err) < 0))
		goto out;
	if (needs(l, "gitgate.sock") && (tool_missing("bb-gitgate", err) < 0 ||
					 gitgate_daemon(l, daemons) < 0))
		goto out;
	if (needs(l, "supervise.sock") && (tool_missing("bb-supervise", err) < 0 ||
					   supervise_daemon(l, daemons) < 0))
		goto out;
	doc = json_pack("{s:i, s:O}", "version", 1, "daemons", daemons);
	text = bb_json_string(doc);
	json_decref(doc);
	if (bb_write_state_file(file, text, strlen(text), 0600, err) < 0)
		goto out;
	logfd = open(logf, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (logfd < 0) {
		bb_errf(err, logf, "cannot open: %s", strerror(errno));
		goto out;
	}
	bb_strv_push(&argv, exe);
	bb_strv_push(&argv, "-d");
	bb_strv_push(&argv, "-g");
	bb_strv_push(&argv, SIDECAR_GRACE);
	bb_strv_push(&argv, "-l");
	bb_strv_push(&argv, logs);
	bb_strv_push(&argv, "-p");
	bb_strv_push(&argv, pidf);
	bb_strv_push(&argv, file);
	bb_child_init(&sp, argv.v);
	sp.envp = env.v;
	sp.fd_err = logfd;
	sp.fd_out = logfd;
	sp.new_pgrp = 1; /* the terminal's ^C is for bb-up, which stops it */
	l->sidecar = bb_child_start(&sp, err);
	rc = l->sidecar < 0 ? -1 : 0;
	if (l->sidecar < 0)
		l->sidecar = 0;
out:
	if (logfd >= 0)
		close(logfd);
	free(text);
	json_decref(daemons);
	bb_strv_free(&env);
	bb_strv_free(&argv);
	free(exe);
	free(file);
	free(logs);
	free(pidf);
	free(logf);
	return rc;
}

/* ---- the agent's environment and command ------------------------------- */

static void infra_env(struct launch *l, struct bb_strv *env)
{
	static const char *const ca_vars[] = {"SSL_CERT_FILE", "NODE_EXTRA_CA_CERTS",
		"REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "GIT_SSL_CAINFO", NULL};
	json_t *ca_env = json_object_get(l->plan, "ca_env");
	const char *term = getenv("TERM"), *k;
	json_t *v;
	char proxy[64];

	bb_strv_setenv(env, "HOME", BB_GUEST_HOME);
	bb_strv_setenv(env, "USER", BB_GUEST_USER);
	bb_strv_setenv(env, "LOGNAME", BB_GUEST_USER);
	/* ~/.local/bin first: where the agent user installs its own tools
	 * (npm and pip user prefixes), e.g. the agent CLI on the ns backend. */
	bb_strv_setenv(env, "PATH", BB_GUEST_HOME "/.local/bin:/usr/local/bin:/usr/bin:/bin");
	bb_strv_setenv(env, "LANG", "C.UTF-8");
	if (term && *term)
		bb_strv_setenv(env, "TERM", term);
	for (int i = 0; ca_vars[i]; i++)
		bb_strv_setenv(env, ca_vars[i], BB_GUEST_CA_BUNDLE);
	json_object_foreach(ca_env, k, v)
		if (json_is_string(v))
			bb_strv_setenv(env, k, json_string_value(v));
	bb_strv_setenv(env, "NO_PROXY", "localhost,127.0.0.1");
	bb_strv_setenv(env, "no_proxy", "localhost,127.0.0.1");
	if (needs(l, "egress.sock") || socket_exists(l->socks, "egress.sock")) {
		snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", PORT_EGRESS);
		bb_strv_setenv(env, "HTTPS_PROXY", proxy);
		bb_strv_setenv(env, "HTTP_PROXY", proxy);
		bb_strv_setenv(env, "https_proxy", proxy);
		bb_strv_setenv(env, "http_proxy", proxy);
	}
	if (needs(l, "gitgate.sock") || socket_exists(l->socks, "gitgate.sock")) {
		snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d", PORT_GITGATE);
		bb_strv_setenv(env, "GIT_GATE_URL", proxy);
	}
	if (needs(l, "supervise.sock") || socket_exists(l->socks, "supervise.sock")) {
		snprintf(proxy, sizeof(proxy), "http://127.0.0.1:%d/mcp", PORT_SUPERVISE);
		bb_strv_setenv(env, "MCP_SUPERVISE_URL", proxy);
	}
}

/* Read a ?prompt value from the terminal without echo. */
static int ask_value(const char *name, char *buf, size_t size, struct bb_err *err)
{
	struct termios old, quiet;
	FILE *tty = fopen("/dev/tty", "r+");
	int ok;

	if (!tty)
		return bb_errf(err, "env", "%s: asked at launch, but there is no terminal", name);
	fprintf(tty, "value for %s: ", name);
	fflush(tty);
	tcgetattr(fileno(tty), &old);
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)ECHO;
	tcsetattr(fileno(tty), TCSAFLUSH, &quiet);
	ok = fgets(buf, (int)size, tty) != NULL;
	tcsetattr(fileno(tty), TCSAFLUSH, &old);
	fputc('\n', tty);
	fclose(tty);
	if (!ok)
		return bb_errf(err, "env", "%s: no value given", name);
	buf[strcspn(buf, "\n")] = '\0';
	return 0;
}

/* The plan's guest env: literals as they are, host variables forwarded
 * from our own environment (unset is an error, not ""), prompted values
 * asked now.  Values travel in the agent's environment only. */
static int plan_env(struct launch *l, struct bb_strv *env, struct bb_err *err)
{
	json_t *penv = json_object_get(l->plan, "env");
	const char *k;
	json_t *v;

	json_object_foreach(penv, k, v) {
		const char *src = jstr(v, "source");

		if (json_is_string(v)) {
			bb_strv_setenv(env, k, json_string_value(v));
		} else if (!strcmp(src, "literal")) {
			bb_strv_setenv(env, k, jstr(v, "value"));
		} else if (!strcmp(src, "host")) {
			const char *name = jstr(v, "host_var");
			const char *val = getenv(name);

			if (!val)
				return bb_errf(err, "env", "%s: host variable %s is not set",
					       k, name);
			bb_strv_setenv(env, k, val);
		} else if (!strcmp(src, "prompt")) {
			char buf[4096];

			if (ask_value(k, buf, sizeof(buf), err) < 0)
				return -1;
			bb_strv_setenv(env, k, buf);
			explicit_bzero(buf, sizeof(buf));
		} else {
			return bb_errf(err, "plan", "env.%s.source: unknown source '%s'", k, src);
		}
	}
	return 0;
}

static int agent_env(struct launch *l, struct bb_strv *env, struct bb_err *err)
{
	if (plan_env(l, env, err) < 0)
		return -1;
	infra_env(l, env);
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
	const char *key = l->o->resume ? "resume_argv" : "argv";

	if (l->o->cmd) {
		for (char *const *p = l->o->cmd; *p; p++)
			bb_strv_push(a, *p);
		return 0;
	}
	if (!json_array_size(json_object_get(prov, key)))
		return bb_errf(err, "plan", "provider.%s: missing (give -- command)", key);
	push_strings(a, json_object_get(prov, key));
	return 0;
}

/* ---- provisioning ------------------------------------------------------ */

static int copy_tree(const char *src, const char *dst, int with_git,
		     struct bb_err *err)
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
		return bb_errf(err, src, "copy failed (cp exit %d)", code);
	if (!with_git) {
		char *git = path2(dst, ".git");

		bb_rmtree(git);
		free(git);
	}
	return 0;
}

/* A guest path under the guest home, as a host path in the bottle's home;
 * NULL (err set) for anything else. */
static char *home_path(struct launch *l, const char *guest, const char *where,
		       struct bb_err *err)
{
	size_t n = strlen(BB_GUEST_HOME);

	if (strncmp(guest, BB_GUEST_HOME, n) != 0 || (guest[n] != '/' && guest[n]) ||
	    strstr(guest, "/../") || strstr(guest, "/./") ||
	    (strlen(guest) >= 3 && !strcmp(guest + strlen(guest) - 3, "/..")) ) {
		bb_errf(err, where, "'%s' is not under %s", guest, BB_GUEST_HOME);
		return NULL;
	}
	return path2(l->home, guest[n] ? guest + n + 1 : ".");
}

static mode_t mode_of(const json_t *o, mode_t dflt)
{
	const char *m = jstr(o, "mode");

	return *m ? (mode_t)strtol(m, NULL, 8) & 07777 : dflt;
}

static int provision_workspace(struct launch *l, struct bb_err *err)
{
	json_t *ws = json_object_get(l->plan, "workspace");
	const char *src = l->cwd ? l->cwd : NULL;
	int with_git = !json_is_false(json_object_get(ws, "copy_git"));
	char *dst;
	struct stat st;
	int rc;

	if (!src && json_is_true(json_object_get(ws, "enabled")))
		src = jstr(ws, "host_path");
	if (!src || l->o->resume)
		return 0;
	if (stat(src, &st) != 0 || !S_ISDIR(st.st_mode))
		return bb_errf(err, "--cwd", "cwd not found at %s", src);
	dst = home_path(l, json_is_string(json_object_get(ws, "guest_path"))
				   ? jstr(ws, "guest_path") : BB_GUEST_HOME "/workspace",
			"workspace.guest_path", err);
	if (!dst)
		return -1;
	rc = bb_mkdir_p(dst, mode_of(ws, 0755), err) < 0 ? -1
	     : copy_tree(src, dst, with_git, err);
	free(dst);
	return rc;
}

static int write_guest_file(struct launch *l, const json_t *f, const char *where,
			    const char *content, struct bb_err *err)
{
	char *p = home_path(l, jstr(f, "path"), where, err);
	char *dir;
	int rc;

	if (!p)
		return -1;
	dir = strdup(p);
	*strrchr(dir, '/') = '\0';
	rc = bb_mkdir_p(dir, 0700, err);
	if (rc == 0)
		rc = bb_write_state_file(p, content, strlen(content), mode_of(f, 0600), err);
	free(dir);
	free(p);
	return rc;
}

/* ---- provider commands in the guest (pre-copy, verify) ---------------- */

#define GUEST_CMD_MS 60000
#define GUEST_CMD_OUT 2048

static int redirect(int fd, int target, int *saved)
{
	*saved = fcntl(target, F_DUPFD_CLOEXEC, 10);
	return *saved < 0 ? -1 : dup2(fd, target);
}

static void restore(int target, int saved)
{
	if (saved >= 0) {
		dup2(saved, target);
		close(saved);
	}
}

/* The guest's one-line account of a failure: its output, whitespace runs
 * squeezed, cut short. */
static char *read_output(int fd)
{
	char *buf = calloc(1, GUEST_CMD_OUT + 1), *o = buf;
	ssize_t n = pread(fd, buf, GUEST_CMD_OUT, 0);

	for (ssize_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)buf[i];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
			if (o > buf && o[-1] != ' ')
				*o++ = ' ';
		} else if (c >= 0x20 && c != 0x7f) {
			*o++ = (char)c;
		}
	}
	while (o > buf && o[-1] == ' ')
		o--;
	*o = '\0';
	return buf;
}

/* Start the bottle with argv instead of the agent, its output (both
 * streams) into outfd and no terminal.  The bottle has no root: a step
 * the plan marks "user": "root" runs as the agent's uid, which owns the
 * home it works on. */
static pid_t guest_spawn(struct launch *l, int outfd, struct bb_err *err)
{
	int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC), s0 = -1, s1 = -1, s2 = -1;
	pid_t pid = -1;

	if (devnull < 0 || redirect(devnull, 0, &s0) < 0 || redirect(outfd, 1, &s1) < 0 ||
	    redirect(outfd, 2, &s2) < 0) {
		bb_errf(err, "agent provider provisioning", "cannot redirect: %s",
			strerror(errno));
	} else if (!strcmp(l->backend, "ns")) {
		int info;

		pid = bb_ns_start(&l->b, &info, err);
		if (pid > 0) {
			l->inner = bb_ns_inner_pid(info);
			close(info);
		}
	} else {
		pid = bb_podman_start(l->backend, &l->b, l->envfile, err);
	}
	restore(0, s0);
	restore(1, s1);
	restore(2, s2);
	if (devnull >= 0)
		close(devnull);
	return pid;
}

static int guest_wait(struct launch *l, pid_t pid)
{
	struct timespec t0;
	int st;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		pid_t r = waitpid(pid, &st, WNOHANG);

		if (r == pid)
			break;
		if (r < 0 && errno != EINTR)
			return -1;
		if (got_signal || ms_since(&t0) > GUEST_CMD_MS) {
			l->agent = pid;
			stop_bottle(l);
			if (!strcmp(l->backend, "podman") || !strcmp(l->backend, "docker"))
				bb_podman_remove(l->backend, l->slug);
			return -1;
		}
		sleep_ms(2);
	}
	l->inner = 0;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int write_envfile(struct launch *l, const struct bb_strv *env, struct bb_err *err);
/* Run one provider step (argv, env, error) in the guest; its failure is
 * "agent provider provisioning: <error>: <output>" (reference 3.1). */
static int guest_step(struct launch *l, const json_t *step, struct bb_err *err)
{
	struct bb_strv argv = {0}, env = {0};
	const char *k, *what = jstr(step, "error");
	json_t *v;
	const char *workdir = l->b.workdir;
	char *out = NULL;
	int fd = memfd_create("bb-guest-step", MFD_CLOEXEC), code = -1;
	pid_t pid;

	if (fd < 0)
		return bb_errf(err, "agent provider provisioning", "memfd_create: %s",
			       strerror(errno));
	push_strings(&argv, json_object_get(step, "argv"));
	infra_env(l, &env);
	json_object_foreach(json_object_get(step, "env"), k, v)
		if (json_is_string(v))
			bb_strv_setenv(&env, k, json_string_value(v));
	l->b.argv = argv.v;
	l->b.env = env;
	l->b.workdir = BB_GUEST_HOME; /* the workspace comes later */
	if (argv.n == 0) {
		bb_errf(err, "agent provider provisioning", "%s: empty command",
			*what ? what : "provider step");
	} else if ((strcmp(l->backend, "ns") == 0 || write_envfile(l, &env, err) == 0) &&
		   (pid = guest_spawn(l, fd, err)) > 0) {
		code = guest_wait(l, pid);
		if (code != 0) {
			out = read_output(fd);
			if (code < 0)
				bb_errf(err, "agent provider provisioning", "%s: %s",
					*what ? what : argv.v[0],
					got_signal ? "interrupted" : "timed out");
			else if (*out)
				bb_errf(err, "agent provider provisioning", "%s: %s",
					*what ? what : argv.v[0], out);
			else
				bb_errf(err, "agent provider provisioning", "%s",
					*what ? what : argv.v[0]);
		}
	}
	memset(&l->b.env, 0, sizeof(l->b.env));
	l->b.argv = NULL;
	l->b.workdir = workdir;
	if (l->envfile)
		unlink(l->envfile);
	free(out);
	close(fd);
	bb_strv_free(&argv);
	bb_strv_free(&env);
	return code == 0 ? 0 : -1;
}

static int guest_steps(struct launch *l, const char *key, struct bb_err *err)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(l->plan, "provider"), key), i, v)
		if (guest_step(l, v, err) < 0)
			return -1;
	return 0;
}

/* Dirs, pre-copy commands, files, verify commands: the original's order
 * for applying a provision plan (reference 3.1). */
static int provision_provider(struct launch *l, struct bb_err *err)
{
	json_t *prov = json_object_get(l->plan, "provider");
	json_t *v;
	size_t i;
	char where[64];

	json_array_foreach(json_object_get(prov, "dirs"), i, v) {
		char *p;

		snprintf(where, sizeof(where), "provider.dirs[%zu]", i);
		if (!(p = home_path(l, jstr(v, "path"), where, err)))
			return -1;
		if (bb_mkdir_p(p, mode_of(v, 0700), err) < 0) {
			free(p);
			return -1;
		}
		free(p);
	}
	if (guest_steps(l, "pre_copy", err) < 0)
		return -1;
	json_array_foreach(json_object_get(prov, "files"), i, v) {
		json_t *c = json_object_get(v, "content");
		char *text = json_is_string(c) ? strdup(json_string_value(c)) : bb_json_string(c);
		int rc;

		snprintf(where, sizeof(where), "provider.files[%zu]", i);
		rc = write_guest_file(l, v, where, text ? text : "", err);
		free(text);
		if (rc < 0)
			return -1;
	}
	return guest_steps(l, "verify", err);
}

static int provision_skills(struct launch *l, struct bb_err *err)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(l->plan, "skills"), i, v) {
		char where[64], *dst;
		int rc;

		snprintf(where, sizeof(where), "skills[%zu]", i);
		if (!(dst = home_path(l, jstr(v, "guest_path"), where, err)))
			return -1;
		rc = bb_mkdir_p(dst, 0700, err);
		if (rc == 0)
			rc = copy_tree(jstr(v, "host_path"), dst, 0, err);
		free(dst);
		if (rc < 0)
			return -1;
	}
	return 0;
}

/* The agent's ~/.gitconfig: every spelling of each upstream rewritten to
 * the gate (bb-gitgate gitconfig). */
static int provision_git(struct launch *l, struct bb_err *err)
{
	char *exe, *out, *plan, url[64];
	int rc;

	if (!needs(l, "gitgate.sock"))
		return 0;
	if (tool_missing("bb-gitgate", err) < 0)
		return -1;
	out = path2(l->home, ".gitconfig");
	if (derived_fresh(l, out)) {
		free(out);
		return 0;
	}
	exe = bb_sibling("bb-gitgate");
	plan = path2(l->state, "plan.json");
	snprintf(url, sizeof(url), "http://127.0.0.1:%d", PORT_GITGATE);
	{
		char *argv[] = {exe, "gitconfig", "--gate-url", url, "-o", out, plan, NULL};

		rc = run_tool(argv, NULL, err);
	}
	free(exe);
	free(out);
	free(plan);
	return rc;
}

/* ---- the supervise MCP server in the agent's MCP config ---------------- */

#define SUPERVISE_MCP "supervise"

/* Codex's config.toml as the plan provisions it (the trust tables); NULL
 * when the plan has none. */
static const json_t *codex_config(const struct launch *l)
{
	json_t *v;
	size_t i;

	json_array_foreach(json_object_get(json_object_get(l->plan, "provider"), "files"), i, v) {
		const char *p = jstr(v, "path");
		size_t n = strlen(p);

		if (n >= 12 && !strcmp(p + n - 12, "/config.toml") &&
		    json_is_string(json_object_get(v, "content")))
			return v;
	}
	return NULL;
}

/* Codex reads streamable-HTTP MCP servers from [mcp_servers.NAME] tables
 * with a url.  The file is rebuilt from the plan's content, never read
 * back from the home, which the agent of an earlier run could have
 * replaced by a symlink to a host file. */
static int codex_supervise(struct launch *l, const char *url, struct bb_err *err)
{
	const json_t *conf = codex_config(l);
	const char *text = conf ? jstr(conf, "content") : "";
	json_t *f = json_pack("{s:s, s:s}", "path",
			      conf ? jstr(conf, "path") : BB_GUEST_HOME "/.codex/config.toml",
			      "mode", conf && *jstr(conf, "mode") ? jstr(conf, "mode") : "0600");
	char *buf = NULL;
	size_t len = 0, n = strlen(text);
	FILE *m = open_memstream(&buf, &len);
	int rc;

	fputs(text, m);
	if (n)
		fputs(text[n - 1] == '\n' ? "\n" : "\n\n", m);
	fputs("[mcp_servers.", m);
	bb_toml_key(m, SUPERVISE_MCP);
	fputs("]\nurl = ", m);
	bb_toml_string(m, url);
	fputc('\n', m);
	fclose(m);
	rc = write_guest_file(l, f, "provider.files", buf, err);
	free(buf);
	json_decref(f);
	return rc;
}

/* Claude reads its MCP servers from ~/.claude.json (mcpServers), Codex
 * from config.toml: add the supervise server there. */
static int provision_supervise(struct launch *l, struct bb_err *err)
{
	const char *tmpl = jstr(json_object_get(l->plan, "provider"), "template");
	char *path, *text, url[64];
	json_t *doc, *servers;
	struct bb_err ignored = {0};
	int rc;

	if (!needs(l, "supervise.sock"))
		return 0;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/mcp", PORT_SUPERVISE);
	if (!strcmp(tmpl, "codex"))
		return codex_supervise(l, url, err);
	if (strcmp(tmpl, "claude"))
		return 0;
	path = path2(l->home, ".claude.json");
	doc = bb_json_load(path, &ignored);
	if (!json_is_object(doc)) {
		json_decref(doc);
		doc = json_object();
	}
	servers = json_object_get(doc, "mcpServers");
	if (!json_is_object(servers)) {
		servers = json_object();
		json_object_set_new(doc, "mcpServers", servers);
	}
	json_object_set_new(servers, SUPERVISE_MCP, json_pack("{s:s, s:s}", "type", "http", "url", url));
	text = bb_json_string(doc);
	rc = bb_write_state_file(path, text, strlen(text), 0600, err);
	free(text);
	free(path);
	json_decref(doc);
	return rc;
}

/* The original's order: CA, prompt, provider auth, skills, workspace,
 * git, supervise. */
/* What the bottle binds as single files (passwd, the CA bundle...) and
 * the directory it starts in: needed before the bottle is built. */
static int provision_mounts(struct launch *l, struct bb_err *err)
{
	char *ca = path2(l->state, "egress/ca.pem"), *wd;
	struct stat st;
	int rc = bb_bottle_guest_files(&l->b, stat(ca, &st) == 0 ? ca : NULL, err);

	free(ca);
	if (rc < 0 || strcmp(l->b.workdir, BB_GUEST_HOME) == 0)
		return rc;
	if (!(wd = home_path(l, l->b.workdir, "workspace.guest_path", err)))
		return -1;
	rc = bb_mkdir_p(wd, mode_of(json_object_get(l->plan, "workspace"), 0755), err);
	free(wd);
	return rc;
}

/* The rest goes into the bottle's home, bound as a directory: written
 * while the bottle is being built is soon enough. */
static int provision_home(struct launch *l, struct bb_err *err)
{
	json_t *prompt = json_object_get(l->plan, "prompt");
	int rc;

	{
		json_t *f = json_pack("{s:s, s:s}", "path",
				      json_is_string(json_object_get(prompt, "guest_path"))
					      ? jstr(prompt, "guest_path")
					      : BB_GUEST_HOME "/.bot-bottle-prompt.txt",
				      "mode", jstr(prompt, "mode"));

		rc = write_guest_file(l, f, "prompt", jstr(prompt, "content"), err);
		json_decref(f);
	}
	if (rc < 0 || provision_provider(l, err) < 0 || provision_skills(l, err) < 0 ||
	    provision_workspace(l, err) < 0 || provision_git(l, err) < 0 ||
	    provision_supervise(l, err) < 0)
		return -1;
	return 0;
}

static int provision(struct launch *l, struct bb_err *err)
{
	if (provision_mounts(l, err) < 0)
		return -1;
	return provision_home(l, err);
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

/* A process that is gone or a zombie no longer holds anything. */
static int process_gone(pid_t pid)
{
	char path[64], buf[256], *p;
	int fd, n;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 1;
	n = (int)read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 1;
	buf[n] = '\0';
	p = strrchr(buf, ')');
	return p && p[1] == ' ' && (p[2] == 'Z' || p[2] == 'X');
}

/* Killing the namespace's pid 1 kills everything in it; wait until the
 * kernel has done so, so that nothing of the bottle outlives bb-up. */
static void stop_bottle(struct launch *l)
{
	struct timespec t0;

	if (l->infofd >= 0) {
		l->inner = bb_ns_inner_pid(l->infofd);
		close(l->infofd);
		l->infofd = -1;
	}
	if (l->inner > 0 && bb_pid_starttime(l->inner) != 0) {
		kill(l->inner, SIGKILL);
		clock_gettime(CLOCK_MONOTONIC, &t0);
		while (!process_gone(l->inner) && ms_since(&t0) < STOP_GRACE_MS)
			sleep_ms(1);
	}
	if (l->agent > 0)
		stop_child(l->agent, SIGKILL);
	l->agent = 0;
}

static void teardown(struct launch *l)
{
	struct bb_err err = {0};
	json_t *meta;

	stop_bottle(l);
	if (l->envw >= 0)
		close(l->envw); /* after the bottle is gone: bb-relay never
				   runs the agent without its environment */
	l->envw = -1;
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

			stop_bottle(l);
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

/* The podman/docker env file (0600, removed at teardown). */
static int write_envfile(struct launch *l, const struct bb_strv *env, struct bb_err *err)
{
	size_t len = 0;
	char *text;
	int rc;

	for (size_t i = 0; i < env->n; i++) {
		if (strchr(env->v[i], '\n'))
			return bb_errf(err, "env", "a value holds a newline, which %s env files cannot carry",
				       l->backend);
		len += strlen(env->v[i]) + 1;
	}
	text = calloc(1, len + 1);
	for (size_t i = 0; i < env->n; i++) {
		strcat(text, env->v[i]);
		strcat(text, "\n");
	}
	if (!l->envfile)
		l->envfile = path2(l->state, "agent.env");
	rc = bb_write_state_file(l->envfile, text, len, 0600, err);
	explicit_bzero(text, len);
	free(text);
	return rc;
}

static int start_agent(struct launch *l, struct bb_err *err)
{
	struct bb_strv argv = {0};

	if (agent_argv(l, &argv, err) < 0)
		return -1;
	l->b.argv = argv.v;
	if (!strcmp(l->backend, "ns")) {
		/* The agent itself waits for its environment (bb_ns_release),
		 * so the bottle is built while the sidecars start. */
		l->agent = bb_ns_start_gated(&l->b, &l->infofd, &l->envw, err);
	} else if (write_envfile(l, &l->b.env, err) < 0) {
		l->agent = -1;
	} else {
		l->agent = bb_podman_start(l->backend, &l->b, l->envfile, err);
	}
	bb_strv_free(&argv);
	l->b.argv = NULL;
	return l->agent < 0 ? -1 : 0;
}

/* Whether pipelock joins the chain, said once in the preflight.  Only
 * when egress runs (it is egress's upstream) and the sidecars are ours. */
static int pipelock_find(struct launch *l, struct bb_err *err)
{
	const char *want = getenv(PIPELOCK_ENV);

	if (!needs(l, "egress.sock") || l->o->no_sidecars)
		return 0;
	l->pipelock = bb_up_pipelock_path(&l->pipelock_why);
	if (l->pipelock) {
		fprintf(stderr, "pipelock : %s\n", l->pipelock);
		return 0;
	}
	if (want && *want && strcmp(want, "none"))
		return bb_errf(err, PIPELOCK_ENV, "%s: not an executable", want);
	fprintf(stderr, "pipelock : %s; egress runs without it\n", l->pipelock_why);
	return 0;
}

static int check_backend(const char *backend, struct bb_err *err)
{
	if (strcmp(backend, "ns") && strcmp(backend, "podman") &&
	    strcmp(backend, "docker"))
		return bb_errf(err, "--backend", "unknown backend '%s' (ns, podman, docker)",
			       backend);
	return 0;
}

static int guest_steps_planned(const struct launch *l)
{
	const json_t *prov = json_object_get(l->plan, "provider");

	return json_array_size(json_object_get(prov, "pre_copy")) > 0 ||
	       json_array_size(json_object_get(prov, "verify")) > 0;
}

/* Provider steps run in the bottle before the agent, and podman's agent
 * starts at once: both wait for the sidecars, then provision, then run. */
static int run_in_order(struct launch *l, struct bb_err *err)
{
	if (l->sidecar > 0) {
		if (wait_sockets(l, err) < 0 || (l->pipelock && pipelock_wait(l, err) < 0))
			return -1;
		timing(l, "sidecar sockets ready");
	}
	if (provision(l, err) < 0 || agent_env(l, &l->b.env, err) < 0)
		return -1;
	timing(l, "provisioned");
	if (got_signal)
		return 128 + got_signal;
	if (start_agent(l, err) < 0)
		return -1;
	timing(l, "agent started");
	if (l->envw >= 0) {
		int rc = bb_ns_release(l->envw, &l->b.env, err);

		l->envw = -1;
		if (rc < 0)
			return -1;
	}
	if (l->infofd >= 0) {
		l->inner = bb_ns_inner_pid(l->infofd);
		close(l->infofd);
		l->infofd = -1;
	}
	return wait_agent(l);
}

static int launch(struct launch *l, struct bb_err *err)
{
	const char *want = l->o->backend ? l->o->backend : jstr(l->plan, "backend");
	int sidecars;

	l->slug = jstr(l->plan, "slug");
	l->backend = *want ? want : "ns";
	if (check_backend(l->backend, err) < 0)
		return -1;
	if (!bb_slug_valid(l->slug))
		return bb_errf(err, "plan", "slug: '%s' is not a valid slug", l->slug);
	if (l->o->plan_file)
		preflight(l);
	if (pipelock_find(l, err) < 0)
		return -1;
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
	timing(l, "state written");
	sidecars = !l->o->no_sidecars && (needs(l, "egress.sock") ||
					  needs(l, "gitgate.sock") ||
					  needs(l, "supervise.sock"));
	if (sidecars) {
		if ((l->pipelock && pipelock_prepare(l, err) < 0) || start_sidecars(l, err) < 0)
			return -1;
		timing(l, "sidecars started");
	}
	l->b.slug = l->slug;
	l->b.home = l->home;
	l->b.guestdir = l->guestdir;
	l->b.rundir = l->socks;
	l->relay_path = bb_sibling("bb-relay");
	l->b.relay = l->relay_path;
	l->b.workdir = l->cwd ? BB_GUEST_HOME "/workspace" : BB_GUEST_HOME;
	bb_guest_ids(l->backend, &l->b.uid, &l->b.gid);
	if (setup_relays(l, err) < 0)
		return -1;
	if (strcmp(l->backend, "ns") || guest_steps_planned(l))
		return run_in_order(l, err);
	/* ns: build the bottle now; its agent waits for the environment
	 * while the home is provisioned and the sidecars come up. */
	if (provision_mounts(l, err) < 0 || start_agent(l, err) < 0)
		return -1;
	timing(l, "bottle started");
	if (provision_home(l, err) < 0 || agent_env(l, &l->b.env, err) < 0)
		return -1;
	timing(l, "provisioned");
	if (sidecars) {
		if (wait_sockets(l, err) < 0 || (l->pipelock && pipelock_wait(l, err) < 0))
			return -1;
		timing(l, "sidecar sockets ready");
	}
	if (got_signal)
		return 128 + got_signal;
	{
		int rc = bb_ns_release(l->envw, &l->b.env, err);

		l->envw = -1;
		if (rc < 0)
			return -1;
	}
	timing(l, "agent started");
	l->inner = bb_ns_inner_pid(l->infofd);
	close(l->infofd);
	l->infofd = -1;
	return wait_agent(l);
}

int bb_up_launch(const struct bb_up_opts *o, struct bb_err *err)
{
	struct launch l;
	int code;

	memset(&l, 0, sizeof(l));
	l.o = o;
	l.infofd = l.envw = -1;
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
	free(l.socks);
	free(l.home);
	free(l.guestdir);
	free(l.envfile);
	free(l.cwd);
	free(l.relay_path);
	free(l.pipelock);
	bb_strv_free(&l.b.env);
	json_decref(l.plan);
	return code;
}
