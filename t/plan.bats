#!/usr/bin/env bats
# bb-plan: identity, env resolution, route merge, token slots, summary.

load helper
bats_require_minimum_version 1.5.0

# A manifest in bb-manifest's output shape (docs/interfaces.md); $1 is a jq
# filter applied to it, so each test states only what it changes.
manifest() {
	jq "${1:-.}" <<'JSON'
{"version": 1, "home": "/home/op/.bot-bottle",
 "bottles": {"dev": {
   "source": "/home/op/.bot-bottle/bottles/dev.md", "extends": "",
   "env": {}, "supervise": false,
   "agent_provider": {"template": "claude", "dockerfile": "", "auth_token": "",
                      "forward_host_credentials": false},
   "egress": {"routes": []},
   "git-gate": {"user": {"name": "", "email": ""}, "repos": {}}}},
 "agents": {"demo": {"source": "/home/op/.bot-bottle/agents/demo.md",
   "origin": "home", "bottle": "dev", "skills": [], "prompt": "",
   "git-gate": {"user": {"name": "", "email": ""}}}}}
JSON
}

route() { # host [token_ref [scheme]]
	if [ -n "${2:-}" ]; then
		printf '{"host":"%s","path_allowlist":[],"auth":{"scheme":"%s","token_ref":"%s"},"pipelock":{"tls_passthrough":false,"ssrf_ip_allowlist":[]}}' "$1" "${3:-Bearer}" "$2"
	else
		printf '{"host":"%s","path_allowlist":[],"pipelock":{"tls_passthrough":false,"ssrf_ip_allowlist":[]}}' "$1"
	fi
}

plan() { # jq-filter, then bb-plan arguments
	local f=$1
	shift
	manifest "$f" >m.json
	bb-plan "$@" demo m.json
}

@test "the plan carries the interface fields the sidecars read" {
	run plan . --slug demo-abc12
	assert_success
	echo "$output" >p.json
	for k in version slug agent bottle backend egress git_gate supervise pipelock; do
		jq -e "has(\"$k\")" p.json >/dev/null || fail "no $k"
	done
	assert_equal "$(jq -r '.version, .slug, .agent, .bottle, .backend' p.json | tr '\n' ' ')" "1 demo-abc12 demo dev ns "
	jq -e '.egress.routes[0] | has("host","path_allowlist","auth_scheme","token_ref","token_env","tls_passthrough","ssrf_ip_allowlist","provider")' p.json
	jq -e '.supervise | has("enabled","timeout_seconds")' p.json
	jq -e '.pipelock | has("api_allowlist","passthrough_domains","ssrf_ip_allowlist")' p.json
}

@test "a minted slug is AGENT- and 5 lowercase alphanumerics, different each run" {
	run plan .
	assert_success
	a=$(echo "$output" | jq -r .slug)
	[[ $a =~ ^demo-[a-z0-9]{5}$ ]] || fail "bad slug $a"
	b=$(plan . | jq -r .slug)
	c=$(plan . | jq -r .slug)
	[ "$a" != "$b" ] || [ "$a" != "$c" ] || fail "three equal slugs"
}

@test "--slug must be a hostname label" {
	for bad in Demo-1 -demo demo- 'de mo' 'a.b' "$(printf 'a%.0s' $(seq 64))" ''; do
		run plan . --slug "$bad"
		assert_failure 1
		assert_output --partial "bb-plan: error: --slug: '$bad' is not a valid hostname label"
	done
	run plan . --slug a-1
	assert_success
}

@test "an unknown agent or bottle is named with what is available" {
	run plan . --slug x nosuch
	assert_failure 2
	manifest >m.json
	run bb-plan nosuch m.json
	assert_failure 1
	assert_output "bb-plan: error: agents: no agent 'nosuch'; available: demo"
	run plan '.agents.demo.bottle = "gone"'
	assert_failure 1
	assert_output "bb-plan: error: agents: agent 'demo' references bottle 'gone', which is not defined. Available: dev"
}

