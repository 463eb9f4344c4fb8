#!/usr/bin/env bats
# bb-manifest: the file syntax and the bottle's own fields (env, extends
# type, supervise, agent_provider, unknown keys, the old git key).

load manifest-helper

B=bottles/dev.md

@test "file syntax: the frontmatter opens and closes with --- lines" {
	printf 'env: {}\n' >"$M/$B"
	fails_at $B '' "must start with a '---' line opening the YAML frontmatter"
	printf -- '---\nenv: {}\n' >"$M/$B"
	fails_at $B '' "the YAML frontmatter has no closing '---' line"
	printf -- '---\r\nsupervise: true\r\n---  \r\nbody\r\n' >"$M/$B"
	run bb-manifest
	assert_success
	printf -- '\xef\xbb\xbf---\nsupervise: true\n---' >"$M/$B"
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.bottles.dev.supervise'
}

@test "file syntax: YAML errors name the line in the file" {
	printf -- '---\nenv:\n  A: b\n  B: [c\n---\n' >"$M/$B"
	run bb-manifest
	assert_failure 1
	assert_output --regexp "^bb-manifest: error: $M/$B: line [45]: invalid YAML: "
	printf -- '---\nsupervise: true\nsupervise: false\n---\n' >"$M/$B"
	fails_at $B 'line 3' "duplicate key 'supervise'"
}

@test "file syntax: outside the YAML subset is refused, not guessed" {
	printf -- '---\nenv: &e {A: b}\nextends: *e\n---\n' >"$M/$B"
	fails_at $B 'line 2' 'YAML anchors and tags are not supported'
	printf -- '---\nsupervise: !!bool true\n---\n' >"$M/$B"
	fails_at $B 'line 2' 'YAML tags are not supported'
	printf -- '---\n? [a]\n: b\n---\n' >"$M/$B"
	fails_at $B 'line 2' 'mapping keys must be plain strings'
	printf -- '---\nsupervise: true\n...\nenv: {}\n---\n' >"$M/$B"
	fails_at $B 'line 4' 'invalid YAML: did not find expected <document start>'
}

@test "file syntax: the frontmatter is a mapping; empty means all defaults" {
	printf -- '---\n- a\n---\n' >"$M/$B"
	fails_at $B '' 'the frontmatter must be a mapping of keys (was array)'
	printf -- '---\nhello\n---\n' >"$M/$B"
	fails_at $B '' 'the frontmatter must be a mapping of keys (was string)'
	printf -- '---\n---\n' >"$M/$B"
	run bb-manifest
	assert_success
	printf -- '---\nsupervise: true\n---\n\0\n' >"$M/$B"
	fails_at $B '' 'contains a NUL byte'
}

@test "file syntax: files over 1 MiB are refused" {
	{ printf -- '---\n---\n'; head -c 1100000 /dev/zero | tr '\0' x; } >"$M/$B"
	fails_at $B '' 'larger than 1048576 bytes'
}

@test "unknown frontmatter keys: all at once, sorted, with did-you-mean hints" {
	bottle dev <<-'EOF'
	envv: {}
	supervize: true
	Egress: {}
	zzz: 1
	EOF
	fails_at $B '' "unknown frontmatter key(s) ['Egress' (did you mean 'egress'?), 'envv' (did you mean 'env'?), 'supervize' (did you mean 'supervise'?), 'zzz']; allowed keys are env, extends, agent_provider, git-gate, egress, supervise"
	bottle dev <<<'prompt: hi'
	fails_at $B '' "unknown frontmatter key(s) ['prompt']; allowed keys are env, extends, agent_provider, git-gate, egress, supervise"
	bottle dev <<<'backend: podman'
	fails_at $B '' "unknown frontmatter key(s) ['backend']; allowed keys are env, extends, agent_provider, git-gate, egress, supervise"
}

