#!/usr/bin/env bats
# bb-egress: CA, routes, allow/deny, injection, refusals (real nginx peer).

load helper
load egress-lib

deny_body() { # host path reason
	jq -cn --arg h "$1" --arg p "$2" --arg r "$3" \
		'{error: "egress_denied", host: $h, path: $p, reason: $r,
		  hint: "ask the operator with the supervise tool request_egress_route"}'
}

@test "ca init makes an ECDSA P-256 CA with a 0600 key, and keeps it" {
	run bb-egress ca init ca
	assert_success
	[ "$(stat -c %a ca/ca.key)" = 600 ]
	[ "$(stat -c %a ca)" = 700 ]
	run openssl x509 -in ca/ca.pem -noout -text
	assert_output --partial 'ASN1 OID: prime256v1'
	assert_output --partial 'CA:TRUE'
	sum=$(sha256sum ca/ca.pem)
	run bb-egress ca init ca
	assert_success
	[ "$(sha256sum ca/ca.pem)" = "$sum" ]
	rm ca/ca.key
	run bb-egress ca init ca
	assert_failure 1
	assert_output "bb-egress: error: ca: has only one of ca.pem and ca.key"
}

@test "routes turns a plan into the routes file: slots only" {
	cat >plan.json <<'JSON'
{"version": 1, "egress": {"routes": [
  {"host": "api.anthropic.com", "path_allowlist": [], "auth_scheme": "Bearer",
   "token_ref": "CLAUDE_TOKEN", "token_env": "EGRESS_TOKEN_0",
   "tls_passthrough": true, "ssrf_ip_allowlist": [], "provider": true},
  {"host": "example.org", "path_allowlist": ["/a/"], "auth_scheme": "",
   "token_ref": "", "token_env": ""}],
  "token_env": {"EGRESS_TOKEN_0": "CLAUDE_TOKEN"}}}
JSON
	run bb-egress routes plan.json
	assert_success
	want='{"routes":[{"auth_scheme":"Bearer","host":"api.anthropic.com","tls_passthrough":true,"token_env":"EGRESS_TOKEN_0"},{"host":"example.org","path_allowlist":["/a/"]}],"version":1}'
	[ "$(echo "$output" | jq -cS .)" = "$want" ]
	refute_output --partial CLAUDE_TOKEN
	run bb-egress routes <plan.json
	assert_success
	jq '.egress.routes[1].token_env = "EGRESS_TOKEN_3"' plan.json >bad.json
	run bb-egress routes bad.json
	assert_failure 1
	assert_output "bb-egress: error: bad.json: egress.routes[1]: auth_scheme and token_env must be both present or both absent"
}

# serve_refuses: for each line "ROUTE | WANT" of stdin, serve with the
# routes file rN.json (N: the line's number) holding only ROUTE fails with
# exit 1 and the one line "bb-egress: error: rN.json: WANT".
serve_refuses() {
	local n=0 route want
	while IFS='|' read -r route want; do
		n=$((n + 1))
		echo "{\"version\": 1, \"routes\": [$route]}" >"r$n.json"
		run bb-egress serve --routes "r$n.json" --ca-dir ca --listen 127.0.0.1:0
		assert_failure 1
		assert_output "bb-egress: error: r$n.json: ${want# }"
	done
}

@test "serve refuses a bad routes file with the field named" {
	bb-egress ca init ca
	serve_refuses <<'TABLE'
{"host": "a.test", "token_env": "EGRESS_TOKEN_0"} | routes[0]: auth_scheme and token_env must be both present or both absent
{"host": "a.test:443"} | routes[0].host: must be a host name without port
{"host": "a.test", "path_allowlist": ["/a/../b"]} | routes[0].path_allowlist[0]: must be a normalised path starting with '/'
{"host": "a.test", "extra": 1} | routes[0].extra: unknown key
{"host": "a.test", "ports": [443, 0]} | routes[0].ports[1]: must be a port from 1 to 65535
{"host": "a.test", "ports": []} | routes[0].ports: must be a non-empty array of at most 64 ports
{"host": "a.test", "ports": [8443, 8443]} | routes[0].ports[1]: duplicate port 8443
{"host": "a.test", "tls_passthrough": "yes"} | routes[0].tls_passthrough: must be true or false
TABLE
	[ -e r8.json ]
	run bb-egress serve --ca-dir ca
	assert_failure 2
}

@test "an allowed host and path pass, with the injected token and never the agent's" {
	egress_start
	run pcurl "https://up.test:$NP/v1/hello"
	assert_success
	assert_output "hello v1"
	run pcurl -H 'Authorization: Bearer agent-fake' -H 'Proxy-Authorization: Basic eHg6eXk=' \
		"https://up.test:$NP/echo?q=1"
	assert_success
	assert_output "auth=[Bearer $TOKEN] pauth=[] host=[up.test:$NP] uri=[/echo?q=1]"
	# An open route passes the agent's own Authorization unchanged.
	run pcurl -H 'Authorization: Bearer agent-own' "https://other.test:$NP/echo"
	assert_output "auth=[Bearer agent-own] pauth=[] host=[other.test:$NP] uri=[/echo]"
	# Host names match case-insensitively, trailing dot ignored.
	run pcurl "https://UP.test.:$NP/v1/hello"
	assert_output "hello v1"
	run grep -c '"decision":"allow"' audit.log
	assert_output 4
}

