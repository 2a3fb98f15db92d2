// SPDX-License-Identifier: GPL-2.0
/*
 * Lifetimes: a process that dies, closes or execs with requests in flight
 * is gone at once, leaves no context, no request and no memory behind, and
 * the module can be unloaded afterwards.
 *
 * Each case runs in a loop of $kaiostress rounds (2 without it; make
 * stress sets 200), each round in a forked child that the test kills with
 * SIGKILL or lets exit. After each round: the child is reaped within 1 s
 * of the SIGKILL (else its tasks' state, wchan and stack are printed and
 * the case fails), and the module's contexts_live and inflight are back to
 * their values from before the round within 2 s (5 s for the SCM_RIGHTS
 * cycle). The last case unloads and reloads the module.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define EXEC_MARKER "--kaio-exec-keep"

static int rounds(void)
{
	int s = stress_level();

	return s > 0 ? s : 2;
}

static unsigned int pow2_at_least(unsigned int n)
{
	unsigned int p = 16;

	while (p < n)
		p <<= 1;
	return p;
}

/* Waits up to @ms for @pid to be reaped. On a timeout prints its tasks. */
static bool reap_within(pid_t pid, int ms, int *status)
{
	pid_t r = waitpid_within(pid, status, ms);

	if (r == pid)
		return true;
	if (r < 0)
		return false;
	fprintf(stderr, "# pid %d not reaped after %d ms:\n", pid, ms);
	dump_tasks(pid);
	return false;
}

/* After a failed reap: give the child a last chance, then forget it. */
static void reap_late(pid_t pid)
{
	int st;

	if (!reap_within(pid, 10000, &st))
		fprintf(stderr, "# pid %d still not reaped after 10 more s\n", pid);
}

struct counters {
	long long live, infl;
};

static struct counters counters_now(void)
{
	struct counters c = { kaio_stat("contexts_live"), kaio_stat("inflight") };

	return c;
}

/* Polls until both counters are back at @c0's values, for at most @ms. */
static bool counters_back(const struct counters *c0, int ms, struct counters *now)
{
	int64_t end = now_ns() + ms * MS;

	for (;;) {
		*now = counters_now();
		if (now->live == c0->live && now->infl == c0->infl)
			return true;
		if (now_ns() > end)
			return false;
		usleep(5000);
	}
}

#define EXPECT_COUNTERS_BACK(c0, ms) do {					\
		struct counters __now;						\
		bool __ok = counters_back(&(c0), (ms), &__now);			\
		EXPECT_TRUE(__ok) TH_LOG("after %d ms: contexts_live %lld (was %lld), " \
					 "inflight %lld (was %lld)", (ms),	\
					 __now.live, (c0).live, __now.infl, (c0).infl); \
	} while (0)

/* What a child reports to the test (shared mapping). */
struct report {
	int accepted;
	int step;		/* where the child failed, 0 if it did not */
	int err;		/* errno or -result at that point */
	char msg[200];
	long long close_ns;
	long long drain_ns;
	int drained;
	int sendmsg_err;
	struct counters c0;
};

#define CHILD_FAIL(rep, readyfd, stepno, e, ...) do {				\
		(rep)->step = (stepno);						\
		(rep)->err = (e);						\
		snprintf((rep)->msg, sizeof((rep)->msg), __VA_ARGS__);		\
		if ((readyfd) >= 0 && write((readyfd), "F", 1) != 1)		\
			_exit(99);						\
		_exit(stepno);							\
	} while (0)

static void child_ready(int fd)
{
	if (write(fd, "R", 1) != 1)
		_exit(98);
}

/* Submits all @n iocbs, resubmitting the rest after a partial accept. */
static int submit_all(struct kaio_ctx *k, struct kaio_iocb *iocbs, int n)
{
	int done = 0;

	while (done < n) {
		int r = kaio_submit(k, iocbs + done, n - done > 1024 ? 1024 : n - done);

		if (r <= 0)
			return done ? done : r;
		done += r;
	}
	return done;
}

/* True once every @rx in @fds has bytes queued (a SENDFILE reached it). */
static bool all_have_data(const int *fds, int n, int ms)
{
	int64_t end = now_ns() + ms * MS;
	int i = 0;

	while (i < n) {
		int q = 0;

		if (ioctl(fds[i], FIONREAD, &q) == 0 && q > 0) {
			i++;
			continue;
		}
		if (now_ns() > end)
			return false;
		usleep(1000);
	}
	return true;
}

