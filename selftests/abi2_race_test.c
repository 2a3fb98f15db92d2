// SPDX-License-Identifier: GPL-2.0
/*
 * ABI 2 (SEND, RECV, STATX, OPEN with KAIO_OPEN_IN_ROOT, the event's
 * DONE/error/bytes) against a hostile local user: escapes from the root
 * (magic links, renames racing ".."), errors after progress, partial
 * socket writes, teardown and cancel with socket steps parked, corked
 * sends. Each case checks the contract in include/uapi/linux/kaio.h.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name
#define HOT S("bench/hot/h0001")	/* 16 KiB, seed 3001 */
#define HOT_SIZE 16384
#define BIG S("p_1m3")			/* 1048579 bytes */
#define RROOT "/tmp/kaio-rv-root"
#define SECRET "/tmp/kaio-rv-secret"
#ifndef STATX_MNT_ID_UNIQUE
#define STATX_MNT_ID_UNIQUE 0x00004000U
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

static void log_ev(const char *what, const struct kaio_event *ev)
{
	fprintf(stderr, "# %s: flags %#x step %u result %lld error %d bytes %llu"
		" sr0 %lld sr1 %lld sr2 %lld\n", what, ev->flags, ev->step,
		(long long)ev->result, ev->error, (unsigned long long)ev->bytes,
		(long long)ev->step_result[0], (long long)ev->step_result[1],
		(long long)ev->step_result[2]);
}

/* CPU time of the whole process (workers are its threads), in ms. */
static long long cpu_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return ts.tv_sec * 1000ll + ts.tv_nsec / 1000000;
}

/* Waits up to @ms for the stat @name to reach @want; returns its value. */
static long long stat_settles(const char *name, long long want, int ms)
{
	long long end = now_ms() + ms, v;

	while ((v = kaio_stat(name)) != want && now_ms() < end)
		usleep(10 * 1000);
	return v;
}

FIXTURE(rv) {
	struct kaio_ctx k;
};

FIXTURE_SETUP(rv)
{
	signal(SIGPIPE, SIG_IGN);
	ASSERT_EQ(0, kaio_setup(&self->k, 64));
}

FIXTURE_TEARDOWN(rv)
{
	kaio_close(&self->k);
}

/*
 * KAIO_OPEN_IN_ROOT claims openat2(RESOLVE_IN_ROOT) semantics; openat2
 * refuses magic links in a scoped lookup (-EXDEV). kaio follows them, so
 * a path inside the root reaches any file: /proc/self/root is the
 * submitter's real root. Case 1: the root is /proc itself. Case 2 (a
 * container rootfs with its /proc mounted): a symbolic link planted by
 * whoever controls the tree.
 */
TEST_F(rv, in_root_magic_link_escape)
{
	struct open_how how = { .flags = O_RDONLY, .resolve = RESOLVE_IN_ROOT };
	const char *via_proc = "self/root" SECRET;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char buf[32];
	int proc, dir, r;

	write_file(SECRET, "SECRET outside\n");
	proc = open("/proc", O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, proc);
	r = syscall(SYS_openat2, proc, via_proc, &how, sizeof(how));
	fprintf(stderr, "# openat2(/proc, %s, RESOLVE_IN_ROOT) = %d errno %d\n",
		via_proc, r, r < 0 ? errno : 0);
	EXPECT_EQ(-1, r);
	EXPECT_EQ(EXDEV, errno);
	if (r >= 0)
		close(r);

	memset(buf, 0, sizeof(buf));
	kaio_iocb_init(&iocb, 1);
	kaio_step_open_in_root(&iocb, proc, via_proc, O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf) - 1, 0);
	kaio_step_close(&iocb);
	iocb.flags |= KAIO_IOCB_SHORT_OK;
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	log_ev("kaio IN_ROOT /proc self/root/...", &ev);
	fprintf(stderr, "# read: \"%.*s\"\n", (int)strcspn(buf, "\n"), buf);
	EXPECT_EQ(0, ev.step) TH_LOG("OPEN IN_ROOT followed a magic link out of the root");
	EXPECT_EQ(-EXDEV, ev.error);
	EXPECT_EQ(0, buf[0]);

	/* A container-like tree: its own /proc, and a planted symlink. */
	ASSERT_EQ(0, system("rm -rf " RROOT " && mkdir -p " RROOT "/proc"));
	if (mount("proc", RROOT "/proc", "proc", 0, NULL)) {
		fprintf(stderr, "# mount proc: %s (case 2 skipped)\n", strerror(errno));
	} else {
		ASSERT_EQ(0, symlink("/proc/self/root" SECRET, RROOT "/evil"));
		dir = open(RROOT, O_RDONLY | O_DIRECTORY);
		ASSERT_LE(0, dir);
		r = syscall(SYS_openat2, dir, "evil", &how, sizeof(how));
		fprintf(stderr, "# openat2(root, evil, RESOLVE_IN_ROOT) = %d errno %d\n",
			r, r < 0 ? errno : 0);
		if (r >= 0)
			close(r);
		for (int cold = 0; cold < 2; cold++) {
			if (cold)
				kaio_drop_caches("3");
			memset(buf, 0, sizeof(buf));
			kaio_iocb_init(&iocb, 2);
			iocb.flags |= KAIO_IOCB_SHORT_OK;
			kaio_step_open_in_root(&iocb, dir, "evil", O_RDONLY, 0);
			kaio_step_read(&iocb, buf, sizeof(buf) - 1, 0);
			kaio_step_close(&iocb);
			ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
			log_ev("kaio IN_ROOT root/evil -> /proc/self/root/...", &ev);
			fprintf(stderr, "# read: \"%.*s\"\n", (int)strcspn(buf, "\n"), buf);
			EXPECT_EQ(0, ev.step);
			EXPECT_EQ(0, buf[0]) TH_LOG("escaped the root through its /proc");
		}
		close(dir);
		umount2(RROOT "/proc", MNT_DETACH);
	}
	close(proc);
}

