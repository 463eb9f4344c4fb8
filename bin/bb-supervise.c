/* bb-supervise: the MCP server through which an agent asks for what it
 * lacks, and the operator's side of the queue. See bb-supervise(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "decide.h"
#include "err.h"
#include "json.h"
#include "mcpserver.h"

#define TIMEOUT_ENV "SUPERVISE_RESPONSE_TIMEOUT_SECONDS"

static const char usage[] =
	"usage: bb-supervise serve --state DIR [--listen ADDRESS ...] "
	"[--timeout SECONDS] [--egress-admin unix:PATH] [--max-waits N]\n"
	"       bb-supervise pending [--json] [--state-root DIR]\n"
	"       bb-supervise show [--state-root DIR] ID\n"
	"       bb-supervise approve [--state-root DIR] [--edit FILE] "
	"[--note TEXT] ID\n"
	"       bb-supervise reject [--state-root DIR] --reason TEXT ID\n"
	"       bb-supervise watch [--json] [--state-root DIR]\n"
	"       bb-supervise -h\n";

enum { O_STATE = 256, O_LISTEN, O_TIMEOUT, O_ADMIN, O_MAXW, O_JSON, O_ROOT,
       O_EDIT, O_NOTE, O_REASON };

static const struct option longopts[] = {
	{"state", required_argument, NULL, O_STATE},
	{"listen", required_argument, NULL, O_LISTEN},
	{"timeout", required_argument, NULL, O_TIMEOUT},
	{"egress-admin", required_argument, NULL, O_ADMIN},
	{"max-waits", required_argument, NULL, O_MAXW},
	{"json", no_argument, NULL, O_JSON},
	{"state-root", required_argument, NULL, O_ROOT},
	{"edit", required_argument, NULL, O_EDIT},
	{"note", required_argument, NULL, O_NOTE},
	{"reason", required_argument, NULL, O_REASON},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

struct args {
	const char *cmd, *state, *timeout, *admin, *maxw, *root, *edit, *note,
		*reason, *id;
	const char *listen[16];
	size_t nlisten;
	int json;
};

static _Noreturn void bad_usage(const char *why)
{
	if (why)
		fprintf(stderr, "%s: %s\n", bb_progname, why);
	bb_usage(usage, BB_EXIT_USAGE);
}

static void parse(int argc, char **argv, struct args *a)
{
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case 'h': bb_usage(usage, BB_EXIT_OK);
		case O_STATE: a->state = optarg; break;
		case O_TIMEOUT: a->timeout = optarg; break;
		case O_ADMIN: a->admin = optarg; break;
		case O_MAXW: a->maxw = optarg; break;
		case O_JSON: a->json = 1; break;
		case O_ROOT: a->root = optarg; break;
		case O_EDIT: a->edit = optarg; break;
		case O_NOTE: a->note = optarg; break;
		case O_REASON: a->reason = optarg; break;
		case O_LISTEN:
			if (a->nlisten == sizeof(a->listen) / sizeof(*a->listen))
				bad_usage("too many --listen");
			a->listen[a->nlisten++] = optarg;
			break;
		default: bad_usage(NULL);
		}
	}
	if (optind >= argc)
		bad_usage(NULL);
	a->cmd = argv[optind++];
	if (optind < argc)
		a->id = argv[optind++];
	if (optind < argc)
		bad_usage("too many operands");
}

/* Options that belong to another command are usage errors. */
static void only(const struct args *a, int serve, int json, int root,
		 int id)
{
	if ((!serve && (a->state || a->nlisten || a->timeout || a->admin ||
			a->maxw)) ||
	    (!json && a->json) || (!root && a->root) || (!id && a->id) ||
	    (id && !a->id))
		bad_usage(NULL);
}

static double timeout_of(const struct args *a)
{
	const char *env = getenv(TIMEOUT_ENV);
	double t = 30;

	if (a->timeout) {
		if ((t = bb_parse_seconds(a->timeout)) < 0)
			bb_failx(BB_EXIT_USAGE,
				 "--timeout: must be a positive number of "
				 "seconds");
	} else if (env && *env && (t = bb_parse_seconds(env)) < 0) {
		bb_failx(BB_EXIT_USAGE, TIMEOUT_ENV
			 " must be a positive number");
	}
	return t;
}

static char *runtime_path(const char *state, const char *sock)
{
	const char *rt = getenv("XDG_RUNTIME_DIR"), *slash;
	char *p;

	if (!rt || rt[0] != '/')
		return NULL;
	slash = strrchr(state, '/');
	if (asprintf(&p, "%s/bb/%s/%s", rt, slash ? slash + 1 : state, sock) <
	    0)
		return NULL;
	return p;
}

