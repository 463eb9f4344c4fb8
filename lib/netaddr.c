#include "netaddr.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64.h"

static int is_label_char(int c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

/* RFC 1123 labels; the last one not all digits, so "10.0.0" or "1.2.3.04"
 * (which resolvers may read as addresses) are not taken for names. */
static int is_dns_name(const char *s)
{
	size_t total = strlen(s), len = 0;
	int digits_only = 1;

	if (total == 0 || total > 253)
		return 0;
	for (const char *p = s;; p++) {
		if (*p == '.' || *p == '\0') {
			if (len == 0 || len > 63 || p[-1] == '-')
				return 0;
			if (*p == '\0')
				return !digits_only;
			len = 0;
			digits_only = 1;
			continue;
		}
		if (!is_label_char(*p) || (len == 0 && *p == '-'))
			return 0;
		if (!isdigit((unsigned char)*p))
			digits_only = 0;
		len++;
	}
}

const char *bb_host_canon(const char *host, char *out, size_t outsz)
{
	unsigned char addr[16];
	char low[256];
	size_t n = strlen(host);

	if (n == 0)
		return "is empty";
	if (strstr(host, "://"))
		return "must be a bare host name, without a scheme";
	if (strchr(host, '/'))
		return "must be a bare host name, without a path";
	if (strchr(host, '*'))
		return "must be an exact host name; wildcards are not "
		       "supported";
	if (n >= sizeof(low))
		return "is too long for a host name";
	for (size_t i = 0; i <= n; i++)
		low[i] = (char)tolower((unsigned char)host[i]);
	if (inet_pton(AF_INET, low, addr) == 1) {
		inet_ntop(AF_INET, addr, out, (socklen_t)outsz);
		return NULL;
	}
	if (inet_pton(AF_INET6, low, addr) == 1) {
		inet_ntop(AF_INET6, addr, out, (socklen_t)outsz);
		return NULL;
	}
	if (low[0] == '[')
		return "must be written without brackets (a bare IPv6 "
		       "address)";
	if (strchr(low, ':'))
		return "must be a bare host name, without a port";
	if (low[n - 1] == '.')
		return "must not end with a dot";
	if (!is_dns_name(low))
		return "is not a valid DNS name or IP address";
	snprintf(out, outsz, "%s", low);
	return NULL;
}

/* Decimal without sign or leading zeros, at most max. */
static int parse_prefix(const char *s, int max)
{
	int v = 0;

	if (!*s || (s[0] == '0' && s[1]) || strlen(s) > 3)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return -1;
		v = v * 10 + (*s - '0');
	}
	return v <= max ? v : -1;
}

const char *bb_cidr_canon(const char *s, char *out, size_t outsz)
{
	char buf[128], txt[INET6_ADDRSTRLEN];
	unsigned char addr[16];
	char *slash;
	int af, bits, prefix;

	if (strlen(s) >= sizeof(buf))
		return "not an IP address or CIDR";
	snprintf(buf, sizeof(buf), "%s", s);
	slash = strchr(buf, '/');
	if (slash)
		*slash = '\0';
	if (inet_pton(AF_INET, buf, addr) == 1)
		af = AF_INET, bits = 32;
	else if (inet_pton(AF_INET6, buf, addr) == 1)
		af = AF_INET6, bits = 128;
	else
		return "not an IPv4 or IPv6 address";
	prefix = bits;
	if (slash && (prefix = parse_prefix(slash + 1, bits)) < 0)
		return af == AF_INET ? "prefix length must be 0 to 32"
				     : "prefix length must be 0 to 128";
	if (prefix == 0)
		return "a /0 network allows every address; list the "
		       "networks you need";
	for (int i = 0; i < bits / 8; i++) {
		int keep = prefix - i * 8;

		if (keep <= 0)
			addr[i] = 0;
		else if (keep < 8)
			addr[i] &= (unsigned char)(0xff << (8 - keep));
	}
	inet_ntop(af, addr, txt, sizeof(txt));
	snprintf(out, outsz, "%s/%d", txt, prefix);
	return NULL;
}

