/* bb-up: start an agent in a bottle, list, stop and resume bottles. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bottle.h"
#include "bstate.h"
#include "cli.h"
#include "err.h"
#include "json.h"
#include "up.h"

static const char usage_text[] =
	"usage: bb-up [-ny] [-b backend] [-C dir] [-p plan] [-N] [-E egress-arg] ... agent [-- command [arg ...]]\n"
	"       bb-up resume [-y] [-N] slug [-- command [arg ...]]\n"
	"       bb-up ls [-j]\n"
	"       bb-up down slug\n"
	"       bb-up doctor\n";

static const struct option long_opts[] = {
	{"backend", required_argument, NULL, 'b'},
	{"cwd", required_argument, NULL, 'C'},
	{"dry-run", no_argument, NULL, 'n'},
	{"plan", required_argument, NULL, 'p'},
	{"no-sidecars", no_argument, NULL, 'N'},
	{"json", no_argument, NULL, 'j'},
	{"egress-arg", required_argument, NULL, 'E'},
	{"yes", no_argument, NULL, 'y'},
	{"help", no_argument, NULL, 'h'},
	{NULL, 0, NULL, 0},
};

static void add_egress_arg(struct bb_up_opts *o, char *arg)
{
	static char *args[33];
	static int n;

	if (n == 32)
		bb_failx(BB_EXIT_USAGE, "-E: at most 32 arguments");
	args[n++] = arg;
	o->egress_args = args;
}

/* Options up to the agent or slug operand, "--" then the command. */
static int parse(int argc, char **argv, struct bb_up_opts *o, int *json,
		 const char *allowed)
{
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, allowed, long_opts, NULL)) != -1) {
		switch (c) {
		case 'h': bb_usage(usage_text, BB_EXIT_OK);
		case 'b': o->backend = optarg; break;
		case 'C': o->cwd = optarg; break;
		case 'n': o->dry_run = 1; break;
		case 'p': o->plan_file = optarg; break;
		case 'N': o->no_sidecars = 1; break;
		case 'j': *json = 1; break;
		case 'y': o->yes = 1; break;
		case 'E': add_egress_arg(o, optarg); break;
		default: bb_usage(usage_text, BB_EXIT_USAGE);
		}
	}
	return optind;
}

static int operand_then_cmd(int argc, char **argv, int i, const char **operand,
			    struct bb_up_opts *o)
{
	if (i >= argc || !strcmp(argv[i], "--"))
		bb_usage(usage_text, BB_EXIT_USAGE);
	*operand = argv[i++];
	if (i < argc) {
		if (strcmp(argv[i], "--") || i + 1 >= argc)
			bb_usage(usage_text, BB_EXIT_USAGE);
		o->cmd = argv + i + 1;
	}
	return 0;
}

static int exit_of(int code, struct bb_err *err)
{
	if (code < 0) {
		bb_report(err);
		return 1;
	}
	return code;
}

static int cmd_ls(int argc, char **argv)
{
	struct bb_up_opts o = {0};
	struct bb_err err = {0};
	int json = 0, i = parse(argc, argv, &o, &json, "+hj");
	json_t *all, *active = json_array(), *m;
	size_t k;

	if (i != argc)
		bb_usage(usage_text, BB_EXIT_USAGE);
	all = bb_bottles_list(&err);
	json_array_foreach(all, k, m)
		if (bb_meta_active(m))
			json_array_append(active, m);
	json_decref(all);
	if (json) {
		json_t *doc = json_pack("{s:i, s:o}", "version", 1, "bottles", active);

		bb_json_dump(stdout, doc);
		json_decref(doc);
		return 0;
	}
	if (json_array_size(active))
		printf("%-24s %-16s %-8s %s\n", "SLUG", "AGENT", "BACKEND", "STARTED");
	json_array_foreach(active, k, m)
		printf("%-24s %-16s %-8s %s\n",
		       json_string_value(json_object_get(m, "slug")),
		       json_string_value(json_object_get(m, "agent")) ?: "?",
		       json_string_value(json_object_get(m, "backend")) ?: "ns",
		       json_string_value(json_object_get(m, "started_at")) ?: "");
	json_decref(active);
	return 0;
}

