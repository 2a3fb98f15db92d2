// SPDX-License-Identifier: GPL-2.0
/*
 * libkaio-aio, the libaio ABI on /dev/kaio, driven through Debian's own
 * <libaio.h> by a dynamically linked program (-laio), as fio is. The guest
 * runs it with LD_LIBRARY_PATH=/lib/kaio-aio, so kaio's libaio.so.1 is
 * the one that loads; the first case proves it. Every check is exact:
 * bytes against the scratch disk's pattern, counts, errnos, event fields.
 * Cases needing a module feature (KAIO_FEAT_*) SKIP without it.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <linux/kaio.h>

#include "kselftest_harness.h"
#include "kaio_test.h"

#define S(name)		KAIO_SCRATCH "/" name
#define P1M3		S("p_1m3")	/* seed 3, 1048579 bytes */
#define P1M3_SIZE	1048579
#define P64M		S("p_64m")	/* seed 64, 64 MiB */
#define P4097		S("p_4097")	/* seed 4097, 4097 bytes */
#define NS		1000000000ll
#define MSEC		1000000ll
#define ERRNO_CANARY	4242

static int64_t mono(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * NS + ts.tv_nsec;
}

static struct timespec ts_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * MSEC };

	return ts;
}

/* KAIO_FEAT_* of the loaded module. */
static uint64_t features(void)
{
	struct kaio_version v = { 0 };
	int fd = open(KAIO_DEVICE, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return 0;
	if (ioctl(fd, KAIO_IOC_VERSION, &v) < 0)
		v.features = 0;
	close(fd);
	return v.features;
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd >= 0) {
		if (write(fd, "3", 1) != 1)
			perror("drop_caches");
		close(fd);
	}
}

static void pattern_fill(uint8_t *buf, size_t len, uint32_t seed, uint64_t off)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = kaio_pattern(seed, off + i);
}

/* Reaps exactly @n events within five seconds; returns how many came. */
static int reap(io_context_t ctx, struct io_event *ev, int n)
{
	struct timespec t = ts_ms(5000);
	int got = 0;

	while (got < n) {
		int r = io_getevents(ctx, n - got, n - got, ev + got, &t);

		if (r <= 0)
			break;
		got += r;
	}
	return got;
}

/* Signals sent by a helper thread after a delay. */
static volatile sig_atomic_t sig_count;

static void on_sig(int sig)
{
	(void)sig;
	sig_count++;
}

struct kick {
	pthread_t target, thr;
	int sig;
	int ms;
};

static void *kick_fn(void *arg)
{
	struct kick *k = arg;

	usleep(k->ms * 1000);
	pthread_kill(k->target, k->sig);
	return NULL;
}

static void kick_start(struct kick *k, int sig, int ms)
{
	k->target = pthread_self();
	k->sig = sig;
	k->ms = ms;
	pthread_create(&k->thr, NULL, kick_fn, k);
}

static void handler_install(int sig, int flags)
{
	struct sigaction sa = { .sa_handler = on_sig, .sa_flags = flags };

	sigemptyset(&sa.sa_mask);
	sigaction(sig, &sa, NULL);
}

/*
 * First: kaio's library is what loaded (its own symbol, its path), and it
 * serves requests through kaio (the module's submitted counter moves).
 */
TEST(kaio_library_loaded)
{
	const char *id = dlsym(RTLD_DEFAULT, "kaio_aio_id");
	long long before = kaio_stat("submitted");
	io_context_t ctx = NULL;
	struct io_event ev;
	struct iocb cb, *cbs[1] = { &cb };
	uint8_t buf[4096];
	Dl_info info;
	int fd;

	ASSERT_NE(NULL, id) TH_LOG("libaio.so.1 is not kaio's (LD_LIBRARY_PATH?)");
	EXPECT_EQ(0, strncmp(id, "libkaio-aio", 11));
	ASSERT_NE(0, dladdr((void *)io_submit, &info));
	TH_LOG("io_submit from %s, module features %#llx", info.dli_fname,
	       (unsigned long long)features());
	ASSERT_LE(0, before);
	fd = open(P1M3, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, io_setup(4, &ctx));
	io_prep_pread(&cb, fd, buf, sizeof(buf), 8192);
	ASSERT_EQ(1, io_submit(ctx, 1, cbs));
	ASSERT_EQ(1, reap(ctx, &ev, 1));
	EXPECT_EQ(sizeof(buf), ev.res);
	EXPECT_EQ(-1, kaio_pattern_check(buf, sizeof(buf), 3, 8192));
	EXPECT_EQ(before + 1, kaio_stat("submitted"));
	EXPECT_EQ(0, io_destroy(ctx));
	close(fd);
}

FIXTURE(aio) {
	io_context_t ctx;
	uint64_t feat;
	int rfd;		/* P1M3, O_RDONLY */
	int pipe[2];
};

FIXTURE_SETUP(aio)
{
	self->ctx = NULL;
	ASSERT_EQ(0, io_setup(128, &self->ctx));
	ASSERT_NE(NULL, self->ctx);
	self->feat = features();
	self->rfd = open(P1M3, O_RDONLY);
	ASSERT_LE(0, self->rfd);
	ASSERT_EQ(0, pipe(self->pipe));
}

FIXTURE_TEARDOWN(aio)
{
	if (self->ctx)
		EXPECT_EQ(0, io_destroy(self->ctx));
	close(self->rfd);
	close(self->pipe[0]);
	close(self->pipe[1]);
}

