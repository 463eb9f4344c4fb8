/* bottle: what a backend needs to run an agent in a bottle, and the
 * backends that run it (ns: bubblewrap; podman/docker). */
#ifndef BB_BOTTLE_H
#define BB_BOTTLE_H

#include <sys/types.h>

#include "err.h"
#include "proc.h"

#define BB_GUEST_HOME "/home/node"
#define BB_GUEST_USER "node"
#define BB_GUEST_UID 1000
#define BB_GUEST_RUN "/run/bb"
#define BB_GUEST_SOCKS BB_GUEST_RUN "/sock" /* the host's socket dir, read-only */
#define BB_GUEST_CA_BUNDLE "/etc/ssl/certs/ca-certificates.crt"
#define BB_MAX_RELAYS 4

/* A sidecar socket relayed to 127.0.0.1:port inside the bottle. */
struct bb_relay_port {
	int port;
	const char *sock; /* file name in the runtime dir: "egress.sock" */
};

struct bb_bottle {
	const char *slug;
	const char *home;     /* host dir mounted as the guest home */
	const char *guestdir; /* host dir of generated guest files (passwd...) */
	const char *rundir;   /* host dir of the sidecar sockets, bound whole */
	const char *relay;    /* host path of bb-relay */
	const char *workdir;  /* guest cwd */
	uid_t uid;            /* the agent's uid and gid in the bottle, never 0 */
	gid_t gid;
	struct bb_relay_port relays[BB_MAX_RELAYS];
	int nrelays;
	struct bb_strv env;   /* the agent's whole environment */
	char *const *argv;    /* the agent command */
};

/* The files of /etc a bottle may see (when world-readable on the host). */
extern const char *const bb_etc_public[];
int bb_world_readable(const char *path);

/* The agent's uid and gid in a bottle of this backend.  ns and podman
 * map BB_GUEST_UID to our own uid in a user namespace; docker has no
 * per-container user namespace, so its agent runs as our own uid, or as
 * BB_GUEST_UID when we are root (the agent is never root). */
void bb_guest_ids(const char *backend, uid_t *uid, gid_t *gid);

/* Write passwd, group, hosts and the CA bundle (system bundle plus
 * ca_cert, when given) into b->guestdir. */
int bb_bottle_guest_files(const struct bb_bottle *b, const char *ca_cert,
			  struct bb_err *err);

/* Start the bottle; the agent inherits our stdin/stdout/stderr.
 * Returns the pid to wait for and to kill at teardown. */
pid_t bb_ns_start(const struct bb_bottle *b, int *infofd, struct bb_err *err);
/* Like bb_ns_start, but the agent waits: bb-relay binds its relays, then
 * blocks reading its environment from a pipe whose write end is *envw;
 * bb_ns_release() sends env and closes it, and only then is the agent
 * exec'd.  Closing *envw without sending leaves bb-relay with no
 * environment, which it refuses: kill the bottle first. */
pid_t bb_ns_start_gated(const struct bb_bottle *b, int *infofd, int *envw,
			struct bb_err *err);
/* Write env (NUL-separated) to envw and close it.  SIGPIPE must be
 * ignored by the caller. */
int bb_ns_release(int envw, const struct bb_strv *env, struct bb_err *err);
/* The host pid of the bottle's first process (its pid 1), read from
 * bwrap's info descriptor; 0 if unknown.  Killing it empties the pid
 * namespace. */
pid_t bb_ns_inner_pid(int infofd);
/* Why the ns backend cannot run here, or NULL when it can. */
const char *bb_ns_check(void);

/* podman or docker (engine names the CLI). */
pid_t bb_podman_start(const char *engine, const struct bb_bottle *b,
		      const char *envfile, struct bb_err *err);
const char *bb_podman_check(const char *engine);
/* Remove the bottle's container if it is still there. */
void bb_podman_remove(const char *engine, const char *slug);

#endif
