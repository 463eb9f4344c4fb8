#include "routeapply.h"
#include "route.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file.h"
#include "json.h"
#include "manifest.h"
#include "proc.h"

extern char **environ;

#define RENDERER "bb-render-pipelock"
#define STATE_FILE_MAX (16u << 20)

/* One state file: its path, what it held and what it will hold. */
struct sfile {
	char *path;
	char *old;   /* NULL: did not exist */
	char *new;   /* NULL: leave alone */
	mode_t mode;
	int written;
};

static char *join(const char *dir, const char *name)
{
	char *p;

	return asprintf(&p, "%s/%s", dir, name) < 0 ? NULL : p;
}

static int sfile_load(struct sfile *f, const char *dir, const char *name,
		      struct bb_err *err)
{
	struct stat st;

	memset(f, 0, sizeof(*f));
	if (!(f->path = join(dir, name)))
		return bb_errf(err, dir, "out of memory");
	f->mode = 0600;
	if (stat(f->path, &st) < 0)
		return errno == ENOENT ? 0
				       : bb_errf(err, f->path, "%s",
						 strerror(errno));
	f->mode = st.st_mode & 0777;
	return bb_read_file(f->path, STATE_FILE_MAX, &f->old, NULL, err);
}

static void sfile_free(struct sfile *f)
{
	free(f->path);
	free(f->old);
	free(f->new);
}

static json_t *sfile_json(const struct sfile *f, struct bb_err *err)
{
	json_t *doc;

	if (!f->old)
		return NULL;
	doc = bb_json_parse(f->old, strlen(f->old), f->path, err);
	if (doc && !json_is_object(doc)) {
		json_decref(doc);
		bb_errf(err, f->path, "not a JSON object");
		return NULL;
	}
	return doc;
}

json_t *bb_route_checked(json_t *route, const char *source,
			 const char *label, struct bb_err *err)
{
	json_t *r = bb_manifest_route_check(route, source, label, err);
	json_t *pl;

	if (!r)
		return NULL;
	if (json_array_size(json_object_get(r, "path_allowlist")) == 0)
		json_object_del(r, "path_allowlist");
	pl = json_object_get(r, "pipelock");
	if (pl && !json_is_true(json_object_get(pl, "tls_passthrough")) &&
	    json_array_size(json_object_get(pl, "ssrf_ip_allowlist")) == 0)
		json_object_del(r, "pipelock");
	return r;
}

static int host_is(json_t *r, const char *host)
{
	const char *h = json_string_value(json_object_get(r, "host"));

	return h && strcasecmp(h, host) == 0;
}

/* Replace the entry for host in array, else append it; drop any other
 * entry with the same host, so hosts stay unique. */
static void put_route(json_t *array, const char *host, json_t *entry)
{
	size_t i = 0;
	int placed = 0;

	while (i < json_array_size(array)) {
		if (!host_is(json_array_get(array, i), host)) {
			i++;
		} else if (!placed) {
			json_array_set(array, i++, entry);
			placed = 1;
		} else {
			json_array_remove(array, i);
		}
	}
	if (!placed)
		json_array_append(array, entry);
}

static const char *slot_for(json_t *slots, const char *token_ref)
{
	const char *k;
	json_t *v;

	json_object_foreach(slots, k, v)
		if (json_is_string(v) &&
		    strcmp(json_string_value(v), token_ref) == 0)
			return k;
	return NULL;
}

json_t *bb_route_wire_manifest(json_t *route, json_t *slots,
			       struct bb_err *err)
{
	json_t *auth = json_object_get(route, "auth");
	json_t *pr, *w;