/* The io_setup() rules of fs/aio.c; errno is never touched. */
TEST(setup_rules)
{
	io_context_t ctx = NULL, bogus = (io_context_t)0x1000;

	errno = ERRNO_CANARY;
	EXPECT_EQ(-EINVAL, io_setup(0, &ctx));
	EXPECT_EQ(-EINVAL, io_setup(-1, &ctx));
	EXPECT_EQ(-EINVAL, io_setup((0x10000000 / 32) + 1, &ctx));
	EXPECT_EQ(-EINVAL, io_setup(8, &bogus));
	EXPECT_EQ(-EINVAL, io_queue_init(0, &ctx));
	EXPECT_EQ(NULL, ctx);
	EXPECT_EQ(0, io_setup(1, &ctx));
	EXPECT_EQ(0, io_destroy(ctx));
	ctx = NULL;
	EXPECT_EQ(0, io_queue_init(3, &ctx));
	EXPECT_EQ(0, io_queue_release(ctx));
	EXPECT_EQ(-EINVAL, io_destroy(NULL));
	EXPECT_EQ(-EINVAL, io_getevents(NULL, 0, 1, NULL, NULL));
	EXPECT_EQ(ERRNO_CANARY, errno);
}

/* io_submit() returns how many it took; the first bad iocb ends it. */
TEST_F(aio, partial_submit)
{
	struct iocb cb[40], *cbs[40];
	struct io_event ev[40];
	static uint8_t buf[40][512];
	int seen[40] = { 0 };

	for (int i = 0; i < 40; i++) {
		io_prep_pread(&cb[i], self->rfd, buf[i], 512, i * 1000);
		cb[i].data = (void *)(uintptr_t)(i + 1);
		cbs[i] = &cb[i];
	}
	errno = ERRNO_CANARY;
	EXPECT_EQ(0, io_submit(self->ctx, 0, cbs));
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, -1, cbs));

	/* Refused by the library (reserved field), past a batch. */
	cb[35].u.c.__pad3 = 1;
	ASSERT_EQ(35, io_submit(self->ctx, 40, cbs));
	ASSERT_EQ(35, reap(self->ctx, ev, 35));
	for (int i = 0; i < 35; i++) {
		int k = (int)(uintptr_t)ev[i].data - 1;

		ASSERT_TRUE(k >= 0 && k < 35);
		EXPECT_EQ(&cb[k], ev[i].obj);
		EXPECT_EQ(512, ev[i].res);
		EXPECT_EQ(0, ev[i].res2);
		EXPECT_EQ(-1, kaio_pattern_check(buf[k], 512, 3, k * 1000));
		seen[k]++;
	}
	for (int i = 0; i < 35; i++) {
		EXPECT_EQ(1, seen[i]) TH_LOG("iocb %d", i);
	}
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 5, &cbs[35]));

	/* Refused by the module (bad fd) in the second batch. */
	cb[35].u.c.__pad3 = 0;
	cb[36].aio_fildes = -1;
	ASSERT_EQ(36, io_submit(self->ctx, 40, cbs));
	ASSERT_EQ(36, reap(self->ctx, ev, 36));
	EXPECT_EQ(-EBADF, io_submit(self->ctx, 4, &cbs[36]));

	/* Nothing is left over. */
	struct timespec zero = { 0, 0 };

	EXPECT_EQ(0, io_getevents(self->ctx, 0, 40, ev, &zero));
	EXPECT_EQ(ERRNO_CANARY, errno);
}

/* Exactly nr requests may be outstanding (submitted, not reaped). */
TEST_F(aio, ring_limit)
{
	io_context_t ctx = NULL;
	struct iocb cb[8], *cbs[8];
	struct io_event ev[8];
	uint8_t buf[8][64];

	ASSERT_EQ(0, io_setup(5, &ctx));
	for (int i = 0; i < 8; i++) {
		io_prep_pread(&cb[i], self->rfd, buf[i], 64, i * 64);
		cbs[i] = &cb[i];
	}
	ASSERT_EQ(5, io_submit(ctx, 7, cbs));	/* room for five */
	/* Completed, not yet reaped: they still count. */
	usleep(100 * 1000);
	EXPECT_EQ(-EAGAIN, io_submit(ctx, 1, &cbs[5]));
	EXPECT_EQ(-EAGAIN, io_submit(ctx, 3, &cbs[5]));
	ASSERT_EQ(2, io_getevents(ctx, 2, 2, ev, NULL));
	EXPECT_EQ(2, io_submit(ctx, 3, &cbs[5]));
	EXPECT_EQ(-EAGAIN, io_submit(ctx, 1, &cbs[7]));
	ASSERT_EQ(5, reap(ctx, ev, 5));
	for (int i = 0; i < 5; i++)
		EXPECT_EQ(64, ev[i].res);
	EXPECT_EQ(1, io_submit(ctx, 1, &cbs[7]));
	EXPECT_EQ(0, io_destroy(ctx));
}

/* Invalid iocbs and arguments: EINVAL (EOPNOTSUPP for rw flags). */
TEST_F(aio, bad_iocb)
{
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	uint8_t buf[16];

	errno = ERRNO_CANARY;
	io_prep_pread(&cb, self->rfd, buf, sizeof(buf), 0);
	cb.u.c.__pad3 = 1;				/* aio_reserved2 */
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));

	io_prep_pread(&cb, self->rfd, buf, (size_t)-1, 0);	/* > SSIZE_MAX */
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));

	io_prep_pread(&cb, self->rfd, buf, sizeof(buf), 0);
	cb.aio_lio_opcode = 99;
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));
	cb.aio_lio_opcode = IO_CMD_NOOP;
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));
	io_prep_poll(&cb, self->pipe[0], POLLIN);
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));

	io_prep_fsync(&cb, self->rfd);
	cb.u.c.nbytes = 1;
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));

	io_prep_preadv(&cb, self->rfd, (struct iovec *)buf, 1025, 0);
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));

	io_prep_pwrite(&cb, self->rfd, buf, sizeof(buf), 0);
	cb.aio_rw_flags = RWF_APPEND;
	EXPECT_EQ(-EOPNOTSUPP, io_submit(self->ctx, 1, cbs));
	cb.aio_rw_flags = 1U << 30;
	EXPECT_EQ(-EOPNOTSUPP, io_submit(self->ctx, 1, cbs));

	EXPECT_EQ(-EINVAL, io_getevents(self->ctx, 2, 1, &ev, NULL));
	EXPECT_EQ(-EINVAL, io_getevents(self->ctx, -1, 1, &ev, NULL));
	EXPECT_EQ(-EINVAL, io_getevents(self->ctx, 0, -1, &ev, NULL));
	EXPECT_EQ(ERRNO_CANARY, errno);
}

