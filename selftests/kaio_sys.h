/* SPDX-License-Identifier: GPL-2.0 */
/*
 * System helpers shared by kaio's selftests: small sysfs, procfs, cgroupfs
 * and debugfs files, the monotonic clock, children waited for with a
 * deadline, socket pairs, the kernel's memory (slab caches, /proc/meminfo),
 * the module's counters and parameters, and a receiver thread that checks
 * a stream against the pattern.
 */
#ifndef KAIO_SYS_H
#define KAIO_SYS_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kaio_test.h"

#define SEC		1000000000ll	/* nanoseconds in a second */
#define MS		1000000ll	/* nanoseconds in a millisecond */
#define NOBODY		65534
#define KAIO_PARAMS	"/sys/module/kaio/parameters/"

/* $kaiostress from the kernel command line (init's environment), or 0. */
static inline int stress_level(void)
{
	const char *s = getenv("kaiostress");

	return s && *s ? atoi(s) : 0;
}

/* CLOCK_MONOTONIC in nanoseconds. */
static inline int64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * SEC + ts.tv_nsec;
}

/* CLOCK_MONOTONIC in milliseconds. */
static inline long long now_ms(void)
{
	return now_ns() / MS;
}

/*
 * Reads the small file @path (sysfs, procfs, cgroupfs, debugfs) into @buf,
 * at most @size - 1 bytes, NUL-terminated and without its trailing
 * newlines and spaces. Returns 0, -errno if it cannot be opened, or -EIO
 * if a read fails.
 */
static inline int read_str(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n, r;

	if (fd < 0)
		return -errno;
	for (n = 0; n < (ssize_t)size - 1; n += r) {
		r = read(fd, buf + n, size - 1 - n);
		if (r < 0) {
			close(fd);
			return -EIO;
		}
		if (r == 0)
			break;
	}
	close(fd);
	buf[n] = 0;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = 0;
	return 0;
}

/*
 * Writes the string @val to @path in one write. Returns 0, -errno if the
 * open or the write fails (errno is left set), or -EIO if it is short.
 */
static inline int write_str(const char *path, const char *val)
{
	size_t len = strlen(val);
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	ssize_t n;
	int ret;

	if (fd < 0)
		return -errno;
	n = write(fd, val, len);
	ret = n == (ssize_t)len ? 0 : n < 0 ? -errno : -EIO;
	close(fd);
	return ret;
}

/* The number in the small file @path, or -1 if it cannot be read. */
static inline long long read_ll(const char *path)
{
	char buf[64];

	return read_str(path, buf, sizeof(buf)) ? -1 : atoll(buf);
}

/* Reads kaio's module parameter @name as read_str() does. */
static inline int read_param(const char *name, char *buf, size_t size)
{
	char path[128];

	snprintf(path, sizeof(path), KAIO_PARAMS "%s", name);
	return read_str(path, buf, size);
}

/* Sets kaio's module parameter @name to @val as write_str() does. */
static inline int write_param(const char *name, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), KAIO_PARAMS "%s", name);
	return write_str(path, val);
}

/* Field @key of /proc/meminfo in kB, or -1. */
static inline long meminfo_kb(const char *key)
{
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");
	size_t kl = strlen(key);
	long v = -1;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (!strncmp(line, key, kl) && line[kl] == ':') {
			v = atol(line + kl + 1);
			break;
		}
	}
	fclose(f);
	return v;
}

/*
 * Shrinks every slab cache, best effort: frees empty slabs and, on a KASAN
 * kernel, flushes the quarantine of freed objects (up to RAM/32), which
 * would otherwise read as memory still in use.
 */
static inline void slab_shrink_all(void)
{
	DIR *d = opendir("/sys/kernel/slab");
	struct dirent *de;
	char path[320];

	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' || strlen(de->d_name) > 250)
			continue;
		snprintf(path, sizeof(path), "/sys/kernel/slab/%.250s/shrink", de->d_name);
		write_str(path, "1");
	}
	closedir(d);
}

/* Raises RLIMIT_NOFILE to at least @n (the hard limit too if need be). */
static inline int raise_nofile(rlim_t n)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl))
		return -1;
	if (rl.rlim_cur >= n)
		return 0;
	rl.rlim_cur = n;
	if (rl.rlim_max < n)
		rl.rlim_max = n;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

/* Drops supplementary groups, then gid and uid, to nobody's: 0 or -1. */
static inline int become_nobody(void)
{
	if (setgroups(0, NULL) || setgid(NOBODY) || setuid(NOBODY))
		return -1;
	return getuid() == NOBODY && geteuid() == NOBODY ? 0 : -1;
}

/*
 * waitpid(@pid, @status, 0) for at most @ms: polls every 2 ms, and once
 * more at the deadline. Returns @pid once it is reaped, 0 if it has not
 * ended by the deadline, or -1 if it cannot be waited for.
 */
static inline pid_t waitpid_within(pid_t pid, int *status, int ms)
{
	int64_t end = now_ns() + ms * MS;

	for (;;) {
		pid_t r = waitpid(pid, status, WNOHANG);
		int64_t left;

		if (r != 0)
			return r;
		left = end - now_ns();
		if (left <= 0)
			return 0;
		usleep(left < 2 * MS ? left / 1000 : 2000);
	}
}

