#!/usr/bin/env bats
# bb-supervise's operator side: pending, show, approve (and applying a
# route to a running bottle), reject, watch.

load supervise_helper

setup() {
	bottle_setup
	routes_file
}

# propose TOOL ARGS: queue a proposal through the server; prints its id.
propose() {
	rpc "$(call_body "$1" "$2")"
	[ "$(jq -r .result.isError <<<"$body")" = false ] || { echo "$body" >&2; return 1; }
	jq -r .result.content[0].text <<<"$body" | sed -n 's/^id: //p'
}

@test "pending lists proposals of every bottle, oldest first; --json gives the documents" {
	start_serve --timeout 0.05
	a=$(propose request_egress_route '{"host": "pypi.org", "path_allowlist": ["/simple/", "/packages/"], "reason": "pip"}')
	b=$(propose report_blocked '{"kind": "capability", "description": "no gcc in the image"}')
	other=$XDG_STATE_HOME/bb/bottles/zz-other
	mkdir -p "$other/queue"
	jq -n --arg id 20000101T000000Z-00000000 \
		'{version: 1, id: $id, tool: "report_blocked", bottle_slug: "zz-other", created_at: "2000-01-01T00:00:00Z", justification: "old", payload: {kind: "pipelock", description: "old"}}' \
		>"$other/queue/20000101T000000Z-00000000.proposal.json"
	run bb-supervise pending
	assert_success
	assert_output "20000101T000000Z-00000000 zz-other blocked pipelock: old
$a $SLUG route pypi.org paths=/simple/,/packages/: pip
$b $SLUG blocked capability: no gcc in the image"
	run bb-supervise pending --json
	assert_success
	[ "$(jq -r '[.[].id] | join(" ")' <<<"$output")" = "20000101T000000Z-00000000 $a $b" ]
	[ "$(jq -r '.[1].payload.route.host' <<<"$output")" = pypi.org ]
	run bb-supervise pending --state-root "$BATS_TEST_TMPDIR/nowhere"
	assert_success
	assert_output ''
}

@test "text from the agent cannot drive the operator's terminal" {
	start_serve --timeout 0.05
	id=$(propose report_blocked "$(jq -n '{kind: "credential", description: "a\u001b]0;pwned\u0007b\nc\u009bd"}')")
	run bb-supervise pending
	assert_success
	assert_output "$id $SLUG blocked credential: a?]0;pwned?b?c??d"
	[[ "$output" != *$'\e'* ]]
}

@test "show prints the proposal with its status, before and after the decision" {
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	id=$(propose request_egress_route '{"host": "a.example", "reason": "r"}')
	run bb-supervise show "$id"
	assert_success
	[ "$(jq -r .status <<<"$output")" = pending ]
	[ "$(jq -r .proposal.id <<<"$output")" = "$id" ]
	[ "$(jq -r .response <<<"$output")" = null ]
	USER=bob bb-supervise approve "$id"
	run bb-supervise show "$id"
	[ "$(jq -r .status <<<"$output")" = approved ]
	[ "$(jq -r .response.decided_by <<<"$output")" = bob ]
	run bb-supervise show 20990101T000000Z-deadbeef
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: 20990101T000000Z-deadbeef: no such proposal under $XDG_STATE_HOME/bb/bottles"
	run bb-supervise show ../../routes
	[ "$status" -eq 1 ]
	assert_output 'bb-supervise: error: ../../routes: not a proposal id'
}

@test "approve applies the route: routes.json rewritten atomically, SIGHUP to egress, then recorded and archived" {
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	id=$(propose request_egress_route '{"host": "pypi.org", "path_allowlist": ["/simple/"], "reason": "pip"}')
	USER=alice run bb-supervise approve "$id"
	assert_success
	assert_output "bb-supervise: $id approved: route for pypi.org in force: routes.json rewritten, SIGHUP sent to egress $(cat "$STATE/egress.pid")"
	[ "$(jq -c .routes "$STATE/routes.json")" = \
		'[{"auth_scheme":"Bearer","host":"api.anthropic.com","token_env":"EGRESS_TOKEN_0"},{"host":"example.org"},{"host":"pypi.org","path_allowlist":["/simple/"]}]' ]
	[ "$(stat -c %a "$STATE/routes.json")" = 600 ]
	wait_for_text "$BATS_TEST_TMPDIR/signals" HUP
	[ "$(grep -c HUP "$BATS_TEST_TMPDIR/signals")" = 1 ]
	[ ! -e "$QUEUE/$id.proposal.json" ]
	[ ! -e "$QUEUE/$id.response.json" ]
	[ -e "$QUEUE/archive/$id.proposal.json" ]
	r=$QUEUE/archive/$id.response.json
	[ "$(stat -c %a "$r")" = 600 ]
	[ "$(jq -c '{version, id, status, decided_by, edited, applied}' "$r")" = \
		"{\"version\":1,\"id\":\"$id\",\"status\":\"approved\",\"decided_by\":\"alice\",\"edited\":false,\"applied\":{\"route\":{\"host\":\"pypi.org\",\"path_allowlist\":[\"/simple/\"]}}}" ]
	jq -r .decided_at "$r" | grep -Eq '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$'
	run bb-supervise approve "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: $id: already answered: approved"
	run bb-supervise pending
	assert_output ''
}

