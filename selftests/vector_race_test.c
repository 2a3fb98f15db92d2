// SPDX-License-Identifier: GPL-2.0
/*
 * Review of READV/WRITEV, KAIO_RW_NOWAIT, KAIO_IOCB_RESFD, GETEVENTS
 * sigmask and the inline cold READ that arms its folio wait in the
 * submitter (3a5df23..753f7eb).
 *
 * The first three cases were a review's findings (they failed on 753f7eb,
 * before the fix):
 *   nowait_write_offset       NOWAIT WRITE of a regular file ignores its
 *                             offset: the bytes land at offset 0.
 *   nowait_odirect_read_not_inline
 *                             NOWAIT READ of an O_DIRECT file runs inline
 *                             and SUBMIT waits for the disk.
 *   nowait_eventfd_write      NOWAIT WRITE of an eventfd (plain ->write)
 *                             waited in the worker; now EOPNOTSUPP at
 *                             SUBMIT, as pwritev2(2) with RWF_NOWAIT.
 * The others probe the lifetime questions (buffers unmapped while the
 * inline-armed folio wait is pending, the submitting thread exiting, a
 * fork, a cancel, eventfd wake-up nesting, sigmask across a task_work
 * restart) and are expected to pass with a clean kernel log.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sig.h"

#define S(name) KAIO_SCRATCH "/" name
#define P64M_SEED 64		/* p_64m: 64 MiB */
#define P1M3_SEED 3

static int64_t now_ns(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000ll + t.tv_nsec;
}

FIXTURE(rev) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(rev)
{
	ASSERT_EQ(0, kaio_setup(&self->k, 64));
}

FIXTURE_TEARDOWN(rev)
{
	kaio_close(&self->k);
}

/*
 * FINDING: FileRef::write() with IoMode::NoWait builds its kiocb with
 * init_sync_kiocb() and never sets ki_pos, so a KAIO_RW_NOWAIT WRITE of a
 * regular file (ext4 O_DIRECT supports IOCB_NOWAIT) writes at offset 0.
 */
TEST_F(rev, nowait_write_offset)
{
	char path[] = S("rev_nwXXXXXX");
	struct kaio_iocb iocb;
	struct kaio_event ev;
	uint8_t *a, *x, *back;
	int fd = mkstemp(path), dfd;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, posix_memalign((void **)&a, 4096, 16384));
	ASSERT_EQ(0, posix_memalign((void **)&x, 4096, 4096));
	ASSERT_EQ(0, posix_memalign((void **)&back, 4096, 16384));
	memset(a, 'a', 16384);
	memset(x, 'X', 4096);
	/* Allocated, written blocks: an O_DIRECT overwrite never waits. */
	ASSERT_EQ(16384, pwrite(fd, a, 16384, 0));
	ASSERT_EQ(0, fsync(fd));
	/* No cached page in the range: a NOWAIT direct write would EAGAIN. */
	ASSERT_EQ(0, posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
	dfd = open(path, O_RDWR | O_DIRECT);
	ASSERT_LE(0, dfd);
	unlink(path);
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, dfd);
	kaio_step_write(&iocb, x, 4096, 8192)->op_flags = KAIO_RW_NOWAIT;
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	TH_LOG("NOWAIT WRITE at 8192: result %lld", (long long)ev.result);
	ASSERT_EQ(4096, ev.result);
	ASSERT_EQ(16384, pread(fd, back, 16384, 0));
	EXPECT_EQ(0, memcmp(back, a, 4096)) TH_LOG("offset 0 was overwritten");
	EXPECT_EQ(0, memcmp(back + 8192, x, 4096)) TH_LOG("offset 8192 not written");
	close(dfd);
	close(fd);
	free(a);
	free(x);
	free(back);
}

/*
 * FINDING: the NOWAIT branch of issue_read() comes before the inline
 * check, so an O_DIRECT NOWAIT READ runs in the submitter: the sync kiocb
 * makes SUBMIT wait for the disk (kaio.7: "it never waits for ... disk";
 * io_uring issues it async). A request completed inside SUBMIT proves it.
 */
