/* bb-relay: the first process in a bottle.  Binds the loopback relays to
 * the sidecars' unix sockets, serves them from a child, and execs the
 * agent with the environment read from a descriptor (never from argv). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "file.h"
#include "relay.h"

#define USAGE "usage: bb-relay [-e fd] [-l port:socket] ... -- command [arg ...]\n"
#define MAX_RELAYS 16

extern char **environ;

/* NUL-separated NAME=VALUE entries, as bb-up writes them. */
static char **read_env(int fd)
{
	struct bb_err err = {0};
	size_t len, n = 0;
	char *buf, **env;

	if (bb_read_fd(fd, "environment", 1u << 20, &buf, &len, &err) < 0)
		bb_fail(&err, 1);
	close(fd);
	/* bb-up sends the environment once the sidecars are ready, or
	 * closes the pipe having given up: never run the agent without it. */
	if (len == 0)
		bb_failx(1, "environment: nothing on descriptor %d", fd);
	for (size_t i = 0; i < len; i++)
		n += buf[i] == '\0';
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		abort();
	n = 0;
	for (size_t i = 0; i < len; i += strlen(buf + i) + 1)
		if (strchr(buf + i, '='))
			env[n++] = buf + i;
	env[n] = NULL;
	return env; /* lives until exec */
}

static void serve(struct bb_relay *rs, int n, pid_t agent)
{
	struct bb_err err = {0};

	/* The relay lives exactly as long as the agent's process; one that
	 * exits before the death signal is armed leaves us reparented. */
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != agent)
		_exit(0);
	prctl(PR_SET_NAME, "bb-relay");
	/* A peer that resets must cost one connection, not every relay. */
	signal(SIGPIPE, SIG_IGN);
	if (bb_relay_serve(rs, n, &err) < 0)
		bb_fail(&err, 1);
	_exit(0);
}

int main(int argc, char **argv)
{
	struct bb_relay rs[MAX_RELAYS];
	struct bb_err err = {0};
	int n = 0, envfd = -1, c;
	char **env = NULL;
	pid_t pid;

	bb_prog_init(argv[0]);
	while ((c = getopt(argc, argv, "+he:l:")) != -1) {
		switch (c) {
		case 'h':
			bb_usage(USAGE, BB_EXIT_OK);
		case 'e':
			envfd = atoi(optarg);
			if (envfd < 3)
				bb_failx(2, "-e: descriptor must be 3 or more");
			break;
		case 'l':
			if (n == MAX_RELAYS)
				bb_failx(2, "-l: at most %d relays", MAX_RELAYS);
			if (bb_relay_parse(optarg, &rs[n], &err) < 0)
				bb_fail(&err, 2);
			n++;
			break;
		default:
			bb_usage(USAGE, BB_EXIT_USAGE);
		}
	}
	if (optind >= argc)
		bb_usage(USAGE, BB_EXIT_USAGE);
	for (int i = 0; i < n; i++)
		if (bb_relay_bind(&rs[i], &err) < 0)
			bb_fail(&err, 1);
	if (envfd >= 0)
		env = read_env(envfd);
	if (n > 0) {
		pid_t agent = getpid();

		pid = fork();
		if (pid < 0)
			bb_failx(1, "fork: %s", strerror(errno));
		if (pid == 0)
			serve(rs, n, agent);
		for (int i = 0; i < n; i++)
			close(rs[i].fd);
	}
	if (env)
		environ = env;
	execvp(argv[optind], argv + optind);
	bb_failx(127, "%s: %s", argv[optind], strerror(errno));
}
