/* proc: spawning children with an explicit environment and no leaked
 * descriptors, signal names, and wait-status wording. */
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
};

/* posix_spawnp with every descriptor above 2 closed in the child, an
 * empty signal mask, and default dispositions for the signals a
 * supervisor handles or ignores.  Errors name argv[0], and a failed exec
 * is reported here, not as an exit status.  With pdeathsig (Linux) the
 * same is done by fork and exec, since posix_spawn cannot set it. */
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

/* Milliseconds on the monotonic clock. */
int64_t bb_now_ms(void);

/* Make sure fds 0, 1 and 2 are open (on /dev/null if not), so that no
 * later open() lands on a standard descriptor by accident. */
void bb_std_fds_ensure(void);

#endif
