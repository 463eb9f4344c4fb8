/* bb-gitgate: the bottle's only way to git.  See bb-gitgate(1). */
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "file.h"
#include "gateserve.h"
#include "gitconfig.h"
#include "gitplan.h"
#include "mirror.h"
#include "prereceive.h"

static const char usage_text[] =
	"usage: bb-gitgate gitconfig --gate-url URL [-o FILE] [PLAN]\n"
	"       bb-gitgate hooks [--install GITDIR]\n"
	"       bb-gitgate serve --plan PLAN --state DIR --listen ADDR "
	"[--max-body BYTES] [--timeout SECONDS] [--max-conns N] "
	"[--scanner auto|builtin|gitleaks]\n"
	"       bb-gitgate hook pre-receive\n"
	"       bb-gitgate scan [FILE]\n";

static void want_help(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0)
			bb_usage(usage_text, BB_EXIT_OK);
}

/* The absolute path of this program, for the hook script. */
static char *self_exe(void)
{
	char buf[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", buf, sizeof(buf) - 1);

	if (n <= 0)
		bb_failx(BB_EXIT_INPUT, "/proc/self/exe: %s", strerror(errno));
	buf[n] = '\0';
	return strdup(buf);
}

static int emit_file(const char *path, FILE *to)
{
	struct bb_err err = {0};
	char *data;
	size_t len;

	if (bb_read_file(path, 16u << 20, &data, &len, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	if (fwrite(data, 1, len, to) != len || fflush(to) == EOF) {
		free(data);
		return -1;
	}
	free(data);
	return 0;
}

static int cmd_gitconfig(int argc, char **argv)
{
	static const struct option opts[] = {
		{"gate-url", required_argument, NULL, 'g'},
		{"output", required_argument, NULL, 'o'},
		{NULL, 0, NULL, 0}};
	const char *gate = NULL, *outfile = NULL, *planfile = "-";
	struct bb_err err = {0};
	struct gg_plan plan;
	char *base, *tmp;
	int c, fd, rc;

	while ((c = getopt_long(argc, argv, "+o:", opts, NULL)) != -1) {
		if (c == 'g')
			gate = optarg;
		else if (c == 'o')
			outfile = optarg;
		else
			bb_usage(usage_text, BB_EXIT_USAGE);
	}
	if (!gate || argc - optind > 1)
		bb_usage(usage_text, BB_EXIT_USAGE);
	if (optind < argc)
		planfile = argv[optind];
	base = gg_gate_url(gate, &err);
	if (!base)
		bb_fail(&err, BB_EXIT_INPUT);
	if (gg_plan_load(planfile, &plan, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	if (asprintf(&tmp, "%s.XXXXXX",
		     outfile ? outfile : "/tmp/bb-gitgate-config") < 0)
		bb_failx(BB_EXIT_INPUT, "out of memory");
	if (!outfile && getenv("TMPDIR")) {
		free(tmp);
		if (asprintf(&tmp, "%s/bb-gitgate-config.XXXXXX",
			     getenv("TMPDIR")) < 0)
			bb_failx(BB_EXIT_INPUT, "out of memory");
	}
	fd = mkstemp(tmp);
	if (fd < 0)
		bb_failx(BB_EXIT_INPUT, "%s: could not create: %s", tmp,
			 strerror(errno));
	fchmod(fd, 0644);
	close(fd);
	rc = gg_gitconfig_write(&plan, base, tmp, &err);
	if (rc == 0 && outfile && rename(tmp, outfile) < 0)
		rc = bb_errf(&err, outfile, "could not write: %s",
			     strerror(errno));
	if (rc == 0 && !outfile && emit_file(tmp, stdout) < 0)
		rc = bb_errf(&err, "<stdout>", "could not write: %s",
			     strerror(errno));
	if (rc < 0 || !outfile)
		unlink(tmp);
	free(tmp);
	free(base);
	gg_plan_free(&plan);
	if (rc < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	return 0;
}

static int cmd_hooks(int argc, char **argv)
{
	static const struct option opts[] = {
		{"install", required_argument, NULL, 'i'},
		{NULL, 0, NULL, 0}};
	const char *gitdir = NULL;
	struct bb_err err = {0};
	char *exe = self_exe(), *script, *path;
	int c, rc = 0;

	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		if (c == 'i')
			gitdir = optarg;
		else
			bb_usage(usage_text, BB_EXIT_USAGE);
	}
	if (optind != argc)
		bb_usage(usage_text, BB_EXIT_USAGE);
	script = gg_hook_script(exe);
	free(exe);
	if (!script)
		bb_failx(BB_EXIT_INPUT, "out of memory");
	if (!gitdir) {
		fputs(script, stdout);
	} else if (asprintf(&path, "%s/hooks", gitdir) < 0) {
		rc = bb_errf(&err, gitdir, "out of memory");
	} else {
		rc = bb_mkdir_p(path, 0755, &err);
		free(path);
		if (rc == 0 && asprintf(&path, "%s/hooks/pre-receive", gitdir) >= 0) {
			rc = bb_write_file_atomic(path, script, strlen(script),
						  0755, &err);
			free(path);
		}
	}
	free(script);
	if (rc < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	return 0;
}

static unsigned long long parse_num(const char *opt, const char *s,
				    unsigned long long min,
				    unsigned long long max)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end == s || *end || s[0] == '-' || v < min || v > max)
		bb_failx(BB_EXIT_USAGE, "%s: must be a number from %llu to %llu "
					"(was '%s')",
			 opt, min, max, s);
	return v;
}

struct serve_opts {
	const char *plan, *state, *scanner;
	const char *listen[8];
	size_t nlisten;
	struct gg_serve_cfg cfg;
};

static void serve_args(int argc, char **argv, struct serve_opts *o)
{
	static const struct option opts[] = {
		{"plan", required_argument, NULL, 'p'},
		{"state", required_argument, NULL, 's'},
		{"listen", required_argument, NULL, 'l'},
		{"max-body", required_argument, NULL, 'b'},
		{"timeout", required_argument, NULL, 't'},
		{"max-conns", required_argument, NULL, 'c'},
		{"scanner", required_argument, NULL, 'S'},
		{NULL, 0, NULL, 0}};
	int c;

	o->scanner = "auto";
	o->cfg.max_body = 1ull << 30;
	o->cfg.timeout = 60;
	o->cfg.max_conns = 32;
	o->cfg.rpc_fresh = 10;
	while ((c = getopt_long(argc, argv, "+", opts, NULL)) != -1) {
		switch (c) {
		case 'p': o->plan = optarg; break;
		case 's': o->state = optarg; break;
		case 'l':
			if (o->nlisten == 8)
				bb_failx(BB_EXIT_USAGE,
					 "--listen: at most 8 addresses");
			o->listen[o->nlisten++] = optarg;
			break;
		case 'b':
			o->cfg.max_body = parse_num("--max-body", optarg, 1,
						    1ull << 40);
			break;
		case 't':
			o->cfg.timeout =
				(int)parse_num("--timeout", optarg, 1, 86400);
			break;
		case 'c':
			o->cfg.max_conns =
				(int)parse_num("--max-conns", optarg, 1, 1024);
			break;
		case 'S': o->scanner = optarg; break;
		default: bb_usage(usage_text, BB_EXIT_USAGE);
		}
	}
	if (optind != argc || !o->plan || !o->state || !o->nlisten)
		bb_usage(usage_text, BB_EXIT_USAGE);
	if (strcmp(o->scanner, "auto") && strcmp(o->scanner, "builtin") &&
	    strcmp(o->scanner, "gitleaks"))
		bb_failx(BB_EXIT_USAGE,
			 "--scanner: must be auto, builtin or gitleaks (was "
			 "'%s')",
			 o->scanner);
}

static char *state_dir(const char *state)
{
	struct bb_err err = {0};
	char *abs;

	if (bb_mkdir_p(state, 0700, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	abs = realpath(state, NULL);
	if (!abs)
		bb_failx(BB_EXIT_INPUT, "%s: %s", state, strerror(errno));
	chmod(abs, 0700);
	return abs;
}

/* Local work only: the first advertisement fetches from upstream anyway
 * (every one does), so the gate listens without waiting on the network. */
static void setup_mirrors(const struct gg_plan *plan, const char *state,
			  const char *scanner)
{
	char *exe = self_exe(), *hook = gg_hook_script(exe);
	struct bb_err err = {0};

	free(exe);
	if (!hook)
		bb_failx(BB_EXIT_INPUT, "out of memory");
	for (size_t i = 0; i < plan->n; i++) {
		const struct gg_repo *r = &plan->repos[i];

		if (gg_mirror_setup(state, r, hook, scanner, &err) < 0) {
			free(hook);
			bb_fail(&err, BB_EXIT_INPUT);
		}
		if (!r->host_key[0])
			bb_warnx("git_gate.repos[%zu]: repo '%s' has no "
				 "host_key; fetch and push will be refused",
				 i, r->name);
	}
	free(hook);
}

static int cmd_serve(int argc, char **argv)
{
	struct serve_opts o = {0};
	struct bb_err err = {0};
	struct gg_plan plan;
	char *state;
	int rc;

	serve_args(argc, argv, &o);
	for (size_t i = 0; i < o.nlisten; i++)
		if (gg_listen_check(o.listen[i], &err) < 0)
			bb_fail(&err, BB_EXIT_USAGE);
	if (gg_plan_load(o.plan, &plan, &err) < 0)
		bb_fail(&err, BB_EXIT_INPUT);
	if (plan.n == 0) {
		gg_plan_free(&plan);
		bb_failx(BB_EXIT_INPUT, "%s: git_gate.repos: no repositories "
					"declared; nothing to serve",
			 o.plan);
	}
	state = state_dir(o.state);
	setup_mirrors(&plan, state, o.scanner);
	o.cfg.plan = &plan;
	o.cfg.state = state;
	o.cfg.listen = o.listen;
	o.cfg.nlisten = o.nlisten;
	rc = gg_serve(&o.cfg, &err);
	if (rc < 0)
		bb_report(&err);
	gg_plan_free(&plan);
	free(state);
	return rc < 0 ? BB_EXIT_INPUT : 0;
}

static int cmd_hook(int argc, char **argv)
{
	if (argc != 2 || strcmp(argv[1], "pre-receive") != 0)
		bb_usage(usage_text, BB_EXIT_USAGE);
	return gg_pre_receive();
}

static int cmd_scan(int argc, char **argv)
{
	FILE *in = stdin;
	int rc;

	if (argc > 2)
		bb_usage(usage_text, BB_EXIT_USAGE);
	if (argc == 2 && strcmp(argv[1], "-") != 0) {
		in = fopen(argv[1], "r");
		if (!in)
			bb_failx(BB_EXIT_INPUT, "%s: could not read: %s", argv[1],
				 strerror(errno));
	}
	rc = gg_scan_stream(in);
	if (in != stdin)
		fclose(in);
	return rc;
}

int main(int argc, char **argv)
{
	static const struct bb_subcmd cmds[] = {
		{"gitconfig", cmd_gitconfig},
		{"hooks", cmd_hooks},
		{"serve", cmd_serve},
		{"hook", cmd_hook},
		{"scan", cmd_scan},
		{NULL, NULL},
	};

	bb_prog_init(argv[0]);
	if (argc > 1)
		want_help(argc - 1, argv + 1);
	return bb_subcmd_run(argc, argv, cmds, usage_text);
}
