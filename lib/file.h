/* file: bounded reads and atomic writes with explicit modes. */
#ifndef BB_FILE_H
#define BB_FILE_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* Read all of path ("-" is stdin) up to max bytes, NUL-terminated.
 * *out is malloc'd. Errors name the path. */
int bb_read_file(const char *path, size_t max, char **out, size_t *len,
		 struct bb_err *err);
int bb_read_fd(int fd, const char *label, size_t max, char **out,
	       size_t *len, struct bb_err *err);

/* Write data to path through a temp file in the same directory, fsync,
 * chmod to mode, then rename: readers see the old or the new file, never
 * half of one, and never a wider mode than asked. */
int bb_write_file_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, struct bb_err *err);

/* mkdir -p with mode for each created component. */
int bb_mkdir_p(const char *path, mode_t mode, struct bb_err *err);
/* Make path (its parents must exist) a directory of ours that no one
 * else may write, or check that it already is one: not a symlink, owned
 * by our uid, not group- or world-writable.  For roots under a shared
 * directory such as /tmp, where another user could have made it first. */
int bb_private_dir(const char *path, struct bb_err *err);

/* Expand a leading "~" or "~/" using $HOME; returns malloc'd string. */
char *bb_expand_tilde(const char *path);

#endif
