// SPDX-License-Identifier: GPL-2.0

//! A request: one compound iocb in flight, and the state machine that runs
//! its chain.
//!
//! States and who moves them:
//! - *queued*: `Context::submit` (submitter) or `read_wake` (interrupt
//!   context) put the request on kaio's workqueue.
//! - *running*: a worker, with the submitter's credentials and mm, runs
//!   steps in order while each can proceed ([`Request::advance`]).
//! - *parked*: a READ waits for the page cache; no thread is involved
//!   until the block layer's completion calls `read_wake`.
//! - *delivering*: a KEEP chain finished; the submitting task installs the
//!   file (task_work) and publishes the completion (`kaio_rust_task_work`).
//! - *done*: the event is in the ring and the slot free.
//!
//! A cancel only flips `state`; the worker sees it at the next step or
//! chunk. The final transition takes `state` to DONE exactly once, so a
//! request that a CANCEL reached always completes with ECANCELED.

use crate::{
    context::Context,
    iocb::Chain,
    limits::{Charge, InflightSlot},
    opdef::Op,
    shim::{Cred, FileRef, Sf, TaskRef, WaitQ},
    stats::{self, Stat},
    uapi::{self, Event},
};
use core::{
    ffi::c_void,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, Ordering},
};
use kernel::{
    bindings, new_mutex,
    prelude::*,
    sync::{Arc, Mutex},
};

const RUNNING: u32 = 0;
const CANCELLED: u32 = 1;
const DONE: u32 = 2;

/// What a step's `issue` reports.
pub(crate) enum Outcome {
    /// The step finished with this result (bytes, or 0).
    Done(i64),
    /// A transfer stopped short (end of file, or an error after some bytes).
    Short(i64),
    /// The step failed.
    Failed(Error),
    /// Waiting for the page cache; `read_wake` will requeue the request.
    Parked,
    /// Progress made; call again (a cancellation point).
    Again,
}

/// How a chain ended.
enum End {
    /// Every step ran.
    Complete,
    /// Step `at` ended the chain with `result`.
    Stopped { at: usize, result: i64 },
    /// Cancelled before step `at`.
    Cancelled { at: usize },
}

/// What a step sees of its request while it runs.
pub(crate) struct Io<'a> {
    req: &'a Arc<Request>,
    /// The chain's file, if it has one yet.
    pub(crate) file: &'a mut Option<FileRef>,
    waitq: &'a mut Option<WaitQ>,
    /// The request's SENDFILE state, if it has a SENDFILE step.
    pub(crate) sf: Option<&'a Sf>,
    /// The worker runs in the submitter's mm (false once it has exited).
    pub(crate) mm_ok: bool,
}

