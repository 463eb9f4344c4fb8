#include "pipelock.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "netcheck.h"
#include "yamldoc.h"

enum kind { K_INT, K_STR, K_BOOL, K_LIST };

struct field {
	const char *key;
	enum kind kind;
	int required; /* when parsing a running config back */
};

struct section {
	const char *name; /* NULL: the top-level scalars */
	const struct field *fields;
	int required;
};

/* The closed schema, in the order we write it. */
static const struct field top_fields[] = {
	{"version", K_INT, 1},
	{"mode", K_STR, 1},
	{"enforce", K_BOOL, 1},
	{"api_allowlist", K_LIST, 1},
	{NULL, 0, 0},
};
static const struct field seed_fields[] = {{"enabled", K_BOOL, 0},
					   {NULL, 0, 0}};
static const struct field fwd_fields[] = {{"enabled", K_BOOL, 1},
					  {NULL, 0, 0}};
static const struct field dlp_fields[] = {
	{"include_defaults", K_BOOL, 1},
	{"scan_env", K_BOOL, 1},
	{NULL, 0, 0},
};
static const struct field body_fields[] = {
	{"enabled", K_BOOL, 0},
	{"action", K_STR, 1},
	{"scan_headers", K_BOOL, 0},
	{"header_mode", K_STR, 0},
	{NULL, 0, 0},
};
static const struct field resp_fields[] = {{"enabled", K_BOOL, 0},
					   {NULL, 0, 0}};
static const struct field tls_fields[] = {
	{"enabled", K_BOOL, 0},
	{"ca_cert", K_STR, 0},
	{"ca_key", K_STR, 0},
	{"passthrough_domains", K_LIST, 0},
	{NULL, 0, 0},
};
static const struct field ssrf_fields[] = {{"ip_allowlist", K_LIST, 0},
					   {NULL, 0, 0}};
static const struct field log_fields[] = {
	{"include_allowed", K_BOOL, 0},
	{"include_blocked", K_BOOL, 0},
	{NULL, 0, 0},
};
static const struct field git_fields[] = {{"pre_push_scan", K_BOOL, 0},
					  {NULL, 0, 0}};
static const struct field sentry_fields[] = {{"enabled", K_BOOL, 0},
					     {NULL, 0, 0}};

static const struct section schema[] = {
	{NULL, top_fields, 1},
	{"seed_phrase_detection", seed_fields, 0},
	{"forward_proxy", fwd_fields, 1},
	{"dlp", dlp_fields, 1},
	{"request_body_scanning", body_fields, 1},
	{"response_scanning", resp_fields, 0},
	{"tls_interception", tls_fields, 0},
	{"ssrf", ssrf_fields, 0},
	{"logging", log_fields, 0},
	{"git_protection", git_fields, 0},
	{"sentry", sentry_fields, 0},
	{NULL, NULL, 0},
};

#define NSECTIONS (sizeof(schema) / sizeof(schema[0]) - 1)

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(json_object_get(o, k));

	return s ? s : "";
}

/* --- from a plan -------------------------------------------------------- */

json_t *bb_pipelock_from_plan(const json_t *plan, struct bb_err *err)
{
	const json_t *pl = json_object_get(plan, "pipelock");
	const json_t *allow = json_object_get(pl, "api_allowlist");
	const json_t *pass = json_object_get(pl, "passthrough_domains");
	const json_t *ssrf = json_object_get(pl, "ssrf_ip_allowlist");
	json_t *cfg, *tls;

	if (!json_is_object(plan) ||
	    json_integer_value(json_object_get(plan, "version")) != 1) {
		bb_errf(err, "version", "input is not a version 1 plan");
		return NULL;
	}
	if (!json_is_object(pl) || !json_is_array(allow)) {
		bb_errf(err, "pipelock",
			"the plan has no pipelock.api_allowlist array");
		return NULL;
	}
	tls = json_pack("{s:b, s:O?, s:O?}", "enabled", 1, "ca_cert",
			json_object_get(pl, "ca_cert"), "ca_key",
			json_object_get(pl, "ca_key"));
	if (json_array_size(pass))
		json_object_set(tls, "passthrough_domains", (json_t *)(uintptr_t)pass);
	cfg = json_pack("{s:i, s:s, s:b, s:O}", "version", 1, "mode", "strict",
			"enforce", 1, "api_allowlist", allow);
	json_object_set_new(cfg, "tls_interception", tls);
	if (json_array_size(ssrf))
		json_object_set_new(cfg, "ssrf",
				    json_pack("{s:O}", "ip_allowlist", ssrf));
	bb_pipelock_fill_defaults(cfg);
	return cfg;
}

