/* The manifest as a whole: files from the home and project directories,
 * extends resolution, agents' bottle references, and the JSON document. */
#include "manifest.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "file.h"
#include "frontmatter.h"
#include "json.h"

#define MAX_EXTENDS_DEPTH 64
#define MAX_FILES 4096

struct bb_manifest {
	char *home;
	json_t *leaves;   /* bottle name -> leaf-validated bottle */
	json_t *decl;     /* bottle name -> declared bits (integer) */
	json_t *bottles;  /* bottle name -> resolved bottle */
	json_t *agents;   /* agent name -> agent */
};

struct bb_manifest *bb_manifest_new(const char *home)
{
	struct bb_manifest *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->home = strdup(home);
	m->leaves = json_object();
	m->decl = json_object();
	m->bottles = json_object();
	m->agents = json_object();
	if (!m->home || !m->leaves || !m->decl || !m->bottles || !m->agents) {
		bb_manifest_free(m);
		return NULL;
	}
	return m;
}

void bb_manifest_free(struct bb_manifest *m)
{
	if (!m)
		return;
	free(m->home);
	json_decref(m->leaves);
	json_decref(m->decl);
	json_decref(m->bottles);
	json_decref(m->agents);
	free(m);
}

int bb_manifest_name_ok(const char *f)
{
	size_t n = strlen(f);

	if (n < 4 || strcmp(f + n - 3, ".md") || f[0] < 'a' || f[0] > 'z')
		return 0;
	for (size_t i = 1; i < n - 3; i++)
		if (!((f[i] >= 'a' && f[i] <= 'z') ||
		      (f[i] >= '0' && f[i] <= '9') || f[i] == '-'))
			return 0;
	return 1;
}

/* Frontmatter and leaf checks of one file: depends on nothing else in
 * the manifest, so files are checked in parallel (see load_dir). */
static json_t *check_file(enum bb_mkind kind, enum bb_morigin origin,
			  const char *name, const char *path, const char *buf,
			  size_t len, unsigned *decl, struct bb_err *err)
{
	json_t *front, *doc;
	char *body;

	*decl = 0;
	if (kind == BB_MKIND_BOTTLE && origin != BB_ORIGIN_HOME) {
		bb_errf(err, path, "bottles load only from the home "
				   "manifest directory");
		return NULL;
	}
	if (bb_frontmatter_split(buf, len, path, &front, &body, err) < 0)
		return NULL;
	if (kind == BB_MKIND_BOTTLE)
		doc = bb_bottle_check(front, name, path, decl, err);
	else
		doc = bb_agent_check(front, body, name, path, origin, err);
	json_decref(front);
	free(body);
	return doc;
}

/* Adds the checked doc (reference stolen) under name. */
static int insert(struct bb_manifest *m, enum bb_mkind kind,
		  enum bb_morigin origin, const char *name, const char *path,
		  json_t *doc, unsigned decl, struct bb_err *err)
{
	json_t *old;

	if (kind == BB_MKIND_BOTTLE) {
		if (json_object_get(m->leaves, name)) {
			json_decref(doc);
			return bb_errf(err, path, "bottle '%s' is defined twice",
				       name);
		}
		json_object_set_new(m->leaves, name, doc);
		json_object_set_new(m->decl, name, json_integer(decl));
		return 0;
	}
	old = json_object_get(m->agents, name);
	/* A project agent overrides the home one; nothing else may clash. */
	if (old && !(origin == BB_ORIGIN_PROJECT &&
		     !strcmp(json_string_value(json_object_get(old, "origin")),
			     "home"))) {
		json_decref(doc);
		return bb_errf(err, path, "agent '%s' is defined twice", name);
	}
	json_object_set_new(m->agents, name, doc);
	return 0;
}

int bb_manifest_add(struct bb_manifest *m, enum bb_mkind kind,
		    enum bb_morigin origin, const char *name,
		    const char *path, const char *buf, size_t len,
		    struct bb_err *err)
{
	unsigned decl;
	json_t *doc = check_file(kind, origin, name, path, buf, len, &decl,
				 err);

	if (!doc)
		return -1;
	return insert(m, kind, origin, name, path, doc, decl, err);
}

/* ---- extends ------------------------------------------------------ */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The keys of obj, sorted (pointers into obj); *n gets the count. */
static const char **sorted_keys(json_t *obj, size_t *n)
{
	const char **keys = malloc((json_object_size(obj) + 1) * sizeof(*keys));
	const char *k;
	json_t *v;

	*n = 0;
	if (!keys)
		return NULL;
	json_object_foreach(obj, k, v)
		keys[(*n)++] = k;
	qsort(keys, *n, sizeof(*keys), cmp_str);
	return keys;
}