@test "--backend takes ns, podman or docker" {
	run plan . --backend podman
	assert_success
	[ "$(echo "$output" | jq -r .backend)" = podman ]
	run plan . --backend kvm
	assert_failure 1
	assert_output "bb-plan: error: --backend: 'kvm' is not one of ns, podman, docker"
}

@test "bad usage prints the synopsis and exits 2" {
	run bb-plan
	assert_failure 2
	assert_output --partial "usage: bb-plan"
	run bb-plan --bogus demo
	assert_failure 2
}

@test "provider routes come first and take the lowest slot; shared token_ref shares a slot" {
	export CLAUDE_TOK=c GH_PAT=g OTHER=o
	run plan ".bottles.dev.agent_provider.auth_token = \"CLAUDE_TOK\" |
		.bottles.dev.egress.routes = [$(route api.github.com GH_PAT), $(route example.org), $(route uploads.github.com GH_PAT), $(route gitea.example.org OTHER token)]"
	assert_success
	echo "$output" >p.json
	run jq -r '.egress.routes[] | [.host, .auth_scheme, .token_ref, .token_env, .provider] | @tsv' p.json
	assert_output "$(printf '%s\n' \
		"api.anthropic.com	Bearer	CLAUDE_TOK	EGRESS_TOKEN_0	true" \
		"api.github.com	Bearer	GH_PAT	EGRESS_TOKEN_1	false" \
		"example.org				false" \
		"uploads.github.com	Bearer	GH_PAT	EGRESS_TOKEN_1	false" \
		"gitea.example.org	token	OTHER	EGRESS_TOKEN_2	false")"
	run jq -c .egress.token_env p.json
	assert_output '{"EGRESS_TOKEN_0":"CLAUDE_TOK","EGRESS_TOKEN_1":"GH_PAT","EGRESS_TOKEN_2":"OTHER"}'
}

@test "a provider shadows a manifest route case-insensitively, with a warning" {
	export GH_PAT=g
	run --separate-stderr plan ".bottles.dev.egress.routes = [$(route API.Anthropic.COM GH_PAT), $(route Example.ORG)]"
	assert_success
	[ "$stderr" = "bb-plan: warning: egress route 'api.anthropic.com' is provider-owned; manifest entry ignored" ] || fail "stderr: $stderr"
	echo "$output" >p.json
	run jq -r '.egress.routes[] | [.host, .auth_scheme, .token_env, .provider] | @tsv' p.json
	assert_output "$(printf '%s\n' "api.anthropic.com			true" "example.org			false")"
	run jq -c .egress.token_env p.json
	assert_output '{}'
}

@test "without auth_token the claude host is still allowed, unauthenticated and passthrough" {
	run plan .
	assert_success
	echo "$output" >p.json
	run jq -c '.egress.routes' p.json
	assert_output '[{"auth_scheme":"","host":"api.anthropic.com","path_allowlist":[],"provider":true,"ssrf_ip_allowlist":[],"tls_passthrough":true,"token_env":"","token_ref":""}]'
	run jq -c '.pipelock | [.api_allowlist, .passthrough_domains]' p.json
	assert_output '[["api.anthropic.com"],["api.anthropic.com"]]'
	jq -e '.env | has("CLAUDE_CODE_OAUTH_TOKEN") | not' p.json
}

@test "codex gets api.openai.com and chatgpt.com, passthrough, unauthenticated without forwarding" {
	run plan '.bottles.dev.agent_provider.template = "codex"'
	assert_success
	run jq -r '.egress.routes[] | [.host, .auth_scheme, .tls_passthrough, .provider] | @tsv' <<<"$output"
	assert_output "$(printf '%s\n' "api.openai.com		true	true" "chatgpt.com		true	true")"
}

@test "duplicate manifest hosts are refused" {
	run plan ".bottles.dev.egress.routes = [$(route a.example), $(route A.example)]"
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.egress.routes[1].host: duplicate host 'A.example'; each host must be unique on the proxy"
}