/*
 * The header's caveat, measured: a directory renamed out of the root
 * while a worker's walk is inside it lets ".." climb out (chroot
 * semantics; openat2's RESOLVE_IN_ROOT answers -EAGAIN instead). Three
 * seconds of renames; any read of the secret is an escape.
 */
static volatile int race_stop;

static void *renamer(void *arg)
{
	while (!race_stop) {
		rename(RROOT "/a/b", "/tmp/kaio-rv-x/b");
		rename("/tmp/kaio-rv-x/b", RROOT "/a/b");
	}
	return NULL;
}

TEST_F(rv, in_root_dotdot_rename_race)
{
	char path[512] = "a/b", bufs[32][32];
	long long end;
	int dir, escapes = 0, tries = 0;
	pthread_t t;

	write_file(SECRET, "SECRET outside\n");
	ASSERT_EQ(0, system("rm -rf " RROOT " /tmp/kaio-rv-x && mkdir -p /tmp/kaio-rv-x "
			    RROOT "/a/b/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x/x"));
	for (int i = 0; i < 16; i++)
		strcat(path, "/x");
	for (int i = 0; i < 18; i++)
		strcat(path, "/..");
	strcat(path, "/kaio-rv-secret");
	dir = open(RROOT, O_RDONLY | O_DIRECTORY);
	ASSERT_LE(0, dir);
	ASSERT_EQ(0, pthread_create(&t, NULL, renamer, NULL));
	end = now_ms() + 3000;
	while (now_ms() < end && !escapes) {
		struct kaio_iocb iocb[32];
		struct kaio_event ev[32];
		int n;

		for (int i = 0; i < 32; i++) {
			memset(bufs[i], 0, sizeof(bufs[i]));
			kaio_iocb_init(&iocb[i], i);
			kaio_step_open_in_root(&iocb[i], dir, path, O_RDONLY, 0);
			kaio_step_read(&iocb[i], bufs[i], 6, 0);
			kaio_step_close(&iocb[i]);
		}
		n = kaio_submit(&self->k, iocb, 32);
		ASSERT_LT(0, n);
		for (int got = 0; got < n;) {
			int r = kaio_wait(&self->k, ev, 1, 32, 10ll * SEC);

			ASSERT_LT(0, r);
			got += r;
		}
		tries += n;
		for (int i = 0; i < n; i++)
			if (!memcmp(bufs[i], "SECRET", 6))
				escapes++;
	}
	race_stop = 1;
	pthread_join(t, NULL);
	fprintf(stderr, "# %d opens, %d read the file outside the root\n", tries, escapes);
	EXPECT_EQ(0, escapes);
	close(dir);
}

/*
 * IN_ROOT variants that must stay inside: O_CREAT through a dangling
 * absolute symlink, O_TMPFILE, AT_FDCWD as the root, an O_PATH dirfd.
 */
