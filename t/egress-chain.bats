#!/usr/bin/env bats
# bb-egress: chaining through a parent forward proxy, and upgrades.

load helper
load egress-lib

setup_file() {
	nginx_setup_file
	UP=$(free_port)
	export UP
	egress_start_upgrade "$CERTS" "$UP"
}

teardown_file() {
	[ -e "$CERTS/upgrade.pid" ] && kill "$(cat "$CERTS/upgrade.pid")" 2>/dev/null
	nginx_teardown_file
}

# The parent proxy: another bb-egress with its own CA, which intercepts
# like pipelock does (so the child trusts it as an upstream CA); it allows
# up.test, and other.test under /v1/ only.  Sets PP and PARENT_PID.
start_parent() {
	mkdir parent
	bb-egress ca init parent/ca
	echo "{\"version\": 1, \"routes\": [{\"host\": \"up.test\", \"ports\": [$NP]},
		{\"host\": \"other.test\", \"ports\": [$NP], \"path_allowlist\": [\"/v1/\"]}]}" >parent/routes.json
	PP=$(free_port)
	bb-egress serve --routes parent/routes.json --ca-dir parent/ca \
		--listen "127.0.0.1:$PP" --audit parent/audit.log \
		--upstream-ca "$CERTS/tca.pem" --resolve "up.test:$NP:127.0.0.1" \
		--resolve "other.test:$NP:127.0.0.1" 2>parent/err &
	PARENT_PID=$!
	wait_for "127.0.0.1:$PP"
	cat "$CERTS/tca.pem" parent/ca/ca.pem >both.pem
}

# bb-egress chained to the parent, with ./routes.json.  Sets EP, EGRESS_PID.
start_child() {
	EP=$(free_port)
	EGRESS_TOKEN_0=$TOKEN bb-egress serve --routes routes.json --ca-dir ca \
		--listen "127.0.0.1:$EP" --audit audit.log --upstream-ca both.pem \
		--upstream-proxy "http://127.0.0.1:$PP" 2>egress.err &
	EGRESS_PID=$!
	wait_for "127.0.0.1:$EP"
}

teardown() {
	egress_stop
	if [ -n "${PARENT_PID:-}" ]; then
		kill "$PARENT_PID" 2>/dev/null
		wait "$PARENT_PID" || true
	fi
}

@test "--upstream-proxy: TLS to the real host runs inside the parent's CONNECT" {
	start_parent
	bb-egress ca init ca
	egress_routes
	start_child
	run pcurl -H 'Authorization: Bearer agent' "https://up.test:$NP/echo"
	assert_output "auth=[Bearer $TOKEN] pauth=[] host=[up.test:$NP] uri=[/echo]"
	grep -q '"host":"up.test","path":"/echo","decision":"allow","status":200' parent/audit.log
	# pipelock blocks compressed responses where it intercepts: a host it
	# does not pass through gets identity encoding whatever the agent asks.
	run pcurl -H 'Accept-Encoding: gzip, br' "https://up.test:$NP/v1/ae"
	assert_output "ae=[identity]"
	run pcurl "https://up.test:$NP/v1/ae"
	assert_output "ae=[identity]"
	# A path the parent refuses: its answer comes back as a 403 from it.
	run pcurl -o body -w '%{http_code}' "https://other.test:$NP/echo"
	assert_output 403
	grep -q '"host":"other.test","path":"/echo","decision":"deny"' parent/audit.log
	# Without the parent's CA the child refuses the forged certificate.
	egress_stop
	EP=$(free_port)
	EGRESS_TOKEN_0=$TOKEN bb-egress serve --routes routes.json --ca-dir ca \
		--listen "127.0.0.1:$EP" --audit audit.log --upstream-ca "$CERTS/tca.pem" \
		--upstream-proxy "http://127.0.0.1:$PP" 2>egress.err &
	EGRESS_PID=$!
	wait_for "127.0.0.1:$EP"
	egress_refuses 502 "upstream TLS failed: certificate verify failed (unable to get local issuer certificate)" \
		"https://up.test:$NP/echo"
}

@test "--upstream-proxy: a tls_passthrough host keeps the agent's Accept-Encoding" {
	start_parent
	bb-egress ca init ca
	egress_routes
	jq '.routes[0].tls_passthrough = true' routes.json >r && mv r routes.json
	chmod 600 routes.json
	start_child
	run pcurl -H 'Accept-Encoding: gzip, br' "https://up.test:$NP/v1/ae"
	assert_output "ae=[gzip, br]"
	run pcurl "https://up.test:$NP/v1/ae"
	assert_output "ae=[]"
	# Without a parent proxy nothing is rewritten either.
	egress_stop
	egress_routes
	egress_start
	run pcurl -H 'Accept-Encoding: gzip' "https://up.test:$NP/v1/ae"
	assert_output "ae=[gzip]"
}

# A parent proxy that refuses every CONNECT, as pipelock does, with an
# answer chosen by the target host: ctl.test an untrusted body (control
# characters, escape sequences, UTF-8, 4 KiB) sent in two parts, bare.test
# a status line alone, others pipelock's own words.  Sets PP, PARENT_PID.
start_refuser() {
	cat >refuser.py <<'PY'
import socket, sys, threading, time
def serve(c):
    head = b""
    while b"\r\n\r\n" not in head:
        d = c.recv(4096)
        if not d:
            return c.close()
        head += d
    host = head.split()[1].rsplit(b":", 1)[0]
    if host == b"ctl.test":
        body = b"blocked:\x1b[31m evil\r\n\x00 host\xc3\xa9 " + b"x" * 4000
        c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body[:9]))
        time.sleep(0.3)
        c.sendall(body[9:])
    elif host == b"bare.test":
        c.sendall(b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n")
    else:
        body = b"blocked: host not in api_allowlist\n"
        c.sendall(b"HTTP/1.1 403 Forbidden\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body))
    time.sleep(2)
    c.close()
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(16)
while True:
    threading.Thread(target=serve, args=(s.accept()[0],), daemon=True).start()
PY
	PP=$(free_port)
	python3 refuser.py "$PP" &
	PARENT_PID=$!
	wait_for "127.0.0.1:$PP"
}

@test "--upstream-proxy refuses the CONNECT: the agent gets its status and reason, cleaned and bounded" {
	start_refuser
	cp "$CERTS/tca.pem" both.pem
	bb-egress ca init ca
	egress_routes
	jq '.routes += [{host: "ctl.test"}, {host: "bare.test"}, {host: "plain.test"}]' routes.json >r
	mv r routes.json && chmod 600 routes.json
	start_child
	egress_refuses 502 "upstream proxy refused the CONNECT" "https://up.test:$NP/v1/hello"
	[ "$(jq -c 'del(.reason)' body)" = '{"error":"egress_upstream_error","host":"up.test","path":"/v1/hello","hint":"retry later, or ask the operator if it persists","upstream_status":403,"upstream_reason":"blocked: host not in api_allowlist"}' ]
	grep -q '"host":"up.test","path":"/v1/hello","decision":"error","status":502,"reason":"upstream proxy refused the CONNECT"' audit.log
	# untrusted text: control characters and escapes gone, one line of
	# printable ASCII, at most 200 bytes; the body's two parts waited for
	egress_refuses 502 "upstream proxy refused the CONNECT" https://ctl.test/x
	want="blocked: [31m evil host? $(printf '%0200d' 0 | tr 0 x)"
	[ "$(jq -r .upstream_reason body)" = "${want:0:200}" ]
	[ "$(jq -r .upstream_status body)" = 403 ]
	# no body: the status line's reason phrase
	egress_refuses 502 "upstream proxy refused the CONNECT" https://bare.test/
	[ "$(jq -c '[.upstream_status, .upstream_reason]' body)" = '[407,"Proxy Authentication Required"]' ]
	# plain http goes through the same CONNECT, and is told the same
	run curl -sS -o body -w '%{http_code}' --proxy "http://127.0.0.1:$EP" http://plain.test/a
	assert_output 502
	[ "$(jq -c '[.reason, .upstream_status, .upstream_reason]' body)" = \
		'["upstream proxy refused the CONNECT",403,"blocked: host not in api_allowlist"]' ]
}

@test "--upstream-proxy must be an http URL" {
	bb-egress ca init ca
	egress_routes
	EGRESS_TOKEN_0=x EGRESS_TOKEN_1=y run bb-egress serve --routes routes.json --ca-dir ca --upstream-proxy https://x:1
	assert_failure 1
	assert_output "bb-egress: error: --upstream-proxy: must be http://HOST:PORT"
}

@test "an Upgrade on an allowed route is relayed both ways after 101" {
	egress_allow_port 1 "$UP"
	egress_allow_port 0 "$UP"
	egress_start --resolve "other.test:$UP:127.0.0.1"
	run egress_upgrade_client "$EP" other.test "$UP" ca/ca.pem
	assert_success
	assert_output "HTTP/1.1 101 Switching Protocols
hello
world"
	grep -q '"path":"/ws","decision":"allow","status":101,"reason":"upgraded"' audit.log
	# Not on a route that does not allow the path.
	run egress_upgrade_client "$EP" up.test "$UP" ca/ca.pem
	assert_line --index 0 "HTTP/1.1 403 Forbidden"
	refute_line hello
}
