#include "mirror.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "file.h"
#include "json.h"

#define FETCH_TIMEOUT 120
#define SETUP_STAMP "bb-gitgate-setup.json"

static char *path_of(const char *state, const char *sub, const char *name,
		     const char *suffix)
{
	char *p;

	if (asprintf(&p, "%s/%s/%s%s", state, sub, name, suffix) < 0)
		return NULL;
	return p;
}

char *gg_mirror_dir(const char *state, const char *name)
{
	return path_of(state, "repos", name, ".git");
}

char *gg_known_hosts_path(const char *state, const char *name)
{
	return path_of(state, "creds", name, "-known_hosts");
}

char *gg_known_hosts_line(const struct gg_repo *r)
{
	char *line;
	int rc;

	if (r->port == 22)
		rc = asprintf(&line, "%s %s\n", r->host, r->host_key);
	else
		rc = asprintf(&line, "[%s]:%d %s\n", r->host, r->port,
			      r->host_key);
	return rc < 0 ? NULL : line;
}

char *gg_ssh_command(const char *identity, const char *known_hosts)
{
	char *qi = gg_sh_quote(identity), *qk = gg_sh_quote(known_hosts);
	char *cmd = NULL;

	if (qi && qk &&
	    asprintf(&cmd,
		     "ssh -F /dev/null -i %s -o UserKnownHostsFile=%s "
		     "-o GlobalKnownHostsFile=/dev/null "
		     "-o StrictHostKeyChecking=yes -o IdentitiesOnly=yes "
		     "-o BatchMode=yes -o ConnectTimeout=10 "
		     "-o ServerAliveInterval=10 -o ServerAliveCountMax=3 "
		     "-o UpdateHostKeys=no -o LogLevel=ERROR",
		     qi, qk) < 0)
		cmd = NULL;
	free(qi);
	free(qk);
	return cmd;
}

int gg_git(const char *const args[], const char *ssh_cmd, int timeout_s,
	   struct gg_out *out, struct bb_err *err)
{
	const char *argv[32];
	struct gg_env env;
	size_t n = 0;
	int rc;

	argv[n++] = "git";
	while (args[n - 1] && n < 31) {
		argv[n] = args[n - 1];
		n++;
	}
	argv[n] = NULL;
	if (gg_env_base(&env) < 0 ||
	    (ssh_cmd && gg_env_set(&env, "GIT_SSH_COMMAND", ssh_cmd) < 0)) {
		gg_env_free(&env);
		return bb_errf(err, "git", "out of memory");
	}
	rc = gg_run(argv, &env, NULL, 0, 64 * 1024, timeout_s, out, err);
	gg_env_free(&env);
	return rc;
}

/* git --git-dir=DIR ARGS..., failing with the command's stderr. */
static int git_in(const char *dir, const char *const args[],
		  struct bb_err *err)
{
	const char *argv[16];
	char gd[4200];
	struct gg_out out;
	size_t n = 0;
	int rc = 0;

	snprintf(gd, sizeof(gd), "--git-dir=%s", dir);
	argv[n++] = gd;
	for (size_t i = 0; args[i] && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	if (gg_git(argv, NULL, 60, &out, err) < 0)
		return -1;
	if (out.status != 0)
		rc = bb_errf(err, dir, "git %s failed: %s", args[0],
			     out.errout[0] ? out.errout : "no message");
	gg_out_free(&out);
	return rc;
}

static int set_config(const char *dir, const char *key, const char *val,
		      struct bb_err *err)
{
	const char *args[] = {"config", key, val, NULL};

	return git_in(dir, args, err);
}

static int configure(const char *dir, const char *state,
		     const struct gg_repo *r, const char *scanner,
		     struct bb_err *err)
{
	const char *unset[] = {"config", "--unset-all", "remote.origin.fetch",
			       NULL};
	const char *heads[] = {"config", "--add", "remote.origin.fetch",
			       "+refs/heads/*:refs/heads/*", NULL};
	const char *tags[] = {"config", "--add", "remote.origin.fetch",
			      "+refs/tags/*:refs/tags/*", NULL};
	char *kh = gg_known_hosts_path(state, r->name);
	int rc;

