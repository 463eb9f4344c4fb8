#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif
#include <time.h>
#include <unistd.h>

extern char **environ;

static const struct {
	int sig;
	const char *name;
} signals[] = {
	{SIGHUP, "SIGHUP"},   {SIGINT, "SIGINT"},   {SIGQUIT, "SIGQUIT"},
	{SIGILL, "SIGILL"},   {SIGABRT, "SIGABRT"}, {SIGFPE, "SIGFPE"},
	{SIGKILL, "SIGKILL"}, {SIGSEGV, "SIGSEGV"}, {SIGPIPE, "SIGPIPE"},
	{SIGALRM, "SIGALRM"}, {SIGTERM, "SIGTERM"}, {SIGUSR1, "SIGUSR1"},
	{SIGUSR2, "SIGUSR2"}, {SIGBUS, "SIGBUS"},   {SIGCHLD, "SIGCHLD"},
};

/* Signals a caller may name in configuration: the others make no sense
 * to forward or to trigger on. */
static const int nameable[] = {SIGHUP,	SIGINT,	 SIGQUIT, SIGTERM,
			       SIGKILL, SIGUSR1, SIGUSR2};

const char *bb_signal_name(int sig)
{
	static char buf[32];

	for (size_t i = 0; i < sizeof(signals) / sizeof(signals[0]); i++)
		if (signals[i].sig == sig)
			return signals[i].name;
	snprintf(buf, sizeof(buf), "signal %d", sig);
	return buf;
}

int bb_signal_number(const char *name)
{
	for (size_t i = 0; i < sizeof(nameable) / sizeof(nameable[0]); i++) {
		const char *n = bb_signal_name(nameable[i]);

		if (strcmp(name, n) == 0 || strcmp(name, n + 3) == 0)
			return nameable[i];
	}
	return 0;
}

void bb_status_describe(int wstatus, char *buf, size_t n)
{
	if (WIFEXITED(wstatus))
		snprintf(buf, n, "exited with status %d",
			 WEXITSTATUS(wstatus));
	else if (WIFSIGNALED(wstatus))
		snprintf(buf, n, "killed by %s",
			 bb_signal_name(WTERMSIG(wstatus)));
	else
		snprintf(buf, n, "stopped (status 0x%x)", (unsigned)wstatus);
}

int bb_status_code(int wstatus)
{
	return WIFEXITED(wstatus) ? WEXITSTATUS(wstatus) : 0;
}

int64_t bb_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void bb_std_fds_ensure(void)
{
	for (int fd = 0; fd < 3; fd++) {
		if (fcntl(fd, F_GETFD) >= 0 || errno != EBADF)
			continue;
		int nfd = open("/dev/null", fd == 0 ? O_RDONLY : O_WRONLY);

		if (nfd >= 0 && nfd != fd) {
			dup2(nfd, fd);
			close(nfd);
		}
	}
}

static size_t name_len(const char *entry)
{
	const char *eq = strchr(entry, '=');

	return eq ? (size_t)(eq - entry) : strlen(entry);
}

char **bb_env_build(char *const *spec,
		    void (*missing)(const char *name, void *ctx), void *ctx)
{
	size_t n = 0, k = 0;
	char **env;

	while (spec && spec[n])
		n++;
	env = calloc(n + 1, sizeof(*env));
	if (!env)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *e = spec[i];
		const char *val;
		size_t nl = name_len(e);

		if (e[nl] == '=') {
			env[k] = strdup(e);
		} else if ((val = getenv(e)) != NULL) {
			size_t len = nl + 1 + strlen(val) + 1;

			env[k] = malloc(len);
			if (env[k])
				snprintf(env[k], len, "%s=%s", e, val);
		} else {
			if (missing)
				missing(e, ctx);
			continue;
		}
		if (!env[k]) {
			bb_env_free(env);
			return NULL;
		}
		k++;
	}
	return env;
}

void bb_env_free(char **env)
{
	if (!env)
		return;
	for (char **p = env; *p; p++)
		free(*p);
	free(env);
}

/* The first entry of environ with the prefix and a value, or NULL. */
static char *find_prefixed(const char *prefix, size_t pl)
{
	for (char **e = environ; e && *e; e++)
		if (strncmp(*e, prefix, pl) == 0 && strchr(*e, '='))
			return *e;
	return NULL;
}

void bb_env_scrub(const char *prefix)
{
	size_t pl = strlen(prefix);
	char *hit;

	while ((hit = find_prefixed(prefix, pl)) != NULL) {
		char *eq = strchr(hit, '=');
		char *name = strndup(hit, (size_t)(eq - hit));

		explicit_bzero(eq + 1, strlen(eq + 1));
		if (!name || unsetenv(name) < 0) {
			/* Cannot unset: the value is gone; hide the name too
			 * so the loop ends. */
			explicit_bzero(hit, (size_t)(eq - hit));
		}
		free(name);
	}
}

