// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_SENDFILE`: the sendfile state machine, file to socket (or pipe,
//! or regular file) with no copy and no thread waiting.
//!
//! Each step owns its state: a chain may hold several SENDFILEs, each with
//! its own output, window and mode. Each run of the step moves at most one
//! window:
//!
//! - *cached*: the window's folios are in the page cache: they are sent as
//!   they are (`MSG_SPLICE_PAGES` with a bvec iterator built on the stack,
//!   the socket takes its own page references), and readahead of the next
//!   window is started so that it is read while this one is on the wire.
//!   The read's permission hook and access notification run as for
//!   sendfile(2).
//! - *fill*: the folio at the position is not cached: a non-waiting read
//!   into a discard iterator starts the I/O and arms a folio wait entry; the
//!   request parks. The block layer's completion (bio end_io, interrupt
//!   context) only makes the request ready again.
//! - *direct* (NOCACHE, or an input opened `O_DIRECT`): windows are read
//!   with direct I/O into private pages, never entering the page cache; the
//!   direct read's completion (bio end_io) makes the request ready, which
//!   then sends from those pages. Fresh pages are used for each window, as
//!   the socket may still hold the last. NOCACHE needs a file system with
//!   direct I/O (`EINVAL` otherwise, at prep when the file is known).
//! - *copy*: a file whose data never enters the page cache (tmpfs holes,
//!   sysfs): the window is copied into private pages and sent from there.
//! - *out full*: the socket or pipe would block: the request parks on its
//!   wait queues (see `park.rs`) and the write-space wake-up, or a cancel,
//!   makes it ready.
//!
//! Inline at SUBMIT (see `request.rs`), cached windows are sent to a
//! socket and a full socket parks; misses, private windows, pipes and
//! files go on in a worker.
//!
//! A request reads from the disk only while it holds one of its
//! context's disk streams (`disk.rs`): files finish in submission order,
//! a few at a time, as the disk allows.
//!
//! Errors: a peer that closed or reset gives `EPIPE` or `ECONNRESET`
//! (never a SIGPIPE to anyone); a read error `EIO`; a file truncated during
//! the transfer ends at the new end of file with the short count.

use crate::{
    limits::Charge,
    opdef::{Io, Op, Outcome, Prep, QUEUED},
    shim::{self, poll, FileCaps, FileRef, OutKind, Param, Sf},
    stats::{self, Stat},
    uapi,
};
use kernel::{bindings, prelude::*};

const PAGE: u64 = bindings::PAGE_SIZE as u64;

/// Largest window a request may ask for, in pages.
pub(crate) const MAX_WINDOW: u32 = 1024;

/// Where the bytes come from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// Not decided: the input is checked at the first run.
    Unchecked,
    /// The page cache.
    Cache,
    /// Direct reads into private pages.
    Direct,
    /// Buffered copies into private pages.
    Copy,
}

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
    /// NOCACHE was asked for.
    nocache: bool,
    source: Source,
    /// The private window (direct or copy), allocated when first needed,
    /// and its pages counted against `max_memory`.
    sf: Option<(Sf, Charge)>,
    /// Readahead was started up to this file offset.
    prefetched: i64,
    /// A direct read is in flight (or completed): collect its result.
    dio_pending: bool,
    /// A fill at this offset completed without the data becoming cached.
    filled_at: Option<i64>,
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
    let nocache = s.op_flags & uapi::SENDFILE_NOCACHE != 0;
    if let Some(f) = &p.file {
        check_input(f.caps(), nocache)?;
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
        nocache,
        source: Source::Unchecked,
        sf: None,
        prefetched: s.offset,
        dio_pending: false,
        filled_at: None,
    }))
}

/// The input must be a regular file open for reading (as sendfile(2));
/// NOCACHE needs direct I/O. Returns where the bytes will come from.
fn check_input(caps: FileCaps, nocache: bool) -> Result<Source> {
    if caps.is_dir() {
        return Err(EISDIR);
    }
    if !caps.readable() {
        return Err(EBADF);
    }
    if !caps.is_reg() || (nocache && !caps.can_direct()) {
        return Err(EINVAL);
    }
    Ok(if nocache || caps.o_direct() {
        Source::Direct
    } else {
        Source::Cache
    })
}

