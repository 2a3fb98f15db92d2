// SPDX-License-Identifier: GPL-2.0
/*
 * Deferred work acts as the submitter: credentials captured at submit,
 * the submitter's root (chroot) and working directory, and nothing of the
 * kernel's reaches userspace through the ring.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <fcntl.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kselftest_harness.h"
#include "kaio_test.h"
#include "kaio.h"
#include "kaio_util.h"
#include "kaio_sys.h"

#define S(name) KAIO_SCRATCH "/" name

/* Runs @fn in a child as nobody; returns its exit status. */
#define AS_NOBODY(body) do {						\
		pid_t pid = fork();					\
		int st;							\
		ASSERT_LE(0, pid);					\
		if (pid == 0) {						\
			if (become_nobody())				\
				_exit(100);				\
			body;						\
			_exit(0);					\
		}							\
		ASSERT_EQ(pid, waitpid(pid, &st, 0));			\
		ASSERT_TRUE(WIFEXITED(st));				\
		EXPECT_EQ(0, WEXITSTATUS(st));				\
	} while (0)

#define CHILD_CHECK(cond, code) do { if (!(cond)) _exit(code); } while (0)

TEST(unprivileged_open_denied)
{
	/*
	 * A dirfd on root_dir (0700, root), opened by root and inherited by
	 * the unprivileged child: OPEN relative to it needs search permission
	 * on it, which uid 65534 does not have. As root first: the path is good.
	 */
	int udfd = open(S("root_dir"), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat ust;

	ASSERT_LE(0, udfd);
	ASSERT_EQ(0, fstat(udfd, &ust));
	ASSERT_EQ(0, ust.st_uid);
	ASSERT_EQ(0700, ust.st_mode & 0777);
	{
		struct kaio_ctx k;
		struct kaio_iocb iocb;
		struct kaio_event ev;
		char buf[16];

		ASSERT_EQ(0, kaio_setup(&k, 16));
		kaio_iocb_init(&iocb, 1);
		iocb.flags = KAIO_IOCB_SHORT_OK;
		kaio_step_open(&iocb, udfd, "file", O_RDONLY, 0);
		kaio_step_read(&iocb, buf, sizeof(buf), 0);
		kaio_step_close(&iocb);
		ASSERT_EQ(1, kaio_run1(&k, &iocb, &ev));
		EXPECT_EQ(0, ev.result);
		EXPECT_EQ(7, ev.step_result[1]);
		EXPECT_EQ(0, memcmp(buf, "hidden\n", 7));
		kaio_close(&k);
	}
	AS_NOBODY({
		struct kaio_ctx k;
		struct kaio_iocb iocb;
		struct kaio_event ev;
		char buf[16];
		int dfd;

		CHILD_CHECK(kaio_setup(&k, 16) == 0, 1);
		/* A 0600 root file: EACCES from the worker's open. */
		kaio_iocb_init(&iocb, 1);
		kaio_step_open(&iocb, AT_FDCWD, S("root_only"), O_RDONLY, 0);
		kaio_step_read(&iocb, buf, sizeof(buf), 0);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 2);
		CHILD_CHECK(ev.result == -EACCES && ev.step == 0, 3);
		/* Relative to a dirfd, inside a 0700 root directory. */
		dfd = open(KAIO_SCRATCH, O_RDONLY | O_DIRECTORY);
		CHILD_CHECK(dfd >= 0, 4);
		kaio_iocb_init(&iocb, 2);
		kaio_step_open(&iocb, dfd, "root_dir/file", O_RDONLY, 0);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 5);
		CHILD_CHECK(ev.result == -EACCES && ev.step == 0, 6);
		/* A dirfd that is the unsearchable directory itself. */
		close(dfd);
		kaio_iocb_init(&iocb, 4);
		kaio_step_open(&iocb, udfd, "file", O_RDONLY, 0);
		kaio_step_read(&iocb, buf, sizeof(buf), 0);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 9);
		CHILD_CHECK(ev.result == -EACCES && ev.step == 0, 10);
		/* Creating in a root-owned 0755 directory. */
		kaio_iocb_init(&iocb, 3);
		kaio_step_open(&iocb, AT_FDCWD, S("nobody_file"), O_WRONLY | O_CREAT, 0644);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 7);
		CHILD_CHECK(ev.result == -EACCES && ev.step == 0, 8);
		kaio_close(&k);
	});
	close(udfd);
}

