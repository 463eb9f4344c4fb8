#include "secscan.h"

#include <ctype.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

static int is_up_num(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static int is_alnum(char c)
{
	return is_up_num(c) || (c >= 'a' && c <= 'z');
}

static int is_tok(char c) /* [A-Za-z0-9_-] */
{
	return is_alnum(c) || c == '_' || c == '-';
}

/* Count of chars from p on (within end) satisfying pred. */
static size_t run(const char *p, const char *end, int (*pred)(char))
{
	const char *s = p;

	while (s < end && pred(*s))
		s++;
	return (size_t)(s - p);
}

static const char *find(const char *h, const char *end, const char *needle)
{
	size_t n = strlen(needle);

	if ((size_t)(end - h) < n)
		return NULL;
	return memmem(h, (size_t)(end - h), needle, n);
}

static int private_key(const char *s, const char *end)
{
	const char *p = s;

	while ((p = find(p, end, "-----BEGIN ")) != NULL) {
		const char *q = p + 11, *lim = q + 40 < end ? q + 40 : end;
		const char *k = find(q, lim, "PRIVATE KEY");

		if (k) {
			for (q = k + 11; q < end && *q != '-'; q++)
				if (!(*q == ' ' || (*q >= 'A' && *q <= 'Z')))
					break;
			if (end - q >= 5 && memcmp(q, "-----", 5) == 0)
				return 1;
		}
		p += 11;
	}
	return 0;
}

static int aws_key(const char *s, const char *end)
{
	static const char *const pre[] = {"AKIA", "ASIA", "ABIA", "ACCA",
					  "A3T"};

	for (const char *p = s; p + 20 <= end; p++) {
		if (p > s && is_up_num(p[-1]))
			continue;
		for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++) {
			size_t n = strlen(pre[i]);

			if (memcmp(p, pre[i], n) != 0)
				continue;
			if (run(p + n, end, is_up_num) == 20 - n)
				return 1;
		}
	}
	return 0;
}

/* prefix followed by at least min token chars, not glued to a word. */
static int prefixed(const char *s, const char *end, const char *prefix,
		    size_t min, int (*pred)(char))
{
	const char *p = s;
	size_t n = strlen(prefix);

	while ((p = find(p, end, prefix)) != NULL) {
		if ((p == s || !is_alnum(p[-1])) &&
		    run(p + n, end, pred) >= min)
			return 1;
		p += n;
	}
	return 0;
}

static int is_alnum_us(char c)
{
	return is_alnum(c) || c == '_';
}

static int is_tok_dash(char c)
{
	return is_alnum(c) || c == '-';
}

static int github_token(const char *s, const char *end)
{
	static const char *const pre[] = {"ghp_", "gho_", "ghu_", "ghs_",
					  "ghr_"};

	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (prefixed(s, end, pre[i], 36, is_alnum))
			return 1;
	return prefixed(s, end, "github_pat_", 60, is_alnum_us);
}

static int slack_token(const char *s, const char *end)
{
	static const char *const pre[] = {"xoxb-", "xoxa-", "xoxp-", "xoxr-",
					  "xoxs-", "xoxe-", "xapp-"};

	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (prefixed(s, end, pre[i], 20, is_tok_dash))
			return 1;
	return 0;
}

static int slack_webhook(const char *s, const char *end)
{
	return prefixed(s, end, "hooks.slack.com/services/T", 8, is_alnum);
}

static int openai_key(const char *s, const char *end)
{
	static const char *const pre[] = {"sk-proj-", "sk-svcacct-",
					  "sk-admin-"};
	const char *p = s;

	for (size_t i = 0; i < sizeof(pre) / sizeof(pre[0]); i++)
		if (prefixed(s, end, pre[i], 32, is_tok))
			return 1;
	/* Legacy keys: sk-, 20 chars, "T3BlbkFJ" (base64 "OpenAI"), 20. */
	while ((p = find(p, end, "T3BlbkFJ")) != NULL) {
		const char *b = p;

		while (b > s && is_alnum(b[-1]))
			b--;
		if (b - s >= 3 && memcmp(b - 3, "sk-", 3) == 0 && p - b >= 16 &&
		    run(p + 8, end, is_alnum) >= 16)
			return 1;
		p += 8;
	}
	return 0;
}

