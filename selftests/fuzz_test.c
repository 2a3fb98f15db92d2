// SPDX-License-Identifier: GPL-2.0
/*
 * An ioctl fuzzer for /dev/kaio.
 *
 * The test (root) prepares a sandbox: a small tmpfs at /tmp/kaio-fuzz and a
 * directory on the scratch disk, with regular files, a FIFO, symlinks (one a
 * loop), device nodes for /dev/null and /dev/kaio, plus pipes, unix socket
 * pairs, a TCP loopback pair, eventfds and a memfd. A child opens what it
 * needs, drops to nobody and fuzzes from several threads: contexts shared or
 * per thread, closed and reopened under the other threads' feet (also
 * through a dup'd fd), SETUP with odd sizes, mmap with odd lengths, offsets,
 * protections and flags, and every ioctl with NULL, kernel, unmapped and
 * page-straddling pointers, random bytes, or a valid structure with one field
 * mutated (iocb chains of every opcode, fd, length and offset).
 *
 * What must hold: every ioctl returns >= 0 or an errno of the allowed set;
 * the fuzzer is never killed by a signal (other than SIGKILL or SIGXFSZ);
 * no ioctl stays stuck in the kernel; events are well formed; and
 * afterwards a plain OPEN -> READ -> CLOSE returns the right bytes and the
 * module's "inflight" and "contexts_live" drop back to 0.
 *
 * The fuzzer only opens sandbox paths (a fixed list, plus garbage names
 * without '/', relative to sandbox directories) and only passes sandbox fds,
 * its contexts and invalid numbers as fds, so it cannot damage the guest.
 * Memory the kernel may write asynchronously (READ buffers, event arrays)
 * lies in arenas followed by a PROT_NONE page that are never unmapped, so a
 * huge length ends in EFAULT instead of in the fuzzer's own heap.
 *
 * Environment: kaiofuzz=N ioctls in all (default 20000), kaioseed=S (the
 * default is printed), kaiothreads=N (default 4; with 1 a seed replays the
 * same sequence of calls), kaiotrace=1 prints every ioctl before issuing it
 * (to find the one that crashed a kernel; requests run asynchronously, so
 * also look at the registers of the report for offsets and lengths).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_sys.h"

#define SBX		"/tmp/kaio-fuzz"
#define SBX_EXT4	KAIO_SCRATCH "/kaio-fuzz"

#define DEFAULT_IOCTLS	20000
#define DEFAULT_SEED	0x6b61696fu	/* "kaio" */
#define DEFAULT_THREADS	4
#define MAX_THREADS	16
#define NSHARED		3		/* contexts shared by all threads */
#define MAX_SLOTS	(NSHARED + MAX_THREADS)
#define MAX_SFDS	64
#define NOFILE		65536
#define PAGE		4096ul

#define ARENA		(256ul << 10)	/* READ/WRITE buffers */
#define EVARENA		(64ul << 10)	/* GETEVENTS arrays */
#define ARGBUF		(64ul << 10)	/* ioctl structures, iocb arrays */
#define RO_SIZE		(64ul << 10)
#define HOLE_SIZE	(64ul << 10)
#define MAX_IOCBS	64
#define EV_SZ		sizeof(struct kaio_event)
#define NRECENT		256

#define KADDR1		0xffff888000000000ull	/* direct map */
#define KADDR2		0xffffffff81000000ull	/* kernel text */
#define NONCANON	0x0000800000000000ull	/* just past user space */

/* Shared between the test and the fuzzing child. */
struct fuzz_shared {
	uint64_t ioctls, ok, failures, events, keep_closed, ctx_opens;
	uint64_t submitted, stuck_signals, maps;
	uint64_t err[256];
	double secs;
	char stage[64];
};

struct cfg {
	uint64_t ioctls;
	uint32_t seed;
	int threads;
	int trace;
};

/* ------------------------------------------------------------------------
 * Random numbers: splitmix64, one stream per thread.
 */
struct rng {
	uint64_t s;
};

static uint64_t rnd(struct rng *r)
{
	uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);

	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
	z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
	return z ^ (z >> 31);
}

static uint64_t below(struct rng *r, uint64_t n)
{
	return n ? rnd(r) % n : 0;
}

static int one_in(struct rng *r, uint64_t n)
{
	return below(r, n) == 0;
}

/* ------------------------------------------------------------------------
 * The fuzzing child's state.
 */
enum fk {
	FK_RO, FK_RW, FK_WO, FK_DIRECT, FK_DIR, FK_OPATH, FK_PIPE_R, FK_PIPE_W,
	FK_FIFO, FK_SOCK, FK_DSOCK, FK_LISTEN, FK_NULL, FK_EVENTFD, FK_MEMFD,
	FK_EPOLL, FK_BIG, FK_NR
};

struct sfd {
	int fd;
	enum fk kind;
};

struct slot {
	pthread_mutex_t lock;
	int fd, alt;			/* read without the lock by ioctls */
	void *map;
	size_t maplen;
	int mapprot, mapflags;
	void *oldmap;			/* keeps a closed context alive */
	size_t oldlen;
	int setup_known;
	uint32_t entries, ring_size, events_off;
};

struct thr {
	int id;
	pthread_t th;
	struct rng r;
	char *arena, *evs, *args;
	struct kaio_iocb iocbs[MAX_IOCBS];
	char garbage[4][320];
	uint64_t iter;
	uint64_t udseq;
	uint64_t busy_since;		/* ns, 0 when not in an ioctl */
	unsigned long busy_cmd;
	uint64_t last_sig;		/* watchdog: last SIGUSR1 */
	int done;
};

static struct cfg cfg;
static struct fuzz_shared *sh;
static struct sfd sfds[MAX_SFDS];
static int nsfds, max_fixed_fd;
static int by_kind[FK_NR][8], nby_kind[FK_NR];
static int efds[2];
static unsigned char owner[NOFILE];	/* 1: sandbox fd, 2: a context */
static struct slot slots[MAX_SLOTS];
static struct thr thr[MAX_THREADS];
static char *ro_mem, *hole, *strpage, *longpath, *namemax;
static uint64_t recent_ud[NRECENT];
static unsigned int recent_pos;
static int stop_fuzz, stop_pump;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

/* Pump: keeps pipes, FIFO and sockets moving so no worker blocks for ever. */
struct pumpfd {
	int fd;
	int sock;
	int rd, wr;
};
static struct pumpfd pumpfds[32];
static int npump;

static void say(const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&log_lock);
	va_start(ap, fmt);
	fputs("# ", stdout);
	vprintf(fmt, ap);
	fputc('\n', stdout);
	fflush(stdout);
	va_end(ap);
	pthread_mutex_unlock(&log_lock);
}

static void failure(const char *fmt, ...)
{
	uint64_t n = __atomic_add_fetch(&sh->failures, 1, __ATOMIC_RELAXED);
	char buf[512];
	va_list ap;

	if (n > 40)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	say("FAIL: %s (seed %#x)", buf, cfg.seed);
}

static void stage(const char *s)
{
	snprintf(sh->stage, sizeof(sh->stage), "%s", s);
}

/* ------------------------------------------------------------------------
 * ioctls: the wrapper checks the errno of every one.
 */
static const int allowed_errno[] = {
	EINVAL, EFAULT, EBADF, ENOTTY, EAGAIN, ENOENT, EBUSY, ENAMETOOLONG,
	ENOMEM, EINTR, ENOTDIR, EISDIR, EACCES, EPERM, ESPIPE, ENXIO, EMFILE,
	ENFILE, EOPNOTSUPP, ELOOP, EEXIST, EROFS, ETXTBSY, ENODEV, EOVERFLOW,
	E2BIG, EFBIG, ENOSPC, EXDEV,
};

static int errno_allowed(int e)
{
	for (size_t i = 0; i < sizeof(allowed_errno) / sizeof(allowed_errno[0]); i++)
		if (allowed_errno[i] == e)
			return 1;
	return 0;
}

static const char *cmd_name(unsigned long cmd)
{
	switch (cmd) {
	case KAIO_IOC_VERSION: return "VERSION";
	case KAIO_IOC_SETUP: return "SETUP";
	case KAIO_IOC_SUBMIT: return "SUBMIT";
	case KAIO_IOC_GETEVENTS: return "GETEVENTS";
	case KAIO_IOC_CANCEL: return "CANCEL";
	case KAIO_IOC_EVENTFD: return "EVENTFD";
	}
	return "other";
}

/* Hex of the first bytes of the argument, if it is the valid buffer. */
static void hexarg(struct thr *t, char *out, size_t outlen, const void *arg, size_t len)
{
	const unsigned char *p = arg;
	size_t o = 0;

	out[0] = 0;
	if (arg != t->args)
		return;
	for (size_t i = 0; i < len && o + 3 < outlen; i++)
		o += snprintf(out + o, outlen - o, "%02x", p[i]);
}

static void ignore(long v)
{
	(void)v;
}

static long fz_ioctl(struct thr *t, int fd, unsigned long cmd, void *arg, const char *what)
{
	long r;
	int e;

	if (cfg.trace)
		say("T%d #%llu ioctl(%d, %#lx %s, %p) %s", t->id,
		    (unsigned long long)t->iter, fd, cmd, cmd_name(cmd), arg, what);
	t->busy_cmd = cmd;
	__atomic_store_n(&t->busy_since, now_ns(), __ATOMIC_RELEASE);
	r = ioctl(fd, cmd, arg);
	e = errno;
	__atomic_store_n(&t->busy_since, 0, __ATOMIC_RELEASE);
	__atomic_add_fetch(&sh->ioctls, 1, __ATOMIC_RELAXED);
	if (r >= 0) {
		__atomic_add_fetch(&sh->ok, 1, __ATOMIC_RELAXED);
	} else {
		__atomic_add_fetch(&sh->err[e & 255], 1, __ATOMIC_RELAXED);
		if (!errno_allowed(e)) {
			char hex[200];

			hexarg(t, hex, sizeof(hex), arg, _IOC_SIZE(cmd) < 64 ? _IOC_SIZE(cmd) : 64);
			failure("T%d #%llu: ioctl(fd %d, cmd %#lx %s, arg %p %s) failed with errno %d (%s); arg bytes: %s",
				t->id, (unsigned long long)t->iter, fd, cmd, cmd_name(cmd), arg,
				what, e, strerror(e), hex);
		}
	}
	errno = e;
	return r;
}

/* ------------------------------------------------------------------------
 * Choices: fds, paths, buffers, lengths, offsets.
 */
static int sfd_of(struct rng *r, enum fk k)
{
	return nby_kind[k] ? by_kind[k][below(r, nby_kind[k])] : -1;
}

static int any_sfd(struct rng *r)
{
	return sfds[below(r, nsfds)].fd;
}

