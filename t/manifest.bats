#!/usr/bin/env bats
# bb-manifest: options, files and directories, agents, the trust boundary
# and the JSON document.  Field rules: t/manifest-*.bats.

load manifest-helper

dev_and_demo() {
	bottle dev <<<'supervise: true'
	agent demo 'Do the thing.' <<<'bottle: dev'
}

@test "-h prints the synopsis on stdout and exits 0" {
	run bb-manifest -h
	assert_success
	assert_line --index 0 'usage: bb-manifest [-d dir] [-p dir] [-a agent]'
}

@test "bad usage prints the synopsis on stderr and exits 2" {
	run bb-manifest -x
	assert_failure 2
	assert_line --index 0 'bb-manifest: error: unknown option or missing argument: -x'
	assert_line --index 1 'usage: bb-manifest [-d dir] [-p dir] [-a agent]'
	run bb-manifest extra
	assert_failure 2
	run bb-manifest -d
	assert_failure 2
}

@test "the example manifest gives the documented document" {
	: >"$HOME/.ssh/bb-demo-key"
	run bb-manifest -d "$BB_ROOT/share/examples/manifest"
	assert_success
	ex=$BB_ROOT/share/examples/manifest
	json_eq "$output" '{
  "version": 1,
  "home": "'"$ex"'",
  "bottles": {"dev": {
    "source": "'"$ex"'/bottles/dev.md", "extends": "",
    "env": {"EDITOR": "vi", "GIT_PAGER": "cat", "HOST_USER": "${USER}"},
    "supervise": true,
    "agent_provider": {"template": "claude", "dockerfile": "", "auth_token": "",
                       "forward_host_credentials": false},
    "egress": {"routes": [
      {"host": "api.github.com", "path_allowlist": ["/repos/", "/user"],
       "auth": {"scheme": "Bearer", "token_ref": "GH_PAT"},
       "pipelock": {"tls_passthrough": false, "ssrf_ip_allowlist": []}},
      {"host": "registry.npmjs.org", "path_allowlist": ["/"],
       "pipelock": {"tls_passthrough": false, "ssrf_ip_allowlist": []}}]},
    "git-gate": {
      "user": {"name": "bb demo", "email": "demo@example.com"},
      "repos": {"app": {
        "url": "ssh://git@git.example.com:2222/org/app.git",
        "identity": "'"$HOME"'/.ssh/bb-demo-key",
        "host_key": "'"$HOST_KEY"'",
        "user": "git", "host": "git.example.com", "port": 2222,
        "path": "/org/app.git"}}}}},
  "agents": {"demo": {
    "source": "'"$ex"'/agents/demo.md", "origin": "home", "bottle": "dev",
    "skills": [],
    "prompt": "You work on the `app` repository, cloned from the git gate.\n\nKeep changes small, run the tests before every commit, and push your\nbranch when the tests pass. If you need a host that is not reachable,\nask for it through the supervise tool instead of working around it.",
    "git-gate": {"user": {"name": "", "email": ""}}}}
}'
}

@test "output is canonical: sorted keys, two-space indent, byte-identical runs" {
	dev_and_demo
	run bb-manifest
	assert_success
	first=$output
	[ "$output" = "$(printf '%s\n' "$output" | jq -S --indent 2 .)" ]
	run bb-manifest
	[ "$output" = "$first" ]
}

@test "make demo's script runs and prints the manifest" {
	run sh "$BB_ROOT/share/examples/demo.sh" --manifest-only
	assert_success
	printf '%s\n' "$output" | sed 1d | jq -e '.bottles.dev.supervise and .agents.demo.bottle == "dev"'
}

@test "the smallest manifest: an empty bottle and an agent, defaults filled in" {
	bottle dev </dev/null
	agent demo </dev/null <<<'bottle: dev'
	run bb-manifest
	assert_success
	json_eq "$output" '{"version": 1, "home": "'"$M"'",
  "bottles": {"dev": {"source": "'"$M"'/bottles/dev.md", "extends": "", "env": {},
    "supervise": false,
    "agent_provider": {"template": "claude", "dockerfile": "", "auth_token": "",
                       "forward_host_credentials": false},
    "egress": {"routes": []},
    "git-gate": {"user": {"name": "", "email": ""}, "repos": {}}}},
  "agents": {"demo": {"source": "'"$M"'/agents/demo.md", "origin": "home",
    "bottle": "dev", "skills": [], "prompt": "",
    "git-gate": {"user": {"name": "", "email": ""}}}}}'
}

@test "no manifest directory at all is an empty manifest" {
	rm -rf "$M"
	run bb-manifest
	assert_success
	json_eq "$output" '{"version": 1, "home": "'"$M"'", "bottles": {}, "agents": {}}'
}

