/* routeapply: put an approved egress route into force in a running
 * bottle (bb-supervise(1), APPLYING A ROUTE).
 *
 * The bottle's state directory holds routes.json (the wire routes egress
 * reads), plan.json (which token_ref sits in which slot), optionally
 * pipelock.yaml, and sidecar.pid or egress.pid. */
#ifndef BB_ROUTEAPPLY_H
#define BB_ROUTEAPPLY_H

#include <jansson.h>

#include "err.h"

/* route (as in a bottle's egress.routes[]) checked with the manifest's
 * rules (bb_manifest_route_check), in its short form: host canonical,
 * path_allowlist and pipelock only when not the defaults. NULL with err
 * "SOURCE: LABEL.FIELD: WHAT". */
json_t *bb_route_checked(json_t *route, const char *source,
			 const char *label, struct bb_err *err);

/* Can route (a checked manifest route) be applied to this running
 * bottle at all? Its auth must reuse a token slot the bottle already
 * has, and it must not touch a provider's route. */
int bb_route_admissible(const char *state, json_t *route,
			struct bb_err *err);

/* Add or replace route (by host) in routes.json and plan.json, re-render
 * pipelock.yaml when pipelock is in the chain, and signal the sidecar
 * (SIGHUP, and SIGUSR1 for pipelock) or egress (SIGHUP). All or nothing:
 * on failure the files are as they were. *note gets a malloc'd line for
 * the operator about what was done. */
int bb_route_apply(const char *state, json_t *route, char **note,
		   struct bb_err *err);

/* The wire form of a manifest route given the bottle's slot map
 * ({"EGRESS_TOKEN_0": "GH_PAT"}), through route.c's one plan-to-wire
 * mapping; NULL with err when its token_ref has no slot. */
json_t *bb_route_wire_manifest(json_t *route, json_t *slots,
			       struct bb_err *err);

#endif
