#!/bin/sh
# bb-up: time from the bb-up command to the agent's first instruction, and
# teardown time, median of N runs (default 15), on the ns backend and, when
# they can run containers here, on podman and docker (the engine that
# DOCKER_HOST, or docker's default, names).
#
#   bare     a plan with no sidecar (--plan, --no-sidecars): bb-up, the
#            bottle, bb-relay and the agent only;
#   egress   the whole pipeline, resuming one bottle (its CA cached):
#            bb-sidecar running bb-egress, the relay, the agent;
#   full     the bar's case: resuming a bottle made from the demo's
#            manifest (share/examples/manifest: egress with a credential,
#            one repository through the git gate, supervise), CA cached:
#            bb-sidecar running bb-egress, bb-gitgate and bb-supervise;
#   fresh    the whole pipeline for a new bottle: bb-manifest | bb-plan,
#            a new CA, bb-sidecar, bb-egress, the relay, the agent.
# The agent's first command writes a timestamp into its home (bind-mounted,
# so read on the host); teardown is from the agent's last command to the
# exit of bb-up.  Prints a markdown table and the load average.
set -eu

: "${BB_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
PATH=$BB_ROOT/bin:$PATH
N=${N:-15}
work=$(mktemp -d "${TMPDIR:-/tmp}/bb-bench-up.XXXXXX")
trap 'rm -rf "$work"' EXIT
HOME=$work/home XDG_STATE_HOME=$work/state XDG_RUNTIME_DIR=$work/run
USER=${USER:-$(id -un)}
GH_PAT=ghp_bench$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')
export HOME XDG_STATE_HOME XDG_RUNTIME_DIR USER GH_PAT
mkdir -p "$HOME/.bot-bottle/bottles" "$HOME/.bot-bottle/agents" "$HOME/.ssh" "$XDG_STATE_HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"

now() { date +%s%N; }

median() {
	sort -n | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1e6}'
}

agent='date +%s%N >~/t1; date +%s%N >~/t3'

# run_case BACKEND NAME FUNC: FUNC BACKEND launches one bottle and prints
# its slug.
run_case() {
	: >"$work/start.$2"
	: >"$work/down.$2"
	i=0
	while [ "$i" -lt "$N" ]; do
		t0=$(now)
		s=$($3 "$1")
		t2=$(now)
		h=$XDG_STATE_HOME/bb/bottles/$s/home
		if [ ! -s "$h/t1" ] || [ ! -s "$h/t3" ]; then
			echo "up.sh: $1 $2: the agent did not run (see $XDG_STATE_HOME/bb/bottles/$s/logs)" >&2
			exit 1
		fi
		echo $(($(cat "$h/t1") - t0)) >>"$work/start.$2"
		echo $((t2 - $(cat "$h/t3"))) >>"$work/down.$2"
		rm -f "$h/t1" "$h/t3"
		i=$((i + 1))
	done
	printf '| %-7s | %-8s | %5d | %10s | %10s |\n' "$1" "$2" "$N" \
		"$(median <"$work/start.$2")" "$(median <"$work/down.$2")"
}

# bare: a plan of our own, no sidecar.
bare_plan() {
	cat >"$work/plan-$1.json" <<PLAN
{"version": 1, "slug": "bench-$1", "agent": "bench", "bottle": "b", "backend": "$1",
 "egress": {"routes": []}, "git_gate": {"repos": []}, "supervise": {"enabled": false}}
PLAN
}
bare() {
	bb-up -y -p "$work/plan-$1.json" -N bench -- sh -c "$agent" >/dev/null 2>&1
	echo "bench-$1"
}

# egress: one route, no credential.
cat >"$HOME/.bot-bottle/bottles/one.md" <<'MD'
---
egress:
  routes:
    - host: api.example.test
---
MD
printf -- '---\nbottle: one\n---\nbench\n' >"$HOME/.bot-bottle/agents/bench.md"
# full: the demo's manifest, with the demo's throwaway key.
cp "$BB_ROOT/share/examples/manifest/bottles/dev.md" "$HOME/.bot-bottle/bottles/"
cp "$BB_ROOT/share/examples/manifest/agents/demo.md" "$HOME/.bot-bottle/agents/"
ssh-keygen -q -t ed25519 -N '' -C bb-bench -f "$HOME/.ssh/bb-demo-key"

# new_bottle BACKEND AGENT: make a bottle once, print its slug.
new_bottle() {
	bb-up -y -b "$1" "$2" -- true >/dev/null 2>&1 ||
		{ echo "up.sh: bb-up -b $1 $2 failed" >&2; exit 1; }
	ls -t "$XDG_STATE_HOME/bb/bottles" | head -n 1
}
# Resume the bottle $slug (on the backend it was made on).
resume() {
	bb-up resume -y "$slug" -- sh -c "$agent" >/dev/null 2>&1
	echo "$slug"
}
fresh() {
	bb-up -y -b "$1" bench -- sh -c "$agent" >/dev/null 2>&1
	ls -t "$XDG_STATE_HOME/bb/bottles" | head -n 1
}

# The bare, egress and full cases on backend $1.
bench_backend() {
	bare_plan "$1"
	run_case "$1" bare bare
	slug=$(new_bottle "$1" bench)
	run_case "$1" egress resume
	slug=$(new_bottle "$1" demo)
	run_case "$1" full resume
}

echo "bb-up, $(nproc) cores, median of $N runs, milliseconds"
echo
echo '| backend | case     | runs  | to agent   | teardown   |'
echo '|---------|----------|-------|------------|------------|'
bench_backend ns
run_case ns fresh fresh

BB_CONTAINERS_CONF=$(sh "$BB_ROOT/t/setup-podman.sh" "$work/podman")
export BB_CONTAINERS_CONF
# The container rows, or why not.
for engine in podman docker; do
	why=$(bb-up doctor | sed -n "s/^$engine *unavailable: //p")
	if [ -n "$why" ]; then
		echo
		echo "$engine: skipped: $why"
	else
		bench_backend "$engine"
	fi
done
echo
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
