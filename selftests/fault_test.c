// SPDX-License-Identifier: GPL-2.0
/*
 * The fault matrix: failslab, fail_page_alloc and fail_make_request (for
 * /dev/vda), each alone and then all three, at 10 % (interval 1, times -1,
 * verbose 0, task-filter Y: only the load process and its threads are
 * marked with make-it-fail), while a load process runs a mix of
 * OPEN -> READ -> CLOSE and OPEN -> SENDFILE -> CLOSE (to unix socketpairs,
 * some NOCACHE, some with small windows and send buffers), 32 in flight,
 * cold (the test drops the page cache every second), for 5 s per
 * configuration (30 s with kaiostress >= 50).
 *
 * Asserted: every request completes (a GETEVENTS with a 10 s timeout that
 * returns nothing while requests are in flight fails the case), either with
 * the right bytes (the READ buffer, and what the receiver got, byte for
 * byte against the pattern for everything that was transferred) or with a
 * negative errno; the receiver of a finished SENDFILE sees EOF (kaio let go
 * of the socket); afterwards, injection off, inflight is back and normal
 * requests return the right bytes. Every knob is restored in the teardown.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define FI "/sys/kernel/debug/"
#define VDA_FAIL "/sys/block/vda/make-it-fail"

enum { F_SLAB = 1, F_PAGE = 2, F_BIO = 4 };
static const char *const fi_name[3] = { "failslab", "fail_page_alloc", "fail_make_request" };
/*
 * Knobs saved at setup and restored at teardown (those that exist); the
 * probabilities are left at 0 whatever they were: injection off.
 */
static const char *const fi_knobs[] = {
	"interval", "times", "verbose", "task-filter", "space", "ignore-gfp-wait",
	"ignore-gfp-highmem", "min-order", "cache-filter",
};
#define NKNOBS (sizeof(fi_knobs) / sizeof(fi_knobs[0]))

static int fi_set(int attr, const char *knob, const char *val)
{
	char path[128];

	snprintf(path, sizeof(path), FI "%s/%s", fi_name[attr], knob);
	return write_str(path, val);
}

/* Injection off everywhere (probabilities 0, vda unmarked). */
static void fi_off(void)
{
	for (int a = 0; a < 3; a++)
		fi_set(a, "probability", "0");
	write_str(VDA_FAIL, "0");
}

/* --------------------------------------------------------------------
 * The load process.
 */
#define SLOTS 32
#define RBUF (256 << 10)
#define SMAX (1 << 20)
#define NERR 160

struct fdesc {
	const char *path;
	uint32_t seed;
	int64_t size;
};

static const struct fdesc files[] = {
	{ S("p_64m"), 64, 64 << 20 }, { S("p_64m"), 64, 64 << 20 },
	{ S("p_1m3"), 3, (1 << 20) + 3 }, { S("p_4097"), 4097, 4097 },
	{ S("p_4096"), 4096, 4096 }, { S("p_1"), 1, 1 },
};

/* What the load reports to the test (shared mapping). */
struct fres {
	long submitted, refused, completed;
	long read_ok, read_short, send_ok, send_short, nocache_ok, errors;
	long bad_data, bad_result, hangs, rx_timeouts, setup_errors;
	long err_hist[NERR], refused_hist[NERR];
	char msg[600];		/* the first problem */
};

enum { FREE, READ, SEND };

struct slot {
	int kind;
	const struct fdesc *f;
	int64_t off;
	uint64_t len;
	bool nocache;
	uint8_t *buf;
	int tx, rx;
	/* Receiver state, under lock. */
	bool active, eof;
	int rx_err;
	uint64_t got;
	long bad;
	struct kaio_iocb iocb;
};

static struct slot slots[SLOTS];
static struct fres *res;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t cond;
static int epfd;
static volatile bool rx_stop;
static uint64_t rng = 0x9E3779B97F4A7C15ull;

