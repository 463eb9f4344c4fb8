/* Fuzz the manifest loader (bb-manifest(5)): the frontmatter split, the
 * YAML subset, leaf validation, extends resolution and the output.
 *
 * The input is one or more files separated by lines "%%%"; each file
 * starts with a header line "b NAME" (bottle) or "a NAME" (agent), or
 * "p NAME" (project agent); without a header the whole input is one
 * bottle named "dev". */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "manifest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void add_file(struct bb_manifest *m, const char *p, size_t n)
{
	struct bb_err err = {0};
	enum bb_mkind kind = BB_MKIND_BOTTLE;
	enum bb_morigin origin = BB_ORIGIN_HOME;
	char name[64] = "dev", path[128];
	const char *nl;

	if (n >= 2 && (p[0] == 'b' || p[0] == 'a' || p[0] == 'p') &&
	    p[1] == ' ' && (nl = memchr(p, '\n', n))) {
		size_t len = (size_t)(nl - p - 2);

		if (len == 0 || len >= sizeof(name))
			return;
		memcpy(name, p + 2, len);
		name[len] = '\0';
		if (memchr(name, '\0', len))
			return;
		kind = p[0] == 'b' ? BB_MKIND_BOTTLE : BB_MKIND_AGENT;
		origin = p[0] == 'p' ? BB_ORIGIN_PROJECT : BB_ORIGIN_HOME;
		n -= (size_t)(nl + 1 - p);
		p = nl + 1;
	}
	snprintf(path, sizeof(path), "/fuzz/%s.md", name);
	bb_manifest_add(m, kind, origin, name, path, p, n, &err);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char sep[] = "\n%%%\n";
	struct bb_manifest *m = bb_manifest_new("/fuzz");
	struct bb_err err = {0};
	const char *p = (const char *)data, *end = p + size;

	if (!m)
		return 0;
	while (p <= end) {
		const char *s = memmem(p, (size_t)(end - p), sep, sizeof(sep) - 1);
		const char *stop = s ? s : end;

		add_file(m, p, (size_t)(stop - p));
		if (!s)
			break;
		p = s + sizeof(sep) - 1;
	}
	if (bb_manifest_resolve(m, &err) == 0) {
		json_t *doc = bb_manifest_json(m);
		json_t *agents = json_object_get(doc, "agents");
		const char *k;
		json_t *v;
		char *s = bb_json_string(doc);

		free(s);
		json_object_foreach(agents, k, v) {
			json_t *one = bb_manifest_agent_json(m, k, &err);

			json_decref(one);
		}
		json_decref(doc);
	}
	bb_manifest_free(m);
	return 0;
}
