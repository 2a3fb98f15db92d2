// SPDX-License-Identifier: LGPL-2.1 OR MIT
/*
 * libkaio-aio: the libaio ABI (libaio.so.1, Debian 12's libaio1 0.3.113)
 * implemented on /dev/kaio.
 *
 * Programs linked against libaio.so.1 run unmodified on kaio when the
 * directory holding this library as libaio.so.1 comes first in
 * LD_LIBRARY_PATH. It is built against the system's <libaio.h>, so struct
 * iocb, struct io_event and the callback contract are libaio's own, and
 * its symbols carry libaio's versions (lib/libaio.map).
 *
 * Mapping. An io_context_t points at a private struct aio_ctx: one kaio
 * context (/dev/kaio open, ring set up and mapped) and a table of exactly
 * the nr slots io_setup() was asked for. A slot is taken at io_submit()
 * and given back when io_getevents() reaps its event, so at most nr
 * requests are outstanding (submitted and not yet reaped), as the kernel
 * guarantees; beyond that io_submit() says -EAGAIN. Each libaio iocb
 * becomes one kaio chain:
 *
 *	PREAD, PWRITE		FD(aio_fildes), READ or WRITE
 *	PREADV, PWRITEV		FD, READV or WRITEV (KAIO_FEAT_VECTOR)
 *	FSYNC, FDSYNC		FD, FSYNC (KAIO_FSYNC_DATASYNC for FDSYNC)
 *	RWF_DSYNC, RWF_SYNC	... then FSYNC (datasync for DSYNC) after a write
 *	RWF_NOWAIT		KAIO_RW_NOWAIT (KAIO_FEAT_NOWAIT)
 *	IOCB_FLAG_RESFD		KAIO_IOCB_RESFD + resfd (KAIO_FEAT_RESFD)
 *
 * kaio's user_data is (generation << 32 | slot index); the slot remembers
 * the iocb pointer (the event's obj), iocb->data as it was at submit (the
 * kernel copies aio_data the same way) and where the result lives.
 *
 * Threads. Any number of threads may submit, reap and cancel on one
 * context at once. A mutex guards the slot table only; it is never held
 * across an ioctl (SUBMIT may run I/O inline for a while). Events are
 * consumed with KAIO_IOC_GETEVENTS only, which the module serialises; the
 * mapped ring is only peeked at (is it empty?) for non-waiting calls.
 *
 * Every function returns a count, 0, or -errno, as libaio does; errno is
 * left as it was.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <libaio.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "kaio.h"

#define EXPORT __attribute__((visibility("default")))

/* From the kernel's <linux/aio_abi.h> (which clashes with <libaio.h>). */
#define AIO_IOCB_FLAG_RESFD	(1U << 0)
#define AIO_IOCB_FLAG_IOPRIO	(1U << 1)

/* The kernel refuses io_setup() beyond this many events (fs/aio.c). */
#define AIO_MAX_EVENTS		(0x10000000U / sizeof(struct io_event))

/* Largest iovec array (UIO_MAXIOV). */
#define AIO_MAX_IOV		1024

/* iocbs per KAIO_IOC_SUBMIT, and events per KAIO_IOC_GETEVENTS (stack). */
#define SUBMIT_BATCH		32
#define REAP_BATCH		64

#define CTX_MAGIC		0x6b61696fU	/* "kaio" */

/* Slot states. */
#define SLOT_FREE		0
#define SLOT_USED		1	/* submitted (or being submitted) */

struct aio_slot {
	struct iocb *obj;	/* the caller's iocb: io_event.obj */
	void *data;		/* iocb->data at submit: io_event.data */
	uint32_t gen;		/* bumped at each use: stale user_data never match */
	uint8_t state;
	uint8_t synced;		/* a FSYNC follows the transfer (RWF_[D]SYNC) */
	uint16_t __pad;
	uint32_t next_free;
};

