// SPDX-License-Identifier: GPL-2.0
/*
 * What one kaio request costs beyond the system calls it replaces: each
 * line times N iterations of a chain run inline (SUBMIT of one iocb, then
 * a look at the ring) against the same work done with plain system calls,
 * on a cached file. Single thread, no sockets: only kaio's own overhead.
 *
 * usage: kaio-overhead FILE [N [ONLY]]  (ONLY: run the lines naming it)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "kaio.h"

static char buf[1 << 16];
static struct kaio_ctx k;
static const char *path;
static size_t fsize;
static int pre_fd;

static void run1(struct kaio_iocb *iocb)
{
	struct kaio_event ev;

	if (kaio_submit(&k, iocb, 1) != 1)
		die("kaio_submit");
	if (kaio_peek(&k, &ev, 1) != 1 && kaio_wait(&k, &ev, 1, 1, -1) != 1)
		die("kaio_wait");
	if (ev.result < 0)
		die("kaio event");
}

static void sys_open_close(void)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0)
		die("open");
	close(fd);
}

static void kaio_open_close(void)
{
	struct kaio_iocb iocb;

	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, path, O_RDONLY, 0);
	kaio_step_close(&iocb);
	run1(&iocb);
}

static void sys_open_read_close(void)
{
	int fd = open(path, O_RDONLY);

	if (fd < 0 || read(fd, buf, fsize) != (ssize_t)fsize)
		die("open+read");
	close(fd);
}

static void kaio_open_read_close(void)
{
	struct kaio_iocb iocb;

	kaio_iocb_init(&iocb, 1);
	kaio_step_open(&iocb, AT_FDCWD, path, O_RDONLY, 0);
	kaio_step_read(&iocb, buf, fsize, 0);
	kaio_step_close(&iocb);
	run1(&iocb);
}

static void sys_pread(void)
{
	if (pread(pre_fd, buf, fsize, 0) != (ssize_t)fsize)
		die("pread");
}

static void kaio_fd_read(void)
{
	struct kaio_iocb iocb;

	kaio_iocb_init(&iocb, 1);
	kaio_step_fd(&iocb, pre_fd);
	kaio_step_read(&iocb, buf, fsize, 0);
	run1(&iocb);
}

static const char *only;

static void measure(const char *name, void (*fn)(void), int n)
{
	double t0;

	if (only && !strstr(name, only))
		return;
	for (int i = 0; i < n / 10; i++)
		fn();
	t0 = now();
	for (int i = 0; i < n; i++)
		fn();
	printf("# overhead: %-28s %8.2f us/op\n", name, (now() - t0) / n * 1e6);
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int n = argc > 2 ? atoi(argv[2]) : 20000;

	only = argc > 3 ? argv[3] : NULL;
	if (argc < 2)
		return 2;
	path = argv[1];
	pre_fd = open(path, O_RDONLY);
	if (pre_fd < 0)
		die(path);
	fsize = lseek(pre_fd, 0, SEEK_END);
	if (fsize > sizeof(buf))
		fsize = sizeof(buf);
	if (kaio_setup(&k, 256))
		die("kaio_setup");
	measure("open+close", sys_open_close, n);
	measure("kaio OPEN->CLOSE", kaio_open_close, n);
	measure("open+read+close", sys_open_read_close, n);
	measure("kaio OPEN->READ->CLOSE", kaio_open_read_close, n);
	measure("pread", sys_pread, n);
	measure("kaio FD->READ", kaio_fd_read, n);
	return 0;
}