TEST_F(rv, in_root_variants)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	struct stat st;
	char cwd[256], buf[32];
	int dir, opath;

	ASSERT_EQ(0, system("rm -rf " RROOT " /kaio-rv-created && mkdir -p " RROOT "/d"));
	write_file(RROOT "/inside", "inside the root\n");
	ASSERT_EQ(0, symlink("/kaio-rv-created", RROOT "/d/new"));
	dir = open(RROOT, O_RDONLY | O_DIRECTORY);
	opath = open(RROOT, O_PATH | O_DIRECTORY);
	ASSERT_LE(0, dir);
	ASSERT_LE(0, opath);

	/* IN_ROOT opens existing files only: nothing is created anywhere. */
	kaio_iocb_init(&iocb, 1);
	kaio_step_open_in_root(&iocb, dir, "d/new", O_WRONLY | O_CREAT, 0600);
	kaio_step_close(&iocb);
	EXPECT_EQ(-EINVAL, kaio_submit(&self->k, &iocb, 1));
	EXPECT_EQ(-1, stat("/kaio-rv-created", &st)) TH_LOG("created outside the root");
	EXPECT_EQ(-1, stat(RROOT "/kaio-rv-created", &st));
	kaio_iocb_init(&iocb, 2);
	kaio_step_open_in_root(&iocb, dir, "/../..", O_TMPFILE | O_RDWR, 0600);
	kaio_step_close(&iocb);
	EXPECT_EQ(-EINVAL, kaio_submit(&self->k, &iocb, 1));
	kaio_iocb_init(&iocb, 2);
	kaio_step_open_in_root(&iocb, dir, "inside", O_WRONLY | O_TRUNC, 0);
	kaio_step_close(&iocb);
	EXPECT_EQ(-EINVAL, kaio_submit(&self->k, &iocb, 1));
	EXPECT_EQ(0, stat(RROOT "/inside", &st));
	EXPECT_EQ(16, st.st_size);

	for (int i = 0; i < 2; i++) {
		memset(buf, 0, sizeof(buf));
		kaio_iocb_init(&iocb, 3);
		kaio_step_open_in_root(&iocb, i ? opath : dir, "../../../inside", O_RDONLY, 0);
		kaio_step_read(&iocb, buf, 16, 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		EXPECT_EQ(KAIO_EV_DONE, ev.flags) TH_LOG("O_PATH dirfd %d", i);
		EXPECT_STREQ("inside the root\n", buf);
	}

	ASSERT_NE(NULL, getcwd(cwd, sizeof(cwd)));
	ASSERT_EQ(0, chdir(RROOT "/d"));
	kaio_iocb_init(&iocb, 4);
	kaio_step_open_in_root(&iocb, AT_FDCWD, "../inside", O_RDONLY, 0);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
	log_ev("AT_FDCWD ../inside (root = cwd = d)", &ev);
	EXPECT_EQ(-ENOENT, ev.error);
	ASSERT_EQ(0, chdir(cwd));
	close(dir);
	close(opath);
}

/*
 * kaio.h: "A step that fails ends the chain with its -errno (and, if it
 * had moved bytes, with that count)", "error: the -errno that ended the
 * chain", KAIO_EV_DONE: "none failed". A READ that faults after a page,
 * and a WRITE to a socket whose peer leaves mid-way, lose their errno:
 * error 0 ("a short transfer"), and with KAIO_IOCB_SHORT_OK the event
 * even says KAIO_EV_DONE. The same failure in SEND or SENDFILE keeps it.
 */
