#!/usr/bin/env bats
# bb-manifest: egress routes (host, path_allowlist, auth, role, pipelock,
# uniqueness).

load manifest-helper

B=bottles/dev.md
R='egress.routes[0]'

routes() { # YAML flow list of routes
	bottle dev <<<"egress: {routes: $1}"
}

route_json() {
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -c ".bottles.dev.egress.routes[${1:-0}]"
}

@test "egress: an object with only routes, an array" {
	bottle dev <<<'egress: []'
	fails_at $B egress 'must be an object (was array)'
	bottle dev <<<'egress: {route: [], hosts: []}'
	fails_at $B egress "unknown keys 'hosts', 'route' (did you mean 'routes'?); only 'routes' is accepted"
	bottle dev <<<'egress: {routes: {host: x}}'
	fails_at $B egress.routes 'must be an array (was object)'
	bottle dev <<<'egress: {}'
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.bottles.dev.egress == {"routes": []}'
}

@test "route: an object of known keys" {
	routes '[example.org]'
	fails_at $B "$R" 'must be an object (was string)'
	routes '[{host: a.example, hots: b, path: /x}]'
	fails_at $B "$R" "unknown keys 'hots' (did you mean 'host'?), 'path' (did you mean 'path_allowlist'?); accepted keys are 'host', 'path_allowlist', 'auth', 'role', 'pipelock'"
	routes '[{host: a.example}, {host: b.example, headers: {}}]'
	fails_at $B 'egress.routes[1]' "unknown key 'headers'; accepted keys are 'host', 'path_allowlist', 'auth', 'role', 'pipelock'"
}

@test "route.host: required non-empty string" {
	routes '[{path_allowlist: [/]}]'
	fails_at $B "$R" "missing required string field 'host'"
	routes '[{host: ""}]'
	fails_at $B "$R.host" "must be a non-empty string (was '')"
	routes '[{host: 443}]'
	fails_at $B "$R.host" 'must be a non-empty string (was number)'
}

