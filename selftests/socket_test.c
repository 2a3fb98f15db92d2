// SPDX-License-Identifier: GPL-2.0
/*
 * ABI version 2: SEND, RECV and STATX steps, OPEN with KAIO_OPEN_IN_ROOT,
 * and the event's completion fields (KAIO_EV_DONE, error, bytes). Every
 * transfer is checked byte for byte against the pattern files, every
 * refusal by its exact errno.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define HOT S("bench/hot/h0001")	/* 16 KiB, seed 3001 */
#define HOT_SEED 3001
#define HOT_SIZE 16384
#define ROOT "/tmp/kaio-root"
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif

FIXTURE(sk) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(sk)
{
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, kaio_setup(&self->k, 64));
}

FIXTURE_TEARDOWN(sk)
{
	kaio_close(&self->k);
}

/*
 * FD(file) -> SEND(header) -> SENDFILE -> CLOSE, to a TCP socket and a
 * unix socket named by fd: the peer gets the header, then the file, byte
 * for byte; the event says the chain ran to its end and moved it all.
 */
TEST_F(sk, header_then_file)
{
	static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Length: 16384\r\n\r\n";
	static uint8_t got[sizeof(hdr) - 1 + HOT_SIZE];
	size_t hl = sizeof(hdr) - 1;

	for (int tcp = 0; tcp < 2; tcp++) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		int file = open(HOT, O_RDONLY);
		int a, b;

		ASSERT_LE(0, file);
		ASSERT_EQ(0, tcp ? tcp_pair(&a, &b) : unix_pair(&a, &b));
		kaio_iocb_init(&iocb, 1);
		kaio_step_fd(&iocb, file);
		kaio_step_send(&iocb, a, hdr, hl);
		kaio_step_sendfile(&iocb, a, 0, 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		EXPECT_EQ(KAIO_EV_DONE, ev.flags);
		EXPECT_EQ(0, ev.error);
		EXPECT_EQ(3, ev.step);
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ((int64_t)hl, ev.step_result[1]);
		EXPECT_EQ(HOT_SIZE, ev.step_result[2]);
		EXPECT_EQ(hl + HOT_SIZE, ev.bytes);
		ASSERT_EQ(sizeof(got), read_all_within(b, got, sizeof(got), 5000));
		EXPECT_EQ(0, memcmp(got, hdr, hl));
		EXPECT_EQ(-1, kaio_pattern_check(got + hl, HOT_SIZE, HOT_SEED, 0));
		close(a);
		close(b);
		close(file);
	}
}

/*
 * SEND copies its bytes at SUBMIT: with the socket full the step parks,
 * the caller overwrites its buffer, and the peer still gets the original.
 */
TEST_F(sk, send_copies_at_submit)
{
	char fill[4096], msg[256], got[256];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int a, b;

	ASSERT_EQ(0, unix_pair(&a, &b));
	ASSERT_EQ(0, fcntl(a, F_SETFL, O_NONBLOCK));
	memset(fill, 'f', sizeof(fill));
	size_t filled = fill_fd(a, fill, sizeof(fill));
	ASSERT_LT(0, filled);
	for (size_t i = 0; i < sizeof(msg); i++)
		msg[i] = (char)i;
	kaio_iocb_init(&iocb, 2);
	kaio_step_fd(&iocb, a);
	kaio_step_send(&iocb, KAIO_FD_CHAIN, msg, sizeof(msg));
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	memset(msg, 0xee, sizeof(msg));
	usleep(100 * 1000);
	ASSERT_EQ(0, kaio_peek(&self->k, &ev, 1)) TH_LOG("SEND to a full socket completed");
	/* Drain the filler: the parked SEND goes on. */
	for (size_t left = filled; left > 0;) {
		ssize_t n = read(b, fill, left < sizeof(fill) ? left : sizeof(fill));

		ASSERT_LT(0, n);
		left -= n;
	}
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	EXPECT_EQ(KAIO_EV_DONE, ev.flags);
	EXPECT_EQ(sizeof(msg), ev.result);
	EXPECT_EQ(sizeof(msg), ev.bytes);
	ASSERT_EQ(sizeof(got), read_all_within(b, got, sizeof(got), 5000));
	for (size_t i = 0; i < sizeof(got); i++) {
		ASSERT_EQ((char)i, got[i]) TH_LOG("byte %zu", i);
	}
	close(a);
	close(b);
}

