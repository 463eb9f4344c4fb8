/* ca: the per-bottle certificate authority of bb-egress and the leaf
 * certificates it mints for intercepted hosts. */
#ifndef BB_CA_H
#define BB_CA_H

#include <openssl/evp.h>
#include <openssl/x509.h>

#include "err.h"

#define BB_LEAF_CACHE 256 /* leaf certificates kept; least recent evicted */

struct bb_leaf {
	char *host;
	X509 *cert;
	unsigned long used;
};

struct bb_ca {
	X509 *cert;
	EVP_PKEY *key;
	EVP_PKEY *leaf_key; /* one key for every leaf, made at load */
	struct bb_leaf cache[BB_LEAF_CACHE];
	unsigned long clock;
};

/* Create DIR (0700) with ca.pem and ca.key (0600): ECDSA P-256.  An
 * existing, loadable pair is kept (returns 1); a half pair is an error. */
int bb_ca_init(const char *dir, struct bb_err *err);

int bb_ca_load(const char *dir, struct bb_ca *ca, struct bb_err *err);
void bb_ca_free(struct bb_ca *ca);

/* The leaf certificate for host (a normalised host name), minted on first
 * use; owned by the cache (take a reference to keep it).  NULL on error. */
X509 *bb_ca_leaf(struct bb_ca *ca, const char *host);

#endif
