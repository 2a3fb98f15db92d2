// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_READ` and `KAIO_OP_WRITE`: transfers between the chain's file
//! and the submitter's memory.
//!
//! A READ never makes a worker wait for the disk when the file system
//! supports it (ext4, and any file with `FOP_BUFFER_RASYNC`): data in the
//! page cache is copied at once; for data being read, the worker arms a
//! page wait entry and leaves. The block layer's completion (bio end_io, in
//! interrupt context) unlocks the folio, which runs the shim's wake
//! callback: it only hands the request back to the workqueue
//! (`request::read_wake`), and a worker, in the submitter's mm, copies the
//! data to the user buffer. Transfers go in chunks of at most
//! [`CHUNK`] bytes, so a cancel is seen between chunks.

use crate::{
    opdef::{Op, Prep},
    request::{Io, Outcome},
    shim,
    stats::{self, Stat},
    uapi,
};
use kernel::{bindings, prelude::*};

/// Largest transfer between two cancellation points.
const CHUNK: u64 = 1 << 20;

/// A prepared READ or WRITE.
pub(crate) struct Rw {
    buf: u64,
    len: u64,
    off: i64,
    /// Bytes transferred so far.
    done: u64,
    /// The file was checked for the transfer (mode, type).
    checked: bool,
    /// Reads may wait for the page cache without a thread.
    async_read: bool,
}

fn prep(s: &uapi::Step, p: &Prep, write: bool) -> Result<Rw> {
    if s.fd != 0 || s.op_flags != 0 || s.arg != 0 {
        return Err(EINVAL);
    }
    if s.offset < 0 || s.len > isize::MAX as u64 || s.offset.checked_add(s.len as i64).is_none() {
        return Err(EINVAL);
    }
    if s.len > 0 && (s.addr == 0 || !shim::access_ok(s.addr, s.len)) {
        return Err(EFAULT);
    }
    let mut rw = Rw {
        buf: s.addr,
        len: s.len,
        off: s.offset,
        done: 0,
        checked: false,
        async_read: false,
    };
    if let Some(f) = &p.file {
        rw.check(f, write)?;
    }
    Ok(rw)
}

/// Prep of READ.
pub(crate) fn prep_read(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    Ok(Op::Read(prep(s, p, false)?))
}

/// Prep of WRITE.
pub(crate) fn prep_write(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    Ok(Op::Write(prep(s, p, true)?))
}

impl Rw {
    /// As read(2)/write(2) would: `EISDIR` for a directory, `EBADF` for a
    /// file not open for the transfer.
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
        self.async_read = caps.async_read();
        self.checked = true;
        Ok(())
    }

    /// Bytes transferred so far.
    pub(crate) fn progress(&self) -> i64 {
        self.done as i64
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
        if self.done > 0 {
            Outcome::Short(self.done as i64)
        } else {
            Outcome::Failed(Error::from_errno(n as i32))
        }
    }

    /// Common start of a transfer step; `None` to go on with a chunk of the
    /// returned length.
    fn begin(&mut self, io: &mut Io<'_>, write: bool) -> core::result::Result<u64, Outcome> {
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
        if !io.mm_ok {
            return Err(Outcome::Failed(EFAULT));
        }
        Ok((self.len - self.done).min(CHUNK))
    }

    /// Reads the next chunk, or parks until the page cache has it.
    pub(crate) fn issue_read(&mut self, io: &mut Io<'_>) -> Outcome {
        let chunk = match self.begin(io, false) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let pos = self.off + self.done as i64;
        let buf = self.buf + self.done;
        let mut n = -(bindings::EAGAIN as isize);
        if self.async_read {
            n = io.read_nowait(pos, buf, chunk as usize);
            if n == -(bindings::EIOCBQUEUED as isize) {
                return Outcome::Parked;
            }
        }
        if n == -(bindings::EAGAIN as isize) {
            // No way around the disk for this file: a worker waits.
            stats::add(Stat::WorkerDiskWaits, 1);
            n = match io.file.as_ref() {
                Some(f) => f.read(pos, buf, chunk as usize, None),
                None => -(bindings::EBADF as isize),
            };
        }
        self.account(n, Stat::BytesRead)
    }

    /// Writes the next chunk (from a worker, which may sleep).
    pub(crate) fn issue_write(&mut self, io: &mut Io<'_>) -> Outcome {
        let chunk = match self.begin(io, true) {
            Ok(c) => c,
            Err(o) => return o,
        };
        let n = match io.file.as_ref() {
            Some(f) => f.write(
                self.off + self.done as i64,
                self.buf + self.done,
                chunk as usize,
            ),
            None => -(bindings::EBADF as isize),
        };
        self.account(n, Stat::BytesWritten)
    }
}
