/* One agent connection: parse the request head with http-parser, decide
 * the route, refresh the mirror when git is about to read it, then pump
 * the body into git http-backend and its answer back. */
#include <errno.h>
#include <fcntl.h>
#include <http_parser.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cgi.h"
#include "gateserve.h"
#include "gitcmd.h"
#include "gitroute.h"
#include "mirror.h"

#define HEAD_MAX 32768         /* request line and headers */
#define IN_HIGH (256u * 1024)  /* body bytes buffered for the CGI */
#define OUT_HOLD (1024u * 1024) /* CGI output held before the request ends */
#define MSG_MAX 2048

struct buf {
	char *p;
	size_t off, len, cap;
};

struct conn {
	const struct gg_serve_cfg *cfg;
	int fd;
	const char *peer;
	http_parser p;
	http_parser_settings s;
	size_t head_bytes;
	char url[4096];
	size_t url_len;
	char field[64];
	size_t field_len;
	char value[1024];
	size_t value_len;
	int in_value, hdr_long;
	char ctype[256], cenc[64], gproto[256];
	int has_cl, expect100, head_done, msg_done, too_large, bad;
	unsigned long long body_bytes;
	unsigned long long content_length; /* as declared (the parser counts
					    * its copy down) */
	struct buf in;       /* body bytes for the CGI */
	int discard;         /* CGI stopped reading: drop the body */
	unsigned long long out_bytes;
	int status;
	int lingered;
};

void gg_log(const char *fmt, ...)
{
	char line[2048];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	/* One line per event: multi-line text (git's stderr) is folded. */
	for (char *c = line; *c; c++)
		if (*c == '\n' || *c == '\r' || *c == '\t')
			*c = ' ';
		else if ((unsigned char)*c < 0x20 || *c == 0x7f)
			*c = '?';
	fprintf(stderr, "bb-gitgate: %s\n", line);
	fflush(stderr);
}

static int buf_add(struct buf *b, const char *p, size_t n)
{
	if (b->off && b->off + b->len + n > b->cap) {
		memmove(b->p, b->p + b->off, b->len);
		b->off = 0;
	}
	if (b->len + n > b->cap) {
		size_t cap = (b->len + n) * 2;
		char *np = realloc(b->p, cap);

		if (!np)
			return -1;
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->off + b->len, p, n);
	b->len += n;
	return 0;
}

static void buf_drop(struct buf *b, size_t n)
{
	b->off += n;
	b->len -= n;
	if (b->len == 0)
		b->off = 0;
}

/* --- request head ------------------------------------------------------ */

static struct conn *conn_of(http_parser *p)
{
	return p->data;
}

static void copy_hdr(char *dst, size_t cap, struct conn *c)
{
	if (c->value_len >= cap) {
		c->bad = 431;
		return;
	}
	memcpy(dst, c->value, c->value_len);
	dst[c->value_len] = '\0';
}

static void header_done(struct conn *c)
{
	const char *f = c->field;

	if (!c->field_len)
		return;
	c->field[c->field_len] = '\0';
	if (c->hdr_long) {
		c->bad = 431;
	} else if (strcasecmp(f, "Content-Type") == 0) {
		copy_hdr(c->ctype, sizeof(c->ctype), c);
	} else if (strcasecmp(f, "Content-Encoding") == 0) {
		copy_hdr(c->cenc, sizeof(c->cenc), c);
	} else if (strcasecmp(f, "Git-Protocol") == 0) {
		copy_hdr(c->gproto, sizeof(c->gproto), c);
	} else if (strcasecmp(f, "Content-Length") == 0) {
		c->has_cl = 1;
	} else if (strcasecmp(f, "Expect") == 0) {
		c->value[c->value_len < sizeof(c->value) ? c->value_len : 0] =
			'\0';
		if (strcasecmp(c->value, "100-continue") == 0)
			c->expect100 = 1;
	}
	c->field_len = c->value_len = 0;
	c->in_value = c->hdr_long = 0;
}

static int on_url(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (c->head_done)
		return 0;
	if (c->url_len + n >= sizeof(c->url)) {
		c->bad = 414;
		return 1;
	}
	memcpy(c->url + c->url_len, at, n);
	c->url_len += n;
	return 0;
}

