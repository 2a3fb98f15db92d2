// SPDX-License-Identifier: GPL-2.0
/*
 * The SENDFILE state machine: byte-exact transfers (the receiver checks
 * every byte against the pattern) to TCP, UNIX stream sockets, pipes and
 * files; hot, cold and NOCACHE; backpressure, early close, truncation,
 * cancellation, injected I/O errors, 1000 compound requests to 64 sockets.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
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

enum kind { TCP, UNIX, PIPE };

/* A connected pair: @tx is what kaio writes to, @rx what the test reads. */
static int make_pair(enum kind k, int *tx, int *rx, int sndbuf)
{
	int sv[2];

	if (k == PIPE) {
		if (pipe2(sv, O_CLOEXEC))
			return -1;
		*rx = sv[0];
		*tx = sv[1];
		return 0;
	}
	if (k == UNIX)
		return unix_pair(tx, rx);
	{
		struct sockaddr_in a = { .sin_family = AF_INET };
		socklen_t alen = sizeof(a);
		int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

		a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 1) ||
		    getsockname(l, (void *)&a, &alen))
			return -1;
		*tx = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (*tx < 0 || connect(*tx, (void *)&a, sizeof(a)))
			return -1;
		*rx = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		close(l);
		if (*rx < 0)
			return -1;
		/* A small send buffer: kaio meets a full socket early. */
		if (sndbuf)
			setsockopt(*tx, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		return 0;
	}
}

/* Connects a pair of @k and starts @r reading it; @tx is kaio's side. */
static int rx_start(enum kind k, int *tx, struct rx *r, pthread_t *t, int sndbuf)
{
	if (make_pair(k, tx, &r->fd, sndbuf))
		return -1;
	return pthread_create(t, NULL, rx_run, r);
}

/* Closes kaio's side, waits for @r to read to the end, closes its side. */
static void rx_finish(int tx, struct rx *r, pthread_t t)
{
	close(tx);
	pthread_join(t, NULL);
	close(r->fd);
}

/* Number of resident pages of @path (mincore). */
static long resident(const char *path)
{
	int fd = open(path, O_RDONLY);
	struct stat st;
	unsigned char *vec;
	void *map;
	long n = 0, pages;

	if (fd < 0 || fstat(fd, &st))
		return -1;
	pages = (st.st_size + 4095) / 4096;
	map = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
	vec = malloc(pages);
	if (map == MAP_FAILED || !vec || mincore(map, st.st_size, vec))
		return -1;
	for (long i = 0; i < pages; i++)
		n += vec[i] & 1;
	munmap(map, st.st_size);
	free(vec);
	close(fd);
	return n;
}

struct xfer {
	const char *path;
	uint32_t seed;
	int64_t size;
	int64_t off;
	uint64_t len;
	enum kind kind;
	unsigned int flags;	/* KAIO_SENDFILE_* */
	unsigned int window;
};

/*
 * OPEN(path) -> SENDFILE -> CLOSE to a fresh pair of @x->kind; checks the
 * event and every byte received. Returns the bytes sent.
 */
static int64_t xfer(struct __test_metadata *_metadata, struct kaio_ctx *k,
		    const struct xfer *x)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct rx r = { .seed = x->seed, .off = x->off };
	pthread_t t;
	int tx, rxfd;
	int64_t want = x->size > x->off ? x->size - x->off : 0;

	if (x->len && (int64_t)x->len < want)
		want = x->len;
	if (make_pair(x->kind, &tx, &rxfd, 0))
		return -1000;
	r.fd = rxfd;
	pthread_create(&t, NULL, rx_run, &r);
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, x->path, O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx, x->off, x->len);
	iocb.steps[1].op_flags = x->flags;
	iocb.steps[1].arg = x->window;
	kaio_step_close(&iocb);
	if (kaio_submit(k, &iocb, 1) != 1 || kaio_wait_one(k, &ev) != 1)
		return -1001;
	close(tx);
	pthread_join(t, NULL);
	close(rxfd);
	EXPECT_EQ(want, ev.step_result[1]) TH_LOG("%s off %lld len %llu kind %d", x->path,
		(long long)x->off, (unsigned long long)x->len, x->kind);
	if (x->len && (int64_t)x->len > want) {
		/* Past EOF: the short count ends the chain at SENDFILE. */
		EXPECT_EQ(1, ev.step);
		EXPECT_EQ(want, ev.result);
	} else {
		EXPECT_EQ(2, ev.step);
		EXPECT_EQ(0, ev.result);
	}
	EXPECT_EQ((uint64_t)want, r.got);
	EXPECT_EQ(-1, r.bad) TH_LOG("first bad byte at %ld", r.bad);
	return ev.step_result[1];
}

