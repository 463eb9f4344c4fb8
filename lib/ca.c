#include "ca.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509v3.h>

#include "file.h"

static const char *ssl_reason(void)
{
	static char buf[256];
	unsigned long e = ERR_get_error();

	if (!e)
		return "OpenSSL error";
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	return buf;
}

static EVP_PKEY *new_p256(void)
{
	return EVP_EC_gen("P-256");
}

static int random_serial(X509 *x)
{
	unsigned char b[16];
	BIGNUM *bn;
	int ok;

	if (RAND_bytes(b, sizeof(b)) != 1)
		return -1;
	b[0] &= 0x7f;
	bn = BN_bin2bn(b, sizeof(b), NULL);
	ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x)) != NULL;
	BN_free(bn);
	return ok ? 0 : -1;
}

static int add_ext(X509 *x, X509 *issuer, int nid, const char *value)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;
	int ok;

	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, value);
	if (!ext)
		return -1;
	ok = X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	return ok ? 0 : -1;
}

static X509 *new_cert(EVP_PKEY *pub, const char *cn, long from, long days)
{
	X509 *x = X509_new();
	X509_NAME *name;

	if (!x || !X509_set_version(x, 2) || random_serial(x) < 0 ||
	    !X509_gmtime_adj(X509_getm_notBefore(x), from) ||
	    !X509_gmtime_adj(X509_getm_notAfter(x), days * 86400L) ||
	    !X509_set_pubkey(x, pub))
		goto fail;
	name = X509_get_subject_name(x);
	if (!X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
					(const unsigned char *)cn, -1, -1, 0))
		goto fail;
	return x;
fail:
	X509_free(x);
	return NULL;
}

static int make_ca(X509 **out, EVP_PKEY **kout)
{
	EVP_PKEY *key = new_p256();
	X509 *x = NULL;
	unsigned char r[4];
	char cn[64];

	if (!key || RAND_bytes(r, sizeof(r)) != 1)
		goto fail;
	snprintf(cn, sizeof(cn), "bb egress CA %02x%02x%02x%02x", r[0], r[1],
		 r[2], r[3]);
	x = new_cert(key, cn, -3600, 3650);
	if (!x || !X509_set_issuer_name(x, X509_get_subject_name(x)) ||
	    add_ext(x, x, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
	    add_ext(x, x, NID_key_usage, "critical,keyCertSign,cRLSign") ||
	    add_ext(x, x, NID_subject_key_identifier, "hash") ||
	    !X509_sign(x, key, EVP_sha256()))
		goto fail;
	*out = x;
	*kout = key;
	return 0;
fail:
	X509_free(x);
	EVP_PKEY_free(key);
	return -1;
}

static char *pem_of(int (*write)(BIO *, const void *), const void *obj,
		    size_t *len)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *data, *out = NULL;
	long n;

	if (b && write(b, obj)) {
		n = BIO_get_mem_data(b, &data);
		if (n > 0 && (out = malloc((size_t)n))) {
			memcpy(out, data, (size_t)n);
			*len = (size_t)n;
		}
	}
	BIO_free(b);
	return out;
}

static int write_cert(BIO *b, const void *x)
{
	return PEM_write_bio_X509(b, (X509 *)(uintptr_t)x);
}

static int write_key(BIO *b, const void *k)
{
	return PEM_write_bio_PrivateKey(b, (EVP_PKEY *)(uintptr_t)k, NULL,
					NULL, 0, NULL, NULL);
}

static void paths(const char *dir, char *pem, char *key, size_t n)
{
	snprintf(pem, n, "%s/ca.pem", dir);
	snprintf(key, n, "%s/ca.key", dir);
}

