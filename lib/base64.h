/* base64: the block codec of RFC 4648 with OpenSSL's EVP_EncodeBlock and
 * EVP_DecodeBlock contracts, so that the tools that only need base64
 * (bb-manifest, bb-plan) do not load libcrypto, whose relocation alone
 * costs milliseconds at every start (docs/bench-plan.md).
 * t/fuzz/fuzz-base64.c checks both against OpenSSL byte for byte. */
#ifndef BB_BASE64_H
#define BB_BASE64_H

#include <stddef.h>

/* As EVP_DecodeBlock: leading blanks and trailing blanks, newlines,
 * carriage returns and '-' are dropped (keeping at least 4 bytes), the
 * rest must be whole groups of 4 base64 characters where '=' counts as
 * zero bits; writes 3 bytes a group to out (room for n / 4 * 3) and
 * returns their count, padding included, or -1. */
int bb_b64_decode_block(unsigned char *out, const char *in, int n);

/* As EVP_EncodeBlock: writes the padded encoding of n bytes and a NUL to
 * out (room for (n + 2) / 3 * 4 + 1) and returns its length. */
int bb_b64_encode_block(char *out, const unsigned char *in, int n);

#endif
