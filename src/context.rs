// SPDX-License-Identifier: GPL-2.0

//! A kaio context: the state behind one open of `/dev/kaio`.
//!
//! A context owns the completion ring, the table of requests in flight
//! (one slot per ring entry, so a completion always has room), the
//! wait queues for GETEVENTS and poll, the optional eventfd, and its lanes
//! (`worker.rs`), served by worker threads of the process that opened it.
//! It belongs to that process's memory map.
//!
//! Lifetime: each open file holds the context; so does each request. When
//! the file is released (closed, or its process exits), release only
//! cancels what is in flight and queues the teardown on kaio's workqueue:
//! closing or exiting never waits. The teardown stops the lanes' workers
//! (bounded: blocking steps of cancelled requests are interrupted), lets
//! every request finish, and drops the file's reference. Module exit
//! drains kaio's workqueue, so no teardown outlives the module.

use crate::{
    disk::DiskGate,
    iocb,
    limits::Charge,
    request::{Budget, Request},
    ring::Ring,
    shim::{self, EventFd, Mm, Param},
    stats::{self, Stat},
    uapi::{self, Event},
    worker::{Lane, LANES},
};
use core::{
    mem::size_of,
    sync::atomic::{AtomicU32, Ordering},
};
use kernel::{
    alloc::KVVec,
    bindings, new_condvar, new_mutex, new_spinlock,
    prelude::*,
    sync::{Arc, CondVar, CondVarTimeoutResult, Mutex, SpinLock},
    types::Opaque,
    uaccess::UserSlice,
    workqueue::{impl_has_work, new_work, Work, WorkItem},
};

/// Everything the context's spinlock protects.
pub(crate) struct Inner {
    /// The completion ring, once set up.
    ring: Option<Ring>,
    /// Memory charged for the ring.
    _ring_charge: Option<Charge>,
    /// Requests in flight, by slot.
    slots: KVVec<Option<Arc<Request>>>,
    /// Free slots form a list through this array, starting at `free_head`.
    next_free: KVVec<u32>,
    free_head: u32,
    nfree: u32,
    /// The context is being torn down: no new requests.
    dying: bool,
    /// Signalled once per completion.
    eventfd: Option<EventFd>,
}

/// End of the free-slot list.
const NO_SLOT: u32 = u32::MAX;

impl Inner {
    fn inflight(&self) -> u32 {
        self.slots.len() as u32 - self.nfree
    }

    fn alloc_slot(&mut self) -> Option<u32> {
        let slot = self.free_head;
        if slot == NO_SLOT {
            return None;
        }
        self.free_head = self.next_free[slot as usize];
        self.nfree -= 1;
        Some(slot)
    }

    fn free_slot(&mut self, slot: u32) {
        self.next_free[slot as usize] = self.free_head;
        self.free_head = slot;
        self.nfree += 1;
    }
}

/// One open of `/dev/kaio`.
#[pin_data(PinnedDrop)]
pub(crate) struct Context {
    /// The owner's memory map: user addresses in requests refer to it.
    mm: Mm,
    #[pin]
    inner: SpinLock<Inner>,
    /// Woken on every completion (GETEVENTS waiters, teardown).
    #[pin]
    events: CondVar,
    /// Threads waiting on `events` (GETEVENTS, teardown), counted under
    /// `inner` before they wait: a completion with nobody waiting skips
    /// the wake-up.
    sleepers: AtomicU32,
    /// Serialises GETEVENTS consumers, so no event is returned twice.
    #[pin]
    reap: Mutex<()>,
    /// Wait queue for poll/epoll.
    #[pin]
    pollq: Opaque<bindings::wait_queue_head>,
    /// Serialises the start of lane workers.
    #[pin]
    workers: Mutex<()>,
    /// Where ready requests wait for their worker.
    lanes: [Lane; LANES],
    /// Once a lane is dead, its work item finishes what is left in it
    /// (cancelled) on kaio's workqueue.
    #[pin]
    work0: Work<Context, 0>,
    #[pin]
    work1: Work<Context, 1>,
    #[pin]
    work2: Work<Context, 2>,
    #[pin]
    work3: Work<Context, 3>,
    /// The teardown after release.
    #[pin]
    exit_work: Work<Context, 4>,
    /// Which requests read from the disk now (see `disk.rs`).
    #[pin]
    disk: DiskGate,
    /// The module reference the teardown holds.
    #[pin]
    exit_module: Mutex<Option<shim::ModuleRef>>,
}

