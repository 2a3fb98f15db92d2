// SPDX-License-Identifier: GPL-2.0
/*
 * Kernel constants that bindgen cannot evaluate (casts in their macros),
 * as the C compiler sees them. Kbuild compiles this file to assembly only
 * and turns each DEFINE into a Rust constant (kconst.rs, included by
 * src/kconst_rs.rs), as it does for uapi_layout.c.
 */
#include <linux/kbuild.h>
#include <linux/fadvise.h>
#include <linux/fs.h>
#include <linux/poll.h>

int main(void)
{
	DEFINE(IOCB_NOWAIT, IOCB_NOWAIT);
	DEFINE(FMODE_READ, FMODE_READ);
	DEFINE(FMODE_WRITE, FMODE_WRITE);
	DEFINE(FMODE_CAN_READ, FMODE_CAN_READ);
	DEFINE(FMODE_CAN_WRITE, FMODE_CAN_WRITE);
	DEFINE(FMODE_NOWAIT, FMODE_NOWAIT);
	DEFINE(FMODE_CAN_ODIRECT, FMODE_CAN_ODIRECT);
	DEFINE(FOP_BUFFER_RASYNC, FOP_BUFFER_RASYNC);
	DEFINE(POSIX_FADV_WILLNEED, POSIX_FADV_WILLNEED);
	DEFINE(EPOLLIN, EPOLLIN);
	DEFINE(EPOLLOUT, EPOLLOUT);
	DEFINE(EPOLLERR, EPOLLERR);
	DEFINE(EPOLLHUP, EPOLLHUP);
	DEFINE(POLLFREE, POLLFREE);
	return 0;
}
