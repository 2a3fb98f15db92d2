// SPDX-License-Identifier: GPL-2.0

//! SENDFILE's I/O: page cache or private pages to a socket, pipe or file.
//!
//! The state machine is in `op_sendfile.rs`; this file moves the bytes.
//! Writes never block: a socket gets the pages themselves
//! (`MSG_SPLICE_PAGES`, it takes its own page references), a pipe a
//! non-waiting write, a regular file a write at its position under
//! `f_pos_lock`, as sendfile(2). The bvecs of a send live on the stack: a
//! parked request holds no per-window array.
//!
//! [`Sf`] is the private window of a direct (NOCACHE, `O_DIRECT`) or copied
//! read: its pages, the bvec array a direct read's bios use in place, and
//! the kiocb whose completion hands the request back.

use crate::{
    kapi::{self, FolioBatch},
    park,
    shim::FileRef,
};
use core::{
    cell::UnsafeCell,
    ffi::c_void,
    mem::MaybeUninit,
    pin::Pin,
    ptr::addr_of_mut,
    sync::atomic::{AtomicI64, AtomicIsize, AtomicPtr, AtomicUsize, Ordering},
};
use kernel::{bindings, ffi::c_long, page::Page, prelude::*, types::Opaque};

const PAGE_SHIFT: u32 = bindings::PAGE_SHIFT;
const PAGE_SIZE: usize = bindings::PAGE_SIZE;

/// Pages per send (bvecs on the stack).
const BATCH: usize = 32;

/// Where SENDFILE writes.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum OutKind {
    /// A socket: the pages are spliced, not copied.
    Socket,
    /// A pipe or FIFO.
    Pipe,
    /// A regular file, written at its position.
    File,
}

impl OutKind {
    /// A socket: written with `MSG_DONTWAIT | MSG_NOSIGNAL`, never waits
    /// and never raises SIGPIPE.
    pub(crate) fn is_socket(self) -> bool {
        self == OutKind::Socket
    }
}

fn errno(e: u32) -> isize {
    -(e as isize)
}

/// Writes the bytes of `bv` (`len` in all) to `out` without blocking:
/// bytes written, `-EAGAIN` when `out` is full.
fn write(bv: &[bindings::bio_vec], len: usize, out: &FileRef, kind: OutKind) -> isize {
    let f = out.as_ptr();
    let mut iter = bindings::iov_iter::default();
    // SAFETY: `bv` holds `bv.len()` bvecs of `len` bytes of referenced
    // pages, valid for the call (the iterator does not outlive it).
    unsafe {
        bindings::iov_iter_bvec(
            &mut iter,
            bindings::ITER_SOURCE,
            bv.as_ptr(),
            bv.len() as _,
            len,
        )
    };
    match kind {
        OutKind::Socket => {
            let mut msg = bindings::msghdr {
                msg_flags: bindings::MSG_SPLICE_PAGES
                    | bindings::MSG_DONTWAIT
                    | bindings::MSG_NOSIGNAL,
                msg_iter: iter,
                ..Default::default()
            };
            // SAFETY: `out` is a socket (`out_kind`): its `struct socket`
            // lives as long as the file; the iterator is valid as above.
            unsafe { bindings::sock_sendmsg(bindings::sock_from_file(f), &mut msg) as isize }
        }
        OutKind::Pipe => {
            let mut kiocb = MaybeUninit::<bindings::kiocb>::uninit();
            // SAFETY: The kiocb is initialised by `init_sync_kiocb` before
            // use, and `out` is open for writing.
            unsafe {
                kapi::init_sync_kiocb(kiocb.as_mut_ptr(), f);
                (*kiocb.as_mut_ptr()).ki_flags |= kapi::IOCB_NOWAIT;
                bindings::vfs_iocb_iter_write(f, kiocb.as_mut_ptr(), &mut iter)
            }
        }
        // SAFETY: A regular file is written at its position under
        // `f_pos_lock`, as sendfile(2) writes it; `f` is valid.
        OutKind::File => unsafe {
            bindings::mutex_lock(addr_of_mut!((*f).__bindgen_anon_1.f_pos_lock));
            let ret = bindings::vfs_iter_write(f, &mut iter, addr_of_mut!((*f).f_pos), 0);
            bindings::mutex_unlock(addr_of_mut!((*f).__bindgen_anon_1.f_pos_lock));
            ret
        },
    }
}