struct aio_ctx {
	/*
	 * fio's userspace_reap option reads the kernel's struct aio_ring
	 * through the io_context_t, and only if the word at byte 16 is
	 * AIO_RING_MAGIC; libaio does the same for zero timeouts. These
	 * words keep that check false, so both fall back to io_getevents().
	 */
	uint32_t not_aio_ring[8];
	uint32_t magic;		/* CTX_MAGIC while the context is alive */
	uint32_t fork_gen;	/* fork_gen at io_setup() */
	uint32_t nr;		/* io_setup()'s nr: slots */
	uint64_t features;	/* KAIO_FEAT_* of the module */
	struct kaio_ctx k;	/* fd, mapped ring */
	pthread_mutex_t lock;	/* slots, free list, outstanding, dying */
	uint32_t free_head;	/* UINT32_MAX: none free */
	uint32_t outstanding;	/* slots in use */
	int dying;		/* io_destroy() started */
	struct aio_slot *slots;
};

/* Exported so a program (and libaio_test) can tell kaio's library loaded. */
EXPORT const char kaio_aio_id[] = "libkaio-aio 1 (libaio ABI on /dev/kaio)";

/*
 * A context belongs to the process that set it up: in a fork() child,
 * every call on it is -EINVAL, as the kernel's lookup_ioctx() fails in
 * another mm (and the child has neither the ring mapping nor, perhaps, a
 * usable lock). fork_gen moves in each child.
 */
static unsigned int fork_gen;
static pthread_once_t atfork_once = PTHREAD_ONCE_INIT;

static void atfork_child(void)
{
	__atomic_add_fetch(&fork_gen, 1, __ATOMIC_RELAXED);
}

static void atfork_register(void)
{
	pthread_atfork(NULL, NULL, atfork_child);
}

static struct aio_ctx *ctx_get(io_context_t c)
{
	struct aio_ctx *ctx = (struct aio_ctx *)c;

	if (!ctx || ctx->magic != CTX_MAGIC ||
	    ctx->fork_gen != __atomic_load_n(&fork_gen, __ATOMIC_RELAXED))
		return NULL;
	return ctx;
}

static inline uint64_t slot_key(const struct aio_ctx *ctx, uint32_t i)
{
	return (uint64_t)ctx->slots[i].gen << 32 | i;
}

/* Takes up to @want free slots into @idx; returns how many. Caller locks. */
static unsigned int slots_take(struct aio_ctx *ctx, uint32_t *idx,
			       unsigned int want)
{
	unsigned int n = 0;

	while (n < want && ctx->free_head != UINT32_MAX) {
		uint32_t i = ctx->free_head;
		struct aio_slot *s = &ctx->slots[i];

		ctx->free_head = s->next_free;
		s->state = SLOT_USED;
		s->gen++;
		idx[n++] = i;
	}
	ctx->outstanding += n;
	return n;
}

/* Gives slot @i back. Caller locks. */
static void slot_put(struct aio_ctx *ctx, uint32_t i)
{
	struct aio_slot *s = &ctx->slots[i];

	s->state = SLOT_FREE;
	s->obj = NULL;
	s->data = NULL;
	s->next_free = ctx->free_head;
	ctx->free_head = i;
	ctx->outstanding--;
}

/* ------------------------------------------------------------------------
 * io_setup, io_destroy
 */

static int aio_setup(int nr, io_context_t *ctxp)
{
	struct kaio_version v = { 0 };
	struct aio_ctx *ctx;
	unsigned int entries;
	int ret;

	if (!ctxp)
		return -EFAULT;
	if (*ctxp || nr <= 0 || (unsigned int)nr > AIO_MAX_EVENTS)
		return -EINVAL;
	for (entries = 1; entries < (unsigned int)nr; entries <<= 1)
		;

	ctx = calloc(1, sizeof(*ctx));
	if (!ctx)
		return -ENOMEM;
	ctx->slots = calloc(nr, sizeof(*ctx->slots));
	if (!ctx->slots) {
		free(ctx);
		return -ENOMEM;
	}
	for (int i = 0; i < nr; i++)
		ctx->slots[i].next_free = i + 1 < nr ? (uint32_t)i + 1 : UINT32_MAX;
	ctx->free_head = 0;
	ctx->nr = nr;
	pthread_mutex_init(&ctx->lock, NULL);

	ret = kaio_setup(&ctx->k, entries);
	if (ret < 0) {
		/*
		 * No /dev/kaio: as a kernel without AIO. A ring beyond the
		 * module's max_ring_entries: as nr beyond fs.aio-max-nr.
		 */
		if (ret == -ENOENT || ret == -ENODEV || ret == -ENXIO)
			ret = -ENOSYS;
		else if (ret == -EINVAL)
			ret = -EAGAIN;
		goto fail;
	}
	if (ioctl(ctx->k.fd, KAIO_IOC_VERSION, &v) < 0 ||
	    v.abi_version != KAIO_ABI_VERSION) {
		kaio_close(&ctx->k);
		ret = -ENOSYS;
		goto fail;
	}
	ctx->features = v.features;
	pthread_once(&atfork_once, atfork_register);
	ctx->fork_gen = __atomic_load_n(&fork_gen, __ATOMIC_RELAXED);
	ctx->magic = CTX_MAGIC;
	*ctxp = (io_context_t)ctx;
	return 0;
fail:
	pthread_mutex_destroy(&ctx->lock);
	free(ctx->slots);
	free(ctx);
	return ret;
}