	pr = json_pack("{s:O, s:O*}", "host", json_object_get(route, "host"),
		       "path_allowlist",
		       json_object_get(route, "path_allowlist"));
	if (auth) {
		const char *ref =
			json_string_value(json_object_get(auth, "token_ref"));
		const char *slot = ref ? slot_for(slots, ref) : NULL;

		if (!slot) {
			json_decref(pr);
			bb_errf(err, NULL,
				"route auth.token_ref '%s' has no token slot in "
				"this bottle; a running bottle cannot get new "
				"credentials: add the route to the bottle's "
				"manifest and relaunch",
				ref ? ref : "");
			return NULL;
		}
		json_object_set(pr, "auth_scheme",
				json_object_get(auth, "scheme"));
		json_object_set_new(pr, "token_env", json_string(slot));
	}
	w = bb_route_wire(pr, "route", err);
	json_decref(pr);
	return w;
}

static json_t *plan_routes(json_t *plan)
{
	return json_object_get(json_object_get(plan, "egress"), "routes");
}

static json_t *plan_slots(json_t *plan)
{
	json_t *s = json_object_get(json_object_get(plan, "egress"),
				    "token_env");

	return json_is_object(s) ? s : NULL;
}

/* The checks that need the bottle: provider hosts and token slots. */
static int admissible(json_t *plan, json_t *routes, json_t *route,
		      struct bb_err *err)
{
	const char *host = json_string_value(json_object_get(route, "host"));
	json_t *r, *w;
	size_t i;

	json_array_foreach(plan_routes(plan), i, r)
		if (host_is(r, host) &&
		    json_is_true(json_object_get(r, "provider")))
			return bb_errf(err, NULL,
				       "route host '%s' is a provider route; "
				       "it cannot be changed in a running "
				       "bottle",
				       host);
	if (!plan)
		json_array_foreach(json_object_get(routes, "routes"), i, r)
			if (host_is(r, host) &&
			    json_object_get(r, "auth_scheme"))
				return bb_errf(err, NULL,
					       "route host '%s' has "
					       "credentials and the bottle has "
					       "no plan.json to tell whose; "
					       "refusing to replace it",
					       host);
	w = bb_route_wire_manifest(route, plan_slots(plan), err);
	json_decref(w);
	return w ? 0 : -1;
}

int bb_route_admissible(const char *state, json_t *route,
			struct bb_err *err)
{
	struct sfile pf, rf;
	json_t *plan = NULL, *routes = NULL;
	int rc = -1;

	if (sfile_load(&pf, state, "plan.json", err) == 0 &&
	    sfile_load(&rf, state, "routes.json", err) == 0 &&
	    (!pf.old || (plan = sfile_json(&pf, err))) &&
	    (!rf.old || (routes = sfile_json(&rf, err))))
		rc = admissible(plan, routes, route, err);
	json_decref(plan);
	json_decref(routes);
	sfile_free(&pf);
	sfile_free(&rf);
	return rc;
}

/* ---- the new contents -------------------------------------------------- */

static int new_routes(struct sfile *rf, json_t *wire, struct bb_err *err)
{
	json_t *doc = sfile_json(rf, err), *routes;

	if (!rf->old)
		return bb_errf(err, rf->path,
			       "missing: is egress set up for this bottle?");
	if (!doc)
		return -1;
	routes = json_object_get(doc, "routes");
	if (json_integer_value(json_object_get(doc, "version")) != 1 ||
	    !json_is_array(routes)) {
		json_decref(doc);
		return bb_errf(err, rf->path,
			       "not a version 1 routes file (bb-egress(5))");
	}
	put_route(routes, json_string_value(json_object_get(wire, "host")),
		  wire);
	rf->new = bb_json_string(doc);
	json_decref(doc);
	return rf->new ? 0 : bb_errf(err, rf->path, "out of memory");
}

static void add_unique(json_t *array, json_t *value)
{
	size_t i;
	json_t *v;

	if (!json_is_array(array))
		return;
	json_array_foreach(array, i, v)
		if (json_equal(v, value))
			return;
	json_array_append(array, value);
}

