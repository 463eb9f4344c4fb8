/* provider: the agent runtime of a template (share/providers/NAME.json)
 * resolved for one launch: argv, image, env, files, provider routes. */
#ifndef BB_PROVIDER_H
#define BB_PROVIDER_H

#include <time.h>
#include <jansson.h>

#include "err.h"

struct bb_provider_ctx {
	const char *home;	   /* guest home, e.g. /home/node */
	const char *owner;	   /* "node:node" */
	const char *prompt_path;   /* guest path of the prompt file */
	const char *workdir;	   /* the trusted path (workspace or home) */
	int has_prompt;		   /* prompt text is non-empty */
	const json_t *agent_provider; /* the bottle's agent_provider */
	const json_t *bottle_env;     /* the bottle's env (for CODEX_HOME) */
	time_t now;
};

struct bb_provider_out {
	json_t *section; /* the plan's "provider" object */
	json_t *routes;	 /* provider-owned routes, plan route shape */
	json_t *env;	 /* guest env defaults: name -> literal value */
};

/* The template named by agent_provider.template, from the share dir. */
json_t *bb_provider_template(const char *name, struct bb_err *err);

int bb_provider_plan(const struct bb_provider_ctx *ctx,
		     struct bb_provider_out *out, struct bb_err *err);
void bb_provider_out_free(struct bb_provider_out *out);

/* Trust files, exposed for tests and bb-up. */
char *bb_provider_claude_json(const char *home, const char *workdir);
char *bb_provider_codex_toml(const char *home, const char *workdir);

#endif