FIXTURE(sf) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(sf)
{
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, kaio_setup(&self->k, 2048));
}

FIXTURE_TEARDOWN(sf)
{
	kaio_close(&self->k);
}

static const struct { const char *path; uint32_t seed; int64_t size; } files[] = {
	{ S("p_0"), 0, 0 }, { S("p_1"), 1, 1 }, { S("p_4095"), 4095, 4095 },
	{ S("p_4096"), 4096, 4096 }, { S("p_4097"), 4097, 4097 },
	{ S("p_1m3"), 3, (1 << 20) + 3 }, { S("p_64m"), 64, 64 << 20 },
};

/* Every size, cold then hot, over TCP; 64 MiB once each. */
TEST_F(sf, sizes_tcp_cold_and_hot)
{
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		struct xfer x = { files[i].path, files[i].seed, files[i].size, 0, 0, TCP };

		kaio_drop_caches("3");
		EXPECT_EQ(files[i].size, xfer(_metadata, &self->k, &x));
		EXPECT_EQ(files[i].size, xfer(_metadata, &self->k, &x));
	}
}

/* Offsets 0, 1, 4095 and the middle; len 0, exact and past EOF. */
TEST_F(sf, offsets_and_lengths)
{
	static const int64_t offs[] = { 0, 1, 4095, 524289 };
	static const uint64_t lens[] = { 0, 1, 70001, 2 << 20 };

	for (size_t i = 0; i < 4; i++) {
		for (size_t j = 0; j < 4; j++) {
			struct xfer x = { S("p_1m3"), 3, (1 << 20) + 3, offs[i], lens[j], TCP };

			if (j == 2)
				kaio_drop_caches("1");
			xfer(_metadata, &self->k, &x);
		}
	}
}

/* UNIX stream sockets and pipes, cold and hot, small and odd windows. */
TEST_F(sf, unix_and_pipe)
{
	for (int kind = UNIX; kind <= PIPE; kind++) {
		for (int w = 0; w < 3; w++) {
			struct xfer x = { S("p_1m3"), 3, (1 << 20) + 3, 4095, 0, kind, 0,
					  w == 0 ? 0 : w == 1 ? 1 : 7 };

			kaio_drop_caches("1");
			EXPECT_EQ((1 << 20) + 3 - 4095, xfer(_metadata, &self->k, &x));
			EXPECT_EQ((1 << 20) + 3 - 4095, xfer(_metadata, &self->k, &x));
		}
	}
}

/* To a regular file: the written file equals the source range. */
TEST_F(sf, to_regular_file)
{
	char path[64];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	uint8_t *buf = malloc(1 << 20);
	int out;

	snprintf(path, sizeof(path), S("tmp/sf_%d"), getpid());
	out = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, out);
	unlink(path);
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, S("p_1m3"), O_RDONLY, 0);
	kaio_step_sendfile(&iocb, out, 3, 1 << 20);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	EXPECT_EQ(1 << 20, ev.result);
	EXPECT_EQ(1 << 20, pread(out, buf, 1 << 20, 0));
	EXPECT_EQ(-1, kaio_pattern_check(buf, 1 << 20, 3, 3));
	close(out);
	free(buf);
}

