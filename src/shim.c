// SPDX-License-Identifier: GPL-2.0
/*
 * kaio C shim: registers /dev/kaio as a misc device and forwards its file
 * operations to the Rust code, and holds what 6.12's Rust support cannot
 * express: module parameters, the poll and mmap glue, vhost_task workers,
 * task_work, folio wait entries, fs_struct swaps, and one-line wrappers of
 * static inline kernel functions and macros, which bindgen cannot call.
 * The state machines, the I/O paths and every decision live in Rust.
 */
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/fsnotify.h>
#include <linux/miscdevice.h>
#include <linux/mm.h>
#include <linux/magic.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/vhost_task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/stat.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "kaio_shim.h"

static unsigned int sendfile_window = 256;
module_param(sendfile_window, uint, 0644);
MODULE_PARM_DESC(sendfile_window, "Default SENDFILE window in pages (1..1024, default 256: 1 MiB)");

static unsigned int disk_streams = 8;
module_param(disk_streams, uint, 0644);
MODULE_PARM_DESC(disk_streams, "Requests per context that read from the disk at once, oldest first (0: no limit)");

static unsigned int max_ring_entries = 65536;
module_param(max_ring_entries, uint, 0644);
MODULE_PARM_DESC(max_ring_entries, "Largest completion ring a context may set up (power of two)");

static unsigned int max_inflight = 262144;
module_param(max_inflight, uint, 0644);
MODULE_PARM_DESC(max_inflight, "Requests in flight across all contexts");

static unsigned int max_user_inflight = 131072;
module_param(max_user_inflight, uint, 0644);
MODULE_PARM_DESC(max_user_inflight, "Requests in flight per user (real uid), across all contexts");

static unsigned long max_user_memory = 256UL << 20;
module_param(max_user_memory, ulong, 0644);
MODULE_PARM_DESC(max_user_memory, "Bytes of kernel memory kaio may hold per user (real uid)");

static unsigned long max_memory = 1UL << 30;
module_param(max_memory, ulong, 0644);
MODULE_PARM_DESC(max_memory, "Bytes of kernel memory kaio may hold for requests and rings");

u64 kaio_shim_param(unsigned int idx)
{
	switch (idx) {
	case KAIO_PARAM_MAX_RING_ENTRIES:
		return READ_ONCE(max_ring_entries);
	case KAIO_PARAM_MAX_INFLIGHT:
		return READ_ONCE(max_inflight);
	case KAIO_PARAM_MAX_MEMORY:
		return READ_ONCE(max_memory);
	case KAIO_PARAM_SENDFILE_WINDOW:
		return clamp(READ_ONCE(sendfile_window), 1U, 1024U);
	case KAIO_PARAM_MAX_USER_INFLIGHT:
		return READ_ONCE(max_user_inflight);
	case KAIO_PARAM_MAX_USER_MEMORY:
		return READ_ONCE(max_user_memory);
	case KAIO_PARAM_DISK_STREAMS:
		return READ_ONCE(disk_streams);
	}
	return 0;
}

static bool inject_warn;
module_param(inject_warn, bool, 0444);
MODULE_PARM_DESC(inject_warn,
		 "Test only: raise a WARNING at load to prove the test log gate fails");

/* ---- Completion ring memory (src/ring_mem.rs) ---- */

/* Maps @nr pages into the kernel (PAGE_KERNEL is not a constant). */
void *kaio_shim_vmap(struct page **pages, unsigned int nr)
{
	return vmap(pages, nr, VM_MAP, PAGE_KERNEL);
}

/*
 * Maps the ring's @nr_pages @pages into @vma. The ring is shared, never
 * private (a private copy would silently stop seeing completions) and
 * never executable. A fork child does not inherit the mapping: the
 * context belongs to one mm.
 */
int kaio_shim_mmap_ring(struct vm_area_struct *vma, struct page **pages,
			unsigned long nr_pages)
{
	unsigned long nr = vma_pages(vma);

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (nr > nr_pages)
		return -EINVAL;
	vm_flags_mod(vma, VM_DONTCOPY | VM_DONTEXPAND, VM_MAYEXEC);
	return vm_insert_pages(vma, vma->vm_start, pages, &nr);
}

/* ---- Identity of the submitter: credentials, memory map, task ---- */

const struct cred *kaio_shim_get_current_cred(void)
{
	return get_current_cred();
}

