/* bb-manifest: the operator's bottles and agents as one JSON document.
 * See bb-manifest(1) and bb-manifest(5). */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"
#include "err.h"
#include "json.h"
#include "manifest.h"

static const char usage_text[] =
	"usage: bb-manifest [-d dir] [-p dir] [-a agent]\n"
	"       bb-manifest -h\n";

/* Drop "." segments and repeated or trailing slashes, in place. */
static void tidy(char *p)
{
	char *r = p, *w = p;

	while (*r) {
		if (r[0] == '/' && (r[1] == '/' || (r[1] == '.' &&
						    (r[2] == '/' || !r[2])))) {
			r += r[1] == '/' ? 1 : 2;
			continue;
		}
		*w++ = *r++;
	}
	*w = '\0';
	if (w > p + 1 && w[-1] == '/')
		w[-1] = '\0';
	if (!*p)
		strcpy(p, "/");
}

/* dir made absolute against the cwd, so the paths in the output and in
 * errors do not depend on how it was given. */
static char *absolute(const char *dir)
{
	char cwd[PATH_MAX], *out;

	if (dir[0] == '/') {
		out = strdup(dir);
	} else {
		if (!getcwd(cwd, sizeof(cwd)))
			bb_failx(BB_EXIT_INPUT, "cannot get the current "
						"directory");
		out = malloc(strlen(cwd) + strlen(dir) + 2);
		if (out)
			sprintf(out, "%s/%s", cwd, dir);
	}
	if (!out)
		bb_failx(BB_EXIT_INPUT, "out of memory");
	tidy(out);
	return out;
}

static char *home_dir(const char *opt)
{
	const char *env = getenv("BB_MANIFEST_DIR"), *home = getenv("HOME");
	char *p, *out;

	if (opt)
		return absolute(opt);
	if (env && *env)
		return absolute(env);
	if (!home || !*home)
		bb_failx(BB_EXIT_INPUT, "HOME is not set; name the manifest "
					"directory with -d or BB_MANIFEST_DIR");
	p = malloc(strlen(home) + sizeof("/.bot-bottle"));
	if (!p)
		bb_failx(BB_EXIT_INPUT, "out of memory");
	sprintf(p, "%s/.bot-bottle", home);
	out = absolute(p);
	free(p);
	return out;
}

int main(int argc, char **argv)
{
	const char *dopt = NULL, *popt = ".", *agent = NULL;
	struct bb_err err = {0};
	struct bb_manifest *m;
	char *home, *project;
	struct stat st;
	json_t *doc;
	int c, rc;

	bb_prog_init(argv[0]);
	bb_heap_prefault(2u << 20); /* the documents it builds */
	opterr = 0;
	while ((c = getopt(argc, argv, "d:p:a:h")) != -1) {
		switch (c) {
		case 'd':
			dopt = optarg;
			break;
		case 'p':
			popt = optarg;
			break;
		case 'a':
			agent = optarg;
			break;
		case 'h':
			bb_usage(usage_text, BB_EXIT_OK);
		default:
			fprintf(stderr, "%s: error: unknown option or missing "
					"argument: -%c\n", bb_progname, optopt);
			bb_usage(usage_text, BB_EXIT_USAGE);
		}
	}
	if (optind != argc)
		bb_usage(usage_text, BB_EXIT_USAGE);
	if (stat(popt, &st) < 0 || !S_ISDIR(st.st_mode))
		bb_failx(BB_EXIT_INPUT, "%s: the project directory does not "
					"exist", popt);
	home = home_dir(dopt);
	project = absolute(popt);
	m = bb_manifest_load(home, project, &err);
	free(home);
	free(project);
	if (!m)
		bb_fail(&err, BB_EXIT_INPUT);
	doc = agent ? bb_manifest_agent_json(m, agent, &err)
		    : bb_manifest_json(m);
	bb_manifest_free(m);
	if (!doc)
		bb_fail(&err, BB_EXIT_INPUT);
	rc = bb_json_dump(stdout, doc);
	json_decref(doc);
	if (rc < 0)
		bb_failx(BB_EXIT_INPUT, "could not write the output");
	return BB_EXIT_OK;
}