@test "approve replaces the route for the same host, compared case-insensitively" {
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	id=$(propose request_egress_route '{"host": "EXAMPLE.org", "path_allowlist": ["/api/"], "reason": "narrower"}')
	run bb-supervise approve "$id"
	assert_success
	[ "$(jq -c .routes "$STATE/routes.json")" = \
		'[{"auth_scheme":"Bearer","host":"api.anthropic.com","token_env":"EGRESS_TOKEN_0"},{"host":"example.org","path_allowlist":["/api/"]}]' ]
}

@test "approve --edit applies the operator's version and records the edit; a bad edit changes nothing" {
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	id=$(propose request_egress_route '{"host": "pypi.org", "reason": "pip"}')
	cp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	echo '{"route": {"host": "pypi.org", "path_allowlist": ["simple"]}}' >bad.json
	run bb-supervise approve --edit bad.json "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: bad.json: payload.route.path_allowlist[0]: 'simple' must be an absolute path prefix starting with '/'"
	echo '{"route": {"host": "pypi.org"}, "extra": 1}' >bad2.json
	run bb-supervise approve --edit bad2.json "$id"
	[ "$status" -eq 1 ]
	assert_output 'bb-supervise: error: bad2.json: payload must be {"route": {...}} (bb-supervise(5))'
	echo '{"route": ' >bad3.json
	run bb-supervise approve --edit bad3.json "$id"
	[ "$status" -eq 1 ]
	assert_output --partial 'bb-supervise: error: bad3.json: line 2 column 0:'
	cmp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	[ -e "$QUEUE/$id.proposal.json" ]
	[ "$(grep -c HUP "$BATS_TEST_TMPDIR/signals")" = 0 ]
	echo '{"route": {"host": "pypi.org", "path_allowlist": ["/simple/"]}}' >good.json
	run bb-supervise approve "$id" --edit good.json
	assert_success
	[ "$(jq -c '.routes[-1]' "$STATE/routes.json")" = '{"host":"pypi.org","path_allowlist":["/simple/"]}' ]
	[ "$(jq -c '{edited, applied}' "$QUEUE/archive/$id.response.json")" = \
		'{"edited":true,"applied":{"route":{"host":"pypi.org","path_allowlist":["/simple/"]}}}' ]
}

@test "if applying fails the proposal stays pending and nothing is recorded" {
	start_serve --timeout 0.05
	id=$(propose request_egress_route '{"host": "pypi.org", "reason": "pip"}')
	cp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	run bb-supervise approve "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: $STATE: no running egress to reload: neither sidecar.pid nor egress.pid; nothing applied"
	sh -c 'exit 0' &
	dead=$!
	wait "$dead"
	echo "$dead" >"$STATE/egress.pid"
	run bb-supervise approve "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: $STATE/egress.pid: process $dead is not running: No such process"
	echo 'garbage' >"$STATE/egress.pid"
	run bb-supervise approve "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: $STATE/egress.pid: not a process id"
	cmp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	[ -e "$QUEUE/$id.proposal.json" ]
	[ ! -e "$QUEUE/archive/$id.response.json" ]
	run bb-supervise pending
	assert_output --partial "$id"
}

@test "the sidecar supervisor gets SIGHUP when there is one" {
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/egress-signals" "$STATE/egress.pid"
	start_signal_recorder "$BATS_TEST_TMPDIR/sidecar-signals" "$STATE/sidecar.pid"
	id=$(propose request_egress_route '{"host": "pypi.org", "reason": "pip"}')
	run bb-supervise approve "$id"
	assert_success
	wait_for_text "$BATS_TEST_TMPDIR/sidecar-signals" HUP
	sleep 0.2
	[ "$(grep -c HUP "$BATS_TEST_TMPDIR/egress-signals")" = 0 ]
}