static json_t *load_meta_or_fail(const char *slug)
{
	struct bb_err err = {0};
	json_t *m;

	if (!bb_slug_valid(slug))
		bb_failx(1, "%s: not a bottle slug", slug);
	m = bb_meta_load(slug, &err);
	if (!m) {
		bb_errf(&err, slug, "no such bottle");
		bb_fail(&err, 1);
	}
	return m;
}

static int cmd_down(int argc, char **argv)
{
	struct bb_up_opts o = {0};
	int json = 0, i = parse(argc, argv, &o, &json, "+h");
	json_t *m;

	if (i + 1 != argc)
		bb_usage(usage_text, BB_EXIT_USAGE);
	m = load_meta_or_fail(argv[i]);
	if (bb_meta_active(m)) {
		pid_t pid = (pid_t)json_integer_value(json_object_get(m, "pid"));

		/* The running bb-up tears down its own bottle. */
		kill(pid, SIGTERM);
		for (int t = 0; t < 500 && bb_meta_active(m); t++) {
			struct timespec ts = {0, 10 * 1000 * 1000};

			nanosleep(&ts, NULL);
		}
		if (bb_meta_active(m))
			kill(pid, SIGKILL);
	}
	bb_bottle_clean(argv[i], m);
	json_decref(m);
	return 0;
}

static int cmd_resume(int argc, char **argv)
{
	struct bb_up_opts o = {0};
	struct bb_err err = {0};
	int json = 0, i = parse(argc, argv, &o, &json, "+hyN");
	const char *slug;
	json_t *m;
	int code;

	operand_then_cmd(argc, argv, i, &slug, &o);
	m = load_meta_or_fail(slug);
	if (bb_meta_active(m))
		bb_failx(1, "%s: bottle is already running", slug);
	o.resume = slug;
	o.agent = json_string_value(json_object_get(m, "agent"));
	o.backend = json_string_value(json_object_get(m, "backend"));
	if (o.backend && !*o.backend)
		o.backend = NULL;
	if (!o.agent || !*o.agent)
		bb_failx(1, "%s: metadata.json: agent is missing", slug);
	{
		/* The resumed bottle keeps its home: the recorded plan is reused
		 * when the manifest tools are not asked for a new one. */
		char *dir = bb_state_dir(slug), *plan;

		if (asprintf(&plan, "%s/plan.json", dir) < 0)
			abort();
		if (access(plan, R_OK) == 0)
			o.plan_file = plan;
		free(dir);
		code = exit_of(bb_up_launch(&o, &err), &err);
		free(plan);
	}
	json_decref(m);
	return code;
}

static int cmd_doctor(int argc, char **argv)
{
	static const char *const names[] = {"ns", "podman", "docker"};
	int ok = 0;

	if (argc > 1 && !strcmp(argv[1], "-h"))
		bb_usage(usage_text, BB_EXIT_OK);
	if (argc != 1)
		bb_usage(usage_text, BB_EXIT_USAGE);
	for (int i = 0; i < 3; i++) {
		const char *why = i == 0 ? bb_ns_check() : bb_podman_check(names[i]);

		if (why)
			printf("%-7s unavailable: %s\n", names[i], why);
		else
			printf("%-7s ok\n", names[i]);
		ok += why == NULL;
	}
	{
		const char *why = NULL;
		char *pl = bb_up_pipelock_path(&why);

		if (pl)
			printf("%-8s %s\n", "pipelock", pl);
		else
			printf("%-8s absent: %s; egress runs without it\n", "pipelock", why);
		free(pl);
	}
	return ok ? 0 : 1;
}

int main(int argc, char **argv)
{
	struct bb_up_opts o = {0};
	struct bb_err err = {0};
	int json = 0, i;

	bb_prog_init(argv[0]);
	if (argc > 1 && !strcmp(argv[1], "ls"))
		return cmd_ls(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "down"))
		return cmd_down(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "resume"))
		return cmd_resume(argc - 1, argv + 1);
	if (argc > 1 && !strcmp(argv[1], "doctor"))
		return cmd_doctor(argc - 1, argv + 1);
	i = parse(argc, argv, &o, &json, "+hnyb:C:p:NE:");
	operand_then_cmd(argc, argv, i, &o.agent, &o);
	return exit_of(bb_up_launch(&o, &err), &err);
}
