// SPDX-License-Identifier: GPL-2.0
/*
 * Scale: N SENDFILEs parked on full unix sockets at once (N = 5 000, or
 * 100 000 with kaiostress >= 50). Measures the kernel memory a parked
 * request costs beyond its socket (the sockets' own cost is measured first,
 * with no request, and subtracted), checks that no thread is held per
 * parked request, that the per-user limit max_user_inflight refuses the
 * submission beyond it with EAGAIN, and then drains every socket and checks
 * every byte.
 *
 * Each socket has the smallest send buffer and is filled by the test
 * before kaio sends, with sendfile(2) from p_1m3 (so what it holds is page
 * references, as a server's sockets would, not copies): every request parks
 * before sending anything and the socket's buffers are the same with and
 * without it. Each request is FD(p_4097) -> SENDFILE(to EOF), the module's
 * default window.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define LIMIT KAIO_PARAMS "max_user_inflight"
#define FILE_SEED 4097		/* p_4097 */
#define FILE_SIZE 4097
#define PREFILL_SEED 3		/* p_1m3 */
#define PREFILL_MAX 65536
#define MAX_CTX 64

/* The /proc/meminfo fields that hold kernel memory, in bytes. */
struct kmem {
	long long slab, sunreclaim, kstack, vmalloc, pagetables;
};

static struct kmem kmem_now(void)
{
	struct kmem m = { 0 };
	char line[256];
	FILE *f = fopen("/proc/meminfo", "r");
	long long v;

	if (!f)
		return m;
	while (fgets(line, sizeof(line), f)) {
		char key[64];

		if (sscanf(line, "%63[^:]: %lld", key, &v) != 2)
			continue;
		v *= 1024;
		if (!strcmp(key, "Slab"))
			m.slab = v;
		else if (!strcmp(key, "SUnreclaim"))
			m.sunreclaim = v;
		else if (!strcmp(key, "KernelStack"))
			m.kstack = v;
		else if (!strcmp(key, "VmallocUsed"))
			m.vmalloc = v;
		else if (!strcmp(key, "PageTables"))
			m.pagetables = v;
	}
	fclose(f);
	return m;
}

/* Kernel memory that a parked request may use: slab, stacks, vmalloc. */
static long long kmem_total(const struct kmem *m)
{
	return m->slab + m->kstack + m->vmalloc;
}

/*
 * After a shrink, waits (at most 10 s) until SUnreclaim moves less than
 * 256 KiB in 300 ms.
 */
static struct kmem kmem_settled(void)
{
	struct kmem a, b;
	int64_t end = now_ns() + 10 * SEC;

	slab_shrink_all();
	a = kmem_now();

	for (;;) {
		usleep(300000);
		b = kmem_now();
		if (llabs(b.sunreclaim - a.sunreclaim) < 256 * 1024 || now_ns() > end)
			return b;
		a = b;
	}
}

/* Threads on the system (/proc/loadavg's fourth field, "running/total"). */
static long threads_now(void)
{
	char buf[128], *slash;

	if (read_str("/proc/loadavg", buf, sizeof(buf)))
		return -1;
	slash = strchr(buf, '/');
	return slash ? atol(slash + 1) : -1;
}

FIXTURE(scale) {
	char saved_limit[64];
	bool have_limit;
};

FIXTURE_SETUP(scale)
{
	signal(SIGPIPE, SIG_IGN);
	self->have_limit = !read_str(LIMIT, self->saved_limit, sizeof(self->saved_limit));
	ASSERT_LE(0, kaio_stat("inflight")) TH_LOG("no %s", KAIO_STATS);
}

FIXTURE_TEARDOWN(scale)
{
	if (self->have_limit && write_str(LIMIT, self->saved_limit))
		TH_LOG("could not restore %s to %s", LIMIT, self->saved_limit);
}

struct plan {
	int n, nctx, per_ctx;
	struct kaio_ctx ctx[MAX_CTX];
	int *tx, *rx;
	uint16_t *prefill;
	int file;
	struct kaio_iocb batch[1024];
};

