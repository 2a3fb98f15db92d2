// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_READ` and `KAIO_OP_WRITE`, and their vectored forms
//! `KAIO_OP_READV` and `KAIO_OP_WRITEV` (whose iovec array is copied at
//! SUBMIT): transfers between the chain's file and the submitter's memory,
//! in a worker of the submitting process.
//!
//! A READ of a regular file never makes a worker wait for the disk when
//! the file system supports it (ext4, and any file with
//! `FOP_BUFFER_RASYNC`): data in the page cache is copied at once; for data
//! being read, the worker arms a page wait entry and leaves. The block
//! layer's completion (bio end_io, in interrupt context) unlocks the folio,
//! which only makes the request ready again; the worker then copies the
//! data. Transfers go in chunks of at most [`CHUNK`] bytes, so a cancel is
//! seen between chunks.
//!
//! Pipes, FIFOs, sockets and ttys never block a worker either: a transfer
//! is tried without waiting, and parks on the file's wait queue (as poll
//! does) until it is ready. A READ of such a stream ends as read(2) does,
//! with the first bytes that arrive (0 at end of stream: a short
//! transfer); a WRITE goes on until every byte is written.
//!
//! With `KAIO_RW_NOWAIT` (RWF_NOWAIT), a transfer never waits, not even in
//! a worker: what would block ends the step with the bytes so far, or
//! `EAGAIN`.
//!
//! Inline at SUBMIT, a READ copies what is cached (`IOCB_NOWAIT`) and a
//! stream READ runs as above; the rest of a READ, and every WRITE (a file
//! may wait; a stream may raise SIGPIPE), go on in a worker.

use crate::{
    file_io::UserBuf,
    opdef::{Io, Op, Outcome, Prep, QUEUED},
    shim::{self, poll, IoMode},
    stats::{self, Stat},
    uapi,
};
use kernel::{bindings, prelude::*};

/// Largest transfer between two cancellation points.
const CHUNK: u64 = 1 << 20;

/// Largest transfer in one call inline at SUBMIT (a copy of cached data
/// stays within a few microseconds).
const INLINE_CHUNK: u64 = 64 << 10;

/// A prepared READ, WRITE, READV or WRITEV.
pub(crate) struct Rw {
    buf: UserBuf,
    len: u64,
    off: i64,
    /// Bytes transferred so far.
    done: u64,
    /// The file was checked for the transfer (mode, type).
    checked: bool,
    /// Reads may wait for the page cache without a thread.
    async_read: bool,
    /// A pipe, FIFO, socket or tty.
    stream: bool,
    /// `KAIO_RW_NOWAIT`: never wait, even in a worker.
    nowait: bool,
    /// Opened with `O_DIRECT`: even without waiting for locks, a read
    /// waits for its own I/O.
    o_direct: bool,
}

const EAGAIN: isize = -(bindings::EAGAIN as isize);
const EAGAIN_ERR: Error = kernel::error::code::EAGAIN;

fn prep(s: &uapi::Step, p: &Prep, write: bool, vector: bool) -> Result<Rw> {
    if s.fd != 0 || s.op_flags & !uapi::RW_NOWAIT != 0 || s.arg != 0 || s.offset < 0 {
        return Err(EINVAL);
    }
    let (buf, len) = if vector {
        UserBuf::from_iovecs(s.addr, s.len)?
    } else {
        if s.len > isize::MAX as u64 {
            return Err(EINVAL);
        }
        if s.len > 0 && (s.addr == 0 || !shim::access_ok(s.addr, s.len)) {
            return Err(EFAULT);
        }
        (UserBuf::Flat(s.addr), s.len)
    };
    if s.offset.checked_add(len as i64).is_none() {
        return Err(EINVAL);
    }
    let mut rw = Rw {
        buf,
        len,
        off: s.offset,
        done: 0,
        checked: false,
        async_read: false,
        stream: false,
        nowait: s.op_flags & uapi::RW_NOWAIT != 0,
        o_direct: false,
    };
    if let Some(f) = &p.file {
        rw.check(f, write)?;
    }
    Ok(rw)
}

