#!/bin/sh
# What podman 4.3 (Debian 12) needs on these machines to run bb's
# containers: the runc runtime (crun refuses the hybrid cgroup layout) and
# no default ulimits (setting RLIMIT_NPROC is refused).  Rather than edit
# /etc/containers/containers.conf, write a containers.conf of our own and
# print its path: bb-up passes it to podman as CONTAINERS_CONF when
# BB_CONTAINERS_CONF names it.
#   usage: BB_CONTAINERS_CONF=$(sh t/setup-podman.sh DIR)
set -eu
dir=${1:?usage: setup-podman.sh DIR}
mkdir -p "$dir"
cat >"$dir/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
runtime = "runc"
CONF
echo "$dir/containers.conf"