FIXTURE(life) {
	char fifo[64];
};

FIXTURE_SETUP(life)
{
	signal(SIGPIPE, SIG_IGN);
	snprintf(self->fifo, sizeof(self->fifo), "/tmp/kaio_life_fifo.%d", getpid());
	unlink(self->fifo);
	ASSERT_EQ(0, raise_nofile(2 * 10000 + 4096)) TH_LOG("RLIMIT_NOFILE: %s", strerror(errno));
	ASSERT_LE(0, kaio_stat("contexts_live")) TH_LOG("no %s", KAIO_STATS);
	ASSERT_LE(0, kaio_stat("inflight"));
}

FIXTURE_TEARDOWN(life)
{
	unlink(self->fifo);
}

/*
 * (a) SIGKILL with SENDFILEs parked on full sockets. The test holds the
 * receiving ends, so nothing but the teardown can unpark them. Round 0
 * parks 1 000 (10 000 with kaiostress >= 50) and waits until every one has
 * reached its socket; later rounds park 256 and kill at a random moment,
 * some while the submissions are still being started.
 */
static void parked_round(struct __test_metadata *_metadata, int round, int n)
{
	struct counters c0 = counters_now();
	struct report *rep = shared_zalloc(sizeof(*rep));
	int *tx = calloc(n, sizeof(int)), *rx = calloc(n, sizeof(int));
	int ready[2], st = 0, sndbuf = 4096;
	long long parks0 = kaio_stat("sendfile_out_parks");
	pid_t pid;

	ASSERT_NE(NULL, rep);
	ASSERT_TRUE(tx && rx);
	for (int i = 0; i < n; i++) {
		ASSERT_EQ(0, unix_pair(&tx[i], &rx[i])) TH_LOG("pair %d: %s", i, strerror(errno));
		setsockopt(tx[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
	}
	ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kaio_ctx k;
		struct kaio_iocb *iocb = calloc(n, sizeof(*iocb));
		int r;

		close(ready[0]);
		for (int i = 0; i < n; i++)
			close(rx[i]);
		if (!iocb)
			CHILD_FAIL(rep, ready[1], 1, ENOMEM, "calloc");
		r = kaio_setup(&k, pow2_at_least(n));
		if (r)
			CHILD_FAIL(rep, ready[1], 2, -r, "kaio_setup: %s", strerror(-r));
		for (int i = 0; i < n; i++) {
			kaio_iocb_init(&iocb[i], i);
			kaio_step_open(&iocb[i], AT_FDCWD, S("p_64m"), O_RDONLY, 0);
			kaio_step_sendfile(&iocb[i], tx[i], 0, 0);
			kaio_step_close(&iocb[i]);
		}
		r = submit_all(&k, iocb, n);
		rep->accepted = r;
		if (r != n)
			CHILD_FAIL(rep, ready[1], 3, r < 0 ? -r : 0, "submitted %d of %d", r, n);
		child_ready(ready[1]);
		for (;;)
			pause();
	}
	close(ready[1]);
	for (int i = 0; i < n; i++)
		close(tx[i]);
	st = byte_within(ready[0], 60000);
	EXPECT_EQ('R', st) TH_LOG("round %d: child: step %d, %s (%s)", round, rep->step,
				  rep->msg, strerror(rep->err));
	if (st == 'R' && round == 0) {
		/* Every request has sent into its socket and is parked. */
		EXPECT_TRUE(all_have_data(rx, n, 120000))
			TH_LOG("not every SENDFILE reached its socket within 120 s");
		EXPECT_EQ(c0.infl + n, kaio_stat("inflight"));
		TH_LOG("round 0: %d SENDFILEs parked (sendfile_out_parks +%lld)", n,
		       kaio_stat("sendfile_out_parks") - parks0);
	} else if (st == 'R') {
		usleep(rand() % 30000);
	}
	ASSERT_EQ(0, kill(pid, SIGKILL));
	if (!reap_within(pid, 1000, &st)) {
		EXPECT_TRUE(false) TH_LOG("round %d: the killed process is stuck", round);
		for (int i = 0; i < n; i++)
			close(rx[i]);
		reap_late(pid);
	} else {
		EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL) TH_LOG("status %#x", st);
		/*
		 * The receivers are still open: only the teardown can unpark.
		 * The process is gone within 1 s (above); its requests then
		 * finish on kaio's workqueue, about 4 000 a second under TCG
		 * with KASAN: 2 s, plus 1 s per 4 000 parked.
		 */
		EXPECT_COUNTERS_BACK(c0, 2000 + n / 4);
		for (int i = 0; i < n; i++)
			close(rx[i]);
	}
	close(ready[0]);
	munmap(rep, sizeof(*rep));
	free(tx);
	free(rx);
}

