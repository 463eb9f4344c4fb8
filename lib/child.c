#include "child.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

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

static int is_kept(const struct bb_child *sp, int fd)
{
	for (size_t i = 0; i < sp->nkeep; i++)
		if (sp->keep[i] == fd)
			return 1;
	return 0;
}

/* In the child, between fork and exec: only async-signal-safe calls. */
static void close_other_fds(const struct bb_child *sp)
{
	int max = (int)sysconf(_SC_OPEN_MAX);

	if (max < 0 || max > 65536)
		max = 65536;
	for (int fd = 3; fd < max; fd++)
		if (!is_kept(sp, fd))
			close(fd);
	for (size_t i = 0; i < sp->nkeep; i++) {
		int fl = fcntl(sp->keep[i], F_GETFD);

		if (fl >= 0)
			fcntl(sp->keep[i], F_SETFD, fl & ~FD_CLOEXEC);
	}
}

static void child_exec(const struct bb_child *sp)
{
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	signal(SIGPIPE, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	if (sp->pdeathsig)
		prctl(PR_SET_PDEATHSIG, sp->pdeathsig);
	if (sp->new_pgrp)
		setpgid(0, 0);
	if (sp->fd_in >= 0 && dup2(sp->fd_in, 0) < 0)
		_exit(127);
	if (sp->fd_out >= 0 && dup2(sp->fd_out, 1) < 0)
		_exit(127);
	if (sp->fd_err >= 0 && dup2(sp->fd_err, 2) < 0)
		_exit(127);
	close_other_fds(sp);
	execve(sp->argv[0], sp->argv, sp->envp ? sp->envp : environ);
	_exit(127);
}

pid_t bb_child_start(const struct bb_child *sp, struct bb_err *err)
{
	pid_t pid;

	if (access(sp->argv[0], X_OK) != 0)
		return bb_errf(err, sp->argv[0], "cannot execute: %s",
			       strerror(errno));
	pid = fork();
	if (pid < 0)
		return bb_errf(err, sp->argv[0], "fork: %s", strerror(errno));
	if (pid == 0)
		child_exec(sp);
	if (sp->new_pgrp)
		setpgid(pid, pid); /* both sides, so no race with a kill */
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