static int file_actions(posix_spawn_file_actions_t *fa,
			const struct bb_spawn_opts *o)
{
	int rc = 0;

	if (o->fd_in >= 0)
		rc = rc ? rc : posix_spawn_file_actions_adddup2(fa, o->fd_in, 0);
	if (o->fd_out >= 0)
		rc = rc ? rc
			: posix_spawn_file_actions_adddup2(fa, o->fd_out, 1);
	if (o->fd_err >= 0)
		rc = rc ? rc
			: posix_spawn_file_actions_adddup2(fa, o->fd_err, 2);
#if defined(__GLIBC__) && (__GLIBC__ > 2 || __GLIBC_MINOR__ >= 34)
	/* Our own descriptors are close-on-exec already; this also stops
	 * whatever our parent leaked into us from reaching the child. */
	rc = rc ? rc : posix_spawn_file_actions_addclosefrom_np(fa, 3);
#endif
	return rc;
}

static const int reset[] = {SIGHUP,  SIGINT,  SIGQUIT, SIGTERM,
			    SIGUSR1, SIGUSR2, SIGPIPE, SIGCHLD,
			    SIGALRM, SIGTSTP, SIGTTIN, SIGTTOU};
#define NRESET (sizeof(reset) / sizeof(reset[0]))

static int spawn_attrs(posix_spawnattr_t *at, const struct bb_spawn_opts *o)
{
	sigset_t none, def;
	short flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
	int rc;

	sigemptyset(&none);
	sigemptyset(&def);
	for (size_t i = 0; i < NRESET; i++)
		sigaddset(&def, reset[i]);
	if (o->own_pgroup)
		flags |= POSIX_SPAWN_SETPGROUP;
	rc = posix_spawnattr_setflags(at, flags);
	rc = rc ? rc : posix_spawnattr_setsigmask(at, &none);
	rc = rc ? rc : posix_spawnattr_setsigdefault(at, &def);
	rc = rc ? rc : posix_spawnattr_setpgroup(at, 0);
	return rc;
}

#ifdef __linux__
/* argv[0] through our PATH, as execvp would, but before the fork. */
static int resolve_exe(const char *file, char *out, size_t n)
{
	const char *path = getenv("PATH");
	int last = ENOENT;

	if (strchr(file, '/')) {
		snprintf(out, n, "%s", file);
		return access(out, X_OK) == 0 ? 0 : errno;
	}
	if (!path)
		path = "/usr/bin:/bin";
	while (*path) {
		size_t len = strcspn(path, ":");

		snprintf(out, n, "%.*s%s%s", (int)len, len ? path : ".",
			 len ? "/" : "", file);
		if (access(out, X_OK) == 0)
			return 0;
		if (errno != ENOENT)
			last = errno;
		path += len + (path[len] == ':');
	}
	return last;
}

/* In the child between fork and exec: async-signal-safe calls only. */
static _Noreturn void child_fail(int ep, int e)
{
	if (write(ep, &e, sizeof(e)) < 0) {
		/* the parent sees EOF and a dead child */
	}
	_exit(127);
}

static _Noreturn void forked_child(const struct bb_spawn_opts *o,
				   const char *exe, pid_t parent, int ep,
				   const sigset_t *mask)
{
	struct sigaction dfl;

	memset(&dfl, 0, sizeof(dfl));
	dfl.sa_handler = SIG_DFL;
	for (size_t i = 0; i < NRESET; i++)
		sigaction(reset[i], &dfl, NULL);
	if (o->pdeathsig && prctl(PR_SET_PDEATHSIG, o->pdeathsig) < 0)
		child_fail(ep, errno);
	if (getppid() != parent)
		child_fail(ep, ESRCH);
	if (o->own_pgroup && setpgid(0, 0) < 0)
		child_fail(ep, errno);
	if ((o->fd_in >= 0 && dup2(o->fd_in, 0) < 0) ||
	    (o->fd_out >= 0 && dup2(o->fd_out, 1) < 0) ||
	    (o->fd_err >= 0 && dup2(o->fd_err, 2) < 0))
		child_fail(ep, errno);
	/* Close-on-exec rather than close: ep must live until the exec. */
	if (close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) < 0)
		child_fail(ep, errno);
	for (size_t i = 0; i < o->nkeep; i++)
		if (o->keep[i] > 2 && o->keep[i] != ep &&
		    fcntl(o->keep[i], F_SETFD, 0) < 0)
			child_fail(ep, errno);
	sigprocmask(SIG_SETMASK, mask, NULL);
	execve(exe, o->argv, o->envp ? o->envp : environ);
	child_fail(ep, errno);
}

