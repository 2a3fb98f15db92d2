/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kaio: asynchronous compound I/O through /dev/kaio.
 *
 * Each open of /dev/kaio is one context. Requests are submitted and
 * completions reaped with the ioctls below. The Rust side of the module
 * mirrors every structure here in src/uapi.rs; the build compares the two
 * layouts (sizes, field offsets, ioctl numbers) and fails if they differ.
 *
 * Rules for every structure: fields are naturally aligned, there is no
 * implicit padding, and every field named "reserved" or "__pad" must be
 * zero on input (else EINVAL) and is zero on output.
 */
#ifndef _UAPI_LINUX_KAIO_H
#define _UAPI_LINUX_KAIO_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Bumped on any incompatible change of this header. */
#define KAIO_ABI_VERSION	2

#define KAIO_DEVICE		"/dev/kaio"
#define KAIO_IOC_MAGIC		0xAA

/*
 * KAIO_IOC_VERSION: fills a struct kaio_version. Always succeeds on a valid
 * pointer; use it to check that the loaded module speaks this ABI.
 */
struct kaio_version {
	__u32	abi_version;	/* KAIO_ABI_VERSION of the module */
	__u32	reserved;	/* zero */
	__u64	features;	/* KAIO_FEAT_* the module supports */
};

/*
 * Optional features (test before use). Version 2 changed struct kaio_event
 * (error, bytes, KAIO_EV_DONE) and added SEND, RECV, STATX and
 * KAIO_OPEN_IN_ROOT.
 */
#define KAIO_FEAT_NONE		0ULL
#define KAIO_FEAT_RESFD		(1ULL << 0)	/* KAIO_IOCB_RESFD */
#define KAIO_FEAT_VECTOR	(1ULL << 1)	/* KAIO_OP_READV, KAIO_OP_WRITEV */
#define KAIO_FEAT_NOWAIT	(1ULL << 2)	/* KAIO_RW_NOWAIT */
#define KAIO_FEAT_SIGMASK	(1ULL << 3)	/* kaio_getevents.sigmask */
#define KAIO_FEAT_SOCKET	(1ULL << 4)	/* KAIO_OP_SEND, KAIO_OP_RECV */
#define KAIO_FEAT_STATX		(1ULL << 5)	/* KAIO_OP_STATX */
#define KAIO_FEAT_IN_ROOT	(1ULL << 6)	/* OPEN with KAIO_OPEN_IN_ROOT */

#define KAIO_IOC_VERSION	_IOR(KAIO_IOC_MAGIC, 0x00, struct kaio_version)

/* ------------------------------------------------------------------------
 * Contexts and the completion ring
 *
 * KAIO_IOC_SETUP sizes the completion ring of a fresh context. The ring is
 * then mapped with mmap(NULL, ring_size, PROT_READ | PROT_WRITE, MAP_SHARED,
 * fd, 0). Layout of the mapping:
 *
 *   offset 0:           struct kaio_ring (head, tail, ...)
 *   offset events_off:  struct kaio_event events[entries]
 *
 * The kernel writes events at tail and publishes them with a release store
 * of tail; the reader loads tail with acquire semantics, reads the events
 * in [head, tail) (index & mask), then publishes its progress with a
 * release store of head. head and tail are free-running u32 counters.
 * KAIO_IOC_GETEVENTS consumes from the same ring and moves head itself:
 * use one consumer at a time (or serialise consumers yourself).
 *
 * A context belongs to the process (memory map) that opened it; any ioctl
 * from another process (a forked child, a receiver of the fd) gets EINVAL,
 * as io_submit does for a foreign aio context.
 */
struct kaio_setup {
	__u32	entries;	/* in: ring size, power of two, <= max_ring_entries */
	__u32	flags;		/* in: zero */
	__u64	reserved[2];	/* in: zero */
	__u32	ring_size;	/* out: bytes to mmap at offset 0 */
	__u32	events_off;	/* out: offset of the event array in the mapping */
	__u32	event_size;	/* out: sizeof(struct kaio_event) */
	__u32	max_steps;	/* out: KAIO_MAX_STEPS */
};

struct kaio_ring {
	__u32	head;		/* consumer: next event to read (user writes) */
	__u32	__pad0[15];
	__u32	tail;		/* producer: next slot the kernel fills */
	__u32	__pad1[15];
	__u32	mask;		/* entries - 1 */
	__u32	entries;
	__u32	__pad2[14];
};

/* ------------------------------------------------------------------------
 * Compound requests
 *
 * A struct kaio_iocb is an ordered chain of 1..KAIO_MAX_STEPS steps. The
 * first step produces a file (OPEN or FD); the following steps act on it;
 * CLOSE or KEEP may end the chain (without either, the file is closed).
 * A step that fails ends the chain with its -errno (and, if it had moved
 * bytes, with that count: see struct kaio_event); a short READ, WRITE,
 * SENDFILE or RECV ends it with its count unless KAIO_IOCB_SHORT_OK is set.
 *
 * Steps that move bytes act on the chain's file, except where a step names
 * its own descriptor in "fd": SENDFILE's output, and SEND's and RECV's
 * socket (KAIO_FD_CHAIN: the chain's file). Descriptors are taken at SUBMIT.
 */
