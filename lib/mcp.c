#include "mcp.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "routeapply.h"

static const char *const versions[] = {"2025-06-18", "2025-03-26", NULL};

int bb_mcp_version_ok(const char *v)
{
	for (size_t i = 0; versions[i]; i++)
		if (strcmp(v, versions[i]) == 0)
			return 1;
	return 0;
}

/* An argument error becomes -32602: it is carried in err->what. */
static json_t *reply(json_t *rpc_id, json_t *result)
{
	return json_pack("{s:s, s:O, s:o}", "jsonrpc", "2.0", "id",
			 rpc_id ? rpc_id : json_null(), "result", result);
}

json_t *bb_mcp_error(json_t *rpc_id, int code, const char *fmt, ...)
{
	char msg[1200];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return json_pack("{s:s, s:O, s:{s:i, s:s}}", "jsonrpc", "2.0", "id",
			 rpc_id ? rpc_id : json_null(), "error", "code", code,
			 "message", msg);
}

static json_t *tool_result(json_t *rpc_id, const char *text, int is_error)
{
	return reply(rpc_id,
		     json_pack("{s:[{s:s, s:s}], s:b}", "content", "type",
			       "text", "text", text, "isError", is_error));
}

/* ---- tool descriptions ------------------------------------------------ */

static json_t *schema_string(const char *desc)
{
	return json_pack("{s:s, s:s}", "type", "string", "description", desc);
}

static json_t *tool_list_routes(void)
{
	return json_pack(
		"{s:s, s:s, s:{s:s, s:{}, s:b}}", "name", "list_egress_routes",
		"description",
		"List the egress routes in force for this bottle: each host the "
		"agent may reach, its path prefixes (empty: all paths) and "
		"whether egress adds credentials. Never shows credential "
		"values.",
		"inputSchema", "type", "object", "properties",
		"additionalProperties", 0);
}

static json_t *tool_request_route(void)
{
	json_t *props = json_object();

	json_object_set_new(props, "host",
			    schema_string("Exact host name or IP address, no "
					  "scheme, port, path or wildcard"));
	json_object_set_new(
		props, "path_allowlist",
		json_pack("{s:s, s:{s:s, s:s}, s:s}", "type", "array", "items",
			  "type", "string", "pattern", "^/", "description",
			  "Path prefixes to allow (each starting with '/'); "
			  "omit or leave empty for all paths"));
	json_object_set_new(
		props, "auth",
		json_pack("{s:s, s:{s:{s:s, s:[s,s]}, s:{s:s, s:i}}, s:[s,s], "
			  "s:b, s:s}",
			  "type", "object", "properties", "scheme", "type",
			  "string", "enum", "Bearer", "token", "token_ref",
			  "type", "string", "minLength", 1, "required",
			  "scheme", "token_ref", "additionalProperties", 0,
			  "description",
			  "Credentials egress should add, only by reusing a "
			  "token_ref this bottle already has; new credentials "
			  "cannot be added to a running bottle"));
	json_object_set_new(props, "reason",
			    schema_string("Why the agent needs this host: "
					  "shown to the operator"));
	return json_pack(
		"{s:s, s:s, s:{s:s, s:o, s:[s,s], s:b}}", "name",
		"request_egress_route", "description",
		"Ask the operator to open a route to a host. Waits for the "
		"operator's answer for a bounded time; if none comes it answers "
		"'status: pending' with the proposal id, and proposal_status "
		"gives the decision later.",
		"inputSchema", "type", "object", "properties", props,
		"required", "host", "reason", "additionalProperties", 0);
}

static json_t *tool_report_blocked(void)
{
	return json_pack(
		"{s:s, s:s, s:{s:s, s:{s:{s:s, s:[s,s,s], s:s}, s:{s:s, "
		"s:s}}, s:[s,s], s:b}}",
		"name", "report_blocked", "description",
		"Tell the operator the agent is blocked: a missing credential, "
		"a missing capability of the agent image, or a request refused "
		"by pipelock. Waits for the operator's answer for a bounded "
		"time, like request_egress_route.",
		"inputSchema", "type", "object", "properties", "kind", "type",
		"string", "enum", "credential", "capability", "pipelock",
		"description", "What is blocking", "description", "type",
		"string", "description",
		"What the agent tried, what failed and what it needs",
		"required", "kind", "description", "additionalProperties", 0);
}

