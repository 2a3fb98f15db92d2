// SPDX-License-Identifier: GPL-2.0
/*
 * fio-shm.so: System V shared memory for Debian's fio in the test guest,
 * whose kernel has no CONFIG_SYSVIPC (shmget fails with ENOSYS and fio
 * refuses to start: it keeps its job table in a SysV segment). Preloaded
 * (LD_PRELOAD) for every method alike by bench/fio-guest.sh; fio runs its
 * jobs as threads, so a segment is plain shared anonymous memory (still
 * shared across fork, should fio fork). Nothing on the I/O path.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/shm.h>

#define NSEG 64

static struct {
	void *addr;
	size_t size;
	int removed;
} seg[NSEG];
static pthread_mutex_t seg_lock = PTHREAD_MUTEX_INITIALIZER;

int shmget(key_t key, size_t size, int flags)
{
	int id = -1;

	(void)key;
	(void)flags;
	pthread_mutex_lock(&seg_lock);
	for (int i = 0; i < NSEG; i++) {
		if (!seg[i].addr) {
			id = i;
			break;
		}
	}
	if (id >= 0) {
		void *p = mmap(NULL, size, PROT_READ | PROT_WRITE,
			       MAP_SHARED | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED) {
			id = -1;
		} else {
			seg[id].addr = p;
			seg[id].size = size;
			seg[id].removed = 0;
		}
	} else {
		errno = ENOSPC;
	}
	pthread_mutex_unlock(&seg_lock);
	return id;
}

void *shmat(int id, const void *addr, int flags)
{
	(void)addr;
	(void)flags;
	if (id < 0 || id >= NSEG || !seg[id].addr) {
		errno = EINVAL;
		return (void *)-1;
	}
	return seg[id].addr;
}

/* As SysV: a removed segment lives until it is detached (fio removes its
 * segments right after attaching them, so that they go when fio exits). */
int shmdt(const void *addr)
{
	pthread_mutex_lock(&seg_lock);
	for (int i = 0; i < NSEG; i++) {
		if (seg[i].addr == addr && seg[i].removed) {
			munmap(seg[i].addr, seg[i].size);
			seg[i].addr = NULL;
		}
	}
	pthread_mutex_unlock(&seg_lock);
	return 0;
}

int shmctl(int id, int cmd, struct shmid_ds *buf)
{
	if (id < 0 || id >= NSEG || !seg[id].addr) {
		errno = EINVAL;
		return -1;
	}
	if (cmd == IPC_STAT && buf) {
		memset(buf, 0, sizeof(*buf));
		buf->shm_segsz = seg[id].size;
	} else if (cmd == IPC_RMID) {
		seg[id].removed = 1;
	}
	return 0;
}