bool kaio_shim_cred_is_current(const struct cred *cred)
{
	return cred == current_cred();
}

void kaio_shim_put_cred(const struct cred *cred)
{
	put_cred(cred);
}

struct mm_struct *kaio_shim_mmgrab_current(void)
{
	struct mm_struct *mm = current->mm;

	if (mm)
		mmgrab(mm);
	return mm;
}

void kaio_shim_mmdrop(struct mm_struct *mm)
{
	mmdrop(mm);
}

bool kaio_shim_is_current_mm(const struct mm_struct *mm)
{
	return current->mm == mm;
}

struct task_struct *kaio_shim_get_current_task(void)
{
	return get_task_struct(current);
}

void kaio_shim_put_task(struct task_struct *task)
{
	put_task_struct(task);
}

/* A real signal, as opposed to a task_work notification. */
bool kaio_shim_real_signal_pending(void)
{
	return task_sigpending(current);
}

bool kaio_shim_signal_pending(void)
{
	return signal_pending(current);
}

/*
 * GETEVENTS with a sigmask (src/context.rs), as set_user_sigmask() does
 * for ppoll(2) and io_pgetevents(2): the kernel sigset_t at @umask is the
 * blocked set while the call waits; @old receives the one to restore.
 */
int kaio_shim_sigmask_set(u64 umask, sigset_t *old)
{
	sigset_t set;

	if (copy_from_user(&set, u64_to_user_ptr(umask), sizeof(set)))
		return -EFAULT;
	sigdelsetmask(&set, sigmask(SIGKILL) | sigmask(SIGSTOP));
	return sigprocmask(SIG_SETMASK, &set, old);
}

/*
 * At the end of the call, as restore_saved_sigmask_unless(): with a signal
 * pending, the wait's mask stays until that signal is delivered on the way
 * out (its handler runs, then @old is back); otherwise @old is back now.
 */
void kaio_shim_sigmask_restore(sigset_t *old)
{
	if (task_sigpending(current)) {
		current->saved_sigmask = *old;
		set_restore_sigmask();
		return;
	}
	sigprocmask(SIG_SETMASK, old, NULL);
}

bool kaio_shim_fatal_signal_pending(void)
{
	return fatal_signal_pending(current);
}

void kaio_shim_cond_resched(void)
{
	cond_resched();
}

bool kaio_shim_access_ok(u64 addr, u64 len)
{
	return access_ok(u64_to_user_ptr(addr), len);
}

/* ---- Workers: threads of the submitting process (vhost_task) ---- */

static bool kaio_worker_fn(void *lane)
{
	if (!kaio_rust_worker_pending(lane))
		return false;
	__set_current_state(TASK_RUNNING);
	kaio_rust_worker_run(lane);
	return true;
}

static void kaio_worker_killed(void *lane)
{
	kaio_rust_worker_killed(lane);
}

/*
 * A worker thread in the current process: same mm, fs, credentials,
 * cgroups and rlimits, killed with it (then kaio_rust_worker_killed runs).
 * All signals but SIGKILL and SIGSTOP are blocked in it.
 */
struct vhost_task *kaio_shim_worker_create(void *lane, unsigned int idx)
{
	char name[TASK_COMM_LEN];
	struct vhost_task *vt;

	snprintf(name, sizeof(name), "kaio-%d-%u", task_tgid_vnr(current), idx);
	vt = vhost_task_create(kaio_worker_fn, kaio_worker_killed, lane, name);
	if (IS_ERR(vt))
		return vt;
	vhost_task_start(vt);
	return vt;
}

/* Waits until the worker has exited (bounded: see kaio_shim_interrupt). */
void kaio_shim_worker_stop(struct vhost_task *vt)
{
	vhost_task_stop(vt);
}

/*
 * Whether @task (a worker) is stopped, traced or frozen: stopping it now
 * would wait until its process is continued or thawed.
 */
bool kaio_shim_task_held(struct task_struct *task)
{
	return task_is_stopped_or_traced(task) ||
	       (READ_ONCE(task->__state) & TASK_FROZEN);
}

/*
 * Worker side, once: a private copy of the process's fs_struct, so that
 * OPEN can set root and working directory per request without touching
 * the process's own.
 */
int kaio_shim_worker_private_fs(void)
{
	return unshare_fs_struct();
}