static int aio_reap(struct aio_ctx *ctx, long min_nr, long nr,
		    struct io_event *events, const struct timespec *timeout,
		    const sigset_t *sigmask);

/*
 * Cancels everything outstanding and waits until every completion has
 * arrived: when it returns, no request touches the caller's buffers (the
 * kernel's io_destroy() gives the same guarantee). Then the kaio context
 * is closed.
 */
static int aio_destroy(io_context_t c)
{
	struct aio_ctx *ctx = ctx_get(c);
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	struct io_event ev[REAP_BATCH];
	uint64_t *keys;
	unsigned int n = 0;

	if (!ctx)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	if (ctx->dying) {
		pthread_mutex_unlock(&ctx->lock);
		return -EINVAL;
	}
	ctx->dying = 1;
	keys = malloc(sizeof(*keys) * (ctx->outstanding + 1));
	for (uint32_t i = 0; keys && i < ctx->nr; i++)
		if (ctx->slots[i].state == SLOT_USED)
			keys[n++] = slot_key(ctx, i);
	pthread_mutex_unlock(&ctx->lock);

	/* Without memory for the keys, the requests run to their end. */
	for (unsigned int i = 0; i < n; i++)
		kaio_cancel(&ctx->k, keys[i]);
	free(keys);

	/*
	 * Reap until nothing is outstanding. Short waits: another thread may
	 * be reaping the last events itself.
	 */
	for (;;) {
		int r;

		pthread_mutex_lock(&ctx->lock);
		n = ctx->outstanding;
		pthread_mutex_unlock(&ctx->lock);
		if (!n)
			break;
		r = aio_reap(ctx, 1, REAP_BATCH, ev, &tick, NULL);
		if (r < 0 && r != -EINTR)
			break;	/* the context is unusable (forked child?) */
	}

	ctx->magic = 0;
	kaio_close(&ctx->k);
	pthread_mutex_destroy(&ctx->lock);
	free(ctx->slots);
	free(ctx);
	return 0;
}

/* ------------------------------------------------------------------------
 * io_submit
 */

/*
 * The checks the kernel makes before it takes a request (fs/aio.c,
 * io_submit_one()): a reserved field, and sizes that do not fit.
 */
static int iocb_precheck(const struct iocb *cb)
{
	if (cb->u.c.__pad3)		/* aio_reserved2 */
		return -EINVAL;
	if ((ssize_t)cb->u.c.nbytes < 0)
		return -EINVAL;
	return 0;
}

static struct kaio_step *step_add(struct kaio_iocb *k, unsigned int op)
{
	struct kaio_step *s = &k->steps[k->nr_steps++];

	memset(s, 0, sizeof(*s));
	s->opcode = op;
	return s;
}

/*
 * Translates @cb into the chain @k (user_data already set). Sets *synced
 * when a FSYNC follows the transfer. Returns 0 or the -errno io_submit()
 * reports for this iocb.
 */