/* "a, b, c" or none, for "Available: ..." (malloc'd). */
static char *names_list(json_t *obj, const char *none)
{
	size_t n, len = 1;
	const char **keys = sorted_keys(obj, &n);
	char *out;

	if (!keys)
		return NULL;
	for (size_t i = 0; i < n; i++)
		len += strlen(keys[i]) + 2;
	out = malloc(n ? len : strlen(none) + 1);
	if (out && !n)
		strcpy(out, none);
	else if (out) {
		out[0] = '\0';
		for (size_t i = 0; i < n; i++) {
			if (i)
				strcat(out, ", ");
			strcat(out, keys[i]);
		}
	}
	free(keys);
	return out;
}

static const char *source_of(json_t *doc)
{
	return json_string_value(json_object_get(doc, "source"));
}

/* A non-empty child field of git-gate.user wins, field by field. */
static void overlay_user(json_t *into, json_t *over)
{
	const char *const fields[] = {"name", "email"};

	for (int i = 0; i < 2; i++) {
		json_t *v = json_object_get(over, fields[i]);

		if (json_string_length(v))
			json_object_set(into, fields[i], v);
	}
}

static json_t *merge(json_t *parent, json_t *child,
		     unsigned decl)
{
	json_t *out = json_deep_copy(parent);
	json_t *gg = json_object_get(out, "git-gate");
	json_t *cgg = json_object_get(child, "git-gate");
	const char *const whole[] = {"supervise", "agent_provider", "egress"};
	const unsigned bits[] = {BB_DECL_SUPERVISE, BB_DECL_PROVIDER,
				 BB_DECL_EGRESS};

	json_object_set(out, "source", json_object_get(child, "source"));
	json_object_set(out, "extends", json_object_get(child, "extends"));
	json_object_update(json_object_get(out, "env"),
			   json_object_get(child, "env"));
	for (int i = 0; i < 3; i++)
		if (decl & bits[i])
			json_object_set_new(out, whole[i], json_deep_copy(
				json_object_get(child, whole[i])));
	overlay_user(json_object_get(gg, "user"), json_object_get(cgg, "user"));
	if (decl & BB_DECL_GG_REPOS) {
		json_t *repos = json_object_get(cgg, "repos");

		/* Explicit {} clears; otherwise by repo name, whole entries. */
		if (json_object_size(repos) == 0)
			json_object_set_new(gg, "repos", json_object());
		else
			json_object_update(json_object_get(gg, "repos"),
					   repos);
	}
	return out;
}

struct walk {
	struct bb_manifest *m;
	const char *chain[MAX_EXTENDS_DEPTH + 1];
	size_t depth;
	struct bb_err *err;
};

static int extends_fail(struct walk *w, const char *name, const char *fmt,
			...) __attribute__((format(printf, 3, 4)));
static int extends_fail(struct walk *w, const char *name, const char *fmt,
			...)
{
	char where[512];
	va_list ap;

	snprintf(where, sizeof(where), "%s: extends",
		 source_of(json_object_get(w->m->leaves, name)));
	va_start(ap, fmt);
	bb_verrf(w->err, where, fmt, ap);
	va_end(ap);
	return -1;
}

static int cycle_fail(struct walk *w, size_t from, const char *again)
{
	char cycle[1024] = "";

	for (size_t i = from; i < w->depth; i++) {
		size_t n = strlen(cycle);

		snprintf(cycle + n, sizeof(cycle) - n, "%s -> ", w->chain[i]);
	}
	size_t n = strlen(cycle);

	snprintf(cycle + n, sizeof(cycle) - n, "%s", again);
	return extends_fail(w, w->chain[from], "bottle '%s' is in an extends "
			    "cycle: %s", w->chain[from], cycle);
}