	if (!kh)
		return bb_errf(err, dir, "out of memory");
	/* --unset-all exits 5 when there was nothing to unset. */
	{
		struct bb_err ignored = {0};

		git_in(dir, unset, &ignored);
	}
	rc = set_config(dir, "remote.origin.url", r->url, err) < 0 ||
	     git_in(dir, heads, err) < 0 || git_in(dir, tags, err) < 0 ||
	     set_config(dir, "http.receivepack", "true", err) < 0 ||
	     set_config(dir, "http.uploadpack", "true", err) < 0 ||
	     set_config(dir, "receive.fsckObjects", "true", err) < 0 ||
	     set_config(dir, "receive.denyCurrentBranch", "ignore", err) < 0 ||
	     set_config(dir, "gc.auto", "0", err) < 0 ||
	     set_config(dir, "bb-gitgate.name", r->name, err) < 0 ||
	     set_config(dir, "bb-gitgate.url", r->url, err) < 0 ||
	     set_config(dir, "bb-gitgate.identityFile", r->identity_file,
			err) < 0 ||
	     set_config(dir, "bb-gitgate.knownHosts", kh, err) < 0 ||
	     set_config(dir, "bb-gitgate.hasHostKey",
			r->host_key[0] ? "true" : "false", err) < 0 ||
	     set_config(dir, "bb-gitgate.scanner", scanner, err) < 0
		     ? -1
		     : 0;
	free(kh);
	return rc;
}

static int write_known_hosts(const char *state, const struct gg_repo *r,
			     struct bb_err *err)
{
	char *kh = gg_known_hosts_path(state, r->name), *line = NULL;
	int rc = -1;

	if (!kh)
		return bb_errf(err, state, "out of memory");
	if (!r->host_key[0]) {
		/* No key, no file: every use is refused (fail closed). */
		if (unlink(kh) < 0 && errno != ENOENT)
			bb_errf(err, kh, "could not remove: %s",
				strerror(errno));
		else
			rc = 0;
	} else if ((line = gg_known_hosts_line(r)) != NULL) {
		rc = bb_write_file_atomic(kh, line, strlen(line), 0600, err);
	} else {
		bb_errf(err, kh, "out of memory");
	}
	free(line);
	free(kh);
	return rc;
}

static int install_hook(const char *dir, const char *hook, struct bb_err *err)
{
	char *hooks, *path;
	int rc;

	if (asprintf(&hooks, "%s/hooks", dir) < 0)
		return bb_errf(err, dir, "out of memory");
	if (asprintf(&path, "%s/pre-receive", hooks) < 0) {
		free(hooks);
		return bb_errf(err, dir, "out of memory");
	}
	rc = bb_mkdir_p(hooks, 0700, err);
	if (rc == 0)
		rc = bb_write_file_atomic(path, hook, strlen(hook), 0755, err);
	free(hooks);
	free(path);
	return rc;
}

/* What a set-up mirror was set up from: the same text next time means
 * the mirror is as setup would leave it, so a resumed bottle's gate
 * starts without running git fifteen times. */
static char *setup_stamp(const char *state, const struct gg_repo *r,
			 const char *hook, const char *scanner)
{
	char *kh = gg_known_hosts_path(state, r->name), *text;
	json_t *o = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:s}", "version", 1,
			      "url", r->url, "identity_file", r->identity_file,
			      "known_hosts", kh ? kh : "", "host_key", r->host_key,
			      "scanner", scanner, "hook", hook ? hook : "");

	text = o ? bb_json_string(o) : NULL;
	json_decref(o);
	free(kh);
	return text;
}

static int exists_under(const char *dir, const char *name)
{
	char *p;
	int ok;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		return 0;
	ok = access(p, F_OK) == 0;
	free(p);
	return ok;
}

static int setup_current(const char *state, const char *dir,
			 const struct gg_repo *r, const char *stamp,
			 const char *hook)
{
	char *path, *old = NULL, *kh;
	int same;

	if (!stamp || asprintf(&path, "%s/" SETUP_STAMP, dir) < 0)
		return 0;
	same = bb_read_file(path, 1u << 20, &old, NULL, NULL) == 0 &&
	       strcmp(old, stamp) == 0 && exists_under(dir, "config") &&
	       (!hook || exists_under(dir, "hooks/pre-receive"));
	free(path);
	free(old);
	if (same && r->host_key[0]) {
		kh = gg_known_hosts_path(state, r->name);
		same = kh && access(kh, F_OK) == 0;
		free(kh);
	}
	return same;
}

