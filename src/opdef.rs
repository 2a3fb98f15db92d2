// SPDX-License-Identifier: GPL-2.0

//! The opcode table: for each `KAIO_OP_*`, its prep (validation in the
//! submitter's context) and where it may stand in a chain; and [`Op`], a
//! prepared step, whose `issue` runs it from a worker.

use crate::{
    op_close, op_fsync, op_open, op_rw, op_sendfile,
    request::{Io, Outcome},
    shim::FileRef,
    uapi,
};
use kernel::prelude::*;

/// A prepared step.
pub(crate) enum Op {
    /// `KAIO_OP_OPEN`.
    Open(op_open::Open),
    /// `KAIO_OP_FD`: the file was taken at prep.
    Fd,
    /// `KAIO_OP_READ`.
    Read(op_rw::Rw),
    /// `KAIO_OP_WRITE`.
    Write(op_rw::Rw),
    /// `KAIO_OP_FSYNC`.
    Fsync(op_fsync::Fsync),
    /// `KAIO_OP_CLOSE`.
    Close,
    /// `KAIO_OP_KEEP`.
    Keep(op_close::Keep),
    /// `KAIO_OP_SENDFILE`.
    Sendfile(op_sendfile::Sendfile),
}

/// What prep of one chain has gathered so far.
#[derive(Default)]
pub(crate) struct Prep {
    /// The file of an FD step, known at submit.
    pub(crate) file: Option<FileRef>,
}

/// How an opcode is prepared and where it may appear.
pub(crate) struct OpDef {
    /// Validates a step in the submitter's context.
    pub(crate) prep: fn(&uapi::Step, &mut Prep) -> Result<Op>,
    /// Produces the chain's file: allowed, and required, as step 0 only.
    pub(crate) first: bool,
    /// Must be the last step.
    pub(crate) last: bool,
}

const fn def(
    prep: fn(&uapi::Step, &mut Prep) -> Result<Op>,
    first: bool,
    last: bool,
) -> Option<OpDef> {
    Some(OpDef { prep, first, last })
}

/// Indexed by opcode.
static OPS: [Option<OpDef>; 9] = [
    None,
    def(op_open::prep, true, false),
    def(op_open::prep_fd, true, false),
    def(op_rw::prep_read, false, false),
    def(op_rw::prep_write, false, false),
    def(op_fsync::prep, false, false),
    def(op_close::prep_close, false, true),
    def(op_close::prep_keep, false, true),
    def(op_sendfile::prep, false, false),
];

/// The definition of `opcode`; `EINVAL` if there is none.
pub(crate) fn lookup(opcode: u8) -> Result<&'static OpDef> {
    OPS.get(opcode as usize)
        .and_then(Option::as_ref)
        .ok_or(EINVAL)
}

impl Op {
    /// Runs (or continues) the step from a worker.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        match self {
            Op::Open(o) => o.issue(io),
            Op::Fd => Outcome::Done(0),
            Op::Read(rw) => rw.issue_read(io),
            Op::Write(rw) => rw.issue_write(io),
            Op::Fsync(f) => f.issue(io),
            Op::Close => op_close::issue_close(io),
            Op::Keep(_) => Outcome::Done(0),
            Op::Sendfile(sf) => sf.issue(io),
        }
    }

    /// Bytes a transfer step moved so far (reported if it is cancelled).
    pub(crate) fn progress(&self) -> i64 {
        match self {
            Op::Read(rw) | Op::Write(rw) => rw.progress(),
            Op::Sendfile(sf) => sf.progress(),
            _ => 0,
        }
    }

    /// Whether the step touches user memory (needs the owner's mm).
    pub(crate) fn needs_mm(&self) -> bool {
        matches!(self, Op::Read(_) | Op::Write(_))
    }
}
