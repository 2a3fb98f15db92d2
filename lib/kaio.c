// SPDX-License-Identifier: LGPL-2.1 OR MIT
/* libkaio: see kaio.h. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "kaio.h"

static int ret_errno(int r)
{
	return r < 0 ? -errno : r;
}

int kaio_setup(struct kaio_ctx *ctx, unsigned int entries)
{
	struct kaio_setup s = { .entries = entries };
	void *map;
	int err;

	memset(ctx, 0, sizeof(*ctx));
	ctx->fd = open(KAIO_DEVICE, O_RDWR | O_CLOEXEC);
	if (ctx->fd < 0)
		return -errno;
	if (ioctl(ctx->fd, KAIO_IOC_SETUP, &s) < 0)
		goto fail;
	map = mmap(NULL, s.ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		   ctx->fd, 0);
	if (map == MAP_FAILED)
		goto fail;
	ctx->entries = s.entries;
	ctx->ring = map;
	ctx->events = (struct kaio_event *)((char *)map + s.events_off);
	ctx->map_size = s.ring_size;
	return 0;
fail:
	err = -errno;
	close(ctx->fd);
	ctx->fd = -1;
	return err;
}

void kaio_close(struct kaio_ctx *ctx)
{
	if (ctx->ring)
		munmap(ctx->ring, ctx->map_size);
	if (ctx->fd >= 0)
		close(ctx->fd);
	ctx->ring = NULL;
	ctx->fd = -1;
}

void kaio_iocb_init(struct kaio_iocb *iocb, uint64_t user_data)
{
	memset(iocb, 0, sizeof(*iocb));
	iocb->user_data = user_data;
}

static struct kaio_step *add(struct kaio_iocb *iocb, unsigned int op)
{
	struct kaio_step *s;

	if (iocb->nr_steps >= KAIO_MAX_STEPS)
		return NULL;
	s = &iocb->steps[iocb->nr_steps++];
	memset(s, 0, sizeof(*s));
	s->opcode = op;
	return s;
}

struct kaio_step *kaio_step_open(struct kaio_iocb *iocb, int dirfd,
				 const char *path, int flags, unsigned int mode)
{
	struct kaio_step *s = add(iocb, KAIO_OP_OPEN);

	if (s) {
		s->fd = dirfd;
		s->addr = (uintptr_t)path;
		s->op_flags = flags;
		s->arg = mode;
	}
	return s;
}

struct kaio_step *kaio_step_open_in_root(struct kaio_iocb *iocb, int dirfd,
					 const char *path, int flags,
					 unsigned int mode)
{
	struct kaio_step *s = kaio_step_open(iocb, dirfd, path, flags, mode);

	if (s)
		s->len = KAIO_OPEN_IN_ROOT;
	return s;
}

struct kaio_step *kaio_step_fd(struct kaio_iocb *iocb, int fd)
{
	struct kaio_step *s = add(iocb, KAIO_OP_FD);

	if (s)
		s->fd = fd;
	return s;
}

static struct kaio_step *xfer(struct kaio_iocb *iocb, unsigned int op,
			      const void *buf, uint64_t len, int64_t offset)
{
	struct kaio_step *s = add(iocb, op);

	if (s) {
		s->addr = (uintptr_t)buf;
		s->len = len;
		s->offset = offset;
	}
	return s;
}

struct kaio_step *kaio_step_read(struct kaio_iocb *iocb, void *buf,
				 uint64_t len, int64_t offset)
{
	return xfer(iocb, KAIO_OP_READ, buf, len, offset);
}

struct kaio_step *kaio_step_write(struct kaio_iocb *iocb, const void *buf,
				  uint64_t len, int64_t offset)
{
	return xfer(iocb, KAIO_OP_WRITE, buf, len, offset);
}

struct kaio_step *kaio_step_readv(struct kaio_iocb *iocb,
				  const struct iovec *iov, unsigned int nr,
				  int64_t offset)
{
	return xfer(iocb, KAIO_OP_READV, iov, nr, offset);
}

struct kaio_step *kaio_step_writev(struct kaio_iocb *iocb,
				   const struct iovec *iov, unsigned int nr,
				   int64_t offset)
{
	return xfer(iocb, KAIO_OP_WRITEV, iov, nr, offset);
}

struct kaio_step *kaio_step_fsync(struct kaio_iocb *iocb, int datasync)
{
	struct kaio_step *s = add(iocb, KAIO_OP_FSYNC);

	if (s && datasync)
		s->op_flags = KAIO_FSYNC_DATASYNC;
	return s;
}

struct kaio_step *kaio_step_close(struct kaio_iocb *iocb)
{
	return add(iocb, KAIO_OP_CLOSE);
}

struct kaio_step *kaio_step_keep(struct kaio_iocb *iocb, int cloexec)
{
	struct kaio_step *s = add(iocb, KAIO_OP_KEEP);

	if (s && cloexec)
		s->op_flags = KAIO_KEEP_CLOEXEC;
	return s;
}

struct kaio_step *kaio_step_sendfile(struct kaio_iocb *iocb, int out_fd,
				     int64_t offset, uint64_t len)
{
	struct kaio_step *s = add(iocb, KAIO_OP_SENDFILE);

	if (s) {
		s->fd = out_fd;
		s->offset = offset;
		s->len = len;
	}
	return s;
}

struct kaio_step *kaio_step_send(struct kaio_iocb *iocb, int sock,
				 const void *buf, uint64_t len)
{
	struct kaio_step *s = xfer(iocb, KAIO_OP_SEND, buf, len, 0);

	if (s)
		s->fd = sock;
	return s;
}

struct kaio_step *kaio_step_recv(struct kaio_iocb *iocb, int sock, void *buf,
				 uint64_t len)
{
	struct kaio_step *s = xfer(iocb, KAIO_OP_RECV, buf, len, 0);

	if (s)
		s->fd = sock;
	return s;
}

struct kaio_step *kaio_step_statx(struct kaio_iocb *iocb, struct statx *stx,
				  unsigned int mask)
{
	struct kaio_step *s = xfer(iocb, KAIO_OP_STATX, stx, sizeof(*stx), 0);

	if (s)
		s->arg = mask;
	return s;
}

int kaio_submit(struct kaio_ctx *ctx, const struct kaio_iocb *iocbs,
		unsigned int nr)
{
	struct kaio_submit s = { .iocbs = (uintptr_t)iocbs, .nr = nr };

	return ret_errno(ioctl(ctx->fd, KAIO_IOC_SUBMIT, &s));
}

int kaio_peek(struct kaio_ctx *ctx, struct kaio_event *out, unsigned int max)
{
	uint32_t head = __atomic_load_n(&ctx->ring->head, __ATOMIC_RELAXED);
	uint32_t tail = __atomic_load_n(&ctx->ring->tail, __ATOMIC_ACQUIRE);
	unsigned int n = 0;

	while (head != tail && n < max) {
		out[n++] = ctx->events[head & (ctx->entries - 1)];
		head++;
	}
	__atomic_store_n(&ctx->ring->head, head, __ATOMIC_RELEASE);
	return n;
}

int kaio_wait(struct kaio_ctx *ctx, struct kaio_event *out, unsigned int min,
	      unsigned int max, int64_t timeout_ns)
{
	struct kaio_getevents g = {
		.events = (uintptr_t)out,
		.min_nr = min,
		.max_nr = max,
		.timeout_ns = timeout_ns,
	};

	return ret_errno(ioctl(ctx->fd, KAIO_IOC_GETEVENTS, &g));
}

int kaio_cancel(struct kaio_ctx *ctx, uint64_t user_data)
{
	struct kaio_cancel c = { .user_data = user_data };

	return ret_errno(ioctl(ctx->fd, KAIO_IOC_CANCEL, &c));
}

int kaio_set_eventfd(struct kaio_ctx *ctx, int efd)
{
	return ret_errno(ioctl(ctx->fd, KAIO_IOC_EVENTFD, &efd));
}
