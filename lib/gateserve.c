#include "gateserve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_LISTEN 8

static int sig_pipe[2] = {-1, -1};

static void on_signal(int sig)
{
	int e = errno;
	unsigned char b = (unsigned char)sig;

	/* Record only; the loop acts. */
	if (write(sig_pipe[1], &b, 1) < 0) {
	}
	errno = e;
}

/* Split "HOST:PORT" / "[V6]:PORT" into host and port strings. */
static int split_hostport(const char *addr, char *host, size_t hl,
			  char *port, size_t pl)
{
	const char *colon;

	if (addr[0] == '[') {
		const char *end = strchr(addr, ']');

		if (!end || end[1] != ':')
			return -1;
		snprintf(host, hl, "%.*s", (int)(end - addr - 1), addr + 1);
		colon = end + 1;
	} else {
		colon = strrchr(addr, ':');
		if (!colon || strchr(addr, ':') != colon)
			return -1;
		snprintf(host, hl, "%.*s", (int)(colon - addr), addr);
	}
	snprintf(port, pl, "%s", colon + 1);
	return host[0] && port[0] ? 0 : -1;
}

static struct addrinfo *resolve(const char *addr, struct bb_err *err)
{
	struct addrinfo hints = {0}, *ai = NULL;
	char host[256], port[16];
	char *end;
	long p;

	if (split_hostport(addr, host, sizeof(host), port, sizeof(port)) < 0) {
		bb_errf(err, "--listen",
			"'%s' is not unix:PATH, HOST:PORT or [V6]:PORT", addr);
		return NULL;
	}
	p = strtol(port, &end, 10);
	if (*end || p < 0 || p > 65535) {
		bb_errf(err, "--listen", "port in '%s' must be 0 to 65535",
			addr);
		return NULL;
	}
	hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE;
	hints.ai_socktype = SOCK_STREAM;
	if (getaddrinfo(host, port, &hints, &ai) != 0 || !ai) {
		bb_errf(err, "--listen",
			"'%s' needs a numeric IP address (the agent-facing "
			"one)",
			addr);
		return NULL;
	}
	return ai;
}

static int wildcard(const struct addrinfo *ai)
{
	if (ai->ai_family == AF_INET)
		return ((const struct sockaddr_in *)(const void *)ai->ai_addr)
			       ->sin_addr.s_addr == htonl(INADDR_ANY);
	if (ai->ai_family == AF_INET6)
		return IN6_IS_ADDR_UNSPECIFIED(
			&((const struct sockaddr_in6 *)(const void *)ai->ai_addr)
				 ->sin6_addr);
	return 0;
}

int gg_listen_check(const char *addr, struct bb_err *err)
{
	struct addrinfo *ai;
	int rc = 0;

	if (strncmp(addr, "unix:", 5) == 0) {
		if (!addr[5] ||
		    strlen(addr + 5) >= sizeof(((struct sockaddr_un *)0)->sun_path))
			return bb_errf(err, "--listen",
				       "unix socket path empty or too long");
		return 0;
	}
	ai = resolve(addr, err);
	if (!ai)
		return -1;
	if (wildcard(ai))
		rc = bb_errf(err, "--listen",
			     "'%s' binds every interface; give the address "
			     "the agent reaches",
			     addr);
	freeaddrinfo(ai);
	return rc;
}

static int listen_unix(const char *path, struct bb_err *err)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0)
		return bb_errf(err, path, "socket: %s", strerror(errno));
	unlink(path);
	/* Access is the directory's business (the bottle's runtime dir). */
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(path, 0666) < 0 || listen(fd, 64) < 0) {
		int e = errno;

		close(fd);
		return bb_errf(err, path, "could not listen: %s", strerror(e));
	}
	return fd;
}

static int listen_tcp(const char *addr, struct bb_err *err)
{
	struct addrinfo *ai = resolve(addr, err);
	int fd, one = 1;

	if (!ai)
		return -1;
	fd = socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 64) < 0) {
		int e = errno;

		if (fd >= 0)
			close(fd);
		freeaddrinfo(ai);
		return bb_errf(err, addr, "could not listen: %s", strerror(e));
	}
	freeaddrinfo(ai);
	return fd;
}

static void peer_name(int fd, char *buf, size_t len)
{
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	char host[INET6_ADDRSTRLEN] = "?";

	if (getpeername(fd, (struct sockaddr *)&ss, &sl) < 0 ||
	    ss.ss_family == AF_UNIX) {
		snprintf(buf, len, "unix");
		return;
	}
	getnameinfo((struct sockaddr *)&ss, sl, host, sizeof(host), NULL, 0,
		    NI_NUMERICHOST);
	snprintf(buf, len, "%s", host);
}

