#!/usr/bin/env bats
# make demo, end to end on each backend: the allowed request with the
# credential injected, the denied one with its JSON reason, a proposal
# approved by the operator that unblocks it, a clean push landing upstream,
# a push with a secret refused.  share/examples/demo.sh takes the backend
# from BB_BACKEND.

load helper
load engine

setup_file() {
	docker_setup_file
}

teardown_file() {
	docker_teardown_file
}

demo_tools() {
	for t in bb-gitgate bb-supervise bb-egress bb-sidecar bb-plan bb-manifest; do
		[ -x "$BB_ROOT/bin/$t" ] || skip "$t is not built"
	done
}

assert_demo() {
	assert_success
	assert_output --partial "(the $1 backend)"
	assert_output --partial '{"path": "/repos/org/app", "authorization": "Bearer <'
	assert_output --partial '"authorized": true}'
	assert_output --partial '"reason":"host not allowed"'
	assert_output --regexp 'status: approved'
	assert_output --partial '{"path": "/health", "authorization": null, "authorized": false}'
	assert_output --regexp '[0-9a-f]+\.\.[0-9a-f]+ +HEAD -> main'
	assert_output --partial 'rule github-token'
	assert_output --partial '[remote rejected] HEAD -> main (pre-receive hook declined)'
	assert_output --partial 'the clean commit landed; the commit with a secret did not'
	refute_output --partial 'ghp_demo'
}

@test "the demo shows every way out of the bottle working and holding" {
	demo_tools
	run timeout 300 sh "$BB_ROOT/share/examples/demo.sh"
	assert_demo ns
}

# The demo on container engine $1; then its container is gone.  (The slug
# is in the operator's view of the proposal.)
demo_on() {
	demo_tools
	ENGINE=$1
	engine_require
	BB_BACKEND=$1 run timeout 300 sh "$BB_ROOT/share/examples/demo.sh"
	assert_demo "$1"
	slug=$(grep -oE ' demo-[a-z0-9]+ route ' <<<"$output" | awk 'NR == 1 {print $1}')
	[ -n "$slug" ]
	[ -z "$(ct_containers "$slug")" ]
}

@test "the demo on podman shows the same" {
	demo_on podman
}

@test "the demo on docker shows the same" {
	demo_on docker
}