/*
 * Worker side: a file released in a worker (CLOSE, or the last reference
 * of a chain's file) is queued as task work on the worker itself, which a
 * vhost_task only runs in get_signal(). Returns true if the worker must
 * go back to its loop (TIF_NOTIFY_SIGNAL makes it call get_signal()).
 */
bool kaio_shim_worker_task_work(void)
{
	if (!task_work_pending(current))
		return false;
	set_tsk_thread_flag(current, TIF_NOTIFY_SIGNAL);
	return true;
}

/* Whether the current task is a worker (of kaio, io_uring or vhost). */
bool kaio_shim_current_is_worker(void)
{
	return current->flags & PF_USER_WORKER;
}

/*
 * Breaks @task (a worker) out of an interruptible wait, as io_uring's
 * cancellation does for its workers: TIF_NOTIFY_SIGNAL makes
 * signal_pending() true until the worker's loop calls get_signal().
 */
void kaio_shim_interrupt(struct task_struct *task)
{
	set_tsk_thread_flag(task, TIF_NOTIFY_SIGNAL);
	wake_up_process(task);
	kick_process(task);
}

/* ---- Paths: open by path in a worker, as the submitter would ---- */

void kaio_shim_get_root(struct path *root)
{
	get_fs_root(current->fs, root);
}

void kaio_shim_get_pwd(struct path *pwd)
{
	get_fs_pwd(current->fs, pwd);
}

/* The directory of @dfd, referenced in @dir; as openat(2) checks it. */
int kaio_shim_dirfd_path(int dfd, struct path *dir)
{
	struct file *f = fget_raw(dfd);

	if (!f)
		return -EBADF;
	if (!d_can_lookup(f->f_path.dentry)) {
		fput(f);
		return -ENOTDIR;
	}
	*dir = f->f_path;
	path_get(dir);
	fput(f);
	return 0;
}

static void kaio_swap_fs(struct fs_struct *fs, struct path *root,
			 struct path *pwd, int *umask)
{
	struct path r, p;
	int m;

	spin_lock(&fs->lock);
	write_seqcount_begin(&fs->seq);
	r = fs->root;
	p = fs->pwd;
	m = fs->umask;
	fs->root = *root;
	fs->pwd = *pwd;
	fs->umask = *umask;
	write_seqcount_end(&fs->seq);
	spin_unlock(&fs->lock);
	*root = r;
	*pwd = p;
	*umask = m;
}

/*
 * KAIO_OPEN_IN_ROOT: finds @name as openat2(2)'s RESOLVE_IN_ROOT does, with
 * a scoped walk from @root (LOOKUP_IN_ROOT: "..", absolute names and
 * symbolic links stay inside it, a magic link is -EXDEV, a rename or mount
 * racing the walk -EAGAIN), into @path. @lookup adds LOOKUP_CACHED.
 */
static int kaio_in_root_probe(const struct path *root, const char *name,
			      int flags, unsigned int lookup, struct path *path)
{
	lookup |= LOOKUP_IN_ROOT;
	if (!(flags & O_NOFOLLOW))
		lookup |= LOOKUP_FOLLOW;
	return vfs_path_lookup(root->dentry, root->mnt, name, lookup, path);
}

/*
 * The open walks @name again, without the scope: it must have found the
 * file of the scoped walk, @probe (else something was renamed in between:
 * -EAGAIN, as openat2(2) answers a race). Consumes @file.
 */
static struct file *kaio_same_or_again(struct file *file,
				       const struct path *probe)
{
	if (IS_ERR(file) || path_equal(&file->f_path, probe))
		return file;
	fput(file);
	return ERR_PTR(-EAGAIN);
}

/*
 * Opens @name with the root, working directory (or dirfd) and umask the
 * submitter had at SUBMIT. Runs in the submitter's own worker thread, which
 * owns a private fs_struct (kaio_shim_worker_private_fs): root and pwd are
 * swapped in for the lookup and back out, so lookup, "..", symlinks,
 * permission checks and /proc/self behave as openat(2) in the submitter.
 * With @in_root (KAIO_OPEN_IN_ROOT, @root == @dir, and never O_CREAT,
 * O_TRUNC or O_TMPFILE: checked at SUBMIT), the file must be the one a
 * scoped walk finds first.
 */
