/* libFuzzer: the host Codex auth.json checks and the dummy synthesis.  The
 * dummy must never contain the host access token. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codexauth.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct bb_err err = {0};
	struct bb_codexauth ca;
	char *dummy;

	if (bb_codexauth_parse((const char *)data, size, "fuzz", 1000, &ca,
			       &err) < 0)
		return 0;
	dummy = bb_codexauth_dummy(&ca, 1000);
	if (dummy && strlen(ca.token) >= 16 && strstr(dummy, ca.token))
		abort();
	free(dummy);
	bb_codexauth_free(&ca);
	return 0;
}