/* A bad fd, and a file not open for the transfer: EBADF at submit. */
TEST_F(aio, ebadf)
{
	struct iocb cb, *cbs[1] = { &cb };
	uint8_t buf[16] = { 0 };
	char path[64];
	int wfd;

	errno = ERRNO_CANARY;
	io_prep_pread(&cb, -1, buf, sizeof(buf), 0);
	EXPECT_EQ(-EBADF, io_submit(self->ctx, 1, cbs));
	io_prep_pread(&cb, 1000, buf, sizeof(buf), 0);
	EXPECT_EQ(-EBADF, io_submit(self->ctx, 1, cbs));
	io_prep_pwrite(&cb, self->rfd, buf, sizeof(buf), 0);
	EXPECT_EQ(-EBADF, io_submit(self->ctx, 1, cbs));

	snprintf(path, sizeof(path), S("tmp/aio_wo.%d"), getpid());
	wfd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, wfd);
	io_prep_pread(&cb, wfd, buf, sizeof(buf), 0);
	EXPECT_EQ(-EBADF, io_submit(self->ctx, 1, cbs));
	close(wfd);
	unlink(path);
	EXPECT_EQ(ERRNO_CANARY, errno);
}

/* Cancel a read blocked on an empty pipe; cancel unknown iocbs. */
TEST_F(aio, cancel)
{
	struct iocb cb, other, *cbs[1] = { &cb };
	struct timespec t = ts_ms(100);
	struct io_event ev;
	uint8_t buf[64];

	errno = ERRNO_CANARY;
	io_prep_pread(&cb, self->pipe[0], buf, sizeof(buf), 0);
	cb.data = (void *)0xfeedULL;
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	EXPECT_EQ(0, io_getevents(self->ctx, 1, 1, &ev, &t));	/* still blocked */
	io_prep_pread(&other, self->pipe[0], buf, sizeof(buf), 0);
	EXPECT_EQ(-EINVAL, io_cancel(self->ctx, &other, &ev));
	EXPECT_EQ(-EINPROGRESS, io_cancel(self->ctx, &cb, &ev));
	memset(&ev, 0x55, sizeof(ev));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(&cb, ev.obj);
	EXPECT_EQ((void *)0xfeedULL, ev.data);
	EXPECT_EQ(-ECANCELED, (long)ev.res);
	EXPECT_EQ(0, ev.res2);
	/* Reaped: not outstanding any more. */
	EXPECT_EQ(-EINVAL, io_cancel(self->ctx, &cb, &ev));
	/* Nothing was read from the pipe. */
	ASSERT_EQ(1, write(self->pipe[1], "z", 1));
	ASSERT_EQ(1, read(self->pipe[0], buf, 1));
	EXPECT_EQ('z', buf[0]);

	/* A FIFO (opened read-write: no peer to wait for). */
	char fifo[64];
	int ffd;

	snprintf(fifo, sizeof(fifo), "/tmp/aio_fifo.%d", getpid());
	ASSERT_EQ(0, mkfifo(fifo, 0600));
	ffd = open(fifo, O_RDWR);
	ASSERT_LE(0, ffd);
	io_prep_pread(&cb, ffd, buf, sizeof(buf), 0);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	EXPECT_EQ(0, io_getevents(self->ctx, 1, 1, &ev, &t));
	EXPECT_EQ(-EINPROGRESS, io_cancel(self->ctx, &cb, &ev));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(&cb, ev.obj);
	EXPECT_EQ(-ECANCELED, (long)ev.res);
	close(ffd);
	unlink(fifo);

	/* Completed but not reaped: too late to cancel. */
	io_prep_pread(&cb, self->rfd, buf, sizeof(buf), 0);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	usleep(100 * 1000);
	EXPECT_EQ(-EINVAL, io_cancel(self->ctx, &cb, &ev));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(sizeof(buf), ev.res);
	EXPECT_EQ(ERRNO_CANARY, errno);
}

/* min_nr: wait for that many, or the timeout and return fewer. */
TEST_F(aio, getevents_min_nr_timeout)
{
	int p[3][2];
	struct iocb cb[3], *cbs[3];
	struct io_event ev[3];
	struct timespec t = ts_ms(400), zero = { 0, 0 };
	uint8_t buf[3][16];
	int64_t t0, dt;

	for (int i = 0; i < 3; i++) {
		ASSERT_EQ(0, pipe(p[i]));
		io_prep_pread(&cb[i], p[i][0], buf[i], sizeof(buf[i]), 0);
		cbs[i] = &cb[i];
	}
	ASSERT_EQ(3, io_submit(self->ctx, 3, cbs));
	/* No wait: min_nr 0, or a zero timeout. */
	EXPECT_EQ(0, io_getevents(self->ctx, 0, 3, ev, NULL));
	EXPECT_EQ(0, io_getevents(self->ctx, 1, 3, ev, &zero));
	/* Nothing comes: the whole timeout, then 0. */
	t0 = mono();
	EXPECT_EQ(0, io_getevents(self->ctx, 1, 3, ev, &t));
	dt = mono() - t0;
	EXPECT_LE(380 * MSEC, dt);
	EXPECT_GT(3000 * MSEC, dt);
	/* One of the two wanted: the timeout, then 1. */
	ASSERT_EQ(3, write(p[0][1], "abc", 3));
	t0 = mono();
	ASSERT_EQ(1, io_getevents(self->ctx, 2, 3, ev, &t));
	dt = mono() - t0;
	EXPECT_LE(380 * MSEC, dt);
	EXPECT_GT(3000 * MSEC, dt);
	EXPECT_EQ(&cb[0], ev[0].obj);
	EXPECT_EQ(3, ev[0].res);
	EXPECT_EQ(0, memcmp(buf[0], "abc", 3));
	/* Both at once: returns without waiting out the timeout. */
	ASSERT_EQ(2, write(p[1][1], "de", 2));
	ASSERT_EQ(1, write(p[2][1], "f", 1));
	t = ts_ms(5000);
	t0 = mono();
	ASSERT_EQ(2, io_getevents(self->ctx, 2, 3, ev, &t));
	EXPECT_GT(2000 * MSEC, mono() - t0);
	for (int i = 0; i < 2; i++) {
		if (ev[i].obj == &cb[1]) {
			EXPECT_EQ(2, ev[i].res);
		} else {
			EXPECT_EQ(&cb[2], ev[i].obj);
			EXPECT_EQ(1, ev[i].res);
		}
	}
	for (int i = 0; i < 3; i++) {
		close(p[i][0]);
		close(p[i][1]);
	}
}

