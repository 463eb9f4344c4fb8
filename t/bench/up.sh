#!/bin/sh
# bb-up on the ns backend: time from the bb-up command to the agent's first
# instruction, and teardown time, median of N runs (default 15).
#
#   bare     a plan with no sidecar (--plan, --no-sidecars): bb-up, bwrap,
#            bb-relay and the agent only;
#   egress   the whole pipeline, resuming one bottle (its CA cached):
#            bb-sidecar running bb-egress, the relay, the agent;
#   fresh    the whole pipeline for a new bottle: bb-manifest | bb-plan,
#            a new CA, bb-sidecar, bb-egress, the relay, the agent.
# The agent's first command writes a timestamp into its home (bind-mounted,
# so read on the host); teardown is from the agent's last command to the
# exit of bb-up.  Prints a markdown table.
set -eu

: "${BB_ROOT:=$(cd "$(dirname "$0")/../.." && pwd)}"
PATH=$BB_ROOT/bin:$PATH
N=${N:-15}
work=$(mktemp -d "${TMPDIR:-/tmp}/bb-bench-up.XXXXXX")
trap 'rm -rf "$work"' EXIT
HOME=$work/home XDG_STATE_HOME=$work/state XDG_RUNTIME_DIR=$work/run
export HOME XDG_STATE_HOME XDG_RUNTIME_DIR
mkdir -p "$HOME/.bot-bottle/bottles" "$HOME/.bot-bottle/agents" "$XDG_STATE_HOME"
mkdir -m 0700 "$XDG_RUNTIME_DIR"

now() { date +%s%N; }

median() {
	sort -n | awk '{a[NR] = $1} END {m = (NR % 2) ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2; printf "%.1f", m / 1e6}'
}

agent='date +%s%N >~/t1; date +%s%N >~/t3'

# run_case NAME FUNC: FUNC launches one bottle and prints its slug.
run_case() {
	: >"$work/start.$1"
	: >"$work/down.$1"
	i=0
	while [ "$i" -lt "$N" ]; do
		t0=$(now)
		s=$($2)
		t2=$(now)
		h=$XDG_STATE_HOME/bb/bottles/$s/home
		echo $(($(cat "$h/t1") - t0)) >>"$work/start.$1"
		echo $((t2 - $(cat "$h/t3"))) >>"$work/down.$1"
		i=$((i + 1))
	done
	printf '| %-8s | %5d | %10s | %10s |\n' "$1" "$N" \
		"$(median <"$work/start.$1")" "$(median <"$work/down.$1")"
}

cat >"$work/plan.json" <<PLAN
{"version": 1, "slug": "bench-bare1", "agent": "bench", "bottle": "b", "backend": "ns",
 "egress": {"routes": []}, "git_gate": {"repos": []}, "supervise": {"enabled": false}}
PLAN
bare() {
	bb-up -y -p "$work/plan.json" -N bench -- sh -c "$agent" >/dev/null 2>&1
	echo bench-bare1
}

cat >"$HOME/.bot-bottle/bottles/dev.md" <<'MD'
---
egress:
  routes:
    - host: api.example.test
---
MD
printf -- '---\nbottle: dev\n---\nbench\n' >"$HOME/.bot-bottle/agents/bench.md"
bb-up -y bench -- true >/dev/null 2>&1
eslug=$(ls "$XDG_STATE_HOME/bb/bottles" | grep -v bench-bare1)
egress() {
	bb-up resume -y "$eslug" -- sh -c "$agent" >/dev/null 2>&1
	echo "$eslug"
}
fresh() {
	bb-up -y bench -- sh -c "$agent" >/dev/null 2>&1
	ls -t "$XDG_STATE_HOME/bb/bottles" | head -n 1
}

echo "bb-up on the ns backend, $(nproc) cores, median of $N runs, milliseconds"
echo
echo '| case     | runs  | to agent   | teardown   |'
echo '|----------|-------|------------|------------|'
run_case bare bare
run_case egress egress
run_case fresh fresh