impl FileRef {
    /// What SENDFILE can do with this file as its output (`EBADF` if not
    /// open for writing, `EINVAL` if opened `O_APPEND` or neither socket,
    /// pipe nor regular file, as sendfile(2)).
    pub(crate) fn out_kind(&self) -> Result<OutKind> {
        let caps = self.caps();
        if !caps.writable() {
            return Err(EBADF);
        }
        if caps.append() {
            return Err(EINVAL);
        }
        // SAFETY: The file is valid.
        if !unsafe { bindings::sock_from_file(self.as_ptr()) }.is_null() {
            return Ok(OutKind::Socket);
        }
        // SAFETY: The file is valid.
        match unsafe { kapi::file_mode(self.as_ptr()) } & bindings::S_IFMT {
            bindings::S_IFIFO => Ok(OutKind::Pipe),
            bindings::S_IFREG => Ok(OutKind::File),
            _ => Err(EINVAL),
        }
    }

    /// Sends up to `len` bytes at `pos` from the page cache to `out` (no
    /// copy to sockets): the contiguous run of uptodate folios from `pos`.
    /// Bytes sent, 0 at EOF, `-ENODATA` if the folio at `pos` is not cached
    /// and uptodate (the caller reads it in), `-EAGAIN` if `out` is full.
    /// The read's permission hook and access notification run as for
    /// sendfile(2).
    pub(crate) fn send_cached(&self, pos: i64, len: usize, out: &FileRef, kind: OutKind) -> isize {
        let f = self.as_ptr();
        // SAFETY: The file is valid.
        let size = unsafe { kapi::file_size(f) };
        if pos >= size {
            return 0;
        }
        let len = len
            .min((size - pos) as u64 as usize)
            .min(BATCH << PAGE_SHIFT);
        // The permission hook and fanotify events of sendfile(2)'s read.
        // SAFETY: The file is valid; `pos` lives across the call.
        let ret = unsafe { bindings::rw_verify_area(bindings::READ as _, f, &pos, len) };
        if ret != 0 {
            return ret as isize;
        }
        let mut fbatch = FolioBatch::new();
        // SAFETY: The file is open, so its mapping is valid.
        unsafe {
            fbatch.get_contig(
                (*f).f_mapping,
                (pos >> PAGE_SHIFT) as u64,
                (pos as u64).wrapping_add(len as u64).wrapping_sub(1) >> PAGE_SHIFT,
            )
        };
        let mut bv = [bindings::bio_vec::default(); BATCH];
        let (mut nr, mut total, mut p) = (0, 0, pos);
        for i in 0..fbatch.len() {
            if total >= len {
                break;
            }
            let folio = fbatch.get(i);
            let (fpos, fsize) = (folio.pos(), folio.size());
            if !folio.uptodate() || fpos > p || fpos + fsize as i64 <= p {
                break;
            }
            let mut off = (p - fpos) as usize;
            while off < fsize && total < len && nr < BATCH {
                let in_page = off % PAGE_SIZE;
                let n = (PAGE_SIZE - in_page).min(len - total);
                bv[nr] = kapi::bvec(folio.page(off >> PAGE_SHIFT), n, in_page);
                nr += 1;
                total += n;
                off += n;
                p += n as i64;
            }
        }
        if total == 0 {
            return errno(bindings::ENODATA);
        }
        let ret = write(&bv[..nr], total, out, kind);
        // The folios stay referenced by `fbatch` until the write returned.
        drop(fbatch);
        if ret > 0 {
            // SAFETY: The file is valid.
            unsafe { kapi::fsnotify_access(f) };
        }
        ret
    }

    /// Starts readahead of `[pos, pos + len)`; does not wait.
    pub(crate) fn prefetch(&self, pos: i64, len: usize) {
        // SAFETY: The file is valid. Advice is best effort: errors are
        // ignored, as readahead's are.
        unsafe { bindings::vfs_fadvise(self.as_ptr(), pos, len as i64, kapi::POSIX_FADV_WILLNEED) };
    }
}

