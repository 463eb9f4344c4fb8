#!/bin/sh
# Benchmark bb-egress (one worker, and --workers auto) against mitmproxy and
# no proxy (see docs/bench-egress.md).
#
# A local nginx HTTPS upstream (ECDSA P-256, 1 worker) answers GET /hello.
# The load generator t/bench/egress-load.c (built here; wrk cannot send
# HTTPS through a CONNECT proxy) runs 16 client threads for $BENCH_SECONDS
# (default 5) in two modes: keep-alive (one connection per thread, many
# requests) and new connection per request (CONNECT + full TLS handshake +
# Connection: close, no client session resumption).  Each mode runs
# direct, through bb-egress (interception + Authorization injection + audit
# log to a file) and through mitmdump with an equivalent
# allowlist-and-inject addon written below.  Everything shares the same
# machine, so the client's own CPU use is part of every number alike.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECS=${BENCH_SECONDS:-5}
N=${BENCH_CLIENTS:-16}
. "$ROOT/t/bench/lib/egress.sh"

bench_nginx <<NGX
		ssl_session_cache shared:s:1m;
		location = /hello { default_type text/plain; return 200 "hello\n"; }
		location = /echo { default_type text/plain; return 200 "auth=[\$http_authorization]\n"; }
NGX

# bb-egress, with the token injected on the only route; and the same with
# one worker per CPU (--workers auto).
bench_egress 1
EP=$EGRESS_PORT EPID=$EGRESS_PID
W=$(nproc)
bench_egress w --workers auto
EW=$EGRESS_PORT EWPID=$EGRESS_PID

# mitmdump with the equivalent addon: allowlist by host and path prefix,
# Proxy-Authorization dropped, Authorization replaced.
cat >"$T/addon.py" <<'PY'
import os
from mitmproxy import http

TOKEN = os.environ["BENCH_TOKEN"]
ALLOW = {"localhost": ["/"]}

def request(flow):
    host = flow.request.pretty_host.lower().rstrip(".")
    prefixes = ALLOW.get(host)
    path = flow.request.path.split("?", 1)[0]
    if prefixes is None or not any(path.startswith(p) for p in prefixes):
        flow.response = http.Response.make(
            403, b'{"error":"egress_denied"}', {"Content-Type": "application/json"})
        return
    flow.request.headers.pop("Proxy-Authorization", None)
    flow.request.headers["Authorization"] = "Bearer " + TOKEN
PY
MP=$(port)
BENCH_TOKEN=bench-token mitmdump -q --listen-host 127.0.0.1 --listen-port "$MP" \
	--set confdir="$T/mitm" --set ssl_verify_upstream_trusted_ca="$T/tca.pem" \
	-s "$T/addon.py" >"$T/mitm.log" 2>&1 &
PIDS="$PIDS $!"
wait_port "$MP"

# Both proxies must really inject before we time them.
for p in "$EP:$T/ca/ca.pem" "$EW:$T/ca/ca.pem" "$MP:$T/mitm/mitmproxy-ca-cert.pem"; do
	got=$(curl -sS --proxy "http://127.0.0.1:${p%%:*}" --cacert "${p#*:}" \
		-H 'Authorization: Bearer agent' "https://localhost:$NP/echo")
	[ "$got" = "auth=[Bearer bench-token]" ] || { echo "no injection via ${p%%:*}: $got" >&2; exit 1; }
done

rss() { awk "/^$2/ {print \$2}" "/proc/$1/status"; }
IDLE=$(rss "$EPID" VmRSS)
# The workers share their pages with the parent: count each page once,
# split among its sharers (Pss), summed over the parent and its workers.
pss_tree() {
	t=0
	for p in $1 $(pgrep -P "$1"); do
		t=$((t + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup")))
	done
	echo "$t"
}
IDLE1=$(pss_tree "$EPID")
IDLEW=$(pss_tree "$EWPID")

run() { # label proxyport ca mode
	set -- "$@"
	r=$("$T/load" -h localhost -P "$NP" -c "$3" -n "$N" -d "$SECS" $( [ "$2" != 0 ] && echo "-p $2") $4 /hello)
	ok=${r%% *}; rest=${r#* }; err=${rest%% *}
	echo "$((ok / SECS)) $err"
}

KD=$(run direct 0 "$T/tca.pem" "")
KB=$(run bb-egress "$EP" "$T/ca/ca.pem" "")
KW=$(run bb-egress "$EW" "$T/ca/ca.pem" "")
KM=$(run mitmproxy "$MP" "$T/mitm/mitmproxy-ca-cert.pem" "")
ND=$(run direct 0 "$T/tca.pem" -C)
NB=$(run bb-egress "$EP" "$T/ca/ca.pem" -C)
NW=$(run bb-egress "$EW" "$T/ca/ca.pem" -C)
NM=$(run mitmproxy "$MP" "$T/mitm/mitmproxy-ca-cert.pem" -C)
HWM=$(rss "$EPID" VmHWM)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
row() { # label keep new
	printf '| %-10s | %10s | %6s | %10s | %6s |\n' "$1" "${2%% *}" "${2#* }" "${3%% *}" "${3#* }"
}
echo "bb-egress benchmark: $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, $N clients, ${SECS}s per run, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| path       | keep-alive req/s | errors | new-conn req/s | errors |"
echo "|------------|-----------:|-------:|-----------:|-------:|"
row direct "$KD" "$ND"
row bb-egress "$KB" "$NB"
row "bb-egress -w$W" "$KW" "$NW"
row mitmproxy "$KM" "$NM"
echo
echo "| ratio                          | keep-alive | new-conn |"
echo "|--------------------------------|-----------:|---------:|"
echo "| bb-egress / mitmproxy          | $(ratio "${KB%% *}" "${KM%% *}") | $(ratio "${NB%% *}" "${NM%% *}") |"
echo "| bb-egress / direct             | $(ratio "${KB%% *}" "${KD%% *}") | $(ratio "${NB%% *}" "${ND%% *}") |"
echo "| bb-egress --workers $W / mitmproxy | $(ratio "${KW%% *}" "${KM%% *}") | $(ratio "${NW%% *}" "${NM%% *}") |"
echo "| bb-egress --workers $W / direct | $(ratio "${KW%% *}" "${KD%% *}") | $(ratio "${NW%% *}" "${ND%% *}") |"
echo
mib() { echo "$(($1 / 1024)).$(( ($1 % 1024) * 10 / 1024 ))"; }
echo "bb-egress idle proportional memory (Pss, pages shared between processes counted once): one process $(mib "$IDLE1") MiB; --workers $W, parent and workers together $(mib "$IDLEW") MiB"
echo "bb-egress resident memory: idle $((IDLE / 1024)).$(( (IDLE % 1024) * 10 / 1024 )) MiB (VmRSS after start), peak under load $((HWM / 1024)).$(( (HWM % 1024) * 10 / 1024 )) MiB (VmHWM)"
