// SPDX-License-Identifier: GPL-2.0

//! Reads and writes of user memory, and what a file allows.
//!
//! READ and WRITE (and READV, WRITEV, whose iovecs [`UserBuf`] holds) go
//! through the file's `read_iter`/`write_iter` as
//! pread(2) and pwrite(2) do (`vfs_iocb_iter_read`, `vfs_iter_write`: the
//! permission hook, fsnotify, RLIMIT_FSIZE and freeze protection), or its
//! plain `read`/`write` (much of /proc) as `vfs_read`/`vfs_write` do. A
//! read that must not wait for the disk arms a folio wait entry
//! ([`WaitQ`], the shim's `struct kaio_waitq`) and returns `-EIOCBQUEUED`.

use crate::{
    kapi,
    shim::{FileCaps, FileRef, IoMode, WaitQ},
};
use core::{ffi::c_void, mem::MaybeUninit};
use kernel::{bindings, prelude::*, uaccess::UserSlice};

/// What a file allows, as [`FileCaps`] bits.
mod cap {
    pub(super) const READ: u32 = 1 << 0;
    pub(super) const WRITE: u32 = 1 << 1;
    pub(super) const DIR: u32 = 1 << 2;
    pub(super) const REG: u32 = 1 << 3;
    pub(super) const ASYNC_READ: u32 = 1 << 4;
    pub(super) const CAN_DIRECT: u32 = 1 << 5;
    pub(super) const O_DIRECT: u32 = 1 << 6;
    pub(super) const APPEND: u32 = 1 << 7;
    pub(super) const STREAM: u32 = 1 << 8;
    pub(super) const NOWAIT: u32 = 1 << 9;
    pub(super) const READ_ITER: u32 = 1 << 10;
    pub(super) const WRITE_ITER: u32 = 1 << 11;
}

/// One `struct iovec` of the submitter, copied at SUBMIT: the same layout
/// as the kernel's (checked below), without its raw pointer, so a request
/// holding them can move between threads.
#[repr(C)]
#[derive(Clone, Copy)]
pub(crate) struct Iov {
    base: u64,
    len: u64,
}

const _: () = assert!(core::mem::size_of::<Iov>() == core::mem::size_of::<bindings::iovec>());
const _: () = assert!(core::mem::offset_of!(bindings::iovec, iov_len) == 8);

/// `UIO_MAXIOV`: most entries in one READV or WRITEV, as readv(2).
pub(crate) const MAX_IOV: u64 = 1024;

/// The submitter's memory a READ or WRITE moves bytes to or from.
pub(crate) enum UserBuf {
    /// One buffer (READ, WRITE).
    Flat(u64),
    /// An iovec array (READV, WRITEV), each entry checked with `access_ok`.
    Vec(KVec<Iov>),
}

impl UserBuf {
    /// Copies the `nr` iovecs at user address `addr` (as readv(2):
    /// `EINVAL` for more than [`MAX_IOV`] entries or a total that does not
    /// fit `ssize_t`, `EFAULT` for an unreadable array or a buffer outside
    /// user space). Returns them and their total length.
    pub(crate) fn from_iovecs(addr: u64, nr: u64) -> Result<(Self, u64)> {
        if nr > MAX_IOV {
            return Err(EINVAL);
        }
        let bytes = nr as usize * core::mem::size_of::<Iov>();
        let mut raw = KVec::<u8>::with_capacity(bytes, GFP_KERNEL_ACCOUNT)?;
        UserSlice::new(addr as usize, bytes)
            .reader()
            .read_all(&mut raw, GFP_KERNEL_ACCOUNT)?;
        let mut iov = KVec::with_capacity(nr as usize, GFP_KERNEL_ACCOUNT)?;
        let mut total: u64 = 0;
        for e in raw.chunks_exact(16) {
            let word = |i: usize| {
                let mut b = [0u8; 8];
                b.copy_from_slice(&e[i..i + 8]);
                u64::from_ne_bytes(b)
            };
            let (base, len) = (word(0), word(8));
            total = total
                .checked_add(len)
                .filter(|t| *t <= isize::MAX as u64)
                .ok_or(EINVAL)?;
            if len > 0 && !crate::shim::access_ok(base, len) {
                return Err(EFAULT);
            }
            iov.push(Iov { base, len }, GFP_KERNEL_ACCOUNT)?;
        }
        Ok((UserBuf::Vec(iov), total))
    }

