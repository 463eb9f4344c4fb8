/* gitplan: the git_gate section of a plan (docs/interfaces.md), checked. */
#ifndef BB_GITPLAN_H
#define BB_GITPLAN_H

#include <stddef.h>

#include "err.h"

struct gg_repo {
	char *name;          /* ^[A-Za-z0-9._-]+$, not "." or ".." */
	char *url;           /* ssh://USER@HOST[:PORT]/PATH, as declared */
	char *user, *host, *path;
	int port;
	char *identity_file; /* gate-side only: never rendered for the agent */
	char *host_key;      /* "" when the plan has none: every use refused */
};

struct gg_plan {
	struct gg_repo *repos;
	size_t n;
	char *user_name, *user_email;
};

/* Load and check path ("-" = stdin).  Errors name the field:
 * "plan.json: git_gate.repos[1].name". */
int gg_plan_load(const char *path, struct gg_plan *plan, struct bb_err *err);
void gg_plan_free(struct gg_plan *plan);

/* The declared repo called name, or NULL. */
const struct gg_repo *gg_plan_repo(const struct gg_plan *plan,
				   const char *name);

/* 1 when name is a repo name the gate accepts. */
int gg_repo_name_ok(const char *name);

#endif
