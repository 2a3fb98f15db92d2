// SPDX-License-Identifier: GPL-2.0
/*
 * What libaio programs need of the module: READV and WRITEV (iovecs copied
 * at SUBMIT), KAIO_RW_NOWAIT (RWF_NOWAIT: EAGAIN instead of waiting),
 * KAIO_IOCB_RESFD (an eventfd per request) and GETEVENTS's sigmask (set
 * and restored atomically, as io_pgetevents(2)). Bytes are checked against
 * the scratch disk's pattern files; errors by exact errno.
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
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sig.h"

#define S(name) KAIO_SCRATCH "/" name
#define P1M3_SEED 3		/* p_1m3: 1048579 bytes */

FIXTURE(vec) {
	struct kaio_ctx k;
	int rfd;
};

FIXTURE_SETUP(vec)
{
	struct kaio_version v;

	ASSERT_EQ(0, kaio_setup(&self->k, 64));
	ASSERT_EQ(0, ioctl(self->k.fd, KAIO_IOC_VERSION, &v));
	ASSERT_EQ(KAIO_FEAT_RESFD | KAIO_FEAT_VECTOR | KAIO_FEAT_NOWAIT | KAIO_FEAT_SIGMASK,
		  v.features & (KAIO_FEAT_RESFD | KAIO_FEAT_VECTOR | KAIO_FEAT_NOWAIT |
				KAIO_FEAT_SIGMASK));
	self->rfd = open(S("p_1m3"), O_RDONLY);
	ASSERT_LE(0, self->rfd);
}

FIXTURE_TEARDOWN(vec)
{
	close(self->rfd);
	kaio_close(&self->k);
}

/* READV of a cold file into buffers of odd sizes, at an odd offset. */
TEST_F(vec, readv_cold_exact)
{
	static const size_t sizes[] = { 1, 4095, 4097, 65536, 12345, 0, 300000 };
	struct iovec iov[7];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	size_t total = 0, at = 0;
	const int64_t off = 4093;
	uint8_t *mem;

	for (int i = 0; i < 7; i++)
		total += sizes[i];
	mem = malloc(total + 7);
	ASSERT_NE(NULL, mem);
	memset(mem, 0xa5, total + 7);
	/* Gaps of one byte between the buffers must stay untouched. */
	for (int i = 0; i < 7; i++) {
		iov[i].iov_base = mem + at + i;
		iov[i].iov_len = sizes[i];
		at += sizes[i];
	}
	kaio_drop_caches("1");
	kaio_iocb_init(&iocb, 7);
	kaio_step_fd(&iocb, self->rfd);
	kaio_step_readv(&iocb, iov, 7, off);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	ASSERT_EQ((int64_t)total, ev.result);
	EXPECT_EQ(1, ev.step);
	at = 0;
	for (int i = 0; i < 7; i++) {
		EXPECT_EQ(-1, kaio_pattern_check(iov[i].iov_base, sizes[i], P1M3_SEED, off + at))
			TH_LOG("iovec %d", i);
		if (i < 6)
			EXPECT_EQ(0xa5, ((uint8_t *)iov[i].iov_base)[sizes[i]]) TH_LOG("gap %d", i);
		at += sizes[i];
	}
	free(mem);
}

/* READV past the end of the file stops short with the bytes there are. */
TEST_F(vec, readv_short_at_eof)
{
	uint8_t a[2], b[100];
	struct iovec iov[2] = { { a, sizeof(a) }, { b, sizeof(b) } };
	struct kaio_iocb iocb;
	struct kaio_event ev;

	kaio_iocb_init(&iocb, 8);
	kaio_step_fd(&iocb, self->rfd);
	kaio_step_readv(&iocb, iov, 2, 1048579 - 5);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	ASSERT_EQ(5, ev.result);
	EXPECT_EQ(-1, kaio_pattern_check(a, 2, P1M3_SEED, 1048579 - 5));
	EXPECT_EQ(-1, kaio_pattern_check(b, 3, P1M3_SEED, 1048579 - 3));
}

/* WRITEV then a plain read back: every byte where it belongs. */
TEST_F(vec, writev_then_read_back)
{
	char path[] = S("vec_wXXXXXX");
	uint8_t src[3][5000], back[15000 + 10];
	struct iovec iov[3];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int fd = mkstemp(path);

	ASSERT_LE(0, fd);
	unlink(path);
	for (int i = 0; i < 3; i++) {
		for (int j = 0; j < 5000; j++)
			src[i][j] = kaio_pattern(50 + i, j);
		iov[i].iov_base = src[i];
		iov[i].iov_len = 1000 + 2000 * i;	/* 1000, 3000, 5000 */
	}
	kaio_iocb_init(&iocb, 9);
	kaio_step_fd(&iocb, fd);
	kaio_step_writev(&iocb, iov, 3, 10);
	kaio_step_fsync(&iocb, 1);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	ASSERT_EQ(0, ev.result);
	ASSERT_EQ(9000, ev.step_result[1]);
	ASSERT_EQ(9010, pread(fd, back, sizeof(back), 0));
	for (int i = 0; i < 10; i++)
		EXPECT_EQ(0, back[i]);
	EXPECT_EQ(0, memcmp(back + 10, src[0], 1000));
	EXPECT_EQ(0, memcmp(back + 1010, src[1], 3000));
	EXPECT_EQ(0, memcmp(back + 4010, src[2], 5000));
	close(fd);
}