/// Prep of READ.
pub(crate) fn prep_read(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    Ok(Op::Read(prep(s, p, false, false)?))
}

/// Prep of WRITE.
pub(crate) fn prep_write(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    Ok(Op::Write(prep(s, p, true, false)?))
}

/// Prep of READV.
pub(crate) fn prep_readv(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    Ok(Op::Read(prep(s, p, false, true)?))
}

/// Prep of WRITEV.
pub(crate) fn prep_writev(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    Ok(Op::Write(prep(s, p, true, true)?))
}

impl Rw {
    /// Bytes held beyond the request (the iovecs), for the memory charge.
    pub(crate) fn bytes(&self) -> usize {
        self.buf.bytes()
    }

    /// As read(2)/write(2) would: `EISDIR` for a directory, `EBADF` for a
    /// file not open for the transfer; as preadv2(2) with RWF_NOWAIT,
    /// `EOPNOTSUPP` for a file that cannot fail instead of blocking.
    fn check(&mut self, f: &shim::FileRef, write: bool) -> Result {
        let caps = f.caps();
        if caps.is_dir() {
            return Err(EISDIR);
        }
        if !(if write {
            caps.writable()
        } else {
            caps.readable()
        }) {
            return Err(EBADF);
        }
        // As preadv2(2)/pwritev2(2): RWF_NOWAIT needs FMODE_NOWAIT and an
        // iterator method (a plain ->read or ->write cannot be told).
        let iter = if write {
            caps.write_iter()
        } else {
            caps.read_iter()
        };
        if self.nowait && !(caps.nowait() && iter) {
            return Err(Error::from_errno(-(bindings::EOPNOTSUPP as i32)));
        }
        self.o_direct = caps.o_direct();
        self.async_read = caps.async_read();
        self.stream = caps.stream();
        self.checked = true;
        Ok(())
    }

    /// Where the next chunk goes: `offset` plus the bytes so far; 0 for
    /// a stream (which has no position: a socket refuses any other).
    fn pos(&self) -> i64 {
        if self.stream {
            0
        } else {
            self.off.saturating_add(self.done as i64)
        }
    }

    /// Bytes transferred so far.
    pub(crate) fn progress(&self) -> i64 {
        self.done as i64
    }

    /// With `KAIO_RW_NOWAIT`, the outcome of a transfer that would block.
    fn would_block(&self) -> Outcome {
        if self.done > 0 {
            Outcome::Short(self.done as i64)
        } else {
            Outcome::Failed(EAGAIN_ERR)
        }
    }

    /// The outcome of a transfer call that returned `n`.
    fn account(&mut self, n: isize, stat: Stat) -> Outcome {
        if n > 0 {
            self.done += n as u64;
            stats::add(stat, n as u64);
            return Outcome::Again;
        }
        if n == 0 {
            // End of file (or of the device).
            return Outcome::Short(self.done as i64);
        }
        // An error, even after some bytes: the runner reports the bytes
        // as the result and the error as the event's `error`.
        Outcome::Failed(Error::from_errno(n as i32))
    }

    /// Common start of a transfer step: the length of the next chunk, or
    /// the step's outcome.
    fn begin(&mut self, io: &mut Io<'_>, write: bool) -> core::result::Result<u64, Outcome> {
        io.unpark();
        let Some(f) = io.file.as_ref() else {
            return Err(Outcome::Failed(EBADF));
        };
        if !self.checked {
            if let Err(e) = self.check(f, write) {
                return Err(Outcome::Failed(e));
            }
        }
        if self.done == self.len {
            return Err(Outcome::Done(self.done as i64));
        }
        let max = if io.inline() { INLINE_CHUNK } else { CHUNK };
        Ok((self.len - self.done).min(max))
    }

