// SPDX-License-Identifier: GPL-2.0
/*
 * Identity of charges: what kaio does for a process is charged to that
 * process's cgroup. A child process is moved into a fresh cgroup v2 group
 * (memory and io controllers on) before it opens /dev/kaio; then
 *  - io: its cold OPEN -> SENDFILE(NOCACHE) -> CLOSE of 16 MiB shows up in
 *    the group's io.stat (rbytes for vda), and with io.max rbps=4 MiB/s the
 *    same transfer takes at least 3 s (it is throttled as the group's),
 *    byte-exact both times;
 *  - memory: with memory.max 64 MiB, 256 SENDFILEs parked on full sockets
 *    raise the group's memory.current by at least 1 KiB each (kaio's
 *    per-request memory is charged to the submitter).
 * Without cgroup2 or its memory/io controllers the cases are skipped.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define CG "/sys/fs/cgroup"
#define XFER (16 << 20)
#define NPARK 256

static bool has_word(const char *list, const char *word)
{
	size_t l = strlen(word);

	for (const char *p = list; (p = strstr(p, word)); p += l)
		if ((p == list || p[-1] == ' ') && (p[l] == 0 || p[l] == ' ' || p[l] == '\n'))
			return true;
	return false;
}

/* rbytes of device @dev ("MAJ:MIN") in @group's io.stat, 0 if no line. */
static long long io_rbytes(const char *group, const char *dev)
{
	char path[192], buf[8192], *line, *save;

	snprintf(path, sizeof(path), "%s/io.stat", group);
	if (read_str(path, buf, sizeof(buf)))
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		char *rb;

		if (strncmp(line, dev, strlen(dev)) || line[strlen(dev)] != ' ')
			continue;
		rb = strstr(line, "rbytes=");
		return rb ? atoll(rb + 7) : 0;
	}
	return 0;
}

/* memory.stat's @key of @group, or -1. */
static long long memstat(const char *group, const char *key)
{
	char path[192], buf[8192], *line, *save;
	size_t kl = strlen(key);

	snprintf(path, sizeof(path), "%s/memory.stat", group);
	if (read_str(path, buf, sizeof(buf)))
		return -1;
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (!strncmp(line, key, kl) && line[kl] == ' ')
			return atoll(line + kl + 1);
	return -1;
}

FIXTURE(cg) {
	char dir[128];
	char other[160];
	char dev[32];
	char controllers[256];
	pid_t child;
};

FIXTURE_SETUP(cg)
{
	char path[192], buf[256];

	signal(SIGPIPE, SIG_IGN);
	self->child = 0;
	self->dir[0] = 0;
	self->other[0] = 0;
	if (access(CG "/cgroup.controllers", F_OK)) {
		mkdir(CG, 0755);
		if (mount("cgroup2", CG, "cgroup2", 0, NULL))
			SKIP(return, "cannot mount cgroup2 at %s: %s", CG, strerror(errno));
	}
	ASSERT_EQ(0, read_str(CG "/cgroup.controllers", buf, sizeof(buf)));
	if (!has_word(buf, "memory") && !has_word(buf, "io"))
		SKIP(return, "cgroup2 has neither the memory nor the io controller (\"%s\")", buf);
	/* Enabled for the children of the root; each may already be on. */
	if (has_word(buf, "memory"))
		write_str(CG "/cgroup.subtree_control", "+memory");
	if (has_word(buf, "io"))
		write_str(CG "/cgroup.subtree_control", "+io");
	snprintf(self->dir, sizeof(self->dir), CG "/kaio_test.%d", getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755)) TH_LOG("%s: %s", self->dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/cgroup.controllers", self->dir);
	ASSERT_EQ(0, read_str(path, self->controllers, sizeof(self->controllers)));
	ASSERT_EQ(0, read_str("/sys/block/vda/dev", self->dev, sizeof(self->dev)));
	ASSERT_LE(0, kaio_stat("inflight")) TH_LOG("no %s", KAIO_STATS);
}

FIXTURE_TEARDOWN(cg)
{
	if (self->child > 0) {
		kill(self->child, SIGKILL);
		waitpid(self->child, NULL, 0);
	}
	/* An exited member may take a moment to leave its group. */
	for (int i = 0; self->other[0] && i < 100 && rmdir(self->other) && errno == EBUSY; i++)
		usleep(20000);
	for (int i = 0; self->dir[0] && i < 100 && rmdir(self->dir) && errno == EBUSY; i++)
		usleep(20000);
}