static uint64_t rnd(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

static void problem(long *counter, const char *fmt, ...)
{
	va_list ap;

	(*counter)++;
	if (res->msg[0])
		return;
	va_start(ap, fmt);
	vsnprintf(res->msg, sizeof(res->msg), fmt, ap);
	va_end(ap);
}

static void hist(long *h, long long result)
{
	long long e = -result;

	h[e > 0 && e < NERR ? e : 0]++;
}

/* Writes @on to /proc/self/task/@tid/make-it-fail, retrying (~1 s). */
static int mark_one(int tid, int on)
{
	char path[96];

	snprintf(path, sizeof(path), "/proc/self/task/%d/make-it-fail", tid);
	for (int i = 0; i < 1000; i++) {
		if (!write_str(path, on ? "1" : "0"))
			return 0;
		if (errno == ENOENT)
			return 0;	/* the thread exited */
		usleep(1000);
	}
	return -1;
}

/*
 * Marks (or unmarks) every task of this process for fault injection: the
 * calling thread last when marking and first when unmarking, so that its
 * own writes are not the ones injection refuses. getdents64 into a stack
 * buffer: no allocation in this process.
 */
static int mark_tasks(int on)
{
	char dbuf[4096];
	int self = gettid(), bad = 0, dfd = -1;
	long n;

	if (!on && mark_one(self, 0))
		return -1;
	for (int i = 0; i < 1000 && dfd < 0; i++) {
		dfd = open("/proc/self/task", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (dfd < 0)
			usleep(1000);
	}
	if (dfd < 0)
		return -1;
	while ((n = syscall(SYS_getdents64, dfd, dbuf, sizeof(dbuf))) > 0) {
		for (long off = 0; off < n;) {
			struct dirent64 *de = (struct dirent64 *)(dbuf + off);
			int tid = atoi(de->d_name);

			off += de->d_reclen;
			if (de->d_name[0] == '.' || tid == self)
				continue;
			if (mark_one(tid, on))
				bad++;
		}
	}
	close(dfd);
	if (on && mark_one(self, 1))
		bad++;
	return bad || n < 0 ? -1 : 0;
}

static void *rx_thread(void *arg)
{
	static uint8_t buf[65536];
	struct epoll_event evs[SLOTS];

	while (!rx_stop) {
		int n = epoll_wait(epfd, evs, SLOTS, 100);

		for (int i = 0; i < n; i++) {
			struct slot *s = &slots[evs[i].data.u32];

			pthread_mutex_lock(&lock);
			while (s->active) {
				ssize_t r = recv(s->rx, buf, sizeof(buf), MSG_DONTWAIT);

				if (r > 0) {
					if (s->bad < 0) {
						long b = kaio_pattern_check(buf, r, s->f->seed,
									    s->off + s->got);

						if (b >= 0)
							s->bad = s->got + b;
					}
					s->got += r;
					continue;
				}
				if (r < 0 && (errno == EAGAIN || errno == EINTR || errno == ENOMEM))
					break;
				/* EOF (or a reset: kaio's side is gone either way). */
				s->rx_err = r < 0 ? errno : 0;
				s->eof = true;
				s->active = false;
				epoll_ctl(epfd, EPOLL_CTL_DEL, s->rx, NULL);
				pthread_cond_broadcast(&cond);
			}
			pthread_mutex_unlock(&lock);
		}
	}
	return NULL;
}

/* Retries what injection may refuse (socketpair, epoll_ctl) for ~1 s. */
#define RETRY(expr) ({							\
		int __r = -1;						\
		for (int __i = 0; __i < 1000; __i++) {			\
			__r = (expr);					\
			if (__r == 0)					\
				break;					\
			usleep(1000);					\
		}							\
		__r;							\
	})

static void pick_range(struct slot *s, uint64_t max)
{
	uint64_t room;

	s->f = &files[rnd() % (sizeof(files) / sizeof(files[0]))];
	s->off = rnd() % s->f->size;
	room = s->f->size - s->off;
	s->len = 1 + rnd() % (room < max ? room : max);
}

/*
 * Takes SENDFILE slot @s away from the receiver (out of its epoll set if
 * @polled, that is, if it was added to it) and closes both ends.
 */
static void slot_drop_pair(struct slot *s, bool polled)
{
	pthread_mutex_lock(&lock);
	if (polled && s->active)
		epoll_ctl(epfd, EPOLL_CTL_DEL, s->rx, NULL);
	s->active = false;
	pthread_mutex_unlock(&lock);
	close(s->tx);
	close(s->rx);
}