static int iocb_translate(const struct iocb *cb, struct kaio_iocb *k,
			  uint8_t *synced)
{
	unsigned int rwf = cb->aio_rw_flags;
	unsigned int op_flags = 0, sync = 0;
	int write = 0, vector = 0;
	struct kaio_step *s;

	*synced = 0;
	switch (cb->aio_lio_opcode) {
	case IO_CMD_PWRITE:
		write = 1;
		break;
	case IO_CMD_PREAD:
		break;
	case IO_CMD_PWRITEV:
		write = 1;
		/* fallthrough */
	case IO_CMD_PREADV:
		vector = 1;
		if (cb->u.v.nr > AIO_MAX_IOV)
			return -EINVAL;
		break;
	case IO_CMD_FSYNC:
	case IO_CMD_FDSYNC:
		/* As aio_fsync(): nothing but the fd may be set. */
		if (cb->u.c.buf || cb->u.c.nbytes || cb->u.c.offset || rwf)
			return -EINVAL;
		break;
	default:
		/* IO_CMD_POLL and IO_CMD_NOOP have no kaio step. */
		return -EINVAL;
	}

	if (cb->aio_lio_opcode != IO_CMD_FSYNC &&
	    cb->aio_lio_opcode != IO_CMD_FDSYNC) {
		/* fs/aio.c drops RWF_HIPRI: completions are not polled. */
		rwf &= ~(unsigned int)RWF_HIPRI;
		if (rwf & ~(unsigned int)(RWF_DSYNC | RWF_SYNC | RWF_NOWAIT))
			return -EOPNOTSUPP;	/* RWF_APPEND, unknown bits */
		if (rwf & RWF_NOWAIT)
			op_flags |= KAIO_RW_NOWAIT;
		/* As for write(2): O_[D]SYNC semantics apply to writes only. */
		if (write && (rwf & RWF_SYNC))
			sync = 1;
		else if (write && (rwf & RWF_DSYNC))
			sync = 2;
	}

	k->flags = 0;
	k->nr_steps = 0;
	k->reserved0 = 0;
	k->resfd = 0;
	k->reserved1 = 0;
	k->reserved2 = 0;
	/* IOCB_FLAG_IOPRIO: accepted, the priority is not applied. */
	if (cb->u.c.flags & AIO_IOCB_FLAG_RESFD) {
		k->flags |= KAIO_IOCB_RESFD;
		k->resfd = (int)cb->u.c.resfd;
	}

	s = step_add(k, KAIO_OP_FD);
	s->fd = cb->aio_fildes;

	switch (cb->aio_lio_opcode) {
	case IO_CMD_FSYNC:
	case IO_CMD_FDSYNC:
		s = step_add(k, KAIO_OP_FSYNC);
		if (cb->aio_lio_opcode == IO_CMD_FDSYNC)
			s->op_flags = KAIO_FSYNC_DATASYNC;
		return 0;
	}

	if (vector && cb->u.v.nr == 0) {
		/* No iovec at all: a transfer of 0 bytes, as preadv(2). */
		s = step_add(k, write ? KAIO_OP_WRITE : KAIO_OP_READ);
	} else if (vector) {
		s = step_add(k, write ? KAIO_OP_WRITEV : KAIO_OP_READV);
		s->addr = (uintptr_t)cb->u.v.vec;
		s->len = cb->u.v.nr;
	} else {
		s = step_add(k, write ? KAIO_OP_WRITE : KAIO_OP_READ);
		s->addr = (uintptr_t)cb->u.c.buf;
		s->len = cb->u.c.nbytes;
	}
	s->offset = cb->u.c.offset;
	s->op_flags = op_flags;

	if (sync) {
		/*
		 * The write's bytes are synced even if it was short; the
		 * event reports the write's count (or the sync's error).
		 */
		s = step_add(k, KAIO_OP_FSYNC);
		if (sync == 2)
			s->op_flags = KAIO_FSYNC_DATASYNC;
		k->flags |= KAIO_IOCB_SHORT_OK;
		*synced = 1;
	}
	return 0;
}

