/* bstate: a bottle's state under $XDG_STATE_HOME/bb/bottles/SLUG and its
 * sockets under $XDG_RUNTIME_DIR/bb/SLUG (docs/interfaces.md). */
#ifndef BB_BSTATE_H
#define BB_BSTATE_H

#include <sys/types.h>
#include <jansson.h>

#include "err.h"

/* $XDG_STATE_HOME/bb/bottles (default ~/.local/state/bb/bottles). */
const char *bb_state_root(void);
/* $XDG_RUNTIME_DIR/bb (default /tmp/bb-UID). */
const char *bb_runtime_root(void);
/* root/slug, malloc'd. */
char *bb_state_dir(const char *slug);
char *bb_runtime_dir(const char *slug);

/* A slug names directories: [a-z0-9-], 1-63, no leading '-'. */
int bb_slug_valid(const char *slug);

/* Start time of pid (field 22 of /proc/PID/stat), 0 if gone: with the
 * pid it identifies a process even after the pid is reused. */
unsigned long long bb_pid_starttime(pid_t pid);

/* metadata.json of slug, or NULL (err set) when missing or bad. */
json_t *bb_meta_load(const char *slug, struct bb_err *err);
int bb_meta_save(const char *slug, json_t *meta, struct bb_err *err);
/* Whether the bb-up recorded in meta still runs. */
int bb_meta_active(const json_t *meta);

/* Every bottle with metadata, sorted by (started_at, slug). */
json_t *bb_bottles_list(struct bb_err *err);

/* Tear down what a dead bb-up left: the sidecar supervisor, a podman
 * container, the runtime dir.  Logs what it did; never fails the caller. */
void bb_bottle_clean(const char *slug, const json_t *meta);
/* Clean every bottle whose bb-up is gone. */
void bb_bottles_clean_stale(void);

/* Like bb_write_file_atomic (temp file, mode, rename) without the fsync:
 * for files regenerated at every launch, where durability buys nothing
 * and each fsync costs the launch ~10 ms. */
int bb_write_state_file(const char *path, const void *data, size_t len,
			mode_t mode, struct bb_err *err);

/* Remove a directory tree (no symlink following). */
int bb_rmtree(const char *path);

#endif
