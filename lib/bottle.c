#include "bottle.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bstate.h"
#include "file.h"

#define SYSTEM_BUNDLE "/etc/ssl/certs/ca-certificates.crt"

static int write_text(const char *dir, const char *name, const char *text,
		      size_t len, struct bb_err *err)
{
	char path[4096];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	return bb_write_state_file(path, text, len, 0644, err);
}

/* The system bundle followed by the bottle's CA: every TLS client in the
 * bottle trusts the certificates bb-egress mints, and nothing else new. */
static int write_bundle(const char *dir, const char *ca_cert,
			struct bb_err *err)
{
	char *sys = NULL, *ca = NULL, *all;
	size_t slen = 0, clen = 0;
	int rc;

	if (bb_read_file(SYSTEM_BUNDLE, 16u << 20, &sys, &slen, err) < 0)
		return -1;
	if (ca_cert && bb_read_file(ca_cert, 1u << 20, &ca, &clen, err) < 0) {
		free(sys);
		return -1;
	}
	all = malloc(slen + clen + 2);
	if (!all)
		abort();
	memcpy(all, sys, slen);
	if (slen && sys[slen - 1] != '\n')
		all[slen++] = '\n';
	if (clen)
		memcpy(all + slen, ca, clen);
	rc = write_text(dir, "ca-certificates.crt", all, slen + clen, err);
	free(sys);
	free(ca);
	free(all);
	return rc;
}

void bb_guest_ids(const char *backend, uid_t *uid, gid_t *gid)
{
	*uid = *gid = BB_GUEST_UID;
	if (strcmp(backend, "docker") == 0 && getuid() != 0) {
		*uid = getuid();
		*gid = getgid();
	}
}

int bb_bottle_guest_files(const struct bb_bottle *b, const char *ca_cert,
			  struct bb_err *err)
{
	char buf[512];
	int n;

	if (b->uid == 0 || b->gid == 0)
		return bb_errf(err, b->slug, "the agent never runs as root");
	if (bb_mkdir_p(b->guestdir, 0700, err) < 0)
		return -1;
	n = snprintf(buf, sizeof(buf),
		     "root:x:0:0:root:/root:/usr/sbin/nologin\n"
		     "%s:x:%u:%u::%s:/bin/sh\n"
		     "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n",
		     BB_GUEST_USER, (unsigned)b->uid, (unsigned)b->gid, BB_GUEST_HOME);
	if (write_text(b->guestdir, "passwd", buf, (size_t)n, err) < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "root:x:0:\n%s:x:%u:\nnogroup:x:65534:\n",
		     BB_GUEST_USER, (unsigned)b->gid);
	if (write_text(b->guestdir, "group", buf, (size_t)n, err) < 0)
		return -1;
	n = snprintf(buf, sizeof(buf), "127.0.0.1\tlocalhost %s\n::1\tlocalhost\n",
		     b->slug);
	if (write_text(b->guestdir, "hosts", buf, (size_t)n, err) < 0)
		return -1;
	/* No name servers: docker would otherwise give the host's. */
	if (write_text(b->guestdir, "resolv.conf", "", 0, err) < 0)
		return -1;
	return write_bundle(b->guestdir, ca_cert, err);
}
