// SPDX-License-Identifier: GPL-2.0
/*
 * The async engine: ring set-up, each step alone and chained, data checked
 * byte for byte against the scratch disk with the page cache dropped,
 * cancellation, notification, limits and teardown.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stddef.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name




FIXTURE(ctx) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(ctx)
{
	ASSERT_EQ(0, kaio_setup(&self->k, 1024));
}

FIXTURE_TEARDOWN(ctx)
{
	kaio_close(&self->k);
}

TEST(setup_rules)
{
	struct kaio_setup s;
	struct kaio_event ev;
	struct kaio_iocb iocb;
	struct kaio_getevents g = { .events = (uintptr_t)&ev, .min_nr = 0, .max_nr = 1 };
	struct kaio_submit sub = { .iocbs = (uintptr_t)&iocb, .nr = 1 };
	unsigned int bad[] = { 0, 3, 1000, 1u << 31 };
	int fd = open(KAIO_DEVICE, O_RDWR);

	ASSERT_LE(0, fd);
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, 0);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KAIO_IOC_SUBMIT, &sub));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KAIO_IOC_GETEVENTS, &g));
	EXPECT_EQ(EINVAL, errno);
	errno = 0;
	EXPECT_EQ(MAP_FAILED, mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0));
	EXPECT_EQ(EINVAL, errno);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(&s, 0, sizeof(s));
		s.entries = bad[i];
		errno = 0;
		EXPECT_EQ(-1, ioctl(fd, KAIO_IOC_SETUP, &s)) TH_LOG("entries %u", bad[i]);
		EXPECT_EQ(EINVAL, errno);
	}
	memset(&s, 0, sizeof(s));
	s.entries = 8;
	s.flags = 1;
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KAIO_IOC_SETUP, &s));
	EXPECT_EQ(EINVAL, errno);
	memset(&s, 0, sizeof(s));
	s.entries = 8;
	s.reserved[1] = 1;
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KAIO_IOC_SETUP, &s));
	EXPECT_EQ(EINVAL, errno);
	memset(&s, 0, sizeof(s));
	s.entries = 8;
	ASSERT_EQ(0, ioctl(fd, KAIO_IOC_SETUP, &s));
	EXPECT_EQ(8, s.entries);
	EXPECT_EQ(sizeof(struct kaio_event), s.event_size);
	EXPECT_EQ(sizeof(struct kaio_ring), s.events_off);
	EXPECT_EQ(KAIO_MAX_STEPS, s.max_steps);
	EXPECT_EQ(0, s.ring_size % 4096);
	memset(&s, 0, sizeof(s));
	s.entries = 8;
	errno = 0;
	EXPECT_EQ(-1, ioctl(fd, KAIO_IOC_SETUP, &s));
	EXPECT_EQ(EBUSY, errno);
	close(fd);
}

TEST_F(ctx, ring_zeroed)
{
	const unsigned char *p = (const unsigned char *)self->k.ring;

	EXPECT_EQ(1023, self->k.ring->mask);
	EXPECT_EQ(1024, self->k.ring->entries);
	for (size_t i = 0; i < self->k.map_size; i++) {
		if (i >= offsetof(struct kaio_ring, mask) &&
		    i < offsetof(struct kaio_ring, mask) + 8)
			continue;
		ASSERT_EQ(0, p[i]) TH_LOG("byte %zu of the ring", i);
	}
}

/* OPEN(path) -> READ -> CLOSE, cold cache, sizes 0 .. 1 MiB + 3. */
TEST_F(ctx, open_read_close_sizes)
{
	static const struct { const char *name; uint32_t seed; size_t size; } f[] = {
		{ S("p_0"), 0, 0 }, { S("p_1"), 1, 1 }, { S("p_4095"), 4095, 4095 },
		{ S("p_4096"), 4096, 4096 }, { S("p_4097"), 4097, 4097 },
		{ S("p_1m3"), 3, (1 << 20) + 3 },
	};

	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		size_t cap = f[i].size + 4096;
		uint8_t *buf = malloc(cap + 1);
		struct kaio_iocb iocb;
		struct kaio_event ev;

		ASSERT_NE(NULL, buf);
		memset(buf, 0xee, cap + 1);
		kaio_drop_caches("3");
		kaio_iocb_init(&iocb, 100 + i);
		kaio_step_open(&iocb, AT_FDCWD, f[i].name, O_RDONLY, 0);
		/* Ask for more than the file: the short read ends the chain... */
		kaio_step_read(&iocb, buf + 1, cap, 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		EXPECT_EQ(100 + i, ev.user_data);
		EXPECT_EQ((int64_t)f[i].size, ev.result) TH_LOG("%s", f[i].name);
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(3, ev.nr_steps);
		EXPECT_EQ(0, ev.step_result[0]);
		EXPECT_EQ((int64_t)f[i].size, ev.step_result[1]);
		EXPECT_EQ(0, ev.step_result[2]);
		EXPECT_EQ(-1, ev.fd);
		/* Short, not failed: the chain did not run to its end. */
		EXPECT_EQ(0, ev.flags);
		EXPECT_EQ(0, ev.error);
		EXPECT_EQ(f[i].size, ev.bytes);
		EXPECT_EQ(-1, kaio_pattern_check(buf + 1, f[i].size, f[i].seed, 0));
		EXPECT_EQ(0xee, buf[0]);
		EXPECT_EQ(0xee, buf[1 + f[i].size]);

		/* ...and the exact length runs the whole chain. */
		kaio_drop_caches("3");
		kaio_iocb_init(&iocb, 200 + i);
		kaio_step_open(&iocb, AT_FDCWD, f[i].name, O_RDONLY, 0);
		kaio_step_read(&iocb, buf, f[i].size, 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ(2, ev.step);
		EXPECT_EQ((int64_t)f[i].size, ev.step_result[1]);
		EXPECT_EQ(-1, kaio_pattern_check(buf, f[i].size, f[i].seed, 0));
		free(buf);
	}
}

/* FD -> READ at unaligned offsets into unaligned buffers; SHORT_OK. */
TEST_F(ctx, fd_read_unaligned)
{
	static const int64_t offs[] = { 0, 1, 4095, 4097, 524289, (1 << 20) + 2 };
	int fd = open(S("p_1m3"), O_RDONLY);
	uint8_t *buf = malloc(70000);

	ASSERT_LE(0, fd);
	for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		int64_t want = (1 << 20) + 3 - offs[i];

		if (want > 65537)
			want = 65537;
		kaio_drop_caches("3");
		kaio_iocb_init(&iocb, i);
		iocb.flags = KAIO_IOCB_SHORT_OK;
		kaio_step_fd(&iocb, fd);
		kaio_step_read(&iocb, buf + 3, 65537, offs[i]);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		EXPECT_EQ(want, ev.result);
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(-1, kaio_pattern_check(buf + 3, want, 3, offs[i]));
	}
	close(fd);
	free(buf);
}

