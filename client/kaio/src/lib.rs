// SPDX-License-Identifier: GPL-2.0
//! Safe Rust client for `/dev/kaio`: compound asynchronous I/O.
//!
//! One request opens a file, sends it to a socket and closes it, all in the
//! kernel and asynchronously:
//!
//! ```no_run
//! use kaio::{Context, Request};
//! use std::{ffi::CString, net::TcpStream, os::fd::AsRawFd};
//!
//! let mut ctx = Context::new(256)?;
//! let sock = TcpStream::connect("127.0.0.1:9000")?;
//! let path = CString::new("/srv/www/index.html").unwrap();
//! let req = Request::new(1).open(&path, libc::O_RDONLY, 0).sendfile(sock.as_raw_fd(), 0, 0).close();
//! ctx.submit(req)?;
//! for c in ctx.wait(1, 1, None)? {
//!     println!("sent {} bytes", c.step_result(1).unwrap());
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! # Soundness by construction
//!
//! The kernel reads a request's iocb, its OPEN paths and its SEND bytes
//! during [`Context::submit`] (it copies them), and writes READ, RECV and
//! STATX buffers (and reads WRITE buffers) later, until the request's
//! completion. So:
//!
//! - Borrowed data (paths, SEND's bytes) is tied to the request's lifetime
//!   `'a`: a [`Request`] cannot outlive what it points to, so it cannot be
//!   submitted after its path was dropped.
//! - Buffers the kernel uses after submit are *owned*: they are moved into
//!   the request ([`IoBuf`], [`IoBufMut`], `Box<Statx>`), held by the
//!   [`Context`] while the request is in flight, and handed back in its
//!   [`Completion`]. Nothing else can touch them meanwhile.
//! - A [`Context`] dropped with requests in flight cancels them and leaks
//!   (never frees) the buffers the kernel may still write.
//!
//! ```
//! # use kaio::Request;
//! let buf = vec![0u8; 4096];
//! let req = Request::new(1).fd(0).read(buf, 0);
//! # drop(req);
//! ```
//!
//! A request whose path is dropped before submit does not compile:
//!
//! ```compile_fail,E0597
//! use kaio::{Context, Request};
//! use std::ffi::CString;
//! let mut ctx = Context::new(8)?;
//! let req = {
//!     let path = CString::new("/etc/hostname").unwrap();
//!     Request::new(1).open(&path, libc::O_RDONLY, 0).close()
//! };
//! ctx.submit(req)?;
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! Nor does touching a buffer while the kernel owns it (it was moved into
//! the request; the completion gives it back):
//!
//! ```compile_fail,E0382
//! use kaio::{Context, Request};
//! let mut ctx = Context::new(8)?;
//! let mut buf = Vec::<u8>::with_capacity(4096);
//! ctx.submit(Request::new(1).fd(0).read(buf, 0))?;
//! buf.push(1);
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! With the `tokio` feature, [`tokio::Context`] submits from async code:
//! `ctx.submit(req).await` gives the [`Completion`], buffers and all.
//!
//! The ABI structures in [`sys`] are checked at build time against
//! `include/uapi/linux/kaio.h`.

#![deny(missing_docs)]

use std::{
    any::Any,
    collections::HashMap,
    ffi::CStr,
    fmt,
    fs::{File, OpenOptions},
    io,
    marker::PhantomData,
    ops::Deref,
    os::fd::{AsRawFd, RawFd},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

pub mod sys;

#[cfg(feature = "tokio")]
pub mod tokio;

/// Where the module's device lives.
pub const DEVICE: &str = "/dev/kaio";

/// The ABI version this crate speaks.
pub const ABI_VERSION: u32 = sys::c::ABI_VERSION as u32;

fn ioctl<T>(fd: RawFd, req: u64, arg: *mut T) -> io::Result<i32> {
    // SAFETY: `arg` points to the structure `req` expects, valid for the call.
    let r = unsafe { libc::ioctl(fd, req as _, arg) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

/// Optional features of the module (`KAIO_FEAT_*`, in [`sys::Version::features`]).
pub mod feature {
    use super::sys::c;
    /// Per-iocb eventfd (`KAIO_IOCB_RESFD`).
    pub const RESFD: u64 = c::FEAT_RESFD;
    /// READV and WRITEV.
    pub const VECTOR: u64 = c::FEAT_VECTOR;
    /// `KAIO_RW_NOWAIT`.
    pub const NOWAIT: u64 = c::FEAT_NOWAIT;
    /// GETEVENTS's signal mask.
    pub const SIGMASK: u64 = c::FEAT_SIGMASK;
    /// SEND and RECV.
    pub const SOCKET: u64 = c::FEAT_SOCKET;
    /// STATX.
    pub const STATX: u64 = c::FEAT_STATX;
    /// OPEN with `KAIO_OPEN_IN_ROOT`.
    pub const IN_ROOT: u64 = c::FEAT_IN_ROOT;
}

/// As [`check_module`], and fails with a clear error unless the module has
/// every feature in `required` (see [`feature`]).
pub fn check_features(required: u64) -> io::Result<sys::Version> {
    let v = check_module()?;
    let missing = required & !v.features;
    if missing != 0 {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{DEVICE}: the module lacks features {missing:#x} (has {:#x})", v.features),
        ));
    }
    Ok(v)
}

/// Reads the ABI version of the loaded module; a clear error if the
/// device is missing or speaks another ABI.
pub fn check_module() -> io::Result<sys::Version> {
    let f = OpenOptions::new().read(true).write(true).open(DEVICE).map_err(|e| {
        io::Error::new(e.kind(), format!("{DEVICE}: {e} (is the kaio module loaded? try: insmod kaio.ko)"))
    })?;
    let mut v = sys::Version::default();
    ioctl(f.as_raw_fd(), sys::c::IOC_VERSION, &mut v)
        .map_err(|e| io::Error::new(e.kind(), format!("{DEVICE}: KAIO_IOC_VERSION: {e} (module too old?)")))?;
    if v.abi_version != ABI_VERSION {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("{DEVICE} speaks ABI {}, this client ABI {ABI_VERSION}: rebuild one of them", v.abi_version),
        ));
    }
    Ok(v)
}

/// A buffer the kernel reads after submit (WRITE): moved into the request
/// and handed back in its [`Completion`].
///
/// # Safety
///
/// [`IoBuf::stable_ptr`] must point to [`IoBuf::bytes_init`] readable
/// bytes that stay at the same address, unchanged, while the value is
/// moved around and until it is dropped (heap memory, not inline data).
pub unsafe trait IoBuf: Send + 'static {
    /// The first byte.
    fn stable_ptr(&self) -> *const u8;
    /// How many bytes, from [`IoBuf::stable_ptr`], the kernel may read.
    fn bytes_init(&self) -> usize;
}

