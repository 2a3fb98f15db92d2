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
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
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
	/*
	 * One chain first, to completion: a debug kernel's first pass through
	 * a path (lockdep classes, KASAN shadow) can overrun the time budget.
	 */
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, S("p_4097"), O_RDONLY, 0);
	kaio_step_read(&iocb, buf, 4097, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
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
		EXPECT_EQ(KAIO_EV_DONE, ev.flags);
		EXPECT_EQ(4097, ev.bytes);
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
	EXPECT_EQ(KAIO_EV_DONE, ev.flags);
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
		ASSERT_EQ(KAIO_EV_FD | KAIO_EV_DONE, ev.flags);
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

/* ---- Found in review: SIGPIPE, the probe/open race, unbounded SUBMIT ---- */

/* Blocks SIGPIPE and clears any pending one. */
static void block_sigpipe(void)
{
	sigset_t set;
	struct timespec zero = { 0, 0 };

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
		;
}

static int sigpipe_pending(void)
{
	sigset_t set;

	sigpending(&set);
	return sigismember(&set, SIGPIPE);
}

FIXTURE(rv) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(rv)
{
	ASSERT_EQ(0, kaio_setup(&self->k, 256));
}

FIXTURE_TEARDOWN(rv)
{
	kaio_close(&self->k);
}

/*
 * kaio(7): "A WRITE to a socket whose peer is gone fails with -EPIPE; the
 * SIGPIPE it raises goes to the worker thread, which blocks it: the
 * process never sees it." Inline, the WRITE runs in the submitter.
 */
TEST_F(rv, write_to_gone_socket_raises_no_sigpipe)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int sv[2];

	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	close(sv[1]);
	block_sigpipe();
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, sv[0]);
	kaio_step_write(&iocb, "hello", 5, 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EPIPE, ev.result);
	EXPECT_EQ(0, sigpipe_pending()) TH_LOG("SIGPIPE reached the submitting thread");
	close(sv[0]);
}

TEST_F(rv, write_to_gone_pipe_raises_no_sigpipe)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int p[2];

	ASSERT_EQ(0, pipe(p));
	close(p[0]);
	block_sigpipe();
	kaio_iocb_init(&iocb, 2);
	kaio_step_fd(&iocb, p[1]);
	kaio_step_write(&iocb, "hello", 5, 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EPIPE, ev.result);
	EXPECT_EQ(0, sigpipe_pending()) TH_LOG("SIGPIPE reached the submitting thread");
	close(p[1]);
}

/* op_sendfile.rs: "a peer that closed ... gives EPIPE (never a SIGPIPE to anyone)". */
TEST_F(rv, sendfile_to_gone_pipe_raises_no_sigpipe)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int p[2];

	ASSERT_EQ(0, pipe(p));
	close(p[0]);
	warm(HOT);
	block_sigpipe();
	kaio_iocb_init(&iocb, 3);
	kaio_step_open(&iocb, AT_FDCWD, HOT, O_RDONLY, 0);
	kaio_step_sendfile(&iocb, p[1], 0, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EPIPE, ev.result);
	EXPECT_EQ(0, sigpipe_pending()) TH_LOG("SIGPIPE reached the submitting thread");
	close(p[1]);
}

/*
 * Inline OPEN probes the path (LOOKUP_CACHED), checks it is a regular file
 * or directory, then opens it again by name with O_NONBLOCK. Swap a FIFO
 * in between: openat(2) with O_WRONLY never answers ENXIO for a FIFO (it
 * waits for a reader); the inline O_NONBLOCK open does.
 */
static atomic_int stop_swap;
static char swap_dir[64];

static void *swapper(void *arg)
{
	while (!atomic_load(&stop_swap))
		syscall(SYS_renameat2, AT_FDCWD, "a", AT_FDCWD, "b", 2 /* RENAME_EXCHANGE */);
	return NULL;
}

TEST_F_TIMEOUT(rv, inline_open_checks_type_of_what_it_opens, 120)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char a[96];
	pthread_t th;
	int enxio = 0, rounds = 0, inline_ok = 0, worker = 0;
	int64_t end;

	snprintf(swap_dir, sizeof(swap_dir), "/tmp/kaio-swap.%d", getpid());
	mkdir(swap_dir, 0700);
	ASSERT_EQ(0, chdir(swap_dir));
	close(open("a", O_CREAT | O_WRONLY, 0600));
	ASSERT_EQ(0, mkfifo("b", 0600));
	snprintf(a, sizeof(a), "%s/a", swap_dir);
	atomic_store(&stop_swap, 0);
	ASSERT_EQ(0, pthread_create(&th, NULL, swapper, NULL));
	end = now_ns() + (stress_level() > 1 ? 40 : 8) * SEC;
	while (now_ns() < end && !enxio) {
		rounds++;
		kaio_iocb_init(&iocb, 100);
		kaio_step_open(&iocb, AT_FDCWD, a, O_WRONLY, 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		if (kaio_peek(&self->k, &ev, 1) == 1) {
			inline_ok += ev.result == 0;
		} else {
			worker++;
			/* A worker waits in the FIFO open for a reader: cancel it. */
			if (kaio_wait(&self->k, &ev, 1, 1, 20 * MS) != 1) {
				kaio_cancel(&self->k, 100);
				ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
			}
		}
		if (ev.result == -ENXIO)
			enxio++;
	}
	atomic_store(&stop_swap, 1);
	pthread_join(th, NULL);
	TH_LOG("rounds %d inline-success %d worker %d ENXIO %d", rounds, inline_ok, worker, enxio);
	EXPECT_EQ(0, enxio) TH_LOG("an OPEN answered ENXIO, which openat(2) never does here");
	unlink("a");
	unlink("b");
	ASSERT_EQ(0, chdir("/"));
	rmdir(swap_dir);
}