static int is_user_char(int c)
{
	return isalnum(c) || c == '.' || c == '_' || c == '-';
}

/* HOST[:PORT] or [V6][:PORT] of an ssh URL. */
static int parse_hostport(const char *url, const char *hp, size_t n,
			  struct bb_ssh_url *out, char *why, size_t whysz)
{
	char host[256];
	const char *colon = NULL, *h = hp;
	size_t hn;
	const char *reason;

	if (n > 0 && hp[0] == '[') {
		const char *close = memchr(hp, ']', n);

		if (!close) {
			snprintf(why, whysz, "host is not a valid IPv6 "
					     "literal in '%s'", url);
			return -1;
		}
		h = hp + 1;
		hn = (size_t)(close - h);
		if (close + 1 < hp + n) {
			if (close[1] != ':')
				goto bad_port;
			colon = close + 1;
		}
	} else {
		colon = memchr(hp, ':', n);
		hn = colon ? (size_t)(colon - hp) : n;
	}
	if (colon) {
		long port = 0;
		const char *p = colon + 1, *end = hp + n;

		if (p == end)
			goto bad_port;
		for (; p < end; p++) {
			if (*p < '0' || *p > '9')
				goto bad_port;
			if ((port = port * 10 + (*p - '0')) > 65535)
				break;
		}
		if (port < 1 || port > 65535) {
			snprintf(why, whysz, "port must be between 1 and 65535 "
					     "in '%s'", url);
			return -1;
		}
		out->port = (int)port;
	}
	if (hn == 0) {
		snprintf(why, whysz, "host is empty in '%s'", url);
		return -1;
	}
	if (hn >= sizeof(host)) {
		snprintf(why, whysz, "host is too long in '%s'", url);
		return -1;
	}
	memcpy(host, h, hn);
	host[hn] = '\0';
	if (hp[0] == '[' && !strchr(host, ':')) {
		snprintf(why, whysz, "host is not a valid IPv6 literal in '%s'",
			 url);
		return -1;
	}
	if ((reason = bb_host_canon(host, out->host, sizeof(out->host)))) {
		snprintf(why, whysz, "host '%.200s' %s in '%s'", host, reason,
			 url);
		return -1;
	}
	return 0;
bad_port:
	snprintf(why, whysz, "port must be numeric in '%s'", url);
	return -1;
}

int bb_ssh_url_parse(const char *url, struct bb_ssh_url *out, char *why,
		     size_t whysz)
{
	const char *rest, *slash, *at;
	size_t alen;

	memset(out, 0, sizeof(*out));
	out->port = 22;
	if (strncmp(url, "ssh://", 6) != 0) {
		snprintf(why, whysz, "must be an ssh:// URL (was '%s')", url);
		return -1;
	}
	rest = url + 6;
	slash = strchr(rest, '/');
	alen = slash ? (size_t)(slash - rest) : strlen(rest);
	at = memchr(rest, '@', alen);
	if (!at) {
		snprintf(why, whysz, "must include a user (e.g. "
				     "ssh://git@host/path.git); was '%s'", url);
		return -1;
	}
	if (at == rest) {
		snprintf(why, whysz, "user is empty in '%s'", url);
		return -1;
	}
	if (!slash) {
		snprintf(why, whysz, "must include a path (e.g. "
				     "ssh://git@host/path.git); was '%s'", url);
		return -1;
	}
	if (!slash[1]) {
		snprintf(why, whysz, "path is empty in '%s'", url);
		return -1;
	}
	if ((size_t)(at - rest) >= sizeof(out->user) ||
	    strlen(slash) >= sizeof(out->path)) {
		snprintf(why, whysz, "is too long (was '%.200s...')", url);
		return -1;
	}
	memcpy(out->user, rest, (size_t)(at - rest));
	/* The user reaches ssh's command line: no option-looking names. */
	for (const char *p = out->user; *p; p++)
		if (!is_user_char((unsigned char)*p) || out->user[0] == '-') {
			snprintf(why, whysz, "user '%s' may hold only A-Z a-z "
					     "0-9 . _ - (not first) in '%s'",
				 out->user, url);
			return -1;
		}
	if (parse_hostport(url, at + 1, (size_t)(slash - at - 1), out, why,
			   whysz) < 0)
		return -1;
	for (const char *p = slash; *p; p++)
		if ((unsigned char)*p <= ' ' || *p == 0x7f || *p == '?' ||
		    *p == '#') {
			snprintf(why, whysz, "path may not hold spaces, control "
					     "characters, '?' or '#' in '%s'",
				 url);
			return -1;
		}
	snprintf(out->path, sizeof(out->path), "%s", slash);
	return 0;
}

