#!/usr/bin/env bats
# bb-gitgate without a network: usage, the agent's git config, the hook
# script, and the checks serve makes before it listens.

load helper
load gitgate_helper

plan_for() { # URL PORT PATH
	jq -n --arg url "$1" --argjson port "$2" --arg path "$3" \
		'{version: 1, git_gate: {user: {name: "", email: ""}, repos: [
		  {name: "app", url: $url, user: "git", host: "example.com",
		   port: $port, path: $path, identity_file: "/secret/id_ed25519",
		   host_key: "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHostKeyOfTheForge"}]}}'
}

@test "-h prints the synopsis; no arguments is a usage error" {
	run bb-gitgate -h
	assert_success
	assert_line --index 0 --partial 'usage: bb-gitgate gitconfig --gate-url URL'
	run bb-gitgate
	assert_failure 2
	assert_output --partial 'usage: bb-gitgate'
	run bb-gitgate frobnicate
	assert_failure 2
}

@test "gitconfig rewrites every spelling of a port-22 upstream to the gate" {
	plan_for ssh://git@example.com/org/app.git 22 /org/app.git >plan.json
	run bb-gitgate gitconfig --gate-url http://127.0.0.1:9420/ plan.json
	assert_success
	echo "$output" >agent.gitconfig
	for u in ssh://git@example.com/org/app.git ssh://git@example.com:22/org/app.git \
		git@example.com:org/app.git git@example.com:/org/app.git \
		git@example.com:org/app https://example.com/org/app.git \
		https://example.com/org/app; do
		run env GIT_CONFIG_GLOBAL=agent.gitconfig git ls-remote --get-url "$u"
		assert_success
		assert_output http://127.0.0.1:9420/app.git
	done
	# A different repo on the same forge is not captured.
	run env GIT_CONFIG_GLOBAL=agent.gitconfig git ls-remote --get-url git@example.com:org/other.git
	assert_output git@example.com:org/other.git
}

@test "gitconfig keeps the port for a non-22 upstream and writes nothing secret" {
	plan_for ssh://git@example.com:2222/org/app.git 2222 /org/app.git >plan.json
	bb-gitgate gitconfig --gate-url http://gate:9420 plan.json >agent.gitconfig
	run env GIT_CONFIG_GLOBAL=agent.gitconfig git ls-remote --get-url ssh://git@example.com:2222/org/app.git
	assert_output http://gate:9420/app.git
	# scp-style cannot name port 2222: it is not rewritten to this repo.
	run git config -f agent.gitconfig --get-all url.http://gate:9420/app.git.insteadOf
	refute_output --partial 'git@example.com:org'
	run cat agent.gitconfig
	refute_output --partial /secret/id_ed25519
	refute_output --partial HostKeyOfTheForge
	refute_output --partial '[user]'
}

@test "gitconfig sets the agent's git identity when the plan has one" {
	plan_for ssh://git@example.com/org/app.git 22 /org/app.git |
		jq '.git_gate.user = {name: "Ada Agent", email: "ada@example.com"}' >plan.json
	bb-gitgate gitconfig --gate-url http://gate:9420 -o out.gitconfig plan.json
	run git config -f out.gitconfig user.name
	assert_output 'Ada Agent'
	run git config -f out.gitconfig user.email
	assert_output ada@example.com
}

@test "gitconfig reads the plan on stdin" {
	plan_for ssh://git@example.com/org/app.git 22 /org/app.git >plan.json
	run bb-gitgate gitconfig --gate-url http://gate:9420 <plan.json
	assert_success
	assert_output --partial '[url "http://gate:9420/app.git"]'
}

@test "gitconfig refuses a bad gate URL" {
	plan_for ssh://git@example.com/org/app.git 22 /org/app.git >plan.json
	run bb-gitgate gitconfig --gate-url ftp://gate plan.json
	assert_failure 1
	assert_output "bb-gitgate: error: --gate-url: must be an http:// or https:// URL (was 'ftp://gate')"
	run bb-gitgate gitconfig --gate-url http://user:pw@gate plan.json
	assert_failure 1
	assert_output --partial 'must not contain credentials'
	run bb-gitgate gitconfig plan.json
	assert_failure 2
}

