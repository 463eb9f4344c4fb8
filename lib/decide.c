#include "decide.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "queue.h"
#include "routeapply.h"

char *bb_bottles_root(void)
{
	const char *x = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	char *p;

	if (x && x[0] == '/')
		return asprintf(&p, "%s/bb/bottles", x) < 0 ? NULL : p;
	return asprintf(&p, "%s/.local/state/bb/bottles", home ? home : "")
		       < 0
		       ? NULL
		       : p;
}

static char *join(const char *a, const char *b)
{
	char *p;

	return asprintf(&p, "%s/%s", a, b) < 0 ? NULL : p;
}

/* The bottle state directories under root that have a queue, sorted. */
static json_t *bottles(const char *root)
{
	json_t *out = json_array();
	DIR *d = opendir(root);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		struct stat st;
		char *state, *q;

		if (e->d_name[0] == '.')
			continue;
		state = join(root, e->d_name);
		q = state ? join(state, "queue") : NULL;
		if (q && stat(q, &st) == 0 && S_ISDIR(st.st_mode))
			json_array_append_new(out, json_string(state));
		free(q);
		free(state);
	}
	if (d)
		closedir(d);
	return out;
}

static char *queue_of(const char *state)
{
	return join(state, "queue");
}

static int by_creation(const void *a, const void *b)
{
	json_t *x = *(json_t *const *)a, *y = *(json_t *const *)b;
	const char *cx = json_string_value(json_object_get(x, "created_at"));
	const char *cy = json_string_value(json_object_get(y, "created_at"));
	const char *ix = json_string_value(json_object_get(x, "id"));
	const char *iy = json_string_value(json_object_get(y, "id"));
	int c = strcmp(cx ? cx : "", cy ? cy : "");

	return c ? c : strcmp(ix ? ix : "", iy ? iy : "");
}

json_t *bb_decide_pending(const char *root)
{
	json_t *all = json_array(), *states = bottles(root), *st, *p, *out;
	json_t **v;
	size_t i, j, n;

	json_array_foreach(states, i, st) {
		char *q = queue_of(json_string_value(st));
		json_t *pend = q ? bb_queue_pending(q) : NULL;

		json_array_foreach(pend, j, p)
			json_array_append(all, p);
		json_decref(pend);
		free(q);
	}
	json_decref(states);
	n = json_array_size(all);
	out = json_array();
	v = calloc(n + 1, sizeof(*v));
	for (i = 0; v && i < n; i++)
		v[i] = json_array_get(all, i);
	if (v && n)
		qsort(v, n, sizeof(*v), by_creation);
	for (i = 0; v && i < n; i++)
		json_array_append(out, v[i]);
	free(v);
	json_decref(all);
	return out;
}

char *bb_decide_find(const char *root, const char *id, struct bb_err *err)
{
	json_t *states, *st;
	char *found = NULL;
	size_t i;

	if (!bb_queue_id_ok(id)) {
		bb_errf(err, id, "not a proposal id");
		return NULL;
	}
	states = bottles(root);
	json_array_foreach(states, i, st) {
		char *q = queue_of(json_string_value(st));

		for (int a = 0; q && a < 2 && !found; a++) {
			char *p = bb_queue_path(q, id, "proposal", a);

			if (p && access(p, F_OK) == 0)
				found = strdup(json_string_value(st));
			free(p);
		}
		free(q);
		if (found)
			break;
	}
	json_decref(states);
	if (!found)
		bb_errf(err, id, "no such proposal under %s", root);
	return found;
}

json_t *bb_decide_show(const char *state, const char *id,
		       struct bb_err *err)
{
	char *q = queue_of(state);
	json_t *p = q ? bb_queue_load(q, id, "proposal", NULL, err) : NULL;
	json_t *r = p ? bb_queue_answer(q, id) : NULL, *out = NULL;

	if (p)
		out = json_pack("{s:s, s:o, s:o}", "status",
				r ? json_string_value(json_object_get(r, "status"))
				  : "pending",
				"proposal", p, "response",
				r ? r : json_null());
	free(q);
	return out;
}