    /// Bytes held beyond the request (for the memory charge).
    pub(crate) fn bytes(&self) -> usize {
        match self {
            UserBuf::Flat(_) => 0,
            UserBuf::Vec(v) => v.len() * core::mem::size_of::<Iov>(),
        }
    }

    /// Sets `iter` up for `len` bytes from byte `at` of the memory, in
    /// direction `dir` (`ITER_DEST`: a read into it).
    fn iter(&self, dir: u32, at: u64, len: usize, iter: &mut bindings::iov_iter) -> isize {
        match self {
            UserBuf::Flat(buf) => {
                // SAFETY: `import_ubuf` checks the user range (`access_ok`).
                unsafe {
                    bindings::import_ubuf(dir as _, (buf + at) as usize as *mut _, len, iter)
                        as isize
                }
            }
            UserBuf::Vec(v) => {
                // A count of `at + len` then an advance by `at` leaves
                // exactly `len` bytes of the vector in `iter`.
                // SAFETY: `v` is `nr` iovecs in the kernel's layout, each
                // checked with `access_ok`, and outlives `iter`.
                unsafe {
                    bindings::iov_iter_init(
                        iter,
                        dir,
                        v.as_ptr().cast(),
                        v.len(),
                        at as usize + len,
                    );
                    bindings::iov_iter_advance(iter, at as usize);
                }
                0
            }
        }
    }

    /// The contiguous piece of at most `len` bytes at byte `at` (for files
    /// with plain `read`/`write`, which take one buffer at a time, as
    /// readv(2) loops over them).
    fn piece(&self, mut at: u64, len: usize) -> (u64, usize) {
        match self {
            UserBuf::Flat(buf) => (buf + at, len),
            UserBuf::Vec(v) => {
                for e in v.iter() {
                    if at < e.len {
                        return (e.base + at, len.min((e.len - at) as usize));
                    }
                    at -= e.len;
                }
                (0, 0)
            }
        }
    }
}

/// The file's operations.
///
/// # Safety
///
/// `f` is a valid file.
unsafe fn fops(f: *mut bindings::file) -> &'static bindings::file_operations {
    // SAFETY: Per the safety contract; an open file's operations are
    // static (they belong to its driver, pinned by the open file).
    unsafe { &*(*f).f_op }
}

/// Reads through the file's plain `read` (no `read_iter`), as `vfs_read`.
///
/// # Safety
///
/// `f` is a valid file.
unsafe fn read_plain(f: *mut bindings::file, mut pos: i64, buf: u64, len: usize) -> isize {
    // SAFETY: Per the safety contract.
    let (mode, read) = unsafe { ((*f).f_mode, fops(f).read) };
    let Some(read) = read.filter(|_| mode & kapi::FMODE_CAN_READ != 0) else {
        return -(bindings::EINVAL as isize);
    };
    // SAFETY: The file is valid; `pos` lives across the calls; the user
    // pointer is checked by the driver's copy_to_user.
    unsafe {
        let ret = bindings::rw_verify_area(bindings::READ as _, f, &pos, len);
        if ret != 0 {
            return ret as isize;
        }
        let ret = read(f, buf as usize as *mut _, len, &mut pos);
        if ret > 0 {
            kapi::fsnotify_access(f);
        }
        ret
    }
}