impl Io<'_> {
    /// Lends a reference to the request to a wake-up source: `arm` gets the
    /// raw reference and returns whether the source took it (the request
    /// parked), else the reference comes back here.
    fn lend(&self, arm: impl FnOnce(*mut c_void) -> bool) -> bool {
        let data = Arc::into_raw(self.req.clone()) as *mut c_void;
        let parked = arm(data);
        if !parked {
            // SAFETY: The source did not take the reference from
            // `into_raw` above, so it is still ours.
            drop(unsafe { Arc::from_raw(data as *const Request) });
        }
        parked
    }

    /// Reads (or with `buf == None`, fills the page cache) without waiting
    /// for the disk; `-EIOCBQUEUED` means parked: the folio's wake-up
    /// requeues the request.
    fn nowait(&mut self, pos: i64, buf: Option<u64>, len: usize) -> isize {
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
        let mut n = 0;
        // While armed, the wait entry owns a reference to the request,
        // which keeps the entry (in `Exec`) alive until the wake-up.
        self.lend(|data| {
            n = match buf {
                Some(b) => file.read(pos, b, len, Some((wq, data))),
                None => file.fill(pos, len, Some((wq, data))),
            };
            n == -(bindings::EIOCBQUEUED as isize)
        });
        if n == -(bindings::EIOCBQUEUED as isize) {
            stats::add(Stat::ParkedReads, 1);
        }
        n
    }

    /// Reads into the user buffer without waiting for the disk.
    pub(crate) fn read_nowait(&mut self, pos: i64, buf: u64, len: usize) -> isize {
        self.nowait(pos, Some(buf), len)
    }

    /// Brings a range into the page cache without waiting for the disk.
    pub(crate) fn fill_nowait(&mut self, pos: i64, len: usize) -> isize {
        self.nowait(pos, None, len)
    }

    /// Starts a NOCACHE direct read; `-EIOCBQUEUED` means parked.
    pub(crate) fn dio(&mut self, pos: i64, len: usize) -> isize {
        let (Some(sf), Some(file)) = (self.sf, self.file.as_ref()) else {
            return -(bindings::EINVAL as isize);
        };
        let mut n = 0;
        self.lend(|data| {
            n = sf.dio(file, pos, len, data);
            n == -(bindings::EIOCBQUEUED as isize)
        });
        n
    }

    /// Parks until `out` has room; false if it has room now.
    pub(crate) fn park_out(&mut self, out: &FileRef) -> bool {
        let Some(sf) = self.sf else {
            return false;
        };
        self.lend(|data| sf.arm_out(out, data))
    }

    /// Unhooks wait entries a wake-up left behind (a pipe has two queues).
    pub(crate) fn sf_disarm(&mut self) {
        if let Some(data) = self.sf.and_then(Sf::disarm) {
            // SAFETY: Taking the armed state gave us its reference.
            drop(unsafe { Arc::from_raw(data.as_ptr() as *const Request) });
        }
    }
}

/// The mutable part of a request, owned by whichever worker runs it.
struct Exec {
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
    /// A KEEP delivery waits for the submitting task.
    delivering: AtomicBool,
    /// The submitter's credentials, for every step.
    cred: Cred,
    /// SENDFILE state, outside `exec` so a canceller can unpark it.
    sf: Option<Sf>,
    _charge: Charge,
    _inflight: InflightSlot,
    /// Link in its context's ready stack (see [`make_ready`]).
    next: AtomicPtr<Request>,
    /// On the ready stack, or about to be.
    queued: AtomicBool,
    #[pin]
    exec: Mutex<Exec>,
}

