/* egressadmin: read the routes in force from bb-egress's admin socket. */
#ifndef BB_EGRESSADMIN_H
#define BB_EGRESSADMIN_H

#include <jansson.h>

#include "err.h"

/* GET /routes on the unix socket sock, within timeout_ms. Returns
 * {"routes": [{"host", "path_allowlist", "authenticated", "auth_scheme"}]}
 * built from the answer field by field, so nothing else egress might
 * say (a slot name, a value) is passed on. NULL with err. */
json_t *bb_egress_admin_routes(const char *sock, long timeout_ms,
			       struct bb_err *err);

#endif
