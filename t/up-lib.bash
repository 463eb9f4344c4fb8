# Shared set-up for the bats files that run a bottle against a local HTTPS
# upstream (t/up-egress.bats, t/up-pipelock.bats, t/up-codex.bats): load
# with `load up-lib` after `load helper`.  A file's setup() is then
#
#	up_setup                                   # bb_setup, PIDS, ADDR
#	up_token                                   # UP_TEST_TOKEN
#	up_upstream "$UP_TEST_TOKEN" api.example.test
#	up_manifest <<-'EOF2'                      # bottle dev, agent demo
#	egress: ...
#	EOF2
#
# and its teardown() calls up_teardown (plus whatever else it started).

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
	local token=$1 san
	shift
	san=$(printf 'DNS:%s,' "$@")
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out ca.pem -subj /CN=up-test-ca -days 2 2>/dev/null
	openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout srv.key -out srv.csr -subj "/CN=$1" 2>/dev/null
	printf 'subjectAltName=%s\n' "${san%,}" >ext
	openssl x509 -req -in srv.csr -CA ca.pem -CAkey ca.key -CAcreateserial \
		-out srv.pem -days 2 -extfile ext 2>/dev/null
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

# Stop what the test started in the background (PIDS).
up_teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
