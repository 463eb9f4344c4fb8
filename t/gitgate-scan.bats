#!/usr/bin/env bats
# The built-in secret scanner, through `bb-gitgate scan` on real `git log
# -p` output.  Credentials are assembled at run time, so this file holds
# none that a scanner would flag.

load helper

setup() {
	bb_setup
	export GIT_CONFIG_NOSYSTEM=1 GIT_CONFIG_GLOBAL=$T/gitconfig
	printf '[user]\n\tname = T\n\temail = t@example.com\n[init]\n\tdefaultBranch = main\n' >"$GIT_CONFIG_GLOBAL"
	git init -q repo
	echo base >repo/base.txt
	git -C repo add base.txt
	git -C repo commit -qm base
}

# commit_line FILE LINE...: commit the lines as a new file.
commit_lines() {
	local f=$1
	shift
	printf '%s\n' "$@" >"repo/$f"
	git -C repo add "$f"
	git -C repo commit -qm "add $f"
}

scan_last() {
	git -C repo log -p --cc --format='commit %H' -1 | bb-gitgate scan
}

# expect_rule RULE LINE: committing LINE is flagged by RULE, at line 2.
expect_rule() {
	commit_lines "f-$1.txt" "harmless first line" "$2"
	run scan_last
	assert_failure 1
	sha=$(git -C repo rev-parse --short=12 HEAD)
	assert_output "bb-gitgate: secret found: commit $sha file f-$1.txt line 2: rule $1"
	refute_output --partial "$2"
}

@test "each rule finds its kind of credential, by name and never by value" {
	expect_rule private-key "-----BEGIN OPENSSH PRIVATE ""KEY-----"
	expect_rule aws-access-key "aws = $(printf '%s' AKIA 'Z7Q2WERTYUIOP3AS')"
	expect_rule github-token "GH=$(printf '%s' ghp_ 0123456789abcdefghijABCDEFGHIJ012345)"
	expect_rule gitlab-token "$(printf '%s' glpat- 'aB3dE6gH9jK2mN5pQ8sT')"
	expect_rule slack-token "$(printf '%s' xoxb- '123456789012-1234567890123-AbCdEfGhIjKl')"
	expect_rule slack-webhook "https://hooks.slack.com/services/$(printf '%s' T0123ABCD /B0123ABCD/abcdefghijklmnop)"
	expect_rule anthropic-key "ANTHROPIC=$(printf '%s' sk-ant- api03-abcdefghijklmnopqrstuvwxyz0123456789ABCD)"
	expect_rule openai-key "$(printf '%s' sk-proj- abcdefghijklmnopqrstuvwxyz0123456789ABCDEF)"
	expect_rule openai-key "$(printf '%s' sk- abcdefghij0123456789 T3Blbk FJ abcdefghij0123456789)"
	expect_rule generic-secret "db_password = \"$(printf '%s' 'Zx9!aQ7#' 'kL2mN4pR')\""
	expect_rule generic-secret "  client_secret: $(printf '%s' 8f3kd93Jd8s7 Fh2Lq0Zx)"
}

@test "ordinary code and low-entropy values are not flagged" {
	commit_lines code.py \
		'password = get_password(user)' \
		'token = request.headers["Authorization"]' \
		'secret = "changeme"' \
		'if password == other_password:' \
		'PASSWORD_FIELD = "password"' \
		'api_key: ${API_KEY}' \
		'the AKIA prefix alone is not a key' \
		'-----BEGIN PUBLIC KEY-----' \
		'sk-ant- is how the prefix looks'
	run scan_last
	assert_success
	assert_output ''
}

@test "the allow markers skip a fixture line" {
	commit_lines fixture.py \
		"KEY = \"$(printf '%s' AKIA 'Z7Q2WERTYUIOP3AS')\"  # bb-gitgate:allow" \
		"KEY2 = \"$(printf '%s' AKIA 'Z7Q2WERTYUIOP3AT')\"  # gitleaks:allow"
	run scan_last
	assert_success
}

@test "only added lines count; a removal is not a finding" {
	commit_lines creds.txt "$(printf '%s' AKIA 'Z7Q2WERTYUIOP3AS')"
	git -C repo rm -q creds.txt
	git -C repo commit -qm "remove"
	run scan_last
	assert_success
}

@test "a merge is scanned for what it adds itself (an evil merge)" {
	git -C repo checkout -q -b side
	commit_lines side.txt side
	git -C repo checkout -q main
	commit_lines main.txt main
	git -C repo merge -q --no-commit side
	echo "token: $(printf '%s' ghp_ 0123456789abcdefghijABCDEFGHIJ012345)" >>repo/main.txt
	git -C repo add main.txt
	git -C repo commit -qm merge
	run scan_last
	assert_failure 1
	assert_output --partial 'file main.txt line 2: rule github-token'
}

@test "scan reads plain git diff output and a file operand" {
	echo "x = 1" >repo/base.txt
	echo "aws_secret_access_key = $(printf '%s' 'wJalrXUtnFEMI/K7MDENG/' 'bPxRfiCYzEXAMPLEKEY')" >>repo/base.txt
	git -C repo diff >d.patch
	run bb-gitgate scan d.patch
	assert_failure 1
	assert_output 'bb-gitgate: secret found: file base.txt line 2: rule generic-secret'
	run bb-gitgate scan nope.patch
	assert_failure 1
	assert_output --partial 'bb-gitgate: error: nope.patch: could not read'
}
