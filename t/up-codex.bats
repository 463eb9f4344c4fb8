#!/usr/bin/env bats
# bb-up with Codex host-credential forwarding on the ns backend (the
# provider steps on podman and docker too): the host access token reaches
# only bb-egress (as the EGRESS_TOKEN_N slot shared by api.openai.com and
# chatgpt.com); the bottle gets the dummy auth.json, CODEX_HOME, the
# pre-copy reset of stale runtime DBs and the verify step, answered by a
# stand-in `codex` (t/codex-standin) on the agent's PATH that accepts only
# a well-formed dummy auth.json.

load helper
load up-lib
load engine
bats_require_minimum_version 1.5.0

setup_file() {
	docker_setup_file
}

teardown_file() {
	docker_teardown_file
}

SLUG=demo-cxfwd

setup() {
	up_setup
	mkauth 3600
	TOKEN=$(jq -r .tokens.access_token "$HOME/.codex/auth.json")
	up_upstream "$TOKEN" api.openai.com chatgpt.com
	up_manifest <<<'agent_provider: {template: codex, forward_host_credentials: true}'
	bb-manifest -a demo | bb-plan --slug "$SLUG" demo >plan.json 2>plan.err
	# The stand-in Codex CLI, on the agent's PATH (~/.local/bin).
	BHOME=$XDG_STATE_HOME/bb/bottles/$SLUG/home
	mkdir -p "$BHOME/.local/bin"
	cp "$BB_ROOT/t/codex-standin" "$BHOME/.local/bin/codex"
}

teardown() {
	up_teardown
	[ -z "${ENGINE:-}" ] || ct_rm "bb-$SLUG" >/dev/null 2>&1 || true
}

# A hostile host auth.json (as in t/plan-codex.bats): every secret holds
# SECRET, so one grep finds any survivor.  $1: exp offset from now.
mkauth() {
	mkdir -p "$HOME/.codex"
	python3 - "$1" >"$HOME/.codex/auth.json" <<'PY'
import base64, json, sys, time
def b64(d): return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
claims = {"exp": int(time.time()) + int(sys.argv[1]), "iat": 1700000000,
  "sub": "SECRET_SUB", "email": "SECRET_EMAIL@corp.example", "sid": "SECRET_SID",
  "https://api.openai.com/auth": {"chatgpt_plan_type": "pro", "user_id": "SECRET_USER_ID",
     "organizations": [{"id": "SECRET_ORG"}]},
  "nested": {"a": ["SECRET_NESTED"]}}
access = b64({"alg": "RS256", "kid": "SECRET_KID"}) + "." + b64(claims) + ".SECRET_SIGNATURE_abc"
idt = b64({"alg": "RS256"}) + "." + b64(claims) + ".SECRET_ID_SIG"
print(json.dumps({"auth_mode": "chatgpt", "OPENAI_API_KEY": "SECRET_sk-proj-KEY",
  "last_refresh": "SECRET_REFRESH_TIME",
  "tokens": {"access_token": access, "id_token": idt, "refresh_token": "SECRET_rt_REFRESH",
             "account_id": "acct-0000-1111", "extra": {"k": "SECRET_TOKENS_EXTRA"}}}))
PY
}

up() {
	run --separate-stderr bb-up -y ${BACKEND:+-b "$BACKEND"} -p plan.json -E --upstream-ca="$T/ca.pem" \
		-E "--resolve=api.openai.com:443:$ADDR" -E "--resolve=chatgpt.com:443:$ADDR" \
		demo -- sh -c "$1"
}