TEST_F_TIMEOUT(life, sigkill_parked_sendfiles, 300)
{
	int big = stress_level() >= 50 ? 10000 : 1000;

	srand(getpid());
	for (int r = 0; r < rounds() && !_metadata->exit_code; r++)
		parked_round(_metadata, r, r == 0 ? big : 256);
}

/*
 * (b) OPEN of a FIFO that has no writer (even rounds: O_RDONLY) or no
 * reader (odd rounds: O_WRONLY), then SIGKILL.
 */
TEST_F_TIMEOUT(life, sigkill_fifo_open, 300)
{
	for (int round = 0; round < rounds() && !_metadata->exit_code; round++) {
		struct counters c0 = counters_now();
		struct report *rep = shared_zalloc(sizeof(*rep));
		int ready[2], st, flags = round & 1 ? O_WRONLY : O_RDONLY;
		pid_t pid;

		ASSERT_NE(NULL, rep);
		unlink(self->fifo);
		ASSERT_EQ(0, mkfifo(self->fifo, 0600));
		ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct kaio_ctx k;
			struct kaio_iocb iocb;
			struct kaio_event ev;
			static char buf[16];
			int r;

			close(ready[0]);
			r = kaio_setup(&k, 16);
			if (r)
				CHILD_FAIL(rep, ready[1], 1, -r, "kaio_setup");
			kaio_iocb_init(&iocb, 1);
			kaio_step_open(&iocb, AT_FDCWD, self->fifo, flags, 0);
			if (flags == O_RDONLY)
				kaio_step_read(&iocb, buf, sizeof(buf), 0);
			else
				kaio_step_write(&iocb, buf, sizeof(buf), 0);
			kaio_step_close(&iocb);
			r = kaio_submit(&k, &iocb, 1);
			if (r != 1)
				CHILD_FAIL(rep, ready[1], 2, r < 0 ? -r : 0, "submit: %d", r);
			usleep(200000);
			r = kaio_wait(&k, &ev, 0, 1, 0);
			if (r != 0)
				CHILD_FAIL(rep, ready[1], 3, 0,
					   "the FIFO open completed with nobody on the other side: "
					   "%d, result %lld", r, (long long)ev.result);
			child_ready(ready[1]);
			for (;;)
				pause();
		}
		close(ready[1]);
		st = byte_within(ready[0], 30000);
		EXPECT_EQ('R', st) TH_LOG("round %d: child: step %d: %s", round, rep->step,
					  rep->msg);
		ASSERT_EQ(0, kill(pid, SIGKILL));
		if (!reap_within(pid, 1000, &st)) {
			int fd;

			EXPECT_TRUE(false) TH_LOG("round %d: killed during a FIFO open, still "
						  "there after 1 s", round);
			/* Let the open finish so the task can go. */
			fd = open(self->fifo, (flags == O_RDONLY ? O_WRONLY : O_RDONLY) | O_NONBLOCK);
			reap_late(pid);
			if (fd >= 0)
				close(fd);
		} else {
			EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			EXPECT_COUNTERS_BACK(c0, 2000);
		}
		close(ready[0]);
		unlink(self->fifo);
		munmap(rep, sizeof(*rep));
	}
}

/*
 * (c) Stream reads and writes that cannot progress, then SIGKILL: READ of
 * an empty pipe, READ of an empty unix socket and WRITE to a full pipe,
 * while the process holds ~200 MiB it has touched. The test keeps the
 * other ends open, so nothing completes the I/O but the teardown; the
 * process's memory must come back (MemAvailable recovers).
 */
