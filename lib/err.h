/* err: error values that carry where (file and field path) and what. */
#ifndef BB_ERR_H
#define BB_ERR_H

#include <stdarg.h>
#include <stdio.h>

/* Exit codes shared by every tool (see bb(7)). */
enum { BB_EXIT_OK = 0, BB_EXIT_INPUT = 1, BB_EXIT_USAGE = 2 };

struct bb_err {
	char where[512]; /* "bottles/dev.md: egress.routes[2].host", or "" */
	char what[1024]; /* "must be a non-empty string" */
	int set;
};

/* The program name used in every diagnostic; set once by bb_prog_init. */
extern const char *bb_progname;

void bb_prog_init(const char *argv0);

/* Fill err and return -1, so callers can `return bb_errf(...)`. */
int bb_errf(struct bb_err *err, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int bb_verrf(struct bb_err *err, const char *where, const char *fmt,
	     va_list ap) __attribute__((format(printf, 3, 0)));

/* Prefix err->where with "PREFIX: " or "PREFIX." to add context on the
 * way out (e.g. the file name once the field path is known). */
void bb_err_prefix(struct bb_err *err, const char *prefix, const char *sep);

/* "bb-TOOL: error: WHERE: WHAT" on stderr, one line. */
void bb_report(const struct bb_err *err);
void bb_warnx(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Report and exit with code. */
_Noreturn void bb_fail(const struct bb_err *err, int code);
_Noreturn void bb_failx(int code, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
