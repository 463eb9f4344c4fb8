/* slug: the per-launch identity of a bottle ("demo-abc12"). */
#ifndef BB_SLUG_H
#define BB_SLUG_H

#include <stddef.h>

#include "err.h"

#define BB_SLUG_MAX 64

/* AGENT-xxxxx with 5 lowercase alphanumerics from getrandom(2), so two
 * launches of one agent never collide.  The result is a hostname label. */
int bb_slug_new(const char *agent, char *out, size_t n, struct bb_err *err);

#endif