static int write_stamp(const char *dir, const char *stamp, struct bb_err *err)
{
	char *path;
	int rc;

	if (!stamp)
		return 0;
	if (asprintf(&path, "%s/" SETUP_STAMP, dir) < 0)
		return bb_errf(err, dir, "out of memory");
	rc = bb_write_file_atomic(path, stamp, strlen(stamp), 0600, err);
	free(path);
	return rc;
}

int gg_mirror_setup(const char *state, const struct gg_repo *r,
		    const char *hook, const char *scanner, struct bb_err *err)
{
	static const char *const subs[] = {"repos", "creds", "locks"};
	char *dir = gg_mirror_dir(state, r->name), *stamp;
	int rc = -1;

	if (!dir)
		return bb_errf(err, state, "out of memory");
	stamp = setup_stamp(state, r, hook, scanner);
	if (setup_current(state, dir, r, stamp, hook)) {
		free(stamp);
		free(dir);
		return 0;
	}
	for (size_t i = 0; i < 3; i++) {
		char *p;

		if (asprintf(&p, "%s/%s", state, subs[i]) < 0) {
			bb_errf(err, state, "out of memory");
			goto out;
		}
		rc = bb_mkdir_p(p, 0700, err);
		free(p);
		if (rc < 0)
			goto out;
	}
	{
		/* No templates: no sample hooks, nothing we did not write. */
		const char *args[] = {"init", "--quiet", "--bare",
				      "--template=", dir, NULL};
		struct gg_out out;

		rc = gg_git(args, NULL, 60, &out, err);
		if (rc == 0 && out.status != 0)
			rc = bb_errf(err, dir, "git init failed: %s",
				     out.errout);
		if (rc == 0)
			gg_out_free(&out);
		if (rc < 0)
			goto out;
	}
	rc = configure(dir, state, r, scanner, err);
	if (rc == 0)
		rc = write_known_hosts(state, r, err);
	if (rc == 0 && hook)
		rc = install_hook(dir, hook, err);
	if (rc == 0)
		rc = write_stamp(dir, stamp, err);
out:
	free(stamp);
	free(dir);
	return rc;
}

void gg_no_host_key_msg(const char *name, char *msg, size_t msglen)
{
	snprintf(msg, msglen,
		 "bb-gitgate: repo '%s' has no host key; add host_key to "
		 "git-gate.repos.%s in the bottle and restart the bottle\n",
		 name, name);
}

/* The lines of git's stderr that say what went wrong (ssh's and git's
 * verdicts, not their banners), and none that names a local path. */
static int telling(const char *line)
{
	static const char *const pre[] = {
		"ssh:", "fatal:", "error:", "ERROR", "remote:",
		"Host key verification failed", "Permission denied",
		"Connection ", "kex_exchange_identification", "Load key"};

	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (strncmp(line, pre[i], strlen(pre[i])) == 0)
			return 1;
	return 0;
}

static void agent_reason(const char *errout, const char *state,
			 const char *identity, char *buf, size_t len)
{
	const char *s = errout;
	size_t used = strlen(buf);
	int lines = 0;

	while (*s && lines < 4) {
		const char *e = strchr(s, '\n');
		size_t n = e ? (size_t)(e - s) : strlen(s);
		char line[512];

		while (n && (s[n - 1] == '\r' || s[n - 1] == ' '))
			n--;
		snprintf(line, sizeof(line), "%.*s", (int)n, s);
		s = e ? e + 1 : s + strlen(s);
		if (!telling(line) || strstr(line, state) ||
		    strstr(line, identity))
			continue;
		for (char *c = line; *c; c++)
			if ((unsigned char)*c < 0x20)
				*c = ' ';
		used += (size_t)snprintf(buf + used, used < len ? len - used : 0,
					 "bb-gitgate: upstream: %s\n", line);
		if (used >= len)
			break;
		lines++;
	}
}

static int stamp_fresh(const char *stamp, time_t since)
{
	struct stat st;

	return stat(stamp, &st) == 0 && st.st_mtime >= since;
}