/* OPEN(O_CREAT) -> WRITE -> FSYNC -> CLOSE, then read back cold. */
TEST_F(ctx, create_write_fsync_close)
{
	size_t len = (1 << 20) + 3;
	uint8_t *src = malloc(len + 1), *back = malloc(len);
	char path[64];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct stat st;
	int fd;

	for (size_t i = 0; i < len; i++)
		src[i + 1] = kaio_pattern(77, i);
	snprintf(path, sizeof(path), S("tmp/w_%d"), getpid());
	unlink(path);
	kaio_iocb_init(&iocb, 7);
	kaio_step_open(&iocb, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, 0640);
	kaio_step_write(&iocb, src + 1, len, 0);
	kaio_step_fsync(&iocb, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(3, ev.step);
	EXPECT_EQ((int64_t)len, ev.step_result[1]);
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(len, (size_t)st.st_size);
	/* The submitter's umask (022 in the guest) applied. */
	EXPECT_EQ(0640 & ~022, st.st_mode & 0777);
	kaio_drop_caches("3");
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	ASSERT_EQ((ssize_t)len, read(fd, back, len));
	EXPECT_EQ(0, memcmp(src + 1, back, len));
	close(fd);
	/* O_EXCL again: EEXIST from the OPEN step. */
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EEXIST, ev.result);
	EXPECT_EQ(0, ev.step);
	unlink(path);
	free(src);
	free(back);
}

/* OPEN -> KEEP installs the file in the submitter's table. */
TEST_F(ctx, open_keep)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	uint8_t buf[4097];

	for (int cloexec = 0; cloexec < 2; cloexec++) {
		kaio_iocb_init(&iocb, 9);
		kaio_step_open(&iocb, AT_FDCWD, S("p_4097"), O_RDONLY, 0);
		kaio_step_keep(&iocb, cloexec);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		ASSERT_LE(0, ev.result);
		EXPECT_EQ(ev.result, ev.fd);
		EXPECT_EQ(KAIO_EV_FD | KAIO_EV_DONE, ev.flags);
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(ev.fd, ev.step_result[1]);
		EXPECT_EQ(cloexec ? FD_CLOEXEC : 0, fcntl(ev.fd, F_GETFD));
		EXPECT_EQ(4097, pread(ev.fd, buf, sizeof(buf), 0));
		EXPECT_EQ(-1, kaio_pattern_check(buf, 4097, 4097, 0));
		EXPECT_EQ(0, close(ev.fd));
	}
}

/* Directory via OPEN -> READ: EISDIR in the completion. */
TEST_F(ctx, completion_errors)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char buf[16];
	void *unmapped = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
			      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	ASSERT_NE(MAP_FAILED, unmapped);
	ASSERT_EQ(0, munmap(unmapped, 8192));

	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, S("does/not/exist"), O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-ENOENT, ev.result);
	EXPECT_EQ(0, ev.step);
	EXPECT_EQ(-ENOENT, ev.step_result[0]);
	EXPECT_EQ(0, ev.step_result[1]);

	kaio_iocb_init(&iocb, 2);
	kaio_step_open(&iocb, AT_FDCWD, KAIO_SCRATCH, O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EISDIR, ev.result);
	EXPECT_EQ(1, ev.step);

	kaio_iocb_init(&iocb, 3);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
	kaio_step_read(&iocb, unmapped, 4096, 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EFAULT, ev.result);
	EXPECT_EQ(1, ev.step);

	kaio_iocb_init(&iocb, 4);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
	kaio_step_write(&iocb, buf, sizeof(buf), 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EBADF, ev.result);
	EXPECT_EQ(1, ev.step);
}

