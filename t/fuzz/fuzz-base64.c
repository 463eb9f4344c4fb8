/* libFuzzer: lib/base64.c against OpenSSL's EVP_DecodeBlock and
 * EVP_EncodeBlock, whose contracts it promises to keep: same return value
 * and same bytes for every input. */
#include <openssl/evp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int n = size > 4096 ? 4096 : (int)size;
	size_t room = (size_t)n / 4 * 3 + (size_t)n + 8;
	unsigned char *a = calloc(1, room), *b = calloc(1, room);
	int ra, rb;

	if (!a || !b)
		abort();
	ra = EVP_DecodeBlock(a, data, n);
	rb = bb_b64_decode_block(b, (const char *)data, n);
	if (ra != rb || (ra > 0 && memcmp(a, b, (size_t)ra)))
		abort();
	ra = EVP_EncodeBlock(a, data, n / 2);
	rb = bb_b64_encode_block((char *)b, data, n / 2);
	if (ra != rb || memcmp(a, b, (size_t)ra + 1))
		abort();
	free(a);
	free(b);
	return 0;
}
