/* The podman and docker backends (one CLI, where the two agree):
 * --network none, the same bb-relay as the ns backend, a non-root user,
 * the environment from a 0600 env file. */
#include "bottle.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bstate.h"
#include "file.h"

/* podman --init runs this as the container's pid 1 (Debian's default). */
#define PODMAN_INIT "/usr/libexec/podman/catatonit"
/* docker's copy of the skeleton root (make_rootfs): bump the tag when the
 * skeleton changes. */
#define DOCKER_IMAGE "bb-bottle:1"

static int is_docker(const char *engine)
{
	return strcmp(engine, "docker") == 0;
}


static char *tool_path(const char *engine)
{
	const char *dirs[] = {"/usr/bin", "/usr/local/bin", "/bin", NULL};
	char *p;

	for (int i = 0; dirs[i]; i++) {
		if (asprintf(&p, "%s/%s", dirs[i], engine) < 0)
			abort();
		if (access(p, X_OK) == 0)
			return p;
		free(p);
	}
	return NULL;
}

static void engine_env(struct bb_strv *env);

static int run_quiet(char *const *argv)
{
	struct bb_strv env = {0};
	struct bb_child sp;
	struct bb_err err = {0};
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid;
	int code;

	engine_env(&env);
	bb_child_init(&sp, argv);
	sp.envp = env.v;
	sp.fd_in = sp.fd_out = sp.fd_err = devnull;
	pid = bb_child_start(&sp, &err);
	if (devnull >= 0)
		close(devnull);
	code = pid < 0 ? -1 : bb_wait_exit(pid);
	bb_strv_free(&env);
	return code;
}

static void mount_ro(struct bb_strv *a, const char *src, const char *dst)
{
	bb_strv_push(a, "-v");
	bb_strv_pushf(a, "%s:%s:ro", src, dst);
}

/* The container's root: a skeleton of directories and the usual
 * merged-/usr symlinks; /usr itself is the host's, mounted read-only.
 * Nothing to download or build, like the ns backend. */
static int make_rootfs(const char *dir, struct bb_err *err)
{
	static const char *const dirs[] = {"usr", "etc", "etc/ssl", "etc/ssl/certs",
		"tmp", "home", "home/node", "run", "run/bb", "run/bb/sock", "proc", "dev", "sys",
		"var", "var/tmp", NULL};
	static const char *const links[] = {"bin", "sbin", "lib", "lib64", NULL};
	char p[4096];

	for (int i = 0; dirs[i]; i++) {
		snprintf(p, sizeof(p), "%s/%s", dir, dirs[i]);
		if (bb_mkdir_p(p, 0755, err) < 0)
			return -1;
	}
	for (int i = 0; links[i]; i++) {
		char target[64];

		snprintf(p, sizeof(p), "%s/%s", dir, links[i]);
		snprintf(target, sizeof(target), "usr/%s", links[i]);
		if (symlink(target, p) < 0 && errno != EEXIST)
			return bb_errf(err, p, "symlink: %s", strerror(errno));
	}
	return 0;
}

static void engine_env(struct bb_strv *env)
{
	const char *conf = getenv("BB_CONTAINERS_CONF");

	bb_strv_push(env, "PATH=/usr/sbin:/usr/bin:/sbin:/bin");
	if (getenv("HOME"))
		bb_strv_setenv(env, "HOME", getenv("HOME"));
	if (getenv("XDG_RUNTIME_DIR"))
		bb_strv_setenv(env, "XDG_RUNTIME_DIR", getenv("XDG_RUNTIME_DIR"));
	if (conf && *conf)
		bb_strv_setenv(env, "CONTAINERS_CONF", conf);
	if (getenv("DOCKER_HOST"))
		bb_strv_setenv(env, "DOCKER_HOST", getenv("DOCKER_HOST"));
}

/* docker's init, from the host's /usr (the container's /usr). */
static char *docker_init(void)
{
	static const char *const paths[] = {"/usr/bin/docker-init",
		"/usr/libexec/docker/docker-init", "/usr/bin/tini", NULL};

	for (int i = 0; paths[i]; i++)
		if (access(paths[i], X_OK) == 0)
			return strdup(paths[i]);
	return NULL;
}

/* DOCKER_IMAGE from the skeleton in dir, unless the engine has it: docker
 * cannot run a directory, and there is no registry to pull from. */