TEST(unprivileged_write_through_rdonly_fd)
{
	AS_NOBODY({
		struct kaio_ctx k;
		struct kaio_iocb iocb;
		char buf[16] = "x";
		int fd = open(S("p_4096"), O_RDONLY);

		CHILD_CHECK(fd >= 0, 1);
		CHILD_CHECK(kaio_setup(&k, 16) == 0, 2);
		kaio_iocb_init(&iocb, 1);
		kaio_step_fd(&iocb, fd);
		kaio_step_write(&iocb, buf, 1, 0);
		CHILD_CHECK(kaio_submit(&k, &iocb, 1) == -EBADF, 3);
		/* Opening a root file for writing is refused as well. */
		kaio_iocb_init(&iocb, 2);
		kaio_step_open(&iocb, AT_FDCWD, S("p_4096"), O_WRONLY, 0);
		kaio_step_write(&iocb, buf, 1, 0);
		{
			struct kaio_event ev;

			CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 4);
			CHILD_CHECK(ev.result == -EACCES && ev.step == 0, 5);
		}
		kaio_close(&k);
	});
}

/* Files the worker creates belong to the submitter. */
TEST(created_file_owned_by_submitter)
{
	char path[64];
	struct stat st;

	snprintf(path, sizeof(path), S("tmp/owned_%d"), getpid());
	unlink(path);
	AS_NOBODY({
		struct kaio_ctx k;
		struct kaio_iocb iocb;
		struct kaio_event ev;

		CHILD_CHECK(kaio_setup(&k, 16) == 0, 1);
		kaio_iocb_init(&iocb, 1);
		kaio_step_open(&iocb, AT_FDCWD, path, O_WRONLY | O_CREAT | O_EXCL, 0600);
		kaio_step_close(&iocb);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 2);
		CHILD_CHECK(ev.result == 0, 3);
		kaio_close(&k);
	});
	ASSERT_EQ(0, stat(path, &st));
	EXPECT_EQ(NOBODY, st.st_uid);
	EXPECT_EQ(NOBODY, st.st_gid);
	EXPECT_EQ(0600, st.st_mode & 0777);
	unlink(path);
}

/* Paths resolve in the submitter's root and working directory. */
TEST(chroot_and_cwd)
{
	pid_t pid = fork();
	int st;

	ASSERT_LE(0, pid);
	if (pid == 0) {
		struct kaio_ctx k;
		struct kaio_iocb iocb;
		struct kaio_event ev;
		uint8_t buf[4096];

		CHILD_CHECK(kaio_setup(&k, 16) == 0, 1);
		CHILD_CHECK(chroot(KAIO_SCRATCH) == 0 && chdir("/tmp") == 0, 2);
		/* Absolute: "/" is the chroot. */
		kaio_iocb_init(&iocb, 1);
		kaio_step_open(&iocb, AT_FDCWD, "/p_4096", O_RDONLY, 0);
		kaio_step_read(&iocb, buf, 4096, 0);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 3);
		CHILD_CHECK(ev.result == 4096, 4);
		CHILD_CHECK(kaio_pattern_check(buf, 4096, 4096, 0) == -1, 5);
		/* ".." cannot leave the chroot. */
		kaio_iocb_init(&iocb, 2);
		kaio_step_open(&iocb, AT_FDCWD, "/../../mnt/scratch/p_1", O_RDONLY, 0);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 6);
		CHILD_CHECK(ev.result == -ENOENT, 7);
		/* Relative: from the working directory (/tmp in the chroot). */
		kaio_iocb_init(&iocb, 3);
		kaio_step_open(&iocb, AT_FDCWD, "../p_4097", O_RDONLY, 0);
		kaio_step_read(&iocb, buf, 4096, 1);
		CHILD_CHECK(kaio_run1(&k, &iocb, &ev) == 1, 8);
		CHILD_CHECK(ev.result == 4096, 9);
		CHILD_CHECK(kaio_pattern_check(buf, 4096, 4097, 1) == -1, 10);
		kaio_close(&k);
		_exit(0);
	}
	ASSERT_EQ(pid, waitpid(pid, &st, 0));
	ASSERT_TRUE(WIFEXITED(st));
	EXPECT_EQ(0, WEXITSTATUS(st));
}