/* Every malformed iocb: exact errno at submit, nothing leaked, ctx usable. */
TEST_F(ctx, bad_input)
{
	char longpath[5000];
	char buf[64];
	struct kaio_iocb iocb, good;
	struct kaio_event ev;
	int wfd = open(S("p_4096"), O_WRONLY | O_APPEND);
	int rfd = open(S("p_4096"), O_RDONLY);
	int dfd = open(KAIO_SCRATCH, O_RDONLY | O_DIRECTORY);
	struct { const char *what; int err; int got; } cases[32];
	int n = 0, pass = 0;

	ASSERT_LE(0, wfd);
	ASSERT_LE(0, rfd);
	ASSERT_LE(0, dfd);
	memset(longpath, 'a', sizeof(longpath));
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = 0;

#define CASE(what_, err_, build) do {					\
		kaio_iocb_init(&iocb, 1000 + n);				\
		build;							\
		errno = 0;						\
		cases[n].what = what_;					\
		cases[n].err = err_;					\
		cases[n].got = kaio_submit(&self->k, &iocb, 1);		\
		EXPECT_EQ(-(err_), cases[n].got) TH_LOG("%s", what_);	\
		n++;							\
	} while (0)

	CASE("unknown opcode", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.steps[0].opcode = 99; });
	CASE("opcode NOP", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.steps[0].opcode = 0; });
	CASE("unknown iocb flag", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.flags = 1u << 7; });
	CASE("iocb reserved", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.reserved2 = 1; });
	CASE("iocb reserved1", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.reserved1 = 1; });
	CASE("resfd without the flag", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.resfd = 3; });
	CASE("iocb reserved0", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.reserved0 = 1; });
	CASE("step reserved2", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.steps[0].reserved2 = 1; });
	CASE("step reserved0", EINVAL, { kaio_step_fd(&iocb, rfd); iocb.steps[0].reserved0 = 1; });
	CASE("zero steps", EINVAL, { });
	CASE("too many steps", EINVAL, { kaio_step_fd(&iocb, rfd);
		for (int i = 1; i < KAIO_MAX_STEPS; i++) kaio_step_read(&iocb, buf, 1, 0);
		iocb.nr_steps = KAIO_MAX_STEPS + 1; });
	CASE("read before a file", EINVAL, { kaio_step_read(&iocb, buf, 1, 0); });
	CASE("second open", EINVAL, { kaio_step_fd(&iocb, rfd); kaio_step_open(&iocb, AT_FDCWD, "x", 0, 0); });
	CASE("close not last", EINVAL, { kaio_step_fd(&iocb, rfd); kaio_step_close(&iocb); kaio_step_read(&iocb, buf, 1, 0); });
	CASE("keep after fd", EINVAL, { kaio_step_fd(&iocb, rfd); kaio_step_keep(&iocb, 0); });
	CASE("unknown fsync flag", EINVAL, { kaio_step_fd(&iocb, rfd); kaio_step_fsync(&iocb, 0)->op_flags = 2; });
	CASE("bad open flags", EINVAL, { kaio_step_open(&iocb, AT_FDCWD, S("p_1"), O_PATH, 0); });
	CASE("bad mode", EINVAL, { kaio_step_open(&iocb, AT_FDCWD, S("p_1"), O_RDONLY, 010000); });
	CASE("NULL buffer", EFAULT, { kaio_step_fd(&iocb, rfd); kaio_step_read(&iocb, NULL, 16, 0); });
	CASE("kernel buffer", EFAULT, { kaio_step_fd(&iocb, rfd);
		kaio_step_read(&iocb, (void *)0xffffffff81000000ul, 16, 0); });
	CASE("NULL path", EFAULT, { kaio_step_open(&iocb, AT_FDCWD, NULL, O_RDONLY, 0); });
	CASE("bad fd", EBADF, { kaio_step_fd(&iocb, 9999); });
	CASE("bad dirfd", EBADF, { kaio_step_open(&iocb, 9999, "p_1", O_RDONLY, 0); });
	CASE("dirfd not a directory", ENOTDIR, { kaio_step_open(&iocb, rfd, "p_1", O_RDONLY, 0); });
	CASE("read on O_WRONLY fd", EBADF, { kaio_step_fd(&iocb, wfd); kaio_step_read(&iocb, buf, 1, 0); });
	CASE("write on O_RDONLY fd", EBADF, { kaio_step_fd(&iocb, rfd); kaio_step_write(&iocb, buf, 1, 0); });
	CASE("read a directory fd", EISDIR, { kaio_step_fd(&iocb, dfd); kaio_step_read(&iocb, buf, 1, 0); });
	CASE("negative offset", EINVAL, { kaio_step_fd(&iocb, rfd); kaio_step_read(&iocb, buf, 1, -1); });
	CASE("offset+len overflow", EINVAL, { kaio_step_fd(&iocb, rfd);
		kaio_step_read(&iocb, buf, 16, INT64_MAX - 8); });
	CASE("path too long", ENAMETOOLONG, { kaio_step_open(&iocb, AT_FDCWD, longpath, O_RDONLY, 0); });
