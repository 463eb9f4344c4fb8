/* codexauth: the host Codex auth.json (read, checked, never copied) and the
 * dummy auth.json synthesised for the guest by allowlist. */
#ifndef BB_CODEXAUTH_H
#define BB_CODEXAUTH_H

#include <stddef.h>
#include <time.h>
#include <jansson.h>

#include "err.h"

#define BB_CODEX_TOKEN_VAR "BOT_BOTTLE_CODEX_HOST_ACCESS_TOKEN"
#define BB_CODEX_PLACEHOLDER "bot-bottle-placeholder"

struct bb_codexauth {
	json_t *doc;	   /* the host file; holds real secrets */
	const char *token; /* tokens.access_token, borrowed from doc */
	long long exp;	   /* its JWT exp (seconds since the epoch) */
};

/* $CODEX_HOME/auth.json (tilde-expanded) when CODEX_HOME is set on the
 * host, else ~/.codex/auth.json.  malloc'd. */
char *bb_codexauth_host_path(void);

/* Read path and run the checks of the reference in order (missing, not
 * JSON, not chatgpt/user auth, no tokens, no access token, not a JWT with
 * exp, expired).  Messages never contain token material. */
int bb_codexauth_load(const char *path, time_t now, struct bb_codexauth *ca,
		      struct bb_err *err);
/* The same checks on a buffer already read (fuzzing, tests). */
int bb_codexauth_parse(const char *buf, size_t len, const char *path,
		       time_t now, struct bb_codexauth *ca, struct bb_err *err);
/* Overwrite every string of the host document, then free it. */
void bb_codexauth_free(struct bb_codexauth *ca);

/* The guest's auth.json: canonical JSON text with a trailing newline,
 * built only from allowlisted host values; malloc'd, NULL on OOM. */
char *bb_codexauth_dummy(const struct bb_codexauth *ca, time_t now);

#endif
