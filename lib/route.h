/* route: the egress routes table and the per-request decision.
 *
 * Pure functions (no sockets, no clock), so the decision can be unit-tested
 * and fuzzed on its own.  The wire format is the routes file of
 * docs/interfaces.md, read by bb-egress serve and written by
 * bb-egress routes from a plan. */
#ifndef BB_ROUTE_H
#define BB_ROUTE_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

#define BB_HOST_MAX 253
#define BB_ROUTES_MAX 4096
#define BB_TOKENS_MAX 256

struct bb_route {
	char *host;       /* lower-case, no trailing dot, no port */
	char **prefixes;  /* path_allowlist, empty = any path */
	size_t nprefix;
	char *scheme;     /* auth_scheme, NULL when unauthenticated */
	char *token_env;  /* EGRESS_TOKEN_N, NULL when unauthenticated */
	int *ports;       /* ports, empty = 443 (CONNECT) and 80 (http) */
	size_t nport;
	int tls_passthrough; /* pipelock passes it through unbumped */
};

struct bb_routes {
	struct bb_route *v;
	size_t n;
};

/* Token slots: name (EGRESS_TOKEN_N) -> value.  Values live only here. */
struct bb_token {
	char *name;
	char *value;
};

struct bb_tokens {
	struct bb_token *v;
	size_t n;
};

/* Parse and validate a routes document (label names it in errors). */
int bb_routes_parse(const char *buf, size_t len, const char *label,
		    struct bb_routes *out, struct bb_err *err);
int bb_routes_from_json(json_t *doc, const char *label,
			struct bb_routes *out, struct bb_err *err);
int bb_routes_load(const char *path, struct bb_routes *out,
		   struct bb_err *err);
void bb_routes_free(struct bb_routes *r);

/* The routes file for a plan (docs/interfaces.md): slots only. */
json_t *bb_routes_from_plan(const json_t *plan, struct bb_err *err);
/* The one mapping from a plan route to its routes-file form; where names
 * the route in errors. */
json_t *bb_route_wire(const json_t *plan_route, const char *where,
		      struct bb_err *err);

/* The table as introspection shows it: host, paths, scheme, authenticated;
 * never a value. */
json_t *bb_routes_describe(const struct bb_routes *r);

/* Find a route by normalised host; NULL when none. */
const struct bb_route *bb_routes_find(const struct bb_routes *r,
				      const char *host);

int bb_token_name_ok(const char *name);
const char *bb_tokens_get(const struct bb_tokens *t, const char *name);
int bb_tokens_set(struct bb_tokens *t, const char *name, const char *value);
/* Overwrite the values before freeing them. */
void bb_tokens_free(struct bb_tokens *t);
/* Parse KEY=VALUE lines (EGRESS_TOKEN_N only; '#' comments, blank lines). */
int bb_tokens_parse(const char *buf, size_t len, const char *label,
		    struct bb_tokens *out, struct bb_err *err);

/* Normalise "host[:port]" for matching: lower-case, port removed,
 * trailing dot removed.  Returns 0, or -1 on an invalid host
 * (characters outside [a-z0-9.-_], empty, too long, bad port).
 * *port is set to the port or 0 when absent. */
int bb_host_norm(const char *in, size_t len, char *out, size_t outsz,
		 int *port);

/* Normalise the path of an origin-form target (query excluded) for
 * matching.  Percent-encoded unreserved characters are decoded; "."
 * segments are removed.  Refused (returns -1, *reason set): no leading
 * '/', a ".." segment (also %2e%2e), an empty segment ("//"), an encoded
 * '/', '\' or NUL, a raw '\', a control character, a bad escape. */
int bb_path_norm(const char *target, size_t len, char *out, size_t outsz,
		 const char **reason);

/* Git smart-HTTP push: .../git-receive-pack or
 * .../info/refs?service=git-receive-pack. */
int bb_is_git_push(const char *target, size_t len);

enum bb_verdict { BB_ALLOW = 0, BB_DENY, BB_BAD };

struct bb_request_view {
	const char *method;
	const char *target;       /* origin-form, NUL-terminated */
	const char *host_header;  /* the Host header, NULL when absent */
	const char *tunnel_host;  /* CONNECT host, NULL for plain HTTP */
	int tunnel_port;          /* CONNECT port */
	int tls;                  /* the request arrived inside TLS */
};

struct bb_decision {
	enum bb_verdict verdict;
	int status;              /* 200 when allowed, else 400/403/502 */
	const char *reason;      /* static text, for the agent and the log */
	char host[BB_HOST_MAX + 1];
	int port;                /* from Host or CONNECT, 0 = default */
	char path[2048];         /* normalised, or the raw path when refused */
	const struct bb_route *route; /* NULL when no route */
	const char *auth_value;  /* the token for the Authorization header */
};

/* May a request reach port (tls: through CONNECT) on route r (NULL when
 * no route)?  Without declared ports only 443 for TLS and 80 for http. */
int bb_route_port_ok(const struct bb_route *r, int port, int tls);

void bb_route_decide(const struct bb_routes *routes,
		     const struct bb_tokens *tokens,
		     const struct bb_request_view *req,
		     struct bb_decision *d);

#endif
