// SPDX-License-Identifier: GPL-2.0
/*
 * Trust (issue 8): one regression case or more per finding, written against
 * the behaviour the module promises, each checking bytes or errno exactly
 * and each bounded in time (a TEST_F_TIMEOUT, and every wait in the test
 * has its own deadline so that a failure is reported as such, not as a
 * timeout).
 *
 *  1. two SENDFILEs in one chain, NOCACHE or not, to one or two sockets;
 *  2. NOCACHE from a file system without direct I/O: EINVAL, no crash
 *     (and where O_DIRECT works, as on tmpfs, the right bytes);
 *  3. CANCEL racing a SENDFILE parked on a unix socket read in bursts;
 *     bounded teardown;
 *  4. streams: READ returns what is there, EOF, no worker held by parked
 *     reads, WRITE to a slow pipe;
 *  5. identity: /proc/self, RLIMIT_FSIZE, fanotify, credentials at SUBMIT;
 *  6. a KEEP whose submitting thread exited: ECANCELED, no fd installed;
 *  7. validation and odd files: "", ->read-only files, O_DIRECT input,
 *     sparse tmpfs, sysfs, O_APPEND output, ring mapping rules, a
 *     restarted GETEVENTS keeps its deadline;
 *  8. the per-user in-flight limit.
 *
 * The sections run in the order 4 5 6 7 3 8 1 2: the cases that panicked
 * the module as it was found (1, 2 and 3) come last, so that on such a
 * module the others still report.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/fanotify.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/time.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define P1M3 ((1 << 20) + 3)	/* size of p_1m3, seed 3 */

/* At most @ms for one event: 1, 0 on timeout, or -errno. */
static int wait1(struct kaio_ctx *k, struct kaio_event *ev, int ms)
{
	return kaio_wait(k, ev, 1, 1, ms * MS);
}

/* Collects up to @n events within @ms in all; returns how many. */
static int wait_n(struct kaio_ctx *k, struct kaio_event *ev, int n, int ms)
{
	long long end = now_ms() + ms;
	int got = 0;

	while (got < n) {
		long long left = end - now_ms();
		int r;

		if (left <= 0)
			break;
		r = kaio_wait(k, ev + got, 1, n - got, left * MS);
		if (r < 0 && r != -EINTR)
			break;
		if (r > 0)
			got += r;
	}
	return got;
}

/* Reads what @fd holds now, without waiting: bytes read (up to @cap kept). */
static size_t drain(int fd, uint8_t *buf, size_t cap)
{
	uint8_t tmp[4096];
	size_t got = 0;
	ssize_t n;

	while ((n = recv(fd, tmp, sizeof(tmp), MSG_DONTWAIT)) > 0 ||
	       (n < 0 && errno == EINTR)) {
		if (n < 0)
			continue;
		if (got < cap)
			memcpy(buf + got, tmp, (size_t)n < cap - got ? (size_t)n : cap - got);
		got += n;
	}
	return got;
}

/* True if nothing at all can be read from socket @fd right now. */
static int socket_empty(int fd)
{
	char c;

	return recv(fd, &c, 1, MSG_DONTWAIT) == -1 && errno == EAGAIN;
}

/*
 * A receiver thread: reads @fd until end of stream, keeping the first
 * @cap bytes in @buf. It gives up after @idle_ms without data, or once
 * rcv_finish() has set a deadline for the end of stream, so a request
 * that never lets go of its file fails the test instead of hanging it.
 */
struct rcv {
	int fd;
	size_t cap;
	size_t chunk;		/* bytes per read, default 64 KiB */
	int pause_us;		/* sleep after each read: a slow reader */
	int idle_ms;		/* default 10 s */
	uint8_t *buf;
	size_t got;
	int eof;		/* 1: end of stream seen */
	long long stop_at;	/* give up at this time (ms), if set */
	pthread_t t;
};

static void *rcv_run(void *arg)
{
	struct rcv *r = arg;
	size_t chunk = r->chunk ? r->chunk : 1 << 16;
	uint8_t *tmp = malloc(chunk);
	long long last = now_ms();

	for (;;) {
		struct pollfd p = { .fd = r->fd, .events = POLLIN };
		long long stop = __atomic_load_n(&r->stop_at, __ATOMIC_ACQUIRE);
		int n = poll(&p, 1, 100);
		ssize_t m;

		if (n == 0) {
			if (now_ms() - last > (r->idle_ms ? r->idle_ms : 10000) ||
			    (stop && now_ms() > stop))
				break;
			continue;
		}
		last = now_ms();
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		m = read(r->fd, tmp, chunk);
		if (m == 0) {
			r->eof = 1;
			break;
		}
		if (m < 0) {
			if (errno == EINTR || errno == EAGAIN)
				continue;
			break;
		}
		if (r->got < r->cap)
			memcpy(r->buf + r->got, tmp,
			       (size_t)m < r->cap - r->got ? (size_t)m : r->cap - r->got);
		r->got += m;
		if (r->pause_us)
			usleep(r->pause_us);
	}
	free(tmp);
	return NULL;
}

static int rcv_start(struct rcv *r)
{
	r->buf = calloc(1, r->cap ? r->cap : 1);
	if (!r->buf)
		return -1;
	return pthread_create(&r->t, NULL, rcv_run, r);
}

static void rcv_join(struct rcv *r)
{
	pthread_join(r->t, NULL);
}

/*
 * The request has completed: the end of stream (kaio dropping its
 * reference to the other end) must come within 2 s.
 */
static void rcv_finish(struct rcv *r)
{
	__atomic_store_n(&r->stop_at, now_ms() + 2000, __ATOMIC_RELEASE);
	rcv_join(r);
}

/*
 * In a forked child (where ASSERT_* must not be used): on a mismatch,
 * report both values and the line, and exit 1.
 */
#define CHILD_EQ(exp, got) do {						\
		long long e_ = (long long)(exp), g_ = (long long)(got);	\
		if (e_ != g_) {						\
			fprintf(stderr, "# child %d, line %d: expected %s (%lld) == %s (%lld)\n", \
				getpid(), __LINE__, #exp, e_, #got, g_); \
			_exit(1);					\
		}							\
	} while (0)

/*
 * Waits at most @ms for child @pid: its wait status, or -1 if it did not
 * end in time (it is then killed, and reaped if it can die).
 */
static int wait_child(pid_t pid, int ms)
{
	int st;
	pid_t r = waitpid_within(pid, &st, ms);

	if (r == pid)
		return st;
	if (r < 0)
		return -1;
	kill(pid, SIGKILL);
	waitpid_within(pid, &st, 1000);
	return -1;
}

/* Entries of /proc/self/fd (the directory's own fd included). */
static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		n += e->d_name[0] != '.';
	closedir(d);
	return n;
}

/* The bytes a test writes into pipe @i. */
static void payload(uint8_t *b, int i, size_t len)
{
	for (size_t j = 0; j < len; j++)
		b[j] = (uint8_t)(i * 37 + j * 11 + 1);
}

FIXTURE(t) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(t)
{
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, kaio_setup(&self->k, 256));
}

FIXTURE_TEARDOWN(t)
{
	kaio_close(&self->k);
}

/* ------------------------------------------------------------------ 4 */

/*
 * Finding 4: a READ of a stream returns what read(2) would. 4096 asked,
 * 10 written (after the READ was already waiting): result 10.
 */
TEST_F_TIMEOUT(t, stream_read_returns_what_is_there, 20)
{
	uint8_t buf[4096];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	memset(buf, 0xee, sizeof(buf));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, p[0]);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	/* Nothing to read yet: the READ waits (200 ms, no event). */
	EXPECT_EQ(0, wait1(&self->k, &ev, 200));
	ASSERT_EQ(10, write(p[1], "0123456789", 10));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000)) TH_LOG("a READ of a pipe holding 10 bytes did not complete");
	EXPECT_EQ(10, ev.result);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(10, ev.step_result[1]);
	EXPECT_EQ(0, memcmp(buf, "0123456789", 10));
	EXPECT_EQ(0xee, buf[10]);

	/* With SHORT_OK the chain goes on past the 10-byte READ. */
	memset(buf, 0xee, sizeof(buf));
	kaio_iocb_init(&iocb, 2);
	iocb.flags = KAIO_IOCB_SHORT_OK;
	kaio_step_fd(&iocb, p[0]);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	EXPECT_EQ(0, wait1(&self->k, &ev, 200));
	ASSERT_EQ(10, write(p[1], "abcdefghij", 10));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(2, ev.step);
	EXPECT_EQ(10, ev.step_result[1]);
	EXPECT_EQ(0, memcmp(buf, "abcdefghij", 10));
	EXPECT_EQ(0xee, buf[10]);
	close(p[0]);
	close(p[1]);
}

/* A READ of a pipe at EOF: 0, a short transfer that ends the chain. */
TEST_F_TIMEOUT(t, stream_read_eof, 20)
{
	uint8_t buf[4096];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int p[2];

	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	close(p[1]);
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, p[0]);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000)) TH_LOG("a READ at EOF did not complete");
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(0, ev.step_result[1]);
	EXPECT_EQ(0, ev.step_result[2]);

	kaio_iocb_init(&iocb, 2);
	iocb.flags = KAIO_IOCB_SHORT_OK;
	kaio_step_fd(&iocb, p[0]);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(2, ev.step);
	EXPECT_EQ(0, ev.step_result[1]);
	close(p[0]);
}

