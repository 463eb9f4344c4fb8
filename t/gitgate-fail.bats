#!/usr/bin/env bats
# bb-gitgate serve when things go wrong: upstream down, a wrong or missing
# host key, oversized bodies, stalled clients; and the unix socket.

load helper
load gitgate_helper

teardown() {
	[ -n "${RELAY_PID:-}" ] && kill "$RELAY_PID" 2>/dev/null
	gate_down
}

@test "upstream down: fetch fails at once with a message, not a hang" {
	gate_up
	agent_git clone -q "$(UPSTREAM_URL)" "$T/work"
	stop_sshd
	SECONDS=0
	run timeout 60 env GIT_CONFIG_GLOBAL="$T/agent.gitconfig" git -C "$T/work" fetch origin
	assert_failure
	[ "$SECONDS" -lt 30 ]
	assert_output --partial "remote: bb-gitgate: could not refresh 'app' from upstream; refusing to serve a stale mirror"
	assert_output --partial 'remote: bb-gitgate: upstream: ssh: connect to host 127.0.0.1 port'
	assert_output --partial 'The requested URL returned error: 502'
	refute_output --partial gatekey
	refute_output --partial "$T/gate"
	# A push is refused the same way: the mirror cannot be made current.
	echo more >>"$T/work/README"
	agent_git -C "$T/work" commit -qam "agent: while down"
	run timeout 60 env GIT_CONFIG_GLOBAL="$T/agent.gitconfig" git -C "$T/work" push origin main
	assert_failure
	assert_output --partial "remote: bb-gitgate: could not refresh 'app' from upstream"
}

@test "a wrong pinned host key refuses fetch" {
	start_sshd
	make_upstream
	ssh-keygen -q -t ed25519 -N '' -f "$T/otherkey"
	write_plan "$(cut -d' ' -f1,2 "$T/otherkey.pub")"
	start_gate
	run agent_git clone "$(UPSTREAM_URL)" "$T/work"
	assert_failure
	assert_output --partial 'remote: bb-gitgate: upstream: Host key verification failed.'
}

@test "a repo without host_key is refused with the key to add" {
	start_sshd
	make_upstream
	write_plan ""
	start_gate
	run grep -F "repo 'app' has no host_key; fetch and push will be refused" "$T/gate.log"
	assert_success
	run agent_git clone "$(UPSTREAM_URL)" "$T/work"
	assert_failure
	assert_output --partial "remote: bb-gitgate: repo 'app' has no host key; add host_key to git-gate.repos.app in the bottle and restart the bottle"
	assert_output --partial 'The requested URL returned error: 403'
}

@test "a body over --max-body is refused with 413" {
	gate_up --max-body 1000000
	agent_git clone -q "$(UPSTREAM_URL)" "$T/work"
	head -c 3000000 /dev/urandom >"$T/work/blob.bin"
	agent_git -C "$T/work" add blob.bin
	agent_git -C "$T/work" commit -qm "agent: too big"
	run agent_git -C "$T/work" push origin main
	assert_failure
	assert_output --partial 413
	run upstream_log
	refute_output --partial 'too big'
	# Chunked, from curl: the answer says what the limit is.
	head -c 1500000 /dev/zero >big
	run curl -sS -H 'Transfer-Encoding: chunked' -H 'Content-Type: application/x-git-upload-pack-request' \
		--data-binary @big -w ' %{http_code}' "$GATE_URL/app.git/git-upload-pack"
	assert_output $'bb-gitgate: request body larger than 1000000 bytes (--max-body)\n 413'
	# A declared Content-Length over the cap is refused before any body.
	run curl -sS -H 'Content-Type: application/x-git-upload-pack-request' \
		--data-binary @big -w ' %{http_code}' "$GATE_URL/app.git/git-upload-pack"
	assert_output --partial ' 413'
}

@test "a client that stalls is cut off after --timeout" {
	gate_up --timeout 2
	SECONDS=0
	run bash -c "timeout 20 socat -t 1 - TCP:127.0.0.1:$GATE_PORT < <(exec 2>/dev/null; printf 'GET /app.git/info/refs HTTP/1.1\r\n'; sleep 8)"
	assert_line --index 0 --partial 'HTTP/1.1 408'
	[ "$SECONDS" -lt 8 ]
	# Mid-body too.  (Fetch first, so the POST reuses that refresh and the
	# clock measures only the stall.)
	curl -s -o /dev/null "$GATE_URL/app.git/info/refs?service=git-upload-pack"
	SECONDS=0
	run bash -c "timeout 60 socat -t 1 - TCP:127.0.0.1:$GATE_PORT < <(exec 2>/dev/null; printf 'POST /app.git/git-upload-pack HTTP/1.1\r\nContent-Length: 100\r\nContent-Type: application/x-git-upload-pack-request\r\n\r\n0000'; sleep 8)"
	assert_line --index 0 --partial 'HTTP/1.1 408'
	[ "$SECONDS" -lt 8 ]
}

@test "--scanner gitleaks without gitleaks refuses every push" {
	command -v gitleaks && skip "gitleaks is installed here"
	gate_up --scanner gitleaks
	agent_git clone -q "$(UPSTREAM_URL)" "$T/work"
	echo more >>"$T/work/README"
	agent_git -C "$T/work" commit -qam "agent: clean but unscanned"
	run agent_git -C "$T/work" push origin main
	assert_failure
	assert_output --partial 'remote: bb-gitgate: gitleaks is required (--scanner gitleaks) but not installed; refusing push'
	run upstream_log
	refute_output --partial unscanned
}

@test "a unix socket listener serves the same repos; SIGTERM removes it" {
	start_sshd
	make_upstream
	write_plan
	bb-gitgate serve --plan "$T/plan.json" --state "$T/gate" \
		--listen "unix:$T/gitgate.sock" 2>"$T/gate.log" 3>&- &
	GATE_PID=$!
	wait_for "$T/gitgate.sock" 60
	run curl -s --unix-socket "$T/gitgate.sock" -o /dev/null -w '%{http_code} %{content_type}' \
		"http://gate/app.git/info/refs?service=git-upload-pack"
	assert_output '200 application/x-git-upload-pack-advertisement'
	# Through a TCP relay to the socket, as inside a bottle: clone, and a
	# refused push still shows why.
	RELAY_PORT=$(free_port)
	socat "TCP-LISTEN:$RELAY_PORT,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$T/gitgate.sock" 3>&- &
	RELAY_PID=$!
	wait_for "127.0.0.1:$RELAY_PORT"
	bb-gitgate gitconfig --gate-url "http://127.0.0.1:$RELAY_PORT" "$T/plan.json" >"$T/agent.gitconfig"
	agent_git clone -q "$(UPSTREAM_URL)" "$T/work"
	printf 'key = %s\n' "$(fake_aws_key)" >"$T/work/k.txt"
	agent_git -C "$T/work" add k.txt
	agent_git -C "$T/work" commit -qm "agent: key over the socket"
	run agent_git -C "$T/work" push origin main
	kill "$RELAY_PID"
	assert_failure
	assert_output --partial 'remote: bb-gitgate: secret found: commit'
	assert_output --partial 'rule aws-access-key'
	kill -TERM "$GATE_PID"
	rc=0
	wait "$GATE_PID" || rc=$?
	GATE_PID=
	[ "$rc" -eq 0 ] || fail "serve exited $rc after SIGTERM"
	[ ! -e "$T/gitgate.sock" ]
	run grep -F 'shutting down (SIGTERM)' "$T/gate.log"
	assert_success
}
