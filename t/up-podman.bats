#!/usr/bin/env bats
# bb-up on the podman backend: the same isolation as ns, from a container
# with --network=none, a non-root user and the env from a 0600 file.  The
# sidecars are stood in for by socat on unix sockets (--no-sidecars); the
# real ones run on podman in t/up-egress.bats and t/up-demo.bats.

load helper
load podman
bats_require_minimum_version 1.5.0

setup_file() {
	podman_setup_file
}

setup() {
	bb_setup
	PIDS=()
	podman_require
	# Container names are machine-wide, and other runs of this file may
	# be going on: a slug of our own.
	SLUG=p-$(od -An -N5 -tx1 /dev/urandom | tr -d ' \n')
	OTHER=$SLUG-o
	# A sleep no other test on the machine runs, for pgrep.
	NAP=300.$$$RANDOM
	RUN=$XDG_RUNTIME_DIR/bb/$SLUG
	STATE=$XDG_STATE_HOME/bb/bottles/$SLUG
	mkdir -p -m 0700 "$XDG_RUNTIME_DIR/bb" "$RUN" "$RUN/bottle"
	cat >plan.json <<-EOF2
	{"version": 1, "slug": "$SLUG", "agent": "t", "bottle": "b", "backend": "podman",
	 "egress": {"routes": []}, "git_gate": {"repos": []}, "supervise": {"enabled": false},
	 "env": {"LITERAL": {"source": "literal", "value": "lit-value", "origin": "bottle"}}}
	EOF2
	mkdir ws && echo hello >ws/file.txt
	git -C ws init -q
	socat "UNIX-LISTEN:$RUN/bottle/egress.sock,fork" "SYSTEM:echo egress; cat" &
	PIDS+=($!)
	wait_for "$RUN/bottle/egress.sock"
}

teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -z "${SLUG:-}" ] || pm rm -f -t 0 "bb-$SLUG" "bb-$OTHER" >/dev/null 2>&1 || true
}

agent() {
	run --separate-stderr bb-up -y -b podman -p plan.json -N -C ws t -- sh -c "$1"
}

# Start bb-up in the background with a long sleep as the agent; $UP is its
# pid, $CID the container's id once it runs.
start_napping() {
	bb-up -y -b podman -p plan.json -N t -- sleep "$NAP" 3>&- &
	UP=$!
	PIDS+=($UP)
	for _ in $(seq 200); do
		pgrep -f "^sleep $NAP" >/dev/null && break
		sleep 0.05
	done
	pgrep -f "^sleep $NAP" >/dev/null
	CID=$(pm inspect -f '{{.Id}}' "bb-$SLUG")
	[ -n "$CID" ]
}