#undef CASE

	/* A bad iocb after a good one: the good one is accepted. */
	{
		struct kaio_iocb two[2];

		kaio_iocb_init(&two[0], 1);
		kaio_step_fd(&two[0], rfd);
		kaio_step_read(&two[0], buf, 16, 0);
		kaio_iocb_init(&two[1], 2);
		EXPECT_EQ(1, kaio_submit(&self->k, two, 2));
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		EXPECT_EQ(1, ev.user_data);
		EXPECT_EQ(16, ev.result);
	}

	/* Nothing was queued by the failures, and the context still works. */
	EXPECT_EQ(0, kaio_wait(&self->k, &ev, 0, 1, 0));
	kaio_iocb_init(&good, 5);
	kaio_step_fd(&good, rfd);
	kaio_step_read(&good, buf, 64, 4);
	ASSERT_EQ(1, kaio_run1(&self->k, &good, &ev));
	EXPECT_EQ(64, ev.result);
	EXPECT_EQ(64, ev.step_result[1]);
	EXPECT_EQ(-1, kaio_pattern_check((uint8_t *)buf, 64, 4096, 4));
	/* Every case was refused with exactly its errno. */
	EXPECT_EQ(30, n);
	for (int i = 0; i < n; i++) {
		if (cases[i].got == -cases[i].err)
			pass++;
		else
			TH_LOG("%s: %d, want %d", cases[i].what, cases[i].got, -cases[i].err);
	}
	ASSERT_EQ(n, pass);
	close(wfd);
	close(rfd);
	close(dfd);
}

TEST_F(ctx, getevents_rules)
{
	struct kaio_event ev;
	struct kaio_getevents g = { .events = (uintptr_t)&ev, .min_nr = 2, .max_nr = 1 };
	struct kaio_cancel c = { .user_data = 1, .reserved = 1 };

	errno = 0;
	EXPECT_EQ(-1, ioctl(self->k.fd, KAIO_IOC_GETEVENTS, &g));
	EXPECT_EQ(EINVAL, errno);
	g.min_nr = 0;
	g.sigmask = 1;		/* not a readable sigset */
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->k.fd, KAIO_IOC_GETEVENTS, &g));
	EXPECT_EQ(EFAULT, errno);
	g.sigmask = 0;
	/* Nothing pending: returns 0 at once with a zero timeout. */
	EXPECT_EQ(0, kaio_wait(&self->k, &ev, 1, 1, 0));
	/* ... and after the timeout otherwise. */
	EXPECT_EQ(0, kaio_wait(&self->k, &ev, 1, 1, 20 * 1000 * 1000));
	errno = 0;
	EXPECT_EQ(-1, ioctl(self->k.fd, KAIO_IOC_CANCEL, &c));
	EXPECT_EQ(EINVAL, errno);
	EXPECT_EQ(-ENOENT, kaio_cancel(&self->k, 12345));
}

static void on_alarm(int sig)
{
}

/*
 * GETEVENTS is interruptible: a signal with a handler (no SA_RESTART)
 * ends the wait, and no completion is lost across it. Both requests are
 * in flight before the wait: a READ of a regular file (done at once,
 * before or during the wait) and a READ of an empty pipe, which can only
 * complete once the test writes to the pipe, after the signal. The
 * interrupted wait for both returns the first event or EINTR; either way
 * both events then arrive, each exactly once and with its bytes.
 */
TEST_F(ctx, getevents_eintr_loses_nothing)
{
	struct sigaction sa = { .sa_handler = on_alarm }, old;
	struct itimerval it = { .it_value = { .tv_usec = 100000 } };
	struct kaio_event ev[2];
	struct kaio_iocb iocb[2];
	uint8_t fbuf[16], pbuf[16];
	int seen[2] = { 0 }, got = 0, r, p[2];
	int fd = open(S("p_4096"), O_RDONLY);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, pipe2(p, O_CLOEXEC));
	kaio_iocb_init(&iocb[0], 42);
	kaio_step_fd(&iocb[0], fd);
	kaio_step_read(&iocb[0], fbuf, sizeof(fbuf), 0);
	kaio_iocb_init(&iocb[1], 43);
	kaio_step_fd(&iocb[1], p[0]);
	kaio_step_read(&iocb[1], pbuf, sizeof(pbuf), 0);
	ASSERT_EQ(2, kaio_submit(&self->k, iocb, 2));
	ASSERT_EQ(0, sigaction(SIGALRM, &sa, &old));
	ASSERT_EQ(0, setitimer(ITIMER_REAL, &it, NULL));
	/* Cannot be satisfied before the pipe is written: the signal ends it. */
	r = kaio_wait(&self->k, ev, 2, 2, 10ll * 1000 * 1000 * 1000);
	sigaction(SIGALRM, &old, NULL);
	ASSERT_TRUE(r == -EINTR || r == 1) TH_LOG("the interrupted wait returned %d", r);
	if (r == 1)
		got = 1;
	ASSERT_EQ(16, write(p[1], "0123456789abcdef", 16));
	while (got < 2) {
		r = kaio_wait(&self->k, ev + got, 1, 2 - got, 10ll * 1000 * 1000 * 1000);
		ASSERT_LT(0, r) TH_LOG("%d of 2 events, then %d", got, r);
		got += r;
	}
	for (int i = 0; i < 2; i++) {
		uint64_t u = ev[i].user_data - 42;

		ASSERT_LT(u, 2);
		EXPECT_EQ(0, seen[u]++);
		EXPECT_EQ(16, ev[i].result);
		EXPECT_EQ(1, ev[i].step);
	}
	EXPECT_EQ(-1, kaio_pattern_check(fbuf, 16, 4096, 0));
	EXPECT_EQ(0, memcmp(pbuf, "0123456789abcdef", 16));
	/* Nothing more. */
	EXPECT_EQ(0, kaio_wait(&self->k, ev, 0, 2, 0));
	close(p[0]);
	close(p[1]);
	close(fd);
}

