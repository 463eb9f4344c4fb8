#!/usr/bin/env bats
# bb-up on the podman and docker backends: the same isolation as ns, from
# a container with --network=none, a non-root user and the env from a 0600
# file.  The sidecars are stood in for by socat on unix sockets
# (--no-sidecars); the real ones run in containers in t/up-egress.bats and
# t/up-demo.bats.  t/up-docker.bats is a link to this file: the engine is
# the one in the file's name.

load helper
load engine
load up-lib
bats_require_minimum_version 1.5.0

ENGINE=${BATS_TEST_FILENAME##*/up-}
ENGINE=${ENGINE%.bats}

setup_file() {
	engine_setup_file
}

teardown_file() {
	engine_teardown_file
}

setup() {
	bb_setup
	PIDS=()
	engine_require
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
	{"version": 1, "slug": "$SLUG", "agent": "t", "bottle": "b", "backend": "$ENGINE",
	 "egress": {"routes": []}, "git_gate": {"repos": []}, "supervise": {"enabled": false},
	 "env": {"LITERAL": {"source": "literal", "value": "lit-value", "origin": "bottle"}}}
	EOF2
	mkdir ws && echo hello >ws/file.txt
	git -C ws init -q
	# 0666, like the sidecars' sockets: docker's agent is not our uid.
	socat "UNIX-LISTEN:$RUN/bottle/egress.sock,fork,mode=666" "SYSTEM:echo egress; cat" &
	PIDS+=($!)
	wait_for "$RUN/bottle/egress.sock"
}

teardown() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[ -z "${SLUG:-}" ] || ct_rm "bb-$SLUG" "bb-$OTHER" >/dev/null 2>&1 || true
}

agent() {
	run --separate-stderr bb-up -y -b "$ENGINE" -p plan.json -N -C ws t -- sh -c "$1"
}

# Start bb-up in the background with a long sleep as the agent; $UP is its
# pid, $CID the container's id once it runs, $MNT what shows it in the
# host's mount table.
start_napping() {
	bb-up -y -b "$ENGINE" -p plan.json -N t -- sleep "$NAP" 3>&- &
	UP=$!
	PIDS+=($UP)
	up_wait_nap "$NAP"
	CID=$(ct inspect -f '{{.Id}}' "bb-$SLUG")
	[ -n "$CID" ]
	MNT=$(ct_mount_mark "$CID")
}

# Nothing of bottle $SLUG (container $CID, mount $MNT) is left on the host.
assert_gone() {
	[ -z "$(ct_containers "$SLUG")" ]
	run pgrep -f "sleep $NAP"
	assert_failure
	run pgrep -f "bb-$SLUG"
	assert_failure
	if [ -n "${CID:-}" ]; then
		run pgrep -f "$CID"
		assert_failure
		run grep -c -e "$MNT" /proc/self/mountinfo
		assert_output 0
	fi
	run grep -c -e "$SLUG" /proc/self/mountinfo
	assert_output 0
	[ ! -e "$RUN" ]
	[ ! -e "$STATE/agent.env" ]
	run jq -r .running "$STATE/metadata.json"
	assert_output false
}

@test "$ENGINE: doctor says it works here, and why not when the engine cannot run" {
	run bb-up doctor
	assert_success
	assert_line --regexp "^$ENGINE +ok\$"
	case $ENGINE in
	docker) DOCKER_HOST=unix://$T/none.sock run bb-up doctor
		assert_line "docker  unavailable: the engine does not answer 'docker version' (is dockerd running? DOCKER_HOST?)" ;;
	*) printf '[engine]\nruntime = "none"\n' >bad.conf
		BB_CONTAINERS_CONF=$T/bad.conf run bb-up doctor
		assert_line --regexp "^podman +unavailable: 'podman run --rootfs' failed" ;;
	esac
	assert_line --regexp '^ns +ok$'
}

@test "$ENGINE: the agent is uid 1000 without capabilities in a copy of --cwd, with the plan's environment; the root is read-only" {
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
	# Our hosts file, not the engine's with the host's names.
	assert_line --regexp "^127\.0\.0\.1[[:space:]]+localhost $SLUG\$"
	refute_output --partial host.containers.internal
}

