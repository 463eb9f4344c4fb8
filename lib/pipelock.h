/* pipelock: the pipelock configuration we render (bb-render-pipelock(1)):
 * built from a plan, validated against a closed schema, emitted through
 * the libyaml emitter, and parsed back from a rendered or running file. */
#ifndef BB_PIPELOCK_H
#define BB_PIPELOCK_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

/* Every problem found, in document order: an array of [where, what]. */
typedef json_t bb_problems;

/* The config (JSON form of the YAML) for a plan's "pipelock" section. */
json_t *bb_pipelock_from_plan(const json_t *plan, struct bb_err *err);

/* Fill what an older rendered config may lack (every security boolean,
 * sentry) with our values, so a re-render never drops a setting. */
void bb_pipelock_fill_defaults(json_t *cfg);

/* Closed-schema check.  strict: every field we write must be there and
 * hold a value that does not weaken pipelock (strict mode, enforce, TLS
 * interception, DLP, sentry off, non-empty allowlist, canonical CIDRs);
 * otherwise (parsing a running config back) optional fields may be absent.
 * Appends to problems; returns how many were found. */
size_t bb_pipelock_validate(const json_t *cfg, int strict,
			    bb_problems *problems);

/* The YAML text: deterministic key order, sorted lists, sections separated
 * by blank lines.  Validates strictly first; NULL with err on failure
 * (problems, if any, are appended). */
char *bb_pipelock_render(const json_t *cfg, bb_problems *problems,
			 struct bb_err *err);

/* Read a rendered or running config (YAML) into the JSON form and check
 * it with optional fields allowed. */
json_t *bb_pipelock_parse(const char *buf, size_t len, const char *label,
			  bb_problems *problems, struct bb_err *err);

#endif