/* A signal ends a wait that has no event: -EINTR, SA_RESTART or not. */
TEST_F(aio, getevents_eintr)
{
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	struct kick k;
	uint8_t buf[8];
	int flags[2] = { 0, SA_RESTART };

	io_prep_pread(&cb, self->pipe[0], buf, sizeof(buf), 0);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	for (int i = 0; i < 2; i++) {
		handler_install(SIGUSR1, flags[i]);
		sig_count = 0;
		errno = ERRNO_CANARY;
		kick_start(&k, SIGUSR1, 100);
		EXPECT_EQ(-EINTR, io_getevents(self->ctx, 1, 1, &ev, NULL))
			TH_LOG("sa_flags %#x", flags[i]);
		pthread_join(k.thr, NULL);
		EXPECT_EQ(1, sig_count);
		EXPECT_EQ(ERRNO_CANARY, errno);
	}
	/* The request is still there. */
	ASSERT_EQ(1, write(self->pipe[1], "q", 1));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(1, ev.res);
	EXPECT_EQ('q', buf[0]);
}

/* Event fields: obj, data as it was at submit, res (bytes, -errno), res2. */
TEST_F(aio, event_fields)
{
	struct iocb cb[3], *cbs[3] = { &cb[0], &cb[1], &cb[2] };
	struct io_event ev[3];
	uint8_t buf[4096], small[8];
	void *gone;

	io_prep_pread(&cb[0], self->rfd, buf, sizeof(buf), 100);
	cb[0].data = (void *)0x1122334455667788ULL;
	/* Past the end of the file: short, then nothing. */
	io_prep_pread(&cb[1], self->rfd, small, sizeof(small), P1M3_SIZE - 3);
	cb[1].data = NULL;
	/* A buffer that is not mapped: -EFAULT in the completion. */
	gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, gone);
	munmap(gone, 4096);
	io_prep_pread(&cb[2], self->rfd, gone, 4096, 0);
	cb[2].data = (void *)-1L;
	ASSERT_EQ(3, io_submit(self->ctx, 3, cbs));
	/* The kernel copied aio_data at submit; so does the library. */
	cb[0].data = (void *)0xdeadULL;
	ASSERT_EQ(3, reap(self->ctx, ev, 3));
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(0, ev[i].res2);
		if (ev[i].obj == &cb[0]) {
			EXPECT_EQ((void *)0x1122334455667788ULL, ev[i].data);
			EXPECT_EQ(sizeof(buf), ev[i].res);
			EXPECT_EQ(-1, kaio_pattern_check(buf, sizeof(buf), 3, 100));
		} else if (ev[i].obj == &cb[1]) {
			EXPECT_EQ(NULL, ev[i].data);
			EXPECT_EQ(3, ev[i].res);
			EXPECT_EQ(-1, kaio_pattern_check(small, 3, 3, P1M3_SIZE - 3));
		} else {
			EXPECT_EQ(&cb[2], ev[i].obj);
			EXPECT_EQ((void *)-1L, ev[i].data);
			EXPECT_EQ(-EFAULT, (long)ev[i].res);
		}
	}
	io_prep_pread(&cb[1], self->rfd, small, sizeof(small), P1M3_SIZE);
	ASSERT_EQ(1, io_submit(self->ctx, 1, &cbs[1]));
	ASSERT_EQ(1, reap(self->ctx, ev, 1));
	EXPECT_EQ(0, ev[0].res);
}

/* Cold buffered reads, byte for byte, and RWF_HIPRI (ignored). */
TEST_F(aio, cold_pread)
{
	static const struct { long long off; size_t len; long res; } r[] = {
		{ 0, 4096, 4096 },
		{ 4095, 8193, 8193 },
		{ 12345, 65536, 65536 },
		{ 1048000, 4096, 579 },
		{ 777777, 200000, 200000 },
	};
	enum { N = sizeof(r) / sizeof(r[0]) };
	struct iocb cb[N], *cbs[N];
	struct io_event ev[N];
	uint8_t *buf[N];

	drop_caches();
	for (int i = 0; i < N; i++) {
		buf[i] = malloc(r[i].len);
		ASSERT_NE(NULL, buf[i]);
		memset(buf[i], 0xee, r[i].len);
		io_prep_pread(&cb[i], self->rfd, buf[i], r[i].len, r[i].off);
		cb[i].data = (void *)(uintptr_t)i;
		cbs[i] = &cb[i];
	}
	cb[2].aio_rw_flags = RWF_HIPRI;
	ASSERT_EQ(N, io_submit(self->ctx, N, cbs));
	ASSERT_EQ(N, reap(self->ctx, ev, N));
	for (int e = 0; e < N; e++) {
		int i = (int)(uintptr_t)ev[e].data;

		EXPECT_EQ(&cb[i], ev[e].obj);
		EXPECT_EQ(r[i].res, (long)ev[e].res) TH_LOG("read %d", i);
		EXPECT_EQ(-1, kaio_pattern_check(buf[i], r[i].res, 3, r[i].off))
			TH_LOG("read %d", i);
		free(buf[i]);
	}
}

