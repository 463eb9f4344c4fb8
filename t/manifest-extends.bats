#!/usr/bin/env bats
# bb-manifest: extends (bottle inheritance): the merge rules and the
# self, missing-parent and cycle errors.

load manifest-helper

rp() { # repo flow mapping: rp URL
	echo "{url: '$1', identity: ~/.ssh/id_test, host_key: '$HOST_KEY'}"
}

# The resolved bottle $1, field path $2, compact.
resolved() {
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -cS ".bottles[\"$1\"] | $2"
}

@test "a child with nothing of its own is its parent, with its own source" {
	bottle base <<-'EOF'
	env: {A: a}
	supervise: true
	egress: {routes: [{host: a.example}]}
	EOF
	bottle dev <<<'extends: base'
	run bb-manifest
	assert_success
	json_eq "$(printf '%s\n' "$output" | jq '.bottles.dev | del(.source, .extends)')" \
		"$(printf '%s\n' "$output" | jq '.bottles.base | del(.source, .extends)')"
	printf '%s\n' "$output" | jq -e --arg s "$M/bottles/dev.md" '.bottles.dev.source == $s and .bottles.dev.extends == "base" and .bottles.base.extends == ""'
}

@test "env merges key by key; the child wins" {
	bottle base <<<'env: {A: base, B: base}'
	bottle dev <<<$'extends: base\nenv: {B: child, C: child}'
	[ "$(resolved dev .env)" = '{"A":"base","B":"child","C":"child"}' ]
}

@test "egress, agent_provider and supervise are replaced whole, never appended" {
	bottle base <<-'EOF'
	supervise: true
	agent_provider: {template: codex, forward_host_credentials: true}
	egress: {routes: [{host: a.example}, {host: b.example}]}
	EOF
	bottle dev <<-'EOF'
	extends: base
	supervise: false
	agent_provider: {dockerfile: /srv/Dockerfile}
	egress: {routes: [{host: c.example}]}
	EOF
	[ "$(resolved dev .supervise)" = false ]
	[ "$(resolved dev .agent_provider)" = '{"auth_token":"","dockerfile":"/srv/Dockerfile","forward_host_credentials":false,"template":"claude"}' ]
	[ "$(resolved dev '[.egress.routes[].host]')" = '["c.example"]' ]
	bottle dev <<<$'extends: base\negress: {routes: []}'
	[ "$(resolved dev .egress.routes)" = '[]' ]
	[ "$(resolved dev .supervise)" = true ]
	[ "$(resolved dev .agent_provider.template)" = '"codex"' ]
}

@test "the same host in parent and child routes is no duplicate: egress is replaced" {
	bottle base <<<'egress: {routes: [{host: a.example, path_allowlist: [/x]}]}'
	bottle dev <<<$'extends: base\negress: {routes: [{host: A.example}]}'
	[ "$(resolved dev '.egress.routes')" = '[{"host":"a.example","path_allowlist":[],"pipelock":{"ssrf_ip_allowlist":[],"tls_passthrough":false}}]' ]
}

@test "git-gate.user overlays field by field; a non-empty child field wins" {
	bottle base <<<'git-gate: {user: {name: Base, email: base@example.com}}'
	bottle dev <<<$'extends: base\ngit-gate: {user: {name: Child, email: ""}}'
	[ "$(resolved dev '.["git-gate"].user')" = '{"email":"base@example.com","name":"Child"}' ]
}

@test "git-gate.repos absent in the child: inherited" {
	bottle base <<<"git-gate: {repos: {app: $(rp ssh://git@h/app.git)}}"
	bottle dev <<<$'extends: base\ngit-gate: {user: {name: X}}'
	[ "$(resolved dev '.["git-gate"].repos | keys')" = '["app"]' ]
}

@test "git-gate.repos {} in the child clears the inherited repos" {
	bottle base <<<"git-gate: {repos: {app: $(rp ssh://git@h/app.git)}}"
	bottle dev <<<$'extends: base\ngit-gate: {repos: {}}'
	[ "$(resolved dev '.["git-gate"].repos')" = '{}' ]
	[ "$(resolved base '.["git-gate"].repos | keys')" = '["app"]' ]
}