/* The iovec array is validated at SUBMIT, as readv(2) validates it. */
TEST_F(vec, readv_bad_vectors)
{
	static uint8_t buf[16];
	struct iovec iov[1025];
	struct kaio_iocb iocb;
	void *nomem = mmap(NULL, 4096, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, nomem);
	for (int i = 0; i < 1025; i++) {
		iov[i].iov_base = buf;
		iov[i].iov_len = 1;
	}
#define BAD(err_, build) do {						\
		kaio_iocb_init(&iocb, 1);				\
		kaio_step_fd(&iocb, self->rfd);				\
		build;							\
		EXPECT_EQ(-(err_), kaio_submit(&self->k, &iocb, 1));	\
	} while (0)
	BAD(EINVAL, kaio_step_readv(&iocb, iov, 1025, 0));		/* > UIO_MAXIOV */
	BAD(EFAULT, kaio_step_readv(&iocb, nomem, 1, 0));		/* array unreadable */
	BAD(EFAULT, kaio_step_readv(&iocb, (void *)-4096L, 1, 0));	/* kernel address */
	iov[0].iov_base = (void *)0xffff888000000000ull;		/* buffer in the kernel */
	BAD(EFAULT, kaio_step_readv(&iocb, iov, 1, 0));
	iov[0].iov_base = buf;
	iov[1].iov_len = (size_t)1 << 63;				/* sum > SSIZE_MAX */
	BAD(EINVAL, kaio_step_readv(&iocb, iov, 2, 0));
	iov[1].iov_len = 1;
	BAD(EINVAL, kaio_step_readv(&iocb, iov, 2, -1));		/* negative offset */
	BAD(EINVAL, kaio_step_readv(&iocb, iov, 2, 0)->op_flags = 2);	/* unknown flag */
	BAD(EBADF, kaio_step_writev(&iocb, iov, 2, 0));			/* O_RDONLY file */
#undef BAD
	EXPECT_EQ(0, kaio_stat("inflight"));
	munmap(nomem, 4096);
}

/* NOWAIT: a cold read fails with EAGAIN; a cached one returns its bytes. */
TEST_F(vec, nowait_read)
{
	uint8_t buf[8192];
	struct kaio_iocb iocb;
	struct kaio_event ev;

	kaio_drop_caches("1");
	kaio_iocb_init(&iocb, 10);
	kaio_step_fd(&iocb, self->rfd);
	kaio_step_read(&iocb, buf, sizeof(buf), 500000)->op_flags = KAIO_RW_NOWAIT;
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EAGAIN, ev.result);
	/* Now cached (pread waits for it): the same NOWAIT read succeeds. */
	ASSERT_EQ(sizeof(buf), pread(self->rfd, buf, sizeof(buf), 500000));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	ASSERT_EQ(sizeof(buf), ev.result);
	EXPECT_EQ(-1, kaio_pattern_check(buf, sizeof(buf), P1M3_SEED, 500000));
}

/* NOWAIT on an empty pipe: EAGAIN, not a park. */
TEST_F(vec, nowait_empty_pipe)
{
	uint8_t buf[16];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int p[2];

	ASSERT_EQ(0, pipe(p));
	kaio_iocb_init(&iocb, 11);
	kaio_step_fd(&iocb, p[0]);
	kaio_step_read(&iocb, buf, sizeof(buf), 0)->op_flags = KAIO_RW_NOWAIT;
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EAGAIN, ev.result);
	ASSERT_EQ(3, write(p[1], "abc", 3));
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	ASSERT_EQ(3, ev.result);
	EXPECT_EQ(0, memcmp(buf, "abc", 3));
	close(p[0]);
	close(p[1]);
}

