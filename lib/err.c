#include "err.h"

#include <stdlib.h>
#include <string.h>

const char *bb_progname = "bb";

void bb_prog_init(const char *argv0)
{
	const char *slash = argv0 ? strrchr(argv0, '/') : NULL;

	if (argv0 && *argv0)
		bb_progname = slash ? slash + 1 : argv0;
}

int bb_verrf(struct bb_err *err, const char *where, const char *fmt,
	     va_list ap)
{
	if (!err)
		return -1;
	snprintf(err->where, sizeof(err->where), "%s", where ? where : "");
	vsnprintf(err->what, sizeof(err->what), fmt, ap);
	err->set = 1;
	return -1;
}

int bb_errf(struct bb_err *err, const char *where, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	bb_verrf(err, where, fmt, ap);
	va_end(ap);
	return -1;
}

void bb_err_prefix(struct bb_err *err, const char *prefix, const char *sep)
{
	char tmp[sizeof(err->where)];

	if (!err || !prefix || !*prefix)
		return;
	if (err->where[0])
		snprintf(tmp, sizeof(tmp), "%s%s%s", prefix, sep, err->where);
	else
		snprintf(tmp, sizeof(tmp), "%s", prefix);
	memcpy(err->where, tmp, sizeof(tmp));
}

/* Diagnostics are one line: a newline inside WHAT (from a library or a
 * hostile file name) would let input forge extra log lines. */
static void put_one_line(FILE *f, const char *s)
{
	for (; *s; s++)
		fputc((*s == '\n' || *s == '\r') ? ' ' : *s, f);
}

void bb_report(const struct bb_err *err)
{
	fprintf(stderr, "%s: error: ", bb_progname);
	if (err->where[0]) {
		put_one_line(stderr, err->where);
		fputs(": ", stderr);
	}
	put_one_line(stderr, err->set ? err->what : "unknown error");
	fputc('\n', stderr);
}

void bb_warnx(const char *fmt, ...)
{
	char buf[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: warning: ", bb_progname);
	put_one_line(stderr, buf);
	fputc('\n', stderr);
}

void bb_fail(const struct bb_err *err, int code)
{
	bb_report(err);
	exit(code);
}

void bb_failx(int code, const char *fmt, ...)
{
	struct bb_err err = {0};
	va_list ap;

	va_start(ap, fmt);
	bb_verrf(&err, NULL, fmt, ap);
	va_end(ap);
	bb_fail(&err, code);
}