/* What a child reports (shared mapping). */
struct cres {
	int step, err;
	char msg[200];
	long long result, sent, got, elapsed_ns;
	int ev_step;
	long bad;
	int parked;
	long long drained_ok;
};

#define CFAIL(r, n, e, ...) do {					\
		(r)->step = (n);					\
		(r)->err = (e);						\
		snprintf((r)->msg, sizeof((r)->msg), __VA_ARGS__);	\
		_exit(n);						\
	} while (0)

/*
 * Forks a child that waits until the test has moved it into @self->dir,
 * then runs @fn. @c2p/@p2c: pipes for later hand-shakes (may be NULL).
 */
static pid_t fork_in_group(struct __test_metadata *_metadata, const char *dir,
			   void (*fn)(struct cres *, int, int, void *), struct cres *r,
			   void *arg, int *to_child, int *from_child)
{
	int go[2], p2c[2], c2p[2];
	char path[192], pid_s[16];
	pid_t pid;

	if (pipe2(go, O_CLOEXEC) || pipe2(p2c, O_CLOEXEC) || pipe2(c2p, O_CLOEXEC))
		return -1;
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	if (pid < 0)
		return -1;
	if (pid == 0) {
		char c;

		close(go[1]);
		close(p2c[1]);
		close(c2p[0]);
		if (read(go[0], &c, 1) != 1)
			_exit(90);
		fn(r, p2c[0], c2p[1], arg);
		_exit(0);
	}
	close(go[0]);
	close(p2c[0]);
	close(c2p[1]);
	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	snprintf(pid_s, sizeof(pid_s), "%d", pid);
	if (write_str(path, pid_s)) {
		TH_LOG("moving %d into %s: %s", pid, dir, strerror(errno));
		kill(pid, SIGKILL);
		waitpid(pid, NULL, 0);
		return -1;
	}
	if (write(go[1], "g", 1) != 1)
		return -1;
	close(go[1]);
	*to_child = p2c[1];
	*from_child = c2p[0];
	return pid;
}

/* ---- io ---- */

/* In the group: cold OPEN -> SENDFILE(NOCACHE, 16 MiB at *arg) -> CLOSE. */
static void io_child(struct cres *res, int from_parent, int to_parent, void *arg)
{
	int64_t off = *(int64_t *)arg, t0;
	struct rx r = { .seed = 64, .off = off };
	struct kaio_ctx k;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	pthread_t t;
	int tx, n;

	n = kaio_setup(&k, 16);
	if (n)
		CFAIL(res, 1, -n, "kaio_setup");
	if (unix_pair(&tx, &r.fd))
		CFAIL(res, 2, errno, "socketpair");
	if (pthread_create(&t, NULL, rx_run, &r))
		CFAIL(res, 3, 0, "pthread_create");
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, S("p_64m"), O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx, off, XFER)->op_flags = KAIO_SENDFILE_NOCACHE;
	kaio_step_close(&iocb);
	t0 = now_ns();
	n = kaio_submit(&k, &iocb, 1);
	if (n != 1)
		CFAIL(res, 4, n < 0 ? -n : 0, "submit: %d", n);
	n = kaio_wait(&k, &ev, 1, 1, 120 * SEC);
	res->elapsed_ns = now_ns() - t0;
	if (n != 1)
		CFAIL(res, 5, n < 0 ? -n : 0, "no completion within 120 s: %d", n);
	close(tx);
	pthread_join(t, NULL);
	res->result = ev.result;
	res->ev_step = ev.step;
	res->sent = ev.step_result[1];
	res->got = r.got;
	res->bad = r.bad;
	kaio_close(&k);
}