@test "$ENGINE: only the relays: no direct TCP, UDP or abstract unix socket to the host or the outside, no DNS" {
	port=$(free_port)
	uport=$(free_port)
	up_host_listeners "$port"
	up_udp_listener "$uport"
	agent "echo ping | socat -t 2 - TCP:127.0.0.1:9099
	       $(up_escape_probes "$port")
	       $(up_udp_probes "$uport")
	       [ -s /etc/resolv.conf ] || echo no-name-server
	       ls /sys/class/net"
	assert_success
	assert_line --index 0 egress
	assert_line --index 1 ping
	up_assert_escapes_refused
	assert_line no-name-server
	assert_line --index $((${#lines[@]} - 1)) lo
	up_assert_udp_refused "$uport"
}

@test "$ENGINE: the token is in no environment, file or argv of the container; host processes invisible" {
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
	refute_line --regexp '^ps: .*(socat|sleep|bats|podman run|docker run|conmon|containerd)'
	[ ! -e "$STATE/agent.env" ]
}

@test "$ENGINE: teardown leaves no container, process, mount or socket; the agent's exit status is bb-up's" {
	bb-up -y -b "$ENGINE" -p plan.json -N t -- sh -c \
		'touch ~/up; while [ ! -e ~/go ]; do sleep 0.05; done; exit 5' 3>&- &
	UP=$!
	PIDS+=($UP)
	wait_for "$STATE/home/up" 20
	CID=$(ct inspect -f '{{.Id}}' "bb-$SLUG")
	[ ${#CID} = 64 ]
	MNT=$(ct_mount_mark "$CID")
	grep -q -e "$MNT" /proc/self/mountinfo
	touch "$STATE/home/go"
	code=0
	wait "$UP" || code=$?
	[ "$code" = 5 ]
	assert_gone
}

@test "$ENGINE: ls shows a running bottle with its 0600 env file; down stops it" {
	start_napping
	run bb-up ls -j
	assert_success
	[ "$(jq -r '.bottles[0].slug' <<<"$output")" = "$SLUG" ]
	[ "$(jq -r '.bottles[0].backend' <<<"$output")" = "$ENGINE" ]
	run bb-up ls
	assert_line --index 1 --regexp "^$SLUG +t +$ENGINE "
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
	ct_wait_gone "$SLUG"
	run pgrep -f "sleep $NAP"
	assert_failure
	[ -d "$RUN" ]
	[ -e "$STATE/agent.env" ]
	[ "$(jq -r .running "$STATE/metadata.json")" = true ]
}

@test "$ENGINE: a SIGKILLed bb-up takes its container down; the next run cleans the rest" {
	start_napping
	kill_up
	sed "s/$SLUG/$OTHER/" plan.json >other.json
	run --separate-stderr bb-up -y -b "$ENGINE" -p other.json -N t -- true
	assert_success
	[[ $stderr == *"bb-up: warning: $SLUG: cleaning up a bottle left by a dead bb-up"* ]]
	assert_gone
}

@test "$ENGINE: a SIGKILLed bb-up's bottle is cleaned by bb-up down" {
	start_napping
	kill_up
	run bb-up ls -j
	[ "$(jq '.bottles | length' <<<"$output")" = 0 ]
	run bb-up down "$SLUG"
	assert_success
	assert_gone
}

@test "$ENGINE: resume relaunches on the recorded backend with the same home" {
	# podman's user namespace maps container root too; ns maps only
	# 1000; docker marks its containers with /.dockerenv.
	case $ENGINE in
	docker) inengine='[ -e /.dockerenv ] && echo in-docker' ;;
	*) inengine='grep -Eq "^ *0 +100000 +1000$" /proc/self/uid_map && echo in-podman' ;;
	esac
	jq '.backend = "ns"' plan.json >ns.json
	run --separate-stderr bb-up -y -b "$ENGINE" -p ns.json -N -C ws t -- sh -c "echo kept >~/note; $inengine"
	assert_success
	assert_output "in-$ENGINE"
	[ "$(jq -r .backend "$STATE/metadata.json")" = "$ENGINE" ]
	run --separate-stderr bb-up resume -y -N "$SLUG" -- sh -c "cat ~/note; $inengine"
	assert_success
	assert_line --index 0 kept
	assert_line --index 1 "in-$ENGINE"
	[ -z "$(ct_containers "$SLUG")" ]
}
