#include "json.h"

#include <stdlib.h>
#include <string.h>

#include "file.h"

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

json_t *bb_json_load(const char *path, struct bb_err *err)
{
	char *buf;
	size_t len;
	json_t *doc;

	if (bb_read_file(path, BB_JSON_MAX, &buf, &len, err) < 0)
		return NULL;
	doc = bb_json_parse(buf, len, path[0] == '-' && !path[1] ? "<stdin>"
							       : path, err);
	free(buf);
	return doc;
}

int bb_json_dump(FILE *f, const json_t *doc)
{
	if (json_dumpf(doc, f, DUMP_FLAGS) < 0 || fputc('\n', f) == EOF)
		return -1;
	return fflush(f) == EOF ? -1 : 0;
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
