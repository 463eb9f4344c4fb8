#!/usr/bin/env bats
# bb-egress: reload, introspection, audit, and keeping the token secret.

load helper
load egress-lib

admin() {
	curl -sS --unix-socket admin.sock "http://egress$1"
}

@test "SIGHUP with a good routes file takes effect" {
	egress_start
	run pcurl -o /dev/null -w '%{http_code}' "https://other.test:$NP/echo"
	assert_output 200
	jq 'del(.routes[1], .routes[3]) | .routes[0].path_allowlist = ["/echo"]' routes.json >new.json
	mv new.json routes.json
	kill -HUP "$EGRESS_PID"
	wait_for_text egress.err "reloaded routes.json: 2 routes"
	egress_refuses 403 "host not allowed" "https://other.test/echo"
	code=$(pcurl -o /dev/null -w '%{http_connect}' "https://other.test:$NP/echo" 2>/dev/null || true)
	[ "$code" = 403 ]
	run pcurl -o /dev/null -w '%{http_code}' "https://up.test:$NP/v1/hello"
	assert_output 403
	run admin /routes
	assert_success
	[ "$(echo "$output" | jq -c '[.routes[].host]')" = '["up.test","empty.test"]' ]
}

@test "SIGHUP with a bad routes file keeps the old routes" {
	egress_start
	echo '{"version": 1, "routes": [{"host": "other.test", "auth_scheme": "Bearer"}]}' >routes.json
	kill -HUP "$EGRESS_PID"
	wait_for_text egress.err "reload refused"
	run grep -c 'bb-egress: error: routes.json: routes\[0\]: auth_scheme and token_env must be both present or both absent (reload refused; the old routes stay in force)' egress.err
	assert_output 1
	run pcurl "https://up.test:$NP/echo"
	assert_output "auth=[Bearer $TOKEN] pauth=[] host=[up.test:$NP] uri=[/echo]"
	echo 'not json' >routes.json
	kill -HUP "$EGRESS_PID"
	wait_for_text egress.err "routes.json: line 1"
	# A slot this process was never given cannot be hot-added.
	echo '{"version": 1, "routes": [{"host": "other.test", "auth_scheme": "Bearer", "token_env": "EGRESS_TOKEN_7"}]}' >routes.json
	kill -HUP "$EGRESS_PID"
	wait_for_text egress.err "slot EGRESS_TOKEN_7 was not given to this process"
	run pcurl -o /dev/null -w '%{http_code}' "https://up.test:$NP/v1/hello"
	assert_output 200
	run pcurl -o /dev/null -w '%{http_code}' "https://other.test:$NP/echo"
	assert_output 200
}

@test "SIGHUP re-reads the token file" {
	printf 'EGRESS_TOKEN_0=from-file-1\n' >tokens
	chmod 600 tokens
	egress_start --token-file tokens
	run pcurl "https://up.test:$NP/echo"
	assert_output "auth=[Bearer from-file-1] pauth=[] host=[up.test:$NP] uri=[/echo]"
	printf '# rotated\nEGRESS_TOKEN_0=from-file-2\nEGRESS_TOKEN_1=now-set\n' >tokens
	kill -HUP "$EGRESS_PID"
	wait_for_text egress.err reloaded
	run pcurl "https://up.test:$NP/echo"
	assert_output "auth=[Bearer from-file-2] pauth=[] host=[up.test:$NP] uri=[/echo]"
	run pcurl "https://empty.test:$NP/echo"
	assert_output "auth=[token now-set] pauth=[] host=[empty.test:$NP] uri=[/echo]"
	chmod 644 tokens
	kill -HUP "$EGRESS_PID"
	wait_for_text egress.err "tokens: must not be readable by group or others"
	run pcurl "https://up.test:$NP/echo"
	assert_output "auth=[Bearer from-file-2] pauth=[] host=[up.test:$NP] uri=[/echo]"
}

@test "introspection lists routes and schemes, never values" {
	egress_start
	run admin /routes
	assert_success
	[ "$(echo "$output" | jq -c '.routes[0]')" = '{"auth_scheme":"Bearer","authenticated":true,"host":"up.test","path_allowlist":["/v1/","/echo","/up/","/sse"],"ports":['$NP']}' ]
	[ "$(echo "$output" | jq -c '.routes[1]')" = '{"auth_scheme":"","authenticated":false,"host":"other.test","path_allowlist":[],"ports":['$NP']}' ]
	[ "$(echo "$output" | jq -c '.routes[3]')" = '{"auth_scheme":"","authenticated":false,"host":"default.test","path_allowlist":[]}' ]
	refute_output --partial "$TOKEN"
	refute_output --partial EGRESS_TOKEN
	run curl -sS --unix-socket admin.sock -o /dev/null -w '%{http_code}' http://egress/other
	assert_output 404
	[ "$(stat -c %a admin.sock)" = 600 ]
}