static json_t *plan_route(json_t *route, json_t *wire)
{
	json_t *auth = json_object_get(route, "auth");
	json_t *pl = json_object_get(route, "pipelock");
	json_t *paths = json_object_get(route, "path_allowlist");
	json_t *ssrf = json_object_get(pl, "ssrf_ip_allowlist");

	return json_pack(
		"{s:O, s:o, s:s, s:s, s:s, s:b, s:o, s:b}", "host",
		json_object_get(wire, "host"), "path_allowlist",
		paths ? json_incref(paths) : json_array(), "auth_scheme",
		auth ? json_string_value(json_object_get(auth, "scheme")) : "",
		"token_ref",
		auth ? json_string_value(json_object_get(auth, "token_ref"))
		     : "",
		"token_env",
		auth ? json_string_value(json_object_get(wire, "token_env"))
		     : "",
		"tls_passthrough",
		json_is_true(json_object_get(pl, "tls_passthrough")),
		"ssrf_ip_allowlist", ssrf ? json_incref(ssrf) : json_array(),
		"provider", 0);
}

/* The plan with the route in egress.routes and its host (and SSRF
 * entries, passthrough) mirrored into the pipelock section. */
static int new_plan(struct sfile *pf, json_t *route, json_t *wire,
		    struct bb_err *err)
{
	json_t *plan = sfile_json(pf, err), *entry, *pipe, *ssrf, *v;
	size_t i;

	if (!plan)
		return -1;
	if (!json_is_array(plan_routes(plan))) {
		json_decref(plan);
		return bb_errf(err, pf->path, "egress.routes must be an array");
	}
	entry = plan_route(route, wire);
	put_route(plan_routes(plan),
		  json_string_value(json_object_get(wire, "host")), entry);
	pipe = json_object_get(plan, "pipelock");
	add_unique(json_object_get(pipe, "api_allowlist"),
		   json_object_get(wire, "host"));
	if (json_is_true(json_object_get(entry, "tls_passthrough")))
		add_unique(json_object_get(pipe, "passthrough_domains"),
			   json_object_get(wire, "host"));
	ssrf = json_object_get(entry, "ssrf_ip_allowlist");
	json_array_foreach(ssrf, i, v)
		add_unique(json_object_get(pipe, "ssrf_ip_allowlist"), v);
	json_decref(entry);
	pf->new = bb_json_string(plan);
	json_decref(plan);
	return pf->new ? 0 : bb_errf(err, pf->path, "out of memory");
}

/* The renderer of the bb that is running: next to our own executable
 * (bb-up starts the sidecars with a PATH that need not hold bb's bin
 * directory), else the first on PATH.  malloc'd, or NULL. */
static char *find_renderer(void)
{
	const char *path = getenv("PATH");
	char *p = bb_sibling(RENDERER), *copy, *dir, *save = NULL;

	if (access(p, X_OK) == 0)
		return p;
	free(p);
	p = NULL;
	if (!path || !(copy = strdup(path)))
		return NULL;
	for (dir = strtok_r(copy, ":", &save); dir;
	     dir = strtok_r(NULL, ":", &save)) {
		if ((p = join(*dir ? dir : ".", RENDERER)) && access(p, X_OK) == 0)
			break;
		free(p);
		p = NULL;
	}
	free(copy);
	return p;
}

/* An unlinked temp file in dir holding data (or empty), rewound. */
static int temp_fd(const char *dir, const char *data, struct bb_err *err)
{
	char *tmpl = join(dir, ".render.XXXXXX");
	int fd = tmpl ? mkstemp(tmpl) : -1;
	size_t n = data ? strlen(data) : 0, off = 0;

	if (fd < 0) {
		free(tmpl);
		return bb_errf(err, dir, "temp file: %s", strerror(errno));
	}
	unlink(tmpl);
	free(tmpl);
	while (off < n) {
		ssize_t w = write(fd, data + off, n - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0) {
			close(fd);
			return bb_errf(err, dir, "temp file: %s",
				       strerror(errno));
		}
		off += (size_t)w;
	}
	lseek(fd, 0, SEEK_SET);
	return fd;
}

