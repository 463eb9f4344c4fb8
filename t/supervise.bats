#!/usr/bin/env bats
# bb-supervise serve: MCP over Streamable HTTP, through the official MCP
# TypeScript SDK client and through raw curl for the error paths.

load supervise_helper

setup_file() {
	install_mcp_client
}

@test "initialize through the SDK client negotiates the current version" {
	start_serve
	run mcp info
	assert_success
	[ "$(jq -r .protocolVersion <<<"$output")" = 2025-06-18 ]
	[ "$(jq -r .serverInfo.name <<<"$output")" = bb-supervise ]
	[ "$(jq -r .capabilities.tools.listChanged <<<"$output")" = false ]
	assert_output --partial 'proposal_status'
}

@test "initialize answers the previous version when asked, the latest otherwise" {
	start_serve
	rpc '{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"c","version":"1"}}}'
	[ "$status_code" = 200 ]
	[ "$(jq -r .result.protocolVersion <<<"$body")" = 2025-03-26 ]
	rpc '{"jsonrpc":"2.0","id":"x","method":"initialize","params":{"protocolVersion":"2099-01-01"}}'
	[ "$(jq -r .result.protocolVersion <<<"$body")" = 2025-06-18 ]
	[ "$(jq -r .id <<<"$body")" = x ]
	rpc '{"jsonrpc":"2.0","id":2,"method":"initialize","params":{"protocolVersion":7}}'
	[ "$(jq -r .error.code <<<"$body")" = -32602 ]
	[ "$(jq -r .error.message <<<"$body")" = 'params.protocolVersion must be a string' ]
}

@test "tools/list through the SDK client: four tools with input schemas" {
	start_serve
	run mcp list
	assert_success
	[ "$(jq -r '[.tools[].name] | join(",")' <<<"$output")" = \
		list_egress_routes,request_egress_route,report_blocked,proposal_status ]
	[ "$(jq -r '.tools[] | select(.name == "request_egress_route") | .inputSchema.required | join(",")' <<<"$output")" = host,reason ]
	[ "$(jq -r '.tools[] | select(.name == "report_blocked") | .inputSchema.properties.kind.enum | join(",")' <<<"$output")" = credential,capability,pipelock ]
	[ "$(jq -r '[.tools[].inputSchema.additionalProperties] | unique | join(",")' <<<"$output")" = false ]
}

