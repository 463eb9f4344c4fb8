#include "yamldoc.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#define MAX_DEPTH 64

struct reader {
	yaml_parser_t parser;
	const char *label;
	int line0;
	struct bb_err *err;
};

static int fail_at(struct reader *r, const yaml_mark_t *m, const char *what)
{
	char where[512];

	snprintf(where, sizeof(where), "%s: line %zu", r->label,
		 m->line + (size_t)r->line0);
	return bb_errf(r->err, where, "%s", what);
}

static int next_event(struct reader *r, yaml_event_t *ev)
{
	if (yaml_parser_parse(&r->parser, ev))
		return 0;
	char where[512];

	snprintf(where, sizeof(where), "%s: line %zu", r->label,
		 r->parser.problem_mark.line + (size_t)r->line0);
	return bb_errf(r->err, where, "invalid YAML: %s",
		       r->parser.problem ? r->parser.problem : "parse error");
}

static int is_int(const char *s)
{
	if (*s == '-' || *s == '+')
		s++;
	if (!*s)
		return 0;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return 0;
	return 1;
}

static json_t *plain_scalar(struct reader *r, const yaml_event_t *ev)
{
	const char *s = (const char *)ev->data.scalar.value;
	json_t *v;

	if (!*s || !strcmp(s, "~") || !strcmp(s, "null") ||
	    !strcmp(s, "Null") || !strcmp(s, "NULL"))
		return json_null();
	if (!strcmp(s, "true") || !strcmp(s, "True") || !strcmp(s, "TRUE"))
		return json_true();
	if (!strcmp(s, "false") || !strcmp(s, "False") ||
	    !strcmp(s, "FALSE"))
		return json_false();
	if (is_int(s)) {
		long long n;

		errno = 0;
		n = strtoll(s, NULL, 10);
		if (errno == ERANGE) {
			fail_at(r, &ev->start_mark, "integer out of range");
			return NULL;
		}
		return json_integer(n);
	}
	v = json_string(s);
	if (!v)
		fail_at(r, &ev->start_mark, "string is not valid UTF-8");
	return v;
}

static json_t *scalar(struct reader *r, const yaml_event_t *ev)
{
	json_t *v;

	if (ev->data.scalar.tag) {
		fail_at(r, &ev->start_mark, "YAML tags are not supported");
		return NULL;
	}
	if (ev->data.scalar.anchor) {
		fail_at(r, &ev->start_mark, "YAML anchors are not supported");
		return NULL;
	}
	if (ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE)
		return plain_scalar(r, ev);
	v = json_stringn((const char *)ev->data.scalar.value,
			 ev->data.scalar.length);
	if (!v)
		fail_at(r, &ev->start_mark, "string is not valid UTF-8");
	return v;
}

static json_t *node(struct reader *r, yaml_event_t *ev, int depth);