/* log2 for x > 0, without libm (the tools link without -lm): scale into
 * [1,2), then ln(m) = 2 atanh((m-1)/(m+1)), a fast series there. */
static double log2_pos(double x)
{
	double e = 0, y, y2, term, sum = 0;

	while (x >= 2) {
		x /= 2;
		e++;
	}
	while (x < 1) {
		x *= 2;
		e--;
	}
	y = (x - 1) / (x + 1);
	y2 = y * y;
	term = y;
	for (int k = 1; k < 40; k += 2) {
		sum += term / k;
		term *= y2;
	}
	return e + 2 * sum / 0.69314718055994530942;
}

double gg_entropy(const char *s, size_t len)
{
	size_t count[256] = {0};
	double h = 0;

	if (len == 0)
		return 0;
	for (size_t i = 0; i < len; i++)
		count[(unsigned char)s[i]]++;
	for (size_t i = 0; i < 256; i++) {
		if (count[i]) {
			double p = (double)count[i] / (double)len;

			h -= p * log2_pos(p);
		}
	}
	return h;
}

static int secretish(char c)
{
	return is_alnum(c) || (c && strchr("+/=_.~!@#%^&*-", c));
}

/* After a keyword: the rest of the identifier, a closing quote, an
 * assignment operator, an opening quote, then the value. */
static int generic_value(const char *p, const char *end)
{
	const char *v;
	size_t n;
	int digit = 0, alpha = 0, sym = 0;

	p += run(p, end, is_alnum_us);
	while (p < end && (*p == '"' || *p == '\'' || *p == ' ' || *p == '\t'))
		p++;
	if (p < end && *p == ':' && p + 1 < end && p[1] == '=')
		p += 2;
	else if (p < end && *p == '=' && p + 1 < end && p[1] == '>')
		p += 2;
	else if (p < end && (*p == '=' || *p == ':'))
		p++;
	else
		return 0;
	if (p < end && *p == '=') /* "==" is a comparison */
		return 0;
	while (p < end && (*p == ' ' || *p == '\t'))
		p++;
	if (p < end && (*p == '"' || *p == '\'' || *p == '`'))
		p++;
	v = p;
	n = run(v, end, secretish);
	if (n < 12 || n > 256)
		return 0;
	if (v + n < end && (v[n] == '(' || v[n] == '['))
		return 0; /* a call or an index, not a literal */
	for (size_t i = 0; i < n; i++) {
		if (isdigit((unsigned char)v[i]))
			digit = 1;
		else if (isalpha((unsigned char)v[i]))
			alpha = 1;
		else if (v[i] != '_' && v[i] != '.' && v[i] != '-')
			sym = 1;
	}
	return alpha && (digit || sym) && gg_entropy(v, n) >= 3.3;
}

static int generic_secret(const char *s, const char *end)
{
	static const char *const kw[] = {"password", "passwd", "secret",
					 "token",    "api_key", "apikey",
					 "api-key",  "access_key", "private_key"};

	for (const char *p = s; p < end; p++) {
		for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++) {
			size_t n = strlen(kw[i]);

			if ((size_t)(end - p) >= n &&
			    strncasecmp(p, kw[i], n) == 0 &&
			    generic_value(p + n, end))
				return 1;
		}
	}
	return 0;
}

static int anthropic_key(const char *s, const char *end)
{
	return prefixed(s, end, "sk-ant-", 32, is_tok);
}

static int gitlab_token(const char *s, const char *end)
{
	return prefixed(s, end, "glpat-", 20, is_tok) ||
	       prefixed(s, end, "glptt-", 40, is_tok) ||
	       prefixed(s, end, "glrt-", 20, is_tok);
}

struct rule {
	const char *id;
	int (*match)(const char *, const char *);
};

