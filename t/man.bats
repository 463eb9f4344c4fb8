#!/usr/bin/env bats
# Every tool has a page whose SYNOPSIS equals its -h output, and every page
# is clean under mandoc -Tlint.

load helper

# The SYNOPSIS section of a page as plain text, one form per line.
synopsis_of() {
	mandoc -T ascii -O width=1000 "$1" | sed 's/.\x08//g' |
		awk '/^SYNOPSIS/ {f = 1; next} /^[A-Z]/ {f = 0} f' | normalise
}

normalise() {
	sed 's/^usage: *//; s/^[[:space:]]*//; s/[[:space:]]*$//; s/[[:space:]][[:space:]]*/ /g' | sed '/^$/d'
}

tools() {
	for f in "$BB_ROOT"/bin/bb-*; do
		case $f in *.c | *.sh) continue ;; esac
		[ -x "$f" ] && basename "$f"
	done
}

@test "every built tool has a section 1 or 8 page" {
	for t in $(tools); do
		run ls "$BB_ROOT/man/$t.1" "$BB_ROOT/man/$t.8"
		[ -e "$BB_ROOT/man/$t.1" ] || [ -e "$BB_ROOT/man/$t.8" ] || fail "no man page for $t"
	done
}

@test "every tool's -h output equals its page's SYNOPSIS" {
	for t in $(tools); do
		page=$(ls "$BB_ROOT/man/$t".[18] | head -n 1)
		want=$(synopsis_of "$page")
		run "$t" -h
		assert_success
		got=$(printf '%s\n' "$output" | normalise)
		[ "$got" = "$want" ] || fail "$t -h differs from $page SYNOPSIS:
-h:   $got
page: $want"
	done
}

@test "mandoc -Tlint is clean on every page" {
	run mandoc -Tlint -W warning "$BB_ROOT"/man/*.[1-8]
	assert_success
	assert_output ''
}
