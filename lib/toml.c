#include "toml.h"

#include <string.h>

void bb_toml_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\b': fputs("\\b", f); break;
		case '\t': fputs("\\t", f); break;
		case '\n': fputs("\\n", f); break;
		case '\f': fputs("\\f", f); break;
		case '\r': fputs("\\r", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04X", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

void bb_toml_key(FILE *f, const char *s)
{
	static const char bare[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-";

	if (*s && strspn(s, bare) == strlen(s))
		fputs(s, f);
	else
		bb_toml_string(f, s);
}
