#include "routecheck.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static int label_ok(const char *s, size_t n)
{
	if (n == 0 || n > 63 || s[0] == '-' || s[n - 1] == '-')
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)s[i]) && s[i] != '-')
			return 0;
	return 1;
}

int bb_route_host_ok(const char *host)
{
	unsigned char addr[16];
	size_t n = strlen(host);
	const char *p = host;

	if (inet_pton(AF_INET, host, addr) == 1 ||
	    inet_pton(AF_INET6, host, addr) == 1)
		return 1;
	if (n == 0 || n > 253)
		return 0;
	while (*p) {
		const char *dot = strchr(p, '.');
		size_t len = dot ? (size_t)(dot - p) : strlen(p);

		if (!label_ok(p, len))
			return 0;
		if (!dot)
			break;
		p = dot + 1;
		if (!*p) /* trailing dot */
			return 0;
	}
	return 1;
}

static int unknown_key(json_t *obj, const char *const *allowed,
		       const char **bad)
{
	const char *k;
	const json_t *v;

	json_object_foreach(obj, k, v) {
		size_t i;

		for (i = 0; allowed[i] && strcmp(allowed[i], k) != 0; i++)
			;
		if (!allowed[i]) {
			*bad = k;
			return 1;
		}
	}
	return 0;
}

static int check_host(json_t *route, const char *label,
		      struct bb_err *err)
{
	const json_t *h = json_object_get(route, "host");

	if (!json_is_string(h) || json_string_length(h) == 0)
		return bb_errf(err, NULL,
			       "%s missing required string field 'host'",
			       label);
	if (strlen(json_string_value(h)) != json_string_length(h) ||
	    !bb_route_host_ok(json_string_value(h)))
		return bb_errf(err, NULL,
			       "%s host '%s' must be a bare DNS name or IP "
			       "address (no scheme, port, path, '*' or "
			       "trailing dot)",
			       label, json_string_value(h));
	return 0;
}

static int check_paths(json_t *route, const char *label,
		       struct bb_err *err)
{
	const json_t *a = json_object_get(route, "path_allowlist"), *p;
	size_t j;

	if (!a)
		return 0;
	if (!json_is_array(a))
		return bb_errf(err, NULL,
			       "%s path_allowlist must be an array (was %s)",
			       label, bb_json_type(a));
	json_array_foreach(a, j, p) {
		if (!json_is_string(p))
			return bb_errf(err, NULL,
				       "%s path_allowlist[%zu] must be a "
				       "string (was %s)",
				       label, j, bb_json_type(p));
		if (json_string_value(p)[0] != '/' ||
		    strlen(json_string_value(p)) != json_string_length(p))
			return bb_errf(err, NULL,
				       "%s path_allowlist[%zu] '%s' must be "
				       "an absolute path prefix starting "
				       "with '/'",
				       label, j, json_string_value(p));
	}
	return 0;
}

static int check_auth(json_t *route, const char *label,
		      struct bb_err *err)
{
	static const char *const keys[] = {"scheme", "token_ref", NULL};
	json_t *a = json_object_get(route, "auth"), *s, *t;
	const char *bad;

	if (!a)
		return 0;
	if (!json_is_object(a))
		return bb_errf(err, NULL, "%s auth must be an object (was %s)",
			       label, bb_json_type(a));
	if (json_object_size(a) == 0)
		return bb_errf(err, NULL,
			       "%s auth is empty ({}); omit the 'auth' key "
			       "entirely if this route is unauthenticated. "
			       "Otherwise both 'scheme' and 'token_ref' are "
			       "required.",
			       label);
	if (unknown_key(a, keys, &bad))
		return bb_errf(err, NULL,
			       "%s auth has unknown key '%s'; only 'scheme' "
			       "and 'token_ref' are accepted",
			       label, bad);
	s = json_object_get(a, "scheme");
	if (!json_is_string(s) || json_string_length(s) == 0)
		return bb_errf(err, NULL,
			       "%s auth.scheme is required when 'auth' is set "
			       "(non-empty string)",
			       label);
	if (strcmp(json_string_value(s), "Bearer") != 0 &&
	    strcmp(json_string_value(s), "token") != 0)
		return bb_errf(err, NULL,
			       "%s auth.scheme '%s' is not one of Bearer, token",
			       label, json_string_value(s));
	t = json_object_get(a, "token_ref");
	if (!json_is_string(t) || json_string_length(t) == 0)
		return bb_errf(err, NULL,
			       "%s auth.token_ref is required when 'auth' is "
			       "set (name of the host env var holding the "
			       "token value)",
			       label);
	return 0;
}

static int check_role(json_t *route, const char *label,
		      struct bb_err *err)
{
	const json_t *r = json_object_get(route, "role"), *v;
	const char *reserved = NULL;
	size_t j;

