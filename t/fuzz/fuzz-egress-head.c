/* libFuzzer: request heads, bodies and the route decision of bb-egress. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "httphead.h"
#include "route.h"

static struct bb_routes routes;
static struct bb_tokens tokens;

static void init(void)
{
	static const char doc[] =
		"{\"version\": 1, \"routes\": ["
		"{\"host\": \"up.test\", \"path_allowlist\": [\"/v1/\"],"
		" \"auth_scheme\": \"Bearer\", \"token_env\": \"EGRESS_TOKEN_0\"},"
		"{\"host\": \"other.test\"}]}";

	if (routes.n)
		return;
	bb_routes_parse(doc, sizeof(doc) - 1, "fuzz", &routes, NULL);
	bb_tokens_set(&tokens, "EGRESS_TOKEN_0", "t");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data, *reason = NULL;
	size_t end = bb_http_head_end(buf, size);
	http_parser p;
	struct bb_http_msg msg;
	struct bb_http_head h;
	struct bb_request_view v = {0};
	struct bb_decision d;
	char host[BB_HOST_MAX + 1], path[2048];
	int port;

	init();
	bb_host_norm(buf, size, host, sizeof(host), &port);
	bb_path_norm(buf, size, path, sizeof(path), &reason);
	bb_is_git_push(buf, size);
	if (!end || end > BB_HEAD_MAX)
		return 0;
	if (bb_http_request_head(&p, &msg, buf, end, &h, &reason) == 0) {
		v.method = h.method;
		v.target = h.target;
		v.host_header = bb_http_get(&h, "Host");
		v.tunnel_host = (size & 1) ? "up.test" : NULL;
		v.tunnel_port = 443;
		v.tls = v.tunnel_host != NULL;
		bb_route_decide(&routes, &tokens, &v, &d);
		if (!h.complete)
			bb_http_feed(&p, buf + end, size - end, &reason);
	}
	bb_http_head_free(&h);
	return 0;
}
