// SPDX-License-Identifier: GPL-2.0
/*
 * kaio C shim: registers /dev/kaio as a misc device and forwards its file
 * operations to the Rust code, and reaches the few kernel APIs that 6.12's
 * Rust bindings cannot express (inline helpers, poll tables, vhost_task
 * workers, task_work, folio wait entries, bvec iterators). The state
 * machines and every decision live in Rust.
 */
#include <linux/bvec.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/fadvise.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/fsnotify.h>
#include <linux/hashtable.h>
#include <linux/miscdevice.h>
#include <linux/net.h>
#include <linux/mm.h>
#include <linux/module.h>
#include <linux/namei.h>
#include <linux/pagemap.h>
#include <linux/pagevec.h>
#include <linux/poll.h>
#include <linux/sched/mm.h>
#include <linux/sched/signal.h>
#include <linux/sched/task.h>
#include <linux/sched/vhost_task.h>
#include <linux/seq_file.h>
#include <linux/slab.h>
#include <linux/task_work.h>
#include <linux/uaccess.h>
#include <linux/uio.h>
#include <linux/vmalloc.h>
#include <linux/workqueue.h>

#include "kaio_shim.h"

static unsigned int sendfile_window = 256;
module_param(sendfile_window, uint, 0644);
MODULE_PARM_DESC(sendfile_window, "Default SENDFILE window in pages (1..1024, default 256: 1 MiB)");

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
	}
	return 0;
}

static bool inject_warn;
module_param(inject_warn, bool, 0444);
MODULE_PARM_DESC(inject_warn,
		 "Test only: raise a WARNING at load to prove the test log gate fails");

/*
 * ---- Completion ring memory ----
 * Zeroed pages charged to the submitter's memory cgroup, mapped into the
 * kernel with vmap and into the owner with vm_insert_pages.
 */

struct kaio_umem {
	unsigned int nr;
	void *addr;
	struct page *pages[];
};

static void kaio_umem_put(struct kaio_umem *m)
{
	unsigned int i;

	for (i = 0; i < m->nr; i++)
		if (m->pages[i])
			__free_page(m->pages[i]);
	kvfree(m);
}

struct kaio_umem *kaio_shim_umem_alloc(unsigned long size)
{
	unsigned int i, nr = DIV_ROUND_UP(size, PAGE_SIZE);
	struct kaio_umem *m;

	m = kvzalloc(struct_size(m, pages, nr), GFP_KERNEL_ACCOUNT);
	if (!m)
		return NULL;
	m->nr = nr;
	for (i = 0; i < nr; i++) {
		m->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO);
		if (!m->pages[i])
			goto fail;
	}
	m->addr = vmap(m->pages, nr, VM_MAP, PAGE_KERNEL);
	if (m->addr)
		return m;
fail:
	kaio_umem_put(m);
	return NULL;
}

void *kaio_shim_umem_addr(struct kaio_umem *m)
{
	return m->addr;
}

void kaio_shim_umem_free(struct kaio_umem *m)
{
	vunmap(m->addr);
	kaio_umem_put(m);
}

/*
 * The ring is shared, never private (a private copy would silently stop
 * seeing completions) and never executable. A fork child does not inherit
 * the mapping: the context belongs to one mm.
 */