static const char *const key_types[] = {
	"ssh-ed25519",
	"ecdsa-sha2-nistp256",
	"ecdsa-sha2-nistp384",
	"ecdsa-sha2-nistp521",
	"ssh-rsa",
	"sk-ssh-ed25519@openssh.com",
	"sk-ecdsa-sha2-nistp256@openssh.com",
	NULL,
};

static int known_type(const char *s, size_t n)
{
	for (int i = 0; key_types[i]; i++)
		if (strlen(key_types[i]) == n && !strncmp(s, key_types[i], n))
			return 1;
	return 0;
}

/* The blob of an OpenSSH key starts with its type as an SSH string. */
static int blob_names_type(const char *b64, size_t n, const char *type,
			   size_t tn)
{
	unsigned char *blob;
	int len, ok;
	size_t pad = 0;

	if (n == 0 || n % 4 != 0 || n > 16384)
		return 0;
	for (size_t i = 0; i < n; i++) {
		char c = b64[i];

		if (c == '=') {
			if (i + 2 < n)
				return 0;
			pad++;
		} else if (pad || !(isalnum((unsigned char)c) || c == '+' ||
				    c == '/')) {
			return 0;
		}
	}
	blob = malloc(n / 4 * 3 + 1);
	if (!blob)
		return 0;
	len = bb_b64_decode_block(blob, b64, (int)n);
	len -= (int)pad;
	ok = len >= (int)(4 + tn) &&
	     ((size_t)blob[0] << 24 | (size_t)blob[1] << 16 |
	      (size_t)blob[2] << 8 | blob[3]) == tn &&
	     !memcmp(blob + 4, type, tn) && len > (int)(4 + tn);
	free(blob);
	return ok;
}

int bb_ssh_host_key_canon(const char *line, char *out, size_t outsz,
			  char *why, size_t whysz)
{
	const char *type = line, *b64;
	size_t tn, bn;

	for (const char *p = line; *p; p++)
		if (((unsigned char)*p < ' ' && *p != '\t') || *p == 0x7f) {
			snprintf(why, whysz, "must be a single line");
			return -1;
		}
	tn = strcspn(type, " \t");
	b64 = type + tn;
	b64 += strspn(b64, " \t");
	bn = strcspn(b64, " \t");
	if (!known_type(type, tn)) {
		if (bn && known_type(b64, bn))
			snprintf(why, whysz, "must start with the key type; "
					     "drop the leading host name of "
					     "ssh-keyscan output");
		else
			snprintf(why, whysz, "must be an OpenSSH public key "
					     "line 'TYPE BASE64' with TYPE one "
					     "of ssh-ed25519, ecdsa-sha2-nistp256,"
					     " ecdsa-sha2-nistp384, "
					     "ecdsa-sha2-nistp521, ssh-rsa, "
					     "sk-ssh-ed25519@openssh.com, "
					     "sk-ecdsa-sha2-nistp256@openssh.com");
		return -1;
	}
	if (!blob_names_type(b64, bn, type, tn)) {
		snprintf(why, whysz, "key data is not a base64 '%.*s' key",
			 (int)tn, type);
		return -1;
	}
	if (tn + 1 + bn >= outsz) {
		snprintf(why, whysz, "is too long");
		return -1;
	}
	snprintf(out, outsz, "%.*s %.*s", (int)tn, type, (int)bn, b64);
	return 0;
}
