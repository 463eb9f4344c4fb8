/* frontmatter: Markdown files that open with a YAML block between two
 * "---" lines (the manifest's file syntax). */
#ifndef BB_FRONTMATTER_H
#define BB_FRONTMATTER_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

#define BB_FRONTMATTER_MAX (1u << 20) /* largest manifest file we read */

/* Split buf into its frontmatter, parsed as a YAML mapping (an empty
 * block gives {}), and its body (malloc'd, NUL-terminated).
 * label names the file in errors. */
int bb_frontmatter_split(const char *buf, size_t len, const char *label,
			 json_t **front, char **body, struct bb_err *err);

#endif