/*
 * 64 READs of uid 65534 parked on empty pipes hold no worker: root's cold
 * OPEN -> READ -> CLOSE in another context completes within 2 s; then the
 * pipes are written and all 64 complete with their bytes.
 */
TEST_F_TIMEOUT(t, parked_stream_reads_hold_no_worker, 40)
{
	enum { N = 64, LEN = 32 };
	int p[N][2], sync[2], st;
	uint8_t buf[4096], pl[LEN];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct pollfd pfd;
	long long t0, dt;
	pid_t pid;
	char c = 0;
	int r;

	for (int i = 0; i < N; i++)
		ASSERT_EQ(0, pipe2(p[i], O_CLOEXEC));
	ASSERT_EQ(0, pipe2(sync, O_CLOEXEC));
	kaio_drop_caches("3");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		static struct kaio_iocb ci[N];
		static struct kaio_event ce[N];
		static uint8_t cb[N][LEN + 1];
		struct kaio_ctx k;
		int seen[N] = { 0 };

		CHILD_EQ(0, become_nobody());
		CHILD_EQ(0, kaio_setup(&k, 128));
		for (int i = 0; i < N; i++) {
			kaio_iocb_init(&ci[i], i);
			kaio_step_fd(&ci[i], p[i][0]);
			kaio_step_read(&ci[i], cb[i], LEN, 0);
		}
		CHILD_EQ(N, kaio_submit(&k, ci, N));
		CHILD_EQ(1, write(sync[1], "p", 1));
		CHILD_EQ(N, wait_n(&k, ce, N, 20000));
		for (int j = 0; j < N; j++) {
			uint64_t u = ce[j].user_data;
			uint8_t want[LEN];

			CHILD_EQ(1, u < N);
			CHILD_EQ(0, seen[u]++);
			CHILD_EQ(LEN, ce[j].result);
			CHILD_EQ(1, ce[j].step);
			payload(want, u, LEN);
			CHILD_EQ(0, memcmp(want, cb[u], LEN));
		}
		kaio_close(&k);
		_exit(0);
	}
	close(sync[1]);
	pfd.fd = sync[0];
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 10000)) TH_LOG("the child did not submit its READs");
	EXPECT_EQ(1, read(sync[0], &c, 1));
	EXPECT_EQ('p', c);

	t0 = now_ms();
	kaio_iocb_init(&iocb, 77);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	r = wait1(&self->k, &ev, 2000);
	dt = now_ms() - t0;
	EXPECT_EQ(1, r) TH_LOG("root's request waited behind nobody's parked READs");
	EXPECT_GT(2000, dt) TH_LOG("took %lld ms", dt);

	for (int i = 0; i < N; i++) {
		payload(pl, i, LEN);
		EXPECT_EQ(LEN, write(p[i][1], pl, LEN));
	}
	if (r != 1)
		r = wait1(&self->k, &ev, 10000);
	if (r == 1) {
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ(2, ev.step);
		EXPECT_EQ(4096, ev.step_result[1]);
		EXPECT_EQ(-1, kaio_pattern_check(buf, 4096, 4096, 0));
	}
	st = wait_child(pid, 25000);
	EXPECT_EQ(0, st) TH_LOG("child: status %#x (-1: did not end)", st);
	for (int i = 0; i < N; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(sync[0]);
}

/* WRITE of 1 MiB to a pipe drained slowly: 1 MiB, every byte in order. */
TEST_F_TIMEOUT(t, stream_write_slow_reader, 40)
{
	size_t len = 1 << 20;
	uint8_t *src = malloc(len);
	struct rcv r = { .cap = len + 4096, .chunk = 4096, .pause_us = 200 };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int p[2];

	ASSERT_NE(NULL, src);
	for (size_t i = 0; i < len; i++)
		src[i] = kaio_pattern(5, i);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	r.fd = p[0];
	ASSERT_EQ(0, rcv_start(&r));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, p[1]);
	kaio_step_write(&iocb, src, len, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	close(p[1]);
	ASSERT_EQ(1, wait1(&self->k, &ev, 30000)) TH_LOG("no completion in 30 s");
	rcv_finish(&r);
	EXPECT_EQ((int64_t)len, ev.result);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(1, r.eof) TH_LOG("no end of stream: kaio still holds the pipe");
	EXPECT_EQ(len, r.got);
	EXPECT_EQ(0, memcmp(src, r.buf, len));
	close(p[0]);
	free(r.buf);
	free(src);
}

/* ------------------------------------------------------------------ 5 */

/*
 * Finding 5: a unix socket's SCM_CREDENTIALS named the kworker. A SENDFILE
 * to a unix socket whose reader asked for credentials (SO_PASSCRED) now
 * carries the submitter's pid, uid and gid.
 */
TEST_F_TIMEOUT(t, scm_credentials_are_submitters, 20)
{
	char cbuf[CMSG_SPACE(sizeof(struct ucred))], data[4096];
	struct iovec iov = { .iov_base = data, .iov_len = sizeof(data) };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf, .msg_controllen = sizeof(cbuf) };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct cmsghdr *c;
	struct ucred uc = { 0 };
	int on = 1, tx, rx, found = 0;
	ssize_t n;

	ASSERT_EQ(0, unix_pair(&tx, &rx));
	ASSERT_EQ(0, setsockopt(rx, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)));
	kaio_iocb_init(&iocb, 9);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx, 0, 4096);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(4096, ev.step_result[1]);
	n = recvmsg(rx, &msg, MSG_DONTWAIT);
	ASSERT_LT(0, n);
	EXPECT_EQ(-1, kaio_pattern_check((uint8_t *)data, n, 4096, 0));
	for (c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_CREDENTIALS) {
			memcpy(&uc, CMSG_DATA(c), sizeof(uc));
			found = 1;
		}
	}
	ASSERT_TRUE(found);
	EXPECT_EQ(getpid(), uc.pid);
	EXPECT_EQ(getuid(), uc.uid);
	EXPECT_EQ(getgid(), uc.gid);
	close(tx);
	close(rx);
}

/* Finding 5: /proc/self in a chain is the submitter. */
TEST_F_TIMEOUT(t, proc_self_stat_is_submitter, 20)
{
	char buf[1024];
	struct kaio_iocb iocb;
	struct kaio_event ev;

	memset(buf, 0, sizeof(buf));
	kaio_iocb_init(&iocb, 1);
	iocb.flags = KAIO_IOCB_SHORT_OK;
	kaio_step_open(&iocb, AT_FDCWD, "/proc/self/stat", O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf) - 1, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	ASSERT_EQ(0, ev.result) TH_LOG("step %u: %lld", ev.step, (long long)ev.result);
	ASSERT_LT(0, ev.step_result[1]);
	EXPECT_EQ(getpid(), atoi(buf)) TH_LOG("/proc/self/stat read by kaio: %.40s", buf);
}

TEST_F_TIMEOUT(t, proc_self_fd_is_submitters, 20)
{
	uint8_t buf[4097 + 1];
	char path[64];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = open(S("p_4097"), O_RDONLY), n;

	ASSERT_LE(0, fd);
	/* A high number no kernel thread would have open by chance. */
	n = fcntl(fd, F_DUPFD_CLOEXEC, 300);
	ASSERT_LE(300, n);
	close(fd);
	snprintf(path, sizeof(path), "/proc/self/fd/%d", n);
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, path, O_RDONLY, 0);
	kaio_step_read(&iocb, buf, 4097, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	EXPECT_EQ(0, ev.result) TH_LOG("step %u: %lld", ev.step, (long long)ev.result);
	EXPECT_EQ(2, ev.step);
	EXPECT_EQ(4097, ev.step_result[1]);
	EXPECT_EQ(-1, kaio_pattern_check(buf, 4097, 4097, 0));
	close(n);
}

/*
 * RLIMIT_FSIZE of the submitter bounds kaio's WRITE: 64 KiB at 0 under a
 * 4 KiB limit is short (4096), at 8192 it is EFBIG. The limit is lifted
 * again before anything is checked (or printed).
 */
