/* SPDX-License-Identifier: LGPL-2.1 OR MIT */
/*
 * libkaio: a small C library over /dev/kaio.
 *
 *	struct kaio_ctx ctx;
 *	struct kaio_iocb iocb;
 *	struct kaio_event ev;
 *
 *	if (kaio_setup(&ctx, 256))		// open /dev/kaio, ring of 256, mmap it
 *		err(1, "kaio_setup");
 *	kaio_iocb_init(&iocb, 42);		// user_data 42
 *	kaio_step_open(&iocb, AT_FDCWD, "/etc/hostname", O_RDONLY, 0);
 *	kaio_step_read(&iocb, buf, sizeof(buf), 0);
 *	kaio_step_close(&iocb);
 *	kaio_submit(&ctx, &iocb, 1);		// returns at once
 *	kaio_wait(&ctx, &ev, 1, 1, -1);		// or reap from the ring: kaio_peek()
 *	// ev.flags & KAIO_EV_DONE: every step ran; else ev.step ended it,
 *	// ev.error says why; ev.result: its bytes (or -errno), ev.bytes: all
 *	// bytes the chain moved
 *	kaio_close(&ctx);
 *
 * All functions return a non-negative count or 0 on success, and -errno on
 * failure (errno is left alone). One consumer at a time may reap a context
 * (the ring and kaio_wait() share the head index).
 */
#ifndef LIBKAIO_H
#define LIBKAIO_H

#include <stdint.h>
#include <sys/uio.h>
#include <linux/kaio.h>

struct kaio_ctx {
	int fd;			/* the /dev/kaio file descriptor */
	unsigned int entries;	/* ring size */
	struct kaio_ring *ring;	/* the mapped ring header */
	struct kaio_event *events; /* the mapped event array */
	size_t map_size;
};

/* Opens /dev/kaio, sets up a ring of @entries (power of two) and maps it. */
int kaio_setup(struct kaio_ctx *ctx, unsigned int entries);
/* Unmaps and closes; requests in flight are cancelled by the kernel. */
void kaio_close(struct kaio_ctx *ctx);

/* Starts an empty chain with @user_data. */
void kaio_iocb_init(struct kaio_iocb *iocb, uint64_t user_data);
/* Step builders: each appends one step; they return the step (or NULL if
 * the chain is full) so rarely used fields can be set directly. */
struct kaio_step *kaio_step_open(struct kaio_iocb *iocb, int dirfd,
				 const char *path, int flags, unsigned int mode);
/* OPEN with KAIO_OPEN_IN_ROOT: @path stays inside @dirfd (KAIO_FEAT_IN_ROOT). */
struct kaio_step *kaio_step_open_in_root(struct kaio_iocb *iocb, int dirfd,
					 const char *path, int flags,
					 unsigned int mode);
struct kaio_step *kaio_step_fd(struct kaio_iocb *iocb, int fd);
struct kaio_step *kaio_step_read(struct kaio_iocb *iocb, void *buf,
				 uint64_t len, int64_t offset);
struct kaio_step *kaio_step_write(struct kaio_iocb *iocb, const void *buf,
				  uint64_t len, int64_t offset);
/* Vectored: @iov (copied at submit; the buffers are used until the
 * completion), @nr entries (1..1024). Needs KAIO_FEAT_VECTOR. */
struct kaio_step *kaio_step_readv(struct kaio_iocb *iocb,
				  const struct iovec *iov, unsigned int nr,
				  int64_t offset);
struct kaio_step *kaio_step_writev(struct kaio_iocb *iocb,
				   const struct iovec *iov, unsigned int nr,
				   int64_t offset);
struct kaio_step *kaio_step_fsync(struct kaio_iocb *iocb, int datasync);
struct kaio_step *kaio_step_close(struct kaio_iocb *iocb);
struct kaio_step *kaio_step_keep(struct kaio_iocb *iocb, int cloexec);
struct kaio_step *kaio_step_sendfile(struct kaio_iocb *iocb, int out_fd,
				     int64_t offset, uint64_t len);
/* Sockets (KAIO_FEAT_SOCKET): @sock is a socket or KAIO_FD_CHAIN. SEND
 * copies @buf (at most KAIO_SEND_MAX bytes) at submit. */
struct kaio_step *kaio_step_send(struct kaio_iocb *iocb, int sock,
				 const void *buf, uint64_t len);
struct kaio_step *kaio_step_recv(struct kaio_iocb *iocb, int sock, void *buf,
				 uint64_t len);
/* The chain's file's statx(2) into @stx (KAIO_FEAT_STATX): glibc's
 * struct statx (<sys/stat.h> with _GNU_SOURCE) or <linux/stat.h>'s. */
struct statx;
struct kaio_step *kaio_step_statx(struct kaio_iocb *iocb, struct statx *stx,
				  unsigned int mask);

/* Submits @nr iocbs; returns how many were accepted (io_submit rules). */
int kaio_submit(struct kaio_ctx *ctx, const struct kaio_iocb *iocbs,
		unsigned int nr);
/* Reaps up to @max events from the mapped ring, no system call. */
int kaio_peek(struct kaio_ctx *ctx, struct kaio_event *out, unsigned int max);
/* Waits (GETEVENTS) for at least @min events, up to @max, at most
 * @timeout_ns (< 0: for ever). */
int kaio_wait(struct kaio_ctx *ctx, struct kaio_event *out, unsigned int min,
	      unsigned int max, int64_t timeout_ns);
/* Cancels the request with @user_data (it completes with -ECANCELED). */
int kaio_cancel(struct kaio_ctx *ctx, uint64_t user_data);
/* Signals eventfd @efd per completion (-1: stop). */
int kaio_set_eventfd(struct kaio_ctx *ctx, int efd);

#endif /* LIBKAIO_H */
