/* The ns backend: bubblewrap with every namespace unshared, loopback-only
 * network, system directories read-only and the sidecars reachable only
 * through bb-relay. */
#include "bottle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "json.h"

#define BWRAP "/usr/bin/bwrap"

/* Files of /etc the agent may see.  bb-up usually runs as root and the
 * guest uid maps to it, so DAC would not stop the agent from reading a
 * root-only file: only world-readable entries are bound (see
 * bind_if_public), and nothing holding host secrets is listed. */
const char *const bb_etc_public[] = {
	"/etc/alternatives", "/etc/ld.so.cache", "/etc/ld.so.conf",
	"/etc/ld.so.conf.d", "/etc/nsswitch.conf", "/etc/localtime",
	"/etc/timezone", "/etc/protocols", "/etc/services", "/etc/mime.types",
	"/etc/ssl/certs", "/etc/ssl/openssl.cnf", "/etc/ca-certificates.conf",
	"/etc/gitconfig", "/etc/profile", "/etc/bash.bashrc", "/etc/inputrc",
	"/etc/terminfo", "/etc/debian_version", "/etc/os-release",
	NULL,
};

static const char *const usr_links[] = {
	"bin", "sbin", "lib", "lib32", "lib64", "libx32", NULL,
};

int bb_world_readable(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 && (st.st_mode & S_IROTH) &&
	       (!S_ISDIR(st.st_mode) || (st.st_mode & S_IXOTH));
}

static void bind_if_public(struct bb_strv *a, const char *path)
{
	struct stat st;

	if (lstat(path, &st) != 0)
		return;
	if (S_ISLNK(st.st_mode)) {
		char target[4096];
		ssize_t n = readlink(path, target, sizeof(target) - 1);

		if (n <= 0)
			return;
		target[n] = '\0';
		bb_strv_push(a, "--symlink");
		bb_strv_push(a, target);
		bb_strv_push(a, path);
		return;
	}
	if (!(st.st_mode & S_IROTH))
		return;
	bb_strv_push(a, "--ro-bind");
	bb_strv_push(a, path);
	bb_strv_push(a, path);
}

static void root_dirs(struct bb_strv *a)
{
	char p[64];

	bb_strv_push(a, "--ro-bind");
	bb_strv_push(a, "/usr");
	bb_strv_push(a, "/usr");
	for (int i = 0; usr_links[i]; i++) {
		snprintf(p, sizeof(p), "/%s", usr_links[i]);
		bind_if_public(a, p);
	}
	for (int i = 0; bb_etc_public[i]; i++)
		bind_if_public(a, bb_etc_public[i]);
}

static void guest_file(struct bb_strv *a, const struct bb_bottle *b,
		       const char *name, const char *dest)
{
	bb_strv_push(a, "--ro-bind");
	bb_strv_pushf(a, "%s/%s", b->guestdir, name);
	bb_strv_push(a, dest);
}

/* bwrap's options: they name host paths (the state directory, the
 * bottle's home and socket directory, bb-relay), so they travel through
 * --args, never on bwrap's argv, which the bottle's pid 1 (bwrap itself)
 * would show to the agent in /proc/1/cmdline. */
