#include "queue.h"

#include <dirent.h>
#include <errno.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "file.h"
#include "json.h"

int bb_queue_id_ok(const char *id)
{
	size_t n = 0;

	for (; id[n]; n++)
		if (!((id[n] >= 'a' && id[n] <= 'z') ||
		      (id[n] >= 'A' && id[n] <= 'Z') ||
		      (id[n] >= '0' && id[n] <= '9') || id[n] == '-'))
			return 0;
	return n > 0 && n < BB_QUEUE_ID_MAX;
}

void bb_queue_now(char buf[32])
{
	time_t t = time(NULL);
	struct tm tm;

	gmtime_r(&t, &tm);
	strftime(buf, 32, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* TIMEZ-FFFFRRRR: the second, then the fraction of it in 1/65536 s and 16
 * random bits, so that ids made within one second still sort by creation
 * (pending lists oldest first) and two bottles never pick the same id. */
int bb_queue_new_id(char id[BB_QUEUE_ID_MAX], struct bb_err *err)
{
	unsigned char r[2];
	struct timespec ts;
	struct tm tm;
	char stamp[24];
	unsigned frac;

	if (RAND_bytes(r, sizeof(r)) != 1)
		return bb_errf(err, NULL, "no randomness for a proposal id");
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(stamp, sizeof(stamp), "%Y%m%dT%H%M%SZ", &tm);
	frac = (unsigned)(((unsigned long long)ts.tv_nsec << 16) / 1000000000ull);
	snprintf(id, BB_QUEUE_ID_MAX, "%s-%04x%02x%02x", stamp, frac & 0xffff,
		 r[0], r[1]);
	return 0;
}

char *bb_queue_path(const char *queue, const char *id, const char *what,
		    int archived)
{
	size_t n = strlen(queue) + strlen(id) + strlen(what) + 32;
	char *p = malloc(n);

	if (p)
		snprintf(p, n, "%s/%s%s.%s.json", queue,
			 archived ? "archive/" : "", id, what);
	return p;
}

int bb_queue_init(const char *queue, struct bb_err *err)
{
	size_t n = strlen(queue) + sizeof("/archive");
	char *a = malloc(n);
	int rc;

	if (!a)
		return bb_errf(err, queue, "out of memory");
	snprintf(a, n, "%s/archive", queue);
	rc = bb_mkdir_p(a, 0700, err);
	free(a);
	return rc;
}

static int put_doc(const char *path, const json_t *doc, struct bb_err *err)
{
	char *s = bb_json_string(doc);
	int rc;

	if (!s)
		return bb_errf(err, path, "could not encode JSON");
	rc = bb_write_file_atomic(path, s, strlen(s), 0600, err);
	free(s);
	return rc;
}

int bb_queue_put_proposal(const char *queue, const json_t *proposal,
			  struct bb_err *err)
{
	const char *id = json_string_value(json_object_get(proposal, "id"));
	char *path;
	int rc;

	if (!id || !bb_queue_id_ok(id))
		return bb_errf(err, queue, "proposal without a valid id");
	path = bb_queue_path(queue, id, "proposal", 0);
	if (!path)
		return bb_errf(err, queue, "out of memory");
	rc = put_doc(path, proposal, err);
	free(path);
	return rc;
}

/* The id of a QUEUE entry named ID.proposal.json, else 0. */
static int proposal_name(const char *name, char id[BB_QUEUE_ID_MAX])
{
	static const char suffix[] = ".proposal.json";
	size_t n = strlen(name), s = sizeof(suffix) - 1;

	if (n <= s || n - s >= BB_QUEUE_ID_MAX ||
	    strcmp(name + n - s, suffix) != 0)
		return 0;
	memcpy(id, name, n - s);
	id[n - s] = '\0';
	return bb_queue_id_ok(id);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The ids pending in QUEUE, sorted; *n gets the count. */
static char **pending_ids(const char *queue, size_t *n)
{
	DIR *d = opendir(queue);
	struct dirent *e;
	char **ids = NULL, id[BB_QUEUE_ID_MAX];
	size_t cap = 0;

	*n = 0;
	if (!d)
		return NULL;
	while ((e = readdir(d))) {
		if (!proposal_name(e->d_name, id))
			continue;
		if (*n == cap) {
			char **nids = realloc(ids, (cap = cap ? cap * 2 : 16) *
							   sizeof(*ids));
			if (!nids)
				break;
			ids = nids;
		}
		if (!(ids[*n] = strdup(id)))
			break;
		(*n)++;
	}
	closedir(d);
	if (*n)
		qsort(ids, *n, sizeof(*ids), cmp_str);
	return ids;
}

static void free_ids(char **ids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(ids[i]);
	free(ids);
}

size_t bb_queue_count_pending(const char *queue)
{
	size_t n;
	char **ids = pending_ids(queue, &n);

	free_ids(ids, n);
	return n;
}

static json_t *load_path(const char *path, struct bb_err *err)
{
	char *buf;
	size_t len;
	json_t *doc;

	if (bb_read_file(path, BB_QUEUE_DOC_MAX, &buf, &len, err) < 0)
		return NULL;
	doc = bb_json_parse(buf, len, path, err);
	free(buf);
	if (doc && !json_is_object(doc)) {
		json_decref(doc);
		bb_errf(err, path, "not a JSON object");
		return NULL;
	}
	return doc;
}

json_t *bb_queue_pending(const char *queue)
{
	json_t *out = json_array();
	size_t n;
	char **ids = pending_ids(queue, &n);

	for (size_t i = 0; out && i < n; i++) {
		struct bb_err err = {0};
		json_t *doc = bb_queue_load(queue, ids[i], "proposal", NULL,
					    &err);

		if (doc)
			json_array_append_new(out, doc);
		else if (bb_queue_is_pending(queue, ids[i]))
			bb_report(&err); /* else answered since listed */
	}
	free_ids(ids, n);
	return out;
}

json_t *bb_queue_load(const char *queue, const char *id, const char *what,
		      int *archived, struct bb_err *err)
{
	for (int a = 0; a < 2; a++) {
		char *path = bb_queue_path(queue, id, what, a);
		json_t *doc;

		if (!path) {
			bb_errf(err, queue, "out of memory");
			return NULL;
		}
		if (access(path, F_OK) < 0) {
			free(path);
			continue;
		}
		doc = load_path(path, err);
		free(path);
		if (doc && archived)
			*archived = a;
		return doc;
	}
	bb_errf(err, NULL, "no proposal '%s'", id);
	return NULL;
}

json_t *bb_queue_answer(const char *queue, const char *id)
{
	struct bb_err err = {0};

	return bb_queue_load(queue, id, "response", NULL, &err);
}

int bb_queue_is_pending(const char *queue, const char *id)
{
	char *path = bb_queue_path(queue, id, "proposal", 0);
	int rc = path && access(path, F_OK) == 0;

	free(path);
	return rc;
}

static int archive(const char *queue, const char *id, const char *what,
		   struct bb_err *err)
{
	char *from = bb_queue_path(queue, id, what, 0);
	char *to = bb_queue_path(queue, id, what, 1);
	int rc = 0;

	if (!from || !to)
		rc = bb_errf(err, queue, "out of memory");
	else if (rename(from, to) < 0)
		rc = bb_errf(err, from, "could not archive: %s",
			     strerror(errno));
	free(from);
	free(to);
	return rc;
}

int bb_queue_answer_and_archive(const char *queue, const char *id,
				const json_t *response, struct bb_err *err)
{
	char *path = bb_queue_path(queue, id, "response", 0);
	int rc;

	if (!path)
		return bb_errf(err, queue, "out of memory");
	if (bb_queue_init(queue, err) < 0) {
		free(path);
		return -1;
	}
	rc = put_doc(path, response, err);
	free(path);
	/* The proposal leaves the queue first: from then on it is not
	 * pending, and a waiting call finds the answer in either place. */
	if (rc == 0)
		rc = archive(queue, id, "proposal", err);
	if (rc == 0)
		rc = archive(queue, id, "response", err);
	return rc;
}