@test "auth only by reusing a slot the bottle has; new credentials and provider hosts are refused" {
	plan_file
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	rpc "$(call_body request_egress_route '{"host": "uploads.github.com", "auth": {"scheme": "Bearer", "token_ref": "AWS_SECRET"}, "reason": "r"}')"
	[ "$(jq -r .result.isError <<<"$body")" = true ]
	[ "$(jq -r .result.content[0].text <<<"$body")" = "proposal refused: route auth.token_ref 'AWS_SECRET' has no token slot in this bottle; a running bottle cannot get new credentials: add the route to the bottle's manifest and relaunch" ]
	rpc "$(call_body request_egress_route '{"host": "API.anthropic.com", "path_allowlist": ["/x/"], "reason": "r"}')"
	[ "$(jq -r .result.content[0].text <<<"$body")" = "proposal refused: route host 'api.anthropic.com' is a provider route; it cannot be changed in a running bottle" ]
	[ -z "$(ls "$QUEUE"/*.proposal.json 2>/dev/null)" ]
	id=$(propose request_egress_route '{"host": "uploads.github.com", "auth": {"scheme": "token", "token_ref": "GH_PAT"}, "reason": "release assets"}')
	run bb-supervise pending
	assert_output "$id $SLUG route uploads.github.com auth=token/GH_PAT: release assets"
	run bb-supervise approve "$id"
	assert_success
	[ "$(jq -c '.routes[-1]' "$STATE/routes.json")" = '{"auth_scheme":"token","host":"uploads.github.com","token_env":"EGRESS_TOKEN_1"}' ]
	# the plan follows, and pipelock's allowlist mirrors egress
	[ "$(jq -c '.egress.routes[-1]' "$STATE/plan.json")" = \
		'{"auth_scheme":"token","host":"uploads.github.com","path_allowlist":[],"provider":false,"ssrf_ip_allowlist":[],"tls_passthrough":false,"token_env":"EGRESS_TOKEN_1","token_ref":"GH_PAT"}' ]
	[ "$(jq -c '.pipelock.api_allowlist' "$STATE/plan.json")" = '["api.anthropic.com","api.github.com","uploads.github.com"]' ]
	# an operator's edit cannot add credentials either
	id=$(propose request_egress_route '{"host": "b.example", "reason": "r"}')
	echo '{"route": {"host": "b.example", "auth": {"scheme": "Bearer", "token_ref": "NEW_TOKEN"}}}' >edit.json
	run bb-supervise approve --edit edit.json "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: route auth.token_ref 'NEW_TOKEN' has no token slot in this bottle; a running bottle cannot get new credentials: add the route to the bottle's manifest and relaunch"
	# the token value itself is nowhere in the state
	! grep -rq 'secret-value' "$STATE"
}

@test "with pipelock in the chain and no bb-render-pipelock, approve refuses and changes nothing" {
	plan_file
	echo 'version: 1' >"$STATE/pipelock.yaml"
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/sidecar.pid"
	id=$(propose request_egress_route '{"host": "pypi.org", "reason": "pip"}')
	cp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	cp "$STATE/plan.json" "$BATS_TEST_TMPDIR/plan.before"
	# a copy of bb-supervise alone in its directory, and a PATH without bb
	mkdir -p "$BATS_TEST_TMPDIR/path"
	cp "$BB_ROOT/bin/bb-supervise" "$BATS_TEST_TMPDIR/path/"
	PATH=$BATS_TEST_TMPDIR/path run bb-supervise approve "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: $STATE/pipelock.yaml: pipelock is in the chain but bb-render-pipelock is neither in $BATS_TEST_TMPDIR/path nor on PATH; cannot re-render its allowlist, nothing applied"
	cmp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	cmp "$STATE/plan.json" "$BATS_TEST_TMPDIR/plan.before"
	[ -e "$QUEUE/$id.proposal.json" ]
	[ "$(grep -c 'HUP\|USR1' "$BATS_TEST_TMPDIR/signals")" = 0 ]
}

