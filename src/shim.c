// SPDX-License-Identifier: GPL-2.0
/*
 * kaio C shim: registers /dev/kaio as a misc device and forwards its file
 * operations to the Rust code. Everything with logic lives in Rust; this file
 * only reaches the kernel APIs that 6.12's Rust bindings do not cover.
 */
#include <linux/bug.h>
#include <linux/bvec.h>
#include <linux/cred.h>
#include <linux/debugfs.h>
#include <linux/fadvise.h>
#include <linux/fdtable.h>
#include <linux/file.h>
#include <linux/fs.h>
#include <linux/fs_struct.h>
#include <linux/kthread.h>
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

static unsigned long max_memory = 256UL << 20;
module_param(max_memory, ulong, 0644);
MODULE_PARM_DESC(max_memory, "Bytes of kernel memory kaio may hold for requests and rings");

static struct workqueue_struct *kaio_wq;

/* Bounded workers: at most this many of kaio's work items run at once. */
static unsigned int max_workers = 256;

static int max_workers_set(const char *val, const struct kernel_param *kp)
{
	unsigned int n;
	int ret = kstrtouint(val, 0, &n);

	if (ret)
		return ret;
	if (n < 1 || n > WQ_MAX_ACTIVE)
		return -EINVAL;
	WRITE_ONCE(max_workers, n);
	if (kaio_wq)
		workqueue_set_max_active(kaio_wq, n);
	return 0;
}

static const struct kernel_param_ops max_workers_ops = {
	.set = max_workers_set,
	.get = param_get_uint,
};
module_param_cb(max_workers, &max_workers_ops, &max_workers, 0644);
MODULE_PARM_DESC(max_workers, "Work items of kaio running at once (1..512)");

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
	}
	return 0;
}

static bool inject_warn;
module_param(inject_warn, bool, 0444);
MODULE_PARM_DESC(inject_warn,
		 "Test only: raise a WARNING at load to prove the test log gate fails");

/* ---- Completion ring memory: zeroed vmalloc memory userspace can map ---- */

void *kaio_shim_vmalloc_user(unsigned long size)
{
	return vmalloc_user(size);
}

void kaio_shim_vfree(void *addr)
{
	vfree(addr);
}

int kaio_shim_mmap_ring(struct vm_area_struct *vma, void *addr)
{
	/* A fork child does not inherit the mapping; the context is per mm. */
	vm_flags_set(vma, VM_DONTCOPY | VM_DONTEXPAND);
	return remap_vmalloc_range(vma, addr, 0);
}

/* ---- Identity of the submitter: credentials, memory map, task ---- */

