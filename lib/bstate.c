#include "bstate.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bottle.h"
#include "file.h"
#include "json.h"
#include "proc.h"

static const char *xdg(const char *var, const char *fallback_rel, char *buf,
		       size_t size)
{
	const char *v = getenv(var);
	const char *home = getenv("HOME");

	if (v && v[0] == '/')
		snprintf(buf, size, "%s", v);
	else
		snprintf(buf, size, "%s/%s", home ? home : "/", fallback_rel);
	return buf;
}

const char *bb_state_root(void)
{
	static char root[PATH_MAX];
	char base[PATH_MAX - 32];

	xdg("XDG_STATE_HOME", ".local/state", base, sizeof(base));
	snprintf(root, sizeof(root), "%s/bb/bottles", base);
	return root;
}

const char *bb_runtime_root(void)
{
	static char root[PATH_MAX];
	const char *v = getenv("XDG_RUNTIME_DIR");

	if (v && v[0] == '/')
		snprintf(root, sizeof(root), "%s/bb", v);
	else
		snprintf(root, sizeof(root), "/tmp/bb-%u", (unsigned)getuid());
	return root;
}

static char *join(const char *a, const char *b)
{
	char *p;

	if (asprintf(&p, "%s/%s", a, b) < 0)
		abort();
	return p;
}

char *bb_state_dir(const char *slug)
{
	return join(bb_state_root(), slug);
}

char *bb_runtime_dir(const char *slug)
{
	return join(bb_runtime_root(), slug);
}

int bb_slug_valid(const char *slug)
{
	size_t n = strlen(slug);

	if (n == 0 || n > 63 || slug[0] == '-')
		return 0;
	for (const char *p = slug; *p; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		      *p == '-'))
			return 0;
	return 1;
}

unsigned long long bb_pid_starttime(pid_t pid)
{
	char path[64], buf[1024];
	unsigned long long t = 0;
	const char *p;
	ssize_t n;
	int fd;

	snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return 0;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = '\0';
	/* The command name may hold spaces and parens: skip to the last ')'. */
	p = strrchr(buf, ')');
	if (!p)
		return 0;
	for (int field = 2; field < 22 && p; field++)
		p = strchr(p + 1, ' ');
	if (p)
		sscanf(p + 1, "%llu", &t);
	return t;
}

json_t *bb_meta_load(const char *slug, struct bb_err *err)
{
	char *dir = bb_state_dir(slug), *path = join(dir, "metadata.json");
	json_t *m = bb_json_load(path, err);

	if (m && !json_is_object(m)) {
		bb_errf(err, path, "must contain a JSON object");
		json_decref(m);
		m = NULL;
	}
	free(dir);
	free(path);
	return m;
}

int bb_meta_save(const char *slug, json_t *meta, struct bb_err *err)
{
	char *dir = bb_state_dir(slug), *path = join(dir, "metadata.json");
	char *text = bb_json_string(meta);
	int rc = bb_write_state_file(path, text, strlen(text), 0600, err);

	free(text);
	free(dir);
	free(path);
	return rc;
}

int bb_meta_active(const json_t *meta)
{
	json_int_t pid = json_integer_value(json_object_get(meta, "pid"));
	json_int_t start = json_integer_value(json_object_get(meta, "pid_start"));

	if (pid <= 0 || !json_is_true(json_object_get(meta, "running")))
		return 0;
	return bb_pid_starttime((pid_t)pid) == (unsigned long long)start;
}

static int by_start_then_slug(const void *a, const void *b)
{
	const json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *sx = json_string_value(json_object_get(x, "started_at"));
	const char *sy = json_string_value(json_object_get(y, "started_at"));
	int c = strcmp(sx ? sx : "", sy ? sy : "");

	if (c)
		return c;
	return strcmp(json_string_value(json_object_get(x, "slug")),
		      json_string_value(json_object_get(y, "slug")));
}