struct file *kaio_shim_open(const struct path *root, const struct path *dir,
			    const char *name, int flags, umode_t mode, int umask,
			    bool in_root)
{
	struct path r = *root, p = *dir, probe;
	struct file *file;
	int m = umask;
	bool shared;
	int err;

	spin_lock(&current->fs->lock);
	shared = current->fs->users > 1;
	spin_unlock(&current->fs->lock);
	/* The worker could not make its fs_struct private (ENOMEM). */
	if (shared)
		return ERR_PTR(-ENOMEM);
	if (in_root) {
		err = kaio_in_root_probe(root, name, flags, 0, &probe);
		if (err)
			return ERR_PTR(err);
	}
	path_get(&r);
	path_get(&p);
	kaio_swap_fs(current->fs, &r, &p, &m);
	file = filp_open(name, flags | O_LARGEFILE, mode);
	kaio_swap_fs(current->fs, &r, &p, &m);
	path_put(&r);
	path_put(&p);
	if (in_root) {
		file = kaio_same_or_again(file, &probe);
		path_put(&probe);
	}
	return file;
}

/*
 * File systems whose ->open never waits for anything but local memory:
 * those on a block device, and tmpfs; not FUSE (a daemon answers the
 * open), nor network or pseudo file systems.
 */
static bool kaio_local_fs(const struct super_block *sb)
{
	if (sb->s_magic == FUSE_SUPER_MAGIC)
		return false;
	return (sb->s_type->fs_flags & FS_REQUIRES_DEV) ||
	       sb->s_magic == TMPFS_MAGIC;
}

/*
 * In the submitter, at SUBMIT: opens @name only if neither the lookup nor
 * the open has to wait. The walk must succeed from the dentry cache alone
 * (LOOKUP_CACHED: RCU mode only) and end at a regular file or directory
 * (a FIFO or device open may wait) of a local file system; the open
 * itself is non-blocking, as io_uring's first openat attempt (a lease
 * break answers -EAGAIN). The open walks the name again: if that found
 * something else than the probe (renamed in between), or failed for any
 * reason, the file is dropped and -EAGAIN returned: the caller opens in a
 * worker, which gives openat(2)'s exact answer.
 *
 * With @root, @name is resolved with @root as its root directory, as
 * openat2(2)'s RESOLVE_IN_ROOT (see kaio_in_root_probe); else from the
 * current root and working directory.
 */
struct file *kaio_shim_open_cached(const struct path *root, const char *name,
				   int flags, umode_t mode)
{
	unsigned int lookup = LOOKUP_CACHED;
	struct file *file;
	struct path path;
	umode_t type;
	bool same;
	int err;

	if (flags & (O_CREAT | O_TRUNC | __O_TMPFILE))
		return ERR_PTR(-EAGAIN);
	if (root)
		err = kaio_in_root_probe(root, name, flags, lookup, &path);
	else
		err = kern_path(name, lookup | (flags & O_NOFOLLOW ? 0 :
						LOOKUP_FOLLOW), &path);
	if (err)
		return ERR_PTR(-EAGAIN);
	type = d_inode(path.dentry)->i_mode & S_IFMT;
	if ((type != S_IFREG && type != S_IFDIR) ||
	    !kaio_local_fs(path.dentry->d_sb)) {
		path_put(&path);
		return ERR_PTR(-EAGAIN);
	}
	if (root)
		file = file_open_root(root, name,
				      flags | O_LARGEFILE | O_NONBLOCK, mode);
	else
		file = filp_open(name, flags | O_LARGEFILE | O_NONBLOCK, mode);
	same = !IS_ERR(file) && path_equal(&file->f_path, &path);
	path_put(&path);
	if (!same) {
		if (!IS_ERR(file))
			fput(file);
		return ERR_PTR(-EAGAIN);
	}
	if (!(flags & O_NONBLOCK))
		file->f_flags &= ~O_NONBLOCK;
	return file;
}

/* ---- STATX and sockets (src/op_statx.rs, src/op_socket.rs) ---- */

/*
 * Whether statx(2) of @file can answer without waiting for anything but
 * local memory: the inode is in memory while the file is open, and a
 * local file system's ->getattr only reads it (a network or FUSE one may
 * ask its server).
 */
bool kaio_shim_statx_nowait(struct file *file, unsigned int flags)
{
	if ((flags & AT_STATX_SYNC_TYPE) == AT_STATX_FORCE_SYNC)
		return false;
	return kaio_local_fs(file_inode(file)->i_sb);
}

