#!/usr/bin/env bats
# bb-plan with Codex host-credential forwarding: every refusal of the host
# auth.json, and the dummy auth.json synthesised by allowlist.

load helper
bats_require_minimum_version 1.5.0

manifest() {
	jq "${1:-.}" <<'JSON'
{"version": 1, "home": "/home/op/.bot-bottle",
 "bottles": {"dev": {"source": "x", "extends": "", "env": {}, "supervise": false,
   "agent_provider": {"template": "codex", "dockerfile": "", "auth_token": "",
                      "forward_host_credentials": true},
   "egress": {"routes": []},
   "git-gate": {"user": {"name": "", "email": ""}, "repos": {}}}},
 "agents": {"demo": {"source": "y", "origin": "home", "bottle": "dev",
   "skills": [], "prompt": "", "git-gate": {"user": {"name": "", "email": ""}}}}}
JSON
}

plan() {
	local f=$1
	shift
	manifest "$f" >m.json
	bb-plan "$@" demo m.json
}

# A hostile host auth.json: secret-looking strings at every level, in the
# tokens, inside the JWT claims, in nested objects and arrays.  Every secret
# contains SECRET so a single grep finds any survivor.
# Arguments: exp offset from now (seconds), auth_mode (JSON), access token
# override (raw string, optional).
mkauth() {
	mkdir -p "${CODEX_HOME:-$HOME/.codex}"
	python3 - "$1" "$2" "${3-}" >"${CODEX_HOME:-$HOME/.codex}/auth.json" <<'PY'
import base64, json, sys, time
def b64(d): return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()
exp = int(time.time()) + int(sys.argv[1])
claims = {
  "exp": exp, "iat": 1700000000, "nbf": "SECRET_NBF", "auth_time": 1700000001,
  "aud": ["https://api.openai.com/v1", "SECRET_AUD_x9Z"], "scp": ["openid", "SECRET_SCP"],
  "amr": "SECRET_AMR", "sub": "SECRET_SUB_auth0|12345", "email": "SECRET_EMAIL@corp.example",
  "sid": "SECRET_SID", "jti": 12345, "flag": True, "nul": None,
  "https://api.openai.com/profile": {"email": "SECRET_PROFILE@corp.example", "email_verified": False},
  "https://api.openai.com/auth": {"chatgpt_plan_type": "pro", "chatgpt_account_id": "acct-0000-1111",
     "user_id": "SECRET_USER_ID", "localhost": True, "organizations": [{"id": "SECRET_ORG"}],
     "deep": {"deeper": {"key": "SECRET_DEEP"}}, "x-SECRET_AUTH_NAME": True},
  "nested": {"a": {"b": ["SECRET_NESTED_ARR", {"c": "SECRET_NESTED_OBJ"}]}},
  "https://corp.example/SECRET_CLAIM_NAME": 1,
}
access = b64({"alg": "RS256", "kid": "SECRET_KID"}) + "." + b64(claims) + ".SECRET_SIGNATURE_abc"
idc = dict(claims); idc["email"] = "SECRET_IDEMAIL@corp.example"
idt = b64({"alg": "RS256"}) + "." + b64(idc) + ".SECRET_ID_SIG"
mode = json.loads(sys.argv[2])
doc = {"OPENAI_API_KEY": "SECRET_sk-proj-KEY", "openai_api_key": "SECRET_LOWER_KEY",
  "last_refresh": "SECRET_REFRESH_TIME",
  "tokens": {"access_token": sys.argv[3] if sys.argv[3] else access, "id_token": idt,
             "refresh_token": "SECRET_rt_REFRESH", "session_token": "SECRET_SESSION",
             "account_id": "acct-0000-1111", "expiry": 12345, "ok": True,
             "extra": {"k": "SECRET_TOKENS_EXTRA", "l": ["SECRET_L"]}},
  "weird": {"a": [{"b": "SECRET_WEIRD"}]}, "count": 7, "enabled": False, "none": None,
  "SECRET-key.name": True}
# A secret can hide in a key's name as well as in its value.
doc[doc["tokens"]["access_token"]] = None
doc["tokens"]["rt.SECRET_TOKENS_NAME"] = False
if mode is not None: doc["auth_mode"] = mode
print(json.dumps(doc))
PY
}