TEST_F(rv, rw_error_after_progress)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char *buf = mmap(NULL, 8192, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	int file = open(HOT, O_RDONLY);

	ASSERT_NE(MAP_FAILED, buf);
	ASSERT_LE(0, file);
	ASSERT_EQ(0, mprotect(buf + 4096, 4096, PROT_NONE));
	for (int short_ok = 0; short_ok < 2; short_ok++) {
		kaio_iocb_init(&iocb, 1);
		if (short_ok)
			iocb.flags |= KAIO_IOCB_SHORT_OK;
		kaio_step_fd(&iocb, file);
		kaio_step_read(&iocb, buf, 8192, 0);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		log_ev(short_ok ? "READ EFAULT after 4096, SHORT_OK" : "READ EFAULT after 4096", &ev);
		EXPECT_EQ(4096, ev.result);
		EXPECT_EQ(-EFAULT, ev.error) TH_LOG("short_ok %d: errno lost", short_ok);
		EXPECT_EQ(0, ev.flags & KAIO_EV_DONE) TH_LOG("a failed step reported DONE");
	}

	/* WRITE vs SEND to a unix socket whose peer closes mid-way. */
	for (int send = 0; send < 2; send++) {
		static char big[65536];
		int a, b, small = 4096;

		ASSERT_EQ(0, unix_pair(&a, &b));
		ASSERT_EQ(0, setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
		kaio_iocb_init(&iocb, 2);
		kaio_step_fd(&iocb, a);
		if (send)
			kaio_step_send(&iocb, KAIO_FD_CHAIN, big, sizeof(big));
		else
			kaio_step_write(&iocb, big, sizeof(big), 0);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		usleep(100 * 1000);
		if (kaio_peek(&self->k, &ev, 1) == 1) {
			log_ev("finished before the peer left", &ev);
		} else {
			close(b);
			b = -1;
			ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		}
		log_ev(send ? "SEND, peer gone mid-way" : "WRITE, peer gone mid-way", &ev);
		EXPECT_LT(0, ev.result);
		EXPECT_EQ(-EPIPE, ev.error) TH_LOG("%s: errno lost", send ? "SEND" : "WRITE");
		close(a);
		if (b >= 0)
			close(b);
	}
	close(file);
	munmap(buf, 8192);
}

/*
 * STATX of special files (proc, FIFO, pipe, socket, device, debugfs, the
 * kaio device, a block device): every byte equals statx(2)'s on the same
 * fd, except what kaio says it leaves out (mount id and the mount-root
 * attribute); no byte left uninitialised (the buffer starts as 0xa5).
 */
TEST_F(rv, statx_special_files)
{
	unsigned int mask = STATX_BASIC_STATS | STATX_BTIME | STATX_DIOALIGN;
	int sv[2], pp[2], fifo;
	struct {
		const char *name;
		int fd;
	} f[] = {
		{ "/proc/self/status", open("/proc/self/status", O_RDONLY) },
		{ "/proc/self/mem", open("/proc/self/mem", O_RDONLY) },
		{ "fifo", -1 },
		{ "pipe", -1 },
		{ "socket", -1 },
		{ "/dev/null", open("/dev/null", O_RDONLY) },
		{ "/dev/kaio ctx", self->k.fd },
		{ "debugfs stats", open(KAIO_STATS, O_RDONLY) },
		{ "/dev/vda", open("/dev/vda", O_RDONLY) },
		{ "/mnt/scratch (dir)", open(KAIO_SCRATCH, O_RDONLY | O_DIRECTORY) },
	};

	unlink("/tmp/kaio-rv-fifo");
	ASSERT_EQ(0, mkfifo("/tmp/kaio-rv-fifo", 0600));
	fifo = open("/tmp/kaio-rv-fifo", O_RDWR | O_NONBLOCK);
	ASSERT_EQ(0, pipe(pp));
	ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
	f[2].fd = fifo;
	f[3].fd = pp[0];
	f[4].fd = sv[0];
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
		struct statx want, got;
		struct kaio_iocb iocb;
		struct kaio_event ev;

		if (f[i].fd < 0) {
			fprintf(stderr, "# %s: not available\n", f[i].name);
			continue;
		}
		memset(&got, 0xa5, sizeof(got));
		memset(&want, 0, sizeof(want));
		kaio_iocb_init(&iocb, i);
		kaio_step_fd(&iocb, f[i].fd);
		kaio_step_statx(&iocb, &got, mask);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		ASSERT_EQ(0, statx(f[i].fd, "", AT_EMPTY_PATH, mask, &want));
		EXPECT_EQ(KAIO_EV_DONE, ev.flags) TH_LOG("%s", f[i].name);
		/* What kaio documents it leaves out. */
		want.stx_mask &= ~(STATX_MNT_ID | STATX_MNT_ID_UNIQUE);
		want.stx_mnt_id = 0;
		want.stx_attributes &= ~(uint64_t)STATX_ATTR_MOUNT_ROOT;
		want.stx_attributes_mask &= ~(uint64_t)STATX_ATTR_MOUNT_ROOT;
		got.stx_attributes &= ~(uint64_t)STATX_ATTR_MOUNT_ROOT;
		got.stx_attributes_mask &= ~(uint64_t)STATX_ATTR_MOUNT_ROOT;
		if (S_ISBLK(want.stx_mode)) {
			/* A block device's DIO alignment comes from statx(2) itself. */
			want.stx_mask &= ~STATX_DIOALIGN;
			want.stx_dio_mem_align = 0;
			want.stx_dio_offset_align = 0;
		}
		if (S_ISFIFO(want.stx_mode) || S_ISSOCK(want.stx_mode) || i == 0) {
			/* Times of pipes and sockets may move between the calls. */
			got.stx_atime = want.stx_atime;
			got.stx_mtime = want.stx_mtime;
			got.stx_ctime = want.stx_ctime;
		}
		for (size_t b = 0; b < sizeof(got); b++) {
			if (((uint8_t *)&got)[b] != ((uint8_t *)&want)[b]) {
				fprintf(stderr, "# %s: byte %zu: kaio %#x statx(2) %#x"
					" (mask kaio %#x statx %#x, dio_mem_align %u/%u)\n",
					f[i].name, b, ((uint8_t *)&got)[b],
					((uint8_t *)&want)[b], got.stx_mask, want.stx_mask,
					got.stx_dio_mem_align, want.stx_dio_mem_align);
				EXPECT_EQ(-1, (long)b) TH_LOG("%s differs from statx(2)", f[i].name);
				break;
			}
		}
	}
	for (size_t i = 0; i < sizeof(f) / sizeof(f[0]); i++)
		if (f[i].fd >= 0 && f[i].fd != self->k.fd && f[i].fd != fifo &&
		    f[i].fd != pp[0] && f[i].fd != sv[0])
			close(f[i].fd);
	close(fifo);
	close(pp[0]);
	close(pp[1]);
	close(sv[0]);
	close(sv[1]);
	unlink("/tmp/kaio-rv-fifo");
}

