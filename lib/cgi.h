/* cgi: turn a CGI program's response head (git http-backend's) into an
 * HTTP/1.1 response head. */
#ifndef BB_CGI_H
#define BB_CGI_H

#include <stddef.h>

/* Offset of the body in buf (just past the blank line ending the header
 * block, "\r\n\r\n" or "\n\n"), or 0 while the block is incomplete. */
size_t gg_cgi_head_end(const char *buf, size_t len);

/* The HTTP/1.1 head for the CGI header block buf[0..end): "Status:" sets
 * the code (default 200), hop-by-hop headers are dropped, and
 * "Connection: close" is added.  malloc'd; NULL when the block is
 * malformed (the caller answers 502).  *status gets the code. */
char *gg_cgi_http_head(const char *buf, size_t end, int *status);

/* Reason phrase for the codes we send. */
const char *gg_http_reason(int status);

#endif
