/* mcp: the JSON-RPC 2.0 side of bb-supervise's MCP server, without
 * sockets: one request body in, one HTTP status and response body out.
 * What a tool does to the world goes through hooks, so the dispatch can
 * be fuzzed and tested alone. */
#ifndef BB_MCP_H
#define BB_MCP_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"
#include "queue.h"

#define BB_MCP_LATEST "2025-06-18"
#define BB_MCP_TEXT_MAX 4096 /* reason, description: bytes */

enum {
	BB_RPC_PARSE = -32700,
	BB_RPC_INVALID_REQUEST = -32600,
	BB_RPC_NO_METHOD = -32601,
	BB_RPC_INVALID_PARAMS = -32602,
	BB_RPC_INTERNAL = -32603,
};

struct bb_mcp_hooks {
	void *ctx;
	/* Queue a validated proposal; fill id. -1 with err: the agent gets
	 * a tool error saying err. */
	int (*propose)(void *ctx, const char *tool, json_t *payload,
		       const char *justification, char id[BB_QUEUE_ID_MAX],
		       struct bb_err *err);
	/* The routes in force (a "routes" array), or NULL with err.  NULL:
	 * the caller reads them itself (routes_wait). */
	json_t *(*routes)(void *ctx, struct bb_err *err);
	/* 1: ID is pending; 0: answered, *answer set; -1: unknown (err). */
	int (*status)(void *ctx, const char *id, json_t **answer,
		      struct bb_err *err);
};

struct bb_mcp_out {
	int http_status;  /* 200, 202 (no body), 400 */
	json_t *body;     /* the JSON-RPC response, or NULL */
	/* Set when the answer is the operator's: the caller waits for the
	 * decision on wait_id, then answers rpc_id with bb_mcp_decided or
	 * bb_mcp_pending. */
	char wait_id[BB_QUEUE_ID_MAX];
	json_t *rpc_id;
	/* Set for list_egress_routes when hooks->routes is NULL: the caller
	 * reads the routes without blocking, then answers rpc_id with
	 * bb_mcp_routes. */
	int routes_wait;
};

/* Is v a protocol version we speak? */
int bb_mcp_version_ok(const char *v);

void bb_mcp_handle(const struct bb_mcp_hooks *hooks, const char *buf,
		   size_t len, struct bb_mcp_out *out);
void bb_mcp_out_free(struct bb_mcp_out *out);

/* Responses for a call that waited: the operator's answer, or still
 * pending (why: "operator response timed out after 30s"). */
json_t *bb_mcp_decided(json_t *rpc_id, const char *id, const json_t *answer);
json_t *bb_mcp_pending(json_t *rpc_id, const char *id, const char *why);
/* The answer to list_egress_routes: routes (taken), or NULL and why. */
json_t *bb_mcp_routes(json_t *rpc_id, json_t *routes,
		      const struct bb_err *err);
/* A JSON-RPC error response (rpc_id NULL: null). */
json_t *bb_mcp_error(json_t *rpc_id, int code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
