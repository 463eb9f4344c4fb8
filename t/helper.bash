# Shared set-up for every bats file: load with `load helper`.
#
# Puts the built bin/ first on PATH, points BB_SHARE at the tree's share/,
# and gives each test its own temp dir as cwd and $HOME, so tests never
# touch the operator's ~/.bot-bottle or each other.

BB_ROOT=${BB_ROOT:-$(cd "$BATS_TEST_DIRNAME/.." && pwd)}
export BB_ROOT
load '/usr/lib/bats/bats-support/load'
load '/usr/lib/bats/bats-assert/load'

PATH=$BB_ROOT/bin:$PATH
export BB_SHARE=$BB_ROOT/share

bb_setup() {
	T=$BATS_TEST_TMPDIR
	export HOME=$T/home XDG_STATE_HOME=$T/state XDG_RUNTIME_DIR=$T/run
	export XDG_CACHE_HOME=$T/cache
	mkdir -p "$HOME" "$XDG_STATE_HOME" "$XDG_CACHE_HOME"
	mkdir -p -m 0700 "$XDG_RUNTIME_DIR"
	cd "$T" || return 1
}

setup() {
	bb_setup
}

# A free loopback TCP port (the kernel picks it).
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# wait_until SECONDS COMMAND...: run COMMAND every 50 ms until it
# succeeds, for up to SECONDS; fails when it never does.
wait_until() {
	local limit=$(($1 * 20)) i=0
	shift
	while [ "$i" -lt "$limit" ]; do
		"$@" && return 0
		sleep 0.05
		i=$((i + 1))
	done
	return 1
}

# Whether a path, a port (host:port) or an abstract unix socket
# (abstract:NAME) answers.
is_answering() {
	case $1 in
	abstract:*) socat -t 1 - "ABSTRACT-CONNECT:${1#abstract:}" </dev/null >/dev/null 2>&1 ;;
	*:[0-9]*) (exec 3<>"/dev/tcp/${1%:*}/${1##*:}") 2>/dev/null ;;
	*) [ -e "$1" ] ;;
	esac
}

# Wait up to $2 seconds (default 5) for a path, a port (host:port) or an
# abstract unix socket (abstract:NAME) to answer.
wait_for() {
	wait_until "${2:-5}" is_answering "$1" && return 0
	echo "timed out waiting for $1" >&2
	return 1
}

# Wait up to $3 seconds (default 5) for file $1 to contain the text $2;
# on a timeout, say so and show the file.
wait_for_text() {
	wait_until "${3:-5}" grep -qF -- "$2" "$1" 2>/dev/null && return 0
	echo "timed out waiting for '$2' in $1:" >&2
	cat "$1" >&2
	return 1
}