# The synthesised auth.json in the plan, and each of its JWT payloads.
dummy() { jq -j '.provider.files[] | select(.path | endswith("/auth.json")) | .content' "$1"; }
payload() { # jwt -> claims JSON
	python3 -c 'import base64,sys; s=sys.argv[1].split(".")[1]; print(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode())' "$1"
}

@test "refusal: auth file missing (default path, and \$CODEX_HOME)" {
	run plan .
	assert_failure 1
	assert_output "bb-plan: error: codex host credentials: auth file missing at $HOME/.codex/auth.json. Run \`codex login --device-auth\` on the host or disable agent_provider.forward_host_credentials."
	CODEX_HOME='~/elsewhere' run plan .
	assert_failure 1
	assert_output --partial "auth file missing at $HOME/elsewhere/auth.json."
}

@test "refusal: not JSON, and the error quotes no token material" {
	mkdir -p .codex "$HOME/.codex"
	printf '{"auth_mode":"chatgpt","tokens":{"access_token":"eyJSECRETtruncated' >"$HOME/.codex/auth.json"
	run plan .
	assert_failure 1
	assert_output --regexp "^bb-plan: error: codex host credentials: could not read valid JSON at $HOME/.codex/auth.json: line 1 column [0-9]+: .+$"
	refute_output --partial SECRET
	refute_output --partial eyJ
	echo '[1]' >"$HOME/.codex/auth.json"
	run plan .
	assert_output "bb-plan: error: codex host credentials: $HOME/.codex/auth.json must contain a JSON object"
}

@test "refusal: only chatgpt and user auth modes are accepted" {
	for mode in '"api_key"' '"apikey"' '""' '3' 'null' '"ChatGPT"'; do
		mkauth 3600 "$mode"
		run plan .
		assert_failure 1
		assert_output "bb-plan: error: codex host credentials: host Codex auth is not user/device auth. Run \`codex login --device-auth\` on the host."
	done
	for mode in '"chatgpt"' '"user"'; do
		mkauth 3600 "$mode"
		run plan .
		assert_success
	done
}

@test "refusal: tokens missing or not an object" {
	mkdir -p "$HOME/.codex"
	echo '{"auth_mode":"chatgpt"}' >"$HOME/.codex/auth.json"
	run plan .
	assert_output "bb-plan: error: codex host credentials: $HOME/.codex/auth.json is missing tokens"
	echo '{"auth_mode":"chatgpt","tokens":"x"}' >"$HOME/.codex/auth.json"
	run plan .
	assert_failure 1
	assert_output "bb-plan: error: codex host credentials: $HOME/.codex/auth.json is missing tokens"
}

@test "refusal: access token missing or empty" {
	mkdir -p "$HOME/.codex"
	for t in '{}' '{"access_token":""}' '{"access_token":5}'; do
		echo "{\"auth_mode\":\"user\",\"tokens\":$t}" >"$HOME/.codex/auth.json"
		run plan .
		assert_failure 1
		assert_output "bb-plan: error: codex host credentials: $HOME/.codex/auth.json is missing tokens.access_token. Run \`codex login --device-auth\` on the host."
	done
}

@test "refusal: access token not a JWT with a numeric exp" {
	noexp=$(python3 -c 'import base64; print("eyJhbGciOiJub25lIn0." + base64.urlsafe_b64encode(b"{\"iat\":1}").rstrip(b"=").decode() + ".sig")')
	strexp=$(python3 -c 'import base64; print("eyJhbGciOiJub25lIn0." + base64.urlsafe_b64encode(b"{\"exp\":\"99999999999\"}").rstrip(b"=").decode() + ".sig")')
	for t in SECRET_opaque a.b.c "a.%%%.c" "$noexp" "$strexp" "x.$(printf '[1]' | base64).y" "a.b.c.d"; do
		mkauth 3600 '"chatgpt"' "$t"
		run plan .
		assert_failure 1
		assert_output "bb-plan: error: codex host credentials: tokens.access_token is not a JWT with exp"
	done
}

