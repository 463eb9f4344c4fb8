#include "json.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>


#define DUMP_FLAGS (JSON_INDENT(2) | JSON_SORT_KEYS)

json_t *bb_json_parse(const char *buf, size_t len, const char *label,
		      struct bb_err *err)
{
	json_error_t je;
	json_t *doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);

	if (!doc)
		bb_errf(err, label, "line %d column %d: %s", je.line,
			je.column, je.text);
	return doc;
}

/* The input, read in chunks as jansson asks for them: a document on a
 * pipe is parsed while its writer is still writing it, with no copy of
 * the whole text.  Reading errors and the size bound come first, as if the
 * whole input had been read before parsing (see bb_read_fd). */
struct json_src {
	int fd;
	const char *label;
	size_t total, pos, len;
	int failed;
	struct bb_err *err;
	char buf[16384];
};

static int src_fill(struct json_src *s)
{
	ssize_t r;

	do
		r = read(s->fd, s->buf, sizeof(s->buf));
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		s->failed = 1;
		return bb_errf(s->err, s->label, "could not read: %s",
			       strerror(errno));
	}
	s->pos = 0;
	s->len = (size_t)r;
	s->total += (size_t)r;
	if (s->total >= BB_JSON_MAX) {
		s->failed = 1;
		return bb_errf(s->err, s->label, "larger than %zu bytes",
			       (size_t)BB_JSON_MAX);
	}
	return r > 0;
}

static size_t src_read(void *out, size_t size, void *data)
{
	struct json_src *s = data;
	size_t n;

	if (s->pos == s->len && src_fill(s) <= 0)
		return s->failed ? (size_t)-1 : 0;
	n = s->len - s->pos < size ? s->len - s->pos : size;
	memcpy(out, s->buf + s->pos, n);
	s->pos += n;
	return n;
}

json_t *bb_json_load(const char *path, struct bb_err *err)
{
	int stdin_ = path[0] == '-' && !path[1];
	struct json_src s = {.label = stdin_ ? "<stdin>" : path, .err = err};
	json_error_t je;
	json_t *doc;

	s.fd = stdin_ ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	if (s.fd < 0) {
		bb_errf(err, path, "could not read: %s", strerror(errno));
		return NULL;
	}
	doc = json_load_callback(src_read, &s, JSON_REJECT_DUPLICATES, &je);
	if (!doc && !s.failed) /* the rest of the input still counts */
		while (src_fill(&s) > 0)
			;
	if (s.failed) {
		json_decref(doc);
		doc = NULL;
	} else if (!doc) {
		bb_errf(err, s.label, "line %d column %d: %s", je.line,
			je.column, je.text);
	}
	if (!stdin_)
		close(s.fd);
	return doc;
}

char *bb_json_string(const json_t *doc)
{
	char *s = json_dumps(doc, DUMP_FLAGS);
	size_t n;
	char *out;

	if (!s)
		return NULL;
	n = strlen(s);
	out = realloc(s, n + 2);
	if (!out) {
		free(s);
		return NULL;
	}
	out[n] = '\n';
	out[n + 1] = '\0';
	return out;
}

/* Written in large chunks as jansson produces it: json_dumpf calls
 * fwrite for every token, which cost more than the dump itself on a large
 * manifest, and a reader at the other end of a pipe can start on the
 * first chunk while the rest is dumped. */
struct json_sink {
	FILE *f;
	size_t n;
	char buf[16384];
};

static int sink_flush(struct json_sink *k)
{
	size_t n = k->n;

	k->n = 0;
	return fwrite(k->buf, 1, n, k->f) == n ? 0 : -1;
}

static int sink_write(const char *p, size_t n, void *data)
{
	struct json_sink *k = data;

	if (k->n + n > sizeof(k->buf) && sink_flush(k) < 0)
		return -1;
	if (n > sizeof(k->buf))
		return fwrite(p, 1, n, k->f) == n ? 0 : -1;
	memcpy(k->buf + k->n, p, n);
	k->n += n;
	return 0;
}

/* The buffers live on the stack: a large malloc right after a document
 * was freed makes glibc consolidate every small free chunk first. */
int bb_json_dump(FILE *f, const json_t *doc)
{
	struct json_sink k = {.f = f};

	if (json_dump_callback(doc, sink_write, &k, DUMP_FLAGS) < 0 ||
	    sink_write("\n", 1, &k) < 0 || sink_flush(&k) < 0)
		return -1;
	return fflush(f) == EOF ? -1 : 0;
}

const char *bb_json_type(const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
	case JSON_REAL:
		return "number";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	default:
		return "null";
	}
}
