/* supervisor: run a set of daemons, pump their output, restart them on
 * request or crash, forward reloads, shut them down (bb-sidecar(8)). */
#ifndef BB_SUPERVISOR_H
#define BB_SUPERVISOR_H

#include "daemons.h"
#include "err.h"

struct bb_supervisor_opts {
	const char *logdir;  /* NAME.log per daemon; NULL: our stderr */
	const char *pidfile; /* our pid, written once every daemon runs */
	int grace_ms;        /* SIGTERM to SIGKILL */
};

/* Runs until every daemon has exited (after SIGTERM or SIGINT, or
 * because none is left to restart).  Returns the exit code: the largest
 * positive exit status of a daemon's last run, else 0; or -1 with err
 * set when the supervisor could not start (the daemons that did start
 * are stopped first). */
int bb_supervisor_run(const struct bb_daemons *ds,
		      const struct bb_supervisor_opts *o, struct bb_err *err);

#endif