TEST_F_TIMEOUT(life, sigkill_stream_io, 300)
{
	const size_t touch = 200 << 20;

	for (int round = 0; round < rounds() && !_metadata->exit_code; round++) {
		struct counters c0 = counters_now();
		struct report *rep = shared_zalloc(sizeof(*rep));
		int ready[2], p[2], q[2], sv[2], st;
		long avail0, avail1, avail2 = -1;
		int64_t end;
		pid_t pid;

		ASSERT_NE(NULL, rep);
		ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
		ASSERT_EQ(0, pipe2(q, O_CLOEXEC | O_NONBLOCK));
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
		{
			/* Fill q: the child's WRITE meets a full pipe. */
			static char junk[4096];

			fill_fd(q[1], junk, sizeof(junk));
			ASSERT_EQ(EAGAIN, errno);
			ASSERT_EQ(0, fcntl(q[1], F_SETFL, 0));
		}
		ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
		slab_shrink_all();
		avail0 = meminfo_kb("MemAvailable");
		ASSERT_LT(0, avail0);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct kaio_ctx k;
			struct kaio_iocb iocb[3];
			struct kaio_event ev;
			char *mem;
			int r;

			close(ready[0]);
			close(p[1]);
			close(q[0]);
			close(sv[1]);
			mem = mmap(NULL, touch, PROT_READ | PROT_WRITE,
				   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
			if (mem == MAP_FAILED)
				CHILD_FAIL(rep, ready[1], 1, errno, "mmap");
			memset(mem, 0x5a, touch);
			r = kaio_setup(&k, 16);
			if (r)
				CHILD_FAIL(rep, ready[1], 2, -r, "kaio_setup");
			kaio_iocb_init(&iocb[0], 1);
			kaio_step_fd(&iocb[0], p[0]);
			kaio_step_read(&iocb[0], mem, 4096, 0);
			kaio_iocb_init(&iocb[1], 2);
			kaio_step_fd(&iocb[1], sv[0]);
			kaio_step_read(&iocb[1], mem + 4096, 4096, 0);
			kaio_iocb_init(&iocb[2], 3);
			kaio_step_fd(&iocb[2], q[1]);
			kaio_step_write(&iocb[2], mem + 8192, 4096, 0);
			r = submit_all(&k, iocb, 3);
			rep->accepted = r;
			if (r != 3)
				CHILD_FAIL(rep, ready[1], 3, r < 0 ? -r : 0, "submit: %d", r);
			usleep(200000);
			r = kaio_wait(&k, &ev, 0, 1, 0);
			if (r != 0)
				CHILD_FAIL(rep, ready[1], 4, 0, "a blocked stream request completed: "
					   "user_data %llu result %lld",
					   (unsigned long long)ev.user_data, (long long)ev.result);
			child_ready(ready[1]);
			for (;;)
				pause();
		}
		close(ready[1]);
		close(p[0]);
		close(q[1]);
		close(sv[0]);
		st = byte_within(ready[0], 60000);
		EXPECT_EQ('R', st) TH_LOG("round %d: child: step %d: %s (%s)", round, rep->step,
					  rep->msg, strerror(rep->err));
		avail1 = meminfo_kb("MemAvailable");
		if (st == 'R') {
			/* The measure can see the child's 200 MiB at all (page
			 * cache moving meanwhile blurs it by a few MiB). */
			EXPECT_LT(avail1, avail0 - 100 * 1024)
				TH_LOG("MemAvailable %ld kB before, %ld kB with the child", avail0, avail1);
		}
		ASSERT_EQ(0, kill(pid, SIGKILL));
		if (!reap_within(pid, 1000, &st)) {
			EXPECT_TRUE(false) TH_LOG("round %d: killed with blocked stream I/O, still "
						  "there after 1 s", round);
			close(p[1]);
			close(q[0]);
			close(sv[1]);
			reap_late(pid);
		} else {
			EXPECT_TRUE(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
			EXPECT_COUNTERS_BACK(c0, 2000);
			/*
			 * Its memory is free again. A pinned mm gives back none
			 * of the child's pages (exit_mmap frees them all at once
			 * when the last user goes); MemAvailable also moves with
			 * the page cache by tens of MiB under this load, so the
			 * test asks for at least half of what the child took.
			 */
			end = now_ns() + 2 * SEC;
			do {
				slab_shrink_all();
				avail2 = meminfo_kb("MemAvailable");
				if (avail2 - avail1 >= (avail0 - avail1) / 2)
					break;
				usleep(100000);
			} while (now_ns() < end);
			EXPECT_GE(avail2 - avail1, (avail0 - avail1) / 2)
				TH_LOG("MemAvailable: %ld kB before, %ld kB with the child, %ld kB 2 s "
				       "after it was reaped: its memory is still pinned",
				       avail0, avail1, avail2);
			if (round == 0)
				TH_LOG("MemAvailable: %ld kB before, %ld kB with the child, %ld kB after",
				       avail0, avail1, avail2);
			close(p[1]);
			close(q[0]);
			close(sv[1]);
		}
		close(ready[0]);
		munmap(rep, sizeof(*rep));
	}
}

/*
 * (d) close() of a context with 4 096 requests in flight: 2 048 SENDFILEs
 * parked on full sockets (whose receivers stay open) and 2 048 cold READs.
 * The close returns within 2 s and every request is gone within 2 s more,
 * while the process is still alive; then the process exits by itself.
 */
TEST_F_TIMEOUT(life, close_with_4096_in_flight, 300)
{
	enum { NS = 2048, NR = 2048, RLEN = 16384 };

	for (int round = 0; round < rounds() && !_metadata->exit_code; round++) {
		struct counters c0 = counters_now();
		struct report *rep = shared_zalloc(sizeof(*rep));
		int st;
		pid_t pid;

		ASSERT_NE(NULL, rep);
		rep->c0 = c0;
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			static int tx[NS], rx[NS];
			struct kaio_iocb *iocb = calloc(NS + NR, sizeof(*iocb));
			uint8_t *bufs = malloc((size_t)NR * RLEN);
			struct kaio_ctx k;
			int sndbuf = 4096, r;
			int64_t t0, t1;
			struct counters now;

			if (!iocb || !bufs)
				CHILD_FAIL(rep, -1, 1, ENOMEM, "alloc");
			memset(bufs, 0, (size_t)NR * RLEN);
			for (int i = 0; i < NS; i++) {
				if (unix_pair(&tx[i], &rx[i]))
					CHILD_FAIL(rep, -1, 2, errno, "socketpair %d", i);
				setsockopt(tx[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
			}
			r = kaio_setup(&k, 8192);
			if (r)
				CHILD_FAIL(rep, -1, 3, -r, "kaio_setup");
			for (int i = 0; i < NS; i++) {
				kaio_iocb_init(&iocb[i], i);
				kaio_step_open(&iocb[i], AT_FDCWD, S("p_64m"), O_RDONLY, 0);
				kaio_step_sendfile(&iocb[i], tx[i], 0, 0);
				kaio_step_close(&iocb[i]);
			}
			for (int i = 0; i < NR; i++) {
				struct kaio_iocb *c = &iocb[NS + i];

				kaio_iocb_init(c, NS + i);
				kaio_step_open(c, AT_FDCWD, S("p_64m"), O_RDONLY, 0);
				kaio_step_read(c, bufs + (size_t)i * RLEN, RLEN, (int64_t)i * 32768);
				kaio_step_close(c);
			}
			r = submit_all(&k, iocb, NS);
			if (r != NS)
				CHILD_FAIL(rep, -1, 4, r < 0 ? -r : 0, "sends: %d of %d", r, NS);
			if (!all_have_data(rx, NS, 120000))
				CHILD_FAIL(rep, -1, 5, 0, "sends not parked within 120 s");
			kaio_drop_caches("1");
			r = submit_all(&k, iocb + NS, NR);
			if (r != NR)
				CHILD_FAIL(rep, -1, 6, r < 0 ? -r : 0, "reads: %d of %d", r, NR);
			rep->accepted = NS + NR;
			t0 = now_ns();
			kaio_close(&k);		/* munmap and the last close */
			t1 = now_ns();
			rep->close_ns = t1 - t0;
			rep->drained = counters_back(&rep->c0, 2000, &now);
			rep->drain_ns = now_ns() - t1;
			_exit(0);
		}
		if (!reap_within(pid, 300000, &st)) {
			EXPECT_TRUE(false) TH_LOG("round %d: the closing process is stuck", round);
			kill(pid, SIGKILL);
			reap_late(pid);
			break;
		}
		EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
			TH_LOG("round %d: child status %#x: step %d: %s (%s)", round, st, rep->step,
			       rep->msg, strerror(rep->err));
		if (WIFEXITED(st) && WEXITSTATUS(st) == 0) {
			EXPECT_GT(2 * SEC, rep->close_ns)
				TH_LOG("round %d: close() with 4096 in flight took %lld ms", round,
				       rep->close_ns / MS);
			EXPECT_TRUE(rep->drained)
				TH_LOG("round %d: requests still counted 2 s after the close", round);
			if (round == 0)
				TH_LOG("close() with %d in flight: %lld ms; drained %lld ms later",
				       rep->accepted, rep->close_ns / MS, rep->drain_ns / MS);
		}
		EXPECT_COUNTERS_BACK(c0, 2000);
		munmap(rep, sizeof(*rep));
	}
}

/*
 * (e) exec with a pending KEEP. The child submits OPEN(FIFO) -> KEEP (no
 * CLOEXEC) and execs itself with EXEC_MARKER. The new image lists its fds,
 * then the test opens the FIFO for writing (which would let the open
 * finish), and 300 ms later the new image lists its fds again: no fd may
 * have appeared, and none may be the FIFO.
 */

/* "fd:target fd:target ..." of the calling process, minus the dir's fd. */
static int list_fds(char *out, size_t size)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *de;
	size_t n = 0;

	out[0] = 0;
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char path[64], target[256];
		ssize_t l;

		if (de->d_name[0] == '.' || atoi(de->d_name) == dirfd(d))
			continue;
		snprintf(path, sizeof(path), "/proc/self/fd/%d", atoi(de->d_name));
		l = readlink(path, target, sizeof(target) - 1);
		target[l > 0 ? l : 0] = 0;
		for (char *c = target; *c; c++)
			if (*c == ' ' || *c == '\n')
				*c = '_';
		n += snprintf(out + n, n < size ? size - n : 0, " %d:%s", atoi(de->d_name), target);
	}
	closedir(d);
	return n < size ? 0 : -1;
}

