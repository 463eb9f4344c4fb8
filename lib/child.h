/* child: spawn children without a shell, with an explicit environment and
 * only the file descriptors they are meant to have. */
#ifndef BB_CHILD_H
#define BB_CHILD_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* A growable NULL-terminated vector of malloc'd strings (argv or envp). */
struct bb_strv {
	char **v;
	size_t n, cap;
};

void bb_strv_push(struct bb_strv *sv, const char *s);
void bb_strv_pushf(struct bb_strv *sv, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Set NAME=VALUE, replacing an earlier NAME. */
void bb_strv_setenv(struct bb_strv *sv, const char *name, const char *value);
const char *bb_strv_getenv(const struct bb_strv *sv, const char *name);
void bb_strv_free(struct bb_strv *sv);

/* How a child is started.  fd_in/fd_out/fd_err of -1 mean "inherit";
 * keep lists descriptors (besides 0-2) that survive into the child, at
 * the same numbers; every other descriptor is closed. */
struct bb_child {
	char *const *argv;
	char *const *envp; /* NULL: inherit ours */
	int fd_in, fd_out, fd_err;
	const int *keep;
	size_t nkeep;
	int new_pgrp;	/* put the child in its own process group */
	int pdeathsig;	/* signal the child gets when we die, 0 for none */
};

void bb_child_init(struct bb_child *sp, char *const *argv);
pid_t bb_child_start(const struct bb_child *sp, struct bb_err *err);

/* Wait for pid, retrying on EINTR; returns the exit code (128+signal for
 * a signal death), -1 on error. */
int bb_wait_exit(pid_t pid);

/* Run argv with input on stdin, collecting stdout (up to max bytes).
 * stderr is inherited so the child's own diagnostic reaches the user.
 * Returns the child's exit code, or -1 with err set. */
int bb_run_pipe(char *const *argv, char *const *envp, const char *in,
		size_t inlen, char **out, size_t *outlen, size_t max,
		struct bb_err *err);

/* The directory of the running executable (static buffer). */
const char *bb_exe_dir(void);
/* bb_exe_dir()/name, malloc'd: sibling tools are run from our own bin
 * directory, never looked up on PATH. */
char *bb_sibling(const char *name);

/* Whether a process with this pid exists (kill 0). */
int bb_pid_alive(pid_t pid);

#endif