static int docker_image_ensure(char *exe, char *dir, struct bb_err *err)
{
	char *inspect[] = {exe, "image", "inspect", DOCKER_IMAGE, NULL};
	char *tar = tool_path("tar"), *ball = NULL;
	int code = -1;

	if (run_quiet(inspect) == 0) {
		free(tar);
		return 0;
	}
	if (!tar) {
		return bb_errf(err, "tar", "not found (docker needs it to import the bottle's root)");
	}
	if (asprintf(&ball, "%s.tar", dir) < 0)
		abort();
	if (make_rootfs(dir, err) == 0) {
		char *pack[] = {tar, "--numeric-owner", "--owner=0", "--group=0", "-C",
				dir, "-cf", ball, ".", NULL};
		char *import[] = {exe, "import", ball, DOCKER_IMAGE, NULL};

		code = run_quiet(pack);
		if (code == 0 && (code = run_quiet(import)) != 0)
			bb_errf(err, DOCKER_IMAGE, "'docker import' failed (exit %d): is the engine running?",
				code);
		else if (code != 0)
			bb_errf(err, ball, "tar failed (exit %d)", code);
	}
	unlink(ball);
	free(ball);
	free(tar);
	return code == 0 ? 0 : -1;
}

static uid_t owner_uid;
static gid_t owner_gid;

static int chown_one(const char *path, const struct stat *st, int type, struct FTW *f)
{
	(void)type;
	(void)f;
	if ((st->st_uid == owner_uid && st->st_gid == owner_gid) ||
	    lchown(path, owner_uid, owner_gid) == 0)
		return 0;
	return errno;
}

/* docker's agent is b->uid, not us (we are root, and it is never root):
 * it gets its home, and a way through the socket directory to the
 * sockets, which are 0666 in it.  Its parents stay ours alone. */
static int hand_over(const struct bb_bottle *b, struct bb_err *err)
{
	int e;

	owner_uid = b->uid;
	owner_gid = b->gid;
	if ((e = nftw(b->home, chown_one, 16, FTW_PHYS)) != 0)
		return bb_errf(err, b->home, "cannot hand the home to uid %u: %s",
			       (unsigned)b->uid, strerror(e > 0 ? e : errno));
	if (chmod(b->rundir, 0711) < 0)
		return bb_errf(err, b->rundir, "chmod: %s", strerror(errno));
	return 0;
}

/* podman runs the skeleton root as it is, and maps the agent's uid to
 * ours in a user namespace like the ns backend: the agent's uid 1000 owns
 * the home and the sockets, without any capability; container root is an
 * unprivileged range. */
static void podman_root(struct bb_strv *a, const char *rootfs)
{
	bb_strv_push(a, "--read-only-tmpfs=false");
	bb_strv_push(a, "--init");
	bb_strv_push(a, "--no-hosts");
	bb_strv_push(a, "--uidmap=0:100000:1000");
	bb_strv_push(a, "--uidmap=1000:0:1");
	bb_strv_push(a, "--gidmap=0:100000:1000");
	bb_strv_push(a, "--gidmap=1000:0:1");
	bb_strv_pushf(a, "--user=%d:%d", BB_GUEST_UID, BB_GUEST_UID);
	/* The agent's (U: owned by its user; some kernels ignore mode=). */
	bb_strv_push(a, "--tmpfs=/tmp:rw,nosuid,nodev,mode=1777,U");
	bb_strv_push(a, "--tmpfs=/var/tmp:rw,nosuid,nodev,mode=1777,U");
	bb_strv_push(a, "--rootfs");
	bb_strv_push(a, rootfs);
}

/* docker has no --rootfs, no per-container user namespace and no
 * --no-hosts: the skeleton is an image (docker_image), the agent runs as
 * b->uid, our /etc/hosts and an empty resolv.conf hide the host's, and
 * the init is docker's own, run from the host's /usr (docker's --init
 * mounts it on /sbin, which is our /usr/sbin, read-only). */
static void docker_root(struct bb_strv *a, const struct bb_bottle *b,
			const char *init)
{
	char p[4096];

	bb_strv_pushf(a, "--user=%u:%u", (unsigned)b->uid, (unsigned)b->gid);
	bb_strv_pushf(a, "--tmpfs=/tmp:rw,exec,nosuid,nodev,mode=1777,uid=%u,gid=%u",
		      (unsigned)b->uid, (unsigned)b->gid);
	bb_strv_pushf(a, "--tmpfs=/var/tmp:rw,exec,nosuid,nodev,mode=1777,uid=%u,gid=%u",
		      (unsigned)b->uid, (unsigned)b->gid);
	snprintf(p, sizeof(p), "%s/resolv.conf", b->guestdir);
	mount_ro(a, p, "/etc/resolv.conf");
	bb_strv_push(a, "--pull=never");
	bb_strv_push(a, DOCKER_IMAGE);
	bb_strv_push(a, init);
	bb_strv_push(a, "--");
}

