/* up: compose the pipeline (manifest -> plan -> sidecars -> bottle), run
 * the agent in the foreground, tear everything down. */
#ifndef BB_UP_H
#define BB_UP_H

#include "err.h"

struct bb_up_opts {
	const char *agent;
	const char *backend;   /* NULL: the plan's, else "ns" */
	const char *cwd;       /* --cwd: copy this dir as the workspace */
	const char *plan_file; /* --plan: use this plan, skip bb-manifest|bb-plan */
	const char *resume;    /* slug being resumed, or NULL */
	int dry_run, yes, no_sidecars;
	char *const *cmd;      /* -- CMD ARGS: run this instead of the provider */
	char *const *egress_args; /* -E: extra arguments to bb-egress serve */
};

/* The pipelock executable bb-up would run: $BB_PIPELOCK when set ("none"
 * turns pipelock off), else "pipelock" on PATH.  malloc'd, or NULL with
 * *why saying why (static text). */
char *bb_up_pipelock_path(const char **why);

/* Returns bb-up's exit status (the agent's), or -1 with err set. */
int bb_up_launch(const struct bb_up_opts *o, struct bb_err *err);

#endif