impl Sendfile {
    /// The output.
    pub(crate) fn output(&self) -> &FileRef {
        &self.out
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

    /// A failed send or read ends the step with its error (the count so
    /// far is what a cancel would report; see kaio(7)).
    fn failed(&self, n: isize) -> Outcome {
        Outcome::Failed(Error::from_errno(n as i32))
    }

    /// Runs the state machine for at most one window.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        io.unpark();
        let Some(inf) = io.file.as_ref() else {
            return Outcome::Failed(EBADF);
        };
        if self.source == Source::Unchecked {
            match check_input(inf.caps(), self.nocache) {
                Ok(s) => self.source = s,
                Err(e) => return Outcome::Failed(e),
            }
        }
        if self.len != 0 && self.done >= self.len {
            return Outcome::Done(self.done as i64);
        }
        let pos = self.off.saturating_add(self.done as i64);
        let want = if self.len == 0 {
            self.window
        } else {
            (self.len - self.done).min(self.window)
        } as usize;
        if io.inline() && (self.source != Source::Cache || !self.kind.is_socket()) {
            // Private windows are read by a worker; files may wait, and a
            // pipe whose reader is gone raises SIGPIPE in the writing
            // thread (a worker blocks it; the submitter must not get it).
            return Outcome::Block;
        }
        if self.source != Source::Cache {
            return self.issue_window(io, pos, want);
        }
        // Once the first window is out, keep one window of readahead in
        // flight beyond this one (a file smaller than a window never needs
        // it: reading its first window already read ahead).
        // Positions near `i64::MAX` saturate: the file ends well before.
        let window = self.window as i64;
        let ahead = pos.saturating_add(window);
        if self.done > 0 && !io.inline() && self.prefetched < ahead.saturating_add(window) {
            let from = self.prefetched.max(ahead);
            inf.prefetch(from, self.window as usize);
            self.prefetched = from.saturating_add(window);
        }
        let n = inf.send_cached(pos, want, &self.out, self.kind);
        if n > 0 {
            stats::add(Stat::SendfileChunksCached, 1);
            return self.sent(n);
        }
        match n {
            0 => self.eof(),
            n if n == -(bindings::ENODATA as isize) => {
                if self.filled_at == Some(pos) {
                    // Read, yet not cached: this file's data does not live
                    // in the page cache. Copy it instead.
                    self.source = Source::Copy;
                    return Outcome::Again;
                }
                self.fill(io, pos, want)
            }
            n if n == -(bindings::EAGAIN as isize) => self.park_out(io),
            n => self.failed(n),
        }
    }

    /// Reads the window at `pos` into the page cache without waiting.
    fn fill(&mut self, io: &mut Io<'_>, pos: i64, want: usize) -> Outcome {
        if io.inline() {
            // Reading from the disk, and waiting for it, are the worker's.
            return Outcome::Block;
        }
        if !io.admit_disk() {
            return Outcome::Parked;
        }
        stats::add(Stat::SendfileChunksDisk, 1);
        // Parking on a folio lock is only safe where the file system ends
        // every read by itself (FOP_BUFFER_RASYNC); elsewhere (a FUSE
        // daemon that never answers) the worker waits, and CANCEL can
        // interrupt it.
        let async_read = io.file.as_ref().is_some_and(|f| f.caps().async_read());
        let mut r = if async_read {
            io.fill_nowait(pos, want)
        } else {
            -(bindings::EAGAIN as isize)
        };
        if r == QUEUED {
            return Outcome::Parked;
        }
        if r == -(bindings::EAGAIN as isize) && io.inline() {
            return Outcome::Block;
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
            r if r > 0 => {
                self.filled_at = Some(pos);
                Outcome::Again
            }
            r => self.failed(r),
        }
    }

    /// The output is full: park until it has room.
    fn park_out(&mut self, io: &mut Io<'_>) -> Outcome {
        // A slow reader must not hold one of the context's disk streams.
        io.pause_disk();
        if io.park_on(&self.out, poll::OUT) {
            stats::add(Stat::SendfileOutParks, 1);
            Outcome::Parked
        } else {
            Outcome::Again
        }
    }

    /// Direct or copy: send from the private window, or read the next one.
    fn issue_window(&mut self, io: &mut Io<'_>, pos: i64, want: usize) -> Outcome {
        if self.sf.is_none() {
            let pages = (self.window / PAGE) as u32;
            match Charge::new(self.window as usize).and_then(|c| Ok((Sf::new(pages)?, c))) {
                Ok(sf) => self.sf = Some(sf),
                Err(e) => return Outcome::Failed(e),
            }
        }
        let Some((sf, _)) = self.sf.as_ref() else {
            return Outcome::Failed(ENOMEM);
        };
        if self.dio_pending {
            self.dio_pending = false;
            let r = sf.result();
            if r < 0 {
                return self.failed(r);
            }
        }
        let (wpos, wlen) = sf.window();
        if wlen > 0 && pos >= wpos && pos < wpos.saturating_add(wlen as i64) {
            let n = sf.send(pos, want, &self.out, self.kind);
            return match n {
                n if n > 0 => self.sent(n),
                n if n == -(bindings::EAGAIN as isize) => self.park_out(io),
                0 => self.eof(),
                n => self.failed(n),
            };
        }
        if wlen > 0 && pos >= wpos && wlen < self.window as usize {
            // The last window was short: end of file.
            return self.eof();
        }
        if !io.admit_disk() {
            return Outcome::Parked;
        }
        // Read the window holding `pos`, page aligned, into fresh pages.
        let apos = pos & !(PAGE as i64 - 1);
        let alen = ((pos - apos) as u64 + want as u64).div_ceil(PAGE) * PAGE;
        stats::add(Stat::SendfileChunksDisk, 1);
        let direct = self.source == Source::Direct;
        match io.read_window(sf, apos, alen.min(self.window) as usize, direct) {
            QUEUED => {
                self.dio_pending = true;
                Outcome::Parked
            }
            r if r < 0 => self.failed(r),
            _ => {
                let wlen = sf.result().max(0) as usize;
                if pos >= apos.saturating_add(wlen as i64) {
                    self.eof()
                } else {
                    Outcome::Again
                }
            }
        }
    }
}
