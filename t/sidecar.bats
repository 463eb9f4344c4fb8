#!/usr/bin/env bats
# bb-sidecar: real processes (small sh daemons that record what happens
# to them in files named after themselves) under a real supervisor.

load helper

# $1 name, $2 mode.  Writes NAME.pid, appends to NAME.starts on every
# start and to NAME.sig for every signal it sees.
FAKE='n=$1; mode=$2
echo $$ > $n.pid
echo start >> $n.starts
echo "$n says hello"
echo "$n complains" >&2
trap "echo HUP >> $n.sig" HUP
trap "echo USR1 >> $n.sig" USR1
case $mode in
exit3) trap "echo TERM >> $n.sig; exit 3" TERM ;;
killed) trap - TERM ;;
stubborn) trap "echo TERM >> $n.sig" TERM ;;
slow) trap "echo TERM >> $n.sig; sleep 1; exit 0" TERM ;;
slowish) trap "echo TERM >> $n.sig; sleep 0.3; exit 0" TERM ;;
crash) sleep 0.2; exit 1 ;;
crash-once) [ "$(wc -l < $n.starts)" -gt 1 ] || exit 4 ;;
quit0) exit 0 ;;
quit3) sleep 0.2; exit 3 ;;
grandchild) sh -c "echo \$\$ > $n.grandchild; while :; do sleep 1; done" & ;;
*) trap "echo TERM >> $n.sig; exit 0" TERM ;;
esac
while :; do sleep 1 & wait; done'

# daemon NAME MODE [JQ-FILTER]: one daemons-file entry on stdout.
daemon() {
	jq -cn --arg n "$1" --arg m "${2:-normal}" --arg s "$FAKE" \
		'{name: $n, argv: ["sh", "-c", $s, "fake", $n, $m],
		  env: ["PATH"]} | '"${3:-.}"
}

# daemons_file ENTRY...: write daemons.json.
daemons_file() {
	printf '%s\n' "$@" | jq -s '{version: 1, daemons: .}' > daemons.json
}

# start_sidecar [OPTIONS]: run it in the background on daemons.json and
# wait until every daemon has started.
start_sidecar() {
	bb-sidecar -g 0.5 -l logs -p sc.pid "$@" daemons.json 2> sup.err 3>&- &
	SV=$!
	wait_for sc.pid
	for n in $(jq -r '.daemons[].name' daemons.json); do
		wait_for "$n.pid"
	done
}

# stop_sidecar SIGNAL: signal it and collect its exit code in $RC.
stop_sidecar() {
	kill "-$1" "$SV"
	RC=0
	wait "$SV" || RC=$?
	SV=
}

starts() { wc -l < "$1.starts" | tr -d ' '; }

alive() { kill -0 "$1" 2>/dev/null; }