TEST_F_TIMEOUT(t, rlimit_fsize_applies, 20)
{
	struct rlimit rl = { .rlim_cur = 4096, .rlim_max = 4096 }, old;
	size_t len = 65536;
	uint8_t *src = malloc(len), back[4096];
	char path[64];
	struct kaio_iocb iocb[2];
	struct kaio_event ev[2];
	struct stat st;
	int fd, r[2];

	ASSERT_NE(NULL, src);
	for (size_t i = 0; i < len; i++)
		src[i] = kaio_pattern(11, i);
	snprintf(path, sizeof(path), "/tmp/trust_fsize_%d", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	unlink(path);
	for (int i = 0; i < 2; i++) {
		kaio_iocb_init(&iocb[i], i);
		kaio_step_fd(&iocb[i], fd);
		kaio_step_write(&iocb[i], src, len, i ? 8192 : 0);
	}
	signal(SIGXFSZ, SIG_IGN);
	ASSERT_EQ(0, getrlimit(RLIMIT_FSIZE, &old));
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &rl));
	for (int i = 0; i < 2; i++) {
		r[i] = kaio_submit(&self->k, &iocb[i], 1);
		if (r[i] == 1)
			r[i] = wait1(&self->k, &ev[i], 10000);
	}
	ASSERT_EQ(0, setrlimit(RLIMIT_FSIZE, &old));

	ASSERT_EQ(1, r[0]);
	EXPECT_EQ(4096, ev[0].result);
	EXPECT_EQ(1, ev[0].step);
	ASSERT_EQ(1, r[1]);
	EXPECT_EQ(-EFBIG, ev[1].result);
	EXPECT_EQ(1, ev[1].step);
	ASSERT_EQ(0, fstat(fd, &st));
	EXPECT_EQ(4096, st.st_size);
	EXPECT_EQ(4096, pread(fd, back, sizeof(back), 0));
	EXPECT_EQ(0, memcmp(src, back, 4096));
	close(fd);
	free(src);
}

/*
 * A cached SENDFILE notifies the access as sendfile(2) does: a fanotify
 * listener (FAN_ACCESS on the file) gets an event for it.
 */
TEST_F_TIMEOUT(t, fanotify_sees_cached_sendfile, 20)
{
	static uint8_t buf[8192];
	char ebuf[4096] __attribute__((aligned(8)));
	struct fanotify_event_metadata *m;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct stat want, st;
	struct pollfd pfd;
	int fd = open(S("p_4097"), O_RDONLY | O_CLOEXEC), fan, tx, rx, found = 0;
	ssize_t len;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, fstat(fd, &want));
	/* Read once: the SENDFILE below is served from the page cache. */
	ASSERT_EQ(4097, pread(fd, buf, sizeof(buf), 0));
	fan = fanotify_init(FAN_CLASS_NOTIF | FAN_CLOEXEC | FAN_NONBLOCK, O_RDONLY | O_LARGEFILE);
	ASSERT_LE(0, fan) TH_LOG("fanotify_init: %s", strerror(errno));
	ASSERT_EQ(0, fanotify_mark(fan, FAN_MARK_ADD, FAN_ACCESS, AT_FDCWD, S("p_4097")));
	/* No event yet. */
	errno = 0;
	EXPECT_EQ(-1, read(fan, ebuf, sizeof(ebuf)));
	EXPECT_EQ(EAGAIN, errno);

	ASSERT_EQ(0, unix_pair(&tx, &rx));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_sendfile(&iocb, tx, 0, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	EXPECT_EQ(4097, ev.result);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(4097, drain(rx, buf, sizeof(buf)));
	EXPECT_EQ(-1, kaio_pattern_check(buf, 4097, 4097, 0));

	pfd.fd = fan;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 3000)) TH_LOG("no fanotify event within 3 s");
	len = read(fan, ebuf, sizeof(ebuf));
	ASSERT_LT(0, len);
	for (m = (void *)ebuf; FAN_EVENT_OK(m, len); m = FAN_EVENT_NEXT(m, len)) {
		ASSERT_EQ(FANOTIFY_METADATA_VERSION, m->vers);
		if (m->fd < 0)
			continue;
		if ((m->mask & FAN_ACCESS) && !fstat(m->fd, &st) &&
		    st.st_ino == want.st_ino && st.st_dev == want.st_dev) {
			found = 1;
			TH_LOG("FAN_ACCESS from pid %d (submitter %d)", m->pid, getpid());
		}
		close(m->fd);
	}
	EXPECT_TRUE(found);
	close(fan);
	close(tx);
	close(rx);
	close(fd);
}

/*
 * Credentials are the submitter's at SUBMIT, not the opener's of the
 * context: root sets up, reads root_only, becomes nobody: EACCES.
 */
TEST_F_TIMEOUT(t, setuid_after_setup_open_denied, 20)
{
	pid_t pid = fork();
	int st;

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kaio_ctx k;
		struct kaio_iocb iocb;
		struct kaio_event ev;
		char buf[64];

		CHILD_EQ(0, kaio_setup(&k, 16));
		kaio_iocb_init(&iocb, 1);
		iocb.flags = KAIO_IOCB_SHORT_OK;
		kaio_step_open(&iocb, AT_FDCWD, S("root_only"), O_RDONLY, 0);
		kaio_step_read(&iocb, buf, sizeof(buf), 0);
		kaio_step_close(&iocb);
		CHILD_EQ(1, kaio_submit(&k, &iocb, 1));
		CHILD_EQ(1, wait1(&k, &ev, 10000));
		CHILD_EQ(0, ev.result);
		CHILD_EQ(7, ev.step_result[1]);
		CHILD_EQ(0, memcmp(buf, "secret\n", 7));
		CHILD_EQ(0, become_nobody());
		kaio_iocb_init(&iocb, 2);
		kaio_step_open(&iocb, AT_FDCWD, S("root_only"), O_RDONLY, 0);
		kaio_step_read(&iocb, buf, sizeof(buf), 0);
		kaio_step_close(&iocb);
		CHILD_EQ(1, kaio_submit(&k, &iocb, 1));
		CHILD_EQ(1, wait1(&k, &ev, 10000));
		CHILD_EQ(-EACCES, ev.result);
		CHILD_EQ(0, ev.step);
		kaio_close(&k);
		_exit(0);
	}
	st = wait_child(pid, 15000);
	EXPECT_EQ(0, st) TH_LOG("child: status %#x (-1: did not end)", st);
}

/* ------------------------------------------------------------------ 6 */

struct keep_thr {
	struct kaio_ctx *k;
	const char *path;
	int r;
};

static void *keep_submit(void *arg)
{
	struct keep_thr *t = arg;
	struct kaio_iocb iocb;

	kaio_iocb_init(&iocb, 66);
	kaio_step_open(&iocb, AT_FDCWD, t->path, O_RDONLY, 0);
	kaio_step_keep(&iocb, 1);
	t->r = kaio_submit(t->k, &iocb, 1);
	return NULL;
}

/*
 * A KEEP whose submitting thread has exited before the chain ends (it
 * waits in the OPEN of a FIFO that has no writer yet) completes with
 * ECANCELED, as kaio(7) promises (finding 9: ESRCH), and installs no fd.
 */
TEST_F_TIMEOUT(t, keep_after_thread_exit_canceled, 20)
{
	char path[64];
	struct keep_thr kt = { .k = &self->k, .path = path };
	struct kaio_event ev;
	pthread_t t;
	long long end;
	int n0, n1, wfd = -1, r = 0;

	snprintf(path, sizeof(path), "/tmp/trust_fifo_%d", getpid());
	unlink(path);
	ASSERT_EQ(0, mkfifo(path, 0600));
	n0 = count_fds();
	ASSERT_LT(0, n0);
	ASSERT_EQ(0, pthread_create(&t, NULL, keep_submit, &kt));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(1, kt.r);
	/* Now give the FIFO a writer, once kaio's OPEN waits for one. */
	end = now_ms() + 10000;
	while (now_ms() < end) {
		r = wait1(&self->k, &ev, 20);
		if (r)
			break;
		if (wfd < 0)
			wfd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
	}
	ASSERT_EQ(1, r) TH_LOG("no completion (writer %s)", wfd >= 0 ? "opened" : "never opened");
	EXPECT_EQ(66, ev.user_data);
	EXPECT_EQ(-ECANCELED, ev.result);
	EXPECT_EQ(KAIO_EV_CANCELED, ev.flags);
	EXPECT_EQ(-1, ev.fd);
	if (wfd >= 0)
		close(wfd);
	n1 = count_fds();
	EXPECT_EQ(n0, n1) TH_LOG("a file descriptor was installed");
	unlink(path);
}

/* ------------------------------------------------------------------ 7 */

/* OPEN of "" is ENOENT at SUBMIT, as openat(2) without AT_EMPTY_PATH. */
TEST_F_TIMEOUT(t, open_empty_path_enoent, 20)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int dfd = open(KAIO_SCRATCH, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	ASSERT_LE(0, dfd);
	errno = 0;
	EXPECT_EQ(-1, openat(dfd, "", O_RDONLY));
	EXPECT_EQ(ENOENT, errno);
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, "", O_RDONLY, 0);
	kaio_step_close(&iocb);
	EXPECT_EQ(-ENOENT, kaio_submit(&self->k, &iocb, 1));
	kaio_iocb_init(&iocb, 2);
	kaio_step_open(&iocb, dfd, "", O_RDONLY, 0);
	kaio_step_close(&iocb);
	EXPECT_EQ(-ENOENT, kaio_submit(&self->k, &iocb, 1));
	EXPECT_EQ(0, kaio_wait(&self->k, &ev, 0, 1, 0));
	close(dfd);
}