#define KAIO_MAX_STEPS		8

enum {
	KAIO_OP_NOP	= 0,	/* invalid as a step */
	/*
	 * fd = dirfd or AT_FDCWD, addr = path, op_flags = O_*, arg = mode,
	 * len = KAIO_OPEN_IN_ROOT or 0.
	 */
	KAIO_OP_OPEN	= 1,
	KAIO_OP_FD	= 2,	/* fd = an open file descriptor */
	KAIO_OP_READ	= 3,	/* addr = buffer, len, offset */
	KAIO_OP_WRITE	= 4,	/* addr = buffer, len, offset */
	KAIO_OP_FSYNC	= 5,	/* op_flags: KAIO_FSYNC_DATASYNC */
	KAIO_OP_CLOSE	= 6,	/* close the file (must be last) */
	/*
	 * Install the file in the submitter's fd table (last step, after
	 * OPEN); op_flags: KAIO_KEEP_CLOEXEC.
	 */
	KAIO_OP_KEEP	= 7,
	/*
	 * Send the file to fd (a socket, pipe or regular file): offset, len
	 * (0: to end of file); op_flags: KAIO_SENDFILE_NOCACHE; arg: window
	 * in pages (0: the module's sendfile_window, at most 1024), the most
	 * one run of the step sends. From the page cache a window costs no
	 * memory; a private window (NOCACHE, O_DIRECT input) is charged in
	 * full when the step first runs. An error after some bytes: result =
	 * the bytes sent, error = -errno (see struct kaio_event).
	 */
	KAIO_OP_SENDFILE = 8,
	/*
	 * addr = array of struct iovec, len = its number of entries
	 * (1..1024, as readv(2)), offset; op_flags as READ and WRITE. The
	 * array is copied at SUBMIT; the buffers it names are used until the
	 * completion, as READ's and WRITE's.
	 */
	KAIO_OP_READV	= 9,
	KAIO_OP_WRITEV	= 10,
	/*
	 * fd = a connected socket, or KAIO_FD_CHAIN; addr = bytes to send,
	 * len = 1..KAIO_SEND_MAX. The bytes are copied at SUBMIT: the buffer
	 * may be reused when SUBMIT returns. Sent with MSG_NOSIGNAL, and with
	 * MSG_MORE when the next step is a SEND or SENDFILE to the same
	 * socket (or op_flags has KAIO_SEND_MORE), so that a header and the
	 * start of a file leave in one segment. Result: len.
	 */
	KAIO_OP_SEND	= 11,
	/*
	 * fd = a socket, or KAIO_FD_CHAIN; addr = buffer, len = 1..SSIZE_MAX.
	 * Ends, as recv(2), with the first bytes that arrive (0 at end of
	 * stream: a short transfer). Waits without a thread.
	 */
	KAIO_OP_RECV	= 12,
	/*
	 * The chain's file's attributes, as statx(2) on it: addr = struct
	 * statx, len = sizeof(struct statx), arg = STATX_* mask, op_flags =
	 * AT_STATX_FORCE_SYNC or AT_STATX_DONT_SYNC or 0. Result: 0.
	 */
	KAIO_OP_STATX	= 13,
	KAIO_OP_LAST,
};

#define KAIO_FSYNC_DATASYNC	(1U << 0)
/*
 * READ, WRITE, READV, WRITEV: never wait (as RWF_NOWAIT): a transfer that
 * would block on the disk, a lock or a full or empty stream ends the step
 * with what it moved so far, or -EAGAIN if nothing.
 */
#define KAIO_RW_NOWAIT		(1U << 0)
#define KAIO_KEEP_CLOEXEC	(1U << 0)
/* SEND: MSG_MORE even when no SEND or SENDFILE to the socket follows. */
#define KAIO_SEND_MORE		(1U << 0)
#define KAIO_SEND_MAX		65536
/* SEND, RECV: the socket is the chain's file. */
#define KAIO_FD_CHAIN		(-1)
/*
 * OPEN, in len: resolve the path as openat2(2) with RESOLVE_IN_ROOT does,
 * as if fd (or, with AT_FDCWD, the working directory) were the root
 * directory: "..", absolute paths and symbolic links stay inside it; a
 * magic link (/proc/self/...) is -EXDEV, a rename or mount racing the
 * lookup -EAGAIN. Opens existing files only: O_CREAT, O_TRUNC and
 * O_TMPFILE are EINVAL with it.
 */
#define KAIO_OPEN_IN_ROOT	0x10ULL
/* Read cold data with direct I/O into private pages: the page cache is
 * neither used nor populated. Each window is read only after the last one
 * was sent (no readahead overlap); see kaio(7), "Choosing the window".
 */
#define KAIO_SENDFILE_NOCACHE	(1U << 0)

