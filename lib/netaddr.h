/* netaddr: syntax of the network names a manifest may declare: bare
 * hosts, IP/CIDR allowlist entries, ssh:// upstream URLs and OpenSSH host
 * keys.  Each check writes a canonical form, so later tools compare
 * like with like. */
#ifndef BB_NETADDR_H
#define BB_NETADDR_H

#include <stddef.h>

/* A bare DNS name or IP literal: no scheme, port, path, wildcard or
 * trailing dot.  On success writes the canonical form (lower case; IP
 * literals as inet_ntop prints them) to out and returns NULL; otherwise
 * returns why, a phrase that completes "'HOST' ..." (static string). */
const char *bb_host_canon(const char *host, char *out, size_t outsz);

/* An IPv4/IPv6 address or CIDR.  On success writes "NETWORK/PREFIX" with
 * the host bits cleared (a bare address gets /32 or /128) and returns
 * NULL; otherwise returns why (static string).  A /0 network (every
 * address) is refused. */
const char *bb_cidr_canon(const char *s, char *out, size_t outsz);

/* ssh://USER@HOST[:PORT]/PATH, the one upstream grammar of git-gate. */
struct bb_ssh_url {
	char user[256];
	char host[256];
	int port;
	char path[1024];
};

/* Parse url.  On failure returns a phrase with the url in it, written to
 * why (e.g. "must include a user (e.g. ssh://git@host/path.git); was
 * 'ssh://host/x'"), and -1. */
int bb_ssh_url_parse(const char *url, struct bb_ssh_url *out, char *why,
		     size_t whysz);

/* An OpenSSH public key line "TYPE BASE64 [COMMENT]" whose decoded blob
 * names TYPE.  On success writes "TYPE BASE64" to out and returns 0; else
 * writes why and returns -1. */
int bb_ssh_host_key_canon(const char *line, char *out, size_t outsz,
			  char *why, size_t whysz);

#endif
