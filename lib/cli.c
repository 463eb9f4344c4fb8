#include "cli.h"

#include <stdio.h>
#include <stdlib.h>

void bb_usage(const char *synopsis, int code)
{
	fputs(synopsis, code == 0 ? stdout : stderr);
	exit(code);
}