/* Cold vectored reads (KAIO_FEAT_VECTOR). */
TEST_F(aio, cold_preadv)
{
	static uint8_t a[100], b[5000], c[70000];
	struct iovec iov[3] = { { a, sizeof(a) }, { b, sizeof(b) }, { c, sizeof(c) } };
	struct iocb cb[2], *cbs[2] = { &cb[0], &cb[1] };
	struct io_event ev[2];
	long long off = 777;

	if (!(self->feat & KAIO_FEAT_VECTOR))
		SKIP(return, "the module has no KAIO_FEAT_VECTOR");
	drop_caches();
	io_prep_preadv(&cb[0], self->rfd, iov, 3, off);
	io_prep_preadv(&cb[1], self->rfd, iov, 0, off);	/* no iovec: 0 bytes */
	ASSERT_EQ(2, io_submit(self->ctx, 2, cbs));
	ASSERT_EQ(2, reap(self->ctx, ev, 2));
	for (int e = 0; e < 2; e++) {
		if (ev[e].obj == &cb[1]) {
			EXPECT_EQ(0, ev[e].res);
			continue;
		}
		EXPECT_EQ(sizeof(a) + sizeof(b) + sizeof(c), ev[e].res);
	}
	EXPECT_EQ(-1, kaio_pattern_check(a, sizeof(a), 3, off));
	EXPECT_EQ(-1, kaio_pattern_check(b, sizeof(b), 3, off + sizeof(a)));
	EXPECT_EQ(-1, kaio_pattern_check(c, sizeof(c), 3, off + sizeof(a) + sizeof(b)));
}

/* Checks that @path holds @want (@len bytes), read cold with read(2). */
static int file_is(const char *path, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len + 1);
	ssize_t n;
	int fd, ok;

	drop_caches();
	fd = open(path, O_RDONLY);
	if (fd < 0 || !got)
		return 0;
	n = pread(fd, got, len + 1, 0);
	ok = n == (ssize_t)len && !memcmp(got, want, len);
	close(fd);
	free(got);
	return ok;
}

FIXTURE(wfile) {
	io_context_t ctx;
	uint64_t feat;
	char path[64];
	int fd;
	uint8_t *img;		/* what the file must hold */
};

#define WSIZE	(300 * 1024 + 7)

FIXTURE_SETUP(wfile)
{
	self->ctx = NULL;
	ASSERT_EQ(0, io_setup(16, &self->ctx));
	self->feat = features();
	snprintf(self->path, sizeof(self->path), S("tmp/aio_w.%d"), getpid());
	self->fd = open(self->path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, self->fd);
	self->img = calloc(1, WSIZE);
	ASSERT_NE(NULL, self->img);
}

FIXTURE_TEARDOWN(wfile)
{
	EXPECT_EQ(0, io_destroy(self->ctx));
	close(self->fd);
	unlink(self->path);
	free(self->img);
}

/* PWRITE, then FSYNC and FDSYNC; the file holds exactly what was written. */
TEST_F(wfile, pwrite_fsync)
{
	static const struct { long long off; size_t len; } w[] = {
		{ 0, 4096 }, { 4096 * 3 + 5, 100000 }, { 200000, WSIZE - 200000 },
	};
	enum { N = sizeof(w) / sizeof(w[0]) };
	struct iocb cb[N], sync[2], *cbs[N], *scbs[2] = { &sync[0], &sync[1] };
	struct io_event ev[N];

	drop_caches();
	for (int i = 0; i < N; i++) {
		pattern_fill(self->img + w[i].off, w[i].len, 77, w[i].off);
		io_prep_pwrite(&cb[i], self->fd, self->img + w[i].off, w[i].len, w[i].off);
		cbs[i] = &cb[i];
	}
	ASSERT_EQ(N, io_submit(self->ctx, N, cbs));
	ASSERT_EQ(N, reap(self->ctx, ev, N));
	for (int e = 0; e < N; e++) {
		int i = (struct iocb *)ev[e].obj - cb;

		ASSERT_TRUE(i >= 0 && i < N);
		EXPECT_EQ(w[i].len, ev[e].res);
		EXPECT_EQ(0, ev[e].res2);
	}
	io_prep_fsync(&sync[0], self->fd);
	io_prep_fdsync(&sync[1], self->fd);
	ASSERT_EQ(2, io_submit(self->ctx, 2, scbs));
	ASSERT_EQ(2, reap(self->ctx, ev, 2));
	EXPECT_EQ(0, ev[0].res);
	EXPECT_EQ(0, ev[1].res);
	EXPECT_TRUE(file_is(self->path, self->img, WSIZE));
}

/* Vectored writes (KAIO_FEAT_VECTOR). */
TEST_F(wfile, pwritev)
{
	struct iovec iov[4];
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	size_t lens[4] = { 1, 4095, 65536, 3000 }, off = 0, at = 5000;

	if (!(self->feat & KAIO_FEAT_VECTOR))
		SKIP(return, "the module has no KAIO_FEAT_VECTOR");
	pattern_fill(self->img + at, 1 + 4095 + 65536 + 3000, 78, at);
	for (int i = 0; i < 4; i++) {
		/* Separate buffers, holding the image's bytes. */
		iov[i].iov_base = malloc(lens[i]);
		iov[i].iov_len = lens[i];
		memcpy(iov[i].iov_base, self->img + at + off, lens[i]);
		off += lens[i];
	}
	io_prep_pwritev(&cb, self->fd, iov, 4, at);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(off, ev.res);
	EXPECT_TRUE(file_is(self->path, self->img, at + off));
	for (int i = 0; i < 4; i++)
		free(iov[i].iov_base);
}

