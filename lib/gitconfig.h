/* gitconfig: the agent's git config, which sends every spelling of every
 * declared upstream to the gate (url.<gate>/<name>.git.insteadOf). */
#ifndef BB_GITCONFIG_H
#define BB_GITCONFIG_H

#include "err.h"
#include "gitplan.h"

/* Check a gate base URL (http:// or https://, no credentials, no query)
 * and return it malloc'd without a trailing slash. */
char *gg_gate_url(const char *url, struct bb_err *err);

/* The upstream spellings that must be rewritten for repo r: the URL as
 * declared, then ssh://, scp-style and https:// equivalents.  *out is a
 * malloc'd NULL-terminated array of malloc'd strings. */
int gg_url_spellings(const struct gg_repo *r, char ***out);
void gg_strv_free(char **v);

/* Add the config to path (a new, empty file) with `git config -f`. */
int gg_gitconfig_write(const struct gg_plan *plan, const char *gate_url,
		       const char *path, struct bb_err *err);

#endif