static json_t *tool_status(void)
{
	return json_pack(
		"{s:s, s:s, s:{s:s, s:{s:{s:s, s:s}}, s:[s], s:b}}", "name",
		"proposal_status", "description",
		"The operator's decision on an earlier proposal, by the id a "
		"pending answer gave: approved, rejected or still pending. "
		"Does not wait.",
		"inputSchema", "type", "object", "properties", "id", "type",
		"string", "description", "The proposal id", "required", "id",
		"additionalProperties", 0);
}

static json_t *tools_list(void)
{
	return json_pack("{s:[o,o,o,o]}", "tools", tool_list_routes(),
			 tool_request_route(), tool_report_blocked(),
			 tool_status());
}

/* ---- argument checks --------------------------------------------------- */

static int only_keys(json_t *args, const char *const *allowed,
		     struct bb_err *err)
{
	const char *k;
	json_t *v;

	json_object_foreach(args, k, v) {
		size_t i;

		for (i = 0; allowed[i] && strcmp(allowed[i], k) != 0; i++)
			;
		if (!allowed[i])
			return bb_errf(err, NULL,
				       "arguments has unknown key '%s'", k);
	}
	return 0;
}

static const char *text_arg(json_t *args, const char *key,
			    struct bb_err *err)
{
	const json_t *v = json_object_get(args, key);

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > BB_MCP_TEXT_MAX ||
	    strlen(json_string_value(v)) != json_string_length(v)) {
		bb_errf(err, NULL,
			"arguments.%s must be a non-empty string of at most "
			"%d bytes",
			key, BB_MCP_TEXT_MAX);
		return NULL;
	}
	return json_string_value(v);
}

/* The manifest route the agent asks for, checked with the manifest's
 * route rules; NULL with err. */
static json_t *route_from_args(json_t *args, struct bb_err *err)
{
	static const char *const keys[] = {"host", "path_allowlist", "auth",
					   "reason", NULL};
	json_t *asked, *route;

	if (only_keys(args, keys, err) < 0 || !text_arg(args, "reason", err))
		return NULL;
	if (!(asked = json_deep_copy(args))) {
		bb_errf(err, NULL, "out of memory");
		return NULL;
	}
	json_object_del(asked, "reason");
	route = bb_route_checked(asked, "request_egress_route", "arguments",
				 err);
	json_decref(asked);
	return route;
}

static json_t *blocked_from_args(json_t *args, struct bb_err *err)
{
	static const char *const keys[] = {"kind", "description", NULL};
	const char *kind, *desc;

	if (only_keys(args, keys, err) < 0)
		return NULL;
	kind = json_string_value(json_object_get(args, "kind"));
	if (!kind || (strcmp(kind, "credential") != 0 &&
		      strcmp(kind, "capability") != 0 &&
		      strcmp(kind, "pipelock") != 0)) {
		bb_errf(err, NULL,
			"arguments.kind must be one of credential, capability, "
			"pipelock");
		return NULL;
	}
	if (!(desc = text_arg(args, "description", err)))
		return NULL;
	return json_pack("{s:s, s:s}", "kind", kind, "description", desc);
}

/* ---- tools ------------------------------------------------------------- */

static void answer_text(char *buf, size_t n, const char *id,
			const json_t *answer)
{
	const char *status = json_string_value(json_object_get(answer, "status"));
	const char *notes = json_string_value(json_object_get(answer, "notes"));
	const json_t *applied = json_object_get(answer, "applied");
	char *a = NULL;
	int len;

	len = snprintf(buf, n, "status: %s\nnotes: %s\nid: %s\n",
		       status ? status : "unknown", notes ? notes : "", id);
	if (len < 0 || (size_t)len >= n)
		return;
	if (json_is_true(json_object_get(answer, "edited")))
		len += snprintf(buf + len, n - (size_t)len,
				"edited: the operator changed the request\n");
	if (applied && !json_is_null(applied) && (size_t)len < n &&
	    (a = json_dumps(applied, JSON_COMPACT | JSON_SORT_KEYS)))
		snprintf(buf + len, n - (size_t)len, "applied: %s\n", a);
	free(a);
}

json_t *bb_mcp_decided(json_t *rpc_id, const char *id, const json_t *answer)
{
	char text[8192];

	answer_text(text, sizeof(text), id, answer);
	return tool_result(rpc_id, text, 0);
}

json_t *bb_mcp_pending(json_t *rpc_id, const char *id, const char *why)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "status: pending\nnotes: %s; proposal remains queued\nid: %s\n"
		 "Ask for the decision later with proposal_status "
		 "{\"id\": \"%s\"}.\n",
		 why, id, id);
	return tool_result(rpc_id, text, 0);
}

