/* The built-in secret scanner over arbitrary `git log -p` text: no crash,
 * and a finding always names a rule. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "secscan.h"

static void found(void *ctx, const char *commit, const char *file, long line,
		  const char *rule)
{
	(void)ctx;
	(void)commit;
	(void)line;
	if (!rule || !rule[0] || !file || !file[0])
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	struct gg_diffscan ds;

	gg_diffscan_init(&ds, found, NULL);
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) + 1 : (size_t)(end - p);

		gg_diffscan_line(&ds, p, n);
		p += n;
	}
	gg_scan_line((const char *)data, size);
	if (gg_entropy((const char *)data, size) < 0 ||
	    gg_entropy((const char *)data, size) > 8.0001)
		abort();
	return 0;
}