macro_rules! lanes {
    ($($id:literal => $field:ident),*) => {
        impl_has_work! {
            $(impl HasWork<Self, $id> for Context { self.$field })*
        }
        $(impl WorkItem<$id> for Context {
            type Pointer = Arc<Context>;

            fn run(ctx: Arc<Context>) {
                ctx.lanes[$id].drain(true);
            }
        })*
    };
}

lanes!(0 => work0, 1 => work1, 2 => work2, 3 => work3);

impl_has_work! {
    impl HasWork<Self, 4> for Context { self.exit_work }
}

impl WorkItem<4> for Context {
    type Pointer = Arc<Context>;

    fn run(ctx: Arc<Context>) {
        ctx.teardown();
        let module = ctx.exit_module.lock().take();
        // Wake-ups in interrupt context hold a reference to the context
        // for a moment (`make_ready`): they end before this, so the last
        // reference is never dropped in interrupt context.
        shim::synchronize_rcu();
        drop(ctx);
        // Last: module exit drains this workqueue, so the module stays
        // until this function has returned.
        drop(module);
    }
}

// SAFETY: The wait queue head is only used through the kernel's
// thread-safe wait queue functions.
unsafe impl Send for Context {}
// SAFETY: As above.
unsafe impl Sync for Context {}

impl Context {
    /// Creates the context for a new open file.
    pub(crate) fn new() -> Result<Arc<Self>> {
        let mm = Mm::current()?;
        let ctx = Arc::pin_init(
            pin_init!(Context {
                mm,
                inner <- new_spinlock!(Inner {
                    ring: None,
                    _ring_charge: None,
                    slots: KVVec::new(),
                    next_free: KVVec::new(),
                    free_head: NO_SLOT,
                    nfree: 0,
                    dying: false,
                    eventfd: None,
                }, "kaio_ctx_inner"),
                events <- new_condvar!("kaio_ctx_events"),
                sleepers: AtomicU32::new(0),
                reap <- new_mutex!((), "kaio_ctx_reap"),
                workers <- new_mutex!((), "kaio_ctx_workers"),
                lanes: [Lane::new(0), Lane::new(1), Lane::new(2), Lane::new(3)],
                work0 <- new_work!("kaio_ctx_work0"),
                work1 <- new_work!("kaio_ctx_work1"),
                work2 <- new_work!("kaio_ctx_work2"),
                work3 <- new_work!("kaio_ctx_work3"),
                exit_work <- new_work!("kaio_ctx_exit"),
                disk <- DiskGate::new(),
                exit_module <- new_mutex!(None, "kaio_ctx_exit_module"),
                pollq <- Opaque::ffi_init(|slot| {
                    // SAFETY: `slot` is valid for writes and pinned.
                    unsafe { shim::init_waitqueue_head(slot) }
                }),
            }),
            GFP_KERNEL_ACCOUNT,
        )?;
        for lane in &ctx.lanes {
            lane.bind(&ctx);
        }
        stats::add(Stat::ContextsOpened, 1);
        stats::add(Stat::ContextsLive, 1);
        Ok(ctx)
    }

    /// The context's disk gate.
    pub(crate) fn disk(&self) -> &DiskGate {
        &self.disk
    }

    /// Lane `idx`.
    pub(crate) fn lane(&self, idx: usize) -> &Lane {
        &self.lanes[idx % LANES]
    }

    /// Has kaio's workqueue finish what is ready in dead lane `idx`.
    pub(crate) fn queue_orphans(&self, idx: usize) {
        // The work item needs its own reference to the context: every
        // caller holds one (a request, a worker of a live context, or the
        // teardown), so the count is not zero here.
        let Some(me) = self.arc() else {
            return;
        };
        let q = shim::workqueue();
        let _ = match idx {
            0 => q.enqueue::<_, 0>(me),
            1 => q.enqueue::<_, 1>(me),
            2 => q.enqueue::<_, 2>(me),
            _ => q.enqueue::<_, 3>(me),
        };
    }

