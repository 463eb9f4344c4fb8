#!/usr/bin/env bats
bats_require_minimum_version 1.5.0
# bb-up on the ns backend: what the agent can and cannot reach from inside
# the bottle.  The sidecars are stood in for by socat on unix sockets
# (--no-sidecars), so this file depends on no other tool.

load helper
load up-lib

SLUG=t-abcde

setup() {
	bb_setup
	PIDS=()
	# A sleep no other test on the machine runs, for pgrep.
	NAP=300.$$$RANDOM
	RUN=$XDG_RUNTIME_DIR/bb/$SLUG
	mkdir -p -m 0700 "$XDG_RUNTIME_DIR/bb" "$RUN" "$RUN/bottle"
	cat >plan.json <<-EOF2
	{"version": 1, "slug": "$SLUG", "agent": "t", "bottle": "b", "backend": "ns",
	 "egress": {"routes": []}, "git_gate": {"repos": []},
	 "supervise": {"enabled": false},
	 "env": {"LITERAL": {"source": "literal", "value": "lit-value", "origin": "bottle"},
	         "FORWARDED": {"source": "host", "host_var": "HOST_FWD", "origin": "bottle"}}}
	EOF2
	export HOST_FWD=fwd-default
	mkdir ws
	echo hello >ws/file.txt
	git -C ws init -q
	# A stand-in sidecar: echoes what it gets, prefixed by its name.
	sidecar egress
}

teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}

sidecar() {
	socat "UNIX-LISTEN:$RUN/bottle/$1.sock,fork" "SYSTEM:echo $1; cat" &
	PIDS+=($!)
	wait_for "$RUN/bottle/$1.sock"
}

# Run a shell snippet as the agent.
agent() {
	run --separate-stderr bb-up -y -p plan.json -N -C ws t -- sh -c "$1"
}

@test "the agent runs as node in a copy of --cwd with its .git" {
	agent 'id -un; id -u; echo "$HOME $USER"; pwd; cat file.txt; git rev-parse --git-dir'
	assert_success
	assert_line --index 0 node
	assert_line --index 1 1000
	assert_line --index 2 "/home/node node"
	assert_line --index 3 /home/node/workspace
	assert_line --index 4 hello
	assert_line --index 5 .git
}

@test "the agent has no capabilities and system dirs are read-only" {
	agent 'grep CapEff /proc/self/status; touch /usr/x 2>&1 || echo usr-ro; touch /etc/x 2>&1 || echo etc-ro; touch ~/w && echo home-rw'
	assert_success
	assert_line --index 0 --regexp 'CapEff:[[:space:]]+0+$'
	assert_line usr-ro
	assert_line etc-ro
	assert_line home-rw
}

@test "root-only host files are not in the bottle" {
	agent 'for f in /etc/shadow /etc/ssh /root /etc/ssl/private; do [ -e $f ] && echo "visible $f"; done; echo done'
	assert_success
	assert_output done
}

@test "the environment comes from the plan and infrastructure only" {
	HOST_FWD=fwd-value SOME_HOST_VAR=leak agent 'env | sort'
	assert_success
	assert_line LITERAL=lit-value
	assert_line FORWARDED=fwd-value
	assert_line HTTPS_PROXY=http://127.0.0.1:9099
	assert_line https_proxy=http://127.0.0.1:9099
	assert_line HTTP_PROXY=http://127.0.0.1:9099
	assert_line NO_PROXY=localhost,127.0.0.1
	assert_line SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
	assert_line NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt
	refute_line --partial SOME_HOST_VAR
	refute_line --partial leak
}

@test "a forwarded variable that is unset on the host fails the launch" {
	unset HOST_FWD
	agent 'echo started'
	assert_failure 1
	[[ $stderr == *'bb-up: error: env: FORWARDED: host variable HOST_FWD is not set'* ]]
	refute_output --partial started
}

@test "the relay reaches the sidecar socket at 127.0.0.1:9099" {
	agent 'echo ping | socat -t 2 - TCP:127.0.0.1:9099'
	assert_success
	assert_line --index 0 egress
	assert_line --index 1 ping
}

@test "each relayed socket gets its fixed port" {
	sidecar gitgate
	sidecar supervise
	agent 'for p in 9099 9420 9100; do echo x | socat -t 2 - TCP:127.0.0.1:$p | head -n 1; done'
	assert_success
	assert_output "egress
gitgate
supervise"
}

@test "no direct TCP to a host loopback service nor to the outside; no host abstract unix socket" {
	port=$(free_port)
	up_host_listeners "$port"
	agent "$(up_escape_probes "$port")"
	assert_success
	up_assert_escapes_refused
	assert_output --partial 'Network is unreachable'
}

@test "no UDP (to the host, the relay address or the outside) and no DNS" {
	uport=$(free_port)
	up_udp_listener "$uport"
	agent "$(up_udp_probes "$uport")
	       [ -e /etc/resolv.conf ] || echo no-resolv-conf
	       ip -o link | wc -l"
	assert_success
	assert_line no-resolv-conf
	assert_line 1
	up_assert_udp_refused "$uport"
}

