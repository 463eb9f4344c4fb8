/* netcheck: strict checks on hosts and CIDRs that tools receive already
 * canonicalised (by bb-manifest): anything not in canonical form is refused
 * rather than silently rewritten, so a hand-edited plan or config cannot
 * smuggle in a different meaning. */
#ifndef BB_NETCHECK_H
#define BB_NETCHECK_H

#include "err.h"

/* A hostname label (RFC 1123, lower case): 1-63 of [a-z0-9-], not starting
 * or ending with '-'.  Slugs must be one (container and DNS names). */
int bb_label_valid(const char *s);

/* host is a bare DNS name or IP literal in canonical (lower-case) form.
 * On error fills err at where. */
int bb_host_check(const char *host, const char *where, struct bb_err *err);

/* s is a canonical CIDR (NETWORK/PREFIX, host bits clear, not /0).  On
 * error fills err at where, naming the canonical form when there is one. */
int bb_cidr_check(const char *s, const char *where, struct bb_err *err);

#endif
