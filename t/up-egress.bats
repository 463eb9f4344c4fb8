#!/usr/bin/env bats
# bb-up end to end on the ns backend (and podman and docker, where it says so):
# bb-manifest | bb-plan, bb-sidecar running bb-egress, the agent reaching
# a local HTTPS API through the relay, with the credential injected
# outside the bottle.

load helper
load engine
load up-lib
bats_require_minimum_version 1.5.0

setup_file() {
	docker_setup_file
}

teardown_file() {
	docker_teardown_file
}

setup() {
	up_setup
	up_token
	export UP_TEST_FWD=forwarded
	up_upstream "$UP_TEST_TOKEN" api.example.test
	up_manifest <<-'EOF2'
	env:
	  FROM_HOST: ${UP_TEST_FWD}
	egress:
	  routes:
	    - host: api.example.test
	      path_allowlist: [/v1/]
	      auth:
	        scheme: Bearer
	        token_ref: UP_TEST_TOKEN
	EOF2
	mkdir ws && echo data >ws/f
}

teardown() {
	up_teardown
	# A container test that failed half-way leaves no container behind.
	if [ -n "${ENGINE:-}" ]; then
		for s in $(ls "$XDG_STATE_HOME/bb/bottles" 2>/dev/null); do
			ct_rm "bb-$s" >/dev/null 2>&1 || true
		done
	fi
}

# on_engine ENGINE FUNCTION: run the test's FUNCTION with the bottle on
# that container engine; then no container of the test is left.
on_engine() {
	ENGINE=$1
	engine_require
	BACKEND=$ENGINE "$2"
	for s in $(ls "$XDG_STATE_HOME/bb/bottles"); do
		[ -z "$(ct_containers "$s")" ]
	done
}

up() {
	run --separate-stderr bb-up -y ${BACKEND:+-b "$BACKEND"} -E --upstream-ca="$T/ca.pem" \
		-E "--resolve=api.example.test:443:$ADDR" -C ws demo -- sh -c "$1"
}

