/* Fuzz the daemons-file parser (bb-sidecar(8)). */
#include <stddef.h>
#include <stdint.h>

#include "daemons.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bb_daemons ds;
	struct bb_err err = {0};

	if (bb_daemons_parse((const char *)data, size, "fuzz", &ds, &err) == 0)
		bb_daemons_free(&ds);
	return 0;
}