/* The ring refuses submissions (EAGAIN) before a completion could be lost. */
TEST(ring_full_eagain)
{
	struct kaio_ctx k;
	struct kaio_iocb iocb[9];
	struct kaio_event ev[9];
	char buf[8];
	int fd = open(S("p_4096"), O_RDONLY);

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kaio_setup(&k, 8));
	for (int i = 0; i < 9; i++) {
		kaio_iocb_init(&iocb[i], i);
		kaio_step_fd(&iocb[i], fd);
		kaio_step_read(&iocb[i], buf, sizeof(buf), 0);
	}
	/* 9 into a ring of 8: 8 accepted. */
	EXPECT_EQ(8, kaio_submit(&k, iocb, 9));
	/* Full until reaped, even once all completed. */
	usleep(200000);
	EXPECT_EQ(-EAGAIN, kaio_submit(&k, iocb, 1));
	EXPECT_EQ(8, kaio_wait(&k, ev, 8, 9, -1));
	EXPECT_EQ(1, kaio_submit(&k, iocb, 1));
	EXPECT_EQ(1, kaio_wait(&k, ev, 1, 9, -1));
	kaio_close(&k);
	close(fd);
}

/*
 * Cancel of requests that cannot finish on their own, so that no timing
 * decides the outcome: READs of empty pipes and a SENDFILE to a unix
 * socket that is full and never read. Each cancel returns 0; each request
 * completes exactly once with ECANCELED; a second cancel finds nothing; a
 * cancelled READ took nothing from its pipe; the SENDFILE sent exactly
 * what its step_result says. Then mid-chain: a chain whose first READ
 * has provably run (its pipe is empty again) is cancelled in its second.
 */
TEST(cancel)
{
	enum { N = 16 };
	const int64_t sec = 1000ll * 1000 * 1000;
	struct kaio_ctx k;
	struct kaio_iocb iocb[N + 1];
	struct kaio_event ev[N + 1];
	int seen[N + 1] = { 0 }, p[N][2], sv[2], fd, avail = -1;
	uint8_t buf[N][64], fill[4096], a[10], b[10], back[64];
	size_t filled = 0, rcvd = 0;
	int64_t sent = -1;
	ssize_t n;

	ASSERT_EQ(0, kaio_setup(&k, 64));
	fd = open(S("p_1m3"), O_RDONLY);
	ASSERT_LE(0, fd);
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, pipe2(p[i], O_CLOEXEC));
		kaio_iocb_init(&iocb[i], i);
		kaio_step_fd(&iocb[i], p[i][0]);
		kaio_step_read(&iocb[i], buf[i], sizeof(buf[i]), 0);
	}
	/* A unix socket filled to the brim: a SENDFILE to it parks at once. */
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv));
	ASSERT_EQ(0, fcntl(sv[0], F_SETFL, O_NONBLOCK));
	memset(fill, 0xa5, sizeof(fill));
	filled = fill_fd(sv[0], fill, sizeof(fill));
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_EQ(0, fcntl(sv[0], F_SETFL, 0));
	kaio_iocb_init(&iocb[N], N);
	kaio_step_fd(&iocb[N], fd);
	kaio_step_sendfile(&iocb[N], sv[0], 0, 0);

	ASSERT_EQ(N + 1, kaio_submit(&k, iocb, N + 1));
	for (int i = 0; i <= N; i++) {
		EXPECT_EQ(0, kaio_cancel(&k, i)) TH_LOG("cancel %d", i);
	}
	/* A second cancel of the same request finds nothing to cancel. */
	EXPECT_EQ(-ENOENT, kaio_cancel(&k, 0));
	ASSERT_EQ(N + 1, kaio_wait(&k, ev, N + 1, N + 1, 10 * sec));
	for (int i = 0; i <= N; i++) {
		uint64_t u = ev[i].user_data;

		ASSERT_LE(u, N);
		EXPECT_EQ(0, seen[u]++);
		EXPECT_EQ(-ECANCELED, ev[i].result) TH_LOG("request %llu", (unsigned long long)u);
		EXPECT_EQ(KAIO_EV_CANCELED, ev[i].flags);
		EXPECT_EQ(-1, ev[i].fd);
		/* Before it started (0) or in its transfer step (1). */
		EXPECT_GE(1, ev[i].step);
		if (u == N)
			sent = ev[i].step == 1 ? ev[i].step_result[1] : 0;
		else
			EXPECT_EQ(0, ev[i].step_result[1]);
		/* Finished: cancelling again finds nothing. */
		EXPECT_EQ(-ENOENT, kaio_cancel(&k, u));
	}
	EXPECT_EQ(0, kaio_wait(&k, ev, 0, N, 0));
	/* The cancelled READs are gone: what is written now stays there. */
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(8, write(p[i][1], "pipedata", 8));
		ASSERT_EQ(0, fcntl(p[i][0], F_SETFL, O_NONBLOCK));
		EXPECT_EQ(8, read(p[i][0], back, sizeof(back))) TH_LOG("pipe %d", i);
		EXPECT_EQ(0, memcmp(back, "pipedata", 8));
		close(p[i][0]);
		close(p[i][1]);
	}
	/* The socket holds the filler and exactly the bytes reported sent. */
	ASSERT_LE(0, sent);
	for (size_t got = 0;; got += n) {
		n = recv(sv[1], back, sizeof(back), MSG_DONTWAIT);
		if (n <= 0)
			break;
		for (ssize_t j = 0; j < n; j++) {
			uint64_t at = got + j;

			if (at >= filled && back[j] != kaio_pattern(3, at - filled)) {
				TH_LOG("byte %llu of the stream", (unsigned long long)at);
				ASSERT_TRUE(0);
			}
		}
		rcvd = got + n;
	}
	EXPECT_EQ(filled + sent, rcvd);
	close(sv[0]);
	close(sv[1]);

	/* Mid-chain: FD(pipe) -> READ 10 (there) -> READ 10 (never there). */
	ASSERT_EQ(0, pipe2(p[0], O_CLOEXEC));
	ASSERT_EQ(10, write(p[0][1], "0123456789", 10));
	kaio_iocb_init(&iocb[0], 77);
	kaio_step_fd(&iocb[0], p[0][0]);
	kaio_step_read(&iocb[0], a, sizeof(a), 0);
	kaio_step_read(&iocb[0], b, sizeof(b), 0);
	ASSERT_EQ(1, kaio_submit(&k, iocb, 1));
	/* The first READ has run once the pipe is empty again. */
	for (int i = 0; i < 10000; i++) {
		ASSERT_EQ(0, ioctl(p[0][0], FIONREAD, &avail));
		if (!avail)
			break;
		usleep(1000);
	}
	ASSERT_EQ(0, avail);
	ASSERT_EQ(0, kaio_cancel(&k, 77));
	EXPECT_EQ(-ENOENT, kaio_cancel(&k, 77));
	ASSERT_EQ(1, kaio_wait(&k, ev, 1, 1, 10 * sec));
	EXPECT_EQ(-ECANCELED, ev[0].result);
	EXPECT_EQ(KAIO_EV_CANCELED, ev[0].flags);
	EXPECT_LE(1, ev[0].step) TH_LOG("cancelled at step %u", ev[0].step);
	EXPECT_EQ(10, ev[0].step_result[1]);
	EXPECT_EQ(0, ev[0].step_result[2]);
	EXPECT_EQ(0, memcmp(a, "0123456789", 10));
	/* The second READ took nothing. */
	ASSERT_EQ(3, write(p[0][1], "xyz", 3));
	EXPECT_EQ(3, read(p[0][0], back, sizeof(back)));
	close(p[0][0]);
	close(p[0][1]);
	kaio_close(&k);
	close(fd);
}

