// SPDX-License-Identifier: GPL-2.0

//! Memory that userspace maps: the completion ring.
//!
//! Zeroed pages charged to the submitter's memory cgroup, mapped into the
//! kernel with `vmap` and into the owner by the `mmap` file operation
//! (`vm_insert_pages`, in the shim's mmap glue, which checks the area).

use core::ptr::NonNull;
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_int, c_uint, c_ulong, c_void},
    page::Page,
    prelude::*,
};

mod ffi {
    use kernel::{
        bindings,
        ffi::{c_int, c_uint, c_ulong, c_void},
    };

    // Only pointers to these structures cross the boundary; bindgen lays
    // them out, and some hold fields bindgen leaves opaque.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn kaio_shim_vmap(pages: *mut *mut bindings::page, nr: c_uint) -> *mut c_void;
        pub(super) fn kaio_shim_mmap_ring(
            vma: *mut bindings::vm_area_struct,
            pages: *mut *mut bindings::page,
            nr: c_ulong,
        ) -> c_int;
        // mm/vmalloc.c, EXPORT_SYMBOL; linux/vmalloc.h (not in 6.12's
        // bindings): void vunmap(const void *addr);
        pub(super) fn vunmap(addr: *const c_void);
    }
}

/// Zeroed kernel memory that userspace can map: the completion ring.
///
/// # Invariants
///
/// `pages` are owned zeroed pages; `ptrs` lists them, in order; `addr` is
/// their `vmap` mapping.
pub(crate) struct UserMem {
    pages: KVVec<Page>,
    /// The pages as the kernel's `struct page **` APIs take them.
    ptrs: KVVec<*mut bindings::page>,
    addr: NonNull<u8>,
}

// SAFETY: The allocation is plain memory, usable from any thread.
unsafe impl Send for UserMem {}
// SAFETY: Shared access only hands out raw pointers.
unsafe impl Sync for UserMem {}

impl UserMem {
    /// Allocates `size` zeroed bytes (a multiple of the page size),
    /// charged to the current task's memory cgroup.
    pub(crate) fn new(size: usize) -> Result<Self> {
        let nr = size.div_ceil(bindings::PAGE_SIZE);
        let mut pages = KVVec::with_capacity(nr, GFP_KERNEL_ACCOUNT)?;
        let mut ptrs = KVVec::with_capacity(nr, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..nr {
            let p = Page::alloc_page(GFP_KERNEL_ACCOUNT | __GFP_ZERO)?;
            ptrs.push(p.as_ptr(), GFP_KERNEL_ACCOUNT)?;
            pages.push(p, GFP_KERNEL_ACCOUNT)?;
        }
        let n = c_uint::try_from(nr).map_err(|_| ENOMEM)?;
        // SAFETY: `ptrs` holds `n` pages, which we own.
        let addr = unsafe { ffi::kaio_shim_vmap(ptrs.as_mut_ptr(), n) };
        // INVARIANT: the pages, listed in `ptrs`, mapped at `addr`.
        Ok(UserMem {
            pages,
            ptrs,
            addr: NonNull::new(addr.cast()).ok_or(ENOMEM)?,
        })
    }

    /// Start of the memory.
    pub(crate) fn as_ptr(&self) -> *mut u8 {
        self.addr.as_ptr()
    }

    /// Maps the memory into `vma` (an mmap of the device at offset 0).
    ///
    /// # Safety
    ///
    /// `vma` must be the area being set up by the `mmap` file operation.
    pub(crate) unsafe fn map(&self, vma: *mut bindings::vm_area_struct) -> Result {
        let nr = self.pages.len() as c_ulong;
        // The pages are ours (type invariant) and outlive the mapping,
        // which holds the file. `vm_insert_pages` only reads the array.
        // SAFETY: `vma` is valid per the safety contract; pages as above.
        let ret: c_int =
            unsafe { ffi::kaio_shim_mmap_ring(vma, self.ptrs.as_ptr().cast_mut(), nr) };
        to_result(ret)
    }
}

impl Drop for UserMem {
    fn drop(&mut self) {
        // Mappings keep the file, and so the context and this memory,
        // alive; the pages are freed after this, with `pages`.
        // SAFETY: `addr` is the `vmap` of our pages (type invariant).
        unsafe { ffi::vunmap(self.addr.as_ptr().cast::<c_void>()) };
    }
}
