#include "slug.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include "netcheck.h"

#define SUFFIX_LEN 5

static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";

/* Rejection sampling keeps every character equally likely. */
static int random_suffix(char *out, struct bb_err *err)
{
	const unsigned limit = 256 - 256 % (sizeof(alphabet) - 1);
	size_t got = 0;

	while (got < SUFFIX_LEN) {
		unsigned char b[16];
		ssize_t r = getrandom(b, sizeof(b), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return bb_errf(err, "slug", "getrandom: %s",
				       strerror(errno));
		for (ssize_t i = 0; i < r && got < SUFFIX_LEN; i++)
			if (b[i] < limit)
				out[got++] =
					alphabet[b[i] % (sizeof(alphabet) - 1)];
	}
	out[SUFFIX_LEN] = '\0';
	return 0;
}

int bb_slug_new(const char *agent, char *out, size_t n, struct bb_err *err)
{
	char suffix[SUFFIX_LEN + 1];

	if (random_suffix(suffix, err) < 0)
		return -1;
	if ((size_t)snprintf(out, n, "%s-%s", agent, suffix) >= n ||
	    !bb_label_valid(out))
		return bb_errf(err, "slug",
			       "agent name '%s' does not make a valid hostname "
			       "label (at most 57 characters of a-z 0-9 -); "
			       "use --slug",
			       agent);
	return 0;
}
