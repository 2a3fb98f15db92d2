// SPDX-License-Identifier: GPL-2.0

//! Kernel functions and constants 6.12's `bindings` crate does not reach.
//!
//! - Static inline functions and macros (bindgen cannot call them): the C
//!   shim wraps each in a one-line function (`shim.c`, "Inline kernel
//!   functions and macros").
//! - Exported functions whose header is not part of the `bindings` crate
//!   (`linux/pagemap.h`): declared here with their exact C prototype.
//! - Constants whose macros hold casts, which bindgen cannot evaluate:
//!   `kconst.c` has the C compiler produce them (`kconst.rs`).
//!
//! Everything else is called directly through [`kernel::bindings`].

use kernel::{
    bindings,
    ffi::{c_uint, c_ulong},
};

/// Numbers the C compiler gives to kernel macros (`kconst.c`).
#[allow(dead_code)]
mod c {
    include!("kconst.rs");
}

/// `IOCB_NOWAIT`.
pub(crate) const IOCB_NOWAIT: i32 = c::IOCB_NOWAIT as i32;
/// `FMODE_READ`.
pub(crate) const FMODE_READ: u32 = c::FMODE_READ as u32;
/// `FMODE_WRITE`.
pub(crate) const FMODE_WRITE: u32 = c::FMODE_WRITE as u32;
/// `FMODE_CAN_READ`.
pub(crate) const FMODE_CAN_READ: u32 = c::FMODE_CAN_READ as u32;
/// `FMODE_CAN_WRITE`.
pub(crate) const FMODE_CAN_WRITE: u32 = c::FMODE_CAN_WRITE as u32;
/// `FMODE_NOWAIT`.
pub(crate) const FMODE_NOWAIT: u32 = c::FMODE_NOWAIT as u32;
/// `FMODE_CAN_ODIRECT`.
pub(crate) const FMODE_CAN_ODIRECT: u32 = c::FMODE_CAN_ODIRECT as u32;
/// `FOP_BUFFER_RASYNC`.
pub(crate) const FOP_BUFFER_RASYNC: u32 = c::FOP_BUFFER_RASYNC as u32;
/// `POSIX_FADV_WILLNEED`.
pub(crate) const POSIX_FADV_WILLNEED: i32 = c::POSIX_FADV_WILLNEED as i32;
/// `EPOLLIN`.
pub(crate) const EPOLLIN: u32 = c::EPOLLIN as u32;
/// `EPOLLOUT`.
pub(crate) const EPOLLOUT: u32 = c::EPOLLOUT as u32;
/// `EPOLLERR`.
pub(crate) const EPOLLERR: u32 = c::EPOLLERR as u32;
/// `EPOLLHUP`.
pub(crate) const EPOLLHUP: u32 = c::EPOLLHUP as u32;
/// `POLLFREE`: the wait queue itself is going away.
pub(crate) const POLLFREE: u32 = c::POLLFREE as u32;

/// The shim's wrappers and the exported functions without bindings.
mod ffi {
    use kernel::{
        bindings,
        ffi::{c_ulong, c_void},
    };