static void bwrap_options(struct bb_strv *a, const struct bb_bottle *b,
			  int infofd)
{
	bb_strv_push(a, "--info-fd");
	bb_strv_pushf(a, "%d", infofd);
	bb_strv_push(a, "--unshare-all"); /* user pid mount net ipc uts cgroup */
	bb_strv_push(a, "--die-with-parent");
	bb_strv_push(a, "--new-session");
	bb_strv_push(a, "--clearenv");
	bb_strv_pushf(a, "--uid");
	bb_strv_pushf(a, "%d", BB_GUEST_UID);
	bb_strv_pushf(a, "--gid");
	bb_strv_pushf(a, "%d", BB_GUEST_UID);
	bb_strv_push(a, "--hostname");
	bb_strv_push(a, b->slug);
	root_dirs(a);
	guest_file(a, b, "passwd", "/etc/passwd");
	guest_file(a, b, "group", "/etc/group");
	guest_file(a, b, "hosts", "/etc/hosts");
	guest_file(a, b, "ca-certificates.crt", BB_GUEST_CA_BUNDLE);
	bb_strv_push(a, "--proc");
	bb_strv_push(a, "/proc");
	bb_strv_push(a, "--dev");
	bb_strv_push(a, "/dev");
	bb_strv_push(a, "--tmpfs");
	bb_strv_push(a, "/tmp");
	bb_strv_push(a, "--tmpfs");
	bb_strv_push(a, "/var/tmp");
	bb_strv_push(a, "--bind");
	bb_strv_push(a, b->home);
	bb_strv_push(a, BB_GUEST_HOME);
	bb_strv_push(a, "--ro-bind");
	bb_strv_push(a, b->relay);
	bb_strv_push(a, BB_GUEST_RUN "/bb-relay");
	/* The socket directory, not the sockets: a restarted daemon's new
	 * socket shows through.  Read-only, so the agent can neither add
	 * nor remove an entry; connect() needs no write access to a mount. */
	if (b->nrelays > 0) {
		bb_strv_push(a, "--ro-bind");
		bb_strv_push(a, b->rundir);
		bb_strv_push(a, BB_GUEST_SOCKS);
	}
	bb_strv_push(a, "--remount-ro");
	bb_strv_push(a, "/");
	bb_strv_push(a, "--chdir");
	bb_strv_push(a, b->workdir);
}

/* bwrap --args N, then the command: bb-relay by its guest path, with guest
 * socket paths only.  bwrap ignores a command given inside --args, so the
 * command stays on the argv. */
static void bwrap_argv(struct bb_strv *a, const struct bb_bottle *b, int argsfd,
		       int envfd)
{
	bb_strv_push(a, BWRAP);
	bb_strv_push(a, "--args");
	bb_strv_pushf(a, "%d", argsfd);
	bb_strv_push(a, "--");
	bb_strv_push(a, BB_GUEST_RUN "/bb-relay");
	bb_strv_push(a, "-e");
	bb_strv_pushf(a, "%d", envfd);
	for (int i = 0; i < b->nrelays; i++) {
		bb_strv_push(a, "-l");
		bb_strv_pushf(a, "%d:" BB_GUEST_SOCKS "/%s", b->relays[i].port,
			      b->relays[i].sock);
	}
	bb_strv_push(a, "--");
	for (char *const *p = b->argv; *p; p++)
		bb_strv_push(a, *p);
}

/* Each string of sv with its NUL, the format of bwrap --args and of
 * bb-relay -e, in one write: bwrap's options are over a hundred strings.
 * The buffer may hold the agent's secrets: wiped before it is freed. */
static int write_strings(int fd, const struct bb_strv *sv, const char *what,
			 struct bb_err *err)
{
	size_t len = 0, off = 0;
	char *buf;
	int rc = 0;