@test "the host token reaches api.openai.com and chatgpt.com as Bearer, injected by egress" {
	up 'for h in api.openai.com chatgpt.com; do curl -sS https://$h/v1/responses -H "Authorization: Bearer agent-fake"; echo; done; echo "home=$CODEX_HOME"; stat -c "%a %n" ~/.codex/auth.json ~/.codex/config.toml'
	assert_success
	[ "$(sed -n 1p <<<"$output" | jq -r .authorized)" = true ]
	[ "$(sed -n 1p <<<"$output" | jq -r .authorization)" = "Bearer <${#TOKEN} bytes>" ]
	[ "$(sed -n 2p <<<"$output" | jq -r .authorized)" = true ]
	assert_line home=/home/node/.codex
	assert_line '600 /home/node/.codex/auth.json'
	assert_line '600 /home/node/.codex/config.toml'
	# the routes file names the slot, both hosts share it
	routes=$XDG_STATE_HOME/bb/bottles/$SLUG/routes.json
	[ "$(jq -r '[.routes[] | .token_env] | unique | join(",")' "$routes")" = EGRESS_TOKEN_0 ]
}

@test "the real token and every host secret stay out of the bottle, the host argv and the state" {
	bb-up -y -p plan.json -E --upstream-ca="$T/ca.pem" -E "--resolve=api.openai.com:443:$ADDR" \
		demo -- sh -c '{ env; cat /proc/*/environ /proc/*/cmdline; grep -rs . /tmp /run/bb /etc /home/node; } >/tmp/dump 2>/dev/null; cp /tmp/dump ~/dump; curl -s https://api.openai.com/v1/x >~/echo; touch ~/ready; sleep 30' 3>&- &
	PIDS+=($!)
	wait_for "$BHOME/ready" 20
	[ "$(jq -r .authorized "$BHOME/echo")" = true ]
	[ "$(wc -l <"$BHOME/dump")" -gt 100 ]
	grep -q bot-bottle-placeholder "$BHOME/dump"
	run grep -c -F -e "$TOKEN" -e SECRET "$BHOME/dump"
	assert_output 0
	run sh -c 'cat /proc/[0-9]*/cmdline 2>/dev/null | tr "\0" " "'
	assert_output --partial 'bb-egress serve'
	refute_output --partial "$TOKEN"
	run grep -rl -F -e "$TOKEN" -e SECRET "$XDG_STATE_HOME" "$XDG_RUNTIME_DIR"
	assert_failure
}

