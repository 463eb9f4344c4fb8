/* The podman backend (docker through the same CLI): --network none, the
 * same bb-relay as the ns backend, a non-root user, the environment from
 * a 0600 env file. */
#include "bottle.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BB_IMAGE "localhost/bb-rootfs:latest"

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

static int run_quiet(char *const *argv)
{
	char *env[] = {"PATH=/usr/sbin:/usr/bin:/sbin:/bin", NULL};
	struct bb_child sp;
	struct bb_err err = {0};
	int devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	pid_t pid;

	bb_child_init(&sp, argv);
	sp.envp = getenv("HOME") ? NULL : env;
	sp.fd_in = sp.fd_out = sp.fd_err = devnull;
	pid = bb_child_start(&sp, &err);
	if (devnull >= 0)
		close(devnull);
	return pid < 0 ? -1 : bb_wait_exit(pid);
}

static void mount_ro(struct bb_strv *a, const char *src, const char *dst)
{
	bb_strv_push(a, "-v");
	bb_strv_pushf(a, "%s:%s:ro", src, dst);
}

pid_t bb_podman_start(const char *engine, const struct bb_bottle *b,
		      const char *envfile, struct bb_err *err)
{
	char *exe = engine_path(engine);
	struct bb_strv a = {0};
	struct bb_child sp;
	pid_t pid;

	if (!exe)
		return bb_errf(err, engine, "not found");
	bb_strv_push(&a, exe);
	bb_strv_push(&a, "run");
	bb_strv_push(&a, "--rm");
	bb_strv_push(&a, "-i");
	if (isatty(0) && isatty(1))
		bb_strv_push(&a, "-t");
	if (!strcmp(engine, "podman")) {
		bb_strv_push(&a, "--runtime");
		bb_strv_push(&a, "runc");
	}
	bb_strv_pushf(&a, "--name=bb-%s", b->slug);
	bb_strv_pushf(&a, "--hostname=%s", b->slug);
	bb_strv_push(&a, "--network=none");
	bb_strv_pushf(&a, "--user=%d:%d", BB_GUEST_UID, BB_GUEST_UID);
	bb_strv_push(&a, "--cap-drop=all");
	bb_strv_push(&a, "--security-opt=no-new-privileges");
	bb_strv_pushf(&a, "--env-file=%s", envfile);
	bb_strv_push(&a, "-v");
	bb_strv_pushf(&a, "%s:%s", b->home, BB_GUEST_HOME);
	bb_strv_push(&a, "--tmpfs=/tmp");
	mount_ro(&a, b->relay, BB_GUEST_RUN "/bb-relay");
	for (int i = 0; i < b->nrelays; i++) {
		bb_strv_push(&a, "-v");
		bb_strv_pushf(&a, "%s/%s:" BB_GUEST_RUN "/%s", b->rundir,
			      b->relays[i].sock, b->relays[i].sock);
	}
	{
		char p[4096];

		snprintf(p, sizeof(p), "%s/passwd", b->guestdir);
		mount_ro(&a, p, "/etc/passwd");
		snprintf(p, sizeof(p), "%s/group", b->guestdir);
		mount_ro(&a, p, "/etc/group");
		snprintf(p, sizeof(p), "%s/ca-certificates.crt", b->guestdir);
		mount_ro(&a, p, BB_GUEST_CA_BUNDLE);
	}
	bb_strv_pushf(&a, "--workdir=%s", b->workdir);
	bb_strv_push(&a, BB_IMAGE);
	bb_strv_push(&a, BB_GUEST_RUN "/bb-relay");
	for (int i = 0; i < b->nrelays; i++) {
		bb_strv_push(&a, "-l");
		bb_strv_pushf(&a, "%d:" BB_GUEST_RUN "/%s", b->relays[i].port,
			      b->relays[i].sock);
	}
	bb_strv_push(&a, "--");
	for (char *const *p = b->argv; *p; p++)
		bb_strv_push(&a, *p);
	bb_child_init(&sp, a.v);
	pid = bb_child_start(&sp, err);
	bb_strv_free(&a);
	free(exe);
	return pid;
}

const char *bb_podman_check(const char *engine)
{
	static char why[256];
	char *exe = engine_path(engine);
	char *argv[] = {exe, "image", "exists", BB_IMAGE, NULL};
	int code;

	if (!exe) {
		snprintf(why, sizeof(why), "%s not installed", engine);
		return why;
	}
	if (!strcmp(engine, "docker")) {
		char *info[] = {exe, "info", NULL};

		code = run_quiet(info);
		free(exe);
		if (code != 0) {
			snprintf(why, sizeof(why), "docker info failed (exit %d): no engine running", code);
			return why;
		}
		return NULL;
	}
	code = run_quiet(argv);
	free(exe);
	if (code != 0) {
		snprintf(why, sizeof(why),
			 "image %s missing: build it with share/podman/build-image.sh", BB_IMAGE);
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