# Wait for file $1 to hold the line $2.
wait_for_line() {
	for _ in $(seq 100); do
		grep -qx -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# Nothing of bottle $SLUG (container $CID) is left on the host.
assert_gone() {
	[ -z "$(pm_containers "$SLUG")" ]
	run pgrep -f "sleep $NAP"
	assert_failure
	run pgrep -f "bb-$SLUG"
	assert_failure
	if [ -n "${CID:-}" ]; then
		run pgrep -f "$CID"
		assert_failure
		run grep -c -e "$CID" /proc/self/mountinfo
		assert_output 0
	fi
	run grep -c -e "$SLUG" /proc/self/mountinfo
	assert_output 0
	[ ! -e "$RUN" ]
	[ ! -e "$STATE/agent.env" ]
	run jq -r .running "$STATE/metadata.json"
	assert_output false
}

@test "podman: the agent is uid 1000 without capabilities in a copy of --cwd, with the plan's environment; the root is read-only" {
	SOME_HOST_VAR=host-leak agent 'id -u; pwd; cat file.txt; echo "$HOME $LITERAL"; grep CapEff /proc/self/status
	       git rev-parse --git-dir; env
	       for f in /x /etc/x /usr/x /run/x /tmp/x /var/tmp/x ~/x; do
	           touch $f 2>/dev/null && echo "writable $f" || echo "read-only $f"; done
	       for f in /etc/shadow /etc/ssh /root /etc/ssl/private; do [ -e $f ] && echo "visible $f"; done
	       cat /etc/hosts'
	assert_success
	assert_line --index 0 1000
	assert_line --index 1 /home/node/workspace
	assert_line --index 2 hello
	assert_line --index 3 '/home/node lit-value'
	assert_line --index 4 --regexp 'CapEff:[[:space:]]+0+$'
	assert_line --index 5 .git
	assert_line 'read-only /x'
	assert_line 'read-only /etc/x'
	assert_line 'read-only /usr/x'
	assert_line 'read-only /run/x'
	assert_line 'writable /tmp/x'
	assert_line 'writable /var/tmp/x'
	assert_line 'writable /home/node/x'
	refute_line --partial visible
	# The environment is the plan's and bb's, nothing of the host's.
	assert_line HTTPS_PROXY=http://127.0.0.1:9099
	assert_line SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt
	refute_output --partial host-leak
	# Our hosts file, not podman's with the host's names.
	assert_line --regexp "^127\.0\.0\.1[[:space:]]+localhost $SLUG\$"
	refute_output --partial host.containers.internal
}

@test "podman: only the relays: no direct TCP, UDP or abstract unix socket to the host or the outside, no DNS" {
	port=$(free_port)
	uport=$(free_port)
	socat "TCP-LISTEN:$port,bind=127.0.0.1,fork,reuseaddr" SYSTEM:'echo host-service' &
	PIDS+=($!)
	socat "TCP6-LISTEN:$port,bind=[::1],fork,reuseaddr" SYSTEM:'echo host-service6' &
	PIDS+=($!)
	socat -u "UDP-RECV:$uport,bind=127.0.0.1" OPEN:udp.log,creat,append &
	PIDS+=($!)
	socat "ABSTRACT-LISTEN:bb-test-$port,fork" SYSTEM:'echo host-abstract' &
	PIDS+=($!)
	wait_for "127.0.0.1:$port"
	wait_for "abstract:bb-test-$port"
	socat -t 1 - "ABSTRACT-CONNECT:bb-test-$port" </dev/null | grep -qx host-abstract
	agent "echo ping | socat -t 2 - TCP:127.0.0.1:9099
	       socat -t 1 - ABSTRACT-CONNECT:bb-test-$port </dev/null 2>/dev/null || echo refused-abstract
	       socat -t 1 - TCP:127.0.0.1:$port </dev/null 2>/dev/null || echo refused-loopback
	       socat -t 1 - TCP6:[::1]:$port </dev/null 2>/dev/null || echo refused-loopback6
	       socat -t 1 - TCP:1.1.1.1:443,connect-timeout=2 </dev/null 2>/dev/null || echo refused-outside
	       socat -t 1 - TCP6:[2606:4700::1111]:443,connect-timeout=2 </dev/null 2>/dev/null || echo refused-outside6
	       echo from-bottle | socat -t 1 - UDP:127.0.0.1:$uport 2>/dev/null
	       echo from-bottle | socat -t 1 - UDP:127.0.0.1:9099 2>/dev/null || echo no-udp-relay
	       echo q | socat -t 1 - UDP:8.8.8.8:53 2>/dev/null || echo no-udp-outside
	       getent hosts example.com || echo no-dns
	       [ -e /etc/resolv.conf ] || echo no-resolv-conf
	       ls /sys/class/net"
	assert_success
	assert_line --index 0 egress
	assert_line --index 1 ping
	assert_line refused-loopback
	assert_line refused-loopback6
	assert_line refused-abstract
	refute_output --partial host-abstract
	assert_line refused-outside
	assert_line refused-outside6
	assert_line no-udp-relay
	assert_line no-udp-outside
	assert_line no-dns
	assert_line no-resolv-conf
	assert_line --index $((${#lines[@]} - 1)) lo
	refute_output --partial host-service
	# The host's UDP listener works, and got nothing from the bottle.
	echo from-host | socat -u - "UDP:127.0.0.1:$uport"
	wait_for_line udp.log from-host
	run cat udp.log
	assert_output from-host
}

@test "podman: the token is in no environment, file or argv of the container; host processes invisible" {
	tok=tok-$RANDOM$RANDOM-s3cr3t
	prefix=${tok%-s3cr3t}
	# The scan below must find this copy of the token's first half.
	echo "$prefix" >ws/planted
	sleep "$NAP" &
	PIDS+=($!)
	EGRESS_TOKEN_0=$tok GH_PAT=$tok agent "
	       env
	       cat /proc/*/environ /proc/*/cmdline 2>/dev/null | tr '\0' '\n'
	       ps -eo args | sed 's/^/ps: /'
	       for d in /* /dev/shm /dev/mqueue; do
	           case \$d in /usr|/proc|/sys|/dev|/bin|/sbin|/lib|/lib32|/lib64|/libx32) continue;; esac
	           grep -rlsF -D skip -- '$prefix' \"\$d\" | sed 's/^/found: /'
	       done"
	assert_success
	assert_line LITERAL=lit-value
	refute_output --partial "$tok"
	assert_line 'found: /home/node/workspace/planted'
	[ "$(grep -c '^found: ' <<<"$output")" = 1 ]
	assert_line --regexp '^ps: sh -c'
	refute_line --regexp '^ps: .*(socat|sleep|bats|podman run|conmon)'
	[ ! -e "$STATE/agent.env" ]
}

@test "podman: teardown leaves no container, process, mount or socket; the agent's exit status is bb-up's" {
	bb-up -y -b podman -p plan.json -N t -- sh -c \
		'touch ~/up; while [ ! -e ~/go ]; do sleep 0.05; done; exit 5' 3>&- &
	UP=$!
	PIDS+=($UP)
	wait_for "$STATE/home/up" 20
	CID=$(pm inspect -f '{{.Id}}' "bb-$SLUG")
	[ ${#CID} = 64 ]
	grep -q -e "$CID" /proc/self/mountinfo
	touch "$STATE/home/go"
	code=0
	wait "$UP" || code=$?
	[ "$code" = 5 ]
	assert_gone
}

@test "podman: ls shows a running bottle with its 0600 env file; down stops it" {
	start_napping
	run bb-up ls -j
	assert_success
	[ "$(jq -r '.bottles[0].slug' <<<"$output")" = "$SLUG" ]
	[ "$(jq -r '.bottles[0].backend' <<<"$output")" = podman ]
	run bb-up ls
	assert_line --index 1 --regexp "^$SLUG +t +podman "
	[ "$(stat -c %a "$STATE/agent.env")" = 600 ]
	grep -qx LITERAL=lit-value "$STATE/agent.env"
	# The environment goes through the file, never on a host argv.
	run sh -c 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" " "'
	assert_output --partial "--env-file=$STATE/agent.env"
	refute_output --partial lit-value
	run bb-up down "$SLUG"
	assert_success
	code=0
	wait "$UP" || code=$?
	[ "$code" = 143 ]
	assert_gone
	run bb-up ls -j
	[ "$(jq '.bottles | length' <<<"$output")" = 0 ]
}

# bb-up dies outright: the container stops with it (the client gets
# SIGTERM and passes it on), but the state says running, the runtime
# directory and the env file are there.
kill_up() {
	kill -KILL "$UP"
	wait "$UP" || true
	pm_wait_gone "$SLUG"
	run pgrep -f "sleep $NAP"
	assert_failure
	[ -d "$RUN" ]
	[ -e "$STATE/agent.env" ]
	[ "$(jq -r .running "$STATE/metadata.json")" = true ]
}

@test "podman: a SIGKILLed bb-up takes its container down; the next run cleans the rest" {
	start_napping
	kill_up
	sed "s/$SLUG/$OTHER/" plan.json >other.json
	run --separate-stderr bb-up -y -b podman -p other.json -N t -- true
	assert_success
	[[ $stderr == *"bb-up: warning: $SLUG: cleaning up a bottle left by a dead bb-up"* ]]
	assert_gone
}

@test "podman: a SIGKILLed bb-up's bottle is cleaned by bb-up down" {
	start_napping
	kill_up
	run bb-up ls -j
	[ "$(jq '.bottles | length' <<<"$output")" = 0 ]
	run bb-up down "$SLUG"
	assert_success
	assert_gone
}

@test "podman: resume relaunches on the recorded backend with the same home" {
	# podman's user namespace maps container root too; ns maps only 1000.
	inpodman='grep -Eq "^ *0 +100000 +1000$" /proc/self/uid_map && echo in-podman'
	jq '.backend = "ns"' plan.json >ns.json
	run --separate-stderr bb-up -y -b podman -p ns.json -N -C ws t -- sh -c "echo kept >~/note; $inpodman"
	assert_success
	assert_output in-podman
	[ "$(jq -r .backend "$STATE/metadata.json")" = podman ]
	run --separate-stderr bb-up resume -y -N "$SLUG" -- sh -c "cat ~/note; $inpodman"
	assert_success
	assert_line --index 0 kept
	assert_line --index 1 in-podman
	[ -z "$(pm_containers "$SLUG")" ]
}