static json_t *sequence(struct reader *r, int depth)
{
	json_t *arr = json_array();

	for (;;) {
		yaml_event_t ev;
		json_t *item;

		if (next_event(r, &ev) < 0)
			break;
		if (ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return arr;
		}
		item = node(r, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (!item)
			break;
		json_array_append_new(arr, item);
	}
	json_decref(arr);
	return NULL;
}

static json_t *mapping(struct reader *r, int depth)
{
	json_t *obj = json_object();

	for (;;) {
		yaml_event_t kev, ev;
		json_t *val;
		const char *key;
		size_t klen;

		if (next_event(r, &kev) < 0)
			break;
		if (kev.type == YAML_MAPPING_END_EVENT) {
			yaml_event_delete(&kev);
			return obj;
		}
		if (kev.type != YAML_SCALAR_EVENT) {
			fail_at(r, &kev.start_mark,
				"mapping keys must be plain strings");
			yaml_event_delete(&kev);
			break;
		}
		/* The key stays in its event (NUL-terminated by libyaml) until
		 * it is set: no copy. */
		key = (const char *)kev.data.scalar.value;
		klen = kev.data.scalar.length;
		/* A NUL would cut the key short and make it another key. */
		if (memchr(key, '\0', klen)) {
			fail_at(r, &kev.start_mark,
				"mapping keys must not contain NUL bytes");
			yaml_event_delete(&kev);
			break;
		}
		if (json_object_getn(obj, key, klen)) {
			char what[300];

			snprintf(what, sizeof(what), "duplicate key '%.200s'",
				 key);
			fail_at(r, &kev.start_mark, what);
			yaml_event_delete(&kev);
			break;
		}
		if (next_event(r, &ev) < 0) {
			yaml_event_delete(&kev);
			break;
		}
		val = node(r, &ev, depth + 1);
		yaml_event_delete(&ev);
		if (!val) {
			yaml_event_delete(&kev);
			break;
		}
		if (json_object_setn_new(obj, key, klen, val) < 0) {
			fail_at(r, &kev.start_mark,
				"mapping key is not valid UTF-8");
			yaml_event_delete(&kev);
			break;
		}
		yaml_event_delete(&kev);
	}
	json_decref(obj);
	return NULL;
}

static json_t *node(struct reader *r, yaml_event_t *ev, int depth)
{
	if (depth > MAX_DEPTH) {
		fail_at(r, &ev->start_mark, "nested too deeply");
		return NULL;
	}
	switch (ev->type) {
	case YAML_SCALAR_EVENT:
		return scalar(r, ev);
	case YAML_SEQUENCE_START_EVENT:
		if (ev->data.sequence_start.anchor ||
		    (ev->data.sequence_start.tag &&
		     !ev->data.sequence_start.implicit))
			break;
		return sequence(r, depth);
	case YAML_MAPPING_START_EVENT:
		if (ev->data.mapping_start.anchor ||
		    (ev->data.mapping_start.tag &&
		     !ev->data.mapping_start.implicit))
			break;
		return mapping(r, depth);
	case YAML_ALIAS_EVENT:
		fail_at(r, &ev->start_mark, "YAML aliases are not supported");
		return NULL;
	default:
		fail_at(r, &ev->start_mark, "unexpected YAML structure");
		return NULL;
	}
	fail_at(r, &ev->start_mark, "YAML anchors and tags are not supported");
	return NULL;
}

/* Expect exactly one event of type want, else fail. */
static int expect(struct reader *r, yaml_event_type_t want, const char *what)
{
	yaml_event_t ev;
	int ok;

	if (next_event(r, &ev) < 0)
		return -1;
	ok = ev.type == want;
	if (!ok)
		fail_at(r, &ev.start_mark, what);
	yaml_event_delete(&ev);
	return ok ? 0 : -1;
}

static json_t *document(struct reader *r)
{
	yaml_event_t ev;
	json_t *doc;

	if (expect(r, YAML_STREAM_START_EVENT, "not a YAML stream") < 0 ||
	    next_event(r, &ev) < 0)
		return NULL;
	if (ev.type == YAML_STREAM_END_EVENT) { /* empty input */
		yaml_event_delete(&ev);
		return json_null();
	}
	if (ev.type != YAML_DOCUMENT_START_EVENT) {
		fail_at(r, &ev.start_mark, "expected a YAML document");
		yaml_event_delete(&ev);
		return NULL;
	}
	yaml_event_delete(&ev);
	if (next_event(r, &ev) < 0)
		return NULL;
	doc = node(r, &ev, 0);
	yaml_event_delete(&ev);
	if (doc && (expect(r, YAML_DOCUMENT_END_EVENT, "trailing content") < 0 ||
		    expect(r, YAML_STREAM_END_EVENT,
			   "only one YAML document is allowed") < 0)) {
		json_decref(doc);
		return NULL;
	}
	return doc;
}

json_t *bb_yaml_load(const char *buf, size_t len, const char *label,
		     int line0, struct bb_err *err)
{
	struct reader r = {.label = label, .line0 = line0 > 0 ? line0 : 1,
			   .err = err};
	json_t *doc;

	if (!yaml_parser_initialize(&r.parser)) {
		bb_errf(err, label, "out of memory");
		return NULL;
	}
	yaml_parser_set_input_string(&r.parser, (const unsigned char *)buf,
				     len);
	yaml_parser_set_encoding(&r.parser, YAML_UTF8_ENCODING);
	doc = document(&r);
	yaml_parser_delete(&r.parser);
	return doc;
}
