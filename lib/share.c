#include "share.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef BB_SHAREDIR
#define BB_SHAREDIR "/usr/local/share/bb"
#endif

static int is_share_tree(const char *dir)
{
	char probe[PATH_MAX];
	struct stat st;

	snprintf(probe, sizeof(probe), "%s/providers", dir);
	return stat(probe, &st) == 0 && S_ISDIR(st.st_mode);
}

const char *bb_share_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("BB_SHARE");
	char exe[PATH_MAX];
	ssize_t n;

	if (env && *env)
		return env;
	if (dir[0])
		return dir;
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	if (n > 0) {
		char *slash;

		exe[n] = '\0';
		slash = strrchr(exe, '/');
		if (slash) {
			*slash = '\0';
			snprintf(dir, sizeof(dir), "%s/../share", exe);
			if (is_share_tree(dir))
				return dir;
		}
	}
	snprintf(dir, sizeof(dir), "%s", BB_SHAREDIR);
	return dir;
}

char *bb_share_path(const char *rel)
{
	const char *dir = bb_share_dir();
	size_t n = strlen(dir) + strlen(rel) + 2;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s", dir, rel);
	return p;
}