/* Starts a new request in @s; false if it could not be submitted. */
static bool slot_start(struct kaio_ctx *k, struct slot *s, uint64_t ud)
{
	struct kaio_step *st;
	int r;

	memset(&s->iocb, 0, sizeof(s->iocb));
	kaio_iocb_init(&s->iocb, ud);
	if (rnd() % 2) {
		s->kind = READ;
		pick_range(s, RBUF);
		memset(s->buf, 0xa5, s->len);
		kaio_step_open(&s->iocb, AT_FDCWD, s->f->path, O_RDONLY, 0);
		kaio_step_read(&s->iocb, s->buf, s->len, s->off);
		kaio_step_close(&s->iocb);
	} else {
		int sv[2], sndbuf = 16384;
		struct epoll_event e = { .events = EPOLLIN, .data.u32 = s - slots };

		s->kind = SEND;
		pick_range(s, SMAX);
		s->nocache = rnd() % 4 == 0;
		if (RETRY(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv))) {
			res->setup_errors++;
			s->kind = FREE;
			return false;
		}
		s->tx = sv[0];
		s->rx = sv[1];
		/* Blocking for the sender side as a server would have it. */
		fcntl(s->tx, F_SETFL, 0);
		if (rnd() % 2)
			setsockopt(s->tx, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof(sndbuf));
		pthread_mutex_lock(&lock);
		s->got = 0;
		s->bad = -1;
		s->eof = false;
		s->rx_err = 0;
		s->active = true;
		pthread_mutex_unlock(&lock);
		if (RETRY(epoll_ctl(epfd, EPOLL_CTL_ADD, s->rx, &e))) {
			res->setup_errors++;
			slot_drop_pair(s, false);
			s->kind = FREE;
			return false;
		}
		kaio_step_open(&s->iocb, AT_FDCWD, s->f->path, O_RDONLY, 0);
		st = kaio_step_sendfile(&s->iocb, s->tx, s->off, s->len);
		st->op_flags = s->nocache ? KAIO_SENDFILE_NOCACHE : 0;
		st->arg = rnd() % 3 == 0 ? 1 + rnd() % 64 : 0;
		kaio_step_close(&s->iocb);
	}
	r = kaio_submit(k, &s->iocb, 1);
	if (r == 1) {
		res->submitted++;
		return true;
	}
	/* Refused at submit (ENOMEM, EAGAIN... under injection): no event. */
	res->refused++;
	hist(res->refused_hist, r < 0 ? r : -EPROTO);
	if (s->kind == SEND)
		slot_drop_pair(s, true);
	s->kind = FREE;
	return false;
}

static void check_read(struct slot *s, const struct kaio_event *ev)
{
	long long n = -1;

	if (ev->result < 0) {
		res->errors++;
		hist(res->err_hist, ev->result);
		if (ev->result < -4095 || ev->step > 2)
			problem(&res->bad_result, "READ %s@%lld+%llu: result %lld at step %u",
				s->f->path, (long long)s->off, (unsigned long long)s->len,
				(long long)ev->result, ev->step);
		if (ev->step == 2)		/* the CLOSE failed: the READ did not */
			n = ev->step_result[1];
	} else if (ev->step == 2) {
		if (ev->result != 0 || ev->step_result[1] != (int64_t)s->len)
			problem(&res->bad_result, "READ %s@%lld+%llu: completed with %lld bytes, "
				"result %lld", s->f->path, (long long)s->off,
				(unsigned long long)s->len, (long long)ev->step_result[1],
				(long long)ev->result);
		else
			res->read_ok++;
		n = ev->step_result[1];
	} else if (ev->step == 1 && ev->result < (int64_t)s->len) {
		/* Short: an error after some bytes; those bytes must be right. */
		res->read_short++;
		n = ev->result;
	} else {
		problem(&res->bad_result, "READ %s@%lld+%llu: result %lld at step %u",
			s->f->path, (long long)s->off, (unsigned long long)s->len,
			(long long)ev->result, ev->step);
	}
	if (n > (long long)s->len) {
		problem(&res->bad_result, "READ of %llu returned %lld", (unsigned long long)s->len, n);
		n = s->len;
	}
	if (n > 0) {
		long b = kaio_pattern_check(s->buf, n, s->f->seed, s->off);

		if (b >= 0)
			problem(&res->bad_data, "READ %s@%lld+%llu (result %lld, step %u): "
				"byte %ld of %lld is wrong", s->f->path, (long long)s->off,
				(unsigned long long)s->len, (long long)ev->result, ev->step, b, n);
	}
}

