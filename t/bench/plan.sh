#!/bin/sh
# Benchmark `bb-manifest | bb-plan AGENT` on a generated 50-bottle manifest
# (see docs/bench-plan.md).  The bar is a median under 20 ms.
#
# Each bottle has 3 env entries (literal, ${HOST}, ?prompt), 4 egress routes
# (two sharing a token_ref, one with ssrf and passthrough), a git-gate repo
# and a git user; each of the 50 agents has a prompt and 2 skills; every
# tenth bottle extends another.  hyperfine runs each command
# $BENCH_RUNS times (default 50) after 5 warm-ups and reports the median.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUNS=${BENCH_RUNS:-50}
N=50
T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT INT TERM
export HOME="$T/home" PATH="$ROOT/bin:$PATH" BB_SHARE="$ROOT/share"
export XDG_STATE_HOME="$T/state" BENCH_HOST_VAR=x BENCH_PAT=y BENCH_TOKEN=z
M=$HOME/.bot-bottle
mkdir -p "$M/bottles" "$M/agents" "$HOME/.ssh"
: >"$HOME/.ssh/id_bench"
KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIObUvY/EKcofhoVnsoo18E75KTyTHEMzcfGm2ZkEBUZo'

i=1
while [ $i -le $N ]; do
	{
		echo ---
		if [ $((i % 10)) -eq 0 ]; then echo "extends: b$((i - 1))"; fi
		cat <<YAML
env:
  LIT_$i: value-$i
  FROM_HOST: \${BENCH_HOST_VAR}
  ASKED: ?prompt
agent_provider:
  template: claude
  auth_token: BENCH_TOKEN
supervise: true
egress:
  routes:
    - host: api$i.github.example
      path_allowlist: [/repos/, /user]
      auth: {scheme: Bearer, token_ref: BENCH_PAT}
    - host: uploads$i.github.example
      auth: {scheme: Bearer, token_ref: BENCH_PAT}
    - host: db$i.internal
      pipelock: {tls_passthrough: true, ssrf_ip_allowlist: [10.$i.0.0/16]}
    - host: docs$i.example.org
git-gate:
  user: {name: Bot $i, email: bot$i@example.org}
  repos:
    app$i:
      url: ssh://git@git$i.example.com:2222/org/app$i.git
      identity: ~/.ssh/id_bench
      host_key: $KEY
YAML
		echo ---
	} >"$M/bottles/b$i.md"
	printf -- '---\nbottle: b%d\nskills: [review, lint]\n---\nYou are agent %d. Review the code.\n' \
		"$i" "$i" >"$M/agents/a$i.md"
	i=$((i + 1))
done

cd "$T"
bb-manifest >manifest.json
[ -z "${BENCH_KEEP:-}" ] || cp manifest.json "$BENCH_KEEP"
bb-manifest | bb-plan a25 >/dev/null 2>&1 || { echo "bb-plan failed:" >&2; bb-manifest | bb-plan a25 >/dev/null; exit 1; }

hyperfine -N --warmup 5 --runs "$RUNS" --export-json pipe.json \
	"sh -c 'bb-manifest | bb-plan a25 >/dev/null 2>&1'" >/dev/null 2>&1
hyperfine -N --warmup 5 --runs "$RUNS" --export-json parts.json \
	"bb-manifest" "bb-plan a25 manifest.json" \
	"sh -c 'bb-plan a25 manifest.json | bb-render-pipelock >/dev/null'" \
	"true" >/dev/null 2>&1

# median, min, max wall time and mean CPU time (user + system), in ms.
ms() { jq -r ".results[$2] | [.median, .min, .max, (.user + .system)] | map(. * 1000 * 100 | round / 100 | tostring) | join(\" | \")" "$1"; }
median=$(jq -r '.results[0].median * 1000' pipe.json)

echo "bb-plan benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $N bottles and agents ($(wc -c <manifest.json) bytes of manifest JSON), $RUNS runs, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| command                                  | median ms | min ms | max ms | cpu ms |"
echo "|------------------------------------------|----------:|-------:|-------:|-------:|"
echo "| bb-manifest \\| bb-plan a25               | $(ms pipe.json 0) |"
echo "| bb-manifest                              | $(ms parts.json 0) |"
echo "| bb-plan a25 manifest.json                | $(ms parts.json 1) |"
echo "| bb-plan a25 manifest.json \\| bb-render-pipelock | $(ms parts.json 2) |"
echo "| true (process start, for scale)          | $(ms parts.json 3) |"
echo
if awk "BEGIN { exit !($median < 20) }"; then
	echo "bar (median of the pipe under 20 ms): met ($(printf '%.2f' "$median") ms)"
else
	echo "bar (median of the pipe under 20 ms): NOT met ($(printf '%.2f' "$median") ms)"
fi