/* RWF_DSYNC and RWF_SYNC: the write's count, the data on disk. */
TEST_F(wfile, rwf_dsync)
{
	struct iocb cb[2], *cbs[2] = { &cb[0], &cb[1] };
	struct io_event ev[2];

	pattern_fill(self->img, 150000, 79, 0);
	io_prep_pwrite(&cb[0], self->fd, self->img, 100000, 0);
	cb[0].aio_rw_flags = RWF_DSYNC;
	io_prep_pwrite(&cb[1], self->fd, self->img + 100000, 50000, 100000);
	cb[1].aio_rw_flags = RWF_SYNC;
	ASSERT_EQ(2, io_submit(self->ctx, 2, cbs));
	ASSERT_EQ(2, reap(self->ctx, ev, 2));
	for (int e = 0; e < 2; e++)
		EXPECT_EQ(ev[e].obj == &cb[0] ? 100000 : 50000, ev[e].res);
	EXPECT_TRUE(file_is(self->path, self->img, 150000));
}

/* RWF_NOWAIT (KAIO_FEAT_NOWAIT): EAGAIN rather than wait. */
TEST_F(aio, rwf_nowait)
{
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	uint8_t buf[4096];
	int fd = open(P64M, O_RDONLY);

	if (!(self->feat & KAIO_FEAT_NOWAIT))
		SKIP(return, "the module has no KAIO_FEAT_NOWAIT");
	ASSERT_LE(0, fd);
	/* An empty pipe. */
	io_prep_pread(&cb, self->pipe[0], buf, sizeof(buf), 0);
	cb.aio_rw_flags = RWF_NOWAIT;
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(-EAGAIN, (long)ev.res);
	/* Cold data, then the same data cached. */
	drop_caches();
	io_prep_pread(&cb, fd, buf, sizeof(buf), 32 << 20);
	cb.aio_rw_flags = RWF_NOWAIT;
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(-EAGAIN, (long)ev.res);
	ASSERT_EQ(sizeof(buf), pread(fd, buf, sizeof(buf), 32 << 20));
	memset(buf, 0, sizeof(buf));
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(sizeof(buf), ev.res);
	EXPECT_EQ(-1, kaio_pattern_check(buf, sizeof(buf), 64, 32 << 20));
	close(fd);
}

/* IOCB_FLAG_RESFD (KAIO_FEAT_RESFD): one eventfd count per completion. */
TEST_F(aio, resfd)
{
	struct iocb cb[3], *cbs[3] = { &cb[0], &cb[1], &cb[2] };
	struct io_event ev[3];
	uint8_t buf[3][512];
	uint64_t count = 0;
	int efd;

	if (!(self->feat & KAIO_FEAT_RESFD))
		SKIP(return, "the module has no KAIO_FEAT_RESFD");
	efd = eventfd(0, EFD_NONBLOCK);
	ASSERT_LE(0, efd);
	for (int i = 0; i < 3; i++) {
		io_prep_pread(&cb[i], self->rfd, buf[i], 512, i * 512);
		io_set_eventfd(&cb[i], efd);
	}
	ASSERT_EQ(3, io_submit(self->ctx, 3, cbs));
	ASSERT_EQ(3, reap(self->ctx, ev, 3));
	ASSERT_EQ(sizeof(count), read(efd, &count, sizeof(count)));
	EXPECT_EQ(3, count);
	for (int i = 0; i < 3; i++)
		EXPECT_EQ(512, ev[i].res);
	/* A request without the flag does not count. */
	io_prep_pread(&cb[0], self->rfd, buf[0], 512, 0);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	ASSERT_EQ(1, reap(self->ctx, ev, 1));
	EXPECT_EQ(-1, read(efd, &count, sizeof(count)));
	EXPECT_EQ(EAGAIN, errno);
	/* A cancelled request counts too. */
	io_prep_pread(&cb[0], self->pipe[0], buf[0], 512, 0);
	io_set_eventfd(&cb[0], efd);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	usleep(50 * 1000);
	EXPECT_EQ(-1, read(efd, &count, sizeof(count)));
	EXPECT_EQ(-EINPROGRESS, io_cancel(self->ctx, &cb[0], ev));
	ASSERT_EQ(1, reap(self->ctx, ev, 1));
	EXPECT_EQ(-ECANCELED, (long)ev[0].res);
	ASSERT_EQ(sizeof(count), read(efd, &count, sizeof(count)));
	EXPECT_EQ(1, count);
	/* Not an eventfd: EINVAL; not an fd: EBADF (as io_submit(2)). */
	io_set_eventfd(&cb[0], self->rfd);
	EXPECT_EQ(-EINVAL, io_submit(self->ctx, 1, cbs));
	io_prep_pread(&cb[0], self->rfd, buf[0], 512, 0);
	io_set_eventfd(&cb[0], 1000);
	EXPECT_EQ(-EBADF, io_submit(self->ctx, 1, cbs));
	close(efd);
}

