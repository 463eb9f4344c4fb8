#include "codexauth.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "base64.h"
#include "file.h"
#include "json.h"

#define WHERE "codex host credentials"
#define LOGIN "Run `codex login --device-auth` on the host"
#define AUTH_CLAIM "https://api.openai.com/auth"
#define PROFILE_CLAIM "https://api.openai.com/profile"
#define DUMMY_EMAIL "bot-bottle@example.invalid"
#define MAX_AUTH_FILE (1u << 20)
#define NAME_MAX_LEN 64 /* longest unknown key name kept in the dummy */

char *bb_codexauth_host_path(void)
{
	const char *home = getenv("CODEX_HOME");
	char *dir, *path;
	size_t n;

	dir = bb_expand_tilde(home && *home ? home : "~/.codex");
	if (!dir)
		return NULL;
	n = strlen(dir) + sizeof("/auth.json");
	path = malloc(n);
	if (path)
		snprintf(path, n, "%s/auth.json", dir);
	free(dir);
	return path;
}

/* --- base64url ---------------------------------------------------------- */

static unsigned char *b64url_decode(const char *s, size_t n, size_t *outlen)
{
	size_t padded = (n + 3) / 4 * 4, i;
	char *in;
	unsigned char *out;
	int r;

	if (n % 4 == 1)
		return NULL;
	in = malloc(padded + 1);
	out = malloc(padded / 4 * 3 + 1);
	if (!in || !out) {
		free(in);
		free(out);
		return NULL;
	}
	for (i = 0; i < n; i++) {
		char c = s[i];

		if (c == '+' || c == '/' || c == '=') {
			free(in);
			free(out);
			return NULL;
		}
		in[i] = c == '-' ? '+' : c == '_' ? '/' : c;
	}
	for (; i < padded; i++)
		in[i] = '=';
	r = bb_b64_decode_block(out, in, (int)padded);
	explicit_bzero(in, padded);
	free(in);
	if (r < 0) {
		free(out);
		return NULL;
	}
	*outlen = (size_t)r - (padded - n);
	out[*outlen] = '\0';
	return out;
}

static char *b64url_encode(const char *s, size_t n)
{
	char *out = malloc((n + 2) / 3 * 4 + 1);
	int len;

	if (!out)
		return NULL;
	len = bb_b64_encode_block(out, (const unsigned char *)s, (int)n);
	while (len > 0 && out[len - 1] == '=')
		len--;
	out[len] = '\0';
	for (char *p = out; *p; p++)
		*p = *p == '+' ? '-' : *p == '/' ? '_' : *p;
	return out;
}

/* The claims object of a JWT (its base64url middle segment), or NULL. */
static json_t *jwt_claims(const char *jwt)
{
	const char *a = strchr(jwt, '.'), *b;
	unsigned char *raw;
	size_t len;
	json_t *claims;

	if (!a || !(b = strchr(a + 1, '.')) || strchr(b + 1, '.'))
		return NULL;
	raw = b64url_decode(a + 1, (size_t)(b - a - 1), &len);
	if (!raw)
		return NULL;
	claims = json_loadb((const char *)raw, len, JSON_REJECT_DUPLICATES,
			    NULL);
	explicit_bzero(raw, len);
	free(raw);
	if (claims && !json_is_object(claims)) {
		json_decref(claims);
		return NULL;
	}
	return claims;
}

static int claim_exp(const json_t *claims, long long *exp)
{
	const json_t *v = json_object_get(claims, "exp");

	if (json_is_integer(v)) {
		*exp = (long long)json_integer_value(v);
		return 0;
	}
	if (json_is_real(v) && json_real_value(v) > -9e18 &&
	    json_real_value(v) < 9e18) {
		*exp = (long long)json_real_value(v);
		return 0;
	}
	return -1;
}

/* --- reading the host file ---------------------------------------------- */

static void wipe_strings(json_t *v)
{
	const char *k;
	json_t *item;
	size_t i;

	if (json_is_string(v)) {
		explicit_bzero((char *)(uintptr_t)json_string_value(v),
			       json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, item)
			wipe_strings(item);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, item)
			wipe_strings(item);
	}
}