/*
 * Writes "@tag fd:target ...\n" to @rep; exits with @code if the list does
 * not fit, @code + 1 if the write fails.
 */
static void report_fds(int rep, char tag, int code)
{
	char line[3000];
	size_t l;

	line[0] = tag;
	if (list_fds(line + 1, sizeof(line) - 2))
		_exit(code);
	l = strlen(line);
	line[l++] = '\n';
	if (write(rep, line, l) != (ssize_t)l)
		_exit(code + 1);
}

/* The exec'd image: argv = exe EXEC_MARKER report_fd go_fd. */
static void exec_child(int rep, int go)
{
	report_fds(rep, 'B', 20);
	/* The test has opened the FIFO for writing (or found no reader). */
	if (byte_within(go, 30000) < 0)
		_exit(22);
	usleep(300000);
	report_fds(rep, 'A', 23);
	_exit(0);
}

/* Before the harness's main: is this the exec'd image of case (e)? */
static void __attribute__((constructor)) exec_child_hook(void)
{
	char buf[512], *args[4] = { 0 };
	int fd = open("/proc/self/cmdline", O_RDONLY | O_CLOEXEC);
	ssize_t n;
	int i = 0;

	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return;
	buf[n] = 0;
	for (char *p = buf; p < buf + n && i < 4; p += strlen(p) + 1)
		args[i++] = p;
	if (i == 4 && !strcmp(args[1], EXEC_MARKER))
		exec_child(atoi(args[2]), atoi(args[3]));
}