    /// A new counted reference to `self`.
    fn arc(&self) -> Option<Arc<Context>> {
        // SAFETY: `self` lives in an `Arc` (contexts are only created by
        // `new`) whose count the caller keeps above zero.
        let borrowed = unsafe { kernel::sync::ArcBorrow::from_raw(self) };
        Some(borrowed.into())
    }

    /// Cancels every request in flight (the owner died, or teardown).
    pub(crate) fn cancel_all(&self) {
        let inner = self.inner.lock();
        for req in inner.slots.iter().flatten() {
            if req.cancel() {
                stats::add(Stat::Cancelled, 1);
            }
        }
    }

    /// `EINVAL` unless called by the process that opened the context (as
    /// io_submit treats a foreign aio context).
    pub(crate) fn check_owner(&self) -> Result {
        if self.mm.is_current() {
            Ok(())
        } else {
            Err(EINVAL)
        }
    }

    /// The owner's memory map.
    pub(crate) fn mm(&self) -> &Mm {
        &self.mm
    }

    /// `KAIO_IOC_SETUP`.
    pub(crate) fn setup(&self, arg: usize) -> Result<isize> {
        let (reader, mut writer) = UserSlice::new(arg, size_of::<uapi::Setup>()).reader_writer();
        let mut reader = reader;
        let mut s: uapi::Setup = reader.read()?;
        if s.flags != 0 || s.reserved != [0; 2] || s.ring_size != 0 || s.events_off != 0 {
            return Err(EINVAL);
        }
        let max = shim::param(Param::RingEntries);
        if s.entries == 0 || !s.entries.is_power_of_two() || u64::from(s.entries) > max {
            return Err(EINVAL);
        }
        let size = Ring::size_for(s.entries);
        if size > u32::MAX as usize {
            return Err(EINVAL);
        }
        let charge =
            Charge::new(size + s.entries as usize * (size_of::<Option<Arc<Request>>>() + 4))?;
        let ring = Ring::new(s.entries)?;
        let mut slots = KVVec::with_capacity(s.entries as usize, GFP_KERNEL_ACCOUNT)?;
        let mut next_free = KVVec::with_capacity(s.entries as usize, GFP_KERNEL_ACCOUNT)?;
        for i in 0..s.entries {
            slots.push(None, GFP_KERNEL_ACCOUNT)?;
            next_free.push(
                if i + 1 < s.entries { i + 1 } else { NO_SLOT },
                GFP_KERNEL_ACCOUNT,
            )?;
        }
        s.ring_size = size as u32;
        s.events_off = uapi::RING_HDR_SIZE as u32;
        s.event_size = size_of::<Event>() as u32;
        s.max_steps = uapi::MAX_STEPS as u32;
        {
            let mut inner = self.inner.lock();
            if inner.ring.is_some() {
                return Err(EBUSY);
            }
            inner.ring = Some(ring);
            inner._ring_charge = Some(charge);
            inner.slots = slots;
            inner.next_free = next_free;
            inner.free_head = 0;
            inner.nfree = s.entries;
        }
        writer.write(&s)?;
        Ok(0)
    }

    /// `KAIO_IOC_SUBMIT`: validates and queues iocbs; returns how many
    /// were accepted, or the first one's error if none was.
    pub(crate) fn submit(self: &Arc<Self>, arg: usize) -> Result<isize> {
        let s: uapi::Submit = UserSlice::new(arg, size_of::<uapi::Submit>())
            .reader()
            .read()?;
        if s.flags != 0 || s.reserved != 0 {
            return Err(EINVAL);
        }
        if self.inner.lock().ring.is_none() {
            return Err(EINVAL);
        }
        self.start_workers()?;
        let iocb_size = size_of::<uapi::Iocb>() as u64;
        let mut accepted = 0usize;
        let mut budget = Budget::new();
        for i in 0..u64::from(s.nr) {
            if i > 0 {
                // Up to 65536 iocbs in one call: let others run, and stop
                // early (with the count so far) for a dying process.
                shim::cond_resched();
                if shim::fatal_signal_pending() {
                    break;
                }
            }
            let addr = s.iocbs.checked_add(i * iocb_size).ok_or(EFAULT);
            let r = addr.and_then(|a| self.submit_one(a as usize, &mut budget));
            match r {
                Ok(()) => accepted += 1,
                Err(e) if accepted == 0 => return Err(e),
                Err(_) => break,
            }
        }
        Ok(accepted as isize)
    }