static void common_args(struct bb_strv *a, const struct bb_bottle *b,
			const char *envfile)
{
	char p[4096];

	bb_strv_push(a, "run");
	bb_strv_push(a, "--rm");
	bb_strv_push(a, "-i");
	if (isatty(0) && isatty(1))
		bb_strv_push(a, "-t");
	bb_strv_pushf(a, "--name=bb-%s", b->slug);
	bb_strv_pushf(a, "--hostname=%s", b->slug);
	bb_strv_push(a, "--network=none");
	/* Like ns: the root and the system directories read-only (/run too:
	 * no tmpfs but ours, on /tmp and /var/tmp), and our /etc/hosts rather
	 * than one listing the host's names.  An init: the agent is not pid
	 * 1, so a SIGTERM reaches it and its orphans are reaped. */
	bb_strv_push(a, "--read-only");
	bb_strv_push(a, "--cap-drop=all");
	bb_strv_push(a, "--security-opt=no-new-privileges");
	bb_strv_pushf(a, "--env-file=%s", envfile);
	mount_ro(a, "/usr", "/usr");
	for (int i = 0; bb_etc_public[i]; i++)
		if (bb_world_readable(bb_etc_public[i]))
			mount_ro(a, bb_etc_public[i], bb_etc_public[i]);
	bb_strv_push(a, "-v");
	bb_strv_pushf(a, "%s:%s", b->home, BB_GUEST_HOME);
	mount_ro(a, b->relay, BB_GUEST_RUN "/bb-relay");
	/* The socket directory, read-only, as on ns: restarts show through. */
	if (b->nrelays > 0)
		mount_ro(a, b->rundir, BB_GUEST_SOCKS);
	snprintf(p, sizeof(p), "%s/passwd", b->guestdir);
	mount_ro(a, p, "/etc/passwd");
	snprintf(p, sizeof(p), "%s/group", b->guestdir);
	mount_ro(a, p, "/etc/group");
	snprintf(p, sizeof(p), "%s/hosts", b->guestdir);
	mount_ro(a, p, "/etc/hosts");
	snprintf(p, sizeof(p), "%s/ca-certificates.crt", b->guestdir);
	mount_ro(a, p, BB_GUEST_CA_BUNDLE);
	bb_strv_pushf(a, "--workdir=%s", b->workdir);
}

static void agent_args(struct bb_strv *a, const struct bb_bottle *b)
{
	bb_strv_push(a, BB_GUEST_RUN "/bb-relay");
	for (int i = 0; i < b->nrelays; i++) {
		bb_strv_push(a, "-l");
		bb_strv_pushf(a, "%d:" BB_GUEST_SOCKS "/%s", b->relays[i].port,
			      b->relays[i].sock);
	}
	bb_strv_push(a, "--");
	for (char *const *q = b->argv; *q; q++)
		bb_strv_push(a, *q);
}

/* Make the container's root: podman's directory, or docker's image (and
 * its init), with what a docker agent that is not us needs on the host. */
static int prepare_root(const char *engine, char *exe,
			const struct bb_bottle *b, char *rootfs, size_t len,
			char **init, struct bb_err *err)
{
	snprintf(rootfs, len, "%s/rootfs", b->guestdir);
	if (!is_docker(engine))
		return make_rootfs(rootfs, err);
	if (!(*init = docker_init()))
		return bb_errf(err, engine, "no docker-init or tini under /usr");
	if (docker_image_ensure(exe, rootfs, err) < 0)
		return -1;
	return b->uid == getuid() ? 0 : hand_over(b, err);
}