/*
 * RECV parks until data arrives (no event before), ends with the first
 * bytes as recv(2), and at the end of the stream is a short transfer.
 */
TEST_F(sk, recv_waits_for_data_then_eof)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char buf[64];
	int a, b;

	ASSERT_EQ(0, tcp_pair(&a, &b));
	memset(buf, 0, sizeof(buf));
	kaio_iocb_init(&iocb, 3);
	kaio_step_fd(&iocb, a);
	kaio_step_recv(&iocb, KAIO_FD_CHAIN, buf, sizeof(buf));
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	usleep(100 * 1000);
	ASSERT_EQ(0, kaio_peek(&self->k, &ev, 1));
	ASSERT_EQ(5, write(b, "hello", 5));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	EXPECT_EQ(KAIO_EV_DONE, ev.flags);
	EXPECT_EQ(5, ev.result);
	EXPECT_EQ(5, ev.bytes);
	EXPECT_EQ(0, memcmp(buf, "hello", 6));
	/* Data already there: the step takes it at once (inline). */
	ASSERT_EQ(3, write(b, "abc", 3));
	usleep(50 * 1000);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(3, ev.result);
	EXPECT_EQ(0, memcmp(buf, "abclo", 5));
	/* The peer shuts down: 0 bytes, short, no error. */
	ASSERT_EQ(0, shutdown(b, SHUT_WR));
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(0, ev.error);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(1, ev.step);
	close(a);
	close(b);
}

/* A RECV that waits is cancelled with its request. */
TEST_F(sk, recv_cancel)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char buf[16];
	int a, b;

	ASSERT_EQ(0, unix_pair(&a, &b));
	kaio_iocb_init(&iocb, 4);
	kaio_step_fd(&iocb, b);
	kaio_step_recv(&iocb, a, buf, sizeof(buf));
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(0, kaio_cancel(&self->k, 4));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	EXPECT_EQ(-ECANCELED, ev.result);
	EXPECT_EQ(-ECANCELED, ev.error);
	EXPECT_EQ(KAIO_EV_CANCELED, ev.flags);
	EXPECT_EQ(0, ev.bytes);
	close(a);
	close(b);
}

/* SEND to a peer that is gone: -EPIPE in the event, no SIGPIPE anywhere. */
TEST_F(sk, send_to_gone_peer)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	sigset_t set, pend;
	int a, b;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	sigprocmask(SIG_BLOCK, &set, NULL);
	ASSERT_EQ(0, unix_pair(&a, &b));
	close(b);
	kaio_iocb_init(&iocb, 5);
	kaio_step_fd(&iocb, a);
	kaio_step_send(&iocb, KAIO_FD_CHAIN, "x", 1);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(-EPIPE, ev.result);
	EXPECT_EQ(-EPIPE, ev.error);
	EXPECT_EQ(0, ev.flags);
	EXPECT_EQ(0, ev.bytes);
	sigpending(&pend);
	EXPECT_EQ(0, sigismember(&pend, SIGPIPE));
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	close(a);
}

/*
 * A SEND corked for a SENDFILE that sends nothing (an empty file) is
 * pushed when the chain ends: the peer gets the header at once.
 */