@test "the verify step: Codex refusing the provisioned auth.json stops the launch" {
	bad=$(python3 -c 'import base64,json; b=lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode(); print(json.dumps({"auth_mode":"chatgpt","tokens":{"access_token":b({"alg":"RS256"})+"."+b({"exp":1})+".sig"}}))')
	jq --arg bad "$bad" '(.provider.files[] | select(.path | endswith("/auth.json")) | .content) = $bad' plan.json >bad.json
	mv bad.json plan.json
	up 'echo started'
	assert_failure 1
	refute_output --partial started
	[ "${stderr##*$'\n'}" = "bb-up: error: agent provider provisioning: codex host credentials: dummy auth was copied into the guest, but Codex did not accept it: Not logged in (access_token is not the dummy JWT)" ]
	# without any codex on the agent's PATH, the same message
	rm "$BHOME/.local/bin/codex"
	up 'echo started'
	assert_failure 1
	[[ ${stderr##*$'\n'} == "bb-up: error: agent provider provisioning: codex host credentials: dummy auth was copied into the guest, but Codex did not accept it: "*codex* ]]
}

@test "pre-copy removes stale runtime DBs at depth 1 of the codex home, and nothing else" {
	c=$BHOME/.codex
	mkdir -p "$c/sub" "$c/dir.sqlite"
	touch "$c/state_5.sqlite" "$c/logs.sqlite-wal" "$c/x.codex-repair-1.bak" \
		"$c/keep.txt" "$c/sqlite" "$c/sub/deep.sqlite" "$c/dir.sqlite/f"
	up 'ls -A ~/.codex | sort'
	assert_success
	assert_output "$(printf '%s\n' auth.json config.toml dir.sqlite keep.txt sqlite sub)"
	[ -e "$c/sub/deep.sqlite" ]
}

@test "the host login is re-checked at launch: expired since the plan, no launch" {
	mkauth -10
	up 'echo started'
	assert_failure 1
	refute_output --partial started
	[ "${stderr##*$'\n'}" = 'bb-up: error: codex host credentials: host Codex access token is expired. Run `codex login --device-auth` on the host and restart the bottle.' ]
}

@test "a host login renewed since the plan: the new token is used, with a warning" {
	mkauth 7200
	TOKEN=$(jq -r .tokens.access_token "$HOME/.codex/auth.json")
	up 'curl -sS https://api.openai.com/v1/x'
	assert_success
	[ "$(jq -r .authorization <<<"$output")" = "Bearer <${#TOKEN} bytes>" ]
	[[ $stderr == *"bb-up: warning: codex host credentials: the host login changed since the plan"* ]]
}

@test "codex: the supervise MCP server is a [mcp_servers.supervise] url in config.toml, and it answers" {
	printf -- '---\nsupervise: true\nagent_provider: {template: codex, forward_host_credentials: true}\n---\n' \
		>"$HOME/.bot-bottle/bottles/dev.md"
	bb-manifest -a demo | bb-plan --slug "$SLUG" demo >plan.json 2>plan.err
	[ "$(jq -r .supervise.enabled plan.json)" = true ]
	up 'python3 -c "import tomllib,json,os; print(json.dumps(tomllib.load(open(os.environ[\"CODEX_HOME\"] + \"/config.toml\", \"rb\")), sort_keys=True))"; stat -c %a ~/.codex/config.toml; url=$(python3 -c "import tomllib,os; print(tomllib.load(open(os.environ[\"CODEX_HOME\"] + \"/config.toml\", \"rb\"))[\"mcp_servers\"][\"supervise\"][\"url\"])"); curl -sS --noproxy "*" "$url" -H "Content-Type: application/json" -H "Accept: application/json, text/event-stream" -d "{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"initialize\",\"params\":{\"protocolVersion\":\"2025-03-26\",\"capabilities\":{},\"clientInfo\":{\"name\":\"c\",\"version\":\"1\"}}}"'
	assert_success
	json_line=${lines[0]}
	[ "$(jq -c . <<<"$json_line")" = '{"mcp_servers":{"supervise":{"url":"http://127.0.0.1:9100/mcp"}},"projects":{"/home/node":{"trust_level":"trusted"}}}' ]
	assert_line --index 1 600
	[ "$(sed 1,2d <<<"$output" | jq -r .result.serverInfo.name)" = bb-supervise ]
}

# The provider's steps in a container of engine $1, as on ns: pre-copy
# clears the stale DBs, the verify step accepts the dummy auth.json, the
# token is injected outside; then a verify step that refuses stops the
# launch with the same message.  No container is left.
provision_on() {
	ENGINE=$1
	engine_require
	mkdir -p "$BHOME/.codex"
	touch "$BHOME/.codex/state_5.sqlite" "$BHOME/.codex/keep.txt"
	BACKEND=$1 up 'ls -A ~/.codex | sort; curl -sS https://api.openai.com/v1/x; echo; id -u'
	assert_success
	assert_equal "$(sed -n 1,3p <<<"$output")" "$(printf '%s\n' auth.json config.toml keep.txt)"
	[ "$(sed -n 4p <<<"$output" | jq -r .authorization)" = "Bearer <${#TOKEN} bytes>" ]
	assert_line --index 4 1000
	jq '(.provider.files[] | select(.path | endswith("/auth.json")) | .content) = "{}"' plan.json >bad.json
	mv bad.json plan.json
	BACKEND=$1 up 'echo started'
	assert_failure 1
	refute_output --partial started
	[[ ${stderr##*$'\n'} == "bb-up: error: agent provider provisioning: codex host credentials: dummy auth was copied into the guest, but Codex did not accept it: "* ]]
	[ -z "$(ct_containers "$SLUG")" ]
}

@test "podman: pre-copy and the verify step run in the container" {
	provision_on podman
}

@test "docker: pre-copy and the verify step run in the container" {
	provision_on docker
}