/* Runs io_child in the group; checks the bytes; returns rbytes charged. */
static long long io_run(struct __test_metadata *_metadata, FIXTURE_DATA(cg) *self,
			int64_t off, int64_t *elapsed)
{
	struct cres *r = shared_zalloc(sizeof(*r));
	long long rb0 = io_rbytes(self->dir, self->dev), rb1;
	int to, from, st;

	if (!r)
		return -1;
	kaio_drop_caches("1");
	self->child = fork_in_group(_metadata, self->dir, io_child, r, &off, &to, &from);
	if (self->child < 0)
		return -1;
	if (waitpid_within(self->child, &st, 180000) != self->child) {
		TH_LOG("the child did not finish within 180 s");
		return -1;
	}
	self->child = 0;
	close(to);
	close(from);
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("child status %#x: step %d: %s (%s)", st, r->step, r->msg, strerror(r->err));
	EXPECT_EQ(0, r->result) TH_LOG("step %d", r->ev_step);
	EXPECT_EQ(2, r->ev_step);
	EXPECT_EQ(XFER, r->sent);
	EXPECT_EQ(XFER, r->got);
	EXPECT_EQ(-1, r->bad) TH_LOG("first wrong byte at %ld", r->bad);
	rb1 = io_rbytes(self->dir, self->dev);
	*elapsed = r->elapsed_ns;
	munmap(r, sizeof(*r));
	return rb1 - rb0;
}

TEST_F_TIMEOUT(cg, io_charged_to_group, 240)
{
	int64_t elapsed;
	long long rb;

	if (!has_word(self->controllers, "io"))
		SKIP(return, "no io controller in %s", self->dir);
	rb = io_run(_metadata, self, 0, &elapsed);
	ASSERT_LE(0, rb);
	TH_LOG("16 MiB NOCACHE SENDFILE in %lld ms; the group's io.stat: rbytes +%lld for %s",
	       (long long)(elapsed / MS), rb, self->dev);
	EXPECT_LE(XFER, rb) TH_LOG("the disk reads were not charged to the submitter's group");
}

/* ---- memory ---- */

#define PREFILL_SEED 0x5ca1e

/*
 * In the group: 256 socket pairs, each filled by the child itself, then
 * 256 FD(p_4097) -> SENDFILE that all park at once. Hand-shakes: 'S' when
 * the sockets and the context exist (before), 'P' when the SENDFILEs are
 * parked (with); then it drains every socket and checks every byte.
 */