TEST_F(sk, corked_header_is_pushed)
{
	static const char hdr[] = "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n";
	char got[sizeof(hdr)];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	int a, b, one = 1;

	ASSERT_EQ(0, tcp_pair(&a, &b));
	/* Nagle off, as servers run: only MSG_MORE could hold the bytes. */
	ASSERT_EQ(0, setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
	kaio_iocb_init(&iocb, 6);
	kaio_step_open(&iocb, AT_FDCWD, S("p_0"), O_RDONLY, 0);
	kaio_step_send(&iocb, a, hdr, sizeof(hdr) - 1);
	kaio_step_sendfile(&iocb, a, 0, 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(KAIO_EV_DONE, ev.flags);
	EXPECT_EQ(sizeof(hdr) - 1, ev.bytes);
	ASSERT_EQ(sizeof(hdr) - 1, read_all_within(b, got, sizeof(hdr) - 1, 150));
	EXPECT_EQ(0, memcmp(got, hdr, sizeof(hdr) - 1));
	close(a);
	close(b);
}

/* STATX fills what statx(2) on the same file says, cached or cold. */
TEST_F(sk, statx_matches_statx)
{
	for (int cold = 0; cold < 2; cold++) {
		struct statx want, got;
		struct kaio_iocb iocb;
		struct kaio_event ev;

		ASSERT_EQ(0, statx(AT_FDCWD, S("p_1m3"), 0, STATX_BASIC_STATS | STATX_BTIME, &want));
		if (cold)
			kaio_drop_caches("3");
		memset(&got, 0xa5, sizeof(got));
		kaio_iocb_init(&iocb, 7);
		kaio_step_open(&iocb, AT_FDCWD, S("p_1m3"), O_RDONLY, 0);
		kaio_step_statx(&iocb, &got, STATX_BASIC_STATS | STATX_BTIME);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		EXPECT_EQ(KAIO_EV_DONE, ev.flags);
		EXPECT_EQ(0, ev.step_result[1]);
		EXPECT_EQ(want.stx_mask & ~(STATX_MNT_ID | STATX_MNT_ID_UNIQUE), got.stx_mask);
		EXPECT_EQ(1048579, got.stx_size);
		EXPECT_EQ(want.stx_ino, got.stx_ino);
		EXPECT_EQ(want.stx_mode, got.stx_mode);
		EXPECT_EQ(want.stx_nlink, got.stx_nlink);
		EXPECT_EQ(want.stx_uid, got.stx_uid);
		EXPECT_EQ(want.stx_gid, got.stx_gid);
		EXPECT_EQ(want.stx_blocks, got.stx_blocks);
		EXPECT_EQ(want.stx_blksize, got.stx_blksize);
		EXPECT_EQ(want.stx_mtime.tv_sec, got.stx_mtime.tv_sec);
		EXPECT_EQ(want.stx_mtime.tv_nsec, got.stx_mtime.tv_nsec);
		EXPECT_EQ(want.stx_btime.tv_sec, got.stx_btime.tv_sec);
		EXPECT_EQ(want.stx_dev_major, got.stx_dev_major);
		EXPECT_EQ(want.stx_dev_minor, got.stx_dev_minor);
		EXPECT_EQ(0, got.stx_mnt_id);
		EXPECT_EQ(0, got.__spare0[0]);
		EXPECT_EQ(0, got.__spare3[0]);
	}
}

/* Bad SEND, RECV and STATX steps are refused at SUBMIT, with nothing leaked. */
TEST_F(sk, bad_input)
{
	struct statx stx;
	struct kaio_iocb iocb;
	struct kaio_step *s;
	char buf[16];
	int file = open(HOT, O_RDONLY);
	int a, b;

	ASSERT_LE(0, file);
	ASSERT_EQ(0, unix_pair(&a, &b));
	struct {
		int op, fd;
		void *addr;
		uint64_t len;
		uint32_t op_flags, arg;
		int64_t offset;
		int err;
	} cases[] = {
		{ KAIO_OP_SEND, -1, buf, 0, 0, 0, 0, EINVAL },
		{ KAIO_OP_SEND, -1, buf, KAIO_SEND_MAX + 1, 0, 0, 0, EINVAL },
		{ KAIO_OP_SEND, -1, buf, 1, 2, 0, 0, EINVAL },
		{ KAIO_OP_SEND, -1, buf, 1, 0, 1, 0, EINVAL },
		{ KAIO_OP_SEND, -1, buf, 1, 0, 0, 1, EINVAL },
		{ KAIO_OP_SEND, -1, NULL, 1, 0, 0, 0, EFAULT },
		{ KAIO_OP_SEND, -1, (void *)-4096L, 16, 0, 0, 0, EFAULT },
		{ KAIO_OP_SEND, 1000, buf, 1, 0, 0, 0, EBADF },
		{ KAIO_OP_SEND, -2, buf, 1, 0, 0, 0, EBADF },
		{ KAIO_OP_SEND, file, buf, 1, 0, 0, 0, ENOTSOCK },
		{ KAIO_OP_RECV, -1, buf, 0, 0, 0, 0, EINVAL },
		{ KAIO_OP_RECV, -1, buf, 1, 1, 0, 0, EINVAL },
		{ KAIO_OP_RECV, -1, NULL, 16, 0, 0, 0, EFAULT },
		{ KAIO_OP_RECV, file, buf, 16, 0, 0, 0, ENOTSOCK },
		{ KAIO_OP_STATX, 0, &stx, sizeof(stx) - 1, 0, 0, 0, EINVAL },
		{ KAIO_OP_STATX, 0, &stx, sizeof(stx), 0, 0x80000000u, 0, EINVAL },
		{ KAIO_OP_STATX, 0, &stx, sizeof(stx), AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC,
		  0, 0, EINVAL },
		{ KAIO_OP_STATX, 0, &stx, sizeof(stx), AT_SYMLINK_NOFOLLOW, 0, 0, EINVAL },
		{ KAIO_OP_STATX, 3, &stx, sizeof(stx), 0, 0, 0, EINVAL },
		{ KAIO_OP_STATX, 0, NULL, sizeof(stx), 0, 0, 0, EFAULT },
	};
	long long before = kaio_stat("inflight");

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		kaio_iocb_init(&iocb, 100 + i);
		/* The chain's file is a socket for SEND and RECV, a file for STATX. */
		kaio_step_fd(&iocb, cases[i].op == KAIO_OP_STATX ? file : a);
		s = &iocb.steps[iocb.nr_steps++];
		memset(s, 0, sizeof(*s));
		s->opcode = cases[i].op;
		s->fd = cases[i].fd;
		s->addr = (uintptr_t)cases[i].addr;
		s->len = cases[i].len;
		s->op_flags = cases[i].op_flags;
		s->arg = cases[i].arg;
		s->offset = cases[i].offset;
		EXPECT_EQ(-cases[i].err, kaio_submit(&self->k, &iocb, 1)) TH_LOG("case %zu", i);
	}
	/* KAIO_FD_CHAIN on an FD chain of a regular file: known at SUBMIT. */
	kaio_iocb_init(&iocb, 200);
	kaio_step_fd(&iocb, file);
	kaio_step_send(&iocb, KAIO_FD_CHAIN, "x", 1);
	EXPECT_EQ(-ENOTSOCK, kaio_submit(&self->k, &iocb, 1));
	EXPECT_EQ(before, kaio_stat("inflight"));
	close(a);
	close(b);
	close(file);
}

/* Errors found while running are in the event, with error == result. */
TEST_F(sk, errors_in_the_event)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct statx stx;
	void *gone;

	/* The chain's file, opened by path, is not a socket. */
	kaio_iocb_init(&iocb, 8);
	kaio_step_open(&iocb, AT_FDCWD, HOT, O_RDONLY, 0);
	kaio_step_send(&iocb, KAIO_FD_CHAIN, "x", 1);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(-ENOTSOCK, ev.result);
	EXPECT_EQ(-ENOTSOCK, ev.error);
	EXPECT_EQ(0, ev.flags);
	/* A missing file: the OPEN step, nothing moved. */
	kaio_iocb_init(&iocb, 9);
	kaio_step_open(&iocb, AT_FDCWD, S("no-such-file"), O_RDONLY, 0);
	kaio_step_statx(&iocb, &stx, 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(0, ev.step);
	EXPECT_EQ(-ENOENT, ev.error);
	EXPECT_EQ(-ENOENT, ev.result);
	EXPECT_EQ(0, ev.bytes);
	/* STATX into memory unmapped after SUBMIT: -EFAULT at the step. */
	gone = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, gone);
	ASSERT_EQ(0, munmap(gone, 4096));
	kaio_iocb_init(&iocb, 10);
	kaio_step_open(&iocb, AT_FDCWD, HOT, O_RDONLY, 0);
	kaio_step_statx(&iocb, gone, 0);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(-EFAULT, ev.error);
}

