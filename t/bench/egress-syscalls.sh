#!/bin/sh
# System calls bb-egress makes per intercepted keep-alive request (see
# docs/bench-egress.md).  Unlike req/s, these counts do not depend on how
# loaded the machine is, so they compare builds on a shared machine.
#
# The same setup as t/bench/egress.sh (local nginx over HTTPS, bb-egress
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
BIN=${BB_EGRESS:-$ROOT/bin/bb-egress}
T=$(mktemp -d)
PIDS=
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$T"
}
trap cleanup EXIT INT TERM

port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() { bash -c 'for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/'"$1"') 2>/dev/null && exit 0; sleep 0.05; done; exit 1'; }

cc -O2 -o "$T/load" "$ROOT/t/bench/egress-load.c" -lssl -lcrypto -lpthread

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/tca.key" \
	-out "$T/tca.pem" -subj /CN=bench-ca -days 2 -addext basicConstraints=critical,CA:TRUE 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/srv.key" \
	-out "$T/srv.csr" -subj /CN=localhost 2>/dev/null
printf 'subjectAltName=DNS:localhost\n' >"$T/ext"
openssl x509 -req -in "$T/srv.csr" -CA "$T/tca.pem" -CAkey "$T/tca.key" -CAcreateserial \
	-days 2 -extfile "$T/ext" -out "$T/srv.pem" 2>/dev/null

NP=$(port)
mkdir -p "$T/tmp"
cat >"$T/nginx.conf" <<NGX
daemon off;
master_process off;
worker_processes 1;
pid $T/nginx.pid;
error_log $T/nginx.err;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path $T/tmp;
	proxy_temp_path $T/tmp;
	fastcgi_temp_path $T/tmp;
	uwsgi_temp_path $T/tmp;
	scgi_temp_path $T/tmp;
	keepalive_requests 1000000;
	server {
		listen 127.0.0.1:$NP ssl;
		ssl_certificate $T/srv.pem;
		ssl_certificate_key $T/srv.key;
		location = /hello { default_type text/plain; return 200 "hello\n"; }
	}
}
NGX
nginx -c "$T/nginx.conf" -p "$T" &
PIDS="$PIDS $!"
wait_port "$NP"

"$BIN" ca init "$T/ca" >/dev/null
printf '{"version": 1, "routes": [{"host": "localhost", "path_allowlist": ["/"], "auth_scheme": "Bearer", "token_env": "EGRESS_TOKEN_0", "ports": [%s]}]}\n' "$NP" >"$T/routes.json"
EP=$(port)
EGRESS_TOKEN_0=bench-token "$BIN" serve --routes "$T/routes.json" --ca-dir "$T/ca" \
	--listen "127.0.0.1:$EP" --audit "$T/audit.log" --upstream-ca "$T/tca.pem" \
	--resolve "localhost:$NP:127.0.0.1" 2>"$T/egress.err" &
EPID=$!
PIDS="$PIDS $EPID"
wait_port "$EP"
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
	before=$(wc -l <"$T/audit.log")
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
	after=$(wc -l <"$T/audit.log")
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

echo "bb-egress system calls per keep-alive request: $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?'), counted with $COUNTER, load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| connections | requests | syscalls | read | write | epoll_ctl | epoll_wait | CPU µs (load-dependent) |"
echo "|------------:|---------:|---------:|-----:|------:|----------:|-----------:|-------------:|"
count 1
count 16
