// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_SENDFILE`: the sendfile state machine, file to socket (or pipe,
//! or regular file) with no copy and no thread waiting.
//!
//! Each run of the step moves at most one window:
//!
//! - *cached*: the window's folios are in the page cache: they are sent as
//!   they are (`MSG_SPLICE_PAGES` with a bvec iterator, the socket takes its
//!   own page references), and readahead of the next window is started so
//!   that it is read while this one is on the wire.
//! - *fill*: the folio at the position is not cached: a non-waiting read
//!   into a discard iterator starts the I/O and arms a folio wait entry; the
//!   request parks. The block layer's completion (bio end_io, interrupt
//!   context) calls the wake-up, which only requeues the request.
//! - *NOCACHE*: windows are read with direct I/O into private pages, never
//!   entering the page cache; the direct read's completion (again bio
//!   end_io) requeues the request, which then sends from those pages. Fresh
//!   pages are used for each window, as the socket may still hold the last.
//! - *out full*: the socket or pipe would block: the request parks on its
//!   wait queue (as poll does) and the write-space wake-up requeues it.
//!
//! Errors: a peer that closed or reset gives `EPIPE` or `ECONNRESET`
//! (never a SIGPIPE to anyone); a read error `EIO`; a file truncated during
//! the transfer ends at the new end of file with the short count.

use crate::{
    opdef::{Op, Prep},
    request::{Io, Outcome},
    shim::{self, FileRef, OutKind, Param},
    stats::{self, Stat},
    uapi,
};
use kernel::{bindings, prelude::*};

const PAGE: u64 = bindings::PAGE_SIZE as u64;

/// Largest window a request may ask for, in pages.
pub(crate) const MAX_WINDOW: u32 = 1024;

/// A prepared SENDFILE.
pub(crate) struct Sendfile {
    out: FileRef,
    kind: OutKind,
    off: i64,
    /// Bytes to send; 0 sends to the end of the file.
    len: u64,
    /// Bytes sent so far.
    done: u64,
    /// Window size in bytes.
    window: u64,
    /// Read cold data with direct I/O instead of through the page cache.
    pub(crate) nocache: bool,
    /// Readahead was started up to this file offset.
    prefetched: i64,
    /// A direct read is (or was) in flight; collect its result.
    dio_pending: bool,
    /// The input file was checked.
    checked: bool,
}

/// Prep of SENDFILE: takes the output file now, as sendfile(2) would.
pub(crate) fn prep(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    if s.addr != 0 || s.op_flags & !uapi::SENDFILE_NOCACHE != 0 || s.arg > MAX_WINDOW {
        return Err(EINVAL);
    }
    if s.offset < 0 || s.len > i64::MAX as u64 || s.offset.checked_add(s.len as i64).is_none() {
        return Err(EINVAL);
    }
    let out = FileRef::fget(s.fd)?;
    let kind = out.out_kind()?;
    if let Some(f) = &p.file {
        check_input(f)?;
    }
    let pages = if s.arg == 0 {
        shim::param(Param::SendfileWindow) as u32
    } else {
        s.arg
    };
    Ok(Op::Sendfile(Sendfile {
        out,
        kind,
        off: s.offset,
        len: s.len,
        done: 0,
        window: u64::from(pages) * PAGE,
        nocache: s.op_flags & uapi::SENDFILE_NOCACHE != 0,
        prefetched: s.offset,
        dio_pending: false,
        checked: false,
    }))
}

/// The input must be a regular file open for reading (as sendfile(2)).
fn check_input(f: &FileRef) -> Result {
    let caps = f.caps();
    if caps.is_dir() {
        return Err(EISDIR);
    }
    if !caps.readable() {
        return Err(EBADF);
    }
    if !caps.is_reg() {
        return Err(EINVAL);
    }
    Ok(())
}

impl Sendfile {
    /// Window pages, for the request's [`shim::Sf`].
    pub(crate) fn window_pages(&self) -> u32 {
        (self.window / PAGE) as u32
    }

    /// Bytes sent so far.
    pub(crate) fn progress(&self) -> i64 {
        self.done as i64
    }

    /// End of file reached: done when sending to EOF, else short.
    fn eof(&self) -> Outcome {
        if self.len == 0 {
            Outcome::Done(self.done as i64)
        } else {
            Outcome::Short(self.done as i64)
        }
    }

    fn sent(&mut self, n: isize) -> Outcome {
        self.done += n as u64;
        stats::add(Stat::BytesSent, n as u64);
        Outcome::Again
    }

