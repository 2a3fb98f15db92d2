// SPDX-License-Identifier: GPL-2.0
/*
 * kaio-bench: serves the files of a directory to the same TCP receivers by
 * several methods, in one process, with the order of methods rotated
 * between runs, and prints one RESULT line per run:
 *
 *   kaio    compound OPEN -> SENDFILE -> CLOSE, Q in flight (libkaio), one
 *           submitting thread
 *   kaio2   the same from one submitting thread per CPU, each with its own
 *           context and its share of the connections and of Q
 *   single  one thread: open + sendfile + close
 *   pool    T threads (created before the clock): open + sendfile + close
 *   uring   io_uring linked OPENAT(direct) -> (SPLICE file->pipe ->
 *           SPLICE pipe->socket) x chunks -> CLOSE, fixed files, 1 MiB
 *           pipes and splices, COOP_TASKRUN, CQE_SKIP_SUCCESS but on the
 *           last link
 *   disk    the disk's own limit: O_DIRECT reads at queue depth 32
 *
 * Each run ends when the receivers have every byte. Reported per run:
 * MiB/s, files/s, guest CPU seconds and context switches per file (from
 * /proc/stat), p50/p99 request latency and p99 submit latency.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/sendfile.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "kaio.h"

#define MAXCONN 64
#define CHUNK (1 << 20)
#define LINK (~0ull)		/* user_data of the links before CLOSE */

struct fent {
	char path[512];
	off_t size;
};

static struct fent *files;
static int nfiles, nconn = 64, depth = 64, nthreads = 8, passes = 1, use_unix;
static int socks[MAXCONN];
static _Atomic uint64_t *rx_bytes;	/* shared with the receiver */
static uint64_t rx_base;
static pid_t rx_pid;
static double *req_lat, *sub_lat;	/* per request, seconds */
static int nreq;

/* ---- The receivers: one process, epoll over every connection ---- */

/* @lfd: a TCP listener to accept nconn connections from; else @rx. */
static void receiver(int lfd, const int *rx)
{
	int ep = epoll_create1(0);
	char *buf = malloc(1 << 18);

	for (int i = 0; i < nconn; i++) {
		int c = lfd >= 0 ? accept4(lfd, NULL, NULL, SOCK_NONBLOCK) : rx[i];
		struct epoll_event e = { .events = EPOLLIN, .data.fd = c };

		if (c < 0 || fcntl(c, F_SETFL, O_NONBLOCK) ||
		    epoll_ctl(ep, EPOLL_CTL_ADD, c, &e))
			die("receiver accept");
	}
	for (;;) {
		struct epoll_event ev[64];
		int n = epoll_wait(ep, ev, 64, -1);

		for (int i = 0; i < n; i++) {
			ssize_t k;

			while ((k = read(ev[i].data.fd, buf, 1 << 18)) > 0)
				atomic_fetch_add(rx_bytes, k);
			if (k == 0 || (k < 0 && errno != EAGAIN))
				_exit(0);
		}
	}
}

/* Unix stream socket pairs instead of TCP over loopback. */
static void connect_unix(void)
{
	int rx[MAXCONN], sv[2];

	for (int i = 0; i < nconn; i++) {
		if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
			die("socketpair");
		socks[i] = sv[0];
		rx[i] = sv[1];
	}
	rx_bytes = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	rx_pid = fork();
	if (rx_pid == 0) {
		for (int i = 0; i < nconn; i++)
			close(socks[i]);
		receiver(-1, rx);
	}
	for (int i = 0; i < nconn; i++)
		close(rx[i]);
}

static void connect_all(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t alen = sizeof(a);
	int lfd;

	if (use_unix) {
		connect_unix();
		return;
	}
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(lfd, (void *)&a, sizeof(a)) || listen(lfd, MAXCONN) ||
	    getsockname(lfd, (void *)&a, &alen))
		die("listen");
	rx_bytes = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	rx_pid = fork();
	if (rx_pid == 0)
		receiver(lfd, NULL);
	for (int i = 0; i < nconn; i++) {
		socks[i] = socket(AF_INET, SOCK_STREAM, 0);
		if (connect(socks[i], (void *)&a, sizeof(a)))
			die("connect");
		/* Nonblocking readers would add retries; keep them blocking. */
	}
	close(lfd);
}

/* ---- /proc/stat ---- */

struct cpu {
	unsigned long long busy, ctxt;
};