static int resolve_bottle(struct walk *w, const char *name)
{
	json_t *leaf = json_object_get(w->m->leaves, name);
	const char *parent = json_string_value(json_object_get(leaf, "extends"));
	unsigned decl = (unsigned)json_integer_value(
		json_object_get(w->m->decl, name));
	json_t *resolved;

	if (json_object_get(w->m->bottles, name))
		return 0;
	/* Shared, not copied: nothing edits a bottle in place (merge and
	 * bb_manifest_agent_json copy before they change anything). */
	if (!*parent) {
		json_object_set(w->m->bottles, name, leaf);
		return 0;
	}
	if (!strcmp(parent, name))
		return extends_fail(w, name, "bottle '%s' extends itself; "
				    "remove the self-reference", name);
	if (!json_object_get(w->m->leaves, parent)) {
		char *avail = names_list(w->m->leaves, "(none)");
		int rc = extends_fail(w, name, "bottle '%s' extends '%s' which "
				      "is not defined. Available bottles: %s",
				      name, parent, avail ? avail : "");

		free(avail);
		return rc;
	}
	for (size_t i = 0; i < w->depth; i++)
		if (!strcmp(w->chain[i], parent)) {
			w->chain[w->depth++] = name;
			return cycle_fail(w, i, parent);
		}
	if (w->depth == MAX_EXTENDS_DEPTH)
		return extends_fail(w, name, "bottle '%s' has an extends chain "
				    "deeper than %d", name, MAX_EXTENDS_DEPTH);
	w->chain[w->depth++] = name;
	if (resolve_bottle(w, parent) < 0)
		return -1;
	w->depth--;
	resolved = merge(json_object_get(w->m->bottles, parent), leaf, decl);
	json_object_set_new(w->m->bottles, name, resolved);
	return 0;
}

static int check_agent_bottle(struct bb_manifest *m, const char *name,
			      json_t *agent, struct bb_err *err)
{
	const char *b = json_string_value(json_object_get(agent, "bottle"));
	char where[512], *avail;

	if (json_object_get(m->bottles, b))
		return 0;
	snprintf(where, sizeof(where), "%s: bottle", source_of(agent));
	avail = names_list(m->bottles, "(none defined)");
	bb_errf(err, where, "agent '%s' references bottle '%s', which is not "
			    "defined. Available: %s", name, b,
		avail ? avail : "");
	free(avail);
	return -1;
}

int bb_manifest_resolve(struct bb_manifest *m, struct bb_err *err)
{
	size_t n;
	const char **names = sorted_keys(m->leaves, &n);
	struct walk w = {.m = m, .err = err};
	const char *k;
	json_t *v;

	if (!names)
		return bb_errf(err, m->home, "out of memory");
	json_object_clear(m->bottles);
	for (size_t i = 0; i < n; i++) {
		w.depth = 0;
		if (resolve_bottle(&w, names[i]) < 0) {
			free(names);
			return -1;
		}
	}
	free(names);
	names = sorted_keys(m->agents, &n);
	if (!names)
		return bb_errf(err, m->home, "out of memory");
	for (size_t i = 0; i < n; i++) {
		v = json_object_get(m->agents, k = names[i]);
		if (check_agent_bottle(m, k, v, err) < 0) {
			free(names);
			return -1;
		}
	}
	free(names);
	return 0;
}

/* ---- output ------------------------------------------------------- */

json_t *bb_manifest_json(const struct bb_manifest *m)
{
	return json_pack("{s:i, s:s, s:O, s:O}", "version",
			 BB_MANIFEST_VERSION, "home", m->home, "bottles",
			 m->bottles, "agents", m->agents);
}

json_t *bb_manifest_agent_json(const struct bb_manifest *m,
			       const char *name, struct bb_err *err)
{
	json_t *agent = json_object_get(m->agents, name);
	json_t *a, *b;

	if (!agent) {
		char *avail = names_list(m->agents, "(none defined)");

		bb_errf(err, name, "agent '%s' is not defined. Available: %s",
			name, avail ? avail : "");
		free(avail);
		return NULL;
	}
	a = json_deep_copy(agent);
	b = json_deep_copy(json_object_get(
		m->bottles, json_string_value(json_object_get(a, "bottle"))));
	overlay_user(json_object_get(json_object_get(b, "git-gate"), "user"),
		     json_object_get(json_object_get(a, "git-gate"), "user"));
	json_object_set_new(a, "name", json_string(name));
	json_object_set(b, "name", json_object_get(a, "bottle"));
	return json_pack("{s:i, s:o, s:o}", "version", BB_MANIFEST_VERSION,
			 "agent", a, "bottle", b);
}

/* ---- loading from directories ------------------------------------- */

/* Project files are less trusted: a symlink there could pull a file of
 * the operator's into a prompt that the bottle sees. */
