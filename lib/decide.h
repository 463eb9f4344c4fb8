/* decide: the operator's side of the supervise queues of every bottle
 * under a state root ($XDG_STATE_HOME/bb/bottles): list, show, approve,
 * reject, watch. */
#ifndef BB_DECIDE_H
#define BB_DECIDE_H

#include <stdio.h>
#include <jansson.h>

#include "err.h"

/* $XDG_STATE_HOME/bb/bottles, else ~/.local/state/bb/bottles; malloc'd. */
char *bb_bottles_root(void);

/* Every pending proposal under root, sorted by creation. */
json_t *bb_decide_pending(const char *root);

/* The state directory of the bottle holding proposal id (pending or
 * answered); malloc'd, NULL with err. */
char *bb_decide_find(const char *root, const char *id, struct bb_err *err);

/* {"status", "proposal", "response"} for id. */
json_t *bb_decide_show(const char *state, const char *id,
		       struct bb_err *err);

/* Apply the proposal (or the operator's edited payload), then record
 * "approved" and archive it. If applying fails nothing is recorded and
 * the proposal stays pending. Errors in an edited payload name
 * edit_source. *summary: a malloc'd line on what was done. */
int bb_decide_approve(const char *state, const char *id, json_t *edited,
		      const char *edit_source, const char *note, char **summary,
		      struct bb_err *err);
int bb_decide_reject(const char *state, const char *id, const char *reason,
		     struct bb_err *err);

/* One line for a terminal about proposal p, control characters
 * replaced (a proposal's text comes from the agent). malloc'd. */
char *bb_decide_line(json_t *p);

/* Print new proposals under root as they arrive, until SIGINT or
 * SIGTERM: one line each, or one JSON document per line; the terminal
 * bell rings for those that arrive after the first look. */
int bb_decide_watch(const char *root, int json_lines, FILE *out);

#endif
