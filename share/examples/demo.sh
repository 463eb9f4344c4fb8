#!/bin/sh
# The bb demo (make demo): one agent in an ns bottle against local
# stand-ins, with no container engine and no internet.  BB_BACKEND=podman
# (or docker) runs the same demo in a container instead.
#
#   - an HTTPS API standing in for api.github.com (share/examples/https-echo.py,
#     with a throwaway CA that bb-egress trusts through -E --upstream-ca);
#   - a git upstream served by sshd on loopback, with a throwaway host key
#     and client key;
#   - the scripted agent share/examples/agent.sh in place of claude;
#   - this script as the operator, approving the agent's proposal with
#     bb-supervise.
#
# Everything lives in a temporary HOME and XDG directories, removed at
# the end.  BB_ROOT is the source tree (make demo sets it).
set -eu

: "${BB_ROOT:?BB_ROOT must name the bb source tree}"
PATH=$BB_ROOT/bin:$PATH
examples=$BB_ROOT/share/examples

if [ "${1:-}" = --manifest-only ]; then
	# The manifest step alone: bb-manifest over share/examples/manifest.
	(
		demo=$(mktemp -d "${TMPDIR:-/tmp}/bb-demo.XXXXXX")
		trap 'rm -rf "$demo"' EXIT
		trap 'exit 130' INT TERM
		HOME=$demo/home
		export HOME
		mkdir -p "$HOME/.ssh"
		chmod 700 "$HOME/.ssh"
		if command -v ssh-keygen >/dev/null 2>&1; then
			ssh-keygen -q -t ed25519 -N '' -C bb-demo -f "$HOME/.ssh/bb-demo-key"
		else
			: >"$HOME/.ssh/bb-demo-key"
			chmod 600 "$HOME/.ssh/bb-demo-key"
		fi

		echo "== bb-manifest -d $examples/manifest" >&2
		bb-manifest -d "$examples/manifest" -p "$demo"
	)
	exit
fi

backend=${BB_BACKEND:-ns}
if [ "$backend" != ns ]; then
	why=$(bb-up doctor | sed -n "s/^$backend *unavailable: //p")
	if [ -n "$why" ]; then
		echo "demo: the $backend backend cannot run here: $why" >&2
		exit 1
	fi
fi

demo=$(mktemp -d "${TMPDIR:-/tmp}/bb-demo.XXXXXX")
pids=
cleanup() {
	for p in $pids; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -n "${BB_DEMO_KEEP:-}" ] && echo "kept $demo" || rm -rf "$demo"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