@test "the old git key is rejected with the migration pointer" {
	bottle dev <<<'git: {user: {name: a}}'
	fails_at $B git "bottle 'dev' uses 'git' which has been replaced by 'git-gate'. Move git.user → git-gate.user and git.remotes → git-gate.repos."
	bottle dev <<<'git: {remotes: {}}'
	fails_at $B git "bottle 'dev' uses 'git' which has been replaced by 'git-gate'. Move git.user → git-gate.user and git.remotes → git-gate.repos."
	bottle dev <<<'git:'
	fails_at $B git "bottle 'dev' uses 'git' which has been replaced by 'git-gate'. Move git.user → git-gate.user and git.remotes → git-gate.repos."
}

@test "env: a map of variable names to strings" {
	bottle dev <<<'env: [A]'
	fails_at $B env 'must be an object (was array)'
	bottle dev <<<'env:'
	fails_at $B env 'must be an object (was null)'
	bottle dev <<<'env: {1A: x}'
	fails_at $B env "'1A' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
	bottle dev <<<'env: {"A-B": x}'
	fails_at $B env "'A-B' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
	bottle dev <<<'env: {PORT: 8080}'
	fails_at $B env.PORT 'must be a string (was number); quote the value in YAML'
	bottle dev <<<'env: {DEBUG: true}'
	fails_at $B env.DEBUG 'must be a string (was boolean); quote the value in YAML'
	bottle dev <<<'env: {X: "a\0b"}'
	fails_at $B env.X 'must not contain a NUL byte'
}

@test "env: literals, ?prompt and whole-value \${HOST_VAR} references" {
	bottle dev <<-'EOF'
	env:
	  LIT: hello world
	  EMPTY: ""
	  ASK: ?prompt
	  FROM: ${HOST_VAR}
	  _U: ${_x1}
	  NUM: "8080"
	EOF
	run bb-manifest
	assert_success
	json_eq "$(printf '%s\n' "$output" | jq .bottles.dev.env)" \
		'{"LIT": "hello world", "EMPTY": "", "ASK": "?prompt", "FROM": "${HOST_VAR}", "_U": "${_x1}", "NUM": "8080"}'
	for bad in 'pre${X}' '${X}post' '${X' '${}' '${1X}' '${A}${B}' '${A-B}'; do
		bottle dev <<<"env: {V: '$bad'}"
		fails_at $B env.V "'$bad' is not a host variable reference: write \${NAME} as the whole value, NAME matching [A-Za-z_][A-Za-z0-9_]*"
	done
}

@test "supervise: a strict boolean" {
	for v in yes 1 '"true"' '~'; do
		bottle dev <<<"supervise: $v"
		run bb-manifest
		assert_failure 1
		assert_output --regexp "^bb-manifest: error: $M/$B: supervise: must be a boolean \(was (string|number|null)\)$"
	done
	bottle dev <<<'supervise: true'
	run bb-manifest
	printf '%s\n' "$output" | jq -e '.bottles.dev.supervise == true'
}

@test "extends: a non-empty string" {
	bottle dev <<<'extends: [base]'
	fails_at $B extends "bottle 'dev' extends must be a string (was array)"
	bottle dev <<<'extends: ""'
	fails_at $B extends "bottle 'dev' extends must name a bottle (was '')"
}

@test "agent_provider: an object of known keys" {
	bottle dev <<<'agent_provider: claude'
	fails_at $B agent_provider 'must be an object (was string)'
	bottle dev <<<'agent_provider: {templat: codex, image: x}'
	fails_at $B agent_provider "unknown keys 'image', 'templat' (did you mean 'template'?); allowed: template, dockerfile, auth_token, forward_host_credentials"
}

