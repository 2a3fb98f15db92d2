// SPDX-License-Identifier: GPL-2.0

//! File operations of `/dev/kaio`, called from the C shim.
//!
//! `file->private_data` holds an `Arc<Context>` from open until release.

use crate::{context::Context, ioctl};
use kernel::{
    bindings,
    error::from_result,
    ffi::{c_int, c_long, c_uint, c_ulong},
    sync::Arc,
    types::ForeignOwnable,
};

/// `open` of `/dev/kaio`: creates the file's context.
///
/// # Safety
///
/// Called by the VFS through the shim with a valid `file` being opened.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_open(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    from_result(|| {
        let ctx = Context::new()?;
        // SAFETY: `file` is valid and not yet shared, per the safety contract.
        unsafe { (*file).private_data = ctx.into_foreign() as *mut _ };
        Ok(0)
    })
}

/// `release` of `/dev/kaio`: drops the file's context.
///
/// # Safety
///
/// Called by the VFS once, after a successful [`kaio_rust_open`] of `file`.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_release(
    _inode: *mut bindings::inode,
    file: *mut bindings::file,
) -> c_int {
    // SAFETY: open stored an `Arc<Context>` in `private_data`; release runs
    // once, after every other file operation has returned.
    let ctx = unsafe { Arc::<Context>::from_foreign((*file).private_data) };
    ctx.release();
    0
}

/// `mmap` of `/dev/kaio`: maps the completion ring.
///
/// # Safety
///
/// Called by the VFS with a `file` opened by [`kaio_rust_open`] and the
/// `vma` being set up.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_mmap(
    file: *mut bindings::file,
    vma: *mut bindings::vm_area_struct,
) -> c_int {
    // SAFETY: As in `kaio_rust_ioctl`.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    // SAFETY: `vma` is the area being set up, per the safety contract.
    from_result(|| unsafe { ctx.mmap(vma) }.map(|()| 0))
}

/// The wait queue poll/epoll sleeps on.
///
/// # Safety
///
/// `file` was opened by [`kaio_rust_open`] and is not yet released.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_poll_queue(
    file: *mut bindings::file,
) -> *mut bindings::wait_queue_head {
    // SAFETY: As in `kaio_rust_ioctl`.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    ctx.poll_queue()
}

/// Whether completions wait to be consumed.
///
/// # Safety
///
/// `file` was opened by [`kaio_rust_open`] and is not yet released.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_poll_ready(file: *mut bindings::file) -> bool {
    // SAFETY: As in `kaio_rust_ioctl`.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    ctx.poll_ready()
}

/// `unlocked_ioctl` of `/dev/kaio`.
///
/// # Safety
///
/// Called by the VFS with a `file` opened by [`kaio_rust_open`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_ioctl(
    file: *mut bindings::file,
    cmd: c_uint,
    arg: c_ulong,
) -> c_long {
    // SAFETY: `private_data` holds the `Arc<Context>` from open, which lives
    // until release, and release cannot run while this call is in progress.
    let ctx = unsafe { Arc::<Context>::borrow((*file).private_data) };
    let ctx: Arc<Context> = ctx.into();
    from_result(|| ioctl::dispatch(&ctx, cmd, arg).map(|r| r as c_long))
}