json_t *bb_mcp_routes(json_t *rpc_id, json_t *routes,
		      const struct bb_err *err)
{
	json_t *res;
	char *text;

	if (!routes) {
		char msg[1600];

		snprintf(msg, sizeof(msg),
			 "could not read the egress routes: %s%s%s",
			 err->where, err->where[0] ? ": " : "",
			 err->set ? err->what : "no egress admin socket");
		return tool_result(rpc_id, msg, 1);
	}
	text = bb_json_string(routes);
	res = tool_result(rpc_id, text ? text : "{}", 0);
	free(text);
	json_decref(routes);
	return res;
}

static void call_routes(const struct bb_mcp_hooks *h, json_t *rpc_id,
			struct bb_mcp_out *out)
{
	struct bb_err err = {0};

	if (!h->routes) {
		out->routes_wait = 1;
		out->rpc_id = json_incref(rpc_id);
		return;
	}
	out->body = bb_mcp_routes(rpc_id, h->routes(h->ctx, &err), &err);
}

static void call_status(const struct bb_mcp_hooks *h, json_t *rpc_id,
			json_t *args, struct bb_mcp_out *out)
{
	static const char *const keys[] = {"id", NULL};
	struct bb_err err = {0};
	const char *id = json_string_value(json_object_get(args, "id"));
	json_t *answer = NULL;
	int st;

	if (only_keys(args, keys, &err) < 0) {
		out->body = bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS, "%s",
					 err.what);
		return;
	}
	if (!id || !bb_queue_id_ok(id)) {
		out->body = bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS,
					 "arguments.id must be a proposal id");
		return;
	}
	st = h->status ? h->status(h->ctx, id, &answer, &err)
		       : bb_errf(&err, NULL, "no queue");
	if (st < 0) {
		char msg[1200];

		snprintf(msg, sizeof(msg), "%s", err.what);
		out->body = tool_result(rpc_id, msg, 1);
	} else if (st == 1) {
		out->body = bb_mcp_pending(rpc_id, id,
					   "the operator has not decided yet");
	} else {
		out->body = bb_mcp_decided(rpc_id, id, answer);
	}
	json_decref(answer);
}

static void call_propose(const struct bb_mcp_hooks *h, json_t *rpc_id,
			 const char *tool, json_t *args,
			 struct bb_mcp_out *out)
{
	struct bb_err err = {0};
	int route = strcmp(tool, "request_egress_route") == 0;
	json_t *payload = route ? route_from_args(args, &err)
				: blocked_from_args(args, &err);
	const char *why;

	if (!payload) {
		out->body = bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS, "%s%s%s",
					 err.where, err.where[0] ? ": " : "",
					 err.what);
		return;
	}
	why = route ? json_string_value(json_object_get(args, "reason"))
		    : json_string_value(json_object_get(payload, "description"));
	if (route)
		payload = json_pack("{s:o}", "route", payload);
	if (!h->propose ||
	    h->propose(h->ctx, tool, payload, why, out->wait_id, &err) < 0) {
		char msg[1600];

		snprintf(msg, sizeof(msg), "proposal refused: %s",
			 err.set ? err.what : "no queue");
		out->body = tool_result(rpc_id, msg, 1);
		out->wait_id[0] = '\0';
	} else {
		out->rpc_id = json_incref(rpc_id);
	}
	json_decref(payload);
}

static void tools_call(const struct bb_mcp_hooks *h, json_t *rpc_id,
		       json_t *params, struct bb_mcp_out *out)
{
	const char *name = json_string_value(json_object_get(params, "name"));
	json_t *args = json_object_get(params, "arguments");

	if (!name) {
		out->body = bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS,
					 "params.name must be a string");
		return;
	}
	if (args && !json_is_object(args)) {
		out->body = bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS,
					 "params.arguments must be an object "
					 "(was %s)",
					 bb_json_type(args));
		return;
	}
	if (!args)
		args = json_object();
	else
		json_incref(args);
	if (strcmp(name, "list_egress_routes") == 0) {
		if (json_object_size(args) > 0)
			out->body = bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS,
						 "list_egress_routes takes no "
						 "arguments");
		else
			call_routes(h, rpc_id, out);
	} else if (strcmp(name, "request_egress_route") == 0 ||
		   strcmp(name, "report_blocked") == 0) {
		call_propose(h, rpc_id, name, args, out);
	} else if (strcmp(name, "proposal_status") == 0) {
		call_status(h, rpc_id, args, out);
	} else {
		out->body = bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS,
					 "unknown tool '%.200s'", name);
	}
	json_decref(args);
}

/* ---- JSON-RPC ---------------------------------------------------------- */