/// The state of a private window.
///
/// Fields the bio completion writes (`res`) are atomics; the pages, bvecs
/// and kiocb are used by the request's runner, and by a direct read while
/// it is in flight, never by both (the runner waits for the completion).
struct Window {
    max_pages: usize,
    /// Pages and bvecs: the runner's, or a direct read's while in flight.
    own: UnsafeCell<Pages>,
    /// The read's kiocb; its `ki_complete` recovers the window from it.
    dio: Opaque<bindings::kiocb>,
    /// The read's result; `-EINPROGRESS` while a direct read is in flight.
    res: AtomicIsize,
    /// What `park::kaio_rust_sf_wake` gets when the direct read completes.
    data: AtomicPtr<c_void>,
    /// File offset and valid length of the window.
    pos: AtomicI64,
    len: AtomicUsize,
}

/// The pages of a window.
struct Pages {
    /// The window's pages; a socket may still hold the last window's, so
    /// each window gets fresh ones.
    pages: KVec<Option<Page>>,
    /// The window's bvecs: a direct read's bios use this array in place
    /// (`bio_iov_bvec_set`), so it lives until the read completed, which
    /// the request's lent reference guarantees is before the next window
    /// or the end of the request.
    bv: KVec<bindings::bio_vec>,
}

impl Pages {
    /// Drops the pages (a socket keeps its own references).
    fn put(&mut self) {
        for p in self.pages.iter_mut() {
            *p = None;
        }
    }
}

/// A SENDFILE's private window: pages read by direct I/O (NOCACHE, or an
/// `O_DIRECT` input) or copied from a file whose data is not in the page
/// cache.
///
/// # Invariants
///
/// No read is in flight when it is dropped: a read in flight holds a lent
/// reference to the request that owns this value. The window is pinned: a
/// direct read in flight points at its kiocb and bvecs.
pub(crate) struct Sf(Pin<KBox<Window>>);

// SAFETY: Used by one runner at a time (the request's); the bio completion
// only writes the result, reads `data` and hands the request back.
unsafe impl Send for Sf {}
// SAFETY: As above.
unsafe impl Sync for Sf {}

/// `ki_complete` of a window's direct read: from the bio completion (hard
/// or soft interrupt); stores the result and hands the request back.
///
/// # Safety
///
/// `iocb` is the `dio` of a [`Window`] whose read was started with a lent
/// request reference in `data` (which keeps the window alive until here).
unsafe extern "C" fn dio_done(iocb: *mut bindings::kiocb, res: c_long) {
    // SAFETY: Per the safety contract `iocb` is the `dio` field of a live
    // `Window`; `Opaque<T>` has the layout of `T`.
    let w = unsafe { &*kernel::container_of!(iocb.cast::<Opaque<bindings::kiocb>>(), Window, dio) };
    w.res.store(res, Ordering::Release);
    // Read before the hand-back: the request may free the window after it.
    let data = w.data.load(Ordering::Relaxed);
    // SAFETY: `data` is the lent reference the read was started with; the
    // block layer completes a kiocb exactly once.
    unsafe { park::kaio_rust_sf_wake(data, kapi::in_interrupt()) };
}

impl Sf {
    /// A window of up to `pages` pages.
    pub(crate) fn new(pages: u32) -> Result<Self> {
        let max_pages = pages as usize;
        let mut pv = KVec::with_capacity(max_pages, GFP_KERNEL_ACCOUNT)?;
        let mut bv = KVec::with_capacity(max_pages, GFP_KERNEL_ACCOUNT)?;
        for _ in 0..max_pages {
            pv.push(None, GFP_KERNEL_ACCOUNT)?;
            bv.push(bindings::bio_vec::default(), GFP_KERNEL_ACCOUNT)?;
        }
        let w = Window {
            max_pages,
            own: UnsafeCell::new(Pages { pages: pv, bv }),
            dio: Opaque::uninit(),
            res: AtomicIsize::new(0),
            data: AtomicPtr::new(core::ptr::null_mut()),
            pos: AtomicI64::new(0),
            len: AtomicUsize::new(0),
        };
        Ok(Sf(KBox::pin(w, GFP_KERNEL_ACCOUNT)?))
    }

