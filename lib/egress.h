/* egress: the bb-egress forward proxy (libevent, one thread). */
#ifndef BB_EGRESS_H
#define BB_EGRESS_H

#include <stddef.h>

#include "err.h"
#include "route.h"

struct bb_resolve {
	char host[BB_HOST_MAX + 1];
	int port;
	char addr[64];
};

struct bb_egress_cfg {
	const char *routes_path;
	const char *token_file;     /* KEY=VALUE, re-read on SIGHUP */
	const char **listen;        /* unix:PATH or HOST:PORT */
	size_t nlisten;
	const char *admin;          /* unix:PATH or HOST:PORT, or NULL */
	const char *upstream_proxy; /* http://HOST:PORT, or NULL */
	const char *upstream_ca;    /* CA file for upstream TLS, or NULL */
	const char *ca_dir;         /* ca.pem, ca.key */
	const char *audit;          /* file, or "-" for stdout */
	const char *pid_file;
	struct bb_resolve *resolve;
	size_t nresolve;
	int workers;                /* processes serving; <= 1: this one */
};

#define BB_EGRESS_WORKERS_MAX 64

/* Move every EGRESS_TOKEN_N of the environment into t, then remove it
 * from the environment and overwrite the original bytes, so that
 * /proc/self/environ no longer shows the value. */
int bb_egress_take_env_tokens(struct bb_tokens *t, struct bb_err *err);

/* Run until SIGTERM or SIGINT (drains, returns 0).  Takes ownership of
 * tokens. */
int bb_egress_serve(const struct bb_egress_cfg *cfg, struct bb_tokens *tokens,
		    struct bb_err *err);

/* Parse "HOST:PORT:ADDR" (curl's --resolve). */
int bb_resolve_parse(const char *s, struct bb_resolve *r);

#endif
