// SPDX-License-Identifier: GPL-2.0

//! A request: one compound iocb in flight, and the generic runner of its
//! chain. The runner knows no opcode: each step's `issue` (see `opdef`)
//! says whether it finished, stopped the chain, parked, or wants another
//! turn.
//!
//! States and who moves them:
//! - *ready*: on its lane's stack (`worker.rs`), pushed by SUBMIT or by a
//!   wake-up source (interrupt context included).
//! - *running*: the lane's worker — a thread of the submitting process —
//!   runs steps in order while each can proceed ([`Request::run`]).
//! - *parked*: waiting for a folio, a direct read, or a pollable file; no
//!   thread is involved until the wake-up (see `park.rs`).
//! - *delivering*: a KEEP chain finished; the submitting task installs the
//!   file (task_work) and publishes the completion.
//! - *done*: the event is in the ring and the slot free.
//!
//! A cancel flips `state` (one CAS), takes back a park on a pollable file,
//! and interrupts a blocking step in the worker; the runner sees it at the
//! next step or chunk. The final transition takes `state` to DONE exactly
//! once, so a request that a CANCEL reached always completes with
//! ECANCELED.

use crate::{
    context::Context,
    disk,
    iocb::Chain,
    limits::{Charge, InflightSlot},
    opdef::{Io, Op, Outcome},
    park::{Lent, Park},
    shim::{self, Cred, EventFd, FileRef, PollEntries, TaskRef, WaitQ},
    stats::{self, Stat},
    uapi::{self, Event},
    worker::LANES,
};
use core::sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicU8, Ordering};
use kernel::{
    bindings, new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

const RUNNING: u32 = 0;
const CANCELLED: u32 = 1;
const DONE: u32 = 2;

/// How a chain ended, or why the runner stopped.
enum End {
    /// Every step ran.
    Complete,
    /// Step `at` ended the chain with `result` (its count, or -errno),
    /// and `error` (0 for a short transfer, else -errno).
    Stopped { at: usize, result: i64, error: i32 },
    /// Cancelled before step `at`.
    Cancelled { at: usize },
    /// A step was interrupted by a signal that is not a cancel (a group
    /// stop): run the request again once the worker handled it.
    Retry,
    /// Inline at SUBMIT, step `cur` would block, or the budget is spent:
    /// a worker goes on from there.
    Punt,
}

/// What one SUBMIT may spend running chains inline, in the submitter: a
/// large cached file, or many chains, must not make SUBMIT slow.
pub(crate) struct Budget {
    /// Bytes the steps may still move inline.
    bytes: u64,
    /// Step calls left.
    turns: u32,
    /// Inline work stops at this time (jiffies; the clock source can be
    /// slow to read, the tick count never is).
    deadline: u64,
}

impl Budget {
    /// Bytes one SUBMIT moves inline at most, over all its iocbs.
    const BYTES: u64 = 256 << 10;
    /// Step calls one SUBMIT makes inline at most (an OPEN walks a path
    /// twice, a CLOSE flushes: each call counts, whatever it moved).
    const TURNS: u32 = 256;
    /// Time one SUBMIT spends inline at most, in ms (checked after each
    /// step call, so a single call may overrun it; one tick more than
    /// this at most): a bound for the pathological (a walk through forty
    /// long symlinks), well above what the byte and call limits allow on
    /// a slow machine.
    const TIME_MS: u32 = 20;

    /// A full budget for one SUBMIT.
    pub(crate) fn new() -> Self {
        Budget {
            bytes: Self::BYTES,
            turns: Self::TURNS,
            deadline: shim::jiffies().wrapping_add(shim::msecs_to_jiffies(Self::TIME_MS) + 1),
        }
    }

    /// Charges one step call that moved `bytes`; false once spent.
    fn spend(&mut self, bytes: u64) -> bool {
        self.bytes = self.bytes.saturating_sub(bytes);
        self.turns = self.turns.saturating_sub(1);
        self.left()
    }

    /// Whether anything is left.
    fn left(&self) -> bool {
        // Wrapping compare, as time_before().
        self.bytes > 0 && self.turns > 0 && (shim::jiffies().wrapping_sub(self.deadline) as i64) < 0
    }
}

/// The mutable part of a request, owned by whichever thread runs it.
/// Fields drop in order: the poll entries are unhooked before the files
/// whose wait queues they are on.
struct Exec {
    poll: Option<PollEntries>,
    ops: KVec<Op>,
    /// Index of the step to run next.
    cur: usize,
    results: [i64; uapi::MAX_STEPS],
    file: Option<FileRef>,
    waitq: Option<WaitQ>,
    /// The submitting task, for KEEP.
    keep_task: Option<TaskRef>,
    /// A finished KEEP chain: the file and event for the submitter.
    delivery: Option<(FileRef, Event, bool)>,
    finished: bool,
}

/// A compound request in flight.
#[pin_data]
pub(crate) struct Request {
    ctx: Arc<Context>,
    user_data: u64,
    flags: u32,
    nr_steps: u16,
    /// Slot in the context's table; set once, before the request starts.
    slot: AtomicU32,
    /// RUNNING, CANCELLED or DONE.
    state: AtomicU32,
    /// A worker is inside [`Request::run`] (a cancel interrupts it).
    running: AtomicBool,
    /// A KEEP delivery waits for the submitting task.
    delivering: AtomicBool,
    /// Submission order in the context (the disk gate serves the oldest).
    seq: u64,
    /// Place at the context's disk gate: `disk::NONE`, `WAITING`,
    /// `HOLDING` or `PAUSED`, changed under the gate's lock.
    disk: AtomicU8,
    /// Park on a pollable file (see `park.rs`).
    park: Park,
    /// The submitter's credentials at SUBMIT, for every step.
    cred: Cred,
    /// `KAIO_IOCB_RESFD`'s eventfd, signalled once the event is in the ring.
    resfd: Option<EventFd>,
    _charge: Charge,
    _inflight: InflightSlot,
    /// Link in its lane's ready stack.
    next: AtomicPtr<Request>,
    /// On the ready stack, or about to be.
    queued: AtomicBool,
    #[pin]
    exec: Mutex<Exec>,
}

impl Request {
    /// A request for `chain` on `ctx`, not yet started.
    pub(crate) fn new(ctx: Arc<Context>, chain: Chain) -> Result<Arc<Self>> {
        // The request counts once against the user's requests and memory.
        let charge = Charge::with_requests(1, core::mem::size_of::<Request>() + chain.bytes)?;
        let inflight = InflightSlot::new()?;
        let keep = chain.ops.last().is_some_and(|op| op.keeps().is_some());
        let nr_steps = chain.ops.len() as u16;
        let seq = ctx.disk().ticket();
        Arc::pin_init(
            pin_init!(Request {
                ctx,
                user_data: chain.user_data,
                flags: chain.flags,
                nr_steps,
                slot: AtomicU32::new(0),
                state: AtomicU32::new(RUNNING),
                running: AtomicBool::new(false),
                delivering: AtomicBool::new(false),
                seq,
                disk: AtomicU8::new(disk::NONE),
                park: Park::new(),
                cred: chain.cred,
                resfd: chain.resfd,
                _charge: charge,
                _inflight: inflight,
                next: AtomicPtr::new(core::ptr::null_mut()),
                queued: AtomicBool::new(false),
                exec <- new_mutex!(Exec {
                    poll: None,
                    ops: chain.ops,
                    cur: 0,
                    results: [0; uapi::MAX_STEPS],
                    file: chain.file,
                    waitq: None,
                    keep_task: if keep { Some(TaskRef::current()) } else { None },
                    delivery: None,
                    finished: false,
                }, "kaio_request_exec"),
            }),
            GFP_KERNEL_ACCOUNT,
        )
    }

    /// Records the request's slot (before [`Request::start`]).
    pub(crate) fn set_slot(&self, slot: u32) {
        self.slot.store(slot, Ordering::Relaxed);
    }

    /// The iocb's `user_data`.
    pub(crate) fn user_data(&self) -> u64 {
        self.user_data
    }

    /// Signals the iocb's own eventfd, if it named one (after its event
    /// was pushed to the ring).
    pub(crate) fn signal_resfd(&self) {
        if let Some(efd) = &self.resfd {
            efd.signal();
        }
    }

    /// Starts the request: in the submitting thread, as far as its steps
    /// go without blocking and `budget` allows; the first step that would
    /// block, and everything after it, runs in a worker (or waits parked,
    /// without one). A chain whose data is cached completes here, with no
    /// thread woken.
    pub(crate) fn start(this: Arc<Self>, budget: &mut Budget) {
        let mut ex = this.exec.lock();
        let end = if !budget.left() {
            Some(End::Punt)
        } else if this.is_cancelled() {
            Some(End::Cancelled { at: ex.cur })
        } else {
            // The submitter's own credentials: `with` changes nothing.
            this.cred.with(|| this.advance(&mut ex, Some(budget)))
        };
        match end {
            None => {}
            Some(End::Retry | End::Punt) => {
                // Still in the submitter: what the worker will need of it
                // is taken now.
                let cur = ex.cur;
                for op in ex.ops.iter_mut().skip(cur) {
                    op.detach();
                }
                drop(ex);
                stats::add(Stat::InlinePunts, 1);
                make_ready(this);
            }
            Some(end) => {
                stats::add(Stat::InlineCompletions, 1);
                this.finish(ex, end);
            }
        }
    }

    /// The context lane the request runs in.
    pub(crate) fn lane(&self) -> usize {
        self.slot.load(Ordering::Relaxed) as usize % LANES
    }

    /// The request's park on pollable files.
    pub(crate) fn park(&self) -> &Park {
        &self.park
    }

    /// Takes the request off its lane's ready stack: the next entry.
    pub(crate) fn dequeued(&self) -> *mut Request {
        // Read the link before clearing `queued`: once it is clear, a
        // wake-up may push the request again and overwrite the link.
        let next = self.next.swap(core::ptr::null_mut(), Ordering::Relaxed);
        self.queued.store(false, Ordering::SeqCst);
        next
    }

    /// Sets the ready-stack link (the push in `Lane::push`).
    pub(crate) fn set_next(&self, next: *mut Request) {
        self.next.store(next, Ordering::Relaxed);
    }

    /// The ready-stack link.
    pub(crate) fn next(&self) -> *mut Request {
        self.next.load(Ordering::Relaxed)
    }

    /// Asks the request to stop; true if this call did (it will complete
    /// with ECANCELED), false if it was already cancelled or done.
    pub(crate) fn cancel(self: &Arc<Self>) -> bool {
        if self
            .state
            .compare_exchange(RUNNING, CANCELLED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            return false;
        }
        // Parked on a pollable file, the request might never be woken:
        // take it back and run it, so it sees the cancel.
        if let Some(me) = self.unpark() {
            make_ready(me);
        }
        // Waiting for a disk stream: it runs now instead.
        self.ctx.disk().cancel(self);
        // A blocking step (a FIFO open, a file that cannot be polled) is
        // interrupted; the runner set `running` before checking `state`.
        if self.running.load(Ordering::SeqCst) {
            self.ctx.lane(self.lane()).interrupt();
        }
        true
    }

    /// Submission order in the context.
    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    /// Place at the disk gate (read and set by `disk.rs`, under its lock
    /// for changes).
    pub(crate) fn disk_state(&self) -> u8 {
        self.disk.load(Ordering::SeqCst)
    }

    /// See [`Request::disk_state`].
    pub(crate) fn set_disk_state(&self, s: u8) {
        self.disk.store(s, Ordering::SeqCst);
    }

    /// Before reading from the disk: false if the request now waits for
    /// one of its context's disk streams (parked, see `disk.rs`).
    pub(crate) fn admit_disk(self: &Arc<Self>) -> bool {
        self.ctx.disk().admit(self)
    }

    /// Parks on its output: its disk stream, if any, goes to the next.
    pub(crate) fn pause_disk(&self) {
        self.ctx.disk().pause(self);
    }

    /// Whether a cancel reached the request.
    pub(crate) fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::SeqCst) == CANCELLED
    }

    /// A KEEP completion waits for the submitting task.
    pub(crate) fn has_delivery(&self) -> bool {
        self.delivering.load(Ordering::Acquire)
    }

    /// Runs steps until the chain ends or a step parks; with `inline` (the
    /// budget of a SUBMIT), until a step would block.
    fn advance(self: &Arc<Self>, ex: &mut Exec, mut inline: Option<&mut Budget>) -> Option<End> {
        let Exec {
            poll,
            ops,
            cur,
            results,
            file,
            waitq,
            ..
        } = ex;
        let mut io = Io::new(self, file, waitq, poll, inline.is_some());
        loop {
            if self.is_cancelled() {
                return Some(End::Cancelled { at: *cur });
            }
            let Some(op) = ops.get_mut(*cur) else {
                return Some(End::Complete);
            };
            let before = op.progress();
            let outcome = op.issue(&mut io);
            // Inline, every call is charged; once the budget is spent the
            // chain goes on in a worker (a step that finished or parked
            // is not undone).
            let spent = match inline.as_mut() {
                Some(b) => !b.spend(op.progress().saturating_sub(before).max(0) as u64),
                None => false,
            };
            match outcome {
                Outcome::Done(r) => {
                    results[*cur] = r;
                    *cur += 1;
                    if spent && *cur < ops.len() {
                        return Some(End::Punt);
                    }
                }
                Outcome::Short(r) => {
                    results[*cur] = r;
                    if self.flags & uapi::IOCB_SHORT_OK == 0 {
                        return Some(End::Stopped {
                            at: *cur,
                            result: r,
                            error: 0,
                        });
                    }
                    *cur += 1;
                    if spent && *cur < ops.len() {
                        return Some(End::Punt);
                    }
                }
                // Inline, a signal for the submitter is not the request's:
                // a worker redoes the step.
                Outcome::Failed(e) if is_restart(e) && inline.is_some() => {
                    return Some(End::Punt);
                }
                Outcome::Failed(e) if is_restart(e) && shim::signal_pending() => {
                    // Interrupted: by a cancel or the process's death (the
                    // request ends cancelled), or by a group stop (again).
                    if self.is_cancelled() || shim::fatal_signal_pending() {
                        self.cancel();
                        return Some(End::Cancelled { at: *cur });
                    }
                    return Some(End::Retry);
                }
                Outcome::Failed(e) => {
                    // As sendfile(2): an error after some bytes reports
                    // the bytes (the event's `error` says what happened).
                    let moved = op.progress();
                    let r = if moved > 0 {
                        moved
                    } else {
                        i64::from(e.to_errno())
                    };
                    results[*cur] = r;
                    return Some(End::Stopped {
                        at: *cur,
                        result: r,
                        error: e.to_errno(),
                    });
                }
                Outcome::Parked => return None,
                Outcome::Block => return Some(End::Punt),
                Outcome::Again if inline.is_some() => {
                    if spent {
                        return Some(End::Punt);
                    }
                    if shim::fatal_signal_pending() {
                        self.cancel();
                    }
                }
                Outcome::Again => {
                    // A step that makes no progress for long (a file that
                    // polls ready yet would block) still yields the CPU,
                    // and dies with its process.
                    shim::cond_resched();
                    if shim::fatal_signal_pending() {
                        self.cancel();
                    }
                }
            }
        }
    }

    /// One run of the state machine, by the lane's worker (or, for a
    /// cancelled request whose process died, by kaio's workqueue).
    pub(crate) fn run(self: &Arc<Self>) {
        let mut ex = self.exec.lock();
        if ex.finished {
            return;
        }
        self.running.store(true, Ordering::SeqCst);
        let end = if self.is_cancelled() {
            Some(End::Cancelled { at: ex.cur })
        } else {
            self.cred.with(|| self.advance(&mut ex, None))
        };
        self.running.store(false, Ordering::SeqCst);
        match end {
            None => {}
            Some(End::Retry | End::Punt) => {
                drop(ex);
                make_ready(self.clone());
            }
            Some(end) => self.finish(ex, end),
        }
    }

    /// Builds the completion and publishes it, or hands a KEEP'd file to
    /// the submitting task first.
    fn finish(
        self: &Arc<Self>,
        mut ex: kernel::sync::lock::Guard<'_, Exec, kernel::sync::lock::mutex::MutexBackend>,
        end: End,
    ) {
        ex.finished = true;
        // Its disk stream goes to the next request in line.
        self.ctx.disk().leave(self);
        // No wait entry may outlive this run: the files they are hooked on
        // are released below.
        if let Some(p) = ex.poll.as_ref() {
            p.unhook();
        }
        let nr = ex.ops.len();
        let ecanceled = -(bindings::ECANCELED as i32);
        let (mut at, mut result, mut flags, mut error) = match end {
            End::Complete | End::Retry | End::Punt => {
                (nr - 1, ex.results[nr - 1], uapi::EV_DONE, 0)
            }
            End::Stopped { at, result, error } => (at, result, 0, error),
            End::Cancelled { at } => (
                at.min(nr - 1),
                i64::from(ecanceled),
                uapi::EV_CANCELED,
                ecanceled,
            ),
        };
        // A cancel that raced with the end of the chain still wins: the
        // canceller was told the request will complete with ECANCELED.
        if self.state.swap(DONE, Ordering::SeqCst) == CANCELLED && flags & uapi::EV_CANCELED == 0 {
            at = ex.cur.min(nr - 1);
            result = i64::from(ecanceled);
            flags = uapi::EV_CANCELED;
            error = ecanceled;
        }
        // What a SEND corked for a step that sent nothing leaves now.
        Op::end_sends(&ex.ops, ex.file.as_ref());
        // A cancelled step reports, in its own slot, what it had moved.
        ex.results[at] = if flags & uapi::EV_CANCELED != 0 {
            ex.ops.get(at).map_or(0, Op::progress)
        } else {
            result
        };
        for r in &mut ex.results[at + 1..] {
            *r = 0;
        }
        let bytes = ex.ops.iter().map(|op| op.progress().max(0) as u64).sum();
        let ev = Event {
            user_data: self.user_data,
            result,
            step: at as u16,
            nr_steps: self.nr_steps,
            flags,
            fd: -1,
            error,
            bytes,
            step_result: ex.results,
        };
        let keep = match ex.ops.last().and_then(Op::keeps) {
            Some(cloexec) if flags == uapi::EV_DONE => Some(cloexec),
            _ => None,
        };
        if let (Some(cloexec), Some(file)) = (keep, ex.file.take()) {
            ex.delivery = Some((file, ev, cloexec));
            self.delivering.store(true, Ordering::Release);
            let lent = Lent::new(self);
            let queued = ex
                .keep_task
                .as_ref()
                .map_or(Err(ESRCH), |t| t.task_work(lent.data()));
            if queued.is_ok() {
                lent.forget();
                drop(ex);
                // Teardown may be waiting for this request: let it see the
                // pending delivery.
                self.ctx.kick();
                return;
            }
            drop(lent.reclaim());
            drop(ex);
            // The submitting thread has exited: nobody can take the file.
            self.deliver(true);
            return;
        }
        // Without CLOSE or KEEP the file is closed here.
        let file = ex.file.take();
        let ops = core::mem::take(&mut ex.ops);
        drop(ex);
        drop(file);
        drop(ops);
        self.publish(&ev);
    }

    fn publish(&self, ev: &Event) {
        let slot_ref = self.ctx.complete(self.slot.load(Ordering::Relaxed), ev);
        drop(slot_ref);
    }

    /// Installs a KEEP'd file in the current (submitting) task and
    /// publishes the completion; with `cancel`, closes it instead.
    fn deliver(&self, cancel: bool) {
        let mut ex = self.exec.lock();
        let Some((file, mut ev, cloexec)) = ex.delivery.take() else {
            return;
        };
        self.delivering.store(false, Ordering::Release);
        drop(ex);
        let at = ev.step as usize;
        // After an execve the task runs another image: the fd table is no
        // longer the submitter's.
        let res = if cancel || !self.ctx.mm().is_current() {
            Err(ecanceled())
        } else {
            file.install(cloexec)
        };
        match res {
            Ok(fd) => {
                ev.fd = fd;
                ev.result = i64::from(fd);
                ev.flags |= uapi::EV_FD;
            }
            Err(e) => {
                ev.result = i64::from(e.to_errno());
                ev.error = e.to_errno();
                ev.flags &= !uapi::EV_DONE;
                if e == ecanceled() {
                    ev.flags |= uapi::EV_CANCELED;
                }
            }
        }
        ev.step_result[at] = ev.result;
        self.publish(&ev);
    }

    /// Teardown: the submitter will not install the file; close it and
    /// complete the request as cancelled.
    pub(crate) fn abort_delivery(&self) {
        self.deliver(true);
    }
}

