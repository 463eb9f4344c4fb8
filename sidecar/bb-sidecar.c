/* bb-sidecar: supervise a bottle's sidecar daemons (bb-sidecar(8)). */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#ifdef __linux__
#include <sys/prctl.h>
#endif

#include "daemons.h"
#include "cli.h"
#include "err.h"
#include "file.h"
#include "proc.h"
#include "supervisor.h"

#define GRACE_DEFAULT_MS 5000
#define GRACE_MAX_MS 300000

static const char usage[] =
	"usage: bb-sidecar [-dhn] [-g grace] [-l logdir] [-p pidfile] "
	"daemons-file\n";

static int parse_grace(const char *s, int *ms)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0) || v * 1000 > GRACE_MAX_MS)
		return -1;
	*ms = (int)(v * 1000 + 0.5);
	return 0;
}

/* SIGTERM, so a normal shutdown, when our parent (bb-up) dies, however
 * it dies: the daemons must not outlive the bottle's owner. */
static void die_with_parent(void)
{
#ifdef __linux__
	pid_t parent = getppid();

	if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0)
		bb_failx(BB_EXIT_INPUT, "-d: prctl: %s", strerror(errno));
	if (getppid() != parent)
		bb_failx(BB_EXIT_INPUT, "-d: parent already exited");
#else
	bb_failx(BB_EXIT_USAGE, "-d: only supported on Linux");
#endif
}

int main(int argc, char **argv)
{
	struct bb_supervisor_opts o = {.grace_ms = GRACE_DEFAULT_MS};
	struct bb_daemons ds;
	struct bb_err err = {0};
	int ch, check_only = 0, with_parent = 0, rc;

	bb_prog_init(argv[0]);
	bb_std_fds_ensure();
	while ((ch = getopt(argc, argv, "dhng:l:p:")) != -1) {
		switch (ch) {
		case 'd':
			with_parent = 1;
			break;
		case 'h':
			bb_usage(usage, BB_EXIT_OK);
		case 'n':
			check_only = 1;
			break;
		case 'g':
			if (parse_grace(optarg, &o.grace_ms) < 0)
				bb_failx(BB_EXIT_USAGE,
					 "-g: must be a number of seconds "
					 "from 0 to %d, not \"%s\"",
					 GRACE_MAX_MS / 1000, optarg);
			break;
		case 'l':
			o.logdir = optarg;
			break;
		case 'p':
			o.pidfile = optarg;
			break;
		default:
			bb_usage(usage, BB_EXIT_USAGE);
		}
	}
	if (argc - optind != 1) {
		bb_usage(usage, BB_EXIT_USAGE);
	}
	if (bb_daemons_load(argv[optind], &ds, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	if (check_only) {
		bb_daemons_free(&ds);
		return BB_EXIT_OK;
	}
	if (with_parent)
		die_with_parent();
	if (o.logdir && bb_mkdir_p(o.logdir, 0700, &err) < 0) {
		bb_daemons_free(&ds);
		bb_fail(&err, BB_EXIT_INPUT);
	}
	rc = bb_supervisor_run(&ds, &o, &err);
	bb_daemons_free(&ds);
	if (rc < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	return rc;
}