const struct cred *kaio_shim_get_current_cred(void)
{
	return get_current_cred();
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

/* Enters @mm from a kworker; false if its process has exited. */
bool kaio_shim_use_mm(struct mm_struct *mm)
{
	if (!mmget_not_zero(mm))
		return false;
	kthread_use_mm(mm);
	return true;
}

void kaio_shim_unuse_mm(struct mm_struct *mm)
{
	kthread_unuse_mm(mm);
	mmput(mm);
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

bool kaio_shim_access_ok(u64 addr, u64 len)
{
	return access_ok(u64_to_user_ptr(addr), len);
}

/* ---- Paths: open by path from a kworker, as the submitter would ---- */

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
 * Opens @name with the submitter's root, working directory (or dirfd) and
 * umask, from a kworker whose credentials are already the submitter's.
 *
 * A kworker shares PID 1's fs_struct, so the first open on a kworker gives
 * it a private copy (as nfsd threads do); root and pwd are swapped in for
 * the lookup and swapped back before returning, so the worker never pins
 * the submitter's mounts between requests. Lookup, "..", symlinks to "/"
 * and permission checks then behave exactly as openat(2) in the submitter.
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
	if (shared) {
		int err = unshare_fs_struct();

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
	return file;
}

/* ---- Files ---- */

struct file *kaio_shim_fget(int fd)
{
	return fget(fd);
}

unsigned int kaio_shim_file_caps(const struct file *file)
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
	return caps;
}

int kaio_shim_valid_open_flags(int flags)
{
	return !(flags & ~VALID_OPEN_FLAGS) && !(flags & O_PATH);
}

/* ---- Reads that never wait for the disk ---- */

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
 * Reads into @iter at @pos. With @wq, never waits for I/O: data in the page
 * cache is copied; missing data is read ahead; if a folio is being read,
 * @wq is armed with @data and -EIOCBQUEUED returned (the copy may have
 * stopped short there, returning the bytes so far instead):
 * kaio_rust_read_wake(@data) runs exactly once when the folio is ready.
 * -EAGAIN means this path cannot make progress (no folio could be set up).
 * Without @wq, an ordinary blocking read.
 *
 * Only IOCB_WAITQ is set, not IOCB_NOWAIT: the caller is a worker, which
 * may sleep on allocation or locks, just not on the disk; and with
 * IOCB_NOWAIT a folio under I/O would fail the read instead of arming.
 */
static ssize_t kaio_read_iter(struct file *file, loff_t pos,
			      struct iov_iter *iter, struct kaio_waitq *wq,
			      void *data)
{
	struct kiocb kiocb;

	if (!wq)
		return vfs_iter_read(file, iter, &pos, 0);
	init_sync_kiocb(&kiocb, file);
	kiocb.ki_pos = pos;
	wq->data = data;
	init_waitqueue_func_entry(&wq->wpq.wait, kaio_waitq_wake);
	kiocb.ki_flags |= IOCB_WAITQ;
	kiocb.ki_waitq = &wq->wpq;
	return vfs_iocb_iter_read(file, &kiocb, iter);
}

/* Reads up to @len bytes at @pos into the user buffer @buf (current mm). */
ssize_t kaio_shim_read(struct file *file, loff_t pos, u64 buf, size_t len,
		       struct kaio_waitq *wq, void *data)
{
	struct iov_iter iter;
	ssize_t ret;

	ret = import_ubuf(ITER_DEST, u64_to_user_ptr(buf), len, &iter);
	if (ret)
		return ret;
	return kaio_read_iter(file, pos, &iter, wq, data);
}

ssize_t kaio_shim_write(struct file *file, loff_t pos, u64 buf, size_t len)
{
	struct iov_iter iter;
	ssize_t ret;

	ret = import_ubuf(ITER_SOURCE, u64_to_user_ptr(buf), len, &iter);
	if (ret)
		return ret;
	return vfs_iter_write(file, &iter, &pos, 0);
}

/* ---- SENDFILE: page cache or private pages -> socket, pipe or file ---- */

enum { KAIO_OUT_SOCKET, KAIO_OUT_PIPE, KAIO_OUT_FILE };

/* What SENDFILE can write to; -EINVAL for anything else. */
int kaio_shim_out_kind(struct file *out)
{
	umode_t mode = file_inode(out)->i_mode;

	if (!(out->f_mode & FMODE_WRITE))
		return -EBADF;
	if (sock_from_file(out))
		return KAIO_OUT_SOCKET;
	if (S_ISFIFO(mode))
		return KAIO_OUT_PIPE;
	if (S_ISREG(mode))
		return KAIO_OUT_FILE;
	return -EINVAL;
}

/*
 * Per-request sendfile state: the bvec array of one window, the private
 * pages of NOCACHE reads and their direct-I/O kiocb, and the wait entries
 * that park the request on a full socket or pipe (two: a pipe polls on two
 * queues).
 */
struct kaio_sf {
	unsigned int max_pages;
	atomic_t out_armed;
	void *data;
	struct wait_queue_entry out_wait[2];
	wait_queue_head_t *out_head[2];
	unsigned int nr_heads;
	/* NOCACHE: one window of private pages and its read. */
	struct kiocb dio;
	long dio_res;
	loff_t buf_pos;
	size_t buf_len;
	struct page **pages;
	struct bio_vec bv[];
};

struct kaio_sf *kaio_shim_sf_alloc(unsigned int max_pages, bool nocache)
{
	struct kaio_sf *sf;

	sf = kzalloc(struct_size(sf, bv, max_pages), GFP_KERNEL_ACCOUNT);
	if (!sf)
		return NULL;
	sf->max_pages = max_pages;
	if (nocache) {
		sf->pages = kcalloc(max_pages, sizeof(*sf->pages), GFP_KERNEL_ACCOUNT);
		if (!sf->pages) {
			kfree(sf);
			return NULL;
		}
	}
	return sf;
}

static void kaio_sf_put_pages(struct kaio_sf *sf)
{
	unsigned int i;

	for (i = 0; sf->pages && i < sf->max_pages; i++) {
		if (sf->pages[i])
			put_page(sf->pages[i]);
		sf->pages[i] = NULL;
	}
	sf->buf_len = 0;
}

/*
 * Unhooks the out wait entries. Returns the parked request's reference if
 * this call took the armed state (the caller now owns it), else NULL.
 */
void *kaio_shim_sf_disarm(struct kaio_sf *sf)
{
	void *took = atomic_xchg(&sf->out_armed, 0) ? sf->data : NULL;
	unsigned int i;

	for (i = 0; i < sf->nr_heads; i++) {
		unsigned long flags;

		spin_lock_irqsave(&sf->out_head[i]->lock, flags);
		list_del_init(&sf->out_wait[i].entry);
		spin_unlock_irqrestore(&sf->out_head[i]->lock, flags);
	}
	sf->nr_heads = 0;
	return took;
}

/* Not armed, no I/O in flight (the request's owner guarantees both). */
void kaio_shim_sf_free(struct kaio_sf *sf)
{
	kaio_shim_sf_disarm(sf);
	kaio_sf_put_pages(sf);
	kfree(sf->pages);
	kfree(sf);
}

/* Clamps [pos, pos + len) to the file's current size; 0 at or past EOF. */
static size_t kaio_sf_clamp(struct file *in, loff_t pos, size_t len)
{
	loff_t size = i_size_read(file_inode(in));

	if (pos >= size)
		return 0;
	return min_t(loff_t, len, size - pos);
}

/* Writes @nr bvecs without blocking: bytes written, -EAGAIN when full. */
static ssize_t kaio_sf_write(struct kaio_sf *sf, unsigned int nr, size_t len,
			     struct file *out, int kind)
{
	struct iov_iter iter;

	iov_iter_bvec(&iter, ITER_SOURCE, sf->bv, nr, len);
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
	{
		loff_t opos = out->f_pos;
		ssize_t ret = vfs_iter_write(out, &iter, &opos, 0);

		if (ret > 0)
			out->f_pos = opos;
		return ret;
	}
}

/*
 * Sends up to @len bytes at @pos of @in from the page cache, with no copy
 * to a socket (the socket takes its own page references): the contiguous
 * run of uptodate folios starting at @pos, at most one window. Returns
 * bytes sent; 0 at EOF; -ENODATA if the folio at @pos is not cached and
 * uptodate (the caller reads it in); -EAGAIN if @out is full.
 */
ssize_t kaio_shim_sf_send_cached(struct kaio_sf *sf, struct file *in,
				 loff_t pos, size_t len, struct file *out,
				 int kind)
{
	struct folio_batch fbatch;
	pgoff_t start = pos >> PAGE_SHIFT;
	pgoff_t end;
	unsigned int i, nr = 0;
	size_t total = 0;
	loff_t p = pos;
	ssize_t ret;

	len = kaio_sf_clamp(in, pos, min_t(size_t, len, (size_t)sf->max_pages << PAGE_SHIFT));
	if (!len)
		return 0;
	end = (pos + len - 1) >> PAGE_SHIFT;
	folio_batch_init(&fbatch);
	filemap_get_folios_contig(in->f_mapping, &start, end, &fbatch);
	for (i = 0; i < folio_batch_count(&fbatch) && total < len && nr < sf->max_pages; i++) {
		struct folio *folio = fbatch.folios[i];
		size_t off, n;

		if (!folio_test_uptodate(folio) || folio_pos(folio) > p ||
		    folio_pos(folio) + folio_size(folio) <= p)
			break;
		off = p - folio_pos(folio);
		while (off < folio_size(folio) && total < len && nr < sf->max_pages) {
			struct page *page = folio_page(folio, off >> PAGE_SHIFT);
			size_t in_page = offset_in_page(off);

			n = min_t(size_t, PAGE_SIZE - in_page, len - total);
			bvec_set_page(&sf->bv[nr++], page, n, in_page);
			total += n;
			off += n;
			p += n;
		}
	}
	ret = total ? kaio_sf_write(sf, nr, total, out, kind) : -ENODATA;
	folio_batch_release(&fbatch);
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
	return kaio_read_iter(in, pos, &iter, wq, data);
}

/* Starts reading [pos, pos + len) into the page cache; does not wait. */
void kaio_shim_sf_prefetch(struct file *in, loff_t pos, size_t len)
{
	vfs_fadvise(in, pos, len, POSIX_FADV_WILLNEED);
}

/* ---- NOCACHE: direct reads into the request's private pages ---- */

static void kaio_sf_dio_done(struct kiocb *iocb, long res)
{
	struct kaio_sf *sf = container_of(iocb, struct kaio_sf, dio);

	WRITE_ONCE(sf->dio_res, res);
	kaio_rust_sf_wake(sf->data, in_interrupt());
}

/*
 * Reads one window at page-aligned @pos with direct I/O into fresh private
 * pages (the previous window's pages may still be referenced by the
 * socket). Returns the bytes read if the read completed at once,
 * -EIOCBQUEUED if kaio_rust_sf_wake(@data) will report it (from the bio
 * completion), or an error. kaio_shim_sf_dio_result() gives the result.
 */
ssize_t kaio_shim_sf_dio(struct kaio_sf *sf, struct file *in, loff_t pos,
			 size_t len, void *data)
{
	unsigned int i, nr = DIV_ROUND_UP(len, PAGE_SIZE);
	struct iov_iter iter;
	ssize_t ret;

	kaio_sf_put_pages(sf);
	if (nr > sf->max_pages)
		nr = sf->max_pages;
	for (i = 0; i < nr; i++) {
		sf->pages[i] = alloc_page(GFP_KERNEL_ACCOUNT);
		if (!sf->pages[i]) {
			kaio_sf_put_pages(sf);
			return -ENOMEM;
		}
		bvec_set_page(&sf->bv[i], sf->pages[i], PAGE_SIZE, 0);
	}
	iov_iter_bvec(&iter, ITER_DEST, sf->bv, nr, (size_t)nr << PAGE_SHIFT);
	init_sync_kiocb(&sf->dio, in);
	sf->dio.ki_pos = pos;
	sf->dio.ki_flags |= IOCB_DIRECT;
	sf->dio.ki_complete = kaio_sf_dio_done;
	sf->data = data;
	sf->buf_pos = pos;
	WRITE_ONCE(sf->dio_res, -EINPROGRESS);
	ret = vfs_iocb_iter_read(in, &sf->dio, &iter);
	if (ret != -EIOCBQUEUED)
		WRITE_ONCE(sf->dio_res, ret);
	return ret;
}

/* The completed direct read's result; it becomes the valid buffer. */
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
	size_t off = pos - sf->buf_pos, total = 0;
	unsigned int nr = 0;

	len = min_t(size_t, len, sf->buf_len - off);
	while (total < len) {
		size_t in_page = offset_in_page(off + total);
		size_t n = min_t(size_t, PAGE_SIZE - in_page, len - total);

		bvec_set_page(&sf->bv[nr++], sf->pages[(off + total) >> PAGE_SHIFT], n, in_page);
		total += n;
	}
	return total ? kaio_sf_write(sf, nr, total, out, kind) : 0;
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

/* ---- Parking on a full socket or pipe without a thread ---- */

struct kaio_sf_pt {
	poll_table pt;
	struct kaio_sf *sf;
};

/*
 * Called from the socket's or pipe's wait queue (often softirq: TCP ACKs)
 * when it becomes writable or fails: hand the request back once.
 */
static int kaio_sf_out_wake(struct wait_queue_entry *wait, unsigned int mode,
			    int sync, void *key)
{
	struct kaio_sf *sf = wait->private;
	__poll_t mask = key_to_poll(key);

	if (mask && !(mask & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return 0;
	list_del_init(&wait->entry);
	if (atomic_xchg(&sf->out_armed, 0))
		kaio_rust_sf_wake(sf->data, in_interrupt());
	return 1;
}

static void kaio_sf_queue_proc(struct file *file, wait_queue_head_t *head,
			       poll_table *pt)
{
	struct kaio_sf *sf = container_of(pt, struct kaio_sf_pt, pt)->sf;
	struct wait_queue_entry *w;

	if (sf->nr_heads >= ARRAY_SIZE(sf->out_wait))
		return;
	w = &sf->out_wait[sf->nr_heads];
	init_waitqueue_func_entry(w, kaio_sf_out_wake);
	w->private = sf;
	sf->out_head[sf->nr_heads++] = head;
	add_wait_queue(head, w);
}

/*
 * Parks the request until @out is writable: returns 0 if parked (the wake
 * callback, or kaio_shim_sf_disarm() by a canceller, now owns @data), 1 if
 * @out is already writable or failed (retry the write now; @data stays the
 * caller's).
 */
int kaio_shim_sf_arm_out(struct kaio_sf *sf, struct file *out, void *data)
{
	struct kaio_sf_pt spt = { .sf = sf };
	__poll_t mask;

	kaio_shim_sf_disarm(sf);
	sf->data = data;
	atomic_set(&sf->out_armed, 1);
	init_poll_funcptr(&spt.pt, kaio_sf_queue_proc);
	mask = vfs_poll(out, &spt.pt);
	if (!(mask & (EPOLLOUT | EPOLLERR | EPOLLHUP)))
		return 0;
	return kaio_shim_sf_disarm(sf) ? 1 : 0;
}

/* ---- Installing a KEEP'd file in the submitter's fd table ---- */

struct kaio_task_work {
	struct callback_head cb;
	void *data;
};

static void kaio_task_work_fn(struct callback_head *cb)
{
	struct kaio_task_work *tw = container_of(cb, struct kaio_task_work, cb);
	void *data = tw->data;

	kfree(tw);
	kaio_rust_task_work(data, current->flags & PF_EXITING);
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
	ret = task_work_add(task, &tw->cb, TWA_SIGNAL);
	if (ret)
		kfree(tw);
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

/* ---- poll ---- */

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

/* kaio's workqueue: unbound, as its work may sleep on I/O and locks. */
struct workqueue_struct *kaio_shim_workqueue(void)
{
	return kaio_wq;
}

int kaio_shim_register(void)
{
	int ret;

	WARN(inject_warn, "kaio: inject_warn=1: deliberate warning for the log gate test\n");
	kaio_wq = alloc_workqueue("kaio", WQ_UNBOUND, READ_ONCE(max_workers));
	if (!kaio_wq)
		return -ENOMEM;
	/* debugfs is optional, as everywhere in the kernel: errors are ignored. */
	kaio_debugfs = debugfs_create_dir("kaio", NULL);
	debugfs_create_file("stats", 0444, kaio_debugfs, NULL, &kaio_stats_fops);
	ret = misc_register(&kaio_misc);
	if (ret) {
		debugfs_remove(kaio_debugfs);
		destroy_workqueue(kaio_wq);
	}
	return ret;
}

/* No context is left (each holds a module reference): drain and remove. */
void kaio_shim_deregister(void)
{
	misc_deregister(&kaio_misc);
	debugfs_remove(kaio_debugfs);
	destroy_workqueue(kaio_wq);
}
