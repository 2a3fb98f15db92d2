/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * kaio: asynchronous compound I/O through /dev/kaio.
 *
 * Each open of /dev/kaio is one context. Requests are submitted and
 * completions reaped with the ioctls below. The Rust side of the module
 * mirrors every structure here in src/uapi.rs; the build compares the two
 * layouts (sizes, field offsets, ioctl numbers) and fails if they differ.
 *
 * Rules for every structure: fields are naturally aligned, there is no
 * implicit padding, and every field named "reserved" or "__pad" must be
 * zero on input (else EINVAL) and is zero on output.
 */
#ifndef _UAPI_LINUX_KAIO_H
#define _UAPI_LINUX_KAIO_H

#include <linux/types.h>
#include <linux/ioctl.h>

/* Bumped on any incompatible change of this header. */
#define KAIO_ABI_VERSION	1

#define KAIO_DEVICE		"/dev/kaio"
#define KAIO_IOC_MAGIC		0xAA

/*
 * KAIO_IOC_VERSION: fills a struct kaio_version. Always succeeds on a valid
 * pointer; use it to check that the loaded module speaks this ABI.
 */
struct kaio_version {
	__u32	abi_version;	/* KAIO_ABI_VERSION of the module */
	__u32	reserved;	/* zero */
	__u64	features;	/* KAIO_FEAT_* the module supports */
};

/* No optional features yet; bits are added here as they appear. */
#define KAIO_FEAT_NONE		0ULL

#define KAIO_IOC_VERSION	_IOR(KAIO_IOC_MAGIC, 0x00, struct kaio_version)

#endif /* _UAPI_LINUX_KAIO_H */