static void check_send(struct slot *s, const struct kaio_event *ev)
{
	struct timespec ts;
	long long n = -1;
	uint64_t got;
	long bad;
	bool eof;

	/* kaio is done with tx: closing ours must give the receiver EOF. */
	close(s->tx);
	clock_gettime(CLOCK_MONOTONIC, &ts);
	ts.tv_sec += 10;
	pthread_mutex_lock(&lock);
	while (!s->eof && pthread_cond_timedwait(&cond, &lock, &ts) != ETIMEDOUT)
		;
	eof = s->eof;
	if (!eof) {
		epoll_ctl(epfd, EPOLL_CTL_DEL, s->rx, NULL);
		s->active = false;
	}
	got = s->got;
	bad = s->bad;
	pthread_mutex_unlock(&lock);
	close(s->rx);
	if (!eof)
		problem(&res->rx_timeouts, "SENDFILE %s@%lld+%llu (result %lld): no EOF 10 s "
			"after the completion and the close of the socket", s->f->path,
			(long long)s->off, (unsigned long long)s->len, (long long)ev->result);
	if (bad >= 0)
		problem(&res->bad_data, "SENDFILE %s@%lld+%llu%s (result %lld, step %u): "
			"received byte %ld is wrong", s->f->path, (long long)s->off,
			(unsigned long long)s->len, s->nocache ? " NOCACHE" : "",
			(long long)ev->result, ev->step, bad);
	if (got > s->len)
		problem(&res->bad_data, "SENDFILE of %llu: %llu bytes received",
			(unsigned long long)s->len, (unsigned long long)got);
	if (ev->result < 0) {
		res->errors++;
		hist(res->err_hist, ev->result);
		if (ev->result < -4095 || ev->step > 2)
			problem(&res->bad_result, "SENDFILE: result %lld at step %u",
				(long long)ev->result, ev->step);
		if (ev->step == 2)
			n = ev->step_result[1];
	} else if (ev->step == 2) {
		if (ev->result != 0 || ev->step_result[1] != (int64_t)s->len)
			problem(&res->bad_result, "SENDFILE %s@%lld+%llu: completed with %lld "
				"bytes, result %lld", s->f->path, (long long)s->off,
				(unsigned long long)s->len, (long long)ev->step_result[1],
				(long long)ev->result);
		n = ev->step_result[1];
		res->send_ok++;
		res->nocache_ok += s->nocache;
	} else if (ev->step == 1 && ev->result < (int64_t)s->len) {
		res->send_short++;
		n = ev->result;
	} else {
		problem(&res->bad_result, "SENDFILE %s@%lld+%llu: result %lld at step %u",
			s->f->path, (long long)s->off, (unsigned long long)s->len,
			(long long)ev->result, ev->step);
	}
	/* What was reported sent is exactly what arrived. */
	if (n >= 0 && eof && (uint64_t)n != got)
		problem(&res->bad_data, "SENDFILE %s@%lld+%llu: reported %lld bytes, the "
			"receiver got %llu", s->f->path, (long long)s->off,
			(unsigned long long)s->len, n, (unsigned long long)got);
}

/* Pre-faults some stack, so that injection does not meet stack growth. */
static void __attribute__((noinline)) touch_stack(void)
{
	volatile char pad[512 << 10];

	memset((char *)pad, 0, sizeof(pad));
}