static void mem_child(struct cres *res, int from_parent, int to_parent, void *arg)
{
	static int tx[NPARK], rx[NPARK];
	static uint16_t pre[NPARK];
	static struct kaio_iocb iocb[NPARK];
	static struct kaio_event ev[NPARK];
	static uint8_t want_pre[8192], want[4097], buf[16384];
	struct kaio_ctx k;
	int sndbuf = 1, n, file, done = 0;

	if (raise_nofile(4 * NPARK + 64))
		CFAIL(res, 1, errno, "RLIMIT_NOFILE");
	for (size_t i = 0; i < sizeof(want_pre); i++)
		want_pre[i] = kaio_pattern(PREFILL_SEED, i);
	for (size_t i = 0; i < sizeof(want); i++)
		want[i] = kaio_pattern(4097, i);
	memset(ev, 0, sizeof(ev));
	memset(buf, 0, sizeof(buf));
	file = open(S("p_4097"), O_RDONLY | O_CLOEXEC);
	if (file < 0 || pread(file, buf, sizeof(buf), 0) != 4097)
		CFAIL(res, 2, errno, "p_4097");
	for (int i = 0; i < NPARK; i++) {
		ssize_t w;

		if (unix_pair(&tx[i], &rx[i]))
			CFAIL(res, 3, errno, "socketpair %d", i);
		setsockopt(tx[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		while ((w = send(tx[i], want_pre + pre[i], sizeof(want_pre) - pre[i],
				 MSG_DONTWAIT)) > 0)
			pre[i] += w;
		if (errno != EAGAIN || !pre[i] || pre[i] >= sizeof(want_pre))
			CFAIL(res, 4, errno, "prefill %d: %u bytes", i, pre[i]);
		kaio_iocb_init(&iocb[i], i);
		kaio_step_fd(&iocb[i], file);
		kaio_step_sendfile(&iocb[i], tx[i], 0, 0);
	}
	n = kaio_setup(&k, 2 * NPARK);
	if (n)
		CFAIL(res, 5, -n, "kaio_setup");
	/*
	 * Start the context's workers (created at the first request of each
	 * lane) before measuring: their stacks are charged too, but they are
	 * not per request.
	 */
	{
		static struct kaio_iocb warm[8];
		static uint8_t wbuf[8][4096];

		for (int i = 0; i < 8; i++) {
			kaio_iocb_init(&warm[i], 1000 + i);
			kaio_step_open(&warm[i], AT_FDCWD, S("p_4096"), O_RDONLY, 0);
			kaio_step_read(&warm[i], wbuf[i], 4096, 0);
			kaio_step_close(&warm[i]);
		}
		if (kaio_submit(&k, warm, 8) != 8 || kaio_wait(&k, ev, 8, 8, 30 * SEC) != 8)
			CFAIL(res, 17, 0, "warm-up requests");
		for (int i = 0; i < 8; i++)
			if (ev[i].result != 0)
				CFAIL(res, 18, 0, "warm-up request: %lld", (long long)ev[i].result);
	}
	if (write(to_parent, "S", 1) != 1 || byte_within(from_parent, 60000) != 'G')
		CFAIL(res, 6, 0, "hand-shake S");
	n = kaio_submit(&k, iocb, NPARK);
	if (n != NPARK)
		CFAIL(res, 7, n < 0 ? -n : 0, "submitted %d of %d", n, NPARK);
	usleep(500000);
	n = kaio_wait(&k, ev, 0, NPARK, 0);
	if (n != 0)
		CFAIL(res, 8, 0, "%d SENDFILEs completed on full sockets (result %lld)", n,
		      (long long)ev[0].result);
	res->parked = NPARK;
	if (write(to_parent, "P", 1) != 1 || byte_within(from_parent, 60000) != 'D')
		CFAIL(res, 9, 0, "hand-shake P");
	/* Drain: every prefix, then every file, byte for byte. */
	for (int i = 0; i < NPARK; i++) {
		size_t got = 0;

		while (got < pre[i]) {
			ssize_t l = recv(rx[i], buf + got, pre[i] - got, 0);

			if (l <= 0)
				CFAIL(res, 10, errno, "socket %d: prefix", i);
			got += l;
		}
		if (memcmp(buf, want_pre, got))
			CFAIL(res, 11, 0, "socket %d: prefix differs", i);
	}
	for (int i = 0; i < NPARK; i++) {
		size_t got = 0;

		while (got < sizeof(want)) {
			struct pollfd p = { .fd = rx[i], .events = POLLIN };
			ssize_t l;

			if (poll(&p, 1, 30000) != 1)
				CFAIL(res, 12, 0, "socket %d: %zu bytes after 30 s", i, got);
			l = recv(rx[i], buf + got, sizeof(buf) - got, MSG_DONTWAIT);
			if (l <= 0)
				CFAIL(res, 13, errno, "socket %d", i);
			got += l;
		}
		if (got != sizeof(want) || memcmp(buf, want, got))
			CFAIL(res, 14, 0, "socket %d: %zu bytes, first wrong at %ld", i, got,
			      kaio_pattern_check(buf, got, 4097, 0));
	}
	while (done < NPARK) {
		n = kaio_wait(&k, ev, 1, NPARK, 30 * SEC);
		if (n <= 0)
			CFAIL(res, 15, n < 0 ? -n : 0, "%d events missing", NPARK - done);
		for (int j = 0; j < n; j++)
			if (ev[j].result != 4097 || ev[j].step != 1)
				CFAIL(res, 16, 0, "request %llu: result %lld at step %u",
				      (unsigned long long)ev[j].user_data, (long long)ev[j].result,
				      ev[j].step);
		done += n;
	}
	res->drained_ok = done;
	kaio_close(&k);
}

/*
 * memcg charges go through per-CPU caches: pages are charged to
 * memory.current 64 at a time ahead of use, and slab bytes a page at a
 * time, so a reading can be off by 256 KiB per CPU. A cache holds one
 * group at a time: a process of another group (@other) that charges pages
 * and slab objects on each CPU returns what ours held. Then memory.current
 * is exact to a page or so per CPU.
 */
static void drain_charge_caches(const char *other)
{
	long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
	char procs[192];

	snprintf(procs, sizeof(procs), "%s/cgroup.procs", other);
	for (int cpu = 0; cpu < ncpu; cpu++) {
		pid_t pid = fork();

		if (pid == 0) {
			cpu_set_t set;
			char *m;
			int sv[2];

			CPU_ZERO(&set);
			CPU_SET(cpu, &set);
			if (sched_setaffinity(0, sizeof(set), &set) || write_str(procs, "0"))
				_exit(1);
			m = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE,
				 MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (m != MAP_FAILED)
				memset(m, 1, 1 << 20);
			for (int i = 0; i < 16; i++)
				if (!socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) {
					close(sv[0]);
					close(sv[1]);
				}
			_exit(0);
		}
		if (pid > 0)
			waitpid(pid, NULL, 0);
	}
}

/* @dir's memory.current, and memory.stat's kernel, after a drain. */
static void mem_sample(const char *dir, const char *other, long long *cur, long long *kernel)
{
	char path[192];

	snprintf(path, sizeof(path), "%s/memory.current", dir);
	drain_charge_caches(other);
	*cur = read_ll(path);
	/* memory.stat is flushed every 2 s. */
	usleep(2100000);
	*kernel = memstat(dir, "kernel");
}

TEST_F_TIMEOUT(cg, memory_charged_to_group, 240)
{
	struct cres *r = shared_zalloc(sizeof(*r));
	char path[192];
	long long m0, m1, k0, k1;
	int to = -1, from = -1, st;

	ASSERT_NE(NULL, r);
	if (!has_word(self->controllers, "memory"))
		SKIP(return, "no memory controller in %s", self->dir);
	snprintf(path, sizeof(path), "%s/memory.max", self->dir);
	ASSERT_EQ(0, write_str(path, "67108864"));
	snprintf(self->other, sizeof(self->other), "%s.drain", self->dir);
	ASSERT_EQ(0, mkdir(self->other, 0755)) TH_LOG("%s: %s", self->other, strerror(errno));
	self->child = fork_in_group(_metadata, self->dir, mem_child, r, NULL, &to, &from);
	ASSERT_LT(0, self->child);
	st = byte_within(from, 60000);
	ASSERT_EQ('S', st) TH_LOG("child: step %d: %s (%s)", r->step, r->msg, strerror(r->err));
	mem_sample(self->dir, self->other, &m0, &k0);
	ASSERT_EQ(1, write(to, "G", 1));
	st = byte_within(from, 60000);
	ASSERT_EQ('P', st) TH_LOG("child: step %d: %s (%s)", r->step, r->msg, strerror(r->err));
	mem_sample(self->dir, self->other, &m1, &k1);
	ASSERT_EQ(1, write(to, "D", 1));
	if (waitpid_within(self->child, &st, 120000) != self->child)
		st = -1;
	self->child = 0;
	close(to);
	close(from);
	EXPECT_TRUE(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("child status %#x: step %d: %s (%s)", st, r->step, r->msg, strerror(r->err));
	EXPECT_EQ(NPARK, r->drained_ok);
	TH_LOG("per parked request: %lld bytes charged to the group's memory.current "
	       "(%lld -> %lld; memory.stat kernel %+lld: %lld per request)",
	       (m1 - m0) / NPARK, m0, m1, k1 - k0, (k1 - k0) / NPARK);
	EXPECT_LT(0, m1 - m0);
	EXPECT_LE(NPARK * 1024, m1 - m0) TH_LOG("kaio's request memory is not charged to the "
						"submitter's memory cgroup");
	munmap(r, sizeof(*r));
}

/* Last: it throttles the disk for the group (slow, and the riskiest). */
TEST_F_TIMEOUT(cg, io_max_throttles, 240)
{
	char path[192], val[64];
	int64_t elapsed;
	long long rb;

	if (!has_word(self->controllers, "io"))
		SKIP(return, "no io controller in %s", self->dir);
	snprintf(path, sizeof(path), "%s/io.max", self->dir);
	if (access(path, W_OK))
		SKIP(return, "no io.max (CONFIG_BLK_DEV_THROTTLING)");
	snprintf(val, sizeof(val), "%s rbps=4194304", self->dev);
	ASSERT_EQ(0, write_str(path, val)) TH_LOG("%s: %s", path, val);
	rb = io_run(_metadata, self, 16 << 20, &elapsed);
	snprintf(val, sizeof(val), "%s rbps=max", self->dev);
	write_str(path, val);
	ASSERT_LE(0, rb);
	TH_LOG("16 MiB at io.max rbps=4 MiB/s: %lld ms; rbytes +%lld",
	       (long long)(elapsed / MS), rb);
	EXPECT_LE(3 * SEC, elapsed) TH_LOG("not throttled: the I/O is not the group's");
	EXPECT_LE(XFER, rb);
}

TEST_HARNESS_MAIN
