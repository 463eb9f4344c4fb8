/* cli: what every tool's main shares.  Call bb_prog_init(argv[0]) (err.h)
 * first. */
#ifndef BB_CLI_H
#define BB_CLI_H

/* The usage synopsis: for -h on stdout with code BB_EXIT_OK, for bad
 * usage on stderr with BB_EXIT_USAGE (or any other non-zero code); then
 * exit with code.  The text must equal the man page's SYNOPSIS
 * (t/man.bats). */
_Noreturn void bb_usage(const char *synopsis, int code);

#endif
