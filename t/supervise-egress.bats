#!/usr/bin/env bats
# bb-supervise with a real bb-egress: an approved route takes effect in the
# running proxy without a restart, and list_egress_routes reads its admin
# socket (through the MCP TypeScript SDK client).

load supervise_helper

setup_file() {
	install_mcp_client
}

setup() {
	bottle_setup
	ADMIN=$XDG_RUNTIME_DIR/bb/$SLUG/egress-admin.sock
	mkdir -p -m 0700 "$(dirname "$ADMIN")"
	mkdir -p www/simple
	echo "simple index" >www/simple/index.html
	echo "not for you" >www/private
	# Port 80 on a loopback address of our own: an approved route declares
	# no port, so bb-egress allows plain http to 80 only.
	UPA=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
	python3 -m http.server --bind "$UPA" --directory www 80 2>/dev/null &
	PIDS="$PIDS $!"
	wait_for "$UPA:80"
	cat >"$STATE/routes.json" <<'JSON'
{"version": 1, "routes": [
  {"host": "api.example.com", "path_allowlist": ["/v1/"], "auth_scheme": "Bearer", "token_env": "EGRESS_TOKEN_0"},
  {"host": "example.org"}
]}
JSON
	chmod 0600 "$STATE/routes.json"
	bb-egress ca init "$STATE/egress" >/dev/null 2>&1
	EP=$(free_port)
}

# The bb-egress command line for this bottle.
egress_argv() {
	jq -cn --arg r "$STATE/routes.json" --arg ca "$STATE/egress" --arg l "127.0.0.1:$EP" \
		--arg admin "unix:$ADMIN" --arg audit "$STATE/audit.log" --arg res "pypi.test:80:$UPA" \
		'["bb-egress", "serve", "--routes", $r, "--ca-dir", $ca, "--listen", $l, "--admin", $admin,
		  "--audit", $audit, "--resolve", $res]'
}

# bb-egress on its own, its pid in egress.pid.
start_egress() {
	EGRESS_TOKEN_0=tok-SECRET-value-77 $(egress_argv | jq -r 'join(" ")') \
		--pid-file "$STATE/egress.pid" 2>"$BATS_TEST_TMPDIR/egress.err" &
	EGRESS_PID=$!
	PIDS="$PIDS $EGRESS_PID"
	wait_for "127.0.0.1:$EP"
	wait_for "$STATE/egress.pid"
	wait_for "$ADMIN"
}

# GET through the proxy; prints the HTTP status.
via_egress() {
	curl -s -o "$BATS_TEST_TMPDIR/got" -w '%{http_code}' --proxy "http://127.0.0.1:$EP" "$1"
}

