/* gitcmd: run git (and the programs git runs) as argv arrays with a clean,
 * explicit environment, captured output and a deadline.  Never a shell. */
#ifndef BB_GITCMD_H
#define BB_GITCMD_H

#include <stddef.h>
#include <sys/types.h>

#include "err.h"

/* An environment under construction: "K=V" strings, NULL-terminated. */
struct gg_env {
	char **v;
	size_t n, cap;
};

/* PATH and HOME from our own environment, LC_ALL=C, and git told to read
 * no system or global config: the operator's ~/.gitconfig must not change
 * what the gate does. */
int gg_env_base(struct gg_env *env);
int gg_env_set(struct gg_env *env, const char *key, const char *val);
void gg_env_free(struct gg_env *env);

struct gg_out {
	int status;    /* exit code; 128+N when killed by signal N */
	int timed_out; /* killed at the deadline */
	char *out;     /* stdout, NUL-terminated (may be NULL if not asked) */
	size_t out_len;
	char *errout; /* stderr, NUL-terminated */
	size_t err_len;
};

/* Run argv[0] (looked up on PATH) with env.  stdin gets in/in_len (or
 * /dev/null when in is NULL).  stdout and stderr are captured, each up to
 * max bytes (the rest is read and dropped).  After timeout_s seconds (0 =
 * none) the child is killed.  Returns -1 only when it could not run. */
int gg_run(const char *const argv[], const struct gg_env *env,
	   const char *in, size_t in_len, size_t max, int timeout_s,
	   struct gg_out *out, struct bb_err *err);
void gg_out_free(struct gg_out *out);

/* Spawn with the given fds as the child's 0, 1 and 2 (-1 = /dev/null). */
pid_t gg_spawn(const char *const argv[], const struct gg_env *env, int in,
	       int out, int errfd, struct bb_err *err);

/* Wait for pid, killing it after timeout_s (0 = wait forever); returns the
 * status as gg_out.status encodes it. */
int gg_wait(pid_t pid, int timeout_s, int *timed_out);

/* 'word' quoted for POSIX sh, malloc'd: for the few strings git insists on
 * handing to a shell (GIT_SSH_COMMAND, hook scripts). */
char *gg_sh_quote(const char *word);

#endif