static void __attribute__((noreturn)) load_main(int seconds)
{
	struct kaio_ctx k;
	struct kaio_event ev[64];
	pthread_condattr_t ca;
	pthread_t rxt;
	uint8_t *bufs;
	int64_t t_end, last;
	int inflight = 0;
	bool stopping = false;
	long since_mark = 0;
	uint64_t ud = 0;

	rng ^= (uint64_t)getpid() << 32;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&cond, &ca);
	if (kaio_setup(&k, 64))
		_exit(10);
	epfd = epoll_create1(EPOLL_CLOEXEC);
	bufs = mmap(NULL, (size_t)SLOTS * RBUF, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
	if (epfd < 0 || bufs == MAP_FAILED)
		_exit(11);
	for (int i = 0; i < SLOTS; i++) {
		slots[i].buf = bufs + (size_t)i * RBUF;
		slots[i].kind = FREE;
	}
	if (pthread_create(&rxt, NULL, rx_thread, NULL))
		_exit(12);
	/*
	 * Before injection: every lane's worker exists (a worker is created at
	 * the first request of its lane; a thread's stack comes from vmalloc,
	 * whose failure warn_alloc() reports with a stack trace, which the log
	 * gate would count), and the fd table has grown (kvmalloc) to its size.
	 */
	for (int i = 0; i < SLOTS; i++) {
		kaio_iocb_init(&slots[i].iocb, i);
		kaio_step_open(&slots[i].iocb, AT_FDCWD, S("p_4096"), O_RDONLY, 0);
		kaio_step_read(&slots[i].iocb, slots[i].buf, 4096, 0);
		kaio_step_close(&slots[i].iocb);
		if (kaio_submit(&k, &slots[i].iocb, 1) != 1)
			_exit(14);
	}
	for (int got = 0; got < SLOTS;) {
		int n = kaio_wait(&k, ev, 1, 64, 30 * SEC);

		if (n <= 0)
			_exit(15);
		for (int j = 0; j < n; j++)
			if (ev[j].result != 0 ||
			    kaio_pattern_check(slots[ev[j].user_data % SLOTS].buf, 4096, 4096, 0) >= 0)
				_exit(16);
		got += n;
	}
	if (dup2(0, 1023) == 1023)
		close(1023);
	touch_stack();
	mlockall(MCL_CURRENT | MCL_FUTURE);
	if (mark_tasks(1))
		_exit(13);
	t_end = now_ns() + seconds * SEC;
	last = now_ns();
	for (;;) {
		int n;

		if (!stopping && now_ns() >= t_end) {
			stopping = true;
			/* Injection off for this process, then drain. */
			for (int i = 0; i < 100 && mark_tasks(0); i++)
				usleep(1000);
		}
		if (!stopping) {
			for (int i = 0; i < SLOTS; i++)
				if (slots[i].kind == FREE && slot_start(&k, &slots[i], ud++ * SLOTS + i))
					inflight++;
		}
		if (inflight == 0) {
			if (stopping)
				break;
			usleep(1000);
			continue;
		}
		n = kaio_wait(&k, ev, 1, 64, 10 * SEC);
		if (n > 0) {
			last = now_ns();
		} else if (n == 0 || now_ns() - last > 10 * SEC) {
			char *m = res->msg + strlen(res->msg);
			size_t room = sizeof(res->msg) - (m - res->msg);

			res->hangs++;
			m += snprintf(m, room, "%s no completion for 10 s (GETEVENTS: %d) with %d in "
				      "flight:", res->msg[0] ? ";" : "", n, inflight);
			for (int i = 0; i < SLOTS && m < res->msg + sizeof(res->msg) - 64; i++)
				if (slots[i].kind != FREE)
					m += snprintf(m, res->msg + sizeof(res->msg) - m,
						      " %s %s@%lld+%llu%s",
						      slots[i].kind == READ ? "READ" : "SENDFILE",
						      slots[i].f->path + sizeof(KAIO_SCRATCH),
						      (long long)slots[i].off,
						      (unsigned long long)slots[i].len,
						      slots[i].nocache ? "/NC" : "");
			mark_tasks(0);
			_exit(3);
		} else {
			usleep(1000);	/* EINTR, or ENOMEM under injection */
			continue;
		}
		for (int j = 0; j < n; j++) {
			uint64_t i = ev[j].user_data % SLOTS;
			struct slot *s = &slots[i];

			if (s->kind == FREE || ev[j].user_data != s->iocb.user_data) {
				problem(&res->bad_result, "an event for a request not in flight: %llu",
					(unsigned long long)ev[j].user_data);
				continue;
			}
			res->completed++;
			if (s->kind == READ)
				check_read(s, &ev[j]);
			else
				check_send(s, &ev[j]);
			s->kind = FREE;
			inflight--;
		}
		/* Workers the module may have started since: mark them too. */
		since_mark += n;
		if (!stopping && since_mark >= 64) {
			mark_tasks(1);
			since_mark = 0;
		}
	}
	rx_stop = true;
	pthread_join(rxt, NULL);
	kaio_close(&k);
	_exit(0);
}

/* --------------------------------------------------------------------
 * The test.
 */

