// SPDX-License-Identifier: GPL-2.0

//! The completion ring, shared with userspace through mmap.
//!
//! Layout and memory-ordering rules are those documented in
//! `include/uapi/linux/kaio.h`: the kernel fills events at `tail` and
//! publishes them with a release store of `tail`; the consumer publishes its
//! progress with a release store of `head`. `head` is written by userspace
//! and so is never trusted: it only ever limits how much the kernel may
//! write, and a corrupt value makes the ring look full, never overflow.

use crate::{
    shim::UserMem,
    uapi::{self, Event},
};
use core::{
    mem::size_of,
    ptr,
    sync::atomic::{AtomicU32, Ordering},
};
use kernel::{bindings, prelude::*};

/// A context's completion ring.
///
/// # Invariants
///
/// `mem` holds a `struct kaio_ring` header followed by `entries` events;
/// `entries` is a power of two. `tail` is the kernel's copy of the shared
/// `tail`, which only the kernel writes.
pub(crate) struct Ring {
    mem: UserMem,
    entries: u32,
    tail: u32,
}

impl Ring {
    /// Bytes of the mapping for a ring of `entries` events.
    pub(crate) fn size_for(entries: u32) -> usize {
        let bytes = uapi::RING_HDR_SIZE + entries as usize * size_of::<Event>();
        let page = bindings::PAGE_SIZE;
        bytes.div_ceil(page) * page
    }

    /// A zeroed ring of `entries` (a power of two) events.
    pub(crate) fn new(entries: u32) -> Result<Self> {
        let mem = UserMem::new(Self::size_for(entries))?;
        let ring = Ring {
            mem,
            entries,
            tail: 0,
        };
        ring.field(uapi::RING_MASK)
            .store(entries - 1, Ordering::Relaxed);
        ring.field(uapi::RING_ENTRIES)
            .store(entries, Ordering::Relaxed);
        Ok(ring)
    }

    /// The shared memory, for mmap.
    pub(crate) fn mem(&self) -> &UserMem {
        &self.mem
    }

    /// The header word at byte offset `off`.
    fn field(&self, off: usize) -> &AtomicU32 {
        // SAFETY: `off` is an aligned header offset inside the allocation;
        // userspace may write the word concurrently, which atomics tolerate.
        unsafe { AtomicU32::from_ptr(self.mem.as_ptr().add(off).cast()) }
    }

    /// Pointer to event slot `idx` (any counter value; it is masked).
    fn slot(&self, idx: u32) -> *mut Event {
        let i = (idx & (self.entries - 1)) as usize;
        // SAFETY: `i < entries`, so the slot lies inside the allocation.
        unsafe {
            self.mem
                .as_ptr()
                .add(uapi::RING_HDR_SIZE + i * size_of::<Event>())
                .cast()
        }
    }

    /// The consumer's `head`, with acquire ordering (pairs with the
    /// consumer's release store after it read the events).
    pub(crate) fn head(&self) -> u32 {
        self.field(uapi::RING_HEAD).load(Ordering::Acquire)
    }

    /// Events published and not yet consumed, as far as the kernel can
    /// trust `head`: a value outside `[tail - entries, tail]` counts as full.
    pub(crate) fn unreaped(&self) -> u32 {
        let used = self.tail.wrapping_sub(self.head());
        used.min(self.entries)
    }

    /// Number of events.
    pub(crate) fn entries(&self) -> u32 {
        self.entries
    }

    /// Publishes `ev`. The caller has reserved the slot (see
    /// `Context::submit`), so the ring is never full here; if userspace
    /// corrupted `head`, an unconsumed event may be overwritten, never
    /// memory outside the ring.
    pub(crate) fn push(&mut self, ev: &Event) {
        // SAFETY: `slot` is inside the ring; userspace may read it
        // concurrently, so write it without creating a reference.
        unsafe { ptr::write_volatile(self.slot(self.tail), *ev) };
        self.tail = self.tail.wrapping_add(1);
        // Pairs with the consumer's acquire load of `tail`.
        self.field(uapi::RING_TAIL)
            .store(self.tail, Ordering::Release);
    }

    /// Copies up to `out.len()` unconsumed events, oldest first, without
    /// consuming them; returns how many.
    pub(crate) fn peek(&self, out: &mut [Event]) -> usize {
        let head = self.head();
        let n = (self.unreaped() as usize).min(out.len());
        for (i, ev) in out.iter_mut().take(n).enumerate() {
            // SAFETY: The slot is inside the ring; a concurrent userspace
            // write can only change the bytes copied.
            *ev = unsafe { ptr::read_volatile(self.slot(head.wrapping_add(i as u32))) };
        }
        n
    }

    /// Consumes `n` events that [`Ring::peek`] returned, if `head` has not
    /// moved since; returns whether it had not.
    pub(crate) fn consume(&self, expected_head: u32, n: u32) -> bool {
        self.field(uapi::RING_HEAD)
            .compare_exchange(
                expected_head,
                expected_head.wrapping_add(n),
                Ordering::Release,
                Ordering::Relaxed,
            )
            .is_ok()
    }
}
