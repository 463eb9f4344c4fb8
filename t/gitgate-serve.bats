#!/usr/bin/env bats
# bb-gitgate serve against real peers: an sshd on loopback holds the
# upstream bare repo; the agent's git reaches it only through the gate.
# One sshd and one gate serve the whole file (each test clones afresh and
# uses its own branches); t/gitgate-fail.bats has the set-ups that break.

load helper
load gitgate_helper

setup_file() {
	export S=$BATS_FILE_TMPDIR
	export HOME=$S/home
	mkdir -p "$HOME"
	start_sshd
	make_upstream
	write_plan
	start_gate
	# An upstream policy hook that refuses one branch, with a reason.
	printf '#!/bin/sh\nwhile read o n r; do [ "$r" = refs/heads/refuse-me ] && { echo "upstream policy: refuse-me is closed" >&2; exit 1; }; done; exit 0\n' \
		>"$S/upstream/app.git/hooks/pre-receive"
	chmod +x "$S/upstream/app.git/hooks/pre-receive"
	export SSHD_PID SSHD_PORT GATE_PID GATE_PORT GATE_URL
}

teardown_file() {
	gate_down
}

clone_app() {
	agent_git clone -q "$(UPSTREAM_URL)" "$T/work"
}

# Commit FILE (with CONTENT) in the agent's clone.
agent_commit() {
	printf '%s\n' "$2" >"$T/work/$1"
	agent_git -C "$T/work" add "$1"
	agent_git -C "$T/work" commit -qm "$3"
}

@test "clone goes through the gate; the agent sees no credentials" {
	run agent_git clone "$(UPSTREAM_URL)" "$T/work"
	assert_success
	[ "$(cat "$T/work/README")" = hello ]
	run agent_git -C "$T/work" symbolic-ref HEAD
	assert_output refs/heads/main
	run agent_git -C "$T/work" config remote.origin.url
	assert_output "$(UPSTREAM_URL)"
	run agent_git -C "$T/work" remote get-url origin
	assert_output "$GATE_URL/app.git"
	run grep -c 'GET /app.git/info/refs?service=git-upload-pack' "$S/gate.log"
	assert_output 1
	# Nothing the agent has names the key or the pinned host key.
	run grep -rl -e gatekey -e "$(cut -d' ' -f2 "$S/hostkey.pub")" \
		"$S/agent.gitconfig" "$T/work/.git"
	assert_failure
}

@test "fetch sees new upstream commits (the mirror is refreshed first)" {
	clone_app
	upstream_commit NEWS "news from upstream"
	run agent_git -C "$T/work" pull -q --ff-only
	assert_success
	[ "$(cat "$T/work/NEWS")" = "news from upstream" ]
}

@test "a clean push lands upstream" {
	clone_app
	agent_commit clean.txt "clean change" "agent: clean change"
	run agent_git -C "$T/work" push origin main
	assert_success
	run upstream_log
	assert_line --index 0 'agent: clean change'
	run op_git --git-dir="$S/upstream/app.git" log -1 --format=%an main
	assert_output Agent
}

@test "a push with a planted secret is refused, says why, and does not land" {
	clone_app
	agent_commit config.ini "aws_access_key_id = $(fake_aws_key)" "agent: oops"
	sha=$(agent_git -C "$T/work" rev-parse --short=12 HEAD)
	run agent_git -C "$T/work" push origin main
	assert_failure
	assert_output --partial "remote: bb-gitgate: secret found: commit $sha file config.ini line 1: rule aws-access-key"
	assert_output --partial 'remote: bb-gitgate: push refused: secrets in the pushed commits; nothing was sent upstream.'
	assert_output --partial '! [remote rejected] main -> main (pre-receive hook declined)'
	refute_output --partial "$(fake_aws_key)"
	run upstream_log
	refute_output --partial oops
	# Nor did the gate's mirror take it.
	run git --git-dir="$S/gate/repos/app.git" log --format=%s main
	refute_output --partial oops
}

@test "a secret in a commit under a clean one is found, in its commit" {
	clone_app
	agent_git -C "$T/work" checkout -q -b ci
	agent_commit ci.yml "token: $(fake_github_token)" "add ci"
	bad=$(agent_git -C "$T/work" rev-parse --short=12 HEAD)
	agent_git -C "$T/work" rm -q ci.yml
	agent_git -C "$T/work" commit -qm "remove it again"
	run agent_git -C "$T/work" push origin ci
	assert_failure
	assert_output --partial "secret found: commit $bad file ci.yml line 1: rule github-token"
	run upstream_log ci
	assert_failure
}

@test "a new branch on history with old fixture secrets is accepted" {
	# Upstream history already holds a fixture credential.
	upstream_commit fixture.txt "key=$(fake_aws_key)"
	clone_app
	agent_git -C "$T/work" checkout -q -b feature
	agent_commit feature.txt "feature work" "agent: feature"
	run agent_git -C "$T/work" push origin feature
	assert_success
	run upstream_log feature
	assert_line --index 0 'agent: feature'
}