static struct cpu cpu_now(void)
{
	unsigned long long v[10] = { 0 };
	struct cpu c = { 0 };
	char line[512];
	FILE *f = fopen("/proc/stat", "r");

	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "cpu ", 4)) {
			sscanf(line + 4, "%llu %llu %llu %llu %llu %llu %llu %llu", &v[0], &v[1],
			       &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]);
			c.busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7];
		} else if (!strncmp(line, "ctxt ", 5)) {
			c.ctxt = strtoull(line + 5, NULL, 10);
		}
	}
	if (f)
		fclose(f);
	return c;
}

/* ---- Methods ---- */

static int file_of(int r)
{
	return r % nfiles;
}

static void send_all(int sock, int fd, off_t size)
{
	off_t off = 0;

	while (off < size) {
		ssize_t n = sendfile(sock, fd, &off, size - off);

		if (n <= 0)
			die("sendfile");
	}
}

static int run_single(void)
{
	for (int r = 0; r < nreq; r++) {
		struct fent *f = &files[file_of(r)];
		double t0 = now();
		int fd = open(f->path, O_RDONLY);

		if (fd < 0)
			die("open");
		send_all(socks[r % nconn], fd, f->size);
		close(fd);
		req_lat[r] = sub_lat[r] = now() - t0;
	}
	return 0;
}

static _Atomic int pool_next;
static pthread_barrier_t pool_go, pool_done;

static void *pool_thread(void *arg)
{
	long t = (long)arg;

	for (;;) {
		pthread_barrier_wait(&pool_go);
		for (int k = 0;; k++) {
			int r = atomic_fetch_add(&pool_next, 1);
			struct fent *f;
			double t0;
			int fd;

			if (r >= nreq)
				break;
			f = &files[file_of(r)];
			t0 = now();
			fd = open(f->path, O_RDONLY);
			if (fd < 0)
				die("open");
			/* Thread t owns connections t, t + T, ...: one file each at a time. */
			send_all(socks[(t + (long)(k % (nconn / nthreads)) * nthreads) % nconn], fd, f->size);
			close(fd);
			req_lat[r] = now() - t0;
			sub_lat[r] = 0;
		}
		pthread_barrier_wait(&pool_done);
	}
	return NULL;
}

static void pool_start(void)
{
	pthread_barrier_init(&pool_go, NULL, nthreads + 1);
	pthread_barrier_init(&pool_done, NULL, nthreads + 1);
	for (long t = 0; t < nthreads; t++) {
		pthread_t th;

		pthread_create(&th, NULL, pool_thread, (void *)t);
	}
}

static int run_pool(void)
{
	double t0 = now();

	atomic_store(&pool_next, 0);
	pthread_barrier_wait(&pool_go);
	pthread_barrier_wait(&pool_done);
	/* Handing a request to the pool costs an atomic increment. */
	(void)t0;
	return 0;
}

/*
 * One kaio submitter: its own context, connections t, t + S, ... (S
 * submitters) with one file each in flight, requests taken from a shared
 * counter. One submitter is the method "kaio"; "kaio2" runs one per CPU,
 * as an event-driven server runs one loop per CPU.
 */
static _Atomic int kaio_next;
static _Atomic int kaio_errors;
static int kaio_nsub;

static void *kaio_submitter(void *arg)
{
	static struct kaio_ctx ctxs[MAXCONN];
	static int ready[MAXCONN];
	long t = (long)arg;
	struct kaio_ctx *k = &ctxs[t];
	struct kaio_iocb iocb[MAXCONN];
	struct kaio_event ev[MAXCONN];
	double start[MAXCONN];
	int freec[MAXCONN], nfree = 0, inflight = 0, errors = 0, more = 1;

	if (!ready[t]) {
		if (kaio_setup(k, 256))
			die("kaio_setup");
		ready[t] = 1;
	}
	for (int c = t; c < nconn && c < depth; c += kaio_nsub)
		freec[nfree++] = c;
	while (more || inflight) {
		int n = 0;
		double t0, dt;

		while (more && nfree) {
			int r = atomic_fetch_add(&kaio_next, 1), c;
			struct fent *f;

			if (r >= nreq) {
				more = 0;
				break;
			}
			c = freec[--nfree];
			f = &files[file_of(r)];
			kaio_iocb_init(&iocb[n], ((uint64_t)c << 32) | r);
			kaio_step_open(&iocb[n], AT_FDCWD, f->path, O_RDONLY, 0);
			kaio_step_sendfile(&iocb[n], socks[c], 0, 0);
			kaio_step_close(&iocb[n]);
			start[c] = now();
			n++;
		}
		if (n) {
			t0 = now();
			if (kaio_submit(k, iocb, n) != n)
				die("kaio_submit");
			dt = (now() - t0) / n;
			for (int j = 0; j < n; j++)
				sub_lat[(uint32_t)iocb[j].user_data] = dt;
			inflight += n;
		}
		if (!inflight)
			break;
		n = kaio_peek(k, ev, MAXCONN);
		if (!n)
			n = kaio_wait(k, ev, 1, MAXCONN, -1);
		for (int j = 0; j < n; j++) {
			int c = ev[j].user_data >> 32, r = (uint32_t)ev[j].user_data;

			req_lat[r] = now() - start[c];
			errors += ev[j].result != 0;
			freec[nfree++] = c;
			inflight--;
		}
	}
	atomic_fetch_add(&kaio_errors, errors);
	return NULL;
}

