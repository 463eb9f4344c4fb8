/* plan: everything one launch needs, resolved from the manifest, the agent
 * name, the CLI intent and the host environment (bb-plan(5)). */
#ifndef BB_PLAN_H
#define BB_PLAN_H

#include <stdio.h>
#include <time.h>
#include <jansson.h>

#include "err.h"

#define BB_PLAN_VERSION 1
#define BB_GUEST_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

struct bb_plan_opts {
	const char *agent;
	const char *backend;	/* ns (default), podman, docker */
	const char *cwd;	/* --cwd DIR: copy it as the workspace */
	const char *slug;	/* --slug S, or NULL to mint one */
	time_t now;
};

/* manifest: bb-manifest's document, or the `bb-manifest -a` form. */
json_t *bb_plan_build(const json_t *manifest, const struct bb_plan_opts *o,
		      struct bb_err *err);

/* The preflight summary (names only, never values). */
int bb_plan_summary(FILE *f, const json_t *plan);

#endif