/* Reads one '\n'-terminated line from @fd within @ms. */
static int line_within(int fd, char *buf, size_t size, int ms)
{
	int64_t end = now_ns() + ms * MS;
	size_t n = 0;

	while (n < size - 1) {
		struct pollfd p = { .fd = fd, .events = POLLIN };
		int left = (int)((end - now_ns()) / MS);

		if (left <= 0 || poll(&p, 1, left) != 1 || read(fd, buf + n, 1) != 1)
			break;
		if (buf[n++] == '\n') {
			buf[n - 1] = 0;
			return 0;
		}
	}
	buf[n] = 0;
	return -1;
}

/* Is every " fd:target" of @after also in @before? Sets @extra. */
static bool fds_subset(const char *after, const char *before, char *extra, size_t size)
{
	char a[3000], *tok, *save;
	bool ok = true;

	snprintf(a, sizeof(a), "%s", after);
	extra[0] = 0;
	for (tok = strtok_r(a, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
		char key[300];
		const char *hit;
		size_t kl;

		snprintf(key, sizeof(key), " %s", tok);
		kl = strlen(key);
		hit = strstr(before, key);
		if (hit && (hit[kl] == ' ' || hit[kl] == 0))
			continue;
		ok = false;
		snprintf(extra + strlen(extra), size - strlen(extra), "%s", key);
	}
	return ok;
}

TEST_F_TIMEOUT(life, exec_with_pending_keep, 300)
{
	for (int round = 0; round < rounds() && !_metadata->exit_code; round++) {
		struct counters c0 = counters_now();
		char before[3000], after[3000], extra[3000];
		int rep[2], go[2], st, wfd;
		pid_t pid;

		unlink(self->fifo);
		ASSERT_EQ(0, mkfifo(self->fifo, 0600));
		/* The child's ends survive the exec; the test's do not. */
		ASSERT_EQ(0, pipe(rep));
		ASSERT_EQ(0, pipe(go));
		fcntl(rep[0], F_SETFD, FD_CLOEXEC);
		fcntl(go[1], F_SETFD, FD_CLOEXEC);
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct kaio_ctx k;
			struct kaio_iocb iocb;
			struct kaio_event ev;
			char a2[16], a3[16];
			char *argv[] = { "lifetime_test", EXEC_MARKER, a2, a3, NULL };

			close(rep[0]);
			close(go[1]);
			/* Only the pipes and stdio are inherited on purpose. */
			for (int fd = 3; fd < 1024; fd++)
				if (fd != rep[1] && fd != go[0])
					close(fd);
			if (kaio_setup(&k, 16))
				_exit(10);
			kaio_iocb_init(&iocb, 1);
			kaio_step_open(&iocb, AT_FDCWD, self->fifo, O_RDONLY, 0);
			kaio_step_keep(&iocb, 0);
			if (kaio_submit(&k, &iocb, 1) != 1)
				_exit(11);
			usleep(100000);
			if (kaio_wait(&k, &ev, 0, 1, 0) != 0)
				_exit(12);	/* opened a FIFO without a writer? */
			snprintf(a2, sizeof(a2), "%d", rep[1]);
			snprintf(a3, sizeof(a3), "%d", go[0]);
			execve("/proc/self/exe", argv, environ);
			_exit(13);
		}
		close(rep[1]);
		close(go[0]);
		st = line_within(rep[0], before, sizeof(before), 30000);
		EXPECT_EQ(0, st) TH_LOG("round %d: no fd list from the exec'd image", round);
		if (st) {
			kill(pid, SIGKILL);
			if (reap_within(pid, 1000, &st))
				TH_LOG("child status %#x", st);
			close(rep[0]);
			close(go[1]);
			break;
		}
		/* Succeeds only if the kaio OPEN is still waiting as a reader. */
		wfd = open(self->fifo, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (round == 0)
			TH_LOG("after exec the KEEP's FIFO open is %s",
			       wfd >= 0 ? "still pending (it must not install an fd)" :
			       "gone (torn down at exec)");
		ASSERT_EQ(1, write(go[1], "g", 1));
		st = line_within(rep[0], after, sizeof(after), 30000);
		EXPECT_EQ(0, st) TH_LOG("round %d: no second fd list", round);
		if (!st) {
			EXPECT_TRUE(fds_subset(after + 1, before + 1, extra, sizeof(extra)))
				TH_LOG("round %d: fds that appeared in the new image:%s "
				       "(before:%s)", round, extra, before + 1);
			EXPECT_EQ(NULL, strstr(after, self->fifo))
				TH_LOG("the FIFO was installed into the exec'd image: %s", after);
		}
		if (!reap_within(pid, 2000, &st)) {
			EXPECT_TRUE(false) TH_LOG("round %d: the exec'd image did not exit", round);
			kill(pid, SIGKILL);
			reap_late(pid);
		} else {
			EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) TH_LOG("status %#x", st);
		}
		if (wfd >= 0)
			close(wfd);
		EXPECT_COUNTERS_BACK(c0, 2000);
		close(rep[0]);
		close(go[1]);
		unlink(self->fifo);
	}
}