    /// Validates (in the submitter's context) and starts one iocb.
    fn submit_one(self: &Arc<Self>, addr: usize, budget: &mut Budget) -> Result {
        let chain = iocb::prep(addr)?;
        let req = Request::new(self.clone(), chain)?;
        {
            let mut inner = self.inner.lock();
            if inner.dying {
                return Err(EBADF);
            }
            let ring = inner.ring.as_ref().ok_or(EINVAL)?;
            // A slot is free only if its completion will have room: events
            // not yet consumed plus requests in flight never exceed the ring.
            if ring.unreaped() + inner.inflight() >= ring.entries() {
                return Err(EAGAIN);
            }
            let slot = inner.alloc_slot().ok_or(EAGAIN)?;
            req.set_slot(slot);
            inner.slots[slot as usize] = Some(req.clone());
        }

        stats::add(Stat::Submitted, 1);
        stats::add(Stat::Inflight, 1);
        Request::start(req, budget);
        Ok(())
    }

    /// Starts the lanes' workers, threads of the current (submitting)
    /// process, at the context's first SUBMIT: before any request is
    /// visible, so a request never waits for a worker that could not start.
    fn start_workers(&self) -> Result {
        if self.lanes.iter().all(Lane::has_worker) {
            return Ok(());
        }
        let _guard = self.workers.lock();
        for lane in &self.lanes {
            lane.start_worker()?;
        }
        Ok(())
    }

    /// Publishes the completion of the request in `slot` and frees the
    /// slot. Returns the request so the caller drops it outside the lock.
    pub(crate) fn complete(&self, slot: u32, ev: &Event) -> Option<Arc<Request>> {
        let req = {
            let mut inner = self.inner.lock();
            if let Some(ring) = inner.ring.as_mut() {
                ring.push(ev);
            }
            let req = inner.slots[slot as usize].take();
            inner.free_slot(slot);
            if let Some(efd) = &inner.eventfd {
                efd.signal();
            }
            if let Some(r) = &req {
                r.signal_resfd();
            }
            req
        };
        // A waiter counted itself under `inner` before it slept, and the
        // event was pushed under `inner` after: it is seen here.
        if self.sleepers.load(Ordering::SeqCst) > 0 {
            self.events.notify_all();
        }
        // Pollers hook on `pollq` before they check the ring under `inner`.
        if shim::wq_has_sleeper(&self.pollq) {
            // SAFETY: `pollq` was initialised in `new` and lives as long as `self`.
            unsafe {
                bindings::__wake_up(
                    self.pollq.get(),
                    bindings::TASK_NORMAL,
                    0,
                    core::ptr::null_mut(),
                )
            };
        }
        stats::sub(Stat::Inflight, 1);
        stats::add(Stat::Completed, 1);
        req
    }