pid_t bb_podman_start(const char *engine, const struct bb_bottle *b,
		      const char *envfile, struct bb_err *err)
{
	char *exe = tool_path(engine), *init = NULL, rootfs[4096];
	struct bb_strv a = {0}, env = {0};
	struct bb_child sp;
	pid_t pid;

	if (!exe)
		return bb_errf(err, engine, "not found");
	if (prepare_root(engine, exe, b, rootfs, sizeof(rootfs), &init, err) < 0) {
		free(exe);
		free(init);
		return -1;
	}
	bb_strv_push(&a, exe);
	common_args(&a, b, envfile);
	if (is_docker(engine))
		docker_root(&a, b, init);
	else
		podman_root(&a, rootfs);
	agent_args(&a, b);
	engine_env(&env);
	bb_child_init(&sp, a.v);
	sp.envp = env.v;
	/* If we die outright, the client passes SIGTERM on to the container
	 * (--sig-proxy), whose init hands it to the agent: like ns's
	 * --die-with-parent, the container does not outlive us. */
	sp.pdeathsig = SIGTERM;
	pid = bb_child_start(&sp, err);
	bb_strv_free(&a);
	bb_strv_free(&env);
	free(exe);
	free(init);
	return pid;
}

/* docker: the image made, then a container run from it with its init. */
static const char *docker_check(char *exe, char *dir)
{
	static char why[256];
	struct bb_err err = {0};
	char *init = docker_init();
	int code;

	char *version[] = {exe, "version", NULL};

	if (!init)
		return "no docker-init (or tini) under /usr";
	if (run_quiet(version) != 0) {
		free(init);
		return "the engine does not answer 'docker version' (is dockerd running? DOCKER_HOST?)";
	}
	if (docker_image_ensure(exe, dir, &err) < 0) {
		free(init);
		snprintf(why, sizeof(why), "%s: %s", err.where, err.what);
		return why;
	}
	{
		char *argv[] = {exe, "run", "--rm", "--network=none", "--read-only",
				"--pull=never", "-v", "/usr:/usr:ro", DOCKER_IMAGE, init,
				"--", "/usr/bin/true", NULL};

		code = run_quiet(argv);
	}
	free(init);
	if (code == 0)
		return NULL;
	snprintf(why, sizeof(why), "'docker run %s' failed (exit %d): is the engine running?",
		 DOCKER_IMAGE, code);
	return why;
}

static const char *podman_check(char *exe, char *dir)
{
	static char why[256];
	struct bb_err err = {0};
	char *argv[] = {exe, "run", "--rm", "--network=none", "--init",
			"--read-only", "-v", "/usr:/usr:ro", "--rootfs", dir,
			"/usr/bin/true", NULL};
	int code;

	if (make_rootfs(dir, &err) < 0) {
		snprintf(why, sizeof(why), "cannot make a test root: %s", err.what);
		return why;
	}
	if ((code = run_quiet(argv)) == 0)
		return NULL;
	if (access(PODMAN_INIT, X_OK) != 0) {
		snprintf(why, sizeof(why), "'podman run --init' needs %s (install catatonit)",
			 PODMAN_INIT);
		return why;
	}
	snprintf(why, sizeof(why),
		 "'podman run --rootfs' failed (exit %d): podman 4.3 needs runtime = \"runc\" "
		 "and default_ulimits = [] (containers.conf, or BB_CONTAINERS_CONF; see "
		 "t/setup-podman.sh)", code);
	return why;
}

const char *bb_podman_check(const char *engine)
{
	static char why[256];
	char *exe = tool_path(engine), tmp[] = "/tmp/bb-doctor-XXXXXX", dir[64];
	const char *r;

	if (!exe) {
		snprintf(why, sizeof(why), "%s not installed", engine);
		return why;
	}
	if (!mkdtemp(tmp)) {
		free(exe);
		snprintf(why, sizeof(why), "cannot make a test root: %s", strerror(errno));
		return why;
	}
	snprintf(dir, sizeof(dir), "%s/root", tmp);
	r = is_docker(engine) ? docker_check(exe, dir) : podman_check(exe, dir);
	free(exe);
	bb_rmtree(tmp);
	return r;
}

void bb_podman_remove(const char *engine, const char *slug)
{
	char *exe = tool_path(engine), *name;
	char *argv[] = {exe, "rm", "-f", "-t", "0", NULL, NULL};

	if (!exe)
		return;
	if (asprintf(&name, "bb-%s", slug) < 0)
		abort();
	/* docker's rm -f kills at once, and has no -t. */
	if (is_docker(engine)) {
		argv[3] = name;
		argv[4] = NULL;
	} else {
		argv[5] = name;
	}
	run_quiet(argv);
	free(name);
	free(exe);
}