static int slot_fd_racy(struct rng *r)
{
	struct slot *s = &slots[below(r, NSHARED + cfg.threads)];
	int fd = __atomic_load_n(one_in(r, 4) ? &s->alt : &s->fd, __ATOMIC_RELAXED);

	return fd;
}

static int invalid_fd(struct rng *r)
{
	static const int v[] = { -1, -2, INT_MAX, INT_MIN, 1 << 20, AT_FDCWD };

	if (one_in(r, 3))
		return 60000 + (int)below(r, 5000);	/* never open */
	return v[below(r, sizeof(v) / sizeof(v[0]))];
}

enum role { R_ANY, R_IN, R_OUT };

static int fd_pick(struct rng *r, enum role role)
{
	unsigned int p = below(r, 100);

	if (p < 8)
		return slot_fd_racy(r);
	if (p < 16)
		return invalid_fd(r);
	if (p < 30)
		return any_sfd(r);
	switch (role) {
	case R_IN:
		if (one_in(r, 50))
			return sfd_of(r, FK_BIG);
		switch (below(r, 10)) {
		case 0: case 1: case 2: case 3: return sfd_of(r, FK_RO);
		case 4: case 5: return sfd_of(r, FK_RW);
		case 6: return sfd_of(r, FK_DIRECT);
		case 7: return sfd_of(r, FK_MEMFD);
		case 8: return sfd_of(r, one_in(r, 2) ? FK_SOCK : FK_DSOCK);
		default: return sfd_of(r, one_in(r, 2) ? FK_PIPE_R : FK_FIFO);
		}
	case R_OUT:
		switch (below(r, 10)) {
		case 0: case 1: return sfd_of(r, FK_SOCK);
		case 2: return sfd_of(r, FK_DSOCK);
		case 3: case 4: return sfd_of(r, FK_PIPE_W);
		case 5: return sfd_of(r, FK_FIFO);
		case 6: case 7: return sfd_of(r, FK_RW);
		case 8: return sfd_of(r, FK_NULL);
		default: return sfd_of(r, FK_WO);
		}
	default:
		return any_sfd(r);
	}
}

static const char *const fixed_paths[] = {
	"f0", "f1", "f2", SBX "/f1", "ro", "dir", "dir/f", "dir/../f0", "dir/",
	"fifo", "link", "loop1", "dangling", "kaio", "null", "rootdir",
	"rootdir/x", ".", "..", "", "nonexistent", "f0/x",
	SBX_EXT4 "/e0", SBX_EXT4 "/e1", SBX_EXT4 "/edir", SBX_EXT4 "/new",
	KAIO_SCRATCH "/p_0", KAIO_SCRATCH "/p_1", KAIO_SCRATCH "/p_4095",
	KAIO_SCRATCH "/p_4096", KAIO_SCRATCH "/p_4097", KAIO_SCRATCH "/p_1m3",
	KAIO_SCRATCH "/root_only", KAIO_SCRATCH "/root_dir/file", "/dev/null",
};
/* Names the janitor leaves alone. */
static const char *const keep_names[] = {
	"f0", "f1", "f2", "ro", "dir", "f", "fifo", "link", "loop1", "loop2",
	"dangling", "kaio", "null", "rootdir", "x", "e0", "e1", "edir",
};

static void regen_garbage(struct thr *t, int i)
{
	size_t n = 1 + below(&t->r, sizeof(t->garbage[i]) - 2);
	char *g = t->garbage[i];

	/* Any byte but '/' and NUL: one component, inside the sandbox. */
	for (size_t k = 0; k < n; k++) {
		unsigned char c = 1 + below(&t->r, 255);

		g[k] = c == '/' ? '_' : (char)c;
	}
	g[n] = 0;
}

static uint64_t path_ptr(struct thr *t)
{
	struct rng *r = &t->r;
	unsigned int p = below(r, 100);

	if (p < 62) {
		/* The big pattern file, rarely: it makes long transfers. */
		if (one_in(r, 40))
			return (uintptr_t)(KAIO_SCRATCH "/p_64m");
		return (uintptr_t)fixed_paths[below(r, sizeof(fixed_paths) / sizeof(fixed_paths[0]))];
	}
	if (p < 74) {
		int i = below(r, 4);

		if (one_in(r, 4))
			regen_garbage(t, i);
		return (uintptr_t)t->garbage[i];
	}
	if (p < 78)
		return (uintptr_t)longpath;
	if (p < 81)
		return (uintptr_t)namemax;
	if (p < 86)	/* unterminated, at the end of a page before PROT_NONE */
		return (uintptr_t)(strpage + PAGE - 1 - below(r, 64));
	if (p < 89)
		return 0;
	if (p < 92)
		return one_in(r, 2) ? KADDR1 : KADDR2;
	if (p < 95)
		return (uintptr_t)(hole + below(r, HOLE_SIZE));
	if (p < 98)
		return (uintptr_t)(ro_mem + below(r, RO_SIZE));
	return NONCANON - 1 - below(r, 16);
}

static uint64_t data_ptr(struct thr *t)
{
	struct rng *r = &t->r;
	unsigned int p = below(r, 100);

	if (p < 60) {
		uint64_t off = below(r, ARENA);

		if (one_in(r, 2))
			off &= ~511ul;		/* O_DIRECT-friendly */
		return (uintptr_t)(t->arena + off);
	}
	if (p < 68)
		return (uintptr_t)(t->arena + ARENA - 1 - below(r, 8192));	/* runs into the guard */
	if (p < 74)
		return 0;
	if (p < 79)
		return one_in(r, 2) ? KADDR1 : KADDR2;
	if (p < 85)
		return (uintptr_t)(hole + below(r, HOLE_SIZE));
	if (p < 94)
		return (uintptr_t)(ro_mem + below(r, RO_SIZE));	/* read-only */
	if (p < 97)
		return NONCANON - 1 - below(r, 4096);
	return 1 + below(r, 4095);
}

static uint64_t len_pick(struct rng *r)
{
	static const uint64_t edge[] = { 0, 1, 511, 512, 4095, 4096, 4097, 65536 };
	unsigned int p = below(r, 100);

	if (p < 40)
		return below(r, 4097);
	if (p < 58)
		return below(r, 65537);
	if (p < 70)
		return edge[below(r, sizeof(edge) / sizeof(edge[0]))];
	if (p < 80)
		return below(r, ARENA + 1);
	if (p < 84)
		return 1 << 20;
	if (p < 86)
		return 64ull << 20;
	if (p < 89)
		return INT64_MAX;
	if (p < 92)
		return UINT64_MAX;
	if (p < 95)
		return one_in(r, 2) ? 1ull << 31 : 1ull << 32;
	return rnd(r);
}

static int64_t off_pick(struct rng *r, uint64_t len)
{
	unsigned int p = below(r, 100);

	if (p < 50)
		return below(r, 8192);
	if (p < 65)
		return below(r, 2 << 20);
	if (p < 72)
		return 4096 * below(r, 300);
	if (p < 76)
		return one_in(r, 2) ? -1 : (one_in(r, 2) ? -4096 : INT64_MIN);
	if (p < 81)
		return one_in(r, 2) ? INT64_MAX : INT64_MAX - (int64_t)(len & 0xfff);
	if (p < 85)
		return 1ll << 40;
	if (p < 90)
		return one_in(r, 2) ? 1048579 : 64ll << 20;
	return (int64_t)rnd(r);
}

static uint32_t open_flags(struct rng *r)
{
	static const uint32_t extra[] = {
		O_CREAT, O_EXCL, O_TRUNC, O_APPEND, O_NONBLOCK, O_DIRECT,
		O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC, O_TMPFILE, O_PATH, O_SYNC,
		O_DSYNC, O_NOATIME, O_LARGEFILE, O_NOCTTY, O_ASYNC,
	};
	uint32_t f;

	if (one_in(r, 30))
		return (uint32_t)rnd(r);
	f = one_in(r, 2) ? O_RDONLY : below(r, 4);
	for (int n = below(r, 4); n > 0; n--)
		f |= extra[below(r, sizeof(extra) / sizeof(extra[0]))];
	return f;
}

static uint32_t mode_pick(struct rng *r)
{
	if (one_in(r, 10))
		return one_in(r, 2) ? 010000 + below(r, 0x10000) : (uint32_t)rnd(r);
	return one_in(r, 2) ? 0644 : below(r, 010000);
}

/* ------------------------------------------------------------------------
 * Structures.
 */
static uint64_t next_ud(struct thr *t)
{
	uint64_t ud;

	if (one_in(&t->r, 30)) {
		ud = recent_ud[below(&t->r, NRECENT)];	/* a duplicate */
	} else {
		ud = ((uint64_t)(t->id + 1) << 48) | ++t->udseq;
	}
	recent_ud[__atomic_fetch_add(&recent_pos, 1, __ATOMIC_RELAXED) % NRECENT] = ud;
	return ud;
}

static void gen_step(struct thr *t, struct kaio_step *s, int op)
{
	struct rng *r = &t->r;

	memset(s, 0, sizeof(*s));
	s->opcode = op;
	switch (op) {
	case KAIO_OP_OPEN:
		switch (below(r, 10)) {
		case 0: case 1: s->fd = sfd_of(r, FK_DIR); break;
		case 2: s->fd = fd_pick(r, R_ANY); break;
		default: s->fd = AT_FDCWD;
		}
		s->addr = path_ptr(t);
		s->op_flags = open_flags(r);
		s->arg = mode_pick(r);
		break;
	case KAIO_OP_FD:
		s->fd = fd_pick(r, R_IN);
		break;
	case KAIO_OP_READ:
	case KAIO_OP_WRITE:
		s->addr = data_ptr(t);
		s->len = len_pick(r);
		s->offset = off_pick(r, s->len);
		break;
	case KAIO_OP_FSYNC:
		s->op_flags = one_in(r, 2) ? KAIO_FSYNC_DATASYNC : 0;
		break;
	case KAIO_OP_KEEP:
		s->op_flags = one_in(r, 2) ? KAIO_KEEP_CLOEXEC : 0;
		break;
	case KAIO_OP_SENDFILE:
		s->fd = fd_pick(r, R_OUT);
		s->len = one_in(r, 3) ? below(r, 4097) : len_pick(r);
		if (one_in(r, 6))
			s->len = 0;	/* to the end of the file */
		s->offset = one_in(r, 2) ? (int64_t)below(r, 8192) : off_pick(r, s->len);
		s->op_flags = one_in(r, 4) ? KAIO_SENDFILE_NOCACHE : 0;
		s->arg = one_in(r, 2) ? 0 : below(r, 2001);
		break;
	default:
		/* NOP, CLOSE, unknown: fields stay zero, or random ones. */
		if (op != KAIO_OP_CLOSE && one_in(r, 2)) {
			s->fd = fd_pick(r, R_ANY);
			s->addr = data_ptr(t);
			s->len = len_pick(r);
			s->offset = off_pick(r, s->len);
			s->op_flags = rnd(r);
			s->arg = rnd(r);
		}
	}
	if (one_in(r, 60)) {
		switch (below(r, 3)) {
		case 0: s->reserved0 = 1 + below(r, 255); break;
		case 1: s->reserved1 = 1 + below(r, 65535); break;
		default: s->reserved2 = rnd(r) | 1;
		}
	}
}

