# The container engine a test runs bottles on, $ENGINE (podman or
# docker), behind one set of functions: load with `load engine` after
# `load helper`; it loads podman.bash and docker.bash.

load podman
load docker

engine_setup_file() {
	case $ENGINE in
	docker) docker_setup_file ;;
	*) podman_setup_file ;;
	esac
}

engine_teardown_file() {
	[ "$ENGINE" != docker ] || docker_teardown_file
}

engine_require() {
	case $ENGINE in
	docker) docker_require ;;
	*) podman_require ;;
	esac
}

# The engine's CLI as bb-up runs it.
ct() {
	case $ENGINE in
	docker) docker "$@" ;;
	*) pm "$@" ;;
	esac
}

# Remove containers at once, if they are there.
ct_rm() {
	case $ENGINE in
	docker) docker rm -f "$@" ;;
	*) pm rm -f -t 0 "$@" ;;
	esac
}

# What shows container $1 in the host's mount table: podman's mounts
# name the container; docker's root is a layer of another name.
ct_mount_mark() {
	case $ENGINE in
	docker) docker inspect -f '{{.GraphDriver.Data.MergedDir}}' "$1" ;;
	*) echo "$1" ;;
	esac
}

# The names of the containers (running or not) bb made for slug $1.
ct_containers() {
	ct ps -a --format '{{.Names}}' | grep -x "bb-$1" || true
}

# Wait up to 10 s for bb's container for slug $1 to be gone.
ct_wait_gone() {
	for _ in $(seq 100); do
		[ -z "$(ct_containers "$1")" ] && return 0
		sleep 0.1
	done
	echo "container bb-$1 is still there" >&2
	return 1
}
