/* bb-egress: the bottle's only way to the network.  See bb-egress(1). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "ca.h"
#include "cli.h"
#include "egress.h"
#include "json.h"
#include "route.h"

static const char usage_text[] =
	"usage: bb-egress ca init DIR\n"
	"       bb-egress routes [PLAN]\n"
	"       bb-egress serve --routes FILE --ca-dir DIR [--listen ADDR]"
	" [--admin ADDR] [--audit FILE] [--pid-file FILE]"
	" [--token-file FILE] [--upstream-proxy URL]"
	" [--upstream-ca FILE] [--resolve HOST:PORT:ADDR] [--workers N]\n"
	"       bb-egress -h\n";

static int cmd_ca(int argc, char **argv)
{
	struct bb_err err = {0};
	int rc;

	if (argc != 3 || strcmp(argv[1], "init") != 0)
		bb_usage(usage_text, BB_EXIT_USAGE);
	rc = bb_ca_init(argv[2], &err);
	if (rc < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	return 0;
}

static int cmd_routes(int argc, char **argv)
{
	struct bb_err err = {0};
	json_t *plan, *routes;

	if (argc > 2)
		bb_usage(usage_text, BB_EXIT_USAGE);
	plan = bb_json_load(argc == 2 ? argv[1] : "-", &err);
	if (!plan)
		bb_fail(&err, BB_EXIT_INPUT);
	routes = bb_routes_from_plan(plan, &err);
	json_decref(plan);
	if (!routes) {
		bb_err_prefix(&err, argc == 2 ? argv[1] : "<stdin>", ": ");
		bb_fail(&err, BB_EXIT_INPUT);
	}
	bb_json_dump(stdout, routes);
	json_decref(routes);
	return 0;
}

enum { O_ROUTES = 256, O_CA_DIR, O_LISTEN, O_ADMIN, O_AUDIT, O_PID,
       O_TOKENS, O_PROXY, O_UPCA, O_RESOLVE, O_WORKERS };

static const struct option serve_opts[] = {
	{"routes", required_argument, NULL, O_ROUTES},
	{"ca-dir", required_argument, NULL, O_CA_DIR},
	{"listen", required_argument, NULL, O_LISTEN},
	{"admin", required_argument, NULL, O_ADMIN},
	{"audit", required_argument, NULL, O_AUDIT},
	{"pid-file", required_argument, NULL, O_PID},
	{"token-file", required_argument, NULL, O_TOKENS},
	{"upstream-proxy", required_argument, NULL, O_PROXY},
	{"upstream-ca", required_argument, NULL, O_UPCA},
	{"resolve", required_argument, NULL, O_RESOLVE},
	{"workers", required_argument, NULL, O_WORKERS},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

/* A count, or "auto": one worker per CPU. */
static int workers_arg(const char *s)
{
	char *end;
	long n;

	if (strcmp(s, "auto") == 0) {
		n = sysconf(_SC_NPROCESSORS_ONLN);
		return n < 1 ? 1 : n > BB_EGRESS_WORKERS_MAX ? BB_EGRESS_WORKERS_MAX
							      : (int)n;
	}
	n = strtol(s, &end, 10);
	if (*end || end == s || n < 1 || n > BB_EGRESS_WORKERS_MAX)
		bb_failx(BB_EXIT_USAGE, "--workers: expected 1 to %d or auto",
			 BB_EGRESS_WORKERS_MAX);
	return (int)n;
}

static int cmd_serve(int argc, char **argv)
{
	static const char *listen[16];
	static struct bb_resolve resolve[16];
	struct bb_egress_cfg cfg = {.listen = listen, .resolve = resolve};
	struct bb_tokens tokens = {0};
	struct bb_err err = {0};
	int c;

	/* Take the tokens first, before anything can copy the environment. */
	if (bb_egress_take_env_tokens(&tokens, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	while ((c = getopt_long(argc, argv, "h", serve_opts, NULL)) != -1) {
		switch (c) {
		case O_ROUTES: cfg.routes_path = optarg; break;
		case O_CA_DIR: cfg.ca_dir = optarg; break;
		case O_ADMIN: cfg.admin = optarg; break;
		case O_AUDIT: cfg.audit = optarg; break;
		case O_PID: cfg.pid_file = optarg; break;
		case O_TOKENS: cfg.token_file = optarg; break;
		case O_PROXY: cfg.upstream_proxy = optarg; break;
		case O_UPCA: cfg.upstream_ca = optarg; break;
		case O_LISTEN:
			if (cfg.nlisten >= 16)
				bb_failx(BB_EXIT_USAGE, "--listen: at most 16");
			listen[cfg.nlisten++] = optarg;
			break;
		case O_RESOLVE:
			if (cfg.nresolve >= 16 ||
			    bb_resolve_parse(optarg, &resolve[cfg.nresolve]) < 0)
				bb_failx(BB_EXIT_USAGE,
					 "--resolve: expected HOST:PORT:ADDR (at most 16)");
			cfg.nresolve++;
			break;
		case O_WORKERS:
			cfg.workers = workers_arg(optarg);
			break;
		case 'h': bb_usage(usage_text, BB_EXIT_OK);
		default: bb_usage(usage_text, BB_EXIT_USAGE);
		}
	}
	if (optind != argc || !cfg.routes_path || !cfg.ca_dir)
		bb_usage(usage_text, BB_EXIT_USAGE);
	if (cfg.nlisten == 0)
		listen[cfg.nlisten++] = "127.0.0.1:9099";
	if (bb_egress_serve(&cfg, &tokens, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	return 0;
}

int main(int argc, char **argv)
{
	static const struct bb_subcmd cmds[] = {
		{"ca", cmd_ca},
		{"routes", cmd_routes},
		{"serve", cmd_serve},
		{NULL, NULL},
	};

	bb_prog_init(argv[0]);
	return bb_subcmd_run(argc, argv, cmds, usage_text);
}