/*
 * RECV into memory unmapped after SUBMIT: -EFAULT, and (TCP) the bytes
 * stay in the socket. RECV into a read-only page: the same.
 */
TEST_F(rv, recv_into_unmapped)
{
	for (int ro = 0; ro < 2; ro++) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		char got[8] = { 0 };
		char *page = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
				  MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		int a, b;

		ASSERT_NE(MAP_FAILED, page);
		ASSERT_EQ(0, tcp_pair(&a, &b));
		kaio_iocb_init(&iocb, 1);
		kaio_step_fd(&iocb, b);
		kaio_step_recv(&iocb, a, page, 4096);
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		usleep(50 * 1000);
		if (ro) {
			ASSERT_EQ(0, mprotect(page, 4096, PROT_READ));
		} else {
			ASSERT_EQ(0, munmap(page, 4096));
		}
		ASSERT_EQ(4, write(b, "data", 4));
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		log_ev(ro ? "RECV into read-only page" : "RECV into unmapped page", &ev);
		EXPECT_EQ(-EFAULT, ev.error);
		EXPECT_EQ(4, read_all_within(a, got, 4, 1000));
		EXPECT_EQ(0, memcmp(got, "data", 4));
		if (ro)
			munmap(page, 4096);
		close(a);
		close(b);
	}
}

/*
 * Sockets whose poll may say ready while a non-blocking transfer says
 * EAGAIN must not make a worker spin: RECV on a unix stream holding only
 * an OOB byte, on TCP holding only an urgent byte, on an unbound UDP
 * socket, SEND on TCP still connecting (no listener: refused).
 */
TEST_F(rv, no_spin_on_odd_sockets)
{
	struct sockaddr_in sin = { .sin_family = AF_INET };
	struct kaio_iocb iocb[4];
	struct kaio_event ev[4];
	char buf[4][16];
	int ua, ub, ta, tb, udp, conn;
	long long cpu0, cpu1;
	int n = 0, got = 0;

	ASSERT_EQ(0, unix_pair(&ua, &ub));
	ASSERT_EQ(0, tcp_pair(&ta, &tb));
	udp = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_LE(0, udp);
	ASSERT_EQ(1, send(ub, "o", 1, MSG_OOB));
	ASSERT_EQ(1, send(tb, "u", 1, MSG_OOB));
	usleep(20 * 1000);
	kaio_iocb_init(&iocb[n], 10);
	kaio_step_fd(&iocb[n], ua);
	kaio_step_recv(&iocb[n], KAIO_FD_CHAIN, buf[n], 16);
	n++;
	kaio_iocb_init(&iocb[n], 11);
	kaio_step_fd(&iocb[n], ta);
	kaio_step_recv(&iocb[n], KAIO_FD_CHAIN, buf[n], 16);
	n++;
	kaio_iocb_init(&iocb[n], 12);
	kaio_step_fd(&iocb[n], udp);
	kaio_step_recv(&iocb[n], KAIO_FD_CHAIN, buf[n], 16);
	n++;
	conn = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons(1);
	connect(conn, (void *)&sin, sizeof(sin));
	kaio_iocb_init(&iocb[n], 13);
	kaio_step_fd(&iocb[n], conn);
	kaio_step_send(&iocb[n], KAIO_FD_CHAIN, "x", 1);
	n++;
	cpu0 = cpu_ms();
	ASSERT_EQ(n, kaio_submit(&self->k, iocb, n));
	usleep(500 * 1000);
	cpu1 = cpu_ms();
	got = kaio_peek(&self->k, ev, 4);
	for (int i = 0; i < got; i++)
		log_ev("finished early", &ev[i]);
	fprintf(stderr, "# CPU in 500 ms: %lld ms, %d finished\n", cpu1 - cpu0, got);
	EXPECT_GT(200, cpu1 - cpu0) TH_LOG("a worker spins");
	for (int i = 0; i < n; i++)
		kaio_cancel(&self->k, 10 + i);
	while (got < n) {
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev[0]));
		got++;
	}
	close(ua);
	close(ub);
	close(ta);
	close(tb);
	close(udp);
	close(conn);
}

/*
 * A corked header must never stay behind: SEND -> SENDFILE where the
 * SENDFILE sends nothing (offset past the end: short 0), and SEND ->
 * SENDFILE of cold data cancelled at once. The peer gets everything the
 * event counts within 150 ms (a forgotten MSG_MORE holds bytes for the
 * retransmit timer, >= 200 ms).
 */
