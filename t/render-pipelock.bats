#!/usr/bin/env bats
# bb-render-pipelock: every render rule and refusal, --parse, round trip.

load helper
bats_require_minimum_version 1.5.0

# A plan with just what the renderer reads; $1 is a jq filter on it.
plan() {
	jq "${1:-.}" <<'JSON'
{"version": 1, "slug": "demo-abc12",
 "pipelock": {"api_allowlist": ["api.github.com", "api.anthropic.com", "supervise"],
              "passthrough_domains": ["db.internal", "api.anthropic.com"],
              "ssrf_ip_allowlist": ["10.0.0.0/8", "fd00::/8"],
              "ca_cert": "/state/pipelock/ca.pem", "ca_key": "/state/pipelock/ca.key"}}
JSON
}

# The config in JSON form; $1 a jq filter.
config() { plan | bb-render-pipelock | bb-render-pipelock --parse /dev/stdin | jq "${1:-.}"; }

EXPECTED='version: 1
mode: "strict"
enforce: true
api_allowlist:
- "api.anthropic.com"
- "api.github.com"
- "supervise"

seed_phrase_detection:
  enabled: false

forward_proxy:
  enabled: true

dlp:
  include_defaults: true
  scan_env: true

request_body_scanning:
  enabled: true
  action: "block"
  scan_headers: true
  header_mode: "sensitive"

response_scanning:
  enabled: true

tls_interception:
  enabled: true
  ca_cert: "/state/pipelock/ca.pem"
  ca_key: "/state/pipelock/ca.key"
  passthrough_domains:
  - "api.anthropic.com"
  - "db.internal"

ssrf:
  ip_allowlist:
  - "10.0.0.0/8"
  - "fd00::/8"

logging:
  include_allowed: true
  include_blocked: true

git_protection:
  pre_push_scan: true

sentry:
  enabled: false'

@test "renders every key of the contract, in order, lists sorted and quoted" {
	plan >p.json
	run bb-render-pipelock p.json
	assert_success
	assert_output "$EXPECTED"
	plan | bb-render-pipelock >stdin.yaml
	bb-render-pipelock p.json | diff - stdin.yaml
}

@test "the output is one document whose types are what pipelock expects" {
	plan | bb-render-pipelock >c.yaml
	run python3 -c 'import sys,yaml; d=list(yaml.safe_load_all(open("c.yaml"))); assert len(d)==1, d; d=d[0]
assert d["version"] == 1 and type(d["version"]) is int
assert d["enforce"] is True and d["forward_proxy"]["enabled"] is True and d["sentry"]["enabled"] is False
for s,k in [("dlp","scan_env"),("request_body_scanning","enabled"),("request_body_scanning","scan_headers"),("response_scanning","enabled"),("git_protection","pre_push_scan"),("logging","include_allowed"),("logging","include_blocked"),("tls_interception","enabled")]: assert type(d[s][k]) is bool, (s,k)
print("ok")'
	assert_success
	assert_output ok
}

@test "ssrf and passthrough_domains are omitted when empty; duplicates collapse" {
	run sh -c "$(declare -f plan); plan '.pipelock.ssrf_ip_allowlist = [] | .pipelock.passthrough_domains = [] | .pipelock.api_allowlist = [\"b.example\", \"a.example\", \"b.example\"]' | bb-render-pipelock"
	assert_success
	refute_output --partial ssrf
	refute_output --partial passthrough_domains
	assert_output --partial 'api_allowlist:
- "a.example"
- "b.example"

seed_phrase_detection:'
}

@test "-o writes the file with mode 0600" {
	plan >p.json
	umask 022
	run bb-render-pipelock -o out.yaml p.json
	assert_success
	assert_output ''
	[ "$(stat -c %a out.yaml)" = 600 ]
	diff <(printf '%s\n' "$EXPECTED") out.yaml
}

@test "an empty allowlist fails at render time (strict mode would not start)" {
	plan '.pipelock.api_allowlist = []' >p.json
	run bb-render-pipelock -o out.yaml p.json
	assert_failure 1
	assert_output "bb-render-pipelock: error: api_allowlist: must not be empty: pipelock refuses to start (strict mode requires at least one domain in api_allowlist)"
	[ ! -e out.yaml ]
}