    /// `KAIO_IOC_GETEVENTS`.
    pub(crate) fn getevents(&self, arg: usize) -> Result<isize> {
        let g: uapi::GetEvents = UserSlice::new(arg, size_of::<uapi::GetEvents>())
            .reader()
            .read()?;
        if g.min_nr > g.max_nr {
            return Err(EINVAL);
        }
        if self.inner.lock().ring.is_none() {
            return Err(EINVAL);
        }
        let max = g.max_nr as usize;
        let ev_size = size_of::<Event>();
        let total_bytes = max.checked_mul(ev_size).ok_or(EINVAL)?;
        if !shim::access_ok(g.events, total_bytes as u64) {
            return Err(EFAULT);
        }
        // `usize::MAX` does not fit a `long`: CondVar waits for ever.
        let mut jiffies: usize = if g.timeout_ns < 0 {
            usize::MAX
        } else {
            // SAFETY: Pure conversion.
            unsafe { bindings::nsecs_to_jiffies(g.timeout_ns as u64) }
        };
        // Set for the whole call and restored at its end (the guard lives
        // until the function returns).
        let _mask = match g.sigmask {
            0 => None,
            m => Some(shim::SigMask::set(m)?),
        };
        let mut buf = KVec::with_capacity(max.min(64), GFP_KERNEL)?;
        for _ in 0..max.min(64) {
            buf.push(Event::default(), GFP_KERNEL)?;
        }
        let mut got = 0usize;
        loop {
            // Copy out what is there, up to max_nr.
            while got < max {
                let _reap = self.reap.lock();
                let (head, n) = {
                    let inner = self.inner.lock();
                    let ring = inner.ring.as_ref().ok_or(EINVAL)?;
                    let want = (max - got).min(buf.len());
                    (ring.head(), ring.peek(&mut buf[..want]))
                };
                if n == 0 {
                    break;
                }
                let mut w =
                    UserSlice::new((g.events as usize) + got * ev_size, n * ev_size).writer();
                for ev in &buf[..n] {
                    if let Err(e) = w.write(ev) {
                        // Nothing consumed by this copy: no event is lost.
                        return if got > 0 { Ok(got as isize) } else { Err(e) };
                    }
                }
                let inner = self.inner.lock();
                if let Some(ring) = inner.ring.as_ref() {
                    if !ring.consume(head, n as u32) {
                        // Userspace moved head meanwhile: it consumed these
                        // itself; do not count them twice.
                        continue;
                    }
                }
                got += n;
            }
            if got >= g.min_nr as usize || got == max || jiffies == 0 {
                return Ok(got as isize);
            }
            let mut inner = self.inner.lock();
            let ready = inner.ring.as_ref().map_or(0, |r| r.unreaped());
            if ready > 0 {
                continue;
            }
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let waited = self.events.wait_interruptible_timeout(&mut inner, jiffies);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
            match waited {
                CondVarTimeoutResult::Timeout => jiffies = 0,
                CondVarTimeoutResult::Woken { jiffies: j } => {
                    if jiffies != usize::MAX {
                        jiffies = j;
                    }
                }
                CondVarTimeoutResult::Signal { jiffies: left } => {
                    drop(inner);
                    if got > 0 {
                        return Ok(got as isize);
                    }
                    if shim::real_signal_pending() {
                        return Err(EINTR);
                    }
                    // A task_work notification (a KEEP'd file being
                    // installed) restarts the call transparently once the
                    // work ran, with the time that was left (written back,
                    // as select(2) updates its timeout).
                    if jiffies != usize::MAX && g.timeout_ns > 0 {
                        let mut again = g;
                        // SAFETY: Pure conversion.
                        let us = unsafe { bindings::jiffies_to_usecs(left as _) };
                        again.timeout_ns = (i64::from(us) * 1000).clamp(0, g.timeout_ns);
                        UserSlice::new(arg, size_of::<uapi::GetEvents>())
                            .writer()
                            .write(&again)?;
                    }
                    return Err(ERESTARTSYS);
                }
            }
        }
    }

    /// `KAIO_IOC_CANCEL`.
    pub(crate) fn cancel(&self, arg: usize) -> Result<isize> {
        let c: uapi::Cancel = UserSlice::new(arg, size_of::<uapi::Cancel>())
            .reader()
            .read()?;
        if c.reserved != 0 {
            return Err(EINVAL);
        }
        let inner = self.inner.lock();
        for req in inner.slots.iter().flatten() {
            if req.user_data() == c.user_data && req.cancel() {
                stats::add(Stat::Cancelled, 1);
                return Ok(0);
            }
        }
        Err(ENOENT)
    }

    /// `KAIO_IOC_EVENTFD`.
    pub(crate) fn set_eventfd(&self, arg: usize) -> Result<isize> {
        let fd: i32 = UserSlice::new(arg, size_of::<i32>()).reader().read()?;
        let efd = if fd == -1 {
            None
        } else {
            Some(EventFd::fdget(fd)?)
        };
        let old = core::mem::replace(&mut self.inner.lock().eventfd, efd);
        drop(old);
        Ok(0)
    }

