// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_FSYNC`: fsync(2) or fdatasync(2) of the chain's file.

use crate::{
    opdef::{Io, Op, Outcome, Prep},
    uapi,
};
use kernel::prelude::*;

/// A prepared FSYNC.
pub(crate) struct Fsync {
    datasync: bool,
}

/// Prep of FSYNC.
pub(crate) fn prep(s: &uapi::Step, _p: &mut Prep) -> Result<Op> {
    if s.fd != 0 || s.addr != 0 || s.len != 0 || s.offset != 0 || s.arg != 0 {
        return Err(EINVAL);
    }
    if s.op_flags & !uapi::FSYNC_DATASYNC != 0 {
        return Err(EINVAL);
    }
    Ok(Op::Fsync(Fsync {
        datasync: s.op_flags & uapi::FSYNC_DATASYNC != 0,
    }))
}

impl Fsync {
    /// Flushes the file; a worker may sleep here as long as the disk needs.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        if io.inline() {
            return Outcome::Block;
        }
        let Some(file) = io.file.as_ref() else {
            return Outcome::Failed(EBADF);
        };
        match file.fsync(self.datasync) {
            Ok(()) => Outcome::Done(0),
            Err(e) => Outcome::Failed(e),
        }
    }
}