teardown() {
	if [ -n "${SV:-}" ]; then
		kill -KILL "$SV" 2>/dev/null || true
	fi
	for f in "$BATS_TEST_TMPDIR"/*.pid "$BATS_TEST_TMPDIR"/*.grandchild; do
		[ -e "$f" ] || continue
		kill -KILL -- "-$(cat "$f")" 2>/dev/null || true
		kill -KILL "$(cat "$f")" 2>/dev/null || true
	done
}

@test "usage: -h, bad options and a missing file argument" {
	run bb-sidecar -h
	assert_success
	assert_output 'usage: bb-sidecar [-dhn] [-g grace] [-l logdir] [-p pidfile] daemons-file'
	run bb-sidecar
	assert_failure 2
	run bb-sidecar -x f
	assert_failure 2
	run bb-sidecar -g soon f
	assert_failure 2
	assert_output 'bb-sidecar: error: -g: must be a number of seconds from 0 to 300, not "soon"'
}

@test "-n checks a daemons file and starts nothing" {
	daemons_file "$(daemon egress)" "$(daemon pipelock)"
	run bb-sidecar -n daemons.json
	assert_success
	assert_output ''
	[ ! -e egress.pid ]
}

@test "daemons file errors name the file and the field" {
	check() {
		printf '%s' "$1" > bad.json
		run bb-sidecar -n bad.json
		assert_failure 1
		assert_output "bb-sidecar: error: bad.json: $2"
	}
	check '{"version":1,"daemons":[{"name":"a","argv":["x"],"colour":1}]}' \
		'daemons[0].colour: unknown key; allowed: name, argv, env, reload_signal, restart_on, max_restarts'
	check '{"version":1,"daemons":[{"name":"egress","argv":["x"],"env":["PATH","EGRESS_TOKEN_0=hunter2"]}]}' \
		'daemons[0].env[1]: EGRESS_TOKEN_0 must be passed by name, never with a value'
	check '{"version":1,"daemons":[{"name":"a","argv":["x"],"env":["PATH","PATH=/bin"]}]}' \
		'daemons[0].env[1]: duplicate variable PATH'
	check '{"version":1,"daemons":[{"name":"a","argv":["x"],"env":["1X"]}]}' \
		'daemons[0].env[0]: must be a variable NAME or NAME=VALUE, not "1X"'
	check '{"version":1,"daemons":[{"name":"a","argv":["x"]},{"name":"a","argv":["y"]}]}' \
		'daemons[1].name: duplicate daemon name "a"'
	check '{"version":1,"daemons":[{"name":"../x","argv":["x"]}]}' \
		"daemons[0].name: must be 1 to 32 of a-z, 0-9, '-', '_', starting with a letter"
	check '{"version":1,"daemons":[{"name":"a","argv":[]}]}' \
		'daemons[0].argv: must not be empty'
	check '{"version":1,"daemons":[{"name":"a","argv":"x"}]}' \
		'daemons[0].argv: must be an array of strings, not string'
	check '{"version":1,"daemons":[{"name":"a"}]}' \
		'daemons[0]: missing required key "argv"'
	check '{"version":1,"daemons":[{"name":"a","argv":["x"],"restart_on":"SIGKILL"}]}' \
		'daemons[0].restart_on: must be one of SIGUSR1, SIGUSR2, not "SIGKILL"'
	check '{"version":1,"daemons":[{"name":"a","argv":["x"],"reload_signal":"SIGTERM"}]}' \
		'daemons[0].reload_signal: must be one of SIGHUP, SIGUSR1, SIGUSR2, not "SIGTERM"'
	check '{"version":1,"daemons":[{"name":"a","argv":["x"],"max_restarts":-1}]}' \
		'daemons[0].max_restarts: must be between 0 and 1000'
	check '{"version":2,"daemons":[]}' 'version: must be 1'
	check '{"version":1,"daemons":[]}' 'daemons: must not be empty'
	check '{"version":1}' 'missing required key "daemons"'
	check '[]' 'must be an object, not array'
	check '{"version":1,' "line 1 column 13: string or '}' expected near end of file"
}

@test "starts every daemon, pumps output by line, stops all on SIGTERM" {
	daemons_file "$(daemon egress)" "$(daemon pipelock)"
	start_sidecar
	[ "$(cat sc.pid)" = "$SV" ]
	wait_for_text logs/egress.log 'egress: egress complains'
	wait_for_text logs/pipelock.log 'pipelock: pipelock says hello'
	run cat logs/egress.log
	assert_line 'egress: egress says hello'
	refute_output --partial pipelock
	epid=$(cat egress.pid) ppid=$(cat pipelock.pid)
	stop_sidecar TERM
	[ "$RC" -eq 0 ]
	grep -qx 'bb-sidecar: shutting down (SIGTERM); forwarding SIGTERM' sup.err
	[ "$(cat egress.sig)" = TERM ] && [ "$(cat pipelock.sig)" = TERM ]
	! alive "$epid" && ! alive "$ppid"
	[ ! -e sc.pid ]
	[ "$(stat -c %a logs/egress.log)" = 600 ]
}

@test "SIGINT shuts down too, and a second signal changes nothing" {
	daemons_file "$(daemon egress slow)"
	start_sidecar
	kill -INT "$SV"
	wait_for_text sup.err 'shutting down (SIGINT); forwarding SIGTERM'
	kill -TERM "$SV"
	stop_sidecar INT
	[ "$RC" -eq 0 ]
	[ "$(grep -c 'shutting down' sup.err)" -eq 1 ]
	[ "$(cat egress.sig)" = TERM ]
}

@test "without -l the daemons' lines go to stderr with their prefix" {
	daemons_file "$(daemon egress)"
	bb-sidecar -p sc.pid daemons.json 2> sup.err 3>&- &
	SV=$!
	wait_for_text sup.err 'egress: egress says hello'
	# stdout and stderr are pumped separately: wait for both lines
	wait_for_text sup.err 'egress: egress complains'
	stop_sidecar TERM
	grep -qx 'egress: egress says hello' sup.err
	grep -qx 'egress: egress complains' sup.err
}

@test "exit code: the largest positive exit status, never 128+n" {
	daemons_file "$(daemon a normal)" "$(daemon b exit3)" "$(daemon c killed)"
	start_sidecar
	stop_sidecar TERM
	[ "$RC" -eq 3 ]
	grep -q 'c (pid [0-9]*) killed by SIGTERM' sup.err
	grep -q 'b (pid [0-9]*) exited with status 3' sup.err
	grep -qx 'bb-sidecar: all daemons have exited; exit status 3' sup.err
}

@test "exit code: children killed by a signal give 0" {
	daemons_file "$(daemon a killed)" "$(daemon b normal)"
	start_sidecar
	stop_sidecar TERM
	[ "$RC" -eq 0 ]
}

@test "SIGHUP is forwarded to egress only" {
	daemons_file "$(daemon egress normal '. + {reload_signal: "SIGHUP"}')" \
		"$(daemon pipelock normal '. + {restart_on: "SIGUSR1"}')" \
		"$(daemon gitgate)"
	start_sidecar
	kill -HUP "$SV"
	wait_for_text egress.sig HUP
	kill -HUP "$SV"
	wait_for_text sup.err "forwarded SIGHUP to egress (pid $(cat egress.pid))"
	sleep 0.2
	[ "$(grep -c HUP egress.sig)" -eq 2 ]
	[ ! -e pipelock.sig ] && [ ! -e gitgate.sig ]
	alive "$SV"
	[ "$(starts egress)" -eq 1 ] && [ "$(starts pipelock)" -eq 1 ]
}

@test "three SIGUSR1 give one pipelock restart; the next one another" {
	# pipelock takes 0.3 s to stop, so all three requests arrive before
	# the restart is through: they are one request.
	daemons_file "$(daemon egress normal '. + {reload_signal: "SIGHUP"}')" \
		"$(daemon pipelock slowish '. + {restart_on: "SIGUSR1"}')"
	start_sidecar
	old=$(cat pipelock.pid)
	kill -USR1 "$SV"; kill -USR1 "$SV"; kill -USR1 "$SV"
	wait_for_text sup.err 'started pipelock (pid' 5
	i=0
	while [ "$(starts pipelock)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	sleep 0.5
	[ "$(starts pipelock)" -eq 2 ]
	[ "$(cat pipelock.sig)" = TERM ]
	! alive "$old"
	[ "$(cat pipelock.pid)" != "$old" ]
	[ "$(grep -c 'restarting pipelock: sending SIGTERM' sup.err)" -eq 1 ]
	# The new instance's output is pumped too.
	[ "$(grep -c 'pipelock says hello' logs/pipelock.log)" -eq 2 ]
	kill -USR1 "$SV"
	i=0
	while [ "$(starts pipelock)" -lt 3 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ "$(starts pipelock)" -eq 3 ]
	[ "$(starts egress)" -eq 1 ]
	stop_sidecar TERM
	[ "$RC" -eq 0 ]
}

@test "shutdown wins over a pending restart" {
	# Whether the request is still pending or its restart already under
	# way when SIGTERM arrives, pipelock must not come back.
	daemons_file "$(daemon pipelock slowish '. + {restart_on: "SIGUSR1"}')" \
		"$(daemon egress)"
	start_sidecar
	kill -USR1 "$SV"; kill -TERM "$SV"
	RC=0; wait "$SV" || RC=$?; SV=
	[ "$RC" -eq 0 ]
	[ "$(starts pipelock)" -eq 1 ]
	! grep -q 'starting it again' sup.err
}

@test "a restart asked for during shutdown is refused" {
	daemons_file "$(daemon pipelock slow '. + {restart_on: "SIGUSR1"}')"
	start_sidecar
	kill -TERM "$SV"
	wait_for_text sup.err 'shutting down'
	kill -USR1 "$SV"
	wait_for_text sup.err 'restart pipelock skipped; supervisor is shutting down'
	stop_sidecar TERM
	[ "$(starts pipelock)" -eq 1 ]
}

@test "a child that ignores SIGTERM is killed after the grace period" {
	daemons_file "$(daemon stubborn stubborn)" "$(daemon egress)"
	start_sidecar
	pid=$(cat stubborn.pid)
	t0=$(date +%s%N)
	stop_sidecar TERM
	t1=$(date +%s%N)
	[ "$RC" -eq 0 ]
	[ "$(cat stubborn.sig)" = TERM ]
	grep -qx "bb-sidecar: grace period over; sending SIGKILL to stubborn (pid $pid)" sup.err
	grep -q "stubborn (pid $pid) killed by SIGKILL" sup.err
	! alive "$pid"
	ms=$(((t1 - t0) / 1000000))
	[ "$ms" -ge 450 ] && [ "$ms" -lt 3000 ]
}

@test "a restart of a child that ignores SIGTERM ends with SIGKILL" {
	daemons_file "$(daemon pipelock stubborn '. + {restart_on: "SIGUSR1"}')"
	start_sidecar
	old=$(cat pipelock.pid)
	kill -USR1 "$SV"
	wait_for_text sup.err "restart grace period over; sending SIGKILL to pipelock (pid $old)"
	wait_for_text sup.err "pipelock (pid $old) killed by SIGKILL; starting it again"
	i=0
	while [ "$(starts pipelock)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ "$(starts pipelock)" -eq 2 ]
	stop_sidecar TERM
}

@test "a dying daemon is restarted with backoff, then given up on" {
	daemons_file "$(daemon crasher crash '. + {max_restarts: 2}')" "$(daemon egress)"
	start_sidecar
	wait_for_text sup.err 'crasher will not be restarted (2 restarts in a row allowed)' 10
	[ "$(starts crasher)" -eq 3 ]
	[ "$(grep -c 'crasher (pid [0-9]*) exited with status 1 unexpectedly' sup.err)" -eq 3 ]
	grep -qx 'bb-sidecar: restarting crasher in 100 ms (restart 1 of 2)' sup.err
	grep -qx 'bb-sidecar: restarting crasher in 200 ms (restart 2 of 2)' sup.err
	alive "$SV"
	[ "$(starts egress)" -eq 1 ] && alive "$(cat egress.pid)"
	stop_sidecar TERM
	[ "$RC" -eq 1 ]
}

@test "a daemon that dies once comes back and keeps running" {
	daemons_file "$(daemon flaky crash-once)"
	start_sidecar
	wait_for_text sup.err 'restarting flaky in 100 ms (restart 1 of 5)'
	i=0
	while [ "$(starts flaky)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	sleep 0.3
	[ "$(starts flaky)" -eq 2 ]
	alive "$(cat flaky.pid)"
	stop_sidecar TERM
	[ "$RC" -eq 0 ]
}

@test "with max_restarts 0 the supervisor exits when its daemons do" {
	daemons_file "$(daemon a quit0 '. + {max_restarts: 0}')" \
		"$(daemon b quit3 '. + {max_restarts: 0}')"
	run bb-sidecar -l logs daemons.json
	assert_failure 3
	assert_line --regexp '^bb-sidecar: b \(pid [0-9]+\) exited with status 3 unexpectedly$'
	assert_line 'bb-sidecar: b will not be restarted (0 restarts in a row allowed)'
	assert_line 'bb-sidecar: all daemons have exited; exit status 3'
}

@test "each child's environment holds only what the file grants" {
	daemons_file "$(daemon egress normal '. + {env: ["PATH", "EGRESS_TOKEN_0", "EGRESS_TOKEN_9", "HTTPS_PROXY=http://127.0.0.1:8888"], restart_on: "SIGUSR2"}')" \
		"$(daemon pipelock normal '. + {env: ["PATH", "LANG=C"]}')"
	EGRESS_TOKEN_0=tok-zero-s3cret EGRESS_TOKEN_1=tok-one-s3cret \
		UNRELATED=leak start_sidecar
	run sh -c "tr '\0' '\n' < /proc/$(cat egress.pid)/environ | sort"
	assert_output "EGRESS_TOKEN_0=tok-zero-s3cret
HTTPS_PROXY=http://127.0.0.1:8888
PATH=$PATH"
	run sh -c "tr '\0' '\n' < /proc/$(cat pipelock.pid)/environ | sort"
	assert_output "LANG=C
PATH=$PATH"
	grep -qx 'bb-sidecar: egress: environment variable EGRESS_TOKEN_9 is not set; not passed' sup.err
	# The supervisor's own environment no longer shows the tokens...
	run grep -c s3cret "/proc/$SV/environ"
	assert_output 0
	# ...yet a restarted egress gets its slot again.
	old=$(cat egress.pid)
	kill -USR2 "$SV"
	i=0
	while [ "$(starts egress)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	[ "$(cat egress.pid)" != "$old" ]
	tr '\0' '\n' < "/proc/$(cat egress.pid)/environ" | grep -qx EGRESS_TOKEN_0=tok-zero-s3cret
	stop_sidecar TERM
	! grep -rq s3cret sup.err logs
}

@test "no descriptor leaks into the children" {
	daemons_file "$(daemon egress)" \
		"$(daemon pipelock normal '. + {restart_on: "SIGUSR1"}')"
	exec 7< daemons.json
	start_sidecar
	exec 7<&-
	# The supervisor got a stray descriptor from its parent...
	ls "/proc/$SV/fd" | grep -qx 7
	only_std_fds() {
		run ls "/proc/$(cat "$1.pid")/fd"
		assert_output "0
1
2"
		[ "$(readlink "/proc/$(cat "$1.pid")/fd/0")" = /dev/null ]
	}
	# ...which no child sees, nor any of its own pipes or log files.
	only_std_fds egress
	only_std_fds pipelock
	kill -USR1 "$SV"
	i=0
	while [ "$(starts pipelock)" -lt 2 ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
	sleep 0.1
	only_std_fds pipelock
	stop_sidecar TERM
}

@test "a daemon's helpers are stopped with it" {
	daemons_file "$(daemon gate grandchild)"
	start_sidecar
	wait_for gate.grandchild
	gc=$(cat gate.grandchild)
	alive "$gc"
	stop_sidecar TERM
	i=0
	while alive "$gc" && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
	! alive "$gc"
}

@test "a daemon that cannot be started stops the others and exits 1" {
	daemons_file "$(daemon egress)" '{"name":"ghost","argv":["/nonexistent/ghostd"]}'
	run bb-sidecar -g 0.5 -p sc.pid daemons.json
	assert_failure 1
	assert_line 'bb-sidecar: cannot start ghost: /nonexistent/ghostd: cannot start: No such file or directory'
	assert_line 'bb-sidecar: error: ghost: could not be started'
	assert_line 'bb-sidecar: shutting down (start-up failed); forwarding SIGTERM'
	assert_line --regexp '^bb-sidecar: egress \(pid [0-9]+\) (exited|killed)'
	pid=$(printf '%s\n' "$output" | sed -n 's/^bb-sidecar: started egress (pid \([0-9]*\))$/\1/p')
	[ -n "$pid" ] && ! alive "$pid"
	[ ! -e sc.pid ]
}

@test "-d: the daemons go down when the supervisor's parent is killed" {
	daemons_file "$(daemon egress)" "$(daemon pipelock)"
	sh -c 'bb-sidecar -d -g 0.5 -l logs -p sc.pid daemons.json 2> sup.err & wait' 3>&- &
	parent=$!
	wait_for sc.pid
	wait_for egress.pid
	wait_for pipelock.pid
	SV=$(cat sc.pid)
	kill -KILL "$parent"
	wait_for_text sup.err 'shutting down (SIGTERM); forwarding SIGTERM'
	wait_for_text sup.err 'all daemons have exited; exit status 0'
	[ "$(cat egress.sig)" = TERM ] && [ "$(cat pipelock.sig)" = TERM ]
	i=0
	while alive "$SV" && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
	! alive "$SV"
	SV=
}

@test "the daemons die with a supervisor that is killed outright" {
	daemons_file "$(daemon egress stubborn)" "$(daemon pipelock)"
	start_sidecar
	e=$(cat egress.pid) p=$(cat pipelock.pid)
	kill -KILL "$SV"
	wait "$SV" || true
	SV=
	i=0
	while { alive "$e" || alive "$p"; } && [ $i -lt 40 ]; do sleep 0.05; i=$((i + 1)); done
	! alive "$e" && ! alive "$p"
}
