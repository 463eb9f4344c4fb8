#include "relay.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <event2/listener.h>

/* Stop reading one side while the other has this much unsent. */
#define RELAY_HIGH (256 * 1024)

int bb_relay_parse(const char *spec, struct bb_relay *r, struct bb_err *err)
{
	char *end;
	long port = strtol(spec, &end, 10);

	if (end == spec || *end != ':' || port < 1 || port > 65535)
		return bb_errf(err, spec, "expected PORT:SOCKET with PORT 1-65535");
	if (end[1] != '/' || strlen(end + 1) >= sizeof(r->sock))
		return bb_errf(err, spec, "SOCKET must be an absolute path shorter than %zu bytes",
			       sizeof(r->sock));
	r->port = (int)port;
	snprintf(r->sock, sizeof(r->sock), "%s", end + 1);
	r->fd = -1;
	return 0;
}

int bb_relay_bind(struct bb_relay *r, struct bb_err *err)
{
	struct sockaddr_in sin = {0};
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	if (fd < 0)
		return bb_errf(err, "relay", "socket: %s", strerror(errno));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)r->port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
	    listen(fd, 128) < 0) {
		int e = errno;

		close(fd);
		return bb_errf(err, "relay", "127.0.0.1:%d: %s", r->port,
			       strerror(e));
	}
	r->fd = fd;
	return 0;
}

struct pair {
	struct bufferevent *a, *b;
	int eof_a, eof_b; /* that side sent EOF: its peer's write is shut */
};

static struct bufferevent *other(struct pair *p, struct bufferevent *bev)
{
	return bev == p->a ? p->b : p->a;
}

static void pair_free(struct pair *p)
{
	bufferevent_free(p->a);
	bufferevent_free(p->b);
	free(p);
}

static int *eof_of(struct pair *p, struct bufferevent *bev)
{
	return bev == p->a ? &p->eof_a : &p->eof_b;
}

static size_t unsent(struct bufferevent *bev)
{
	return evbuffer_get_length(bufferevent_get_output(bev));
}

/* Half-close: once a side's EOF has been delivered, shut the peer's
 * write direction, so request/response protocols that close their
 * sending side (socat, git) still get their answer. */
static void settle(struct pair *p)
{
	if (p->eof_a && unsent(p->b) == 0)
		shutdown(bufferevent_getfd(p->b), SHUT_WR);
	if (p->eof_b && unsent(p->a) == 0)
		shutdown(bufferevent_getfd(p->a), SHUT_WR);
	if (p->eof_a && p->eof_b && unsent(p->a) == 0 && unsent(p->b) == 0)
		pair_free(p);
}

static void on_read(struct bufferevent *bev, void *arg)
{
	struct pair *p = arg;
	struct bufferevent *to = other(p, bev);

	bufferevent_write_buffer(to, bufferevent_get_input(bev));
	if (unsent(to) >= RELAY_HIGH)
		bufferevent_disable(bev, EV_READ);
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct pair *p = arg;
	struct bufferevent *from = other(p, bev);

	if (p->eof_a || p->eof_b) {
		settle(p);
		return;
	}
	bufferevent_enable(from, EV_READ);
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	struct pair *p = arg;
	struct bufferevent *to = other(p, bev);

	if (what & BEV_EVENT_CONNECTED) {
		bufferevent_enable(p->a, EV_READ | EV_WRITE);
		return;
	}
	if (what & BEV_EVENT_ERROR) {
		/* A reset or failed connect: nothing more can be delivered. */
		pair_free(p);
		return;
	}
	if (!(what & BEV_EVENT_EOF))
		return;
	bufferevent_write_buffer(to, bufferevent_get_input(bev));
	bufferevent_disable(bev, EV_READ);
	*eof_of(p, bev) = 1;
	if (unsent(to))
		bufferevent_enable(to, EV_WRITE);
	settle(p);
}

static void on_accept(struct evconnlistener *l, evutil_socket_t fd,
		      struct sockaddr *sa, int salen, void *arg)
{
	const struct bb_relay *r = arg;
	struct event_base *base = evconnlistener_get_base(l);
	struct sockaddr_un sun = {0};
	struct pair *p = calloc(1, sizeof(*p));

	if (!p) {
		close(fd);
		return;
	}
	p->a = bufferevent_socket_new(base, fd, BEV_OPT_CLOSE_ON_FREE);
	p->b = bufferevent_socket_new(base, -1, BEV_OPT_CLOSE_ON_FREE);
	if (!p->a || !p->b) {
		if (p->a)
			bufferevent_free(p->a);
		else
			close(fd);
		if (p->b)
			bufferevent_free(p->b);
		free(p);
		return;
	}
	bufferevent_setcb(p->a, on_read, on_write, on_event, p);
	bufferevent_setcb(p->b, on_read, on_write, on_event, p);
	bufferevent_enable(p->b, EV_READ | EV_WRITE);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, r->sock, strlen(r->sock));
	/* The client side waits until the sidecar accepts. */
	if (bufferevent_socket_connect(p->b, (struct sockaddr *)&sun,
				       sizeof(sun)) < 0)
		pair_free(p);
}

int bb_relay_serve(struct bb_relay *rs, int n, struct bb_err *err)
{
	struct event_base *base = event_base_new();
	struct evconnlistener **ls = calloc((size_t)n, sizeof(*ls));
	int rc = 0;

	if (!base || !ls) {
		free(ls);
		if (base)
			event_base_free(base);
		return bb_errf(err, "relay", "out of memory");
	}
	for (int i = 0; i < n; i++) {
		ls[i] = evconnlistener_new(base, on_accept, &rs[i],
					   LEV_OPT_CLOSE_ON_FREE, -1, rs[i].fd);
		if (!ls[i]) {
			rc = bb_errf(err, "relay", "listener %d failed", rs[i].port);
			break;
		}
	}
	if (rc == 0)
		event_base_dispatch(base);
	for (int i = 0; i < n; i++)
		if (ls[i])
			evconnlistener_free(ls[i]);
	free(ls);
	event_base_free(base);
	return rc;
}