static void child_signals(void)
{
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGHUP, SIG_DFL);
	signal(SIGCHLD, SIG_DFL);
	signal(SIGPIPE, SIG_IGN);
}

struct server {
	const struct gg_serve_cfg *cfg;
	int fds[MAX_LISTEN];
	size_t nfds;
	pid_t *kids;
	int nkids;
	int stopping;
};

static void reap(struct server *sv)
{
	pid_t pid;
	int st;

	while ((pid = waitpid(-1, &st, WNOHANG)) > 0) {
		for (int i = 0; i < sv->nkids; i++) {
			if (sv->kids[i] == pid) {
				sv->kids[i] = sv->kids[--sv->nkids];
				break;
			}
		}
	}
}

static void accept_one(struct server *sv, int lfd)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	char peer[64];
	pid_t pid;

	if (fd < 0)
		return;
	peer_name(fd, peer, sizeof(peer));
	pid = fork();
	if (pid < 0) {
		gg_log("fork: %s", strerror(errno));
		close(fd);
		return;
	}
	if (pid == 0) {
		for (size_t i = 0; i < sv->nfds; i++)
			close(sv->fds[i]);
		close(sig_pipe[0]);
		close(sig_pipe[1]);
		child_signals();
		gg_conn_serve(sv->cfg, fd, peer);
		_exit(0);
	}
	close(fd);
	sv->kids[sv->nkids++] = pid;
}

static void shutdown_server(struct server *sv)
{
	time_t end = time(NULL) + 5;

	for (size_t i = 0; i < sv->nfds; i++)
		close(sv->fds[i]);
	for (size_t i = 0; i < sv->cfg->nlisten; i++)
		if (strncmp(sv->cfg->listen[i], "unix:", 5) == 0)
			unlink(sv->cfg->listen[i] + 5);
	for (int i = 0; i < sv->nkids; i++)
		kill(sv->kids[i], SIGTERM);
	while (sv->nkids > 0 && time(NULL) < end) {
		reap(sv);
		if (sv->nkids)
			usleep(20000);
	}
	for (int i = 0; i < sv->nkids; i++)
		kill(sv->kids[i], SIGKILL);
	while (sv->nkids > 0 && waitpid(-1, NULL, 0) > 0)
		reap(sv);
}

static int open_listeners(struct server *sv, struct bb_err *err)
{
	for (size_t i = 0; i < sv->cfg->nlisten && i < MAX_LISTEN; i++) {
		const char *a = sv->cfg->listen[i];
		int fd = strncmp(a, "unix:", 5) == 0 ? listen_unix(a + 5, err)
						     : listen_tcp(a, err);

		if (fd < 0)
			return -1;
		fcntl(fd, F_SETFL, O_NONBLOCK);
		sv->fds[sv->nfds++] = fd;
		gg_log("listening on %s", a);
	}
	return 0;
}

static int loop(struct server *sv)
{
	while (!sv->stopping) {
		struct pollfd pf[MAX_LISTEN + 1];
		size_t n = 0;
		int accepting = sv->nkids < sv->cfg->max_conns;

		pf[n++] = (struct pollfd){.fd = sig_pipe[0], .events = POLLIN};
		for (size_t i = 0; i < sv->nfds; i++)
			pf[n++] = (struct pollfd){
				.fd = accepting ? sv->fds[i] : -1,
				.events = POLLIN};
		if (poll(pf, n, -1) < 0 && errno != EINTR)
			return -1;
		if (pf[0].revents) {
			unsigned char b;

			while (read(sig_pipe[0], &b, 1) == 1) {
				if (b == SIGTERM || b == SIGINT) {
					gg_log("shutting down (%s)",
					       b == SIGTERM ? "SIGTERM"
							    : "SIGINT");
					sv->stopping = 1;
				}
			}
		}
		reap(sv);
		for (size_t i = 1; i < n && !sv->stopping; i++)
			if (pf[i].fd >= 0 && (pf[i].revents & POLLIN) &&
			    sv->nkids < sv->cfg->max_conns)
				accept_one(sv, pf[i].fd);
	}
	return 0;
}

int gg_serve(const struct gg_serve_cfg *cfg, struct bb_err *err)
{
	struct server sv = {.cfg = cfg};
	struct sigaction sa = {0};
	int rc;

	sv.kids = calloc((size_t)cfg->max_conns + 1, sizeof(*sv.kids));
	if (!sv.kids || pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		free(sv.kids);
		return bb_errf(err, "serve", "out of resources");
	}
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGCHLD, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	rc = open_listeners(&sv, err);
	if (rc == 0)
		rc = loop(&sv);
	if (rc < 0 && !err->set)
		bb_errf(err, "serve", "poll: %s", strerror(errno));
	shutdown_server(&sv);
	close(sig_pipe[0]);
	close(sig_pipe[1]);
	free(sv.kids);
	return rc;
}