/* The first line of a renderer's stderr, for the operator. */
static void first_line(int fd, char *buf, size_t n)
{
	ssize_t r;

	lseek(fd, 0, SEEK_SET);
	r = read(fd, buf, n - 1);
	buf[r > 0 ? r : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
}

/* Run bb-render-pipelock on the new plan; its stdout is the new
 * pipelock.yaml. */
static int render_pipelock(const char *state, const char *plan,
			   struct sfile *yf, struct bb_err *err)
{
	char *exe = find_renderer(), *argv[] = {RENDERER, NULL}, msg[512];
	posix_spawn_file_actions_t fa;
	int in, out = -1, errfd = -1, status, rc = -1;
	pid_t pid;

	if (!exe)
		return bb_errf(err, yf->path,
			       "pipelock is in the chain but " RENDERER
			       " is neither in %s nor on PATH; cannot "
			       "re-render its allowlist, nothing applied",
			       bb_exe_dir());
	if ((in = temp_fd(state, plan, err)) < 0) {
		free(exe);
		return -1;
	}
	out = temp_fd(state, NULL, err);
	errfd = out < 0 ? -1 : temp_fd(state, NULL, err);
	if (errfd < 0)
		goto done;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, in, 0);
	posix_spawn_file_actions_adddup2(&fa, out, 1);
	posix_spawn_file_actions_adddup2(&fa, errfd, 2);
	errno = posix_spawn(&pid, exe, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (errno) {
		bb_errf(err, RENDERER, "could not run: %s", strerror(errno));
		goto done;
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		first_line(errfd, msg, sizeof(msg));
		bb_errf(err, RENDERER, "failed (status %d): %s",
			WIFEXITED(status) ? WEXITSTATUS(status) : -1, msg);
		goto done;
	}
	lseek(out, 0, SEEK_SET);
	rc = bb_read_fd(out, RENDERER, STATE_FILE_MAX, &yf->new, NULL, err);
done:
	free(exe);
	close(in);
	if (out >= 0)
		close(out);
	if (errfd >= 0)
		close(errfd);
	return rc;
}

/* ---- signals ----------------------------------------------------------- */

/* The live pid in STATE/name, 0 when the file does not exist. */
static int read_pid(const char *state, const char *name, pid_t *pid,
		    struct bb_err *err)
{
	char *path = join(state, name), *buf = NULL, *end;
	long v;
	int rc = 0;

	*pid = 0;
	if (!path)
		return bb_errf(err, state, "out of memory");
	if (access(path, F_OK) < 0)
		goto out;
	if (bb_read_file(path, 64, &buf, NULL, err) < 0) {
		rc = -1;
		goto out;
	}
	v = strtol(buf, &end, 10);
	while (*end == '\n' || *end == ' ')
		end++;
	if (end == buf || *end || v <= 1 || v > 0x7fffffff)
		rc = bb_errf(err, path, "not a process id");
	else if (kill((pid_t)v, 0) < 0)
		rc = bb_errf(err, path, "process %ld is not running: %s", v,
			     strerror(errno));
	else
		*pid = (pid_t)v;
out:
	free(buf);
	free(path);
	return rc;
}

static void restore(struct sfile *files, size_t n)
{
	struct bb_err ignored;

	for (size_t i = 0; i < n; i++) {
		if (!files[i].written)
			continue;
		if (files[i].old)
			bb_write_file_atomic(files[i].path, files[i].old,
					     strlen(files[i].old),
					     files[i].mode, &ignored);
		else
			unlink(files[i].path);
	}
}

static int write_all_files(struct sfile *files, size_t n,
			   struct bb_err *err)
{
	for (size_t i = 0; i < n; i++) {
		if (!files[i].new)
			continue;
		if (bb_write_file_atomic(files[i].path, files[i].new,
					 strlen(files[i].new), files[i].mode,
					 err) < 0) {
			restore(files, n);
			return -1;
		}
		files[i].written = 1;
	}
	return 0;
}

enum { F_ROUTES, F_PLAN, F_PIPELOCK, F_N };

static int prepare(const char *state, json_t *route, struct sfile *f,
		   json_t **wire, struct bb_err *err)
{
	json_t *plan = NULL, *routes = NULL;
	int rc = -1;

	if (sfile_load(&f[F_ROUTES], state, "routes.json", err) < 0 ||
	    sfile_load(&f[F_PLAN], state, "plan.json", err) < 0 ||
	    sfile_load(&f[F_PIPELOCK], state, "pipelock.yaml", err) < 0)
		return -1;
	if ((f[F_PLAN].old && !(plan = sfile_json(&f[F_PLAN], err))) ||
	    (f[F_ROUTES].old && !(routes = sfile_json(&f[F_ROUTES], err))))
		goto out;
	if (admissible(plan, routes, route, err) < 0 ||
	    !(*wire = bb_route_wire_manifest(route, plan_slots(plan), err)) ||
	    new_routes(&f[F_ROUTES], *wire, err) < 0)
		goto out;
	if (plan && new_plan(&f[F_PLAN], route, *wire, err) < 0)
		goto out;
	if (f[F_PIPELOCK].old) {
		if (!plan) {
			bb_errf(err, f[F_PIPELOCK].path,
				"pipelock is in the chain but the bottle has "
				"no plan.json to re-render it from");
			goto out;
		}
		if (render_pipelock(state, f[F_PLAN].new, &f[F_PIPELOCK],
				    err) < 0)
			goto out;
	}
	rc = 0;
out:
	json_decref(plan);
	json_decref(routes);
	return rc;
}

int bb_route_apply(const char *state, json_t *route, char **note,
		   struct bb_err *err)
{
	struct sfile f[F_N];
	json_t *wire = NULL;
	pid_t sidecar = 0, egress = 0, hup;
	int rc = -1;

	memset(f, 0, sizeof(f));
	*note = NULL;
	if (prepare(state, route, f, &wire, err) < 0 ||
	    read_pid(state, "sidecar.pid", &sidecar, err) < 0 ||
	    (!sidecar && read_pid(state, "egress.pid", &egress, err) < 0))
		goto out;
	hup = sidecar ? sidecar : egress;
	if (!hup) {
		bb_errf(err, state,
			"no running egress to reload: neither sidecar.pid "
			"nor egress.pid; nothing applied");
		goto out;
	}
	if (f[F_PIPELOCK].new && !sidecar) {
		bb_errf(err, state,
			"pipelock is in the chain but there is no sidecar.pid "
			"to restart it through; nothing applied");
		goto out;
	}
	if (write_all_files(f, F_N, err) < 0)
		goto out;
	if (kill(hup, SIGHUP) < 0 ||
	    (f[F_PIPELOCK].new && kill(sidecar, SIGUSR1) < 0)) {
		bb_errf(err, state, "could not signal process %ld: %s",
			(long)hup, strerror(errno));
		restore(f, F_N);
		kill(hup, SIGHUP);
		goto out;
	}
	if (asprintf(note, "route for %s in force: routes.json rewritten, "
			   "SIGHUP sent to %s %ld%s",
		     json_string_value(json_object_get(wire, "host")),
		     sidecar ? "sidecar" : "egress", (long)hup,
		     f[F_PIPELOCK].new ? "; pipelock.yaml re-rendered, "
					 "SIGUSR1 sent to restart pipelock"
				       : "") < 0)
		*note = NULL;
	rc = 0;
out:
	json_decref(wire);
	for (int i = 0; i < F_N; i++)
		sfile_free(&f[i]);
	return rc;
}