/* 10 000 in flight; reaped through the ring and GETEVENTS in one run. */
TEST(ten_thousand_in_flight)
{
	enum { N = 10000 };
	struct kaio_ctx k;
	struct kaio_iocb *iocb = calloc(N, sizeof(*iocb));
	uint8_t *bufs = malloc((size_t)N * 512);
	struct kaio_event *ev = calloc(N, sizeof(*ev));
	char *seen = calloc(N, 1);
	int fd = open(S("p_64m"), O_RDONLY), got = 0, via_ring = 0, via_ioctl = 0, round = 0;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kaio_setup(&k, 16384));
	kaio_drop_caches("3");
	for (int i = 0; i < N; i++) {
		kaio_iocb_init(&iocb[i], i);
		kaio_step_fd(&iocb[i], fd);
		kaio_step_read(&iocb[i], bufs + (size_t)i * 512, 512, (int64_t)i * 6007);
	}
	ASSERT_EQ(N, kaio_submit(&k, iocb, N));
	while (got < N) {
		int r;

		if (round++ & 1) {
			r = kaio_peek(&k, ev, N);
			via_ring += r;
		} else {
			r = kaio_wait(&k, ev, 1, 100, -1);
			via_ioctl += r;
		}
		ASSERT_LE(0, r);
		for (int j = 0; j < r; j++) {
			uint64_t u = ev[j].user_data;

			ASSERT_LT(u, N);
			ASSERT_EQ(0, seen[u]);
			seen[u] = 1;
			ASSERT_EQ(512, ev[j].result);
			ASSERT_EQ(-1, kaio_pattern_check(bufs + u * 512, 512, 64, u * 6007));
		}
		got += r;
		if (!r)
			usleep(1000);
	}
	EXPECT_LT(0, via_ring);
	EXPECT_LT(0, via_ioctl);
	kaio_close(&k);
	close(fd);
	free(iocb);
	free(bufs);
	free(ev);
	free(seen);
}

struct mt {
	struct kaio_ctx *k;
	int fd;
	int base;
	int count;
	int reaped;
	int bad;
	pthread_mutex_t *lock;
	char *seen;
};

static void *mt_submit(void *arg)
{
	struct mt *m = arg;
	struct kaio_iocb iocb;
	static __thread uint8_t buf[64];

	for (int i = 0; i < m->count; i++) {
		kaio_iocb_init(&iocb, m->base + i);
		kaio_step_fd(&iocb, m->fd);
		kaio_step_read(&iocb, buf, 64, (int64_t)(m->base + i) * 64);
		while (kaio_submit(m->k, &iocb, 1) == -EAGAIN)
			usleep(100);
	}
	return NULL;
}

