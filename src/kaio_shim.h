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

/* Rust: counter @idx of the stats (src/stats.rs); false past the last one. */
bool kaio_rust_stat(unsigned int idx, const char **name, u64 *val);

/* C: register and remove /dev/kaio. */
int kaio_shim_register(void);
void kaio_shim_deregister(void);

#endif /* KAIO_SHIM_H */