/* ---- deciding ----------------------------------------------------------- */

/* An exclusive lock on the bottle's queue while a decision is made, so
 * two operators cannot both answer one proposal. */
static int lock_queue(const char *q, struct bb_err *err)
{
	char *path = join(q, ".lock");
	int fd = path ? open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600) : -1;

	free(path);
	if (fd < 0 || flock(fd, LOCK_EX) < 0) {
		if (fd >= 0)
			close(fd);
		return bb_errf(err, q, "could not lock the queue: %s",
			       strerror(errno));
	}
	return fd;
}

static json_t *load_pending(const char *q, const char *id,
			    struct bb_err *err)
{
	json_t *answer;

	if (bb_queue_is_pending(q, id))
		return bb_queue_load(q, id, "proposal", NULL, err);
	answer = bb_queue_answer(q, id);
	bb_errf(err, id, "already answered: %s",
		answer ? json_string_value(json_object_get(answer, "status"))
		       : "no longer pending");
	json_decref(answer);
	return NULL;
}

static const char *operator_name(void)
{
	const char *u = getenv("USER");
	struct passwd *pw;

	if (u && *u)
		return u;
	pw = getpwuid(getuid());
	return pw ? pw->pw_name : "unknown";
}

static int record(const char *q, const char *id, const char *status,
		  const char *notes, int edited, json_t *applied,
		  struct bb_err *err)
{
	char now[32];
	json_t *r;
	int rc;

	bb_queue_now(now);
	r = json_pack("{s:i, s:s, s:s, s:s, s:s, s:s, s:b, s:O}", "version",
		      1, "id", id, "status", status, "notes", notes,
		      "decided_by", operator_name(), "decided_at", now,
		      "edited", edited, "applied",
		      applied ? applied : json_null());
	rc = r ? bb_queue_answer_and_archive(q, id, r, err)
	       : bb_errf(err, id, "out of memory");
	json_decref(r);
	return rc;
}

/* Put the proposal's payload into force; *note says what was done.
 * source names the payload in errors (the edit file, or the proposal). */
static int apply(const char *state, const char *tool, json_t *payload,
		 const char *source, char **note, struct bb_err *err)
{
	json_t *route;
	int rc;

	*note = NULL;
	if (strcmp(tool, "report_blocked") == 0)
		return 0; /* an answer only: nothing to put in force */
	if (strcmp(tool, "request_egress_route") != 0)
		return bb_errf(err, source, "unknown tool '%s'", tool);
	if (!json_is_object(payload) || json_object_size(payload) != 1 ||
	    !json_object_get(payload, "route"))
		return bb_errf(err, source,
			       "payload must be {\"route\": {...}} "
			       "(bb-supervise(5))");
	route = bb_route_checked(json_object_get(payload, "route"), source,
				 "payload.route", err);
	if (!route)
		return -1;
	rc = bb_route_apply(state, route, note, err);
	json_decref(route);
	return rc;
}

int bb_decide_approve(const char *state, const char *id, json_t *edited,
		      const char *edit_source, const char *note, char **summary,
		      struct bb_err *err)
{
	char *q = queue_of(state), *applied_note = NULL, source[96];
	json_t *p = NULL, *payload;
	const char *tool;
	int lock, rc = -1;

	*summary = NULL;
	if (!q || (lock = lock_queue(q, err)) < 0) {
		free(q);
		return -1;
	}
	if (!(p = load_pending(q, id, err)))
		goto out;
	tool = json_string_value(json_object_get(p, "tool"));
	payload = edited ? edited : json_object_get(p, "payload");
	snprintf(source, sizeof(source), "proposal %s", id);
	if (apply(state, tool ? tool : "", payload,
		  edited ? edit_source : source, &applied_note, err) < 0)
		goto out;
	if (record(q, id, "approved",
		   note && *note ? note
				 : applied_note ? applied_note : "approved",
		   edited && !json_equal(edited, json_object_get(p, "payload")),
		   payload, err) < 0)
		goto out;
	*summary = applied_note;
	applied_note = NULL;
	rc = 0;
out:
	free(applied_note);
	json_decref(p);
	close(lock);
	free(q);
	return rc;
}