void bb_codexauth_free(struct bb_codexauth *ca)
{
	if (ca->doc) {
		wipe_strings(ca->doc);
		json_decref(ca->doc);
	}
	ca->doc = NULL;
	ca->token = NULL;
	ca->exp = 0;
}

/* jansson's error text quotes the input near the error ("near '...'"),
 * which here could be token material: keep only the description. */
static void json_problem(const json_error_t *je, char *out, size_t n)
{
	const char *near = strstr(je->text, " near ");
	int len = near ? (int)(near - je->text) : (int)strlen(je->text);

	snprintf(out, n, "line %d column %d: %.*s", je->line, je->column, len,
		 je->text);
}

static int check_doc(json_t *doc, const char *path, time_t now,
		     struct bb_codexauth *ca, struct bb_err *err)
{
	const json_t *mode = json_object_get(doc, "auth_mode");
	const json_t *tokens = json_object_get(doc, "tokens");
	const json_t *access;
	json_t *claims;
	long long exp;

	if (!json_is_object(doc))
		return bb_errf(err, WHERE, "%s must contain a JSON object",
			       path);
	if (!json_is_string(mode) ||
	    (strcmp(json_string_value(mode), "chatgpt") != 0 &&
	     strcmp(json_string_value(mode), "user") != 0))
		return bb_errf(err, WHERE,
			       "host Codex auth is not user/device auth. "
			       "%s.",
			       LOGIN);
	if (!json_is_object(tokens))
		return bb_errf(err, WHERE, "%s is missing tokens", path);
	access = json_object_get(tokens, "access_token");
	if (!json_is_string(access) || !json_string_length(access))
		return bb_errf(err, WHERE,
			       "%s is missing tokens.access_token. %s.", path,
			       LOGIN);
	claims = jwt_claims(json_string_value(access));
	if (!claims || claim_exp(claims, &exp) < 0) {
		json_decref(claims);
		return bb_errf(err, WHERE,
			       "tokens.access_token is not a JWT with exp");
	}
	wipe_strings(claims);
	json_decref(claims);
	if (exp <= (long long)now)
		return bb_errf(err, WHERE,
			       "host Codex access token is expired. %s and "
			       "restart the bottle.",
			       LOGIN);
	ca->doc = doc;
	ca->token = json_string_value(access);
	ca->exp = exp;
	return 0;
}

int bb_codexauth_parse(const char *buf, size_t len, const char *path,
		       time_t now, struct bb_codexauth *ca, struct bb_err *err)
{
	json_error_t je;
	json_t *doc;
	char problem[256];

	memset(ca, 0, sizeof(*ca));
	doc = json_loadb(buf, len, JSON_REJECT_DUPLICATES, &je);
	if (!doc) {
		json_problem(&je, problem, sizeof(problem));
		return bb_errf(err, WHERE,
			       "could not read valid JSON at %s: %s", path,
			       problem);
	}
	if (check_doc(doc, path, now, ca, err) < 0) {
		wipe_strings(doc);
		json_decref(doc);
		return -1;
	}
	return 0;
}

int bb_codexauth_load(const char *path, time_t now, struct bb_codexauth *ca,
		      struct bb_err *err)
{
	struct bb_err rerr = {0};
	char *buf;
	size_t len;
	int rc;

	struct stat st;

	memset(ca, 0, sizeof(*ca));
	if (stat(path, &st) < 0 && errno == ENOENT)
		return bb_errf(err, WHERE,
			       "auth file missing at %s. %s or disable "
			       "agent_provider.forward_host_credentials.",
			       path, LOGIN);
	if (bb_read_file(path, MAX_AUTH_FILE, &buf, &len, &rerr) < 0) {
		return bb_errf(err, WHERE, "could not read %s: %s", path,
			       rerr.what);
	}
	rc = bb_codexauth_parse(buf, len, path, now, ca, err);
	explicit_bzero(buf, len);
	free(buf);
	return rc;
}