/*
 * statx(2) of the open @file, with @mask (STATX_*) and @flags
 * (AT_STATX_SYNC_TYPE), into the user's @buf, in the current task (the
 * submitter or its worker, with its credentials): as statx(2) on an fd,
 * except that the mount id is not reported (STATX_MNT_ID stays clear).
 */
int kaio_shim_statx(struct file *file, unsigned int mask, unsigned int flags,
		    void __user *buf)
{
	struct statx tmp;
	struct kstat st;
	int err;

	memset(&st, 0, sizeof(st));
	err = vfs_getattr(&file->f_path, &st, mask, flags & AT_STATX_SYNC_TYPE);
	if (err)
		return err;
	memset(&tmp, 0, sizeof(tmp));
	tmp.stx_mask = st.result_mask &
		       ~(STATX_CHANGE_COOKIE | STATX_MNT_ID | STATX_MNT_ID_UNIQUE);
	tmp.stx_blksize = st.blksize;
	tmp.stx_attributes = st.attributes & ~STATX_ATTR_CHANGE_MONOTONIC;
	tmp.stx_attributes_mask = st.attributes_mask &
				  ~STATX_ATTR_CHANGE_MONOTONIC;
	tmp.stx_nlink = st.nlink;
	tmp.stx_uid = from_kuid_munged(current_user_ns(), st.uid);
	tmp.stx_gid = from_kgid_munged(current_user_ns(), st.gid);
	tmp.stx_mode = st.mode;
	tmp.stx_ino = st.ino;
	tmp.stx_size = st.size;
	tmp.stx_blocks = st.blocks;
	tmp.stx_atime.tv_sec = st.atime.tv_sec;
	tmp.stx_atime.tv_nsec = st.atime.tv_nsec;
	tmp.stx_btime.tv_sec = st.btime.tv_sec;
	tmp.stx_btime.tv_nsec = st.btime.tv_nsec;
	tmp.stx_ctime.tv_sec = st.ctime.tv_sec;
	tmp.stx_ctime.tv_nsec = st.ctime.tv_nsec;
	tmp.stx_mtime.tv_sec = st.mtime.tv_sec;
	tmp.stx_mtime.tv_nsec = st.mtime.tv_nsec;
	tmp.stx_rdev_major = MAJOR(st.rdev);
	tmp.stx_rdev_minor = MINOR(st.rdev);
	tmp.stx_dev_major = MAJOR(st.dev);
	tmp.stx_dev_minor = MINOR(st.dev);
	tmp.stx_dio_mem_align = st.dio_mem_align;
	tmp.stx_dio_offset_align = st.dio_offset_align;
	tmp.stx_subvol = st.subvol;
	tmp.stx_atomic_write_unit_min = st.atomic_write_unit_min;
	tmp.stx_atomic_write_unit_max = st.atomic_write_unit_max;
	tmp.stx_atomic_write_segments_max = st.atomic_write_segments_max;
	return copy_to_user(buf, &tmp, sizeof(tmp)) ? -EFAULT : 0;
}

/*
 * Sends what a MSG_MORE send left queued on the socket @file, as splice
 * does when a transfer ends early (->splice_eof).
 */
void kaio_shim_sock_push(struct file *file)
{
	if (file->f_op->splice_eof)
		file->f_op->splice_eof(file);
}

/* ---- Folio wait entries for reads (src/file_io.rs) ---- */

struct kaio_waitq {
	struct wait_page_queue wpq;
	void *data;
};

struct kaio_waitq *kaio_shim_waitq_alloc(void)
{
	return kzalloc(sizeof(struct kaio_waitq), GFP_KERNEL_ACCOUNT);
}

void kaio_shim_waitq_free(struct kaio_waitq *wq)
{
	kfree(wq);
}

/*
 * Called by folio_wake_bit() when the folio the read waits for is
 * unlocked, from the block layer's completion (hard or soft interrupt,
 * IRQs off, the wait queue's lock held): only hand the request back.
 */
static int kaio_waitq_wake(struct wait_queue_entry *wait, unsigned int mode,
			   int sync, void *arg)
{
	struct wait_page_key *key = arg;
	struct kaio_waitq *wq = container_of(wait, struct kaio_waitq, wpq.wait);

	if (!wake_page_match(&wq->wpq, key))
		return 0;
	list_del_init(&wait->entry);
	kaio_rust_read_wake(wq->data, in_interrupt());
	return 1;
}