static int aio_submit(io_context_t c, long nr, struct iocb **ios)
{
	struct aio_ctx *ctx = ctx_get(c);
	struct kaio_iocb kb[SUBMIT_BATCH];
	uint32_t idx[SUBMIT_BATCH];
	long done = 0;

	if (!ctx || nr < 0)
		return -EINVAL;
	if (nr > 0 && !ios)
		return -EFAULT;
	/* As the kernel: never more than the context can hold at once. */
	if (nr > ctx->nr)
		nr = ctx->nr;

	while (done < nr) {
		unsigned int want = nr - done < SUBMIT_BATCH ? nr - done : SUBMIT_BATCH;
		unsigned int got, n, accepted;
		int err = 0, r;

		pthread_mutex_lock(&ctx->lock);
		if (ctx->dying) {
			/* io_destroy() has begun: as a destroyed context. */
			pthread_mutex_unlock(&ctx->lock);
			return done ? done : -EINVAL;
		}
		got = slots_take(ctx, idx, want);
		pthread_mutex_unlock(&ctx->lock);

		/* Build the batch; the first bad iocb ends it. */
		for (n = 0; n < want; n++) {
			struct iocb *cb = ios[done + n];
			struct aio_slot *s;

			if (!cb) {
				err = -EFAULT;
				break;
			}
			err = iocb_precheck(cb);
			if (!err && n >= got)
				err = -EAGAIN;	/* nr requests outstanding */
			if (err)
				break;
			s = &ctx->slots[idx[n]];
			kb[n].user_data = slot_key(ctx, idx[n]);
			err = iocb_translate(cb, &kb[n], &s->synced);
			if (err)
				break;
			s->data = cb->data;
			/* io_cancel() may look for it at once (under the lock). */
			__atomic_store_n(&s->obj, cb, __ATOMIC_RELEASE);
		}

		accepted = 0;
		r = 0;
		if (n > 0) {
			r = kaio_submit(&ctx->k, kb, n);
			if (r > 0)
				accepted = r;
		}

		/* Give back the slots the module did not take (no event). */
		if (accepted < got) {
			pthread_mutex_lock(&ctx->lock);
			for (unsigned int i = accepted; i < got; i++)
				slot_put(ctx, idx[i]);
			pthread_mutex_unlock(&ctx->lock);
		}
		done += accepted;
		/* The module refused an iocb: its error if it was the first. */
		if (r < 0)
			return done ? done : r;
		if (accepted < n)
			return done;
		/* The library refused iocb done (EAGAIN, EINVAL, ...). */
		if (err)
			return done ? done : err;
	}
	return done;
}

/* ------------------------------------------------------------------------
 * io_getevents, io_pgetevents
 */

/* The libaio event for kaio event @kev; 0 if @kev is not ours. */
static int event_fill(struct aio_ctx *ctx, const struct kaio_event *kev,
		      struct io_event *ev)
{
	uint32_t i = (uint32_t)kev->user_data;
	uint32_t gen = (uint32_t)(kev->user_data >> 32);
	struct aio_slot *s;
	long res;

	if (i >= ctx->nr)
		return 0;
	s = &ctx->slots[i];
	if (s->state != SLOT_USED || s->gen != gen)
		return 0;
	res = kev->result;
	/* FD, transfer, FSYNC: the transfer's count unless something failed. */
	if (s->synced && res >= 0)
		res = kev->step_result[1];
	ev->data = s->data;
	ev->obj = s->obj;
	ev->res = (unsigned long)res;
	ev->res2 = 0;
	slot_put(ctx, i);
	return 1;
}

static int64_t ts_ns(const struct timespec *ts)
{
	if (ts->tv_sec < 0 || ts->tv_nsec < 0)
		return 0;
	if (ts->tv_sec >= INT64_MAX / 1000000000 - 1)
		return -1;	/* for ever, in practice */
	return (int64_t)ts->tv_sec * 1000000000 + ts->tv_nsec;
}

static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* Whether the ring holds no event (a peek: nothing is consumed). */
static int ring_empty(struct aio_ctx *ctx)
{
	uint32_t tail = __atomic_load_n(&ctx->k.ring->tail, __ATOMIC_ACQUIRE);

	return tail == __atomic_load_n(&ctx->k.ring->head, __ATOMIC_RELAXED);
}

/*
 * io_getevents() as fs/aio.c does it: wait for min_nr events (or the
 * relative @timeout; NULL: for ever), return up to nr. A signal ends the
 * wait: the events so far, or -EINTR if none. In batches of REAP_BATCH
 * kaio events, so the stack stays small whatever nr is.
 */