@test "an approved route takes effect in the running bb-egress, without a restart" {
	start_egress
	[ "$(via_egress "http://pypi.test/simple/index.html")" = 403 ]
	start_serve --timeout 60
	mcp_waiting request_egress_route '{"host": "pypi.test", "path_allowlist": ["/simple/"], "reason": "pip install"}'
	run bb-supervise approve "$id"
	assert_success
	assert_output "bb-supervise: $id approved: route for pypi.test in force: routes.json rewritten, SIGHUP sent to egress $EGRESS_PID"
	wait "$client"
	[ "$(mcp_result_text | head -n 1)" = "status: approved" ]
	wait_for_text "$BATS_TEST_TMPDIR/egress.err" "reloaded"
	[ "$(via_egress "http://pypi.test/simple/index.html")" = 200 ]
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = "simple index" ]
	# the path allowlist came along
	[ "$(via_egress "http://pypi.test/private")" = 403 ]
	# the same process, never restarted
	kill -0 "$EGRESS_PID"
	[ "$(cat "$STATE/egress.pid")" = "$EGRESS_PID" ]
}

@test "list_egress_routes shows the routes in force and never a credential" {
	start_egress
	start_serve
	run mcp call list_egress_routes
	assert_success
	[ "$(jq -r .isError <<<"$output")" = false ]
	routes=$(jq -r '.content[0].text' <<<"$output")
	[ "$(jq -c '.routes' <<<"$routes")" = \
		'[{"auth_scheme":"Bearer","authenticated":true,"host":"api.example.com","path_allowlist":["/v1/"]},{"authenticated":false,"host":"example.org","path_allowlist":[]}]' ]
	[[ "$output" != *tok-SECRET* ]]
	[[ "$output" != *EGRESS_TOKEN* ]]
	! grep -rq tok-SECRET "$STATE" "$BATS_TEST_TMPDIR/serve.log"
}

@test "list_egress_routes reports an egress it cannot reach as a tool error" {
	start_serve --egress-admin "unix:$BATS_TEST_TMPDIR/nothing.sock"
	run mcp call list_egress_routes
	assert_success
	[ "$(jq -r .isError <<<"$output")" = true ]
	[ "$(jq -r '.content[0].text' <<<"$output")" = \
		"could not read the egress routes: $BATS_TEST_TMPDIR/nothing.sock: Couldn't connect to server" ]
}

@test "list_egress_routes waiting on a silent egress blocks no other client" {
	# an admin socket that accepts and never answers; it notes each accept
	python3 -c '
import socket, sys, time
s = socket.socket(socket.AF_UNIX)
s.bind(sys.argv[1])
s.listen(8)
held = []
while True:
    held.append(s.accept()[0])
    open(sys.argv[2], "a").write("accepted\n")
' "$ADMIN" "$BATS_TEST_TMPDIR/accepts" &
	PIDS="$PIDS $!"
	wait_for "$ADMIN"
	start_serve --egress-admin "unix:$ADMIN"
	curl -s -o "$BATS_TEST_TMPDIR/slow" -H 'Content-Type: application/json' \
		--data-binary "$(call_body list_egress_routes '{}' 7)" "$URL" &
	slow=$!
	PIDS="$PIDS $slow"
	wait_for_text "$BATS_TEST_TMPDIR/accepts" accepted
	# while egress is asked: other requests are answered at once
	t0=$(date +%s%N)
	rpc '{"jsonrpc": "2.0", "id": 8, "method": "ping"}'
	[ "$status_code" = 200 ]
	[ "$(jq -c . <<<"$body")" = '{"id":8,"jsonrpc":"2.0","result":{}}' ]
	rpc "$(call_body proposal_status '{"id": "20000101T000000Z-00000000"}' 9)"
	[ "$(jq -r .result.isError <<<"$body")" = true ]
	[ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 2500 ]
	[ ! -s "$BATS_TEST_TMPDIR/slow" ]
	# and a second routes call waits on its own
	rpc "$(call_body list_egress_routes '{}' 10)" --max-time 1 || true
	[ "$status_code" = 000 ]
	[ "$(grep -c accepted "$BATS_TEST_TMPDIR/accepts")" = 2 ]
	# the first gets its answer when the 5 s are up: a tool error
	wait "$slow"
	[ "$(jq -r .result.isError "$BATS_TEST_TMPDIR/slow")" = true ]
	[ "$(jq -r '.result.content[0].text' "$BATS_TEST_TMPDIR/slow")" = \
		"could not read the egress routes: $ADMIN: Timeout was reached" ]
}

@test "under bb-sidecar: approve signals the supervisor, which has egress reload" {
	jq -n --argjson argv "$(egress_argv)" \
		'{version: 1, daemons: [{name: "egress", argv: $argv, env: ["PATH", "EGRESS_TOKEN_0"], reload_signal: "SIGHUP"}]}' \
		>daemons.json
	EGRESS_TOKEN_0=tok-SECRET-value-77 bb-sidecar -l "$BATS_TEST_TMPDIR/logs" -p "$STATE/sidecar.pid" daemons.json \
		2>"$BATS_TEST_TMPDIR/sidecar.err" &
	PIDS="$PIDS $!"
	wait_for "$STATE/sidecar.pid"
	wait_for "127.0.0.1:$EP"
	[ "$(via_egress "http://pypi.test/simple/index.html")" = 403 ]
	start_serve --timeout 0.05
	rpc "$(call_body request_egress_route '{"host": "pypi.test", "reason": "pip"}')"
	id=$(pending_id)
	run bb-supervise approve "$id"
	assert_success
	assert_output "bb-supervise: $id approved: route for pypi.test in force: routes.json rewritten, SIGHUP sent to sidecar $(cat "$STATE/sidecar.pid")"
	wait_for_text "$BATS_TEST_TMPDIR/sidecar.err" "forwarded SIGHUP to egress"
	i=0
	until [ "$(via_egress "http://pypi.test/simple/index.html")" = 200 ]; do
		[ $i -lt 40 ] || fail "route not in force: $(cat "$BATS_TEST_TMPDIR/got")"
		sleep 0.05
		i=$((i + 1))
	done
	[ "$(cat "$BATS_TEST_TMPDIR/got")" = "simple index" ]
	! grep -q 'restarting egress' "$BATS_TEST_TMPDIR/sidecar.err"
}
