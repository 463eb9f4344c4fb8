#define _GNU_SOURCE
/* egress-load: a small HTTPS load generator for t/bench/egress.sh.
 *
 * wrk cannot send HTTPS through a CONNECT proxy, so this client does what
 * an agent does: (optionally) CONNECT through the proxy, TLS to the host
 * verified against a CA file, then HTTP/1.1 GETs.  -n threads each keep one
 * connection; with -C every request opens a new connection (and a full TLS
 * handshake, no session resumption), and says Connection: close.
 * -r N: each thread makes exactly N requests instead of running -d SECS
 * (for counts that do not depend on the machine's load).
 * Prints "requests errors seconds". */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>

static const char *host, *path = "/", *cafile;
static int port, proxy, nthreads = 16, secs = 5, close_mode;
static long per_thread; /* -r: requests per thread, then stop */
static SSL_CTX *ctx;
static volatile int stop;

struct result {
	long ok, err;
};

static int tcp(int p)
{
	struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(p)};
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		if (fd >= 0)
			close(fd);
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static SSL *open_conn(void)
{
	char buf[4096];
	int fd = tcp(proxy ? proxy : port), n, got = 0;
	SSL *ssl;

	if (fd < 0)
		return NULL;
	if (proxy) {
		n = snprintf(buf, sizeof(buf), "CONNECT %s:%d HTTP/1.1\r\nHost: %s:%d\r\n\r\n",
			     host, port, host, port);
		if (write(fd, buf, n) != n)
			goto fail;
		while (got < (int)sizeof(buf) - 1) {
			if ((n = read(fd, buf + got, 1)) <= 0)
				goto fail;
			got += n;
			buf[got] = 0;
			if (strstr(buf, "\r\n\r\n"))
				break;
		}
		if (strncmp(buf, "HTTP/1.1 200", 12) && strncmp(buf, "HTTP/1.0 200", 12))
			goto fail;
	}
	ssl = SSL_new(ctx);
	SSL_set_tlsext_host_name(ssl, host);
	SSL_set1_host(ssl, host);
	SSL_set_fd(ssl, fd);
	if (SSL_connect(ssl) != 1) {
		SSL_free(ssl);
		goto fail;
	}
	return ssl;
fail:
	close(fd);
	return NULL;
}

static void close_conn(SSL *ssl)
{
	int fd = SSL_get_fd(ssl);

	SSL_free(ssl);
	close(fd);
}

/* One request; 0 when a 200 with its whole body came back. */
static int request(SSL *ssl)
{
	char buf[65536], *end, *cl;
	int n, got = 0;
	long want, body;

	n = snprintf(buf, sizeof(buf), "GET %s HTTP/1.1\r\nHost: %s:%d\r\n%s\r\n", path,
		     host, port, close_mode ? "Connection: close\r\n" : "");
	if (SSL_write(ssl, buf, n) != n)
		return -1;
	for (;;) {
		if ((n = SSL_read(ssl, buf + got, sizeof(buf) - 1 - got)) <= 0)
			return -1;
		got += n;
		buf[got] = 0;
		if ((end = strstr(buf, "\r\n\r\n")))
			break;
		if (got >= (int)sizeof(buf) - 1)
			return -1;
	}
	if (strncmp(buf, "HTTP/1.1 200", 12))
		return -1;
	cl = strcasestr(buf, "\r\ncontent-length:");
	if (!cl || cl > end)
		return -1;
	want = atol(cl + 17);
	body = got - (end + 4 - buf);
	while (body < want) {
		if ((n = SSL_read(ssl, buf, sizeof(buf))) <= 0)
			return -1;
		body += n;
	}
	return 0;
}

static void *worker(void *arg)
{
	struct result *r = arg;
	SSL *ssl = NULL;

	while (!stop && (!per_thread || r->ok + r->err < per_thread)) {
		if (!ssl && !(ssl = open_conn())) {
			r->err++;
			continue;
		}
		if (request(ssl) == 0) {
			r->ok++;
		} else {
			r->err++;
			close_conn(ssl);
			ssl = NULL;
			continue;
		}
		if (close_mode) {
			close_conn(ssl);
			ssl = NULL;
		}
	}
	if (ssl)
		close_conn(ssl);
	return NULL;
}

int main(int argc, char **argv)
{
	int c, i;
	pthread_t *t;
	struct result *r;
	long ok = 0, err = 0;

	while ((c = getopt(argc, argv, "h:P:p:c:n:d:r:C")) != -1) {
		switch (c) {
		case 'h': host = optarg; break;
		case 'P': port = atoi(optarg); break;
		case 'p': proxy = atoi(optarg); break;
		case 'c': cafile = optarg; break;
		case 'n': nthreads = atoi(optarg); break;
		case 'd': secs = atoi(optarg); break;
		case 'r': per_thread = atol(optarg); break;
		case 'C': close_mode = 1; break;
		default: return 2;
		}
	}
	if (optind < argc)
		path = argv[optind];
	if (!host || !port || !cafile) {
		fprintf(stderr, "usage: egress-load -h HOST -P PORT -c CAFILE [-p PROXYPORT] [-n N] [-d SECS | -r REQS] [-C] [PATH]\n");
		return 2;
	}
	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	if (SSL_CTX_load_verify_locations(ctx, cafile, NULL) != 1)
		return 1;
	t = calloc(nthreads, sizeof(*t));
	r = calloc(nthreads, sizeof(*r));
	for (i = 0; i < nthreads; i++)
		pthread_create(&t[i], NULL, worker, &r[i]);
	if (!per_thread) {
		sleep(secs);
		stop = 1;
	}
	for (i = 0; i < nthreads; i++) {
		pthread_join(t[i], NULL);
		ok += r[i].ok;
		err += r[i].err;
	}
	printf("%ld %ld %d\n", ok, err, secs);
	return 0;
}