static int spawn_forked(const struct bb_spawn_opts *o, pid_t *pid,
			struct bb_err *err)
{
	char exe[PATH_MAX];
	sigset_t all, old, none;
	pid_t parent = getpid(), child;
	int ep[2], e = 0, rc;
	ssize_t r;

	if ((rc = resolve_exe(o->argv[0], exe, sizeof(exe))) != 0)
		return bb_errf(err, o->argv[0], "cannot start: %s",
			       strerror(rc));
	if (pipe2(ep, O_CLOEXEC) < 0)
		return bb_errf(err, o->argv[0], "pipe: %s", strerror(errno));
	sigfillset(&all);
	sigemptyset(&none);
	/* No handler of ours may run in the child before it resets them. */
	sigprocmask(SIG_SETMASK, &all, &old);
	child = fork();
	if (child == 0)
		forked_child(o, exe, parent, ep[1], &none);
	sigprocmask(SIG_SETMASK, &old, NULL);
	close(ep[1]);
	if (child < 0) {
		close(ep[0]);
		return bb_errf(err, o->argv[0], "fork: %s", strerror(errno));
	}
	if (o->own_pgroup)
		setpgid(child, child); /* both sides: no window for a kill */
	while ((r = read(ep[0], &e, sizeof(e))) < 0 && errno == EINTR)
		;
	close(ep[0]);
	if (r == (ssize_t)sizeof(e)) {
		while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
			;
		return bb_errf(err, o->argv[0], "cannot start: %s",
			       strerror(e));
	}
	*pid = child;
	return 0;
}
#endif

int bb_spawn(const struct bb_spawn_opts *o, pid_t *pid, struct bb_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	int rc;

	if (!o->argv || !o->argv[0])
		return bb_errf(err, NULL, "spawn: empty argv");
	if (o->pdeathsig || o->nkeep) {
#ifdef __linux__
		return spawn_forked(o, pid, err);
#else
		return bb_errf(err, o->argv[0], "pdeathsig, keep: Linux only");
#endif
	}
	if (posix_spawn_file_actions_init(&fa) != 0)
		return bb_errf(err, o->argv[0], "out of memory");
	if (posix_spawnattr_init(&at) != 0) {
		posix_spawn_file_actions_destroy(&fa);
		return bb_errf(err, o->argv[0], "out of memory");
	}
	rc = file_actions(&fa, o);
	rc = rc ? rc : spawn_attrs(&at, o);
	rc = rc ? rc
		: posix_spawnp(pid, o->argv[0], &fa, &at, o->argv,
			       o->envp ? o->envp : environ);
	posix_spawnattr_destroy(&at);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0)
		return bb_errf(err, o->argv[0], "cannot start: %s",
			       strerror(rc));
	return 0;
}

/* ---- argv and environment vectors, spawning helpers ---- */

void bb_strv_push(struct bb_strv *sv, const char *s)
{
	if (sv->n + 2 > sv->cap) {
		size_t cap = sv->cap ? sv->cap * 2 : 16;
		char **v = realloc(sv->v, cap * sizeof(*v));

		if (!v)
			abort();
		sv->v = v;
		sv->cap = cap;
	}
	sv->v[sv->n] = strdup(s);
	if (!sv->v[sv->n])
		abort();
	sv->n++;
	sv->v[sv->n] = NULL;
}

void bb_strv_pushf(struct bb_strv *sv, const char *fmt, ...)
{
	va_list ap;
	char *s;

	va_start(ap, fmt);
	if (vasprintf(&s, fmt, ap) < 0)
		abort();
	va_end(ap);
	bb_strv_push(sv, s);
	free(s);
}

static ssize_t env_index(const struct bb_strv *sv, const char *name)
{
	size_t len = strlen(name);

	for (size_t i = 0; i < sv->n; i++)
		if (strncmp(sv->v[i], name, len) == 0 && sv->v[i][len] == '=')
			return (ssize_t)i;
	return -1;
}

void bb_strv_setenv(struct bb_strv *sv, const char *name, const char *value)
{
	ssize_t i = env_index(sv, name);

	if (i < 0) {
		bb_strv_pushf(sv, "%s=%s", name, value);
		return;
	}
	free(sv->v[i]);
	if (asprintf(&sv->v[i], "%s=%s", name, value) < 0)
		abort();
}

const char *bb_strv_getenv(const struct bb_strv *sv, const char *name)
{
	ssize_t i = env_index(sv, name);

	return i < 0 ? NULL : sv->v[i] + strlen(name) + 1;
}

void bb_strv_free(struct bb_strv *sv)
{
	for (size_t i = 0; i < sv->n; i++) {
		/* Environment vectors may hold secrets: wipe before free. */
		explicit_bzero(sv->v[i], strlen(sv->v[i]));
		free(sv->v[i]);
	}
	free(sv->v);
	memset(sv, 0, sizeof(*sv));
}

