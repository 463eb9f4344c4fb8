/* mirror: the gate's bare mirror of one upstream, its pinned host key and
 * the ssh command that reaches upstream with the gate's identity. */
#ifndef BB_MIRROR_H
#define BB_MIRROR_H

#include <stddef.h>

#include "err.h"
#include "gitcmd.h"
#include "gitplan.h"

/* Under the state directory:
 *   repos/NAME.git          the bare mirror (GIT_PROJECT_ROOT = repos/)
 *   creds/NAME-known_hosts  the pinned host key, 0600
 *   locks/NAME.lock         serialises refreshes; NAME.fresh its stamp */
char *gg_mirror_dir(const char *state, const char *name);
char *gg_known_hosts_path(const char *state, const char *name);

/* The known_hosts line for r: "host key", or "[host]:port key". */
char *gg_known_hosts_line(const struct gg_repo *r);

/* GIT_SSH_COMMAND for an identity and known_hosts: every path shell-quoted,
 * host keys pinned, never a prompt, a connect timeout. */
char *gg_ssh_command(const char *identity, const char *known_hosts);

/* Create (or bring up to date) the mirror, its config, hook and pinned
 * host key.  hook is the pre-receive script text (NULL: none). */
int gg_mirror_setup(const char *state, const struct gg_repo *r,
		    const char *hook, const char *scanner, struct bb_err *err);

/* Fetch from upstream into the mirror, unless another refresh finished
 * within the last max_age seconds (0: always).  On failure, msg gets the
 * text for the agent (no local paths), err the full story for the log. */
int gg_mirror_refresh(const char *state, const struct gg_repo *r,
		      int max_age, char *msg, size_t msglen,
		      struct bb_err *err);

/* The refusal for a repo without a host key, in current key names. */
void gg_no_host_key_msg(const char *name, char *msg, size_t msglen);

/* Run git with argv (after "git") in the base environment (plus ssh when
 * ssh_cmd is set); output captured as gg_run does. */
int gg_git(const char *const args[], const char *ssh_cmd, int timeout_s,
	   struct gg_out *out, struct bb_err *err);

#endif