/* NOCACHE: correct bytes, and the page cache stays cold. */
TEST_F(sf, nocache_keeps_cache_cold)
{
	long long c0 = kaio_stat("sendfile_chunks_cached");
	long long p0 = kaio_stat("parked_reads");

	for (int i = 5; i < 7; i++) {
		struct xfer x = { files[i].path, files[i].seed, files[i].size, 0, 0, TCP,
				  KAIO_SENDFILE_NOCACHE };

		long before;

		kaio_drop_caches("1");
		/*
		 * Pages still referenced elsewhere (say, by a socket of an
		 * earlier test) survive drop_caches: NOCACHE must add none.
		 */
		before = resident(files[i].path);
		ASSERT_LE(0, before);
		EXPECT_EQ(files[i].size, xfer(_metadata, &self->k, &x));
		EXPECT_EQ(before, resident(files[i].path)) TH_LOG("%s", files[i].path);
		/* Unaligned start and a length past EOF. */
		x.off = 4097;
		x.len = files[i].size;
		xfer(_metadata, &self->k, &x);
		EXPECT_EQ(before, resident(files[i].path));
	}
	EXPECT_EQ(c0, kaio_stat("sendfile_chunks_cached"));
	/* Each direct read parked the request until its bio completed. */
	EXPECT_LT(p0, kaio_stat("parked_reads"));
	/* Without NOCACHE the same transfer fills the cache. */
	{
		struct xfer x = { S("p_1m3"), 3, (1 << 20) + 3, 0, 0, TCP };

		xfer(_metadata, &self->k, &x);
		EXPECT_EQ(257, resident(S("p_1m3")));
	}
}

/* A slow reader: the request parks on the full socket, no thread held. */
TEST_F(sf, backpressure_slow_receiver)
{
	long long parks = kaio_stat("sendfile_out_parks");
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct rx r = { .seed = 3, .slow_us = 2000, .chunk = 16384 };
	pthread_t t;
	int tx;

	ASSERT_EQ(0, rx_start(TCP, &tx, &r, &t, 16384));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, open(S("p_1m3"), O_RDONLY));
	kaio_step_sendfile(&iocb, tx, 0, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	rx_finish(tx, &r, t);
	close(iocb.steps[0].fd);
	EXPECT_EQ((1 << 20) + 3, ev.result);
	EXPECT_EQ((1 << 20) + 3, r.got);
	EXPECT_EQ(-1, r.bad);
	EXPECT_LT(parks, kaio_stat("sendfile_out_parks"));
	TH_LOG("parked %lld times", kaio_stat("sendfile_out_parks") - parks);
}

/* The receiver closes early: EPIPE or ECONNRESET, and no SIGPIPE. */
TEST_F(sf, receiver_closes_early)
{
	for (int kind = TCP; kind <= PIPE; kind++) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		struct rx r = { .seed = 64, .close_after = 100000 };
		pthread_t t;
		int tx;

		signal(SIGPIPE, SIG_DFL);
		ASSERT_EQ(0, rx_start(kind, &tx, &r, &t, 0));
		kaio_iocb_init(&iocb, 1);
		kaio_step_open(&iocb, AT_FDCWD, S("p_64m"), O_RDONLY, 0);
		kaio_step_sendfile(&iocb, tx, 0, 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		pthread_join(t, NULL);
		close(r.fd);
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		close(tx);
		EXPECT_EQ(1, ev.step) TH_LOG("kind %d", kind);
		/* As sendfile(2): the bytes sent first, then the error. */
		EXPECT_TRUE(ev.error == -EPIPE || ev.error == -ECONNRESET)
			TH_LOG("kind %d: error %d", kind, ev.error);
		EXPECT_LE(100000, ev.result) TH_LOG("kind %d", kind);
		EXPECT_EQ(ev.result, ev.step_result[1]);
		EXPECT_EQ(ev.result, ev.bytes);
		EXPECT_EQ(0, ev.flags);
		EXPECT_EQ(-1, r.bad);
		signal(SIGPIPE, SIG_IGN);
	}
}

/* Truncated during the transfer: ends at the new EOF, short count. */
TEST_F(sf, truncate_during_transfer)
{
	char path[64];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct rx r = { .seed = 64, .slow_us = 5000, .chunk = 4096 };
	pthread_t t;
	uint8_t *buf = malloc(8 << 20);
	int fd, tx;

	snprintf(path, sizeof(path), S("tmp/tr_%d"), getpid());
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	ASSERT_LE(0, fd);
	unlink(path);
	for (size_t i = 0; i < 8 << 20; i++)
		buf[i] = kaio_pattern(64, i);
	ASSERT_EQ(8 << 20, pwrite(fd, buf, 8 << 20, 0));
	ASSERT_EQ(0, rx_start(TCP, &tx, &r, &t, 16384));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_sendfile(&iocb, tx, 0, 8 << 20);
	long long sent0 = kaio_stat("bytes_sent");
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	usleep(200000);
	/* Well before 1 MiB has gone out... */
	ASSERT_GT(1 << 20, kaio_stat("bytes_sent") - sent0);
	ASSERT_EQ(0, ftruncate(fd, 1 << 20));
	/* ...so the transfer ends exactly at the new end of file. */
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	rx_finish(tx, &r, t);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(1 << 20, ev.result);
	EXPECT_EQ(1 << 20, r.got);
	EXPECT_EQ(-1, r.bad);
	close(fd);
	free(buf);
}