static void default_section(json_t *cfg, const char *name, json_t *values)
{
	json_t *sec = json_object_get(cfg, name);

	if (!sec) {
		json_object_set_new(cfg, name, values);
		return;
	}
	if (json_is_object(sec))
		json_object_update_missing(sec, values);
	json_decref(values);
}

void bb_pipelock_fill_defaults(json_t *cfg)
{
	if (!json_is_object(cfg))
		return;
	default_section(cfg, "seed_phrase_detection",
			json_pack("{s:b}", "enabled", 0));
	default_section(cfg, "forward_proxy", json_pack("{s:b}", "enabled", 1));
	default_section(cfg, "dlp",
			json_pack("{s:b, s:b}", "include_defaults", 1,
				  "scan_env", 1));
	default_section(cfg, "request_body_scanning",
			json_pack("{s:b, s:s, s:b, s:s}", "enabled", 1,
				  "action", "block", "scan_headers", 1,
				  "header_mode", "sensitive"));
	default_section(cfg, "response_scanning",
			json_pack("{s:b}", "enabled", 1));
	default_section(cfg, "tls_interception",
			json_pack("{s:b}", "enabled", 1));
	default_section(cfg, "logging",
			json_pack("{s:b, s:b}", "include_allowed", 1,
				  "include_blocked", 1));
	default_section(cfg, "git_protection",
			json_pack("{s:b}", "pre_push_scan", 1));
	default_section(cfg, "sentry", json_pack("{s:b}", "enabled", 0));
}

/* --- validation --------------------------------------------------------- */