    /// Maps the ring into `vma`.
    ///
    /// # Safety
    ///
    /// `vma` is the area being set up by the `mmap` file operation.
    pub(crate) unsafe fn mmap(&self, vma: *mut bindings::vm_area_struct) -> Result {
        self.check_owner()?;
        // SAFETY: `vma` is valid per the safety contract.
        if unsafe { (*vma).vm_pgoff } != 0 {
            return Err(EINVAL);
        }
        // The ring is set once and lives as long as the context, which the
        // mapping keeps alive through the file. Mapping allocates page
        // tables, so it happens outside the spinlock.
        let mem = {
            let inner = self.inner.lock();
            inner.ring.as_ref().ok_or(EINVAL)?.mem() as *const shim::UserMem
        };
        // SAFETY: `mem` stays valid (see above); `vma` per the contract.
        unsafe { (*mem).map(vma) }
    }

    /// Whether completions wait to be consumed (poll readiness).
    pub(crate) fn poll_ready(&self) -> bool {
        self.inner
            .lock()
            .ring
            .as_ref()
            .is_some_and(|r| r.unreaped() > 0)
    }

    /// The poll wait queue.
    pub(crate) fn poll_queue(&self) -> *mut bindings::wait_queue_head {
        self.pollq.get()
    }

    /// Release of the file: no new requests, cancel all in flight, and
    /// queue the teardown. Never waits: closing a context, or exiting with
    /// it open, returns at once.
    pub(crate) fn release(self: Arc<Self>) {
        let idle = {
            let mut inner = self.inner.lock();
            inner.dying = true;
            inner.inflight() == 0
        };
        // Nothing in flight and no worker stopped: the teardown cannot
        // wait for anything, so it runs here and the context is gone when
        // close(2) returns. Not in a worker (the last reference to a
        // context can be dropped by one, closing a socket whose queue held
        // it): a worker cannot wait for itself to exit.
        if idle && !shim::current_is_worker() && !self.lanes.iter().any(Lane::held) {
            let used = self.lanes.iter().any(Lane::has_worker);
            self.teardown();
            if used {
                // As in the deferred teardown (`WorkItem<4>`).
                shim::synchronize_rcu();
            }
            return;
        }
        self.cancel_all();
        // The teardown holds the file's reference, and a module reference
        // (the file's is dropped when release returns), until it is done.
        let module = shim::ModuleRef::get();
        *self.exit_module.lock() = Some(module);
        let _ = shim::exit_workqueue().enqueue::<_, 4>(self);
    }

    /// The teardown, on kaio's workqueue: stops the lanes' workers, hands
    /// pending fd installations back as cancelled, and waits until every
    /// request (and its block I/O) has finished.
    fn teardown(&self) {
        for lane in &self.lanes {
            lane.stop_worker();
        }
        let mut inner = self.inner.lock();
        loop {
            let mut stolen = None;
            for req in inner.slots.iter().flatten() {
                if req.cancel() {
                    stats::add(Stat::Cancelled, 1);
                }
                if req.has_delivery() {
                    stolen = Some(req.clone());
                    break;
                }
            }
            if let Some(req) = stolen {
                drop(inner);
                req.abort_delivery();
                drop(req);
                inner = self.inner.lock();
                continue;
            }
            if inner.inflight() == 0 {
                break;
            }
            // A kworker never has signals: this is an idle wait, bounded
            // by the block I/O of cancelled requests.
            self.sleepers.fetch_add(1, Ordering::SeqCst);
            let _ = self.events.wait_interruptible_timeout(&mut inner, 100);
            self.sleepers.fetch_sub(1, Ordering::SeqCst);
        }
        drop(inner);
    }

    /// Wakes teardown: a request now waits for its fd to be installed.
    pub(crate) fn kick(&self) {
        let _guard = self.inner.lock();
        self.events.notify_all();
    }
}

#[pinned_drop]
impl PinnedDrop for Context {
    fn drop(self: Pin<&mut Self>) {
        stats::sub(Stat::ContextsLive, 1);
    }
}
