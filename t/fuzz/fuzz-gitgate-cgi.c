/* The CGI response head from git http-backend, turned into an HTTP head:
 * never more than one status line, never a bare CR or LF in a header. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cgi.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *buf = (const char *)data;
	size_t end = gg_cgi_head_end(buf, size);
	char *head;
	int status;

	if (end == 0)
		return 0;
	if (end > size)
		abort();
	head = gg_cgi_http_head(buf, end, &status);
	if (!head)
		return 0;
	if (status < 100 || status > 599 || strncmp(head, "HTTP/1.1 ", 9) != 0)
		abort();
	/* Every CR is followed by LF and every LF preceded by CR. */
	for (const char *p = head; *p; p++) {
		if (*p == '\r' && p[1] != '\n')
			abort();
		if (*p == '\n' && (p == head || p[-1] != '\r'))
			abort();
	}
	if (!strstr(head, "\r\nConnection: close\r\n\r\n"))
		abort();
	free(head);
	return 0;
}