@test "route hosts must be bare names; ssrf entries canonical CIDRs" {
	run plan ".bottles.dev.egress.routes = [$(route https://x.example)]"
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.egress.routes[0].host: 'https://x.example' must be a bare host name, without a scheme"
	run plan '.bottles.dev.egress.routes = [{"host":"db.internal","pipelock":{"tls_passthrough":false,"ssrf_ip_allowlist":["10.0.0.1/8"]}}]'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.egress.routes[0].pipelock.ssrf_ip_allowlist[0]: '10.0.0.1/8' is not a canonical CIDR; write '10.0.0.0/8'"
	run plan '.bottles.dev.egress.routes = [{"host":"db.internal","pipelock":{"tls_passthrough":true,"ssrf_ip_allowlist":["0.0.0.0/0"]}}]'
	assert_failure 1
	assert_output --partial "a /0 network allows every address"
	run plan '.bottles.dev.egress.routes = [{"host":"db.internal","pipelock":{"tls_passthrough":true,"ssrf_ip_allowlist":["fd00::/8","10.1.2.3/32","10.0.0.0/8","fd00::/8"]}}]'
	assert_success
	run jq -c '.pipelock | [.ssrf_ip_allowlist, .passthrough_domains]' <<<"$output"
	assert_output '[["10.0.0.0/8","10.1.2.3/32","fd00::/8"],["api.anthropic.com","db.internal"]]'
}

@test "env: literals as-is, \${HOST_VAR} and ?prompt forwarded by name, values never in the plan" {
	export SECRET_HOST_VALUE=s3cr3t-v4lue-from-host GH_PAT=ghp_t0k3n_value_never_in_plan CLAUDE_TOK=sk-ant-oat-never-in-plan
	run plan '.bottles.dev.env = {"LIT": "plain", "FWD": "${SECRET_HOST_VALUE}", "ASK": "?prompt"} |
		.bottles.dev.agent_provider.auth_token = "CLAUDE_TOK" |
		.bottles.dev.egress.routes = [{"host":"api.github.com","auth":{"scheme":"Bearer","token_ref":"GH_PAT"}}]'
	assert_success
	echo "$output" >p.json
	run jq -c '.env | {LIT, FWD, ASK, CLAUDE_CODE_OAUTH_TOKEN}' p.json
	assert_output '{"LIT":{"origin":"bottle","source":"literal","value":"plain"},"FWD":{"host_var":"SECRET_HOST_VALUE","origin":"bottle","source":"host"},"ASK":{"origin":"bottle","source":"prompt"},"CLAUDE_CODE_OAUTH_TOKEN":{"origin":"provider","source":"literal","value":"egress-placeholder"}}'
	for v in "$SECRET_HOST_VALUE" "$GH_PAT" "$CLAUDE_TOK"; do
		run grep -F -- "$v" p.json
		assert_failure
	done
}

@test "env: a missing host variable is an error naming it" {
	unset NOT_SET_ANYWHERE
	run plan '.bottles.dev.env = {"X": "${NOT_SET_ANYWHERE}"}'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.env.X: host variable NOT_SET_ANYWHERE is not set"
	run plan '.bottles.dev.env = {"X": "pre-${HOME}"}'
	assert_failure 1
	assert_output --partial "bb-plan: error: bottles.dev.env.X: '\${' must make up the whole value"
	run plan '.bottles.dev.env = {"X": "${1BAD}"}'
	assert_failure 1
	assert_output --partial "is not a valid host variable reference"
	run plan '.bottles.dev.env = {"BAD-NAME": "x"}'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.env.BAD-NAME: is not a valid environment variable name"
	run plan '.bottles.dev.env = {"X": 3}'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.env.X: must be a string (was number)"
}