@test "git-gate.repos merge by repo name: two repos on one host both survive" {
	bottle base <<-EOF
	git-gate:
	  repos:
	    app: $(rp ssh://git@forge.example/org/app.git)
	    lib: $(rp ssh://git@forge.example/org/lib.git)
	EOF
	bottle dev <<-EOF
	extends: base
	git-gate:
	  repos:
	    tools: $(rp ssh://git@forge.example/org/tools.git)
	    docs: $(rp ssh://git@forge.example:2222/org/docs.git)
	EOF
	[ "$(resolved dev '.["git-gate"].repos | to_entries | map([.key, .value.path])')" = \
		'[["app","/org/app.git"],["docs","/org/docs.git"],["lib","/org/lib.git"],["tools","/org/tools.git"]]' ]
}

@test "git-gate.repos: a child entry replaces the parent's of the same name whole" {
	bottle base <<<"git-gate: {repos: {app: $(rp ssh://git@old.example:2200/org/app.git), lib: $(rp ssh://git@old.example/lib.git)}}"
	bottle dev <<<"extends: base
git-gate: {repos: {app: $(rp ssh://git@new.example/org/app.git)}}"
	[ "$(resolved dev '.["git-gate"].repos.app | [.host, .port, .url]')" = '["new.example",22,"ssh://git@new.example/org/app.git"]' ]
	[ "$(resolved dev '.["git-gate"].repos.lib.host')" = '"old.example"' ]
}

@test "chains resolve in order: grandparent, parent, child" {
	bottle a <<<'env: {X: a, A: a}'
	bottle b <<<$'extends: a\nenv: {X: b, B: b}\nsupervise: true'
	bottle c <<<$'extends: b\nenv: {X: c}'
	[ "$(resolved c .env)" = '{"A":"a","B":"b","X":"c"}' ]
	[ "$(resolved c .supervise)" = true ]
	[ "$(resolved c .extends)" = '"b"' ]
}

@test "the child is validated as a leaf first, even when the parent would fill it" {
	bottle base <<<'supervise: true'
	bottle dev <<<$'extends: base\nsupervize: false'
	fails_at bottles/dev.md '' "unknown frontmatter key(s) ['supervize' (did you mean 'supervise'?)]; allowed keys are env, extends, agent_provider, git-gate, egress, supervise"
}

@test "extends itself" {
	bottle dev <<<'extends: dev'
	fails_at bottles/dev.md extends "bottle 'dev' extends itself; remove the self-reference"
}

@test "extends a bottle that is not defined" {
	bottle dev <<<'extends: base'
	bottle ops </dev/null
	fails_at bottles/dev.md extends "bottle 'dev' extends 'base' which is not defined. Available bottles: dev, ops"
}

@test "extends cannot reach a project bottle" {
	bottle dev <<<'extends: base'
	mkdir -p .bot-bottle/bottles
	write_md .bot-bottle/bottles/base.md </dev/null
	run bb-manifest
	assert_failure 1
	assert_line --index 1 "bb-manifest: error: $M/bottles/dev.md: extends: bottle 'dev' extends 'base' which is not defined. Available bottles: dev"
}

@test "extends cycles are found and shown" {
	bottle a <<<'extends: b'
	bottle b <<<'extends: a'
	fails_at bottles/a.md extends "bottle 'a' is in an extends cycle: a -> b -> a"
	bottle a <<<'extends: b'
	bottle b <<<'extends: c'
	bottle c <<<'extends: b'
	fails_at bottles/b.md extends "bottle 'b' is in an extends cycle: b -> c -> b"
	bottle a </dev/null
	bottle b <<<'extends: c'
	bottle c <<<'extends: d'
	bottle d <<<'extends: b'
	fails_at bottles/b.md extends "bottle 'b' is in an extends cycle: b -> c -> d -> b"
}

@test "an agent sees its bottle resolved" {
	bottle base <<<'egress: {routes: [{host: a.example}]}'
	bottle dev <<<'extends: base'
	agent demo <<<'bottle: dev'
	run bb-manifest -a demo
	assert_success
	printf '%s\n' "$output" | jq -e '.bottle.name == "dev" and .bottle.extends == "base" and .bottle.egress.routes[0].host == "a.example"'
}