	for (size_t i = 0; i < sv->n; i++)
		len += strlen(sv->v[i]) + 1;
	if (!(buf = malloc(len ? len : 1)))
		abort();
	for (size_t i = 0; i < sv->n; i++) {
		size_t n = strlen(sv->v[i]) + 1;

		memcpy(buf + off, sv->v[i], n);
		off += n;
	}
	for (off = 0; off < len && rc == 0;) {
		ssize_t w = write(fd, buf + off, len - off);

		if (w >= 0)
			off += (size_t)w;
		else if (errno != EINTR)
			rc = bb_errf(err, what, "write: %s", strerror(errno));
	}
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

/* sv in an anonymous memory file, read from its start: what bwrap and
 * bb-relay read never sits on an argv or in a file.  Close-on-exec: only
 * the child that keeps it (bb_child.keep) gets it. */
static int strings_memfd(const char *name, const struct bb_strv *sv,
			 const char *what, struct bb_err *err)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	if (fd < 0)
		return bb_errf(err, what, "memfd_create: %s", strerror(errno));
	if (write_strings(fd, sv, what, err) < 0) {
		close(fd);
		return -1;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* bwrap running bb-relay, which reads the agent's environment from
 * envfd (kept at the same number across both execs). */
static pid_t spawn_bwrap(const struct bb_bottle *b, int envfd, int *infofd,
			 struct bb_err *err)
{
	struct bb_strv a = {0}, opts = {0}, env = {0};
	struct bb_child sp;
	int info[2], keep[3];
	pid_t pid = -1;

	if (pipe2(info, O_CLOEXEC) < 0)
		return bb_errf(err, "bwrap", "pipe: %s", strerror(errno));
	bwrap_options(&opts, b, info[1]);
	keep[0] = envfd;
	keep[1] = info[1];
	keep[2] = strings_memfd("bb-bwrap-args", &opts, "bwrap --args", err);
	if (keep[2] >= 0) {
		bwrap_argv(&a, b, keep[2], envfd);
		bb_strv_push(&env, "PATH=/usr/bin:/bin");
		bb_child_init(&sp, a.v);
		sp.envp = env.v;
		sp.keep = keep;
		sp.nkeep = 3;
		pid = bb_child_start(&sp, err);
		close(keep[2]);
	}
	close(info[1]);
	if (pid < 0)
		close(info[0]);
	else
		*infofd = info[0];
	bb_strv_free(&a);
	bb_strv_free(&opts);
	bb_strv_free(&env);
	return pid;
}

pid_t bb_ns_start(const struct bb_bottle *b, int *infofd, struct bb_err *err)
{
	int envfd = strings_memfd("bb-agent-env", &b->env,
				  "agent environment", err);
	pid_t pid;

	if (envfd < 0)
		return -1;
	pid = spawn_bwrap(b, envfd, infofd, err);
	close(envfd);
	return pid;
}

pid_t bb_ns_start_gated(const struct bb_bottle *b, int *infofd, int *envw,
			struct bb_err *err)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		return bb_errf(err, "agent environment", "pipe: %s", strerror(errno));
	pid = spawn_bwrap(b, p[0], infofd, err);
	close(p[0]);
	if (pid < 0)
		close(p[1]);
	else
		*envw = p[1];
	return pid;
}

int bb_ns_release(int envw, const struct bb_strv *env, struct bb_err *err)
{
	int rc = write_strings(envw, env, "agent environment", err);

	close(envw);
	return rc;
}

const char *bb_ns_check(void)
{
	static char why[256];
	char *argv[] = {BWRAP, "--unshare-all", "--ro-bind", "/usr", "/usr",
			"--symlink", "usr/bin", "/bin", "--symlink", "usr/lib", "/lib",
			"--symlink", "usr/lib64", "/lib64", "--", "/usr/bin/true",
			NULL};
	char *env[] = {"PATH=/usr/bin:/bin", NULL};
	struct bb_child sp;
	struct bb_err err = {0};
	int devnull, code;
	pid_t pid;

	if (access(BWRAP, X_OK) != 0)
		return BWRAP " not found (install bubblewrap)";
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	bb_child_init(&sp, argv);
	sp.envp = env;
	sp.fd_in = sp.fd_out = sp.fd_err = devnull;
	pid = bb_child_start(&sp, &err);
	if (devnull >= 0)
		close(devnull);
	if (pid < 0) {
		snprintf(why, sizeof(why), "%s", err.what);
		return why;
	}
	code = bb_wait_exit(pid);
	if (code == 0)
		return NULL;
	snprintf(why, sizeof(why),
		 "bwrap --unshare-all failed (exit %d): user namespaces may be "
		 "disabled (kernel.unprivileged_userns_clone)", code);
	return why;
}

pid_t bb_ns_inner_pid(int infofd)
{
	char buf[512];
	struct pollfd p = {infofd, POLLIN, 0};
	struct bb_err err = {0};
	size_t len = 0;
	json_t *info;
	pid_t pid = 0;

	/* bwrap writes {"child-pid": N} once the namespace's first process
	 * exists; after that the pipe only closes. */
	while (len < sizeof(buf) - 1 && poll(&p, 1, 500) > 0) {
		ssize_t r = read(infofd, buf + len, sizeof(buf) - 1 - len);

		if (r <= 0)
			break;
		len += (size_t)r;
		if (memchr(buf, '}', len))
			break;
	}
	info = bb_json_parse(buf, len, "bwrap --info-fd", &err);
	if (info)
		pid = (pid_t)json_integer_value(json_object_get(info, "child-pid"));
	json_decref(info);
	return pid;
}