/*
 * Arms @wq for a read with IOCB_WAITQ (src/file_io.rs): its wake-up hands
 * @data to kaio_rust_read_wake().
 */
struct wait_page_queue *kaio_shim_waitq_arm(struct kaio_waitq *wq, void *data)
{
	wq->data = data;
	init_waitqueue_func_entry(&wq->wpq.wait, kaio_waitq_wake);
	return &wq->wpq;
}

/* ---- Parking on a pipe, socket, FIFO or tty (src/poll_wait.rs) ---- */

/* A poll table (opaque to bindgen) that hands each wait queue to Rust. */
struct kaio_poll_table {
	poll_table pt;
	void *data;
};

static void kaio_poll_queue_proc(struct file *file, wait_queue_head_t *head,
				 poll_table *pt)
{
	kaio_rust_poll_hook(container_of(pt, struct kaio_poll_table, pt)->data,
			    head);
}

/*
 * vfs_poll(@file) for @key: returns the file's mask; each wait queue the
 * file polls on goes to kaio_rust_poll_hook(@data, head).
 */
__poll_t kaio_shim_vfs_poll(struct file *file, __poll_t key, void *data)
{
	struct kaio_poll_table t = { .data = data };

	init_poll_funcptr(&t.pt, kaio_poll_queue_proc);
	t.pt._key = key;
	return vfs_poll(file, &t.pt);
}

/*
 * ---- Inline kernel functions and macros, for the Rust code ----
 * bindgen cannot call a static inline function or a macro: each of these
 * is one call of one, with the kernel's own types (src/kapi.rs).
 */

void kaio_shim_init_sync_kiocb(struct kiocb *kiocb, struct file *file)
{
	init_sync_kiocb(kiocb, file);
}

loff_t kaio_shim_i_size_read(const struct inode *inode)
{
	return i_size_read(inode);
}

void kaio_shim_fsnotify_access(struct file *file)
{
	fsnotify_access(file);
}

bool kaio_shim_folio_test_uptodate(const struct folio *folio)
{
	return folio_test_uptodate(folio);
}

loff_t kaio_shim_folio_pos(struct folio *folio)
{
	return folio_pos(folio);
}

size_t kaio_shim_folio_size(const struct folio *folio)
{
	return folio_size(folio);
}

struct page *kaio_shim_folio_page(struct folio *folio, unsigned long n)
{
	return folio_page(folio, n);
}

bool kaio_shim_in_interrupt(void)
{
	return in_interrupt();
}

void kaio_shim_file_start_write(struct file *file)
{
	file_start_write(file);
}

void kaio_shim_file_end_write(struct file *file)
{
	file_end_write(file);
}

void kaio_shim_fsnotify_modify(struct file *file)
{
	fsnotify_modify(file);
}

void kaio_shim_list_del_init(struct list_head *entry)
{
	list_del_init(entry);
}

void kaio_shim_rcu_read_lock(void)
	__acquires(RCU)
{
	rcu_read_lock();
}

void kaio_shim_rcu_read_unlock(void)
	__releases(RCU)
{
	rcu_read_unlock();
}

unsigned long kaio_shim_spin_lock_irqsave(spinlock_t *lock)
	__acquires(lock)
{
	unsigned long flags;

	spin_lock_irqsave(lock, flags);
	return flags;
}

void kaio_shim_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags)
	__releases(lock)
{
	spin_unlock_irqrestore(lock, flags);
}

/* The real uid of the current task (per-user accounting, src/users.rs). */
u32 kaio_shim_current_uid(void)
{
	return __kuid_val(current_uid());
}

/* A broken invariant the Rust code found, reported once. */
void kaio_shim_warn_once(void)
{
	WARN_ON_ONCE(1);
}

/* ---- Installing a KEEP'd file in the submitter's fd table ---- */

struct kaio_task_work {
	struct callback_head cb;
	void *data;
};

/*
 * The callback holds a module reference from kaio_shim_task_work_add()
 * until its very last instruction: module_put() is a tail call, so no
 * instruction of this module runs after the reference is dropped and
 * rmmod can never free code a pending callback will run.
 */
static void kaio_task_work_fn(struct callback_head *cb)
{
	struct kaio_task_work *tw = container_of(cb, struct kaio_task_work, cb);
	void *data = tw->data;

	kfree(tw);
	kaio_rust_task_work(data, current->flags & PF_EXITING);
	module_put(THIS_MODULE);
}