static const struct rule rules[] = {
	{"private-key", private_key},     {"aws-access-key", aws_key},
	{"github-token", github_token},   {"gitlab-token", gitlab_token},
	{"slack-token", slack_token},     {"slack-webhook", slack_webhook},
	{"anthropic-key", anthropic_key}, {"openai-key", openai_key},
	{"generic-secret", generic_secret},
};

const char *gg_scan_line(const char *line, size_t len)
{
	const char *end = line + len;

	if (find(line, end, "bb-gitgate:allow") ||
	    find(line, end, "gitleaks:allow"))
		return NULL;
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++)
		if (rules[i].match(line, end))
			return rules[i].id;
	return NULL;
}

void gg_diffscan_init(struct gg_diffscan *ds, gg_finding_fn found, void *ctx)
{
	memset(ds, 0, sizeof(*ds));
	ds->found = found;
	ds->ctx = ctx;
	ds->cols = 1;
}

static void set_str(char *dst, size_t cap, const char *s, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	memcpy(dst, s, n);
	dst[n] = '\0';
}

/* "@@ -a,b +c,d @@" or "@@@ -a -b +c @@@": columns and the new start. */
static void hunk(struct gg_diffscan *ds, const char *l, size_t len)
{
	size_t ats = 0;
	const char *plus;
	long start = 0;

	while (ats < len && l[ats] == '@')
		ats++;
	ds->cols = ats > 1 ? (int)ats - 1 : 1;
	plus = memchr(l + ats, '+', len - ats);
	if (plus) {
		for (plus++; plus < l + len && isdigit((unsigned char)*plus);
		     plus++)
			start = start * 10 + (*plus - '0');
	}
	ds->line_no = start;
	ds->in_hunk = 1;
}

static void content(struct gg_diffscan *ds, const char *l, size_t len)
{
	size_t c = (size_t)ds->cols;
	int added = len >= c, removed = 0;
	const char *rule;

	for (size_t i = 0; i < c && i < len; i++) {
		if (l[i] == '-')
			removed = 1;
		if (l[i] != '+')
			added = 0;
	}
	if (removed)
		return;
	if (added && ds->file[0] && (rule = gg_scan_line(l + c, len - c))) {
		ds->findings++;
		if (ds->found)
			ds->found(ds->ctx, ds->commit, ds->file, ds->line_no,
				  rule);
	}
	ds->line_no++;
}

void gg_diffscan_line(struct gg_diffscan *ds, const char *l, size_t len)
{
	if (len && l[len - 1] == '\n')
		len--;
	if (ds->in_hunk && len && (l[0] == '+' || l[0] == '-' || l[0] == ' ')) {
		/* Inside a hunk every line starts with its prefix columns,
		 * so a "+commit ..." or "++++ b/x" line is content. */
		content(ds, l, len);
		return;
	}
	if (ds->in_hunk && len && l[0] == '\\')
		return; /* the "No newline at end of file" marker */
	ds->in_hunk = 0;
	if (len >= 7 && memcmp(l, "commit ", 7) == 0) {
		set_str(ds->commit, sizeof(ds->commit), l + 7, len - 7);
		ds->file[0] = '\0';
	} else if (len >= 5 && memcmp(l, "diff ", 5) == 0) {
		ds->file[0] = '\0';
		ds->cols = 1;
	} else if (len >= 4 && memcmp(l, "+++ ", 4) == 0) {
		const char *f = l + 4;
		size_t n = len - 4;

		if (n >= 2 && f[0] == '"' && f[n - 1] == '"') {
			f++;
			n -= 2;
		}
		if (n >= 2 && f[0] == 'b' && f[1] == '/') {
			f += 2;
			n -= 2;
		}
		if (n == 9 && memcmp(f, "/dev/null", 9) == 0)
			n = 0;
		set_str(ds->file, sizeof(ds->file), f, n);
	} else if (len >= 2 && l[0] == '@' && l[1] == '@') {
		hunk(ds, l, len);
	}
}
