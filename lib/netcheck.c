#include "netcheck.h"

#include <string.h>

#include "netaddr.h"

int bb_label_valid(const char *s)
{
	size_t n = strlen(s), i;

	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') ||
		      (s[i] >= '0' && s[i] <= '9') || s[i] == '-'))
			return 0;
	return 1;
}

int bb_host_check(const char *host, const char *where, struct bb_err *err)
{
	char canon[256];
	const char *why = bb_host_canon(host, canon, sizeof(canon));

	if (why)
		return bb_errf(err, where, "'%s' %s", host, why);
	if (strcmp(canon, host) != 0)
		return bb_errf(err, where, "'%s' is not in canonical form; "
					   "write '%s'",
			       host, canon);
	return 0;
}

int bb_cidr_check(const char *s, const char *where, struct bb_err *err)
{
	char canon[128];
	const char *why = bb_cidr_canon(s, canon, sizeof(canon));

	if (why)
		return bb_errf(err, where,
			       "must be an IP address or CIDR (was '%s'): %s",
			       s, why);
	if (strcmp(canon, s) != 0)
		return bb_errf(err, where,
			       "'%s' is not a canonical CIDR; write '%s'", s,
			       canon);
	return 0;
}