@test "a call that times out answers pending, and proposal_status picks the decision up later" {
	routes_file
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	start_serve --timeout 0.5
	run mcp call request_egress_route '{"host": "PyPI.org", "path_allowlist": ["/simple/"], "reason": "pip install"}'
	assert_success
	[ "$(jq -r .isError <<<"$output")" = false ]
	text=$(jq -r '.content[0].text' <<<"$output")
	id=$(pending_id)
	[ "$(printf '%s\n' "$text" | sed -n 1,3p)" = "status: pending
notes: operator response timed out after 0.5s; proposal remains queued
id: $id" ]
	# the proposal stays queued, mode 0600, in the documented shape
	[ "$(stat -c %a "$QUEUE/$id.proposal.json")" = 600 ]
	[ "$(jq -c '{version, id, tool, bottle_slug, justification, payload}' "$QUEUE/$id.proposal.json")" = \
		"{\"version\":1,\"id\":\"$id\",\"tool\":\"request_egress_route\",\"bottle_slug\":\"$SLUG\",\"justification\":\"pip install\",\"payload\":{\"route\":{\"host\":\"pypi.org\",\"path_allowlist\":[\"/simple/\"]}}}" ]
	run mcp call proposal_status "{\"id\": \"$id\"}"
	assert_success
	assert_output --partial 'status: pending'
	# the operator decides after the call gave up
	run bb-supervise approve "$id"
	assert_success
	run mcp call proposal_status "{\"id\": \"$id\"}"
	assert_success
	[ "$(jq -r .isError <<<"$output")" = false ]
	text=$(jq -r '.content[0].text' <<<"$output")
	[ "$(printf '%s\n' "$text" | sed -n 1p)" = "status: approved" ]
	printf '%s\n' "$text" | grep -qx "id: $id"
	printf '%s\n' "$text" | grep -qF 'applied: {"route":{"host":"pypi.org","path_allowlist":["/simple/"]}}'
	grep -q 'operator response timed out after 0.5s; proposal remains queued' "$BATS_TEST_TMPDIR/serve.log"
}

@test "a waiting call returns the operator's approval as soon as it is made" {
	routes_file
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	start_serve --timeout 60
	mcp_waiting request_egress_route '{"host": "docs.example.net", "reason": "read the docs"}'
	wait_for_text "$BATS_TEST_TMPDIR/serve.log" "request_egress_route $id for bottle $SLUG; waiting for operator..."
	start=$(date +%s)
	run bb-supervise approve --note 'go ahead' "$id"
	assert_success
	wait "$client"
	[ $(($(date +%s) - start)) -lt 5 ]
	text=$(mcp_result_text)
	[ "$(printf '%s\n' "$text" | sed -n 1,3p)" = "status: approved
notes: go ahead
id: $id" ]
}

@test "a waiting call returns the operator's rejection with the reason" {
	start_serve --timeout 60
	mcp_waiting report_blocked '{"kind": "credential", "description": "npm publish needs a token"}'
	[ "$(jq -cS .payload "$QUEUE/$id.proposal.json")" = '{"description":"npm publish needs a token","kind":"credential"}' ]
	run bb-supervise reject --reason 'not in this bottle' "$id"
	assert_success
	wait "$client"
	text=$(mcp_result_text)
	[ "$(printf '%s\n' "$text" | sed -n 1,2p)" = "status: rejected
notes: not in this bottle" ]
}

@test "invalid route arguments get -32602 with the manifest's own route rules (SDK client)" {
	start_serve
	run mcp call request_egress_route '{"host": "https://evil.example/x", "reason": "r"}'
	assert_failure
	assert_output --partial "MCP error -32602: request_egress_route: arguments.host: 'https://evil.example/x' must be a bare host name, without a scheme"
	run mcp call nonexistent_tool '{}'
	assert_failure
	assert_output --partial "MCP error -32602: unknown tool 'nonexistent_tool'"
	[ -z "$(ls "$QUEUE"/*.proposal.json 2>/dev/null)" ]
}

@test "wrong argument types each get -32602 naming the field" {
	start_serve
	check() {
		rpc "$(call_body request_egress_route "$1")"
		[ "$status_code" = 200 ] || fail "HTTP $status_code for $1"
		[ "$(jq -r .error.code <<<"$body")" = -32602 ] || fail "not -32602 for $1: $body"
		[ "$(jq -r .error.message <<<"$body")" = "$2" ] || fail "for $1: $(jq -r .error.message <<<"$body")"
	}
	check '{"host": 7, "reason": "r"}' "request_egress_route: arguments.host: must be a non-empty string (was number)"
	check '{"reason": "r"}' "request_egress_route: arguments: missing required string field 'host'"
	check '{"host": "a.example"}' 'arguments.reason must be a non-empty string of at most 4096 bytes'
	check '{"host": "a.example", "reason": ""}' 'arguments.reason must be a non-empty string of at most 4096 bytes'
	check '{"host": "a.example", "reason": "r", "path_allowlist": "/v1/"}' 'request_egress_route: arguments.path_allowlist: must be an array (was string)'
	check '{"host": "a.example", "reason": "r", "path_allowlist": [1]}' 'request_egress_route: arguments.path_allowlist[0]: must be a string (was number)'
	check '{"host": "a.example", "reason": "r", "path_allowlist": ["v1/"]}' "request_egress_route: arguments.path_allowlist[0]: 'v1/' must be an absolute path prefix starting with '/'"
	check '{"host": "a.example", "reason": "r", "path_allowlist": ["/a/../b"]}' "request_egress_route: arguments.path_allowlist[0]: '/a/../b' may not hold '.' or '..' segments"
	check '{"host": "a.example", "reason": "r", "auth": {}}' "request_egress_route: arguments.auth: is empty ({}); omit the 'auth' key entirely if this route is unauthenticated. Otherwise both 'scheme' and 'token_ref' are required."
	check '{"host": "a.example", "reason": "r", "auth": {"scheme": "Basic", "token_ref": "X"}}' "request_egress_route: arguments.auth.scheme: 'Basic' is not one of Bearer, token"
	check '{"host": "a.example", "reason": "r", "auth": {"scheme": "Bearer"}}' "request_egress_route: arguments.auth.token_ref: is required when 'auth' is set (name of the host env var holding the token value)"
	check '{"host": "a.example", "reason": "r", "auth": {"scheme": "Bearer", "token_ref": "X", "value": "s"}}' "request_egress_route: arguments.auth: unknown key 'value'; only 'scheme' and 'token_ref' are accepted"
	check '{"host": "*.example", "reason": "r"}' "request_egress_route: arguments.host: '*.example' must be an exact host name; wildcards are not supported"
	check '{"host": "a.example:443", "reason": "r"}' "request_egress_route: arguments.host: 'a.example:443' must be a bare host name, without a port"
	check '{"host": "a.example.", "reason": "r"}' "request_egress_route: arguments.host: 'a.example.' must not end with a dot"
	check '{"host": "a.example", "reason": "r", "pipelock": {"tls_passthrough": true}}' "arguments has unknown key 'pipelock'"
	rpc "$(call_body report_blocked '{"kind": "root", "description": "d"}')"
	[ "$(jq -r .error.message <<<"$body")" = 'arguments.kind must be one of credential, capability, pipelock' ]
	rpc "$(call_body proposal_status '{"id": "../../etc/passwd"}')"
	[ "$(jq -r .error.message <<<"$body")" = 'arguments.id must be a proposal id' ]
	rpc "$(call_body list_egress_routes '{"x": 1}')"
	[ "$(jq -r .error.code <<<"$body")" = -32602 ]
	rpc '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"report_blocked","arguments":"kind=credential"}}'
	[ "$(jq -r .error.message <<<"$body")" = 'params.arguments must be an object (was string)' ]
	rpc '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"arguments":{}}}'
	[ "$(jq -r .error.message <<<"$body")" = 'params.name must be a string' ]
	rpc '{"jsonrpc":"2.0","id":1,"method":"tools/list","params":[1]}'
	[ "$(jq -r .error.code <<<"$body")" = -32602 ]
	[ -z "$(ls "$QUEUE"/*.proposal.json 2>/dev/null)" ]
}

@test "malformed JSON gets -32700 and HTTP 400" {
	start_serve
	rpc '{"jsonrpc":"2.0","id":1,"method":'
	[ "$status_code" = 400 ]
	[ "$(jq -r .error.code <<<"$body")" = -32700 ]
	[ "$(jq -r .id <<<"$body")" = null ]
	rpc '{"jsonrpc":"2.0","id":1,"id":2,"method":"ping"}'
	[ "$(jq -r .error.code <<<"$body")" = -32700 ]
}

@test "requests that are not JSON-RPC get -32600 and HTTP 400" {
	start_serve
	for req in '[1,2]' '"ping"' '{"id":1,"method":"ping"}' '{"jsonrpc":"1.0","id":1,"method":"ping"}' \
		'{"jsonrpc":"2.0","id":1,"method":7}' '{"jsonrpc":"2.0","id":{"a":1},"method":"ping"}' \
		'{"jsonrpc":"2.0","id":1}' '[{"jsonrpc":"2.0","id":1,"method":"ping"}]'; do
		rpc "$req"
		[ "$status_code" = 400 ] || fail "HTTP $status_code for $req"
		[ "$(jq -r .error.code <<<"$body")" = -32600 ] || fail "for $req: $body"
	done
}

@test "an unknown method gets -32601; ping answers" {
	start_serve
	rpc '{"jsonrpc":"2.0","id":5,"method":"resources/list"}'
	[ "$status_code" = 200 ]
	[ "$(jq -c .error <<<"$body")" = '{"code":-32601,"message":"method not found: resources/list"}' ]
	rpc '{"jsonrpc":"2.0","id":6,"method":"ping"}'
	[ "$(jq -c . <<<"$body")" = '{"id":6,"jsonrpc":"2.0","result":{}}' ]
}

@test "notifications and client responses get 202 and no body" {
	start_serve
	rpc '{"jsonrpc":"2.0","method":"notifications/initialized"}'
	[ "$status_code" = 202 ]
	[ -z "$body" ]
	rpc '{"jsonrpc":"2.0","method":"tools/call","params":{"name":"report_blocked","arguments":{"kind":"credential","description":"d"}}}'
	[ "$status_code" = 202 ]
	[ -z "$(ls "$QUEUE"/*.proposal.json 2>/dev/null)" ]
	rpc '{"jsonrpc":"2.0","id":9,"result":{}}'
	[ "$status_code" = 202 ]
}

@test "bodies over 1 MiB get 413; GET gets 405; other refusals at the HTTP level" {
	start_serve
	head -c 1100000 /dev/zero | tr '\0' ' ' >"$BATS_TEST_TMPDIR/big"
	status_code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		--data-binary "@$BATS_TEST_TMPDIR/big" "$URL")
	[ "$status_code" = 413 ]
	status_code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
		-H 'Transfer-Encoding: chunked' --data-binary "@$BATS_TEST_TMPDIR/big" "$URL")
	[ "$status_code" = 413 ]
	run curl -s -i "$URL"
	assert_output --partial 'HTTP/1.1 405'
	assert_output --partial 'Allow: POST'
	status_code=$(curl -s -o /dev/null -w '%{http_code}' -d '{"jsonrpc":"2.0","id":1,"method":"ping"}' "$URL")
	[ "$status_code" = 415 ]
	rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}' -H 'Origin: http://evil.example'
	[ "$status_code" = 403 ]
	rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}' -H 'Origin: http://localhost:3000'
	[ "$status_code" = 200 ]
	rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}' -H 'MCP-Protocol-Version: 2024-01-01'
	[ "$status_code" = 400 ]
	rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}' -H 'MCP-Protocol-Version: 2025-03-26'
	[ "$status_code" = 200 ]
	status_code=$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' -d '{}' "${URL}admin")
	[ "$status_code" = 404 ]
	# still serving
	rpc '{"jsonrpc":"2.0","id":1,"method":"ping"}'
	[ "$status_code" = 200 ]
}