@test "gitconfig names the plan field that is wrong" {
	plan_for ssh://git@example.com/org/app.git 22 /org/app.git |
		jq '.git_gate.repos[0].name = "../etc"' >plan.json
	run bb-gitgate gitconfig --gate-url http://gate plan.json
	assert_failure 1
	assert_output "bb-gitgate: error: plan.json: git_gate.repos[0].name: '../etc' is invalid; allowed characters: A-Z a-z 0-9 . _ - (not . or ..)"
	plan_for ssh://git:pw@example.com/org/app.git 22 /org/app.git >plan.json
	run bb-gitgate gitconfig --gate-url http://gate plan.json
	assert_failure 1
	assert_output --partial 'plan.json: git_gate.repos[0].url: must not carry a password'
	plan_for https://example.com/org/app.git 22 /org/app.git >plan.json
	run bb-gitgate gitconfig --gate-url http://gate plan.json
	assert_output --partial "git_gate.repos[0].url: must be an ssh:// URL (was 'https://example.com/org/app.git')"
	plan_for ssh://git@example.com/org/app.git 0 /org/app.git >plan.json
	run bb-gitgate gitconfig --gate-url http://gate plan.json
	assert_output 'bb-gitgate: error: plan.json: git_gate.repos[0].port: must be an integer from 1 to 65535'
	echo '{"version": 2}' >plan.json
	run bb-gitgate gitconfig --gate-url http://gate plan.json
	assert_output 'bb-gitgate: error: plan.json: version: must be 1'
	plan_for ssh://git@example.com/org/app.git 22 /org/app.git |
		jq '.git_gate.repos += [.git_gate.repos[0]]' >plan.json
	run bb-gitgate gitconfig --gate-url http://gate plan.json
	assert_output --partial "git_gate.repos[1]: duplicate name 'app'"
}

@test "hooks prints the pre-receive script and --install installs it" {
	run bb-gitgate hooks
	assert_success
	assert_line --index 0 '#!/bin/sh'
	assert_line --partial "exec '$BB_ROOT/bin/bb-gitgate' hook pre-receive"
	git init -q --bare r.git
	bb-gitgate hooks --install r.git
	[ -x r.git/hooks/pre-receive ]
	run cat r.git/hooks/pre-receive
	assert_output --partial 'hook pre-receive'
}

@test "hook pre-receive refuses to run outside receive-pack" {
	run bb-gitgate hook pre-receive </dev/null
	assert_failure 1
	assert_output 'bb-gitgate: hook pre-receive runs under git receive-pack only'
}

@test "serve refuses wildcard and malformed listen addresses" {
	plan_for ssh://git@example.com/org/app.git 22 /org/app.git >plan.json
	run bb-gitgate serve --plan plan.json --state st --listen 0.0.0.0:9420
	assert_failure 2
	assert_output "bb-gitgate: error: --listen: '0.0.0.0:9420' binds every interface; give the address the agent reaches"
	run bb-gitgate serve --plan plan.json --state st --listen '[::]:9420'
	assert_failure 2
	run bb-gitgate serve --plan plan.json --state st --listen localhost:9420
	assert_failure 2
	assert_output --partial 'needs a numeric IP address'
	run bb-gitgate serve --plan plan.json --state st
	assert_failure 2
	run bb-gitgate serve --plan plan.json --state st --listen 127.0.0.1:1 --max-body 0
	assert_failure 2
	assert_output --partial '--max-body: must be a number from 1'
	[ ! -e st ]
}

@test "serve with no repos declared has nothing to do" {
	echo '{"version": 1, "git_gate": {"repos": []}}' >plan.json
	run bb-gitgate serve --plan plan.json --state st --listen 127.0.0.1:1
	assert_failure 1
	assert_output 'bb-gitgate: error: plan.json: git_gate.repos: no repositories declared; nothing to serve'
}