@test "host processes are invisible" {
	sleep 1234 &
	PIDS+=($!)
	agent 'ps -eo args'
	assert_success
	refute_line --partial 'sleep 1234'
	refute_line --partial socat
	refute_line --partial bats-core
	assert_line --partial 'bb-relay'
}

@test "no argv in the bottle shows a host path; bwrap's own is --args" {
	agent 'for p in /proc/[0-9]*; do tr "\0" " " <$p/cmdline; echo; done'
	assert_success
	refute_output --partial "$XDG_STATE_HOME"
	refute_output --partial "$XDG_RUNTIME_DIR"
	refute_output --partial "$BB_ROOT"
	refute_output --partial "$T"
	assert_line --regexp '^/usr/bin/bwrap --args [0-9]+ -- /run/bb/bb-relay -e [0-9]+ -l 9099:/run/bb/sock/egress.sock -- sh -c '
}

@test "a token in bb-up's environment never reaches the bottle" {
	tok=tok-$RANDOM-s3cr3t
	EGRESS_TOKEN_0=$tok GH_PAT=$tok agent 'cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr "\0" "\n"; grep -rs . ~ /tmp /run/bb 2>/dev/null | head -n 1000; env'
	assert_success
	refute_output --partial "$tok"
}

@test "the agent's environment is not on any host argv" {
	HOST_FWD=fwd-$RANDOM-value
	export HOST_FWD
	bb-up -y -p plan.json -N t -- sleep $NAP &
	PIDS+=($!)
	wait_for "$XDG_STATE_HOME/bb/bottles/$SLUG/home/.bot-bottle-prompt.txt"
	sleep 0.3
	pgrep -f "sleep $NAP" >/dev/null
	run sh -c 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" " "'
	refute_output --partial "$HOST_FWD"
	refute_output --partial lit-value
	assert_output --partial "/run/bb/bb-relay -e"
}

@test "the bottle CA is appended to the system bundle the agent trusts" {
	mkdir -p "$XDG_STATE_HOME/bb/bottles/$SLUG/egress"
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
		-keyout ca.key -out "$XDG_STATE_HOME/bb/bottles/$SLUG/egress/ca.pem" \
		-subj /CN=bb-test-ca -days 1 2>/dev/null
	cp "$XDG_STATE_HOME/bb/bottles/$SLUG/egress/ca.pem" ca.pem
	agent 'tail -n 20 "$SSL_CERT_FILE" | openssl x509 -noout -subject; grep -c BEGIN "$SSL_CERT_FILE"'
	assert_success
	assert_line --index 0 --partial bb-test-ca
	[ "${lines[1]}" -gt 100 ]
	run grep -rl 'PRIVATE KEY' "$XDG_STATE_HOME/bb/bottles/$SLUG/home" "$XDG_STATE_HOME/bb/bottles/$SLUG/guest"
	assert_failure
}

@test "the agent's exit status is bb-up's" {
	agent 'exit 7'
	assert_failure 7
}

@test "teardown leaves no process, mount or socket" {
	agent 'true'
	assert_success
	[ ! -e "$RUN" ]
	run pgrep -af "hostname $SLUG"
	assert_failure
	run grep -c "$SLUG" /proc/self/mountinfo
	assert_output 0
	run jq -r .running "$XDG_STATE_HOME/bb/bottles/$SLUG/metadata.json"
	assert_output false
}

@test "SIGTERM to bb-up stops the agent and tears down" {
	bb-up -y -p plan.json -N t -- sleep $NAP &
	up=$!
	wait_for "$XDG_STATE_HOME/bb/bottles/$SLUG/home/.bot-bottle-prompt.txt"
	sleep 0.3
	pgrep -f "sleep $NAP" >/dev/null
	kill -TERM "$up"
	code=0
	wait "$up" || code=$?
	[ "$code" -eq 143 ]
	run pgrep -f "sleep $NAP"
	assert_failure
	[ ! -e "$RUN" ]
}

@test "ls lists a running bottle; down stops it" {
	bb-up -y -p plan.json -N t -- sleep $NAP &
	PIDS+=($!)
	wait_for "$XDG_STATE_HOME/bb/bottles/$SLUG/home/.bot-bottle-prompt.txt"
	sleep 0.3
	run bb-up ls -j
	assert_success
	[ "$(jq -r '.bottles[0].slug' <<<"$output")" = "$SLUG" ]
	[ "$(jq -r '.bottles[0].backend' <<<"$output")" = ns ]
	run bb-up ls
	assert_line --index 1 --regexp "^$SLUG +t +ns "
	run bb-up down "$SLUG"
	assert_success
	run pgrep -f "sleep $NAP"
	assert_failure
	run bb-up ls -j
	[ "$(jq '.bottles | length' <<<"$output")" = 0 ]
}

