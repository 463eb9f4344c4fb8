# Shared by the bb-egress benchmarks (t/bench/egress.sh,
# t/bench/egress-syscalls.sh): source it after setting ROOT.  It makes a
# temporary directory $T (removed on exit; what is started with its pid
# in $PIDS is killed), builds the load generator ($T/load), and a test CA
# with a certificate for localhost ($T/tca.pem, t/tls-upstream.sh).

. "$ROOT/t/tls-upstream.sh"
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
# /dev/tcp is bash's.
wait_port() { bash -c 'for i in $(seq 200); do (exec 3<>/dev/tcp/127.0.0.1/'"$1"') 2>/dev/null && exit 0; sleep 0.05; done; exit 1'; }

cc -O2 -o "$T/load" "$ROOT/t/bench/egress-load.c" -lssl -lcrypto -lpthread
tls_make_certs "$T" localhost

# bench_nginx <SERVER: nginx on 127.0.0.1:$NP (a free port) over HTTPS,
# the server's other directives (locations...) read from stdin.
bench_nginx() {
	NP=$(port)
	{
		printf '\t\tlisten 127.0.0.1:%s ssl;\n' "$NP"
		cat
	} | tls_nginx_conf "$T"
	nginx -c "$T/nginx.conf" -p "$T" &
	PIDS="$PIDS $!"
	wait_port "$NP"
}

# bench_egress NAME [ARG...]: bb-egress serve on a free port
# ($EGRESS_PORT, pid $EGRESS_PID) with one route, localhost:$NP with the
# token bench-token injected, its CA in $T/ca, its audit log in
# $T/audit-NAME.log and its stderr in $T/egress-NAME.err; ARGs go to serve.
bench_egress() {
	name=$1
	shift
	[ -e "$T/ca/ca.pem" ] || "$BIN" ca init "$T/ca" >/dev/null
	printf '{"version": 1, "routes": [{"host": "localhost", "path_allowlist": ["/"], "auth_scheme": "Bearer", "token_env": "EGRESS_TOKEN_0", "ports": [%s]}]}\n' "$NP" >"$T/routes.json"
	EGRESS_PORT=$(port)
	EGRESS_TOKEN_0=bench-token "$BIN" serve --routes "$T/routes.json" --ca-dir "$T/ca" \
		--listen "127.0.0.1:$EGRESS_PORT" --audit "$T/audit-$name.log" --upstream-ca "$T/tca.pem" \
		--resolve "localhost:$NP:127.0.0.1" "$@" 2>"$T/egress-$name.err" &
	EGRESS_PID=$!
	PIDS="$PIDS $EGRESS_PID"
	wait_port "$EGRESS_PORT"
}