/* kaio2's submitters: one per CPU (at least 2, at most the connections). */
static int kaio2_subs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	if (n < 2)
		n = 2;
	return n > nconn ? nconn : n;
}

static int run_kaio(int nsub)
{
	pthread_t th[MAXCONN];

	kaio_nsub = nsub;
	atomic_store(&kaio_next, 0);
	atomic_store(&kaio_errors, 0);
	if (nsub == 1) {
		kaio_submitter((void *)0L);
		return atomic_load(&kaio_errors);
	}
	for (long t = 0; t < nsub; t++)
		if (pthread_create(&th[t], NULL, kaio_submitter, (void *)t))
			die("pthread_create");
	for (int t = 0; t < nsub; t++)
		pthread_join(th[t], NULL);
	return atomic_load(&kaio_errors);
}

static int run_uring(void)
{
	static struct io_uring ring;
	static int pipes[MAXCONN][2], ready;
	double start[MAXCONN];
	int freec[MAXCONN], nfree = 0, next = 0, done = 0, errors = 0;

	if (!ready) {
		struct io_uring_params p = { .flags = IORING_SETUP_COOP_TASKRUN };
		int fds[2 * MAXCONN];

		if (io_uring_queue_init_params(2048, &ring, &p))
			die("io_uring_queue_init");
		for (int c = 0; c < nconn; c++) {
			if (pipe(pipes[c]) || fcntl(pipes[c][1], F_SETPIPE_SZ, CHUNK) < CHUNK)
				die("pipe");
		}
		/* Slots 0..n-1: the files OPENAT installs; n..2n-1: the sockets. */
		for (int i = 0; i < nconn; i++) {
			fds[i] = -1;
			fds[nconn + i] = socks[i];
		}
		if (io_uring_register_files(&ring, fds, 2 * nconn))
			die("io_uring_register_files");
		ready = 1;
	}
	for (int c = 0; c < nconn && c < depth; c++)
		freec[nfree++] = c;
	while (done < nreq) {
		struct io_uring_cqe *cqe;
		int queued = 0;

		while (nfree && next < nreq) {
			int c = freec[--nfree], r = next++;
			struct fent *f = &files[file_of(r)];
			int chunks = (f->size + CHUNK - 1) / CHUNK;
			struct io_uring_sqe *sqe = io_uring_get_sqe(&ring);

			io_uring_prep_openat_direct(sqe, AT_FDCWD, f->path, O_RDONLY, 0, c);
			sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
			sqe->user_data = LINK;
			for (int k = 0; k < chunks; k++) {
				unsigned int len = f->size - (off_t)k * CHUNK < CHUNK ?
						   f->size - (off_t)k * CHUNK : CHUNK;

				sqe = io_uring_get_sqe(&ring);
				io_uring_prep_splice(sqe, c, (int64_t)k * CHUNK, pipes[c][1], -1, len,
						     SPLICE_F_FD_IN_FIXED | SPLICE_F_MOVE);
				sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS;
				sqe->user_data = LINK;
				sqe = io_uring_get_sqe(&ring);
				io_uring_prep_splice(sqe, pipes[c][0], -1, nconn + c, -1, len,
						     SPLICE_F_MOVE);
				sqe->flags |= IOSQE_IO_LINK | IOSQE_CQE_SKIP_SUCCESS | IOSQE_FIXED_FILE;
				sqe->user_data = LINK;
			}
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_close_direct(sqe, c);
			sqe->user_data = ((uint64_t)c << 32) | r;
			start[c] = now();
			queued++;
		}
		if (queued) {
			double t0 = now(), dt;
			int r0 = next - queued;

			if (io_uring_submit(&ring) < 0)
				die("io_uring_submit");
			dt = (now() - t0) / queued;
			for (int j = r0; j < next; j++)
				sub_lat[j] = dt;
		}
		if (io_uring_wait_cqe(&ring, &cqe))
			die("io_uring_wait_cqe");
		do {
			/* Only failures and the CLOSE at the end of a chain post CQEs. */
			if (cqe->user_data != LINK) {
				int c = cqe->user_data >> 32, r = (uint32_t)cqe->user_data;

				if (cqe->res < 0)
					errors++;
				req_lat[r] = now() - start[c];
				freec[nfree++] = c;
				done++;
			} else {
				errors++;
			}
			io_uring_cqe_seen(&ring, cqe);
		} while (io_uring_peek_cqe(&ring, &cqe) == 0);
	}
	return errors;
}