@test "the token never appears in the audit log, introspection, cmdline or environ" {
	egress_start
	pcurl -H "Authorization: Bearer $TOKEN-agent" "https://up.test:$NP/echo?token=$TOKEN" >/dev/null
	pcurl "https://up.test:$NP/nope" >/dev/null
	pcurl "https://empty.test:$NP/x" >/dev/null
	[ -s audit.log ]
	run grep -c "$TOKEN" audit.log egress.err
	assert_output "audit.log:0
egress.err:0"
	run admin /routes
	refute_output --partial "$TOKEN"
	run tr '\0' ' ' <"/proc/$EGRESS_PID/cmdline"
	assert_output --partial 'bb-egress serve'
	refute_output --partial "$TOKEN"
	run tr '\0' '\n' <"/proc/$EGRESS_PID/environ"
	assert_output --partial 'HOME='
	refute_output --partial "$TOKEN"
	refute_output --partial 'EGRESS_TOKEN_'
	# Nor in the routes file or the pid file it writes.
	run grep -c "$TOKEN" routes.json egress.pid
	assert_output "routes.json:0
egress.pid:0"
}

@test "the audit log has one line per decision with every field" {
	egress_start
	pcurl "https://up.test:$NP/v1/hello?q=secret" >/dev/null
	pcurl "https://nope.test/a" >/dev/null
	run jq -c 'del(.time, .duration_ms)' audit.log
	assert_line --index 0 '{"method":"GET","host":"up.test","path":"/v1/hello","decision":"allow","status":200,"reason":"","bytes":244,"request_bytes":0,"route":"up.test"}'
	assert_line --index 1 '{"method":"GET","host":"nope.test","path":"/a","decision":"deny","status":403,"reason":"host not allowed","bytes":275,"request_bytes":0,"route":null}'
	run jq -r '.time | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:.]+Z$")' audit.log
	assert_output "true
true"
	[ "$(stat -c %a audit.log)" = 600 ]
}

@test "a pid file and unix socket listener" {
	bb-egress ca init ca
	egress_routes
	EGRESS_TOKEN_0=$TOKEN bb-egress serve --routes routes.json --ca-dir ca \
		--listen "unix:$PWD/egress.sock" --pid-file egress.pid --audit audit.log \
		--upstream-ca "$CERTS/tca.pem" --resolve "up.test:$NP:127.0.0.1" 2>egress.err &
	EGRESS_PID=$!
	wait_for egress.sock
	wait_for egress.pid
	[ "$(cat egress.pid)" = "$EGRESS_PID" ]
	[ "$(stat -c %a egress.sock)" = 666 ]
	# curl cannot speak to an HTTP proxy on a unix socket: relay one.
	EP=$(free_port)
	socat "TCP-LISTEN:$EP,bind=127.0.0.1,reuseaddr,fork" "UNIX-CONNECT:$PWD/egress.sock" &
	SOCAT=$!
	wait_for "127.0.0.1:$EP"
	run pcurl "https://up.test:$NP/v1/hello"
	kill $SOCAT
	assert_output "hello v1"
}

@test "--workers 2: both workers serve, SIGHUP reloads each, SIGTERM drains all, no token in any" {
	egress_start --workers 2 --listen "unix:$PWD/egress.sock" --pid-file egress.pid
	wait_for egress.pid
	[ "$(cat egress.pid)" = "$EGRESS_PID" ]
	kids=$(pgrep -P "$EGRESS_PID" | sort)
	[ "$(echo "$kids" | wc -l)" = 2 ]
	# Enough connections that both workers accept some.
	for i in $(seq 12); do
		pcurl -o /dev/null "https://up.test:$NP/v1/hello" &
	done
	wait $(jobs -p | grep -v "^$EGRESS_PID$") 2>/dev/null || true
	run grep -c '"decision":"allow"' audit.log
	assert_output 12
	# Every audit line whole, although two processes append to the file.
	jq -e . audit.log >/dev/null
	for k in $kids; do
		run tr '\0' ' ' <"/proc/$k/cmdline"
		refute_output --partial "$TOKEN"
		run tr '\0' '\n' <"/proc/$k/environ"
		refute_output --partial "$TOKEN"
		refute_output --partial EGRESS_TOKEN_
	done
	jq 'del(.routes[1], .routes[3])' routes.json >new.json
	mv new.json routes.json
	kill -HUP "$EGRESS_PID"
	i=0
	until [ "$(grep -c 'reloaded routes.json: 2 routes' egress.err)" = 2 ] || [ $i -ge 100 ]; do
		sleep 0.05; i=$((i + 1))
	done
	[ "$(grep -c 'reloaded routes.json: 2 routes' egress.err)" = 2 ]
	for i in $(seq 6); do
		egress_refuses 403 "host not allowed" "https://other.test/echo"
	done
	run admin /routes
	[ "$(echo "$output" | jq -c '[.routes[].host]')" = '["up.test","empty.test"]' ]
	egress_stop
	for k in $kids; do ! kill -0 "$k" 2>/dev/null; done
	[ ! -e egress.pid ] && [ ! -e egress.sock ]
}

@test "--workers takes 1 to 64 or auto" {
	bb-egress ca init ca
	egress_routes
	run bb-egress serve --routes routes.json --ca-dir ca --workers 0
	assert_failure 2
	assert_line --index 0 "bb-egress: error: --workers: expected 1 to 64 or auto"
}
