/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Interface between kaio's C shim (shim.c) and its Rust code.
 *
 * The shim holds what Linux 6.12's Rust support cannot reach (the misc
 * device, and later poll, vmalloc_user and folio waits). Functions named
 * kaio_rust_* are implemented in Rust; kaio_shim_* are implemented in C and
 * declared again in src/shim.rs.
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

/* Rust: a parked read's folio is ready (interrupt context); src/request.rs. */
void kaio_rust_read_wake(void *data, bool in_irq);
/* Rust: a SENDFILE's direct read completed or its out fd became writable. */
void kaio_rust_sf_wake(void *data, bool in_irq);
/* Rust: a KEEP'd file is to be installed by the current (submitting) task. */
void kaio_rust_task_work(void *data, bool exiting);

/* Rust: counter @idx of the stats (src/stats.rs); false past the last one. */
bool kaio_rust_stat(unsigned int idx, const char **name, u64 *val);

/* C: register and remove /dev/kaio and kaio's workqueue. */
int kaio_shim_register(void);
void kaio_shim_deregister(void);
struct workqueue_struct *kaio_shim_workqueue(void);

/* C: module parameters, by index (enum Param in src/shim.rs). */
enum {
	KAIO_PARAM_MAX_RING_ENTRIES,
	KAIO_PARAM_MAX_INFLIGHT,
	KAIO_PARAM_MAX_MEMORY,
	KAIO_PARAM_SENDFILE_WINDOW,
};

u64 kaio_shim_param(unsigned int idx);

/* C: what a file allows (kaio_shim_file_caps), FileCaps in src/shim.rs. */
#define KAIO_CAP_READ		BIT(0)
#define KAIO_CAP_WRITE		BIT(1)
#define KAIO_CAP_DIR		BIT(2)
#define KAIO_CAP_REG		BIT(3)
#define KAIO_CAP_ASYNC_READ	BIT(4)

/* C: the rest of the shim, each documented in shim.c. */
struct kaio_waitq;
struct path;
struct cred;
struct mm_struct;
struct task_struct;
void *kaio_shim_vmalloc_user(unsigned long size);
void kaio_shim_vfree(void *addr);
int kaio_shim_mmap_ring(struct vm_area_struct *vma, void *addr);
const struct cred *kaio_shim_get_current_cred(void);
void kaio_shim_put_cred(const struct cred *cred);
struct mm_struct *kaio_shim_mmgrab_current(void);
void kaio_shim_mmdrop(struct mm_struct *mm);
bool kaio_shim_is_current_mm(const struct mm_struct *mm);
bool kaio_shim_use_mm(struct mm_struct *mm);
void kaio_shim_unuse_mm(struct mm_struct *mm);
struct task_struct *kaio_shim_get_current_task(void);
void kaio_shim_put_task(struct task_struct *task);
bool kaio_shim_real_signal_pending(void);
bool kaio_shim_access_ok(u64 addr, u64 len);
void kaio_shim_get_root(struct path *root);
void kaio_shim_get_pwd(struct path *pwd);
int kaio_shim_current_umask(void);
int kaio_shim_dirfd_path(int dfd, struct path *dir);
struct file *kaio_shim_open(const struct path *root, const struct path *dir,
			    const char *name, int flags, umode_t mode, int umask);
struct file *kaio_shim_fget(int fd);
unsigned int kaio_shim_file_caps(const struct file *file);
int kaio_shim_valid_open_flags(int flags);
struct kaio_waitq *kaio_shim_waitq_alloc(void);
void kaio_shim_waitq_free(struct kaio_waitq *wq);
ssize_t kaio_shim_read(struct file *file, loff_t pos, u64 buf, size_t len,
		       struct kaio_waitq *wq, void *data);
ssize_t kaio_shim_write(struct file *file, loff_t pos, u64 buf, size_t len);
int kaio_shim_task_work_add(struct task_struct *task, void *data);
int kaio_shim_install_fd(struct file *file, bool cloexec);
void kaio_shim_init_waitqueue_head(struct wait_queue_head *wq);
struct kaio_sf;
int kaio_shim_out_kind(struct file *out);
struct kaio_sf *kaio_shim_sf_alloc(unsigned int max_pages, bool nocache);
void *kaio_shim_sf_disarm(struct kaio_sf *sf);
void kaio_shim_sf_free(struct kaio_sf *sf);
ssize_t kaio_shim_sf_send_cached(struct kaio_sf *sf, struct file *in,
				 loff_t pos, size_t len, struct file *out,
				 int kind);
ssize_t kaio_shim_sf_fill(struct file *in, loff_t pos, size_t len,
			  struct kaio_waitq *wq, void *data);
void kaio_shim_sf_prefetch(struct file *in, loff_t pos, size_t len);
ssize_t kaio_shim_sf_dio(struct kaio_sf *sf, struct file *in, loff_t pos,
			 size_t len, void *data);
long kaio_shim_sf_dio_result(struct kaio_sf *sf);
ssize_t kaio_shim_sf_send_private(struct kaio_sf *sf, loff_t pos, size_t len,
				  struct file *out, int kind);
loff_t kaio_shim_sf_buf_pos(struct kaio_sf *sf);
size_t kaio_shim_sf_buf_len(struct kaio_sf *sf);
int kaio_shim_sf_arm_out(struct kaio_sf *sf, struct file *out, void *data);

#endif /* KAIO_SHIM_H */
