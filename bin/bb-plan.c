/* bb-plan: resolve one agent of a manifest into a launch plan (bb-plan(5)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "err.h"
#include "json.h"
#include "plan.h"

static const char usage[] =
	"usage: bb-plan [--summary] [--backend ns|podman|docker] [--cwd dir] "
	"[--slug slug] agent [file]\n";

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"backend", required_argument, NULL, 'b'},
		{"cwd", required_argument, NULL, 'c'},
		{"slug", required_argument, NULL, 'S'},
		{"summary", no_argument, NULL, 's'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	struct bb_plan_opts o = {.now = time(NULL)};
	struct bb_err err = {0};
	int summary = 0, ch;
	json_t *manifest, *plan;

	bb_prog_init(argv[0]);
	bb_heap_prefault(1u << 20); /* the documents it builds */
	while ((ch = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (ch) {
		case 'b':
			o.backend = optarg;
			break;
		case 'c':
			o.cwd = optarg;
			break;
		case 'S':
			o.slug = optarg;
			break;
		case 's':
			summary = 1;
			break;
		case 'h':
			bb_usage(usage, BB_EXIT_OK);
		default:
			bb_usage(usage, BB_EXIT_USAGE);
		}
	}
	if (argc - optind < 1 || argc - optind > 2)
		bb_usage(usage, BB_EXIT_USAGE);
	o.agent = argv[optind];
	manifest = bb_json_load(argc - optind == 2 ? argv[optind + 1] : "-",
				&err);
	if (!manifest)
		bb_fail(&err, BB_EXIT_INPUT);
	plan = bb_plan_build(manifest, &o, &err);
	json_decref(manifest);
	if (!plan)
		bb_fail(&err, BB_EXIT_INPUT);
	if (summary)
		bb_plan_summary(stderr, plan);
	if (bb_json_dump(stdout, plan) < 0) {
		json_decref(plan);
		bb_failx(BB_EXIT_INPUT, "could not write the plan");
	}
	json_decref(plan);
	return BB_EXIT_OK;
}