/* Runs kaio_rust_task_work(@data) in @task's own context, soon. */
int kaio_shim_task_work_add(struct task_struct *task, void *data)
{
	struct kaio_task_work *tw = kmalloc(sizeof(*tw), GFP_KERNEL_ACCOUNT);
	int ret;

	if (!tw)
		return -ENOMEM;
	tw->data = data;
	init_task_work(&tw->cb, kaio_task_work_fn);
	__module_get(THIS_MODULE);
	ret = task_work_add(task, &tw->cb, TWA_SIGNAL);
	if (ret) {
		module_put(THIS_MODULE);
		kfree(tw);
	}
	return ret;
}

/* ---- The device: misc device, poll, stats ---- */

u64 kaio_shim_jiffies(void)
{
	return jiffies;
}

/* Whether anyone waits on @wq; a full barrier orders the caller's update. */
bool kaio_shim_wq_has_sleeper(struct wait_queue_head *wq)
{
	return wq_has_sleeper(wq);
}

void kaio_shim_init_waitqueue_head(struct wait_queue_head *wq)
{
	init_waitqueue_head(wq);
}

static __poll_t kaio_poll(struct file *file, poll_table *pt)
{
	poll_wait(file, kaio_rust_poll_queue(file), pt);
	return kaio_rust_poll_ready(file) ? EPOLLIN | EPOLLRDNORM : 0;
}

static const struct file_operations kaio_fops = {
	.owner		= THIS_MODULE,
	.open		= kaio_rust_open,
	.release	= kaio_rust_release,
	.unlocked_ioctl	= kaio_rust_ioctl,
	.compat_ioctl	= compat_ptr_ioctl,
	.mmap		= kaio_rust_mmap,
	.poll		= kaio_poll,
	.llseek		= noop_llseek,
};

static struct miscdevice kaio_misc = {
	.minor	= MISC_DYNAMIC_MINOR,
	.name	= "kaio",
	.fops	= &kaio_fops,
	.mode	= 0666,
};

static struct dentry *kaio_debugfs;
static struct workqueue_struct *kaio_wq, *kaio_exit_wq;

/* /sys/kernel/debug/kaio/stats: one "name value" line per Rust counter. */
static int kaio_stats_show(struct seq_file *m, void *unused)
{
	const char *name;
	unsigned int i;
	u64 val;

	for (i = 0; kaio_rust_stat(i, &name, &val); i++)
		seq_printf(m, "%s %llu\n", name, val);
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(kaio_stats);

/*
 * kaio's workqueue runs no request work: only context teardown and the
 * ends of requests whose process has died (cancelled, they only release
 * what they hold and post their completion). Module exit drains it.
 */
struct workqueue_struct *kaio_shim_workqueue(void)
{
	return kaio_wq;
}

/*
 * Context teardowns: they wait for the context's workers (threads of its
 * process) to exit, so they get their own queue and never delay the ends
 * of other users' requests.
 */
struct workqueue_struct *kaio_shim_exit_workqueue(void)
{
	return kaio_exit_wq;
}

int kaio_shim_register(void)
{
	int ret;

	WARN(inject_warn, "kaio: inject_warn=1: deliberate warning for the log gate test\n");
	kaio_wq = alloc_workqueue("kaio", WQ_UNBOUND, 0);
	if (!kaio_wq)
		return -ENOMEM;
	kaio_exit_wq = alloc_workqueue("kaio_exit", WQ_UNBOUND, WQ_MAX_ACTIVE);
	if (!kaio_exit_wq) {
		destroy_workqueue(kaio_wq);
		return -ENOMEM;
	}
	/* debugfs is optional, as everywhere in the kernel: errors are ignored. */
	kaio_debugfs = debugfs_create_dir("kaio", NULL);
	debugfs_create_file("stats", 0444, kaio_debugfs, NULL, &kaio_stats_fops);
	ret = misc_register(&kaio_misc);
	if (ret) {
		debugfs_remove(kaio_debugfs);
		destroy_workqueue(kaio_exit_wq);
		destroy_workqueue(kaio_wq);
	}
	return ret;
}

/* No file is open (each holds a module reference): drain and remove. */
void kaio_shim_deregister(void)
{
	misc_deregister(&kaio_misc);
	debugfs_remove(kaio_debugfs);
	destroy_workqueue(kaio_exit_wq);
	destroy_workqueue(kaio_wq);
}