@test "a line marked bb-gitgate:allow passes the scan" {
	clone_app
	agent_commit fixture.py "test_key = \"$(fake_aws_key)\"  # bb-gitgate:allow" "agent: test fixture"
	run agent_git -C "$T/work" push origin main
	assert_success
	run upstream_log
	assert_line --index 0 'agent: test fixture'
}

@test "a deleted branch is deleted upstream too" {
	clone_app
	agent_git -C "$T/work" push -q origin main:refs/heads/short-lived
	run upstream_log short-lived
	assert_success
	run agent_git -C "$T/work" push origin :short-lived
	assert_success
	run upstream_log short-lived
	assert_failure
}

@test "refs outside heads and tags are refused" {
	clone_app
	run agent_git -C "$T/work" push origin main:refs/notes/sneaky
	assert_failure
	assert_output --partial 'remote: bb-gitgate: refusing to update refs/notes/sneaky: only refs/heads/* and refs/tags/* are forwarded upstream'
}

@test "an upstream refusal refuses the push with upstream's reason" {
	clone_app
	agent_git -C "$T/work" checkout -q -b refuse-me
	agent_commit r.txt "r" "agent: refused upstream"
	run agent_git -C "$T/work" push origin refuse-me
	assert_failure
	assert_output --partial 'remote: bb-gitgate: upstream: remote: upstream policy: refuse-me is closed'
	assert_output --partial 'remote: bb-gitgate: upstream refused the push; nothing changed on the gate'
	run git --git-dir="$S/gate/repos/app.git" rev-parse -q --verify refs/heads/refuse-me
	assert_failure
}

@test "a 20 MB push goes through (chunked request body)" {
	clone_app
	agent_git -C "$T/work" checkout -q -b big
	head -c 20000000 /dev/urandom >"$T/work/blob.bin"
	agent_git -C "$T/work" add blob.bin
	agent_git -C "$T/work" commit -qm "agent: 20 MB"
	run agent_git -C "$T/work" push origin big
	assert_success
	run upstream_log big
	assert_line --index 0 'agent: 20 MB'
	run grep -E '"POST /app.git/git-receive-pack" 200 in=2[0-9]{7} ' "$S/gate.log"
	assert_success
}

@test "unknown repos, traversal and dumb-HTTP paths are refused with 404" {
	code() { curl -s -o /dev/null -w '%{http_code}' --path-as-is "$GATE_URL$1"; }
	run curl -s "$GATE_URL/nope.git/info/refs?service=git-upload-pack"
	assert_output "bb-gitgate: no repository 'nope' on this gate"
	for p in '/app.git/../../creds/app-known_hosts' '/app.git/%2e%2e/config' \
		'/..%2fcreds/app.git/info/refs?service=git-upload-pack' \
		'/../repos/app.git/info/refs?service=git-upload-pack' \
		'/app.git/config' '/app.git/HEAD' '/app.git/objects/info/packs' \
		'/app.git/info/refs' '/app.git/info/refs?service=git-upload-archive' \
		'/app/info/refs?service=git-upload-pack' '//app.git/info/refs?service=git-upload-pack' \
		'/app.git//info/refs?service=git-upload-pack' '/.git/info/refs?service=git-upload-pack' \
		'/...git/info/refs?service=git-upload-pack' '/app%2egit/info/refs?service=git-upload-pack'; do
		[ "$(code "$p")" = 404 ] || fail "$p was not refused with 404"
	done
	run agent_git clone "$GATE_URL/nope.git" "$T/nope"
	assert_failure
	assert_output --partial "remote: bb-gitgate: no repository 'nope' on this gate"
}

@test "wrong methods and smuggling attempts get clear statuses" {
	run curl -s -o body -w '%{http_code}' -X POST --data x "$GATE_URL/app.git/info/refs?service=git-upload-pack"
	assert_output 405
	run cat body
	assert_output 'bb-gitgate: info/refs takes GET'
	run curl -s -o body -w '%{http_code}' "$GATE_URL/app.git/git-upload-pack"
	assert_output 405
	# Content-Length and Transfer-Encoding together: refused.
	run bash -c "printf 'POST /app.git/git-upload-pack HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n' |
		timeout 20 socat -t 10 - TCP:127.0.0.1:$GATE_PORT"
	assert_line --index 0 --partial 'HTTP/1.1 400 Bad Request'
	# An absolute-form target (a proxy request) is not ours to serve.
	run bash -c "printf 'GET http://evil/app.git/info/refs?service=git-upload-pack HTTP/1.1\r\nHost: evil\r\n\r\n' |
		timeout 20 socat -t 10 - TCP:127.0.0.1:$GATE_PORT"
	assert_line --index 0 --partial 'HTTP/1.1 404 Not Found'
}
