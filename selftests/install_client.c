// SPDX-License-Identifier: GPL-2.0
/*
 * A client of the installed libkaio, built the way a user builds one:
 *
 *	cc install_client.c $(pkg-config --cflags --libs kaio)
 *
 * with only the installed <kaio.h> and <linux/kaio.h>, linked against the
 * installed libkaio.so. make check builds it against the guest's staged
 * root (qemu/run.sh) and the guest runs it (qemu/init.sh). TAP on stdout.
 *
 *	install_client [DIR]	scratch files in DIR (default /tmp)
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <kaio.h>

#define LEN 100003	/* odd, spans pages */

static int failed;

static void result(int ok, const char *name)
{
	printf("%sok %s\n", ok ? "" : "not ", name);
	if (!ok)
		failed = 1;
}

static void fill(unsigned char *buf, size_t len, unsigned int seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (unsigned char)(i * 131 + (i >> 8) + seed);
}

/* Submits one chain and waits for its event. */
static int run(struct kaio_ctx *ctx, struct kaio_iocb *iocb,
	       struct kaio_event *ev)
{
	int r = kaio_submit(ctx, iocb, 1);

	if (r != 1) {
		printf("# kaio_submit: %d (%s)\n", r, strerror(r < 0 ? -r : EIO));
		return -1;
	}
	r = kaio_wait(ctx, ev, 1, 1, 10LL * 1000000000);
	if (r != 1) {
		printf("# kaio_wait: %d\n", r);
		return -1;
	}
	return 0;
}

static void show(const char *what, const struct kaio_event *ev)
{
	printf("# %s: flags %#x step %u/%u result %lld error %d bytes %llu\n",
	       what, ev->flags, ev->step, ev->nr_steps, (long long)ev->result,
	       ev->error, (unsigned long long)ev->bytes);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : "/tmp";
	static unsigned char want[LEN], got[LEN];
	struct kaio_version v = { 0 };
	struct kaio_ctx ctx;
	struct kaio_iocb iocb;
	struct kaio_event ev;
	char path[4096], missing[4096];
	int fd, r, ok;

	printf("1..4\n");
	snprintf(path, sizeof(path), "%s/install_client.dat", dir);
	snprintf(missing, sizeof(missing), "%s/install_client.missing", dir);
	unlink(missing);

	r = kaio_setup(&ctx, 8);
	if (r) {
		printf("# kaio_setup: %s\n", strerror(-r));
		printf("Bail out! no /dev/kaio context\n");
		return 1;
	}

	ok = ioctl(ctx.fd, KAIO_IOC_VERSION, &v) == 0 &&
	     v.abi_version == KAIO_ABI_VERSION;
	printf("# module ABI %u, features %#llx; <linux/kaio.h> ABI %u\n",
	       v.abi_version, (unsigned long long)v.features, KAIO_ABI_VERSION);
	result(ok, "1 the module speaks the installed <linux/kaio.h>'s KAIO_ABI_VERSION");

	/* A file written with write(2), read back with OPEN, READ, CLOSE. */
	fill(want, LEN, 7);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	ok = fd >= 0 && write(fd, want, LEN) == LEN;
	if (fd >= 0)
		close(fd);
	if (ok) {
		memset(got, 0, LEN);
		kaio_iocb_init(&iocb, 1);
		kaio_step_open(&iocb, AT_FDCWD, path, O_RDONLY, 0);
		kaio_step_read(&iocb, got, LEN, 0);
		kaio_step_close(&iocb);
		ok = run(&ctx, &iocb, &ev) == 0;
		if (ok)
			show("open-read-close", &ev);
		ok = ok && ev.user_data == 1 && (ev.flags & KAIO_EV_DONE) &&
		     ev.error == 0 && ev.nr_steps == 3 &&
		     ev.step_result[1] == LEN && ev.bytes == LEN &&
		     !memcmp(got, want, LEN);
	}
	result(ok, "2 OPEN, READ, CLOSE through the installed libkaio.so reads 100003 bytes byte for byte");

	/* OPEN, WRITE, FSYNC, CLOSE; read back with read(2). */
	fill(want, LEN, 99);
	kaio_iocb_init(&iocb, 2);
	kaio_step_open(&iocb, AT_FDCWD, path, O_WRONLY | O_TRUNC, 0);
	kaio_step_write(&iocb, want, LEN, 0);
	kaio_step_fsync(&iocb, 0);
	kaio_step_close(&iocb);
	ok = run(&ctx, &iocb, &ev) == 0;
	if (ok) {
		show("open-write-fsync-close", &ev);
		ok = ev.user_data == 2 && (ev.flags & KAIO_EV_DONE) &&
		     ev.error == 0 && ev.step_result[1] == LEN &&
		     ev.bytes == LEN;
	}
	if (ok) {
		memset(got, 0, LEN);
		fd = open(path, O_RDONLY);
		ok = fd >= 0 && read(fd, got, LEN) == LEN &&
		     read(fd, got, 1) == 0 && !memcmp(got, want, LEN);
		if (fd >= 0)
			close(fd);
	}
	result(ok, "3 OPEN, WRITE, FSYNC, CLOSE writes 100003 bytes (read(2) reads them back)");

	/* A chain that fails at its first step says so exactly. */
	kaio_iocb_init(&iocb, 3);
	kaio_step_open(&iocb, AT_FDCWD, missing, O_RDONLY, 0);
	kaio_step_read(&iocb, got, LEN, 0);
	kaio_step_close(&iocb);
	ok = run(&ctx, &iocb, &ev) == 0;
	if (ok) {
		show("open-missing", &ev);
		ok = ev.user_data == 3 && !(ev.flags & KAIO_EV_DONE) &&
		     ev.step == 0 && ev.error == -ENOENT &&
		     ev.result == -ENOENT && ev.bytes == 0;
	}
	result(ok, "4 OPEN of a missing file ends the chain at step 0 with -ENOENT");

	kaio_close(&ctx);
	unlink(path);
	return failed;
}
