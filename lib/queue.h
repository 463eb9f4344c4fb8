/* queue: the supervise proposal queue of one bottle (bb-supervise(5)).
 *
 *   QUEUE/ID.proposal.json          asked, waiting for the operator
 *   QUEUE/ID.response.json          answered (briefly, before archiving)
 *   QUEUE/archive/ID.proposal.json  answered proposals
 *   QUEUE/archive/ID.response.json  their answers
 *
 * Every file is written whole (temp file + rename) with mode 0600. */
#ifndef BB_QUEUE_H
#define BB_QUEUE_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

#define BB_QUEUE_ID_MAX 64
#define BB_QUEUE_DOC_MAX (1u << 20)

/* Ids are [A-Za-z0-9-], 1 to 63 characters: safe as file names. */
int bb_queue_id_ok(const char *id);
/* A fresh id: UTC time then random hex ("20261122T130502Z-9f3a61c2"),
 * so ids sort by creation. */
int bb_queue_new_id(char id[BB_QUEUE_ID_MAX], struct bb_err *err);
/* "2026-11-22T13:05:02Z" for now. */
void bb_queue_now(char buf[32]);

/* QUEUE[/archive]/ID.WHAT.json, malloc'd. */
char *bb_queue_path(const char *queue, const char *id, const char *what,
		    int archived);

/* Create QUEUE and QUEUE/archive (0700). */
int bb_queue_init(const char *queue, struct bb_err *err);
/* Write proposal (its "id" names the file). */
int bb_queue_put_proposal(const char *queue, const json_t *proposal,
			  struct bb_err *err);
/* Number of proposals waiting in QUEUE. */
size_t bb_queue_count_pending(const char *queue);
/* The pending proposals of QUEUE, sorted by id; unreadable files are
 * skipped with a warning. */
json_t *bb_queue_pending(const char *queue);

/* Load QUEUE/ID.WHAT.json, else the archived one (*archived = 1);
 * NULL with err when neither exists or it does not parse. */
json_t *bb_queue_load(const char *queue, const char *id, const char *what,
		      int *archived, struct bb_err *err);
/* The answer to ID if there is one yet (in QUEUE or archive), else NULL. */
json_t *bb_queue_answer(const char *queue, const char *id);
/* 1 if ID waits in QUEUE. */
int bb_queue_is_pending(const char *queue, const char *id);

/* Record the answer to ID and archive the proposal and the answer. */
int bb_queue_answer_and_archive(const char *queue, const char *id,
				const json_t *response, struct bb_err *err);

#endif