static int on_field(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (c->head_done)
		return 0;
	if (c->in_value)
		header_done(c);
	if (c->field_len + n >= sizeof(c->field)) {
		c->hdr_long = 1;
		return 0;
	}
	memcpy(c->field + c->field_len, at, n);
	c->field_len += n;
	return 0;
}

static int on_value(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (c->head_done)
		return 0;
	c->in_value = 1;
	if (c->value_len + n >= sizeof(c->value)) {
		c->value_len = sizeof(c->value); /* marks it too long */
		return 0;
	}
	memcpy(c->value + c->value_len, at, n);
	c->value_len += n;
	return 0;
}

static int on_headers(http_parser *p)
{
	struct conn *c = conn_of(p);

	if (c->head_done)
		return 0;
	header_done(c);
	c->url[c->url_len] = '\0';
	c->head_done = 1;
	c->content_length = p->content_length;
	if (c->has_cl && !(p->flags & F_CHUNKED) &&
	    p->content_length > c->cfg->max_body)
		c->too_large = 1;
	return 0;
}

static int on_body(http_parser *p, const char *at, size_t n)
{
	struct conn *c = conn_of(p);

	if (c->msg_done)
		return 0;
	c->body_bytes += n;
	if (c->body_bytes > c->cfg->max_body) {
		c->too_large = 1;
		return 1;
	}
	if (!c->discard && buf_add(&c->in, at, n) < 0) {
		c->bad = 500;
		return 1;
	}
	return 0;
}

static int on_complete(http_parser *p)
{
	struct conn *c = conn_of(p);

	if (c->head_done)
		c->msg_done = 1;
	return 0;
}

/* --- output -------------------------------------------------------------- */

