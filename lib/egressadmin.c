#include "egressadmin.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

#define ADMIN_MAX (1u << 20)

struct body {
	char *buf;
	size_t len;
	int too_big;
};

static size_t collect(char *p, size_t size, size_t n, void *arg)
{
	struct body *b = arg;
	size_t add = size * n;
	char *nb;

	if (b->len + add > ADMIN_MAX) {
		b->too_big = 1;
		return 0;
	}
	if (!(nb = realloc(b->buf, b->len + add + 1)))
		return 0;
	b->buf = nb;
	memcpy(b->buf + b->len, p, add);
	b->len += add;
	b->buf[b->len] = '\0';
	return add;
}

static json_t *project(json_t *doc, const char *sock, struct bb_err *err)
{
	json_t *routes = json_is_array(doc) ? doc
					    : json_object_get(doc, "routes");
	json_t *out = json_array(), *r;
	size_t i;

	if (!json_is_array(routes)) {
		json_decref(out);
		bb_errf(err, sock, "egress answered without a routes list");
		return NULL;
	}
	json_array_foreach(routes, i, r) {
		json_t *host = json_object_get(r, "host");
		json_t *paths = json_object_get(r, "path_allowlist");
		json_t *scheme = json_object_get(r, "auth_scheme");
		json_t *flag = json_object_get(r, "authenticated");
		int authed = json_is_boolean(flag)
				     ? json_is_true(flag)
				     : json_string_length(scheme) > 0;
		json_t *e;

		if (!json_is_string(host))
			continue;
		e = json_pack("{s:O, s:o, s:b}", "host", host,
			      "path_allowlist", json_array(), "authenticated",
			      authed);
		if (json_is_array(paths)) {
			json_t *p;
			size_t j;

			json_array_foreach(paths, j, p)
				if (json_is_string(p))
					json_array_append(
						json_object_get(e,
								"path_allowlist"),
						p);
		}
		if (authed && json_string_length(scheme) > 0)
			json_object_set(e, "auth_scheme", scheme);
		json_array_append_new(out, e);
	}
	return json_pack("{s:o}", "routes", out);
}

json_t *bb_egress_admin_routes(const char *sock, long timeout_ms,
			       struct bb_err *err)
{
	CURL *c = curl_easy_init();
	struct body b = {0};
	CURLcode rc;
	long status = 0;
	json_t *doc = NULL, *out = NULL;

	if (!c) {
		bb_errf(err, sock, "could not start libcurl");
		return NULL;
	}
	curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, sock);
	curl_easy_setopt(c, CURLOPT_URL, "http://egress/routes");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &b);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK)
		bb_errf(err, sock, "%s",
			b.too_big ? "answer larger than 1 MiB"
				  : curl_easy_strerror(rc));
	else if (status != 200)
		bb_errf(err, sock, "egress answered HTTP %ld", status);
	else if ((doc = bb_json_parse(b.buf ? b.buf : "", b.len, sock, err)))
		out = project(doc, sock, err);
	json_decref(doc);
	free(b.buf);
	return out;
}
