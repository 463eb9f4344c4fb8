/* manifest: the operator's bottles and agents (bb-manifest(5)), loaded,
 * validated, with extends resolved, as the canonical manifest JSON.
 *
 * Loading is in two steps so that files can come from disk or from memory
 * (the fuzz target): bb_manifest_add validates one file as a leaf; then
 * bb_manifest_resolve merges extends and checks the cross-file references.
 * Errors name the file and the field: "PATH: egress.routes[2].host". */
#ifndef BB_MANIFEST_H
#define BB_MANIFEST_H

#include <stddef.h>
#include <jansson.h>

#include "err.h"

#define BB_MANIFEST_VERSION 1

enum bb_mkind { BB_MKIND_BOTTLE, BB_MKIND_AGENT };
enum bb_morigin { BB_ORIGIN_HOME, BB_ORIGIN_PROJECT };

struct bb_manifest;

/* home is the home manifest directory, reported as "home". */
struct bb_manifest *bb_manifest_new(const char *home);
void bb_manifest_free(struct bb_manifest *m);

/* Validate the file text buf (frontmatter and body) as a bottle or agent
 * named name, read from path, and add it.  A project agent replaces a home
 * agent of the same name; bottles are accepted only from home. */
int bb_manifest_add(struct bb_manifest *m, enum bb_mkind kind,
		    enum bb_morigin origin, const char *name,
		    const char *path, const char *buf, size_t len,
		    struct bb_err *err);

/* Resolve every bottle's extends and every agent's bottle reference. */
int bb_manifest_resolve(struct bb_manifest *m, struct bb_err *err);

/* The whole manifest document (new reference); after resolve. */
json_t *bb_manifest_json(const struct bb_manifest *m);

/* {"version":1,"agent":{...,"name"},"bottle":{...,"name"}} for one agent,
 * the agent's git user laid over the bottle's; after resolve. */
json_t *bb_manifest_agent_json(const struct bb_manifest *m,
			       const char *agent, struct bb_err *err);

/* Read the .md files of home/bottles, home/agents and project/.bot-bottle/agents
 * (project may be NULL), warn about and skip badly named files, then
 * resolve.  Returns NULL with err set on the first error. */
struct bb_manifest *bb_manifest_load(const char *home, const char *project,
				     struct bb_err *err);

/* Does name (a file name) follow the naming rule [a-z][a-z0-9-]*.md? */
int bb_manifest_name_ok(const char *filename);

/* Leaf validation of one parsed frontmatter, without adding it: the
 * normalised bottle or agent (new reference) or NULL.  path names the
 * file in errors and anchors relative paths. */
json_t *bb_bottle_check(json_t *front, const char *name,
			const char *path, unsigned *declared,
			struct bb_err *err);
json_t *bb_agent_check(json_t *front, const char *body,
		       const char *name, const char *path,
		       enum bb_morigin origin, struct bb_err *err);

/* One egress route checked with exactly the rules of a bottle's
 * egress.routes[] entry, for routes that arrive at run time (an agent's
 * request, an operator's edit in bb-supervise): the normalised route (new
 * reference) or NULL.  Errors read "SOURCE: LABEL.FIELD: WHAT". */
json_t *bb_manifest_route_check(json_t *route, const char *source,
				const char *label, struct bb_err *err);

/* Bits of *declared: which optional bottle fields the file set, for the
 * extends merge. */
enum {
	BB_DECL_ENV = 1 << 0,
	BB_DECL_EXTENDS = 1 << 1,
	BB_DECL_SUPERVISE = 1 << 2,
	BB_DECL_PROVIDER = 1 << 3,
	BB_DECL_EGRESS = 1 << 4,
	BB_DECL_GG_USER = 1 << 5,
	BB_DECL_GG_REPOS = 1 << 6,
};

/* Edit-distance suggestion: the entry of cands (NULL-terminated) closest
 * to word, or NULL when none is close enough to be a likely typo. */
const char *bb_did_you_mean(const char *word, const char *const *cands);

#endif