    /// Reads the window at page-aligned `pos` into fresh pages: by direct
    /// I/O if `direct` (the file must support it): the bytes if the read
    /// completed at once, `-EIOCBQUEUED` if `kaio_rust_sf_wake(data)` will
    /// report it (from the bio completion), or an error. Without, a
    /// buffered copy (tmpfs holes, sysfs, procfs): the bytes.
    /// [`Sf::result`] then gives the result and makes it the valid window.
    pub(crate) fn read(
        &self,
        inf: &FileRef,
        pos: i64,
        len: usize,
        direct: bool,
        data: *mut c_void,
    ) -> isize {
        let w = &*self.0;
        let f = inf.as_ptr();
        // The runner owns the pages: no read is in flight (the last one
        // completed before the runner ran again; `Sf`'s invariant).
        // SAFETY: Per the above, and this is the only reference to them.
        let own = unsafe { &mut *w.own.get() };
        own.put();
        w.len.store(0, Ordering::Relaxed);
        w.pos.store(pos, Ordering::Relaxed);
        // Past the end (offsets near LLONG_MAX included): nothing to read.
        // SAFETY: The file is valid.
        if pos >= unsafe { kapi::file_size(f) } {
            w.res.store(0, Ordering::Relaxed);
            return 0;
        }
        let nr = len.div_ceil(PAGE_SIZE).min(w.max_pages);
        for i in 0..nr {
            match Page::alloc_page(GFP_KERNEL_ACCOUNT) {
                Ok(p) => {
                    own.bv[i] = kapi::bvec(p.as_ptr(), PAGE_SIZE, 0);
                    own.pages[i] = Some(p);
                }
                Err(_) => {
                    own.put();
                    return errno(bindings::ENOMEM);
                }
            }
        }
        let mut iter = bindings::iov_iter::default();
        let dio = w.dio.get();
        w.data.store(data, Ordering::Relaxed);
        w.res.store(errno(bindings::EINPROGRESS), Ordering::Relaxed);
        // The bvecs, pages and kiocb stay put and alive until the read
        // completed (pinned, and the request's lent reference keeps them).
        // SAFETY: Per the above; `bv` holds `nr` bvecs of fresh pages, the
        // file is valid, and `dio_done` is given only to direct reads.
        let ret = unsafe {
            bindings::iov_iter_bvec(
                &mut iter,
                bindings::ITER_DEST,
                own.bv.as_ptr(),
                nr as _,
                nr << PAGE_SHIFT,
            );
            kapi::init_sync_kiocb(dio, f);
            (*dio).ki_pos = pos;
            if direct {
                (*dio).ki_flags |= bindings::IOCB_DIRECT as i32;
                (*dio).ki_complete = Some(dio_done);
            }
            bindings::vfs_iocb_iter_read(f, dio, &mut iter)
        };
        // Queued: the completion may have run already and the request be
        // running elsewhere; the window is not ours to touch any more.
        if ret != errno(bindings::EIOCBQUEUED) {
            w.res.store(ret, Ordering::Relaxed);
        }
        ret
    }

    /// The finished read's result; it becomes the valid window.
    pub(crate) fn result(&self) -> isize {
        let res = self.0.res.load(Ordering::Acquire);
        self.0.len.store(res.max(0) as usize, Ordering::Relaxed);
        res
    }

    /// File offset and length of the valid window.
    pub(crate) fn window(&self) -> (i64, usize) {
        (
            self.0.pos.load(Ordering::Relaxed),
            self.0.len.load(Ordering::Relaxed),
        )
    }

    /// Sends up to `len` bytes at `pos` from the window (which must hold
    /// `pos`): bytes sent, or `-EAGAIN` if `out` is full.
    pub(crate) fn send(&self, pos: i64, len: usize, out: &FileRef, kind: OutKind) -> isize {
        let (wpos, wlen) = self.window();
        let off = (pos - wpos) as usize;
        let len = len.min(wlen - off);
        // SAFETY: The runner owns the pages (no read in flight), and only
        // reads them here.
        let own = unsafe { &*self.0.own.get() };
        let mut bv = [bindings::bio_vec::default(); BATCH];
        let (mut nr, mut total) = (0, 0);
        while total < len && nr < BATCH {
            let at = off + total;
            let in_page = at % PAGE_SIZE;
            let n = (PAGE_SIZE - in_page).min(len - total);
            let Some(page) = own.pages.get(at >> PAGE_SHIFT).and_then(|p| p.as_ref()) else {
                break;
            };
            bv[nr] = kapi::bvec(page.as_ptr(), n, in_page);
            nr += 1;
            total += n;
        }
        if total == 0 {
            return 0;
        }
        write(&bv[..nr], total, out, kind)
    }
}
