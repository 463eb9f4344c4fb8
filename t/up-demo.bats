#!/usr/bin/env bats
# make demo, end to end on the ns backend: the allowed request with the
# credential injected, the denied one with its JSON reason, a proposal
# approved by the operator that unblocks it, a clean push landing upstream,
# a push with a secret refused.

load helper

@test "the demo shows every way out of the bottle working and holding" {
	for t in bb-gitgate bb-supervise bb-egress bb-sidecar bb-plan bb-manifest; do
		[ -x "$BB_ROOT/bin/$t" ] || skip "$t is not built"
	done
	run timeout 300 sh "$BB_ROOT/share/examples/demo.sh"
	assert_success
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