/* With injection off: a cold READ and two SENDFILEs return the right bytes. */
static void check_normal(struct __test_metadata *_metadata)
{
	static uint8_t buf[(1 << 20) + 3];
	struct kaio_ctx k;
	struct kaio_iocb iocb;
	struct kaio_event ev;

	ASSERT_EQ(0, kaio_setup(&k, 16));
	kaio_drop_caches("1");
	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, S("p_1m3"), O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&k, &iocb, 1));
	ASSERT_EQ(1, kaio_wait(&k, &ev, 1, 1, 30 * SEC));
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(2, ev.step);
	EXPECT_EQ(sizeof(buf), ev.step_result[1]);
	EXPECT_EQ(-1, kaio_pattern_check(buf, sizeof(buf), 3, 0));
	for (int nocache = 0; nocache < 2; nocache++) {
		struct rx r = { .seed = 64, .off = 8 << 20 };
		pthread_t t;
		int tx;

		ASSERT_EQ(0, unix_pair(&tx, &r.fd));
		ASSERT_EQ(0, pthread_create(&t, NULL, rx_run, &r));
		kaio_iocb_init(&iocb, 2);
		kaio_step_open(&iocb, AT_FDCWD, S("p_64m"), O_RDONLY, 0);
		kaio_step_sendfile(&iocb, tx, 8 << 20, 4 << 20)->op_flags =
			nocache ? KAIO_SENDFILE_NOCACHE : 0;
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_submit(&k, &iocb, 1));
		ASSERT_EQ(1, kaio_wait(&k, &ev, 1, 1, 60 * SEC));
		close(tx);
		pthread_join(t, NULL);
		close(r.fd);
		EXPECT_EQ(0, ev.result) TH_LOG("nocache %d", nocache);
		EXPECT_EQ(4 << 20, ev.step_result[1]);
		EXPECT_EQ(4 << 20, r.got);
		EXPECT_EQ(-1, r.bad);
	}
	kaio_close(&k);
}

FIXTURE(fault) {
	char saved[3][NKNOBS][32];
	bool have[3][NKNOBS];
	char vda_saved[8];
	pid_t load;
};

FIXTURE_VARIANT(fault) {
	int mask;
};

FIXTURE_VARIANT_ADD(fault, failslab) { .mask = F_SLAB };
FIXTURE_VARIANT_ADD(fault, fail_page_alloc) { .mask = F_PAGE };
FIXTURE_VARIANT_ADD(fault, fail_make_request) { .mask = F_BIO };
FIXTURE_VARIANT_ADD(fault, all_three) { .mask = F_SLAB | F_PAGE | F_BIO };

FIXTURE_SETUP(fault)
{
	char path[128];

	signal(SIGPIPE, SIG_IGN);
	self->load = 0;
	for (int a = 0; a < 3; a++) {
		snprintf(path, sizeof(path), FI "%s/probability", fi_name[a]);
		if (access(path, W_OK))
			SKIP(return, "no %s (CONFIG_FAULT_INJECTION_DEBUG_FS, debugfs)", path);
		for (size_t i = 0; i < NKNOBS; i++) {
			snprintf(path, sizeof(path), FI "%s/%s", fi_name[a], fi_knobs[i]);
			self->have[a][i] = !read_str(path, self->saved[a][i], sizeof(self->saved[a][i]));
		}
	}
	if (read_str(VDA_FAIL, self->vda_saved, sizeof(self->vda_saved)))
		SKIP(return, "no %s", VDA_FAIL);
	ASSERT_LE(0, kaio_stat("inflight")) TH_LOG("no %s", KAIO_STATS);
}

FIXTURE_TEARDOWN(fault)
{
	char path[128];

	fi_off();
	if (self->load > 0) {
		kill(self->load, SIGKILL);
		waitpid(self->load, NULL, 0);
	}
	/* Every other knob back as it was. */
	for (int a = 0; a < 3; a++) {
		for (size_t i = 0; i < NKNOBS; i++) {
			if (!self->have[a][i])
				continue;
			snprintf(path, sizeof(path), FI "%s/%s", fi_name[a], fi_knobs[i]);
			if (write_str(path, self->saved[a][i]))
				TH_LOG("could not restore %s to %s", path, self->saved[a][i]);
		}
	}
}

