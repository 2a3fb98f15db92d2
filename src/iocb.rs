// SPDX-License-Identifier: GPL-2.0

//! Parsing and validation of a `struct kaio_iocb`, in the submitter's
//! context: every field is checked, reserved fields must be zero, and each
//! step is prepared by its opcode's prep (see `opdef`). Nothing here waits
//! for the disk or walks a path.

use crate::{
    opdef::{self, Op, Prep},
    shim::{Cred, EventFd, FileRef},
    uapi,
};
use core::mem::size_of;
use kernel::{prelude::*, uaccess::UserSlice};

/// A validated chain, ready to become a request.
pub(crate) struct Chain {
    pub(crate) user_data: u64,
    pub(crate) flags: u32,
    pub(crate) ops: KVec<Op>,
    /// The FD step's file, if the chain starts with one.
    pub(crate) file: Option<FileRef>,
    /// The submitter's credentials.
    pub(crate) cred: Cred,
    /// `KAIO_IOCB_RESFD`: the eventfd signalled after the completion.
    pub(crate) resfd: Option<EventFd>,
    /// Bytes allocated for the chain beyond the request itself.
    pub(crate) bytes: usize,
}

/// Reads the iocb at user address `addr` and prepares its steps.
///
/// Errors: `EFAULT` if unreadable; `EINVAL` for an unknown flag or opcode,
/// a non-zero reserved field, 0 or more than `KAIO_MAX_STEPS` steps, a
/// chain that does not start with OPEN or FD, OPEN/FD after the first step,
/// or CLOSE/KEEP before the last; then each opcode's own errors.
pub(crate) fn prep(addr: usize) -> Result<Chain> {
    let mut r = UserSlice::new(addr, size_of::<uapi::Iocb>()).reader();
    let head: uapi::IocbHead = r.read()?;
    if head.flags & !uapi::IOCB_FLAGS != 0
        || head.reserved0 != 0
        || head.reserved1 != 0
        || head.reserved2 != 0
        || (head.flags & uapi::IOCB_RESFD == 0 && head.resfd != 0)
    {
        return Err(EINVAL);
    }
    let nr = head.nr_steps as usize;
    if nr == 0 || nr > uapi::MAX_STEPS {
        return Err(EINVAL);
    }
    let mut p = Prep::default();
    let mut ops = KVec::with_capacity(nr, GFP_KERNEL_ACCOUNT)?;
    let mut bytes = nr * size_of::<Op>();
    for i in 0..nr {
        let s: uapi::Step = r.read()?;
        if s.reserved0 != 0 || s.reserved1 != 0 || s.reserved2 != 0 {
            return Err(EINVAL);
        }
        let def = opdef::lookup(s.opcode)?;
        if def.first != (i == 0) || (def.last && i != nr - 1) {
            return Err(EINVAL);
        }
        let op = (def.prep)(&s, &mut p)?;
        match &op {
            Op::Open(o) => bytes += o.path_bytes(),
            Op::Read(rw) | Op::Write(rw) => bytes += rw.bytes(),
            Op::Send(s) => bytes += s.bytes(),
            _ => {}
        }
        ops.push(op, GFP_KERNEL_ACCOUNT)?;
    }
    Op::link_sends(&mut ops, p.file.as_ref());
    // Taken last: an invalid step fails the iocb before the eventfd is
    // looked up (EBADF or EINVAL for a descriptor that is not an eventfd).
    let resfd = if head.flags & uapi::IOCB_RESFD != 0 {
        Some(EventFd::fdget(head.resfd)?)
    } else {
        None
    };
    Ok(Chain {
        resfd,
        user_data: head.user_data,
        flags: head.flags,
        ops,
        file: p.file,
        cred: Cred::current(),
        bytes,
    })
}