@test "agent_provider.template: claude or codex" {
	bottle dev <<<'agent_provider: {template: ""}'
	fails_at $B agent_provider.template 'must be a non-empty string'
	bottle dev <<<'agent_provider: {template: 3}'
	fails_at $B agent_provider.template 'must be a non-empty string'
	bottle dev <<<'agent_provider: {template: gemini}'
	fails_at $B agent_provider.template "'gemini' is not one of ['claude', 'codex']"
	bottle dev <<<'agent_provider: {template: codex}'
	run bb-manifest
	assert_success
	json_eq "$(printf '%s\n' "$output" | jq .bottles.dev.agent_provider)" \
		'{"template": "codex", "dockerfile": "", "auth_token": "", "forward_host_credentials": false}'
}

@test "agent_provider.dockerfile: a path, ~ and relative ones resolved" {
	bottle dev <<<'agent_provider: {dockerfile: 1}'
	fails_at $B agent_provider.dockerfile 'must be a string (was number)'
	bottle dev <<<'agent_provider: {dockerfile: images/Dockerfile}'
	run bb-manifest
	printf '%s\n' "$output" | jq -e --arg p "$M/bottles/images/Dockerfile" '.bottles.dev.agent_provider.dockerfile == $p'
	bottle dev <<<'agent_provider: {dockerfile: ~/img/Dockerfile}'
	run bb-manifest
	printf '%s\n' "$output" | jq -e --arg p "$HOME/img/Dockerfile" '.bottles.dev.agent_provider.dockerfile == $p'
	bottle dev <<<'agent_provider: {dockerfile: /srv/Dockerfile}'
	run bb-manifest
	printf '%s\n' "$output" | jq -e '.bottles.dev.agent_provider.dockerfile == "/srv/Dockerfile"'
	bottle dev <<<'agent_provider: {dockerfile: ~root/Dockerfile}'
	fails_at $B agent_provider.dockerfile "'~root/Dockerfile': ~user paths are not supported; write ~/ or an absolute path"
}

@test "agent_provider.auth_token: a host variable name, claude only" {
	bottle dev <<<'agent_provider: {auth_token: CLAUDE_TOKEN}'
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.bottles.dev.agent_provider.auth_token == "CLAUDE_TOKEN"'
	bottle dev <<<'agent_provider: {template: codex, auth_token: CLAUDE_TOKEN}'
	fails_at $B agent_provider.auth_token "is only supported for template 'claude'"
	bottle dev <<<'agent_provider: {auth_token: sk-ant-secret}'
	fails_at $B agent_provider.auth_token "'sk-ant-secret' is not a valid environment variable name; auth_token names the host variable holding the token"
	bottle dev <<<'agent_provider: {auth_token: [X]}'
	fails_at $B agent_provider.auth_token 'must be a string (was array)'
	bottle dev <<<'agent_provider: {template: codex, auth_token: ""}'
	run bb-manifest
	assert_success
}

@test "agent_provider.forward_host_credentials: a boolean, codex only" {
	bottle dev <<<'agent_provider: {template: codex, forward_host_credentials: "yes"}'
	fails_at $B agent_provider.forward_host_credentials 'must be a boolean (was string)'
	bottle dev <<<'agent_provider: {forward_host_credentials: true}'
	fails_at $B agent_provider.forward_host_credentials "is currently only supported for template 'codex'"
	bottle dev <<<'agent_provider: {forward_host_credentials: false}'
	run bb-manifest
	assert_success
	bottle dev <<<'agent_provider: {template: codex, forward_host_credentials: true}'
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.bottles.dev.agent_provider.forward_host_credentials == true'
}

@test "file syntax: a key with a NUL byte is not another key" {
	printf -- '---\n"env\\0x": {}\n---\n' >"$M/$B"
	fails_at $B 'line 2' 'mapping keys must not contain NUL bytes'
}

@test "a manifest directory whose path is not UTF-8 is refused" {
	d=$(printf 'man\xffifest')
	mkdir "$d"
	run bb-manifest -d "$d"
	assert_failure 1
	assert_output 'bb-manifest: error: the manifest and project directory paths must be valid UTF-8'
}
