# Shared by the t/manifest*.bats files: write manifest files into a fresh
# home manifest directory and check bb-manifest's one-line errors.
#
#   bottle NAME <<'EOF' ... EOF   frontmatter of bottles/NAME.md from stdin
#   agent NAME [BODY] <<'EOF'     frontmatter of agents/NAME.md
#   project_agent NAME [BODY]     .bot-bottle/agents/NAME.md in the cwd
#   fails_at FILE FIELD WHAT      run bb-manifest; exit 1 and exactly
#                                 "bb-manifest: error: $M/FILE: FIELD: WHAT"

load helper

setup() {
	bb_setup
	M=$HOME/.bot-bottle
	mkdir -p "$M/bottles" "$M/agents" "$HOME/.ssh"
	# The identity every git-gate repo of the tests names.
	: >"$HOME/.ssh/id_test"
	HOST_KEY='ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIObUvY/EKcofhoVnsoo18E75KTyTHEMzcfGm2ZkEBUZo'
}

write_md() { # path [body]
	mkdir -p "$(dirname "$1")"
	{
		echo ---
		cat
		echo ---
		printf '%s\n' "${2-}"
	} >"$1"
}

bottle() { write_md "$M/bottles/$1.md" "${2-}"; }
agent() { write_md "$M/agents/$1.md" "${2-}"; }
project_agent() { write_md "$PWD/.bot-bottle/agents/$1.md" "${2-}"; }

fails_at() { # file field what
	run bb-manifest
	assert_failure 1
	if [ -n "$2" ]; then
		assert_output "bb-manifest: error: $M/$1: $2: $3"
	else
		assert_output "bb-manifest: error: $M/$1: $3"
	fi
}

# Field JSON of bottle $1 in a successful run: bottle_json dev '.env'
bottle_json() {
	run bb-manifest
	assert_success
	printf '%s\n' "$output" | jq -S ".bottles[\"$1\"]$2"
}

# Assert that JSON $1 equals JSON $2 semantically.
json_eq() {
	local a b
	a=$(printf '%s\n' "$1" | jq -S .) || fail "not JSON: $1"
	b=$(printf '%s\n' "$2" | jq -S .) || fail "not JSON: $2"
	[ "$a" = "$b" ] || fail "JSON differs:
got:  $a
want: $b"
}

# bb-manifest with stderr (warnings) dropped: `run manifest_stdout -a x`.
manifest_stdout() { bb-manifest "$@" 2>/dev/null; }