/* No kernel address or stale byte in the ring, after many completions. */
TEST(ring_carries_no_kernel_data)
{
	struct kaio_ctx k;
	struct kaio_iocb iocb[64];
	struct kaio_event ev[64];
	char buf[64];
	int fd = open(S("p_4096"), O_RDONLY);
	const uint64_t *w;
	size_t words, events_off;

	ASSERT_LE(0, fd);
	ASSERT_EQ(0, kaio_setup(&k, 64));
	for (int round = 0; round < 4; round++) {
		for (int i = 0; i < 64; i++) {
			kaio_iocb_init(&iocb[i], i);
			if (i % 3 == 0) {
				kaio_step_open(&iocb[i], AT_FDCWD, S("nope"), O_RDONLY, 0);
			} else {
				kaio_step_fd(&iocb[i], fd);
			}
			kaio_step_read(&iocb[i], buf, sizeof(buf), 0);
		}
		ASSERT_EQ(64, kaio_submit(&k, iocb, 64));
		ASSERT_EQ(64, kaio_wait(&k, ev, 64, 64, -1));
	}
	for (int i = 0; i < 64; i++) {
		/* The open of "nope" fails; every other chain runs to its end. */
		if (ev[i].user_data % 3 == 0) {
			EXPECT_EQ(-ENOENT, ev[i].error);
			EXPECT_EQ(0, ev[i].flags);
			EXPECT_EQ(0, ev[i].bytes);
		} else {
			EXPECT_EQ(0, ev[i].error);
			EXPECT_EQ(KAIO_EV_DONE, ev[i].flags);
			EXPECT_EQ(sizeof(buf), ev[i].bytes);
		}
		for (int s = ev[i].step + 1; s < KAIO_MAX_STEPS; s++) {
			EXPECT_EQ(0, ev[i].step_result[s]);
		}
	}
	w = (const uint64_t *)k.ring;
	words = k.map_size / 8;
	events_off = (size_t)((char *)k.events - (char *)k.ring);
	for (size_t i = 0; i < words; i++) {
		size_t off = i * 8;

		/*
		 * An event's fd and error share a word: two small negative
		 * 32-bit values (checked above), not a pointer.
		 */
		if (off >= events_off &&
		    (off - events_off) % sizeof(struct kaio_event) ==
			    offsetof(struct kaio_event, fd)) {
			int32_t lo = (int32_t)w[i], hi = (int32_t)(w[i] >> 32);

			EXPECT_TRUE(lo == -1 || lo >= 0) TH_LOG("fd word %zu", i);
			EXPECT_TRUE(hi <= 0 && hi >= -4095) TH_LOG("error word %zu", i);
			continue;
		}
		/* Kernel addresses on x86-64; -errno values are above them. */
		ASSERT_FALSE(w[i] >= 0xffff800000000000ull && w[i] < 0xfffffffffffff000ull)
			TH_LOG("word %zu = %#llx", i, (unsigned long long)w[i]);
	}
	kaio_close(&k);
	close(fd);
}

TEST_HARNESS_MAIN
