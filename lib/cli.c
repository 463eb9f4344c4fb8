#include "cli.h"
#include "err.h"

#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

void bb_usage(const char *synopsis, int code)
{
	fputs(synopsis, code == 0 ? stdout : stderr);
	exit(code);
}

int bb_subcmd_run(int argc, char **argv, const struct bb_subcmd *cmds,
		  const char *synopsis)
{
	if (argc < 2)
		bb_usage(synopsis, BB_EXIT_USAGE);
	if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)
		bb_usage(synopsis, BB_EXIT_OK);
	for (; cmds->name; cmds++)
		if (strcmp(argv[1], cmds->name) == 0)
			return cmds->run(argc - 1, argv + 1);
	bb_usage(synopsis, BB_EXIT_USAGE);
}

void bb_heap_prefault(size_t bytes)
{
#ifdef MADV_POPULATE_WRITE
	uintptr_t lo, hi;
	char *p;

	if (bytes > (64u << 20))
		return;
	mallopt(M_TOP_PAD, (int)bytes);
	p = malloc(1);
	hi = (uintptr_t)sbrk(0);
	lo = (uintptr_t)p & ~(uintptr_t)4095;
	/* Only the brk heap that this malloc just grew (not, say, a
	 * sanitizer's allocator elsewhere in the address space). */
	if (p && lo < hi && hi - lo <= bytes + (1u << 20))
		madvise((void *)lo, hi - lo, MADV_POPULATE_WRITE);
	free(p);
#else
	(void)bytes;
#endif
}