TEST_F(rev, nowait_odirect_read_not_inline)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	long long inl0, inl1;
	int64_t t0, t1;
	uint8_t *buf;
	int fd = open(S("p_64m"), O_RDONLY | O_DIRECT);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, posix_memalign((void **)&buf, 4096, 65536));
	kaio_iocb_init(&iocb, 2);
	kaio_step_fd(&iocb, fd);
	kaio_step_read(&iocb, buf, 65536, 40 << 20)->op_flags = KAIO_RW_NOWAIT;
	inl0 = kaio_stat("inline_completions");
	t0 = now_ns();
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	t1 = now_ns();
	inl1 = kaio_stat("inline_completions");
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	TH_LOG("result %lld, SUBMIT took %lld us, inline completions +%lld",
	       (long long)ev.result, (long long)(t1 - t0) / 1000, inl1 - inl0);
	ASSERT_EQ(65536, ev.result);
	EXPECT_EQ(-1, kaio_pattern_check(buf, 65536, P64M_SEED, 40 << 20));
	/* The disk read must not have run in SUBMIT. */
	EXPECT_EQ(0, inl1 - inl0);
	close(fd);
	free(buf);
}

/*
 * FINDING: an eventfd has FMODE_NOWAIT (check() accepts NOWAIT) but only a
 * plain ->write, which write_plain() calls whatever the mode: a NOWAIT
 * WRITE that would overflow the counter sleeps in the worker until
 * cancelled, instead of -EAGAIN ("never waits, not even in a worker").
 */
TEST_F(rev, nowait_eventfd_write)
{
	uint64_t big = 0xfffffffffffffffeull, one = 1;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int efd = eventfd(0, 0), n;

	ASSERT_LE(0, efd);
	ASSERT_EQ(8, write(efd, &big, 8));
	kaio_iocb_init(&iocb, 3);
	kaio_step_fd(&iocb, efd);
	kaio_step_write(&iocb, &one, 8, 0)->op_flags = KAIO_RW_NOWAIT;
	/*
	 * As pwritev2(2) with RWF_NOWAIT on a file with a plain ->write: it
	 * cannot be told not to wait, so the iocb is refused at SUBMIT.
	 */
	n = kaio_submit(&self->k, &iocb, 1);
	if (n == 1) {
		if (kaio_wait(&self->k, &ev, 1, 1, 2000ll * 1000 * 1000) != 1) {
			EXPECT_EQ(0, kaio_cancel(&self->k, 3));
			ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
			TH_LOG("accepted, and no completion in 2 s");
		}
	}
	EXPECT_EQ(-EOPNOTSUPP, n);
	/* Its read is a read_iter: a NOWAIT read takes the counter at once. */
	big = 0;
	kaio_iocb_init(&iocb, 4);
	kaio_step_fd(&iocb, efd);
	kaio_step_read(&iocb, &big, 8, 0)->op_flags = KAIO_RW_NOWAIT;
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(8, ev.result);
	EXPECT_EQ(0xfffffffffffffffeull, big);
	close(efd);
}

/*
 * A cold READV (16 MiB: many chunks, the first wait armed in the
 * submitter) whose buffers are unmapped as soon as SUBMIT returns: the
 * copies after that fault (EFAULT or a short count), nothing else.
 */
TEST_F(rev, inline_parked_readv_unmapped)
{
	const size_t part = 4 << 20, total = 4 * part;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct iovec iov[4];
	long long parked0;
	uint8_t *m;
	int fd = open(S("p_64m"), O_RDONLY);

	ASSERT_LE(0, fd);
	m = mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, m);
	for (int i = 0; i < 4; i++) {
		iov[i].iov_base = m + i * part;
		iov[i].iov_len = part;
	}
	kaio_drop_caches("1");
	parked0 = kaio_stat("parked_reads");
	kaio_iocb_init(&iocb, 4);
	kaio_step_fd(&iocb, fd);
	kaio_step_readv(&iocb, iov, 4, 7 << 20);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(0, munmap(m, total));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	TH_LOG("result %lld, parked reads +%lld", (long long)ev.result,
	       kaio_stat("parked_reads") - parked0);
	EXPECT_TRUE(ev.result == -EFAULT || (ev.result >= 0 && ev.result < (int64_t)total));
	close(fd);
}

