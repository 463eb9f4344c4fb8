#!/usr/bin/env bats
# bb-plan fed by the real bb-manifest, as it is used: bb-manifest | bb-plan.

load manifest-helper

setup_bottle() {
	bottle dev <<EOF
env:
  FROM_HOST: \${PIPE_HOST_VAR}
  LIT: plain
agent_provider:
  template: claude
  auth_token: PIPE_CLAUDE_TOKEN
supervise: true
egress:
  routes:
    - host: API.GitHub.com
      path_allowlist: [/repos/]
      auth:
        scheme: Bearer
        token_ref: PIPE_GH_PAT
    - host: api.anthropic.com
    - host: db.internal
      pipelock:
        tls_passthrough: true
        ssrf_ip_allowlist: [10.1.2.0/24]
git-gate:
  user:
    name: Bottle Bot
  repos:
    app:
      url: ssh://git@example.com:2222/org/app.git
      identity: ~/.ssh/id_test
      host_key: $HOST_KEY
EOF
	agent demo "Review the code." <<'EOF'
bottle: dev
skills: [review]
git-gate:
  user:
    email: demo@example.org
EOF
}

@test "bb-manifest | bb-plan: the full manifest through the real pipe" {
	setup_bottle
	export PIPE_HOST_VAR=host-secret-value PIPE_CLAUDE_TOKEN=sk-ant-pipe-secret PIPE_GH_PAT=ghp_pipe_secret
	run sh -c 'bb-manifest | bb-plan --slug demo-pipe1 demo 2>err.txt'
	assert_success
	echo "$output" >p.json
	run cat err.txt
	assert_output "bb-plan: warning: egress route 'api.anthropic.com' is provider-owned; manifest entry ignored"
	run jq -r '.egress.routes[] | [.host, .auth_scheme, .token_env, .tls_passthrough] | @tsv' p.json
	assert_output "$(printf '%s\n' \
		"api.anthropic.com	Bearer	EGRESS_TOKEN_0	true" \
		"api.github.com	Bearer	EGRESS_TOKEN_1	false" \
		"db.internal			true")"
	run jq -c '[.pipelock.api_allowlist, .pipelock.passthrough_domains, .pipelock.ssrf_ip_allowlist]' p.json
	assert_output '[["api.anthropic.com","api.github.com","db.internal","supervise"],["api.anthropic.com","db.internal"],["10.1.2.0/24"]]'
	run jq -c '[.git_gate.user, .git_gate.repos[0].identity_file, .git_gate.repos[0].port, .prompt.content, .skills[0].host_path, .env.FROM_HOST]' p.json
	assert_output "[{\"email\":\"demo@example.org\",\"name\":\"Bottle Bot\"},\"$HOME/.ssh/id_test\",2222,\"Review the code.\",\"$M/skills/review\",{\"host_var\":\"PIPE_HOST_VAR\",\"origin\":\"bottle\",\"source\":\"host\"}]"
	for v in host-secret-value sk-ant-pipe-secret ghp_pipe_secret; do
		run grep -F -- "$v" p.json err.txt
		assert_failure
	done
}

@test "bb-manifest -a AGENT | bb-plan AGENT gives the same plan" {
	setup_bottle
	export PIPE_HOST_VAR=x PIPE_CLAUDE_TOKEN=y PIPE_GH_PAT=z
	bb-manifest | bb-plan --slug demo-pipe1 demo >full.json 2>/dev/null
	bb-manifest -a demo | bb-plan --slug demo-pipe1 demo >one.json 2>/dev/null
	run diff full.json one.json
	assert_success
}

@test "bb-manifest | bb-plan | bb-render-pipelock" {
	setup_bottle
	export PIPE_HOST_VAR=x PIPE_CLAUDE_TOKEN=sk-ant-pipe-secret PIPE_GH_PAT=ghp_pipe_secret
	run sh -c 'bb-manifest | bb-plan --slug demo-pipe1 demo 2>/dev/null | bb-render-pipelock -o pipelock.yaml'
	assert_success
	[ "$(stat -c %a pipelock.yaml)" = 600 ]
	run bb-render-pipelock --parse pipelock.yaml
	assert_success
	run jq -c '[.api_allowlist, .tls_interception.passthrough_domains, .ssrf.ip_allowlist, .tls_interception.ca_cert]' <<<"$output"
	assert_output "[[\"api.anthropic.com\",\"api.github.com\",\"db.internal\",\"supervise\"],[\"api.anthropic.com\",\"db.internal\"],[\"10.1.2.0/24\"],\"$XDG_STATE_HOME/bb/bottles/demo-pipe1/pipelock/ca.pem\"]"
	run grep -e sk-ant-pipe-secret -e ghp_pipe_secret -e PIPE_ pipelock.yaml
	assert_failure
}