int bb_ca_init(const char *dir, struct bb_err *err)
{
	char pem[4096], keyp[4096];
	X509 *x = NULL;
	EVP_PKEY *k = NULL;
	char *cs = NULL, *ks = NULL;
	size_t cl = 0, kl = 0;
	int rc = -1, have_pem, have_key;
	struct bb_ca probe;

	paths(dir, pem, keyp, sizeof(pem));
	have_pem = access(pem, F_OK) == 0;
	have_key = access(keyp, F_OK) == 0;
	if (have_pem && have_key) {
		if (bb_ca_load(dir, &probe, err) < 0)
			return -1;
		bb_ca_free(&probe);
		return 1;
	}
	if (have_pem || have_key)
		return bb_errf(err, dir, "has only one of ca.pem and ca.key");
	if (bb_mkdir_p(dir, 0700, err) < 0)
		return -1;
	if (make_ca(&x, &k) < 0) {
		bb_errf(err, dir, "cannot make the CA: %s", ssl_reason());
		goto out;
	}
	cs = pem_of(write_cert, x, &cl);
	ks = pem_of(write_key, k, &kl);
	if (!cs || !ks) {
		bb_errf(err, dir, "cannot encode the CA: %s", ssl_reason());
		goto out;
	}
	if (bb_write_file_atomic(keyp, ks, kl, 0600, err) < 0 ||
	    bb_write_file_atomic(pem, cs, cl, 0644, err) < 0)
		goto out;
	rc = 0;
out:
	if (ks)
		OPENSSL_cleanse(ks, kl);
	free(ks);
	free(cs);
	X509_free(x);
	EVP_PKEY_free(k);
	return rc;
}

int bb_ca_load(const char *dir, struct bb_ca *ca, struct bb_err *err)
{
	char pem[4096], keyp[4096];
	FILE *f;

	memset(ca, 0, sizeof(*ca));
	paths(dir, pem, keyp, sizeof(pem));
	if (!(f = fopen(pem, "r")))
		return bb_errf(err, pem, "cannot open: %m");
	ca->cert = PEM_read_X509(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->cert)
		return bb_errf(err, pem, "not a PEM certificate: %s", ssl_reason());
	if (!(f = fopen(keyp, "r"))) {
		bb_ca_free(ca);
		return bb_errf(err, keyp, "cannot open: %m");
	}
	ca->key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (!ca->key || X509_check_private_key(ca->cert, ca->key) != 1) {
		bb_ca_free(ca);
		return bb_errf(err, keyp, "not the key of ca.pem: %s",
			       ssl_reason());
	}
	if (!(ca->leaf_key = new_p256())) {
		bb_ca_free(ca);
		return bb_errf(err, dir, "cannot make a leaf key: %s",
			       ssl_reason());
	}
	return 0;
}

void bb_ca_free(struct bb_ca *ca)
{
	size_t i;

	for (i = 0; i < BB_LEAF_CACHE; i++) {
		free(ca->cache[i].host);
		X509_free(ca->cache[i].cert);
	}
	X509_free(ca->cert);
	EVP_PKEY_free(ca->key);
	EVP_PKEY_free(ca->leaf_key);
	memset(ca, 0, sizeof(*ca));
}

static X509 *mint(struct bb_ca *ca, const char *host)
{
	X509 *x = new_cert(ca->leaf_key, host, -3600, 90);
	char san[300];
	int ip = strspn(host, "0123456789.") == strlen(host);

	snprintf(san, sizeof(san), "%s:%s", ip ? "IP" : "DNS", host);
	if (!x || !X509_set_issuer_name(x, X509_get_subject_name(ca->cert)) ||
	    add_ext(x, ca->cert, NID_basic_constraints, "critical,CA:FALSE") ||
	    add_ext(x, ca->cert, NID_key_usage, "critical,digitalSignature") ||
	    add_ext(x, ca->cert, NID_ext_key_usage, "serverAuth") ||
	    add_ext(x, ca->cert, NID_subject_alt_name, san) ||
	    add_ext(x, ca->cert, NID_authority_key_identifier, "keyid") ||
	    !X509_sign(x, ca->key, EVP_sha256())) {
		X509_free(x);
		return NULL;
	}
	return x;
}

X509 *bb_ca_leaf(struct bb_ca *ca, const char *host)
{
	size_t i, victim = 0;
	X509 *x;
	char *h;

	for (i = 0; i < BB_LEAF_CACHE; i++) {
		if (ca->cache[i].host && strcmp(ca->cache[i].host, host) == 0) {
			ca->cache[i].used = ++ca->clock;
			return ca->cache[i].cert;
		}
		if (ca->cache[i].used < ca->cache[victim].used)
			victim = i;
	}
	if (!(x = mint(ca, host)))
		return NULL;
	if (!(h = strdup(host))) {
		X509_free(x);
		return NULL;
	}
	free(ca->cache[victim].host);
	X509_free(ca->cache[victim].cert);
	ca->cache[victim].host = h;
	ca->cache[victim].cert = x;
	ca->cache[victim].used = ++ca->clock;
	return x;
}
