#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
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
	if (prctl(PR_SET_PDEATHSIG, o->pdeathsig) < 0)
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
	if (o->pdeathsig) {
#ifdef __linux__
		return spawn_forked(o, pid, err);
#else
		return bb_errf(err, o->argv[0], "pdeathsig: Linux only");
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
