# Shared set-up for the bats files that run bottles on podman: load with
# `load podman` after `load helper`.
#
# podman_setup_file (from setup_file) writes the containers.conf that
# t/setup-podman.sh gives and asks `bb-up doctor` once whether podman can
# run bb's containers here; podman_require (from setup or a test) skips
# with that reason when it cannot, or fails when BB_REQUIRE_PODMAN is set
# (.ci/run sets it: on CI the podman tests must run, not skip).

podman_setup_file() {
	export BB_CONTAINERS_CONF PODMAN_WHY
	BB_CONTAINERS_CONF=$(sh "$BB_ROOT/t/setup-podman.sh" "$BATS_FILE_TMPDIR/podman")
	if ! command -v podman >/dev/null 2>&1; then
		PODMAN_WHY="podman is not installed"
	else
		PODMAN_WHY=$(HOME=$BATS_FILE_TMPDIR "$BB_ROOT/bin/bb-up" doctor |
			sed -n 's/^podman *unavailable: //p')
	fi
}

podman_require() {
	[ -n "${BB_CONTAINERS_CONF:-}" ] || podman_setup_file
	[ -z "$PODMAN_WHY" ] && return 0
	if [ -n "${BB_REQUIRE_PODMAN:-}" ]; then
		echo "BB_REQUIRE_PODMAN is set, but podman cannot run here: $PODMAN_WHY" >&2
		return 1
	fi
	skip "podman cannot run containers here: $PODMAN_WHY"
}

# podman as bb-up runs it.
pm() {
	CONTAINERS_CONF=$BB_CONTAINERS_CONF podman "$@"
}
