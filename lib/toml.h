/* toml: the little TOML bb writes (Codex's config.toml).  There is no C
 * TOML library in Debian 12 (docs/decisions.md), and we only ever write
 * tables of string values, so this is a basic-string escaper. */
#ifndef BB_TOML_H
#define BB_TOML_H

#include <stdio.h>

/* s as a TOML basic string, quotes included: \ and " escaped, control
 * characters as \b \t \n \f \r or \uXXXX. */
void bb_toml_string(FILE *f, const char *s);
/* s as a key: bare when it is only A-Z a-z 0-9 _ -, else quoted. */
void bb_toml_key(FILE *f, const char *s);

#endif
