/* routecheck: one egress route, checked with the manifest's route rules
 * (bb-manifest(5), egress.routes[]), for routes that arrive at run time
 * (an agent's request, an operator's edit).
 *
 * TODO: unify with the manifest validator (lib/manifest.c) once both
 * exist, so there is one set of route rules and one wording. */
#ifndef BB_ROUTECHECK_H
#define BB_ROUTECHECK_H

#include <jansson.h>

#include "err.h"

/* Check route (a manifest route object) and fail with the reference's
 * wording, prefixed by label ("route", "bottle 'dev' egress.routes[2]"):
 * "<label> missing required string field 'host'". */
int bb_route_check(json_t *route, const char *label,
		   struct bb_err *err);

/* A bare DNS name or IP literal: no scheme, port, path, '*' or trailing
 * dot. */
int bb_route_host_ok(const char *host);

#endif