/// Reads into `iter` at `pos`. [`IoMode::WaitQ`] never waits for the disk
/// (data in the page cache is copied, missing data read ahead; if a folio
/// is being read, `wq` is armed with its `data` and `-EIOCBQUEUED`
/// returned, or the bytes so far: `kaio_rust_read_wake(data)` runs exactly
/// once when the folio is ready; `-EAGAIN` if no folio could be set up).
/// [`IoMode::NoWait`] fails with `-EAGAIN` instead of blocking (streams).
/// [`IoMode::Block`] may sleep. `vfs_iocb_iter_read` runs the permission
/// hook and fsnotify.
///
/// # Safety
///
/// `f` is a valid file; `iter` is set up; an armed `wq` lives until its
/// wake callback ran (see [`WaitQ`]).
unsafe fn read_iter(
    f: *mut bindings::file,
    pos: i64,
    iter: &mut bindings::iov_iter,
    mode: IoMode,
    wq: Option<(&WaitQ, *mut c_void)>,
) -> isize {
    let mut kiocb = MaybeUninit::<bindings::kiocb>::uninit();
    let k = kiocb.as_mut_ptr();
    // SAFETY: Per the safety contract; the kiocb is initialised by
    // `init_sync_kiocb` before use.
    unsafe {
        kapi::init_sync_kiocb(k, f);
        (*k).ki_pos = pos;
        match (mode, wq) {
            (IoMode::WaitQ, Some((wq, data))) => {
                (*k).ki_flags |= bindings::IOCB_WAITQ as i32;
                (*k).__bindgen_anon_1.ki_waitq = kapi::waitq_arm(wq.as_ptr(), data);
            }
            (IoMode::NoWait, _) => (*k).ki_flags |= kapi::IOCB_NOWAIT,
            _ => {}
        }
        bindings::vfs_iocb_iter_read(f, k, iter)
    }
}

/// Writes through the file's plain `write` (no `write_iter`), as
/// `vfs_write`.
///
/// # Safety
///
/// `f` is a valid file.
unsafe fn write_plain(f: *mut bindings::file, mut pos: i64, buf: u64, len: usize) -> isize {
    // SAFETY: Per the safety contract.
    let (mode, write) = unsafe { ((*f).f_mode, fops(f).write) };
    let Some(write) = write.filter(|_| mode & kapi::FMODE_CAN_WRITE != 0) else {
        return -(bindings::EINVAL as isize);
    };
    // SAFETY: The file is valid; `pos` lives across the calls; the user
    // pointer is checked by the driver's copy_from_user.
    unsafe {
        let ret = bindings::rw_verify_area(bindings::WRITE as _, f, &pos, len);
        if ret != 0 {
            return ret as isize;
        }
        kapi::file_start_write(f);
        let ret = write(f, buf as usize as *const _, len, &mut pos);
        if ret > 0 {
            kapi::fsnotify_modify(f);
        }
        kapi::file_end_write(f);
        ret
    }
}

impl FileRef {
    /// What the file allows.
    pub(crate) fn caps(&self) -> FileCaps {
        let f = self.as_ptr();
        // SAFETY: The file is valid, and so are its inode and operations.
        let (fmode, flags, imode, ops) = unsafe {
            (
                (*f).f_mode,
                (*f).f_flags,
                kapi::file_mode(f) & bindings::S_IFMT,
                fops(f),
            )
        };
        let mut caps = 0;
        if fmode & kapi::FMODE_READ != 0 {
            caps |= cap::READ;
        }
        if fmode & kapi::FMODE_WRITE != 0 {
            caps |= cap::WRITE;
        }
        if imode == bindings::S_IFDIR {
            caps |= cap::DIR;
        }
        if imode == bindings::S_IFREG {
            caps |= cap::REG;
        }
        if fmode & kapi::FMODE_NOWAIT != 0
            && ops.read_iter.is_some()
            && ops.fop_flags & kapi::FOP_BUFFER_RASYNC != 0
            && flags & bindings::O_DIRECT == 0
        {
            caps |= cap::ASYNC_READ;
        }
        if fmode & kapi::FMODE_NOWAIT != 0 {
            caps |= cap::NOWAIT;
        }
        if ops.read_iter.is_some() {
            caps |= cap::READ_ITER;
        }
        if ops.write_iter.is_some() {
            caps |= cap::WRITE_ITER;
        }
        if fmode & kapi::FMODE_CAN_ODIRECT != 0 {
            caps |= cap::CAN_DIRECT;
        }
        if flags & bindings::O_DIRECT != 0 {
            caps |= cap::O_DIRECT;
        }
        if flags & bindings::O_APPEND != 0 {
            caps |= cap::APPEND;
        }
        // Pipes, FIFOs, sockets, ttys: transfers park on their wait queue.
        if imode != bindings::S_IFREG
            && imode != bindings::S_IFBLK
            && ops.poll.is_some()
            && fmode & kapi::FMODE_NOWAIT != 0
        {
            caps |= cap::STREAM;
        }
        FileCaps::from_bits(caps)
    }

