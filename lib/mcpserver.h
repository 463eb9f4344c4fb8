/* mcpserver: bb-supervise serve, the MCP Streamable HTTP endpoint of one
 * bottle on libevent's evhttp. JSON-RPC goes to lib/mcp.c; proposals go
 * to the bottle's queue (lib/queue.c); a call that waits for the
 * operator is a timer on the event loop, never a blocked thread. */
#ifndef BB_MCPSERVER_H
#define BB_MCPSERVER_H

#include <stddef.h>

#include "err.h"

#define BB_SUPERVISE_BODY_MAX (1u << 20)
#define BB_SUPERVISE_MAX_PENDING 64 /* queued proposals per bottle */

struct bb_mcpserver_opts {
	const char *state;        /* the bottle's state directory */
	const char *const *listen; /* "unix:PATH" or "ADDR:PORT" */
	size_t nlisten;
	double timeout;           /* seconds a call waits for the operator */
	const char *egress_admin; /* unix socket path of egress's admin API */
	size_t max_waits;         /* calls waiting at once */
};

/* Parse a positive number of seconds ("30", "0.5"); -1 if it is not. */
double bb_parse_seconds(const char *s);

/* Serve until SIGTERM or SIGINT. Returns 0, or -1 with err (bad listen
 * address, cannot bind). */
int bb_mcpserver_run(const struct bb_mcpserver_opts *o, struct bb_err *err);

#endif