/// A buffer the kernel writes after submit (READ, RECV): moved into the
/// request and handed back in its [`Completion`], with the bytes the
/// kernel wrote marked initialised.
///
/// `Vec<u8>` receives into its spare capacity (`len..capacity`) and grows
/// by what the kernel wrote, as `Read::read_to_end` would; `Box<[u8]>`
/// receives into the whole slice.
///
/// # Safety
///
/// [`IoBufMut::stable_mut_ptr`] must point to [`IoBufMut::bytes_total`]
/// writable bytes that stay at the same address, and are not otherwise
/// accessed, while the value is moved around and until it is dropped.
pub unsafe trait IoBufMut: Send + 'static {
    /// Where the kernel starts writing.
    fn stable_mut_ptr(&mut self) -> *mut u8;
    /// How many bytes, from [`IoBufMut::stable_mut_ptr`], the kernel may
    /// write.
    fn bytes_total(&self) -> usize;
    /// The kernel wrote the first `n` bytes (`n <= bytes_total()`).
    ///
    /// # Safety
    ///
    /// Those bytes must have been written.
    unsafe fn set_init(&mut self, n: usize);
}

// SAFETY: The heap buffer does not move with the `Vec`.
unsafe impl IoBuf for Vec<u8> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: As for `Vec<u8>`.
unsafe impl IoBuf for Box<[u8]> {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: Static bytes never move nor change.
unsafe impl IoBuf for &'static [u8] {
    fn stable_ptr(&self) -> *const u8 {
        self.as_ptr()
    }
    fn bytes_init(&self) -> usize {
        self.len()
    }
}

// SAFETY: The spare capacity is heap memory owned by the `Vec`.
unsafe impl IoBufMut for Vec<u8> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.spare_capacity_mut().as_mut_ptr().cast()
    }
    fn bytes_total(&self) -> usize {
        self.capacity() - self.len()
    }
    unsafe fn set_init(&mut self, n: usize) {
        // SAFETY: The caller's contract: `n` more bytes are initialised.
        unsafe { self.set_len(self.len() + n) }
    }
}

// SAFETY: As for `Vec<u8>`.
unsafe impl IoBufMut for Box<[u8]> {
    fn stable_mut_ptr(&mut self) -> *mut u8 {
        self.as_mut_ptr()
    }
    fn bytes_total(&self) -> usize {
        self.len()
    }
    unsafe fn set_init(&mut self, _n: usize) {}
}

/// A zeroed `struct statx` on the heap, for [`Request::statx`].
pub fn statx_buf() -> Box<sys::Statx> {
    // SAFETY: `struct statx` is plain data: all zeroes is a valid value.
    Box::new(unsafe { std::mem::zeroed() })
}

/// A buffer held for the kernel: type-erased, with what to do when the
/// request completes.
trait Held: Send {
    /// The step wrote `n` bytes into it.
    fn finish(&mut self, n: usize);
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send>;
}

struct Filled<B>(B);

impl<B: IoBufMut> Held for Filled<B> {
    fn finish(&mut self, n: usize) {
        let n = n.min(self.0.bytes_total());
        // SAFETY: The kernel reported `n` bytes written from the start of
        // the region it was given.
        unsafe { self.0.set_init(n) }
    }
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.0)
    }
}

struct Kept<B>(B);

impl<B: Send + 'static> Held for Kept<B> {
    fn finish(&mut self, _n: usize) {}
    fn into_any(self: Box<Self>) -> Box<dyn Any + Send> {
        Box::new(self.0)
    }
}

/// The buffers of one request, by step.
type HeldBufs = Vec<(usize, Box<dyn Held>)>;

fn erase(bufs: HeldBufs) -> Vec<Box<dyn Any + Send>> {
    bufs.into_iter().map(|(_, b)| b.into_any()).collect()
}

/// A compound request: up to [`sys::MAX_STEPS`] steps run in order by the
/// kernel. Build it with the step methods; the first step must be
/// [`Request::open`] (or [`Request::open_at`], [`Request::open_in_root`])
/// or [`Request::fd`].
///
/// `'a` is the life of the data the kernel copies at submit (OPEN paths,
/// SEND bytes): the request cannot outlive it. Buffers the kernel uses
/// after submit are moved into the request.
pub struct Request<'a> {
    iocb: sys::Iocb,
    bufs: HeldBufs,
    _borrows: PhantomData<&'a [u8]>,
}

impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request").field("iocb", &self.iocb).field("buffers", &self.bufs.len()).finish()
    }
}

impl<'a> Request<'a> {
    /// An empty chain with `user_data`, reported back in its [`Event`].
    pub fn new(user_data: u64) -> Self {
        Request { iocb: sys::Iocb { user_data, ..Default::default() }, bufs: Vec::new(), _borrows: PhantomData }
    }

    fn step(mut self, s: sys::Step) -> Self {
        let n = self.iocb.nr_steps as usize;
        assert!(n < sys::MAX_STEPS, "a kaio request has at most {} steps", sys::MAX_STEPS);
        self.iocb.steps[n] = s;
        self.iocb.nr_steps += 1;
        self
    }

    /// Holds `b` for the step just added.
    fn hold(mut self, b: Box<dyn Held>) -> Self {
        self.bufs.push((self.iocb.nr_steps as usize - 1, b));
        self
    }

    /// OPEN `path` relative to the working directory. The kernel copies
    /// the path at submit.
    pub fn open(self, path: &'a CStr, flags: i32, mode: u32) -> Self {
        self.open_at(libc::AT_FDCWD, path, flags, mode)
    }

    /// OPEN `path` relative to directory `dirfd`.
    pub fn open_at(self, dirfd: RawFd, path: &'a CStr, flags: i32, mode: u32) -> Self {
        self.step(sys::Step {
            opcode: sys::c::OP_OPEN as u8,
            fd: dirfd,
            addr: path.as_ptr() as u64,
            op_flags: flags as u32,
            arg: mode,
            ..Default::default()
        })
    }

    /// OPEN `path` with directory `dirfd` as its root (`KAIO_OPEN_IN_ROOT`,
    /// as `openat2(2)`'s `RESOLVE_IN_ROOT`): `..` stops at `dirfd`, and
    /// absolute paths and symbolic links resolve inside it.
    pub fn open_in_root(self, dirfd: RawFd, path: &'a CStr, flags: i32, mode: u32) -> Self {
        self.step(sys::Step {
            opcode: sys::c::OP_OPEN as u8,
            fd: dirfd,
            addr: path.as_ptr() as u64,
            len: sys::c::OPEN_IN_ROOT,
            op_flags: flags as u32,
            arg: mode,
            ..Default::default()
        })
    }