void bb_child_init(struct bb_child *sp, char *const *argv)
{
	memset(sp, 0, sizeof(*sp));
	sp->argv = argv;
	sp->fd_in = sp->fd_out = sp->fd_err = -1;
}

pid_t bb_child_start(const struct bb_child *sp, struct bb_err *err)
{
	struct bb_spawn_opts o = {
		.argv = sp->argv, .envp = sp->envp, .fd_in = sp->fd_in,
		.fd_out = sp->fd_out, .fd_err = sp->fd_err,
		.own_pgroup = sp->new_pgrp, .pdeathsig = sp->pdeathsig,
		.keep = sp->keep, .nkeep = sp->nkeep,
	};
	pid_t pid;

	/* argv[0] is a path here, never looked up on PATH. */
	if (!strchr(sp->argv[0], '/') || access(sp->argv[0], X_OK) != 0)
		return bb_errf(err, sp->argv[0], "cannot execute: %s",
			       strerror(strchr(sp->argv[0], '/') ? errno : ENOENT));
	if (bb_spawn(&o, &pid, err) < 0)
		return -1;
	return pid;
}

int bb_wait_exit(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return -1;
}

/* Feed in to the child's stdin while reading its stdout: a large input
 * and output would deadlock if done one after the other. */
static int pump(int wfd, const char *in, size_t inlen, int rfd, char **out,
		size_t *outlen, size_t max, const char *label,
		struct bb_err *err)
{
	size_t off = 0, len = 0, cap = 4096;
	char *buf = malloc(cap);

	if (!buf)
		abort();
	if (inlen == 0 && wfd >= 0) {
		close(wfd);
		wfd = -1;
	}
	while (rfd >= 0) {
		struct pollfd p[2] = {{rfd, POLLIN, 0}, {wfd, POLLOUT, 0}};
		int n = poll(p, wfd >= 0 ? 2 : 1, -1);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			break;
		if (wfd >= 0 && (p[1].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(wfd, in + off, inlen - off);

			if (w > 0)
				off += (size_t)w;
			if (w < 0 || off == inlen) {
				close(wfd);
				wfd = -1;
			}
		}
		if (p[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t r;

			if (len + 1 >= cap) {
				cap *= 2;
				buf = realloc(buf, cap);
				if (!buf)
					abort();
			}
			r = read(rfd, buf + len, cap - len - 1);
			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0) {
				close(rfd);
				rfd = -1;
			} else if ((len += (size_t)r) > max) {
				close(rfd);
				if (wfd >= 0)
					close(wfd);
				free(buf);
				return bb_errf(err, label,
					       "output larger than %zu bytes", max);
			}
		}
	}
	if (wfd >= 0)
		close(wfd);
	buf[len] = '\0';
	*out = buf;
	if (outlen)
		*outlen = len;
	return 0;
}

int bb_run_pipe(char *const *argv, char *const *envp, const char *in,
		size_t inlen, char **out, size_t *outlen, size_t max,
		struct bb_err *err)
{
	int pin[2], pout[2], rc, code;
	struct bb_child sp;
	pid_t pid;
	void (*old)(int);

	if (pipe2(pin, O_CLOEXEC) < 0)
		return bb_errf(err, argv[0], "pipe: %s", strerror(errno));
	if (pipe2(pout, O_CLOEXEC) < 0) {
		close(pin[0]);
		close(pin[1]);
		return bb_errf(err, argv[0], "pipe: %s", strerror(errno));
	}
	bb_child_init(&sp, argv);
	sp.envp = envp;
	sp.fd_in = pin[0];
	sp.fd_out = pout[1];
	pid = bb_child_start(&sp, err);
	close(pin[0]);
	close(pout[1]);
	if (pid < 0) {
		close(pin[1]);
		close(pout[0]);
		return -1;
	}
	old = signal(SIGPIPE, SIG_IGN);
	rc = pump(pin[1], in, inlen, pout[0], out, outlen, max, argv[0], err);
	signal(SIGPIPE, old);
	code = bb_wait_exit(pid);
	if (rc < 0)
		return -1;
	return code;
}

const char *bb_exe_dir(void)
{
	static char dir[PATH_MAX];
	ssize_t n;
	char *slash;

	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0) {
		strcpy(dir, ".");
		return dir;
	}
	dir[n] = '\0';
	slash = strrchr(dir, '/');
	if (slash)
		*slash = '\0';
	return dir;
}

char *bb_sibling(const char *name)
{
	char *p;

	if (asprintf(&p, "%s/%s", bb_exe_dir(), name) < 0)
		abort();
	return p;
}

int bb_pid_alive(pid_t pid)
{
	return pid > 0 && (kill(pid, 0) == 0 || errno == EPERM);
}