/*
 * (f) The io_uring GC cycle: a parked SENDFILE holds its output socket;
 * that socket's receive queue holds (SCM_RIGHTS) the context's fd and the
 * socket's peer. Once the process is gone nothing outside the cycle refers
 * to any of it: the context must still go away, within 5 s.
 */
TEST_F_TIMEOUT(life, scm_rights_cycle, 300)
{
	for (int round = 0; round < rounds() && !_metadata->exit_code; round++) {
		struct counters c0 = counters_now();
		struct report *rep = shared_zalloc(sizeof(*rep));
		int ready[2], st;
		pid_t pid;

		ASSERT_NE(NULL, rep);
		ASSERT_EQ(0, pipe2(ready, O_CLOEXEC));
		pid = fork();
		ASSERT_LE(0, pid);
		if (pid == 0) {
			struct kaio_ctx k;
			struct kaio_iocb iocb;
			int sv[2], sndbuf = 4096, r, fds[2];
			char cbuf[CMSG_SPACE(sizeof(fds))];
			struct iovec iov = { .iov_base = "x", .iov_len = 1 };
			struct msghdr mh = {
				.msg_iov = &iov, .msg_iovlen = 1,
				.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
			};
			struct cmsghdr *cm;

			close(ready[0]);
			if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv))
				CHILD_FAIL(rep, ready[1], 1, errno, "socketpair");
			setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
			r = kaio_setup(&k, 16);
			if (r)
				CHILD_FAIL(rep, ready[1], 2, -r, "kaio_setup");
			kaio_iocb_init(&iocb, 1);
			kaio_step_open(&iocb, AT_FDCWD, S("p_64m"), O_RDONLY, 0);
			kaio_step_sendfile(&iocb, sv[0], 0, 0);
			kaio_step_close(&iocb);
			r = kaio_submit(&k, &iocb, 1);
			if (r != 1)
				CHILD_FAIL(rep, ready[1], 3, r < 0 ? -r : 0, "submit: %d", r);
			if (!all_have_data(&sv[1], 1, 30000))
				CHILD_FAIL(rep, ready[1], 4, 0, "SENDFILE not parked within 30 s");
			/* Into sv[0]'s receive queue: the context and sv[1]. */
			fds[0] = k.fd;
			fds[1] = sv[1];
			memset(cbuf, 0, sizeof(cbuf));
			cm = CMSG_FIRSTHDR(&mh);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(sizeof(fds));
			memcpy(CMSG_DATA(cm), fds, sizeof(fds));
			rep->sendmsg_err = sendmsg(sv[1], &mh, 0) == 1 ? 0 : errno;
			kaio_close(&k);
			close(sv[0]);
			close(sv[1]);
			child_ready(ready[1]);
			_exit(0);
		}
		close(ready[1]);
		st = byte_within(ready[0], 60000);
		EXPECT_EQ('R', st) TH_LOG("round %d: child: step %d: %s (%s)", round, rep->step,
					  rep->msg, strerror(rep->err));
		if (!reap_within(pid, 2000, &st)) {
			EXPECT_TRUE(false) TH_LOG("round %d: the exiting process is stuck", round);
			kill(pid, SIGKILL);
			reap_late(pid);
		}
		if (rep->sendmsg_err && round == 0)
			TH_LOG("passing the context's fd was refused (%s): no cycle can form",
			       strerror(rep->sendmsg_err));
		EXPECT_COUNTERS_BACK(c0, 5000);
		close(ready[0]);
		munmap(rep, sizeof(*rep));
	}
}