/* A file with ->read but no ->read_iter: READ returns what read(2) does. */
TEST_F_TIMEOUT(t, read_file_without_read_iter, 20)
{
	char want[4096], got[4096];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;

	ASSERT_LE(0, fd);
	n = pread(fd, want, sizeof(want), 0);
	ASSERT_LT(0, n);
	memset(got, 0xee, sizeof(got));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_read(&iocb, got, sizeof(got), 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	EXPECT_EQ(n, ev.result);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(0, memcmp(want, got, n));
	close(fd);
}

/*
 * A file with ->write but no ->write_iter (finding 9: EINVAL where
 * write(2) works): WRITE of "123" to /proc/self/oom_score_adj sets it.
 */
TEST_F_TIMEOUT(t, write_file_without_write_iter, 20)
{
	char back[32];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = open("/proc/self/oom_score_adj", O_WRONLY | O_CLOEXEC), rfd;
	ssize_t n;

	ASSERT_LE(0, fd);
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_write(&iocb, "123\n", 4, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	EXPECT_EQ(4, ev.result);
	EXPECT_EQ(1, ev.step);
	rfd = open("/proc/self/oom_score_adj", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, rfd);
	n = read(rfd, back, sizeof(back) - 1);
	ASSERT_LT(0, n);
	back[n] = 0;
	EXPECT_STREQ("123\n", back);
	close(rfd);
	EXPECT_EQ(2, write(fd, "0\n", 2));
	close(fd);
}

/*
 * The write of a ->write-only file runs as the submitter: /proc/self/comm
 * accepts a write only from the task's own thread group (else EINVAL).
 */
TEST_F_TIMEOUT(t, proc_self_comm_write_is_submitter, 20)
{
	static const char name[] = "kaio-comm-w";
	char back[32];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = open("/proc/self/comm", O_WRONLY | O_CLOEXEC);
	ssize_t n;

	ASSERT_LE(0, fd);
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_write(&iocb, name, strlen(name), 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
	EXPECT_EQ((int64_t)strlen(name), ev.result);
	EXPECT_EQ(1, ev.step);
	close(fd);
	fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd);
	n = read(fd, back, sizeof(back) - 1);
	ASSERT_LT(0, n);
	back[n] = 0;
	EXPECT_STREQ("kaio-comm-w\n", back);
	close(fd);
}

/* SENDFILE from an ext4 file opened O_DIRECT (finding 9: EFAULT). */
TEST_F_TIMEOUT(t, sendfile_from_odirect_file, 30)
{
	for (int hot = 0; hot < 2; hot++) {
		struct rcv r = { .cap = (2 << 20) + 4096 };
		struct kaio_iocb iocb;
		struct kaio_event ev;
		int fd = open(S("p_64m"), O_RDONLY | O_DIRECT | O_CLOEXEC), tx;

		ASSERT_LE(0, fd);
		if (!hot)
			kaio_drop_caches("1");
		ASSERT_EQ(0, unix_pair(&tx, &r.fd));
		ASSERT_EQ(0, rcv_start(&r));
		kaio_iocb_init(&iocb, 1);
		kaio_step_fd(&iocb, fd);
		kaio_step_sendfile(&iocb, tx, 1 << 20, 2 << 20);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		close(tx);
		ASSERT_EQ(1, wait1(&self->k, &ev, 20000)) TH_LOG("%s: no completion", hot ? "hot" : "cold");
		rcv_finish(&r);
		EXPECT_EQ(2 << 20, ev.result) TH_LOG("%s", hot ? "hot" : "cold");
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(1, r.eof) TH_LOG("no end of stream: the socket is still held");
		EXPECT_EQ(2 << 20, r.got);
		EXPECT_EQ(-1, kaio_pattern_check(r.buf, r.got < (2 << 20) ? r.got : 2 << 20, 64, 1 << 20));
		close(r.fd);
		close(fd);
		free(r.buf);
	}
	/* A whole (block-aligned) file, to EOF. */
	{
		uint8_t buf[8192];
		struct kaio_iocb iocb;
		struct kaio_event ev;
		int fd = open(S("p_4096"), O_RDONLY | O_DIRECT | O_CLOEXEC), tx, rx;

		ASSERT_LE(0, fd);
		ASSERT_EQ(0, unix_pair(&tx, &rx));
		kaio_iocb_init(&iocb, 2);
		kaio_step_fd(&iocb, fd);
		kaio_step_sendfile(&iocb, tx, 0, 0);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		ASSERT_EQ(1, wait1(&self->k, &ev, 10000));
		EXPECT_EQ(4096, ev.result);
		EXPECT_EQ(4096, drain(rx, buf, sizeof(buf)));
		EXPECT_EQ(-1, kaio_pattern_check(buf, 4096, 4096, 0));
		close(tx);
		close(rx);
		close(fd);
	}
}

/*
 * A sparse tmpfs file (finding 9: soft lockup): 1 MiB, 100 bytes at
 * 512 KiB, holes elsewhere. Sent in full within 5 s, zeros in the holes.
 */
TEST_F_TIMEOUT(t, sendfile_sparse_tmpfs, 20)
{
	enum { SIZE = 1 << 20, AT = 512 << 10, N = 100 };
	struct rcv r = { .cap = SIZE + 4096 };
	uint8_t data[N];
	char path[64];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd, tx, ok = 1;

	for (int i = 0; i < N; i++)
		data[i] = kaio_pattern(13, i) | 1;	/* never zero */
	snprintf(path, sizeof(path), "/tmp/trust_sparse_%d", getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	ASSERT_LE(0, fd);
	unlink(path);
	ASSERT_EQ(0, ftruncate(fd, SIZE));
	ASSERT_EQ(N, pwrite(fd, data, N, AT));
	ASSERT_EQ(0, unix_pair(&tx, &r.fd));
	ASSERT_EQ(0, rcv_start(&r));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_sendfile(&iocb, tx, 0, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	close(tx);
	ASSERT_EQ(1, wait1(&self->k, &ev, 5000)) TH_LOG("no completion within 5 s");
	rcv_finish(&r);
	EXPECT_EQ(SIZE, ev.result);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(1, r.eof) TH_LOG("no end of stream: the socket is still held");
	EXPECT_EQ(SIZE, r.got);
	for (size_t i = 0; i < SIZE && i < r.got; i++) {
		uint8_t want = i >= AT && i < AT + N ? data[i - AT] : 0;

		if (r.buf[i] != want) {
			TH_LOG("byte %zu: %#x, want %#x", i, r.buf[i], want);
			ok = 0;
			break;
		}
	}
	EXPECT_TRUE(ok);
	close(r.fd);
	close(fd);
	free(r.buf);
}

/*
 * SENDFILE to EOF from a sysfs attribute (i_size 4096, shorter content:
 * finding 9, soft lockup): exactly what read(2) returns.
 */
TEST_F_TIMEOUT(t, sendfile_sysfs_attribute, 20)
{
	static const char *const cand[] = {
		KAIO_PARAMS "sendfile_window",
		"/sys/kernel/mm/transparent_hugepage/enabled",
		"/sys/devices/system/cpu/online",
		KAIO_PARAMS "max_ring_entries",
	};
	char want[4096], got[8192];
	const char *path = NULL;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct stat st;
	ssize_t n = 0;
	int fd = -1, tx, rx;

	for (size_t i = 0; i < sizeof(cand) / sizeof(cand[0]) && !path; i++) {
		if (stat(cand[i], &st) || !S_ISREG(st.st_mode))
			continue;
		fd = open(cand[i], O_RDONLY | O_CLOEXEC);
		if (fd < 0)
			continue;
		n = pread(fd, want, sizeof(want), 0);
		if (n > 0)
			path = cand[i];
		else
			close(fd);
	}
	if (!path)
		SKIP(return, "no readable sysfs attribute among the candidates");
	TH_LOG("%s: %zd bytes, i_size %lld", path, n, (long long)st.st_size);
	ASSERT_EQ(0, unix_pair(&tx, &rx));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_sendfile(&iocb, tx, 0, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 5000)) TH_LOG("no completion within 5 s");
	EXPECT_EQ(n, ev.result);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(n, (ssize_t)drain(rx, (uint8_t *)got, sizeof(got)));
	EXPECT_EQ(0, memcmp(want, got, n));
	close(tx);
	close(rx);
	close(fd);
}

/* Output opened O_APPEND: EINVAL at SUBMIT, as sendfile(2) says. */
TEST_F_TIMEOUT(t, sendfile_to_append_file_einval, 20)
{
	char path[64];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct stat st;
	off_t off = 0;
	int in = open(S("p_4096"), O_RDONLY | O_CLOEXEC), out;

	ASSERT_LE(0, in);
	snprintf(path, sizeof(path), "/tmp/trust_append_%d", getpid());
	out = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
	ASSERT_LE(0, out);
	unlink(path);
	/* What sendfile(2) says. */
	errno = 0;
	EXPECT_EQ(-1, sendfile(out, in, &off, 4096));
	EXPECT_EQ(EINVAL, errno);
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, in);
	kaio_step_sendfile(&iocb, out, 0, 0);
	EXPECT_EQ(-EINVAL, kaio_submit(&self->k, &iocb, 1));
	kaio_iocb_init(&iocb, 2);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
	kaio_step_sendfile(&iocb, out, 0, 0);
	kaio_step_close(&iocb);
	EXPECT_EQ(-EINVAL, kaio_submit(&self->k, &iocb, 1));
	EXPECT_EQ(0, kaio_wait(&self->k, &ev, 0, 1, 100 * MS));
	ASSERT_EQ(0, fstat(out, &st));
	EXPECT_EQ(0, st.st_size);
	close(out);
	close(in);
}

/*
 * Fuzzer finding: a SENDFILE offset within a window of INT64_MAX (len 0, or
 * small enough that offset + len does not overflow) overflowed the position
 * arithmetic in the worker (a Rust overflow check: kernel BUG). It is past
 * the end of every file: the step sends nothing, as sendfile(2) would.
 */
TEST_F_TIMEOUT(t, sendfile_offset_near_int64_max, 20)
{
	static const int64_t offs[] = { INT64_MAX - 4096, INT64_MAX - 1, INT64_MAX };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int in = open(S("p_4096"), O_RDONLY | O_CLOEXEC);
	int sv[2];

	ASSERT_LE(0, in);
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	for (unsigned int i = 0; i < 2 * sizeof(offs) / sizeof(offs[0]); i++) {
		int64_t off = offs[i / 2];
		uint64_t len = i % 2 ? 0 : (uint64_t)(INT64_MAX - off);

		kaio_iocb_init(&iocb, i);
		kaio_step_fd(&iocb, in);
		kaio_step_sendfile(&iocb, sv[0], off, len)->op_flags =
			i % 2 ? KAIO_SENDFILE_NOCACHE : 0;
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		EXPECT_EQ(i, ev.user_data);
		/* To EOF: done with 0 bytes; a range past EOF: short, 0 bytes. */
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(0, ev.step_result[1]);
	}
	EXPECT_NE(0, socket_empty(sv[1]));
	close(sv[0]);
	close(sv[1]);
	close(in);
}

/* The ring is shared data, never private or executable. */
TEST_F_TIMEOUT(t, ring_mapping_rules, 20)
{
	size_t size = self->k.map_size;
	struct statvfs sv;
	void *p;

	ASSERT_EQ(0, statvfs(KAIO_DEVICE, &sv));
	if (sv.f_flag & ST_NOEXEC)
		SKIP(return, "%s is on a noexec mount: PROT_EXEC is refused before kaio", KAIO_DEVICE);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE, self->k.fd, 0));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, size, PROT_READ, MAP_PRIVATE, self->k.fd, 0));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, size, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_SHARED,
				   self->k.fd, 0));
	EXPECT_EQ(EPERM, errno);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, size, PROT_READ | PROT_EXEC, MAP_SHARED, self->k.fd, 0));
	EXPECT_EQ(EPERM, errno);
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, self->k.fd, 0);
	ASSERT_NE(MAP_FAILED, p);
	errno = 0;
	EXPECT_EQ(-1, mprotect(p, size, PROT_READ | PROT_EXEC));
	EXPECT_EQ(EACCES, errno);
	/* The second mapping is the same ring. */
	EXPECT_EQ(self->k.ring->entries, ((struct kaio_ring *)p)->entries);
	EXPECT_EQ(0, munmap(p, size));
}