/* Submits requests [*next, upto) in order; returns 0 or the first refusal. */
static int submit_range(struct plan *p, int *next, int upto)
{
	while (*next < upto) {
		int c = *next / p->per_ctx;
		int end = (c + 1) * p->per_ctx, cnt, r;

		if (end > upto)
			end = upto;
		cnt = end - *next > 1024 ? 1024 : end - *next;
		for (int i = 0; i < cnt; i++) {
			struct kaio_iocb *b = &p->batch[i];

			kaio_iocb_init(b, *next + i);
			kaio_step_fd(b, p->file);
			kaio_step_sendfile(b, p->tx[*next + i], 0, 0);
		}
		r = kaio_submit(&p->ctx[c], p->batch, cnt);
		if (r < 0)
			return r;
		if (r == 0)
			return -EPROTO;
		*next += r;
	}
	return 0;
}

TEST_F_TIMEOUT(scale, parked_sendfiles, 600)
{
	static struct plan p;
	const int n = stress_level() >= 50 ? 100000 : 5000;
	long long infl0 = kaio_stat("inflight"), parks0 = kaio_stat("sendfile_out_parks");
	long long maxent = read_ll(KAIO_PARAMS "max_ring_entries");
	struct kmem m0, m1, m2, m3;
	static uint8_t want_prefill[PREFILL_MAX], want_file[FILE_SIZE], buf[PREFILL_MAX];
	long avail0;
	int pf;
	struct kaio_event *ev;
	uint8_t *seen;
	long th0, th1;
	int next = 0, sndbuf = 1, r, entries;
	long long got_events = 0;
	int64_t t0;

	p.n = n;
	if (maxent <= 0 || maxent > 65536)
		maxent = 65536;
	p.nctx = (n + maxent - 1) / maxent;
	ASSERT_GE(MAX_CTX, p.nctx);
	p.per_ctx = (n + p.nctx - 1) / p.nctx;
	for (entries = 16; entries < p.per_ctx; entries <<= 1)
		;
	ASSERT_EQ(0, raise_nofile(2 * (rlim_t)n + 1024)) TH_LOG("%s", strerror(errno));
	p.tx = calloc(n, sizeof(int));
	p.rx = calloc(n, sizeof(int));
	p.prefill = calloc(n, sizeof(uint16_t));
	seen = calloc(n, 1);
	ev = calloc(1024, sizeof(*ev));
	ASSERT_TRUE(p.tx && p.rx && p.prefill && seen && ev);
	for (size_t i = 0; i < sizeof(want_prefill); i++)
		want_prefill[i] = kaio_pattern(PREFILL_SEED, i);
	for (size_t i = 0; i < sizeof(want_file); i++)
		want_file[i] = kaio_pattern(FILE_SEED, i);
	pf = open(S("p_1m3"), O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, pf);
	ASSERT_EQ(PREFILL_MAX, pread(pf, buf, PREFILL_MAX, 0));
	ASSERT_EQ(0, memcmp(buf, want_prefill, PREFILL_MAX));
	p.file = open(S("p_4097"), O_RDONLY | O_CLOEXEC);
	ASSERT_LE(0, p.file);
	/* The file's pages are cached before anything is measured. */
	ASSERT_EQ(FILE_SIZE, pread(p.file, buf, sizeof(buf), 0));
	ASSERT_EQ(-1, kaio_pattern_check(buf, FILE_SIZE, FILE_SEED, 0));

	/* 1. The sockets alone, full, with no request. */
	th0 = threads_now();
	m0 = kmem_settled();
	avail0 = meminfo_kb("MemAvailable");
	for (int i = 0; i < n; i++) {
		off_t o = 0;
		ssize_t w;

		ASSERT_EQ(0, unix_pair(&p.tx[i], &p.rx[i]))
			TH_LOG("pair %d: %s", i, strerror(errno));
		ASSERT_EQ(0, setsockopt(p.tx[i], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf)));
		ASSERT_EQ(0, fcntl(p.tx[i], F_SETFL, O_NONBLOCK));
		while (o < PREFILL_MAX && (w = sendfile(p.tx[i], pf, &o, 4096)) > 0)
			;
		ASSERT_EQ(EAGAIN, errno) TH_LOG("prefill of pair %d: %s", i, strerror(errno));
		ASSERT_LT(0, o);
		ASSERT_GT(PREFILL_MAX, o);
		ASSERT_EQ(0, fcntl(p.tx[i], F_SETFL, 0));
		p.prefill[i] = o;
		/*
		 * N pairs must fit: on a debug kernel (KASAN, kmemleak) the
		 * sockets alone may not, for 100 000. That is not kaio's cost.
		 */
		if (i == 999 && n > 10000) {
			long used = avail0 - meminfo_kb("MemAvailable");
			long need = used / 1000 * n + 4 * n;

			if (need > avail0 * 9 / 10)
				SKIP(return, "%d socket pairs would need %ld MiB (%ld kB per pair) "
				     "plus 4 KiB per request; %ld MiB available", n, need >> 10,
				     used / 1000, avail0 >> 10);
		}
	}
	m1 = kmem_settled();
	for (int c = 0; c < p.nctx; c++) {
		ASSERT_EQ(0, kaio_setup(&p.ctx[c], entries));
	}
	m2 = kmem_settled();

	/* 2. The per-user limit: half of N, then a clean EAGAIN. */
	if (!self->have_limit) {
		EXPECT_TRUE(false) TH_LOG("no %s: no per-user limit to test", LIMIT);
	} else {
		char v[32];

		snprintf(v, sizeof(v), "%d", n / 2);
		ASSERT_EQ(0, write_str(LIMIT, v));
		r = submit_range(&p, &next, n);
		EXPECT_EQ(-EAGAIN, r) TH_LOG("past max_user_inflight=%d: %d (%s)", n / 2, r,
					     strerror(r < 0 ? -r : 0));
		EXPECT_EQ(n / 2 - infl0, next) TH_LOG("accepted under max_user_inflight=%d", n / 2);
		/* Per user, not per context: the other contexts refuse too. */
		if (next < n) {
			int again = next;

			r = submit_range(&p, &again, next + 1);
			EXPECT_EQ(-EAGAIN, r);
			EXPECT_EQ(next, again);
			if (p.nctx > 1 && next / p.per_ctx + 1 < p.nctx) {
				again = (next / p.per_ctx + 1) * p.per_ctx;
				r = submit_range(&p, &again, again + 1);
				EXPECT_EQ(-EAGAIN, r) TH_LOG("another context of the same user");
				EXPECT_EQ((next / p.per_ctx + 1) * p.per_ctx, again);
			}
		}
		snprintf(v, sizeof(v), "%lld",
			 atoll(self->saved_limit) > 2ll * n ? atoll(self->saved_limit) : 2ll * n);
		ASSERT_EQ(0, write_str(LIMIT, v));
	}
	/* 3. All N. */
	r = submit_range(&p, &next, n);
	ASSERT_EQ(0, r) TH_LOG("submitting %d: refused at %d: %s", n, next, strerror(-r));
	ASSERT_EQ(n, next);
	/* Until every request is in flight and has parked once (if counted). */
	t0 = now_ns();
	while (kaio_stat("inflight") - infl0 < n && now_ns() - t0 < 120 * SEC)
		usleep(50000);
	t0 = now_ns();
	while (parks0 >= 0 && kaio_stat("sendfile_out_parks") - parks0 < n &&
	       now_ns() - t0 < 20 * SEC)
		usleep(50000);
	m3 = kmem_settled();
	th1 = threads_now();
	EXPECT_EQ(infl0 + n, kaio_stat("inflight"));
	for (int c = 0; c < p.nctx; c++) {
		EXPECT_EQ(0, __atomic_load_n(&p.ctx[c].ring->tail, __ATOMIC_ACQUIRE))
			TH_LOG("context %d: requests completed although every socket is full", c);
	}
	{
		long long sock = kmem_total(&m1) - kmem_total(&m0);
		long long ring = kmem_total(&m2) - kmem_total(&m1);
		long long total = kmem_total(&m3) - kmem_total(&m2);
		long long unrecl = m3.sunreclaim - m2.sunreclaim;
		long long per = (total > unrecl ? total : unrecl) / n;

		TH_LOG("%d parked (sendfile_out_parks +%lld), threads %+ld", n,
		       kaio_stat("sendfile_out_parks") - parks0, th1 - th0);
		TH_LOG("sockets alone: %lld bytes per full pair; rings: %lld bytes for %d x %d entries",
		       sock / n, ring, p.nctx, entries);
		TH_LOG("per parked request: %lld bytes kernel memory (SUnreclaim %+lld, Slab %+lld, "
		       "KernelStack %+lld, VmallocUsed %+lld, PageTables %+lld per request)", per,
		       unrecl / n, (m3.slab - m2.slab) / n, (m3.kstack - m2.kstack) / n,
		       (m3.vmalloc - m2.vmalloc) / n, (m3.pagetables - m2.pagetables) / n);
		EXPECT_GT(4096, per) TH_LOG("more than 4 KiB of kernel memory per parked request");
		/* No thread per parked request (max_workers is at most 512). */
		EXPECT_GT(600, th1 - th0) TH_LOG("%ld more threads with %d parked", th1 - th0, n);
	}

	/* 4. Drain: the prefixes first (every socket gets room at once)... */
	for (int i = 0; i < n; i++) {
		size_t got = 0;

		while (got < p.prefill[i]) {
			ssize_t l = recv(p.rx[i], buf + got, p.prefill[i] - got, MSG_DONTWAIT);

			ASSERT_LT(0, l) TH_LOG("socket %d: prefix: %s", i, strerror(errno));
			got += l;
		}
		ASSERT_EQ(0, memcmp(buf, want_prefill, got)) TH_LOG("socket %d: prefix", i);
	}
	/* ...then what kaio sent, byte for byte. */
	for (int i = 0; i < n; i++) {
		size_t got = 0;

		while (got < FILE_SIZE) {
			struct pollfd pf = { .fd = p.rx[i], .events = POLLIN };
			ssize_t l;

			ASSERT_EQ(1, poll(&pf, 1, 30000)) TH_LOG("socket %d: %zu of %d bytes after 30 s",
								 i, got, FILE_SIZE);
			l = recv(p.rx[i], buf + got, sizeof(buf) - got, MSG_DONTWAIT);
			ASSERT_LT(0, l) TH_LOG("socket %d: %s", i, strerror(errno));
			got += l;
		}
		ASSERT_EQ(FILE_SIZE, got) TH_LOG("socket %d: more bytes than the file", i);
		ASSERT_EQ(0, memcmp(buf, want_file, FILE_SIZE)) TH_LOG("socket %d: first bad byte at %ld",
			i, kaio_pattern_check(buf, FILE_SIZE, FILE_SEED, 0));
	}
	/* Every request completed once, with the whole file. */
	for (int c = 0; c < p.nctx; c++) {
		int want = c == p.nctx - 1 ? n - c * p.per_ctx : p.per_ctx;

		while (want > 0) {
			int k = kaio_wait(&p.ctx[c], ev, 1, 1024, 30 * SEC);

			ASSERT_LT(0, k) TH_LOG("context %d: %d events missing: %d", c, want, k);
			for (int j = 0; j < k; j++) {
				uint64_t u = ev[j].user_data;

				ASSERT_GT((uint64_t)n, u);
				EXPECT_EQ(0, seen[u]) TH_LOG("request %llu completed twice",
							     (unsigned long long)u);
				seen[u] = 1;
				EXPECT_EQ(FILE_SIZE, ev[j].result) TH_LOG("request %llu",
									  (unsigned long long)u);
				EXPECT_EQ(1, ev[j].step);
				EXPECT_EQ(KAIO_EV_DONE, ev[j].flags);
				EXPECT_EQ(FILE_SIZE, ev[j].bytes);
			}
			want -= k;
			got_events += k;
		}
	}
	EXPECT_EQ(n, got_events);
	/* Nothing more follows: kaio let go of each socket (EOF). */
	for (int i = 0; i < n; i++)
		close(p.tx[i]);
	for (int i = 0; i < n; i++) {
		struct pollfd pf = { .fd = p.rx[i], .events = POLLIN };

		ASSERT_EQ(1, poll(&pf, 1, 5000)) TH_LOG("socket %d: no EOF", i);
		ASSERT_EQ(0, recv(p.rx[i], buf, sizeof(buf), MSG_DONTWAIT))
			TH_LOG("socket %d: bytes after the file, or no EOF", i);
		close(p.rx[i]);
	}
	for (int c = 0; c < p.nctx; c++)
		kaio_close(&p.ctx[c]);
	close(p.file);
	close(pf);
	kaio_stat_wait("inflight", infl0, 5000);
	EXPECT_EQ(infl0, kaio_stat("inflight"));
	free(p.tx);
	free(p.rx);
	free(p.prefill);
	free(seen);
	free(ev);
}

int main(int argc, char **argv)
{
	struct __fixture_metadata *f;
	struct __test_metadata *t;

	/* 100 000 pairs take long under TCG: a backstop, not a deadline. */
	if (stress_level() >= 50)
		for (f = __fixture_list; f; f = f->next)
			for (t = f->tests; t; t = t->next)
				t->timeout += 3600;
	return test_harness_run(argc, argv);
}