/* Sets one field of @io to an interesting value. */
static void mutate_iocb(struct thr *t, struct kaio_iocb *io)
{
	struct rng *r = &t->r;
	int n = io->nr_steps >= 1 && io->nr_steps <= KAIO_MAX_STEPS ? io->nr_steps : KAIO_MAX_STEPS;
	struct kaio_step *s = &io->steps[below(r, n)];

	switch (below(r, 16)) {
	case 0: io->flags = one_in(r, 2) ? 1u << below(r, 32) : (uint32_t)rnd(r); break;
	case 1: {
		static const uint16_t v[] = { 0, 1, 2, 7, 8, 9, 16, 0xffff };

		io->nr_steps = v[below(r, sizeof(v) / sizeof(v[0]))];
		break;
	}
	case 2: io->reserved0 = 1 + below(r, 0xffff); break;
	case 3:
		if (one_in(r, 2))
			io->reserved1 = rnd(r) | 1;
		else
			io->reserved2 = rnd(r) | 1;
		break;
	case 4: s->opcode = one_in(r, 4) ? (uint8_t)rnd(r) : below(r, 11); break;
	case 5: s->fd = one_in(r, 2) ? invalid_fd(r) : fd_pick(r, R_ANY); break;
	case 6: s->addr = s->opcode == KAIO_OP_OPEN ? path_ptr(t) : data_ptr(t); break;
	case 7: s->len = len_pick(r); break;
	case 8: s->offset = off_pick(r, s->len); break;
	case 9: s->op_flags = one_in(r, 2) ? 1u << below(r, 32) : (uint32_t)rnd(r); break;
	case 10: s->arg = one_in(r, 2) ? below(r, 2001) : (uint32_t)rnd(r); break;
	case 11: s->reserved0 = 1 + below(r, 255); break;
	case 12: s->reserved1 = 1 + below(r, 0xffff); break;
	case 13: s->reserved2 = rnd(r) | 1; break;
	case 14: io->user_data = one_in(r, 2) ? 0 : rnd(r); break;
	default: {
		/* Swap two steps: breaks the chain rules. */
		struct kaio_step tmp = io->steps[0];

		io->steps[0] = *s;
		*s = tmp;
	}
	}
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

/* Paths of files that exist (mostly regular) for valid OPEN steps. */
static const char *const good_paths[] = {
	"f0", "f1", "f2", "link", "dir/f", SBX "/f1", "ro", SBX_EXT4 "/e0",
	SBX_EXT4 "/e1", KAIO_SCRATCH "/p_4096", KAIO_SCRATCH "/p_1m3",
	KAIO_SCRATCH "/p_4097", KAIO_SCRATCH "/p_0", KAIO_SCRATCH "/p_1",
	SBX_EXT4 "/new", "fifo", "null", "kaio", "dir",
};

/*
 * A step whose every field is valid (running it may still fail); @stream:
 * the chain's file is a pipe, FIFO or socket (no offsets).
 */
static void gen_step_clean(struct thr *t, struct kaio_step *s, int op, int stream)
{
	struct rng *r = &t->r;

	memset(s, 0, sizeof(*s));
	s->opcode = op;
	switch (op) {
	case KAIO_OP_READ:
	case KAIO_OP_WRITE: {
		uint64_t off = below(r, ARENA);
		uint64_t room;

		if (one_in(r, 2))
			off &= ~(PAGE - 1);
		room = ARENA - off < 65536 ? ARENA - off : 65536;
		s->addr = (uintptr_t)(t->arena + off);
		s->len = below(r, room + 1);
		if (one_in(r, 2))
			s->len &= ~511ull;
		if (!stream) {
			s->offset = one_in(r, 2) ? below(r, 8192) : below(r, 2 << 20);
			if (one_in(r, 2))
				s->offset &= ~4095ll;
		}
		if (op == KAIO_OP_WRITE && one_in(r, 4))
			s->addr = (uintptr_t)ro_mem;	/* read-only memory is a fine source */
		break;
	}
	case KAIO_OP_FSYNC:
		s->op_flags = one_in(r, 2) ? KAIO_FSYNC_DATASYNC : 0;
		break;
	case KAIO_OP_KEEP:
		s->op_flags = one_in(r, 2) ? KAIO_KEEP_CLOEXEC : 0;
		break;
	case KAIO_OP_SENDFILE: {
		static const enum fk out[] = {
			FK_SOCK, FK_SOCK, FK_SOCK, FK_PIPE_W, FK_PIPE_W, FK_FIFO, FK_RW,
			FK_WO, FK_MEMFD,
		};

		s->fd = sfd_of(r, out[below(r, NELEM(out))]);
		s->len = one_in(r, 8) ? 0 : 1 + below(r, one_in(r, 4) ? 1 << 20 : 65536);
		s->offset = one_in(r, 2) ? 0 : (int64_t)below(r, 1 << 20);
		s->op_flags = one_in(r, 4) ? KAIO_SENDFILE_NOCACHE : 0;
		s->arg = one_in(r, 2) ? 0 : 1 + below(r, one_in(r, 8) ? 1024 : 64);
		break;
	}
	}
}

/* The steps between the first and the last of a chain, and their odds. */
static const int mid_ops[] = {
	KAIO_OP_READ, KAIO_OP_READ, KAIO_OP_READ, KAIO_OP_WRITE,
	KAIO_OP_WRITE, KAIO_OP_FSYNC, KAIO_OP_SENDFILE, KAIO_OP_SENDFILE,
};

/* A valid chain: OPEN or FD of a file, 0..3 steps that suit it, CLOSE or KEEP or nothing. */
static int gen_chain_clean(struct thr *t, struct kaio_iocb *io)
{
	struct rng *r = &t->r;
	struct kaio_step *s = &io->steps[0];
	int open = one_in(r, 2), stream = 0, n = 1;
	enum fk kind = FK_RW;
	int mids = below(r, 100) < 70 ? 1 : below(r, 4);
	int last = below(r, 10);

	memset(s, 0, sizeof(*s));
	if (open) {
		static const uint32_t fl[] = {
			O_RDONLY, O_RDONLY, O_RDONLY, O_RDWR, O_RDONLY | O_NONBLOCK,
			O_WRONLY | O_CREAT | O_TRUNC, O_RDWR | O_CREAT, O_WRONLY | O_APPEND,
			O_RDONLY | O_DIRECT, O_RDONLY | O_CLOEXEC, O_RDWR | O_CREAT | O_EXCL,
		};
		unsigned int i = below(r, NELEM(good_paths));

		s->opcode = KAIO_OP_OPEN;
		s->fd = AT_FDCWD;
		s->addr = (uintptr_t)good_paths[i];
		if (good_paths[i][0] != '/' && one_in(r, 4))
			s->fd = by_kind[FK_DIR][0];	/* the sandbox directory */
		if (one_in(r, 40))
			s->addr = (uintptr_t)(KAIO_SCRATCH "/p_64m");
		s->op_flags = fl[below(r, NELEM(fl))];
		if (s->op_flags & O_CREAT)
			s->arg = one_in(r, 2) ? 0644 : below(r, 01000);
		stream = !strcmp(good_paths[i], "fifo");
		if (stream)
			s->op_flags |= O_NONBLOCK;
	} else {
		static const enum fk reg[] = { FK_RO, FK_RO, FK_RO, FK_RW, FK_RW, FK_MEMFD, FK_DIRECT, FK_WO };
		static const enum fk str[] = { FK_SOCK, FK_PIPE_R, FK_PIPE_W, FK_FIFO, FK_NULL };

		s->opcode = KAIO_OP_FD;
		stream = one_in(r, 4);
		kind = stream ? str[below(r, NELEM(str))] :
			one_in(r, 50) ? FK_BIG : reg[below(r, NELEM(reg))];
		s->fd = sfd_of(r, kind);
	}
	for (int i = 0; i < mids; i++) {
		int op = mid_ops[below(r, NELEM(mid_ops))];

		/* What the file was opened for. */
		if ((stream && op != KAIO_OP_WRITE) || kind == FK_PIPE_R ||
		    ((kind == FK_RO || kind == FK_BIG) && op == KAIO_OP_WRITE))
			op = KAIO_OP_READ;
		if (kind == FK_PIPE_W || (kind == FK_WO && op != KAIO_OP_FSYNC))
			op = KAIO_OP_WRITE;
		gen_step_clean(t, &io->steps[n++], op, stream);
	}
	if (last < 4 || (last < 6 && !open))
		gen_step_clean(t, &io->steps[n++], KAIO_OP_CLOSE, stream);
	else if (last < 6)
		gen_step_clean(t, &io->steps[n++], KAIO_OP_KEEP, stream);
	return n;
}

/*
 * An iocb: a valid chain (35%), a valid chain with one field mutated (35%),
 * a chain of steps with fields from the wide menus (20%), or random opcodes.
 */
static void gen_iocb(struct thr *t, struct kaio_iocb *io)
{
	struct rng *r = &t->r;
	unsigned int style = below(r, 20);
	int n = 0;

	memset(io, 0, sizeof(*io));
	io->user_data = next_ud(t);
	if (one_in(r, 6))
		io->flags = KAIO_IOCB_SHORT_OK;
	if (style >= 18) {
		/* Random opcodes 0..10, 0..9 steps. */
		int steps = below(r, 10);

		for (int i = 0; i < steps && i < KAIO_MAX_STEPS; i++)
			gen_step(t, &io->steps[i], below(r, 11));
		io->nr_steps = steps;
	} else if (style < 14) {
		io->nr_steps = gen_chain_clean(t, io);
	} else {
		int first = one_in(r, 2) ? KAIO_OP_OPEN : KAIO_OP_FD;
		int mids = below(r, 100) < 70 ? 1 : below(r, 4);
		int last = below(r, 10);

		gen_step(t, &io->steps[n++], first);
		for (int i = 0; i < mids; i++)
			gen_step(t, &io->steps[n++], mid_ops[below(r, NELEM(mid_ops))]);
		if (last < 4)
			gen_step(t, &io->steps[n++], KAIO_OP_CLOSE);
		else if (last < 6)
			gen_step(t, &io->steps[n++], KAIO_OP_KEEP);
		io->nr_steps = n;
	}
	if ((style >= 7 && style < 14) || (style >= 14 && one_in(r, 4)))
		mutate_iocb(t, io);
	/* Never a path from the data arena, whatever the mutations did. */
	for (int i = 0; i < KAIO_MAX_STEPS; i++) {
		struct kaio_step *s = &io->steps[i];

		if (s->opcode == KAIO_OP_OPEN && s->addr >= (uintptr_t)t->arena &&
		    s->addr < (uintptr_t)t->arena + ARENA + PAGE)
			s->addr = path_ptr(t);
	}
}

/*
 * Where an argument goes: @kind 0 is a valid buffer at args; the others
 * replace the pointer. Returns the pointer for the ioctl and, for a valid
 * buffer, the place to build the structure (NULL otherwise).
 */
enum argkind { A_VALID, A_NULL, A_KERNEL, A_HOLE, A_STRADDLE, A_RO, A_NONCANON };

static enum argkind arg_kind(struct rng *r)
{
	unsigned int p = below(r, 100);

	if (p < 86)
		return A_VALID;
	if (p < 89)
		return A_NULL;
	if (p < 91)
		return A_KERNEL;
	if (p < 93)
		return A_HOLE;
	if (p < 97)
		return A_STRADDLE;
	if (p < 99)
		return A_RO;
	return A_NONCANON;
}

static const char *const argkind_name[] = {
	"valid", "NULL", "kernel", "unmapped", "straddling", "read-only", "non-canonical",
};

/* Places @len bytes built at @buf according to @k; returns the user pointer. */
static void *place_arg(struct thr *t, enum argkind k, const void *buf, size_t len)
{
	struct rng *r = &t->r;

	switch (k) {
	case A_VALID:
		if (len)
			memcpy(t->args, buf, len);
		return t->args;
	case A_NULL:
		return NULL;
	case A_KERNEL:
		return (void *)(uintptr_t)(one_in(r, 2) ? KADDR1 : KADDR2);
	case A_HOLE:
		return hole + below(r, HOLE_SIZE - 64);
	case A_STRADDLE: {
		size_t keep = len > 1 ? 1 + below(r, len - 1) : 0;
		char *p = t->args + ARGBUF - keep;

		if (keep)
			memcpy(p, buf, keep);
		return p;
	}
	case A_RO:
		return ro_mem + below(r, RO_SIZE - 64);
	default:
		return (void *)(uintptr_t)(NONCANON - 1 - below(r, 64));
	}
}

/* ------------------------------------------------------------------------
 * Events.
 */
static void close_keep(int fd)
{
	if (fd < 0 || fd >= NOFILE)
		return;
	if (fd <= max_fixed_fd || __atomic_load_n(&owner[fd], __ATOMIC_RELAXED)) {
		/* Cannot be a descriptor the kernel just installed. */
		failure("event reports KEEP'd fd %d, which is one of the fuzzer's own", fd);
		return;
	}
	if (close(fd) == 0)
		__atomic_add_fetch(&sh->keep_closed, 1, __ATOMIC_RELAXED);
}

static void handle_events(struct thr *t, const struct kaio_event *ev, long n, const char *src)
{
	for (long i = 0; i < n; i++) {
		struct kaio_event e;

		memcpy(&e, &ev[i], sizeof(e));
		__atomic_add_fetch(&sh->events, 1, __ATOMIC_RELAXED);
		if (e.error > 0 || e.error < -4095 ||
		    (e.flags & ~(uint32_t)(KAIO_EV_CANCELED | KAIO_EV_FD | KAIO_EV_DONE)) ||
		    ((e.flags & KAIO_EV_DONE) && (e.error || (e.flags & KAIO_EV_CANCELED) ||
						  e.step != e.nr_steps - 1)) ||
		    ((e.flags & KAIO_EV_CANCELED) && e.error != -ECANCELED) ||
		    (e.result < 0 && e.result != e.error) ||
		    e.nr_steps < 1 || e.nr_steps > KAIO_MAX_STEPS || e.step >= e.nr_steps ||
		    ((e.flags & KAIO_EV_FD) ? e.fd < 0 : e.fd != -1)) {
			failure("T%d #%llu: malformed event from %s: user_data %#llx result %lld step %u nr_steps %u flags %#x fd %d error %d",
				t->id, (unsigned long long)t->iter, src,
				(unsigned long long)e.user_data, (long long)e.result, e.step,
				e.nr_steps, e.flags, e.fd, e.error);
			continue;
		}
		for (int s = e.step + 1; s < KAIO_MAX_STEPS; s++)
			if (e.step_result[s]) {
				failure("T%d: event %#llx from %s: step_result[%d] = %lld past step %u",
					t->id, (unsigned long long)e.user_data, src, s,
					(long long)e.step_result[s], e.step);
				break;
			}
		if (e.flags & KAIO_EV_FD)
			close_keep(e.fd);
	}
}

/* The ring can be read from userspace: shared, readable and writable, all of it mapped. */
static int can_peek(struct slot *s)
{
	return s->map && s->setup_known && (s->mapflags & MAP_SHARED) &&
	       (s->mapprot & (PROT_READ | PROT_WRITE)) == (PROT_READ | PROT_WRITE) &&
	       s->entries && (uint64_t)s->events_off + (uint64_t)s->entries * EV_SZ <= s->maplen;
}

/* Reaps from the mapped ring; the slot lock is held. */
static void peek(struct thr *t, struct slot *s)
{
	struct kaio_ring *ring = s->map;
	const struct kaio_event *evs = (const void *)((char *)s->map + s->events_off);
	uint32_t head, tail, n;

	if (ring->entries != s->entries || ring->mask != s->entries - 1) {
		failure("T%d: ring header says entries %u mask %#x, SETUP said %u",
			t->id, ring->entries, ring->mask, s->entries);
		return;
	}
	head = __atomic_load_n(&ring->head, __ATOMIC_RELAXED);
	tail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE);
	n = tail - head;
	if (n > s->entries) {
		failure("T%d: ring holds %u events, more than its %u entries (head %u tail %u)",
			t->id, n, s->entries, head, tail);
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		handle_events(t, &evs[(head + i) & (s->entries - 1)], 1, "the ring");
	__atomic_store_n(&ring->head, head + n, __ATOMIC_RELEASE);
}

static int slot_fd(struct slot *s)
{
	return s->fd >= 0 ? s->fd : s->alt;
}

/* Reaps what is there; the slot lock is held. */
static void drain_locked(struct thr *t, struct slot *s, int use_ring)
{
	int fd = slot_fd(s);

	if (fd < 0)
		return;
	if (use_ring && can_peek(s)) {
		peek(t, s);
		return;
	}
	for (int i = 0; i < 16; i++) {
		struct kaio_getevents g = {
			.events = (uintptr_t)t->evs,
			.max_nr = EVARENA / EV_SZ,
			.timeout_ns = one_in(&t->r, 2) ? 0 : (int64_t)below(&t->r, 1000000),
		};
		long n = fz_ioctl(t, fd, KAIO_IOC_GETEVENTS, &g, "drain");

		if (n <= 0)
			break;
		handle_events(t, (const void *)t->evs, n, "GETEVENTS");
	}
}

static void drain(struct thr *t, struct slot *s, int use_ring)
{
	pthread_mutex_lock(&s->lock);
	drain_locked(t, s, use_ring);
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------------
 * Context life cycle: open, SETUP, mmap, munmap, close (all under the slot lock).
 */
static void set_owner(int fd, unsigned char v)
{
	if (fd >= 0 && fd < NOFILE)
		__atomic_store_n(&owner[fd], v, __ATOMIC_RELAXED);
}

static void close_slot_fd(int *fdp)
{
	int fd = *fdp;

	if (fd < 0)
		return;
	set_owner(fd, 0);
	__atomic_store_n(fdp, -1, __ATOMIC_RELAXED);
	close(fd);
}

static void unmap_slot(struct slot *s)
{
	if (s->map)
		munmap(s->map, s->maplen);
	s->map = NULL;
	s->maplen = 0;
}

static void do_mmap(struct thr *t, struct slot *s, int valid)
{
	struct rng *r = &t->r;
	static const int prots[] = {
		PROT_READ, PROT_WRITE, PROT_READ | PROT_WRITE | PROT_EXEC, PROT_EXEC,
		PROT_NONE, PROT_READ | PROT_EXEC,
	};
	size_t ring = s->setup_known ? s->ring_size : PAGE * (1 + below(r, 16));
	size_t len = ring;
	off_t off = 0;
	int prot = PROT_READ | PROT_WRITE, flags = MAP_SHARED;
	int fd = one_in(r, 4) && s->alt >= 0 ? s->alt : slot_fd(s);
	void *p;

	if (fd < 0)
		return;
	if (!valid) {
		switch (below(r, 10)) {
		case 0: len = ring + PAGE; break;
		case 1: len = PAGE; break;
		case 2: len = one_in(r, 2) ? 0 : ring - 1; break;
		case 3: len = below(r, 1 << 24); break;
		}
		if (one_in(r, 6))
			off = one_in(r, 2) ? PAGE * (1 + below(r, 4)) : (off_t)(below(r, 1 << 20) & ~(PAGE - 1));
		if (one_in(r, 4))
			prot = prots[below(r, sizeof(prots) / sizeof(prots[0]))];
		switch (below(r, 12)) {
		case 0: flags = MAP_PRIVATE; break;
		case 1: flags = MAP_SHARED | MAP_POPULATE; break;
		case 2: flags = MAP_SHARED | MAP_NORESERVE; break;
		case 3: flags = MAP_PRIVATE | MAP_POPULATE; break;
		}
	}
	p = mmap(NULL, len, prot, flags, fd, off);
	if (p == MAP_FAILED)
		return;
	__atomic_add_fetch(&sh->maps, 1, __ATOMIC_RELAXED);
	unmap_slot(s);
	s->map = p;
	s->maplen = len;
	s->mapprot = prot;
	s->mapflags = flags;
}

static void do_setup(struct thr *t, struct slot *s, int valid)
{
	struct rng *r = &t->r;
	static const uint32_t odd[] = {
		0, 1, 2, 3, 5, 100, 1000, 4096, 65536, 65537, 1u << 20, 1u << 31,
		UINT32_MAX,
	};
	struct kaio_setup st = { 0 };
	enum argkind k = valid ? A_VALID : arg_kind(r);
	int fd = slot_fd(s);
	void *arg;
	long ret;

	if (fd < 0)
		return;
	if (valid || one_in(r, 2)) {
		static const uint32_t good[] = { 16, 32, 64, 128, 256, 1024 };

		st.entries = good[below(r, sizeof(good) / sizeof(good[0]))];
		if (one_in(r, 30))
			st.entries = one_in(r, 4) ? 65536 : 4096;
	} else {
		st.entries = one_in(r, 4) ? (uint32_t)rnd(r) : odd[below(r, sizeof(odd) / sizeof(odd[0]))];
	}
	if (!valid) {
		switch (below(r, 12)) {
		case 0: st.flags = one_in(r, 2) ? 1 : (uint32_t)rnd(r); break;
		case 1: st.reserved[below(r, 2)] = rnd(r) | 1; break;
		case 2: st.ring_size = rnd(r); st.events_off = rnd(r); break;	/* outputs */
		}
	}
	arg = place_arg(t, k, &st, sizeof(st));
	ret = fz_ioctl(t, fd, KAIO_IOC_SETUP, arg, argkind_name[k]);
	if (ret > 0)
		failure("T%d: SETUP returned %ld", t->id, ret);
	if (ret == 0 && k == A_VALID) {
		struct kaio_setup *o = (struct kaio_setup *)t->args;

		if (o->entries != st.entries || o->event_size != EV_SZ ||
		    o->max_steps != KAIO_MAX_STEPS || o->events_off < sizeof(struct kaio_ring) ||
		    o->ring_size < o->events_off + (uint64_t)o->entries * EV_SZ) {
			failure("T%d: SETUP(%u) returned entries %u ring_size %u events_off %u event_size %u max_steps %u",
				t->id, st.entries, o->entries, o->ring_size, o->events_off,
				o->event_size, o->max_steps);
			return;
		}
		if (!s->setup_known) {
			s->setup_known = 1;
			s->entries = o->entries;
			s->ring_size = o->ring_size;
			s->events_off = o->events_off;
		}
	}
}

static void slot_open(struct thr *t, struct slot *s)
{
	struct rng *r = &t->r;
	int flags = O_RDWR | O_CLOEXEC;
	int fd;

	if (one_in(r, 12))
		flags = one_in(r, 2) ? O_RDONLY : (one_in(r, 2) ? O_WRONLY : O_RDWR | O_NONBLOCK);
	fd = open(KAIO_DEVICE, flags);
	if (fd < 0)
		return;
	if (fd >= NOFILE) {
		close(fd);
		return;
	}
	__atomic_add_fetch(&sh->ctx_opens, 1, __ATOMIC_RELAXED);
	set_owner(fd, 2);
	s->setup_known = 0;
	__atomic_store_n(&s->fd, fd, __ATOMIC_RELAXED);
	if (!one_in(r, 8)) {
		do_setup(t, s, 1);
		if (!one_in(r, 8))
			do_mmap(t, s, 1);
	}
}

static void slot_close(struct thr *t, struct slot *s)
{
	struct rng *r = &t->r;

	if (!one_in(r, 6))
		drain_locked(t, s, 0);
	/* The old mapping keeps the context alive until it is unmapped. */
	if (s->oldmap)
		munmap(s->oldmap, s->oldlen);
	s->oldmap = NULL;
	if (s->map && one_in(r, 3)) {
		s->oldmap = s->map;
		s->oldlen = s->maplen;
		s->map = NULL;
		s->maplen = 0;
	}
	unmap_slot(s);
	close_slot_fd(&s->fd);
	close_slot_fd(&s->alt);
}

static void slot_cycle(struct thr *t, struct slot *s)
{
	struct rng *r = &t->r;
	unsigned int p = below(r, 10);

	pthread_mutex_lock(&s->lock);
	if (s->fd < 0 && s->alt < 0) {
		slot_open(t, s);
	} else if (p < 5) {
		/* Close the context (others may be using it) and open another. */
		slot_close(t, s);
		slot_open(t, s);
	} else if (p < 8) {
		/* A second fd for the same context, or drop one of the two. */
		if (s->alt < 0 && s->fd >= 0) {
			int d = dup(s->fd);

			if (d >= 0 && d < NOFILE) {
				set_owner(d, 2);
				__atomic_store_n(&s->alt, d, __ATOMIC_RELAXED);
			} else if (d >= 0) {
				close(d);
			}
		} else if (s->fd >= 0 && s->alt >= 0) {
			close_slot_fd(one_in(r, 2) ? &s->fd : &s->alt);
		} else if (s->fd < 0) {
			/* Only the dup is left: it becomes the primary. */
			__atomic_store_n(&s->fd, s->alt, __ATOMIC_RELAXED);
			__atomic_store_n(&s->alt, -1, __ATOMIC_RELAXED);
		}
	} else {
		/* Open a fresh context, set up or not. */
		slot_close(t, s);
		slot_open(t, s);
	}
	pthread_mutex_unlock(&s->lock);
}

static void slot_map_op(struct thr *t, struct slot *s)
{
	struct rng *r = &t->r;

	pthread_mutex_lock(&s->lock);
	switch (below(r, 6)) {
	case 0:
		unmap_slot(s);
		break;
	case 1:
		/* Unmap the tail: the ring is no longer all mapped. */
		if (s->map && s->maplen > PAGE) {
			size_t keep = ((s->maplen - 1) & ~(PAGE - 1));

			if (!munmap((char *)s->map + keep, s->maplen - keep))
				s->maplen = keep;
		}
		break;
	case 2:
		do_mmap(t, s, 1);
		break;
	default:
		do_mmap(t, s, 0);
	}
	pthread_mutex_unlock(&s->lock);
}

/* ------------------------------------------------------------------------
 * The ioctls.
 */
static void fz_submit(struct thr *t, struct slot *s, int fd, unsigned long cmd, enum argkind k)
{
	struct rng *r = &t->r;
	struct kaio_submit sub = { 0 };
	unsigned int nr = one_in(r, 2) ? 1 : 1 + below(r, MAX_IOCBS);
	char *arr;
	void *arg;
	long ret;

	for (unsigned int i = 0; i < nr; i++)
		gen_iocb(t, &t->iocbs[i]);
	/* The array: in args after the submit struct, or ending in the guard. */
	if (one_in(r, 12)) {
		size_t bytes = nr * sizeof(struct kaio_iocb);
		size_t cut = 1 + below(r, bytes);

		arr = t->args + ARGBUF - bytes + cut;
		memcpy(arr, t->iocbs, bytes - cut);
	} else {
		arr = t->args + 512;
		memcpy(arr, t->iocbs, nr * sizeof(struct kaio_iocb));
	}
	sub.iocbs = (uintptr_t)arr;
	sub.nr = nr;
	if (one_in(r, 8)) {
		switch (below(r, 8)) {
		case 0: sub.iocbs = data_ptr(t); break;
		case 1: sub.iocbs = 0; break;
		case 2: sub.nr = 0; break;
		case 3: sub.nr = one_in(r, 2) ? UINT32_MAX : 1u << below(r, 32); break;
		case 4: sub.nr = nr + 1; break;	/* one more: zeroes or stale iocbs */
		case 5: sub.flags = one_in(r, 2) ? 1 : (uint32_t)rnd(r); break;
		case 6: sub.reserved = rnd(r) | 1; break;
		default: sub.iocbs = (uintptr_t)(ro_mem + below(r, RO_SIZE));
		}
	}
	if (k == A_VALID) {
		/* place_arg copies to args[0..]: the array starts at 512. */
		memcpy(t->args, &sub, sizeof(sub));
		arg = t->args;
	} else {
		arg = place_arg(t, k, &sub, sizeof(sub));
	}
	ret = fz_ioctl(t, fd, cmd, arg, argkind_name[k]);
	if (ret > 0)
		__atomic_add_fetch(&sh->submitted, ret, __ATOMIC_RELAXED);
	if (cmd == KAIO_IOC_SUBMIT && k == A_VALID && ret > (long)sub.nr)
		failure("T%d #%llu: SUBMIT of %u returned %ld", t->id,
			(unsigned long long)t->iter, sub.nr, ret);
	if (ret < 0 && errno == EAGAIN)
		drain(t, s, 0);
}

/* GETEVENTS, random or mutated; the slot lock is held. */
static void fz_getevents(struct thr *t, struct slot *s, unsigned long cmd, enum argkind k)
{
	struct rng *r = &t->r;
	static const uint32_t nrs[] = { 0, 1, 2, 3, 8, 64, 65, 682, 683, 1024, 65536, UINT32_MAX };
	struct kaio_getevents g = { 0 };
	int fd = one_in(r, 5) && s->alt >= 0 ? s->alt : slot_fd(s);
	size_t evoff = 0;
	void *arg;
	long ret;

	if (fd < 0)
		fd = invalid_fd(r);
	if (one_in(r, 4))
		evoff = EVARENA - EV_SZ * below(r, 4) - below(r, EV_SZ);	/* runs into the guard */
	else if (one_in(r, 8))
		evoff = 1 + below(r, 4095);
	g.events = (uintptr_t)(t->evs + evoff);
	if (one_in(r, 8)) {
		switch (below(r, 4)) {
		case 0: g.events = 0; break;
		case 1: g.events = one_in(r, 2) ? KADDR1 : KADDR2; break;
		case 2: g.events = (uintptr_t)(ro_mem + below(r, RO_SIZE)); break;	/* read-only */
		default: g.events = (uintptr_t)(hole + below(r, HOLE_SIZE));
		}
	}
	if (one_in(r, 3)) {
		g.min_nr = nrs[below(r, sizeof(nrs) / sizeof(nrs[0]))];
		g.max_nr = nrs[below(r, sizeof(nrs) / sizeof(nrs[0]))];
	} else {
		g.max_nr = 1 + below(r, 64);
		g.min_nr = below(r, g.max_nr + 1);
		if (one_in(r, 10))
			g.min_nr = g.max_nr + 1 + below(r, 4);	/* min > max */
	}
	g.timeout_ns = one_in(r, 3) ? 0 : (int64_t)below(r, 1000001);
	if (one_in(r, 20))
		g.sigmask = rnd(r) | 1;	/* EFAULT, or a mask for the wait */
	/* Wait for ever only if the events are certainly there already. */
	if (one_in(r, 4) && can_peek(s) && fd == slot_fd(s) && g.min_nr >= 1 && g.min_nr <= g.max_nr) {
		const struct kaio_ring *ring = s->map;
		uint32_t avail = __atomic_load_n(&ring->tail, __ATOMIC_ACQUIRE) -
				 __atomic_load_n(&ring->head, __ATOMIC_RELAXED);

		if (avail >= g.min_nr && avail <= s->entries)
			g.timeout_ns = -1 - (int64_t)below(r, 1000);
	}
	arg = place_arg(t, k, &g, sizeof(g));
	ret = fz_ioctl(t, fd, cmd, arg, argkind_name[k]);
	if (cmd == KAIO_IOC_GETEVENTS && k == A_VALID && ret > (long)g.max_nr)
		failure("T%d #%llu: GETEVENTS max_nr %u returned %ld", t->id,
			(unsigned long long)t->iter, g.max_nr, ret);
	if (ret > 0 && k == A_VALID && g.events >= (uintptr_t)t->evs &&
	    g.events < (uintptr_t)t->evs + EVARENA) {
		long room = ((uintptr_t)t->evs + EVARENA - g.events) / EV_SZ;

		handle_events(t, (const void *)(uintptr_t)g.events, ret < room ? ret : room, "GETEVENTS");
	}
}

static void fz_random_bytes(struct thr *t, int fd, unsigned long cmd)
{
	struct rng *r = &t->r;
	size_t n = 64 + below(r, 4096 + 64);
	uint64_t *w = (uint64_t *)t->args;

	for (size_t i = 0; i < n / 8; i++)
		w[i] = rnd(r);
	if (_IOC_NR(cmd) == 3) {
		/* Shaped like GETEVENTS: a short timeout, whatever the rest says. */
		struct kaio_getevents *g = (void *)t->args;

		g->timeout_ns = below(r, 1000001);
	}
	fz_ioctl(t, fd, cmd, t->args, "random bytes");
}

static void fz_ioctl_one(struct thr *t)
{
	struct rng *r = &t->r;
	struct slot *s = one_in(r, 2) ? &slots[NSHARED + t->id] : &slots[below(r, NSHARED)];
	unsigned long cmd;
	unsigned int p = below(r, 100);
	enum argkind k = arg_kind(r);
	int exact = 1, fd;

	if (p < 48)
		cmd = KAIO_IOC_SUBMIT;
	else if (p < 64)
		cmd = KAIO_IOC_GETEVENTS;
	else if (p < 73)
		cmd = KAIO_IOC_CANCEL;
	else if (p < 77)
		cmd = KAIO_IOC_SETUP;
	else if (p < 81)
		cmd = KAIO_IOC_EVENTFD;
	else if (p < 85)
		cmd = KAIO_IOC_VERSION;
	else {
		exact = 0;
		cmd = _IOC(below(r, 4), KAIO_IOC_MAGIC, below(r, 11), below(r, 4097));
		if (one_in(r, 8))
			cmd = (cmd & ~(unsigned long)0xff00) | (below(r, 256) << 8);	/* another magic */
	}

	/* SETUP and GETEVENTS-shaped calls run under the slot lock (one consumer). */
	if (_IOC_NR(cmd) == 1 || _IOC_NR(cmd) == 3) {
		pthread_mutex_lock(&s->lock);
		if (exact && cmd == KAIO_IOC_SETUP)
			do_setup(t, s, 0);
		else if (exact && cmd == KAIO_IOC_GETEVENTS && one_in(r, 8))
			fz_random_bytes(t, slot_fd(s) >= 0 ? slot_fd(s) : invalid_fd(r), cmd);
		else if (cmd == KAIO_IOC_GETEVENTS || one_in(r, 3))
			fz_getevents(t, s, cmd, k);
		else
			fz_random_bytes(t, slot_fd(s) >= 0 ? slot_fd(s) : invalid_fd(r), cmd);
		pthread_mutex_unlock(&s->lock);
		return;
	}

	fd = __atomic_load_n(&s->alt, __ATOMIC_RELAXED);
	if (fd < 0 || !one_in(r, 3))
		fd = __atomic_load_n(&s->fd, __ATOMIC_RELAXED);
	if (fd < 0 || one_in(r, 100))
		fd = one_in(r, 2) ? invalid_fd(r) : any_sfd(r);	/* not a context */

	if (!exact || one_in(r, 12)) {
		if (k == A_VALID)
			fz_random_bytes(t, fd, cmd);
		else
			fz_ioctl(t, fd, cmd, place_arg(t, k, NULL, 0), argkind_name[k]);
		return;
	}
	switch (cmd) {
	case KAIO_IOC_SUBMIT:
		fz_submit(t, s, fd, cmd, k);
		break;
	case KAIO_IOC_CANCEL: {
		struct kaio_cancel c = { 0 };
		long ret;

		c.user_data = one_in(r, 5) ? rnd(r) : recent_ud[below(r, NRECENT)];
		if (one_in(r, 20))
			c.reserved = rnd(r) | 1;
		ret = fz_ioctl(t, fd, cmd, place_arg(t, k, &c, sizeof(c)), argkind_name[k]);
		if (ret > 0)
			failure("T%d: CANCEL returned %ld", t->id, ret);
		break;
	}
	case KAIO_IOC_EVENTFD: {
		int v;
		long ret;

		switch (below(r, 6)) {
		case 0: case 1: v = efds[below(r, 2)]; break;
		case 2: v = -1; break;
		case 3: v = any_sfd(r); break;
		case 4: v = slot_fd_racy(r); break;
		default: v = invalid_fd(r);
		}
		ret = fz_ioctl(t, fd, cmd, place_arg(t, k, &v, sizeof(v)), argkind_name[k]);
		if (ret > 0)
			failure("T%d: EVENTFD returned %ld", t->id, ret);
		break;
	}
	default: {	/* VERSION */
		struct kaio_version v;
		void *arg;
		long ret;

		memset(&v, 0xa5, sizeof(v));
		arg = place_arg(t, k, &v, sizeof(v));
		ret = fz_ioctl(t, fd, cmd, arg, argkind_name[k]);
		if (ret == 0 && k == A_VALID) {
			const struct kaio_version *o = arg;

			if (o->abi_version != KAIO_ABI_VERSION || o->reserved)
				failure("T%d: VERSION gave abi %u reserved %u", t->id,
					o->abi_version, o->reserved);
		} else if (ret > 0) {
			failure("T%d: VERSION returned %ld", t->id, ret);
		}
	}
	}
}

/* ------------------------------------------------------------------------
 * Threads: fuzzers, the pump, the janitor.
 */
static void janitor_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d))) {
		int keep = !strcmp(e->d_name, ".") || !strcmp(e->d_name, "..");

		for (size_t i = 0; !keep && i < sizeof(keep_names) / sizeof(keep_names[0]); i++)
			keep = !strcmp(e->d_name, keep_names[i]);
		if (!keep)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	closedir(d);
}

