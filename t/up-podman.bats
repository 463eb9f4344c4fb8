#!/usr/bin/env bats
# bb-up on the podman backend: the same isolation as ns, from a container
# with --network=none, a non-root user and the env from a 0600 file.

load helper
load podman
bats_require_minimum_version 1.5.0

SLUG=p-abcde

setup_file() {
	podman_setup_file
}

setup() {
	bb_setup
	PIDS=()
	podman_require
	RUN=$XDG_RUNTIME_DIR/bb/$SLUG
	mkdir -p -m 0700 "$XDG_RUNTIME_DIR/bb" "$RUN"
	cat >plan.json <<-EOF2
	{"version": 1, "slug": "$SLUG", "agent": "t", "bottle": "b", "backend": "podman",
	 "egress": {"routes": []}, "git_gate": {"repos": []}, "supervise": {"enabled": false},
	 "env": {"LITERAL": {"source": "literal", "value": "lit-value", "origin": "bottle"}}}
	EOF2
	mkdir ws && echo hello >ws/file.txt
	socat "UNIX-LISTEN:$RUN/egress.sock,fork" "SYSTEM:echo egress; cat" &
	PIDS+=($!)
	wait_for "$RUN/egress.sock"
}

teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	podman rm -f -t 0 "bb-$SLUG" >/dev/null 2>&1 || true
}

agent() {
	run --separate-stderr bb-up -y -b podman -p plan.json -N -C ws t -- sh -c "$1"
}

@test "podman: the agent runs as uid 1000 without capabilities in a copy of --cwd" {
	agent 'id -u; pwd; cat file.txt; echo "$HOME $LITERAL"; grep CapEff /proc/self/status'
	assert_success
	assert_line --index 0 1000
	assert_line --index 1 /home/node/workspace
	assert_line --index 2 hello
	assert_line --index 3 '/home/node lit-value'
	assert_line --index 4 --regexp 'CapEff:[[:space:]]+0+$'
}

@test "podman: the relay reaches the sidecar; nothing else is reachable" {
	port=$(free_port)
	socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" SYSTEM:'echo host-service' &
	PIDS+=($!)
	agent "echo ping | socat -t 2 - TCP:127.0.0.1:9099
	       socat -t 1 - TCP:127.0.0.1:$port </dev/null 2>/dev/null || echo refused-loopback
	       socat -t 1 - TCP:1.1.1.1:443,connect-timeout=2 </dev/null 2>/dev/null || echo refused-outside
	       getent hosts example.com || echo no-dns
	       ls /sys/class/net"
	assert_success
	assert_line --index 0 egress
	assert_line --index 1 ping
	assert_line refused-loopback
	assert_line refused-outside
	assert_line no-dns
	assert_line lo
	refute_line host-service
}

@test "podman: a token in bb-up's environment never reaches the container; the env file is gone after" {
	tok=tok-$RANDOM-s3cr3t
	EGRESS_TOKEN_0=$tok agent 'env; cat /proc/*/environ 2>/dev/null | tr "\0" "\n"'
	assert_success
	assert_line LITERAL=lit-value
	refute_output --partial "$tok"
	[ ! -e "$XDG_STATE_HOME/bb/bottles/$SLUG/agent.env" ]
	[ "$(CONTAINERS_CONF=$BB_CONTAINERS_CONF podman ps -a --format '{{.Names}}' | grep -c "bb-$SLUG")" = 0 ]
	[ ! -e "$RUN" ]
}

@test "podman: the agent's exit status is bb-up's" {
	agent 'exit 5'
	assert_failure 5
}