static int cmd_serve(struct args *a)
{
	struct bb_mcpserver_opts o = {0};
	struct bb_err err = {0};
	char *dflt = NULL, *admin = NULL, *listen_dflt = NULL, *end;
	int rc;

	only(a, 1, 0, 0, 0);
	if (!a->state)
		bad_usage("serve needs --state DIR");
	o.state = a->state;
	o.timeout = timeout_of(a);
	o.max_waits = 16;
	if (a->maxw) {
		long n = strtol(a->maxw, &end, 10);

		if (*end || n < 1 || n > 4096)
			bb_failx(BB_EXIT_USAGE,
				 "--max-waits: must be a number from 1 to "
				 "4096");
		o.max_waits = (size_t)n;
	}
	if (a->admin && strncmp(a->admin, "unix:", 5) != 0)
		bb_failx(BB_EXIT_USAGE, "--egress-admin: must be unix:PATH");
	o.egress_admin = a->admin ? a->admin + 5
				  : (admin = runtime_path(a->state,
							  "egress-admin.sock"));
	if (!a->nlisten) {
		if (!(dflt = runtime_path(a->state, "bottle/supervise.sock")) ||
		    asprintf(&listen_dflt, "unix:%s", dflt) < 0)
			bb_failx(BB_EXIT_USAGE,
				 "no --listen and no XDG_RUNTIME_DIR");
		a->listen[a->nlisten++] = listen_dflt;
	}
	o.listen = a->listen;
	o.nlisten = a->nlisten;
	rc = bb_mcpserver_run(&o, &err);
	if (rc < 0)
		bb_report(&err);
	free(dflt);
	free(admin);
	free(listen_dflt);
	return rc < 0 ? BB_EXIT_INPUT : 0;
}

static char *root_of(const struct args *a)
{
	char *r = a->root ? strdup(a->root) : bb_bottles_root();

	if (!r)
		bb_failx(BB_EXIT_INPUT, "out of memory");
	return r;
}

static int cmd_pending(const struct args *a, char *root)
{
	json_t *all = bb_decide_pending(root), *p;
	size_t i;

	if (a->json) {
		bb_json_dump(stdout, all);
	} else {
		json_array_foreach(all, i, p) {
			char *line = bb_decide_line(p);

			if (line)
				puts(line);
			free(line);
		}
	}
	json_decref(all);
	return 0;
}

/* The state directory holding a->id, or exit 1. */
static char *bottle_of(const struct args *a, const char *root)
{
	struct bb_err err = {0};
	char *state = bb_decide_find(root, a->id, &err);

	if (!state)
		bb_fail(&err, BB_EXIT_INPUT);
	return state;
}

static int cmd_show(const struct args *a, char *root)
{
	struct bb_err err = {0};
	char *state = bottle_of(a, root);
	json_t *doc = bb_decide_show(state, a->id, &err);

	free(state);
	if (!doc) {
		free(root);
		bb_fail(&err, BB_EXIT_INPUT);
	}
	bb_json_dump(stdout, doc);
	json_decref(doc);
	return 0;
}

static int cmd_approve(const struct args *a, char *root)
{
	struct bb_err err = {0};
	char *state = bottle_of(a, root), *summary = NULL;
	json_t *edited = NULL;
	int rc = 0;

	if (a->edit && !(edited = bb_json_load(a->edit, &err)))
		rc = -1;
	if (rc == 0 && bb_decide_approve(state, a->id, edited, a->edit,
					 a->note, &summary, &err) < 0)
		rc = -1;
	if (rc == 0)
		fprintf(stderr, "%s: %s approved%s%s\n", bb_progname, a->id,
			summary ? ": " : "", summary ? summary : "");
	else
		bb_report(&err);
	json_decref(edited);
	free(summary);
	free(state);
	return rc < 0 ? BB_EXIT_INPUT : 0;
}

static int cmd_reject(const struct args *a, char *root)
{
	struct bb_err err = {0};
	char *state = bottle_of(a, root);
	int rc = bb_decide_reject(state, a->id, a->reason, &err);

	free(state);
	if (rc < 0) {
		bb_report(&err);
		return BB_EXIT_INPUT;
	}
	fprintf(stderr, "%s: %s rejected\n", bb_progname, a->id);
	return 0;
}

int main(int argc, char **argv)
{
	struct args a = {0};
	char *root;
	int rc;

	bb_prog_init(argv[0]);
	parse(argc, argv, &a);
	if (strcmp(a.cmd, "serve") == 0)
		return cmd_serve(&a);
	if (strcmp(a.cmd, "pending") == 0 || strcmp(a.cmd, "watch") == 0)
		only(&a, 0, 1, 1, 0);
	else if (strcmp(a.cmd, "show") == 0 || strcmp(a.cmd, "approve") == 0 ||
		 strcmp(a.cmd, "reject") == 0)
		only(&a, 0, 0, 1, 1);
	else
		bad_usage(NULL);
	if ((a.edit || a.note) && strcmp(a.cmd, "approve") != 0)
		bad_usage(NULL);
	if (!!a.reason != (strcmp(a.cmd, "reject") == 0))
		bad_usage(a.reason ? NULL : "reject needs --reason TEXT");
	root = root_of(&a);
	if (strcmp(a.cmd, "pending") == 0)
		rc = cmd_pending(&a, root);
	else if (strcmp(a.cmd, "watch") == 0)
		rc = bb_decide_watch(root, a.json, stdout);
	else if (strcmp(a.cmd, "show") == 0)
		rc = cmd_show(&a, root);
	else if (strcmp(a.cmd, "approve") == 0)
		rc = cmd_approve(&a, root);
	else
		rc = cmd_reject(&a, root);
	free(root);
	return rc;
}
