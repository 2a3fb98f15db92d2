/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between kaio's C shim (shim.c) and its Rust code.
 *
 * The shim holds what Linux 6.12's Rust support cannot reach (the misc
 * device, poll tables, vhost_task workers, task_work, folio waits, inline
 * kernel functions). Functions named kaio_rust_* are implemented in Rust;
 * kaio_shim_* are implemented in C and declared again in Rust (src/shim.rs,
 * src/kapi.rs, src/poll_wait.rs, src/users.rs).
 */
#ifndef KAIO_SHIM_H
#define KAIO_SHIM_H

#include <linux/fs.h>

/* Rust: file operations of /dev/kaio (src/file.rs). */
int kaio_rust_open(struct inode *inode, struct file *file);
int kaio_rust_release(struct inode *inode, struct file *file);
long kaio_rust_ioctl(struct file *file, unsigned int cmd, unsigned long arg);

int kaio_rust_mmap(struct file *file, struct vm_area_struct *vma);
wait_queue_head_t *kaio_rust_poll_queue(struct file *file);
bool kaio_rust_poll_ready(struct file *file);

/* Rust: a parked read's folio is ready (interrupt context); src/park.rs. */
void kaio_rust_read_wake(void *data, bool in_irq);
/* Rust: a wait queue of a file being polled (src/poll_wait.rs). */
void kaio_rust_poll_hook(void *data, wait_queue_head_t *head);
/* Rust: a KEEP'd file is to be installed by the current (submitting) task. */
void kaio_rust_task_work(void *data, bool exiting);
/* Rust: a worker's lane (src/worker.rs): work pending, run it, killed. */
bool kaio_rust_worker_pending(void *lane);
void kaio_rust_worker_run(void *lane);
void kaio_rust_worker_killed(void *lane);

/* Rust: counter @idx of the stats (src/stats.rs); false past the last one. */
bool kaio_rust_stat(unsigned int idx, const char **name, u64 *val);

/* C: register and remove /dev/kaio and kaio's workqueue. */
int kaio_shim_register(void);
void kaio_shim_deregister(void);
struct workqueue_struct *kaio_shim_workqueue(void);
struct workqueue_struct *kaio_shim_exit_workqueue(void);

/* C: module parameters, by index (enum Param in src/shim.rs). */
enum {
	KAIO_PARAM_MAX_RING_ENTRIES,
	KAIO_PARAM_MAX_INFLIGHT,
	KAIO_PARAM_MAX_MEMORY,
	KAIO_PARAM_SENDFILE_WINDOW,
	KAIO_PARAM_MAX_USER_INFLIGHT,
	KAIO_PARAM_MAX_USER_MEMORY,
	KAIO_PARAM_DISK_STREAMS,
};

u64 kaio_shim_param(unsigned int idx);

/* C: the rest of the shim, each documented in shim.c. */
struct kaio_waitq;
struct path;
struct cred;
struct mm_struct;
struct task_struct;
struct vhost_task;
struct page;
void *kaio_shim_vmap(struct page **pages, unsigned int nr);
int kaio_shim_mmap_ring(struct vm_area_struct *vma, struct page **pages,
			unsigned long nr_pages);
const struct cred *kaio_shim_get_current_cred(void);
bool kaio_shim_cred_is_current(const struct cred *cred);
void kaio_shim_put_cred(const struct cred *cred);
struct mm_struct *kaio_shim_mmgrab_current(void);
void kaio_shim_mmdrop(struct mm_struct *mm);
bool kaio_shim_is_current_mm(const struct mm_struct *mm);
struct task_struct *kaio_shim_get_current_task(void);
void kaio_shim_put_task(struct task_struct *task);
bool kaio_shim_real_signal_pending(void);
bool kaio_shim_signal_pending(void);
int kaio_shim_sigmask_set(u64 umask, sigset_t *old);
void kaio_shim_sigmask_restore(sigset_t *old);
bool kaio_shim_fatal_signal_pending(void);
void kaio_shim_cond_resched(void);
bool kaio_shim_access_ok(u64 addr, u64 len);
struct vhost_task *kaio_shim_worker_create(void *lane, unsigned int idx);
void kaio_shim_worker_stop(struct vhost_task *vt);
bool kaio_shim_task_held(struct task_struct *task);
int kaio_shim_worker_private_fs(void);
bool kaio_shim_worker_task_work(void);
bool kaio_shim_current_is_worker(void);
void kaio_shim_interrupt(struct task_struct *task);
void kaio_shim_get_root(struct path *root);
void kaio_shim_get_pwd(struct path *pwd);
int kaio_shim_dirfd_path(int dfd, struct path *dir);
struct file *kaio_shim_open(const struct path *root, const struct path *dir,
			    const char *name, int flags, umode_t mode, int umask,
			    bool in_root);
struct file *kaio_shim_open_cached(const struct path *root, const char *name,
				   int flags, umode_t mode);
bool kaio_shim_statx_nowait(struct file *file, unsigned int flags);
int kaio_shim_statx(struct file *file, unsigned int mask, unsigned int flags,
		    void __user *buf);
void kaio_shim_sock_push(struct file *file);
struct kaio_waitq *kaio_shim_waitq_alloc(void);
void kaio_shim_waitq_free(struct kaio_waitq *wq);
struct wait_page_queue *kaio_shim_waitq_arm(struct kaio_waitq *wq, void *data);
__poll_t kaio_shim_vfs_poll(struct file *file, __poll_t key, void *data);
int kaio_shim_task_work_add(struct task_struct *task, void *data);
u64 kaio_shim_jiffies(void);
bool kaio_shim_wq_has_sleeper(struct wait_queue_head *wq);
void kaio_shim_init_waitqueue_head(struct wait_queue_head *wq);

/* C: one-line wrappers of inline kernel functions (src/kapi.rs). */
struct folio;
void kaio_shim_init_sync_kiocb(struct kiocb *kiocb, struct file *file);
loff_t kaio_shim_i_size_read(const struct inode *inode);
void kaio_shim_fsnotify_access(struct file *file);
bool kaio_shim_folio_test_uptodate(const struct folio *folio);
loff_t kaio_shim_folio_pos(struct folio *folio);
size_t kaio_shim_folio_size(const struct folio *folio);
struct page *kaio_shim_folio_page(struct folio *folio, unsigned long n);
bool kaio_shim_in_interrupt(void);
void kaio_shim_file_start_write(struct file *file);
void kaio_shim_file_end_write(struct file *file);
void kaio_shim_fsnotify_modify(struct file *file);
void kaio_shim_list_del_init(struct list_head *entry);
void kaio_shim_rcu_read_lock(void);
void kaio_shim_rcu_read_unlock(void);
unsigned long kaio_shim_spin_lock_irqsave(spinlock_t *lock);
void kaio_shim_spin_unlock_irqrestore(spinlock_t *lock, unsigned long flags);
u32 kaio_shim_current_uid(void);
void kaio_shim_warn_once(void);

#endif /* KAIO_SHIM_H */