@test "env: a bottle entry overrides a provider default" {
	run plan '.bottles.dev.env = {"DISABLE_ERROR_REPORTING": "0"}'
	assert_success
	run jq -c '.env.DISABLE_ERROR_REPORTING' <<<"$output"
	assert_output '{"origin":"bottle","source":"literal","value":"0"}'
}

@test "an unset token_ref warns at plan time (the launch fails on it)" {
	unset GH_PAT
	run --separate-stderr plan ".bottles.dev.egress.routes = [$(route api.github.com GH_PAT)]"
	assert_success
	[ "$stderr" = "bb-plan: warning: egress route 'api.github.com': host variable GH_PAT is not set or empty; the launch will fail" ] || fail "$stderr"
}

@test "claude provider runtime: argv, resume, prompt only when non-empty, trust file" {
	run plan '.agents.demo.prompt = "be careful"'
	assert_success
	echo "$output" >p.json
	run jq -c '.provider | [.argv, .resume_argv, .image, .prompt_mode]' p.json
	assert_output '[["claude","--dangerously-skip-permissions","--append-system-prompt-file","/home/node/.bot-bottle-prompt.txt"],["claude","--continue","--dangerously-skip-permissions","--append-system-prompt-file","/home/node/.bot-bottle-prompt.txt"],"bb-claude:latest","append_file"]'
	run jq -c '.prompt' p.json
	assert_output '{"content":"be careful","guest_path":"/home/node/.bot-bottle-prompt.txt","mode":"0600","owner":"node:node"}'
	run jq -r '.provider.files[0] | .path, .mode, .owner' p.json
	assert_output "$(printf '%s\n' /home/node/.claude.json 0600 node:node)"
	run jq -r '.provider.files[0].content' p.json
	assert_output '{
  "bypassPermissionsModeAccepted": true,
  "hasCompletedOnboarding": true,
  "projects": {
    "/home/node": {
      "hasTrustDialogAccepted": true
    }
  },
  "theme": "dark"
}'
	run jq -c '.env | to_entries | map(select(.value.origin == "provider")) | from_entries' p.json
	assert_output '{"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC":{"origin":"provider","source":"literal","value":"1"},"DISABLE_ERROR_REPORTING":{"origin":"provider","source":"literal","value":"1"}}'
	run plan .
	run jq -c '.provider | [.argv, .prompt_args]' <<<"$output"
	assert_output '[["claude","--dangerously-skip-permissions"],[]]'
}

@test "codex runtime: resume subcommand first, prompt instruction, config.toml trusts home and workspace" {
	mkdir proj
	run plan '.bottles.dev.agent_provider.template = "codex" | .agents.demo.prompt = "x"' --cwd proj
	assert_success
	echo "$output" >p.json
	run jq -c '.provider | [.argv, .resume_argv]' p.json
	assert_output '[["codex","--dangerously-bypass-approvals-and-sandbox","Read the instructions in /home/node/.bot-bottle-prompt.txt and follow them."],["codex","resume","--last","--dangerously-bypass-approvals-and-sandbox","Read the instructions in /home/node/.bot-bottle-prompt.txt and follow them."]]'
	run jq -c '.provider.dirs' p.json
	assert_output '[{"mode":"0700","owner":"node:node","path":"/home/node/.codex"}]'
	run jq -r '.provider.files[] | select(.path == "/home/node/.codex/config.toml") | .content' p.json
	assert_output '[projects."/home/node"]
trust_level = "trusted"

[projects."/home/node/workspace"]
trust_level = "trusted"'
	run jq -c '.ca_env' p.json
	assert_output '{"CODEX_CA_CERTIFICATE":"/etc/ssl/certs/ca-certificates.crt","NODE_EXTRA_CA_CERTS":"/etc/ssl/certs/ca-certificates.crt","REQUESTS_CA_BUNDLE":"/etc/ssl/certs/ca-certificates.crt","SSL_CERT_FILE":"/etc/ssl/certs/ca-certificates.crt"}'
}

