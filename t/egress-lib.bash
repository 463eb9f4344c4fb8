# Shared by t/egress*.bats: a test CA, an nginx HTTPS upstream and a
# bb-egress in front of it, all on loopback.  A file that loads this gets
# the setup_file/teardown_file/teardown below unless it defines its own.

. "$BB_ROOT/t/tls-upstream.sh"

setup_file() {
	nginx_setup_file
}

teardown_file() {
	nginx_teardown_file
}

teardown() {
	egress_stop
}

# Test CA and a server certificate for up.test and other.test.
egress_make_certs() {
	tls_make_certs "$1" up.test other.test empty.test default.test
}

# nginx on 127.0.0.1:$2 (and $3:443 when given) serving $1/www, echoing
# headers on /echo.
egress_start_nginx() {
	local d=$1 port=$2 addr=${3:-}
	mkdir -p "$d/www/v1" "$d/www/up"
	echo "hello v1" >"$d/www/v1/hello"
	echo "admin page" >"$d/www/admin"
	tls_nginx_conf "$d" <<NGX
		listen 127.0.0.1:$port ssl;
		${addr:+listen $addr:443 ssl;}
		server_name up.test other.test default.test;
		root $d/www;
		location /echo {
			default_type text/plain;
			return 200 "auth=[\$http_authorization] pauth=[\$http_proxy_authorization] host=[\$http_host] uri=[\$request_uri]\n";
		}
		location /up/ {
			client_max_body_size 0;
			dav_methods PUT;
		}
		location = /v1/ae {
			default_type text/plain;
			return 200 "ae=[\$http_accept_encoding]\n";
		}
		location = /v1/conn {
			default_type text/plain;
			return 200 "\$connection\n";
		}
		location /v1/git/ {
			return 200 "git\n";
		}
NGX
	nginx -c "$d/nginx.conf" -p "$d" &
	echo $! >"$d/nginx.ppid"
	wait_for "127.0.0.1:$port"
	[ -z "$addr" ] || wait_for "$addr:443"
}

# The routes most tests use: up.test authenticated with a path allowlist,
# other.test open, empty.test authenticated with a slot never filled; the
# three declare nginx's test port ($NP).  default.test declares no port, so
# only 443 (nginx on $NA:443).
egress_routes() {
	cat >"${1:-routes.json}" <<JSON
{"version": 1, "routes": [
  {"host": "up.test", "path_allowlist": ["/v1/", "/echo", "/up/", "/sse"],
   "auth_scheme": "Bearer", "token_env": "EGRESS_TOKEN_0", "ports": [$NP]},
  {"host": "other.test", "ports": [$NP]},
  {"host": "empty.test", "auth_scheme": "token", "token_env": "EGRESS_TOKEN_1",
   "ports": [$NP]},
  {"host": "default.test"}
]}
JSON
	chmod 600 "${1:-routes.json}"
}

# Let route $1 (an index) reach port $2 too (other upstreams of a test).
egress_allow_port() {
	[ -e routes.json ] || egress_routes
	jq ".routes[$1].ports += [$2]" routes.json >routes.new
	mv routes.new routes.json
}

TOKEN=tok-SECRET-4242-value

# Start bb-egress on a free port ($EP) with the test routes and CA; extra
# arguments go to serve.  Sets EGRESS_PID.
egress_start() {
	[ -e ca/ca.pem ] || bb-egress ca init ca
	[ -e routes.json ] || egress_routes
	EP=$(free_port)
	EGRESS_TOKEN_0=$TOKEN EGRESS_TOKEN_1= bb-egress serve --routes routes.json \
		--ca-dir ca --listen "127.0.0.1:$EP" --admin "unix:$PWD/admin.sock" \
		--audit audit.log --pid-file egress.pid --upstream-ca "$CERTS/tca.pem" \
		--resolve "up.test:$NP:127.0.0.1" --resolve "other.test:$NP:127.0.0.1" \
		--resolve "empty.test:$NP:127.0.0.1" \
		${NA:+--resolve "default.test:443:$NA"} "$@" 2>egress.err &
	EGRESS_PID=$!
	wait_for "127.0.0.1:$EP"
}

# Stop bb-egress with SIGTERM: it must exit 0, and clean under the
# sanitizers (their reports go to egress.err).
egress_stop() {
	local rc=0
	if [ -n "${EGRESS_PID:-}" ]; then
		kill "$EGRESS_PID" 2>/dev/null || true
		wait "$EGRESS_PID" 2>/dev/null || rc=$?
		EGRESS_PID=
		if grep -q 'Sanitizer' egress.err 2>/dev/null; then
			cat egress.err >&2
			return 1
		fi
		[ "$rc" = 0 ] || { echo "bb-egress exited $rc" >&2; cat egress.err >&2; return 1; }
	fi
}

# curl through the proxy, trusting only the bottle CA.
pcurl() {
	curl -sS --proxy "http://127.0.0.1:$EP" --cacert ca/ca.pem "$@"
}

# egress_refuses STATUS REASON CURL-ARG...: through the proxy the request
# is answered STATUS, and its JSON body (in ./body) gives REASON (any
# reason, when REASON is empty).
egress_refuses() {
	local code=$1 reason=$2
	shift 2
	run pcurl -o body -w '%{http_code}' "$@"
	assert_output "$code"
	[ -z "$reason" ] || [ "$(jq -r .reason body)" = "$reason" ]
}

