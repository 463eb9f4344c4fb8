#include "gitcmd.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int env_push(struct gg_env *env, char *kv)
{
	if (env->n + 2 > env->cap) {
		size_t cap = env->cap ? env->cap * 2 : 16;
		char **nv = realloc(env->v, cap * sizeof(*nv));

		if (!nv) {
			free(kv);
			return -1;
		}
		env->v = nv;
		env->cap = cap;
	}
	env->v[env->n++] = kv;
	env->v[env->n] = NULL;
	return 0;
}

int gg_env_set(struct gg_env *env, const char *key, const char *val)
{
	size_t kl = strlen(key), vl = strlen(val);
	char *kv = malloc(kl + vl + 2);

	if (!kv)
		return -1;
	memcpy(kv, key, kl);
	kv[kl] = '=';
	memcpy(kv + kl + 1, val, vl + 1);
	for (size_t i = 0; i < env->n; i++) {
		if (strncmp(env->v[i], kv, kl + 1) == 0) {
			free(env->v[i]);
			env->v[i] = kv;
			return 0;
		}
	}
	return env_push(env, kv);
}

int gg_env_base(struct gg_env *env)
{
	const char *path = getenv("PATH"), *home = getenv("HOME");

	memset(env, 0, sizeof(*env));
	if (gg_env_set(env, "PATH", path ? path : "/usr/bin:/bin") < 0 ||
	    gg_env_set(env, "HOME", home ? home : "/") < 0 ||
	    gg_env_set(env, "LC_ALL", "C") < 0 ||
	    gg_env_set(env, "GIT_CONFIG_NOSYSTEM", "1") < 0 ||
	    gg_env_set(env, "GIT_CONFIG_GLOBAL", "/dev/null") < 0 ||
	    gg_env_set(env, "GIT_TERMINAL_PROMPT", "0") < 0)
		return -1;
	return 0;
}

void gg_env_free(struct gg_env *env)
{
	for (size_t i = 0; i < env->n; i++)
		free(env->v[i]);
	free(env->v);
	memset(env, 0, sizeof(*env));
}

pid_t gg_spawn(const char *const argv[], const struct gg_env *env, int in,
	       int out, int errfd, struct bb_err *err)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, all;
	pid_t pid;
	int rc;
	char *empty[] = {NULL};

	posix_spawn_file_actions_init(&fa);
	posix_spawnattr_init(&at);
	/* The child starts with default signal dispositions and no mask,
	 * whatever the server did with SIGPIPE and SIGCHLD. */
	sigemptyset(&none);
	sigfillset(&all);
	posix_spawnattr_setsigmask(&at, &none);
	posix_spawnattr_setsigdefault(&at, &all);
	/* Its own process group, so a deadline kills ssh under git too. */
	posix_spawnattr_setpgroup(&at, 0);
	posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					      POSIX_SPAWN_SETSIGDEF |
					      POSIX_SPAWN_SETPGROUP);
	if (in >= 0)
		posix_spawn_file_actions_adddup2(&fa, in, 0);
	else
		posix_spawn_file_actions_addopen(&fa, 0, "/dev/null",
						 O_RDONLY, 0);
	if (out >= 0)
		posix_spawn_file_actions_adddup2(&fa, out, 1);
	else
		posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
						 O_WRONLY, 0);
	if (errfd >= 0)
		posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	else
		posix_spawn_file_actions_addopen(&fa, 2, "/dev/null",
						 O_WRONLY, 0);
	char *const *av;

	/* posix_spawn takes char *const[] for historical reasons; it does
	 * not write through it. */
	memcpy(&av, &argv, sizeof(av));
	rc = posix_spawnp(&pid, argv[0], &fa, &at, av, env ? env->v : empty);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&at);
	if (rc != 0) {
		bb_errf(err, argv[0], "could not run: %s", strerror(rc));
		return -1;
	}
	return pid;
}

static long now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static int decode_status(int st)
{
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 255;
}

int gg_wait(pid_t pid, int timeout_s, int *timed_out)
{
	long deadline = now_ms() + timeout_s * 1000L;
	int st;

	if (timed_out)
		*timed_out = 0;
	for (;;) {
		pid_t r = waitpid(pid, &st, timeout_s > 0 ? WNOHANG : 0);

		if (r == pid)
			return decode_status(st);
		if (r < 0 && errno != EINTR)
			return 255;
		if (r == 0 && now_ms() >= deadline) {
			kill(-pid, SIGKILL);
			if (timed_out)
				*timed_out = 1;
			while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
				;
			return decode_status(st);
		}
		if (r == 0)
			usleep(10000);
	}
}