    /// Use the already open file `fd` (referenced at submit).
    pub fn fd(self, fd: RawFd) -> Self {
        self.step(sys::Step { opcode: sys::c::OP_FD as u8, fd, ..Default::default() })
    }

    /// SENDFILE `len` bytes (0: to end of file) at `offset` to `out_fd` (a
    /// socket, pipe or regular file, referenced at submit).
    pub fn sendfile(self, out_fd: RawFd, offset: i64, len: u64) -> Self {
        self.step(sys::Step { opcode: sys::c::OP_SENDFILE as u8, fd: out_fd, offset, len, ..Default::default() })
    }

    /// As [`Request::sendfile`], reading cold data with direct I/O: the page
    /// cache is neither used nor filled; `window` pages per read (0: default).
    pub fn sendfile_nocache(self, out_fd: RawFd, offset: i64, len: u64, window: u32) -> Self {
        self.step(sys::Step {
            opcode: sys::c::OP_SENDFILE as u8,
            fd: out_fd,
            offset,
            len,
            op_flags: sys::c::SENDFILE_NOCACHE as u32,
            arg: window,
            ..Default::default()
        })
    }

    /// READ at `offset` into `buf` (for a `Vec<u8>`: into its spare
    /// capacity). The buffer comes back in the [`Completion`], with the
    /// bytes read marked initialised.
    pub fn read<B: IoBufMut>(self, mut buf: B, offset: i64) -> Self {
        let (addr, len) = (buf.stable_mut_ptr() as u64, buf.bytes_total() as u64);
        self.step(sys::Step { opcode: sys::c::OP_READ as u8, addr, len, offset, ..Default::default() })
            .hold(Box::new(Filled(buf)))
    }

    /// WRITE `buf` at `offset`. The buffer comes back in the [`Completion`].
    pub fn write<B: IoBuf>(self, buf: B, offset: i64) -> Self {
        let (addr, len) = (buf.stable_ptr() as u64, buf.bytes_init() as u64);
        self.step(sys::Step { opcode: sys::c::OP_WRITE as u8, addr, len, offset, ..Default::default() })
            .hold(Box::new(Kept(buf)))
    }

    /// SEND `data` (1..=[`sys::SEND_MAX`] bytes) to socket `fd`
    /// ([`sys::FD_CHAIN`]: the chain's file). The kernel copies the bytes at
    /// submit, so `data` is only borrowed. Followed by a SEND or SENDFILE
    /// to the same socket, it is sent with `MSG_MORE`.
    pub fn send(self, fd: RawFd, data: &'a [u8]) -> Self {
        self.step(sys::Step {
            opcode: sys::c::OP_SEND as u8,
            fd,
            addr: data.as_ptr() as u64,
            len: data.len() as u64,
            ..Default::default()
        })
    }

    /// As [`Request::send`], always with `MSG_MORE` (`KAIO_SEND_MORE`).
    pub fn send_more(self, fd: RawFd, data: &'a [u8]) -> Self {
        let mut r = self.send(fd, data);
        r.iocb.steps[r.iocb.nr_steps as usize - 1].op_flags = sys::c::SEND_MORE as u32;
        r
    }

    /// RECV from socket `fd` ([`sys::FD_CHAIN`]: the chain's file) into
    /// `buf` (for a `Vec<u8>`: into its spare capacity): ends, as
    /// `recv(2)`, with the first bytes that arrive, or 0 at end of stream
    /// (a short transfer). The buffer comes back in the [`Completion`].
    pub fn recv<B: IoBufMut>(self, fd: RawFd, mut buf: B) -> Self {
        let (addr, len) = (buf.stable_mut_ptr() as u64, buf.bytes_total() as u64);
        self.step(sys::Step { opcode: sys::c::OP_RECV as u8, fd, addr, len, ..Default::default() })
            .hold(Box::new(Filled(buf)))
    }

    /// STATX of the chain's file into `buf` (see [`statx_buf`]), for the
    /// `libc::STATX_*` bits in `mask`. The box comes back in the
    /// [`Completion`].
    pub fn statx(self, buf: Box<sys::Statx>, mask: u32) -> Self {
        self.statx_sync(buf, mask, 0)
    }

    /// As [`Request::statx`], with `libc::AT_STATX_FORCE_SYNC` or
    /// `libc::AT_STATX_DONT_SYNC` in `sync`.
    pub fn statx_sync(self, mut buf: Box<sys::Statx>, mask: u32, sync: i32) -> Self {
        let addr = (&mut *buf as *mut sys::Statx) as u64;
        self.step(sys::Step {
            opcode: sys::c::OP_STATX as u8,
            addr,
            len: std::mem::size_of::<sys::Statx>() as u64,
            arg: mask,
            op_flags: sync as u32,
            ..Default::default()
        })
        .hold(Box::new(Kept(buf)))
    }

    /// FSYNC (or fdatasync with `datasync`).
    pub fn fsync(self, datasync: bool) -> Self {
        let op_flags = if datasync { sys::c::FSYNC_DATASYNC as u32 } else { 0 };
        self.step(sys::Step { opcode: sys::c::OP_FSYNC as u8, op_flags, ..Default::default() })
    }

    /// CLOSE the file (last step).
    pub fn close(self) -> Self {
        self.step(sys::Step { opcode: sys::c::OP_CLOSE as u8, ..Default::default() })
    }

    /// KEEP the opened file: it is installed in this process's fd table and
    /// reported in [`Event::kept_fd`] (last step, after OPEN).
    pub fn keep(self, cloexec: bool) -> Self {
        let op_flags = if cloexec { sys::c::KEEP_CLOEXEC as u32 } else { 0 };
        self.step(sys::Step { opcode: sys::c::OP_KEEP as u8, op_flags, ..Default::default() })
    }

    /// A short transfer does not end the chain.
    pub fn short_ok(mut self) -> Self {
        self.iocb.flags |= sys::c::IOCB_SHORT_OK as u32;
        self
    }

    /// The request's `user_data`.
    pub fn user_data(&self) -> u64 {
        self.iocb.user_data
    }

    /// The raw iocb, as built (the [`Context`] puts its own key in
    /// `user_data` when it submits).
    pub fn as_sys(&self) -> &sys::Iocb {
        &self.iocb
    }