static int run_disk(void)
{
	static struct io_uring ring;
	static void *bufs[32];
	static int ready;
	int fd = -1, f = -1, inflight = 0;
	off_t off = 0;
	int r = 0;

	if (!ready) {
		if (io_uring_queue_init(64, &ring, 0))
			die("io_uring_queue_init");
		for (int i = 0; i < 32; i++)
			if (posix_memalign(&bufs[i], 4096, CHUNK))
				die("memalign");
		ready = 1;
	}
	for (;;) {
		struct io_uring_cqe *cqe;

		while (inflight < 32 && r < nreq) {
			struct io_uring_sqe *sqe;

			if (fd < 0 || off >= files[f].size) {
				if (fd >= 0)
					close(fd);
				f = file_of(r);
				fd = open(files[f].path, O_RDONLY | O_DIRECT);
				if (fd < 0)
					die("open O_DIRECT");
				off = 0;
				req_lat[r] = sub_lat[r] = 0;
				r++;
			}
			sqe = io_uring_get_sqe(&ring);
			io_uring_prep_read(sqe, fd, bufs[inflight], CHUNK, off);
			off += CHUNK;
			inflight++;
			io_uring_submit(&ring);
		}
		if (!inflight)
			break;
		io_uring_wait_cqe(&ring, &cqe);
		if (cqe->res < 0)
			die("O_DIRECT read");
		io_uring_cqe_seen(&ring, cqe);
		inflight--;
		if (r >= nreq && !inflight && (fd < 0 || off >= files[f].size))
			break;
	}
	if (fd >= 0)
		close(fd);
	return 0;
}

/* ---- Driver ---- */

static int cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

static double pct(double *v, int n, double p)
{
	qsort(v, n, sizeof(*v), cmp);
	return v[(int)((n - 1) * p)];
}

/* kaio's counters that tell the hops per file (debugfs). */
static const char *const hop_names[] = {
	"inline_completions", "inline_punts", "worker_runs", "poll_parks",
	"parked_reads", "irq_completions",
};
#define NHOPS (sizeof(hop_names) / sizeof(hop_names[0]))

static void kaio_hops(long long *v)
{
	FILE *f = fopen("/sys/kernel/debug/kaio/stats", "r");
	char key[64];
	long long val;

	memset(v, 0, NHOPS * sizeof(*v));
	while (f && fscanf(f, "%63s %lld", key, &val) == 2)
		for (size_t i = 0; i < NHOPS; i++)
			if (!strcmp(key, hop_names[i]))
				v[i] = val;
	if (f)
		fclose(f);
}

static void drop_caches(void)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd < 0 || write(fd, "3\n", 2) != 2)
		die("drop_caches");
	close(fd);
}

static void load_dir(const char *dir)
{
	struct dirent **ents;
	int n = scandir(dir, &ents, NULL, alphasort);

	files = calloc(n, sizeof(*files));
	for (int i = 0; i < n; i++) {
		struct stat st;

		snprintf(files[nfiles].path, sizeof(files[nfiles].path), "%s/%s", dir, ents[i]->d_name);
		if (!stat(files[nfiles].path, &st) && S_ISREG(st.st_mode)) {
			files[nfiles].size = st.st_size;
			nfiles++;
		}
		free(ents[i]);
	}
	free(ents);
}

