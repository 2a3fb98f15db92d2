// SPDX-License-Identifier: GPL-2.0

//! Module-wide counters, shown by the shim in `/sys/kernel/debug/kaio/stats`.

use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    c_str,
    ffi::{c_char, c_uint},
    str::CStr,
};

macro_rules! stats {
    ($($(#[$doc:meta])* $id:ident => $name:literal,)*) => {
        /// A counter in [`COUNTERS`].
        #[derive(Clone, Copy)]
        #[repr(usize)]
        pub(crate) enum Stat {
            $($(#[$doc])* $id,)*
        }

        /// Names as shown in debugfs, in [`Stat`] order.
        const NAMES: &[&CStr] = &[$(c_str!($name),)*];
    };
}

stats! {
    /// Opens of `/dev/kaio` since load.
    ContextsOpened => "contexts_opened",
    /// Contexts that exist now.
    ContextsLive => "contexts_live",
    /// Requests accepted by SUBMIT.
    Submitted => "submitted",
    /// Completions published.
    Completed => "completed",
    /// Requests in flight now.
    Inflight => "inflight",
    /// Successful cancels (by CANCEL or teardown).
    Cancelled => "cancelled",
    /// Parked requests handed back from interrupt context: a folio read
    /// or a direct read completing (bio end_io).
    IrqCompletions => "irq_completions",
    /// Reads that parked on the page cache instead of waiting.
    ParkedReads => "parked_reads",
    /// Worker wake-ups that found work (each runs every ready request of
    /// its lane).
    WorkerRuns => "worker_runs",
    /// Times a worker had to wait for the disk (no async path).
    WorkerDiskWaits => "worker_disk_waits",
    /// Bytes read into user buffers.
    BytesRead => "bytes_read",
    /// Bytes written from user buffers.
    BytesWritten => "bytes_written",
    /// Bytes SENDFILE wrote to its output.
    BytesSent => "bytes_sent",
    /// The part of `irq_completions` that belongs to chains with a
    /// SENDFILE step.
    SendfileIrqCompletions => "sendfile_irq_completions",
    /// SENDFILE windows sent straight from the page cache.
    SendfileChunksCached => "sendfile_chunks_cached",
    /// SENDFILE windows that had to be read from the disk.
    SendfileChunksDisk => "sendfile_chunks_disk",
    /// SENDFILE parks on a full socket or pipe.
    SendfileOutParks => "sendfile_out_parks",
    /// Parks on a pollable file (SENDFILE outputs, stream READ/WRITE).
    PollParks => "poll_parks",
    /// Worker threads (of submitting processes) alive.
    Workers => "workers",
    /// Requests that ran to their end inline, in SUBMIT.
    InlineCompletions => "inline_completions",
    /// Requests SUBMIT handed to a worker: a step would have blocked, or
    /// the SUBMIT's inline budget was spent.
    InlinePunts => "inline_punts",
    /// Times a request waited for one of its context's disk streams.
    DiskWaits => "disk_waits",
}

static COUNTERS: [AtomicU64; NAMES.len()] = [const { AtomicU64::new(0) }; NAMES.len()];

/// Adds `n` to counter `s`.
pub(crate) fn add(s: Stat, n: u64) {
    COUNTERS[s as usize].fetch_add(n, Ordering::Relaxed);
}

/// Subtracts `n` from counter `s` (gauges such as [`Stat::ContextsLive`]).
pub(crate) fn sub(s: Stat, n: u64) {
    COUNTERS[s as usize].fetch_sub(n, Ordering::Relaxed);
}

/// Reports counter `idx` to the shim; false once `idx` is past the last.
///
/// # Safety
///
/// `name` and `val` must be valid for writes.
#[no_mangle]
pub(crate) unsafe extern "C" fn kaio_rust_stat(
    idx: c_uint,
    name: *mut *const c_char,
    val: *mut u64,
) -> bool {
    let idx = idx as usize;
    if idx >= NAMES.len() {
        return false;
    }
    // SAFETY: Both pointers are valid for writes by the safety contract; the
    // names are static strings.
    unsafe {
        *name = NAMES[idx].as_char_ptr();
        *val = COUNTERS[idx].load(Ordering::Relaxed);
    }
    true
}