# A bottle with pipelock in the chain (its pipelock.yaml rendered from
# the plan), the server, a sidecar that records signals, and a route for
# pypi.org proposed: its id in $id.
pipelock_proposal() {
	plan_file
	jq '.pipelock.ca_cert = "/state/pipelock/ca.pem" | .pipelock.ca_key = "/state/pipelock/ca.key"' \
		"$STATE/plan.json" >plan.tmp && mv plan.tmp "$STATE/plan.json"
	bb-render-pipelock -o "$STATE/pipelock.yaml" "$STATE/plan.json"
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/sidecar.pid"
	id=$(propose request_egress_route '{"host": "pypi.org", "reason": "pip"}')
}

@test "with pipelock in the chain, approve re-renders its allowlist and restarts it through the sidecar" {
	pipelock_proposal
	run bb-supervise approve "$id"
	assert_success
	assert_output --partial 'pipelock.yaml re-rendered'
	wait_for_text "$BATS_TEST_TMPDIR/signals" HUP
	wait_for_text "$BATS_TEST_TMPDIR/signals" USR1
	run bb-render-pipelock --parse "$STATE/pipelock.yaml"
	assert_success
	[ "$(jq -c .api_allowlist <<<"$output")" = '["api.anthropic.com","api.github.com","pypi.org"]' ]
	# the file in force is exactly what the renderer makes of the new plan
	bb-render-pipelock "$STATE/plan.json" >expected.yaml
	cmp expected.yaml "$STATE/pipelock.yaml"
	[ "$(stat -c %a "$STATE/pipelock.yaml")" = 600 ]
}

@test "approve finds bb-render-pipelock next to bb-supervise when bb is not on PATH" {
	pipelock_proposal
	# as bb-up's sidecars and an operator without bb installed run it
	[ ! -e /usr/bin/bb-render-pipelock ] && [ ! -e /bin/bb-render-pipelock ]
	PATH=/usr/bin:/bin run "$BB_ROOT/bin/bb-supervise" approve "$id"
	assert_success
	assert_output --partial 'pipelock.yaml re-rendered'
	wait_for_text "$BATS_TEST_TMPDIR/signals" USR1
	run bb-render-pipelock --parse "$STATE/pipelock.yaml"
	[ "$(jq -c .api_allowlist <<<"$output")" = '["api.anthropic.com","api.github.com","pypi.org"]' ]
	# and it is the sibling that ran, not one found on PATH
	mkdir -p "$BATS_TEST_TMPDIR/decoy"
	printf '#!/bin/sh\necho decoy >&2; exit 3\n' >"$BATS_TEST_TMPDIR/decoy/bb-render-pipelock"
	chmod +x "$BATS_TEST_TMPDIR/decoy/bb-render-pipelock"
	id=$(propose request_egress_route '{"host": "files.example", "reason": "dl"}')
	PATH=$BATS_TEST_TMPDIR/decoy:/usr/bin:/bin run "$BB_ROOT/bin/bb-supervise" approve "$id"
	assert_success
	run bb-render-pipelock --parse "$STATE/pipelock.yaml"
	[ "$(jq -c .api_allowlist <<<"$output")" = '["api.anthropic.com","api.github.com","files.example","pypi.org"]' ]
}

@test "reject records the reason, applies nothing, and needs --reason" {
	start_serve --timeout 0.05
	start_signal_recorder "$BATS_TEST_TMPDIR/signals" "$STATE/egress.pid"
	id=$(propose request_egress_route '{"host": "pypi.org", "reason": "pip"}')
	cp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	run bb-supervise reject "$id"
	[ "$status" -eq 2 ]
	run bb-supervise reject --reason 'use the internal mirror' "$id"
	assert_success
	assert_output "bb-supervise: $id rejected"
	cmp "$STATE/routes.json" "$BATS_TEST_TMPDIR/routes.before"
	[ "$(grep -c HUP "$BATS_TEST_TMPDIR/signals")" = 0 ]
	[ "$(jq -c '{status, notes, edited, applied}' "$QUEUE/archive/$id.response.json")" = \
		'{"status":"rejected","notes":"use the internal mirror","edited":false,"applied":null}' ]
	run bb-supervise approve "$id"
	[ "$status" -eq 1 ]
	assert_output "bb-supervise: error: $id: already answered: rejected"
}

@test "approving a blocked report answers it and applies nothing" {
	start_serve --timeout 0.05
	id=$(propose report_blocked '{"kind": "pipelock", "description": "pipelock refused a download"}')
	run bb-supervise approve --note 'retry in a minute' "$id"
	assert_success
	[ "$(jq -r .notes "$QUEUE/archive/$id.response.json")" = 'retry in a minute' ]
}