/*
 * Cancelled mid-transfer, with no timing involved: the receiver reads the
 * first bytes (so the transfer is under way) and then stops reading, so
 * the 64 MiB request parks on the full socket and cannot finish. The
 * cancel returns 0; the event is ECANCELED with the bytes already sent;
 * the receiver then gets exactly those bytes, and the end of the stream.
 */
TEST_F(sf, cancel_during_transfer)
{
	struct timeval tmo = { .tv_sec = 10 };
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct rx r = { .seed = 64 };
	struct pollfd p;
	uint8_t first[4096];
	pthread_t t;
	ssize_t n;
	int tx, rxfd;

	ASSERT_EQ(0, make_pair(TCP, &tx, &rxfd, 16384));
	/* A receiver that stops on a request that never lets go. */
	ASSERT_EQ(0, setsockopt(rxfd, SOL_SOCKET, SO_RCVTIMEO, &tmo, sizeof(tmo)));
	kaio_iocb_init(&iocb, 5);
	kaio_step_open(&iocb, AT_FDCWD, S("p_64m"), O_RDONLY, 0);
	kaio_step_sendfile(&iocb, tx, 0, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	p.fd = rxfd;
	p.events = POLLIN;
	ASSERT_EQ(1, poll(&p, 1, 10000)) TH_LOG("nothing sent in 10 s");
	n = read(rxfd, first, sizeof(first));
	ASSERT_LT(0, n);
	EXPECT_EQ(-1, kaio_pattern_check(first, n, 64, 0));
	ASSERT_EQ(0, kaio_cancel(&self->k, 5));
	EXPECT_EQ(-ENOENT, kaio_cancel(&self->k, 5));
	ASSERT_EQ(1, kaio_wait(&self->k, &ev, 1, 1, 10 * SEC));
	r.fd = rxfd;
	r.off = n;
	pthread_create(&t, NULL, rx_run, &r);
	close(tx);
	pthread_join(t, NULL);
	/* The reader stopped at the end of the stream, not on its timeout. */
	EXPECT_EQ(0, recv(rxfd, first, 1, MSG_DONTWAIT));
	close(rxfd);
	EXPECT_EQ(-ECANCELED, ev.result);
	EXPECT_EQ(KAIO_EV_CANCELED, ev.flags);
	EXPECT_EQ(1, ev.step);
	EXPECT_LE(n, ev.step_result[1]);
	EXPECT_GT(64 << 20, ev.step_result[1]);
	EXPECT_EQ((uint64_t)ev.step_result[1], n + r.got);
	EXPECT_EQ(-1, r.bad);
}

/* 1000 compound OPEN -> SENDFILE -> CLOSE in flight to 64 sockets. */
TEST_F(sf, thousand_compound_to_64_sockets)
{
	enum { N = 1000, SOCKS = 64 };
	static struct kaio_iocb iocb[N];
	static struct kaio_event ev[N];
	static struct rx r[SOCKS];
	uint64_t want[SOCKS][256];
	pthread_t t[SOCKS];
	int tx[SOCKS], got = 0;

	memset(want, 0, sizeof(want));
	memset(r, 0, sizeof(r));
	kaio_drop_caches("1");
	for (int s = 0; s < SOCKS; s++) {
		ASSERT_EQ(0, make_pair(TCP, &tx[s], &r[s].fd, 0));
		r[s].seed = ~0u;
		pthread_create(&t[s], NULL, rx_run, &r[s]);
	}
	for (int i = 0; i < N; i++) {
		int f = 1 + i % 5;	/* p_1 .. p_1m3 */

		kaio_iocb_init(&iocb[i], i);
		kaio_step_open(&iocb[i], AT_FDCWD, files[f].path, O_RDONLY, 0);
		kaio_step_sendfile(&iocb[i], tx[i % SOCKS], 0, 0);
		kaio_step_close(&iocb[i]);
		for (int64_t b = 0; b < files[f].size; b++)
			want[i % SOCKS][kaio_pattern(files[f].seed, b)]++;
	}
	ASSERT_EQ(N, kaio_submit(&self->k, iocb, N));
	while (got < N) {
		int n = kaio_wait(&self->k, ev, 1, N, 300 * SEC);

		ASSERT_LT(0, n);
		for (int j = 0; j < n; j++) {
			int f = 1 + ev[j].user_data % 5;

			EXPECT_EQ(0, ev[j].result);
			EXPECT_EQ(files[f].size, ev[j].step_result[1]);
		}
		got += n;
	}
	for (int s = 0; s < SOCKS; s++) {
		close(tx[s]);
		pthread_join(t[s], NULL);
		close(r[s].fd);
		/* The stream of each socket holds exactly its files' bytes. */
		EXPECT_EQ(0, memcmp(want[s], r[s].hist, sizeof(want[s]))) TH_LOG("socket %d", s);
	}
}

/*
 * One cold 64 MiB transfer, then 16 concurrent cold 4 MiB ones: windows
 * that were not cached yet parked and were woken from interrupt context;
 * no worker waited for the disk.
 */
TEST_F(sf, stats_cold_64m)
{
	enum { N = 16 };
	long long irq = kaio_stat("irq_completions");
	long long waits = kaio_stat("worker_disk_waits");
	long long disk = kaio_stat("sendfile_chunks_disk");
	long long cached = kaio_stat("sendfile_chunks_cached");
	long long parked = kaio_stat("parked_reads");
	struct xfer x = { S("p_64m"), 64, 64 << 20, 0, 0, TCP };
	struct kaio_iocb iocb[N];
	struct kaio_event ev[N];
	struct rx r[N];
	pthread_t t[N];
	int tx[N];

	kaio_drop_caches("1");
	EXPECT_EQ(64 << 20, xfer(_metadata, &self->k, &x));
	TH_LOG("cold 64 MiB: irq_completions +%lld, chunks from disk +%lld, "
	       "from cache +%lld, parked_reads +%lld, worker_disk_waits +%lld",
	       kaio_stat("irq_completions") - irq,
	       kaio_stat("sendfile_chunks_disk") - disk,
	       kaio_stat("sendfile_chunks_cached") - cached,
	       kaio_stat("parked_reads") - parked,
	       kaio_stat("worker_disk_waits") - waits);
	kaio_drop_caches("1");
	memset(r, 0, sizeof(r));
	for (int i = 0; i < N; i++) {
		ASSERT_EQ(0, make_pair(TCP, &tx[i], &r[i].fd, 0));
		r[i].seed = 64;
		r[i].off = (uint64_t)i * (4 << 20);
		pthread_create(&t[i], NULL, rx_run, &r[i]);
		kaio_iocb_init(&iocb[i], i);
		kaio_step_open(&iocb[i], AT_FDCWD, S("p_64m"), O_RDONLY, 0);
		kaio_step_sendfile(&iocb[i], tx[i], (int64_t)i * (4 << 20), 4 << 20);
		kaio_step_close(&iocb[i]);
	}
	ASSERT_EQ(N, kaio_submit(&self->k, iocb, N));
	ASSERT_EQ(N, kaio_wait(&self->k, ev, N, N, 300 * SEC));
	for (int i = 0; i < N; i++) {
		EXPECT_EQ(0, ev[i].result);
		close(tx[i]);
		pthread_join(t[i], NULL);
		close(r[i].fd);
		EXPECT_EQ(4 << 20, r[i].got);
		EXPECT_EQ(-1, r[i].bad);
	}
	TH_LOG("and 16 x 4 MiB cold: irq_completions +%lld in all, parked_reads +%lld, "
	       "worker_disk_waits +%lld", kaio_stat("irq_completions") - irq,
	       kaio_stat("parked_reads") - parked, kaio_stat("worker_disk_waits") - waits);
	/* Every park ends with one wake-up, here from the bio completion. */
	EXPECT_LT(irq, kaio_stat("irq_completions"));
	EXPECT_LE(kaio_stat("irq_completions") - irq, kaio_stat("parked_reads") - parked);
	EXPECT_EQ(waits, kaio_stat("worker_disk_waits"));
}

/* An injected I/O error (fail_make_request) completes with EIO. */
TEST_F(sf, injected_io_error)
{
	const char *fmr = "/sys/kernel/debug/fail_make_request";
	char p[128];
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct rx r = { .seed = 64 };
	pthread_t t;
	int fd = open(S("p_64m"), O_RDONLY), tx;

	ASSERT_LE(0, fd);
	snprintf(p, sizeof(p), "%s/probability", fmr);
	if (access(p, W_OK))
		SKIP(return, "no fail_make_request");
	kaio_drop_caches("1");
	ASSERT_EQ(0, rx_start(TCP, &tx, &r, &t, 0));
	snprintf(p, sizeof(p), "%s/verbose", fmr);
	ASSERT_EQ(0, write_str(p, "0"));
	snprintf(p, sizeof(p), "%s/times", fmr);
	ASSERT_EQ(0, write_str(p, "-1"));
	snprintf(p, sizeof(p), "%s/probability", fmr);
	ASSERT_EQ(0, write_str(p, "100"));
	ASSERT_EQ(0, write_str("/sys/block/vda/make-it-fail", "1"));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, fd);
	kaio_step_sendfile(&iocb, tx, 32 << 20, 0);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	ASSERT_EQ(0, write_str("/sys/block/vda/make-it-fail", "0"));
	ASSERT_EQ(0, write_str(p, "0"));
	rx_finish(tx, &r, t);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(-EIO, ev.result);
	EXPECT_EQ(-EIO, ev.error);
	EXPECT_EQ(-1, r.bad);
	/* Same with NOCACHE (direct reads). */
	ASSERT_EQ(0, rx_start(TCP, &tx, &r, &t, 0));
	ASSERT_EQ(0, write_str("/sys/block/vda/make-it-fail", "1"));
	ASSERT_EQ(0, write_str(p, "100"));
	iocb.steps[1].fd = tx;
	iocb.steps[1].op_flags = KAIO_SENDFILE_NOCACHE;
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	ASSERT_EQ(0, write_str("/sys/block/vda/make-it-fail", "0"));
	ASSERT_EQ(0, write_str(p, "0"));
	rx_finish(tx, &r, t);
	EXPECT_EQ(1, ev.step);
	EXPECT_EQ(-EIO, ev.result);
	EXPECT_EQ(-EIO, ev.error);
	close(fd);
}

