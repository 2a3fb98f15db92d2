// SPDX-License-Identifier: GPL-2.0

//! Lanes: where a context's ready requests wait for a thread, and the
//! threads that run them.
//!
//! Each context has [`LANES`] lanes; a request always runs in lane
//! `slot % LANES`, so it never runs twice at once, while the requests of one
//! context spread over up to `LANES` CPUs. A lane's thread is a *worker of
//! the submitting process* (a `vhost_task`, created in the submitter's
//! context at its first SUBMIT to the lane): a thread of that process, with
//! its memory map, fs, credentials, cgroups and rlimits, killed with it. So
//! `/proc/self`, RLIMIT_FSIZE, memory and I/O charging, ioprio and audit are
//! the submitter's by construction, and a worker never outlives its process.
//!
//! Requests become ready from anywhere, hard interrupts included: a
//! lock-free push and a `wake_up_process`. When the process dies (its
//! workers got SIGKILL) or the context is torn down, the lane is *dead*:
//! ready requests are then cancelled and finished by kaio's workqueue,
//! which only releases what they hold and posts their completion — no
//! request work runs outside the submitter's threads.

use crate::{
    context::Context,
    request::Request,
    shim::{self, TaskRef, Worker},
    stats::{self, Stat},
};
use core::{
    ffi::c_void,
    mem::ManuallyDrop,
    ptr::null_mut,
    sync::atomic::{AtomicBool, AtomicPtr, Ordering},
};
use kernel::{bindings, prelude::*, sync::Arc};

/// Lanes per context.
pub(crate) const LANES: usize = 4;

/// One lane of a context.
pub(crate) struct Lane {
    /// The context this lane belongs to (set once, right after the
    /// context is created; it outlives its lanes' workers).
    ctx: AtomicPtr<Context>,
    idx: u32,
    /// Ready requests: a lock-free stack of references, newest first.
    ready: AtomicPtr<Request>,
    /// The worker's task (a counted reference), once it ran.
    task: AtomicPtr<bindings::task_struct>,
    /// The worker's handle, until teardown stops it.
    worker: AtomicPtr<c_void>,
    /// No worker will run this lane again.
    dead: AtomicBool,
    /// The worker made its fs_struct private.
    private_fs: AtomicBool,
}

// SAFETY: All fields are atomics; the pointers they hold are references
// managed as documented on each field.
unsafe impl Send for Lane {}
// SAFETY: As above.
unsafe impl Sync for Lane {}

impl Lane {
    /// Lane `idx`, without a worker yet.
    pub(crate) const fn new(idx: u32) -> Self {
        Lane {
            ctx: AtomicPtr::new(null_mut()),
            idx,
            ready: AtomicPtr::new(null_mut()),
            task: AtomicPtr::new(null_mut()),
            worker: AtomicPtr::new(null_mut()),
            dead: AtomicBool::new(false),
            private_fs: AtomicBool::new(false),
        }
    }

    /// Records the owning context.
    pub(crate) fn bind(&self, ctx: &Context) {
        self.ctx
            .store((ctx as *const Context).cast_mut(), Ordering::Release);
    }

    fn ctx(&self) -> &Context {
        // SAFETY: Bound right after the context was created; the context
        // outlives its lanes' workers and work items (see `Context`).
        unsafe { &*self.ctx.load(Ordering::Acquire) }
    }

    /// Whether the lane has a worker (or is dead).
    pub(crate) fn has_worker(&self) -> bool {
        !self.worker.load(Ordering::Acquire).is_null() || self.dead.load(Ordering::Acquire)
    }

    /// Starts the lane's worker in the current (submitting) process. The
    /// caller serialises starts per context.
    pub(crate) fn start_worker(&self) -> Result {
        if self.has_worker() {
            return Ok(());
        }
        // SAFETY: The lane lives in the context, which stops this worker
        // (`stop_worker`) before it is freed.
        let w = unsafe { Worker::start((self as *const Lane).cast(), self.idx) }?;
        let raw = ManuallyDrop::new(w);
        self.worker
            .store(Worker::as_raw(&raw).cast_mut(), Ordering::Release);
        stats::add(Stat::Workers, 1);
        Ok(())
    }

    /// Marks the lane dead, stops its worker (waiting for it to exit:
    /// bounded, its blocking steps were interrupted by their cancel), then
    /// finishes whatever is still ready.
    pub(crate) fn stop_worker(&self) {
        self.dead.store(true, Ordering::SeqCst);
        // A stopped, traced or frozen process's workers exit only once it
        // is continued: wait for that in naps (an idle kworker, on the
        // teardown queue only), not in vhost_task_stop's uninterruptible
        // wait.
        while self.held() {
            shim::nap(100);
        }
        let w = self.worker.swap(null_mut(), Ordering::AcqRel);
        if !w.is_null() {
            // SAFETY: `start_worker` stored a started worker, taken once here.
            unsafe { Worker::from_raw(w) }.stop();
            stats::sub(Stat::Workers, 1);
        }
        self.ctx().queue_orphans(self.idx as usize);
    }

    /// Whether the worker is stopped, traced or frozen.
    pub(crate) fn held(&self) -> bool {
        let mut held = false;
        if !self.worker.load(Ordering::Acquire).is_null() {
            self.with_task(|t| held = t.held());
        }
        held
    }