int main(int argc, char **argv)
{
	const char *dir = NULL, *workload = "run", *methods = "kaio,single,pool,uring";
	int runs = 3, drop = 0, opt;
	uint64_t bytes = 0;
	char *names[8];
	int nm = 0;

	while ((opt = getopt(argc, argv, "d:w:m:r:p:q:t:c:Du")) != -1) {
		switch (opt) {
		case 'd': dir = optarg; break;
		case 'w': workload = optarg; break;
		case 'm': methods = optarg; break;
		case 'r': runs = atoi(optarg); break;
		case 'p': passes = atoi(optarg); break;
		case 'q': depth = atoi(optarg); break;
		case 't': nthreads = atoi(optarg); break;
		case 'c': nconn = atoi(optarg); break;
		case 'D': drop = 1; break;
		case 'u': use_unix = 1; break;
		default:
			fprintf(stderr, "usage: %s -d DIR [-w NAME] [-m kaio,kaio2,single,pool,uring,disk] [-r RUNS] [-p PASSES] [-q DEPTH] [-t THREADS] [-c CONNS] [-D] [-u]\n", argv[0]);
			return 2;
		}
	}
	if (!dir)
		return 2;
	signal(SIGPIPE, SIG_IGN);
	load_dir(dir);
	if (!nfiles)
		die("no files");
	nreq = nfiles * passes;
	for (int i = 0; i < nreq; i++)
		bytes += files[file_of(i)].size;
	req_lat = calloc(nreq, sizeof(double));
	sub_lat = calloc(nreq, sizeof(double));
	for (char *m = strtok(strdup(methods), ","); m && nm < 8; m = strtok(NULL, ","))
		names[nm++] = m;
	connect_all();
	pool_start();
	printf("# %s: %d files, %.1f MiB per run (%d passes), %d %s connections, kaio/uring depth %d, pool %d threads%s\n",
	       workload, nfiles, bytes / 1048576.0, passes, nconn, use_unix ? "unix" : "TCP", depth, nthreads,
	       drop ? ", page cache dropped before each run" : "");
	for (int run = 0; run < runs; run++) {
		for (int j = 0; j < nm; j++) {
			const char *m = names[(j + run) % nm];	/* rotate the order */
			int disk = !strcmp(m, "disk"), errors;
			struct cpu c0, c1;
			double t0, t1;

			if (drop)
				drop_caches();
			rx_base = atomic_load(rx_bytes);
			c0 = cpu_now();
			t0 = now();
			if (!strncmp(m, "kaio", 4)) {
				long long h0[NHOPS], h1[NHOPS];

				kaio_hops(h0);
				errors = run_kaio(strcmp(m, "kaio2") ? 1 : kaio2_subs());
				kaio_hops(h1);
				printf("# %s %s run %d per file:", workload, m, run);
				for (size_t i = 0; i < NHOPS; i++)
					printf(" %s %.3f", hop_names[i], (h1[i] - h0[i]) / (double)nreq);
				printf("\n");
			}
			else if (!strcmp(m, "single"))
				errors = run_single();
			else if (!strcmp(m, "pool"))
				errors = run_pool();
			else if (!strcmp(m, "uring"))
				errors = run_uring();
			else
				errors = run_disk();
			/* The run ends when the receivers hold every byte. */
			while (!disk && atomic_load(rx_bytes) - rx_base < bytes)
				usleep(200);
			t1 = now();
			c1 = cpu_now();
			printf("RESULT %s %s %d %.1f %.0f %.2f %.2f %.3f %.3f %.1f %d\n", workload, m, run,
			       bytes / 1048576.0 / (t1 - t0), nreq / (t1 - t0),
			       (c1.busy - c0.busy) / (double)sysconf(_SC_CLK_TCK),
			       (double)(c1.ctxt - c0.ctxt) / nreq,
			       disk ? 0 : pct(req_lat, nreq, 0.5) * 1e3,
			       disk ? 0 : pct(req_lat, nreq, 0.99) * 1e3,
			       disk ? 0 : pct(sub_lat, nreq, 0.99) * 1e6, errors);
			fflush(stdout);
		}
	}
	/* io_uring's fixed-file table still holds the sockets: no EOF. */
	kill(rx_pid, SIGKILL);
	waitpid(rx_pid, NULL, 0);
	return 0;
}