@test "BB_GUEST_HOME moves the guest home; config.toml escapes quotes and backslashes" {
	BB_GUEST_HOME='/home/a"b\c' run plan '.bottles.dev.agent_provider.template = "codex"'
	assert_success
	run jq -r '.provider.files[0].content' <<<"$output"
	assert_output '[projects."/home/a\"b\\c"]
trust_level = "trusted"'
	BB_GUEST_HOME=relative run plan .
	assert_failure 1
	assert_output "bb-plan: error: BB_GUEST_HOME: must be an absolute path without control characters"
}

@test "workspace: --cwd copies into ~/workspace; without it the home is the workdir" {
	mkdir -p proj/.git
	run plan . --cwd proj
	assert_success
	run jq -c '.workspace' <<<"$output"
	assert_output "{\"copy_contents\":true,\"copy_git\":true,\"enabled\":true,\"guest_path\":\"/home/node/workspace\",\"has_host_git_dir\":true,\"host_path\":\"$PWD/proj\",\"mode\":\"0755\",\"owner\":\"node:node\",\"workdir\":\"/home/node/workspace\"}"
	run plan .
	run jq -c '.workspace' <<<"$output"
	assert_output "{\"copy_contents\":false,\"copy_git\":false,\"enabled\":false,\"guest_path\":\"/home/node\",\"has_host_git_dir\":false,\"host_path\":\"$PWD\",\"workdir\":\"/home/node\"}"
	run plan . --cwd nowhere
	assert_failure 1
	assert_output "bb-plan: error: --cwd: cwd not found at nowhere"
}

@test "git gate: repos sorted by name, agent user laid over the bottle's, missing host_key warns" {
	run --separate-stderr plan '.bottles.dev."git-gate" = {"user":{"name":"Bottle","email":"b@x"},"repos":{
		"zed":{"url":"ssh://git@h:22/z.git","identity":"/k","host_key":"","user":"git","host":"h","port":22,"path":"/z.git"},
		"app":{"url":"ssh://git@example.com:2222/org/app.git","identity":"/k2","host_key":"ssh-ed25519 AAAA","user":"git","host":"example.com","port":2222,"path":"/org/app.git"}}} |
		.agents.demo."git-gate".user.email = "agent@x"'
	assert_success
	[ "$stderr" = "bb-plan: warning: git-gate repo 'zed' has no host_key; fetch and push will be refused" ] || fail "$stderr"
	run jq -c '.git_gate' <<<"$output"
	assert_output '{"repos":[{"host":"example.com","host_key":"ssh-ed25519 AAAA","identity_file":"/k2","name":"app","path":"/org/app.git","port":2222,"url":"ssh://git@example.com:2222/org/app.git","user":"git"},{"host":"h","host_key":"","identity_file":"/k","name":"zed","path":"/z.git","port":22,"url":"ssh://git@h:22/z.git","user":"git"}],"user":{"email":"agent@x","name":"Bottle"}}'
}

@test "supervise adds its host to the pipelock allowlist" {
	run plan '.bottles.dev.supervise = true'
	assert_success
	run jq -c '[.supervise.enabled, .supervise.timeout_seconds, .pipelock.api_allowlist, (.provisioning | map(select(.enabled)) | map(.step))]' <<<"$output"
	assert_output '[true,30,["api.anthropic.com","supervise"],["ca","prompt","provider_auth","supervise"]]'
}

@test "provisioning steps come in the original's order" {
	run plan '.bottles.dev.supervise = true | .agents.demo.skills = ["review"]'
	assert_success
	run jq -r '.provisioning | map(.step) | join(" ")' <<<"$output"
	assert_output "ca prompt provider_auth skills workspace git supervise"
	run plan '.agents.demo.skills = ["../etc"]'
	assert_failure 1
	assert_output "bb-plan: error: agents.demo.skills[0]: must be a skill directory name (A-Z a-z 0-9 . _ -)"
}