# nginx for a test file: on 127.0.0.1:$NP, and on 443 of a loopback
# address of its own ($NA) for the routes that declare no port.
nginx_setup_file() {
	CERTS=$BATS_FILE_TMPDIR/certs
	NP=$(free_port)
	NA=127.$((RANDOM % 200 + 20)).$((RANDOM % 250 + 1)).$((RANDOM % 250 + 1))
	export CERTS NP NA
	egress_make_certs "$CERTS"
	egress_start_nginx "$CERTS" "$NP" "$NA"
}

nginx_teardown_file() {
	[ -e "$CERTS/nginx.ppid" ] && kill "$(cat "$CERTS/nginx.ppid")" 2>/dev/null
	true
}

# A Python HTTPS upstream on 127.0.0.1:$2 for what nginx cannot do: /sse
# sends three server-sent events one second apart, chunked.
egress_start_sse() {
	local d=$1 port=$2
	cat >"$d/sse.py" <<'PY'
import http.server, ssl, sys, time
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(1, 4):
            ev = ("data: event %d\n\n" % i).encode()
            self.wfile.write(b"%x\r\n%s\r\n" % (len(ev), ev))
            self.wfile.flush()
            if i < 3:
                time.sleep(1)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
s = http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
	python3 "$d/sse.py" "$port" "$d/srv.pem" "$d/srv.key" 2>/dev/null &
	echo $! >"$d/sse.pid"
	wait_for "127.0.0.1:$port"
}

egress_stop_sse() {
	[ -e "$1/sse.pid" ] && kill "$(cat "$1/sse.pid")" 2>/dev/null
	true
}

# Peak resident memory of a process, in KiB.
vmhwm() {
	awk '/^VmHWM/ {print $2}' "/proc/$1/status"
}

# A TLS upstream on 127.0.0.1:$2 that answers an Upgrade with 101 and then
# echoes every byte back (a stand-in for a websocket server).
egress_start_upgrade() {
	local d=$1 port=$2
	cat >"$d/upgrade.py" <<'PY'
import socket, ssl, sys, threading
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(sys.argv[2], sys.argv[3])
ls = socket.create_server(("127.0.0.1", int(sys.argv[1])))
def serve(c):
    try:
        s = ctx.wrap_socket(c, server_side=True)
        head = b""
        while b"\r\n\r\n" not in head:
            head += s.recv(4096)
        ok = b"upgrade: websocket" in head.lower()
        s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" if ok
                  else b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
        while ok:
            b = s.recv(4096)
            if not b:
                break
            s.sendall(b)
        s.close()
    except Exception:
        pass
while True:
    c, _ = ls.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
PY
	python3 "$d/upgrade.py" "$port" "$d/srv.pem" "$d/srv.key" 2>/dev/null &
	echo $! >"$d/upgrade.pid"
	wait_for "127.0.0.1:$port"
}

# Through the proxy at 127.0.0.1:$1, CONNECT to $2:$3, upgrade, send two
# messages, print what comes back.
egress_upgrade_client() {
	python3 - "$@" <<'PY'
import socket, ssl, sys
proxy, host, port, ca = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", proxy))
s.sendall(("CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n" % (host, port, host, port)).encode())
r = b""
while b"\r\n\r\n" not in r:
    r += s.recv(1)
ctx = ssl.create_default_context(cafile=ca)
t = ctx.wrap_socket(s, server_hostname=host)
t.sendall(("GET /ws HTTP/1.1\r\nHost: %s:%s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n" % (host, port)).encode())
r = b""
while b"\r\n\r\n" not in r:
    r += t.recv(1)
print(r.split(b"\r\n")[0].decode())
for m in (b"hello", b"world"):
    t.sendall(m)
    got = b""
    while len(got) < len(m):
        got += t.recv(100)
    print(got.decode())
PY
}

# Through the proxy at 127.0.0.1:$1, CONNECT to $2:$3 and send the TLS
# handshake's last flight and two pipelined GETs of $5 in ONE segment (the
# proxy's TLS library then holds the requests before the handshake is even
# reported done); print the two status lines and bodies, or time out.
egress_flight_client() {
	python3 - "$@" <<'PY'
import socket, ssl, sys
proxy, host, port, ca, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
s = socket.create_connection(("127.0.0.1", proxy), timeout=5)
s.sendall(("CONNECT %s:%s HTTP/1.1\r\nHost: %s:%s\r\n\r\n" % (host, port, host, port)).encode())
r = b""
while b"\r\n\r\n" not in r:
    r += s.recv(1)
ctx = ssl.create_default_context(cafile=ca)
inc, out = ssl.MemoryBIO(), ssl.MemoryBIO()
t = ctx.wrap_bio(inc, out, server_hostname=host)
while True:
    try:
        t.do_handshake()
        break
    except ssl.SSLWantReadError:
        s.sendall(out.read())
        d = s.recv(65536)
        if not d:
            sys.exit("closed during the handshake")
        inc.write(d)
req = "GET %s HTTP/1.1\r\nHost: %s:%s\r\n%s\r\n"
t.write((req % (path, host, port, "")).encode())
t.write((req % (path, host, port, "Connection: close\r\n")).encode())
s.sendall(out.read())
got = b""
try:
    while True:
        try:
            got += t.read(65536)
        except ssl.SSLWantReadError:
            d = s.recv(65536)
            if not d:
                break
            inc.write(d)
        except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
            break
except socket.timeout:
    print("timed out")
for line in got.decode().split("\r\n"):
    if line.startswith("HTTP/") or line.startswith("hello"):
        print(line)
PY
}
