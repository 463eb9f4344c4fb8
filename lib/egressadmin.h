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

/* The same without blocking, on base's event loop: done gets the routes
 * (its to free) or NULL with err, from the loop, never before this
 * returns.  Returns the call, or NULL with err. */
struct event_base;
struct bb_admin_call;
typedef void (*bb_admin_done)(void *arg, json_t *routes,
			      const struct bb_err *err);
struct bb_admin_call *bb_egress_admin_routes_start(struct event_base *base,
						   const char *sock,
						   long timeout_ms,
						   bb_admin_done done,
						   void *arg,
						   struct bb_err *err);
/* Drop a call that has not finished; done is not called. */
void bb_egress_admin_cancel(struct bb_admin_call *call);

#endif
