// SPDX-License-Identifier: GPL-2.0
/*
 * Inline at SUBMIT: a chain runs in the submitting thread as far as it can
 * without blocking. A cached chain has its event in the ring when SUBMIT
 * returns; whatever would block (a lookup miss, O_CREAT, a FIFO, a write
 * to a file, more than the per-SUBMIT budget) goes on in a worker and
 * still returns the right bytes; an inline OPEN leaves no trace of the
 * non-blocking open it used.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define HOT S("bench/hot/h0000")	/* 16 KiB, seed 3000 */

/* Reads @path to the end: its pages and dentries are then cached. */
static void warm(const char *path)
{
	char buf[65536];
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		return;
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	close(fd);
}

FIXTURE(in) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(in)
{
	ASSERT_EQ(0, kaio_setup(&self->k, 256));
	ASSERT_LE(0, kaio_stat("inline_completions")) TH_LOG("no %s", KAIO_STATS);
}

FIXTURE_TEARDOWN(in)
{
	kaio_close(&self->k);
}

/* OPEN→READ→CLOSE of a cached file: the event is there when SUBMIT returns. */
TEST_F(in, cached_read_completes_in_submit)
{
	uint8_t buf[4097 + 1];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	long long done0;

	warm(S("p_4097"));
	for (int i = 0; i < 20; i++) {
		memset(buf, 0xee, sizeof(buf));
		done0 = kaio_stat("inline_completions");
		kaio_iocb_init(&iocb, 7 + i);
		kaio_step_open(&iocb, AT_FDCWD, S("p_4097"), O_RDONLY, 0);
		kaio_step_read(&iocb, buf, 4097, 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		/* No wait: the chain already ran in this thread. */
		ASSERT_EQ(1, kaio_peek(&self->k, &ev, 1)) TH_LOG("round %d", i);
		EXPECT_EQ(7 + i, ev.user_data);
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ(2, ev.step);
		EXPECT_EQ(0, ev.flags);
		EXPECT_EQ(4097, ev.step_result[1]);
		EXPECT_EQ(-1, kaio_pattern_check(buf, 4097, 4097, 0));
		EXPECT_EQ(0xee, buf[4097]);
		EXPECT_LE(done0 + 1, kaio_stat("inline_completions"));
	}
}

/* OPEN→SENDFILE→CLOSE of a cached 16 KiB file to a socket, inline. */
TEST_F(in, cached_sendfile_completes_in_submit)
{
	uint8_t got[16384];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int tx, rx;
	size_t have = 0;

	ASSERT_EQ(0, unix_pair(&tx, &rx));
	warm(HOT);
	kaio_iocb_init(&iocb, 99);
	kaio_step_open(&iocb, AT_FDCWD, HOT, O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx, 0, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, kaio_peek(&self->k, &ev, 1));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(2, ev.step);
	EXPECT_EQ(16384, ev.step_result[1]);
	while (have < sizeof(got)) {
		ssize_t n = read(rx, got + have, sizeof(got) - have);

		ASSERT_LT(0, n);
		have += n;
	}
	EXPECT_EQ(-1, kaio_pattern_check(got, sizeof(got), 3000, 0));
	close(tx);
	close(rx);
}

/*
 * Dentries and pages dropped: the lookup would wait for the disk, so the
 * chain goes to a worker at its first step, and still reads every byte.
 */
TEST_F(in, lookup_miss_goes_to_worker)
{
	uint8_t *buf = malloc(4096);
	struct kaio_iocb iocb;
	struct kaio_event ev;
	long long punts0;

	ASSERT_NE(NULL, buf);
	kaio_drop_caches("3");
	punts0 = kaio_stat("inline_punts");
	kaio_iocb_init(&iocb, 5);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
	kaio_step_read(&iocb, buf, 4096, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(4096, ev.step_result[1]);
	EXPECT_EQ(-1, kaio_pattern_check(buf, 4096, 4096, 0));
	EXPECT_LE(punts0 + 1, kaio_stat("inline_punts"));
	free(buf);
}

/* O_CREAT and a write to a file are the worker's, with the right result. */
TEST_F(in, create_and_write_go_to_worker)
{
	static const char msg[] = "written by a worker";
	char path[64], back[sizeof(msg)];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	long long punts0 = kaio_stat("inline_punts");
	int fd;

	snprintf(path, sizeof(path), "/tmp/kaio-inline.%d", getpid());
	unlink(path);
	kaio_iocb_init(&iocb, 6);
	kaio_step_open(&iocb, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	kaio_step_write(&iocb, msg, sizeof(msg), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ((int64_t)sizeof(msg), ev.step_result[1]);
	EXPECT_LE(punts0 + 1, kaio_stat("inline_punts"));
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ((ssize_t)sizeof(msg), read(fd, back, sizeof(back)));
	EXPECT_EQ(0, memcmp(msg, back, sizeof(msg)));
	close(fd);

	/* A cached file opened for writing: the OPEN is inline, the WRITE not. */
	punts0 = kaio_stat("inline_punts");
	kaio_iocb_init(&iocb, 7);
	kaio_step_open(&iocb, AT_FDCWD, path, O_WRONLY, 0);
	kaio_step_write(&iocb, "W", 1, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(1, ev.step_result[1]);
	EXPECT_LE(punts0 + 1, kaio_stat("inline_punts"));
	fd = open(path, O_RDONLY);
	ASSERT_LE(0, fd);
	EXPECT_EQ(1, read(fd, back, 1));
	EXPECT_EQ('W', back[0]);
	close(fd);
	unlink(path);
}

/*
 * OPEN of a FIFO waits for a writer: SUBMIT must not. The event comes
 * once a writer opens it; nothing before.
 */
TEST_F(in, fifo_open_never_blocks_submit)
{
	char path[64];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct stat st;
	int w;

	snprintf(path, sizeof(path), "/tmp/kaio-fifo.%d", getpid());
	unlink(path);
	ASSERT_EQ(0, mkfifo(path, 0600));
	ASSERT_EQ(0, stat(path, &st));	/* the dentry is cached */
	kaio_iocb_init(&iocb, 8);
	kaio_step_open(&iocb, AT_FDCWD, path, O_RDONLY, 0);
	kaio_step_close(&iocb);
	alarm(20);	/* a SUBMIT that blocks fails the case, not the run */
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	alarm(0);
	EXPECT_EQ(0, kaio_peek(&self->k, &ev, 1));
	w = open(path, O_WRONLY);
	ASSERT_LE(0, w);
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	EXPECT_EQ(8, ev.user_data);
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(0, ev.flags);
	close(w);
	unlink(path);
}

/*
 * More than one SUBMIT's inline budget (256 KiB): the read goes on in a
 * worker, every byte lands.
 */
TEST_F(in, budget_hands_large_reads_to_worker)
{
	size_t len = (1 << 20) + 3;
	uint8_t *buf = malloc(len);
	struct kaio_iocb iocb;
	struct kaio_event ev;
	long long punts0;

	ASSERT_NE(NULL, buf);
	warm(S("p_1m3"));
	punts0 = kaio_stat("inline_punts");
	kaio_iocb_init(&iocb, 9);
	kaio_step_open(&iocb, AT_FDCWD, S("p_1m3"), O_RDONLY, 0);
	kaio_step_read(&iocb, buf, len, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ((int64_t)len, ev.step_result[1]);
	EXPECT_EQ(-1, kaio_pattern_check(buf, len, 3, 0));
	EXPECT_LE(punts0 + 1, kaio_stat("inline_punts"));
	free(buf);
}

/* The non-blocking open kaio uses inline never shows in the kept file. */
TEST_F(in, kept_file_has_the_flags_asked_for)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int flags;

	warm(HOT);
	for (int nb = 0; nb < 2; nb++) {
		kaio_iocb_init(&iocb, 10 + nb);
		kaio_step_open(&iocb, AT_FDCWD, HOT, O_RDONLY | (nb ? O_NONBLOCK : 0), 0);
		kaio_step_keep(&iocb, 1);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		ASSERT_EQ(KAIO_EV_FD, ev.flags);
		ASSERT_LE(0, ev.fd);
		flags = fcntl(ev.fd, F_GETFL);
		ASSERT_LE(0, flags);
		EXPECT_EQ(nb ? O_NONBLOCK : 0, flags & O_NONBLOCK) TH_LOG("nb %d", nb);
		EXPECT_EQ(O_RDONLY, flags & O_ACCMODE);
		EXPECT_EQ(FD_CLOEXEC, fcntl(ev.fd, F_GETFD));
		close(ev.fd);
	}
}

/* A relative path with a dirfd, and a symlink: same answers as openat(2). */
TEST_F(in, dirfd_and_symlink_resolve_as_openat)
{
	char link[64], buf[4097];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int dfd = open(KAIO_SCRATCH, O_RDONLY | O_DIRECTORY);

	ASSERT_LE(0, dfd);
	warm(S("p_4097"));
	kaio_iocb_init(&iocb, 12);
	kaio_step_open(&iocb, dfd, "p_4097", O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(-1, kaio_pattern_check((uint8_t *)buf, sizeof(buf), 4097, 0));

	snprintf(link, sizeof(link), "/tmp/kaio-link.%d", getpid());
	unlink(link);
	ASSERT_EQ(0, symlink(S("p_4097"), link));
	warm(link);
	kaio_iocb_init(&iocb, 13);
	kaio_step_open(&iocb, AT_FDCWD, link, O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(-1, kaio_pattern_check((uint8_t *)buf, sizeof(buf), 4097, 0));

	/* O_NOFOLLOW on the link: ELOOP, as openat(2). */
	kaio_iocb_init(&iocb, 14);
	kaio_step_open(&iocb, AT_FDCWD, link, O_RDONLY | O_NOFOLLOW, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-ELOOP, ev.result);
	EXPECT_EQ(0, ev.step);
	unlink(link);
	close(dfd);
}

TEST_HARNESS_MAIN