TEST_F(rv, cork_never_left)
{
	static const char hdr[] = "HTTP/1.1 200 OK\r\n\r\n";
	static char got[1 << 21];
	size_t hl = sizeof(hdr) - 1;

	for (int shape = 0; shape < 3; shape++) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		int a, b, one = 1, file = open(BIG, O_RDONLY);

		ASSERT_LE(0, file);
		ASSERT_EQ(0, tcp_pair(&a, &b));
		ASSERT_EQ(0, setsockopt(a, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)));
		kaio_iocb_init(&iocb, 1);
		kaio_step_fd(&iocb, file);
		kaio_step_send(&iocb, a, hdr, hl);
		if (shape == 0) {
			kaio_step_sendfile(&iocb, a, 1 << 24, 100);
		} else if (shape == 1) {
			kaio_drop_caches("1");
			kaio_step_sendfile(&iocb, a, 0, 0);
		} else {
			/* SEND -> SEND, the second refused by the peer's state. */
			kaio_step_send(&iocb, a, hdr, hl);
			kaio_step_sendfile(&iocb, a, 1 << 24, 100);
		}
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		if (shape == 1)
			kaio_cancel(&self->k, 1);
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		log_ev(shape == 0 ? "SEND->SENDFILE(past EOF)" :
		       shape == 1 ? "SEND->SENDFILE(cold) cancelled" : "SEND->SEND->SENDFILE(past EOF)",
		       &ev);
		EXPECT_LE(hl, ev.bytes);
		EXPECT_EQ(ev.bytes, read_all_within(b, got, ev.bytes, 150))
			TH_LOG("shape %d: bytes held back", shape);
		close(a);
		close(b);
		close(file);
	}
}

/*
 * Teardown with requests parked on sockets: close of the context, then
 * process exit with the context open and the sockets already closed by
 * the user; then a cycle (the context's fd in flight in the receive
 * queue of a socket a parked SEND holds). Every request and context goes.
 */
static int child_parks(int mode)
{
	struct kaio_ctx k;
	struct kaio_iocb iocb;
	char fill[4096], buf[16];
	int a[8], b[8], c[8], d[8], n = 0;

	if (kaio_setup(&k, 64))
		return 10;
	memset(fill, 'f', sizeof(fill));
	for (int i = 0; i < 8; i++) {
		if (i & 1 ? tcp_pair(&a[i], &b[i]) : unix_pair(&a[i], &b[i]))
			return 11;
		if (i & 1 ? tcp_pair(&c[i], &d[i]) : unix_pair(&c[i], &d[i]))
			return 11;
		/* RECV on a (nobody writes to it). */
		kaio_iocb_init(&iocb, n++);
		if (i & 2) {
			kaio_step_fd(&iocb, a[i]);
			kaio_step_recv(&iocb, KAIO_FD_CHAIN, buf, sizeof(buf));
		} else {
			kaio_step_fd(&iocb, b[i]);
			kaio_step_recv(&iocb, a[i], buf, sizeof(buf));
		}
		if (kaio_submit(&k, &iocb, 1) != 1)
			return 12;
		/* SEND parked on c, full towards d. */
		fcntl(c[i], F_SETFL, O_NONBLOCK);
		fill_fd(c[i], fill, sizeof(fill));
		kaio_iocb_init(&iocb, n++);
		if (i & 2) {
			kaio_step_fd(&iocb, c[i]);
			kaio_step_send(&iocb, KAIO_FD_CHAIN, fill, sizeof(fill));
		} else {
			kaio_step_fd(&iocb, d[i]);
			kaio_step_send(&iocb, c[i], fill, sizeof(fill));
		}
		if (kaio_submit(&k, &iocb, 1) != 1)
			return 13;
	}
	usleep(50 * 1000);
	if (mode == 2) {
		/* The context's fd into c[0]'s receive queue; c[0] is held by
		 * the parked SEND of request 1 (its step's own socket). */
		char ch = 'k';
		struct iovec iov = { &ch, 1 };
		union { struct cmsghdr h; char b[CMSG_SPACE(sizeof(int))]; } u;
		struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1,
				    .msg_control = u.b, .msg_controllen = sizeof(u.b) };
		struct cmsghdr *h = CMSG_FIRSTHDR(&m);

		h->cmsg_level = SOL_SOCKET;
		h->cmsg_type = SCM_RIGHTS;
		h->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(h), &k.fd, sizeof(int));
		if (sendmsg(d[0], &m, MSG_DONTWAIT) != 1)
			return 14;
	}
	if (mode == 0)
		kaio_close(&k);
	for (int i = 0; i < 8; i++) {
		close(a[i]);
		close(b[i]);
		close(c[i]);
		close(d[i]);
	}
	if (mode == 2) {
		munmap(k.ring, k.map_size);
		close(k.fd);
		usleep(100 * 1000);
	}
	return 0;
}