json_t *bb_bottles_list(struct bb_err *err)
{
	DIR *d = opendir(bb_state_root());
	json_t **items = NULL, *out = json_array();
	size_t n = 0, cap = 0;
	struct dirent *e;

	if (!d)
		return out; /* no bottle yet */
	while ((e = readdir(d))) {
		struct bb_err ignored = {0};
		json_t *m;

		if (!bb_slug_valid(e->d_name))
			continue;
		m = bb_meta_load(e->d_name, &ignored);
		if (!m)
			continue;
		json_object_set_new(m, "slug", json_string(e->d_name));
		if (n == cap) {
			cap = cap ? cap * 2 : 16;
			items = realloc(items, cap * sizeof(*items));
			if (!items)
				abort();
		}
		items[n++] = m;
	}
	closedir(d);
	if (n > 1)
		qsort(items, n, sizeof(*items), by_start_then_slug);
	for (size_t i = 0; i < n; i++)
		json_array_append_new(out, items[i]);
	free(items);
	return out;
}

static pid_t read_pidfile(const char *dir, const char *name)
{
	char *path = join(dir, name), *text = NULL;
	struct bb_err err = {0};
	long pid = 0;

	if (bb_read_file(path, 64, &text, NULL, &err) == 0)
		pid = strtol(text, NULL, 10);
	free(text);
	free(path);
	return pid > 1 ? (pid_t)pid : 0;
}

static void stop_pid(pid_t pid)
{
	if (!bb_pid_alive(pid))
		return;
	kill(pid, SIGTERM);
	for (int i = 0; i < 100 && bb_pid_alive(pid); i++) {
		struct timespec ts = {0, 20 * 1000 * 1000};

		nanosleep(&ts, NULL);
	}
	if (bb_pid_alive(pid))
		kill(pid, SIGKILL);
}

void bb_bottle_clean(const char *slug, const json_t *meta)
{
	char *dir = bb_state_dir(slug), *run = bb_runtime_dir(slug);
	const char *backend = json_string_value(json_object_get(meta, "backend"));
	pid_t side = read_pidfile(dir, "sidecar.pid");
	struct bb_err err = {0};
	json_t *copy;

	if (side)
		stop_pid(side);
	if (backend && (!strcmp(backend, "podman") || !strcmp(backend, "docker"))) {
		char *envfile = join(dir, "agent.env");

		bb_podman_remove(backend, slug);
		/* The dead bb-up left the agent's environment behind. */
		unlink(envfile);
		free(envfile);
	}
	if (bb_rmtree(run) < 0 && errno != ENOENT)
		bb_warnx("%s: teardown failed (remove runtime dir): %s", slug,
			 strerror(errno));
	copy = json_deep_copy(meta);
	json_object_del(copy, "slug");
	json_object_set_new(copy, "running", json_false());
	if (bb_meta_save(slug, copy, &err) < 0)
		bb_report(&err);
	json_decref(copy);
	free(dir);
	free(run);
}

void bb_bottles_clean_stale(void)
{
	struct bb_err err = {0};
	json_t *all = bb_bottles_list(&err), *m;
	size_t i;

	json_array_foreach(all, i, m) {
		const char *slug = json_string_value(json_object_get(m, "slug"));

		if (json_is_true(json_object_get(m, "running")) &&
		    !bb_meta_active(m)) {
			bb_warnx("%s: cleaning up a bottle left by a dead bb-up", slug);
			bb_bottle_clean(slug, m);
		}
	}
	json_decref(all);
}

int bb_rmtree(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *e;
	int rc = 0;

	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	d = opendir(path);
	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char *sub;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		sub = join(path, e->d_name);
		if (bb_rmtree(sub) < 0)
			rc = -1;
		free(sub);
	}
	closedir(d);
	if (rmdir(path) < 0)
		rc = -1;
	return rc;
}

int bb_write_state_file(const char *path, const void *data, size_t len,
			mode_t mode, struct bb_err *err)
{
	char *tmp;
	const char *p = data;
	int fd, e = 0;

	if (asprintf(&tmp, "%s.tmp.XXXXXX", path) < 0)
		abort();
	fd = mkstemp(tmp); /* 0600 until chmod: never wider than asked */
	if (fd < 0) {
		e = errno;
		free(tmp);
		return bb_errf(err, path, "could not create: %s", strerror(e));
	}
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			e = errno;
			break;
		}
		p += w;
		len -= (size_t)w;
	}
	if (!e && fchmod(fd, mode) < 0)
		e = errno;
	if (close(fd) < 0 && !e)
		e = errno;
	if (!e && rename(tmp, path) < 0)
		e = errno;
	if (e)
		unlink(tmp);
	free(tmp);
	return e ? bb_errf(err, path, "could not write: %s", strerror(e)) : 0;
}
