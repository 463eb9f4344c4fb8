/* The podman backend (docker through the same CLI): --network none, the
 * same bb-relay as the ns backend, a non-root user, the environment from
 * a 0600 env file. */
#include "bottle.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bstate.h"
#include "file.h"

/* podman --init runs this as the container's pid 1 (Debian's default). */
#define PODMAN_INIT "/usr/libexec/podman/catatonit"


static char *engine_path(const char *engine)
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
}

pid_t bb_podman_start(const char *engine, const struct bb_bottle *b,
		      const char *envfile, struct bb_err *err)
{
	char *exe = engine_path(engine), rootfs[4096], p[4096];
	struct bb_strv a = {0}, env = {0};
	struct bb_child sp;
	pid_t pid;

	if (!exe)
		return bb_errf(err, engine, "not found");
	snprintf(rootfs, sizeof(rootfs), "%s/rootfs", b->guestdir);
	if (make_rootfs(rootfs, err) < 0) {
		free(exe);
		return -1;
	}
	bb_strv_push(&a, exe);
	bb_strv_push(&a, "run");
	bb_strv_push(&a, "--rm");
	bb_strv_push(&a, "-i");
	if (isatty(0) && isatty(1))
		bb_strv_push(&a, "-t");
	bb_strv_pushf(&a, "--name=bb-%s", b->slug);
	bb_strv_pushf(&a, "--hostname=%s", b->slug);
	bb_strv_push(&a, "--network=none");
	/* Like ns: the root and the system directories read-only (/run too:
	 * no tmpfs but ours, on /tmp and /var/tmp), and our /etc/hosts rather
	 * than one listing the host's names.  --init: the agent is not pid 1,
	 * so a SIGTERM reaches it and its orphans are reaped. */
	bb_strv_push(&a, "--read-only");
	if (!strcmp(engine, "podman"))
		bb_strv_push(&a, "--read-only-tmpfs=false");
	bb_strv_push(&a, "--init");
	bb_strv_push(&a, "--no-hosts");
	/* Like the ns backend: the agent's uid 1000 is the host uid that owns
	 * the home and the sockets, inside a user namespace, without any
	 * capability; container root is an unprivileged range. */
	bb_strv_push(&a, "--uidmap=0:100000:1000");
	bb_strv_push(&a, "--uidmap=1000:0:1");
	bb_strv_push(&a, "--gidmap=0:100000:1000");
	bb_strv_push(&a, "--gidmap=1000:0:1");
	bb_strv_pushf(&a, "--user=%d:%d", BB_GUEST_UID, BB_GUEST_UID);
	bb_strv_push(&a, "--cap-drop=all");
	bb_strv_push(&a, "--security-opt=no-new-privileges");
	bb_strv_pushf(&a, "--env-file=%s", envfile);
	mount_ro(&a, "/usr", "/usr");
	for (int i = 0; bb_etc_public[i]; i++)
		if (bb_world_readable(bb_etc_public[i]))
			mount_ro(&a, bb_etc_public[i], bb_etc_public[i]);
	bb_strv_push(&a, "-v");
	bb_strv_pushf(&a, "%s:%s", b->home, BB_GUEST_HOME);
	/* The agent's (U: owned by its user; some kernels ignore mode=). */
	bb_strv_push(&a, "--tmpfs=/tmp:rw,nosuid,nodev,mode=1777,U");
	bb_strv_push(&a, "--tmpfs=/var/tmp:rw,nosuid,nodev,mode=1777,U");
	mount_ro(&a, b->relay, BB_GUEST_RUN "/bb-relay");
	/* The socket directory, read-only, as on ns: restarts show through. */
	if (b->nrelays > 0)
		mount_ro(&a, b->rundir, BB_GUEST_SOCKS);
	snprintf(p, sizeof(p), "%s/passwd", b->guestdir);
	mount_ro(&a, p, "/etc/passwd");
	snprintf(p, sizeof(p), "%s/group", b->guestdir);
	mount_ro(&a, p, "/etc/group");
	snprintf(p, sizeof(p), "%s/hosts", b->guestdir);
	mount_ro(&a, p, "/etc/hosts");
	snprintf(p, sizeof(p), "%s/ca-certificates.crt", b->guestdir);
	mount_ro(&a, p, BB_GUEST_CA_BUNDLE);
	bb_strv_pushf(&a, "--workdir=%s", b->workdir);
	bb_strv_push(&a, "--rootfs");
	bb_strv_push(&a, rootfs);
	bb_strv_push(&a, BB_GUEST_RUN "/bb-relay");
	for (int i = 0; i < b->nrelays; i++) {
		bb_strv_push(&a, "-l");
		bb_strv_pushf(&a, "%d:" BB_GUEST_SOCKS "/%s", b->relays[i].port,
			      b->relays[i].sock);
	}
	bb_strv_push(&a, "--");
	for (char *const *q = b->argv; *q; q++)
		bb_strv_push(&a, *q);
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
	return pid;
}

const char *bb_podman_check(const char *engine)
{
	static char why[256];
	char *exe = engine_path(engine), dir[] = "/tmp/bb-doctor-XXXXXX";
	struct bb_err err = {0};
	int code;

	if (!exe) {
		snprintf(why, sizeof(why), "%s not installed", engine);
		return why;
	}
	if (!mkdtemp(dir) || make_rootfs(dir, &err) < 0) {
		free(exe);
		snprintf(why, sizeof(why), "cannot make a test root: %s", err.what);
		return why;
	}
	{
		char *argv[] = {exe, "run", "--rm", "--network=none", "--init",
				"--read-only", "-v", "/usr:/usr:ro", "--rootfs", dir,
				"/usr/bin/true", NULL};

		code = run_quiet(argv);
	}
	free(exe);
	bb_rmtree(dir);
	if (code != 0 && !strcmp(engine, "podman") && access(PODMAN_INIT, X_OK) != 0) {
		snprintf(why, sizeof(why), "'podman run --init' needs %s (install catatonit)",
			 PODMAN_INIT);
		return why;
	}
	if (code != 0) {
		snprintf(why, sizeof(why),
			 "'%s run --rootfs' failed (exit %d)%s", engine, code,
			 strcmp(engine, "podman") ? ": is the engine running?"
			 : ": podman 4.3 needs runtime = \"runc\" and default_ulimits = [] "
			   "(containers.conf, or BB_CONTAINERS_CONF; see t/setup-podman.sh)");
		return why;
	}
	return NULL;
}

void bb_podman_remove(const char *engine, const char *slug)
{
	char *exe = engine_path(engine), *name;
	char *argv[] = {exe, "rm", "-f", "-t", "0", NULL, NULL};

	if (!exe)
		return;
	if (asprintf(&name, "bb-%s", slug) < 0)
		abort();
	argv[5] = name;
	run_quiet(argv);
	free(name);
	free(exe);
}