static void *mt_reap(void *arg)
{
	struct mt *m = arg;
	struct kaio_event ev[32];

	for (;;) {
		int r = kaio_wait(m->k, ev, 1, 32, 200ll * 1000 * 1000);

		if (r < 0) {
			m->bad++;
			break;
		}
		pthread_mutex_lock(m->lock);
		for (int j = 0; j < r; j++) {
			if (ev[j].user_data >= 4000 || m->seen[ev[j].user_data] ||
			    ev[j].result != 64 || ev[j].step_result[1] != 64)
				m->bad++;
			else
				m->seen[ev[j].user_data] = 1;
		}
		m->reaped += r;
		if (m->reaped >= m->count) {
			pthread_mutex_unlock(m->lock);
			break;
		}
		pthread_mutex_unlock(m->lock);
	}
	return NULL;
}

/* Two threads submit and two reap (GETEVENTS) at once. */
TEST(two_submitters_two_reapers)
{
	struct kaio_ctx k;
	pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
	char *seen = calloc(4000, 1);
	int fd = open(S("p_1m3"), O_RDONLY);
	struct mt s[2], shared = { .count = 4000, .lock = &lock, .seen = seen };
	pthread_t ts[2], tr[2];

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kaio_setup(&k, 256));
	shared.k = &k;
	for (int i = 0; i < 2; i++) {
		s[i] = shared;
		s[i].fd = fd;
		s[i].base = i * 2000;
		s[i].count = 2000;
		ASSERT_EQ(0, pthread_create(&ts[i], NULL, mt_submit, &s[i]));
	}
	for (int i = 0; i < 2; i++) {
		ASSERT_EQ(0, pthread_create(&tr[i], NULL, mt_reap, &shared));
	}
	for (int i = 0; i < 2; i++) {
		pthread_join(ts[i], NULL);
		pthread_join(tr[i], NULL);
	}
	EXPECT_EQ(0, shared.bad);
	EXPECT_EQ(4000, shared.reaped);
	for (int i = 0; i < 4000; i++) {
		ASSERT_EQ(1, seen[i]) TH_LOG("event %d missing", i);
	}
	kaio_close(&k);
	close(fd);
	free(seen);
}

/* poll/epoll readiness and the eventfd. */
TEST_F(ctx, poll_epoll_eventfd)
{
	struct pollfd p = { .fd = self->k.fd, .events = POLLIN };
	struct epoll_event e = { .events = EPOLLIN }, out;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	uint64_t cnt = 0;
	char buf[16];
	int efd = eventfd(0, EFD_CLOEXEC);
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int fd = open(S("p_4096"), O_RDONLY);

	ASSERT_LE(0, efd);
	ASSERT_LE(0, ep);
	ASSERT_LE(0, fd);
	ASSERT_EQ(0, epoll_ctl(ep, EPOLL_CTL_ADD, self->k.fd, &e));
	ASSERT_EQ(0, kaio_set_eventfd(&self->k, efd));
	EXPECT_EQ(-EBADF, kaio_set_eventfd(&self->k, 9999));
	EXPECT_EQ(0, poll(&p, 1, 0));
	EXPECT_EQ(0, epoll_wait(ep, &out, 1, 0));
	for (int i = 0; i < 3; i++) {
		kaio_iocb_init(&iocb, i);
		kaio_step_fd(&iocb, fd);
		kaio_step_read(&iocb, buf, sizeof(buf), 0);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	}
	ASSERT_EQ(1, epoll_wait(ep, &out, 1, 10000));
	EXPECT_TRUE(out.events & EPOLLIN);
	ASSERT_EQ(1, poll(&p, 1, 10000));
	EXPECT_TRUE(p.revents & POLLIN);
	for (int got = 0; got < 3;)
		got += kaio_wait(&self->k, &ev, 1, 1, -1);
	EXPECT_EQ(0, poll(&p, 1, 0));
	ASSERT_EQ(8, read(efd, &cnt, 8));
	EXPECT_EQ(3, cnt);
	EXPECT_EQ(0, kaio_set_eventfd(&self->k, -1));
	close(ep);
	close(efd);
	close(fd);
}

/* Another process (a fork child) cannot use the context. */
TEST_F(ctx, foreign_process_einval)
{
	pid_t pid = fork();

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		struct kaio_version v;
		int ok = 1;

		kaio_iocb_init(&iocb, 1);
		kaio_step_fd(&iocb, 0);
		ok &= kaio_submit(&self->k, &iocb, 1) == -EINVAL;
		ok &= kaio_wait(&self->k, &ev, 0, 1, 0) == -EINVAL;
		ok &= kaio_cancel(&self->k, 1) == -EINVAL;
		ok &= mmap(NULL, 4096, PROT_READ, MAP_SHARED, self->k.fd, 0) == MAP_FAILED && errno == EINVAL;
		/* The fork did not copy the ring mapping (VM_DONTCOPY). */
		ok &= msync(self->k.ring, 4096, MS_ASYNC) == -1 && errno == ENOMEM;
		ok &= ioctl(self->k.fd, KAIO_IOC_VERSION, &v) == 0;
		_exit(ok ? 0 : 1);
	}
	int st;

	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