@test "-d, then BB_MANIFEST_DIR, then ~/.bot-bottle; relative dirs made absolute" {
	dev_and_demo
	mkdir -p other/bottles
	printf -- '---\n---\n' >other/bottles/ops.md
	run bb-manifest -d other
	assert_success
	[ "$(printf '%s\n' "$output" | jq -r '.home, (.bottles | keys[])')" = "$PWD/other
ops" ]
	BB_MANIFEST_DIR=other/ run bb-manifest
	[ "$(printf '%s\n' "$output" | jq -r .home)" = "$PWD/other" ]
	BB_MANIFEST_DIR= run bb-manifest
	[ "$(printf '%s\n' "$output" | jq -r .home)" = "$M" ]
	BB_MANIFEST_DIR=nowhere run bb-manifest -d other
	[ "$(printf '%s\n' "$output" | jq -r .home)" = "$PWD/other" ]
}

@test "no HOME and no -d is an error" {
	run env -u HOME -u BB_MANIFEST_DIR "$BB_ROOT/bin/bb-manifest"
	assert_failure 1
	assert_output 'bb-manifest: error: HOME is not set; name the manifest directory with -d or BB_MANIFEST_DIR'
}

@test "badly named files are skipped with a warning, in sorted order" {
	dev_and_demo
	for f in _template.md Dev.md .hidden.md notes.txt 9lives.md a_b.md; do
		printf 'not a manifest\n' >"$M/bottles/$f"
	done
	run bb-manifest
	assert_success
	assert_output --partial "bb-manifest: warning: skipping $M/bottles/.hidden.md: filename must match [a-z][a-z0-9-]*.md (got '.hidden.md')"
	assert_output --partial "bb-manifest: warning: skipping $M/bottles/9lives.md: filename must match [a-z][a-z0-9-]*.md (got '9lives.md')"
	assert_output --partial "skipping $M/bottles/Dev.md:"
	assert_output --partial "skipping $M/bottles/_template.md:"
	assert_output --partial "skipping $M/bottles/a_b.md:"
	assert_output --partial "skipping $M/bottles/notes.txt:"
	run manifest_stdout
	printf '%s\n' "$output" | jq -e '.bottles | keys == ["dev"]'
}

@test "a file that cannot be read names itself" {
	dev_and_demo
	mkdir "$M/bottles/dir.md"
	fails_at bottles/dir.md '' 'could not read: Is a directory'
}

@test "legacy guard: bot-bottle.json without the Markdown directory" {
	rm -rf "$M"
	echo '{}' >"$HOME/bot-bottle.json"
	run bb-manifest
	assert_failure 1
	assert_output "bb-manifest: error: $HOME/bot-bottle.json: found $HOME/bot-bottle.json but $M does not exist. The manifest format changed — rewrite the JSON content as per-file Markdown under $M/bottles/ and $M/agents/. See bb-manifest(5) for the format. (home)"
	mkdir -p "$M"
	run bb-manifest
	assert_success
}

@test "legacy guard: a project bot-bottle.json without .bot-bottle" {
	dev_and_demo
	mkdir proj
	echo '{}' >proj/bot-bottle.json
	run bb-manifest -p proj
	assert_failure 1
	assert_output "bb-manifest: error: $PWD/proj/bot-bottle.json: found $PWD/proj/bot-bottle.json but $PWD/proj/.bot-bottle does not exist. The manifest format changed — rewrite the JSON content as per-file Markdown under $PWD/proj/.bot-bottle/bottles/ and $PWD/proj/.bot-bottle/agents/. See bb-manifest(5) for the format. (project)"
}

@test "-p names the project; it must exist" {
	dev_and_demo
	run bb-manifest -p nowhere
	assert_failure 1
	assert_output 'bb-manifest: error: nowhere: the project directory does not exist'
	mkdir -p proj
	(cd proj && write_md .bot-bottle/agents/helper.md <<<'bottle: dev')
	run bb-manifest -p proj
	assert_success
	printf '%s\n' "$output" | jq -e '.agents.helper.origin == "project" and .agents.helper.source == "'"$PWD"'/proj/.bot-bottle/agents/helper.md"'
}

@test "a project agent overrides the home agent of the same name" {
	dev_and_demo
	bottle ops </dev/null
	project_agent demo 'From the project.' <<<'bottle: ops'
	run bb-manifest
	assert_success
	json_eq "$(printf '%s\n' "$output" | jq .agents.demo)" '{"source": "'"$PWD"'/.bot-bottle/agents/demo.md",
	  "origin": "project", "bottle": "ops", "skills": [], "prompt": "From the project.",
	  "git-gate": {"user": {"name": "", "email": ""}}}'
}

