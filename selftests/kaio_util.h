/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Helpers for the selftests that drive kaio through libkaio: waiting for
 * one event, running one request to completion, dropping the page cache.
 */
#ifndef KAIO_UTIL_H
#define KAIO_UTIL_H

#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "kaio.h"

/* Drops the page cache ("1") or also dentries and inodes ("3"). */
static inline void kaio_drop_caches(const char *what)
{
	int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);

	sync();
	if (fd >= 0) {
		if (write(fd, what, strlen(what)) < 0)
			perror("drop_caches");
		close(fd);
	}
}

/* Waits for exactly one event, for at most five minutes. */
static inline int kaio_wait_one(struct kaio_ctx *ctx, struct kaio_event *ev)
{
	return kaio_wait(ctx, ev, 1, 1, 300ll * 1000 * 1000 * 1000);
}

/* Submits one iocb and waits for its event; returns the submit result. */
static inline int kaio_run1(struct kaio_ctx *ctx, struct kaio_iocb *iocb,
			    struct kaio_event *ev)
{
	int r = kaio_submit(ctx, iocb, 1);

	if (r != 1)
		return r;
	return kaio_wait_one(ctx, ev) == 1 ? 1 : -EIO;
}

#endif /* KAIO_UTIL_H */
