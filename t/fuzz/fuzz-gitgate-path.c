/* Request-target handling of the git gate: whatever the agent sends, a
 * served route names a valid repo and one of the three smart-HTTP
 * endpoints, and carries nothing that could leave the project root. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "gitplan.h"
#include "gitroute.h"

static void check(int ok)
{
	if (!ok)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const methods[] = {"GET", "POST", "HEAD", "PUT"};
	struct gg_route r;
	const char *method;
	char *target;
	size_t nl;

	if (size < 1)
		return 0;
	method = methods[data[0] & 3];
	target = malloc(size);
	if (!target)
		return 0;
	memcpy(target, data + 1, size - 1);
	gg_route_parse(method, target, size - 1, &r);
	if (r.status == 0) {
		nl = strlen(r.name);
		check(gg_repo_name_ok(r.name));
		check(r.path_info[0] == '/');
		check(strncmp(r.path_info + 1, r.name, nl) == 0);
		check(strncmp(r.path_info + 1 + nl, ".git/", 5) == 0);
		check(!strstr(r.path_info, "/../") && !strstr(r.path_info, "//"));
		check(!strchr(r.path_info, '%') && !strchr(r.path_info, '?'));
		check(r.service == GG_SVC_UPLOAD || r.service == GG_SVC_RECEIVE);
		check(strcmp(method, r.kind == GG_RPC ? "POST" : "GET") == 0);
		check(strcmp(r.path_info + 1 + nl + 4, "/info/refs") == 0 ||
		      strcmp(r.path_info + 1 + nl + 4, "/git-upload-pack") == 0 ||
		      strcmp(r.path_info + 1 + nl + 4, "/git-receive-pack") == 0);
		check(r.kind == GG_RPC || strncmp(r.query, "service=git-", 12) == 0);
	} else {
		check(r.status == 404 || r.status == 405);
		check(r.why && r.why[0]);
	}
	free(target);
	return 0;
}