    /// Reads up to `len` bytes at `pos` into `buf` from its byte `at`, in
    /// user memory of the current mm, as `mode` allows; with
    /// [`IoMode::WaitQ`], `wq` is armed with `data` (see [`WaitQ`]).
    pub(crate) fn read(
        &self,
        pos: i64,
        buf: &UserBuf,
        at: u64,
        len: usize,
        mode: IoMode,
        wq: Option<(&WaitQ, *mut c_void)>,
    ) -> isize {
        let f = self.as_ptr();
        // SAFETY: The file is valid.
        if unsafe { fops(f) }.read_iter.is_none() {
            let (addr, len) = buf.piece(at, len);
            // SAFETY: The file is valid.
            return unsafe { read_plain(f, pos, addr, len) };
        }
        let mut iter = bindings::iov_iter::default();
        let ret = buf.iter(bindings::ITER_DEST, at, len, &mut iter);
        if ret != 0 {
            return ret;
        }
        // SAFETY: The file is valid and `iter` set up; `wq` lives until its
        // wake callback ran (the caller's duty, see `WaitQ`).
        unsafe { read_iter(f, pos, &mut iter, mode, wq) }
    }

    /// Writes from user memory of the current mm: [`IoMode::NoWait`] fails
    /// with `-EAGAIN` instead of blocking (streams); else as pwrite(2),
    /// with its permission hook, fsnotify, RLIMIT_FSIZE and freeze
    /// protection.
    pub(crate) fn write(
        &self,
        mut pos: i64,
        buf: &UserBuf,
        at: u64,
        len: usize,
        mode: IoMode,
    ) -> isize {
        let f = self.as_ptr();
        // SAFETY: The file is valid.
        if unsafe { fops(f) }.write_iter.is_none() {
            let (addr, len) = buf.piece(at, len);
            // SAFETY: The file is valid.
            return unsafe { write_plain(f, pos, addr, len) };
        }
        let mut iter = bindings::iov_iter::default();
        let ret = buf.iter(bindings::ITER_SOURCE, at, len, &mut iter);
        if ret != 0 {
            return ret;
        }
        if mode != IoMode::NoWait {
            // SAFETY: The file is valid, `iter` set up, `pos` ours.
            return unsafe { bindings::vfs_iter_write(f, &mut iter, &mut pos, 0) };
        }
        let mut kiocb = MaybeUninit::<bindings::kiocb>::uninit();
        let k = kiocb.as_mut_ptr();
        // SAFETY: The file is valid, `iter` set up; the kiocb is
        // initialised by `init_sync_kiocb` before use.
        unsafe {
            kapi::init_sync_kiocb(k, f);
            (*k).ki_pos = pos;
            (*k).ki_flags |= kapi::IOCB_NOWAIT;
            bindings::vfs_iocb_iter_write(f, k, &mut iter)
        }
    }

    /// Brings `[pos, pos + len)` into the page cache without copying (a
    /// read into a discard iterator); as [`FileRef::read`] for waiting
    /// (`None`: may block).
    pub(crate) fn fill(&self, pos: i64, len: usize, wq: Option<(&WaitQ, *mut c_void)>) -> isize {
        let mut iter = bindings::iov_iter::default();
        // SAFETY: A discard iterator touches no memory.
        unsafe { bindings::iov_iter_discard(&mut iter, bindings::ITER_DEST, len) };
        let mode = if wq.is_some() {
            IoMode::WaitQ
        } else {
            IoMode::Block
        };
        // SAFETY: The file is valid and `iter` set up; `wq` as in `read`.
        unsafe { read_iter(self.as_ptr(), pos, &mut iter, mode, wq) }
    }
}
