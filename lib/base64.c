#include "base64.h"

/* The classes of OpenSSL's decoding table: values 0-63 are digits, '='
 * reads as 0; the others have the high bit set. */
enum { B64_WS = 0xE0, B64_EOLN = 0xF0, B64_CR = 0xF1, B64_EOF = 0xF2,
       B64_ERROR = 0xFF };

static const char digits[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static unsigned ascii2bin(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	switch (c) {
	case '+':
		return 62;
	case '/':
		return 63;
	case '=':
		return 0;
	case ' ':
	case '\t':
		return B64_WS;
	case '\n':
		return B64_EOLN;
	case '\r':
		return B64_CR;
	case '-':
		return B64_EOF;
	default:
		return B64_ERROR;
	}
}

/* Blanks, line ends and '-' (not the error class). */
static int not_base64(unsigned v)
{
	return (v | 0x13) == 0xF3;
}

int bb_b64_decode_block(unsigned char *out, const char *in, int n)
{
	const unsigned char *f = (const unsigned char *)in;
	int ret = 0;

	while (n > 0 && ascii2bin(*f) == B64_WS) {
		f++;
		n--;
	}
	while (n > 3 && not_base64(ascii2bin(f[n - 1])))
		n--;
	if (n % 4 != 0)
		return -1;
	for (int i = 0; i < n; i += 4, f += 4) {
		unsigned a = ascii2bin(f[0]), b = ascii2bin(f[1]),
			 c = ascii2bin(f[2]), d = ascii2bin(f[3]);
		unsigned long l;

		if ((a | b | c | d) & 0x80)
			return -1;
		l = (unsigned long)a << 18 | (unsigned long)b << 12 |
		    (unsigned long)c << 6 | d;
		*out++ = (unsigned char)(l >> 16);
		*out++ = (unsigned char)(l >> 8);
		*out++ = (unsigned char)l;
		ret += 3;
	}
	return ret;
}

int bb_b64_encode_block(char *out, const unsigned char *in, int n)
{
	int ret = 0;

	for (int i = n; i > 0; i -= 3, in += 3, ret += 4) {
		unsigned long l = (unsigned long)in[0] << 16;

		if (i >= 2)
			l |= (unsigned long)in[1] << 8;
		if (i >= 3)
			l |= in[2];
		*out++ = digits[l >> 18 & 0x3f];
		*out++ = digits[l >> 12 & 0x3f];
		*out++ = i >= 2 ? digits[l >> 6 & 0x3f] : '=';
		*out++ = i >= 3 ? digits[l & 0x3f] : '=';
	}
	*out = '\0';
	return ret;
}