    // Only pointers to these structures cross the boundary; bindgen lays
    // them out, and some hold fields bindgen leaves opaque.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn kaio_shim_init_sync_kiocb(
            kiocb: *mut bindings::kiocb,
            file: *mut bindings::file,
        );
        pub(super) fn kaio_shim_i_size_read(inode: *const bindings::inode) -> i64;
        pub(super) fn kaio_shim_fsnotify_access(file: *mut bindings::file);
        pub(super) fn kaio_shim_folio_test_uptodate(folio: *const bindings::folio) -> bool;
        pub(super) fn kaio_shim_folio_pos(folio: *mut bindings::folio) -> i64;
        pub(super) fn kaio_shim_folio_size(folio: *const bindings::folio) -> usize;
        pub(super) fn kaio_shim_folio_page(
            folio: *mut bindings::folio,
            n: c_ulong,
        ) -> *mut bindings::page;
        pub(super) fn kaio_shim_in_interrupt() -> bool;
        pub(super) fn kaio_shim_file_start_write(file: *mut bindings::file);
        pub(super) fn kaio_shim_file_end_write(file: *mut bindings::file);
        pub(super) fn kaio_shim_fsnotify_modify(file: *mut bindings::file);
        pub(super) fn kaio_shim_waitq_arm(
            wq: *mut c_void,
            data: *mut c_void,
        ) -> *mut bindings::wait_page_queue;
        // mm/filemap.c, EXPORT_SYMBOL; declared in linux/pagemap.h as
        // unsigned filemap_get_folios_contig(struct address_space *mapping,
        //                 pgoff_t *start, pgoff_t end, struct folio_batch *fbatch);
        pub(super) fn filemap_get_folios_contig(
            mapping: *mut bindings::address_space,
            start: *mut c_ulong,
            end: c_ulong,
            fbatch: *mut bindings::folio_batch,
        ) -> kernel::ffi::c_uint;
    }
}

/// `init_sync_kiocb(kiocb, file)`.
///
/// # Safety
///
/// `kiocb` is valid for writes; `file` is a valid file.
pub(crate) unsafe fn init_sync_kiocb(kiocb: *mut bindings::kiocb, file: *mut bindings::file) {
    // SAFETY: Per the safety contract.
    unsafe { ffi::kaio_shim_init_sync_kiocb(kiocb, file) }
}

/// `i_size_read(file_inode(file))`: the size of an open file.
///
/// # Safety
///
/// `file` is a valid file.
pub(crate) unsafe fn file_size(file: *mut bindings::file) -> i64 {
    // SAFETY: Per the safety contract the file, and so its inode, is valid.
    unsafe { ffi::kaio_shim_i_size_read((*file).f_inode) }
}

/// `file_inode(file)->i_mode`.
///
/// # Safety
///
/// `file` is a valid file.
pub(crate) unsafe fn file_mode(file: *mut bindings::file) -> u32 {
    // SAFETY: Per the safety contract; an open file's inode never changes.
    u32::from(unsafe { (*(*file).f_inode).i_mode })
}

/// `fsnotify_access(file)`.
///
/// # Safety
///
/// `file` is a valid file.
pub(crate) unsafe fn fsnotify_access(file: *mut bindings::file) {
    // SAFETY: Per the safety contract.
    unsafe { ffi::kaio_shim_fsnotify_access(file) }
}

/// `file_start_write(file)`: freeze protection of a regular file's write.
///
/// # Safety
///
/// `file` is a valid file; [`file_end_write`] follows.
pub(crate) unsafe fn file_start_write(file: *mut bindings::file) {
    // SAFETY: Per the safety contract.
    unsafe { ffi::kaio_shim_file_start_write(file) }
}

/// `file_end_write(file)`.
///
/// # Safety
///
/// `file` is a valid file, after [`file_start_write`].
pub(crate) unsafe fn file_end_write(file: *mut bindings::file) {
    // SAFETY: Per the safety contract.
    unsafe { ffi::kaio_shim_file_end_write(file) }
}

/// `fsnotify_modify(file)`.
///
/// # Safety
///
/// `file` is a valid file.
pub(crate) unsafe fn fsnotify_modify(file: *mut bindings::file) {
    // SAFETY: Per the safety contract.
    unsafe { ffi::kaio_shim_fsnotify_modify(file) }
}

/// Arms the shim's folio wait entry `wq` (a `struct kaio_waitq`) to call
/// `kaio_rust_read_wake(data)` once; returns its `wait_page_queue` for a
/// kiocb's `ki_waitq`.
///
/// # Safety
///
/// `wq` is a `struct kaio_waitq` that is not armed and lives until its wake
/// callback ran.
pub(crate) unsafe fn waitq_arm(
    wq: *mut core::ffi::c_void,
    data: *mut core::ffi::c_void,
) -> *mut bindings::wait_page_queue {
    // SAFETY: Per the safety contract.
    unsafe { ffi::kaio_shim_waitq_arm(wq, data) }
}

