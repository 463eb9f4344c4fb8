# Shared by t/supervise*.bats: a bottle state directory, a running
# bb-supervise serve on a loopback port, JSON-RPC over curl, the official
# MCP TypeScript SDK client, and a process that records signals.
# A file that loads this gets the setup (bottle_setup) and teardown below
# unless it defines its own; a file that runs the SDK client calls
# install_mcp_client from its setup_file.

load helper

MCPC=$BB_ROOT/.build/mcp-client

# Install the SDK client once per tree (not committed: node_modules).
install_mcp_client() {
	if ! cmp -s "$BB_ROOT/t/mcp-client/package.json" "$MCPC/package.json" ||
		[ ! -d "$MCPC/node_modules/@modelcontextprotocol/sdk" ]; then
		rm -rf "$MCPC" && mkdir -p "$MCPC" &&
			cp "$BB_ROOT/t/mcp-client/package.json" "$MCPC/" &&
			(cd "$MCPC" && npm install --no-audit --no-fund --loglevel=error) >&2 ||
			return 1
	fi
	cp "$BB_ROOT/t/mcp-client/client.mjs" "$MCPC/"
}

# node client.mjs URL info|list|call TOOL [JSON]
mcp() {
	node "$MCPC/client.mjs" "$URL" "$@"
}

SLUG=demo-abc12

bottle_setup() {
	bb_setup
	STATE=$XDG_STATE_HOME/bb/bottles/$SLUG
	QUEUE=$STATE/queue
	mkdir -p -m 0700 "$STATE"
	PIDS=""
}

setup() {
	bottle_setup
}

# Stop what the test started; a server that did not exit cleanly, or
# that a sanitizer complained about, fails the test.
teardown() {
	local p rc=0
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	for p in $PIDS; do
		if [ "$p" = "${SERVE_PID:-}" ]; then
			wait "$p" 2>/dev/null || rc=$?
		else
			wait "$p" 2>/dev/null || true
		fi
	done
	if [ -f "$BATS_TEST_TMPDIR/serve.log" ] &&
		grep -E 'Sanitizer|runtime error' "$BATS_TEST_TMPDIR/serve.log" >&2; then
		return 1
	fi
	[ "$rc" = 0 ] || [ "$rc" = 127 ] || { echo "serve exited $rc" >&2; return 1; }
}

# start_serve [serve options...]: serve the bottle on a free port.
start_serve() {
	PORT=$(free_port)
	bb-supervise serve --state "$STATE" --listen "127.0.0.1:$PORT" "$@" \
		2>"$BATS_TEST_TMPDIR/serve.log" &
	SERVE_PID=$!
	PIDS="$PIDS $SERVE_PID"
	URL=http://127.0.0.1:$PORT/
	wait_for "127.0.0.1:$PORT"
}

# rpc BODY [curl options...]: POST BODY; $status_code and $body are set.
rpc() {
	local data=$1
	shift
	status_code=$(curl -s -o "$BATS_TEST_TMPDIR/body" -w '%{http_code}' \
		-H 'Content-Type: application/json' --data-binary "$data" "$@" "$URL")
	body=$(cat "$BATS_TEST_TMPDIR/body")
}

# mcp_waiting TOOL ARGS-JSON: the SDK client calls TOOL in the background
# (its pid in $client, its answer in $BATS_TEST_TMPDIR/result, read with
# mcp_result_text once it exits); returns when the proposal it made is
# queued, its id in $id.
mcp_waiting() {
	mcp call "$1" "$2" >"$BATS_TEST_TMPDIR/result" 2>&1 &
	client=$!
	PIDS="$PIDS $client"
	id=$(pending_id)
}

# The text of the result mcp_waiting's call got.
mcp_result_text() {
	jq -r '.content[0].text' "$BATS_TEST_TMPDIR/result"
}

# call TOOL ARGS-JSON [ID]: a tools/call request body.
call_body() {
	jq -cn --arg name "$1" --argjson args "$2" --argjson id "${3:-1}" \
		'{jsonrpc: "2.0", id: $id, method: "tools/call", params: {name: $name, arguments: $args}}'
}

# The one pending proposal's id (waits up to 5 s for it to appear).
pending_id() {
	local f
	if wait_until 5 compgen -G "$QUEUE/*.proposal.json" >/dev/null; then
		f=$(compgen -G "$QUEUE/*.proposal.json" | head -n 1)
		basename "$f" .proposal.json
		return 0
	fi
	echo "no proposal appeared in $QUEUE" >&2
	return 1
}

# A real process that records each SIGHUP and SIGUSR1 it gets, one line
# each, in $1; its pid goes to $2 (egress.pid or sidecar.pid).
start_signal_recorder() {
	local log=$1 pidfile=$2
	: >"$log"
	sh -c 'trap "echo HUP >>\"$0\"" HUP; trap "echo USR1 >>\"$0\"" USR1
		echo ready >>"$0"; while :; do sleep 0.05; done' "$log" &
	echo $! >"$pidfile"
	PIDS="$PIDS $!"
	wait_for_text "$log" ready
}

routes_file() {
	cat >"$STATE/routes.json" <<'JSON'
{"version": 1, "routes": [
  {"host": "api.anthropic.com", "auth_scheme": "Bearer", "token_env": "EGRESS_TOKEN_0"},
  {"host": "example.org"}
]}
JSON
	chmod 0600 "$STATE/routes.json"
}

plan_file() {
	cat >"$STATE/plan.json" <<'JSON'
{"version": 1, "slug": "demo-abc12", "agent": "demo", "bottle": "dev", "backend": "ns",
 "egress": {
   "routes": [
     {"host": "api.anthropic.com", "path_allowlist": [], "auth_scheme": "Bearer",
      "token_ref": "CLAUDE_TOKEN", "token_env": "EGRESS_TOKEN_0",
      "tls_passthrough": true, "ssrf_ip_allowlist": [], "provider": true},
     {"host": "api.github.com", "path_allowlist": ["/repos/"], "auth_scheme": "Bearer",
      "token_ref": "GH_PAT", "token_env": "EGRESS_TOKEN_1",
      "tls_passthrough": false, "ssrf_ip_allowlist": [], "provider": false}
   ],
   "token_env": {"EGRESS_TOKEN_0": "CLAUDE_TOKEN", "EGRESS_TOKEN_1": "GH_PAT"}
 },
 "supervise": {"enabled": true, "timeout_seconds": 30},
 "pipelock": {"api_allowlist": ["api.anthropic.com", "api.github.com"],
              "passthrough_domains": ["api.anthropic.com"], "ssrf_ip_allowlist": []}
}
JSON
}