/* --- the dummy auth.json ------------------------------------------------ */

/* Anything not explicitly allowlisted keeps only its JSON type. */
static json_t *redact(const json_t *v)
{
	if (json_is_boolean(v) || json_is_null(v))
		return json_deep_copy(v);
	if (json_is_object(v))
		return json_object();
	if (json_is_array(v))
		return json_array();
	return json_string(BB_CODEX_PLACEHOLDER);
}

/* Values of unknown keys are redacted by type, but the key's name is copied
 * too, and a name can carry a secret as well as a value can.  Codex's own
 * keys are identifiers, so only identifiers survive; a JWT or any token with
 * '.', '-', '/' or '+' never does. */
static int name_kept(const char *k)
{
	size_t n = 0;

	for (; k[n]; n++)
		if (!((k[n] >= 'a' && k[n] <= 'z') ||
		      (k[n] >= 'A' && k[n] <= 'Z') || k[n] == '_' ||
		      (n > 0 && k[n] >= '0' && k[n] <= '9')))
			return 0;
	return n > 0 && n <= NAME_MAX_LEN;
}

/* Set k to the redacted v in out, when k may be kept at all. */
static void set_redacted(json_t *out, const char *k, const json_t *v)
{
	if (name_kept(k))
		json_object_set_new(out, k, redact(v));
}

static int nonempty_string(const json_t *v)
{
	return json_is_string(v) && json_string_length(v) > 0;
}

/* aud holds audience URLs, scp and amr lower-case words: keep only
 * elements of that shape (no upper case; digits only inside an https URL),
 * so that a secret planted in one of these arrays does not survive. */
static int word_like(const char *s)
{
	int url = !strncmp(s, "https://", 8);
	size_t n = strlen(s);

	if (n == 0 || n > 100)
		return 0;
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || strchr(":/._-", *s) ||
		      (url && *s >= '0' && *s <= '9')))
			return 0;
	return 1;
}

static json_t *word_array(const json_t *v)
{
	json_t *out = json_array(), *item;
	size_t i;

	if (!json_is_array(v))
		return out;
	json_array_foreach(v, i, item)
		if (json_is_string(item) && word_like(json_string_value(item)))
			json_array_append(out, item);
	return out;
}

static json_t *auth_claim(const json_t *host)
{
	json_t *out = json_object(), *v;
	const char *k;

	if (json_is_object(host)) {
		json_object_foreach((json_t *)(uintptr_t)host, k, v) {
			if ((!strcmp(k, "chatgpt_plan_type") ||
			     !strcmp(k, "chatgpt_account_id")) &&
			    nonempty_string(v))
				json_object_set(out, k, v);
			else
				set_redacted(out, k, v);
		}
	}
	if (!json_object_get(out, "chatgpt_plan_type"))
		json_object_set_new(out, "chatgpt_plan_type",
				    json_string("unknown"));
	if (!json_object_get(out, "user_id"))
		json_object_set_new(out, "user_id",
				    json_string(BB_CODEX_PLACEHOLDER));
	if (!json_object_get(out, "chatgpt_user_id"))
		json_object_set_new(out, "chatgpt_user_id",
				    json_string(BB_CODEX_PLACEHOLDER));
	if (!json_object_get(out, "chatgpt_account_id"))
		json_object_set_new(out, "chatgpt_account_id",
				    json_string(BB_CODEX_PLACEHOLDER));
	return out;
}

static json_t *profile_claim(const json_t *host)
{
	const json_t *ev = json_object_get(host, "email_verified");

	return json_pack("{s:s, s:b}", "email", DUMMY_EMAIL, "email_verified",
			 json_is_boolean(ev) ? json_is_true(ev) : 1);
}

static int is_one_of(const char *k, const char *const *set)
{
	for (; *set; set++)
		if (!strcmp(k, *set))
			return 1;
	return 0;
}