    /// Pushes `req` (its `queued` flag set by the caller) and makes sure
    /// something runs it. Safe in any context.
    pub(crate) fn push(&self, req: Arc<Request>) {
        self.push_raw(Arc::into_raw(req).cast_mut());
        if !self.dead.load(Ordering::SeqCst) {
            self.with_task(TaskRef::wake);
        } else {
            self.ctx().queue_orphans(self.idx as usize);
        }
    }

    fn push_raw(&self, raw: *mut Request) {
        let mut head = self.ready.load(Ordering::Acquire);
        loop {
            // SAFETY: `raw` is a reference owned by the caller, not yet
            // visible to others.
            unsafe { (*raw).set_next(head) };
            match self
                .ready
                .compare_exchange_weak(head, raw, Ordering::SeqCst, Ordering::Acquire)
            {
                Ok(_) => return,
                Err(h) => head = h,
            }
        }
    }

    /// Runs `f` on the worker's task, if it has run yet.
    fn with_task(&self, f: impl FnOnce(&TaskRef)) {
        let p = self.task.load(Ordering::SeqCst);
        if p.is_null() {
            return;
        }
        // SAFETY: The lane holds this reference until it is dropped; the
        // `ManuallyDrop` borrows it without giving it up.
        let t = ManuallyDrop::new(unsafe { TaskRef::from_raw(p) });
        f(&t);
    }

    /// Breaks the worker out of an interruptible wait (a cancelled
    /// request's blocking step).
    pub(crate) fn interrupt(&self) {
        if !self.dead.load(Ordering::SeqCst) {
            self.with_task(TaskRef::interrupt);
        }
    }

    /// Runs the ready requests, oldest first, until none is left. A worker
    /// stops early when a signal (SIGKILL, SIGSTOP, or a cancel's
    /// interruption) is pending, so that its loop handles it; what is left
    /// goes back on the stack for its next round. `orphans`: the lane is
    /// dead and this is kaio's workqueue: every request is cancelled first.
    pub(crate) fn drain(&self, orphans: bool) {
        loop {
            let mut list = self.ready.swap(null_mut(), Ordering::SeqCst);
            if list.is_null() {
                return;
            }
            // The stack is newest first: reverse it.
            let mut fifo: *mut Request = null_mut();
            while !list.is_null() {
                // SAFETY: Each entry is a reference pushed by `push`, owned
                // by the stack until taken here.
                let next = unsafe { (*list).next() };
                // SAFETY: As above.
                unsafe { (*list).set_next(fifo) };
                fifo = list;
                list = next;
            }
            while !fifo.is_null() {
                if !orphans && shim::signal_pending() {
                    // Back on the stack, for the next round.
                    while !fifo.is_null() {
                        // SAFETY: We own the references left in `fifo`.
                        let next = unsafe { (*fifo).next() };
                        self.push_raw(fifo);
                        fifo = next;
                    }
                    return;
                }
                // SAFETY: We own the reference the stack held.
                let req = unsafe { Arc::from_raw(fifo) };
                fifo = req.dequeued();
                if orphans {
                    req.cancel();
                }
                req.run();
                drop(req);
                if !orphans {
                    // Files the run released are closed now, not when the
                    // worker exits (the check above then returns).
                    shim::worker_task_work();
                }
                shim::cond_resched();
            }
        }
    }
}

impl Drop for Lane {
    fn drop(&mut self) {
        let p = self.task.swap(null_mut(), Ordering::AcqRel);
        if !p.is_null() {
            // SAFETY: The reference the worker stored in `worker_pending`.
            drop(unsafe { TaskRef::from_raw(p) });
        }
    }
}

/// The worker's loop asks whether its lane has work (with the task state
/// set to sleep; a push wakes it).
///
/// # Safety
///
/// `lane` is the [`Lane`] the worker was started for.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_worker_pending(lane: *mut c_void) -> bool {
    // SAFETY: Per the safety contract.
    let lane = unsafe { &*(lane as *const Lane) };
    if lane.task.load(Ordering::Relaxed).is_null() {
        let me = TaskRef::current().into_raw();
        if lane
            .task
            .compare_exchange(null_mut(), me, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // SAFETY: Ours, not stored.
            drop(unsafe { TaskRef::from_raw(me) });
        }
    }
    !lane.ready.load(Ordering::SeqCst).is_null()
}

/// The worker runs its lane's ready requests.
///
/// # Safety
///
/// `lane` is the [`Lane`] the worker was started for.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_worker_run(lane: *mut c_void) {
    // SAFETY: Per the safety contract.
    let lane = unsafe { &*(lane as *const Lane) };
    if !lane.private_fs.load(Ordering::Relaxed) {
        // OPEN swaps root and working directory per request: in a copy of
        // the process's fs_struct that only this thread uses. On failure
        // OPEN fails with EINVAL.
        if shim::worker_private_fs().is_ok() {
            lane.private_fs.store(true, Ordering::Relaxed);
        }
    }
    stats::add(Stat::WorkerRuns, 1);
    lane.drain(false);
}

/// The process is dying and its worker with it: the lane is dead, every
/// request of the context is cancelled (nobody is left to run them as the
/// submitter), and kaio's workqueue finishes them.
///
/// # Safety
///
/// `lane` is the [`Lane`] the worker was started for.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_worker_killed(lane: *mut c_void) {
    // SAFETY: Per the safety contract.
    let lane = unsafe { &*(lane as *const Lane) };
    lane.dead.store(true, Ordering::SeqCst);
    lane.ctx().cancel_all();
    lane.ctx().queue_orphans(lane.idx as usize);
}