int kaio_shim_mmap_ring(struct vm_area_struct *vma, struct kaio_umem *m)
{
	unsigned long nr = vma_pages(vma);

	if (!(vma->vm_flags & VM_SHARED))
		return -EINVAL;
	if (vma->vm_flags & VM_EXEC)
		return -EPERM;
	if (nr > m->nr)
		return -EINVAL;
	vm_flags_mod(vma, VM_DONTCOPY | VM_DONTEXPAND, VM_MAYEXEC);
	return vm_insert_pages(vma, vma->vm_start, m->pages, &nr);
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

/* ---- Per-user accounting (real uid), as RLIMIT_NPROC counts ---- */

struct kaio_user {
	struct hlist_node node;
	kuid_t uid;
	unsigned int count;
	u64 bytes;
};

static DEFINE_HASHTABLE(kaio_users, 6);
static DEFINE_SPINLOCK(kaio_users_lock);

static struct kaio_user *kaio_user_find(kuid_t uid)
{
	struct kaio_user *u;

	hash_for_each_possible(kaio_users, u, node, __kuid_val(uid))
		if (uid_eq(u->uid, uid))
			return u;
	return NULL;
}

/*
 * Counts @reqs requests and @bytes of kernel memory for the current user:
 * its uid, or -EAGAIN past max_user_inflight or max_user_memory.
 */
int kaio_shim_user_charge(u32 *uid, u32 reqs, u64 bytes)
{
	struct kaio_user *u, *fresh = kzalloc(sizeof(*fresh), GFP_KERNEL);
	kuid_t kuid = current_uid();
	unsigned long flags;
	int ret = 0;

	spin_lock_irqsave(&kaio_users_lock, flags);
	u = kaio_user_find(kuid);
	if (!u && fresh) {
		u = fresh;
		fresh = NULL;
		u->uid = kuid;
		hash_add(kaio_users, &u->node, __kuid_val(kuid));
	}
	if (!u) {
		ret = -ENOMEM;
	} else if ((u64)u->count + reqs > READ_ONCE(max_user_inflight) ||
		   u->bytes + bytes > READ_ONCE(max_user_memory)) {
		ret = -EAGAIN;
	} else {
		u->count += reqs;
		u->bytes += bytes;
	}
	if (u && !u->count && !u->bytes) {
		hash_del(&u->node);
		fresh = u;
	}
	spin_unlock_irqrestore(&kaio_users_lock, flags);
	kfree(fresh);
	*uid = __kuid_val(kuid);
	return ret;
}

void kaio_shim_user_uncharge(u32 uid, u32 reqs, u64 bytes)
{
	struct kaio_user *u;
	unsigned long flags;

	spin_lock_irqsave(&kaio_users_lock, flags);
	u = kaio_user_find(KUIDT_INIT(uid));
	if (WARN_ON_ONCE(!u || u->count < reqs || u->bytes < bytes)) {
		u = NULL;
	} else {
		u->count -= reqs;
		u->bytes -= bytes;
		if (!u->count && !u->bytes)
			hash_del(&u->node);
		else
			u = NULL;
	}
	spin_unlock_irqrestore(&kaio_users_lock, flags);
	kfree(u);
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

/* Sleeps (interruptibly: a kworker, not a hung task) for @ms. */
void kaio_shim_nap(unsigned int ms)
{
	schedule_timeout_interruptible(msecs_to_jiffies(ms));
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

void kaio_shim_wake_task(struct task_struct *task)
{
	wake_up_process(task);
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

int kaio_shim_current_umask(void)
{
	return current_umask();
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
 * Opens @name with the root, working directory (or dirfd) and umask the
 * submitter had at SUBMIT. Runs in the submitter's own worker thread, which
 * owns a private fs_struct (kaio_shim_worker_private_fs): root and pwd are
 * swapped in for the lookup and back out, so lookup, "..", symlinks,
 * permission checks and /proc/self behave as openat(2) in the submitter.
 */
struct file *kaio_shim_open(const struct path *root, const struct path *dir,
			    const char *name, int flags, umode_t mode, int umask)
{
	struct path r = *root, p = *dir;
	struct file *file;
	int m = umask;
	bool shared;

	spin_lock(&current->fs->lock);
	shared = current->fs->users > 1;
	spin_unlock(&current->fs->lock);
	/* The worker could not make its fs_struct private (ENOMEM). */
	if (shared)
		return ERR_PTR(-ENOMEM);
	path_get(&r);
	path_get(&p);
	kaio_swap_fs(current->fs, &r, &p, &m);
	file = filp_open(name, flags | O_LARGEFILE, mode);
	kaio_swap_fs(current->fs, &r, &p, &m);
	path_put(&r);
	path_put(&p);
	return file;
}

/*
 * In the submitter, at SUBMIT: opens @name only if neither the lookup nor
 * the open can wait. The walk must succeed from the dentry cache alone
 * (LOOKUP_CACHED: RCU mode only) and end at a regular file or directory
 * (a FIFO or device open may wait); the open itself is non-blocking, as
 * io_uring's first openat attempt (a lease break answers -EAGAIN). A
 * dentry evicted between the walk and filp_open() costs one real lookup.
 * -EAGAIN: not without blocking; the caller opens in a worker instead.
 */
struct file *kaio_shim_open_cached(const char *name, int flags, umode_t mode)
{
	unsigned int lookup = LOOKUP_CACHED;
	struct file *file;
	struct path path;
	umode_t type;

	if (flags & (O_CREAT | O_TRUNC | __O_TMPFILE))
		return ERR_PTR(-EAGAIN);
	if (!(flags & O_NOFOLLOW))
		lookup |= LOOKUP_FOLLOW;
	/* Misses and errors alike: the worker gives openat(2)'s answer. */
	if (kern_path(name, lookup, &path))
		return ERR_PTR(-EAGAIN);
	type = d_inode(path.dentry)->i_mode & S_IFMT;
	path_put(&path);
	if (type != S_IFREG && type != S_IFDIR)
		return ERR_PTR(-EAGAIN);
	file = filp_open(name, flags | O_LARGEFILE | O_NONBLOCK, mode);
	if (!IS_ERR(file) && !(flags & O_NONBLOCK))
		file->f_flags &= ~O_NONBLOCK;
	return file;
}

/* ---- Files ---- */

struct file *kaio_shim_fget(int fd)
{
	return fget(fd);
}

unsigned int kaio_shim_file_caps(struct file *file)
{
	umode_t mode = file_inode(file)->i_mode;
	unsigned int caps = 0;

	if (file->f_mode & FMODE_READ)
		caps |= KAIO_CAP_READ;
	if (file->f_mode & FMODE_WRITE)
		caps |= KAIO_CAP_WRITE;
	if (S_ISDIR(mode))
		caps |= KAIO_CAP_DIR;
	if (S_ISREG(mode))
		caps |= KAIO_CAP_REG;
	if ((file->f_mode & FMODE_NOWAIT) && file->f_op->read_iter &&
	    (file->f_op->fop_flags & FOP_BUFFER_RASYNC) &&
	    !(file->f_flags & O_DIRECT))
		caps |= KAIO_CAP_ASYNC_READ;
	if (file->f_mode & FMODE_CAN_ODIRECT)
		caps |= KAIO_CAP_CAN_DIRECT;
	if (file->f_flags & O_DIRECT)
		caps |= KAIO_CAP_O_DIRECT;
	if (file->f_flags & O_APPEND)
		caps |= KAIO_CAP_APPEND;
	/* Pipes, FIFOs, sockets, ttys: transfers park on their wait queue. */
	if (!S_ISREG(mode) && !S_ISBLK(mode) && file_can_poll(file) &&
	    (file->f_mode & FMODE_NOWAIT))
		caps |= KAIO_CAP_STREAM;
	return caps;
}

int kaio_shim_valid_open_flags(int flags)
{
	return !(flags & ~VALID_OPEN_FLAGS) && !(flags & O_PATH);
}

/* ---- Reads and writes ---- */

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

/* A file with ->read but no ->read_iter (much of /proc), as vfs_read(). */
static ssize_t kaio_read_plain(struct file *file, loff_t *pos, u64 buf,
			       size_t len)
{
	ssize_t ret;

	if (!(file->f_mode & FMODE_CAN_READ) || !file->f_op->read)
		return -EINVAL;
	ret = rw_verify_area(READ, file, pos, len);
	if (ret)
		return ret;
	ret = file->f_op->read(file, u64_to_user_ptr(buf), len, pos);
	if (ret > 0)
		fsnotify_access(file);
	return ret;
}

/*
 * Reads into @iter at @pos. @how: KAIO_IO_WAITQ never waits for the disk
 * (data in the page cache is copied, missing data read ahead; if a folio
 * is being read, @wq is armed with @data and -EIOCBQUEUED returned, or the
 * bytes so far: kaio_rust_read_wake(@data) runs exactly once when the folio
 * is ready; -EAGAIN if no folio could be set up). KAIO_IO_NOWAIT fails
 * with -EAGAIN instead of blocking (streams). KAIO_IO_BLOCK may sleep.
 * vfs_iocb_iter_read() runs the permission hook and fsnotify.
 */
static ssize_t kaio_read_iter(struct file *file, loff_t pos,
			      struct iov_iter *iter, int how,
			      struct kaio_waitq *wq, void *data)
{
	struct kiocb kiocb;

	init_sync_kiocb(&kiocb, file);
	kiocb.ki_pos = pos;
	if (how == KAIO_IO_WAITQ) {
		wq->data = data;
		init_waitqueue_func_entry(&wq->wpq.wait, kaio_waitq_wake);
		kiocb.ki_flags |= IOCB_WAITQ;
		kiocb.ki_waitq = &wq->wpq;
	} else if (how == KAIO_IO_NOWAIT) {
		kiocb.ki_flags |= IOCB_NOWAIT;
	}
	return vfs_iocb_iter_read(file, &kiocb, iter);
}

/* Reads up to @len bytes at @pos into the user buffer @buf (current mm). */
ssize_t kaio_shim_read(struct file *file, loff_t pos, u64 buf, size_t len,
		       int how, struct kaio_waitq *wq, void *data)
{
	struct iov_iter iter;
	ssize_t ret;

	if (!file->f_op->read_iter)
		return kaio_read_plain(file, &pos, buf, len);
	ret = import_ubuf(ITER_DEST, u64_to_user_ptr(buf), len, &iter);
	if (ret)
		return ret;
	return kaio_read_iter(file, pos, &iter, how, wq, data);
}

/* A file with ->write but no ->write_iter (much of /proc), as vfs_write(). */
static ssize_t kaio_write_plain(struct file *file, loff_t *pos, u64 buf,
				size_t len)
{
	ssize_t ret;

	if (!(file->f_mode & FMODE_CAN_WRITE) || !file->f_op->write)
		return -EINVAL;
	ret = rw_verify_area(WRITE, file, pos, len);
	if (ret)
		return ret;
	file_start_write(file);
	ret = file->f_op->write(file, u64_to_user_ptr(buf), len, pos);
	if (ret > 0)
		fsnotify_modify(file);
	file_end_write(file);
	return ret;
}

/*
 * Writes from the user buffer @buf: KAIO_IO_NOWAIT fails with -EAGAIN
 * instead of blocking (streams); else as pwrite(2), with its permission
 * hook, fsnotify, RLIMIT_FSIZE and freeze protection.
 */
ssize_t kaio_shim_write(struct file *file, loff_t pos, u64 buf, size_t len,
			int how)
{
	struct iov_iter iter;
	struct kiocb kiocb;
	ssize_t ret;

	if (!file->f_op->write_iter)
		return kaio_write_plain(file, &pos, buf, len);
	ret = import_ubuf(ITER_SOURCE, u64_to_user_ptr(buf), len, &iter);
	if (ret)
		return ret;
	if (how != KAIO_IO_NOWAIT)
		return vfs_iter_write(file, &iter, &pos, 0);
	init_sync_kiocb(&kiocb, file);
	kiocb.ki_flags |= IOCB_NOWAIT;
	return vfs_iocb_iter_write(file, &kiocb, &iter);
}

/* ---- Parking on a pipe, socket, FIFO or tty without a thread ---- */

struct kaio_poll {
	struct wait_queue_entry wait[KAIO_POLL_HEADS];
	wait_queue_head_t *head[KAIO_POLL_HEADS];
	unsigned int nr;
	bool overflow;
	__poll_t events;
	void *owner;
};

struct kaio_poll *kaio_shim_poll_alloc(void *owner)
{
	struct kaio_poll *p = kzalloc(sizeof(*p), GFP_KERNEL_ACCOUNT);

	if (p)
		p->owner = owner;
	return p;
}

/*
 * Takes every entry off its wait queue; no wake-up can see it afterwards.
 * A head that POLLFREE cleared is gone: its memory (a sighand, freed by
 * RCU) is only looked at under rcu_read_lock, as aio_poll_cancel does.
 */
void kaio_shim_poll_unhook(struct kaio_poll *p)
{
	unsigned int i;

	rcu_read_lock();
	for (i = 0; i < p->nr; i++) {
		/* Pairs with the release in kaio_poll_wake() (POLLFREE). */
		wait_queue_head_t *head = smp_load_acquire(&p->head[i]);
		unsigned long flags;

		if (!head)
			continue;
		spin_lock_irqsave(&head->lock, flags);
		list_del_init(&p->wait[i].entry);
		spin_unlock_irqrestore(&head->lock, flags);
	}
	rcu_read_unlock();
	p->nr = 0;
	p->overflow = false;
}

void kaio_shim_poll_free(struct kaio_poll *p)
{
	kaio_shim_poll_unhook(p);
	kfree(p);
}

/*
 * Called from the file's wait queue (often softirq: TCP ACKs) with its
 * lock held. The entry stays queued; Rust's park state decides whether
 * this wake-up hands the request back, and the owner unhooks.
 */
struct kaio_poll_pt {
	poll_table pt;
	struct kaio_poll *p;
};

static int kaio_poll_wake(struct wait_queue_entry *wait, unsigned int mode,
			  int sync, void *key)
{
	struct kaio_poll *p = wait->private;
	__poll_t mask = key_to_poll(key);

	if (mask && !(mask & (p->events | EPOLLERR | EPOLLHUP | POLLFREE)))
		return 0;
	if (unlikely(mask & POLLFREE)) {
		/*
		 * The wait queue itself is going away (signalfd's, with its
		 * sighand): leave it now and mark the head gone, as aio and
		 * io_uring do; the owner's unhook skips it.
		 */
		list_del_init(&wait->entry);
		/* The unlink above is done before the head reads as gone. */
		smp_store_release(&p->head[wait - p->wait], NULL);
	}
	kaio_rust_poll_wake(p->owner, in_interrupt());
	return 0;
}

static void kaio_poll_queue_proc(struct file *file, wait_queue_head_t *head,
				 poll_table *pt)
{
	struct kaio_poll *p = container_of(pt, struct kaio_poll_pt, pt)->p;
	struct wait_queue_entry *w;

	if (p->nr >= KAIO_POLL_HEADS) {
		p->overflow = true;
		return;
	}
	w = &p->wait[p->nr];
	init_waitqueue_func_entry(w, kaio_poll_wake);
	w->private = p;
	p->head[p->nr++] = head;
	add_wait_queue(head, w);
}

/*
 * Hooks @p on @file's wait queues for @events and returns the file's
 * current mask (the caller re-checks readiness after arming, so no
 * wake-up is lost). A file with more wait queues than kaio tracks reports
 * itself ready: the caller retries instead of parking.
 */
__poll_t kaio_shim_poll_arm(struct kaio_poll *p, struct file *file,
			    __poll_t events)
{
	struct kaio_poll_pt spt = { .p = p };
	__poll_t mask;

	p->events = events;
	init_poll_funcptr(&spt.pt, kaio_poll_queue_proc);
	spt.pt._key = events | EPOLLERR | EPOLLHUP;
	mask = vfs_poll(file, &spt.pt);
	if (p->overflow)
		mask |= events;
	return mask;
}

/* ---- SENDFILE: page cache or private pages -> socket, pipe or file ---- */

/* What SENDFILE can write to; -EINVAL for anything else (as sendfile(2)). */
int kaio_shim_out_kind(struct file *out)
{
	umode_t mode = file_inode(out)->i_mode;

	if (!(out->f_mode & FMODE_WRITE))
		return -EBADF;
	if (out->f_flags & O_APPEND)
		return -EINVAL;
	if (sock_from_file(out))
		return KAIO_OUT_SOCKET;
	if (S_ISFIFO(mode))
		return KAIO_OUT_PIPE;
	if (S_ISREG(mode))
		return KAIO_OUT_FILE;
	return -EINVAL;
}

/* Writes @nr bvecs without blocking: bytes written, -EAGAIN when full. */
static ssize_t kaio_sf_write(struct bio_vec *bv, unsigned int nr, size_t len,
			     struct file *out, int kind)
{
	struct iov_iter iter;
	ssize_t ret;

	iov_iter_bvec(&iter, ITER_SOURCE, bv, nr, len);
	if (kind == KAIO_OUT_SOCKET) {
		struct msghdr msg = {
			.msg_flags = MSG_SPLICE_PAGES | MSG_DONTWAIT | MSG_NOSIGNAL,
		};

		msg.msg_iter = iter;
		return sock_sendmsg(sock_from_file(out), &msg);
	}
	if (kind == KAIO_OUT_PIPE) {
		struct kiocb kiocb;

		init_sync_kiocb(&kiocb, out);
		kiocb.ki_flags |= IOCB_NOWAIT;
		return vfs_iocb_iter_write(out, &kiocb, &iter);
	}
	/* A regular file: at its position, as sendfile(2) writes. */
	mutex_lock(&out->f_pos_lock);
	ret = vfs_iter_write(out, &iter, &out->f_pos, 0);
	mutex_unlock(&out->f_pos_lock);
	return ret;
}

/*
 * Sends up to @len bytes at @pos of @in from the page cache, with no copy
 * to a socket (the socket takes its own page references): the contiguous
 * run of uptodate folios starting at @pos. Returns bytes sent; 0 at EOF;
 * -ENODATA if the folio at @pos is not cached and uptodate (the caller
 * reads it in); -EAGAIN if @out is full. The bvecs live on the stack: a
 * parked request holds no per-window array. The read's permission hook and
 * access notification run as for sendfile(2).
 */
ssize_t kaio_shim_sf_send_cached(struct file *in, loff_t pos, size_t len,
				 struct file *out, int kind)
{
	struct bio_vec bv[KAIO_SF_BATCH];
	struct folio_batch fbatch;
	loff_t size = i_size_read(file_inode(in));
	pgoff_t start = pos >> PAGE_SHIFT;
	unsigned int i, nr = 0;
	size_t total = 0;
	loff_t p = pos;
	ssize_t ret;

	if (pos >= size)
		return 0;
	len = min_t(loff_t, len, size - pos);
	len = min_t(size_t, len, (size_t)KAIO_SF_BATCH << PAGE_SHIFT);
	/* The permission hook and fanotify events of sendfile(2)'s read. */
	ret = rw_verify_area(READ, in, &pos, len);
	if (ret)
		return ret;
	folio_batch_init(&fbatch);
	filemap_get_folios_contig(in->f_mapping, &start,
				  (pos + len - 1) >> PAGE_SHIFT, &fbatch);
	for (i = 0; i < folio_batch_count(&fbatch) && total < len; i++) {
		struct folio *folio = fbatch.folios[i];
		size_t off;

		if (!folio_test_uptodate(folio) || folio_pos(folio) > p ||
		    folio_pos(folio) + folio_size(folio) <= p)
			break;
		off = p - folio_pos(folio);
		while (off < folio_size(folio) && total < len && nr < KAIO_SF_BATCH) {
			size_t in_page = offset_in_page(off);
			size_t n = min_t(size_t, PAGE_SIZE - in_page, len - total);

			bvec_set_page(&bv[nr++], folio_page(folio, off >> PAGE_SHIFT),
				      n, in_page);
			total += n;
			off += n;
			p += n;
		}
	}
	ret = total ? kaio_sf_write(bv, nr, total, out, kind) : -ENODATA;
	folio_batch_release(&fbatch);
	if (ret > 0)
		fsnotify_access(in);
	return ret;
}

/*
 * Brings [pos, pos + len) into the page cache without copying and without
 * waiting for the disk: as kaio_shim_read() with a discard iterator.
 */
ssize_t kaio_shim_sf_fill(struct file *in, loff_t pos, size_t len,
			  struct kaio_waitq *wq, void *data)
{
	struct iov_iter iter;

	iov_iter_discard(&iter, ITER_DEST, len);
	return kaio_read_iter(in, pos, &iter, wq ? KAIO_IO_WAITQ : KAIO_IO_BLOCK,
			      wq, data);
}

/* Starts reading [pos, pos + len) into the page cache; does not wait. */
void kaio_shim_sf_prefetch(struct file *in, loff_t pos, size_t len)
{
	vfs_fadvise(in, pos, len, POSIX_FADV_WILLNEED);
}

/* ---- A private window: direct reads (NOCACHE, O_DIRECT), or copies ---- */

struct kaio_sf {
	unsigned int max_pages;
	/*
	 * The window's bvecs: a direct read's bios use this array in place
	 * (bio_iov_bvec_set), so it lives until the read completed, which
	 * the request's lent reference guarantees is before the next window
	 * or the end of the request.
	 */
	struct bio_vec *bv;
	struct kiocb dio;
	long dio_res;
	void *data;
	loff_t buf_pos;
	size_t buf_len;
	struct page *pages[];
};

struct kaio_sf *kaio_shim_sf_alloc(unsigned int max_pages)
{
	struct kaio_sf *sf;

	sf = kzalloc(struct_size(sf, pages, max_pages), GFP_KERNEL_ACCOUNT);
	if (!sf)
		return NULL;
	sf->bv = kcalloc(max_pages, sizeof(*sf->bv), GFP_KERNEL_ACCOUNT);
	if (!sf->bv) {
		kfree(sf);
		return NULL;
	}
	sf->max_pages = max_pages;
	return sf;
}

static void kaio_sf_put_pages(struct kaio_sf *sf)
{
	unsigned int i;

	for (i = 0; i < sf->max_pages; i++) {
		if (sf->pages[i])
			put_page(sf->pages[i]);
		sf->pages[i] = NULL;
	}
	sf->buf_len = 0;
}

/* No read in flight (the request's lent reference guarantees it). */
void kaio_shim_sf_free(struct kaio_sf *sf)
{
	kaio_sf_put_pages(sf);
	kfree(sf->bv);
	kfree(sf);
}

static void kaio_sf_dio_done(struct kiocb *iocb, long res)
{
	struct kaio_sf *sf = container_of(iocb, struct kaio_sf, dio);

	WRITE_ONCE(sf->dio_res, res);
	kaio_rust_sf_wake(sf->data, in_interrupt());
}

/*
 * Reads one window at page-aligned @pos into fresh private pages (the
 * previous window's pages may still be referenced by the socket). With
 * @direct, by direct I/O (the file must support it): returns the bytes if
 * the read completed at once, -EIOCBQUEUED if kaio_rust_sf_wake(@data)
 * will report it (from the bio completion), or an error. Without, a
 * buffered copy for files whose data is not in the page cache (tmpfs
 * holes, sysfs, procfs): returns the bytes. kaio_shim_sf_dio_result()
 * gives the result and makes it the valid window.
 */
ssize_t kaio_shim_sf_window(struct kaio_sf *sf, struct file *in, loff_t pos,
			    size_t len, bool direct, void *data)
{
	unsigned int i, nr = min_t(size_t, DIV_ROUND_UP(len, PAGE_SIZE), sf->max_pages);
	struct bio_vec *bv = sf->bv;
	struct iov_iter iter;
	ssize_t ret;

	kaio_sf_put_pages(sf);
	sf->buf_pos = pos;
	/* Past the end (offsets near LLONG_MAX included): nothing to read. */
	if (pos >= i_size_read(file_inode(in))) {
		WRITE_ONCE(sf->dio_res, 0);
		return 0;
	}
	for (i = 0; i < nr; i++) {
		sf->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT);
		if (!sf->pages[i]) {
			kaio_sf_put_pages(sf);
			return -ENOMEM;
		}
		bvec_set_page(&bv[i], sf->pages[i], PAGE_SIZE, 0);
	}
	iov_iter_bvec(&iter, ITER_DEST, bv, nr, (size_t)nr << PAGE_SHIFT);
	init_sync_kiocb(&sf->dio, in);
	sf->dio.ki_pos = pos;
	sf->data = data;
	sf->buf_pos = pos;
	if (direct) {
		sf->dio.ki_flags |= IOCB_DIRECT;
		sf->dio.ki_complete = kaio_sf_dio_done;
	}
	WRITE_ONCE(sf->dio_res, -EINPROGRESS);
	ret = vfs_iocb_iter_read(in, &sf->dio, &iter);
	if (ret != -EIOCBQUEUED)
		WRITE_ONCE(sf->dio_res, ret);
	return ret;
}

/* The completed read's result; it becomes the valid window. */
long kaio_shim_sf_dio_result(struct kaio_sf *sf)
{
	long res = READ_ONCE(sf->dio_res);

	sf->buf_len = res > 0 ? res : 0;
	return res;
}

/*
 * Sends up to @len bytes at @pos from the private window (which must hold
 * @pos): bytes sent, or -EAGAIN if @out is full.
 */
ssize_t kaio_shim_sf_send_private(struct kaio_sf *sf, loff_t pos, size_t len,
				  struct file *out, int kind)
{
	struct bio_vec bv[KAIO_SF_BATCH];
	size_t off = pos - sf->buf_pos, total = 0;
	unsigned int nr = 0;

	len = min_t(size_t, len, sf->buf_len - off);
	while (total < len && nr < KAIO_SF_BATCH) {
		size_t in_page = offset_in_page(off + total);
		size_t n = min_t(size_t, PAGE_SIZE - in_page, len - total);

		bvec_set_page(&bv[nr++], sf->pages[(off + total) >> PAGE_SHIFT], n, in_page);
		total += n;
	}
	return total ? kaio_sf_write(bv, nr, total, out, kind) : 0;
}

/* Start and valid length of the private window. */
loff_t kaio_shim_sf_buf_pos(struct kaio_sf *sf)
{
	return sf->buf_pos;
}

size_t kaio_shim_sf_buf_len(struct kaio_sf *sf)
{
	return sf->buf_len;
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

/* In the submitter's context: installs @file (consumed on success). */
int kaio_shim_install_fd(struct file *file, bool cloexec)
{
	int fd = get_unused_fd_flags(cloexec ? O_CLOEXEC : 0);

	if (fd >= 0)
		fd_install(fd, file);
	return fd;
}

/* ---- The device: misc device, poll, stats ---- */

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

/* Taken by release, under the file's own reference. */
void kaio_shim_module_get(void)
{
	__module_get(THIS_MODULE);
}

void kaio_shim_module_put(void)
{
	module_put(THIS_MODULE);
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
