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
//! ctx.submit(&[req])?;
//! for ev in ctx.wait(1, 1, None)? {
//!     println!("sent {} bytes", ev.step_result(1).unwrap());
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! The ABI structures in [`sys`] are checked at build time against
//! `include/uapi/linux/kaio.h`.

#![warn(missing_docs)]

use std::{
    ffi::CStr,
    fs::{File, OpenOptions},
    io,
    os::fd::{AsRawFd, RawFd},
    sync::atomic::{AtomicU32, Ordering},
    time::Duration,
};

pub mod sys;

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

/// A compound request: up to [`sys::MAX_STEPS`] steps run in order by the
/// kernel. Build it with the step methods; the first step must be
/// [`Request::open`] or [`Request::fd`].
#[derive(Clone, Copy, Debug)]
pub struct Request(sys::Iocb);

impl Request {
    /// An empty chain with `user_data`, reported back in its [`Event`].
    pub fn new(user_data: u64) -> Self {
        Request(sys::Iocb { user_data, ..Default::default() })
    }

    fn step(mut self, s: sys::Step) -> Self {
        let n = self.0.nr_steps as usize;
        assert!(n < sys::MAX_STEPS, "a kaio request has at most {} steps", sys::MAX_STEPS);
        self.0.steps[n] = s;
        self.0.nr_steps += 1;
        self
    }

    /// OPEN `path` (relative to `libc::AT_FDCWD` or a directory fd given
    /// with [`Request::open_at`]). The kernel copies the path at submit, so
    /// it only has to live until [`Context::submit`] returns.
    pub fn open(self, path: &CStr, flags: i32, mode: u32) -> Self {
        self.open_at(libc::AT_FDCWD, path, flags, mode)
    }

