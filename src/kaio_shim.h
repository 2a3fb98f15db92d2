/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between kaio's C shim (shim.c) and its Rust code.
 *
 * The shim holds what Linux 6.12's Rust support cannot reach (the misc
 * device, poll tables, vhost_task workers, task_work, folio waits, bvec
 * iterators). Functions named kaio_rust_* are implemented in Rust;
 * kaio_shim_* are implemented in C and declared again in src/shim.rs.
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
/* Rust: a SENDFILE's direct read completed (bio end_io). */
void kaio_rust_sf_wake(void *data, bool in_irq);
/* Rust: a polled file a request parks on may be ready (any context). */
void kaio_rust_poll_wake(void *owner, bool in_irq);
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
void kaio_shim_module_get(void);
void kaio_shim_module_put(void);

/* C: module parameters, by index (enum Param in src/shim.rs). */
enum {
	KAIO_PARAM_MAX_RING_ENTRIES,
	KAIO_PARAM_MAX_INFLIGHT,
	KAIO_PARAM_MAX_MEMORY,
	KAIO_PARAM_SENDFILE_WINDOW,
	KAIO_PARAM_MAX_USER_INFLIGHT,
};

u64 kaio_shim_param(unsigned int idx);

/* C: what a file allows (kaio_shim_file_caps), FileCaps in src/shim.rs. */
#define KAIO_CAP_READ		BIT(0)
#define KAIO_CAP_WRITE		BIT(1)
#define KAIO_CAP_DIR		BIT(2)
#define KAIO_CAP_REG		BIT(3)
#define KAIO_CAP_ASYNC_READ	BIT(4)
#define KAIO_CAP_CAN_DIRECT	BIT(5)
#define KAIO_CAP_O_DIRECT	BIT(6)
#define KAIO_CAP_APPEND		BIT(7)
#define KAIO_CAP_STREAM		BIT(8)

/* C: how a read or write may wait (IoMode in src/shim.rs). */
enum { KAIO_IO_BLOCK, KAIO_IO_WAITQ, KAIO_IO_NOWAIT };

/* C: SENDFILE outputs (OutKind in src/shim.rs). */
enum { KAIO_OUT_SOCKET, KAIO_OUT_PIPE, KAIO_OUT_FILE };

/* Wait queues a parked request can be on (a pipe polls on two). */
#define KAIO_POLL_HEADS		3
/* Pages per sendmsg() of a SENDFILE (bvecs on the stack). */
#define KAIO_SF_BATCH		32

/* C: the rest of the shim, each documented in shim.c. */
struct kaio_waitq;
struct kaio_poll;
struct kaio_sf;
struct path;
struct cred;
struct mm_struct;
struct task_struct;
struct vhost_task;
struct kaio_umem;
struct kaio_umem *kaio_shim_umem_alloc(unsigned long size);
void *kaio_shim_umem_addr(struct kaio_umem *m);
void kaio_shim_umem_free(struct kaio_umem *m);
int kaio_shim_mmap_ring(struct vm_area_struct *vma, struct kaio_umem *m);
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
bool kaio_shim_fatal_signal_pending(void);
void kaio_shim_cond_resched(void);
bool kaio_shim_access_ok(u64 addr, u64 len);
int kaio_shim_user_charge(u32 *uid, u32 reqs, u64 bytes);
void kaio_shim_user_uncharge(u32 uid, u32 reqs, u64 bytes);
struct vhost_task *kaio_shim_worker_create(void *lane, unsigned int idx);
void kaio_shim_worker_stop(struct vhost_task *vt);
bool kaio_shim_task_held(struct task_struct *task);
void kaio_shim_nap(unsigned int ms);
int kaio_shim_worker_private_fs(void);
bool kaio_shim_worker_task_work(void);
bool kaio_shim_current_is_worker(void);
void kaio_shim_wake_task(struct task_struct *task);
void kaio_shim_interrupt(struct task_struct *task);
void kaio_shim_get_root(struct path *root);
void kaio_shim_get_pwd(struct path *pwd);
int kaio_shim_current_umask(void);
int kaio_shim_dirfd_path(int dfd, struct path *dir);
struct file *kaio_shim_open(const struct path *root, const struct path *dir,
			    const char *name, int flags, umode_t mode, int umask);
struct file *kaio_shim_open_cached(const char *name, int flags, umode_t mode);
struct file *kaio_shim_fget(int fd);
unsigned int kaio_shim_file_caps(struct file *file);
int kaio_shim_valid_open_flags(int flags);
struct kaio_waitq *kaio_shim_waitq_alloc(void);
void kaio_shim_waitq_free(struct kaio_waitq *wq);
ssize_t kaio_shim_read(struct file *file, loff_t pos, u64 buf, size_t len,
		       int how, struct kaio_waitq *wq, void *data);
ssize_t kaio_shim_write(struct file *file, loff_t pos, u64 buf, size_t len,
			int how);
struct kaio_poll *kaio_shim_poll_alloc(void *owner);
void kaio_shim_poll_unhook(struct kaio_poll *p);
void kaio_shim_poll_free(struct kaio_poll *p);
__poll_t kaio_shim_poll_arm(struct kaio_poll *p, struct file *file,
			    __poll_t events);
int kaio_shim_task_work_add(struct task_struct *task, void *data);
int kaio_shim_install_fd(struct file *file, bool cloexec);
bool kaio_shim_wq_has_sleeper(struct wait_queue_head *wq);
void kaio_shim_init_waitqueue_head(struct wait_queue_head *wq);
int kaio_shim_out_kind(struct file *out);
ssize_t kaio_shim_sf_send_cached(struct file *in, loff_t pos, size_t len,
				 struct file *out, int kind);
ssize_t kaio_shim_sf_fill(struct file *in, loff_t pos, size_t len,
			  struct kaio_waitq *wq, void *data);
void kaio_shim_sf_prefetch(struct file *in, loff_t pos, size_t len);
struct kaio_sf *kaio_shim_sf_alloc(unsigned int max_pages);
void kaio_shim_sf_free(struct kaio_sf *sf);
ssize_t kaio_shim_sf_window(struct kaio_sf *sf, struct file *in, loff_t pos,
			    size_t len, bool direct, void *data);
long kaio_shim_sf_dio_result(struct kaio_sf *sf);
ssize_t kaio_shim_sf_send_private(struct kaio_sf *sf, loff_t pos, size_t len,
				  struct file *out, int kind);
loff_t kaio_shim_sf_buf_pos(struct kaio_sf *sf);
size_t kaio_shim_sf_buf_len(struct kaio_sf *sf);

#endif /* KAIO_SHIM_H */
