# Shared set-up for t/gitgate*.bats: a real sshd on loopback holding a bare
# upstream repo, a plan naming it, and bb-gitgate serving it over HTTP.
#
# The operator side (seeding upstream) and the agent side (through the
# gate) use separate global git configs, like the two sides of a bottle.

export GIT_CONFIG_NOSYSTEM=1

# S holds what one gate set-up shares (keys, sshd, upstream, plan, gate
# state): the test's own dir by default, the file's dir under setup_file.
S=${S:-}
shared() { echo "${S:-$T}"; }

op_git() { GIT_CONFIG_GLOBAL=$(shared)/op.gitconfig git "$@"; }
agent_git() { GIT_CONFIG_GLOBAL=$(shared)/agent.gitconfig git "$@"; }

# Credentials that match the scanner's rules, assembled at run time so that
# this file itself holds none.
fake_aws_key() { printf '%s%s' AKIA QWERTYUIOPASDFGH; }
fake_github_token() { printf '%s%s' ghp_ 0123456789abcdefghijABCDEFGHIJ0123456789; }

start_sshd() {
	local D
	D=$(shared)
	mkdir -p /run/sshd
	[ -e "$D/hostkey" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/hostkey"
	[ -e "$D/gatekey" ] || ssh-keygen -q -t ed25519 -N '' -f "$D/gatekey"
	cp "$D/gatekey.pub" "$D/authorized_keys"
	SSHD_PORT=${SSHD_PORT:-$(free_port)}
	cat >"$D/sshd_config" <<-CFG
		HostKey $D/hostkey
		AuthorizedKeysFile $D/authorized_keys
		StrictModes no
		PasswordAuthentication no
		KbdInteractiveAuthentication no
		UsePAM no
		PidFile none
		ListenAddress 127.0.0.1
		PermitRootLogin prohibit-password
	CFG
	/usr/sbin/sshd -D -f "$D/sshd_config" -p "$SSHD_PORT" -E "$D/sshd.log" 3>&- &
	SSHD_PID=$!
	wait_for "127.0.0.1:$SSHD_PORT" 20
}

stop_sshd() {
	[ -n "${SSHD_PID:-}" ] && kill "$SSHD_PID" 2>/dev/null && wait "$SSHD_PID" 2>/dev/null
	SSHD_PID=
	return 0
}

# upstream/app.git with one commit on main (README).
make_upstream() {
	local D
	D=$(shared)
	printf '[user]\n\tname = Operator\n\temail = op@example.com\n[init]\n\tdefaultBranch = main\n' >"$D/op.gitconfig"
	op_git init -q --bare "$D/upstream/app.git"
	op_git --git-dir="$D/upstream/app.git" symbolic-ref HEAD refs/heads/main
	op_git init -q "$D/seed"
	echo hello >"$D/seed/README"
	op_git -C "$D/seed" add README
	op_git -C "$D/seed" commit -qm "initial"
	op_git -C "$D/seed" push -q "$D/upstream/app.git" main
}

# Commit FILE with CONTENT in the operator's seed checkout, push upstream.
upstream_commit() {
	local D
	D=$(shared)
	op_git -C "$D/seed" fetch -q "$D/upstream/app.git" main
	op_git -C "$D/seed" reset -q --hard FETCH_HEAD
	printf '%s\n' "$2" >"$D/seed/$1"
	op_git -C "$D/seed" add "$1"
	op_git -C "$D/seed" commit -qm "operator: $1"
	op_git -C "$D/seed" push -q "$D/upstream/app.git" HEAD:main
}

UPSTREAM_URL() { echo "ssh://root@127.0.0.1:$SSHD_PORT$(shared)/upstream/app.git"; }

# write_plan [HOST_KEY]: the plan's git_gate section for upstream/app.git.
write_plan() {
	local D
	D=$(shared)
	local hk=${1-$(cut -d' ' -f1,2 "$D/hostkey.pub")}
	jq -n --arg url "$(UPSTREAM_URL)" --arg path "$D/upstream/app.git" \
		--arg id "$D/gatekey" --arg hk "$hk" --argjson port "$SSHD_PORT" \
		'{version: 1, slug: "demo-abc12",
		  git_gate: {user: {name: "Agent", email: "agent@example.com"},
		    repos: [{name: "app", url: $url, user: "root", host: "127.0.0.1",
		             port: $port, path: $path, identity_file: $id,
		             host_key: $hk}]}}' >"$D/plan.json"
}

# start_gate [serve options...]
start_gate() {
	local D
	D=$(shared)
	GATE_PORT=$(free_port)
	bb-gitgate serve --plan "$D/plan.json" --state "$D/gate" \
		--listen "127.0.0.1:$GATE_PORT" "$@" 2>"$D/gate.log" 3>&- &
	GATE_PID=$!
	wait_for "127.0.0.1:$GATE_PORT" 60
	GATE_URL=http://127.0.0.1:$GATE_PORT
	bb-gitgate gitconfig --gate-url "$GATE_URL" "$D/plan.json" >"$D/agent.gitconfig"
}

stop_gate() {
	[ -n "${GATE_PID:-}" ] && kill "$GATE_PID" 2>/dev/null && wait "$GATE_PID" 2>/dev/null
	GATE_PID=
	return 0
}

# Everything: sshd, upstream, plan, gate.
gate_up() {
	start_sshd
	make_upstream
	write_plan
	start_gate "$@"
}

gate_down() {
	stop_gate
	stop_sshd
}

upstream_log() { op_git --git-dir="$(shared)/upstream/app.git" log --format=%s "${1:-main}"; }
