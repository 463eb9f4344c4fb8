/* libFuzzer: a parent proxy's answer to bb-egress's CONNECT, and the
 * cleaning of the untrusted text the agent is shown from it. */
#include <assert.h>
#include <stdint.h>
#include <string.h>

#include "proxyreply.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	struct bb_proxy_refusal r;
	char out[64];
	size_t n, i;

	for (int eof = 0; eof < 2; eof++)
		if (bb_proxy_refusal(buf, size, eof, &r) == 1) {
			assert(strlen(r.reason) <= BB_PROXY_REASON_MAX);
			for (i = 0; r.reason[i]; i++)
				assert(r.reason[i] >= ' ' && r.reason[i] < 0x7f);
		}
	n = bb_text_clean(buf, size, out, sizeof(out));
	assert(n < sizeof(out) && strlen(out) == n);
	assert(!n || (out[0] != ' ' && out[n - 1] != ' '));
	return 0;
}