@test "unknown keys are refused, all of them at once" {
	config '.bogus = 1 | .dlp.extra = true | .sentry.dsn = "https://x" | .tls_interception.cert_ttl = "24h" | .trusted_domains = ["x"]' >c.json
	run bb-render-pipelock c.json
	assert_failure 1
	assert_output "$(printf '%s\n' \
		'bb-render-pipelock: error: bogus: is unsupported' \
		'bb-render-pipelock: error: trusted_domains: is unsupported' \
		'bb-render-pipelock: error: dlp.extra: is unsupported' \
		'bb-render-pipelock: error: tls_interception.cert_ttl: is unsupported' \
		'bb-render-pipelock: error: sentry.dsn: is unsupported')"
}

@test "type errors name section.key and the expected type" {
	config '.version = true | .mode = 1 | .api_allowlist = ["a", 2] | .dlp.scan_env = "yes" | .forward_proxy = true | .request_body_scanning.action = false | .tls_interception.passthrough_domains = "x"' >c.json
	run bb-render-pipelock c.json
	assert_failure 1
	assert_output "$(printf '%s\n' \
		'bb-render-pipelock: error: version: must be an integer' \
		'bb-render-pipelock: error: mode: must be a string' \
		'bb-render-pipelock: error: api_allowlist: must be a list of strings' \
		'bb-render-pipelock: error: forward_proxy: must be a mapping' \
		'bb-render-pipelock: error: dlp.scan_env: must be a boolean' \
		'bb-render-pipelock: error: request_body_scanning.action: must be a string' \
		'bb-render-pipelock: error: tls_interception.passthrough_domains: must be a list of strings')"
}

@test "settings that would weaken pipelock are refused" {
	config '.mode = "balanced" | .enforce = false | .forward_proxy.enabled = false | .dlp.scan_env = false | .request_body_scanning.action = "warn" | .request_body_scanning.enabled = false | .tls_interception.enabled = false | .sentry.enabled = true' >c.json
	run bb-render-pipelock c.json
	assert_failure 1
	assert_output "$(printf '%s\n' \
		'bb-render-pipelock: error: mode: must be "strict" (was "balanced")' \
		'bb-render-pipelock: error: enforce: must be true (blocks must block)' \
		'bb-render-pipelock: error: forward_proxy.enabled: must be true (HTTPS_PROXY clients need it)' \
		'bb-render-pipelock: error: dlp.scan_env: must be true (DLP may not be weakened)' \
		'bb-render-pipelock: error: request_body_scanning.enabled: must be true (DLP may not be weakened)' \
		'bb-render-pipelock: error: request_body_scanning.action: must be "block" (was "warn")' \
		'bb-render-pipelock: error: tls_interception.enabled: must be true (pipelock must see inside TLS)' \
		'bb-render-pipelock: error: sentry.enabled: must be false (pipelock must not report to Sentry)')"
}

@test "CIDRs must be canonical and not /0; hosts bare; CA paths absolute" {
	plan '.pipelock.ssrf_ip_allowlist = ["10.0.0.1/8", "0.0.0.0/0", "::/0", "10.1.2.3", "nope"] | .pipelock.api_allowlist = ["*.example.com", "Up.example", "ok.example"] | .pipelock.ca_key = "ca.key"' >p.json
	run bb-render-pipelock p.json
	assert_failure 1
	assert_output "$(printf '%s\n' \
		"bb-render-pipelock: error: api_allowlist[0]: '*.example.com' must be an exact host name; wildcards are not supported" \
		"bb-render-pipelock: error: api_allowlist[1]: 'Up.example' is not in canonical form; write 'up.example'" \
		"bb-render-pipelock: error: tls_interception.ca_key: must be an absolute path (was 'ca.key')" \
		"bb-render-pipelock: error: ssrf.ip_allowlist[0]: '10.0.0.1/8' is not a canonical CIDR; write '10.0.0.0/8'" \
		"bb-render-pipelock: error: ssrf.ip_allowlist[1]: must be an IP address or CIDR (was '0.0.0.0/0'): a /0 network allows every address; list the networks you need" \
		"bb-render-pipelock: error: ssrf.ip_allowlist[2]: must be an IP address or CIDR (was '::/0'): a /0 network allows every address; list the networks you need" \
		"bb-render-pipelock: error: ssrf.ip_allowlist[3]: '10.1.2.3' is not a canonical CIDR; write '10.1.2.3/32'" \
		"bb-render-pipelock: error: ssrf.ip_allowlist[4]: must be an IP address or CIDR (was 'nope'): not an IPv4 or IPv6 address")"
}

