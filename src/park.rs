// SPDX-License-Identifier: GPL-2.0

//! Parking a request without a thread, and handing it back.
//!
//! A request that cannot go on without waiting (a folio being read, a
//! direct read in flight, a full socket, an empty pipe) *lends* a
//! reference to itself to the wake-up source and leaves its worker. The
//! source gives the reference back exactly once, from whatever context it
//! runs in (bio completion in hard or soft interrupt, a socket's
//! write-space callback), and the request becomes ready again. [`Lent`] is
//! that reference: the only place where a request is turned into a raw
//! pointer and back.
//!
//! Folio waits and direct reads always complete (the block layer ends
//! every bio), so their wake-up is the only way back. Waits on pollable
//! files may never end (a peer that never reads), so they go through
//! [`Park`], which a cancel can also take back:
//!
//! ```text
//!   IDLE --runner arms--> ARMING --runner: nothing ready--> ARMED
//!                           |                                 |
//!                 wake-up during arming              wake-up or cancel (CAS)
//!                           v                                 v
//!                         FIRED --runner: retry--> IDLE <-----+ (takes the reference)
//! ```
//!
//! INVARIANT: the lent reference belongs to the runner in IDLE, ARMING and
//! FIRED, and to whoever moves ARMED to IDLE. A runner re-checks
//! cancellation after ARMED, so a cancel that ran before the request was
//! armed is never lost.

use crate::{
    request::{make_ready, Request},
    shim::{poll, FileRef, PollEntries},
    stats::{self, Stat},
};
use core::{
    ffi::c_void,
    sync::atomic::{AtomicBool, AtomicU32, Ordering},
};
use kernel::sync::Arc;

/// A reference to a request lent to a wake-up source.
///
/// # Invariants
///
/// `0` came from `Arc::into_raw` and is owned by this value until it is
/// reclaimed, or forgotten because a wake-up source took it.
pub(crate) struct Lent(*const Request);

impl Lent {
    /// Lends a new reference to `req`.
    pub(crate) fn new(req: &Arc<Request>) -> Self {
        // INVARIANT: a fresh reference, owned by this value.
        Lent(Arc::into_raw(req.clone()))
    }

    /// The pointer to pass to the wake-up source.
    pub(crate) fn data(&self) -> *mut c_void {
        self.0.cast_mut().cast()
    }

    /// The source did not take the reference: it is ours again.
    pub(crate) fn reclaim(self) -> Arc<Request> {
        let p = core::mem::ManuallyDrop::new(self).0;
        // SAFETY: By the type invariant we still own the reference.
        unsafe { Arc::from_raw(p) }
    }

    /// The source took the reference; it will hand it back with [`Lent::take`].
    pub(crate) fn forget(self) {
        core::mem::forget(self);
    }

    /// Takes back a reference a wake-up source was lent.
    ///
    /// # Safety
    ///
    /// `data` is [`Lent::data`] of a forgotten [`Lent`], handed back once.
    pub(crate) unsafe fn take(data: *mut c_void) -> Arc<Request> {
        // SAFETY: Per the safety contract.
        unsafe { Arc::from_raw(data as *const Request) }
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we own the reference.
        drop(unsafe { Arc::from_raw(self.0) });
    }
}

const IDLE: u32 = 0;
const ARMING: u32 = 1;
const ARMED: u32 = 2;
const FIRED: u32 = 3;

/// A request's park on pollable files: the state of the diagram above.
pub(crate) struct Park {
    state: AtomicU32,
    /// The last arming saw only an error or hang-up and retried (runner
    /// only).
    err_retried: AtomicBool,
}

impl Park {
    /// Not parked.
    pub(crate) const fn new() -> Self {
        Park {
            state: AtomicU32::new(IDLE),
            err_retried: AtomicBool::new(false),
        }
    }
}

