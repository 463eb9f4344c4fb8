/* yamldoc: the YAML subset of manifests and configs, read into JSON values.
 *
 * Block and flow mappings and sequences, plain and quoted scalars. Plain
 * scalars resolve as YAML 1.2 core: true/false, null/~/empty, decimal
 * integers; everything else, and every quoted scalar, is a string.
 * Anchors, aliases, tags, complex keys, duplicate keys and more than one
 * document are refused rather than guessed at. */
#ifndef BB_YAMLDOC_H
#define BB_YAMLDOC_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

/* label names the input in errors ("bottles/dev.md"); line numbers are
 * offset by line0 (the line the YAML starts at in the file, 1-based). */
json_t *bb_yaml_load(const char *buf, size_t len, const char *label,
		     int line0, struct bb_err *err);

#endif