/*
 * OPEN with KAIO_OPEN_IN_ROOT: "..", absolute names and symbolic links
 * stay inside the directory, from the dentry cache (inline) and after a
 * cache drop (in a worker).
 */
TEST_F(sk, open_in_root)
{
	static const struct {
		const char *path;
		int err;	/* 0: opens ROOT/inside */
	} cases[] = {
		{ "inside", 0 },
		{ "/inside", 0 },
		{ "../../inside", 0 },
		{ "d/../inside", 0 },
		{ "d/up", 0 },			/* -> ../../../inside */
		{ "d/abs", 0 },			/* -> /inside */
		{ "d/out", ENOENT },		/* -> /tmp/kaio-outside: not in ROOT */
		{ "../kaio-outside", ENOENT },
		{ "/tmp/kaio-outside", ENOENT },
		{ "d/etc", ENOENT },		/* -> /etc/hostname */
	};
	char buf[32];
	int dir;

	ASSERT_EQ(0, system("rm -rf " ROOT " && mkdir -p " ROOT "/d"));
	write_file(ROOT "/inside", "inside the root\n");
	write_file("/tmp/kaio-outside", "SECRET outside\n");
	ASSERT_EQ(0, symlink("../../../inside", ROOT "/d/up"));
	ASSERT_EQ(0, symlink("/inside", ROOT "/d/abs"));
	ASSERT_EQ(0, symlink("/tmp/kaio-outside", ROOT "/d/out"));
	ASSERT_EQ(0, symlink("/etc/hostname", ROOT "/d/etc"));
	dir = open(ROOT, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dir);
	for (int cold = 0; cold < 2; cold++) {
		for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			struct kaio_iocb iocb;
			struct kaio_event ev;

			if (cold)
				kaio_drop_caches("3");
			memset(buf, 0, sizeof(buf));
			kaio_iocb_init(&iocb, i);
			kaio_step_open_in_root(&iocb, dir, cases[i].path, O_RDONLY, 0);
			kaio_step_read(&iocb, buf, sizeof(buf) - 1, 0);
			kaio_step_close(&iocb);
			ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
			if (cases[i].err) {
				EXPECT_EQ(0, ev.step) TH_LOG("%s cold %d", cases[i].path, cold);
				EXPECT_EQ(-cases[i].err, ev.error) TH_LOG("%s", cases[i].path);
				EXPECT_EQ(0, buf[0]);
			} else {
				EXPECT_EQ(16, ev.step_result[1]) TH_LOG("%s cold %d",
									cases[i].path, cold);
				EXPECT_STREQ("inside the root\n", buf);
			}
		}
	}
	/* Refused at SUBMIT: not a directory, other RESOLVE_* bits. */
	{
		struct kaio_iocb iocb;
		int file = open(ROOT "/inside", O_RDONLY);

		kaio_iocb_init(&iocb, 50);
		kaio_step_open_in_root(&iocb, file, "inside", O_RDONLY, 0);
		EXPECT_EQ(-ENOTDIR, kaio_submit(&self->k, &iocb, 1));
		kaio_iocb_init(&iocb, 51);
		kaio_step_open(&iocb, dir, "inside", O_RDONLY, 0)->len = 0x08;
		EXPECT_EQ(-EINVAL, kaio_submit(&self->k, &iocb, 1));
		kaio_iocb_init(&iocb, 52);
		kaio_step_open(&iocb, dir, "inside", O_RDONLY, 0)->len = KAIO_OPEN_IN_ROOT | 0x08;
		EXPECT_EQ(-EINVAL, kaio_submit(&self->k, &iocb, 1));
		close(file);
	}
	close(dir);
}

TEST_HARNESS_MAIN