TEST_F_TIMEOUT(fault, matrix, 240)
{
	const int secs = stress_level() >= 50 ? 30 : 5;
	long long infl0 = kaio_stat("inflight");
	int64_t start, end, next_drop;
	int st = 0;
	bool reaped = false;

	/* Configure with the probabilities at 0, then turn on. */
	fi_off();
	for (int a = 0; a < 3; a++) {
		if (!(variant->mask & (1 << a)))
			continue;
		ASSERT_EQ(0, fi_set(a, "interval", "1"));
		ASSERT_EQ(0, fi_set(a, "times", "-1"));
		ASSERT_EQ(0, fi_set(a, "verbose", "0"));
		ASSERT_EQ(0, fi_set(a, "space", "0"));
		ASSERT_EQ(0, fi_set(a, "task-filter", "Y"));
		if (a != 2)	/* sleeping allocations too, not only atomic ones */
			ASSERT_EQ(0, fi_set(a, "ignore-gfp-wait", "N"));
		if (a == 0)
			fi_set(a, "cache-filter", "N");
		if (a == 1) {
			ASSERT_EQ(0, fi_set(a, "ignore-gfp-highmem", "N"));
			ASSERT_EQ(0, fi_set(a, "min-order", "0"));
		}
	}
	if (variant->mask & F_BIO)
		ASSERT_EQ(0, write_str(VDA_FAIL, "1"));
	for (int a = 0; a < 3; a++) {
		if (variant->mask & (1 << a))
			ASSERT_EQ(0, fi_set(a, "probability", "10"));
	}
	res = mmap(NULL, sizeof(*res), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, res);
	memset(res, 0, sizeof(*res));
	kaio_drop_caches("1");
	fflush(stdout);
	fflush(stderr);
	self->load = fork();
	ASSERT_LE(0, self->load);
	if (self->load == 0)
		load_main(secs);
	start = now_ns();
	end = start + (secs + 60) * SEC;
	next_drop = start + SEC;
	while (now_ns() < end) {
		pid_t r = waitpid(self->load, &st, WNOHANG);

		if (r == self->load) {
			reaped = true;
			break;
		}
		usleep(50000);
		/* Cold: the page cache goes every second of the load. */
		if (now_ns() >= next_drop && now_ns() - start < secs * SEC) {
			kaio_drop_caches("1");
			next_drop += SEC;
		}
	}
	fi_off();
	if (!reaped) {
		TH_LOG("the load did not finish %d s after its end: its tasks:", 60);
		dump_tasks(self->load);
		kill(self->load, SIGKILL);
		waitpid(self->load, &st, 0);
	}
	self->load = 0;
	EXPECT_TRUE(reaped);
	/* Exit 3: a hang; 10..16: set-up before injection; else a signal. */
	EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0)
		TH_LOG("load: exit %d, signal %d: %s", WIFEXITED(st) ? WEXITSTATUS(st) : -1,
		       WIFSIGNALED(st) ? WTERMSIG(st) : 0, res->msg);
	TH_LOG("%d s: %ld submitted (%ld refused at submit), %ld completed: READ %ld ok, %ld short; "
	       "SENDFILE %ld ok (%ld NOCACHE), %ld short; %ld with an errno",
	       secs, res->submitted, res->refused, res->completed, res->read_ok, res->read_short,
	       res->send_ok, res->nocache_ok, res->send_short, res->errors);
	for (int e = 0; e < NERR; e++) {
		if (res->err_hist[e] || res->refused_hist[e])
			TH_LOG("  errno %d (%s): %ld in completions, %ld at submit", e,
			       e ? strerror(e) : "other", res->err_hist[e], res->refused_hist[e]);
	}
	EXPECT_EQ(0, res->hangs) TH_LOG("%s", res->msg);
	EXPECT_EQ(0, res->bad_data) TH_LOG("%s", res->msg);
	EXPECT_EQ(0, res->bad_result) TH_LOG("%s", res->msg);
	EXPECT_EQ(0, res->rx_timeouts) TH_LOG("%s", res->msg);
	EXPECT_EQ(res->submitted, res->completed);
	/* The load did run: requests went through under injection. */
	EXPECT_LT(0, res->read_ok);
	EXPECT_LT(0, res->send_ok);
	if (res->setup_errors)
		TH_LOG("%ld socket set-ups refused by injection (not kaio's)", res->setup_errors);

	/* Injection off: nothing left in flight, and kaio still works. */
	kaio_stat_wait("inflight", infl0, 5000);
	EXPECT_EQ(infl0, kaio_stat("inflight")) TH_LOG("requests left in flight after the load");
	check_normal(_metadata);
	munmap(res, sizeof(*res));
}

TEST_HARNESS_MAIN