@test "input that is not a plan is refused" {
	run sh -c 'echo "{\"version\": 1}" | bb-render-pipelock'
	assert_failure 1
	assert_output "bb-render-pipelock: error: pipelock: the plan has no pipelock.api_allowlist array"
	run sh -c 'echo "[" | bb-render-pipelock'
	assert_failure 1
	assert_output --partial "bb-render-pipelock: error: <stdin>: line"
	run sh -c 'echo "{\"version\": 2}" | bb-render-pipelock'
	assert_failure 1
	assert_output "bb-render-pipelock: error: version: input is not a version 1 plan"
}

@test "round trip: render -> parse -> render is byte-identical" {
	plan | bb-render-pipelock >one.yaml
	run bb-render-pipelock --parse one.yaml
	assert_success
	echo "$output" >one.json
	jq -e '.version == 1 and .sentry.enabled == false and (.api_allowlist | length) == 3' one.json
	bb-render-pipelock one.json >two.yaml
	cmp one.yaml two.yaml
	bb-render-pipelock --parse two.yaml | cmp - one.json
}

@test "--parse of an older config: optional fields may be absent; re-rendering fills ours" {
	cat >old.yaml <<'YAML'
version: 1
mode: strict
enforce: true
api_allowlist:
  - api.github.com
forward_proxy:
  enabled: true
dlp:
  include_defaults: true
  scan_env: true
request_body_scanning:
  action: block
tls_interception:
  enabled: true
  ca_cert: /s/ca.pem
  ca_key: /s/ca.key
YAML
	run bb-render-pipelock --parse old.yaml
	assert_success
	echo "$output" >old.json
	run jq -c .request_body_scanning old.json
	assert_output '{"action":"block"}'
	bb-render-pipelock old.json >new.yaml
	run grep -c 'sentry:\|scan_headers: true\|header_mode: "sensitive"\|response_scanning:' new.yaml
	assert_output 4
	bb-render-pipelock --parse new.yaml | bb-render-pipelock | cmp - new.yaml
}

@test "--parse refuses unknown keys, missing required keys, bad types, a second document" {
	plan | bb-render-pipelock >good.yaml
	{ cat good.yaml; printf '\nkill_switch:\n  enabled: true\n'; } >extra.yaml
	run bb-render-pipelock --parse extra.yaml
	assert_failure 1
	assert_output "bb-render-pipelock: error: kill_switch: is unsupported"
	grep -v '^  action:' good.yaml | sed 's/^version: 1/version: "1"/' >bad.yaml
	run bb-render-pipelock --parse bad.yaml
	assert_failure 1
	assert_output "$(printf '%s\n' \
		'bb-render-pipelock: error: version: must be an integer' \
		'bb-render-pipelock: error: request_body_scanning.action: is required')"
	{ cat good.yaml; printf -- '---\nversion: 1\n'; } >two.yaml
	run bb-render-pipelock --parse two.yaml
	assert_failure 1
	assert_output --partial "bb-render-pipelock: error: two.yaml"
	printf 'version: [1\n' >broken.yaml
	run bb-render-pipelock --parse broken.yaml
	assert_failure 1
	assert_output --partial "bb-render-pipelock: error: broken.yaml: line"
	run bb-render-pipelock --parse missing.yaml
	assert_failure 1
	assert_output --partial "missing.yaml"
}

@test "an approval edit: parse, replace the allowlist, render" {
	plan | bb-render-pipelock >live.yaml
	bb-render-pipelock --parse live.yaml | jq '.api_allowlist = ["new.example", "api.github.com"]' >edited.json
	run bb-render-pipelock edited.json
	assert_success
	assert_output --partial 'api_allowlist:
- "api.github.com"
- "new.example"
'
}

@test "usage" {
	run bb-render-pipelock -h
	assert_success
	assert_line --index 0 "usage: bb-render-pipelock [-o file] [file]"
	run bb-render-pipelock a b
	assert_failure 2
	run bb-render-pipelock --parse x -o y
	assert_failure 2
	run bb-render-pipelock --bogus
	assert_failure 2
}