    /// Gives back the buffers moved into the request, in step order (for
    /// a request that is not going to be submitted).
    pub fn into_bufs(self) -> Vec<Box<dyn Any + Send>> {
        erase(self.bufs)
    }
}

/// The completion of a [`Request`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event(pub sys::Event);

impl Event {
    /// The request's `user_data`.
    pub fn user_data(&self) -> u64 {
        self.0.user_data
    }

    /// The result of the step that ended the chain: its byte count (or fd,
    /// or 0), or the error. A step that failed after moving bytes reports
    /// its count here and the error in [`Event::error`].
    pub fn result(&self) -> io::Result<i64> {
        let r = self.0.result;
        if r < 0 {
            Err(io::Error::from_raw_os_error(-r as i32))
        } else {
            Ok(r)
        }
    }

    /// Index of the step that ended the chain.
    pub fn step(&self) -> usize {
        self.0.step as usize
    }

    /// Result of step `i` (bytes, fd, 0, or a negative errno), if it ran.
    pub fn step_result(&self, i: usize) -> Option<i64> {
        (i <= self.step() && i < self.0.nr_steps as usize).then(|| self.0.step_result[i])
    }

    /// The request was cancelled.
    pub fn cancelled(&self) -> bool {
        self.0.flags & sys::c::EV_CANCELED as u32 != 0
    }

    /// The chain ran to its end: every step ran, none failed, was cancelled
    /// or (without [`Request::short_ok`]) ended short.
    pub fn done(&self) -> bool {
        self.0.flags & sys::c::EV_DONE as u32 != 0
    }

    /// The error that ended the chain, if one did (`None` for a chain that
    /// ran to its end or ended with a short transfer).
    pub fn error(&self) -> Option<io::Error> {
        (self.0.error != 0).then(|| io::Error::from_raw_os_error(-self.0.error))
    }

    /// Bytes moved by all the chain's transfers.
    pub fn bytes(&self) -> u64 {
        self.0.bytes
    }

    /// The descriptor a KEEP step installed. The caller owns it (wrap it
    /// in `OwnedFd`).
    pub fn kept_fd(&self) -> Option<RawFd> {
        (self.0.flags & sys::c::EV_FD as u32 != 0).then_some(self.0.fd)
    }
}

/// Names a submitted request, for [`Context::cancel`]. Never reused by
/// its context for another request (keys come from a 64-bit counter that
/// would take centuries to run out), so a stale `OpId` cannot cancel or
/// claim a later request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct OpId(u64);

impl OpId {
    /// The key the kernel knows the request by (its iocb's `user_data`).
    pub fn key(self) -> u64 {
        self.0
    }
}

/// A reaped request: its [`Event`] (dereference it), with the request's own
/// `user_data`, and the buffers it held, handed back.
pub struct Completion {
    event: Event,
    id: OpId,
    bufs: Vec<Box<dyn Any + Send>>,
}

impl fmt::Debug for Completion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Completion").field("event", &self.event).field("id", &self.id).field("buffers", &self.bufs.len()).finish()
    }
}

impl Completion {
    /// The event.
    pub fn event(&self) -> &Event {
        &self.event
    }

    /// Which submission this is.
    pub fn id(&self) -> OpId {
        self.id
    }

    /// Takes back the first remaining buffer of type `T`, in step order
    /// (`Vec<u8>`, `Box<[u8]>`, `Box<Statx>`, ...).
    pub fn take_buf<T: 'static>(&mut self) -> Option<T> {
        let i = self.bufs.iter().position(|b| b.is::<T>())?;
        self.bufs.remove(i).downcast::<T>().ok().map(|b| *b)
    }

    /// Every buffer the request held, in step order.
    pub fn into_bufs(self) -> Vec<Box<dyn Any + Send>> {
        self.bufs
    }
}

impl Deref for Completion {
    type Target = Event;
    fn deref(&self) -> &Event {
        &self.event
    }
}

/// Why [`Context::submit`] refused a request; the request, buffers and
/// all, is given back.
pub struct SubmitError<'a> {
    /// The error (`EAGAIN`: the ring is full, reap first).
    pub error: io::Error,
    /// The refused request.
    pub request: Box<Request<'a>>,
}

impl fmt::Debug for SubmitError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SubmitError").field("error", &self.error).finish_non_exhaustive()
    }
}

impl fmt::Display for SubmitError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "submit: {}", self.error)
    }
}

impl From<SubmitError<'_>> for io::Error {
    fn from(e: SubmitError<'_>) -> io::Error {
        e.error
    }
}

/// The requests of a context in flight and the buffers they hold, by the
/// key their iocbs carry.
///
/// Keys come from a 64-bit counter that only goes up: each submission
/// takes the next. Even at a billion submissions a second it would take
/// 584 years to run out, so a key is never handed out twice (a stale
/// [`OpId`] names no request: its cancel gets `ENOENT`). Running out
/// panics rather than wrap.
struct Tracker {
    ops: HashMap<u64, Entry>,
    next: u64,
}

impl Default for Tracker {
    fn default() -> Self {
        Tracker { ops: HashMap::new(), next: 1 }
    }
}

struct Entry {
    user_data: u64,
    bufs: HeldBufs,
}

impl Tracker {
    fn insert(&mut self, user_data: u64, bufs: HeldBufs) -> u64 {
        let key = self.next;
        self.next = key.checked_add(1).expect("kaio: 2^64 submissions on one context");
        let prev = self.ops.insert(key, Entry { user_data, bufs });
        assert!(prev.is_none(), "kaio: key {key:#x} reused");
        key
    }

    /// Requests in flight.
    fn len(&self) -> usize {
        self.ops.len()
    }

    /// Frees `key`'s entry and gives back its `user_data` and buffers.
    fn remove(&mut self, key: u64) -> Option<(u64, HeldBufs)> {
        self.ops.remove(&key).map(|e| (e.user_data, e.bufs))
    }

    /// The event of the request with key `ev.user_data`: its buffers are
    /// the caller's again.
    fn complete(&mut self, mut ev: sys::Event) -> Completion {
        let id = OpId(ev.user_data);
        let Some((user_data, mut bufs)) = self.remove(ev.user_data) else {
            // Not ours (submitted through the raw fd): as it is.
            return Completion { event: Event(ev), id, bufs: Vec::new() };
        };
        ev.user_data = user_data;
        let event = Event(ev);
        for (step, b) in &mut bufs {
            if let Some(n) = event.step_result(*step).filter(|&n| n > 0) {
                b.finish(n as usize);
            }
        }
        Completion { event, id, bufs: erase(bufs) }
    }

