#!/usr/bin/env bats
# bb-manifest: git-gate (user, repos, ssh URLs, identity, host_key) on
# bottles, and git-gate.user on agents.

load manifest-helper

B=bottles/dev.md
N="git-gate.repos['app']"

repo() { # YAML flow mapping of repos.app
	bottle dev <<<"git-gate: {repos: {app: $1}}"
}

good() { echo "{url: '$1', identity: ~/.ssh/id_test, host_key: '$HOST_KEY'}"; }

@test "git-gate: an object of user and repos" {
	bottle dev <<<'git-gate: []'
	fails_at $B git-gate 'must be an object (was array)'
	bottle dev <<<'git-gate: {remotes: {}, usr: {}}'
	fails_at $B git-gate "unknown keys 'remotes', 'usr' (did you mean 'user'?); allowed: user, repos"
}

@test "git-gate.user: name and email strings, at least one non-empty" {
	bottle dev <<<'git-gate: {user: Me}'
	fails_at $B git-gate.user 'must be an object (was string)'
	bottle dev <<<'git-gate: {user: {name: a, mail: b}}'
	fails_at $B git-gate.user "unknown key 'mail' (did you mean 'email'?); allowed: name, email"
	bottle dev <<<'git-gate: {user: {name: 1}}'
	fails_at $B git-gate.user.name 'must be a string (was number)'
	bottle dev <<<'git-gate: {user: {email: [a]}}'
	fails_at $B git-gate.user.email 'must be a string (was array)'
	bottle dev <<<'git-gate: {user: {}}'
	fails_at $B git-gate.user "bottle 'dev' git-gate.user is set but neither name nor email is non-empty; remove the block or fill at least one field."
	bottle dev <<<'git-gate: {user: {name: "", email: ""}}'
	fails_at $B git-gate.user "bottle 'dev' git-gate.user is set but neither name nor email is non-empty; remove the block or fill at least one field."
	bottle dev <<<'git-gate: {user: {name: "a\n[core]\n\tsshCommand = x"}}'
	fails_at $B git-gate.user.name 'must not contain control characters'
	bottle dev <<<'git-gate: {user: {email: me@example.com}}'
	run bb-manifest
	assert_success
	json_eq "$(printf '%s\n' "$output" | jq '.bottles.dev["git-gate"]')" '{"user": {"name": "", "email": "me@example.com"}, "repos": {}}'
}

@test "git-gate.user on agents: same rules, the agent's own subject" {
	bottle dev </dev/null
	agent demo <<<$'bottle: dev\ngit-gate: {user: {}}'
	fails_at agents/demo.md git-gate.user "agent 'demo' git-gate.user is set but neither name nor email is non-empty; remove the block or fill at least one field."
	agent demo <<<$'bottle: dev\ngit-gate: {user: {nam: x}}'
	fails_at agents/demo.md git-gate.user "unknown key 'nam' (did you mean 'name'?); allowed: name, email"
	agent demo <<<$'bottle: dev\ngit-gate: []'
	fails_at agents/demo.md git-gate 'must be an object (was array)'
	agent demo <<<$'bottle: dev\ngit-gate: {user: {name: A}, repos: {}}'
	fails_at agents/demo.md git-gate.repos "agent 'demo' git-gate.repos is not allowed at the agent level; only git-gate.user (name/email) may be set on an agent. git-gate.repos is bottle-only (it carries credentials and host trust)."
	agent demo <<<$'bottle: dev\ngit-gate: {hooks: x}'
	fails_at agents/demo.md git-gate.hooks "agent 'demo' git-gate.hooks is not allowed at the agent level; only git-gate.user (name/email) may be set on an agent. git-gate.repos is bottle-only (it carries credentials and host trust)."
	agent demo <<<$'bottle: dev\ngit-gate: {user: {name: Agent A}}'
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e '.agents.demo["git-gate"].user == {"name": "Agent A", "email": ""}'
}

@test "repos: an object keyed by valid, distinct names" {
	bottle dev <<<'git-gate: {repos: [app]}'
	fails_at $B git-gate.repos 'must be an object (was array)'
	bottle dev <<<"git-gate: {repos: {'': $(good ssh://git@h/x.git)}}"
	fails_at $B git-gate.repos "bottle 'dev' git-gate.repos has an empty key"
	for bad in 'my app' 'a/b' '..' '.hidden' '-x' 'ü'; do
		bottle dev <<<"git-gate: {repos: {'$bad': $(good ssh://git@h/x.git)}}"
		fails_at $B git-gate.repos "bottle 'dev' git-gate.repos name '$bad' is invalid; allowed characters: A-Z a-z 0-9 . _ - (starting with a letter or digit)"
	done
	bottle dev <<<"git-gate: {repos: {app: $(good ssh://git@h/a.git), App: $(good ssh://git@h/b.git)}}"
	fails_at $B git-gate.repos "bottle 'dev' git-gate.repos has duplicate name 'app' (also 'App', differing only in case); each entry maps to a distinct bare repo on the gate."
	bottle dev <<<"git-gate: {repos: {app: $(good ssh://git@h/a.git), app: $(good ssh://git@h/b.git)}}"
	fails_at $B 'line 2' "duplicate key 'app'"
}