@test "an undeclared host is refused with 403 and a JSON body" {
	egress_start
	run pcurl -D headers -o body -w '%{http_code}' "https://nope.test/x?secret=1"
	assert_output 403
	[ "$(jq -c . body)" = "$(deny_body nope.test /x 'host not allowed')" ]
	grep -qi '^X-Bb-Egress: denied' headers
	grep -q '"host":"nope.test","path":"/x","decision":"deny","status":403' audit.log
	run grep -c secret audit.log
	assert_output 0
}

@test "a path outside the allowlist is refused; prefixes are plain prefixes" {
	egress_start
	run pcurl -o body -w '%{http_code}' "https://up.test:$NP/admin"
	assert_output 403
	[ "$(jq -c . body)" = "$(deny_body up.test /admin 'path not allowed')" ]
	egress_refuses 403 '' "https://up.test:$NP/v1x/hello"
	run pcurl -o body -w '%{http_code}' "https://up.test:$NP/echoes"
	assert_output 200
}

@test "dot segments and encoded escapes are refused" {
	egress_start
	run pcurl --path-as-is -o body -w '%{http_code}' "https://up.test:$NP/v1/../admin"
	assert_output 403
	[ "$(jq -c . body)" = "$(deny_body up.test /v1/../admin "path has a '..' segment")" ]
	egress_refuses 403 "path has a '..' segment" --path-as-is "https://up.test:$NP/v1/%2e%2e/admin"
	egress_refuses 403 '' --path-as-is "https://up.test:$NP/v1/%2E./admin"
	egress_refuses 403 "path has an encoded '/', '\\' or NUL" --path-as-is "https://up.test:$NP/v1/x%2f..%2fadmin"
	egress_refuses 403 "path has an empty segment ('//')" --path-as-is "https://up.test:$NP/v1//hello"
	# "." segments and encoded unreserved characters are resolved, and what
	# was checked is what is sent.
	run pcurl --path-as-is "https://up.test:$NP/./%761/./hello"
	assert_output "hello v1"
}

@test "a Host that disagrees with the CONNECT target is refused" {
	egress_start
	egress_refuses 403 "Host header does not match the CONNECT target" -H "Host: other.test:$NP" "https://up.test:$NP/echo"
	egress_refuses 403 '' -H "Host: up.test:1" "https://up.test:$NP/echo"
}

@test "a TLS SNI that disagrees with the CONNECT target is refused" {
	egress_start
	run openssl s_client -proxy "127.0.0.1:$EP" -connect "up.test:$NP" \
		-servername other.test -CAfile ca/ca.pem -verify_return_error </dev/null
	assert_failure
	assert_output --partial 'unrecognized name'
	grep -q '"reason":"TLS SNI does not match the CONNECT target"' audit.log
	run openssl s_client -proxy "127.0.0.1:$EP" -connect "up.test:$NP" \
		-servername up.test -CAfile ca/ca.pem -verify_return_error </dev/null
	assert_success
}

raw() { # send a raw request to the proxy, print the answer
	printf "$1" | socat -t 5 - "TCP:127.0.0.1:$EP"
}

@test "CONNECT only to 443 and http only to 80, unless the route lists the port" {
	egress_start
	# default.test lists no port: 443 passes (nginx on $NA:443).
	run pcurl "https://default.test/echo"
	assert_output "auth=[] pauth=[] host=[default.test] uri=[/echo]"
	# An allowed host on port 22: no tunnel at all, a 403 JSON answer.
	run raw "CONNECT up.test:22 HTTP/1.1\r\nHost: up.test:22\r\n\r\n"
	assert_line --index 0 --partial "HTTP/1.1 403 Forbidden"
	assert_output --partial $'X-Bb-Egress: denied\r'
	[ "$(printf '%s\n' "$output" | tail -n 1)" = "$(deny_body up.test up.test:22 'port not allowed')" ]
	# The test port of nginx is real, but default.test does not list it.
	run raw "CONNECT default.test:$NP HTTP/1.1\r\nHost: default.test:$NP\r\n\r\n"
	assert_line --index 0 --partial "HTTP/1.1 403 Forbidden"
	assert_output --partial '"reason":"port not allowed"'
	code=$(pcurl -o /dev/null -w '%{http_connect}' "https://default.test:$NP/echo" 2>/dev/null || true)
	[ "$code" = 403 ]
	# An undeclared host on another port is refused at the CONNECT too.
	run raw "CONNECT nope.test:22 HTTP/1.1\r\nHost: nope.test:22\r\n\r\n"
	assert_line --index 0 --partial "HTTP/1.1 403 Forbidden"
	assert_output --partial '"reason":"host not allowed"'
	# A route that lists ports allows those only, 443 included.
	run raw "CONNECT up.test:443 HTTP/1.1\r\nHost: up.test:443\r\n\r\n"
	assert_output --partial '"reason":"port not allowed"'
	# Plain http: 80 unless listed.
	run raw "GET http://default.test:8080/echo HTTP/1.1\r\nHost: default.test:8080\r\n\r\n"
	assert_line --index 0 --partial "HTTP/1.1 403 Forbidden"
	assert_output --partial '"reason":"port not allowed"'
	run raw "GET http://other.test/echo HTTP/1.1\r\nHost: other.test\r\n\r\n"
	assert_output --partial '"reason":"port not allowed"'
	run grep -c '"reason":"port not allowed"' audit.log
	assert_output 6
}

