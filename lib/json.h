/* json: JSON in and out through jansson, with errors that name the file. */
#ifndef BB_JSON_H
#define BB_JSON_H

#include <stdio.h>
#include <jansson.h>

#include "err.h"

#define BB_JSON_MAX (64u << 20) /* largest JSON document we accept */

/* Parse path ("-" = stdin). Errors: "PATH: line L column C: TEXT". */
json_t *bb_json_load(const char *path, struct bb_err *err);
json_t *bb_json_parse(const char *buf, size_t len, const char *label,
		      struct bb_err *err);

/* Canonical output: 2-space indent, sorted keys, trailing newline. */
int bb_json_dump(FILE *f, const json_t *doc);
/* Same, as a malloc'd string. */
char *bb_json_string(const json_t *doc);

/* "string", "number", "object", "array", "boolean", "null". */
const char *bb_json_type(const json_t *v);

#endif