static void set_head(const char *dir, const char *ssh)
{
	const char *verify[] = {"--git-dir", dir, "rev-parse", "-q",
				"--verify", "HEAD", NULL};
	const char *lsr[] = {"--git-dir", dir, "ls-remote", "--symref",
			     "origin", "HEAD", NULL};
	struct gg_out out;
	struct bb_err ignored = {0};

	if (gg_git(verify, NULL, 30, &out, &ignored) < 0)
		return;
	if (out.status == 0) {
		gg_out_free(&out);
		return;
	}
	gg_out_free(&out);
	if (gg_git(lsr, ssh, FETCH_TIMEOUT, &out, &ignored) < 0)
		return;
	if (out.status == 0 && strncmp(out.out, "ref: refs/heads/", 16) == 0) {
		char *tab = strchr(out.out, '\t');

		if (tab) {
			*tab = '\0';
			const char *sym[] = {"--git-dir", dir, "symbolic-ref",
					     "HEAD", out.out + 5, NULL};
			struct gg_out o2;

			if (gg_git(sym, NULL, 30, &o2, &ignored) == 0)
				gg_out_free(&o2);
		}
	}
	gg_out_free(&out);
}

static int fetch(const char *state, const struct gg_repo *r, const char *dir,
		 const char *kh, char *msg, size_t msglen, struct bb_err *err)
{
	const char *args[] = {"--git-dir", dir, "fetch", "--prune", "--quiet",
			      "--no-write-fetch-head", "origin", NULL};
	char *ssh = gg_ssh_command(r->identity_file, kh);
	struct gg_out out;
	int rc = 0;

	if (!ssh)
		return bb_errf(err, r->name, "out of memory");
	if (gg_git(args, ssh, FETCH_TIMEOUT, &out, err) < 0) {
		free(ssh);
		snprintf(msg, msglen, "bb-gitgate: could not run git\n");
		return -1;
	}
	if (out.status != 0) {
		snprintf(msg, msglen,
			 "bb-gitgate: could not refresh '%s' from upstream%s; "
			 "refusing to serve a stale mirror\n",
			 r->name, out.timed_out ? " (timed out)" : "");
		agent_reason(out.errout, state, r->identity_file, msg, msglen);
		rc = bb_errf(err, r->name, "fetch from %s failed%s: %s", r->url,
			     out.timed_out ? " (timed out)" : "",
			     out.errout[0] ? out.errout : "no message");
	} else {
		set_head(dir, ssh);
	}
	gg_out_free(&out);
	free(ssh);
	return rc;
}

int gg_mirror_refresh(const char *state, const struct gg_repo *r,
		      int max_age, char *msg, size_t msglen,
		      struct bb_err *err)
{
	char *dir = gg_mirror_dir(state, r->name);
	char *kh = gg_known_hosts_path(state, r->name);
	char *lock = path_of(state, "locks", r->name, ".lock");
	char *stamp = path_of(state, "locks", r->name, ".fresh");
	time_t asked = time(NULL);
	int fd = -1, rc = -1;

	msg[0] = '\0';
	if (!dir || !kh || !lock || !stamp) {
		bb_errf(err, r->name, "out of memory");
		goto out;
	}
	if (!r->host_key[0] || access(kh, R_OK) < 0) {
		gg_no_host_key_msg(r->name, msg, msglen);
		bb_errf(err, r->name, "no host key: refusing to reach upstream");
		goto out;
	}
	if (access(r->identity_file, R_OK) < 0) {
		snprintf(msg, msglen,
			 "bb-gitgate: missing credentials for '%s'; "
			 "refusing fetch\n", r->name);
		bb_errf(err, r->identity_file, "identity_file: %s",
			strerror(errno));
		goto out;
	}
	fd = open(lock, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		snprintf(msg, msglen, "bb-gitgate: internal error\n");
		bb_errf(err, lock, "could not lock: %s", strerror(errno));
		goto out;
	}
	/* Someone refreshed while we waited for the lock, or recently enough
	 * for an RPC that follows its own advertisement: reuse it. */
	if (stamp_fresh(stamp, max_age > 0 ? asked - max_age : asked + 1)) {
		rc = 0;
		goto out;
	}
	rc = fetch(state, r, dir, kh, msg, msglen, err);
	if (rc == 0) {
		int sfd = open(stamp, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);

		if (sfd >= 0) {
			futimens(sfd, NULL);
			close(sfd);
		}
	} else {
		unlink(stamp);
	}
out:
	if (fd >= 0)
		close(fd);
	free(dir);
	free(kh);
	free(lock);
	free(stamp);
	return rc;
}