@test "the -a form of bb-manifest is accepted too" {
	manifest '{version: 1, agent: (.agents.demo + {name: "demo"}), bottle: (.bottles.dev + {name: "dev"})}' >a.json
	run bb-plan --slug demo-x demo a.json
	assert_success
	[ "$(echo "$output" | jq -r '.bottle')" = dev ]
	run bb-plan --slug demo-x other a.json
	assert_failure 1
	assert_output "bb-plan: error: agent.name: document is for agent 'demo', not 'other'"
}

@test "--summary prints the preflight on stderr: names only, hidden names left out" {
	export GH_PAT=ghp_secret_value CLAUDE_TOK=sk-secret HOSTV=host-value-xyz
	plan '.bottles.dev.env = {"ZED": "${HOSTV}", "ASK": "?prompt", "LIT": "literal-value"} |
		.bottles.dev.agent_provider.auth_token = "CLAUDE_TOK" |
		.bottles.dev."git-gate" = {"user":{"name":"Bot","email":"bot@x"},"repos":{"app":{"url":"ssh://git@example.com:2222/org/app.git","identity":"/k","host_key":"ssh-ed25519 AAAA","user":"git","host":"example.com","port":2222,"path":"/org/app.git"}}} |
		.bottles.dev.egress.routes = [{"host":"api.github.com","auth":{"scheme":"Bearer","token_ref":"GH_PAT"}}, {"host":"example.org"}] |
		.agents.demo.skills = ["review", "lint"]' --summary >p.json 2>sum.txt
	cat >want.txt <<'TXT'

agent : demo
provider : claude
env :
    ASK
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
    DISABLE_ERROR_REPORTING
    LIT
    ZED
skills :
    review
    lint
bottle : dev
  git identity : Bot <bot@x>
  git gate :
    app → example.com:2222
  egress :
    api.anthropic.com [auth:Bearer] (provider)
    api.github.com [auth:Bearer]
    example.org

TXT
	run diff want.txt sum.txt
	assert_success
	for v in ghp_secret_value sk-secret host-value-xyz literal-value; do
		run grep -F -- "$v" sum.txt
		assert_failure
	done
	for v in ghp_secret_value sk-secret host-value-xyz; do
		run grep -F -- "$v" p.json
		assert_failure
	done
	jq -e .slug p.json >/dev/null
}

@test "--summary with no env, skills, identity, repos" {
	plan . --summary >p.json 2>sum.txt
	cat >want.txt <<'TXT'

agent : demo
provider : claude
env :
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC
    DISABLE_ERROR_REPORTING
skills : (none)
bottle : dev
  egress :
    api.anthropic.com (provider)

TXT
	run diff want.txt sum.txt
	assert_success
}

@test "malformed input is an error, never a crash" {
	run sh -c 'echo "{" | bb-plan demo'
	assert_failure 1
	assert_output --partial "bb-plan: error: <stdin>: line"
	run sh -c 'echo "[]" | bb-plan demo'
	assert_failure 1
	run plan '.version = 2'
	assert_failure 1
	assert_output "bb-plan: error: manifest.version: must be 1 (this bb-plan reads version 1)"
	run plan '.bottles.dev.egress = []'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.egress: must be an object (was array)"
	run plan '.bottles.dev.egress.routes = [{"host": ""}]'
	assert_failure 1
	run plan '.bottles.dev.supervise = "yes"'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.supervise: must be a boolean (was string)"
	run plan '.bottles.dev.agent_provider.template = "gpt"'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.agent_provider.template: 'gpt' is not one of ['claude', 'codex']"
	run plan '.bottles.dev.agent_provider.auth_token = "X" | .bottles.dev.agent_provider.template = "codex"'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.agent_provider.auth_token: is only supported for template 'claude'"
	run plan '.bottles.dev.agent_provider.forward_host_credentials = true'
	assert_failure 1
	assert_output "bb-plan: error: bottles.dev.agent_provider.forward_host_credentials: is currently only supported for template 'codex'"
}