@test "repo: an object of url, identity and host_key" {
	repo '"ssh://git@h/x.git"'
	fails_at $B "$N" 'must be an object (was string)'
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: '$HOST_KEY', ExtraHosts: [x], branch: main}"
	fails_at $B "$N" "unknown keys 'ExtraHosts', 'branch'; allowed: url, identity, host_key"
	repo '{identity: ~/.ssh/id_test}'
	fails_at $B "$N" "missing required string field 'url'"
	repo '{url: 3, identity: ~/.ssh/id_test}'
	fails_at $B "$N" "missing required string field 'url'"
	repo '{url: "ssh://git@h/x.git"}'
	fails_at $B "$N" "missing required string field 'identity'"
	repo '{url: "ssh://git@h/x.git", identity: ~/.ssh/id_test}'
	fails_at $B "$N" "missing required string field 'host_key' (the upstream's OpenSSH host key line, e.g. from ssh-keyscan; the gate refuses every fetch and push without it)"
}

@test "repo.url: ssh://USER@HOST[:PORT]/PATH and every error" {
	for case in \
		'https://github.com/o/r.git|must be an ssh:// URL (was '"'https://github.com/o/r.git'"')' \
		'git@github.com:o/r.git|must be an ssh:// URL (was '"'git@github.com:o/r.git'"')' \
		'ssh://github.com/o/r.git|must include a user (e.g. ssh://git@host/path.git); was '"'ssh://github.com/o/r.git'"'' \
		'ssh://@github.com/o/r.git|user is empty in '"'ssh://@github.com/o/r.git'"'' \
		'ssh://git@github.com|must include a path (e.g. ssh://git@host/path.git); was '"'ssh://git@github.com'"'' \
		'ssh://git@github.com/|path is empty in '"'ssh://git@github.com/'"'' \
		'ssh://git@github.com:ssh/o/r.git|port must be numeric in '"'ssh://git@github.com:ssh/o/r.git'"'' \
		'ssh://git@github.com:/o/r.git|port must be numeric in '"'ssh://git@github.com:/o/r.git'"'' \
		'ssh://git@github.com:0/o/r.git|port must be between 1 and 65535 in '"'ssh://git@github.com:0/o/r.git'"'' \
		'ssh://git@github.com:65536/o/r.git|port must be between 1 and 65535 in '"'ssh://git@github.com:65536/o/r.git'"'' \
		'ssh://git@/o/r.git|host is empty in '"'ssh://git@/o/r.git'"'' \
		'ssh://git@:22/o/r.git|host is empty in '"'ssh://git@:22/o/r.git'"'' \
		'ssh://git@-oProxyCommand=x/o/r.git|host '"'-oProxyCommand=x'"' is not a valid DNS name or IP address in '"'ssh://git@-oProxyCommand=x/o/r.git'"'' \
		'ssh://-oProxyCommand@h/o/r.git|user '"'-oProxyCommand'"' may hold only A-Z a-z 0-9 . _ - (not first) in '"'ssh://-oProxyCommand@h/o/r.git'"'' \
		'ssh://git@[::1/o/r.git|host is not a valid IPv6 literal in '"'ssh://git@[::1/o/r.git'"'' \
		'ssh://git@h/o r.git|path may not hold spaces, control characters, '"'?' or '#'"' in '"'ssh://git@h/o r.git'"''; do
		url=${case%%|*} why=${case#*|}
		repo "$(good "$url")"
		fails_at $B "$N.url" "$why"
	done
}

@test "repo.url: parsed parts, port 22 by default, IP literals" {
	bottle dev <<-EOF
	git-gate:
	  repos:
	    a: $(good ssh://git@GitHub.com/org/a.git)
	    b: $(good ssh://forge@10.1.2.3:2222/srv/git/b.git)
	    c: $(good 'ssh://git@[::1]:22022/c')
	    d: $(good 'ssh://git@[fd00::7]/~user/d.git')
	EOF
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -c '.bottles.dev["git-gate"].repos | to_entries[] | [.key, .value.user, .value.host, .value.port, .value.path, .value.url]' >got
	cat >want <<-'EOF'
	["a","git","github.com",22,"/org/a.git","ssh://git@GitHub.com/org/a.git"]
	["b","forge","10.1.2.3",2222,"/srv/git/b.git","ssh://forge@10.1.2.3:2222/srv/git/b.git"]
	["c","git","::1",22022,"/c","ssh://git@[::1]:22022/c"]
	["d","git","fd00::7",22,"/~user/d.git","ssh://git@[fd00::7]/~user/d.git"]
	EOF
	diff -u want got
}

@test "repo.identity: an existing file; ~ and relative paths resolved" {
	repo "{url: 'ssh://git@h/x.git', identity: 7, host_key: '$HOST_KEY'}"
	fails_at $B "$N" "missing required string field 'identity'"
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/missing, host_key: '$HOST_KEY'}"
	fails_at $B "$N.identity" "'~/.ssh/missing' does not exist (looked for '$HOME/.ssh/missing'); it must be the SSH private key the gate uses upstream"
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh, host_key: '$HOST_KEY'}"
	fails_at $B "$N.identity" "'~/.ssh' is not a regular file"
	repo "{url: 'ssh://git@h/x.git', identity: ~git/.ssh/id, host_key: '$HOST_KEY'}"
	fails_at $B "$N.identity" "'~git/.ssh/id': ~user paths are not supported; write ~/ or an absolute path"
	 mkdir "$M/keys" && : >"$M/keys/deploy_key"
	repo "{url: 'ssh://git@h/x.git', identity: ../keys/deploy_key, host_key: '$HOST_KEY'}"
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -e --arg p "$M/bottles/../keys/deploy_key" '.bottles.dev["git-gate"].repos.app.identity == $p'
	repo "{url: 'ssh://git@h/x.git', identity: '$HOME/.ssh/id_test', host_key: '$HOST_KEY'}"
	run bb-manifest
	printf '%s\n' "$output" | jq -e --arg p "$HOME/.ssh/id_test" '.bottles.dev["git-gate"].repos.app.identity == $p'
}

@test "repo.host_key: one OpenSSH public key line of a known type" {
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: [x]}"
	fails_at $B "$N.host_key" 'must be a string (was array)'
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: 'h.example $HOST_KEY'}"
	fails_at $B "$N.host_key" 'must start with the key type; drop the leading host name of ssh-keyscan output'
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: 'ssh-dss AAAA'}"
	fails_at $B "$N.host_key" 'must be an OpenSSH public key line '"'TYPE BASE64'"' with TYPE one of ssh-ed25519, ecdsa-sha2-nistp256, ecdsa-sha2-nistp384, ecdsa-sha2-nistp521, ssh-rsa, sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@openssh.com'
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: 'ssh-ed25519 not-base64!'}"
	fails_at $B "$N.host_key" "key data is not a base64 'ssh-ed25519' key"
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: 'ssh-rsa ${HOST_KEY#ssh-ed25519 }'}"
	fails_at $B "$N.host_key" "key data is not a base64 'ssh-rsa' key"
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: 'ssh-ed25519'}"
	fails_at $B "$N.host_key" "key data is not a base64 'ssh-ed25519' key"
	repo "{url: 'ssh://git@h/x.git', identity: ~/.ssh/id_test, host_key: \"$HOST_KEY\\nssh-ed25519 AAAA\"}"
	fails_at $B "$N.host_key" 'must be a single line'
}

@test "repo.host_key: real keys of every common type, comment dropped" {
	for t in ed25519 ecdsa rsa; do
		ssh-keygen -q -t $t -N '' -f "k_$t" -C "host-$t"
	done
	bottle dev <<-EOF
	git-gate:
	  repos:
	    a: {url: 'ssh://git@h/a', identity: ~/.ssh/id_test, host_key: '$(cat k_ed25519.pub)'}
	    b: {url: 'ssh://git@h/b', identity: ~/.ssh/id_test, host_key: '$(cat k_ecdsa.pub)'}
	    c: {url: 'ssh://git@h/c', identity: ~/.ssh/id_test, host_key: '$(cat k_rsa.pub)'}
	EOF
	run bb-manifest
	assert_success
	for r in a:ed25519 b:ecdsa c:rsa; do
		want=$(cut -d' ' -f1,2 "k_${r#*:}.pub")
		printf '%s\n' "$output" | jq -e --arg k "$want" ".bottles.dev[\"git-gate\"].repos.${r%%:*}.host_key == \$k"
	done
}
