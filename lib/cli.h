/* cli: what every tool's main shares.  Call bb_prog_init(argv[0]) (err.h)
 * first. */
#ifndef BB_CLI_H
#define BB_CLI_H

/* The usage synopsis: for -h on stdout with code BB_EXIT_OK, for bad
 * usage on stderr with BB_EXIT_USAGE (or any other non-zero code); then
 * exit with code.  The text must equal the man page's SYNOPSIS
 * (t/man.bats). */
_Noreturn void bb_usage(const char *synopsis, int code);

#include <stddef.h>

/* Grow the heap by about bytes now and have the kernel fill it in one
 * call (MADV_POPULATE_WRITE), for a tool about to build a large document:
 * on our VMs a page fault costs 5-20 us, and bb-manifest and bb-plan took
 * hundreds of them (docs/bench-plan.md).  Best effort: does nothing where
 * unsupported. */
void bb_heap_prefault(size_t bytes);

#endif