static int aio_reap(struct aio_ctx *ctx, long min_nr, long nr,
		    struct io_event *events, const struct timespec *timeout,
		    const sigset_t *sigmask)
{
	struct kaio_event kev[REAP_BATCH];
	int64_t tmo = timeout ? ts_ns(timeout) : -1;
	int64_t deadline;
	long got = 0;

	if (min_nr < 0 || nr < 0 || min_nr > nr)
		return -EINVAL;
	if (nr > 0 && !events)
		return -EFAULT;
	if (sigmask && !(ctx->features & KAIO_FEAT_SIGMASK))
		return -ENOSYS;
	if (nr == 0)
		return 0;
	if ((min_nr == 0 || tmo == 0) && ring_empty(ctx))
		return 0;
	deadline = tmo > 0 ? mono_ns() + tmo : 0;

	for (;;) {
		long max = nr - got < REAP_BATCH ? nr - got : REAP_BATCH;
		long min = min_nr > got ? min_nr - got : 0;
		struct kaio_getevents g = {
			.events = (uintptr_t)kev,
			.min_nr = min < max ? min : max,
			.max_nr = max,
			.timeout_ns = tmo,
			.sigmask = (uintptr_t)sigmask,
		};
		long r, filled = 0;

		if (got >= min_nr) {
			g.timeout_ns = 0;	/* only what is there already */
		} else if (got && tmo > 0) {
			int64_t left = deadline - mono_ns();

			g.timeout_ns = left > 0 ? left : 0;
		}

		r = ioctl(ctx->k.fd, KAIO_IOC_GETEVENTS, &g);
		if (r < 0) {
			r = -errno;
			return got ? got : r;
		}
		pthread_mutex_lock(&ctx->lock);
		for (long i = 0; i < r; i++)
			filled += event_fill(ctx, &kev[i], &events[got + filled]);
		pthread_mutex_unlock(&ctx->lock);
		got += filled;
		/* A short batch: the wait is over (enough, or timed out). */
		if (r < max || got >= nr)
			return got;
	}
}

static int aio_getevents(io_context_t c, long min_nr, long nr,
			 struct io_event *events, const struct timespec *timeout,
			 const sigset_t *sigmask)
{
	struct aio_ctx *ctx = ctx_get(c);

	if (!ctx || ctx->dying)
		return -EINVAL;
	return aio_reap(ctx, min_nr, nr, events, timeout, sigmask);
}

/* ------------------------------------------------------------------------
 * io_cancel
 */

/*
 * Cancels the outstanding request @iocb. As modern kernels: -EINPROGRESS
 * when it will complete, and its event (res -ECANCELED) comes through
 * io_getevents(); @result is not written. -EINVAL when @iocb is not
 * outstanding or has already completed.
 */
