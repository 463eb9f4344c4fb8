/* libFuzzer: bb-render-pipelock --parse (YAML -> config JSON, validation)
 * and, for configs that parse, the strict render and its re-read. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "pipelock.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bb_err err = {0};
	json_t *problems = json_array();
	json_t *cfg = bb_pipelock_parse((const char *)data, size, "fuzz",
					problems, &err);

	if (cfg) {
		struct bb_err rerr = {0};
		char *yaml;

		bb_pipelock_fill_defaults(cfg);
		yaml = bb_pipelock_render(cfg, problems, &rerr);
		/* Whatever renders must parse back. */
		if (yaml) {
			json_t *back = bb_pipelock_parse(yaml, strlen(yaml),
							 "again", problems,
							 &rerr);

			if (!back)
				abort();
			json_decref(back);
		}
		free(yaml);
		json_decref(cfg);
	}
	json_decref(problems);
	return 0;
}
