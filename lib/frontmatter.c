#include "frontmatter.h"

#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "yamldoc.h"

/* Is [p, end) a "---" fence line (trailing blanks and CR tolerated)?
 * Returns the start of the next line, or NULL. */
static const char *fence(const char *p, const char *end)
{
	if (end - p < 3 || memcmp(p, "---", 3) != 0)
		return NULL;
	for (p += 3; p < end && *p != '\n'; p++)
		if (*p != ' ' && *p != '\t' && *p != '\r')
			return NULL;
	return p < end ? p + 1 : p;
}

static const char *next_line(const char *p, const char *end)
{
	const char *nl = memchr(p, '\n', (size_t)(end - p));

	return nl ? nl + 1 : end;
}

int bb_frontmatter_split(const char *buf, size_t len, const char *label,
			 json_t **front, char **body, struct bb_err *err)
{
	const char *end = buf + len, *yaml, *p, *after = NULL;
	json_t *doc;

	*front = NULL;
	*body = NULL;
	if (memchr(buf, '\0', len))
		return bb_errf(err, label, "contains a NUL byte");
	if (len >= 3 && !memcmp(buf, "\xef\xbb\xbf", 3))
		buf += 3;
	yaml = fence(buf, end);
	if (!yaml)
		return bb_errf(err, label, "must start with a '---' line "
					   "opening the YAML frontmatter");
	for (p = yaml; p < end; p = next_line(p, end))
		if ((after = fence(p, end)))
			break;
	if (!after)
		return bb_errf(err, label, "the YAML frontmatter has no "
					   "closing '---' line");
	doc = bb_yaml_load(yaml, (size_t)(p - yaml), label, 2, err);
	if (!doc)
		return -1;
	if (json_is_null(doc)) {
		json_decref(doc);
		doc = json_object();
	}
	if (!json_is_object(doc)) {
		bb_errf(err, label, "the frontmatter must be a mapping of keys "
				    "(was %s)", bb_json_type(doc));
		json_decref(doc);
		return -1;
	}
	*body = strndup(after, (size_t)(end - after));
	if (!*body) {
		json_decref(doc);
		return bb_errf(err, label, "out of memory");
	}
	*front = doc;
	return 0;
}