/* RESFD: each request signals its own eventfd once its event is there. */
TEST_F(vec, resfd_counts)
{
	struct kaio_iocb iocb[3];
	struct kaio_event ev[3];
	uint8_t buf[3][100];
	uint64_t n = 0;
	int efd = eventfd(0, EFD_NONBLOCK), other = eventfd(0, EFD_NONBLOCK);

	ASSERT_LE(0, efd);
	ASSERT_LE(0, other);
	for (int i = 0; i < 3; i++) {
		kaio_iocb_init(&iocb[i], 20 + i);
		kaio_step_fd(&iocb[i], self->rfd);
		kaio_step_read(&iocb[i], buf[i], 100, 1000 * i);
		iocb[i].flags = KAIO_IOCB_RESFD;
		iocb[i].resfd = i == 2 ? other : efd;
	}
	ASSERT_EQ(3, kaio_submit(&self->k, iocb, 3));
	ASSERT_EQ(3, kaio_wait(&self->k, ev, 3, 3, 30ll * 1000 * 1000 * 1000));
	ASSERT_EQ(8, read(efd, &n, 8));
	EXPECT_EQ(2, n);
	ASSERT_EQ(8, read(other, &n, 8));
	EXPECT_EQ(1, n);
	for (int i = 0; i < 3; i++) {
		int j = ev[i].user_data - 20;

		ASSERT_EQ(100, ev[i].result);
		EXPECT_EQ(-1, kaio_pattern_check(buf[j], 100, P1M3_SEED, 1000 * j));
	}
	/* Not an eventfd, or not a descriptor: the iocb is refused. */
	iocb[0].resfd = self->rfd;
	EXPECT_EQ(-EINVAL, kaio_submit(&self->k, iocb, 1));
	iocb[0].resfd = 1 << 20;
	EXPECT_EQ(-EBADF, kaio_submit(&self->k, iocb, 1));
	close(efd);
	close(other);
}

/*
 * A signal the call's mask blocks does not interrupt it; once the call
 * returns, the old mask is back and the signal is delivered.
 */
TEST_F(vec, sigmask_blocks_during_wait)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct kicker kk = { pthread_self(), SIGUSR1, 100 };
	struct kaio_event ev;
	sigset_t mask, now;
	pthread_t t;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	got_usr1 = 0;
	sigemptyset(&mask);
	sigaddset(&mask, SIGUSR1);
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &kk));
	/* 400 ms of nothing to reap: the signal at 100 ms must not end it. */
	EXPECT_EQ(0, getevents_mask(self->k.fd, &ev, 400ll * 1000 * 1000, &mask));
	pthread_join(t, NULL);
	/* Delivered on the way out, with the old mask (USR1 unblocked). */
	EXPECT_EQ(1, got_usr1);
	ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, NULL, &now));
	EXPECT_FALSE(sigismember(&now, SIGUSR1));
}

/*
 * The call's mask can also unblock: a signal blocked outside the call
 * interrupts it (EINTR), its handler runs, and the old mask (blocking it)
 * is in force again afterwards.
 */
TEST_F(vec, sigmask_unblocks_and_restores)
{
	struct sigaction sa = { .sa_handler = on_usr1 };
	struct kicker kk = { pthread_self(), SIGUSR1, 100 };
	struct kaio_event ev;
	sigset_t block, empty, now, old;
	struct timespec t0, t1;
	pthread_t t;

	ASSERT_EQ(0, sigaction(SIGUSR1, &sa, NULL));
	got_usr1 = 0;
	sigemptyset(&block);
	sigaddset(&block, SIGUSR1);
	sigemptyset(&empty);
	ASSERT_EQ(0, pthread_sigmask(SIG_BLOCK, &block, &old));
	ASSERT_EQ(0, pthread_create(&t, NULL, kick, &kk));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	errno = 0;
	EXPECT_EQ(-1, getevents_mask(self->k.fd, &ev, 20ll * 1000 * 1000 * 1000, &empty));
	EXPECT_EQ(EINTR, errno);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	pthread_join(t, NULL);
	EXPECT_GT(10, t1.tv_sec - t0.tv_sec);
	EXPECT_EQ(1, got_usr1);
	ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, NULL, &now));
	EXPECT_TRUE(sigismember(&now, SIGUSR1));
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* A sigmask with events ready: returned at once, mask restored. */
TEST_F(vec, sigmask_with_events)
{
	uint8_t buf[10];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	sigset_t all, before, after;

	sigfillset(&all);
	/* The kernel fills only its own 8 bytes of glibc's sigset_t. */
	sigemptyset(&before);
	sigemptyset(&after);
	ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, NULL, &before));
	kaio_iocb_init(&iocb, 30);
	kaio_step_fd(&iocb, self->rfd);
	kaio_step_read(&iocb, buf, sizeof(buf), 7);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, getevents_mask(self->k.fd, &ev, 30ll * 1000 * 1000 * 1000, &all));
	ASSERT_EQ(10, ev.result);
	EXPECT_EQ(-1, kaio_pattern_check(buf, 10, P1M3_SEED, 7));
	ASSERT_EQ(0, pthread_sigmask(SIG_SETMASK, NULL, &after));
	EXPECT_EQ(0, sigset_diff(&before, &after));
}

TEST_HARNESS_MAIN