    /// Runs the state machine for at most one window.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        io.sf_disarm();
        let Some(inf) = io.file.as_ref() else {
            return Outcome::Failed(EBADF);
        };
        if !self.checked {
            if let Err(e) = check_input(inf) {
                return Outcome::Failed(e);
            }
            self.checked = true;
        }
        if self.len != 0 && self.done >= self.len {
            return Outcome::Done(self.done as i64);
        }
        let pos = self.off + self.done as i64;
        let want = if self.len == 0 {
            self.window
        } else {
            (self.len - self.done).min(self.window)
        } as usize;
        if self.nocache {
            return self.issue_nocache(io, pos, want);
        }
        // Once the first window is out, keep one window of readahead in
        // flight beyond this one (a file smaller than a window never needs
        // it: reading its first window already read ahead).
        let ahead = pos + self.window as i64;
        if self.done > 0 && self.prefetched < ahead + self.window as i64 {
            let from = self.prefetched.max(ahead);
            inf.prefetch(from, self.window as usize);
            self.prefetched = from + self.window as i64;
        }
        let Some(sf) = io.sf else {
            return Outcome::Failed(EINVAL);
        };
        let n = sf.send_cached(inf, pos, want, &self.out, self.kind);
        if n > 0 {
            stats::add(Stat::SendfileChunksCached, 1);
            return self.sent(n);
        }
        match n {
            0 => self.eof(),
            n if n == -(bindings::ENODATA as isize) => self.fill(io, pos, want),
            n if n == -(bindings::EAGAIN as isize) => self.park_out(io),
            n => Outcome::Failed(Error::from_errno(n as i32)),
        }
    }

    /// Reads the window at `pos` into the page cache without waiting.
    fn fill(&mut self, io: &mut Io<'_>, pos: i64, want: usize) -> Outcome {
        stats::add(Stat::SendfileChunksDisk, 1);
        let mut r = io.fill_nowait(pos, want);
        if r == -(bindings::EIOCBQUEUED as isize) {
            return Outcome::Parked;
        }
        if r == -(bindings::EAGAIN as isize) {
            stats::add(Stat::WorkerDiskWaits, 1);
            r = match io.file.as_ref() {
                Some(f) => f.fill(pos, want, None),
                None => -(bindings::EBADF as isize),
            };
        }
        match r {
            0 => self.eof(),
            r if r > 0 => Outcome::Again,
            r => Outcome::Failed(Error::from_errno(r as i32)),
        }
    }

    /// The output is full: park until it has room.
    fn park_out(&mut self, io: &mut Io<'_>) -> Outcome {
        if io.park_out(&self.out) {
            stats::add(Stat::SendfileOutParks, 1);
            Outcome::Parked
        } else {
            Outcome::Again
        }
    }

    /// NOCACHE: send from the private window, or read the next one.
    fn issue_nocache(&mut self, io: &mut Io<'_>, pos: i64, want: usize) -> Outcome {
        let Some(sf) = io.sf else {
            return Outcome::Failed(EINVAL);
        };
        if self.dio_pending {
            self.dio_pending = false;
            let r = sf.dio_result();
            if r < 0 {
                return Outcome::Failed(Error::from_errno(r as i32));
            }
        }
        let (wpos, wlen) = sf.window();
        if wlen > 0 && pos >= wpos && pos < wpos + wlen as i64 {
            let n = sf.send_private(pos, want, &self.out, self.kind);
            return match n {
                n if n > 0 => self.sent(n),
                n if n == -(bindings::EAGAIN as isize) => self.park_out(io),
                0 => self.eof(),
                n => Outcome::Failed(Error::from_errno(n as i32)),
            };
        }
        if wlen > 0 && pos >= wpos && wlen < self.window as usize {
            // The last window was short: end of file.
            return self.eof();
        }
        // Read the window holding `pos`, page aligned, into fresh pages.
        let apos = pos & !(PAGE as i64 - 1);
        let alen = ((pos - apos) as u64 + want as u64).div_ceil(PAGE) * PAGE;
        stats::add(Stat::SendfileChunksDisk, 1);
        match io.dio(apos, alen.min(self.window) as usize) {
            r if r == -(bindings::EIOCBQUEUED as isize) => {
                self.dio_pending = true;
                Outcome::Parked
            }
            r if r < 0 => Outcome::Failed(Error::from_errno(r as i32)),
            _ => {
                let (wpos, wlen) = (apos, sf.dio_result().max(0) as usize);
                if pos >= wpos + wlen as i64 {
                    self.eof()
                } else {
                    Outcome::Again
                }
            }
        }
    }
}
