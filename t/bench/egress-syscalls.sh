#!/bin/sh
# System calls bb-egress makes per intercepted keep-alive request (see
# docs/bench-egress.md).  Unlike req/s, these counts do not depend on how
# loaded the machine is, so they compare builds on a shared machine.
#
# The same setup as t/bench/egress.sh (t/bench/lib/egress.sh: local nginx over HTTPS, bb-egress
# intercepting and injecting Authorization, audit log to a file), one
# bb-egress process.  t/bench/egress-load.c makes a fixed number of
# requests (-r) on kept-alive connections, once over one connection (each
# request alone in the event loop) and once over 16 at a time, while
# `perf stat` counts the system calls entered by bb-egress (kernel
# tracepoints; `strace -c -f` is the fallback when perf cannot).  The
# connections' CONNECT and handshakes are counted too, spread over the
# requests.  CPU time per request (utime+stime from /proc) is printed as
# well: that one does depend on the load.
set -eu

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
REQS=${BENCH_REQUESTS:-8000}
. "$ROOT/t/bench/lib/egress.sh"

bench_nginx <<NGX
		location = /hello { default_type text/plain; return 200 "hello\n"; }
NGX
bench_egress 1
EP=$EGRESS_PORT EPID=$EGRESS_PID
load() { "$T/load" -h localhost -P "$NP" -c "$T/ca/ca.pem" -p "$EP" -n "$1" -r "$2" /hello; }
load 1 10 >/dev/null # the leaf certificate and the upstream session

EVENTS=raw_syscalls:sys_enter
for s in read write epoll_ctl epoll_wait; do EVENTS="$EVENTS,syscalls:sys_enter_$s"; done
if perf stat -e "$EVENTS" -x, -o "$T/probe" true 2>/dev/null &&
	! grep -q 'not supported' "$T/probe"; then
	COUNTER=perf
else
	COUNTER=strace
fi

cpu() { awk '{print $14 + $15}' "/proc/$EPID/stat"; }
# count CONNECTIONS: requests, then per request: all read write epoll_ctl epoll_wait, CPU
count() {
	n=$1 per=$((REQS / $1))
	total=$((n * per))
	before=$(wc -l <"$T/audit-1.log")
	c0=$(cpu)
	if [ "$COUNTER" = perf ]; then
		perf stat -e "$EVENTS" -x, -o "$T/count" -p "$EPID" &
	else
		strace -c -f -o "$T/count" -p "$EPID" 2>/dev/null &
	fi
	cp=$!
	sleep 1
	r=$(load "$n" "$per")
	kill -INT "$cp"
	wait "$cp" || true
	c1=$(cpu)
	ok=${r%% *}
	[ "$ok" = "$total" ] || { echo "only $ok of $total requests succeeded" >&2; exit 1; }
	after=$(wc -l <"$T/audit-1.log")
	[ $((after - before)) = "$total" ] || { echo "audit lines: $((after - before)), want $total" >&2; exit 1; }
	if [ "$COUNTER" = perf ]; then
		get() { awk -F, -v e="$1" '$3 == e {print $1}' "$T/count"; }
		all=$(get raw_syscalls:sys_enter)
		rd=$(get syscalls:sys_enter_read) wr=$(get syscalls:sys_enter_write)
		ctl=$(get syscalls:sys_enter_epoll_ctl) wt=$(get syscalls:sys_enter_epoll_wait)
	else
		get() { awk -v e="$1" '$NF == e {print $4}' "$T/count"; }
		all=$(awk '$NF == "total" {print $3}' "$T/count")
		rd=$(get read) wr=$(get write) ctl=$(get epoll_ctl) wt=$(get epoll_wait)
	fi
	hz=$(getconf CLK_TCK)
	awk -v n="$n" -v t="$total" -v a="$all" -v r="${rd:-0}" -v w="${wr:-0}" \
		-v c="${ctl:-0}" -v e="${wt:-0}" -v cpu="$((c1 - c0))" -v hz="$hz" 'BEGIN {
		printf "| %11d | %8d | %8.2f | %6.2f | %6.2f | %9.2f | %10.2f | %12.1f |\n",
			n, t, a / t, r / t, w / t, c / t, e / t, cpu / hz * 1e6 / t }'
}

WHAT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')
[ -z "${BB_EGRESS:-}" ] || WHAT="BB_EGRESS=$BB_EGRESS"
echo "bb-egress system calls per keep-alive request: $(date -u +%Y-%m-%dT%H:%MZ), $WHAT, counted with $COUNTER, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| connections | requests | syscalls | read | write | epoll_ctl | epoll_wait | CPU µs (load-dependent) |"
echo "|------------:|---------:|---------:|-----:|------:|----------:|-----------:|-------------:|"
count 1
count 16