/* Prints the state, wchan and kernel stack of every task of @pid. */
static inline void dump_tasks(pid_t pid)
{
	char path[96], buf[4096];
	struct dirent *de;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%d/task", pid);
	d = opendir(path);
	if (!d) {
		fprintf(stderr, "# pid %d: no /proc entry\n", pid);
		return;
	}
	while ((de = readdir(d))) {
		int tid = atoi(de->d_name);
		char *p;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stat", pid, tid);
		if (read_str(path, buf, sizeof(buf)))
			buf[0] = 0;
		p = strrchr(buf, ')');
		fprintf(stderr, "# task %d/%d: state %c", pid, tid, p && p[1] ? p[2] : '?');
		snprintf(path, sizeof(path), "/proc/%d/task/%d/wchan", pid, tid);
		if (read_str(path, buf, sizeof(buf)))
			buf[0] = 0;
		fprintf(stderr, ", wchan %s\n", buf[0] ? buf : "?");
		snprintf(path, sizeof(path), "/proc/%d/task/%d/stack", pid, tid);
		if (read_str(path, buf, sizeof(buf)))
			buf[0] = 0;
		for (p = strtok(buf, "\n"); p; p = strtok(NULL, "\n"))
			fprintf(stderr, "#   %s\n", p);
	}
	closedir(d);
}

/* Waits up to @ms for one byte on @fd; returns it, or -1. */
static inline int byte_within(int fd, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	char c;

	if (poll(&p, 1, ms) != 1 || read(fd, &c, 1) != 1)
		return -1;
	return (unsigned char)c;
}

/* A connected TCP pair over loopback: @a is kaio's side, @b the peer's. */
static inline int tcp_pair(int *a, int *b)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	socklen_t len = sizeof(sin);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (l < 0 || bind(l, (void *)&sin, sizeof(sin)) || listen(l, 1) ||
	    getsockname(l, (void *)&sin, &len))
		return -1;
	*a = socket(AF_INET, SOCK_STREAM, 0);
	if (*a < 0 || connect(*a, (void *)&sin, sizeof(sin)))
		return -1;
	*b = accept(l, NULL, NULL);
	close(l);
	return *b < 0 ? -1 : 0;
}

/* Reads up to @len bytes from @fd within @ms in all; returns bytes read. */
static inline size_t read_all_within(int fd, void *buf, size_t len, int ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	long long end = now_ms() + ms;
	size_t got = 0;

	while (got < len) {
		long long left = end - now_ms();
		ssize_t n;

		if (left <= 0 || poll(&p, 1, (int)left) != 1)
			break;
		n = read(fd, (char *)buf + got, len - got);
		if (n <= 0)
			break;
		got += n;
	}
	return got;
}

/* Creates (or truncates) @path with @text. */
static inline void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd >= 0) {
		if (write(fd, text, strlen(text)) < 0)
			perror(path);
		close(fd);
	}
}

/* A connected unix stream pair: @tx is kaio's side, @rx the reader's. */
static inline int unix_pair(int *tx, int *rx)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
		return -1;
	*tx = sv[0];
	*rx = sv[1];
	return 0;
}

/*
 * Writes @len bytes of @buf to the non-blocking @fd again and again until a
 * write fails (EAGAIN once it is full: errno tells). Returns the bytes
 * written.
 */
static inline size_t fill_fd(int fd, const void *buf, size_t len)
{
	size_t filled = 0;
	ssize_t n;

	while ((n = write(fd, buf, len)) > 0)
		filled += n;
	return filled;
}

/* A zeroed mapping of @size bytes shared with forked children, or NULL. */
static inline void *shared_zalloc(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	memset(p, 0, size);
	return p;
}

/*
 * Polls kaio's counter @name every 10 ms until it reads @want, for at most
 * @ms. Returns the last value read.
 */
static inline long long kaio_stat_wait(const char *name, long long want, int ms)
{
	int64_t end = now_ns() + ms * MS;
	long long v;

	while ((v = kaio_stat(name)) != want && now_ns() < end)
		usleep(10000);
	return v;
}

/* The receiver of a stream: checks each byte against the pattern. */
struct rx {
	int fd;
	uint32_t seed;
	uint64_t off;		/* file offset of the first byte */
	uint64_t got;
	long bad;		/* index of the first wrong byte, or -1 */
	int slow_us;		/* sleep per read */
	size_t chunk;		/* read size, default 64 KiB */
	uint64_t close_after;	/* stop reading after this many bytes */
	uint64_t hist[256];	/* order-independent checksum, if seed == ~0 */
};

/* Thread body: reads @arg's fd to the end of the stream (or close_after). */
static inline void *rx_run(void *arg)
{
	struct rx *r = arg;
	size_t cap = r->chunk ? r->chunk : 1 << 16;
	uint8_t *buf = malloc(cap);
	ssize_t n;

	r->bad = -1;
	while ((n = read(r->fd, buf, cap)) > 0) {
		if (r->seed == ~0u) {
			for (ssize_t i = 0; i < n; i++)
				r->hist[buf[i]]++;
		} else if (r->bad < 0) {
			long b = kaio_pattern_check(buf, n, r->seed, r->off + r->got);

			if (b >= 0)
				r->bad = r->got + b;
		}
		r->got += n;
		if (r->close_after && r->got >= r->close_after)
			break;
		if (r->slow_us)
			usleep(r->slow_us);
	}
	free(buf);
	return NULL;
}

#endif /* KAIO_SYS_H */