/* Keeps the sandbox small: files the fuzz created go, big files shrink. */
static void janitor(void)
{
	janitor_dir(SBX);
	janitor_dir(SBX "/dir");
	janitor_dir(SBX_EXT4);
	janitor_dir(SBX_EXT4 "/edir");
	for (int i = 0; i < nsfds; i++) {
		struct stat st;

		if ((sfds[i].kind == FK_RW || sfds[i].kind == FK_MEMFD || sfds[i].kind == FK_DIRECT) &&
		    !fstat(sfds[i].fd, &st) && st.st_size > (2 << 20))
			ignore(ftruncate(sfds[i].fd, 1 << 20));
	}
}

static void *fuzz_thread(void *arg)
{
	struct thr *t = arg;
	struct rng *r = &t->r;
	struct slot *own = &slots[NSHARED + t->id];

	while (!__atomic_load_n(&stop_fuzz, __ATOMIC_RELAXED) &&
	       __atomic_load_n(&sh->ioctls, __ATOMIC_RELAXED) < cfg.ioctls) {
		unsigned int p = below(r, 1000);
		struct slot *s = one_in(r, 2) ? own : &slots[below(r, NSHARED)];

		t->iter++;
		if (p < 12)
			slot_cycle(t, s);
		else if (p < 30)
			slot_map_op(t, s);
		else if (p < 130)
			drain(t, s, one_in(r, 2));
		else
			fz_ioctl_one(t);
		if (t->iter % 32 == 0)
			drain(t, own, one_in(r, 2));
		if (t->id == 0 && t->iter % 1024 == 0)
			janitor();
	}
	__atomic_store_n(&t->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

static void *pump_thread(void *arg)
{
	static char buf[1 << 16];
	struct pollfd pfd[32];
	uint64_t last_tick = 0;

	for (int i = 0; i < npump; i++) {
		pfd[i].fd = pumpfds[i].rd ? pumpfds[i].fd : -1;
		pfd[i].events = POLLIN;
	}
	while (!__atomic_load_n(&stop_pump, __ATOMIC_RELAXED)) {
		uint64_t now;

		if (poll(pfd, npump, 10) > 0) {
			for (int i = 0; i < npump; i++) {
				if (!(pfd[i].revents & POLLIN))
					continue;
				for (int k = 0; k < 16; k++) {
					ssize_t n = pumpfds[i].sock ?
						recv(pumpfds[i].fd, buf, sizeof(buf), MSG_DONTWAIT) :
						read(pumpfds[i].fd, buf, sizeof(buf));

					if (n <= 0)
						break;
				}
			}
		}
		/* Every 20 ms a byte for whoever waits to read. */
		now = now_ns();
		if (now - last_tick > 20000000ull) {
			last_tick = now;
			for (int i = 0; i < npump; i++) {
				if (!pumpfds[i].wr)
					continue;
				if (pumpfds[i].sock)
					ignore(send(pumpfds[i].fd, "k", 1, MSG_DONTWAIT | MSG_NOSIGNAL));
				else
					ignore(write(pumpfds[i].fd, "k", 1));
			}
		}
	}
	return NULL;
}

static void on_usr1(int sig)
{
}

/* ------------------------------------------------------------------------
 * The sandbox.
 */
static int write_pattern(const char *path, uint32_t seed, size_t size, mode_t mode, uid_t uid)
{
	static uint8_t buf[65536];
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	if (fd < 0)
		return -1;
	for (size_t off = 0; off < size; off += sizeof(buf)) {
		size_t n = size - off < sizeof(buf) ? size - off : sizeof(buf);

		for (size_t i = 0; i < n; i++)
			buf[i] = kaio_pattern(seed, off + i);
		if (write(fd, buf, n) != (ssize_t)n) {
			close(fd);
			return -1;
		}
	}
	if (fchown(fd, uid, uid) || fchmod(fd, mode)) {
		close(fd);
		return -1;
	}
	return close(fd);
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	return remove(path) && errno != ENOENT ? -1 : 0;
}

static void sandbox_cleanup(void)
{
	umount2(SBX, MNT_DETACH);
	nftw(SBX, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	nftw(SBX_EXT4, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

/* As root: the tmpfs and the scratch-disk directory. Returns a failure or NULL. */
static const char *sandbox_prepare(void)
{
	struct stat st;

	sandbox_cleanup();
	if (mkdir(SBX, 0755) && errno != EEXIST)
		return "mkdir " SBX;
	if (mount("kaio-fuzz", SBX, "tmpfs", MS_NOSUID,
		  "size=64m,nr_inodes=4096,mode=0755,uid=65534,gid=65534"))
		return "mount tmpfs on " SBX;
	if (mkdir(SBX_EXT4, 0755) || chown(SBX_EXT4, NOBODY, NOBODY))
		return "mkdir " SBX_EXT4;
	if (write_pattern(SBX "/f0", 100, 4096, 0644, NOBODY) ||
	    write_pattern(SBX "/f1", 101, (1 << 20) + 3, 0644, NOBODY) ||
	    write_pattern(SBX "/f2", 102, 0, 0644, NOBODY) ||
	    write_pattern(SBX "/ro", 103, 8192, 0444, 0) ||
	    write_pattern(SBX_EXT4 "/e0", 104, 65536, 0644, NOBODY) ||
	    write_pattern(SBX_EXT4 "/e1", 105, 1 << 20, 0644, NOBODY))
		return "pattern files";
	if (mkdir(SBX "/dir", 0755) || chown(SBX "/dir", NOBODY, NOBODY) ||
	    write_pattern(SBX "/dir/f", 106, 1000, 0644, NOBODY) ||
	    mkdir(SBX "/rootdir", 0700) || write_pattern(SBX "/rootdir/x", 107, 10, 0600, 0) ||
	    mkdir(SBX_EXT4 "/edir", 0755) || chown(SBX_EXT4 "/edir", NOBODY, NOBODY))
		return "directories";
	if (mkfifo(SBX "/fifo", 0666) || chmod(SBX "/fifo", 0666))
		return "mkfifo";
	if (symlink("f1", SBX "/link") || symlink("loop2", SBX "/loop1") ||
	    symlink("loop1", SBX "/loop2") || symlink("nonexistent", SBX "/dangling"))
		return "symlinks";
	if (stat(KAIO_DEVICE, &st) || mknod(SBX "/kaio", S_IFCHR | 0666, st.st_rdev) ||
	    chmod(SBX "/kaio", 0666) ||
	    mknod(SBX "/null", S_IFCHR | 0666, makedev(1, 3)) || chmod(SBX "/null", 0666))
		return "device nodes";
	return NULL;
}

static void add_sfd(int fd, enum fk kind)
{
	if (fd < 0 || nsfds >= MAX_SFDS)
		return;
	sfds[nsfds].fd = fd;
	sfds[nsfds].kind = kind;
	nsfds++;
	if (nby_kind[kind] < 8)
		by_kind[kind][nby_kind[kind]++] = fd;
	owner[fd] = 1;
	if (fd > max_fixed_fd)
		max_fixed_fd = fd;
}

static void add_pump(int fd, int sock, int rd, int wr)
{
	if (fd < 0 || npump >= (int)(sizeof(pumpfds) / sizeof(pumpfds[0])))
		return;
	pumpfds[npump].fd = fd;
	pumpfds[npump].sock = sock;
	pumpfds[npump].rd = rd;
	pumpfds[npump].wr = wr;
	npump++;
	if (fd < NOFILE)
		owner[fd] = 1;
	if (fd > max_fixed_fd)
		max_fixed_fd = fd;
}

/* A second, non-blocking open file of pipe end @fd for the pump. */
static int reopen_nb(int fd, int flags)
{
	char p[64];

	snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
	return open(p, flags | O_NONBLOCK | O_CLOEXEC);
}

static int fuzz_tcp_pair(int sv[2], int *lst)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t alen = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0);

	if (l < 0 || bind(l, (void *)&a, sizeof(a)) || listen(l, 4) ||
	    getsockname(l, (void *)&a, &alen))
		return -1;
	sv[0] = socket(AF_INET, SOCK_STREAM, 0);
	if (sv[0] < 0 || connect(sv[0], (void *)&a, sizeof(a)))
		return -1;
	sv[1] = accept(l, NULL, NULL);
	if (sv[1] < 0)
		return -1;
	*lst = l;
	return 0;
}

static const char *open_sandbox_fds(void)
{
	static const char *const ro[] = {
		KAIO_SCRATCH "/p_4096", KAIO_SCRATCH "/p_1m3", KAIO_SCRATCH "/p_0",
		KAIO_SCRATCH "/p_4097", SBX "/ro",
	};
	static const char *const rw[] = {
		SBX "/f0", SBX "/f1", SBX "/f2", SBX "/dir/f", SBX_EXT4 "/e0", SBX_EXT4 "/e1",
	};
	static const char *const dirs[] = { SBX, SBX "/dir", SBX_EXT4, KAIO_SCRATCH };
	int p[2], sv[2], l;

	for (size_t i = 0; i < sizeof(ro) / sizeof(ro[0]); i++)
		add_sfd(open(ro[i], O_RDONLY), FK_RO);
	for (size_t i = 0; i < sizeof(rw) / sizeof(rw[0]); i++)
		add_sfd(open(rw[i], O_RDWR), FK_RW);
	add_sfd(open(KAIO_SCRATCH "/p_64m", O_RDONLY), FK_BIG);	/* long transfers: rare */
	add_sfd(open(SBX "/f0", O_WRONLY | O_APPEND), FK_WO);
	add_sfd(open(SBX_EXT4 "/e1", O_RDWR | O_DIRECT), FK_DIRECT);
	for (size_t i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++)
		add_sfd(open(dirs[i], O_RDONLY | O_DIRECTORY), FK_DIR);
	add_sfd(open(SBX "/f0", O_PATH), FK_OPATH);
	add_sfd(open(SBX "/dir", O_PATH), FK_OPATH);
	/* A blocking pipe (the pump reads and writes it through its own files)... */
	if (pipe(p))
		return "pipe";
	add_sfd(p[0], FK_PIPE_R);
	add_sfd(p[1], FK_PIPE_W);
	add_pump(reopen_nb(p[0], O_RDONLY), 0, 1, 0);
	add_pump(reopen_nb(p[1], O_WRONLY), 0, 0, 1);
	/* ...and a non-blocking one. */
	if (pipe2(p, O_NONBLOCK))
		return "pipe2";
	add_sfd(p[0], FK_PIPE_R);
	add_sfd(p[1], FK_PIPE_W);
	add_pump(p[0], 0, 1, 0);
	add_pump(p[1], 0, 0, 1);
	/* The FIFO: held open read-write so that opening it never blocks. */
	add_sfd(open(SBX "/fifo", O_RDWR), FK_FIFO);
	add_sfd(open(SBX "/fifo", O_RDONLY | O_NONBLOCK), FK_FIFO);
	add_pump(open(SBX "/fifo", O_RDWR | O_NONBLOCK), 0, 1, 1);
	for (int type = 0; type < 3; type++) {
		static const int types[] = { SOCK_STREAM, SOCK_DGRAM, SOCK_SEQPACKET };

		if (socketpair(AF_UNIX, types[type], 0, sv))
			return "socketpair";
		if (type == 1)
			fcntl(sv[1], F_SETFL, O_NONBLOCK);
		add_sfd(sv[0], type ? FK_DSOCK : FK_SOCK);
		add_sfd(sv[1], type ? FK_DSOCK : FK_SOCK);
		add_pump(sv[0], 1, 1, 1);
		add_pump(sv[1], 1, 1, 1);
	}
	if (fuzz_tcp_pair(sv, &l))
		return "TCP loopback pair";
	add_sfd(sv[0], FK_SOCK);
	add_sfd(sv[1], FK_SOCK);
	add_sfd(l, FK_LISTEN);
	add_pump(sv[0], 1, 1, 1);
	add_pump(sv[1], 1, 1, 1);
	add_sfd(open("/dev/null", O_RDWR), FK_NULL);
	add_sfd(open(SBX "/null", O_RDWR), FK_NULL);
	efds[0] = eventfd(0, EFD_NONBLOCK);
	efds[1] = eventfd(0, EFD_NONBLOCK | EFD_SEMAPHORE);
	add_sfd(efds[0], FK_EVENTFD);
	add_sfd(efds[1], FK_EVENTFD);
	add_pump(efds[0], 0, 1, 0);
	add_pump(efds[1], 0, 1, 0);
	l = memfd_create("kaio-fuzz", 0);
	if (l < 0 || ftruncate(l, 65536))
		return "memfd";
	add_sfd(l, FK_MEMFD);
	add_sfd(epoll_create1(0), FK_EPOLL);
	for (int k = 0; k < FK_NR; k++)
		if (!nby_kind[k])
			return "a sandbox fd did not open";
	return NULL;
}

/* [size][PROT_NONE page], never unmapped. */
static char *guarded(size_t size, int prot)
{
	char *p = mmap(NULL, size + PAGE, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

	if (p == MAP_FAILED)
		return NULL;
	if (mprotect(p + size, PAGE, PROT_NONE) || mprotect(p, size, prot))
		return NULL;
	return p;
}

static const char *child_memory(void)
{
	ro_mem = guarded(RO_SIZE, PROT_READ | PROT_WRITE);
	hole = guarded(HOLE_SIZE, PROT_NONE);
	strpage = guarded(PAGE, PROT_READ | PROT_WRITE);
	longpath = malloc(PATH_MAX + 16);
	namemax = malloc(NAME_MAX + 2);
	if (!ro_mem || !hole || !strpage || !longpath || !namemax)
		return "memory";
	/* Harmless relative names, NUL every 100 bytes. */
	memset(ro_mem, 'r', RO_SIZE);
	for (size_t i = 99; i < RO_SIZE; i += 100)
		ro_mem[i] = 0;
	mprotect(ro_mem, RO_SIZE, PROT_READ);
	memset(strpage, 'A', PAGE);		/* no NUL before the guard */
	memset(longpath, 'a', PATH_MAX + 10);
	longpath[PATH_MAX + 10] = 0;
	memset(namemax, 'n', NAME_MAX + 1);
	namemax[NAME_MAX + 1] = 0;
	for (int i = 0; i < cfg.threads; i++) {
		thr[i].id = i;
		thr[i].r.s = ((uint64_t)cfg.seed << 8) ^ (0x1000 + i);
		thr[i].arena = guarded(ARENA, PROT_READ | PROT_WRITE);
		thr[i].evs = guarded(EVARENA, PROT_READ | PROT_WRITE);
		thr[i].args = guarded(ARGBUF, PROT_READ | PROT_WRITE);
		if (!thr[i].arena || !thr[i].evs || !thr[i].args)
			return "memory";
		for (int g = 0; g < 4; g++)
			regen_garbage(&thr[i], g);
	}
	return NULL;
}

/* The fuzzing child: never returns. */
static void child_main(void)
{
	struct rlimit nofile = { NOFILE, NOFILE }, fsize = { 16 << 20, 16 << 20 };
	struct sigaction sa = { .sa_handler = on_usr1 };
	pthread_t pump;
	const char *err;
	uint64_t start, last_report;
	int alive;

	stage("preparing");
	signal(SIGPIPE, SIG_IGN);
	signal(SIGXFSZ, SIG_IGN);
	sigaction(SIGUSR1, &sa, NULL);	/* no SA_RESTART: EINTR */
	/* As many fds as the owner table covers, or what the hard limit allows. */
	if (setrlimit(RLIMIT_NOFILE, &nofile) && (getrlimit(RLIMIT_NOFILE, &nofile) ||
	    (nofile.rlim_cur = nofile.rlim_max > NOFILE ? NOFILE : nofile.rlim_max,
	     setrlimit(RLIMIT_NOFILE, &nofile)))) {
		say("FAIL: setrlimit: %s", strerror(errno));
		_exit(2);
	}
	if (setrlimit(RLIMIT_FSIZE, &fsize)) {
		say("FAIL: setrlimit: %s", strerror(errno));
		_exit(2);
	}
	err = open_sandbox_fds();
	if (!err)
		err = child_memory();
	if (err) {
		say("FAIL: fuzz set-up: %s: %s", err, strerror(errno));
		_exit(2);
	}
	if (chdir(SBX) || become_nobody() || getgid() != NOBODY) {
		say("FAIL: cannot become nobody in " SBX ": %s", strerror(errno));
		_exit(2);
	}
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	for (int i = 0; i < NSHARED + cfg.threads; i++) {
		pthread_mutex_init(&slots[i].lock, NULL);
		slots[i].fd = slots[i].alt = -1;
		pthread_mutex_lock(&slots[i].lock);
		slot_open(&thr[i % cfg.threads], &slots[i]);
		pthread_mutex_unlock(&slots[i].lock);
	}
	stage("fuzzing");
	start = last_report = now_ns();
	if (pthread_create(&pump, NULL, pump_thread, NULL)) {
		say("FAIL: pthread_create");
		_exit(2);
	}
	for (int i = 0; i < cfg.threads; i++)
		if (pthread_create(&thr[i].th, NULL, fuzz_thread, &thr[i])) {
			say("FAIL: pthread_create");
			_exit(2);
		}
	/* Watchdog: no ioctl may stay in the kernel; progress for long runs. */
	do {
		uint64_t now;

		usleep(100000);
		now = now_ns();
		alive = 0;
		for (int i = 0; i < cfg.threads; i++) {
			uint64_t since = __atomic_load_n(&thr[i].busy_since, __ATOMIC_ACQUIRE);

			alive += !__atomic_load_n(&thr[i].done, __ATOMIC_ACQUIRE);
			if (!since || now < since || now - since < 5000000000ull)
				continue;
			if (now - since > 30000000000ull) {
				failure("T%d #%llu: ioctl cmd %#lx (%s) in the kernel for %llu s despite signals",
					i, (unsigned long long)thr[i].iter, thr[i].busy_cmd,
					cmd_name(thr[i].busy_cmd),
					(unsigned long long)((now - since) / 1000000000ull));
				__atomic_store_n(&stop_fuzz, 1, __ATOMIC_RELAXED);
			}
			if (now - thr[i].last_sig > 5000000000ull) {
				thr[i].last_sig = now;
				__atomic_add_fetch(&sh->stuck_signals, 1, __ATOMIC_RELAXED);
				pthread_kill(thr[i].th, SIGUSR1);
			}
		}
		if (now - last_report > 60000000000ull) {
			uint64_t n = __atomic_load_n(&sh->ioctls, __ATOMIC_RELAXED);

			last_report = now;
			say("fuzz: %llu ioctls, %.0f/s, %llu events", (unsigned long long)n,
			    n / ((now - start) / 1e9), (unsigned long long)sh->events);
		}
	} while (alive);
	for (int i = 0; i < cfg.threads; i++)
		pthread_join(thr[i].th, NULL);
	sh->secs = (now_ns() - start) / 1e9;

	/* Teardown with the pump still running, so no worker waits for ever. */
	stage("closing contexts");
	for (int i = 0; i < NSHARED + cfg.threads; i++) {
		struct slot *s = &slots[i];

		pthread_mutex_lock(&s->lock);
		drain_locked(&thr[0], s, 0);
		if (s->oldmap)
			munmap(s->oldmap, s->oldlen);
		s->oldmap = NULL;
		unmap_slot(s);
		close_slot_fd(&s->fd);
		close_slot_fd(&s->alt);
		pthread_mutex_unlock(&s->lock);
	}
	__atomic_store_n(&stop_pump, 1, __ATOMIC_RELAXED);
	pthread_join(pump, NULL);
	stage("exiting");
	_exit(sh->failures ? 1 : 0);
}

/* ------------------------------------------------------------------------
 * The test.
 */
static uint64_t env_u64(const char *name, uint64_t def)
{
	const char *v = getenv(name);

	return v && *v ? strtoull(v, NULL, 0) : def;
}

/*
 * The fuzzer counts as hung when it makes no progress for STALL_S seconds;
 * the whole run may take at most deadline_s() (100 ioctls/s, where 2800/s
 * were measured under TCG with KASAN).
 */
#define STALL_S 120

static unsigned int deadline_s(void)
{
	return 300 + env_u64("kaiofuzz", DEFAULT_IOCTLS) / 100;
}

FIXTURE(fuzz) {
	int unused;
};

FIXTURE_SETUP(fuzz)
{
}

FIXTURE_TEARDOWN(fuzz)
{
	sandbox_cleanup();
}

TEST_F_TIMEOUT(fuzz, ioctls, 600)
{
	struct kaio_ctx k;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	static uint8_t buf[65536];
	uint64_t deadline, last_change, last_ioctls = 0;
	char last_stage[64] = "";
	const char *err;
	long long inflight = -1, live = -1;
	pid_t pid;
	int st = 0, reaped = 0;

	if (geteuid() != 0)
		SKIP(return, "needs root (mounts the sandbox, then drops to nobody)");
	ASSERT_EQ(0, access(KAIO_DEVICE, F_OK));
	cfg.ioctls = env_u64("kaiofuzz", DEFAULT_IOCTLS);
	cfg.seed = env_u64("kaioseed", DEFAULT_SEED);
	cfg.threads = env_u64("kaiothreads", DEFAULT_THREADS);
	cfg.trace = env_u64("kaiotrace", 0);
	if (cfg.threads < 1 || cfg.threads > MAX_THREADS)
		cfg.threads = DEFAULT_THREADS;
	ksft_print_msg("fuzz: seed %#x (kaioseed=), %llu ioctls (kaiofuzz=), %d threads (kaiothreads=), as uid %d\n",
		       cfg.seed, (unsigned long long)cfg.ioctls, cfg.threads, NOBODY);
	err = sandbox_prepare();
	ASSERT_EQ(NULL, err) TH_LOG("sandbox: %s: %s", err, strerror(errno));
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, sh);
	fflush(stdout);
	fflush(stderr);
	pid = fork();
	ASSERT_LE(0, pid);
	if (pid == 0)
		child_main();

	/* The child must finish; a hang is reported with where it hung. */
	deadline = now_ns() + deadline_s() * 1000000000ull;
	last_change = now_ns();
	while (!reaped) {
		pid_t w = waitpid(pid, &st, WNOHANG);
		uint64_t now = now_ns();

		if (w == pid) {
			reaped = 1;
			break;
		}
		if (sh->ioctls != last_ioctls || strcmp(sh->stage, last_stage)) {
			last_ioctls = sh->ioctls;
			memcpy(last_stage, sh->stage, sizeof(last_stage));
			last_change = now;
		}
		if (now > deadline || now - last_change > STALL_S * 1000000000ull) {
			TH_LOG("fuzzer hung (stage: %s, no progress for %llu s) after %llu ioctls; killing it",
			       sh->stage, (unsigned long long)((now - last_change) / 1000000000ull),
			       (unsigned long long)sh->ioctls);
			kill(pid, SIGKILL);
			reaped = waitpid_within(pid, &st, 30000) == pid;
			ASSERT_TRUE(reaped) TH_LOG("the fuzzer does not die (stuck in the kernel, stage %s)",
						   sh->stage);
			ASSERT_TRUE(0) TH_LOG("fuzzer hung");
		}
		usleep(50000);
	}
	ksft_print_msg("fuzz: seed %#x: %llu ioctls in %.1f s, %.0f ioctls/s (%d threads); %llu ok, %llu iocbs accepted, %llu events, %llu KEEP'd fds closed, %llu contexts opened, %llu mmaps, %llu watchdog signals\n",
		       cfg.seed, (unsigned long long)sh->ioctls, sh->secs,
		       sh->secs > 0 ? sh->ioctls / sh->secs : 0.0, cfg.threads,
		       (unsigned long long)sh->ok, (unsigned long long)sh->submitted,
		       (unsigned long long)sh->events, (unsigned long long)sh->keep_closed,
		       (unsigned long long)sh->ctx_opens, (unsigned long long)sh->maps,
		       (unsigned long long)sh->stuck_signals);
	{
		char line[1024];
		size_t o = 0;

		for (int e = 1; e < 256 && o < sizeof(line) - 64; e++)
			if (sh->err[e])
				o += snprintf(line + o, sizeof(line) - o, " %s %llu",
					      strerrorname_np(e) ?: "?", (unsigned long long)sh->err[e]);
		ksft_print_msg("fuzz: errno:%s\n", o ? line : " none");
	}
	if (WIFSIGNALED(st)) {
		int sig = WTERMSIG(st);

		EXPECT_TRUE(sig == SIGKILL || sig == SIGXFSZ)
			TH_LOG("the fuzzer died of signal %d (%s) in stage %s (seed %#x)", sig,
			       strsignal(sig), sh->stage, cfg.seed);
		if (sig == SIGKILL || sig == SIGXFSZ)
			ksft_print_msg("fuzz: the fuzzer was killed by %s\n", strsignal(sig));
	} else {
		EXPECT_EQ(0, WEXITSTATUS(st)) TH_LOG("%s (seed %#x)", WEXITSTATUS(st) == 2 ?
						     "the fuzzer's set-up failed" : "failures", cfg.seed);
	}
	EXPECT_EQ(0, sh->failures);

	/* kaio still works: OPEN -> READ -> CLOSE, byte for byte. */
	ASSERT_EQ(0, kaio_setup(&k, 8));
	kaio_iocb_init(&iocb, 42);
	kaio_step_open(&iocb, AT_FDCWD, KAIO_SCRATCH "/p_1m3", O_RDONLY, 0);
	kaio_step_read(&iocb, buf, sizeof(buf), 4097);
	kaio_step_close(&iocb);
	ASSERT_EQ(1, kaio_submit(&k, &iocb, 1));
	ASSERT_EQ(1, kaio_wait(&k, &ev, 1, 1, 10ll * 1000 * 1000 * 1000));
	EXPECT_EQ(42, ev.user_data);
	EXPECT_EQ(0, ev.result);
	EXPECT_EQ(2, ev.step);
	EXPECT_EQ((int64_t)sizeof(buf), ev.step_result[1]);
	EXPECT_EQ(-1, kaio_pattern_check(buf, sizeof(buf), 3, 4097));
	kaio_close(&k);

	/* Every request and context is gone within 10 s. */
	for (int i = 0; i < 100; i++) {
		inflight = kaio_stat("inflight");
		live = kaio_stat("contexts_live");
		if (inflight == 0 && live == 0)
			break;
		usleep(100000);
	}
	EXPECT_EQ(0, inflight);
	EXPECT_EQ(0, live);
}

/* The harness's timeout follows kaiofuzz (runs after the test registers). */
static void __attribute__((constructor(KSELFTEST_PRIO_TEST + 1))) fuzz_timeout(void)
{
	_fuzz_ioctls_object->timeout = deadline_s() + 120;
}

TEST_HARNESS_MAIN