impl Request {
    /// Parks `self` until `file` reports one of `events` (or an error);
    /// true if parked, false if the caller should retry now. Called by the
    /// request's runner, which holds `file` (in the chain or a step) until
    /// its next run or the request's end, where `entries` are unhooked.
    pub(crate) fn park_poll(
        self: &Arc<Self>,
        entries: &PollEntries,
        file: &FileRef,
        events: u32,
    ) -> bool {
        let park = self.park();
        entries.unhook();
        park.state.store(ARMING, Ordering::SeqCst);
        let lent = Lent::new(self);
        // The runner keeps `file` open until it unhooks `entries`: its next
        // run, `Request::finish`, or the drop of `Exec` (entries drop first).
        // SAFETY: `file` outlives the hooking, as just said.
        let mask = unsafe { entries.arm(file, events) };
        // The events asked for make the step retry now. An error or
        // hang-up alone (a pipe whose reader left) does too, once: the
        // transfer then returns the error itself (EPIPE). If it still says
        // EAGAIN (a socket's error queue reports EPOLLERR), the request
        // parks instead of retrying for ever.
        let err_only = mask & events == 0 && mask & (poll::ERR | poll::HUP) != 0;
        let retry_err = err_only && !park.err_retried.swap(true, Ordering::Relaxed);
        if !err_only {
            park.err_retried.store(false, Ordering::Relaxed);
        }
        if mask & events != 0 || retry_err {
            entries.unhook();
            park.state.store(IDLE, Ordering::SeqCst);
            drop(lent.reclaim());
            return false;
        }
        if park
            .state
            .compare_exchange(ARMING, ARMED, Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
        {
            // FIRED: a wake-up came while arming.
            entries.unhook();
            park.state.store(IDLE, Ordering::SeqCst);
            drop(lent.reclaim());
            return false;
        }
        // INVARIANT: ARMED; the reference now belongs to whoever ends it.
        lent.forget();
        if self.is_cancelled() {
            if let Some(me) = self.unpark() {
                entries.unhook();
                drop(me);
                return false;
            }
        }
        // A wake-up will mean something changed: an error-only mask then
        // earns one retry again.
        park.err_retried.store(false, Ordering::Relaxed);
        stats::add(Stat::PollParks, 1);
        true
    }

    /// Ends an armed park: the lent reference, if this call took it.
    pub(crate) fn unpark(&self) -> Option<Arc<Request>> {
        self.park()
            .state
            .compare_exchange(ARMED, IDLE, Ordering::SeqCst, Ordering::SeqCst)
            .ok()?;
        // SAFETY: Moving ARMED to IDLE gave us the reference lent in
        // `park_poll`, which is `self`'s own pointer.
        Some(unsafe { Lent::take((self as *const Request).cast_mut().cast()) })
    }

    /// A wake-up from a polled file's wait queue (any context).
    fn poll_woken(&self) {
        let state = &self.park().state;
        loop {
            match state.load(Ordering::SeqCst) {
                ARMED => {
                    if let Some(me) = self.unpark() {
                        make_ready(me);
                    }
                    return;
                }
                ARMING => {
                    if state
                        .compare_exchange(ARMING, FIRED, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
                    {
                        return;
                    }
                }
                _ => return,
            }
        }
    }
}

/// Hands a request back from a wake-up source that was lent it.
fn woken(data: *mut c_void, in_irq: bool) {
    // SAFETY: The callers' contracts: `data` is a lent reference that its
    // source passes back exactly once.
    let req = unsafe { Lent::take(data) };
    if in_irq {
        stats::add(Stat::IrqCompletions, 1);
    }
    make_ready(req);
}

/// Wake-up of a READ or SENDFILE parked on a folio, from the shim's folio
/// wait callback in the block layer's completion (hard or soft interrupt,
/// IRQs off): only queue the request.
///
/// # Safety
///
/// `data` is the [`Lent`] reference the request armed the wait entry with.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_read_wake(data: *mut c_void, in_irq: bool) {
    woken(data, in_irq);
}

/// A SENDFILE's direct read completed (bio end_io, interrupt context).
///
/// # Safety
///
/// `data` is the [`Lent`] reference the read was started with.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_sf_wake(data: *mut c_void, in_irq: bool) {
    woken(data, in_irq);
}

/// A polled file a request's entries are hooked on may be ready. Any
/// context, with the wait queue's lock held.
///
/// # Safety
///
/// `owner` is the request that owns the hooked entries; entries are
/// unhooked before the request is freed.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_poll_wake(owner: *mut c_void, _in_irq: bool) {
    // SAFETY: Per the safety contract the request is alive.
    let req = unsafe { &*(owner as *const Request) };
    req.poll_woken();
}