@test "request smuggling shapes are refused with 400" {
	egress_start
	run raw "POST http://other.test:$NP/echo HTTP/1.1\r\nHost: other.test\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
	assert_line --index 0 --partial "HTTP/1.1 400 Bad Request"
	assert_output --partial '"reason":"both Content-Length and Transfer-Encoding"'
	assert_output --partial 'X-Bb-Egress: bad-request'
	run raw "POST http://other.test:$NP/echo HTTP/1.1\r\nHost: other.test\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
	assert_line --index 0 --partial "HTTP/1.1 400 Bad Request"
	assert_output --partial '"error":"egress_bad_request"'
	run raw "GET http://other.test:$NP/echo HTTP/1.1\r\nHost: other.test\r\nX-A: a\r\n b\r\n\r\n"
	assert_line --index 0 --partial "HTTP/1.1 400 Bad Request"
	assert_output --partial '"reason":"obsolete line folding in the request head"'
	run raw "POST http://other.test:$NP/echo HTTP/1.1\r\nHost: other.test\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
	assert_output --partial '"reason":"Transfer-Encoding other than chunked"'
	run raw "GET http://other.test:$NP/echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"
	assert_output --partial '"reason":"more than one Host header"'
	run raw "GARBAGE\r\n\r\n"
	assert_line --index 0 --partial "HTTP/1.1 400 Bad Request"
}

@test "an oversized request head is refused with 431" {
	egress_start
	big=$(head -c 40000 /dev/zero | tr '\0' a)
	run pcurl -H "X-Big: $big" -o body -w '%{http_code}' "https://up.test:$NP/echo"
	assert_output 431
	[ "$(jq -r .error body)" = egress_head_too_large ]
}

@test "an empty credential slot answers 502 and never forwards" {
	egress_start
	egress_refuses 502 "credential slot is empty" "https://empty.test:$NP/echo"
}

@test "git smart-HTTP push is refused; fetch passes" {
	egress_start
	egress_refuses 403 "git push goes through the git gate, not egress" \
		"https://up.test:$NP/v1/git/repo.git/info/refs?service=git-receive-pack"
	egress_refuses 403 '' -X POST "https://up.test:$NP/v1/git/repo.git/git-receive-pack"
	run pcurl -o body -w '%{http_code}' "https://up.test:$NP/v1/git/repo.git/info/refs?service=git-upload-pack"
	assert_output 200
}

@test "plain HTTP: absolute-form only, never with credentials" {
	egress_start
	run curl -sS --proxy "http://127.0.0.1:$EP" -o body -w '%{http_code}' "http://up.test:$NP/echo"
	assert_output 403
	[ "$(jq -r .reason body)" = "authenticated route needs https" ]
	run raw "GET /echo HTTP/1.1\r\nHost: other.test\r\n\r\n"
	assert_output --partial '"reason":"request-target must be an absolute http:// URL"'
}

@test "plain HTTP to an open route is forwarded in origin form" {
	mkdir www && echo plain-ok >www/index.txt
	HP=$(free_port)
	python3 -m http.server -b 127.0.0.1 -d www "$HP" 2>/dev/null &
	HTTP_PID=$!
	wait_for "127.0.0.1:$HP"
	egress_routes
	jq ".routes[1].ports += [$HP]" routes.json >r && mv r routes.json
	egress_start --resolve "other.test:$HP:127.0.0.1"
	run curl -sS --proxy "http://127.0.0.1:$EP" "http://other.test:$HP/index.txt"
	kill "$HTTP_PID"
	assert_output plain-ok
	grep -q '"host":"other.test","path":"/index.txt","decision":"allow","status":200' audit.log
}

@test "upstream failures answer 502 with the cause" {
	egress_routes
	jq '.routes[0].ports += [1]' routes.json >r && mv r routes.json
	egress_start
	run pcurl -o body -w '%{http_code}' "https://up.test:1/v1/hello"
	assert_output 502
	[ "$(jq -r .error body)" = egress_upstream_error ]
	# Without the test CA the upstream certificate does not verify.
	egress_stop
	EP=$(free_port)
	bb-egress serve --routes routes.json --ca-dir ca --listen "127.0.0.1:$EP" \
		--resolve "other.test:$NP:127.0.0.1" --audit audit2.log 2>/dev/null &
	EGRESS_PID=$!
	wait_for "127.0.0.1:$EP"
	egress_refuses 502 "upstream TLS failed: certificate verify failed (unable to get local issuer certificate)" \
		"https://other.test:$NP/echo"
}