struct sub {
	struct kaio_ctx *k;
	struct kaio_iocb *iocb;
	int ret;
};

static void *submit_and_exit(void *arg)
{
	struct sub *s = arg;

	s->ret = kaio_submit(s->k, s->iocb, 1);
	return NULL;
}

/* The thread that armed the folio wait exits before the wake-up. */
TEST_F(rev, inline_parked_submitter_exits)
{
	static uint8_t a[3000], b[70000];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct sub s = { &self->k, &iocb, 0 };
	pthread_t t;
	int fd = open(S("p_64m"), O_RDONLY);

	ASSERT_LE(0, fd);
	kaio_drop_caches("1");
	kaio_iocb_init(&iocb, 5);
	kaio_step_fd(&iocb, fd);
	kaio_step_readv(&iocb, iov, 2, 12345678);
	ASSERT_EQ(0, pthread_create(&t, NULL, submit_and_exit, &s));
	ASSERT_EQ(0, pthread_join(t, NULL));
	ASSERT_EQ(1, s.ret);
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	ASSERT_EQ((int64_t)sizeof(a) + (int64_t)sizeof(b), ev.result);
	EXPECT_EQ(-1, kaio_pattern_check(a, sizeof(a), P64M_SEED, 12345678));
	EXPECT_EQ(-1, kaio_pattern_check(b, sizeof(b), P64M_SEED, 12345678 + sizeof(a)));
	close(fd);
}

/* A fork right after an inline-armed READV: the child can do nothing. */
TEST_F(rev, inline_parked_fork)
{
	static uint8_t a[40000];
	struct iovec iov[1] = { { a, sizeof(a) } };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = open(S("p_64m"), O_RDONLY), st;
	pid_t pid;

	ASSERT_LE(0, fd);
	kaio_drop_caches("1");
	kaio_iocb_init(&iocb, 6);
	kaio_step_fd(&iocb, fd);
	kaio_step_readv(&iocb, iov, 1, 33 << 20);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	pid = fork();
	ASSERT_LE(0, pid);
	if (!pid) {
		struct kaio_getevents g = { .events = (uintptr_t)&ev, .max_nr = 1 };

		/* Not the owner: EINVAL; then the child's exit closes its fd. */
		_exit(ioctl(self->k.fd, KAIO_IOC_GETEVENTS, &g) == -1 && errno == EINVAL ? 0 : 1);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_EQ(0, WEXITSTATUS(st));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	ASSERT_EQ((int64_t)sizeof(a), ev.result);
	EXPECT_EQ(-1, kaio_pattern_check(a, sizeof(a), P64M_SEED, 33 << 20));
	close(fd);
}

/* CANCEL of many inline-armed READVs, then the context closes at once. */
TEST_F(rev, inline_parked_cancel_close)
{
	static uint8_t bufs[16][8192];
	struct iovec iov[16][2];
	struct kaio_iocb iocb[16];
	struct kaio_event ev[16];
	int fd = open(S("p_64m"), O_RDONLY), got;

	ASSERT_LE(0, fd);
	kaio_drop_caches("1");
	for (int i = 0; i < 16; i++) {
		iov[i][0].iov_base = bufs[i];
		iov[i][0].iov_len = 4096;
		iov[i][1].iov_base = bufs[i] + 4096;
		iov[i][1].iov_len = 4096;
		kaio_iocb_init(&iocb[i], 100 + i);
		kaio_step_fd(&iocb[i], fd);
		kaio_step_readv(&iocb[i], iov[i], 2, (int64_t)i * (3 << 20));
	}
	ASSERT_EQ(16, kaio_submit(&self->k, iocb, 16));
	for (int i = 0; i < 16; i += 2)
		kaio_cancel(&self->k, 100 + i);
	got = kaio_wait(&self->k, ev, 8, 16, 30ll * 1000 * 1000 * 1000);
	EXPECT_LE(8, got);
	/* Close with the rest possibly parked: teardown waits for the I/O. */
	kaio_close(&self->k);
	ASSERT_EQ(0, kaio_setup(&self->k, 64));
	close(fd);
}

/*
 * complete() signals the context's eventfd and a request's RESFD, the
 * same eventfd on whose wait queue another request of the context is
 * parked (READ of that eventfd): the wake-up runs kaio's poll callback
 * inside eventfd_signal (current->in_eventfd set) and must not recurse.
 */
TEST_F(rev, resfd_wakes_parked_reader)
{
	struct kaio_iocb rd, iocb[8];
	struct kaio_event ev[9];
	uint64_t val = 0;
	uint8_t buf[8][64];
	int efd = eventfd(0, 0), fd = open(S("p_1m3"), O_RDONLY), got = 0;

	ASSERT_LE(0, efd);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kaio_set_eventfd(&self->k, efd));
	kaio_iocb_init(&rd, 50);
	kaio_step_fd(&rd, efd);
	kaio_step_read(&rd, &val, 8, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &rd, 1));
	usleep(100 * 1000);
	for (int i = 0; i < 8; i++) {
		kaio_iocb_init(&iocb[i], 60 + i);
		kaio_step_fd(&iocb[i], fd);
		kaio_step_read(&iocb[i], buf[i], 64, 64 * i);
		iocb[i].flags = KAIO_IOCB_RESFD;
		iocb[i].resfd = efd;
	}
	ASSERT_EQ(8, kaio_submit(&self->k, iocb, 8));
	while (got < 9) {
		int n = kaio_wait(&self->k, ev + got, 1, 9 - got, 10ll * 1000 * 1000 * 1000);

		ASSERT_LT(0, n);
		got += n;
	}
	for (int i = 0; i < 9; i++) {
		if (ev[i].user_data == 50) {
			EXPECT_EQ(8, ev[i].result);
		} else {
			EXPECT_EQ(64, ev[i].result);
		}
	}
	kaio_set_eventfd(&self->k, -1);
	close(efd);
	close(fd);
}

