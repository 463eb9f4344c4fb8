/* daemons: the sidecar supervisor's daemons file (bb-sidecar(8)). */
#ifndef BB_DAEMONS_H
#define BB_DAEMONS_H

#include <stddef.h>

#include "err.h"

#define BB_DAEMONS_MAX 32           /* daemons in one file */
#define BB_DAEMON_ARGS_MAX 256      /* argv entries, env entries */
#define BB_DAEMONS_FILE_MAX (1u << 20)
#define BB_DAEMON_RESTARTS_DEFAULT 5

struct bb_daemon {
	char *name;
	char **argv;       /* NULL-terminated, argc >= 1 */
	char **env;        /* NULL-terminated: "NAME" or "NAME=VALUE" */
	int reload_signal; /* sent to it when the supervisor gets SIGHUP; 0 */
	int restart_on;    /* supervisor signal that restarts it; 0 */
	int max_restarts;  /* automatic restarts after crashes in a row */
};

struct bb_daemons {
	struct bb_daemon *d;
	size_t n;
};

/* Parse and validate a daemons file held in buf; label names it in
 * errors ("LABEL: daemons[1].env[0]: ...").  On error *out is empty. */
int bb_daemons_parse(const char *buf, size_t len, const char *label,
		     struct bb_daemons *out, struct bb_err *err);
int bb_daemons_load(const char *path, struct bb_daemons *out,
		    struct bb_err *err);
void bb_daemons_free(struct bb_daemons *ds);

#endif
