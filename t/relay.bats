#!/usr/bin/env bats
# bb-relay: loopback ports to unix sockets, the environment from a
# descriptor, and the relay's life bound to the command's.

load helper
bats_require_minimum_version 1.5.0

teardown() {
	[ -n "${SRV:-}" ] && kill "$SRV" 2>/dev/null
	true
}

# A unix-socket server answering each connection with "got-" before its input.
echo_server() {
	socat "UNIX-LISTEN:$1,fork" SYSTEM:'sed s/^/got-/' &
	SRV=$!
	wait_for "$1"
}

@test "a loopback port is relayed to the unix socket, half-close included" {
	echo_server "$T/s.sock"
	port=$(free_port)
	run bb-relay -l "$port:$T/s.sock" -- \
		sh -c "printf hello | socat -t 5 - TCP:127.0.0.1:$port"
	assert_success
	assert_output 'got-hello'
}

@test "the command's exit status is bb-relay's" {
	port=$(free_port)
	run bb-relay -l "$port:$T/none.sock" -- sh -c 'exit 7'
	assert_failure 7
}

@test "the relay never outlives a command that exits at once" {
	# The relay's death signal is armed after the fork: a command gone
	# before that must still take the relay with it.  (A race: this fails
	# only when it hits, as it did once under CI load.)
	port=$(free_port)
	for _ in $(seq 100); do
		bb-relay -l "$port:$T/none.sock" -- true >/dev/null 2>&1 </dev/null || true
	done
	sleep 0.2
	run pgrep -f "bb-relay -l $port:"
	pkill -f "bb-relay -l $port:" || true
	assert_failure
}

@test "-e replaces the whole environment and closes the descriptor" {
	export BB_TEST_SECRET=must-not-pass
	run bb-relay -e 3 -- /usr/bin/env 3< <(printf 'A=1\0PATH=/usr/bin:/bin\0')
	assert_success
	assert_output "A=1
PATH=/usr/bin:/bin"
	run bb-relay -e 3 -- sh -c 'ls /proc/self/fd/3 2>/dev/null && echo open || echo closed' \
		3< <(printf 'PATH=/usr/bin:/bin\0')
	assert_output closed
}

@test "the relay goes away with the command" {
	echo_server "$T/s.sock"
	port=$(free_port)
	run bb-relay -l "$port:$T/s.sock" -- true
	assert_success
	sleep 0.2
	run socat -T 1 - "TCP:127.0.0.1:$port" </dev/null
	assert_failure
}

@test "a connection to a port whose socket is missing is closed, not hung" {
	port=$(free_port)
	run timeout 10 bb-relay -l "$port:$T/absent.sock" -- \
		sh -c "printf x | socat -t 2 - TCP:127.0.0.1:$port; echo done"
	assert_success
	assert_output --partial done
}

@test "bad usage names the argument and exits 2" {
	run bb-relay -l 1:rel -- true
	assert_failure 2
	assert_output --partial 'bb-relay: error: 1:rel: SOCKET must be an absolute path'
	run bb-relay -l 99999:/x -- true
	assert_failure 2
	assert_output --partial 'expected PORT:SOCKET with PORT 1-65535'
	run bb-relay -e 2 -- true
	assert_failure 2
	assert_output --partial 'bb-relay: error: -e: descriptor must be 3 or more'
	run bb-relay -l "$(free_port):/x"
	assert_failure 2
}

@test "a command that cannot be executed gives 127" {
	run -127 bb-relay -- /nonexistent/cmd
	assert_failure 127
}