    /// As if `n` more requests had been submitted and reaped, one after
    /// the other (tests: reach the wrap point quickly).
    #[cfg(test)]
    fn skip_submissions(&mut self, n: u64) {
        self.next += n;
    }

    fn keys(&self) -> Vec<u64> {
        let mut k: Vec<u64> = self.ops.keys().copied().collect();
        k.sort_unstable();
        k
    }
}

/// The consumer side of a completion ring in memory shared with the kernel.
///
/// # Invariants
///
/// `base` points to a mapping laid out as `struct kaio_ring` followed by
/// `entries` (a power of two) events at `events_off`, valid while `self`
/// lives.
pub struct Ring {
    base: *mut u8,
    events_off: usize,
    entries: u32,
}

impl Ring {
    /// A ring over memory laid out as the kernel's.
    ///
    /// # Safety
    ///
    /// `base` must satisfy the type invariant for the life of the ring.
    pub unsafe fn from_raw(base: *mut u8, events_off: usize, entries: u32) -> Self {
        assert!(entries.is_power_of_two());
        Ring { base, events_off, entries }
    }

    fn word(&self, off: usize) -> &AtomicU32 {
        // SAFETY: The header words are inside the mapping (type invariant),
        // aligned, and shared with the kernel, hence atomic.
        unsafe { AtomicU32::from_ptr(self.base.add(off).cast()) }
    }

    /// Events published and not yet consumed.
    pub fn ready(&self) -> u32 {
        let tail = self.word(sys::RING_TAIL).load(Ordering::Acquire);
        tail.wrapping_sub(self.word(sys::RING_HEAD).load(Ordering::Relaxed))
    }

    /// Takes the oldest event, if any (no system call).
    pub fn pop(&mut self) -> Option<Event> {
        let head = self.word(sys::RING_HEAD).load(Ordering::Relaxed);
        // Pairs with the kernel's release store of tail: the event is there.
        let tail = self.word(sys::RING_TAIL).load(Ordering::Acquire);
        if head == tail {
            return None;
        }
        let i = (head & (self.entries - 1)) as usize;
        // SAFETY: `i < entries`, inside the mapping; the kernel does not
        // write this slot again until head moves past it.
        let ev = unsafe {
            std::ptr::read_volatile(self.base.add(self.events_off + i * std::mem::size_of::<sys::Event>()).cast::<sys::Event>())
        };
        // The slot is free again once head moves (release: after the read).
        self.word(sys::RING_HEAD).store(head.wrapping_add(1), Ordering::Release);
        Some(Event(ev))
    }
}

/// A kaio context: one open of `/dev/kaio` with its mapped completion ring,
/// and the buffers of its requests in flight.
///
/// Dropping a context cancels its requests in flight; the buffers of those
/// whose completion has not come back are leaked, never freed, as the
/// kernel may still write them after the context is closed.
pub struct Context {
    file: File,
    ring: Ring,
    map_len: usize,
    ops: Tracker,
}

// SAFETY: The mapping is process memory; ring consumption needs `&mut`,
// and the held buffers are `Send`.
unsafe impl Send for Context {}

impl Context {
    /// Opens a context with a ring of `entries` (a power of two).
    pub fn new(entries: u32) -> io::Result<Self> {
        check_module()?;
        let file = OpenOptions::new().read(true).write(true).open(DEVICE)?;
        let mut s = sys::Setup { entries, ..Default::default() };
        ioctl(file.as_raw_fd(), sys::c::IOC_SETUP, &mut s)?;
        // SAFETY: Maps the ring the kernel just set up, at offset 0.
        let base = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                s.ring_size as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if base == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: The mapping has the kernel's layout and lives until drop.
        let ring = unsafe { Ring::from_raw(base.cast(), s.events_off as usize, s.entries) };
        Ok(Context { file, ring, map_len: s.ring_size as usize, ops: Tracker::default() })
    }

    /// Submits a request. Its borrowed data (paths, SEND bytes) is copied
    /// by the kernel here; its buffers stay with the context until its
    /// [`Completion`] is reaped. On error (`EAGAIN`: the ring is full,
    /// reap first) the request comes back in the [`SubmitError`].
    pub fn submit<'a>(&mut self, req: Request<'a>) -> Result<OpId, SubmitError<'a>> {
        let Request { mut iocb, bufs, .. } = req;
        let user_data = iocb.user_data;
        let key = self.ops.insert(user_data, bufs);
        iocb.user_data = key;
        let mut s = sys::Submit { iocbs: &iocb as *const sys::Iocb as u64, nr: 1, ..Default::default() };
        let r = match ioctl(self.file.as_raw_fd(), sys::c::IOC_SUBMIT, &mut s) {
            Ok(1) => return Ok(OpId(key)),
            Ok(_) => io::Error::from_raw_os_error(libc::EAGAIN),
            Err(e) => e,
        };
        let (_, bufs) = self.ops.remove(key).expect("the slot just taken");
        iocb.user_data = user_data;
        Err(SubmitError { error: r, request: Box::new(Request { iocb, bufs, _borrows: PhantomData }) })
    }

    /// Requests submitted and not yet reaped.
    pub fn in_flight(&self) -> usize {
        self.ops.len()
    }

    /// Reaps completed requests from the mapped ring, without a system call.
    pub fn reap(&mut self) -> impl Iterator<Item = Completion> + '_ {
        std::iter::from_fn(move || self.ring.pop().map(|ev| self.ops.complete(ev.0)))
    }

    /// Waits until at least `min` requests have completed (or `timeout`),
    /// and reaps up to `max`.
    pub fn wait(&mut self, min: u32, max: u32, timeout: Option<Duration>) -> io::Result<Vec<Completion>> {
        let mut out = vec![sys::Event::default(); max as usize];
        let mut g = sys::GetEvents {
            events: out.as_mut_ptr() as u64,
            min_nr: min,
            max_nr: max,
            timeout_ns: timeout.map_or(-1, |t| t.as_nanos().min(i64::MAX as u128) as i64),
            ..Default::default()
        };
        let n = ioctl(self.file.as_raw_fd(), sys::c::IOC_GETEVENTS, &mut g)? as usize;
        out.truncate(n);
        Ok(out.into_iter().map(|ev| self.ops.complete(ev)).collect())
    }

    /// Cancels request `id`: it completes with `ECANCELED` (`ENOENT`: it is
    /// no longer in flight, its completion is ready or already reaped).
    pub fn cancel(&self, id: OpId) -> io::Result<()> {
        let mut c = sys::Cancel { user_data: id.0, ..Default::default() };
        ioctl(self.file.as_raw_fd(), sys::c::IOC_CANCEL, &mut c).map(|_| ())
    }

    /// Signals eventfd `efd` on each completion (`None`: stop).
    pub fn set_eventfd(&self, efd: Option<RawFd>) -> io::Result<()> {
        let mut fd: i32 = efd.unwrap_or(-1);
        ioctl(self.file.as_raw_fd(), sys::c::IOC_EVENTFD, &mut fd).map(|_| ())
    }
}