static volatile sig_atomic_t ticks;

static void on_tick(int sig)
{
	struct itimerval off = { 0 };

	/* At most 20 (1 s): a wait that restarts from scratch still ends. */
	if (++ticks >= 20)
		setitimer(ITIMER_REAL, &off, NULL);
}

/*
 * GETEVENTS with a 300 ms timeout, interrupted every 50 ms by a signal
 * whose handler has SA_RESTART (finding 8: each restart began the whole
 * timeout again, so the wait never ended while the signals went on).
 * Either it is never restarted, as io_getevents(2) and kaio(7): EINTR at
 * the first signal; or restarted with what is left of its deadline: 0
 * events after about 300 ms. Restarted from scratch, it would last until
 * the 20th signal (1 s) plus 300 ms.
 */
TEST_F_TIMEOUT(t, getevents_restart_keeps_deadline, 20)
{
	struct sigaction sa = { .sa_handler = on_tick, .sa_flags = SA_RESTART }, old;
	struct itimerval it = { .it_interval = { .tv_usec = 50000 },
				.it_value = { .tv_usec = 50000 } };
	struct itimerval off = { 0 };
	struct kaio_event ev;
	long long t0, dt;
	int r, n;

	ASSERT_EQ(0, sigaction(SIGALRM, &sa, &old));
	ticks = 0;
	t0 = now_ms();
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	r = kaio_wait(&self->k, &ev, 1, 1, 300 * MS);
	dt = now_ms() - t0;
	n = ticks;
	setitimer(ITIMER_REAL, &off, NULL);
	sigaction(SIGALRM, &old, NULL);
	TH_LOG("returned %d after %lld ms and %d signals", r, dt, n);
	if (r == -EINTR) {
		/* Not restarted: ended by the first signal. */
		EXPECT_LE(1, n);
		EXPECT_GT(250, dt);
	} else {
		/* Restarted, and the deadline kept. */
		EXPECT_EQ(0, r);
		EXPECT_LE(250, dt);
		EXPECT_GE(600, dt);
		EXPECT_LE(3, n);
	}
}

/*
 * What does restart GETEVENTS: a KEEP'd file being installed in the waiting
 * thread (task work). It restarts with the time that was left, written back
 * into the caller's structure. Here a KEEP submitted on another context
 * completes 300 ms into a 500 ms wait on this one: the wait must end about
 * 500 ms after it began, not 300 + 500, and the structure then holds less
 * than the 500 ms it was given.
 */
struct late_writer {
	const char *path;
	int fd;
};

static void *open_fifo_late(void *arg)
{
	struct late_writer *w = arg;

	usleep(300 * 1000);
	w->fd = open(w->path, O_WRONLY | O_CLOEXEC);
	return NULL;
}

TEST_F_TIMEOUT(t, getevents_task_work_restart_keeps_deadline, 20)
{
	struct late_writer w = { .fd = -1 };
	struct kaio_ctx other;
	struct kaio_getevents g = { 0 };
	struct kaio_event evs[1], ev;
	struct kaio_iocb iocb;
	char fifo[64];
	pthread_t th;
	long long t0, dt;
	int r, e;

	snprintf(fifo, sizeof(fifo), "/tmp/trust_fifo_tw_%d", getpid());
	unlink(fifo);
	ASSERT_EQ(0, mkfifo(fifo, 0600));
	w.path = fifo;
	ASSERT_EQ(0, kaio_setup(&other, 8));
	kaio_iocb_init(&iocb, 77);
	kaio_step_open(&iocb, AT_FDCWD, fifo, O_RDONLY | O_CLOEXEC, 0);
	kaio_step_keep(&iocb, 1);
	ASSERT_EQ(1, kaio_submit(&other, &iocb, 1));
	ASSERT_EQ(0, pthread_create(&th, NULL, open_fifo_late, &w));
	g.events = (uintptr_t)evs;
	g.min_nr = 1;
	g.max_nr = 1;
	g.timeout_ns = 500 * MS;
	t0 = now_ms();
	r = ioctl(self->k.fd, KAIO_IOC_GETEVENTS, &g);
	e = errno;
	dt = now_ms() - t0;
	pthread_join(th, NULL);
	TH_LOG("GETEVENTS returned %d (errno %d) after %lld ms; timeout_ns now %lld",
	       r, r < 0 ? e : 0, dt, (long long)g.timeout_ns);
	EXPECT_EQ(0, r);
	EXPECT_LE(450, dt);
	EXPECT_GT(700, dt);
	EXPECT_GT(500 * MS, g.timeout_ns);
	/* The KEEP itself completed with an fd, installed in this thread. */
	ASSERT_EQ(1, kaio_wait(&other, &ev, 1, 1, 5000 * MS));
	EXPECT_EQ(77, ev.user_data);
	EXPECT_NE(0, ev.flags & KAIO_EV_FD);
	EXPECT_LE(0, ev.fd);
	EXPECT_EQ(ev.fd, ev.result);
	if (ev.fd >= 0)
		close(ev.fd);
	if (w.fd >= 0)
		close(w.fd);
	kaio_close(&other);
	unlink(fifo);
}

/* ------------------------------------------------------------------ 3 */

/*
 * Finding 3 and the race of 9: SENDFILEs to unix sockets read in 4 KiB
 * bursts (2 MiB, and one of 100003 bytes that fits in the socket),
 * cancelled at once or after up to 3 ms (40 ms now and then). A cancel returns 0 (then
 * the request completes ECANCELED, having sent exactly step_result[1]
 * bytes) or ENOENT (then it had completed in full). Every request completes
 * exactly once. Last, a context closed with requests parked on full
 * sockets closes at once and leaves nothing live.
 */
enum { CR_NR = 4, CR_LEN = 2 << 20, CR_SMALL = 100003 };

/* Request @i of an iteration: 2 MiB, or (the last) one that fits in the
 * socket buffer, so that its cancel races its completion. */
static uint64_t cr_len(int i)
{
	return i == CR_NR - 1 ? CR_SMALL : CR_LEN;
}

struct mrx {
	int n;
	int fd[CR_NR];
	uint64_t off[CR_NR];
	uint64_t got[CR_NR];
	long bad[CR_NR];	/* first wrong byte, or -1 */
	int eof[CR_NR];
	int64_t want[CR_NR];	/* bytes the events say were sent */
	long long stop_at;	/* set with want: all complete, give up then */
};

