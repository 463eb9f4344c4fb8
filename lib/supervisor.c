#include "supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "file.h"
#include "proc.h"

#define LINE_MAX_LEN 4096
#define BACKOFF_FIRST_MS 100
#define BACKOFF_MAX_MS 5000
/* A daemon that ran this long before dying was not crash-looping. */
#define STABLE_MS 10000

enum state {
	RUNNING,  /* pid > 0 */
	STOPPING, /* restart under way: SIGTERM sent, respawn when reaped */
	WAITING,  /* dead, respawn at deadline (crash backoff) */
	DEAD,     /* dead for good (shutdown, or gave up) */
};

struct child {
	const struct bb_daemon *spec;
	enum state state;
	pid_t pid;          /* > 0 until reaped */
	int out;            /* read end of its stdout+stderr pipe, or -1 */
	int log;            /* where its lines go */
	int restart_wanted; /* recorded request, drained by the loop */
	int killed;         /* SIGKILL sent to this run */
	int crashes;        /* crash restarts in a row */
	int last_code;      /* exit code of its last run */
	char **env;         /* built once: secrets leave our environment */
	int64_t started_ms, deadline_ms;
	size_t linelen;
	char line[LINE_MAX_LEN];
};

struct sv {
	const struct bb_supervisor_opts *o;
	struct child *c;
	size_t n;
	size_t *by_name; /* indexes of c sorted by name */
	int shutting_down;
	int64_t kill_at_ms; /* shutdown: SIGKILL stragglers at this time */
	int devnull;
};

/* Handlers only record and wake the loop: no process work in them. */
static volatile sig_atomic_t got_term, got_int, got_hup, got_usr1, got_usr2;
static int wake_w = -1;

static void on_signal(int sig)
{
	int saved = errno;

	switch (sig) {
	case SIGTERM: got_term = 1; break;
	case SIGINT: got_int = 1; break;
	case SIGHUP: got_hup = 1; break;
	case SIGUSR1: got_usr1 = 1; break;
	case SIGUSR2: got_usr2 = 1; break;
	default: break; /* SIGCHLD: the wake-up is all we need */
	}
	if (wake_w >= 0 && write(wake_w, "", 1) < 0) {
		/* full pipe: the loop is already due to wake */
	}
	errno = saved;
}

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
	char buf[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s: %s\n", bb_progname, buf);
	fflush(stderr);
}

static int install_handlers(int *wake_r, struct bb_err *err)
{
	static const int sigs[] = {SIGTERM, SIGINT,  SIGHUP,
				   SIGUSR1, SIGUSR2, SIGCHLD};
	struct sigaction sa;
	int p[2];

	if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
		return bb_errf(err, NULL, "pipe: %s", strerror(errno));
	*wake_r = p[0];
	wake_w = p[1];
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	return 0;
}

static void restore_handlers(int wake_r)
{
	static const int sigs[] = {SIGTERM, SIGINT,  SIGHUP,
				   SIGUSR1, SIGUSR2, SIGCHLD};

	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		signal(sigs[i], SIG_DFL);
	close(wake_r);
	close(wake_w);
	wake_w = -1;
}

/* ---- output pumps ---- */

/* One write per line, so lines from several daemons sharing a file
 * never interleave mid-line. */
static void emit_line(struct child *c, const char *p, size_t n)
{
	char buf[LINE_MAX_LEN + 64];
	int k = snprintf(buf, sizeof(buf), "%s: ", c->spec->name);

	memcpy(buf + k, p, n);
	buf[k + n] = '\n';
	if (write(c->log, buf, (size_t)k + n + 1) < 0) {
		/* a full disk must not stop the supervisor */
	}
}

static void flush_partial(struct child *c)
{
	if (c->linelen)
		emit_line(c, c->line, c->linelen);
	c->linelen = 0;
}