@test "refusal: expired access token" {
	mkauth -5 '"chatgpt"'
	run plan .
	assert_failure 1
	assert_output "bb-plan: error: codex host credentials: host Codex access token is expired. Run \`codex login --device-auth\` on the host and restart the bottle."
}

@test "a valid login warns with the remaining lifetime" {
	mkauth 7500 '"chatgpt"'
	run --separate-stderr plan .
	assert_success
	[[ $stderr =~ ^"bb-plan: warning: codex host access token expires in 2h0"[45]"m (at "[0-9-]+T[0-9:]+"Z); the bottle cannot refresh it" ]] || fail "$stderr"
}

@test "no original secret string survives anywhere in the plan, nor in the dummy's JWTs" {
	mkauth 3600 '"chatgpt"'
	plan . >p.json 2>err.txt
	run grep -c SECRET p.json err.txt
	assert_output "$(printf 'p.json:0\nerr.txt:0')"
	dummy p.json >auth.json
	for jwt in $(jq -r '.tokens.access_token, .tokens.id_token' auth.json); do
		run payload "$jwt"
		assert_success
		refute_output --partial SECRET
		run python3 -c 'import base64,sys; s=sys.argv[1].split(".")[0]; print(base64.urlsafe_b64decode(s + "=" * (-len(s) % 4)).decode())' "$jwt"
		refute_output --partial SECRET
	done
}

@test "dummy auth.json: top level and tokens by allowlist" {
	mkauth 3600 '"chatgpt"'
	plan . >p.json
	dummy p.json >auth.json
	run jq -r '.provider.files[] | select(.path | endswith("/auth.json")) | [.path, .mode, .owner] | @tsv' p.json
	assert_output "$(printf '/home/node/.codex/auth.json\t0600\tnode:node')"
	run jq -c 'del(.tokens.access_token, .tokens.id_token, .last_refresh)' auth.json
	assert_output '{"OPENAI_API_KEY":null,"auth_mode":"chatgpt","count":"bot-bottle-placeholder","enabled":false,"none":null,"openai_api_key":null,"tokens":{"account_id":"acct-0000-1111","expiry":"bot-bottle-placeholder","extra":{},"ok":true,"refresh_token":"bot-bottle-placeholder","session_token":"bot-bottle-placeholder"},"weird":{}}'
	run jq -r .last_refresh auth.json
	assert_output --regexp '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z$'
	# canonical JSON: 2-space indent, sorted keys, trailing newline
	jq -S --indent 2 . auth.json | diff - auth.json
}

@test "dummy JWTs: alg none, placeholder signature, the host exp, redacted claims" {
	mkauth 3600 '"chatgpt"'
	plan . >p.json
	dummy p.json >auth.json
	host_exp=$(jq -r .provider.provisioned_env.BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN.expires_at p.json)
	for which in access_token id_token; do
		jwt=$(jq -r ".tokens.$which" auth.json)
		[ "${jwt##*.}" = placeholder ] || fail "signature ${jwt##*.}"
		[ "${jwt%%.*}" = eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0 ] || fail "header ${jwt%%.*}"
		payload "$jwt" >claims.json
		run jq -c . claims.json
		assert_output "{\"amr\":[],\"aud\":[\"https://api.openai.com/v1\"],\"auth_time\":1700000001,\"email\":\"bot-bottle@example.invalid\",\"email_verified\":true,\"exp\":$host_exp,\"flag\":true,\"https://api.openai.com/auth\":{\"chatgpt_account_id\":\"acct-0000-1111\",\"chatgpt_plan_type\":\"pro\",\"chatgpt_user_id\":\"bot-bottle-placeholder\",\"deep\":{},\"localhost\":true,\"organizations\":[],\"user_id\":\"bot-bottle-placeholder\"},\"https://api.openai.com/profile\":{\"email\":\"bot-bottle@example.invalid\",\"email_verified\":false},\"iat\":1700000000,\"jti\":\"bot-bottle-placeholder\",\"nbf\":0,\"nested\":{},\"nul\":null,\"scp\":[\"openid\"],\"sid\":\"bot-bottle-placeholder\",\"sub\":\"bot-bottle-placeholder\"}"
	done
}