/* Reads what socket @i holds now into the count; 1 at end of stream. */
static int mrx_read(struct mrx *m, int i)
{
	uint8_t buf[4096];
	ssize_t n = recv(m->fd[i], buf, sizeof(buf), MSG_DONTWAIT);

	if (n < 0)
		return errno == EAGAIN || errno == EINTR ? 0 : -1;
	if (n == 0)
		return 1;
	if (m->bad[i] < 0) {
		long b = kaio_pattern_check(buf, n, 64, m->off[i] + m->got[i]);

		if (b >= 0)
			m->bad[i] = m->got[i] + b;
	}
	m->got[i] += n;
	return 0;
}

/*
 * One thread reads all @n sockets in 4 KiB bursts, checking each byte,
 * until each is at end of stream, or (once the main thread has the events)
 * has delivered what its event says, or 10 s pass without data.
 */
static void *mrx_run(void *arg)
{
	struct mrx *m = arg;
	long long last = now_ms();

	for (int i = 0; i < m->n; i++)
		m->bad[i] = -1;
	for (;;) {
		long long stop = __atomic_load_n(&m->stop_at, __ATOMIC_ACQUIRE);
		struct pollfd p[CR_NR];
		int r, busy = 0;

		for (int i = 0; i < m->n; i++) {
			p[i].fd = m->eof[i] ? -1 : m->fd[i];
			p[i].events = POLLIN;
			p[i].revents = 0;
			busy += !m->eof[i] && (!stop || (int64_t)m->got[i] < m->want[i]);
		}
		if (!busy)
			break;
		r = poll(p, m->n, 100);
		if (r == 0) {
			if (now_ms() - last > 10000 || (stop && now_ms() > stop))
				break;
			continue;
		}
		if (r < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		last = now_ms();
		for (int i = 0; i < m->n; i++) {
			if (p[i].revents && !m->eof[i])
				m->eof[i] = mrx_read(m, i);
		}
	}
	return NULL;
}

TEST_F_TIMEOUT(t, cancel_race_sendfile_unix, 60)
{
	static const unsigned int windows[] = { 0, 4, 64 };
	struct kaio_ctx k;
	struct kaio_iocb iocb[CR_NR];
	struct kaio_event ev[CR_NR];
	unsigned int seed = 1234;
	long long end, live0, t0, dt;
	int fd = open(S("p_64m"), O_RDONLY), iter, cancelled = 0, whole = 0, held = 0;
	int rxp[CR_NR];

	ASSERT_LE(0, fd);
	/* Only this test's context counts in contexts_live from here on. */
	kaio_close(&self->k);
	live0 = kaio_stat("contexts_live");
	ASSERT_LE(0, live0) TH_LOG("no %s", KAIO_STATS);
	ASSERT_EQ(0, kaio_setup(&k, 64));
	end = now_ms() + 10000;
	for (iter = 0; iter < 150 && now_ms() < end; iter++) {
		struct mrx m = { .n = CR_NR };
		int seen[CR_NR] = { 0 }, c[CR_NR], tx[CR_NR];
		pthread_t t;

		for (int i = 0; i < CR_NR; i++) {
			ASSERT_EQ(0, unix_pair(&tx[i], &m.fd[i]));
			m.off[i] = (uint64_t)((iter * CR_NR + i) % 31) * CR_LEN;
			kaio_iocb_init(&iocb[i], (uint64_t)iter * CR_NR + i + 1);
			kaio_step_fd(&iocb[i], fd);
			kaio_step_sendfile(&iocb[i], tx[i], m.off[i], cr_len(i))->arg =
				windows[(iter + i) % 3];
		}
		ASSERT_EQ(0, pthread_create(&t, NULL, mrx_run, &m));
		ASSERT_EQ(CR_NR, kaio_submit(&k, iocb, CR_NR));
		for (int i = 0; i < CR_NR; i++)
			close(tx[i]);
		/* At once, after up to 3 ms, or now and then up to 40 ms. */
		if (iter % 8 == 7)
			usleep(rand_r(&seed) % 40000);
		else if (iter & 1)
			usleep(rand_r(&seed) % 3000);
		for (int i = 0; i < CR_NR; i++) {
			c[i] = kaio_cancel(&k, iocb[i].user_data);
			EXPECT_TRUE(c[i] == 0 || c[i] == -ENOENT)
				TH_LOG("iteration %d: cancel gave %d", iter, c[i]);
		}
		ASSERT_EQ(CR_NR, wait_n(&k, ev, CR_NR, 10000))
			TH_LOG("iteration %d: not every request completed within 10 s", iter);
		for (int j = 0; j < CR_NR; j++) {
			uint64_t i = ev[j].user_data - (uint64_t)iter * CR_NR - 1;

			ASSERT_LT(i, CR_NR) TH_LOG("iteration %d: stray event %llu", iter,
						   (unsigned long long)ev[j].user_data);
			ASSERT_EQ(0, seen[i]++) TH_LOG("iteration %d: request %llu completed twice",
						       iter, (unsigned long long)i);
			if (c[i] == 0) {
				EXPECT_EQ(-ECANCELED, ev[j].result) TH_LOG("iteration %d", iter);
				EXPECT_EQ(KAIO_EV_CANCELED, ev[j].flags);
				EXPECT_GE(1, ev[j].step);
				m.want[i] = ev[j].step == 1 ? ev[j].step_result[1] : 0;
				cancelled++;
			} else {
				/* ENOENT: it had finished, and in full. */
				EXPECT_EQ((int64_t)cr_len(i), ev[j].result) TH_LOG("iteration %d", iter);
				EXPECT_EQ(1, ev[j].step);
				EXPECT_EQ(KAIO_EV_DONE, ev[j].flags);
				m.want[i] = cr_len(i);
				whole++;
			}
		}
		/* The reader stops once every socket delivered its bytes. */
		__atomic_store_n(&m.stop_at, now_ms() + 2000, __ATOMIC_RELEASE);
		pthread_join(t, NULL);
		for (int i = 0; i < CR_NR; i++) {
			/* Nothing may follow the bytes counted in the event. */
			if (!m.eof[i])
				m.eof[i] = mrx_read(&m, i);
			held += !m.eof[i];
			EXPECT_EQ(m.want[i], (int64_t)m.got[i]) TH_LOG("iteration %d, socket %d", iter, i);
			EXPECT_EQ(-1, m.bad[i]) TH_LOG("iteration %d: wrong byte at %ld", iter, m.bad[i]);
		}
		for (int i = 0; i < CR_NR; i++)
			close(m.fd[i]);
		if (_metadata->exit_code)
			break;
	}
	/* Exactly once: nothing more in the ring. */
	EXPECT_EQ(0, kaio_wait(&k, ev, 0, CR_NR, 0));
	TH_LOG("%d iterations: %d cancelled, %d completed before the cancel; "
	       "%d sockets not yet released as their data was in", iter, cancelled, whole, held);
	EXPECT_LT(0, cancelled);

	/* Close with requests parked on full sockets, half of them cancelled. */
	for (int i = 0; i < CR_NR; i++) {
		int tx;

		ASSERT_EQ(0, unix_pair(&tx, &rxp[i]));
		kaio_iocb_init(&iocb[i], 9000 + i);
		kaio_step_fd(&iocb[i], fd);
		kaio_step_sendfile(&iocb[i], tx, 0, CR_LEN);
		ASSERT_EQ(1, kaio_submit(&k, &iocb[i], 1));
		close(tx);
	}
	for (int i = 0; i < CR_NR; i += 2)
		EXPECT_EQ(0, kaio_cancel(&k, 9000 + i));
	t0 = now_ms();
	kaio_close(&k);
	dt = now_ms() - t0;
	EXPECT_GT(2000, dt) TH_LOG("close took %lld ms", dt);
	for (int i = 0; i < 200; i++) {
		/* At most live0: a context of an earlier case may still have
		 * been finishing its teardown when live0 was read. */
		if (kaio_stat("inflight") == 0 && kaio_stat("contexts_live") <= live0)
			break;
		usleep(10000);
	}
	EXPECT_EQ(0, kaio_stat("inflight"));
	EXPECT_GE(live0, kaio_stat("contexts_live"));
	for (int i = 0; i < CR_NR; i++)
		close(rxp[i]);
	close(fd);
}

/* ------------------------------------------------------------------ 8 */

/*
 * Per-user in-flight limit (finding 7): max_user_inflight = 64; nobody
 * parks 64 READs on empty pipes, the 65th SUBMIT (in any of its contexts)
 * is EAGAIN; root still runs a request meanwhile; released, all 64
 * complete with their bytes and nobody can submit again. The parameter is
 * restored in the teardown, which runs after a failed ASSERT as well.
 */
FIXTURE(userlim) {
	struct kaio_ctx k;
	char old[32];
	int have;
};

FIXTURE_SETUP(userlim)
{
	self->have = read_param("max_user_inflight", self->old, sizeof(self->old)) == 0;
	ASSERT_EQ(0, kaio_setup(&self->k, 16));
}

FIXTURE_TEARDOWN(userlim)
{
	if (self->have && write_param("max_user_inflight", self->old))
		TH_LOG("could not restore max_user_inflight=%s", self->old);
	kaio_close(&self->k);
}

FIXTURE(usermem) {
	char old[32];
	int have;
};

FIXTURE_SETUP(usermem)
{
	self->have = read_param("max_user_memory", self->old, sizeof(self->old)) == 0;
	ASSERT_TRUE(self->have) TH_LOG("no max_user_memory parameter");
}

FIXTURE_TEARDOWN(usermem)
{
	if (self->have && write_param("max_user_memory", self->old))
		TH_LOG("could not restore max_user_memory=%s", self->old);
}

/*
 * Review finding 6: kernel memory is bounded per user, not only module-wide.
 * With max_user_memory at 512 KiB, uid 65534 gets one ring of 4096 entries
 * (about 440 KiB) but not a second (EAGAIN), and its requests still run;
 * meanwhile root, another user, still gets a ring of the same size.
 */
TEST_F_TIMEOUT(usermem, per_user_memory_limit, 20)
{
	int go[2], done[2], st, pid;
	struct kaio_ctx k;
	char c = 0;

	ASSERT_EQ(0, write_param("max_user_memory", "524288"));
	ASSERT_EQ(0, pipe(go));
	ASSERT_EQ(0, pipe(done));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kaio_ctx k2;
		struct kaio_iocb iocb;
		struct kaio_event ev;
		char buf[64];

		if (become_nobody())
			_exit(10);
		if (kaio_setup(&k, 4096))
			_exit(11);
		if (kaio_setup(&k2, 4096) != -EAGAIN)
			_exit(12);
		kaio_iocb_init(&iocb, 5);
		kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
		kaio_step_read(&iocb, buf, sizeof(buf), 0);
		kaio_step_close(&iocb);
		if (kaio_run1(&k, &iocb, &ev) != 1 || ev.result != 0 ||
		    ev.step_result[1] != sizeof(buf) ||
		    kaio_pattern_check((uint8_t *)buf, sizeof(buf), 4096, 0) != -1)
			_exit(13);
		/* Hold the ring while root sets up its own. */
		if (write(done[1], "r", 1) != 1 || read(go[0], &c, 1) != 1)
			_exit(14);
		kaio_close(&k);
		_exit(0);
	}
	close(done[1]);
	close(go[0]);
	EXPECT_EQ(1, read(done[0], &c, 1));
	EXPECT_EQ(0, kaio_setup(&k, 4096));
	kaio_close(&k);
	EXPECT_EQ(1, write(go[1], "g", 1));
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st)) TH_LOG("child step %d failed", WEXITSTATUS(st));
	close(done[0]);
	close(go[1]);
}