@test "a bad timeout is a startup error, exit 2" {
	run bb-supervise serve --state "$STATE" --listen 127.0.0.1:1 --timeout 0
	[ "$status" -eq 2 ]
	[ "$output" = 'bb-supervise: error: --timeout: must be a positive number of seconds' ]
	for v in abc -3 0 1e9 nan; do
		SUPERVISE_RESPONSE_TIMEOUT_SECONDS=$v run bb-supervise serve --state "$STATE" --listen 127.0.0.1:1
		[ "$status" -eq 2 ] || fail "exit $status for '$v'"
		[ "$output" = 'bb-supervise: error: SUPERVISE_RESPONSE_TIMEOUT_SECONDS must be a positive number' ]
	done
}

@test "the timeout comes from the environment; empty means 30 s" {
	SUPERVISE_RESPONSE_TIMEOUT_SECONDS=0.3 start_serve
	grep -q "timeout=0.3s" "$BATS_TEST_TMPDIR/serve.log"
	kill "$SERVE_PID"
	SUPERVISE_RESPONSE_TIMEOUT_SECONDS= start_serve
	grep -q "supervise listening on 127.0.0.1:$PORT; slug='$SLUG'; queue=$QUEUE; timeout=30s" "$BATS_TEST_TMPDIR/serve.log"
}