    /// OPEN `path` relative to directory `dirfd`.
    pub fn open_at(self, dirfd: RawFd, path: &CStr, flags: i32, mode: u32) -> Self {
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
    pub fn open_in_root(self, dirfd: RawFd, path: &CStr, flags: i32, mode: u32) -> Self {
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

    /// READ into `buf` at `offset`.
    ///
    /// # Safety
    ///
    /// The kernel writes `buf` after [`Context::submit`] returns: it must
    /// stay valid, and not be otherwise accessed, until this request's
    /// event has been reaped.
    pub unsafe fn read(self, buf: *mut u8, len: usize, offset: i64) -> Self {
        self.step(sys::Step { opcode: sys::c::OP_READ as u8, addr: buf as u64, len: len as u64, offset, ..Default::default() })
    }

    /// WRITE `buf` at `offset`.
    ///
    /// # Safety
    ///
    /// The kernel reads `buf` after [`Context::submit`] returns: it must stay
    /// valid and unchanged until this request's event has been reaped.
    pub unsafe fn write(self, buf: *const u8, len: usize, offset: i64) -> Self {
        self.step(sys::Step { opcode: sys::c::OP_WRITE as u8, addr: buf as u64, len: len as u64, offset, ..Default::default() })
    }

    /// SEND `data` (1..=[`sys::SEND_MAX`] bytes) to socket `fd`
    /// ([`sys::FD_CHAIN`]: the chain's file). The kernel copies the bytes at
    /// submit, so `data` only has to live until [`Context::submit`] returns.
    /// Followed by a SEND or SENDFILE to the same socket, it is sent with
    /// `MSG_MORE`.
    pub fn send(self, fd: RawFd, data: &[u8]) -> Self {
        self.step(sys::Step {
            opcode: sys::c::OP_SEND as u8,
            fd,
            addr: data.as_ptr() as u64,
            len: data.len() as u64,
            ..Default::default()
        })
    }

    /// As [`Request::send`], always with `MSG_MORE` (`KAIO_SEND_MORE`).
    pub fn send_more(self, fd: RawFd, data: &[u8]) -> Self {
        let mut r = self.send(fd, data);
        r.0.steps[r.0.nr_steps as usize - 1].op_flags = sys::c::SEND_MORE as u32;
        r
    }

    /// RECV up to `len` bytes from socket `fd` ([`sys::FD_CHAIN`]: the
    /// chain's file) into `buf`: ends, as `recv(2)`, with the first bytes
    /// that arrive, or 0 at end of stream (a short transfer).
    ///
    /// # Safety
    ///
    /// As [`Request::read`]: `buf` must stay valid, and not be otherwise
    /// accessed, until this request's event has been reaped.
    pub unsafe fn recv(self, fd: RawFd, buf: *mut u8, len: usize) -> Self {
        self.step(sys::Step { opcode: sys::c::OP_RECV as u8, fd, addr: buf as u64, len: len as u64, ..Default::default() })
    }

    /// STATX of the chain's file into `buf`, for the `libc::STATX_*` bits
    /// in `mask`.
    ///
    /// # Safety
    ///
    /// The kernel writes `buf` after [`Context::submit`] returns: it must
    /// stay valid, and not be otherwise accessed, until this request's
    /// event has been reaped.
    pub unsafe fn statx(self, buf: *mut sys::Statx, mask: u32) -> Self {
        // SAFETY: The caller's contract is this function's.
        unsafe { self.statx_sync(buf, mask, 0) }
    }

    /// As [`Request::statx`], with `libc::AT_STATX_FORCE_SYNC` or
    /// `libc::AT_STATX_DONT_SYNC` in `sync`.
    ///
    /// # Safety
    ///
    /// As [`Request::statx`].
    pub unsafe fn statx_sync(self, buf: *mut sys::Statx, mask: u32, sync: i32) -> Self {
        self.step(sys::Step {
            opcode: sys::c::OP_STATX as u8,
            addr: buf as u64,
            len: std::mem::size_of::<sys::Statx>() as u64,
            arg: mask,
            op_flags: sync as u32,
            ..Default::default()
        })
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
        self.0.flags |= sys::c::IOCB_SHORT_OK as u32;
        self
    }

    /// The raw iocb.
    pub fn as_sys(&self) -> &sys::Iocb {
        &self.0
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

    /// The descriptor a KEEP step installed.
    pub fn kept_fd(&self) -> Option<RawFd> {
        (self.0.flags & sys::c::EV_FD as u32 != 0).then_some(self.0.fd)
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

/// A kaio context: one open of `/dev/kaio` with its mapped completion ring.
pub struct Context {
    file: File,
    ring: Ring,
    map_len: usize,
}

// SAFETY: The mapping is process memory; ring consumption needs `&mut`.
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
        Ok(Context { file, ring, map_len: s.ring_size as usize })
    }

    /// Submits requests; returns how many were accepted (the first one's
    /// error if none was). `EAGAIN` means the ring is full: reap first.
    pub fn submit(&self, reqs: &[Request]) -> io::Result<usize> {
        let mut s = sys::Submit { iocbs: reqs.as_ptr() as u64, nr: reqs.len() as u32, ..Default::default() };
        ioctl(self.file.as_raw_fd(), sys::c::IOC_SUBMIT, &mut s).map(|n| n as usize)
    }

    /// Reaps completed events from the mapped ring, without a system call.
    pub fn reap(&mut self) -> impl Iterator<Item = Event> + '_ {
        std::iter::from_fn(move || self.ring.pop())
    }

    /// Waits until at least `min` events are ready (or `timeout`), and
    /// returns up to `max`.
    pub fn wait(&self, min: u32, max: u32, timeout: Option<Duration>) -> io::Result<Vec<Event>> {
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
        Ok(out.into_iter().map(Event).collect())
    }

    /// Cancels the request with `user_data`; it completes with `ECANCELED`.
    pub fn cancel(&self, user_data: u64) -> io::Result<()> {
        let mut c = sys::Cancel { user_data, ..Default::default() };
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
        let mut buf = [0u8; 64];
        let mut st = std::mem::MaybeUninit::<sys::Statx>::uninit();
        let p = c"a/b.html";
        // SAFETY: Nothing is submitted: the pointers are only stored.
        let r = unsafe {
            Request::new(3)
                .open_in_root(9, p, libc::O_RDONLY, 0)
                .statx(st.as_mut_ptr(), libc::STATX_BASIC_STATS)
                .keep(true)
        };
        let i = r.as_sys();
        assert_eq!(i.nr_steps, 3);
        assert_eq!((i.steps[0].opcode as u64, i.steps[0].fd, i.steps[0].len), (sys::c::OP_OPEN, 9, sys::c::OPEN_IN_ROOT));
        assert_eq!(i.steps[0].addr, p.as_ptr() as u64);
        assert_eq!(i.steps[1].opcode as u64, sys::c::OP_STATX);
        assert_eq!((i.steps[1].addr, i.steps[1].len), (st.as_ptr() as u64, 256));
        assert_eq!((i.steps[1].arg, i.steps[1].op_flags), (libc::STATX_BASIC_STATS, 0));
        // SAFETY: As above.
        let s = unsafe { Request::new(4).fd(5).statx_sync(st.as_mut_ptr(), libc::STATX_SIZE, libc::AT_STATX_DONT_SYNC) };
        assert_eq!(s.as_sys().steps[1].op_flags, libc::AT_STATX_DONT_SYNC as u32);
        let r = Request::new(5).fd(7).send(6, hdr).send_more(sys::FD_CHAIN, b"x").sendfile(6, 10, 20).close();
        let i = r.as_sys();
        assert_eq!(i.steps[1].opcode as u64, sys::c::OP_SEND);
        assert_eq!((i.steps[1].fd, i.steps[1].addr, i.steps[1].len), (6, hdr.as_ptr() as u64, hdr.len() as u64));
        assert_eq!(i.steps[1].op_flags, 0);
        assert_eq!((i.steps[2].fd, i.steps[2].op_flags as u64), (-1, sys::c::SEND_MORE));
        assert_eq!(i.steps[3].opcode as u64, sys::c::OP_SENDFILE);
        // SAFETY: As above.
        let r = unsafe { Request::new(6).fd(8).recv(sys::FD_CHAIN, buf.as_mut_ptr(), buf.len()) };
        let i = r.as_sys();
        assert_eq!(i.steps[1].opcode as u64, sys::c::OP_RECV);
        assert_eq!((i.steps[1].fd, i.steps[1].addr, i.steps[1].len), (-1, buf.as_ptr() as u64, 64));
    }

    /// The ring consumer against memory laid out as the kernel's, across
    /// the 32-bit wrap of head and tail.
    #[test]
    fn ring_pop_and_wrap() {
        let entries = 4u32;
        let off = sys::c::RING_SIZE as usize;
        let mut mem = vec![0u64; (off + entries as usize * std::mem::size_of::<sys::Event>()) / 8];
        let base = mem.as_mut_ptr().cast::<u8>();
        // SAFETY: `mem` has the layout and outlives `ring`.
        let mut ring = unsafe { Ring::from_raw(base, off, entries) };
        let start = u32::MAX - 1;
        ring.word(sys::RING_HEAD).store(start, Ordering::Relaxed);
        ring.word(sys::RING_TAIL).store(start, Ordering::Relaxed);
        assert_eq!(ring.pop(), None);
        for k in 0..3u32 {
            let idx = start.wrapping_add(k);
            let slot = (idx & (entries - 1)) as usize;
            // SAFETY: the slot is inside `mem`.
            unsafe {
                base.add(off + slot * std::mem::size_of::<sys::Event>())
                    .cast::<sys::Event>()
                    .write(sys::Event { user_data: 100 + k as u64, ..Default::default() })
            };
            ring.word(sys::RING_TAIL).store(idx.wrapping_add(1), Ordering::Release);
        }
        assert_eq!(ring.ready(), 3);
        let got: Vec<u64> = std::iter::from_fn(|| ring.pop()).map(|e| e.user_data()).collect();
        assert_eq!(got, vec![100, 101, 102]);
        assert_eq!(ring.word(sys::RING_HEAD).load(Ordering::Relaxed), start.wrapping_add(3));
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
