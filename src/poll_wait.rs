// SPDX-License-Identifier: GPL-2.0

//! Wait entries that park a request on a pipe, socket, FIFO or tty.
//!
//! [`PollEntries::arm`] polls the file with a poll table whose queue
//! callback ([`kaio_rust_poll_hook`]) hooks one entry on each wait queue
//! the file names (a pipe names two). The entries stay queued until the
//! owner unhooks them; each wake-up of a queue runs [`wake`], which only
//! tells the request's park state (`park.rs`), which decides whether the
//! wake-up hands the request back.

use crate::{kapi, park, shim::FileRef};
use core::{
    ffi::c_void,
    pin::Pin,
    sync::atomic::{AtomicBool, AtomicPtr, AtomicU32, AtomicUsize, Ordering},
};
use kernel::{
    bindings,
    ffi::{c_int, c_uint},
    prelude::*,
    types::Opaque,
};

/// Wait queues a parked request can be on (a pipe polls on two).
const HEADS: usize = 3;

/// The shim's poll glue (`poll_table` is opaque to bindgen) and the inline
/// kernel functions it wraps.
mod ffi {
    use kernel::{bindings, ffi::c_void};

    // Only pointers to these structures cross the boundary; bindgen lays
    // them out, and some hold fields bindgen leaves opaque.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn kaio_shim_vfs_poll(
            file: *mut bindings::file,
            key: u32,
            data: *mut c_void,
        ) -> u32;
        pub(super) fn kaio_shim_list_del_init(entry: *mut bindings::list_head);
        pub(super) fn kaio_shim_rcu_read_lock();
        pub(super) fn kaio_shim_rcu_read_unlock();
    }
}

/// The entries of one request.
///
/// `nr`, `overflow` and the entries' set-up belong to the runner (hooking
/// and unhooking); a wake-up reads `events` and `owner` and, for POLLFREE,
/// unlinks its own entry and clears its head, under that queue's lock.
struct Entries {
    wait: [Opaque<bindings::wait_queue_entry>; HEADS],
    /// The queue each entry is on; null once POLLFREE said it is going
    /// away (store-release by the wake-up, load-acquire by the unhook).
    head: [AtomicPtr<bindings::wait_queue_head>; HEADS],
    nr: AtomicUsize,
    /// The file has more wait queues than kaio tracks.
    overflow: AtomicBool,
    events: AtomicU32,
    /// The request (`park::kaio_rust_poll_wake`).
    owner: *const c_void,
}

/// Wait entries that park a request on a pollable file; wake-ups call
/// `kaio_rust_poll_wake(owner)`.
///
/// # Invariants
///
/// The entries are unhooked before they are freed (on drop), and the files
/// whose wait queues they are on outlive the hooking (callers' duty, see
/// [`PollEntries::arm`]). Pinned: queued entries are linked into lists.
pub(crate) struct PollEntries(Pin<KBox<Entries>>);

// SAFETY: Hooking and unhooking are done by the request's runner; wake
// callbacks only read the owner pointer and event mask, and clear a head.
unsafe impl Send for PollEntries {}
// SAFETY: As above.
unsafe impl Sync for PollEntries {}

/// A wake-up of a queue an entry is on: often softirq (TCP ACKs), with the
/// queue's lock held. The entry stays queued; the owner unhooks.
///
/// # Safety
///
/// `wait` is a hooked entry of a live [`Entries`] (its `private`): the
/// owner unhooks, under the queue's lock, before freeing it.
unsafe extern "C" fn wake(
    wait: *mut bindings::wait_queue_entry,
    _mode: c_uint,
    _sync: c_int,
    key: *mut c_void,
) -> c_int {
    // SAFETY: Per the safety contract.
    let p = unsafe { &*((*wait).private as *const Entries) };
    // `key_to_poll()`: the mask travels in the pointer.
    let mask = key as usize as u32;
    let wanted = p.events.load(Ordering::Relaxed) | kapi::EPOLLERR | kapi::EPOLLHUP;
    if mask != 0 && mask & (wanted | kapi::POLLFREE) == 0 {
        return 0;
    }
    // SAFETY: The owner outlives its hooked entries (type invariant).
    unsafe { park::kaio_rust_poll_wake(p.owner.cast_mut(), kapi::in_interrupt()) };
    if mask & kapi::POLLFREE != 0 {
        // The wait queue itself is going away (signalfd's, with its
        // sighand): leave it now and mark the head gone, as aio and
        // io_uring do; the owner's unhook skips it. This is the last
        // access to `p`: once the head reads as gone, the owner may free
        // the entries without taking this queue's lock.
        let i = (wait as usize - p.wait.as_ptr() as usize)
            / core::mem::size_of::<Opaque<bindings::wait_queue_entry>>();
        // SAFETY: `wait` is queued, and the queue's lock is held.
        unsafe { ffi::kaio_shim_list_del_init(&mut (*wait).entry) };
        // The unlink above is done before the head reads as gone.
        p.head[i].store(core::ptr::null_mut(), Ordering::Release);
    }
    0
}