@test "trust boundary: project bottles are ignored with a warning" {
	dev_and_demo
	mkdir -p .bot-bottle/bottles
	write_md .bot-bottle/bottles/dev.md <<<'supervise: false'
	write_md .bot-bottle/bottles/evil.md <<<'egress: {routes: [{host: evil.example}]}'
	project_agent demo <<<'bottle: evil'
	run bb-manifest
	assert_failure 1
	assert_line --index 0 "bb-manifest: warning: ignoring $PWD/.bot-bottle/bottles: bottles load only from the home manifest directory ($M)"
	assert_line --index 1 "bb-manifest: error: $PWD/.bot-bottle/agents/demo.md: bottle: agent 'demo' references bottle 'evil', which is not defined. Available: dev"
	rm .bot-bottle/agents/demo.md
	run manifest_stdout
	assert_success
	printf '%s\n' "$output" | jq -e '.bottles.dev.supervise == true and (.bottles | keys == ["dev"])'
}

@test "trust boundary: a project agent cannot carry git-gate.repos or bottle fields" {
	dev_and_demo
	project_agent demo <<-'EOF'
	bottle: dev
	git-gate:
	  repos:
	    x: {url: 'ssh://git@evil.example/x.git', identity: ~/.ssh/id_test}
	EOF
	run bb-manifest
	assert_failure 1
	assert_output "bb-manifest: error: $PWD/.bot-bottle/agents/demo.md: git-gate.repos: agent 'demo' git-gate.repos is not allowed at the agent level; only git-gate.user (name/email) may be set on an agent. git-gate.repos is bottle-only (it carries credentials and host trust)."
	project_agent demo <<-'EOF'
	bottle: dev
	egress: {routes: [{host: evil.example}]}
	env: {X: y}
	EOF
	run bb-manifest
	assert_failure 1
	assert_output "bb-manifest: error: $PWD/.bot-bottle/agents/demo.md: unknown frontmatter key(s) ['egress', 'env']; allowed keys are bottle, skills, git-gate (and the ignored Claude Code keys name, description, model, color, memory)"
}

@test "trust boundary: project agent files may not be symbolic links" {
	dev_and_demo
	mkdir -p .bot-bottle/agents
	ln -s "$M/agents/demo.md" .bot-bottle/agents/spy.md
	run bb-manifest
	assert_failure 1
	assert_output "bb-manifest: error: $PWD/.bot-bottle/agents/spy.md: project agent files may not be symbolic links"
}

@test "run from HOME: the project's .bot-bottle is the home one, read once" {
	dev_and_demo
	cd "$HOME"
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.agents.demo.origin == "home"'
}