@test "dummy auth claim defaults when the host has none" {
	min=$(python3 -c 'import base64,json,time; b=lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode(); print(b({"alg":"none"}) + "." + b({"exp": int(time.time()) + 600}) + ".s")')
	mkdir -p "$HOME/.codex"
	echo "{\"auth_mode\":\"user\",\"tokens\":{\"access_token\":\"$min\"}}" >"$HOME/.codex/auth.json"
	plan . >p.json
	dummy p.json >auth.json
	run jq -c '.tokens.account_id' auth.json
	assert_output '"bot-bottle-placeholder"'
	payload "$(jq -r .tokens.access_token auth.json)" >claims.json
	run jq -c '.["https://api.openai.com/auth"], .["https://api.openai.com/profile"]' claims.json
	assert_output "$(printf '%s\n' '{"chatgpt_account_id":"bot-bottle-placeholder","chatgpt_plan_type":"unknown","chatgpt_user_id":"bot-bottle-placeholder","user_id":"bot-bottle-placeholder"}' '{"email":"bot-bottle@example.invalid","email_verified":true}')"
}

@test "forwarding: both codex hosts share slot 0, the plan names the source, never the token" {
	mkauth 3600 '"chatgpt"'
	token=$(jq -r .tokens.access_token "$HOME/.codex/auth.json")
	export GH_PAT=ghp_value
	run --separate-stderr plan '.bottles.dev.egress.routes = [{"host":"api.github.com","auth":{"scheme":"Bearer","token_ref":"GH_PAT"}}]'
	assert_success
	echo "$output" >p.json
	run jq -r '.egress.routes[] | [.host, .token_ref, .token_env, .tls_passthrough] | @tsv' p.json
	assert_output "$(printf '%s\n' \
		"api.openai.com	BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN	EGRESS_TOKEN_0	true" \
		"chatgpt.com	BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN	EGRESS_TOKEN_0	true" \
		"api.github.com	GH_PAT	EGRESS_TOKEN_1	false")"
	run jq -c '.provider.provisioned_env | map_values(del(.expires_at))' p.json
	assert_output "{\"BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN\":{\"path\":\"$HOME/.codex/auth.json\",\"source\":\"codex-host-auth\"}}"
	run grep -cF -- "${token:20:40}" p.json
	assert_output 0
	run jq -c '[.env.CODEX_HOME, (.provider.verify[0] | .argv, .user, .error), (.provider.pre_copy[0].argv | .[0:2])]' p.json
	assert_output '[{"origin":"provider","source":"literal","value":"/home/node/.codex"},["codex","login","status"],"node","codex host credentials: dummy auth was copied into the guest, but Codex did not accept it",["find","/home/node/.codex"]]'
}

@test "a literal CODEX_HOME in the bottle env relocates the codex home and its files" {
	mkauth 3600 '"chatgpt"'
	run --separate-stderr plan '.bottles.dev.env = {"CODEX_HOME": "/home/node/cx"}'
	assert_success
	run jq -c '[.env.CODEX_HOME.value, .provider.dirs[0].path, (.provider.files | map(.path))]' <<<"$output"
	assert_output '["/home/node/cx","/home/node/cx",["/home/node/cx/config.toml","/home/node/cx/auth.json"]]'
}