/* SIGKILL with 4096 requests in flight: everything is released. */
TEST(sigkill_with_4096_in_flight)
{
	long long live = kaio_stat("contexts_live");
	int pfd[2];
	pid_t pid;
	char c;

	ASSERT_EQ(0, pipe(pfd));
	kaio_drop_caches("3");
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0) {
		enum { N = 4096 };
		struct kaio_ctx k;
		struct kaio_iocb *iocb = calloc(N, sizeof(*iocb));
		uint8_t *bufs = malloc((size_t)N * 4096);
		int fd = open(S("p_64m"), O_RDONLY);

		if (kaio_setup(&k, N) || fd < 0 || !iocb || !bufs)
			_exit(1);
		for (int i = 0; i < N; i++) {
			kaio_iocb_init(&iocb[i], i);
			if (i & 1) {
				kaio_step_fd(&iocb[i], fd);
			} else {
				kaio_step_open(&iocb[i], AT_FDCWD, S("p_64m"), O_RDONLY, 0);
			}
			kaio_step_read(&iocb[i], bufs + (size_t)i * 4096, 4096, (int64_t)i * 16384);
		}
		if (kaio_submit(&k, iocb, N) != N)
			_exit(1);
		if (write(pfd[1], "x", 1) != 1)
			_exit(1);
		pause();
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(1, read(pfd[0], &c, 1));
	kill(pid, SIGKILL);
	int st;

	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	EXPECT_TRUE(WIFSIGNALED(st));
	/* Release runs at the child's exit and waits for every request. */
	for (int i = 0; i < 200 && kaio_stat("contexts_live") != live; i++)
		usleep(50000);
	EXPECT_EQ(live, kaio_stat("contexts_live"));
	EXPECT_EQ(0, kaio_stat("inflight"));
	close(pfd[0]);
}

/*
 * KEEP at teardown: a process exits with OPEN -> KEEP chains in flight
 * whose files were not yet installed; each is closed, none leaks, and the
 * exit does not wait on its own task work.
 */
TEST(keep_then_exit)
{
	long long live = kaio_stat("contexts_live");
	pid_t pid = fork();
	int st;

	ASSERT_LE(0, pid);
	if (pid == 0) {
		enum { N = 256 };
		struct kaio_ctx k;
		static struct kaio_iocb iocb[N];

		if (kaio_setup(&k, N))
			_exit(1);
		for (int i = 0; i < N; i++) {
			kaio_iocb_init(&iocb[i], i);
			kaio_step_open(&iocb[i], AT_FDCWD, S("p_4096"), O_RDONLY, 0);
			kaio_step_keep(&iocb[i], 1);
		}
		if (kaio_submit(&k, iocb, N) != N)
			_exit(2);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
	for (int i = 0; i < 200 && kaio_stat("contexts_live") != live; i++)
		usleep(50000);
	EXPECT_EQ(live, kaio_stat("contexts_live"));
	EXPECT_EQ(0, kaio_stat("inflight"));
}

/*
 * Cold reads complete from the block layer's interrupt-context path: 64
 * concurrent cold reads of separate 1 MiB regions; those that found their
 * folio under I/O parked, and every park was woken from interrupt context
 * (bio end_io). No worker waited for the disk.
 */
TEST_F(ctx, cold_read_completes_in_interrupt)
{
	enum { N = 64, LEN = 1 << 20 };
	long long irq0 = kaio_stat("irq_completions");
	long long waits0 = kaio_stat("worker_disk_waits");
	long long parked0 = kaio_stat("parked_reads");
	uint8_t *buf = malloc((size_t)N * LEN);
	struct kaio_iocb iocb[N];
	struct kaio_event ev[N];
	long long parked, irq;

	ASSERT_NE(NULL, buf);
	ASSERT_LE(0, irq0);
	kaio_drop_caches("3");
	for (int i = 0; i < N; i++) {
		kaio_iocb_init(&iocb[i], i);
		kaio_step_open(&iocb[i], AT_FDCWD, S("p_64m"), O_RDONLY, 0);
		kaio_step_read(&iocb[i], buf + (size_t)i * LEN, LEN, (int64_t)i * LEN);
		kaio_step_close(&iocb[i]);
	}
	ASSERT_EQ(N, kaio_submit(&self->k, iocb, N));
	ASSERT_EQ(N, kaio_wait(&self->k, ev, N, N, -1));
	for (int i = 0; i < N; i++) {
		uint64_t u = ev[i].user_data;

		ASSERT_EQ(0, ev[i].result);
		ASSERT_EQ(-1, kaio_pattern_check(buf + u * LEN, LEN, 64, u * LEN));
	}
	parked = kaio_stat("parked_reads") - parked0;
	irq = kaio_stat("irq_completions") - irq0;
	TH_LOG("64 cold 1 MiB reads: parked_reads +%lld, irq_completions +%lld, worker_disk_waits +%lld",
	       parked, irq, kaio_stat("worker_disk_waits") - waits0);
	EXPECT_LT(0, parked);
	EXPECT_EQ(parked, irq);
	EXPECT_EQ(waits0, kaio_stat("worker_disk_waits"));
	free(buf);
}

TEST_HARNESS_MAIN