static int read_entry(const char *path, enum bb_morigin origin, char **buf,
		      size_t *len, struct bb_err *err)
{
	int flags = O_RDONLY | O_CLOEXEC, fd, rc;

	if (origin == BB_ORIGIN_PROJECT)
		flags |= O_NOFOLLOW;
	fd = open(path, flags);
	if (fd < 0) {
		if (errno == ELOOP && origin == BB_ORIGIN_PROJECT)
			return bb_errf(err, path, "project agent files may not "
					   "be symbolic links");
		return bb_errf(err, path, "could not read: %s", strerror(errno));
	}
	rc = bb_read_fd(fd, path, BB_FRONTMATTER_MAX, buf, len, err);
	close(fd);
	return rc;
}

/* One file of a directory, read and checked on its own. */
struct entry {
	const char *f;      /* the file name */
	char *path;
	json_t *doc;        /* the checked bottle or agent, or NULL */
	unsigned decl;
	struct bb_err *err; /* why doc is NULL, if the name was good */
};

struct batch {
	struct entry *e;
	size_t n;
	atomic_size_t next;
	enum bb_mkind kind;
	enum bb_morigin origin;
};

/* The entry name: the file name without ".md". */
static void entry_name(const char *f, char name[256])
{
	snprintf(name, 256, "%.*s", (int)(strlen(f) - 3), f);
}

static void load_entry(const struct batch *b, struct entry *e)
{
	struct bb_err err = {0};
	char name[256], *buf;
	size_t len;

	if (!bb_manifest_name_ok(e->f))
		return;
	entry_name(e->f, name);
	if (read_entry(e->path, b->origin, &buf, &len, &err) == 0) {
		e->doc = check_file(b->kind, b->origin, name, e->path, buf,
				    len, &e->decl, &err);
		free(buf);
	}
	if (!e->doc) {
		e->err = malloc(sizeof(*e->err));
		if (e->err)
			*e->err = err;
	}
}

static void *load_entries(void *arg)
{
	struct batch *b = arg;
	size_t i;

	while ((i = atomic_fetch_add(&b->next, 1)) < b->n)
		load_entry(b, &b->e[i]);
	return NULL;
}

/* Add the checked entries in order: warnings, the first error and the
 * document are those of a file-by-file load. */
static int add_entries(struct bb_manifest *m, const struct batch *b,
		       struct bb_err *err)
{
	int rc = 0;

	for (size_t i = 0; i < b->n; i++) {
		struct entry *e = &b->e[i];
		char name[256];

		if (rc < 0) {
			json_decref(e->doc);
		} else if (!bb_manifest_name_ok(e->f)) {
			bb_warnx("skipping %s: filename must match "
				 "[a-z][a-z0-9-]*.md (got '%s')", e->path, e->f);
		} else if (!e->doc) {
			if (e->err)
				*err = *e->err;
			else
				bb_errf(err, e->path, "out of memory");
			rc = -1;
		} else {
			entry_name(e->f, name);
			rc = insert(m, b->kind, b->origin, name, e->path,
				    e->doc, e->decl, err);
		}
		free(e->err);
		free(e->path);
	}
	return rc;
}

/* The files of dir (names sorted) are read and checked on two threads,
 * then added in order: on two cores this halves the load of a large
 * manifest, the bulk of bb-manifest's time (docs/bench-plan.md). */
static int load_sorted(struct bb_manifest *m, const char *dir,
		       char **names, size_t n, enum bb_mkind kind,
		       enum bb_morigin origin, struct bb_err *err)
{
	struct batch b = {.e = calloc(n, sizeof(*b.e)), .n = n, .kind = kind,
			  .origin = origin};
	pthread_t helper;
	int helped, rc;

	if (!b.e)
		return bb_errf(err, dir, "out of memory");
	atomic_init(&b.next, 0);
	for (size_t i = 0; i < n; i++) {
		size_t len = strlen(dir) + strlen(names[i]) + 2;

		b.e[i].f = names[i];
		b.e[i].path = malloc(len > PATH_MAX ? PATH_MAX : len);
		if (!b.e[i].path) {
			for (size_t j = 0; j < i; j++)
				free(b.e[j].path);
			free(b.e);
			return bb_errf(err, dir, "out of memory");
		}
		snprintf(b.e[i].path, len > PATH_MAX ? PATH_MAX : len, "%s/%s",
			 dir, names[i]);
	}
	helped = n >= 8 && pthread_create(&helper, NULL, load_entries, &b) == 0;
	load_entries(&b);
	if (helped)
		pthread_join(helper, NULL);
	rc = add_entries(m, &b, err);
	free(b.e);
	return rc;
}