/// The poll table's queue callback, from inside `vfs_poll()` in
/// [`PollEntries::arm`]: hooks the next entry on `head`.
///
/// # Safety
///
/// `data` is the [`Entries`] being armed by the caller of `vfs_poll()`;
/// `head` is a wait queue of the polled file, which outlives the hooking.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_poll_hook(
    data: *mut c_void,
    head: *mut bindings::wait_queue_head,
) {
    // SAFETY: Per the safety contract.
    let p = unsafe { &*(data as *const Entries) };
    let nr = p.nr.load(Ordering::Relaxed);
    if nr >= HEADS {
        p.overflow.store(true, Ordering::Relaxed);
        return;
    }
    let w = p.wait[nr].get();
    // This is `init_waitqueue_func_entry()` with the entries as `private`,
    // then `add_wait_queue()` under the queue's lock, which orders these
    // stores before any wake-up that sees the entry.
    // SAFETY: Entry `nr` is not queued (only `nr` entries are); `head` is
    // a live wait queue (the safety contract).
    unsafe {
        (*w).flags = 0;
        (*w).private = data;
        (*w).func = Some(wake);
        p.head[nr].store(head, Ordering::Relaxed);
        p.nr.store(nr + 1, Ordering::Relaxed);
        bindings::add_wait_queue(head, w);
    }
}

impl PollEntries {
    /// Entries whose wake-ups report `owner`.
    pub(crate) fn new(owner: *const c_void) -> Result<Self> {
        let p = Entries {
            wait: [const { Opaque::uninit() }; HEADS],
            head: [const { AtomicPtr::new(core::ptr::null_mut()) }; HEADS],
            nr: AtomicUsize::new(0),
            overflow: AtomicBool::new(false),
            events: AtomicU32::new(0),
            owner,
        };
        Ok(PollEntries(KBox::pin(p, GFP_KERNEL_ACCOUNT)?))
    }

    /// Hooks the entries on `file`'s wait queues for `events` and returns
    /// the file's current mask (the caller re-checks readiness after
    /// arming, so no wake-up is lost). A file with more wait queues than
    /// kaio tracks reports itself ready: the caller retries instead of
    /// parking.
    ///
    /// # Safety
    ///
    /// `file` must stay open until [`PollEntries::unhook`] ran (or this
    /// value is dropped).
    pub(crate) unsafe fn arm(&self, file: &FileRef, events: u32) -> u32 {
        let p: &Entries = &self.0;
        p.events.store(events, Ordering::Relaxed);
        let data = (p as *const Entries).cast_mut().cast();
        // `data` is these entries, pinned and alive until unhooked.
        // SAFETY: The file is valid and, per the safety contract, outlives
        // the hooking; `data` as above (type invariant).
        let mut mask = unsafe {
            ffi::kaio_shim_vfs_poll(
                file.as_ptr(),
                events | kapi::EPOLLERR | kapi::EPOLLHUP,
                data,
            )
        };
        if p.overflow.load(Ordering::Relaxed) {
            mask |= events;
        }
        mask
    }

    /// Takes every entry off its wait queue; no wake-up can see it
    /// afterwards. A head that POLLFREE cleared is gone: its memory (a
    /// sighand, freed by RCU) is only looked at under `rcu_read_lock`, as
    /// `aio_poll_cancel` does.
    pub(crate) fn unhook(&self) {
        let p: &Entries = &self.0;
        let nr = p.nr.load(Ordering::Relaxed);
        // SAFETY: Paired with the unlock below.
        unsafe { ffi::kaio_shim_rcu_read_lock() };
        for i in 0..nr {
            // Pairs with the release in `wake` (POLLFREE).
            let head = p.head[i].load(Ordering::Acquire);
            if head.is_null() {
                continue;
            }
            // `remove_wait_queue` unlinks it under the queue's lock, so no
            // wake-up runs on it afterwards.
            // SAFETY: Entry `i` is on `head`, whose file is still open (type
            // invariant).
            unsafe { bindings::remove_wait_queue(head, p.wait[i].get()) };
        }
        // SAFETY: Paired with the lock above.
        unsafe { ffi::kaio_shim_rcu_read_unlock() };
        p.nr.store(0, Ordering::Relaxed);
        p.overflow.store(false, Ordering::Relaxed);
    }
}

impl Drop for PollEntries {
    fn drop(&mut self) {
        self.unhook();
    }
}