TEST_F_TIMEOUT(userlim, per_user_inflight_limit, 40)
{
	enum { N = 64, LEN = 16 };
	int p[N + 1][2], sync[2], st, r;
	uint8_t buf[4096], pl[LEN];
	char val[32];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct pollfd pfd;
	pid_t pid;
	char c = 0;

	ASSERT_TRUE(self->have) TH_LOG("no module parameter max_user_inflight");
	ASSERT_EQ(0, write_param("max_user_inflight", "64"));
	ASSERT_EQ(0, read_param("max_user_inflight", val, sizeof(val)));
	ASSERT_STREQ("64", val);
	for (int i = 0; i <= N; i++)
		ASSERT_EQ(0, pipe2(p[i], O_CLOEXEC));
	ASSERT_EQ(0, pipe2(sync, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		static struct kaio_iocb ci[N + 1];
		static struct kaio_event ce[N + 1];
		static uint8_t cb[N + 1][LEN];
		struct kaio_ctx k, k2;
		int seen[N] = { 0 };
		uint8_t want[LEN];

		CHILD_EQ(0, become_nobody());
		CHILD_EQ(0, kaio_setup(&k, 128));
		CHILD_EQ(0, kaio_setup(&k2, 16));
		for (int i = 0; i <= N; i++) {
			kaio_iocb_init(&ci[i], i);
			kaio_step_fd(&ci[i], p[i][0]);
			kaio_step_read(&ci[i], cb[i], LEN, 0);
		}
		CHILD_EQ(N, kaio_submit(&k, ci, N));
		/* The 65th, in the same context and in another. */
		CHILD_EQ(-EAGAIN, kaio_submit(&k, &ci[N], 1));
		CHILD_EQ(-EAGAIN, kaio_submit(&k2, &ci[N], 1));
		CHILD_EQ(1, write(sync[1], "p", 1));
		CHILD_EQ(N, wait_n(&k, ce, N, 20000));
		for (int j = 0; j < N; j++) {
			uint64_t u = ce[j].user_data;

			CHILD_EQ(1, u < N);
			CHILD_EQ(0, seen[u]++);
			CHILD_EQ(LEN, ce[j].result);
			payload(want, u, LEN);
			CHILD_EQ(0, memcmp(want, cb[u], LEN));
		}
		/* Under the limit again. */
		CHILD_EQ(1, kaio_submit(&k2, &ci[N], 1));
		CHILD_EQ(1, wait1(&k2, &ce[N], 10000));
		CHILD_EQ(LEN, ce[N].result);
		payload(want, N, LEN);
		CHILD_EQ(0, memcmp(want, cb[N], LEN));
		kaio_close(&k2);
		kaio_close(&k);
		_exit(0);
	}
	close(sync[1]);
	pfd.fd = sync[0];
	pfd.events = POLLIN;
	r = poll(&pfd, 1, 10000);
	EXPECT_EQ(1, r) TH_LOG("the child did not get to park its READs");
	if (r == 1) {
		EXPECT_EQ(1, read(sync[0], &c, 1));
		EXPECT_EQ('p', c) TH_LOG("the child failed before parking (see its message)");
	}
	/* Root is not nobody: its request runs. */
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	EXPECT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	r = wait1(&self->k, &ev, 5000);
	EXPECT_EQ(1, r) TH_LOG("root's request did not complete while nobody was at its limit");
	if (r == 1) {
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ(-1, kaio_pattern_check(buf, 4096, 4096, 0));
	}
	for (int i = 0; i <= N; i++) {
		payload(pl, i, LEN);
		EXPECT_EQ(LEN, write(p[i][1], pl, LEN));
	}
	st = wait_child(pid, 25000);
	EXPECT_EQ(0, st) TH_LOG("child: status %#x (-1: did not end)", st);
	for (int i = 0; i <= N; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
	close(sync[0]);
}

/* ------------------------------------------------------------------ 1 */

/*
 * Two SENDFILEs in one chain, each NOCACHE or not (finding 1: the second
 * step's state was sized by the first's and a NOCACHE second step wrote
 * through a NULL page array). Bytes [0, A) then [A, A + B) of p_1m3, cold.
 */
enum { SF_A = 200003, SF_B = 500001 };

FIXTURE(chain2) {
	struct kaio_ctx k;
};

FIXTURE_VARIANT(chain2) {
	unsigned int first, second;	/* op_flags of the two SENDFILEs */
};

FIXTURE_VARIANT_ADD(chain2, cached_then_nocache) {
	.first = 0, .second = KAIO_SENDFILE_NOCACHE,
};

FIXTURE_VARIANT_ADD(chain2, cached_then_cached) {
	.first = 0, .second = 0,
};

FIXTURE_VARIANT_ADD(chain2, nocache_then_cached) {
	.first = KAIO_SENDFILE_NOCACHE, .second = 0,
};

FIXTURE_VARIANT_ADD(chain2, nocache_then_nocache) {
	.first = KAIO_SENDFILE_NOCACHE, .second = KAIO_SENDFILE_NOCACHE,
};

FIXTURE_SETUP(chain2)
{
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, kaio_setup(&self->k, 16));
}

FIXTURE_TEARDOWN(chain2)
{
	kaio_close(&self->k);
}

/* FD -> SENDFILE(sock, 0, A) -> SENDFILE(sock, A, B) -> CLOSE. */
TEST_F_TIMEOUT(chain2, fd_one_socket, 30)
{
	struct rcv r = { .cap = SF_A + SF_B + 4096 };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = open(S("p_1m3"), O_RDONLY), tx;

	ASSERT_LE(0, fd);
	kaio_drop_caches("1");
	ASSERT_EQ(0, unix_pair(&tx, &r.fd));
	ASSERT_EQ(0, rcv_start(&r));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_sendfile(&iocb, tx, 0, SF_A)->op_flags = variant->first;
	kaio_step_sendfile(&iocb, tx, SF_A, SF_B)->op_flags = variant->second;
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	/* kaio holds its own reference: the reader's EOF means kaio let go. */
	close(tx);
	ASSERT_EQ(1, wait1(&self->k, &ev, 20000)) TH_LOG("no completion in 20 s");
	rcv_finish(&r);
	EXPECT_EQ(1, ev.user_data);
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(3, ev.step);
	EXPECT_EQ(KAIO_EV_DONE, ev.flags);
	EXPECT_EQ(0, ev.step_result[0]);
	EXPECT_EQ(SF_A, ev.step_result[1]);
	EXPECT_EQ(SF_B, ev.step_result[2]);
	EXPECT_EQ(0, ev.step_result[3]);
	EXPECT_EQ(1, r.eof) TH_LOG("no end of stream: the socket is still held");
	EXPECT_EQ(SF_A + SF_B, r.got);
	EXPECT_EQ(-1, kaio_pattern_check(r.buf, r.got < SF_A + SF_B ? r.got : SF_A + SF_B, 3, 0));
	close(r.fd);
	close(fd);
	free(r.buf);
}

/* OPEN -> SENDFILE(sock1, 0, A) -> SENDFILE(sock2, A, B) -> CLOSE. */
TEST_F_TIMEOUT(chain2, open_two_sockets, 30)
{
	struct rcv r1 = { .cap = SF_A + 4096 }, r2 = { .cap = SF_B + 4096 };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int tx1, tx2;

	kaio_drop_caches("1");
	ASSERT_EQ(0, unix_pair(&tx1, &r1.fd));
	ASSERT_EQ(0, unix_pair(&tx2, &r2.fd));
	ASSERT_EQ(0, rcv_start(&r1));
	ASSERT_EQ(0, rcv_start(&r2));
	kaio_iocb_init(&iocb, 2);
	kaio_step_open(&iocb, AT_FDCWD, S("p_1m3"), O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx1, 0, SF_A)->op_flags = variant->first;
	kaio_step_sendfile(&iocb, tx2, SF_A, SF_B)->op_flags = variant->second;
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	close(tx1);
	close(tx2);
	ASSERT_EQ(1, wait1(&self->k, &ev, 20000)) TH_LOG("no completion in 20 s");
	rcv_finish(&r1);
	rcv_finish(&r2);
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(3, ev.step);
	EXPECT_EQ(KAIO_EV_DONE, ev.flags);
	EXPECT_EQ(SF_A, ev.step_result[1]);
	EXPECT_EQ(SF_B, ev.step_result[2]);
	EXPECT_EQ(1, r1.eof) TH_LOG("no end of stream: the socket is still held");
	EXPECT_EQ(1, r2.eof) TH_LOG("no end of stream: the socket is still held");
	EXPECT_EQ(SF_A, r1.got);
	EXPECT_EQ(SF_B, r2.got);
	EXPECT_EQ(-1, kaio_pattern_check(r1.buf, r1.got < SF_A ? r1.got : SF_A, 3, 0));
	EXPECT_EQ(-1, kaio_pattern_check(r2.buf, r2.got < SF_B ? r2.got : SF_B, 3, SF_A));
	close(r1.fd);
	close(r2.fd);
	free(r1.buf);
	free(r2.buf);
}

/* ------------------------------------------------------------------ 2 */

/*
 * NOCACHE reads with direct I/O, so it is refused (EINVAL) exactly where
 * the file system refuses O_DIRECT: at SUBMIT when the file is known then
 * (FD), in the event at the SENDFILE step when the chain opens it (OPEN),
 * and nothing is sent. ramfs has neither FMODE_CAN_ODIRECT nor
 * ->direct_IO (finding 2: a call through NULL); tmpfs takes O_DIRECT
 * since Linux 6.6, and there NOCACHE must send the right bytes.
 */
#define NODIO_LEN 65536

FIXTURE(nocache_fs) {
	struct kaio_ctx k;
	char dir[64];
	char path[96];
	int mounted;
	int odirect;		/* open(O_DIRECT) works on this file system */
};

FIXTURE_VARIANT(nocache_fs) {
	const char *fstype;
	long magic;
	int no_odirect;		/* O_DIRECT must be refused here */
};

FIXTURE_VARIANT_ADD(nocache_fs, tmpfs) {
	.fstype = "tmpfs", .magic = TMPFS_MAGIC,
};

FIXTURE_VARIANT_ADD(nocache_fs, ramfs) {
	.fstype = "ramfs", .magic = RAMFS_MAGIC, .no_odirect = 1,
};

FIXTURE_SETUP(nocache_fs)
{
	static uint8_t data[NODIO_LEN];
	struct statfs sfs;
	int fd;

	signal(SIGPIPE, SIG_IGN);
	snprintf(self->dir, sizeof(self->dir), "/tmp/trust_%s_%d", variant->fstype, getpid());
	ASSERT_EQ(0, mkdir(self->dir, 0755));
	if (!strcmp(variant->fstype, "ramfs")) {
		ASSERT_EQ(0, mount("ramfs", self->dir, "ramfs", 0, NULL));
		self->mounted = 1;
	}
	ASSERT_EQ(0, statfs(self->dir, &sfs));
	ASSERT_EQ(variant->magic, (long)sfs.f_type) TH_LOG("%s is not on %s", self->dir, variant->fstype);
	snprintf(self->path, sizeof(self->path), "%s/f", self->dir);
	for (size_t i = 0; i < NODIO_LEN; i++)
		data[i] = kaio_pattern(9, i);
	fd = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0644);
	ASSERT_LE(0, fd);
	ASSERT_EQ(NODIO_LEN, write(fd, data, NODIO_LEN));
	close(fd);
	fd = open(self->path, O_RDONLY | O_DIRECT);
	if (fd >= 0) {
		self->odirect = 1;
		close(fd);
	} else {
		ASSERT_EQ(EINVAL, errno);
	}
	if (variant->no_odirect)
		ASSERT_EQ(0, self->odirect) TH_LOG("%s takes O_DIRECT", variant->fstype);
	ASSERT_EQ(0, kaio_setup(&self->k, 16));
}

