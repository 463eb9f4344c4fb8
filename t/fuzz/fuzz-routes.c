/* libFuzzer: the routes file, the token file and plan -> routes. */
#include <stdint.h>
#include <stdlib.h>

#include <jansson.h>

#include "json.h"
#include "route.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct bb_routes r = {0};
	struct bb_tokens t = {0};
	struct bb_err err = {0};
	json_t *doc, *out;

	if (bb_routes_parse(buf, size, "fuzz", &r, &err) == 0) {
		out = bb_routes_describe(&r);
		json_decref(out);
		bb_routes_free(&r);
	}
	if (bb_tokens_parse(buf, size, "fuzz", &t, &err) == 0)
		bb_tokens_free(&t);
	doc = bb_json_parse(buf, size, "fuzz", &err);
	if (doc) {
		out = bb_routes_from_plan(doc, &err);
		json_decref(out);
		json_decref(doc);
	}
	return 0;
}