int bb_decide_reject(const char *state, const char *id, const char *reason,
		     struct bb_err *err)
{
	char *q = queue_of(state);
	json_t *p = NULL;
	int lock, rc = -1;

	if (!q || (lock = lock_queue(q, err)) < 0) {
		free(q);
		return -1;
	}
	if ((p = load_pending(q, id, err)))
		rc = record(q, id, "rejected", reason, 0, NULL, err);
	json_decref(p);
	close(lock);
	free(q);
	return rc;
}

/* ---- showing ------------------------------------------------------------ */

/* Replace C0 and C1 controls and DEL: the text is the agent's and must
 * not drive the operator's terminal. */
static void defang(char *s)
{
	unsigned char *u = (unsigned char *)s;

	for (; *u; u++) {
		if (*u < 0x20 || *u == 0x7f)
			*u = '?';
		else if (*u == 0xc2 && u[1] >= 0x80 && u[1] <= 0x9f) {
			u[0] = '?';
			u[1] = '?';
			u++;
		}
	}
}

static void route_summary(json_t *route, char *buf, size_t n)
{
	json_t *paths = json_object_get(route, "path_allowlist"), *v;
	json_t *auth = json_object_get(route, "auth");
	size_t len, i;

	len = (size_t)snprintf(buf, n, "route %s",
			       json_string_value(json_object_get(route, "host"))
				       ?: "?");
	json_array_foreach(paths, i, v)
		if (len < n)
			len += (size_t)snprintf(buf + len, n - len, "%s%s",
						i ? "," : " paths=",
						json_string_value(v) ?: "?");
	if (auth && len < n)
		snprintf(buf + len, n - len, " auth=%s/%s",
			 json_string_value(json_object_get(auth, "scheme"))
				 ?: "?",
			 json_string_value(json_object_get(auth, "token_ref"))
				 ?: "?");
}

char *bb_decide_line(json_t *p)
{
	const char *tool = json_string_value(json_object_get(p, "tool"));
	json_t *payload = json_object_get(p, "payload");
	char what[1024], *line;

	if (tool && strcmp(tool, "request_egress_route") == 0)
		route_summary(json_object_get(payload, "route"), what,
			      sizeof(what));
	else
		snprintf(what, sizeof(what), "blocked %s",
			 json_string_value(json_object_get(payload, "kind"))
				 ?: "?");
	if (asprintf(&line, "%s %s %s: %s",
		     json_string_value(json_object_get(p, "id")) ?: "?",
		     json_string_value(json_object_get(p, "bottle_slug")) ?: "?",
		     what,
		     json_string_value(json_object_get(p, "justification"))
			     ?: "") < 0)
		return NULL;
	defang(line);
	return line;
}

static volatile sig_atomic_t stop_watch;

static void on_stop(int sig)
{
	stop_watch = sig;
}

static void print_one(json_t *p, int json_lines, int bell, FILE *out)
{
	char *s = json_lines ? json_dumps(p, JSON_COMPACT | JSON_SORT_KEYS)
			     : bb_decide_line(p);

	if (!s)
		return;
	fprintf(out, "%s%s\n", s, bell ? "\a" : "");
	fflush(out);
	free(s);
}

int bb_decide_watch(const char *root, int json_lines, FILE *out)
{
	struct sigaction sa = {.sa_handler = on_stop};
	struct timespec tick = {0, 200000000};
	int tty = isatty(fileno(out)) && !json_lines;
	json_t *seen = json_object();

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	for (int first = 1; !stop_watch; first = 0) {
		json_t *pend = bb_decide_pending(root), *now = json_object(), *p;
		size_t i;

		json_array_foreach(pend, i, p) {
			const char *id = json_string_value(json_object_get(p, "id"));

			if (!id)
				continue;
			if (!json_object_get(seen, id))
				print_one(p, json_lines, tty && !first, out);
			json_object_set_new(now, id, json_true());
		}
		json_decref(pend);
		json_decref(seen);
		seen = now;
		nanosleep(&tick, NULL);
	}
	json_decref(seen);
	return 0;
}
