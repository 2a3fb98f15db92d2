// SPDX-License-Identifier: GPL-2.0

//! Module-wide counters (all contexts together), shown by the shim in
//! `/sys/kernel/debug/kaio/stats`, one `name value` line each. kaio(7)
//! documents each; scripts and selftests read them by name.

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
    /// Opens of `/dev/kaio` since load (contexts created).
    ContextsOpened => "contexts_opened",
    /// Contexts that exist now (a gauge).
    ContextsLive => "contexts_live",
    /// Requests accepted by SUBMIT.
    Submitted => "submitted",
    /// Events published to a ring, one per request.
    Completed => "completed",
    /// Requests accepted and not yet completed (a gauge).
    Inflight => "inflight",
    /// Cancels that took effect (by CANCEL, the owner's death or teardown);
    /// at most one per request.
    Cancelled => "cancelled",
    /// Wake-ups of requests parked on a disk read (see `parked_reads`) that
    /// came from interrupt context: the block layer's completion. Each
    /// park ends with one wake-up, so this is at most `parked_reads`.
    IrqCompletions => "irq_completions",
    /// Parks on a disk read in flight, with no thread waiting: a folio read
    /// (READ, or SENDFILE filling the page cache) or a SENDFILE direct
    /// read into its private window.
    ParkedReads => "parked_reads",
    /// Worker wake-ups that found work (each runs every ready request of
    /// its lane).
    WorkerRuns => "worker_runs",
    /// Reads in which a worker thread waited for the disk (no non-waiting
    /// path for the file).
    WorkerDiskWaits => "worker_disk_waits",
    /// Bytes copied to user memory by READ, READV and RECV.
    BytesRead => "bytes_read",
    /// Bytes written from user memory by WRITE and WRITEV.
    BytesWritten => "bytes_written",
    /// Bytes SENDFILE and SEND wrote to their outputs.
    BytesSent => "bytes_sent",
    /// SENDFILE sends straight from the page cache, each at most one
    /// window (a full output can split a window into several).
    SendfileChunksCached => "sendfile_chunks_cached",
    /// SENDFILE reads from the disk, each at most one window: into the page
    /// cache, or into a private window.
    SendfileChunksDisk => "sendfile_chunks_disk",
    /// SENDFILE parks on a full socket or pipe (also in `poll_parks`).
    SendfileOutParks => "sendfile_out_parks",
    /// Parks on a pollable file: a pipe, FIFO, socket or tty (SENDFILE
    /// outputs, SEND, RECV, stream READ/WRITE).
    PollParks => "poll_parks",
    /// Worker threads (of submitting processes) alive (a gauge).
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