@test "route.host: a bare DNS name or IP literal" {
	for case in \
		'https://api.example.com|must be a bare host name, without a scheme' \
		'api.example.com/v1|must be a bare host name, without a path' \
		'api.example.com:443|must be a bare host name, without a port' \
		'*.example.com|must be an exact host name; wildcards are not supported' \
		'api.example.com.|must not end with a dot' \
		'[::1]|must be written without brackets (a bare IPv6 address)' \
		'api_x.example.com|is not a valid DNS name or IP address' \
		'-api.example.com|is not a valid DNS name or IP address' \
		'api-.example.com|is not a valid DNS name or IP address' \
		'a..example.com|is not a valid DNS name or IP address' \
		'10.0.0|is not a valid DNS name or IP address' \
		'010.0.0.1|is not a valid DNS name or IP address' \
		'256.1.1.1|is not a valid DNS name or IP address' \
		'exa mple.com|is not a valid DNS name or IP address' \
		'ünï.example|is not a valid DNS name or IP address'; do
		host=${case%%|*} why=${case#*|}
		routes "[{host: '$host'}]"
		fails_at $B "$R.host" "'$host' $why"
	done
	routes "[{host: '$(printf 'a%.0s' $(seq 64)).example'}]"
	run bb-manifest
	assert_failure 1
}

@test "route.host: canonical form, lower case; IP literals" {
	routes '[{host: API.GitHub.COM}, {host: 127.0.0.1}, {host: "2001:DB8:0:0::1"}, {host: localhost}, {host: xn--nxasmq6b.example}]'
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '[.bottles.dev.egress.routes[].host] == ["api.github.com", "127.0.0.1", "2001:db8::1", "localhost", "xn--nxasmq6b.example"]'
}

@test "route.host: unique, compared case-insensitively" {
	routes '[{host: a.example}, {host: b.example}, {host: A.Example}]'
	fails_at $B 'egress.routes[2].host' "bottle 'dev' egress.routes has duplicate host 'a.example' (also routes[0]); each host must be unique on the proxy."
}

@test "route: with no auth and no filter, just the host and defaults" {
	routes '[{host: example.org}]'
	[ "$(route_json)" = '{"host":"example.org","path_allowlist":[],"pipelock":{"ssrf_ip_allowlist":[],"tls_passthrough":false}}' ]
}

@test "path_allowlist: absolute prefixes, kept as written" {
	routes '[{host: a.example, path_allowlist: /api}]'
	fails_at $B "$R.path_allowlist" 'must be an array (was string)'
	routes '[{host: a.example, path_allowlist: [/a, 1]}]'
	fails_at $B "$R.path_allowlist[1]" 'must be a string (was number)'
	for case in \
		'api/|must be an absolute path prefix starting with '"'/'" \
		'|must be an absolute path prefix starting with '"'/'" \
		'/a/../etc|may not hold '"'.' or '..'"' segments' \
		'/a/./b|may not hold '"'.' or '..'"' segments' \
		'/a/..|may not hold '"'.' or '..'"' segments' \
		'/a//b|may not hold an empty segment ('"'//'"')' \
		'/a?x=1|may not hold spaces, control characters, '"'?'"' or '"'#'"'' \
		'/a#frag|may not hold spaces, control characters, '"'?'"' or '"'#'"'' \
		'/a b|may not hold spaces, control characters, '"'?'"' or '"'#'"'' \
		'/a%2|has a '"'%'"' that does not start an escape %XX' \
		'/a%zz|has a '"'%'"' that does not start an escape %XX'; do
		p=${case%%|*} why=${case#*|}
		routes "[{host: a.example, path_allowlist: ['$p']}]"
		fails_at $B "$R.path_allowlist[0]" "'$p' $why"
	done
	routes '[{host: registry.npmjs.org, path_allowlist: [/, /@scope%2fpkg, /api/accounts/deviceauth/, /a.b/..c/]}]'
	[ "$(route_json | jq -c .path_allowlist)" = '["/","/@scope%2fpkg","/api/accounts/deviceauth/","/a.b/..c/"]' ]
}

@test "auth: both scheme and token_ref, or no auth key" {
	routes '[{host: a.example, auth: Bearer}]'
	fails_at $B "$R.auth" 'must be an object (was string)'
	routes '[{host: a.example, auth: {}}]'
	fails_at $B "$R.auth" "is empty ({}); omit the 'auth' key entirely if this route is unauthenticated. Otherwise both 'scheme' and 'token_ref' are required."
	routes '[{host: a.example, auth: {scheme: Bearer, token_ref: T, token: x}}]'
	fails_at $B "$R.auth" "unknown key 'token' (did you mean 'token_ref'?); only 'scheme' and 'token_ref' are accepted"
	routes '[{host: a.example, auth: {token_ref: T}}]'
	fails_at $B "$R.auth.scheme" "is required when 'auth' is set (non-empty string)"
	routes '[{host: a.example, auth: {scheme: "", token_ref: T}}]'
	fails_at $B "$R.auth.scheme" "is required when 'auth' is set (non-empty string)"
	routes '[{host: a.example, auth: {scheme: bearer, token_ref: T}}]'
	fails_at $B "$R.auth.scheme" "'bearer' is not one of Bearer, token"
	routes '[{host: a.example, auth: {scheme: Basic, token_ref: T}}]'
	fails_at $B "$R.auth.scheme" "'Basic' is not one of Bearer, token"
	routes '[{host: a.example, auth: {scheme: Bearer}}]'
	fails_at $B "$R.auth.token_ref" "is required when 'auth' is set (name of the host env var holding the token value)"
	routes '[{host: a.example, auth: {scheme: Bearer, token_ref: 5}}]'
	fails_at $B "$R.auth.token_ref" "is required when 'auth' is set (name of the host env var holding the token value)"
	routes '[{host: a.example, auth: {scheme: Bearer, token_ref: ghp_abc-123}}]'
	fails_at $B "$R.auth.token_ref" "'ghp_abc-123' is not a valid environment variable name ([A-Za-z_][A-Za-z0-9_]*)"
}

@test "auth: Bearer and token (Gitea) schemes in the output" {
	routes '[{host: api.github.com, auth: {scheme: Bearer, token_ref: GH_PAT}}, {host: gitea.example, auth: {scheme: token, token_ref: GITEA}}]'
	[ "$(route_json 0 | jq -c .auth)" = '{"scheme":"Bearer","token_ref":"GH_PAT"}' ]
	[ "$(route_json 1 | jq -c .auth)" = '{"scheme":"token","token_ref":"GITEA"}' ]
}

@test "role: reserved; any non-empty value is rejected" {
	routes '[{host: a.example, role: provider}]'
	fails_at $B "$R.role" "'provider' is not accepted; the 'role' field is reserved for future use"
	routes '[{host: a.example, role: [x]}]'
	fails_at $B "$R.role" "'x' is not accepted; the 'role' field is reserved for future use"
	routes '[{host: a.example, role: [1]}]'
	fails_at $B "$R.role" 'items must be strings (got number)'
	routes '[{host: a.example, role: {a: b}}]'
	fails_at $B "$R.role" 'must be a string or a list of strings (was object)'
	routes '[{host: a.example, role: ""}, {host: b.example, role: []}]'
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '[.bottles.dev.egress.routes[] | has("role")] == [false, false]'
}

@test "pipelock: tls_passthrough and ssrf_ip_allowlist only" {
	routes '[{host: a.example, pipelock: true}]'
	fails_at $B "$R.pipelock" 'must be an object (was boolean)'
	routes '[{host: a.example, pipelock: {tls_passthru: true, dlp: false}}]'
	fails_at $B "$R.pipelock" "unknown keys 'dlp', 'tls_passthru' (did you mean 'tls_passthrough'?); only 'tls_passthrough' and 'ssrf_ip_allowlist' are accepted"
	routes '[{host: a.example, pipelock: {tls_passthrough: "yes"}}]'
	fails_at $B "$R.pipelock.tls_passthrough" 'must be a boolean (was string)'
	routes '[{host: a.example, pipelock: {ssrf_ip_allowlist: 10.0.0.0/8}}]'
	fails_at $B "$R.pipelock.ssrf_ip_allowlist" 'must be an array (was string)'
	routes '[{host: a.example, pipelock: {ssrf_ip_allowlist: [""]}}]'
	fails_at $B "$R.pipelock.ssrf_ip_allowlist[0]" "must be a non-empty string (was '')"
	routes '[{host: a.example, pipelock: {ssrf_ip_allowlist: [10]}}]'
	fails_at $B "$R.pipelock.ssrf_ip_allowlist[0]" 'must be a non-empty string (was number)'
}

@test "pipelock.ssrf_ip_allowlist: IPs and CIDRs, canonical; no /0" {
	for case in \
		'10.0.0.0/33|prefix length must be 0 to 32' \
		'fd00::/129|prefix length must be 0 to 128' \
		'10.0.0.0/08|prefix length must be 0 to 32' \
		'10.0.0.0/|prefix length must be 0 to 32' \
		'10.0.0.0/-1|prefix length must be 0 to 32' \
		'internal.example|not an IPv4 or IPv6 address' \
		'10.0.0|not an IPv4 or IPv6 address' \
		'0.0.0.0/0|a /0 network allows every address; list the networks you need' \
		'::/0|a /0 network allows every address; list the networks you need' \
		'192.168.1.1/0|a /0 network allows every address; list the networks you need'; do
		ip=${case%%|*} why=${case#*|}
		routes "[{host: a.example, pipelock: {ssrf_ip_allowlist: ['$ip']}}]"
		fails_at $B "$R.pipelock.ssrf_ip_allowlist[0]" "must be an IP address or CIDR (was '$ip'): $why"
	done
	routes '[{host: a.example, pipelock: {tls_passthrough: true, ssrf_ip_allowlist: [10.0.0.1/8, 192.168.1.77/24, 172.16.5.4, "FD00::1/8", "::1", 10.1.2.3/32]}}]'
	[ "$(route_json | jq -c .pipelock)" = '{"ssrf_ip_allowlist":["10.0.0.0/8","192.168.1.0/24","172.16.5.4/32","fd00::/8","::1/128","10.1.2.3/32"],"tls_passthrough":true}' ]
}
