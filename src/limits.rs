// SPDX-License-Identifier: GPL-2.0

//! Module-wide limits: requests in flight and kernel memory held for
//! requests and rings, bounded by the module parameters `max_inflight` and
//! `max_memory`.

use crate::shim::{self, Param};
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

/// Bytes charged against `max_memory`, given back on drop.
pub(crate) struct Charge(u64);

impl Charge {
    /// Charges `bytes`; `EAGAIN` if that would exceed `max_memory`.
    pub(crate) fn new(bytes: usize) -> Result<Self> {
        take(&MEMORY, bytes as u64, shim::param(Param::Memory))?;
        Ok(Charge(bytes as u64))
    }
}

impl Drop for Charge {
    fn drop(&mut self) {
        MEMORY.fetch_sub(self.0, Ordering::Relaxed);
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
