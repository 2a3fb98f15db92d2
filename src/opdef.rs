// SPDX-License-Identifier: GPL-2.0

//! The opcode table: for each `KAIO_OP_*`, its prep (validation in the
//! submitter's context) and where it may stand in a chain; [`Op`], a
//! prepared step, whose `issue` runs it in a worker of the submitting
//! process; and [`Io`], what a step sees of its request while it runs.

use crate::{
    file_io::UserBuf,
    op_close, op_fsync, op_open, op_rw, op_sendfile, op_socket, op_statx,
    park::Lent,
    request::Request,
    shim::{FileRef, IoMode, PollEntries, Sf, WaitQ},
    stats::{self, Stat},
    uapi,
};
use core::ffi::c_void;
use kernel::{bindings, prelude::*, sync::Arc};

/// What a step's `issue` reports.
pub(crate) enum Outcome {
    /// The step finished with this result (bytes, or 0).
    Done(i64),
    /// A transfer stopped short (end of file, or an error after some bytes).
    Short(i64),
    /// The step failed.
    Failed(Error),
    /// Waiting without a thread; a wake-up makes the request ready again.
    Parked,
    /// Progress made; call again (a cancellation point).
    Again,
    /// Running inline at SUBMIT, the step would have to block: the rest
    /// of the chain, from this step, goes to a worker. Only returned when
    /// [`Io::inline`] is true.
    Block,
}

/// `-EIOCBQUEUED`: the wait entry or read was armed; a wake-up follows.
pub(crate) const QUEUED: isize = -(bindings::EIOCBQUEUED as isize);

/// What a step sees of its request while it runs.
pub(crate) struct Io<'a> {
    req: &'a Arc<Request>,
    /// The chain's file, if it has one yet.
    pub(crate) file: &'a mut Option<FileRef>,
    waitq: &'a mut Option<WaitQ>,
    poll: &'a mut Option<PollEntries>,
    inline: bool,
}

impl<'a> Io<'a> {
    /// The view of `req`'s runner; `inline` when it runs in the submitter
    /// at SUBMIT rather than in a worker.
    pub(crate) fn new(
        req: &'a Arc<Request>,
        file: &'a mut Option<FileRef>,
        waitq: &'a mut Option<WaitQ>,
        poll: &'a mut Option<PollEntries>,
        inline: bool,
    ) -> Self {
        Io {
            req,
            file,
            waitq,
            poll,
            inline,
        }
    }

    /// Whether the step runs inline at SUBMIT, in the submitting thread:
    /// it may not block (not on the disk, a lookup miss, a full output or
    /// a lock that waits), and answers [`Outcome::Block`] where it would.
    pub(crate) fn inline(&self) -> bool {
        self.inline
    }

    /// Lends the request to a wake-up source: `arm` gets the raw reference
    /// and returns whether the source took it.
    fn lend(&self, arm: impl FnOnce(*mut c_void) -> bool) {
        let lent = Lent::new(self.req);
        if arm(lent.data()) {
            lent.forget();
        } else {
            drop(lent.reclaim());
        }
    }

    /// Reads (or with `buf == None`, fills the page cache) without waiting
    /// for the disk; [`QUEUED`] means parked: the folio's wake-up makes the
    /// request ready.
    fn nowait(&mut self, pos: i64, buf: Option<(&UserBuf, u64)>, len: usize) -> isize {
        let Some(file) = self.file.as_ref() else {
            return -(bindings::EBADF as isize);
        };
        if self.waitq.is_none() {
            match WaitQ::new() {
                Ok(w) => *self.waitq = Some(w),
                Err(e) => return e.to_errno() as isize,
            }
        }
        let Some(wq) = self.waitq.as_ref() else {
            return -(bindings::ENOMEM as isize);
        };
        // While armed, the wait entry owns a reference to the request,
        // which keeps the entry (in `Exec`) alive until the wake-up.
        let mut n = 0;
        self.lend(|data| {
            n = match buf {
                Some((b, at)) => file.read(pos, b, at, len, IoMode::WaitQ, Some((wq, data))),
                None => file.fill(pos, len, Some((wq, data))),
            };
            n == QUEUED
        });
        if n == QUEUED {
            stats::add(Stat::ParkedReads, 1);
        }
        n
    }

    /// Reads into `buf`, from its byte `at`, without waiting for the disk.
    pub(crate) fn read_nowait(&mut self, pos: i64, buf: &UserBuf, at: u64, len: usize) -> isize {
        self.nowait(pos, Some((buf, at)), len)
    }

    /// Brings a range into the page cache without waiting for the disk.
    pub(crate) fn fill_nowait(&mut self, pos: i64, len: usize) -> isize {
        self.nowait(pos, None, len)
    }

    /// Before a step reads from the disk: false if the request now waits
    /// for a disk stream (the step returns [`Outcome::Parked`]).
    pub(crate) fn admit_disk(&self) -> bool {
        self.req.admit_disk()
    }

    /// The request parks on its output: its disk stream, if it holds one,
    /// goes to the next in line until it reads again.
    pub(crate) fn pause_disk(&self) {
        self.req.pause_disk();
    }

    /// Reads a private window of the chain's file ([`Sf::read`]); with
    /// `direct`, [`QUEUED`] means parked until the direct read completes.
    pub(crate) fn read_window(&mut self, sf: &Sf, pos: i64, len: usize, direct: bool) -> isize {
        let Some(file) = self.file.as_ref() else {
            return -(bindings::EBADF as isize);
        };
        let mut n = 0;
        self.lend(|data| {
            n = sf.read(file, pos, len, direct, data);
            n == QUEUED
        });
        if n == QUEUED {
            stats::add(Stat::ParkedReads, 1);
        }
        n
    }

