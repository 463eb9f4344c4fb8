#!/bin/sh
# The bb demo (make demo): the example manifests through bb-manifest.
#
# Runs in a throwaway HOME, where it makes the SSH key the example bottle's
# git-gate repo names (~/.ssh/bb-demo-key), so it touches nothing of the
# operator's.  BB_ROOT is the source tree (make demo sets it).
set -eu

: "${BB_ROOT:?BB_ROOT must name the bb source tree}"
PATH=$BB_ROOT/bin:$PATH
examples=$BB_ROOT/share/examples

demo=$(mktemp -d "${TMPDIR:-/tmp}/bb-demo.XXXXXX")
trap 'rm -rf "$demo"' EXIT
trap 'exit 130' INT TERM
HOME=$demo/home
export HOME
mkdir -p "$HOME/.ssh"
chmod 700 "$HOME/.ssh"
if command -v ssh-keygen >/dev/null 2>&1; then
	ssh-keygen -q -t ed25519 -N '' -C bb-demo -f "$HOME/.ssh/bb-demo-key"
else
	: >"$HOME/.ssh/bb-demo-key"
	chmod 600 "$HOME/.ssh/bb-demo-key"
fi

echo "== bb-manifest -d $examples/manifest" >&2
bb-manifest -d "$examples/manifest" -p "$demo"