/*
 * GETEVENTS with a sigmask, restarted by a KEEP delivery's task_work
 * (ERESTARTSYS) while a signal the mask blocks is pending: the old mask
 * is back afterwards and the signal delivered exactly once.
 */
TEST_F(rev, sigmask_across_keep_restart)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	sigset_t mask, before, after;
	struct kicker kk = { pthread_self(), SIGUSR1, 30 };
	pthread_t t;
	struct kaio_getevents g = {
		.events = (uintptr_t)&ev, .min_nr = 1, .max_nr = 1,
		.timeout_ns = 20ll * 1000 * 1000 * 1000, .sigmask = (uintptr_t)&mask,
	};
	int r;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	got_usr1 = 0;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	sigemptyset(&before);
	sigemptyset(&after);
	ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, NULL, &before));
	/* Not in the dentry cache: OPEN goes to a worker, KEEP to task_work. */
	kaio_drop_caches("3");
	kaio_iocb_init(&iocb, 70);
	kaio_step_open(&iocb, AT_FDCWD, S("demo/file07"), O_RDONLY, 0);
	kaio_step_keep(&iocb, 1);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &kk));
	do
		r = ioctl(self->k.fd, KAIO_IOC_GETEVENTS, &g);
	while (r == -1 && errno == EINTR);
	pthread_join(t, NULL);
	ASSERT_EQ(1, r);
	ASSERT_LE(0, ev.result);
	EXPECT_NE(0, ev.flags & KAIO_EV_FD);
	if (ev.flags & KAIO_EV_FD)
		close(ev.fd);
	/* The signal came during the call (blocked): delivered once after. */
	usleep(50 * 1000);
	EXPECT_EQ(1, got_usr1);
	ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, NULL, &after));
	EXPECT_EQ(0, sigset_diff(&before, &after));
}

TEST_HARNESS_MAIN
