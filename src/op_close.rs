// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_CLOSE` and `KAIO_OP_KEEP`: how a chain lets go of its file.
//!
//! CLOSE closes it in the worker (with the file system's flush). KEEP hands
//! it to the submitter: a kworker does not share the submitter's fd table,
//! so the request, once finished, asks the submitting task to install the
//! file itself (task_work), and the completion is published from there
//! with the new descriptor (see `Request::finish`).

use crate::{
    opdef::{Io, Op, Outcome, Prep},
    request::is_restart,
    uapi,
};
use kernel::prelude::*;

/// A prepared KEEP.
pub(crate) struct Keep {
    /// Install with `O_CLOEXEC`.
    pub(crate) cloexec: bool,
}

fn no_args(s: &uapi::Step) -> Result {
    if s.fd != 0 || s.addr != 0 || s.len != 0 || s.offset != 0 || s.arg != 0 {
        return Err(EINVAL);
    }
    Ok(())
}

/// Prep of CLOSE.
pub(crate) fn prep_close(s: &uapi::Step, _p: &mut Prep) -> Result<Op> {
    no_args(s)?;
    if s.op_flags != 0 {
        return Err(EINVAL);
    }
    Ok(Op::Close)
}

/// Prep of KEEP: only a file the chain opened can be kept (an FD step's
/// file is already in the table).
pub(crate) fn prep_keep(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    no_args(s)?;
    if s.op_flags & !uapi::KEEP_CLOEXEC != 0 || p.file.is_some() {
        return Err(EINVAL);
    }
    Ok(Op::Keep(Keep {
        cloexec: s.op_flags & uapi::KEEP_CLOEXEC != 0,
    }))
}

/// Closes the chain's file; the result is the flush's.
pub(crate) fn issue_close(io: &mut Io<'_>) -> Outcome {
    match io.file.take() {
        Some(f) => match f.close() {
            Ok(()) => Outcome::Done(0),
            // The file is closed whatever the flush said: a flush that a
            // signal interrupted is EINTR, as close(2) reports it, not a
            // step to run again (nor a chain that ran to its end).
            Err(e) if is_restart(e) => Outcome::Failed(EINTR),
            Err(e) => Outcome::Failed(e),
        },
        None => Outcome::Failed(EBADF),
    }
}