# From inside the bottle, with the real sidecars running: a request with
# the credential injected, the process table, every file the agent can
# read but the host's read-only /usr (and /proc, /sys, the devices), and
# every environment and argv of the bottle.  The scan looks for the first
# half of the token; ws/planted holds it, so the scan must find that file
# and nothing else.
probe_bottle() {
	local prefix=${UP_TEST_TOKEN%-s3cr3t}

	echo "$prefix" >ws/planted
	up "curl -sS https://api.example.test/v1/x; echo
	    echo \"fwd=\$FROM_HOST\"
	    ps -eo comm | sed 's/^/ps: /'
	    for d in /* /dev/shm /dev/mqueue; do
	        case \$d in /usr|/proc|/sys|/dev|/bin|/sbin|/lib|/lib32|/lib64|/libx32) continue;; esac
	        grep -rlsF -D skip -- '$prefix' \"\$d\" | sed 's/^/found: /'
	    done
	    { env; cat /proc/*/environ /proc/*/cmdline; } 2>/dev/null | tr '\0' '\n' | sed 's/^/dump: /'"
	assert_success
	[ "$(head -n 1 <<<"$output" | jq -r .authorized)" = true ]
	assert_line fwd=forwarded
	assert_line 'found: /home/node/workspace/planted'
	[ "$(grep -c '^found: ' <<<"$output")" = 1 ]
	[ "$(grep -c '^dump: ' <<<"$output")" -gt 20 ]
	assert_line 'ps: bb-relay'
	refute_line --regexp '^ps: (bb-sidecar|bb-egress|bb-gitgate|bb-supervise|python3|bash|sshd)$'
	refute_output --partial "$UP_TEST_TOKEN"
	# Nor any host path: no argv names the state or the runtime directory.
	refute_output --partial "$XDG_STATE_HOME"
	refute_output --partial "$XDG_RUNTIME_DIR"
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

@test "the token is in no file, environment or argv of the bottle; the sidecars are invisible" {
	probe_bottle
}

@test "podman: the credential injected, the token nowhere in the container, the sidecars invisible" {
	on_engine podman probe_bottle
}

@test "docker: the credential injected, the token nowhere in the container, the sidecars invisible" {
	on_engine docker probe_bottle
}

# bb-up is SIGKILLed with its sidecars running: they stop on their own,
# and so does the bottle (ns: --die-with-parent; containers: the client's
# SIGTERM); the next run cleans what is left (the runtime directory, the
# metadata).
killed_then_next_run() {
	local nap=300.$$$RANDOM up slug
	bb-up -y ${BACKEND:+-b "$BACKEND"} -E --upstream-ca="$T/ca.pem" \
		-E "--resolve=api.example.test:443:$ADDR" demo -- sleep "$nap" 3>&- &
	up=$!
	PIDS+=($up)
	up_wait_nap "$nap" 15
	slug=$(ls "$XDG_STATE_HOME/bb/bottles")
	pgrep -f "bb-egress serve --routes $XDG_STATE_HOME/bb/bottles/$slug/" >/dev/null
	kill -KILL "$up"
	wait "$up" || true
	# bb-sidecar -d stops the daemons when bb-up dies, however it dies...
	for _ in $(seq 100); do
		pgrep -f "bb-egress serve --routes $XDG_STATE_HOME/bb/bottles/$slug/" >/dev/null || break
		sleep 0.05
	done
	run pgrep -f "bb-egress serve --routes $XDG_STATE_HOME/bb/bottles/$slug/"
	assert_failure
	# ... and the next run cleans what is left.
	[ -d "$XDG_RUNTIME_DIR/bb/$slug" ]
	[ "$(jq -r .running "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = true ]
	if [ -n "${ENGINE:-}" ]; then
		# The container went down with bb-up.
		ct_wait_gone "$slug"
	fi
	run pgrep -f "sleep $nap"
	assert_failure
	up true
	assert_success
	[[ $stderr == *"bb-up: warning: $slug: cleaning up a bottle left by a dead bb-up"* ]]
	run pgrep -f "bb-egress serve --routes $XDG_STATE_HOME/bb/bottles/$slug/"
	assert_failure
	run pgrep -f "bb-sidecar .*$XDG_STATE_HOME/bb/bottles/$slug/"
	assert_failure
	run pgrep -f "sleep $nap"
	assert_failure
	[ ! -e "$XDG_RUNTIME_DIR/bb/$slug" ]
	[ ! -e "$XDG_STATE_HOME/bb/bottles/$slug/sidecar.pid" ]
	[ "$(jq -r .running "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = false ]
	[ -z "$(ls -A "$XDG_RUNTIME_DIR/bb")" ]
}

@test "a SIGKILLed bb-up's sidecars and sockets are cleaned by the next run" {
	killed_then_next_run
}

@test "podman: a SIGKILLed bb-up's sidecars, container and sockets are gone or cleaned by the next run" {
	on_engine podman killed_then_next_run
}

@test "docker: a SIGKILLed bb-up's sidecars, container and sockets are gone or cleaned by the next run" {
	on_engine docker killed_then_next_run
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

# The agent exits: the sidecars, their sockets, the bottle's mounts and
# processes (the container on podman or docker) are gone.
gone_after_exit() {
	local slug
	up 'exit 3'
	assert_failure 3
	slug=$(ls "$XDG_STATE_HOME/bb/bottles")
	run pgrep -f "bb-egress serve --routes $XDG_STATE_HOME"
	assert_failure
	run pgrep -f "bb-sidecar .*$XDG_STATE_HOME"
	assert_failure
	run pgrep -f "$slug"
	assert_failure
	run grep -c -e "$slug" /proc/self/mountinfo
	assert_output 0
	[ -z "$(ls -A "$XDG_RUNTIME_DIR/bb")" ]
	[ ! -e "$XDG_STATE_HOME/bb/bottles/$slug/sidecar.pid" ]
	[ ! -e "$XDG_STATE_HOME/bb/bottles/$slug/agent.env" ]
	[ "$(jq -r .running "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = false ]
	[ "$(jq -r .agent "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = demo ]
	[ "$(jq -r .cwd "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = "$T/ws" ]
	[ "$(jq -r .backend "$XDG_STATE_HOME/bb/bottles/$slug/metadata.json")" = "${BACKEND:-ns}" ]
}

@test "sidecars and sockets are gone after the agent exits" {
	gone_after_exit
}

@test "podman: sidecars, sockets and the container are gone after the agent exits" {
	on_engine podman gone_after_exit
}

@test "docker: sidecars, sockets and the container are gone after the agent exits" {
	on_engine docker gone_after_exit
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

@test "a restarted bb-egress is reachable from the running bottle again" {
	bb-up -y -E --upstream-ca="$T/ca.pem" -E "--resolve=api.example.test:443:$ADDR" \
		demo -- sh -c '
		curl -sS https://api.example.test/v1/a >~/first 2>&1
		i=0; while [ ! -e ~/go ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
		curl -sS https://api.example.test/v1/b' >out 2>err 3>&- &
	PIDS+=($!)
	for i in $(seq 200); do
		[ -s "$(ls "$XDG_STATE_HOME"/bb/bottles/*/home/first 2>/dev/null | head -n 1)" ] && break
		sleep 0.05
	done
	home=$(dirname "$(ls "$XDG_STATE_HOME"/bb/bottles/*/home/first)")
	[ "$(jq -r .path "$home/first")" = /v1/a ]
	log=$(ls "$XDG_STATE_HOME"/bb/bottles/*/logs/sidecar.log)
	# bb-egress and its workers (one per CPU): kill the parent only; the
	# supervisor takes its group down and starts a new one.
	old=$(pgrep -o -f "bb-egress serve --routes $XDG_STATE_HOME")
	workers=$(pgrep -P "$old" | tr '\n' ' ')
	[ -n "$workers" ]
	sock=$(ls "$XDG_RUNTIME_DIR"/bb/*/bottle/egress.sock)
	kill -KILL "$old"
	for i in $(seq 100); do
		new=$(pgrep -o -f "bb-egress serve --routes $XDG_STATE_HOME" || true)
		[ -n "$new" ] && [ "$new" != "$old" ] &&
			[ "$(curl -s --unix-socket "$sock" -o /dev/null -w '%{http_code}' http://x/)" != 000 ] && break
		sleep 0.05
	done
	[ -n "$new" ] && [ "$new" != "$old" ]
	for w in $workers; do
		run ps -o stat= -p "$w"
		[ -z "$output" ] || [ "${output#Z}" != "$output" ] || fail "worker $w outlived its parent: $output"
	done
	run grep -c 'started egress' "$log"
	assert_output 2
	touch "$home/go"
	wait "${PIDS[-1]}"
	[ "$(jq -r .path out)" = /v1/b ]
	[ "$(jq -r .authorized out)" = true ]
}

@test "the bottle sees its sockets read-only and not egress's admin socket" {
	up 'ls /run/bb/sock; rm -f /run/bb/sock/egress.sock && echo removed; touch /run/bb/sock/x && echo created; ln -s /tmp /run/bb/sock/l && echo linked; test -S /run/bb/sock/egress.sock && echo still'
	assert_success
	assert_output $'egress.sock\nstill'
}