TEST(teardown_with_parked_socket_steps)
{
	long long live0 = kaio_stat("contexts_live");
	long long infl0 = kaio_stat("inflight");

	for (int mode = 0; mode < 3; mode++) {
		int status;
		pid_t pid = fork();

		ASSERT_LE(0, pid);
		if (pid == 0)
			_exit(child_parks(mode));
		ASSERT_EQ(pid, waitpid_within(pid, &status, 20000)) {
			dump_tasks(pid);
			kill(pid, SIGKILL);
		}
		ASSERT_TRUE(WIFEXITED(status));
		EXPECT_EQ(0, WEXITSTATUS(status)) TH_LOG("mode %d", mode);
		EXPECT_EQ(live0, stat_settles("contexts_live", live0, 10000)) TH_LOG("mode %d", mode);
		EXPECT_EQ(infl0, stat_settles("inflight", infl0, 10000)) TH_LOG("mode %d", mode);
	}
}

/* The user closes the sockets a parked RECV holds: EOF from the peer's
 * close, or a cancel; and the events say so consistently. */
TEST_F(rv, user_closes_parked_sockets)
{
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char buf[16];
	int a, b;

	ASSERT_EQ(0, unix_pair(&a, &b));
	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, b);
	kaio_step_recv(&iocb, a, buf, sizeof(buf));
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
	usleep(20 * 1000);
	close(a);
	close(b);	/* the chain's file (b) is still held by the request */
	usleep(50 * 1000);
	ASSERT_EQ(0, kaio_peek(&self->k, &ev, 1));
	ASSERT_EQ(0, kaio_cancel(&self->k, 1));
	ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
	log_ev("RECV on closed fds, cancelled", &ev);
	EXPECT_EQ(KAIO_EV_CANCELED, ev.flags);
	EXPECT_EQ(-ECANCELED, ev.error);

	/* KEEP that cannot be installed (RLIMIT_NOFILE): error, no DONE. */
	{
		struct rlimit rl, low;
		int fds[64], nfd = 0;

		getrlimit(RLIMIT_NOFILE, &rl);
		low = rl;
		low.rlim_cur = 32;
		ASSERT_EQ(0, setrlimit(RLIMIT_NOFILE, &low));
		while (nfd < 64 && (fds[nfd] = open("/dev/null", O_RDONLY)) >= 0)
			nfd++;
		kaio_iocb_init(&iocb, 2);
		kaio_step_open(&iocb, AT_FDCWD, HOT, O_RDONLY, 0);
		kaio_step_keep(&iocb, 1);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		log_ev("KEEP with no fd left", &ev);
		EXPECT_EQ(-EMFILE, ev.result);
		EXPECT_EQ(-EMFILE, ev.error);
		EXPECT_EQ(0, ev.flags & (KAIO_EV_DONE | KAIO_EV_FD));
		while (nfd > 0)
			close(fds[--nfd]);
		setrlimit(RLIMIT_NOFILE, &rl);
	}
}

/*
 * Cancels racing with data: whatever a RECV took from the socket is in
 * its event (bytes), whatever a SEND put in is what the peer reads: no
 * byte lost or double counted, exactly one event per request.
 */
struct pairs {
	int a[8], b[8];
	int delay_us;
};

static void *writer(void *arg)
{
	struct pairs *p = arg;

	for (int i = 0; i < 8; i++) {
		if (p->delay_us)
			usleep(p->delay_us);
		if (write(p->b[i], "0123456789", 10) != 10)
			perror("write");
	}
	return NULL;
}

