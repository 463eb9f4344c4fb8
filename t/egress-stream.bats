#!/usr/bin/env bats
# bb-egress: streaming (large bodies with bounded memory, server-sent
# events), keep-alive, and a draining SIGTERM.

load helper
load egress-lib

setup_file() {
	nginx_setup_file
	head -c 100M /dev/urandom >"$CERTS/www/big.bin"
	SP=$(free_port)
	export SP
	egress_start_sse "$CERTS" "$SP"
}

teardown_file() {
	egress_stop_sse "$CERTS"
	nginx_teardown_file
}

# ASan keeps freed memory in quarantine; bound it so that VmHWM measures
# our buffering, not the sanitizer's.
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}quarantine_size_mb=4"

@test "a 100 MB download streams through with bounded proxy memory" {
	egress_routes
	jq '.routes[1].path_allowlist = ["/"]' routes.json >r && mv r routes.json
	egress_start --resolve "other.test:$SP:127.0.0.1"
	pcurl -o /dev/null "https://up.test:$NP/v1/hello"
	base=$(vmhwm "$EGRESS_PID")
	got=$(pcurl "https://other.test:$NP/big.bin" | sha256sum)
	want=$(sha256sum <"$CERTS/www/big.bin")
	[ "${got%% *}" = "${want%% *}" ]
	peak=$(vmhwm "$EGRESS_PID")
	echo "VmHWM before $base KiB, after $peak KiB" >&3
	[ $((peak - base)) -lt 20480 ]
	grep -q '"path":"/big.bin","decision":"allow","status":200,"reason":"","bytes":1048' audit.log
}

@test "an agent that stops reading holds the upstream back" {
	egress_routes
	jq '.routes[1].path_allowlist = ["/"]' routes.json >r && mv r routes.json
	egress_start
	pcurl -o /dev/null "https://up.test:$NP/v1/hello"
	base=$(vmhwm "$EGRESS_PID")
	# Nobody reads curl's pipe for 3 s: the pipe and the sockets fill, and
	# bb-egress must stop reading from nginx rather than take the body in.
	got=$(pcurl "https://other.test:$NP/big.bin" | { sleep 3; sha256sum; })
	want=$(sha256sum <"$CERTS/www/big.bin")
	[ "${got%% *}" = "${want%% *}" ]
	peak=$(vmhwm "$EGRESS_PID")
	echo "VmHWM before $base KiB, after $peak KiB" >&3
	[ $((peak - base)) -lt 20480 ]
}

@test "a 100 MB upload streams through with bounded proxy memory" {
	egress_start
	pcurl -o /dev/null "https://up.test:$NP/v1/hello"
	base=$(vmhwm "$EGRESS_PID")
	run pcurl -o /dev/null -w '%{http_code}' -T "$CERTS/www/big.bin" "https://up.test:$NP/up/big-put"
	assert_output 201
	peak=$(vmhwm "$EGRESS_PID")
	echo "VmHWM before $base KiB, after $peak KiB" >&3
	cmp "$CERTS/www/big.bin" "$CERTS/www/up/big-put"
	[ $((peak - base)) -lt 20480 ]
	grep -q '"method":"PUT","host":"up.test","path":"/up/big-put","decision":"allow","status":201.*"request_bytes":104857600' audit.log
	# A chunked upload (no length known in advance).
	head -c 5M "$CERTS/www/big.bin" >part
	run pcurl -o /dev/null -w '%{http_code}' -H 'Transfer-Encoding: chunked' -T - \
		"https://up.test:$NP/up/chunked-put" <part
	assert_output 201
	cmp part "$CERTS/www/up/chunked-put"
}

@test "server-sent events arrive one by one, as they are sent" {
	egress_allow_port 1 "$SP"
	egress_start --resolve "other.test:$SP:127.0.0.1"
	pcurl -N "https://other.test:$SP/sse" |
		while IFS= read -r line; do
			if [ -n "$line" ]; then echo "$(date +%s.%N) $line"; fi
		done >events
	run cut -d' ' -f2- events
	assert_output "data: event 1
data: event 2
data: event 3"
	# The first event reached the client well before the last was sent.
	gap=$(awk 'NR == 1 {a = $1} NR == 3 {print int(($1 - a) * 1000)}' events)
	[ "$gap" -ge 1500 ]
}

@test "keep-alive: several requests share one tunnel" {
	egress_start
	run pcurl -w '%{num_connects}\n' "https://up.test:$NP/v1/hello" "https://up.test:$NP/v1/hello" \
		"https://up.test:$NP/echo"
	assert_success
	assert_line --index 0 "hello v1"
	assert_line --index 1 1
	assert_line --index 2 "hello v1"
	assert_line --index 3 0
	assert_line --index 5 0
	run grep -c '"decision":"allow"' audit.log
	assert_output 3
}

@test "requests in the same segment as the handshake's end are all answered" {
	egress_start
	run egress_flight_client "$EP" up.test "$NP" ca/ca.pem /v1/hello
	assert_success
	assert_output "HTTP/1.1 200 OK
hello v1
HTTP/1.1 200 OK
hello v1"
	run grep -c '"path":"/v1/hello","decision":"allow","status":200' audit.log
	assert_output 2
}

@test "an idle upstream connection is reused by the agent's next connection" {
	egress_start
	a=$(pcurl "https://up.test:$NP/v1/conn")
	b=$(pcurl "https://up.test:$NP/v1/conn")
	[ -n "$a" ] && [ "$a" = "$b" ]
	# Not across hosts.
	c=$(pcurl "https://other.test:$NP/v1/conn")
	[ "$c" != "$a" ]
}

@test "SIGTERM lets the exchange in flight finish, then exits 0" {
	egress_allow_port 1 "$SP"
	egress_start --resolve "other.test:$SP:127.0.0.1"
	pcurl -N "https://other.test:$SP/sse" >events &
	cpid=$!
	sleep 0.5
	kill -TERM "$EGRESS_PID"
	sleep 0.2
	run pcurl "https://up.test:$NP/v1/hello"
	assert_failure
	wait "$cpid"
	run grep -c '^data: event' events
	assert_output 3
	wait "$EGRESS_PID"
	EGRESS_PID=
	[ ! -e egress.pid ]
}
