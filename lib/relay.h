/* relay: inside a bottle, 127.0.0.1:PORT -> the sidecar's unix socket.
 * The bottle has loopback only; this is how ordinary clients
 * (HTTPS_PROXY=http://127.0.0.1:9099) reach sidecars listening outside. */
#ifndef BB_RELAY_H
#define BB_RELAY_H

#include "err.h"

struct bb_relay {
	int port;
	char sock[108]; /* sizeof(sun_path) */
	int fd;		/* listening socket once bound, else -1 */
};

/* Parse "PORT:SOCKET" (as given to bb-relay -l). */
int bb_relay_parse(const char *spec, struct bb_relay *r, struct bb_err *err);
/* Bind and listen on 127.0.0.1:port, close-on-exec. */
int bb_relay_bind(struct bb_relay *r, struct bb_err *err);
/* Serve every bound relay until the process is killed. */
int bb_relay_serve(struct bb_relay *rs, int n, struct bb_err *err);

#endif
