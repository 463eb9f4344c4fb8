/* gitroute: which smart-HTTP request an agent's request line is.  Deny by
 * default: only the three smart-HTTP endpoints of a well-formed repo name
 * are served; dumb HTTP, other files and anything odd get 404. */
#ifndef BB_GITROUTE_H
#define BB_GITROUTE_H

#include <stddef.h>

enum gg_service { GG_SVC_NONE, GG_SVC_UPLOAD, GG_SVC_RECEIVE };
enum gg_kind { GG_ADVERTISE, GG_RPC };

struct gg_route {
	int status;           /* 0 = serve; else 400, 404 or 405 */
	const char *why;      /* reason for the status, for the body */
	enum gg_service service;
	enum gg_kind kind;
	char name[104];       /* repo name, without ".git" */
	char path_info[160];  /* "/NAME.git/info/refs" etc., for the CGI */
	const char *query;    /* QUERY_STRING for the CGI: rebuilt, not the
			       * agent's bytes */
};

/* method is "GET"/"POST"/...; target the request-target as received
 * (need not be NUL-terminated).  Always fills r. */
void gg_route_parse(const char *method, const char *target, size_t len,
		    struct gg_route *r);

/* "git-upload-pack" / "git-receive-pack". */
const char *gg_service_name(enum gg_service s);

#endif
