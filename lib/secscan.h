/* secscan: the built-in secret scanner the gate uses when gitleaks is not
 * installed.  It reads `git log -p` output and reports the added lines
 * that look like credentials, by rule, never by value.
 *
 * Rules: private-key, aws-access-key, github-token, gitlab-token,
 * slack-token, slack-webhook, anthropic-key, openai-key, generic-secret
 * (password/secret/token/api_key assignments with a high-entropy value).
 *
 * Allow mechanism: a line holding "bb-gitgate:allow" (or gitleaks'
 * "gitleaks:allow", so fixtures work with either scanner) is skipped. */
#ifndef BB_SECSCAN_H
#define BB_SECSCAN_H

#include <stddef.h>

/* The id of the first rule line[0..len) matches, or NULL. */
const char *gg_scan_line(const char *line, size_t len);

typedef void (*gg_finding_fn)(void *ctx, const char *commit,
			      const char *file, long line, const char *rule);

/* Follows `git log -p --format='commit %H'` output line by line (with or
 * without the trailing newline), including --cc combined diffs of merges,
 * and calls found for each added line a rule matches. */
struct gg_diffscan {
	char commit[72];
	char file[1024];
	long line_no;
	int cols; /* prefix columns: 1, or the parent count of a merge */
	int in_hunk;
	gg_finding_fn found;
	void *ctx;
	unsigned long findings;
};

void gg_diffscan_init(struct gg_diffscan *ds, gg_finding_fn found, void *ctx);
void gg_diffscan_line(struct gg_diffscan *ds, const char *line, size_t len);

/* Shannon entropy of s[0..len) in bits per byte. */
double gg_entropy(const char *s, size_t len);

#endif