/* Every entry of dir in sorted order; a missing directory has none. */
static int load_dir(struct bb_manifest *m, const char *dir,
		    enum bb_mkind kind, enum bb_morigin origin,
		    struct bb_err *err)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char **names = NULL;
	size_t n = 0;
	int rc = 0;

	if (!d)
		return errno == ENOENT ? 0 : bb_errf(err, dir, "could not read "
						     "directory: %s",
						     strerror(errno));
	while ((e = readdir(d))) {
		char **nn;

		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		if (n == MAX_FILES) {
			rc = bb_errf(err, dir, "more than %d entries",
				     MAX_FILES);
			break;
		}
		nn = realloc(names, (n + 1) * sizeof(*names));
		if (!nn || !(nn[n] = strdup(e->d_name))) {
			names = nn ? nn : names;
			rc = bb_errf(err, dir, "out of memory");
			break;
		}
		names = nn;
		n++;
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), cmp_str);
	if (rc == 0 && n)
		rc = load_sorted(m, dir, names, n, kind, origin, err);
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
	return rc;
}

static int is_dir(const char *p)
{
	struct stat st;

	return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

/* The original kept everything in one bot-bottle.json next to the
 * manifest directory; finding one alone means a manifest not migrated. */
static int legacy_guard(const char *md_dir, const char *label,
			struct bb_err *err)
{
	char legacy[PATH_MAX];
	const char *slash = strrchr(md_dir, '/');
	struct stat st;

	if (is_dir(md_dir) || !slash)
		return 0;
	snprintf(legacy, sizeof(legacy), "%.*s/bot-bottle.json",
		 (int)(slash - md_dir), md_dir);
	if (stat(legacy, &st) < 0)
		return 0;
	return bb_errf(err, legacy, "found %s but %s does not exist. The "
		       "manifest format changed — rewrite the JSON content as "
		       "per-file Markdown under %s/bottles/ and %s/agents/. See "
		       "bb-manifest(5) for the format. (%s)", legacy, md_dir,
		       md_dir, md_dir, label);
}

static int same_dir(const char *a, const char *b)
{
	struct stat sa, sb;

	return stat(a, &sa) == 0 && stat(b, &sb) == 0 &&
	       sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
}

static int load_project(struct bb_manifest *m, const char *project,
			struct bb_err *err)
{
	char md[PATH_MAX], sub[PATH_MAX];

	snprintf(md, sizeof(md), "%s/.bot-bottle", project);
	if (legacy_guard(md, "project", err) < 0)
		return -1;
	if (same_dir(md, m->home)) /* run from $HOME: nothing more */
		return 0;
	snprintf(sub, sizeof(sub), "%s/bottles", md);
	if (is_dir(sub))
		bb_warnx("ignoring %s: bottles load only from the home manifest "
			 "directory (%s)", sub, m->home);
	snprintf(sub, sizeof(sub), "%s/agents", md);
	return load_dir(m, sub, BB_MKIND_AGENT, BB_ORIGIN_PROJECT, err);
}

static int utf8_ok(const char *s)
{
	json_t *j = json_string(s);

	json_decref(j);
	return j != NULL;
}

struct bb_manifest *bb_manifest_load(const char *home, const char *project,
				     struct bb_err *err)
{
	struct bb_manifest *m;
	char sub[PATH_MAX];

	/* Paths go into the JSON document, which is UTF-8 only. */
	if (!utf8_ok(home) || (project && !utf8_ok(project))) {
		bb_errf(err, NULL, "the manifest and project directory paths "
				   "must be valid UTF-8");
		return NULL;
	}
	m = bb_manifest_new(home);
	if (!m) {
		bb_errf(err, home, "out of memory");
		return NULL;
	}
	if (legacy_guard(home, "home", err) < 0)
		goto fail;
	snprintf(sub, sizeof(sub), "%s/bottles", home);
	if (load_dir(m, sub, BB_MKIND_BOTTLE, BB_ORIGIN_HOME, err) < 0)
		goto fail;
	snprintf(sub, sizeof(sub), "%s/agents", home);
	if (load_dir(m, sub, BB_MKIND_AGENT, BB_ORIGIN_HOME, err) < 0)
		goto fail;
	if (project && load_project(m, project, err) < 0)
		goto fail;
	if (bb_manifest_resolve(m, err) < 0)
		goto fail;
	return m;
fail:
	bb_manifest_free(m);
	return NULL;
}