@test "serve listens on a unix socket of mode 0666 in a 0700 directory (default path under XDG_RUNTIME_DIR)" {
	bb-supervise serve --state "$STATE" 2>"$BATS_TEST_TMPDIR/serve.log" &
	PIDS="$PIDS $!"
	sock=$XDG_RUNTIME_DIR/bb/$SLUG/bottle/supervise.sock
	wait_for "$sock"
	[ "$(stat -c %a "$sock")" = 666 ]
	[ "$(stat -c %a "${sock%/*}")" = 700 ]
	run curl -s --unix-socket "$sock" -H 'Content-Type: application/json' \
		-d '{"jsonrpc":"2.0","id":1,"method":"ping"}' http://supervise/
	assert_success
	[ "$(jq -c .result <<<"$output")" = '{}' ]
	kill "$!"
	wait "$!" || true
	[ ! -e "$sock" ]
}

@test "usage errors exit 2" {
	run bb-supervise
	[ "$status" -eq 2 ]
	run bb-supervise serve
	[ "$status" -eq 2 ]
	run bb-supervise serve --state "$STATE" --listen 127.0.0.1:1 --max-waits 0
	[ "$status" -eq 2 ]
	run bb-supervise serve --state "$STATE" --egress-admin /tmp/x
	[ "$status" -eq 2 ]
	run bb-supervise frobnicate
	[ "$status" -eq 2 ]
	run bb-supervise pending --bogus
	[ "$status" -eq 2 ]
	run bb-supervise reject SOMEID
	[ "$status" -eq 2 ]
	run bb-supervise approve
	[ "$status" -eq 2 ]
	run bb-supervise pending --edit f
	[ "$status" -eq 2 ]
	run bb-supervise serve --state "$STATE" --listen nonsense
	[ "$status" -eq 1 ]
	assert_output 'bb-supervise: error: --listen nonsense: expected unix:PATH or ADDRESS:PORT'
}