static int aio_cancel(io_context_t c, struct iocb *iocb, struct io_event *result)
{
	struct aio_ctx *ctx = ctx_get(c);
	uint64_t key = 0;
	int found = 0;

	(void)result;
	if (!ctx || !iocb)
		return -EINVAL;
	pthread_mutex_lock(&ctx->lock);
	for (uint32_t i = 0; i < ctx->nr; i++) {
		if (ctx->slots[i].state == SLOT_USED &&
		    __atomic_load_n(&ctx->slots[i].obj, __ATOMIC_ACQUIRE) == iocb) {
			key = slot_key(ctx, i);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&ctx->lock);
	if (!found)
		return -EINVAL;
	/* A stale key (the slot was reaped meanwhile) matches nothing. */
	if (kaio_cancel(&ctx->k, key) < 0)
		return -EINVAL;
	return -EINPROGRESS;
}

/* ------------------------------------------------------------------------
 * The exported ABI. Each entry point keeps errno as it found it.
 */

#define KEEP_ERRNO(expr)			\
	({					\
		int __e = errno;		\
		int __r = (expr);		\
		errno = __e;			\
		__r;				\
	})

/*
 * LIBAIO_0.4 (default versions). io_cancel, io_getevents and io_queue_wait
 * exist in two versions, so each is bound to its version by name.
 */

EXPORT int io_setup(int maxevents, io_context_t *ctxp)
{
	return KEEP_ERRNO(aio_setup(maxevents, ctxp));
}

EXPORT int io_destroy(io_context_t ctx)
{
	return KEEP_ERRNO(aio_destroy(ctx));
}

EXPORT __attribute__((symver("io_getevents@@LIBAIO_0.4")))
int kaio_aio_getevents_0_4(io_context_t ctx, long min_nr, long nr,
			   struct io_event *events, struct timespec *timeout)
{
	return KEEP_ERRNO(aio_getevents(ctx, min_nr, nr, events, timeout, NULL));
}

EXPORT __attribute__((symver("io_cancel@@LIBAIO_0.4")))
int kaio_aio_cancel_0_4(io_context_t ctx, struct iocb *iocb,
			struct io_event *evt)
{
	return KEEP_ERRNO(aio_cancel(ctx, iocb, evt));
}

/* Waits for nothing (min_nr = nr = 0), as libaio's io_queue_wait(). */
EXPORT __attribute__((symver("io_queue_wait@@LIBAIO_0.4")))
int kaio_aio_queue_wait_0_4(io_context_t ctx, struct timespec *timeout)
{
	(void)timeout;
	return ctx_get(ctx) ? 0 : -EINVAL;
}

/* LIBAIO_0.5 */

EXPORT int io_pgetevents(io_context_t ctx, long min_nr, long nr,
			 struct io_event *events, struct timespec *timeout,
			 sigset_t *sigmask)
{
	return KEEP_ERRNO(aio_getevents(ctx, min_nr, nr, events, timeout, sigmask));
}

/* LIBAIO_0.1 */

EXPORT int io_submit(io_context_t ctx, long nr, struct iocb *ios[])
{
	return KEEP_ERRNO(aio_submit(ctx, nr, ios));
}

EXPORT int io_queue_init(int maxevents, io_context_t *ctxp)
{
	if (maxevents <= 0)
		return -EINVAL;
	if (!ctxp)
		return -EFAULT;
	*ctxp = NULL;
	return KEEP_ERRNO(aio_setup(maxevents, ctxp));
}

EXPORT int io_queue_release(io_context_t ctx)
{
	return KEEP_ERRNO(aio_destroy(ctx));
}

/*
 * Reaps what has completed, without waiting, and calls each iocb's
 * callback (io_set_callback() stored it in iocb->data) as
 * cb(ctx, iocb, res, res2). Returns 0 once nothing is left, or -errno.
 */
EXPORT int io_queue_run(io_context_t ctx)
{
	static const struct timespec now = { 0, 0 };
	struct io_event ev[16];
	int e = errno, r;

	while ((r = aio_getevents(ctx, 0, 16, ev, &now, NULL)) > 0) {
		for (int i = 0; i < r; i++) {
			io_callback_t cb = (io_callback_t)ev[i].data;

			cb(ctx, ev[i].obj, (long)ev[i].res, (long)ev[i].res2);
		}
	}
	errno = e;
	return r;
}

/* LIBAIO_0.1 compatibility versions (not the default for new links). */

/* The 0.1 io_cancel had no result argument. */
EXPORT __attribute__((symver("io_cancel@LIBAIO_0.1")))
int kaio_aio_cancel_0_1(io_context_t ctx, struct iocb *iocb)
{
	return KEEP_ERRNO(aio_cancel(ctx, iocb, NULL));
}

/* The 0.1 io_getevents waited for at least one event. */
EXPORT __attribute__((symver("io_getevents@LIBAIO_0.1")))
int kaio_aio_getevents_0_1(io_context_t ctx, long nr, struct io_event *events,
			   const struct timespec *timeout)
{
	return KEEP_ERRNO(aio_getevents(ctx, 1, nr, events, timeout, NULL));
}

EXPORT __attribute__((symver("io_queue_wait@LIBAIO_0.1")))
int kaio_aio_queue_wait_0_1(io_context_t ctx, struct timespec *timeout)
{
	(void)timeout;
	return ctx_get(ctx) ? 0 : -EINVAL;
}