struct kaio_step {
	__u8	opcode;		/* KAIO_OP_* */
	__u8	reserved0;
	__u16	reserved1;
	/* OPEN: dirfd; FD: the fd; SENDFILE: out fd; SEND, RECV: socket */
	__s32	fd;
	/* OPEN: path; READ, WRITE, SEND, RECV, STATX: user buffer */
	__u64	addr;
	/* READ, WRITE, SENDFILE, SEND, RECV: bytes; OPEN: KAIO_OPEN_IN_ROOT */
	__u64	len;
	__s64	offset;		/* READ, WRITE, SENDFILE: file offset (>= 0) */
	__u32	op_flags;	/* per opcode, see above */
	__u32	arg;		/* OPEN: mode */
	__u64	reserved2;
};

/* A short transfer does not end the chain. */
#define KAIO_IOCB_SHORT_OK	(1U << 0)
/*
 * Signal the eventfd resfd (taken at SUBMIT) once this request's event is
 * in the ring, as IOCB_FLAG_RESFD does for io_submit(2).
 */
#define KAIO_IOCB_RESFD		(1U << 1)
#define KAIO_IOCB_FLAGS		(KAIO_IOCB_SHORT_OK | KAIO_IOCB_RESFD)

struct kaio_iocb {
	__u64	user_data;	/* returned in the event, and the CANCEL key */
	__u32	flags;		/* KAIO_IOCB_* */
	__u16	nr_steps;	/* 1..KAIO_MAX_STEPS */
	__u16	reserved0;
	__s32	resfd;		/* KAIO_IOCB_RESFD: an eventfd; else zero */
	__u32	reserved1;
	__u64	reserved2;
	struct kaio_step steps[KAIO_MAX_STEPS];	/* only nr_steps are read */
};

/*
 * KAIO_IOC_SUBMIT: returns how many iocbs were accepted (io_submit). The
 * iocbs, OPEN paths, READV/WRITEV iovec arrays and SEND bytes are copied
 * before it returns: all may be reused then. READ, WRITE, RECV and STATX
 * buffers, and those an iovec names, are used until the completion.
 */
struct kaio_submit {
	__u64	iocbs;		/* struct kaio_iocb array */
	__u32	nr;
	__u32	flags;		/* zero */
	__u64	reserved;
};

/* Event flags. */
#define KAIO_EV_CANCELED	(1U << 0)	/* stopped by KAIO_IOC_CANCEL or teardown */
#define KAIO_EV_FD		(1U << 1)	/* fd holds a KEEP'd descriptor */
/*
 * The chain ran to its end: every step ran and none failed, was cancelled
 * or (without KAIO_IOCB_SHORT_OK) ended short. Without it, "step" is the
 * step that ended the chain and "error" says why (0: a short transfer,
 * such as a file shorter than the range asked for).
 */
#define KAIO_EV_DONE		(1U << 2)

/*
 * How a chain ended: test KAIO_EV_DONE, not result >= 0. For a step that
 * failed after moving bytes, "result" is that count (as sendfile(2)
 * returns it) and "error" the -errno; a step that failed before has
 * result = error = -errno; a cancelled step has result -ECANCELED and its
 * count in step_result. "bytes" counts partial transfers too.
 */
struct kaio_event {
	__u64	user_data;
	__s64	result;		/* result of step "step": bytes, fd, 0 or -errno */
	__u16	step;		/* index of the step that ended the chain */
	__u16	nr_steps;
	__u32	flags;		/* KAIO_EV_* */
	__s32	fd;		/* the KEEP'd fd, or -1 */
	__s32	error;		/* 0, or the -errno that ended the chain */
	__u64	bytes;		/* bytes moved by all the chain's transfers */
	__s64	step_result[KAIO_MAX_STEPS];	/* per step; 0 past "step" */
};

/* KAIO_IOC_GETEVENTS: returns the number of events copied. */
struct kaio_getevents {
	__u64	events;		/* struct kaio_event array of max_nr */
	__u32	min_nr;		/* wait until this many (or timeout) */
	__u32	max_nr;
	__s64	timeout_ns;	/* relative; < 0 waits for ever */
	/*
	 * 0, or the address of a kernel sigset_t (8 bytes on x86-64; glibc's
	 * sigset_t starts with it): the signal mask while the call waits, set
	 * and restored atomically as ppoll(2) and io_pgetevents(2) do.
	 */
	__u64	sigmask;
};

/* KAIO_IOC_CANCEL: 0 if a request with user_data will complete ECANCELED. */
struct kaio_cancel {
	__u64	user_data;
	__u64	reserved;
};

#define KAIO_IOC_SETUP		_IOWR(KAIO_IOC_MAGIC, 0x01, struct kaio_setup)
#define KAIO_IOC_SUBMIT		_IOW(KAIO_IOC_MAGIC, 0x02, struct kaio_submit)
#define KAIO_IOC_GETEVENTS	_IOW(KAIO_IOC_MAGIC, 0x03, struct kaio_getevents)
#define KAIO_IOC_CANCEL		_IOW(KAIO_IOC_MAGIC, 0x04, struct kaio_cancel)
/* Register an eventfd signalled per completion; -1 unregisters. */
#define KAIO_IOC_EVENTFD	_IOW(KAIO_IOC_MAGIC, 0x05, __s32)

#endif /* _UAPI_LINUX_KAIO_H */