	if (!r)
		return 0;
	if (json_is_string(r)) {
		if (json_string_length(r) > 0)
			reserved = json_string_value(r);
	} else if (json_is_array(r)) {
		json_array_foreach(r, j, v) {
			if (!json_is_string(v))
				return bb_errf(err, NULL,
					       "%s role items must be strings "
					       "(got %s)",
					       label, bb_json_type(v));
			if (!reserved && json_string_length(v) > 0)
				reserved = json_string_value(v);
		}
	} else {
		return bb_errf(err, NULL,
			       "%s role must be a string or a list of "
			       "strings (was %s)",
			       label, bb_json_type(r));
	}
	if (reserved)
		return bb_errf(err, NULL,
			       "%s role '%s' is not accepted; the 'role' field "
			       "is reserved for future use",
			       label, reserved);
	return 0;
}

/* An IP or CIDR in canonical form (network address, no host bits), and
 * not a default route. *why gets the reason when it is not. */
static int cidr_ok(const char *item, const char **why, char *canon,
		   size_t canon_len)
{
	unsigned char a[16];
	char buf[64], *slash, *end;
	int af, bits = -1, max;
	long pl;

	if (strlen(item) >= sizeof(buf)) {
		*why = "too long";
		return 0;
	}
	strcpy(buf, item);
	slash = strchr(buf, '/');
	if (slash) {
		*slash = '\0';
		if (!isdigit((unsigned char)slash[1])) {
			*why = "bad prefix length";
			return 0;
		}
		pl = strtol(slash + 1, &end, 10);
		if (*end || pl > 128) {
			*why = "bad prefix length";
			return 0;
		}
		bits = (int)pl;
	}
	af = strchr(buf, ':') ? AF_INET6 : AF_INET;
	if (inet_pton(af, buf, a) != 1) {
		*why = "not an IP address";
		return 0;
	}
	max = af == AF_INET ? 32 : 128;
	if (bits < 0)
		bits = max;
	if (bits > max) {
		*why = "bad prefix length";
		return 0;
	}
	if (bits == 0) {
		*why = "matches every address";
		return 0;
	}
	for (int i = bits; i < max; i++)
		a[i / 8] &= (unsigned char)~(0x80u >> (i % 8));
	inet_ntop(af, a, canon, (socklen_t)canon_len);
	if (slash && (strcmp(canon, buf) != 0)) {
		*why = "host bits set";
		snprintf(canon + strlen(canon), canon_len - strlen(canon),
			 "/%d", bits);
		return 0;
	}
	return 1;
}

static int check_pipelock(json_t *route, const char *label,
			  struct bb_err *err)
{
	static const char *const keys[] = {"tls_passthrough",
					   "ssrf_ip_allowlist", NULL};
	json_t *p = json_object_get(route, "pipelock"), *t, *l, *v;
	const char *bad, *why;
	char canon[80];
	size_t j;

	if (!p)
		return 0;
	if (!json_is_object(p))
		return bb_errf(err, NULL,
			       "%s pipelock must be an object (was %s)", label,
			       bb_json_type(p));
	if (unknown_key(p, keys, &bad))
		return bb_errf(err, NULL,
			       "%s pipelock has unknown key '%s'; only "
			       "'tls_passthrough' and 'ssrf_ip_allowlist' are "
			       "accepted",
			       label, bad);
	t = json_object_get(p, "tls_passthrough");
	if (t && !json_is_boolean(t))
		return bb_errf(err, NULL,
			       "%s pipelock.tls_passthrough must be a boolean "
			       "(was %s)",
			       label, bb_json_type(t));
	l = json_object_get(p, "ssrf_ip_allowlist");
	if (!l)
		return 0;
	if (!json_is_array(l))
		return bb_errf(err, NULL,
			       "%s pipelock.ssrf_ip_allowlist must be an array "
			       "(was %s)",
			       label, bb_json_type(l));
	json_array_foreach(l, j, v) {
		if (!json_is_string(v) || json_string_length(v) == 0)
			return bb_errf(err, NULL,
				       "%s pipelock.ssrf_ip_allowlist[%zu] must "
				       "be a non-empty string (was %s)",
				       label, j, bb_json_type(v));
		if (!cidr_ok(json_string_value(v), &why, canon, sizeof(canon)))
			return bb_errf(err, NULL,
				       "%s pipelock.ssrf_ip_allowlist[%zu] must "
				       "be an IP address or CIDR (was '%s'): %s%s%s",
				       label, j, json_string_value(v), why,
				       strcmp(why, "host bits set") == 0
					       ? "; the network is "
					       : "",
				       strcmp(why, "host bits set") == 0 ? canon
									 : "");
	}
	return 0;
}

int bb_route_check(json_t *route, const char *label,
		   struct bb_err *err)
{
	static const char *const keys[] = {"host", "path_allowlist", "auth",
					   "role", "pipelock", NULL};
	const char *bad;

	if (!json_is_object(route))
		return bb_errf(err, NULL, "%s must be an object (was %s)",
			       label, bb_json_type(route));
	if (unknown_key(route, keys, &bad))
		return bb_errf(err, NULL,
			       "%s has unknown key '%s'; accepted keys are "
			       "'host', 'path_allowlist', 'auth', 'role', "
			       "'pipelock'",
			       label, bad);
	if (check_host(route, label, err) < 0 ||
	    check_paths(route, label, err) < 0 ||
	    check_auth(route, label, err) < 0 ||
	    check_role(route, label, err) < 0 ||
	    check_pipelock(route, label, err) < 0)
		return -1;
	return 0;
}