impl AsRawFd for Context {
    /// The device fd, for poll/epoll (readable while events are ready).
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl Drop for Context {
    fn drop(&mut self) {
        for key in self.ops.keys() {
            let _ = self.cancel(OpId(key));
        }
        while let Some(ev) = self.ring.pop() {
            drop(self.ops.complete(ev.0));
        }
        // What is still in flight may be written by the kernel after the
        // context is closed: leak it.
        std::mem::forget(std::mem::take(&mut self.ops));
        // SAFETY: Unmaps our own mapping; the ring is not used afterwards.
        unsafe { libc::munmap(self.ring.base.cast(), self.map_len) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_fills_steps_in_order() {
        let p = c"/etc/hostname";
        let r = Request::new(7).open(p, libc::O_RDONLY, 0).sendfile(5, 4096, 100).close();
        let i = r.as_sys();
        assert_eq!(i.user_data, 7);
        assert_eq!(i.nr_steps, 3);
        assert_eq!(i.steps[0].opcode as u64, sys::c::OP_OPEN);
        assert_eq!(i.steps[0].fd, libc::AT_FDCWD);
        assert_eq!(i.steps[0].addr, p.as_ptr() as u64);
        assert_eq!(i.steps[1].opcode as u64, sys::c::OP_SENDFILE);
        assert_eq!((i.steps[1].fd, i.steps[1].offset, i.steps[1].len), (5, 4096, 100));
        assert_eq!(i.steps[2].opcode as u64, sys::c::OP_CLOSE);
        assert_eq!(i.steps[3], sys::Step::default());
        assert_eq!((i.resfd, i.reserved1, i.reserved2), (0, 0, 0));
    }

    #[test]
    fn flags_and_options() {
        let r = Request::new(1).fd(3).fsync(true).keep(true).short_ok();
        let i = r.as_sys();
        assert_eq!(i.flags as u64, sys::c::IOCB_SHORT_OK);
        assert_eq!(i.steps[1].op_flags as u64, sys::c::FSYNC_DATASYNC);
        assert_eq!(i.steps[2].op_flags as u64, sys::c::KEEP_CLOEXEC);
        let n = Request::new(1).fd(3).sendfile_nocache(4, 0, 0, 16);
        assert_eq!(n.as_sys().steps[1].op_flags as u64, sys::c::SENDFILE_NOCACHE);
        assert_eq!(n.as_sys().steps[1].arg, 16);
    }

    #[test]
    #[should_panic(expected = "at most")]
    fn too_many_steps_panics() {
        let mut r = Request::new(1).fd(0);
        for _ in 0..sys::MAX_STEPS {
            r = r.fsync(false);
        }
    }

    #[test]
    fn event_accessors() {
        let mut e = sys::Event { user_data: 9, result: -(libc::EPIPE as i64), step: 1, nr_steps: 3, fd: -1, ..Default::default() };
        e.step_result[0] = 0;
        e.step_result[1] = -(libc::EPIPE as i64);
        let ev = Event(e);
        assert_eq!(ev.result().unwrap_err().raw_os_error(), Some(libc::EPIPE));
        assert_eq!(ev.step_result(1), Some(-(libc::EPIPE as i64)));
        assert_eq!(ev.step_result(2), None);
        assert!(!ev.cancelled());
        assert_eq!(ev.kept_fd(), None);
        assert!(!ev.done());
        assert!(ev.error().is_none());
        let k = Event(sys::Event {
            flags: (sys::c::EV_FD | sys::c::EV_DONE) as u32,
            fd: 12,
            result: 12,
            step: 1,
            nr_steps: 2,
            ..Default::default()
        });
        assert_eq!(k.kept_fd(), Some(12));
        assert_eq!(k.result().unwrap(), 12);
        assert!(k.done());
        // A SENDFILE that failed after sending 5000 bytes of a 100-byte
        // header and a file.
        let mut f = sys::Event {
            result: 4900,
            step: 2,
            nr_steps: 4,
            error: -libc::ECONNRESET,
            bytes: 5000,
            fd: -1,
            ..Default::default()
        };
        f.step_result[1] = 100;
        f.step_result[2] = 4900;
        let f = Event(f);
        assert!(!f.done());
        assert_eq!(f.error().unwrap().raw_os_error(), Some(libc::ECONNRESET));
        assert_eq!(f.result().unwrap(), 4900);
        assert_eq!(f.bytes(), 5000);
        assert_eq!(f.step_result(2), Some(4900));
        assert_eq!(f.step_result(3), None);
    }

    #[test]
    fn socket_statx_and_in_root_steps() {
        let hdr = b"HTTP/1.1 200 OK\r\n\r\n";
        let st = statx_buf();
        let st_addr = &*st as *const sys::Statx as u64;
        let p = c"a/b.html";
        let r = Request::new(3)
            .open_in_root(9, p, libc::O_RDONLY, 0)
            .statx(st, libc::STATX_BASIC_STATS)
            .keep(true);
        let i = r.as_sys();
        assert_eq!(i.nr_steps, 3);
        assert_eq!((i.steps[0].opcode as u64, i.steps[0].fd, i.steps[0].len), (sys::c::OP_OPEN, 9, sys::c::OPEN_IN_ROOT));
        assert_eq!(i.steps[0].addr, p.as_ptr() as u64);
        assert_eq!(i.steps[1].opcode as u64, sys::c::OP_STATX);
        assert_eq!((i.steps[1].addr, i.steps[1].len), (st_addr, 256));
        assert_eq!((i.steps[1].arg, i.steps[1].op_flags), (libc::STATX_BASIC_STATS, 0));
        // The box moved into the request and comes back out of it.
        let back = r.into_bufs().pop().unwrap().downcast::<Box<sys::Statx>>().unwrap();
        assert_eq!(&**back as *const sys::Statx as u64, st_addr);
        let s = Request::new(4).fd(5).statx_sync(statx_buf(), libc::STATX_SIZE, libc::AT_STATX_DONT_SYNC);
        assert_eq!(s.as_sys().steps[1].op_flags, libc::AT_STATX_DONT_SYNC as u32);
        let r = Request::new(5).fd(7).send(6, hdr).send_more(sys::FD_CHAIN, b"x").sendfile(6, 10, 20).close();
        let i = r.as_sys();
        assert_eq!(i.steps[1].opcode as u64, sys::c::OP_SEND);
        assert_eq!((i.steps[1].fd, i.steps[1].addr, i.steps[1].len), (6, hdr.as_ptr() as u64, hdr.len() as u64));
        assert_eq!(i.steps[1].op_flags, 0);
        assert_eq!((i.steps[2].fd, i.steps[2].op_flags as u64), (-1, sys::c::SEND_MORE));
        assert_eq!(i.steps[3].opcode as u64, sys::c::OP_SENDFILE);
        // RECV into a Vec's spare capacity, READ into a boxed slice, WRITE
        // of a Vec's bytes.
        let mut v = Vec::with_capacity(64);
        v.extend_from_slice(b"abc");
        let spare = v.as_ptr() as u64 + 3;
        let cap = v.capacity() as u64;
        let r = Request::new(6).fd(8).recv(sys::FD_CHAIN, v);
        let i = r.as_sys();
        assert_eq!(i.steps[1].opcode as u64, sys::c::OP_RECV);
        assert_eq!((i.steps[1].fd, i.steps[1].addr, i.steps[1].len), (-1, spare, cap - 3));
        let b: Box<[u8]> = vec![0u8; 32].into_boxed_slice();
        let w = vec![1u8; 10];
        let (baddr, waddr) = (b.as_ptr() as u64, w.as_ptr() as u64);
        let r = Request::new(7).fd(8).read(b, 4096).write(w, 8192);
        let i = r.as_sys();
        assert_eq!((i.steps[1].opcode as u64, i.steps[1].addr, i.steps[1].len, i.steps[1].offset), (sys::c::OP_READ, baddr, 32, 4096));
        assert_eq!((i.steps[2].opcode as u64, i.steps[2].addr, i.steps[2].len, i.steps[2].offset), (sys::c::OP_WRITE, waddr, 10, 8192));
        assert_eq!(r.into_bufs().len(), 2);
    }

    /// A ring of `entries` in user memory laid out as the kernel's.
    struct FakeRing {
        mem: Vec<u64>,
        entries: u32,
    }

    impl FakeRing {
        fn new(entries: u32, start: u32) -> (Self, Ring) {
            let off = sys::c::RING_SIZE as usize;
            let mut f = FakeRing { mem: vec![0u64; (off + entries as usize * std::mem::size_of::<sys::Event>()) / 8], entries };
            // SAFETY: `mem` has the layout; the tests keep `f` alive (and
            // its Vec unmoved on the heap) while the ring is used.
            let ring = unsafe { Ring::from_raw(f.mem.as_mut_ptr().cast(), off, entries) };
            ring.word(sys::RING_HEAD).store(start, Ordering::Relaxed);
            ring.word(sys::RING_TAIL).store(start, Ordering::Relaxed);
            (f, ring)
        }

        /// The kernel's side: writes the event at tail, then publishes it.
        fn post(&mut self, ring: &Ring, ev: sys::Event) {
            let tail = ring.word(sys::RING_TAIL).load(Ordering::Relaxed);
            let head = ring.word(sys::RING_HEAD).load(Ordering::Acquire);
            assert!(tail.wrapping_sub(head) < self.entries, "fake ring overflow");
            let slot = (tail & (self.entries - 1)) as usize;
            let off = sys::c::RING_SIZE as usize + slot * std::mem::size_of::<sys::Event>();
            // SAFETY: the slot is inside `mem`.
            unsafe { self.mem.as_mut_ptr().cast::<u8>().add(off).cast::<sys::Event>().write(ev) };
            ring.word(sys::RING_TAIL).store(tail.wrapping_add(1), Ordering::Release);
        }
    }

    /// The ring consumer against memory laid out as the kernel's, across
    /// the 32-bit wrap of head and tail.
    #[test]
    fn ring_pop_and_wrap() {
        let start = u32::MAX - 1;
        let (mut f, mut ring) = FakeRing::new(4, start);
        assert_eq!(ring.pop(), None);
        assert_eq!(ring.ready(), 0);
        for k in 0..3u64 {
            f.post(&ring, sys::Event { user_data: 100 + k, ..Default::default() });
        }
        assert_eq!(ring.ready(), 3);
        let got: Vec<u64> = std::iter::from_fn(|| ring.pop()).map(|e| e.user_data()).collect();
        assert_eq!(got, vec![100, 101, 102]);
        assert_eq!(ring.word(sys::RING_HEAD).load(Ordering::Relaxed), start.wrapping_add(3));
        assert_eq!(ring.word(sys::RING_HEAD).load(Ordering::Relaxed), 1);
        assert_eq!(ring.pop(), None);
    }

    /// Full ring: every slot published, consumed in order, then reused
    /// (slot indices wrap by the mask many times over).
    #[test]
    fn ring_full_and_reuse() {
        let (mut f, mut ring) = FakeRing::new(8, 5);
        for round in 0..10u64 {
            for k in 0..8u64 {
                f.post(&ring, sys::Event { user_data: round * 100 + k, result: k as i64, ..Default::default() });
            }
            assert_eq!(ring.ready(), 8);
            for k in 0..8u64 {
                let e = ring.pop().unwrap();
                assert_eq!((e.user_data(), e.0.result), (round * 100 + k, k as i64));
                assert_eq!(ring.ready(), 7 - k as u32);
            }
            assert_eq!(ring.pop(), None);
        }
        // Interleaved: the consumer never reads past tail.
        f.post(&ring, sys::Event { user_data: 1, ..Default::default() });
        assert_eq!(ring.pop().map(|e| e.user_data()), Some(1));
        assert_eq!(ring.pop(), None);
        f.post(&ring, sys::Event { user_data: 2, ..Default::default() });
        f.post(&ring, sys::Event { user_data: 3, ..Default::default() });
        assert_eq!(ring.pop().map(|e| e.user_data()), Some(2));
        f.post(&ring, sys::Event { user_data: 4, ..Default::default() });
        assert_eq!(std::iter::from_fn(|| ring.pop()).map(|e| e.user_data()).collect::<Vec<_>>(), vec![3, 4]);
    }

    #[test]
    #[should_panic(expected = "power_of_two")]
    fn ring_needs_power_of_two() {
        let mut mem = vec![0u64; 1024];
        // SAFETY: Never used: it panics first.
        let _ = unsafe { Ring::from_raw(mem.as_mut_ptr().cast(), 192, 3) };
    }

    /// The context's bookkeeping against a fake ring: the kernel sees its
    /// own keys, the completion gives back the request's user_data and its
    /// buffers, with what the kernel wrote marked initialised.
    #[test]
    fn completions_hand_buffers_back() {
        let (mut f, mut ring) = FakeRing::new(4, u32::MAX);
        let mut t = Tracker::default();
        let mut v = Vec::with_capacity(16);
        v.extend_from_slice(b"GET ");
        let r = Request::new(77).fd(3).recv(sys::FD_CHAIN, v).statx(statx_buf(), libc::STATX_SIZE);
        let Request { iocb, bufs, .. } = r;
        let (addr, len) = (iocb.steps[1].addr, iocb.steps[1].len);
        let k1 = t.insert(iocb.user_data, bufs);
        let k2 = t.insert(78, Request::new(78).fd(3).read(vec![0u8; 8].into_boxed_slice(), 0).bufs);
        assert_ne!(k1, k2);
        assert_eq!(t.len(), 2);
        // The "kernel" RECVs 5 bytes into the spare capacity, fills statx.
        // SAFETY: `addr` is the Vec's spare capacity, `len` >= 5.
        unsafe { std::ptr::copy_nonoverlapping(b"/a\r\n\r".as_ptr(), addr as *mut u8, 5) };
        assert!(len >= 5);
        let mut e = sys::Event { user_data: k1, step: 2, nr_steps: 3, result: 0, flags: sys::c::EV_DONE as u32, ..Default::default() };
        e.step_result[1] = 5;
        f.post(&ring, e);
        // The read failed: nothing is marked written.
        let mut e2 = sys::Event { user_data: k2, step: 1, nr_steps: 2, result: -(libc::EIO as i64), ..Default::default() };
        e2.step_result[1] = -(libc::EIO as i64);
        f.post(&ring, e2);
        let mut c = t.complete(ring.pop().unwrap().0);
        assert_eq!((c.user_data(), c.id().key()), (77, k1));
        assert!(c.done());
        assert_eq!(c.take_buf::<Vec<u8>>().unwrap(), b"GET /a\r\n\r");
        assert!(c.take_buf::<Box<sys::Statx>>().is_some());
        assert!(c.take_buf::<Vec<u8>>().is_none());
        let c2 = t.complete(ring.pop().unwrap().0);
        assert_eq!(c2.user_data(), 78);
        assert_eq!(c2.result().unwrap_err().raw_os_error(), Some(libc::EIO));
        let b = c2.into_bufs().pop().unwrap().downcast::<Box<[u8]>>().unwrap();
        assert_eq!(&**b, &[0u8; 8]);
        assert_eq!(t.len(), 0);
        // A stale key is not taken for the new request.
        let k3 = t.insert(79, Vec::new());
        assert!(k3 != k2 && k3 != k1);
        let stale = t.complete(sys::Event { user_data: k2, ..Default::default() });
        assert_eq!((stale.user_data(), stale.into_bufs().len()), (k2, 0));
        assert_eq!(t.len(), 1);
        assert_eq!(t.keys(), vec![k3]);
        assert_eq!(t.complete(sys::Event { user_data: k3, ..Default::default() }).user_data(), 79);
        assert!(t.keys().is_empty());
    }

    /// Keys are never reused, not even after 2^32 submissions through one
    /// busy slot: a stale key names no request (its completion, or a
    /// cancel, cannot reach a later one).
    #[test]
    fn keys_never_reused_across_wrap() {
        let mut t = Tracker::default();
        let k0 = t.insert(1, Vec::new());
        assert_eq!(t.complete(sys::Event { user_data: k0, ..Default::default() }).user_data(), 1);
        let mut seen = std::collections::HashSet::from([k0]);
        for n in [u64::from(u32::MAX), u64::from(u32::MAX) + 1, (1 << 40) - 3, (1 << 48) + 5] {
            t.skip_submissions(n);
            let k = t.insert(2, Vec::new());
            assert!(seen.insert(k), "key {k:#x} handed out twice");
            // The stale key names nothing; the live one is intact.
            assert_eq!(t.complete(sys::Event { user_data: k0, ..Default::default() }).user_data(), k0);
            assert_eq!(t.keys(), vec![k]);
            assert_eq!(t.complete(sys::Event { user_data: k, ..Default::default() }).user_data(), 2);
        }
    }

    /// A RECV that got nothing (end of stream) or was cancelled after some
    /// bytes: the Vec grows by exactly what the step reports.
    #[test]
    fn partial_and_cancelled_receives() {
        let mut t = Tracker::default();
        let r = Request::new(1).fd(3).recv(sys::FD_CHAIN, Vec::with_capacity(8));
        let k = t.insert(1, r.bufs);
        let mut e = sys::Event { user_data: k, step: 1, nr_steps: 2, result: 0, ..Default::default() };
        e.step_result[1] = 0;
        assert_eq!(t.complete(e).take_buf::<Vec<u8>>().unwrap().len(), 0);
        let r = Request::new(2).fd(3).recv(sys::FD_CHAIN, Vec::with_capacity(8));
        let addr = r.iocb.steps[1].addr as *mut u8;
        let k = t.insert(2, r.bufs);
        // SAFETY: inside the capacity.
        unsafe { addr.write_bytes(b'z', 3) };
        let mut e = sys::Event {
            user_data: k,
            step: 1,
            nr_steps: 2,
            result: -(libc::ECANCELED as i64),
            flags: sys::c::EV_CANCELED as u32,
            ..Default::default()
        };
        e.step_result[1] = 3;
        let mut c = t.complete(e);
        assert!(c.cancelled());
        assert_eq!(c.take_buf::<Vec<u8>>().unwrap(), b"zzz");
    }

    #[test]
    fn abi_numbers_come_from_the_header() {
        assert_eq!(std::mem::size_of::<sys::Iocb>() as u64, sys::c::IOCB_SIZE);
        assert_eq!(std::mem::size_of::<sys::Event>(), 104);
        assert_eq!(ABI_VERSION, 2);
        assert_eq!(sys::FD_CHAIN, -1);
        assert_eq!(sys::SEND_MAX, 65536);
        assert_eq!(sys::c::OPEN_IN_ROOT, 0x10);
        assert_eq!((sys::c::OP_SEND, sys::c::OP_RECV, sys::c::OP_STATX), (11, 12, 13));
        assert_eq!((feature::SOCKET, feature::STATX, feature::IN_ROOT), (1 << 4, 1 << 5, 1 << 6));
        // _IOR(0xAA, 0, struct kaio_version): read, size 16.
        assert_eq!(sys::c::IOC_VERSION, (2 << 30) | (16 << 16) | (0xAA << 8));
    }
}
