#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int bb_read_fd(int fd, const char *label, size_t max, char **out,
	       size_t *len, struct bb_err *err)
{
	size_t cap = 4096, n = 0;
	char *buf = malloc(cap + 1);

	if (!buf)
		return bb_errf(err, label, "out of memory");
	for (;;) {
		ssize_t r;

		if (n == cap) {
			char *nb;

			if (cap >= max) {
				free(buf);
				return bb_errf(err, label,
					       "larger than %zu bytes", max);
			}
			cap = cap * 2 > max ? max : cap * 2;
			nb = realloc(buf, cap + 1);
			if (!nb) {
				free(buf);
				return bb_errf(err, label, "out of memory");
			}
			buf = nb;
		}
		r = read(fd, buf + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			int e = errno;

			free(buf);
			return bb_errf(err, label, "could not read: %s",
				       strerror(e));
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	buf[n] = '\0';
	*out = buf;
	if (len)
		*len = n;
	return 0;
}

int bb_read_file(const char *path, size_t max, char **out, size_t *len,
		 struct bb_err *err)
{
	int fd, rc;

	if (strcmp(path, "-") == 0)
		return bb_read_fd(0, "<stdin>", max, out, len, err);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return bb_errf(err, path, "could not read: %s",
			       strerror(errno));
	rc = bb_read_fd(fd, path, max, out, len, err);
	close(fd);
	return rc;
}

static int write_all(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t w = write(fd, p, len);

		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return -1;
		p += w;
		len -= (size_t)w;
	}
	return 0;
}

int bb_write_file_atomic(const char *path, const void *data, size_t len,
			 mode_t mode, struct bb_err *err)
{
	size_t plen = strlen(path);
	char *tmp = malloc(plen + sizeof(".tmp.XXXXXX"));
	int fd, e;

	if (!tmp)
		return bb_errf(err, path, "out of memory");
	memcpy(tmp, path, plen);
	memcpy(tmp + plen, ".tmp.XXXXXX", sizeof(".tmp.XXXXXX"));
	fd = mkstemp(tmp); /* created 0600: never wider than asked */
	if (fd < 0) {
		e = errno;
		free(tmp);
		return bb_errf(err, path, "could not create: %s",
			       strerror(e));
	}
	if (write_all(fd, data, len) < 0 || fchmod(fd, mode) < 0 ||
	    fsync(fd) < 0) {
		e = errno;
		close(fd);
		unlink(tmp);
		free(tmp);
		return bb_errf(err, path, "could not write: %s",
			       strerror(e));
	}
	if (close(fd) < 0 || rename(tmp, path) < 0) {
		e = errno;
		unlink(tmp);
		free(tmp);
		return bb_errf(err, path, "could not write: %s",
			       strerror(e));
	}
	free(tmp);
	return 0;
}

int bb_mkdir_p(const char *path, mode_t mode, struct bb_err *err)
{
	char *p = strdup(path), *s;

	if (!p)
		return bb_errf(err, path, "out of memory");
	for (s = p + 1;; s++) {
		if (*s != '/' && *s != '\0')
			continue;
		char c = *s;

		*s = '\0';
		if (mkdir(p, mode) < 0 && errno != EEXIST) {
			int e = errno;

			free(p);
			return bb_errf(err, path, "could not create: %s",
				       strerror(e));
		}
		*s = c;
		if (c == '\0')
			break;
	}
	free(p);
	return 0;
}

int bb_private_dir(const char *path, struct bb_err *err)
{
	struct stat st;

	if (mkdir(path, 0700) < 0 && errno != EEXIST)
		return bb_errf(err, path, "could not create: %s", strerror(errno));
	if (lstat(path, &st) < 0)
		return bb_errf(err, path, "%s", strerror(errno));
	if (!S_ISDIR(st.st_mode) || st.st_uid != geteuid() || (st.st_mode & 022))
		return bb_errf(err, path,
			       "not a private directory of uid %u (%s, owner %u, mode %04o): "
			       "remove it, or set XDG_RUNTIME_DIR",
			       (unsigned)geteuid(), S_ISDIR(st.st_mode) ? "a directory"
			       : S_ISLNK(st.st_mode) ? "a symlink" : "not a directory",
			       (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
	return 0;
}

char *bb_expand_tilde(const char *path)
{
	const char *home = getenv("HOME");
	char *out;

	if (path[0] != '~' || (path[1] != '\0' && path[1] != '/') || !home)
		return strdup(path);
	out = malloc(strlen(home) + strlen(path));
	if (out) {
		strcpy(out, home);
		strcat(out, path + 1);
	}
	return out;
}