TEST_F(rv, cancel_accounting_race)
{
	static char big[65536], sink[65536];
	int bad = 0;

	for (int round = 0; round < 150; round++) {
		struct kaio_iocb iocb[8];
		struct kaio_event ev[8];
		struct pairs p = { .delay_us = round % 5 * 20 };
		char buf[8][64];
		pthread_t t;
		int got = 0;

		for (int i = 0; i < 8; i++) {
			ASSERT_EQ(0, unix_pair(&p.a[i], &p.b[i]));
			kaio_iocb_init(&iocb[i], i);
			kaio_step_fd(&iocb[i], p.a[i]);
			kaio_step_recv(&iocb[i], KAIO_FD_CHAIN, buf[i], 64);
		}
		ASSERT_EQ(8, kaio_submit(&self->k, iocb, 8));
		ASSERT_EQ(0, pthread_create(&t, NULL, writer, &p));
		usleep(round % 7 * 15);
		for (int i = 0; i < 8; i++)
			kaio_cancel(&self->k, i);
		while (got < 8) {
			int r = kaio_wait(&self->k, ev + got, 1, 8 - got, 10ll * SEC);

			ASSERT_LT(0, r);
			got += r;
		}
		pthread_join(t, NULL);
		usleep(1000);
		ASSERT_EQ(0, kaio_peek(&self->k, ev, 1)) TH_LOG("a second event");
		for (int i = 0; i < 8; i++) {
			uint64_t ud = ev[i].user_data;
			ssize_t left;

			fcntl(p.a[ud], F_SETFL, O_NONBLOCK);
			left = read(p.a[ud], sink, sizeof(sink));
			if (left < 0)
				left = 0;
			if (ev[i].bytes + left != 10 ||
			    (ev[i].flags & KAIO_EV_CANCELED && ev[i].step_result[1] != (int64_t)ev[i].bytes)) {
				log_ev("RECV accounting", &ev[i]);
				fprintf(stderr, "#   left in socket %zd\n", left);
				bad++;
			}
			close(p.a[ud]);
			close(p.b[ud]);
		}
	}
	EXPECT_EQ(0, bad);

	/* SEND: cancelled mid-way, the event counts what the peer reads. */
	for (int round = 0; round < 20; round++) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		int a, b, small = 4096;
		size_t total = 0;
		ssize_t n;

		ASSERT_EQ(0, unix_pair(&a, &b));
		ASSERT_EQ(0, setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
		kaio_iocb_init(&iocb, 99);
		kaio_step_fd(&iocb, a);
		kaio_step_send(&iocb, KAIO_FD_CHAIN, big, sizeof(big));
		ASSERT_EQ(1, kaio_submit(&self->k, &iocb, 1));
		for (int k = 0; k < round % 6; k++) {
			n = read(b, sink, 1000);
			if (n > 0)
				total += n;
		}
		kaio_cancel(&self->k, 99);
		ASSERT_EQ(1, kaio_wait_one(&self->k, &ev));
		close(a);
		while ((n = read(b, sink, sizeof(sink))) > 0)
			total += n;
		if (ev.bytes != total) {
			log_ev("SEND accounting", &ev);
			fprintf(stderr, "#   peer read %zu\n", total);
			bad++;
		}
		close(b);
	}
	EXPECT_EQ(0, bad);
}

/*
 * (Found on the way; older than ABI 2.) kaio(7): "A WRITE to [a stream]
 * ends when every byte is written." A WRITE to a socket that does not fit
 * the socket's buffer at once: the worker's next call passes the file
 * position off + done, sock_write_iter answers -ESPIPE for any non-zero
 * position, and the step ends short with error 0; with SHORT_OK the
 * event even says KAIO_EV_DONE. A reader drains the peer meanwhile.
 */
struct drain {
	int fd;
	size_t got;
};

static void *drainer(void *arg)
{
	struct drain *d = arg;
	static char sink[65536];
	ssize_t n;

	usleep(200 * 1000);	/* the WRITE fills the socket first */
	while ((n = read(d->fd, sink, sizeof(sink))) > 0)
		d->got += n;
	return NULL;
}

TEST_F(rv, write_socket_partial)
{
	static char big[262144];

	for (int short_ok = 0; short_ok < 2; short_ok++) {
		struct kaio_iocb iocb;
		struct kaio_event ev;
		struct drain d = { 0 };
		pthread_t t;
		int a, b;

		int small = 16384;

		ASSERT_EQ(0, unix_pair(&a, &b));
		ASSERT_EQ(0, setsockopt(a, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)));
		d.fd = b;
		ASSERT_EQ(0, pthread_create(&t, NULL, drainer, &d));
		kaio_iocb_init(&iocb, 1);
		if (short_ok)
			iocb.flags |= KAIO_IOCB_SHORT_OK;
		kaio_step_fd(&iocb, a);
		kaio_step_write(&iocb, big, sizeof(big), 0);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		log_ev(short_ok ? "WRITE 256 KiB to a unix socket, SHORT_OK" :
		       "WRITE 256 KiB to a unix socket", &ev);
		shutdown(a, SHUT_WR);
		pthread_join(t, NULL);
		fprintf(stderr, "# peer read %zu\n", d.got);
		EXPECT_EQ(sizeof(big), ev.result);
		EXPECT_EQ(sizeof(big), d.got);
		close(a);
		close(b);
	}
	/* kaio(7): "offset is ignored for streams". A READ of a socket. */
	{
		struct kaio_iocb iocb;
		struct kaio_event ev;
		char buf[16] = { 0 };
		int a, b;

		ASSERT_EQ(0, unix_pair(&a, &b));
		ASSERT_EQ(5, write(b, "hello", 5));
		kaio_iocb_init(&iocb, 2);
		kaio_step_fd(&iocb, a);
		kaio_step_read(&iocb, buf, sizeof(buf), 100);
		ASSERT_EQ(1, kaio_run1(&self->k, &iocb, &ev));
		log_ev("READ of a socket at offset 100", &ev);
		EXPECT_EQ(5, ev.result);
		close(a);
		close(b);
	}
}

TEST_HARNESS_MAIN