@test "ls sorts by started_at then slug" {
	for s in b-2 a-1 c-3; do
		mkdir -p "$XDG_STATE_HOME/bb/bottles/$s"
		at=2026-01-01T00:00:00+00:00
		[ $s = c-3 ] && at=2025-01-01T00:00:00+00:00
		jq -n --arg a "$at" --argjson pid $$ --argjson st "$(awk '{print $22}' /proc/$$/stat)" \
			'{identity:"x", agent:"x", backend:"ns", started_at:$a, pid:$pid, pid_start:$st, running:true}' \
			>"$XDG_STATE_HOME/bb/bottles/$s/metadata.json"
	done
	run bb-up ls -j
	assert_success
	[ "$(jq -r '[.bottles[].slug] | join(" ")' <<<"$output")" = "c-3 a-1 b-2" ]
}

@test "a bottle left by a killed bb-up is cleaned by the next run" {
	bb-up -y -p plan.json -N t -- sleep $NAP &
	up=$!
	wait_for "$XDG_STATE_HOME/bb/bottles/$SLUG/home/.bot-bottle-prompt.txt"
	sleep 0.3
	kill -KILL "$up"
	wait "$up" || true
	sleep 0.2
	# --die-with-parent took the agent down with bb-up.
	run pgrep -f "sleep $NAP"
	assert_failure
	[ -e "$RUN" ]
	run jq -r .running "$XDG_STATE_HOME/bb/bottles/$SLUG/metadata.json"
	assert_output true
	sed 's/t-abcde/t-other/' plan.json >other.json
	run bb-up -y -p other.json -N t -- true
	assert_success
	assert_output --partial "bb-up: warning: $SLUG: cleaning up a bottle left by a dead bb-up"
	[ ! -e "$RUN" ]
	run jq -r .running "$XDG_STATE_HOME/bb/bottles/$SLUG/metadata.json"
	assert_output false
}

@test "down cleans a stale bottle" {
	mkdir -p "$XDG_STATE_HOME/bb/bottles/$SLUG"
	jq -n '{identity:"t-abcde", agent:"t", backend:"ns", started_at:"", pid:999999, pid_start:1, running:true}' \
		>"$XDG_STATE_HOME/bb/bottles/$SLUG/metadata.json"
	run bb-up down "$SLUG"
	assert_success
	[ ! -e "$RUN" ]
}

@test "down refuses a slug that is not one" {
	run bb-up down ../etc
	assert_failure 1
	assert_output 'bb-up: error: ../etc: not a bottle slug'
	run bb-up down nosuch
	assert_failure 1
	assert_output --partial 'bb-up: error: nosuch: no such bottle'
}

@test "--dry-run prints the preflight and the plan and starts nothing" {
	run bb-up -n -p plan.json t -- true
	assert_success
	assert_line 'agent : t'
	assert_line 'backend : ns'
	[ ! -e "$XDG_STATE_HOME/bb/bottles/$SLUG" ]
}

@test "without -y and without a terminal bb-up refuses" {
	run bb-up -p plan.json -N t -- true </dev/null
	assert_failure 1
	assert_output --partial 'pass -y'
}

@test "a missing --cwd is an error" {
	run bb-up -y -p plan.json -N -C nodir t -- true
	assert_failure 1
	assert_output --partial 'bb-up: error: --cwd: cwd not found at nodir'
}

@test "usage errors exit 2" {
	run bb-up
	assert_failure 2
	run bb-up -y t --
	assert_failure 2
	run bb-up -Z t
	assert_failure 2
	run bb-up -b nope -y -p plan.json -N t -- true
	assert_failure 1
	assert_output --partial "unknown backend 'nope'"
}

@test "doctor says ns works here" {
	run bb-up doctor
	assert_line --regexp '^ns +ok$'
}

@test "a runtime root that another user could write, or that is a symlink, is refused" {
	chmod 0777 "$XDG_RUNTIME_DIR/bb"
	agent 'echo started'
	assert_failure 1
	refute_output --partial started
	assert_equal "${stderr##*$'\n'}" "bb-up: error: $XDG_RUNTIME_DIR/bb: not a private directory of uid $(id -u) (a directory, owner $(id -u), mode 0777): remove it, or set XDG_RUNTIME_DIR"
	chmod 0700 "$XDG_RUNTIME_DIR/bb"
	chown 65534 "$XDG_RUNTIME_DIR/bb"
	agent 'echo started'
	assert_failure 1
	[[ $stderr == *"(a directory, owner 65534, mode 0700)"* ]]
	mv "$XDG_RUNTIME_DIR/bb" "$T/elsewhere"
	ln -s "$T/elsewhere" "$XDG_RUNTIME_DIR/bb"
	agent 'echo started'
	assert_failure 1
	[[ $stderr == *"(a symlink, owner $(id -u), mode 0777)"* ]]
}
