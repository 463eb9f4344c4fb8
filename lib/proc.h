/* proc: spawning children without a shell, with an explicit environment
 * and only the descriptors they are meant to have (one implementation,
 * bb_spawn; bb_child_start and bb_run_pipe are built on it), signal
 * names, and wait-status wording.  Used by bb-up and bb-sidecar alike. */
#ifndef BB_PROC_H
#define BB_PROC_H

#include <stdint.h>
#include <stddef.h>
#include <sys/types.h>

#include "err.h"

struct bb_spawn_opts {
	char *const *argv;  /* argv[0] is looked up in the caller's PATH */
	char *const *envp;  /* the child's whole environment */
	int fd_in;          /* becomes the child's fd 0; -1 keeps ours */
	int fd_out;         /* fd 1; -1 keeps ours */
	int fd_err;         /* fd 2; -1 keeps ours */
	int own_pgroup;     /* child leads a new process group */
	int pdeathsig;      /* signal the child gets when we die; 0: none */
	const int *keep;    /* descriptors above 2 that survive, same numbers */
	size_t nkeep;
};

/* posix_spawnp with every descriptor above 2 closed in the child, an
 * empty signal mask, and default dispositions for the signals a
 * supervisor handles or ignores.  Errors name argv[0], and a failed exec
 * is reported here, not as an exit status.  With pdeathsig or keep
 * (Linux) the same is done by fork and exec, since posix_spawn can set
 * neither. */
int bb_spawn(const struct bb_spawn_opts *o, pid_t *pid, struct bb_err *err);

/* Build a child environment from spec entries: "NAME" copies NAME from
 * our own environment (skipped, and reported through missing(), when
 * unset); "NAME=VALUE" is passed literally.  NULL-terminated, malloc'd;
 * NULL when out of memory. */
char **bb_env_build(char *const *spec,
		    void (*missing)(const char *name, void *ctx), void *ctx);
void bb_env_free(char **env);

/* Remove every variable whose name starts with prefix from our own
 * environment, its value overwritten in place first, so that
 * /proc/PID/environ no longer shows it.  For secrets copied already. */
void bb_env_scrub(const char *prefix);

/* "SIGTERM" for SIGTERM; "signal N" (static buffer) when unnamed. */
const char *bb_signal_name(int sig);
/* SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGKILL, SIGUSR1, SIGUSR2 by name
 * ("SIGHUP" or "HUP"); 0 when unknown. */
int bb_signal_number(const char *name);

/* "exited with status 3" or "killed by SIGKILL". */
void bb_status_describe(int wstatus, char *buf, size_t n);
/* The exit code a status contributes: the exit status, or 0 for a death
 * by signal (never 128+n). */
int bb_status_code(int wstatus);

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

/* Milliseconds on the monotonic clock. */
int64_t bb_now_ms(void);

/* Make sure fds 0, 1 and 2 are open (on /dev/null if not), so that no
 * later open() lands on a standard descriptor by accident. */
void bb_std_fds_ensure(void);

#endif
