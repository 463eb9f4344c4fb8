#!/usr/bin/env bats
# bb-up end to end on the ns backend: bb-manifest | bb-plan, bb-sidecar
# running bb-egress, the agent reaching a local HTTPS API through the
# relay, with the credential injected outside the bottle.

load helper
bats_require_minimum_version 1.5.0

setup() {
	bb_setup
	PIDS=()
	# A loopback address of our own, so port 443 never collides.
	ADDR=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -subj /CN=up-test-ca -days 2 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout srv.key -out srv.csr -subj /CN=api.example.test 2>/dev/null
	printf 'subjectAltName=DNS:api.example.test\n' >ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out srv.pem -days 2 -extfile ext 2>/dev/null
	export UP_TEST_TOKEN=tok-$RANDOM-s3cr3t UP_TEST_FWD=forwarded
	ECHO_EXPECT_TOKEN=$UP_TEST_TOKEN python3 "$BB_ROOT/share/examples/https-echo.py" "$ADDR" 443 srv.pem srv.key &
	PIDS+=($!)
	wait_for "$ADDR:443"
	mkdir -p "$HOME/.bot-bottle/bottles" "$HOME/.bot-bottle/agents"
	cat >"$HOME/.bot-bottle/bottles/dev.md" <<-'EOF2'
	---
	env:
	  FROM_HOST: ${UP_TEST_FWD}
	egress:
	  routes:
	    - host: api.example.test
	      path_allowlist: [/v1/]
	      auth:
	        scheme: Bearer
	        token_ref: UP_TEST_TOKEN
	---
	EOF2
	printf -- '---\nbottle: dev\n---\nYou are a test.\n' >"$HOME/.bot-bottle/agents/demo.md"
	mkdir ws && echo data >ws/f
}

teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

up() {
	run --separate-stderr bb-up -y -E --upstream-ca="$T/ca.pem" \
		-E "--resolve=api.example.test:443:$ADDR" -C ws demo -- sh -c "$1"
}

@test "an allowed request gets the credential injected outside the bottle" {
	up 'curl -sS https://api.example.test/v1/x -H "Authorization: Bearer agent-fake"'
	assert_success
	[ "$(jq -r .authorized <<<"$output")" = true ]
	[ "$(jq -r .authorization <<<"$output")" = "Bearer <${#UP_TEST_TOKEN} bytes>" ]
	[ "$(jq -r .path <<<"$output")" = /v1/x ]
}

@test "a path outside the allowlist and an unknown host are denied with a JSON reason" {
	up 'curl -sS https://api.example.test/v2/x; echo; curl -sS https://other.example/; echo'
	assert_success
	output=$(grep -v '^$' <<<"$output")
	[ "$(sed -n 1p <<<"$output" | jq -r .reason)" = "path not allowed" ]
	[ "$(sed -n 2p <<<"$output" | jq -r .reason)" = "host not allowed" ]
	[ "$(sed -n 2p <<<"$output" | jq -r .error)" = egress_denied ]
}

@test "the token is nowhere in the bottle, and the plan forwarded the host variable" {
	up 'echo "fwd=$FROM_HOST"; { env; cat /proc/*/environ /proc/*/cmdline; grep -rs . /tmp /run/bb /etc /home/node; } >/tmp/dump 2>/dev/null; cp /tmp/dump ~/dump'
	assert_success
	assert_line fwd=forwarded
	dump=$(ls "$XDG_STATE_HOME"/bb/bottles/*/home/dump)
	[ "$(wc -l <"$dump")" -gt 100 ]
	run grep -c -F -- "$UP_TEST_TOKEN" "$dump"
	assert_output 0
}

@test "the token is on no host argv, in no state file and in no log" {
	bb-up -y -E --upstream-ca="$T/ca.pem" -E "--resolve=api.example.test:443:$ADDR" \
		demo -- sh -c 'curl -s https://api.example.test/v1/y >/dev/null; sleep 30' 3>&- &
	PIDS+=($!)
	wait_for "$XDG_RUNTIME_DIR/bb"
	for i in $(seq 100); do
		[ -n "$(ls "$XDG_STATE_HOME"/bb/bottles/*/logs/egress-audit.log 2>/dev/null)" ] &&
			grep -q /v1/y "$XDG_STATE_HOME"/bb/bottles/*/logs/egress-audit.log && break
		sleep 0.1
	done
	run sh -c 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" " "'
	assert_output --partial 'bb-egress serve'
	refute_output --partial "$UP_TEST_TOKEN"
	run grep -rl "$UP_TEST_TOKEN" "$XDG_STATE_HOME" "$XDG_RUNTIME_DIR"
	assert_failure
}

@test "a missing token variable fails the launch naming it, not its value" {
	unset UP_TEST_TOKEN
	up 'echo started'
	assert_failure 1
	refute_output --partial started
	[[ $stderr == *"bb-up: error: egress: route 'api.example.test': host variable UP_TEST_TOKEN is not set or empty"* ]]
}

@test "sidecars and sockets are gone after the agent exits" {
	up 'exit 3'
	assert_failure 3
	run pgrep -f "bb-egress serve --routes $XDG_STATE_HOME"
	assert_failure
	run pgrep -f "bb-sidecar -g 2 -l $XDG_STATE_HOME"
	assert_failure
	[ -z "$(ls -A "$XDG_RUNTIME_DIR/bb")" ]
	slug=$(ls "$XDG_STATE_HOME/bb/bottles")
	[ ! -e "$XDG_STATE_HOME/bb/bottles/$slug/sidecar.pid" ]
	[ "$(jq -r .running "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = false ]
	[ "$(jq -r .agent "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = demo ]
	[ "$(jq -r .cwd "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = "$T/ws" ]
}

@test "the workspace is the copy of -C and the prompt is in the home" {
	up 'pwd; cat f; cat ~/.bot-bottle-prompt.txt; echo; stat -c %a ~/.bot-bottle-prompt.txt; test -f ~/.claude.json && echo claude-json'
	assert_success
	assert_line --index 0 /home/node/workspace
	assert_line --index 1 data
	assert_line 'You are a test.'
	assert_line 600
	assert_line claude-json
}

@test "--dry-run prints the plan and starts nothing" {
	run --separate-stderr bb-up -n demo
	assert_success
	[ "$(jq -r .agent <<<"$output")" = demo ]
	[[ $stderr == *"agent : demo"* ]]
	[ ! -e "$XDG_STATE_HOME/bb" ] || [ -z "$(ls -A "$XDG_STATE_HOME/bb/bottles" 2>/dev/null)" ]
}

@test "resume reuses the bottle's home and runs the provider's resume command" {
	up 'echo kept >~/note'
	assert_success
	slug=$(ls "$XDG_STATE_HOME/bb/bottles")
	run --separate-stderr bb-up resume -y "$slug" -- sh -c 'cat ~/note; pwd'
	assert_success
	assert_line --index 0 kept
	# The provider's resume command: no claude here, so the exec fails.
	run -127 --separate-stderr bb-up resume -y "$slug"
	[[ $stderr == *"claude: No such file or directory"* ]]
}