/* Last: with every context gone, the module unloads and loads again. */
TEST_F_TIMEOUT(life, zz_rmmod_insmod, 60)
{
	const char *ko = getenv("KAIO_MODULE");
	int64_t end;
	int fd, r;

	if (!ko || !*ko)
		SKIP(return, "KAIO_MODULE is not set: not unloading a module it cannot reload");
	fd = open(ko, O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, fd) TH_LOG("%s: %s", ko, strerror(errno));
	end = now_ns() + 2 * SEC;
	do {
		r = syscall(SYS_delete_module, "kaio", O_NONBLOCK);
		if (!r || (errno != EWOULDBLOCK && errno != EBUSY))
			break;
		usleep(20000);
	} while (now_ns() < end);
	ASSERT_EQ(0, r) TH_LOG("rmmod kaio: %s (contexts_live %lld, inflight %lld)",
			       strerror(errno), kaio_stat("contexts_live"), kaio_stat("inflight"));
	r = syscall(SYS_finit_module, fd, "", 0);
	EXPECT_EQ(0, r) TH_LOG("insmod %s: %s", ko, strerror(errno));
	close(fd);
	EXPECT_EQ(0, access(KAIO_DEVICE, F_OK));
	EXPECT_EQ(0, kaio_stat("contexts_live"));
}

/*
 * The harness's main, with each case's timeout stretched for long stress
 * runs (a backstop: every wait in the cases has its own deadline).
 */
int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	if (rounds() > 3)
		for (f = __fixture_list; f; f = f->next)
			for (t = f->tests; t; t = t->next)
				t->timeout += rounds() * 30;
	return test_harness_run(argc, argv);
}