static int write_all(int fd, const char *p, size_t n, int timeout)
{
	while (n > 0) {
		struct pollfd pf = {.fd = fd, .events = POLLOUT};
		ssize_t w;

		if (poll(&pf, 1, timeout * 1000) <= 0)
			return -1;
		w = write(fd, p, n);
		if (w < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (w <= 0)
			return -1;
		p += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Let the client read our answer before the connection goes: stop
 * writing, then drain what it still sends for a short while. */
static void linger_close(struct conn *c)
{
	char sink[16384];
	time_t end = time(NULL) + 2;

	/* Closing with unread input would send a reset, and a reset makes
	 * the client drop our answer unread. */
	c->lingered = 1;
	shutdown(c->fd, SHUT_WR);
	while (time(NULL) <= end) {
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};

		if (poll(&pf, 1, 500) <= 0 || read(c->fd, sink, sizeof(sink)) <= 0)
			break;
	}
}

/* A text/plain answer: git shows its lines as "remote: ..." for
 * advertisement requests, and curl shows it as is. */
static void respond(struct conn *c, int status, const char *text)
{
	char head[256];
	size_t tl = strlen(text);
	int n = snprintf(head, sizeof(head),
			 "HTTP/1.1 %d %s\r\nServer: bb-gitgate\r\n"
			 "Content-Type: text/plain; charset=utf-8\r\n"
			 "Content-Length: %zu\r\nCache-Control: no-cache\r\n"
			 "Connection: close\r\n\r\n",
			 status, gg_http_reason(status), tl);

	c->status = status;
	if (write_all(c->fd, head, (size_t)n, c->cfg->timeout) == 0)
		write_all(c->fd, text, tl, c->cfg->timeout);
	c->out_bytes += tl;
	linger_close(c);
}

static void respondf(struct conn *c, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void respondf(struct conn *c, int status, const char *fmt, ...)
{
	char text[MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	respond(c, status, text);
}

/* --- reading the head ---------------------------------------------------- */

/* Read and parse until the head is complete.  0 = head done; -1 = the
 * connection is finished (answered or dropped). */
static int read_head(struct conn *c)
{
	char chunk[16384];

	while (!c->head_done) {
		struct pollfd pf = {.fd = c->fd, .events = POLLIN};
		ssize_t r;
		size_t done;

		if (poll(&pf, 1, c->cfg->timeout * 1000) <= 0) {
			respond(c, 408, "bb-gitgate: request head timed out\n");
			return -1;
		}
		r = read(c->fd, chunk, sizeof(chunk));
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r <= 0)
			return -1;
		done = http_parser_execute(&c->p, &c->s, chunk, (size_t)r);
		if (!c->head_done)
			c->head_bytes += done;
		if (c->bad || c->too_large)
			return 0;
		if (HTTP_PARSER_ERRNO(&c->p) != HPE_OK) {
			respondf(c, 400, "bb-gitgate: bad request: %s\n",
				 http_errno_description(HTTP_PARSER_ERRNO(&c->p)));
			return -1;
		}
		if (!c->head_done && c->head_bytes > HEAD_MAX) {
			respond(c, 431, "bb-gitgate: request head too large\n");
			return -1;
		}
	}
	return 0;
}

/* --- the CGI --------------------------------------------------------------- */

static int cgi_env(struct conn *c, const struct gg_route *rt,
		   struct gg_env *env)
{
	char root[4200], len[32];
	int rc = 0;

	snprintf(root, sizeof(root), "%s/repos", c->cfg->state);
	rc |= gg_env_base(env);
	rc |= gg_env_set(env, "GATEWAY_INTERFACE", "CGI/1.1");
	rc |= gg_env_set(env, "SERVER_PROTOCOL", "HTTP/1.1");
	rc |= gg_env_set(env, "SERVER_SOFTWARE", "bb-gitgate");
	rc |= gg_env_set(env, "GIT_PROJECT_ROOT", root);
	rc |= gg_env_set(env, "GIT_HTTP_EXPORT_ALL", "1");
	rc |= gg_env_set(env, "REQUEST_METHOD",
			 http_method_str((enum http_method)c->p.method));
	rc |= gg_env_set(env, "PATH_INFO", rt->path_info);
	rc |= gg_env_set(env, "QUERY_STRING", rt->query);
	rc |= gg_env_set(env, "REMOTE_ADDR", c->peer);
	if (c->ctype[0])
		rc |= gg_env_set(env, "CONTENT_TYPE", c->ctype);
	if (c->cenc[0])
		rc |= gg_env_set(env, "HTTP_CONTENT_ENCODING", c->cenc);
	if (c->gproto[0])
		rc |= gg_env_set(env, "HTTP_GIT_PROTOCOL", c->gproto);
	/* Chunked: no CONTENT_LENGTH, and http-backend reads to EOF. */
	if (c->has_cl && !(c->p.flags & F_CHUNKED)) {
		snprintf(len, sizeof(len), "%llu", c->content_length);
		rc |= gg_env_set(env, "CONTENT_LENGTH", len);
	}
	return rc ? -1 : 0;
}

struct pump {
	int cin, cout;
	pid_t pid;
	struct buf out;
	int committed, aborted;
};

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Send the CGI's head once the request is in (so a late 413 can still be
 * answered), or when it has said too much to hold. */
static int maybe_commit(struct conn *c, struct pump *pp)
{
	size_t end;
	char *head;
	int st;
	struct buf nb = {0};

	if (pp->committed)
		return 0;
	if (!(c->msg_done && c->in.len == 0) && pp->out.len < OUT_HOLD &&
	    pp->cout >= 0)
		return 0;
	end = gg_cgi_head_end(pp->out.p + pp->out.off, pp->out.len);
	if (end == 0) {
		if (pp->cout >= 0 && pp->out.len < OUT_HOLD)
			return 0;
		gg_log("%s: http-backend gave no response head", c->peer);
		respond(c, 502, "bb-gitgate: git http-backend failed\n");
		return -1;
	}
	head = gg_cgi_http_head(pp->out.p + pp->out.off, end, &st);
	if (!head) {
		respond(c, 502, "bb-gitgate: git http-backend failed\n");
		return -1;
	}
	c->status = st;
	if (buf_add(&nb, head, strlen(head)) < 0 ||
	    buf_add(&nb, pp->out.p + pp->out.off + end, pp->out.len - end) < 0) {
		free(head);
		free(nb.p);
		return -1;
	}
	free(head);
	free(pp->out.p);
	pp->out = nb;
	pp->committed = 1;
	return 0;
}

static int pump_client_in(struct conn *c, struct pump *pp)
{
	char chunk[65536];
	ssize_t r = read(c->fd, chunk, sizeof(chunk));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		gg_log("%s: client went away mid-request", c->peer);
		return -1;
	}
	http_parser_execute(&c->p, &c->s, chunk, (size_t)r);
	if (c->too_large) {
		if (!pp->committed)
			respondf(c, 413,
				 "bb-gitgate: request body larger than %llu "
				 "bytes (--max-body)\n",
				 c->cfg->max_body);
		return -1;
	}
	if (c->bad || HTTP_PARSER_ERRNO(&c->p) != HPE_OK) {
		if (!pp->committed)
			respond(c, 400, "bb-gitgate: bad request body\n");
		return -1;
	}
	return 0;
}

static int pump_cgi_in(struct conn *c, struct pump *pp)
{
	ssize_t w = write(pp->cin, c->in.p + c->in.off, c->in.len);

	if (w < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (w < 0) {
		/* It stopped reading; its answer says why. */
		c->discard = 1;
		buf_drop(&c->in, c->in.len);
		close_fd(&pp->cin);
		return 0;
	}
	buf_drop(&c->in, (size_t)w);
	return 0;
}

static int pump_cgi_out(struct conn *c, struct pump *pp)
{
	char chunk[65536];
	ssize_t r = read(pp->cout, chunk, sizeof(chunk));

	if (r < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (r <= 0) {
		close_fd(&pp->cout);
		return 0;
	}
	return buf_add(&pp->out, chunk, (size_t)r);
}

static int pump_client_out(struct conn *c, struct pump *pp)
{
	ssize_t w = write(c->fd, pp->out.p + pp->out.off, pp->out.len);

	if (w < 0 && (errno == EINTR || errno == EAGAIN))
		return 0;
	if (w < 0)
		return -1;
	c->out_bytes += (size_t)w;
	buf_drop(&pp->out, (size_t)w);
	return 0;
}

static void pump(struct conn *c, struct pump *pp)
{
	for (;;) {
		struct pollfd pf[3];
		int rc = 0, n;

		if (c->msg_done && c->in.len == 0)
			close_fd(&pp->cin);
		if (maybe_commit(c, pp) < 0)
			break;
		if (pp->cout < 0 && pp->committed && pp->out.len == 0)
			return;
		pf[0] = (struct pollfd){.fd = c->fd, .events = 0};
		if (!c->msg_done && c->in.len < IN_HIGH)
			pf[0].events |= POLLIN;
		if (pp->committed && pp->out.len)
			pf[0].events |= POLLOUT;
		pf[1] = (struct pollfd){.fd = c->in.len ? pp->cin : -1,
					.events = POLLOUT};
		pf[2] = (struct pollfd){
			.fd = (pp->out.len < (pp->committed ? IN_HIGH : OUT_HOLD))
				      ? pp->cout
				      : -1,
			.events = POLLIN};
		if (!pf[0].events)
			pf[0].fd = -1;
		n = poll(pf, 3, c->cfg->timeout * 1000);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			gg_log("%s: %s %s: idle for %d s; giving up", c->peer,
			       http_method_str((enum http_method)c->p.method),
			       c->url, c->cfg->timeout);
			if (!pp->committed)
				respond(c, c->msg_done ? 504 : 408,
					"bb-gitgate: timed out\n");
			break;
		}
		if (pf[2].fd >= 0 && pf[2].revents)
			rc = pump_cgi_out(c, pp);
		if (rc == 0 && pf[1].fd >= 0 && pf[1].revents)
			rc = pump_cgi_in(c, pp);
		if (rc == 0 && pf[0].fd >= 0 && (pf[0].revents & POLLOUT))
			rc = pump_client_out(c, pp);
		if (rc == 0 && pf[0].fd >= 0 &&
		    (pf[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !c->msg_done)
			rc = pump_client_in(c, pp);
		if (rc < 0)
			break;
	}
	pp->aborted = 1;
}

static void run_cgi(struct conn *c, const struct gg_route *rt)
{
	const char *argv[] = {"git", "http-backend", NULL};
	int pin[2], pout[2];
	struct pump pp = {-1, -1, -1, {0}, 0, 0};
	struct gg_env env;
	struct bb_err err = {0};

	if (cgi_env(c, rt, &env) < 0 || pipe2(pin, O_CLOEXEC) < 0) {
		gg_env_free(&env);
		respond(c, 500, "bb-gitgate: internal error\n");
		return;
	}
	if (pipe2(pout, O_CLOEXEC) < 0) {
		close(pin[0]);
		close(pin[1]);
		gg_env_free(&env);
		respond(c, 500, "bb-gitgate: internal error\n");
		return;
	}
	/* The CGI's stderr is the gate's log; hook output reaches the client
	 * through receive-pack's sideband, not through this. */
	pp.pid = gg_spawn(argv, &env, pin[0], pout[1], 2, &err);
	gg_env_free(&env);
	close(pin[0]);
	close(pout[1]);
	pp.cin = pin[1];
	pp.cout = pout[0];
	if (pp.pid < 0) {
		close_fd(&pp.cin);
		close_fd(&pp.cout);
		bb_report(&err);
		respond(c, 500, "bb-gitgate: could not run git http-backend\n");
		return;
	}
	fcntl(pp.cin, F_SETFL, O_NONBLOCK);
	fcntl(pp.cout, F_SETFL, O_NONBLOCK);
	fcntl(c->fd, F_SETFL, O_NONBLOCK);
	if (c->expect100 && !c->msg_done)
		write_all(c->fd, "HTTP/1.1 100 Continue\r\n\r\n", 25,
			  c->cfg->timeout);
	pump(c, &pp);
	close_fd(&pp.cin);
	close_fd(&pp.cout);
	if (pp.aborted)
		kill(-pp.pid, SIGKILL);
	gg_wait(pp.pid, pp.aborted ? 0 : c->cfg->timeout, NULL);
	free(pp.out.p);
}

/* --- the request ----------------------------------------------------------- */

/* Refresh before git reads the mirror: every advertisement, and an RPC
 * unless its advertisement refreshed within rpc_fresh seconds. */
static int refresh(struct conn *c, const struct gg_route *rt,
		   const struct gg_repo *repo)
{
	char msg[MSG_MAX];
	struct bb_err err = {0};
	int age = rt->kind == GG_RPC ? c->cfg->rpc_fresh : 0;

	if (rt->kind == GG_RPC && rt->service == GG_SVC_RECEIVE)
		return 0; /* the pushed commits are checked by the hook */
	if (gg_mirror_refresh(c->cfg->state, repo, age, msg, sizeof(msg),
			      &err) == 0)
		return 0;
	gg_log("%s: %s: refusing %s: %s: %s", c->peer, repo->name,
	       gg_service_name(rt->service), err.where, err.what);
	respond(c, repo->host_key[0] ? 502 : 403, msg);
	return -1;
}

static void serve_request(struct conn *c)
{
	struct gg_route rt;
	const struct gg_repo *repo;

	if (c->bad) {
		respondf(c, c->bad, "bb-gitgate: %s\n",
			 c->bad == 414 ? "request target too long"
				       : "request head too large");
		return;
	}
	gg_route_parse(http_method_str((enum http_method)c->p.method), c->url,
		       c->url_len, &rt);
	if (rt.status) {
		respondf(c, rt.status, "bb-gitgate: %s\n", rt.why);
		return;
	}
	repo = gg_plan_repo(c->cfg->plan, rt.name);
	if (!repo) {
		respondf(c, 404, "bb-gitgate: no repository '%s' on this gate\n",
			 rt.name);
		return;
	}
	if (c->too_large) {
		respondf(c, 413,
			 "bb-gitgate: request body larger than %llu bytes "
			 "(--max-body)\n",
			 c->cfg->max_body);
		return;
	}
	if (refresh(c, &rt, repo) < 0)
		return;
	c->status = 200;
	run_cgi(c, &rt);
}

void gg_conn_serve(const struct gg_serve_cfg *cfg, int fd, const char *peer)
{
	struct conn *c = calloc(1, sizeof(*c));

	if (!c) {
		close(fd);
		return;
	}
	c->cfg = cfg;
	c->fd = fd;
	c->peer = peer;
	http_parser_init(&c->p, HTTP_REQUEST);
	c->p.data = c;
	http_parser_settings_init(&c->s);
	c->s.on_url = on_url;
	c->s.on_header_field = on_field;
	c->s.on_header_value = on_value;
	c->s.on_headers_complete = on_headers;
	c->s.on_body = on_body;
	c->s.on_message_complete = on_complete;
	if (read_head(c) == 0)
		serve_request(c);
	if (c->head_done) {
		char target[256];
		size_t n = c->url_len < 200 ? c->url_len : 200;

		memcpy(target, c->url, n);
		target[n] = '\0';
		gg_log("%s \"%s %s\" %d in=%llu out=%llu", peer,
		       http_method_str((enum http_method)c->p.method), target,
		       c->status, c->body_bytes, c->out_bytes);
	}
	if (!c->msg_done && !c->lingered)
		linger_close(c);
	close(fd);
	free(c->in.p);
	free(c);
}