HOME=$demo/home XDG_STATE_HOME=$demo/state XDG_RUNTIME_DIR=$demo/run
export HOME XDG_STATE_HOME XDG_RUNTIME_DIR
mkdir -p "$HOME/.ssh" "$HOME/.bot-bottle/bottles" "$HOME/.bot-bottle/agents" "$XDG_STATE_HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"
chmod 700 "$HOME/.ssh"
step() {
	printf '\n### %s\n' "$*"
}
# Wait up to 10 s for a TCP listener on $1:$2 (a stand-in started in the
# background must answer before the bottle is launched).
wait_listening() {
	python3 - "$1" "$2" <<'PY'
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection((sys.argv[1], int(sys.argv[2])), 1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit("demo: nothing listens on %s:%s" % (sys.argv[1], sys.argv[2]))
PY
}

step "operator: stand-ins for the outside world"
# A free loopback address of our own for the HTTPS stand-in on port 443.
addr=127.$(($$ % 200 + 20)).$(($$ / 200 % 250 + 1)).7
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cd "$demo"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
	-keyout ca.key -out ca.pem -subj /CN=bb-demo-upstream-ca -days 1 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout api.key \
	-out api.csr -subj /CN=api.github.com 2>/dev/null
printf 'subjectAltName=DNS:api.github.com,DNS:status.example.test\n' >api.ext
openssl x509 -req -in api.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out api.pem \
	-days 1 -extfile api.ext 2>/dev/null
GH_PAT=ghp_demo$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export GH_PAT
ECHO_EXPECT_TOKEN=$GH_PAT python3 "$examples/https-echo.py" "$addr" 443 api.pem api.key &
pids="$pids $!"
wait_listening "$addr" 443
echo "HTTPS stand-in for api.github.com and status.example.test on $addr:443"

# The git upstream: sshd on loopback, a bare repository with one commit.
ssh-keygen -q -t ed25519 -N '' -C bb-demo -f "$HOME/.ssh/bb-demo-key"
ssh-keygen -q -t ed25519 -N '' -C bb-demo-host -f "$demo/host_key"
cp "$HOME/.ssh/bb-demo-key.pub" "$demo/authorized_keys"
mkdir -p /run/sshd 2>/dev/null || true
/usr/sbin/sshd -D -e -f /dev/null -p "$port" -o ListenAddress=127.0.0.1 \
	-o HostKey="$demo/host_key" -o AuthorizedKeysFile="$demo/authorized_keys" \
	-o StrictModes=no -o UsePAM=no -o PasswordAuthentication=no \
	-o PermitRootLogin=prohibit-password -o PidFile=none 2>"$demo/sshd.log" &
pids="$pids $!"
wait_listening 127.0.0.1 "$port"
git init -q --bare -b main "$demo/upstream/app.git"
git init -q -b main "$demo/seed"
git -C "$demo/seed" -c user.name=op -c user.email=op@example.com commit -q --allow-empty -m "Initial commit"
git -C "$demo/seed" push -q "$demo/upstream/app.git" main
user=$(id -un)
url="ssh://$user@127.0.0.1:$port$demo/upstream/app.git"
echo "git upstream $url"

step "operator: the manifest (bottle dev, agent demo)"
cat >"$HOME/.bot-bottle/bottles/dev.md" <<EOF2
---
env:
  DEMO_REPO_URL: $url
supervise: true
egress:
  routes:
    - host: api.github.com
      path_allowlist: [/repos/]
      auth:
        scheme: Bearer
        token_ref: GH_PAT
git-gate:
  user:
    name: bb demo agent
    email: agent@example.com
  repos:
    app:
      url: $url
      identity: ~/.ssh/bb-demo-key
      host_key: $(cut -d' ' -f1,2 "$demo/host_key.pub")
---
EOF2
printf -- '---\nbottle: dev\n---\nYou are the bb demo agent.\n' >"$HOME/.bot-bottle/agents/demo.md"
bb-manifest -a demo | jq -c '{agent: .agent.name, bottle: .bottle.name,
	routes: [.bottle.egress.routes[].host], repos: (.bottle["git-gate"].repos | keys)}'

# The operator, in the background: approve the agent's proposal.
(
	for i in $(seq 300); do
		id=$(bb-supervise pending --json 2>/dev/null | jq -r '.[0].id // empty')
		if [ -n "$id" ]; then
			printf '\n### operator: proposal %s\n' "$id"
			bb-supervise pending
			bb-supervise approve --note "ok for the demo" "$id"
			exit 0
		fi
		sleep 0.1
	done
) &
pids="$pids $!"

step "bb-up demo -- sh ./agent.sh (the $backend backend)"
mkdir -p "$demo/project"
cp "$examples/agent.sh" "$demo/project/"
bb-up -y -b "$backend" -C "$demo/project" \
	-E --upstream-ca="$demo/ca.pem" \
	-E --resolve="api.github.com:443:$addr" \
	-E --resolve="status.example.test:443:$addr" \
	demo -- sh ./agent.sh

step "operator: what reached the upstream repository"
git --git-dir "$demo/upstream/app.git" log --oneline main
if git --git-dir "$demo/upstream/app.git" log -p main | grep -q ghp_; then
	echo "the secret reached upstream: demo FAILED" >&2
	exit 1
fi
echo "the clean commit landed; the commit with a secret did not"