@test "watch prints what is pending, then each new proposal as it arrives" {
	start_serve --timeout 0.05
	a=$(propose report_blocked '{"kind": "credential", "description": "first"}')
	bb-supervise watch >"$BATS_TEST_TMPDIR/watch" 2>&1 &
	PIDS="$PIDS $!"
	bb-supervise watch --json >"$BATS_TEST_TMPDIR/watch.json" 2>&1 &
	PIDS="$PIDS $!"
	wait_for_text "$BATS_TEST_TMPDIR/watch" "$a"
	b=$(propose request_egress_route '{"host": "pypi.org", "reason": "second"}')
	wait_for_text "$BATS_TEST_TMPDIR/watch" "$b"
	wait_for_text "$BATS_TEST_TMPDIR/watch.json" "$b"
	[ "$(cat "$BATS_TEST_TMPDIR/watch")" = "$a $SLUG blocked credential: first
$b $SLUG route pypi.org: second" ]
	[ "$(jq -r .id "$BATS_TEST_TMPDIR/watch.json" | tr '\n' ' ')" = "$a $b " ]
	[ "$(jq -r 'select(.id == "'"$b"'") | .payload.route.host' "$BATS_TEST_TMPDIR/watch.json")" = pypi.org ]
	# no bell when not on a terminal
	! grep -q $'\a' "$BATS_TEST_TMPDIR/watch"
}

@test "watch rings the bell on a terminal for proposals that arrive after the first look" {
	command -v script >/dev/null || skip "no script(1) for a pseudo-terminal"
	start_serve --timeout 0.05
	a=$(propose report_blocked '{"kind": "credential", "description": "before"}')
	script -qfec "bb-supervise watch" /dev/null >"$BATS_TEST_TMPDIR/tty" 2>&1 &
	PIDS="$PIDS $!"
	wait_for_text "$BATS_TEST_TMPDIR/tty" "$a"
	b=$(propose report_blocked '{"kind": "credential", "description": "after"}')
	wait_for_text "$BATS_TEST_TMPDIR/tty" "$b"
	grep -a "$a" "$BATS_TEST_TMPDIR/tty" | grep -vq $'\a'
	grep -a "$b" "$BATS_TEST_TMPDIR/tty" | grep -q $'\a'
}

@test "calls waiting at once are capped; pending proposals per bottle are capped" {
	start_serve --timeout 30 --max-waits 1
	curl -s -H 'Content-Type: application/json' \
		--data-binary "$(call_body report_blocked '{"kind": "credential", "description": "one"}')" \
		"$URL" >"$BATS_TEST_TMPDIR/first" &
	PIDS="$PIDS $!"
	first=$!
	pending_id >/dev/null
	rpc "$(call_body report_blocked '{"kind": "credential", "description": "two"}')"
	text=$(jq -r .result.content[0].text <<<"$body")
	[ "$(printf '%s\n' "$text" | sed -n 1,2p)" = "status: pending
notes: 1 calls already wait for the operator; proposal remains queued" ]
	[ "$(ls "$QUEUE"/*.proposal.json | wc -l)" = 2 ]
	kill "$first"
	for i in $(seq 3 64); do
		jq -n --arg id "20000101T000000Z-$(printf %08d "$i")" '{version: 1, id: $id}' >"$QUEUE/20000101T000000Z-$(printf %08d "$i").proposal.json"
	done
	rpc "$(call_body report_blocked '{"kind": "credential", "description": "too many"}')"
	[ "$(jq -r .result.isError <<<"$body")" = true ]
	[ "$(jq -r .result.content[0].text <<<"$body")" = 'proposal refused: 64 proposals already wait for the operator; follow them up with proposal_status first' ]
}

@test "an agent that hangs up while waiting frees its place" {
	start_serve --timeout 30 --max-waits 1
	curl -s -m 1 -H 'Content-Type: application/json' \
		--data-binary "$(call_body report_blocked '{"kind": "credential", "description": "one"}')" \
		"$URL" >/dev/null || true
	id=$(pending_id)
	wait_for_text "$BATS_TEST_TMPDIR/serve.log" "$id: the agent hung up; proposal remains queued"
	curl -s -H 'Content-Type: application/json' \
		--data-binary "$(call_body report_blocked '{"kind": "credential", "description": "two"}')" \
		"$URL" >"$BATS_TEST_TMPDIR/second" &
	PIDS="$PIDS $!"
	sleep 0.5
	[ ! -s "$BATS_TEST_TMPDIR/second" ] # it waits: the first place was freed
}