/// `in_interrupt()`: hard or soft interrupt, or bottom halves disabled.
pub(crate) fn in_interrupt() -> bool {
    // SAFETY: Reads the preempt count of the current CPU.
    unsafe { ffi::kaio_shim_in_interrupt() }
}

/// A folio the caller holds a reference to (in a `folio_batch`).
#[derive(Clone, Copy)]
pub(crate) struct FolioRef(*mut bindings::folio);

impl FolioRef {
    /// `folio_test_uptodate()`.
    pub(crate) fn uptodate(self) -> bool {
        // SAFETY: By construction (`FolioBatch::get`) the folio is referenced.
        unsafe { ffi::kaio_shim_folio_test_uptodate(self.0) }
    }

    /// `folio_pos()`: the file offset of its first byte.
    pub(crate) fn pos(self) -> i64 {
        // SAFETY: As in `uptodate`.
        unsafe { ffi::kaio_shim_folio_pos(self.0) }
    }

    /// `folio_size()`, in bytes.
    pub(crate) fn size(self) -> usize {
        // SAFETY: As in `uptodate`.
        unsafe { ffi::kaio_shim_folio_size(self.0) }
    }

    /// `folio_page(folio, n)`; `n` is below `size() / PAGE_SIZE`.
    pub(crate) fn page(self, n: usize) -> *mut bindings::page {
        // SAFETY: As in `uptodate`; the caller keeps `n` within the folio.
        unsafe { ffi::kaio_shim_folio_page(self.0, n as c_ulong) }
    }
}

/// A `struct folio_batch`: up to 31 referenced folios, released on drop
/// (`folio_batch_release`).
pub(crate) struct FolioBatch(bindings::folio_batch);

impl FolioBatch {
    /// An empty batch (`folio_batch_init`: all fields zero).
    pub(crate) fn new() -> Self {
        FolioBatch(bindings::folio_batch::default())
    }

    /// `filemap_get_folios_contig()`: references the contiguous run of
    /// cached folios of `mapping` from page index `start` to `end`
    /// (inclusive), as far as the batch holds them.
    ///
    /// # Safety
    ///
    /// `mapping` is the valid page cache of a file the caller holds open.
    pub(crate) unsafe fn get_contig(
        &mut self,
        mapping: *mut bindings::address_space,
        start: u64,
        end: u64,
    ) {
        let mut start = start as c_ulong;
        // SAFETY: Per the safety contract; `start` and the batch are valid
        // for writes.
        unsafe { ffi::filemap_get_folios_contig(mapping, &mut start, end as c_ulong, &mut self.0) };
    }

    /// The folios in the batch.
    pub(crate) fn len(&self) -> usize {
        usize::from(self.0.nr)
    }

    /// The folio at `i` (below `len()`), referenced as long as the batch.
    pub(crate) fn get(&self, i: usize) -> FolioRef {
        FolioRef(self.0.folios[i])
    }
}

impl Drop for FolioBatch {
    fn drop(&mut self) {
        if self.0.nr != 0 {
            // SAFETY: The batch holds references taken by
            // `filemap_get_folios_contig`; this drops them.
            unsafe { bindings::__folio_batch_release(&mut self.0) };
        }
    }
}

/// A `bio_vec` of `len` bytes at `off` in `page` (`bvec_set_page`).
pub(crate) fn bvec(page: *mut bindings::page, len: usize, off: usize) -> bindings::bio_vec {
    bindings::bio_vec {
        bv_page: page,
        bv_len: len as c_uint,
        bv_offset: off as c_uint,
    }
}
