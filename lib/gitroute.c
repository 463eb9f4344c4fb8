#include "gitroute.h"

#include <stdio.h>
#include <string.h>

#include "gitplan.h"

const char *gg_service_name(enum gg_service s)
{
	return s == GG_SVC_UPLOAD    ? "git-upload-pack"
	       : s == GG_SVC_RECEIVE ? "git-receive-pack"
				     : "";
}

static void refuse(struct gg_route *r, int status, const char *why)
{
	r->status = status;
	r->why = why;
	r->service = GG_SVC_NONE;
	r->name[0] = '\0';
	r->path_info[0] = '\0';
	r->query = "";
	r->kind = GG_ADVERTISE;
}

/* Bytes a served path may hold: repo-name characters and '/'.  This
 * leaves out '%', so no percent-encoded trick survives to a decoder. */
static int path_byte_ok(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-' ||
	       c == '/';
}

/* The service named by the query "service=git-upload-pack" (other
 * parameters are ignored and not passed on). */
static enum gg_service query_service(const char *q, size_t len)
{
	enum gg_service found = GG_SVC_NONE;
	size_t i = 0;

	while (i < len) {
		size_t j = i;

		while (j < len && q[j] != '&')
			j++;
		if (j - i > 8 && memcmp(q + i, "service=", 8) == 0) {
			enum gg_service s = GG_SVC_NONE;

			if (j - i - 8 == 15 &&
			    memcmp(q + i + 8, "git-upload-pack", 15) == 0)
				s = GG_SVC_UPLOAD;
			else if (j - i - 8 == 16 &&
				 memcmp(q + i + 8, "git-receive-pack", 16) == 0)
				s = GG_SVC_RECEIVE;
			if (s == GG_SVC_NONE || found != GG_SVC_NONE)
				return GG_SVC_NONE;
			found = s;
		}
		i = j + 1;
	}
	return found;
}

void gg_route_parse(const char *method, const char *target, size_t len,
		    struct gg_route *r)
{
	const char *q = memchr(target, '?', len), *seg_end, *rest;
	size_t plen = q ? (size_t)(q - target) : len, nlen, rlen;
	int get = strcmp(method, "GET") == 0, post = strcmp(method, "POST") == 0;

	refuse(r, 404, "not found");
	if (plen < 2 || target[0] != '/')
		return;
	for (size_t i = 0; i < plen; i++)
		if (!path_byte_ok(target[i]))
			return;
	seg_end = memchr(target + 1, '/', plen - 1);
	if (!seg_end)
		return;
	nlen = (size_t)(seg_end - target - 1);
	if (nlen <= 4 || nlen - 4 >= sizeof(r->name) ||
	    memcmp(seg_end - 4, ".git", 4) != 0)
		return;
	memcpy(r->name, target + 1, nlen - 4);
	r->name[nlen - 4] = '\0';
	if (!gg_repo_name_ok(r->name)) {
		r->name[0] = '\0';
		return;
	}
	rest = seg_end;
	rlen = plen - (size_t)(seg_end - target);
	if (rlen == 10 && memcmp(rest, "/info/refs", 10) == 0) {
		r->kind = GG_ADVERTISE;
		r->service = query_service(q ? q + 1 : "",
					   q ? len - plen - 1 : 0);
		if (r->service == GG_SVC_NONE) {
			refuse(r, 404, "only smart HTTP is served: "
				       "info/refs needs "
				       "service=git-upload-pack or "
				       "service=git-receive-pack");
			return;
		}
		if (!get) {
			refuse(r, 405, "info/refs takes GET");
			return;
		}
		r->query = r->service == GG_SVC_UPLOAD
				   ? "service=git-upload-pack"
				   : "service=git-receive-pack";
	} else if (rlen == 16 && memcmp(rest, "/git-upload-pack", 16) == 0) {
		r->kind = GG_RPC;
		r->service = GG_SVC_UPLOAD;
	} else if (rlen == 17 && memcmp(rest, "/git-receive-pack", 17) == 0) {
		r->kind = GG_RPC;
		r->service = GG_SVC_RECEIVE;
	} else {
		r->name[0] = '\0';
		return;
	}
	if (r->kind == GG_RPC && !post) {
		refuse(r, 405, "git RPC endpoints take POST");
		return;
	}
	snprintf(r->path_info, sizeof(r->path_info), "%.*s", (int)plen,
		 target);
	r->status = 0;
	r->why = "";
}