@test "agents: bottle is required, a non-empty string, and defined" {
	bottle dev </dev/null
	bottle ops </dev/null
	agent demo <<<'skills: []'
	fails_at agents/demo.md '' "agent 'demo' must declare a 'bottle' field naming a defined bottle"
	agent demo <<<'bottle: 3'
	fails_at agents/demo.md bottle "agent 'demo' must declare a 'bottle' field naming a defined bottle (was number)"
	agent demo <<<'bottle: ""'
	fails_at agents/demo.md bottle "agent 'demo' must declare a 'bottle' field naming a defined bottle (was '')"
	agent demo <<<'bottle: prod'
	fails_at agents/demo.md bottle "agent 'demo' references bottle 'prod', which is not defined. Available: dev, ops"
	rm "$M"/bottles/*
	fails_at agents/demo.md bottle "agent 'demo' references bottle 'prod', which is not defined. Available: (none defined)"
}

@test "agents: skills are an array of skill directory names" {
	bottle dev </dev/null
	agent demo <<<$'bottle: dev\nskills: pdf'
	fails_at agents/demo.md skills "agent 'demo' skills must be an array (was string)"
	agent demo <<<$'bottle: dev\nskills: [pdf, 3]'
	fails_at agents/demo.md 'skills[1]' "agent 'demo' skills[1] must be a string (was number)"
	for bad in ../../.ssh .hidden a/b '' -rf; do
		agent demo <<<"bottle: dev
skills: ['$bad']"
		fails_at agents/demo.md 'skills[0]' "'$bad' is not a skill directory name (A-Z a-z 0-9 . _ -, starting with a letter or digit)"
	done
	agent demo <<<$'bottle: dev\nskills: [pdf, code-review, v1.2_x]'
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.agents.demo.skills == ["pdf", "code-review", "v1.2_x"]'
}

@test "agents: Claude Code passthrough keys are accepted and ignored; others fail" {
	bottle dev </dev/null
	agent demo <<-'EOF'
	bottle: dev
	name: demo
	description: Helps.
	model: opus
	color: blue
	memory: {scope: project}
	EOF
	run bb-manifest
	assert_success
	json_eq "$(printf '%s\n' "$output" | jq '.agents.demo | del(.source)')" \
		'{"origin": "home", "bottle": "dev", "skills": [], "prompt": "", "git-gate": {"user": {"name": "", "email": ""}}}'
	agent demo <<-'EOF'
	bottle: dev
	model: opus
	tools: [Read]
	EOF
	fails_at agents/demo.md '' "unknown frontmatter key(s) ['tools']; allowed keys are bottle, skills, git-gate (and the ignored Claude Code keys name, description, model, color, memory)"
}

@test "agents: the prompt is the body, stripped; not a frontmatter key" {
	bottle dev </dev/null
	printf -- '---\nbottle: dev\n---\n\n\n  Line one.\n\n  Line two.  \n\n\n' >"$M/agents/demo.md"
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.agents.demo.prompt == "Line one.\n\n  Line two."'
	agent demo <<<$'bottle: dev\nprompt: hi'
	fails_at agents/demo.md prompt "the prompt is the file's Markdown body, not a frontmatter key"
	printf -- '---\nbottle: dev\n---\n\xff\xfe bad\n' >"$M/agents/demo.md"
	fails_at agents/demo.md '' 'the Markdown body (the prompt) is not valid UTF-8'
}

@test "agents: the old git key is rejected with the migration hint" {
	bottle dev </dev/null
	agent demo <<<$'bottle: dev\ngit: {user: {name: a}}'
	fails_at agents/demo.md git "agent 'demo' uses 'git' which has been replaced by 'git-gate'. Move git.user → git-gate.user."
}

@test "-a prints one agent with its resolved bottle and the git user overlay" {
	bottle base <<-'EOF'
	git-gate:
	  user: {name: Base Name, email: base@example.com}
	EOF
	bottle dev <<<'extends: base'
	agent demo 'Hi.' <<<$'bottle: dev\ngit-gate: {user: {email: demo@example.com}}'
	run bb-manifest -a demo
	assert_success
	json_eq "$output" '{"version": 1,
	  "agent": {"name": "demo", "source": "'"$M"'/agents/demo.md", "origin": "home",
	    "bottle": "dev", "skills": [], "prompt": "Hi.",
	    "git-gate": {"user": {"name": "", "email": "demo@example.com"}}},
	  "bottle": {"name": "dev", "source": "'"$M"'/bottles/dev.md", "extends": "base",
	    "env": {}, "supervise": false,
	    "agent_provider": {"template": "claude", "dockerfile": "", "auth_token": "",
	                       "forward_host_credentials": false},
	    "egress": {"routes": []},
	    "git-gate": {"user": {"name": "Base Name", "email": "demo@example.com"}, "repos": {}}}}'
	run bb-manifest
	printf '%s\n' "$output" | jq -e '.bottles.dev["git-gate"].user.email == "base@example.com"'
}

@test "-a with an unknown agent lists the defined ones" {
	dev_and_demo
	run bb-manifest -a nope
	assert_failure 1
	assert_output "bb-manifest: error: nope: agent 'nope' is not defined. Available: demo"
}

@test "-a still validates the whole manifest" {
	dev_and_demo
	agent broken <<<'bottle: nope'
	run bb-manifest -a demo
	assert_failure 1
	assert_output --partial "agents/broken.md: bottle: agent 'broken' references bottle 'nope'"
}

@test "many files: checked in parallel, reported in sorted order" {
	for i in $(seq -w 1 20); do
		bottle "b$i" <<<'supervise: true'
		agent "a$i" <<<"bottle: b$i"
	done
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '(.bottles | keys | length) == 20 and
		(.agents | keys | length) == 20 and .agents.a07.bottle == "b07"'
	bottle b05 <<<'superviser: true'
	bottle b15 <<<'nope: 1'
	for f in B00.md b04_x.md b10_y.md; do
		printf 'not a manifest\n' >"$M/bottles/$f"
	done
	run bb-manifest
	assert_failure 1
	assert_equal "${#lines[@]}" 3
	assert_line --index 0 "bb-manifest: warning: skipping $M/bottles/B00.md: filename must match [a-z][a-z0-9-]*.md (got 'B00.md')"
	assert_line --index 1 "bb-manifest: warning: skipping $M/bottles/b04_x.md: filename must match [a-z][a-z0-9-]*.md (got 'b04_x.md')"
	assert_line --index 2 --partial "bb-manifest: error: $M/bottles/b05.md: unknown frontmatter key(s) ['superviser' (did you mean 'supervise'?)]"
}