/*
 * One SUBMIT is bounded however much its chains could do inline: every
 * step call is charged, and so is time. A path through 39 cached
 * symlinks of ~2000 "./" components each makes every OPEN a long walk
 * (twice: probe, then open); one SUBMIT of many of them must return
 * quickly (the rest goes on in workers), not keep the CPU for seconds.
 */
#define NLINKS 39
#define DOTS 2000

static char dir[64];

static void make_chain(void)
{
	char *body = malloc(2 * DOTS + 16);
	char name[16];

	snprintf(dir, sizeof(dir), "/tmp/kaio-lk.%d", getpid());
	mkdir(dir, 0700);
	if (chdir(dir))
		abort();
	close(open("f", O_CREAT | O_WRONLY, 0600));
	for (int i = NLINKS - 1; i >= 0; i--) {
		char *p = body;

		for (int j = 0; j < DOTS; j++) {
			*p++ = '.';
			*p++ = '/';
		}
		if (i == NLINKS - 1)
			strcpy(p, "f");
		else
			sprintf(p, "l%d", i + 1);
		snprintf(name, sizeof(name), "l%d", i);
		unlink(name);
		if (symlink(body, name))
			abort();
	}
	free(body);
}

FIXTURE(lk) {
	int unused;
};

FIXTURE_SETUP(lk)
{
}

FIXTURE_TEARDOWN(lk)
{
}

TEST_F_TIMEOUT(lk, submit_of_cached_opens_is_bounded, 600)
{
	struct kaio_ctx k;
	struct kaio_iocb *iocbs;
	struct kaio_event ev;
	char path[96];
	int64_t t0, one_ns, t;
	long long inl0;
	unsigned int nr;
	int fd;

	make_chain();
	snprintf(path, sizeof(path), "%s/l0", dir);
	/* Warm dentries, symlink bodies and atimes. */
	for (int i = 0; i < 3; i++) {
		fd = open(path, O_RDONLY);
		ASSERT_LE(0, fd);
		close(fd);
	}
	ASSERT_EQ(0, kaio_setup(&k, 65536));
	iocbs = calloc(65536, sizeof(*iocbs));
	ASSERT_NE(NULL, iocbs);
	for (int i = 0; i < 65536; i++) {
		kaio_iocb_init(&iocbs[i], i);
		kaio_step_open(&iocbs[i], AT_FDCWD, path, O_RDONLY, 0);
		kaio_step_close(&iocbs[i]);
	}
	/* One, to time it (and check it runs inline). */
	for (int i = 0; i < 3; i++) {
		inl0 = kaio_stat("inline_completions");
		t0 = now_ns();
		ASSERT_EQ(1, kaio_submit(&k, iocbs, 1));
		one_ns = now_ns() - t0;
		ASSERT_EQ(1, kaio_wait_one(&k, &ev));
		EXPECT_EQ(0, ev.result);
	}
	TH_LOG("one OPEN->CLOSE SUBMIT: %lld us, inline %lld", (long long)(one_ns / 1000),
	       kaio_stat("inline_completions") - inl0);
	/* Enough for ~10 s of one CPU if a SUBMIT ran them all inline. */
	nr = 10 * SEC / (one_ns ? one_ns : 1);
	if (nr > 65536)
		nr = 65536;
	if (nr < 2)
		nr = 2;
	inl0 = kaio_stat("inline_completions");
	t0 = now_ns();
	ASSERT_EQ((int)nr, kaio_submit(&k, iocbs, nr));
	t = now_ns() - t0;
	TH_LOG("SUBMIT of %u iocbs took %lld ms; %lld completed inline", nr,
	       (long long)(t / MS), kaio_stat("inline_completions") - inl0);
	EXPECT_GT(2 * SEC, t) TH_LOG("one SUBMIT held the CPU for %lld ms", (long long)(t / MS));
	for (unsigned int got = 0; got < nr;) {
		struct kaio_event evs[256];
		int n = kaio_wait(&k, evs, 1, 256, 300ll * SEC);

		ASSERT_LT(0, n);
		got += n;
	}
	kaio_close(&k);
	free(iocbs);
}

TEST_HARNESS_MAIN
