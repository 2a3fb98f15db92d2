// SPDX-License-Identifier: GPL-2.0

//! Per-user accounting: requests in flight and bytes of kernel memory per
//! real uid, bounded by `max_user_inflight` and `max_user_memory`, as
//! RLIMIT_NPROC counts processes.
//!
//! The table is a red-black tree of the users that hold something, under
//! an IRQ-safe spinlock (a charge may be given back wherever its request's
//! last reference goes). It lives in the module ([`Users::new`] at init)
//! and is reached through [`USERS`].

use crate::shim::{self, Param};
use core::{
    pin::Pin,
    ptr::null_mut,
    sync::atomic::{AtomicPtr, Ordering},
};
use kernel::{
    bindings,
    ffi::{c_char, c_ulong},
    prelude::*,
    rbtree::{RBTree, RBTreeNodeReservation},
    sync::lock::{Backend, Lock},
};

mod ffi {
    use kernel::{bindings, ffi::c_ulong};

    extern "C" {
        pub(super) fn kaio_shim_spin_lock_irqsave(lock: *mut bindings::spinlock_t) -> c_ulong;
        pub(super) fn kaio_shim_spin_unlock_irqrestore(
            lock: *mut bindings::spinlock_t,
            flags: c_ulong,
        );
        pub(super) fn kaio_shim_current_uid() -> u32;
        pub(super) fn kaio_shim_warn_once();
    }
}

/// A `spinlock_t` taken with `spin_lock_irqsave()`: usable from any
/// context, interrupts included. (6.12's kernel crate has only the plain
/// `spin_lock()` backend.)
pub(crate) struct IrqSpinLockBackend;

// SAFETY: `spinlock_t` ensures mutual exclusion; the guard state keeps the
// interrupt flags that `lock` saved for `unlock` to restore.
unsafe impl Backend for IrqSpinLockBackend {
    type State = bindings::spinlock_t;
    type GuardState = c_ulong;

    unsafe fn init(ptr: *mut Self::State, name: *const c_char, key: *mut bindings::lock_class_key) {
        // SAFETY: Per the trait's contract `ptr` is valid for writes, and
        // `name` and `key` live for ever.
        unsafe { bindings::__spin_lock_init(ptr, name, key) }
    }

    unsafe fn lock(ptr: *mut Self::State) -> Self::GuardState {
        // SAFETY: Per the trait's contract the lock is initialised.
        unsafe { ffi::kaio_shim_spin_lock_irqsave(ptr) }
    }

    unsafe fn unlock(ptr: *mut Self::State, flags: &Self::GuardState) {
        // SAFETY: Per the trait's contract the caller holds the lock, taken
        // by `lock`, which returned `flags`.
        unsafe { ffi::kaio_shim_spin_unlock_irqrestore(ptr, *flags) }
    }
}

/// What one user holds.
#[derive(Clone, Copy)]
struct Counts {
    reqs: u32,
    bytes: u64,
}

/// The table of users that hold requests or memory.
#[pin_data]
pub(crate) struct Users {
    #[pin]
    table: Lock<RBTree<u32, Counts>, IrqSpinLockBackend>,
}

/// The module's table, published by [`Users::new`] until its drop.
static USERS: AtomicPtr<Users> = AtomicPtr::new(null_mut());

/// The module's table, owned by the module and published in [`USERS`].
pub(crate) struct UsersTable {
    /// Only reached through [`USERS`].
    _table: Pin<KBox<Users>>,
}

impl UsersTable {
    /// Creates and publishes the table (module init, before `/dev/kaio`
    /// exists).
    pub(crate) fn new() -> Result<Self> {
        let t = KBox::pin_init(
            pin_init!(Users {
                table <- Lock::new(
                    RBTree::new(),
                    kernel::c_str!("kaio_users"),
                    kernel::static_lock_class!()
                ),
            }),
            GFP_KERNEL,
        )?;
        USERS.store((&*t as *const Users).cast_mut(), Ordering::Release);
        Ok(UsersTable { _table: t })
    }
}

impl Users {
    fn get() -> &'static Users {
        let p = USERS.load(Ordering::Acquire);
        // Published at module init before any file of `/dev/kaio` could be
        // opened, withdrawn at module exit when none is open and no request
        // is left: every charge happens in between.
        // SAFETY: So `p` points to the live table.
        unsafe { &*p }
    }
}

impl Drop for UsersTable {
    fn drop(&mut self) {
        USERS.store(null_mut(), Ordering::Release);
    }
}

/// Adds `reqs` and `bytes` to `c` if that keeps them within the limits.
fn add(c: &mut Counts, reqs: u32, bytes: u64) -> Result {
    let r = u64::from(c.reqs) + u64::from(reqs);
    let b = c.bytes.checked_add(bytes).ok_or(EAGAIN)?;
    if r > shim::param(Param::UserInflight) || b > shim::param(Param::UserMemory) {
        return Err(EAGAIN);
    }
    c.reqs = r as u32;
    c.bytes = b;
    Ok(())
}

/// Requests and bytes counted against `max_user_inflight` and
/// `max_user_memory` for the current real uid; given back on drop.
pub(crate) struct UserCharge {
    uid: u32,
    reqs: u32,
    bytes: u64,
}

impl UserCharge {
    /// Counts `reqs` requests and `bytes` of kernel memory for the current
    /// user (`EAGAIN` past either limit).
    pub(crate) fn new(reqs: u32, bytes: u64) -> Result<Self> {
        // SAFETY: Reads the current task's credentials.
        let uid = unsafe { ffi::kaio_shim_current_uid() };
        let users = Users::get();
        // Built only once counted: its drop gives the counts back.
        let charged = || UserCharge { uid, reqs, bytes };
        {
            let mut t = users.table.lock();
            if let Some(c) = t.get_mut(&uid) {
                return add(c, reqs, bytes).map(|()| charged());
            }
        }
        if reqs == 0 && bytes == 0 {
            return Ok(charged());
        }
        // A new user: its node is allocated outside the lock.
        let node = RBTreeNodeReservation::new(GFP_KERNEL)?;
        let mut t = users.table.lock();
        if let Some(c) = t.get_mut(&uid) {
            return add(c, reqs, bytes).map(|()| charged());
        }
        let mut c = Counts { reqs: 0, bytes: 0 };
        add(&mut c, reqs, bytes)?;
        t.insert(node.into_node(uid, c));
        Ok(charged())
    }
}

impl Drop for UserCharge {
    fn drop(&mut self) {
        if self.reqs == 0 && self.bytes == 0 {
            return;
        }
        let mut t = Users::get().table.lock();
        let empty = match t.get_mut(&self.uid) {
            Some(c) if c.reqs >= self.reqs && c.bytes >= self.bytes => {
                c.reqs -= self.reqs;
                c.bytes -= self.bytes;
                c.reqs == 0 && c.bytes == 0
            }
            _ => {
                // SAFETY: Only reports (once) the broken pairing.
                unsafe { ffi::kaio_shim_warn_once() };
                false
            }
        };
        if empty {
            // The node is freed under the lock: kfree is fine there.
            t.remove(&self.uid);
        }
    }
}