/* io_pgetevents: the mask holds during the wait only (KAIO_FEAT_SIGMASK). */
TEST_F(aio, pgetevents_sigmask)
{
	struct iocb cb, *cbs[1] = { &cb };
	struct timespec t = ts_ms(500);
	struct io_event ev;
	sigset_t usr1, none, old;
	struct kick k;
	uint8_t buf[8];
	int64_t t0, dt;

	sigemptyset(&none);
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	io_prep_pread(&cb, self->pipe[0], buf, sizeof(buf), 0);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	/* A NULL mask is io_getevents(). */
	EXPECT_EQ(0, io_pgetevents(self->ctx, 0, 1, &ev, NULL, NULL));
	if (!(self->feat & KAIO_FEAT_SIGMASK)) {
		EXPECT_EQ(-ENOSYS, io_pgetevents(self->ctx, 1, 1, &ev, &t, &usr1));
		SKIP(return, "the module has no KAIO_FEAT_SIGMASK");
	}
	handler_install(SIGUSR1, 0);

	/* Blocked by the mask: the wait runs to its timeout. */
	sig_count = 0;
	kick_start(&k, SIGUSR1, 100);
	t0 = mono();
	EXPECT_EQ(0, io_pgetevents(self->ctx, 1, 1, &ev, &t, &usr1));
	dt = mono() - t0;
	pthread_join(k.thr, NULL);
	EXPECT_LE(480 * MSEC, dt);
	/* Delivered once the old mask is back. */
	EXPECT_EQ(1, sig_count);

	/* Blocked outside, let through by the mask: EINTR, handler ran. */
	pthread_sigmask(SIG_BLOCK, &usr1, &old);
	sig_count = 0;
	t = ts_ms(5000);
	kick_start(&k, SIGUSR1, 100);
	t0 = mono();
	EXPECT_EQ(-EINTR, io_pgetevents(self->ctx, 1, 1, &ev, &t, &none));
	dt = mono() - t0;
	pthread_join(k.thr, NULL);
	EXPECT_GT(3000 * MSEC, dt);
	EXPECT_EQ(1, sig_count);
	pthread_sigmask(SIG_SETMASK, &old, NULL);

	ASSERT_EQ(1, write(self->pipe[1], "s", 1));
	t = ts_ms(5000);
	ASSERT_EQ(1, io_pgetevents(self->ctx, 1, 1, &ev, &t, &usr1));
	EXPECT_EQ(1, ev.res);
}

/* libaio exports it, its header has it commented out. */
extern int io_queue_wait(io_context_t ctx, struct timespec *timeout);

/* io_queue_run() calls each iocb's callback with its result. */
static int cb_calls;
static io_context_t cb_ctx;
static long cb_res[4];

static void on_done(io_context_t ctx, struct iocb *iocb, long res, long res2)
{
	(void)iocb;
	if (ctx == cb_ctx && res2 == 0)
		cb_res[cb_calls < 4 ? cb_calls : 3] = res;
	cb_calls++;
}

TEST_F(aio, queue_run)
{
	io_context_t ctx = NULL;
	struct iocb cb[3], *cbs[3] = { &cb[0], &cb[1], &cb[2] };
	struct timespec t = ts_ms(10);
	uint8_t buf[3][100];
	int64_t end;

	ASSERT_EQ(0, io_queue_init(4, &ctx));
	cb_ctx = ctx;
	for (int i = 0; i < 3; i++) {
		io_prep_pread(&cb[i], self->rfd, buf[i], 100, 0);
		io_set_callback(&cb[i], on_done);
	}
	ASSERT_EQ(3, io_submit(ctx, 3, cbs));
	end = mono() + 5 * NS;
	while (cb_calls < 3 && mono() < end) {
		EXPECT_EQ(0, io_queue_run(ctx));
		EXPECT_EQ(0, io_queue_wait(ctx, &t));
		usleep(1000);
	}
	EXPECT_EQ(3, cb_calls);
	for (int i = 0; i < 3; i++) {
		EXPECT_EQ(100, cb_res[i]);
		EXPECT_EQ(-1, kaio_pattern_check(buf[i], 100, 3, 0));
	}
	EXPECT_EQ(0, io_queue_run(ctx));
	EXPECT_EQ(0, io_queue_release(ctx));
}

/* The LIBAIO_0.1 versions: io_getevents waits for one, io_cancel has no result. */
TEST_F(aio, compat_0_1)
{
	void *h = dlopen("libaio.so.1", RTLD_NOW | RTLD_NOLOAD);
	int (*getevents01)(io_context_t, long, struct io_event *, struct timespec *);
	int (*cancel01)(io_context_t, struct iocb *);
	int (*wait01)(io_context_t, struct timespec *);
	struct iocb cb, *cbs[1] = { &cb };
	struct timespec t = ts_ms(5000);
	struct io_event ev[2];
	uint8_t buf[8];

	ASSERT_NE(NULL, h);
	getevents01 = dlvsym(h, "io_getevents", "LIBAIO_0.1");
	cancel01 = dlvsym(h, "io_cancel", "LIBAIO_0.1");
	wait01 = dlvsym(h, "io_queue_wait", "LIBAIO_0.1");
	ASSERT_NE(NULL, getevents01);
	ASSERT_NE(NULL, cancel01);
	ASSERT_NE(NULL, wait01);
	ASSERT_NE(NULL, dlvsym(h, "io_pgetevents", "LIBAIO_0.5"));
	ASSERT_NE(NULL, dlvsym(h, "io_submit", "LIBAIO_0.1"));
	ASSERT_NE(NULL, dlvsym(h, "io_setup", "LIBAIO_0.4"));

	io_prep_pread(&cb, self->pipe[0], buf, sizeof(buf), 0);
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	EXPECT_EQ(0, wait01(self->ctx, NULL));
	EXPECT_EQ(-EINPROGRESS, cancel01(self->ctx, &cb));
	EXPECT_EQ(1, getevents01(self->ctx, 2, ev, &t));
	EXPECT_EQ(-ECANCELED, (long)ev[0].res);
	EXPECT_EQ(-EINVAL, cancel01(self->ctx, &cb));
	dlclose(h);
}