FIXTURE_TEARDOWN(nocache_fs)
{
	kaio_close(&self->k);
	unlink(self->path);
	if (self->mounted)
		umount2(self->dir, MNT_DETACH);
	rmdir(self->dir);
}

TEST_F_TIMEOUT(nocache_fs, fd_step, 20)
{
	static uint8_t buf[NODIO_LEN + 1];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = open(self->path, O_RDONLY), tx, rx, r;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, unix_pair(&tx, &rx));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_sendfile(&iocb, tx, 0, 0)->op_flags = KAIO_SENDFILE_NOCACHE;
	r = kaio_submit(&self->k, &iocb, 1);
	if (!self->odirect) {
		EXPECT_EQ(-EINVAL, r) TH_LOG("NOCACHE from %s (no O_DIRECT) accepted", variant->fstype);
		/* Nothing queued, nothing sent. */
		EXPECT_EQ(0, kaio_wait(&self->k, &ev, 0, 1, 100 * MS));
		EXPECT_TRUE(socket_empty(rx));
	} else {
		ASSERT_EQ(1, r) TH_LOG("NOCACHE from %s (O_DIRECT works) refused", variant->fstype);
		ASSERT_EQ(1, wait1(&self->k, &ev, 10000)) TH_LOG("no completion in 10 s");
		EXPECT_EQ(NODIO_LEN, ev.result);
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(NODIO_LEN, drain(rx, buf, sizeof(buf)));
		EXPECT_EQ(-1, kaio_pattern_check(buf, NODIO_LEN, 9, 0));
	}
	close(tx);
	close(rx);
	close(fd);
}

TEST_F_TIMEOUT(nocache_fs, open_step, 20)
{
	static uint8_t buf[NODIO_LEN + 1];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int tx, rx;

	ASSERT_EQ(0, unix_pair(&tx, &rx));
	kaio_iocb_init(&iocb, 2);
	kaio_step_open(&iocb, AT_FDCWD, self->path, O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx, 0, 0)->op_flags = KAIO_SENDFILE_NOCACHE;
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000)) TH_LOG("no completion in 10 s");
	EXPECT_EQ(2, ev.user_data);
	EXPECT_EQ(0, ev.step_result[0]);
	if (!self->odirect) {
		EXPECT_EQ(-EINVAL, ev.result);
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(-EINVAL, ev.step_result[1]);
		EXPECT_EQ(0, ev.step_result[2]);
		EXPECT_TRUE(socket_empty(rx));
	} else {
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ(2, ev.step);
		EXPECT_EQ(NODIO_LEN, ev.step_result[1]);
		EXPECT_EQ(NODIO_LEN, drain(rx, buf, sizeof(buf)));
		EXPECT_EQ(-1, kaio_pattern_check(buf, NODIO_LEN, 9, 0));
	}
	close(tx);
	close(rx);
}

/* The same file without NOCACHE is sent (the refusal is NOCACHE's only). */
TEST_F_TIMEOUT(nocache_fs, cached_sendfile_works, 20)
{
	static uint8_t buf[NODIO_LEN + 1];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int tx, rx;

	ASSERT_EQ(0, unix_pair(&tx, &rx));
	kaio_iocb_init(&iocb, 3);
	kaio_step_open(&iocb, AT_FDCWD, self->path, O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx, 0, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, wait1(&self->k, &ev, 10000)) TH_LOG("no completion in 10 s");
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(2, ev.step);
	EXPECT_EQ(NODIO_LEN, ev.step_result[1]);
	/* 64 KiB fits in the socket: all of it is there once complete. */
	EXPECT_EQ(NODIO_LEN, drain(rx, buf, sizeof(buf)));
	EXPECT_EQ(-1, kaio_pattern_check(buf, NODIO_LEN, 9, 0));
	close(tx);
	close(rx);
}

TEST_HARNESS_MAIN