/// `ECANCELED` as an [`Error`] (not in 6.12's `code` module).
fn ecanceled() -> Error {
    Error::from_errno(-(bindings::ECANCELED as i32))
}

/// The errors of a wait that a signal interrupted.
pub(crate) fn is_restart(e: Error) -> bool {
    const ERESTARTSYS: i32 = 512;
    const ERESTARTNOINTR: i32 = 513;
    const ERESTARTNOHAND: i32 = 514;
    const ERESTART_RESTARTBLOCK: i32 = 516;
    matches!(
        -e.to_errno(),
        ERESTARTSYS | ERESTARTNOINTR | ERESTARTNOHAND | ERESTART_RESTARTBLOCK
    ) || e == EINTR
}

/// Makes a request ready to run: pushes it on its lane, whose worker (or,
/// once the lane is dead, kaio's workqueue) runs every ready request in
/// one go. Safe in any context, hard interrupts included. A request
/// already on the stack is not pushed twice; its pending run sees the
/// latest state.
pub(crate) fn make_ready(req: Arc<Request>) {
    if req.queued.swap(true, Ordering::SeqCst) {
        return;
    }
    let ctx = req.ctx.clone();
    ctx.lane(req.lane()).push(req);
}

/// The submitting task's side of KEEP: runs in that task (task_work).
///
/// # Safety
///
/// `data` is the [`Lent`] reference `Request::finish` queued the task work
/// with.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_task_work(data: *mut core::ffi::c_void, exiting: bool) {
    // SAFETY: Per the safety contract we now own this reference.
    let req = unsafe { Lent::take(data) };
    req.deliver(exiting);
}
