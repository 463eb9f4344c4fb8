/* cli: what every tool's main shares.  Call bb_prog_init(argv[0]) (err.h)
 * first. */
#ifndef BB_CLI_H
#define BB_CLI_H

/* The usage synopsis: for -h on stdout with code BB_EXIT_OK, for bad
 * usage on stderr with BB_EXIT_USAGE (or any other non-zero code); then
 * exit with code.  The text must equal the man page's SYNOPSIS
 * (t/man.bats). */
_Noreturn void bb_usage(const char *synopsis, int code);

/* One subcommand of a tool: its name and what runs it (with the
 * subcommand's own argv, argv[0] being its name). */
struct bb_subcmd {
	const char *name;
	int (*run)(int argc, char **argv);
};

/* Run the subcommand argv[1] names, from cmds (ended by a NULL name), and
 * return its exit code; -h or --help there prints the synopsis; a missing
 * or unknown subcommand is a usage error (bb_usage). */
int bb_subcmd_run(int argc, char **argv, const struct bb_subcmd *cmds,
		  const char *synopsis);

#include <stddef.h>

/* Grow the heap by about bytes now and have the kernel fill it in one
 * call (MADV_POPULATE_WRITE), for a tool about to build a large document:
 * on our VMs a page fault costs 5-20 us, and bb-manifest and bb-plan took
 * hundreds of them (docs/bench-plan.md).  Best effort: does nothing where
 * unsupported. */
void bb_heap_prefault(size_t bytes);

#endif
