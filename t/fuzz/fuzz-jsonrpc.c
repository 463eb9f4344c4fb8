/* libFuzzer target: bb-supervise's JSON-RPC request handling (lib/mcp.c),
 * with hooks that accept every proposal without touching the disk. */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "mcp.h"

static int propose(void *ctx, const char *tool, json_t *payload,
		   const char *justification, char id[BB_QUEUE_ID_MAX],
		   struct bb_err *err)
{
	if (justification[0] == 'x')
		return bb_errf(err, NULL, "refused");
	snprintf(id, BB_QUEUE_ID_MAX, "20261122T000000Z-00000000");
	return 0;
}

static json_t *routes(void *ctx, struct bb_err *err)
{
	return json_pack("{s:[]}", "routes");
}

static int status(void *ctx, const char *id, json_t **answer,
		  struct bb_err *err)
{
	if (id[0] == 'p')
		return 1;
	if (id[0] == 'u')
		return bb_errf(err, NULL, "no proposal '%s'", id);
	*answer = json_pack("{s:s, s:s, s:b, s:{}}", "status", "approved",
			    "notes", "ok", "edited", 1, "applied");
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bb_mcp_hooks hooks = {NULL, propose, routes, status};
	struct bb_mcp_out out;

	bb_mcp_handle(&hooks, (const char *)data, size, &out);
	if (out.wait_id[0]) {
		json_t *r = bb_mcp_pending(out.rpc_id, out.wait_id, "fuzz");

		json_decref(r);
	}
	bb_mcp_out_free(&out);
	return 0;
}