static json_t *dummy_claims(const json_t *host, long long exp)
{
	static const char *const times[] = {"iat", "nbf", "auth_time",
					    "pwd_auth_time", NULL};
	static const char *const lists[] = {"aud", "scp", "amr", NULL};
	json_t *out = json_object(), *v;
	const char *k;

	if (json_is_object(host)) {
		json_object_foreach((json_t *)(uintptr_t)host, k, v) {
			if (is_one_of(k, times))
				json_object_set_new(
					out, k,
					json_is_number(v) ? json_deep_copy(v)
							  : json_integer(0));
			else if (is_one_of(k, lists))
				json_object_set_new(out, k, word_array(v));
			else
				set_redacted(out, k, v);
		}
	}
	json_object_set_new(out, "exp", json_integer(exp));
	json_object_set_new(out, "sub", json_string(BB_CODEX_PLACEHOLDER));
	json_object_set_new(out, "email", json_string(DUMMY_EMAIL));
	json_object_set_new(out, "email_verified", json_true());
	json_object_set_new(
		out, PROFILE_CLAIM,
		profile_claim(json_object_get(host, PROFILE_CLAIM)));
	json_object_set_new(out, AUTH_CLAIM,
			    auth_claim(json_object_get(host, AUTH_CLAIM)));
	return out;
}

static json_t *dummy_jwt(const json_t *host_token, long long exp)
{
	static const char header[] = "{\"alg\":\"none\",\"typ\":\"JWT\"}";
	json_t *host = json_is_string(host_token)
			       ? jwt_claims(json_string_value(host_token))
			       : NULL;
	json_t *claims = dummy_claims(host, exp), *out = NULL;
	char *payload = json_dumps(claims, JSON_COMPACT | JSON_SORT_KEYS);
	char *h = b64url_encode(header, sizeof(header) - 1);
	char *p = payload ? b64url_encode(payload, strlen(payload)) : NULL;

	if (h && p) {
		size_t n = strlen(h) + strlen(p) + sizeof("..placeholder");
		char *jwt = malloc(n);

		if (jwt) {
			snprintf(jwt, n, "%s.%s.placeholder", h, p);
			out = json_string(jwt);
			free(jwt);
		}
	}
	if (host)
		wipe_strings(host);
	json_decref(host);
	json_decref(claims);
	free(payload);
	free(h);
	free(p);
	return out;
}

static json_t *dummy_tokens(const json_t *host, long long exp)
{
	json_t *out = json_object(), *v;
	const char *k;

	json_object_foreach((json_t *)(uintptr_t)host, k, v) {
		if (!strcmp(k, "access_token") || !strcmp(k, "id_token"))
			continue;
		if (!strcmp(k, "account_id") && nonempty_string(v))
			json_object_set(out, k, v);
		else
			set_redacted(out, k, v);
	}
	json_object_set_new(out, "access_token",
			    dummy_jwt(json_object_get(host, "access_token"),
				      exp));
	json_object_set_new(out, "id_token",
			    dummy_jwt(json_object_get(host, "id_token"), exp));
	if (!json_object_get(out, "account_id"))
		json_object_set_new(out, "account_id",
				    json_string(BB_CODEX_PLACEHOLDER));
	return out;
}

static json_t *utc_stamp(time_t now)
{
	struct tm tm;
	char buf[32];

	gmtime_r(&now, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%S.000Z", &tm);
	return json_string(buf);
}

char *bb_codexauth_dummy(const struct bb_codexauth *ca, time_t now)
{
	json_t *out = json_object(), *v;
	const char *k;
	char *text;

	json_object_foreach(ca->doc, k, v) {
		if (!strcmp(k, "auth_mode") && nonempty_string(v))
			json_object_set(out, k, v);
		else if (!strcasecmp(k, "OPENAI_API_KEY"))
			json_object_set_new(out, k, json_null());
		else if (strcmp(k, "tokens") && strcmp(k, "last_refresh"))
			set_redacted(out, k, v);
	}
	json_object_set_new(out, "last_refresh", utc_stamp(now));
	json_object_set_new(out, "tokens",
			    dummy_tokens(json_object_get(ca->doc, "tokens"),
					 ca->exp));
	text = bb_json_string(out);
	json_decref(out);
	return text;
}