impl Request {
    /// A request for `chain` on `ctx`, not yet started.
    pub(crate) fn new(ctx: Arc<Context>, chain: Chain) -> Result<Arc<Self>> {
        let charge = Charge::new(core::mem::size_of::<Request>() + chain.bytes)?;
        let inflight = InflightSlot::new()?;
        let keep = matches!(chain.ops.last(), Some(Op::Keep(_)));
        let sf = match chain.ops.iter().find_map(|op| match op {
            Op::Sendfile(s) => Some((s.window_pages(), s.nocache)),
            _ => None,
        }) {
            Some((pages, nocache)) => Some(Sf::new(pages, nocache)?),
            None => None,
        };
        let nr_steps = chain.ops.len() as u16;
        Arc::pin_init(
            pin_init!(Request {
                ctx,
                user_data: chain.user_data,
                flags: chain.flags,
                nr_steps,
                slot: AtomicU32::new(0),
                state: AtomicU32::new(RUNNING),
                delivering: AtomicBool::new(false),
                cred: chain.cred,
                sf,
                _charge: charge,
                _inflight: inflight,
                next: AtomicPtr::new(core::ptr::null_mut()),
                queued: AtomicBool::new(false),
                exec <- new_mutex!(Exec {
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

    /// Queues the request's first run.
    pub(crate) fn start(this: Arc<Self>) {
        make_ready(this);
    }

    /// The context lane the request runs in.
    pub(crate) fn lane(&self) -> usize {
        self.slot.load(Ordering::Relaxed) as usize % crate::context::LANES
    }

    /// Takes the request off its context's ready stack (the drain loop).
    pub(crate) fn dequeued(&self) -> *mut Request {
        self.queued.store(false, Ordering::Release);
        self.next.swap(core::ptr::null_mut(), Ordering::Relaxed)
    }

    /// Sets the ready-stack link (the push in [`make_ready`]).
    pub(crate) fn set_next(&self, next: *mut Request) {
        self.next.store(next, Ordering::Relaxed);
    }

    /// The ready-stack link.
    pub(crate) fn next(&self) -> *mut Request {
        self.next.load(Ordering::Relaxed)
    }

    /// Asks the request to stop; true if this call did (it will complete
    /// with ECANCELED), false if it was already cancelled or done.
    pub(crate) fn cancel(&self) -> bool {
        if self
            .state
            .compare_exchange(RUNNING, CANCELLED, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return false;
        }
        // Parked on a full socket or pipe, the request might never be woken:
        // take it off the wait queue and run it, so it sees the cancel.
        if let Some(data) = self.sf.as_ref().and_then(Sf::disarm) {
            // SAFETY: Taking the armed state gave us its reference.
            make_ready(unsafe { Arc::from_raw(data.as_ptr() as *const Request) });
        }
        true
    }

    fn is_cancelled(&self) -> bool {
        self.state.load(Ordering::Acquire) == CANCELLED
    }

    /// A KEEP completion waits for the submitting task.
    pub(crate) fn has_delivery(&self) -> bool {
        self.delivering.load(Ordering::Acquire)
    }

    /// Runs steps until the chain ends or a step parks.
    fn advance(self: &Arc<Self>, ex: &mut Exec, mm_ok: bool) -> Option<End> {
        let Exec {
            ops,
            cur,
            results,
            file,
            waitq,
            ..
        } = ex;
        let mut io = Io {
            req: self,
            file,
            waitq,
            sf: self.sf.as_ref(),
            mm_ok,
        };
        loop {
            if self.is_cancelled() {
                return Some(End::Cancelled { at: *cur });
            }
            let Some(op) = ops.get_mut(*cur) else {
                return Some(End::Complete);
            };
            match op.issue(&mut io) {
                Outcome::Done(r) => {
                    results[*cur] = r;
                    *cur += 1;
                }
                Outcome::Short(r) => {
                    results[*cur] = r;
                    if self.flags & uapi::IOCB_SHORT_OK == 0 {
                        return Some(End::Stopped {
                            at: *cur,
                            result: r,
                        });
                    }
                    *cur += 1;
                }
                Outcome::Failed(e) => {
                    let r = i64::from(e.to_errno());
                    results[*cur] = r;
                    return Some(End::Stopped {
                        at: *cur,
                        result: r,
                    });
                }
                Outcome::Parked => return None,
                Outcome::Again => {}
            }
        }
    }

    /// One run of the state machine, from its lane's drain loop.
    pub(crate) fn run(self: &Arc<Self>) {
        stats::add(Stat::WorkerRuns, 1);
        let mut ex = self.exec.lock();
        if ex.finished {
            return;
        }
        let needs_mm = ex.ops[ex.cur..].iter().any(Op::needs_mm);
        let end = self.cred.with(|| {
            if needs_mm {
                match self.ctx.mm().with(|| self.advance(&mut ex, true)) {
                    Ok(end) => end,
                    // The owner has exited: steps that need its memory fail.
                    Err(_) => self.advance(&mut ex, false),
                }
            } else {
                self.advance(&mut ex, false)
            }
        });
        if let Some(end) = end {
            self.finish(ex, end);
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
        let nr = ex.ops.len();
        let (mut at, mut result, mut flags) = match end {
            End::Complete => (nr - 1, ex.results[nr - 1], 0),
            End::Stopped { at, result } => (at, result, 0),
            End::Cancelled { at } => (
                at.min(nr - 1),
                -i64::from(bindings::ECANCELED),
                uapi::EV_CANCELED,
            ),
        };
        // A cancel that raced with the end of the chain still wins: the
        // canceller was told the request will complete with ECANCELED.
        if self.state.swap(DONE, Ordering::AcqRel) == CANCELLED && flags == 0 {
            at = ex.cur.min(nr - 1);
            result = -i64::from(bindings::ECANCELED);
            flags = uapi::EV_CANCELED;
        }
        // A cancelled step reports, in its own slot, what it had moved.
        ex.results[at] = if flags & uapi::EV_CANCELED != 0 {
            ex.ops.get(at).map_or(0, Op::progress)
        } else {
            result
        };
        for r in &mut ex.results[at + 1..] {
            *r = 0;
        }
        let mut ev = Event {
            user_data: self.user_data,
            result,
            step: at as u16,
            nr_steps: self.nr_steps,
            flags,
            fd: -1,
            reserved: 0,
            step_result: ex.results,
        };
        let keep = match ex.ops.last() {
            Some(Op::Keep(k)) if flags == 0 && matches!(end, End::Complete) => Some(k.cloexec),
            _ => None,
        };
        if let (Some(cloexec), Some(file)) = (keep, ex.file.take()) {
            ex.delivery = Some((file, ev, cloexec));
            self.delivering.store(true, Ordering::Release);
            let data = Arc::into_raw(self.clone()) as *mut c_void;
            let queued = ex
                .keep_task
                .as_ref()
                .map_or(Err(ESRCH), |t| t.task_work(data));
            if queued.is_ok() {
                drop(ex);
                // Teardown may be waiting for this request: let it see the
                // pending delivery.
                self.ctx.kick();
                return;
            }
            // SAFETY: The task work was not queued; the reference is ours.
            drop(unsafe { Arc::from_raw(data as *const Request) });
            self.delivering.store(false, Ordering::Release);
            if let Some((file, e, _)) = ex.delivery.take() {
                drop(file);
                ev = e;
            }
            let errno = -i64::from(bindings::ESRCH);
            ev.result = errno;
            ev.step_result[at] = errno;
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
        let res = if cancel {
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
                if cancel {
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

/// Makes a request ready to run: pushes it on its context's ready stack
/// and queues the context's work item, which runs every ready request of
/// the context in one go (one worker wake-up for many requests). Safe in
/// any context, hard interrupts included: a lock-free push and
/// `queue_work`. A request already on the stack is not pushed twice; its
/// pending run sees the latest state.
pub(crate) fn make_ready(req: Arc<Request>) {
    if req.queued.swap(true, Ordering::AcqRel) {
        return;
    }
    let ctx = req.ctx.clone();
    ctx.push_ready(req);
}

/// Hands a parked request back: the reference it lent to a wake-up source,
/// now owned by the caller, is pushed on its lane's ready stack.
fn wake(data: *mut c_void, in_irq: bool) {
    // SAFETY: The callers' contracts: `data` is a lent reference that the
    // wake-up source passed back exactly once.
    let req = unsafe { Arc::from_raw(data as *const Request) };
    if in_irq {
        stats::add(Stat::IrqCompletions, 1);
        if req.sf.is_some() {
            stats::add(Stat::SendfileIrqCompletions, 1);
        }
    }
    make_ready(req);
}

/// Wake-up of a parked READ or SENDFILE fill, from the shim's folio wait
/// callback in the block layer's completion path (hard or soft interrupt,
/// IRQs off): only queue the request; the worker does the rest.
///
/// # Safety
///
/// `data` is the reference that [`Io`] lent when arming the wait entry.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_read_wake(data: *mut c_void, in_irq: bool) {
    wake(data, in_irq);
}

/// Wake-up of a parked SENDFILE: its direct read completed (bio end_io,
/// interrupt context) or its output became writable (often softirq).
///
/// # Safety
///
/// `data` is the reference lent with [`Io::dio`] or [`Io::park_out`].
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_sf_wake(data: *mut c_void, in_irq: bool) {
    wake(data, in_irq);
}

/// The submitting task's side of KEEP: runs in that task (task_work).
///
/// # Safety
///
/// `data` is the reference that `Request::finish` leaked when queueing the
/// task work.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_task_work(data: *mut c_void, exiting: bool) {
    // SAFETY: Per the safety contract we now own this reference.
    let req = unsafe { Arc::from_raw(data as *const Request) };
    req.deliver(exiting);
}