struct sink {
	int fd;
	char *buf;
	size_t len, max;
};

static int sink_read(struct sink *s)
{
	char tmp[16384];
	ssize_t r = read(s->fd, tmp, sizeof(tmp));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		close(s->fd);
		s->fd = -1;
		return 0;
	}
	if (s->len < s->max) {
		size_t take = (size_t)r;

		if (take > s->max - s->len)
			take = s->max - s->len;
		memcpy(s->buf + s->len, tmp, take);
		s->len += take;
	}
	return 0;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static int make_pipe(int p[2])
{
	return pipe2(p, O_CLOEXEC);
}

int gg_run(const char *const argv[], const struct gg_env *env,
	   const char *in, size_t in_len, size_t max, int timeout_s,
	   struct gg_out *out, struct bb_err *err)
{
	int pin[2] = {-1, -1}, pout[2] = {-1, -1}, perr[2] = {-1, -1};
	struct sink so = {-1, NULL, 0, max}, se = {-1, NULL, 0, max};
	long deadline = now_ms() + timeout_s * 1000L;
	size_t off = 0;
	pid_t pid;

	memset(out, 0, sizeof(*out));
	so.buf = malloc(max + 1);
	se.buf = malloc(max + 1);
	if (!so.buf || !se.buf || (in && make_pipe(pin) < 0) ||
	    make_pipe(pout) < 0 || make_pipe(perr) < 0) {
		bb_errf(err, argv[0], "could not run: %s", strerror(errno));
		goto fail;
	}
	pid = gg_spawn(argv, env, pin[0], pout[1], perr[1], err);
	close_fd(&pin[0]);
	close_fd(&pout[1]);
	close_fd(&perr[1]);
	if (pid < 0)
		goto fail;
	so.fd = pout[0];
	se.fd = perr[0];
	if (pin[1] >= 0)
		fcntl(pin[1], F_SETFL, O_NONBLOCK);
	if (pin[1] >= 0 && in_len == 0)
		close_fd(&pin[1]);
	while (so.fd >= 0 || se.fd >= 0) {
		struct pollfd pf[3];
		int n = 0, wait_ms = -1;

		pf[n++] = (struct pollfd){.fd = so.fd, .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = se.fd, .events = POLLIN};
		pf[n++] = (struct pollfd){.fd = pin[1], .events = POLLOUT};
		if (timeout_s > 0) {
			long left = deadline - now_ms();

			if (left <= 0) {
				kill(-pid, SIGKILL);
				out->timed_out = 1;
				break;
			}
			wait_ms = (int)left;
		}
		if (poll(pf, (nfds_t)n, wait_ms) < 0 && errno != EINTR)
			break;
		if (so.fd >= 0 && pf[0].revents)
			sink_read(&so);
		if (se.fd >= 0 && pf[1].revents)
			sink_read(&se);
		if (pin[1] >= 0 && pf[2].revents) {
			ssize_t w = write(pin[1], in + off, in_len - off);

			if (w > 0)
				off += (size_t)w;
			if ((w < 0 && errno != EAGAIN && errno != EINTR) ||
			    off == in_len)
				close_fd(&pin[1]);
		}
	}
	close_fd(&pin[1]);
	close_fd(&so.fd);
	close_fd(&se.fd);
	{
		int to = 0;

		out->status = gg_wait(pid, out->timed_out ? 0 : 5, &to);
		out->timed_out |= to;
	}
	so.buf[so.len] = '\0';
	se.buf[se.len] = '\0';
	out->out = so.buf;
	out->out_len = so.len;
	out->errout = se.buf;
	out->err_len = se.len;
	return 0;
fail:
	close_fd(&pin[0]);
	close_fd(&pin[1]);
	close_fd(&pout[0]);
	close_fd(&pout[1]);
	close_fd(&perr[0]);
	close_fd(&perr[1]);
	free(so.buf);
	free(se.buf);
	return -1;
}

void gg_out_free(struct gg_out *out)
{
	free(out->out);
	free(out->errout);
	memset(out, 0, sizeof(*out));
}

char *gg_sh_quote(const char *word)
{
	size_t n = 2;
	char *q, *p;

	for (const char *s = word; *s; s++)
		n += *s == '\'' ? 4 : 1;
	q = malloc(n + 1);
	if (!q)
		return NULL;
	p = q;
	*p++ = '\'';
	for (const char *s = word; *s; s++) {
		if (*s == '\'') {
			memcpy(p, "'\\''", 4);
			p += 4;
		} else {
			*p++ = *s;
		}
	}
	*p++ = '\'';
	*p = '\0';
	return q;
}