static json_t *initialize(json_t *rpc_id, json_t *params)
{
	const char *asked =
		json_string_value(json_object_get(params, "protocolVersion"));

	if (!asked)
		return bb_mcp_error(rpc_id, BB_RPC_INVALID_PARAMS,
				    "params.protocolVersion must be a string");
	return reply(
		rpc_id,
		json_pack("{s:s, s:{s:{s:b}}, s:{s:s, s:s}, s:s}",
			  "protocolVersion",
			  bb_mcp_version_ok(asked) ? asked : BB_MCP_LATEST,
			  "capabilities", "tools", "listChanged", 0,
			  "serverInfo", "name", "bb-supervise", "version",
			  "1.0", "instructions",
			  "Ask the operator of this bottle for what you lack: "
			  "request_egress_route for a host egress refuses, "
			  "report_blocked when a credential, a capability or "
			  "pipelock stops you. list_egress_routes shows what "
			  "is open. A pending answer can be followed up with "
			  "proposal_status."));
}

static void dispatch(const struct bb_mcp_hooks *h, const char *method,
		     json_t *rpc_id, json_t *params,
		     struct bb_mcp_out *out)
{
	if (strcmp(method, "initialize") == 0)
		out->body = initialize(rpc_id, params);
	else if (strcmp(method, "ping") == 0)
		out->body = reply(rpc_id, json_object());
	else if (strcmp(method, "tools/list") == 0)
		out->body = reply(rpc_id, tools_list());
	else if (strcmp(method, "tools/call") == 0)
		tools_call(h, rpc_id, params, out);
	else
		out->body = bb_mcp_error(rpc_id, BB_RPC_NO_METHOD,
					 "method not found: %.200s", method);
}

static int id_ok(const json_t *id)
{
	return json_is_string(id) || json_is_integer(id);
}

static json_t *invalid(struct bb_mcp_out *out, const char *why)
{
	out->http_status = 400;
	return bb_mcp_error(NULL, BB_RPC_INVALID_REQUEST, "invalid request: %s",
			    why);
}

static void handle_message(const struct bb_mcp_hooks *h, json_t *req,
			   struct bb_mcp_out *out)
{
	json_t *id = json_object_get(req, "id");
	json_t *method = json_object_get(req, "method");
	json_t *params = json_object_get(req, "params");
	const char *v = json_string_value(json_object_get(req, "jsonrpc"));

	if (!v || strcmp(v, "2.0") != 0) {
		out->body = invalid(out, "jsonrpc must be \"2.0\"");
		return;
	}
	if (!method) {
		/* A client's answer to a server request: nothing to say. */
		if (id_ok(id) && (json_object_get(req, "result") ||
				  json_object_get(req, "error")))
			out->http_status = 202;
		else
			out->body = invalid(out, "no method");
		return;
	}
	if (!json_is_string(method)) {
		out->body = invalid(out, "method must be a string");
		return;
	}
	if (id && !id_ok(id)) {
		out->body = invalid(out, "id must be a string or an integer");
		return;
	}
	if (!id) { /* a notification: never answered */
		out->http_status = 202;
		return;
	}
	if (params && !json_is_object(params)) {
		out->body = bb_mcp_error(id, BB_RPC_INVALID_PARAMS,
					 "params must be an object (was %s)",
					 bb_json_type(params));
		return;
	}
	if (!params) {
		json_t *empty = json_object();

		dispatch(h, json_string_value(method), id, empty, out);
		json_decref(empty);
		return;
	}
	dispatch(h, json_string_value(method), id, params, out);
}

void bb_mcp_handle(const struct bb_mcp_hooks *h, const char *buf, size_t len,
		   struct bb_mcp_out *out)
{
	json_error_t je;
	json_t *req = json_loadb(buf, len,
				 JSON_REJECT_DUPLICATES | JSON_DECODE_ANY, &je);

	memset(out, 0, sizeof(*out));
	out->http_status = 200;
	if (!req) {
		out->http_status = 400;
		out->body = bb_mcp_error(NULL, BB_RPC_PARSE,
					 "parse error: line %d column %d: %s",
					 je.line, je.column, je.text);
		return;
	}
	if (json_is_array(req))
		out->body = invalid(out, "batches are not supported");
	else if (!json_is_object(req))
		out->body = invalid(out, "not a JSON object");
	else
		handle_message(h, req, out);
	json_decref(req);
}

void bb_mcp_out_free(struct bb_mcp_out *out)
{
	json_decref(out->body);
	json_decref(out->rpc_id);
	out->body = out->rpc_id = NULL;
	out->wait_id[0] = '\0';
	out->routes_wait = 0;
}