static void take_bytes(struct child *c, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] == '\n') {
			emit_line(c, c->line, c->linelen);
			c->linelen = 0;
			continue;
		}
		if (c->linelen == sizeof(c->line))
			flush_partial(c);
		c->line[c->linelen++] = p[i];
	}
}

static void close_pump(struct child *c)
{
	if (c->out < 0)
		return;
	close(c->out);
	c->out = -1;
	flush_partial(c);
}

/* Read what is there now; EOF closes the pump. */
static void pump(struct child *c)
{
	char buf[8192];

	while (c->out >= 0) {
		ssize_t r = read(c->out, buf, sizeof(buf));

		if (r > 0) {
			take_bytes(c, buf, (size_t)r);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		if (r == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			close_pump(c);
		return;
	}
}

/* ---- spawning and signalling ---- */

static void report_missing(const char *name, void *ctx)
{
	const struct child *c = ctx;

	say("%s: environment variable %s is not set; not passed",
	    c->spec->name, name);
}

static int spawn_child(struct sv *sv, struct child *c)
{
	struct bb_err err = {0};
	struct bb_spawn_opts so = {0};
	int p[2];
	int rc;

	c->started_ms = bb_now_ms();
	c->killed = 0;
	if (pipe2(p, O_CLOEXEC) < 0) {
		say("cannot start %s: pipe: %s", c->spec->name,
		    strerror(errno));
		return -1;
	}
	so.argv = c->spec->argv;
	so.envp = c->env;
	so.fd_in = sv->devnull;
	so.fd_out = so.fd_err = p[1];
	so.own_pgroup = 1;
	/* Should we be killed outright, the daemons go too. */
	so.pdeathsig = SIGKILL;
	rc = bb_spawn(&so, &c->pid, &err);
	close(p[1]);
	if (rc < 0) {
		close(p[0]);
		c->pid = 0;
		say("cannot start %s: %s: %s", c->spec->name, err.where,
		    err.what);
		return -1;
	}
	fcntl(p[0], F_SETFL, O_NONBLOCK);
	c->out = p[0];
	c->state = RUNNING;
	say("started %s (pid %ld)", c->spec->name, (long)c->pid);
	return 0;
}

/* Each daemon leads its own process group: signal the group so that
 * helpers it forked (git daemon, ssh) go with it.  Only while the leader
 * is unreaped, so the group id cannot have been reused. */
static void signal_child(struct child *c, int sig)
{
	if (c->pid > 0)
		kill(-c->pid, sig);
}

static void begin_shutdown(struct sv *sv, const char *reason)
{
	if (sv->shutting_down)
		return;
	sv->shutting_down = 1;
	sv->kill_at_ms = bb_now_ms() + sv->o->grace_ms;
	say("shutting down (%s); forwarding SIGTERM", reason);
	for (size_t i = 0; i < sv->n; i++) {
		struct child *c = &sv->c[i];

		c->restart_wanted = 0;
		if (c->pid > 0)
			signal_child(c, SIGTERM);
		else
			c->state = DEAD;
	}
}

static void forward_reload(struct sv *sv)
{
	int any = 0;

	for (size_t i = 0; i < sv->n; i++) {
		struct child *c = &sv->c[i];
		int sig = c->spec->reload_signal;

		if (!sig)
			continue;
		any = 1;
		if (c->state != RUNNING || sv->shutting_down) {
			say("reload of %s skipped; it is not running",
			    c->spec->name);
			continue;
		}
		kill(c->pid, sig);
		say("forwarded %s to %s (pid %ld)", bb_signal_name(sig),
		    c->spec->name, (long)c->pid);
	}
	if (!any)
		say("SIGHUP ignored; no daemon has a reload_signal");
}

static void record_restarts(struct sv *sv, int sig)
{
	int any = 0;

	for (size_t i = 0; i < sv->n; i++) {
		struct child *c = &sv->c[i];

		if (c->spec->restart_on != sig)
			continue;
		any = 1;
		if (sv->shutting_down)
			say("restart %s skipped; supervisor is shutting down",
			    c->spec->name);
		else
			c->restart_wanted = 1;
	}
	if (!any)
		say("%s ignored; no daemon restarts on it",
		    bb_signal_name(sig));
}

static void take_signals(struct sv *sv)
{
	if (got_term || got_int) {
		begin_shutdown(sv, got_term ? "SIGTERM" : "SIGINT");
		got_term = got_int = 0;
	}
	if (got_hup) {
		got_hup = 0;
		forward_reload(sv);
	}
	if (got_usr1) {
		got_usr1 = 0;
		record_restarts(sv, SIGUSR1);
	}
	if (got_usr2) {
		got_usr2 = 0;
		record_restarts(sv, SIGUSR2);
	}
}

/* ---- restarts ---- */

static void crashed(struct sv *sv, struct child *c)
{
	int64_t now = bb_now_ms();
	int delay;

	if (now - c->started_ms >= STABLE_MS)
		c->crashes = 0;
	if (c->crashes >= c->spec->max_restarts) {
		c->state = DEAD;
		say("%s will not be restarted (%d restart%s in a row allowed)",
		    c->spec->name, c->spec->max_restarts,
		    c->spec->max_restarts == 1 ? "" : "s");
		return;
	}
	c->crashes++;
	delay = BACKOFF_FIRST_MS << (c->crashes > 6 ? 6 : c->crashes - 1);
	if (delay > BACKOFF_MAX_MS)
		delay = BACKOFF_MAX_MS;
	c->state = WAITING;
	c->deadline_ms = now + delay;
	say("restarting %s in %d ms (restart %d of %d)", c->spec->name,
	    delay, c->crashes, c->spec->max_restarts);
}

static void start_or_crash(struct sv *sv, struct child *c)
{
	if (spawn_child(sv, c) < 0) {
		c->last_code = 127;
		crashed(sv, c);
	}
}

/* Sorted and coalesced: a daemon asked for several times restarts once,
 * and a request while a restart is under way is met by that restart. */
static void drain_restarts(struct sv *sv)
{
	for (size_t k = 0; k < sv->n; k++) {
		struct child *c = &sv->c[sv->by_name[k]];

		if (!c->restart_wanted)
			continue;
		c->restart_wanted = 0;
		switch (c->state) {
		case RUNNING:
			say("restarting %s: sending SIGTERM", c->spec->name);
			signal_child(c, SIGTERM);
			c->state = STOPPING;
			c->deadline_ms = bb_now_ms() + sv->o->grace_ms;
			break;
		case WAITING:
		case DEAD:
			c->crashes = 0;
			start_or_crash(sv, c);
			break;
		case STOPPING:
			break;
		}
	}
}

static void reaped(struct sv *sv, struct child *c, int status)
{
	char what[64];
	pid_t pid = c->pid;

	c->pid = 0;
	c->last_code = bb_status_code(status);
	pump(c);
	close_pump(c);
	/* Leftovers of its group die with it. */
	kill(-pid, SIGKILL);
	bb_status_describe(status, what, sizeof(what));
	if (sv->shutting_down) {
		say("%s (pid %ld) %s", c->spec->name, (long)pid, what);
		c->state = DEAD;
	} else if (c->state == STOPPING) {
		say("%s (pid %ld) %s; starting it again", c->spec->name,
		    (long)pid, what);
		start_or_crash(sv, c);
	} else {
		say("%s (pid %ld) %s unexpectedly", c->spec->name, (long)pid,
		    what);
		crashed(sv, c);
	}
}

static void reap(struct sv *sv)
{
	for (;;) {
		int status;
		pid_t pid = waitpid(-1, &status, WNOHANG);

		if (pid <= 0)
			return;
		for (size_t i = 0; i < sv->n; i++)
			if (sv->c[i].pid == pid) {
				reaped(sv, &sv->c[i], status);
				break;
			}
	}
}

static void kill_child(struct child *c, const char *why)
{
	if (c->pid <= 0 || c->killed)
		return;
	say("%s; sending SIGKILL to %s (pid %ld)", why, c->spec->name,
	    (long)c->pid);
	signal_child(c, SIGKILL);
	c->killed = 1;
}

static void run_timers(struct sv *sv)
{
	int64_t now = bb_now_ms();

	for (size_t i = 0; i < sv->n; i++) {
		struct child *c = &sv->c[i];

		if (sv->shutting_down && now >= sv->kill_at_ms)
			kill_child(c, "grace period over");
		else if (c->state == STOPPING && now >= c->deadline_ms)
			kill_child(c, "restart grace period over");
		else if (c->state == WAITING && !sv->shutting_down &&
			 now >= c->deadline_ms)
			start_or_crash(sv, c);
	}
}

/* Milliseconds until the next timer, or -1. */
static int next_timeout(const struct sv *sv)
{
	int64_t now = bb_now_ms(), best = -1;

	for (size_t i = 0; i < sv->n; i++) {
		const struct child *c = &sv->c[i];
		int64_t at = -1;

		if (c->pid > 0 && !c->killed && sv->shutting_down)
			at = sv->kill_at_ms;
		else if (c->pid > 0 && !c->killed && c->state == STOPPING)
			at = c->deadline_ms;
		else if (c->state == WAITING)
			at = c->deadline_ms;
		if (at >= 0 && (best < 0 || at < best))
			best = at;
	}
	if (best < 0)
		return -1;
	return best <= now ? 0 : (int)(best - now);
}

static int all_dead(const struct sv *sv)
{
	for (size_t i = 0; i < sv->n; i++)
		if (sv->c[i].state != DEAD || sv->c[i].pid > 0)
			return 0;
	return 1;
}

static void wait_events(struct sv *sv, int wake_r)
{
	struct pollfd *pf = calloc(sv->n + 1, sizeof(*pf));
	size_t n = 1;
	char buf[64];

	if (!pf) {
		poll(NULL, 0, 50); /* degrade to polling; never busy-loop */
		return;
	}
	pf[0].fd = wake_r;
	pf[0].events = POLLIN;
	for (size_t i = 0; i < sv->n; i++)
		if (sv->c[i].out >= 0) {
			pf[n].fd = sv->c[i].out;
			pf[n++].events = POLLIN;
		}
	if (poll(pf, n, next_timeout(sv)) > 0) {
		while (read(wake_r, buf, sizeof(buf)) > 0)
			;
		for (size_t i = 0; i < sv->n; i++)
			if (sv->c[i].out >= 0)
				pump(&sv->c[i]);
	}
	free(pf);
}

static int exit_code(const struct sv *sv)
{
	int code = 0;

	for (size_t i = 0; i < sv->n; i++)
		if (sv->c[i].last_code > code)
			code = sv->c[i].last_code;
	return code;
}

static void loop(struct sv *sv, int wake_r)
{
	for (;;) {
		take_signals(sv);
		drain_restarts(sv);
		reap(sv);
		run_timers(sv);
		if (all_dead(sv))
			return;
		wait_events(sv, wake_r);
	}
}

/* ---- set-up ---- */

static int open_log(const struct bb_supervisor_opts *o, const char *name,
		    struct bb_err *err)
{
	char path[4096];
	int fd;

	if (!o->logdir) {
		fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
		return fd >= 0 ? fd
			       : bb_errf(err, NULL, "dup: %s", strerror(errno));
	}
	snprintf(path, sizeof(path), "%s/%s.log", o->logdir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (fd < 0)
		return bb_errf(err, path, "cannot open: %s", strerror(errno));
	return fd;
}

static const struct child *sort_base;

static int by_name_cmp(const void *a, const void *b)
{
	return strcmp(sort_base[*(const size_t *)a].spec->name,
		      sort_base[*(const size_t *)b].spec->name);
}

static int sv_init(struct sv *sv, const struct bb_daemons *ds,
		   const struct bb_supervisor_opts *o, struct bb_err *err)
{
	memset(sv, 0, sizeof(*sv));
	sv->o = o;
	sv->devnull = -1;
	sv->c = calloc(ds->n, sizeof(*sv->c));
	sv->by_name = calloc(ds->n, sizeof(*sv->by_name));
	if (!sv->c || !sv->by_name)
		return bb_errf(err, NULL, "out of memory");
	for (size_t i = 0; i < ds->n; i++) {
		sv->c[i].spec = &ds->d[i];
		sv->c[i].out = sv->c[i].log = -1;
		sv->c[i].state = DEAD;
		sv->by_name[i] = i;
	}
	sv->n = ds->n;
	sort_base = sv->c;
	qsort(sv->by_name, sv->n, sizeof(*sv->by_name), by_name_cmp);
	sv->devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (sv->devnull < 0)
		return bb_errf(err, "/dev/null", "cannot open: %s",
			       strerror(errno));
	for (size_t i = 0; i < sv->n; i++) {
		sv->c[i].log = open_log(o, ds->d[i].name, err);
		if (sv->c[i].log < 0)
			return -1;
		sv->c[i].env = bb_env_build(ds->d[i].env, report_missing,
					    &sv->c[i]);
		if (!sv->c[i].env)
			return bb_errf(err, NULL, "out of memory");
	}
	/* Every child's copy is made: token slots need not stay where
	 * /proc/PID/environ shows them. */
	bb_env_scrub("EGRESS_TOKEN_");
	return 0;
}

/* The copies hold secrets: wipe them before freeing. */
static void free_env(char **env)
{
	for (char **e = env; e && *e; e++)
		explicit_bzero(*e, strlen(*e));
	bb_env_free(env);
}

static void sv_free(struct sv *sv)
{
	for (size_t i = 0; sv->c && i < sv->n; i++) {
		close_pump(&sv->c[i]);
		if (sv->c[i].log >= 0)
			close(sv->c[i].log);
		free_env(sv->c[i].env);
	}
	if (sv->devnull >= 0)
		close(sv->devnull);
	free(sv->c);
	free(sv->by_name);
}

static int write_pidfile(const char *path, struct bb_err *err)
{
	char buf[32];
	int n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());

	return bb_write_file_atomic(path, buf, (size_t)n, 0644, err);
}

/* Only our own pid: a newer supervisor may have taken the file over. */
static void remove_pidfile(const char *path)
{
	char *buf = NULL;
	char mine[32];

	snprintf(mine, sizeof(mine), "%ld\n", (long)getpid());
	if (bb_read_file(path, 64, &buf, NULL, NULL) == 0 &&
	    strcmp(buf, mine) == 0)
		unlink(path);
	free(buf);
}

static int start_all(struct sv *sv, struct bb_err *err)
{
	for (size_t i = 0; i < sv->n; i++) {
		if (spawn_child(sv, &sv->c[i]) < 0)
			return bb_errf(err, sv->c[i].spec->name,
				       "could not be started");
	}
	if (sv->o->pidfile && write_pidfile(sv->o->pidfile, err) < 0)
		return -1;
	return 0;
}

int bb_supervisor_run(const struct bb_daemons *ds,
		      const struct bb_supervisor_opts *o, struct bb_err *err)
{
	struct sv sv;
	int wake_r = -1, rc = -1;

	got_term = got_int = got_hup = got_usr1 = got_usr2 = 0;
	if (sv_init(&sv, ds, o, err) == 0 && install_handlers(&wake_r, err) == 0) {
		rc = start_all(&sv, err);
		if (rc < 0)
			begin_shutdown(&sv, "start-up failed");
		loop(&sv, wake_r);
		if (rc == 0) {
			rc = exit_code(&sv);
			say("all daemons have exited; exit status %d", rc);
		}
		if (o->pidfile)
			remove_pidfile(o->pidfile);
		restore_handlers(wake_r);
	}
	sv_free(&sv);
	return rc;
}