static void problem(bb_problems *p, const char *where, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static void problem(bb_problems *p, const char *where, const char *fmt, ...)
{
	char what[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	json_array_append_new(p, json_pack("[s, s]", where, what));
}

static const char *kind_name(enum kind k)
{
	switch (k) {
	case K_INT:
		return "an integer";
	case K_STR:
		return "a string";
	case K_BOOL:
		return "a boolean";
	default:
		return "a list of strings";
	}
}

static int kind_ok(const json_t *v, enum kind k)
{
	size_t i;
	json_t *item;

	switch (k) {
	case K_INT:
		return json_is_integer(v);
	case K_STR:
		return json_is_string(v);
	case K_BOOL:
		return json_is_boolean(v);
	default:
		if (!json_is_array(v))
			return 0;
		json_array_foreach(v, i, item)
			if (!json_is_string(item))
				return 0;
		return 1;
	}
}

static const struct section *find_section(const char *name)
{
	for (size_t i = 1; i < NSECTIONS; i++)
		if (!strcmp(schema[i].name, name))
			return &schema[i];
	return NULL;
}

static const struct field *find_field(const struct field *f, const char *k)
{
	for (; f->key; f++)
		if (!strcmp(f->key, k))
			return f;
	return NULL;
}

static void where_of(char *buf, size_t n, const char *section,
		     const char *key)
{
	if (section)
		snprintf(buf, n, "%s.%s", section, key);
	else
		snprintf(buf, n, "%s", key);
}

/* Types, unknown keys and presence of one section's fields. */
static void check_fields(const json_t *obj, const struct section *s,
			 int strict, bb_problems *p)
{
	const struct field *f;
	const char *k;
	json_t *v;
	char w[256];

	json_object_foreach((json_t *)(uintptr_t)obj, k, v) {
		if (!s->name && (find_section(k) || find_field(s->fields, k)))
			continue;
		where_of(w, sizeof(w), s->name, k);
		if (!(f = find_field(s->fields, k))) {
			problem(p, w, "is unsupported");
			continue;
		}
	}
	for (f = s->fields; f->key; f++) {
		v = json_object_get(obj, f->key);
		where_of(w, sizeof(w), s->name, f->key);
		if (!v) {
			/* Empty lists are omitted when we render. */
			if (f->required ||
			    (strict && f->kind != K_LIST))
				problem(p, w, "is required");
		} else if (!kind_ok(v, f->kind)) {
			problem(p, w, "must be %s", kind_name(f->kind));
		}
	}
}

static int is_bool(const json_t *o, const char *k, int want)
{
	const json_t *v = json_object_get(o, k);

	return !json_is_boolean(v) || json_is_true(v) == want;
}

static void must_be(bb_problems *p, const json_t *sec, const char *sname,
		    const char *key, int want, const char *why)
{
	char w[128];

	if (!is_bool(sec, key, want)) {
		where_of(w, sizeof(w), sname, key);
		problem(p, w, "must be %s (%s)", want ? "true" : "false", why);
	}
}

static void check_hosts(const json_t *list, const char *w, bb_problems *p)
{
	struct bb_err e;
	json_t *item;
	size_t i;
	char iw[128];

	json_array_foreach(list, i, item) {
		if (!json_is_string(item))
			continue;
		memset(&e, 0, sizeof(e));
		snprintf(iw, sizeof(iw), "%s[%zu]", w, i);
		if (bb_host_check(json_string_value(item), iw, &e) < 0)
			problem(p, e.where, "%s", e.what);
	}
}

static void check_path(const json_t *sec, const char *key, bb_problems *p)
{
	const char *v = json_string_value(json_object_get(sec, key));
	char w[64];

	snprintf(w, sizeof(w), "tls_interception.%s", key);
	if (v && v[0] != '/')
		problem(p, w, "must be an absolute path (was '%s')", v);
}

/* Values that would weaken pipelock: refused when rendering. */
static void check_policy(const json_t *cfg, bb_problems *p)
{
	const json_t *body = json_object_get(cfg, "request_body_scanning");
	const json_t *tls = json_object_get(cfg, "tls_interception");
	const json_t *ssrf = json_object_get(cfg, "ssrf");
	const json_t *allow = json_object_get(cfg, "api_allowlist");
	json_t *item;
	size_t i;

	if (json_is_string(json_object_get(cfg, "mode")) &&
	    strcmp(str(cfg, "mode"), "strict") != 0)
		problem(p, "mode", "must be \"strict\" (was \"%s\")",
			str(cfg, "mode"));
	must_be(p, cfg, NULL, "enforce", 1, "blocks must block");
	if (json_is_array(allow) && json_array_size(allow) == 0)
		problem(p, "api_allowlist",
			"must not be empty: pipelock refuses to start (strict "
			"mode requires at least one domain in api_allowlist)");
	check_hosts(allow, "api_allowlist", p);
	must_be(p, json_object_get(cfg, "forward_proxy"), "forward_proxy",
		"enabled", 1, "HTTPS_PROXY clients need it");
	must_be(p, json_object_get(cfg, "dlp"), "dlp", "include_defaults", 1,
		"DLP may not be weakened");
	must_be(p, json_object_get(cfg, "dlp"), "dlp", "scan_env", 1,
		"DLP may not be weakened");
	must_be(p, body, "request_body_scanning", "enabled", 1,
		"DLP may not be weakened");
	must_be(p, body, "request_body_scanning", "scan_headers", 1,
		"DLP may not be weakened");
	if (json_is_string(json_object_get(body, "action")) &&
	    strcmp(str(body, "action"), "block"))
		problem(p, "request_body_scanning.action",
			"must be \"block\" (was \"%s\")", str(body, "action"));
	if (json_is_string(json_object_get(body, "header_mode")) &&
	    strcmp(str(body, "header_mode"), "sensitive") &&
	    strcmp(str(body, "header_mode"), "all"))
		problem(p, "request_body_scanning.header_mode",
			"must be \"sensitive\" or \"all\" (was \"%s\")",
			str(body, "header_mode"));
	must_be(p, json_object_get(cfg, "response_scanning"),
		"response_scanning", "enabled", 1, "DLP may not be weakened");
	must_be(p, tls, "tls_interception", "enabled", 1,
		"pipelock must see inside TLS");
	check_path(tls, "ca_cert", p);
	check_path(tls, "ca_key", p);
	check_hosts(json_object_get(tls, "passthrough_domains"),
		    "tls_interception.passthrough_domains", p);
	json_array_foreach(json_object_get(ssrf, "ip_allowlist"), i, item) {
		struct bb_err e = {0};
		char w[64];

		snprintf(w, sizeof(w), "ssrf.ip_allowlist[%zu]", i);
		if (json_is_string(item) &&
		    bb_cidr_check(json_string_value(item), w, &e) < 0)
			problem(p, e.where, "%s", e.what);
	}
	must_be(p, json_object_get(cfg, "sentry"), "sentry", "enabled", 0,
		"pipelock must not report to Sentry");
}

size_t bb_pipelock_validate(const json_t *cfg, int strict,
			    bb_problems *problems)
{
	size_t before = json_array_size(problems);

	if (!json_is_object(cfg)) {
		problem(problems, "config", "must be a mapping");
		return 1;
	}
	check_fields(cfg, &schema[0], strict, problems);
	for (size_t i = 1; i < NSECTIONS; i++) {
		const struct section *s = &schema[i];
		const json_t *sec = json_object_get(cfg, s->name);

		if (!sec) {
			/* ssrf is omitted when there is nothing to allow. */
			if (s->required || (strict && strcmp(s->name, "ssrf")))
				problem(problems, s->name, "is required");
			continue;
		}
		if (!json_is_object(sec)) {
			problem(problems, s->name, "must be a mapping");
			continue;
		}
		check_fields(sec, s, strict, problems);
	}
	if (strict)
		check_policy(cfg, problems);
	return json_array_size(problems) - before;
}

/* --- emitting ----------------------------------------------------------- */

struct emit {
	yaml_emitter_t em;
	char *buf;
	size_t len;
	int failed;
};

static int write_cb(void *data, unsigned char *b, size_t n)
{
	struct emit *e = data;
	char *nb = realloc(e->buf, e->len + n + 1);

	if (!nb)
		return 0;
	memcpy(nb + e->len, b, n);
	e->buf = nb;
	e->len += n;
	e->buf[e->len] = '\0';
	return 1;
}

static void ev(struct emit *e, yaml_event_t *event, int ok)
{
	if (e->failed || !ok || !yaml_emitter_emit(&e->em, event))
		e->failed = 1;
}

static void scalar(struct emit *e, const char *s, yaml_scalar_style_t st)
{
	yaml_event_t event;

	ev(e, &event,
	   yaml_scalar_event_initialize(&event, NULL, NULL,
					(yaml_char_t *)(uintptr_t)s,
					(int)strlen(s), 1, 1, st));
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Lists are written sorted and without duplicates, quoted. */
static void list(struct emit *e, const json_t *v)
{
	size_t n = json_array_size(v), i;
	const char **items = calloc(n + 1, sizeof(*items));
	yaml_event_t event;

	if (!items) {
		e->failed = 1;
		return;
	}
	for (i = 0; i < n; i++)
		items[i] = json_string_value(json_array_get(v, i));
	qsort(items, n, sizeof(*items), cmp_str);
	ev(e, &event,
	   yaml_sequence_start_event_initialize(&event, NULL, NULL, 1,
						YAML_BLOCK_SEQUENCE_STYLE));
	for (i = 0; i < n; i++)
		if (i == 0 || strcmp(items[i], items[i - 1]))
			scalar(e, items[i], YAML_DOUBLE_QUOTED_SCALAR_STYLE);
	ev(e, &event, yaml_sequence_end_event_initialize(&event));
	free(items);
}

static void value(struct emit *e, const json_t *v, enum kind k)
{
	char num[32];

	switch (k) {
	case K_INT:
		snprintf(num, sizeof(num), "%lld",
			 (long long)json_integer_value(v));
		scalar(e, num, YAML_PLAIN_SCALAR_STYLE);
		break;
	case K_BOOL:
		scalar(e, json_is_true(v) ? "true" : "false",
		       YAML_PLAIN_SCALAR_STYLE);
		break;
	case K_STR:
		scalar(e, json_string_value(v), YAML_DOUBLE_QUOTED_SCALAR_STYLE);
		break;
	default:
		list(e, v);
	}
}

static void fields(struct emit *e, const json_t *obj, const struct field *f)
{
	for (; f->key; f++) {
		const json_t *v = json_object_get(obj, f->key);

		if (!v || (f->kind == K_LIST && !json_array_size(v)))
			continue;
		scalar(e, f->key, YAML_PLAIN_SCALAR_STYLE);
		value(e, v, f->kind);
	}
}

static int has_output(const json_t *obj, const struct field *f)
{
	for (; f->key; f++) {
		const json_t *v = json_object_get(obj, f->key);

		if (v && !(f->kind == K_LIST && !json_array_size(v)))
			return 1;
	}
	return 0;
}

/* One block of the file: a mapping emitted as its own implicit document,
 * so that blocks can be joined with a blank line and still read as one
 * mapping.  key is NULL for the top-level scalars. */
static int emit_block(struct emit *e, const char *key, const json_t *obj,
		      const struct field *f)
{
	yaml_event_t event;

	memset(&e->em, 0, sizeof(e->em));
	if (!yaml_emitter_initialize(&e->em))
		return -1;
	yaml_emitter_set_output(&e->em, write_cb, e);
	yaml_emitter_set_unicode(&e->em, 1);
	yaml_emitter_set_width(&e->em, -1);
	yaml_emitter_set_indent(&e->em, 2);
	ev(e, &event, yaml_stream_start_event_initialize(&event, YAML_UTF8_ENCODING));
	ev(e, &event,
	   yaml_document_start_event_initialize(&event, NULL, NULL, NULL, 1));
	ev(e, &event,
	   yaml_mapping_start_event_initialize(&event, NULL, NULL, 1,
					       YAML_BLOCK_MAPPING_STYLE));
	if (key) {
		scalar(e, key, YAML_PLAIN_SCALAR_STYLE);
		ev(e, &event,
		   yaml_mapping_start_event_initialize(
			   &event, NULL, NULL, 1, YAML_BLOCK_MAPPING_STYLE));
	}
	fields(e, obj, f);
	if (key)
		ev(e, &event, yaml_mapping_end_event_initialize(&event));
	ev(e, &event, yaml_mapping_end_event_initialize(&event));
	ev(e, &event, yaml_document_end_event_initialize(&event, 1));
	ev(e, &event, yaml_stream_end_event_initialize(&event));
	yaml_emitter_delete(&e->em);
	return e->failed ? -1 : 0;
}

static int emit_all(struct emit *e, const json_t *cfg)
{
	if (emit_block(e, NULL, cfg, top_fields) < 0)
		return -1;
	for (size_t i = 1; i < NSECTIONS; i++) {
		const json_t *sec = json_object_get(cfg, schema[i].name);

		if (!sec || !has_output(sec, schema[i].fields))
			continue;
		if (!write_cb(e, (unsigned char *)"\n", 1) ||
		    emit_block(e, schema[i].name, sec, schema[i].fields) < 0)
			return -1;
	}
	return 0;
}

char *bb_pipelock_render(const json_t *cfg, bb_problems *problems,
			 struct bb_err *err)
{
	struct emit e = {0};
	json_t *back;
	size_t n;

	if ((n = bb_pipelock_validate(cfg, 1, problems))) {
		bb_errf(err, "config", "%zu problem%s; nothing written", n,
			n == 1 ? "" : "s");
		return NULL;
	}
	if (emit_all(&e, cfg) < 0) {
		free(e.buf);
		bb_errf(err, "yaml", "the emitter failed");
		return NULL;
	}
	/* Read our own output back: one document meaning the same config
	 * (with empty lists omitted) or nothing is written. */
	back = bb_yaml_load(e.buf, e.len, "rendered", 1, err);
	if (!back || bb_pipelock_validate(back, 1, problems)) {
		json_decref(back);
		free(e.buf);
		if (!err->set)
			bb_errf(err, "yaml", "rendered output does not "
					     "validate");
		return NULL;
	}
	json_decref(back);
	return e.buf;
}

json_t *bb_pipelock_parse(const char *buf, size_t len, const char *label,
			  bb_problems *problems, struct bb_err *err)
{
	json_t *cfg = bb_yaml_load(buf, len, label, 1, err);
	size_t n;

	if (!cfg)
		return NULL;
	if ((n = bb_pipelock_validate(cfg, 0, problems))) {
		json_decref(cfg);
		bb_errf(err, label, "%zu problem%s in the config", n,
			n == 1 ? "" : "s");
		return NULL;
	}
	return cfg;
}
