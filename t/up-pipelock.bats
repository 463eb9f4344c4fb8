#!/usr/bin/env bats
# bb-up with pipelock in the chain (ns backend): agent -> bb-egress ->
# pipelock -> upstream.  pipelock is not in Debian: t/pipelock-standin
# stands in for it (check --config validates what bb-render-pipelock
# writes and the CA; run is a CONNECT forward proxy that logs each CONNECT
# on stdout, which bb-sidecar keeps in logs/pipelock.log).

load helper
load up-lib
bats_require_minimum_version 1.5.0

SLUG=demo-plock

setup() {
	up_setup
	up_token
	up_upstream "$UP_TEST_TOKEN" api.example.test
	up_manifest <<-'EOF2'
	egress:
	  routes:
	    - host: api.example.test
	      auth:
	        scheme: Bearer
	        token_ref: UP_TEST_TOKEN
	EOF2
	bb-manifest -a demo | bb-plan --slug "$SLUG" demo >plan.json
	STATE=$XDG_STATE_HOME/bb/bottles/$SLUG
	mkdir -p "$STATE"
	# the stand-in dials upstream itself, without DNS
	echo "api.example.test $ADDR" >"$STATE/standin-hosts"
	export BB_PIPELOCK=$BB_ROOT/t/pipelock-standin
}

teardown() {
	up_teardown
}

up() {
	run --separate-stderr bb-up -y -p plan.json -E --upstream-ca="$T/ca.pem" demo -- sh -c "$1"
}

@test "the chain agent -> egress -> pipelock -> upstream carries the request, the credential injected by egress" {
	up 'curl -sS https://api.example.test/v1/x -H "Authorization: Bearer agent-fake"'
	assert_success
	[ "$(jq -r .authorized <<<"$output")" = true ]
	[[ $stderr == *"pipelock : $BB_PIPELOCK"* ]]
	# pipelock saw the CONNECT: egress went through it
	grep -qF '"event": "connect", "host": "api.example.test:443", "allowed": true' "$STATE/logs/pipelock.log"
	# its config and CA: rendered from the plan where bb-supervise re-renders it
	bb-render-pipelock "$STATE/plan.json" | cmp - "$STATE/pipelock.yaml"
	[ "$(stat -c %a "$STATE/pipelock.yaml")" = 600 ]
	[ "$(stat -c %a "$STATE/pipelock/ca.key")" = 600 ]
	openssl x509 -in "$STATE/pipelock/ca.pem" -noout -text | grep -q 'NIST CURVE: P-256'
	[ "$(jq -r '.daemons[] | select(.name == "pipelock") | .restart_on' "$STATE/daemons.json")" = SIGUSR1 ]
	[ "$(jq -c '.daemons[] | select(.name == "pipelock") | .env' "$STATE/daemons.json")" = '["PATH"]' ]
	jq -e '.daemons[] | select(.name == "egress") | .argv | index("--upstream-proxy")' "$STATE/daemons.json"
	# egress trusts the pipelock CA (bumped hosts) and the -E one
	grep -qF "$(sed -n 2p "$STATE/pipelock/ca.pem")" "$STATE/egress-upstream-ca.pem"
	grep -qF "$(sed -n 2p ca.pem)" "$STATE/egress-upstream-ca.pem"
}

@test "a host pipelock blocks is refused even though egress allows it" {
	jq '.pipelock.api_allowlist = ["other.example"]' plan.json >p2.json && mv p2.json plan.json
	up 'curl -sS https://api.example.test/v1/x'
	assert_success
	[ "$(jq -r .reason <<<"$output")" = "upstream proxy refused the CONNECT" ]
	# and why, in pipelock's words
	[ "$(jq -c '[.upstream_status, .upstream_reason]' <<<"$output")" = '[403,"blocked: host not in api_allowlist"]' ]
	grep -qF '"host": "api.example.test:443", "allowed": false' "$STATE/logs/pipelock.log"
}

@test "pipelock's environment holds no credential; SIGUSR1 to the sidecar restarts it with the same config" {
	bb-up -y -p plan.json -E --upstream-ca="$T/ca.pem" demo -- sh -c 'touch ~/ready; sleep 30' 3>&- &
	PIDS+=($!)
	wait_for "$STATE/home/ready" 20
	pid=$(pgrep -f "pipelock-standin run --listen 127.0.0.1:[0-9]* --config $STATE/pipelock.yaml")
	[ -n "$pid" ]
	run sh -c "tr '\0' '\n' </proc/$pid/environ"
	assert_output 'PATH=/usr/local/bin:/usr/bin:/bin'
	kill -USR1 "$(cat "$STATE/sidecar.pid")"
	for i in $(seq 100); do
		new=$(pgrep -f "pipelock-standin run --listen 127.0.0.1:[0-9]* --config $STATE/pipelock.yaml" || true)
		[ -n "$new" ] && [ "$new" != "$pid" ] && break
		sleep 0.05
	done
	[ -n "$new" ] && [ "$new" != "$pid" ]
	run grep -rlF "$UP_TEST_TOKEN" "$XDG_STATE_HOME"
	assert_failure
}

@test "a failing pipelock check stops the launch with pipelock's message" {
	# a reused pipelock CA that pipelock refuses (RSA)
	mkdir -p -m 0700 "$STATE/pipelock"
	openssl req -x509 -newkey rsa:2048 -nodes -keyout "$STATE/pipelock/ca.key" \
		-out "$STATE/pipelock/ca.pem" -subj /CN=rsa -days 2 2>/dev/null
	chmod 600 "$STATE/pipelock/ca.key"
	up 'echo started'
	assert_failure 1
	refute_output --partial started
	[ "${stderr##*$'\n'}" = "bb-up: error: pipelock check: Config validation FAILED: tls_interception: CA must be ECDSA P-256" ]
	run pgrep -f "bb-egress serve --routes $STATE"
	assert_failure
}

@test "BB_PIPELOCK names something that is not an executable: refused" {
	BB_PIPELOCK=$T/nope up 'echo started'
	assert_failure 1
	[ "${stderr##*$'\n'}" = "bb-up: error: BB_PIPELOCK: $T/nope: not an executable" ]
}

@test "without pipelock: said once, and egress goes straight upstream" {
	unset BB_PIPELOCK
	! command -v pipelock || skip "a pipelock is installed on this host"
	run --separate-stderr bb-up -y -p plan.json -E --upstream-ca="$T/ca.pem" \
		-E "--resolve=api.example.test:443:$ADDR" demo -- sh -c 'curl -sS https://api.example.test/v1/x'
	assert_success
	[ "$(jq -r .authorized <<<"$output")" = true ]
	[ "$(grep -c '^pipelock :' <<<"$stderr")" = 1 ]
	[[ $stderr == *'pipelock : not found on PATH (nor $BB_PIPELOCK); egress runs without it'* ]]
	[ "$(jq '[.daemons[] | select(.name == "pipelock")] | length' "$STATE/daemons.json")" = 0 ]
	[ ! -e "$STATE/pipelock.yaml" ]
	BB_PIPELOCK=none run bb-up doctor
	assert_line 'pipelock absent: turned off (BB_PIPELOCK=none); egress runs without it'
}