/* Bad SENDFILE steps are refused at submit. */
TEST_F(sf, bad_input)
{
	struct kaio_iocb iocb;
	int rfd = open(S("p_4096"), O_RDONLY);
	int dfd = open(KAIO_SCRATCH, O_RDONLY | O_DIRECTORY);
	int tx, rx;

	ASSERT_EQ(0, make_pair(UNIX, &tx, &rx, 0));
#define BAD(err, build) do {						\
		kaio_iocb_init(&iocb, 1);				\
		kaio_step_fd(&iocb, rfd);				\
		kaio_step_sendfile(&iocb, tx, 0, 0);			\
		build;							\
		EXPECT_EQ(-(err), kaio_submit(&self->k, &iocb, 1));	\
	} while (0)
	BAD(EBADF, iocb.steps[1].fd = 9999);
	BAD(EBADF, iocb.steps[1].fd = rfd);		/* not open for writing */
	BAD(EBADF, iocb.steps[1].fd = dfd);		/* a directory, read-only */
	BAD(EINVAL, iocb.steps[1].op_flags = 2);
	BAD(EINVAL, iocb.steps[1].arg = 1025);
	BAD(EINVAL, iocb.steps[1].offset = -1);
	BAD(EINVAL, iocb.steps[1].addr = 1);
	BAD(EINVAL, iocb.steps[1].offset = 1; iocb.steps[1].len = INT64_MAX);
	BAD(EISDIR, iocb.steps[0].fd = dfd);
	BAD(EINVAL, iocb.steps[0].fd = rx);		/* input not a regular file */
#undef BAD
	close(rfd);
	close(dfd);
	close(tx);
	close(rx);
}

TEST_HARNESS_MAIN
