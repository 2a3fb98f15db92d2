// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_STATX`: the chain's file's attributes, as statx(2) on it, into
//! a user buffer, so that a server can build its header (size, mtime)
//! without a blocking stat of its own.
//!
//! Inline at SUBMIT when the file system answers from memory (a local one,
//! without `AT_STATX_FORCE_SYNC`); otherwise in a worker. Either way the
//! ids are mapped into the submitter's user namespace, as statx(2) does.

use crate::{
    opdef::{Io, Op, Outcome, Prep},
    shim, uapi,
};
use kernel::{bindings, prelude::*};

/// A prepared STATX.
pub(crate) struct Statx {
    buf: u64,
    mask: u32,
    flags: u32,
}

/// Prep of STATX: `addr` a `struct statx`, `len` its size, `arg` the
/// mask (`EINVAL` for `STATX__RESERVED`), `op_flags` the sync type.
pub(crate) fn prep(s: &uapi::Step, _p: &mut Prep) -> Result<Op> {
    let size = core::mem::size_of::<bindings::statx>() as u64;
    let sync = bindings::AT_STATX_SYNC_TYPE;
    if s.fd != 0
        || s.offset != 0
        || s.len != size
        || s.op_flags & !sync != 0
        || s.op_flags & sync == sync
        || s.arg & bindings::STATX__RESERVED != 0
    {
        return Err(EINVAL);
    }
    if s.addr == 0 || !shim::access_ok(s.addr, size) {
        return Err(EFAULT);
    }
    Ok(Op::Statx(Statx {
        buf: s.addr,
        mask: s.arg,
        flags: s.op_flags,
    }))
}

impl Statx {
    /// Fills the user's `struct statx`.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        let Some(f) = io.file.as_ref() else {
            return Outcome::Failed(EBADF);
        };
        if io.inline() && !f.statx_nowait(self.flags) {
            return Outcome::Block;
        }
        match f.statx(self.mask, self.flags, self.buf) {
            Ok(()) => Outcome::Done(0),
            Err(e) => Outcome::Failed(e),
        }
    }
}
