# Shared set-up for the bats files that run bottles on docker: load with
# `load docker` after `load helper`.
#
# docker_setup_file (from setup_file) starts a Docker engine of the tests'
# own, unless DOCKER_HOST names one: dockerd as root with its socket, data
# and state in a new directory under /tmp, without iptables rules or a
# bridge (bottles run with --network=none).  Then it asks `bb-up doctor`
# once whether docker can run bb's containers here.  docker_teardown_file
# stops the engine it started.  docker_require (from setup or a test)
# skips with the reason docker cannot run, or fails when BB_REQUIRE_DOCKER
# is set (.ci/run sets it: on CI the docker tests must run, not skip).

docker_setup_file() {
	export DOCKER_HOST DOCKER_WHY='' DOCKER_TEST_DIR=''
	if [ -z "${DOCKER_HOST:-}" ]; then
		docker_start_engine || return 0
	fi
	DOCKER_WHY=$(HOME=$BATS_FILE_TMPDIR "$BB_ROOT/bin/bb-up" doctor |
		sed -n 's/^docker *unavailable: //p')
}

docker_start_engine() {
	if ! command -v dockerd >/dev/null 2>&1; then
		DOCKER_WHY="dockerd is not installed"
		return 1
	fi
	if [ "$(id -u)" != 0 ]; then
		DOCKER_WHY="starting a test engine needs root (or set DOCKER_HOST)"
		return 1
	fi
	DOCKER_TEST_DIR=$(mktemp -d /tmp/bb-dockerd.XXXXXX)
	DOCKER_HOST=unix://$DOCKER_TEST_DIR/docker.sock
	dockerd --iptables=false --ip6tables=false --bridge=none \
		--data-root "$DOCKER_TEST_DIR/data" --exec-root "$DOCKER_TEST_DIR/exec" \
		--pidfile "$DOCKER_TEST_DIR/pid" -H "$DOCKER_HOST" \
		>"$DOCKER_TEST_DIR/log" 2>&1 3>&- &
	for _ in $(seq 300); do
		docker version >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	DOCKER_WHY="the test engine did not start: $(tail -n 1 "$DOCKER_TEST_DIR/log")"
	return 1
}

docker_teardown_file() {
	local pid
	[ -n "${DOCKER_TEST_DIR:-}" ] || return 0
	pid=$(cat "$DOCKER_TEST_DIR/pid" 2>/dev/null) || true
	if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
		for _ in $(seq 300); do
			kill -0 "$pid" 2>/dev/null || break
			sleep 0.1
		done
	fi
	rm -rf "$DOCKER_TEST_DIR"
}

docker_require() {
	[ -z "$DOCKER_WHY" ] && return 0
	if [ -n "${BB_REQUIRE_DOCKER:-}" ]; then
		echo "BB_REQUIRE_DOCKER is set, but docker cannot run here: $DOCKER_WHY" >&2
		return 1
	fi
	skip "docker cannot run containers here: $DOCKER_WHY"
}
