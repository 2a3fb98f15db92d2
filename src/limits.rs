// SPDX-License-Identifier: GPL-2.0

//! Limits: requests in flight and kernel memory held for requests, rings
//! and SENDFILE windows, bounded module-wide (`max_inflight`, `max_memory`)
//! and per user (`max_user_inflight`, `max_user_memory`: the counts live in
//! the table of users in `users.rs`). The memory itself is also charged to the
//! submitter's memory cgroup.

use crate::shim::{self, Param, UserCharge};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::prelude::*;

static MEMORY: AtomicU64 = AtomicU64::new(0);
static INFLIGHT: AtomicU64 = AtomicU64::new(0);

/// Takes `n` from `counter` if that keeps it within `limit`.
fn take(counter: &AtomicU64, n: u64, limit: u64) -> Result {
    let mut cur = counter.load(Ordering::Relaxed);
    loop {
        let new = cur.checked_add(n).filter(|&v| v <= limit).ok_or(EAGAIN)?;
        match counter.compare_exchange_weak(cur, new, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => return Ok(()),
            Err(v) => cur = v,
        }
    }
}

/// Bytes charged against `max_memory` and the current user's
/// `max_user_memory`, given back on drop.
pub(crate) struct Charge {
    bytes: u64,
    _user: UserCharge,
}

impl Charge {
    /// Charges `bytes`; `EAGAIN` past either limit.
    pub(crate) fn new(bytes: usize) -> Result<Self> {
        Self::with_requests(0, bytes)
    }

    /// Charges `bytes` and `reqs` requests (the user's `max_user_inflight`)
    /// in one look-up of the user; `EAGAIN` past any limit.
    pub(crate) fn with_requests(reqs: u32, bytes: usize) -> Result<Self> {
        let user = UserCharge::new(reqs, bytes as u64)?;
        take(&MEMORY, bytes as u64, shim::param(Param::Memory))?;
        Ok(Charge {
            bytes: bytes as u64,
            _user: user,
        })
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        MEMORY.fetch_sub(self.bytes, Ordering::Relaxed);
    }
}

/// One request counted against `max_inflight`, given back on drop.
pub(crate) struct InflightSlot(());

impl InflightSlot {
    /// Counts one request; `EAGAIN` if `max_inflight` are in flight.
    pub(crate) fn new() -> Result<Self> {
        take(&INFLIGHT, 1, shim::param(Param::Inflight))?;
        Ok(InflightSlot(()))
    }
}

impl Drop for InflightSlot {
    fn drop(&mut self) {
        INFLIGHT.fetch_sub(1, Ordering::Relaxed);
    }
}
