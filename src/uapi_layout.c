// SPDX-License-Identifier: GPL-2.0
/*
 * The UAPI layout as the C compiler sees it. Kbuild compiles this file to
 * assembly only and turns each DEFINE into a Rust constant (uapi_layout.rs),
 * the technique of the kernel's asm-offsets; src/uapi.rs then asserts at
 * compile time that its mirror structures match these numbers exactly.
 */
#include <linux/kbuild.h>

#include "../include/uapi/linux/kaio.h"

#define SIZE(s)		DEFINE(s##_SIZE, sizeof(struct kaio_##s))
#define FIELD(s, f)	DEFINE(s##_##f, offsetof(struct kaio_##s, f))

int main(void)
{
	DEFINE(ABI_VERSION, KAIO_ABI_VERSION);
	DEFINE(IOC_VERSION, KAIO_IOC_VERSION);

	SIZE(version);
	FIELD(version, abi_version);
	FIELD(version, reserved);
	FIELD(version, features);

	DEFINE(IOC_SETUP, KAIO_IOC_SETUP);
	DEFINE(IOC_SUBMIT, KAIO_IOC_SUBMIT);
	DEFINE(IOC_GETEVENTS, KAIO_IOC_GETEVENTS);
	DEFINE(IOC_CANCEL, KAIO_IOC_CANCEL);
	DEFINE(IOC_EVENTFD, KAIO_IOC_EVENTFD);
	DEFINE(MAX_STEPS, KAIO_MAX_STEPS);
	DEFINE(OP_OPEN, KAIO_OP_OPEN);
	DEFINE(OP_FD, KAIO_OP_FD);
	DEFINE(OP_READ, KAIO_OP_READ);
	DEFINE(OP_WRITE, KAIO_OP_WRITE);
	DEFINE(OP_FSYNC, KAIO_OP_FSYNC);
	DEFINE(OP_CLOSE, KAIO_OP_CLOSE);
	DEFINE(OP_KEEP, KAIO_OP_KEEP);
	DEFINE(OP_SENDFILE, KAIO_OP_SENDFILE);
	DEFINE(OP_READV, KAIO_OP_READV);
	DEFINE(OP_WRITEV, KAIO_OP_WRITEV);
	DEFINE(OP_SEND, KAIO_OP_SEND);
	DEFINE(OP_RECV, KAIO_OP_RECV);
	DEFINE(OP_STATX, KAIO_OP_STATX);
	DEFINE(OP_LAST, KAIO_OP_LAST);
	DEFINE(SEND_MORE, KAIO_SEND_MORE);
	DEFINE(SEND_MAX, KAIO_SEND_MAX);
	DEFINE(FD_CHAIN, -KAIO_FD_CHAIN);
	DEFINE(OPEN_IN_ROOT, KAIO_OPEN_IN_ROOT);
	DEFINE(RW_NOWAIT, KAIO_RW_NOWAIT);
	DEFINE(FEATURES, KAIO_FEAT_RESFD | KAIO_FEAT_VECTOR | KAIO_FEAT_NOWAIT |
	       KAIO_FEAT_SIGMASK | KAIO_FEAT_SOCKET | KAIO_FEAT_STATX |
	       KAIO_FEAT_IN_ROOT);
	DEFINE(SENDFILE_NOCACHE, KAIO_SENDFILE_NOCACHE);
	DEFINE(FSYNC_DATASYNC, KAIO_FSYNC_DATASYNC);
	DEFINE(KEEP_CLOEXEC, KAIO_KEEP_CLOEXEC);
	DEFINE(IOCB_FLAGS, KAIO_IOCB_FLAGS);
	DEFINE(EV_CANCELED, KAIO_EV_CANCELED);
	DEFINE(EV_FD, KAIO_EV_FD);
	DEFINE(EV_DONE, KAIO_EV_DONE);

	SIZE(setup);
	FIELD(setup, entries);
	FIELD(setup, flags);
	FIELD(setup, reserved);
	FIELD(setup, ring_size);
	FIELD(setup, events_off);
	FIELD(setup, event_size);
	FIELD(setup, max_steps);

	SIZE(ring);
	FIELD(ring, head);
	FIELD(ring, tail);
	FIELD(ring, mask);
	FIELD(ring, entries);

	SIZE(step);
	FIELD(step, opcode);
	FIELD(step, reserved0);
	FIELD(step, reserved1);
	FIELD(step, fd);
	FIELD(step, addr);
	FIELD(step, len);
	FIELD(step, offset);
	FIELD(step, op_flags);
	FIELD(step, arg);
	FIELD(step, reserved2);

	SIZE(iocb);
	FIELD(iocb, user_data);
	DEFINE(IOCB_FLAGS_OFF, offsetof(struct kaio_iocb, flags));
	FIELD(iocb, nr_steps);
	FIELD(iocb, reserved0);
	FIELD(iocb, resfd);
	FIELD(iocb, reserved1);
	FIELD(iocb, reserved2);
	FIELD(iocb, steps);

	SIZE(submit);
	FIELD(submit, iocbs);
	FIELD(submit, nr);
	FIELD(submit, flags);
	FIELD(submit, reserved);

	SIZE(event);
	FIELD(event, user_data);
	FIELD(event, result);
	FIELD(event, step);
	FIELD(event, nr_steps);
	FIELD(event, flags);
	FIELD(event, fd);
	FIELD(event, error);
	FIELD(event, bytes);
	FIELD(event, step_result);

	SIZE(getevents);
	FIELD(getevents, events);
	FIELD(getevents, min_nr);
	FIELD(getevents, max_nr);
	FIELD(getevents, timeout_ns);
	FIELD(getevents, sigmask);

	SIZE(cancel);
	FIELD(cancel, user_data);
	FIELD(cancel, reserved);
	return 0;
}
