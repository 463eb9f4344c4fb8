/* gateserve: the gate's smart-HTTP server.  One process per connection
 * (bounded), each running git http-backend as CGI with the request body
 * streamed in (Content-Length or chunked, capped) and the response
 * streamed out. */
#ifndef BB_GATESERVE_H
#define BB_GATESERVE_H

#include <stddef.h>

#include "err.h"
#include "gitplan.h"

struct gg_serve_cfg {
	const struct gg_plan *plan;
	const char *state;               /* absolute */
	const char *const *listen;       /* "unix:PATH" or "HOST:PORT" */
	size_t nlisten;
	unsigned long long max_body;     /* request body cap, bytes */
	int timeout;                     /* idle seconds on any wait */
	int max_conns;                   /* concurrent connections */
	int rpc_fresh;                   /* seconds a refresh serves RPCs */
};

/* Run until SIGTERM or SIGINT.  Returns 0 on a clean shutdown. */
int gg_serve(const struct gg_serve_cfg *cfg, struct bb_err *err);

/* Serve one connection on fd (used by gg_serve in a child process). */
void gg_conn_serve(const struct gg_serve_cfg *cfg, int fd, const char *peer);

/* Check a --listen address; 0 when usable. */
int gg_listen_check(const char *addr, struct bb_err *err);

/* One line on stderr: "bb-gitgate: TEXT". */
void gg_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
