/* bb-render-pipelock: write pipelock's YAML for a plan, or read a rendered
 * or running config back to JSON (bb-render-pipelock(1)). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "err.h"
#include "file.h"
#include "json.h"
#include "pipelock.h"

#define MAX_CONFIG (4u << 20)

static const char usage[] =
	"usage: bb-render-pipelock [-o file] [file]\n"
	"       bb-render-pipelock --parse file\n"
	"       bb-render-pipelock -h\n";

/* One line per problem, so every bad key is reported at once. */
static _Noreturn void fail_problems(json_t *problems, struct bb_err *err)
{
	json_t *p;
	size_t i;

	if (!json_array_size(problems))
		bb_report(err);
	json_array_foreach(problems, i, p) {
		struct bb_err e = {.set = 1};

		snprintf(e.where, sizeof(e.where), "%s",
			 json_string_value(json_array_get(p, 0)));
		snprintf(e.what, sizeof(e.what), "%s",
			 json_string_value(json_array_get(p, 1)));
		bb_report(&e);
	}
	json_decref(problems);
	exit(BB_EXIT_INPUT);
}

static int parse_back(const char *path)
{
	struct bb_err err = {0};
	json_t *problems = json_array(), *cfg;
	char *buf;
	size_t len;

	if (bb_read_file(path, MAX_CONFIG, &buf, &len, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	cfg = bb_pipelock_parse(buf, len, path, problems, &err);
	free(buf);
	if (!cfg)
		fail_problems(problems, &err);
	json_decref(problems);
	if (bb_json_dump(stdout, cfg) < 0)
		bb_failx(BB_EXIT_INPUT, "could not write the config");
	json_decref(cfg);
	return BB_EXIT_OK;
}

/* A plan, or a config in JSON form (what --parse prints, maybe edited). */
static json_t *config_of(json_t *doc, struct bb_err *err)
{
	json_t *cfg;

	if (json_is_object(doc) && json_object_get(doc, "mode")) {
		cfg = json_incref(doc);
		bb_pipelock_fill_defaults(cfg);
		return cfg;
	}
	return bb_pipelock_from_plan(doc, err);
}

static int render(const char *in, const char *out)
{
	struct bb_err err = {0};
	json_t *problems = json_array(), *doc, *cfg;
	char *yaml;

	doc = bb_json_load(in ? in : "-", &err);
	if (!doc)
		bb_fail(&err, BB_EXIT_INPUT);
	cfg = config_of(doc, &err);
	json_decref(doc);
	if (!cfg)
		bb_fail(&err, BB_EXIT_INPUT);
	yaml = bb_pipelock_render(cfg, problems, &err);
	json_decref(cfg);
	if (!yaml)
		fail_problems(problems, &err);
	json_decref(problems);
	if (out) {
		if (bb_write_file_atomic(out, yaml, strlen(yaml), 0600, &err) <
		    0) {
			free(yaml);
			bb_fail(&err, BB_EXIT_INPUT);
		}
	} else if (fputs(yaml, stdout) == EOF || fflush(stdout) == EOF) {
		free(yaml);
		bb_failx(BB_EXIT_INPUT, "could not write the config");
	}
	free(yaml);
	return BB_EXIT_OK;
}

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{"parse", required_argument, NULL, 'p'},
		{"help", no_argument, NULL, 'h'},
		{NULL, 0, NULL, 0},
	};
	const char *out = NULL, *parse = NULL;
	int ch;

	bb_prog_init(argv[0]);
	while ((ch = getopt_long(argc, argv, "ho:", longopts, NULL)) != -1) {
		switch (ch) {
		case 'o':
			out = optarg;
			break;
		case 'p':
			parse = optarg;
			break;
		case 'h':
			bb_usage(usage, BB_EXIT_OK);
		default:
			bb_usage(usage, BB_EXIT_USAGE);
		}
	}
	if (parse) {
		if (out || optind != argc)
			bb_usage(usage, BB_EXIT_USAGE);
		return parse_back(parse);
	}
	if (argc - optind > 1)
		bb_usage(usage, BB_EXIT_USAGE);
	return render(optind < argc ? argv[optind] : NULL, out);
}
