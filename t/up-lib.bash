# Shared by the t/up-*.bats files: load with `load up-lib` after `load
# helper`.  First the set-up of the files that run a bottle against a
# local HTTPS upstream (t/up-egress.bats, t/up-pipelock.bats,
# t/up-codex.bats), whose setup() is then
#
#	up_setup                                   # bb_setup, PIDS, ADDR
#	up_token                                   # UP_TEST_TOKEN
#	up_upstream "$UP_TEST_TOKEN" api.example.test
#	up_manifest <<-'EOF2'                      # bottle dev, agent demo
#	egress: ...
#	EOF2
#
# and its teardown() calls up_teardown (plus whatever else it started).

. "$BB_ROOT/t/tls-upstream.sh"

# bb_setup, an empty PIDS (up_teardown kills them) and ADDR: a loopback
# address of our own, so port 443 never collides with another test's.
up_setup() {
	bb_setup
	PIDS=()
	ADDR=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
}

# The credential the upstream expects, exported for the manifest's
# token_ref: UP_TEST_TOKEN.  Its part before "-s3cr3t" is distinctive
# enough to grep the bottle for.
up_token() {
	export UP_TEST_TOKEN=tok-$RANDOM$RANDOM-s3cr3t
}

# up_upstream TOKEN HOST...: share/examples/https-echo.py on $ADDR:443
# with a certificate for every HOST (the first is its CN), signed by a CA
# of its own (ca.pem, for -E --upstream-ca); it reports a request as
# authorized only with "Bearer TOKEN".
up_upstream() {
	local token=$1
	shift
	tls_make_certs "$PWD" "$@"
	cp tca.pem ca.pem
	ECHO_EXPECT_TOKEN=$token python3 "$BB_ROOT/share/examples/https-echo.py" "$ADDR" 443 srv.pem srv.key &
	PIDS+=($!)
	wait_for "$ADDR:443"
}

# The bottle "dev", its front matter read from stdin, and the agent
# "demo" that runs in it.
up_manifest() {
	mkdir -p "$HOME/.bot-bottle/bottles" "$HOME/.bot-bottle/agents"
	{
		echo ---
		cat
		echo ---
	} >"$HOME/.bot-bottle/bottles/dev.md"
	printf -- '---\nbottle: dev\n---\nYou are a test.\n' >"$HOME/.bot-bottle/agents/demo.md"
}

# up_wait_nap NAP [SECONDS]: wait up to SECONDS (default 10) for the
# agent's `sleep NAP` to run.
up_wait_nap() {
	wait_until "${2:-10}" pgrep -f "^sleep $1" >/dev/null && return 0
	echo "the agent's sleep $1 never ran" >&2
	return 1
}

# Stop what the test started in the background (PIDS).
up_teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

# The network checks of t/up-ns.bats and t/up-podman.bats (each backend's
# bottle must reach the host only through the relays).

# up_host_listeners PORT: what the bottle must not reach on the host: TCP
# on 127.0.0.1:PORT and [::1]:PORT (answering host-service and
# host-service6) and the abstract unix socket bb-test-PORT (host-abstract),
# checked to answer here.
up_host_listeners() {
	socat "TCP-LISTEN:$1,bind=127.0.0.1,fork,reuseaddr" SYSTEM:'echo host-service' &
	PIDS+=($!)
	socat "TCP6-LISTEN:$1,bind=[::1],fork,reuseaddr" SYSTEM:'echo host-service6' &
	PIDS+=($!)
	socat "ABSTRACT-LISTEN:bb-test-$1,fork" SYSTEM:'echo host-abstract' &
	PIDS+=($!)
	wait_for "127.0.0.1:$1"
	wait_for "abstract:bb-test-$1"
	socat -t 1 - "ABSTRACT-CONNECT:bb-test-$1" </dev/null | grep -qx host-abstract
}

# The agent's side, as shell lines: every way to up_host_listeners PORT
# and to the outside (IPv4 and IPv6), each printing refused-WHAT when it
# fails, and socat's error.
up_escape_probes() {
	cat <<-EOF
	socat -t 1 - TCP:127.0.0.1:$1 </dev/null 2>&1 || echo refused-loopback
	socat -t 1 - ABSTRACT-CONNECT:bb-test-$1 </dev/null 2>&1 || echo refused-abstract
	socat -t 1 - TCP6:[::1]:$1 </dev/null 2>&1 || echo refused-loopback6
	socat -t 1 - TCP:1.1.1.1:443,connect-timeout=2 </dev/null 2>&1 || echo refused-outside
	socat -t 1 - TCP6:[2606:4700::1111]:443,connect-timeout=2 </dev/null 2>&1 || echo refused-outside6
	EOF
}

# What up_escape_probes printed: every way refused, no answer from the host.
up_assert_escapes_refused() {
	refute_output --partial host-service
	refute_output --partial host-abstract
	assert_line refused-loopback
	assert_line refused-abstract
	assert_line refused-loopback6
	assert_line refused-outside
	assert_line refused-outside6
}

# up_udp_listener PORT: a UDP listener on the host's 127.0.0.1:PORT that
# appends what it gets to udp.log.
up_udp_listener() {
	socat -u "UDP-RECV:$1,bind=127.0.0.1" OPEN:udp.log,creat,append &
	PIDS+=($!)
}

# The agent's side, as shell lines: UDP to up_udp_listener PORT, to the
# relay's address and to the outside, and a name lookup; prints
# no-udp-relay, no-udp-outside and no-dns when they fail.
up_udp_probes() {
	cat <<-EOF
	echo from-bottle | socat -t 1 - UDP:127.0.0.1:$1 2>/dev/null
	echo from-bottle | socat -t 1 - UDP:127.0.0.1:9099 2>/dev/null || echo no-udp-relay
	echo q | socat -t 1 - UDP:8.8.8.8:53 2>/dev/null || echo no-udp-outside
	getent hosts example.com || echo no-dns
	EOF
}

# What up_udp_probes printed: no UDP and no DNS; and the host's listener
# on PORT works, and got nothing from the bottle.
up_assert_udp_refused() {
	assert_line no-udp-relay
	assert_line no-udp-outside
	assert_line no-dns
	echo from-host | socat -u - "UDP:127.0.0.1:$1"
	for _ in $(seq 100); do
		grep -q from-host udp.log 2>/dev/null && break
		sleep 0.05
	done
	run cat udp.log
	assert_output from-host
}