/* A context belongs to its process: a fork child gets EINVAL. */
TEST_F(aio, fork_child)
{
	struct iocb cb, *cbs[1] = { &cb };
	struct io_event ev;
	uint8_t buf[8];
	int status;
	pid_t pid;

	io_prep_pread(&cb, self->rfd, buf, sizeof(buf), 0);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct timespec zero = { 0, 0 };
		int bad = 0;

		bad |= io_submit(self->ctx, 1, cbs) != -EINVAL;
		bad |= (io_getevents(self->ctx, 0, 1, &ev, &zero) != -EINVAL) << 1;
		bad |= (io_destroy(self->ctx) != -EINVAL) << 2;
		_exit(bad);
	}
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	EXPECT_TRUE(WIFEXITED(status));
	EXPECT_EQ(0, WEXITSTATUS(status));
	/* The parent's context is intact. */
	ASSERT_EQ(1, io_submit(self->ctx, 1, cbs));
	ASSERT_EQ(1, reap(self->ctx, &ev, 1));
	EXPECT_EQ(sizeof(buf), ev.res);
}

/* io_destroy() cancels and waits: nothing is in flight when it returns. */
TEST(destroy_waits)
{
	io_context_t ctx = NULL;
	struct iocb cb[4], *cbs[4];
	static uint8_t buf[4][1 << 20];
	int p[2], fd = open(P64M, O_RDONLY);
	char c;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe(p));
	ASSERT_EQ(0, io_setup(8, &ctx));
	drop_caches();
	io_prep_pread(&cb[0], p[0], buf[0], 16, 0);
	io_prep_pread(&cb[1], p[0], buf[1], 16, 0);
	io_prep_pread(&cb[2], fd, buf[2], sizeof(buf[2]), 8 << 20);
	io_prep_pread(&cb[3], fd, buf[3], sizeof(buf[3]), 40 << 20);
	for (int i = 0; i < 4; i++)
		cbs[i] = &cb[i];
	ASSERT_EQ(4, io_submit(ctx, 4, cbs));
	EXPECT_EQ(0, io_destroy(ctx));
	EXPECT_EQ(0, kaio_stat("inflight"));
	/* The cancelled pipe reads took nothing. */
	ASSERT_EQ(1, write(p[1], "k", 1));
	ASSERT_EQ(1, read(p[0], &c, 1));
	EXPECT_EQ('k', c);
	close(p[0]);
	close(p[1]);
	close(fd);
}

/* Several threads submit and reap on one context at once. */
#define T_REQS		200
#define T_LEN		4096
#define T_OFF(i)	((long long)(i) * 4099 % (P1M3_SIZE - T_LEN))

struct tshared {
	io_context_t ctx;
	int fd;
	uint8_t (*buf)[T_LEN];
	struct iocb *cb;
	int *seen;
	int reaped, bad, eagain;
	pthread_mutex_t lock;
};

struct targ {
	struct tshared *s;
	int first;		/* submitters: first request index */
};

static void *t_submit(void *arg)
{
	struct targ *a = arg;
	struct tshared *s = a->s;

	for (int i = a->first; i < a->first + T_REQS; ) {
		struct iocb *cbs[2] = { &s->cb[i], &s->cb[i + 1] };
		int r = io_submit(s->ctx, i + 1 < a->first + T_REQS ? 2 : 1, cbs);

		if (r == -EAGAIN) {
			__atomic_add_fetch(&s->eagain, 1, __ATOMIC_RELAXED);
			usleep(200);
			continue;
		}
		if (r <= 0) {
			__atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		i += r;
	}
	return NULL;
}

static void *t_reap(void *arg)
{
	struct targ *a = arg;
	struct tshared *s = a->s;
	int64_t end = mono() + 60 * NS;

	while (__atomic_load_n(&s->reaped, __ATOMIC_RELAXED) < 2 * T_REQS && mono() < end) {
		struct timespec t = ts_ms(50);
		struct io_event ev[8];
		int r = io_getevents(s->ctx, 1, 8, ev, &t);

		if (r < 0 && r != -EINTR) {
			__atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
			break;
		}
		for (int e = 0; e < r; e++) {
			int i = (int)(uintptr_t)ev[e].data;

			if (i < 0 || i >= 2 * T_REQS || ev[e].obj != &s->cb[i] ||
			    ev[e].res != T_LEN || ev[e].res2 ||
			    kaio_pattern_check(s->buf[i], T_LEN, 3, T_OFF(i)) != -1)
				__atomic_add_fetch(&s->bad, 1, __ATOMIC_RELAXED);
			else
				__atomic_add_fetch(&s->seen[i], 1, __ATOMIC_RELAXED);
		}
		__atomic_add_fetch(&s->reaped, r > 0 ? r : 0, __ATOMIC_RELAXED);
	}
	return NULL;
}

TEST_F(aio, threads)
{
	struct tshared s = { 0 };
	struct targ sa[2], ra[2];
	pthread_t th[4];

	ASSERT_EQ(0, io_setup(16, &s.ctx));
	s.fd = self->rfd;
	s.buf = calloc(2 * T_REQS, T_LEN);
	s.cb = calloc(2 * T_REQS, sizeof(*s.cb));
	s.seen = calloc(2 * T_REQS, sizeof(int));
	ASSERT_NE(NULL, s.buf);
	for (int i = 0; i < 2 * T_REQS; i++) {
		io_prep_pread(&s.cb[i], s.fd, s.buf[i], T_LEN, T_OFF(i));
		s.cb[i].data = (void *)(uintptr_t)i;
	}
	for (int i = 0; i < 2; i++) {
		sa[i] = (struct targ){ &s, i * T_REQS };
		ra[i] = (struct targ){ &s, 0 };
		pthread_create(&th[i], NULL, t_submit, &sa[i]);
		pthread_create(&th[2 + i], NULL, t_reap, &ra[i]);
	}
	for (int i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	EXPECT_EQ(0, s.bad);
	EXPECT_EQ(2 * T_REQS, s.reaped);
	for (int i = 0; i < 2 * T_REQS; i++) {
		EXPECT_EQ(1, s.seen[i]) TH_LOG("request %d", i);
	}
	TH_LOG("%d EAGAIN retries", s.eagain);
	EXPECT_EQ(0, io_destroy(s.ctx));
	free(s.buf);
	free(s.cb);
	free(s.seen);
}

TEST_HARNESS_MAIN