    /// Parks until `file` (held by the step until the request's next run)
    /// reports `events`; false if it is ready now.
    pub(crate) fn park_on(&mut self, file: &FileRef, events: u32) -> bool {
        if self.poll.is_none() {
            match PollEntries::new((&**self.req as *const Request).cast()) {
                Ok(p) => *self.poll = Some(p),
                // Without entries, retry (a cancellation point) instead.
                Err(_) => return false,
            }
        }
        match self.poll.as_ref() {
            Some(p) => self.req.park_poll(p, file, events),
            None => false,
        }
    }

    /// Parks until the chain's own file reports `events`.
    pub(crate) fn park_file(&mut self, events: u32) -> bool {
        let Some(file) = self.file.take() else {
            return false;
        };
        let parked = self.park_on(&file, events);
        *self.file = Some(file);
        parked
    }

    /// Takes the request's poll entries off the wait queues of its last
    /// park (a step calls this when it runs again).
    pub(crate) fn unpark(&mut self) {
        if let Some(p) = self.poll.as_ref() {
            p.unhook();
        }
    }
}

/// A prepared step.
pub(crate) enum Op {
    /// `KAIO_OP_OPEN`.
    Open(op_open::Open),
    /// `KAIO_OP_FD`: the file was taken at prep.
    Fd,
    /// `KAIO_OP_READ`, `KAIO_OP_READV`.
    Read(op_rw::Rw),
    /// `KAIO_OP_WRITE`, `KAIO_OP_WRITEV`.
    Write(op_rw::Rw),
    /// `KAIO_OP_FSYNC`.
    Fsync(op_fsync::Fsync),
    /// `KAIO_OP_CLOSE`.
    Close,
    /// `KAIO_OP_KEEP`.
    Keep(op_close::Keep),
    /// `KAIO_OP_SENDFILE`.
    Sendfile(op_sendfile::Sendfile),
    /// `KAIO_OP_SEND`.
    Send(op_socket::Send),
    /// `KAIO_OP_RECV`.
    Recv(op_socket::Recv),
    /// `KAIO_OP_STATX`.
    Statx(op_statx::Statx),
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
static OPS: [Option<OpDef>; 14] = [
    None,
    def(op_open::prep, true, false),
    def(op_open::prep_fd, true, false),
    def(op_rw::prep_read, false, false),
    def(op_rw::prep_write, false, false),
    def(op_fsync::prep, false, false),
    def(op_close::prep_close, false, true),
    def(op_close::prep_keep, false, true),
    def(op_sendfile::prep, false, false),
    def(op_rw::prep_readv, false, false),
    def(op_rw::prep_writev, false, false),
    def(op_socket::prep_send, false, false),
    def(op_socket::prep_recv, false, false),
    def(op_statx::prep, false, false),
];

/// The definition of `opcode`; `EINVAL` if there is none.
pub(crate) fn lookup(opcode: u8) -> Result<&'static OpDef> {
    OPS.get(opcode as usize)
        .and_then(Option::as_ref)
        .ok_or(EINVAL)
}

impl Op {
    /// Runs (or continues) the step in a worker of the submitting process.
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
            Op::Send(s) => s.issue(io),
            Op::Recv(r) => r.issue(io),
            Op::Statx(s) => s.issue(io),
        }
    }

    /// Called in the submitter, at SUBMIT, before the step and those
    /// after it go to a worker: the step takes what it needs of the
    /// submitter's context that it did not take at prep.
    pub(crate) fn detach(&mut self) {
        if let Op::Open(o) = self {
            o.detach();
        }
    }

    /// Bytes a transfer step moved so far (reported if it is cancelled).
    pub(crate) fn progress(&self) -> i64 {
        match self {
            Op::Read(rw) | Op::Write(rw) => rw.progress(),
            Op::Sendfile(sf) => sf.progress(),
            Op::Send(s) => s.progress(),
            Op::Recv(r) => r.progress(),
            _ => 0,
        }
    }

    /// The socket a SEND or SENDFILE writes to: `Some(None)` for the
    /// chain's file, `None` if the step sends nothing.
    fn output(&self) -> Option<Option<&FileRef>> {
        match self {
            Op::Send(s) => Some(s.output()),
            Op::Sendfile(sf) => Some(Some(sf.output())),
            _ => None,
        }
    }

    /// After prep of a whole chain: a SEND followed by a SEND or SENDFILE
    /// to the same socket sends with `MSG_MORE`.
    pub(crate) fn link_sends(ops: &mut [Op], chain: Option<&FileRef>) {
        for i in 1..ops.len() {
            let (head, tail) = ops.split_at_mut(i);
            let (Some(Op::Send(s)), Some(next)) = (head.last_mut(), tail.first()) else {
                continue;
            };
            if let Some(out) = next.output() {
                if op_socket::same_output(s.output(), out, chain) {
                    s.set_followed();
                }
            }
        }
    }

    /// At the end of the chain, before its completion: pushes what a
    /// SEND left corked for a next step that sent nothing (see
    /// `op_socket`).
    pub(crate) fn end_sends(ops: &[Op], chain: Option<&FileRef>) {
        for w in ops.windows(2) {
            if let [Op::Send(s), next] = w {
                if next.progress() == 0 {
                    s.push(chain);
                }
            }
        }
    }

    /// For KEEP, whether the file is installed close-on-exec.
    pub(crate) fn keeps(&self) -> Option<bool> {
        match self {
            Op::Keep(k) => Some(k.cloexec),
            _ => None,
        }
    }
}