    /// Reads the next chunk, or parks until the file has data.
    pub(crate) fn issue_read(&mut self, io: &mut Io<'_>) -> Outcome {
        let chunk = match self.begin(io, false) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let pos = self.pos();
        let (buf, at) = (&self.buf, self.done);
        let Some(f) = io.file.as_ref() else {
            return Outcome::Failed(EBADF);
        };
        if self.nowait {
            // An O_DIRECT read with IOCB_NOWAIT still waits for its I/O:
            // that wait is a worker's, never the submitter's.
            if self.o_direct && io.inline() {
                return Outcome::Block;
            }
            let n = f.read(pos, buf, at, chunk as usize, IoMode::NoWait, None);
            if n == EAGAIN {
                return self.would_block();
            }
            return match self.account(n, Stat::BytesRead) {
                Outcome::Again if self.stream => Outcome::Done(self.done as i64),
                o => o,
            };
        }
        if self.stream {
            let n = f.read(pos, buf, at, chunk as usize, IoMode::NoWait, None);
            if n == EAGAIN {
                return if io.park_file(poll::IN) {
                    Outcome::Parked
                } else {
                    Outcome::Again
                };
            }
            return match self.account(n, Stat::BytesRead) {
                // As read(2): the first bytes that arrive end the step.
                Outcome::Again => Outcome::Done(self.done as i64),
                o => o,
            };
        }
        if io.inline() {
            // First what is cached, without even a lock that could wait
            // (IOCB_NOWAIT: XFS's iolock, a folio being read).
            if !self.async_read {
                return Outcome::Block;
            }
            let n = f.read(pos, buf, at, chunk as usize, IoMode::NoWait, None);
            if n != EAGAIN {
                return self.account(n, Stat::BytesRead);
            }
            // A miss. The attempt started the read of the missing folios
            // (filemap_get_pages reads ahead even for IOCB_NOWAIT): arm
            // their wait entry here, as io_uring retries with IOCB_WAITQ,
            // so the wake-up, not a worker, is the next hop. The bytes are
            // copied by a worker once the folio is up to date. Like
            // io_uring's submitter, this retry may wait for a lock the
            // first attempt only tried: the mapping's invalidate lock
            // (held across a truncate or hole punch) or XFS's inode lock,
            // never for the disk.
            let n = io.read_nowait(pos, buf, at, chunk as usize);
            return match n {
                QUEUED => Outcome::Parked,
                EAGAIN => Outcome::Block,
                n => self.account(n, Stat::BytesRead),
            };
        }
        let mut n = EAGAIN;
        if self.async_read {
            n = io.read_nowait(pos, buf, at, chunk as usize);
            if n == QUEUED {
                return Outcome::Parked;
            }
        }
        if n == EAGAIN {
            // No way around the disk for this file: the worker waits.
            stats::add(Stat::WorkerDiskWaits, 1);
            n = match io.file.as_ref() {
                Some(f) => f.read(pos, buf, at, chunk as usize, IoMode::Block, None),
                None => -(bindings::EBADF as isize),
            };
        }
        self.account(n, Stat::BytesRead)
    }

    /// Writes the next chunk (a stream parks while it is full).
    pub(crate) fn issue_write(&mut self, io: &mut Io<'_>) -> Outcome {
        let chunk = match self.begin(io, true) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let Some(f) = io.file.as_ref() else {
            return Outcome::Failed(EBADF);
        };
        if io.inline() {
            // A write to a file may wait for the journal, writeback or the
            // disk; one to a pipe or socket whose reader is gone raises
            // SIGPIPE in the writing thread, which must be a worker (it
            // blocks the signal), never the submitter.
            return Outcome::Block;
        }
        let mode = if self.stream || self.nowait {
            IoMode::NoWait
        } else {
            IoMode::Block
        };
        let n = f.write(self.pos(), &self.buf, self.done, chunk as usize, mode);
        if n == EAGAIN && self.nowait {
            return self.would_block();
        }
        if n == EAGAIN && self.stream {
            return if io.park_file(poll::OUT) {
                Outcome::Parked
            } else {
                Outcome::Again
            };
        }
        self.account(n, Stat::BytesWritten)
    }
}
