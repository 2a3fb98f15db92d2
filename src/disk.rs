// SPDX-License-Identifier: GPL-2.0

//! The disk gate: how many requests of a context read from the disk at
//! once, and which go first.
//!
//! Sixty-four cold files sent at once share the disk: each gets a
//! sixty-fourth of it and all of them finish together, at the end. A pool
//! of eight threads finishes eight at a time, in order. The gate gives a
//! context `disk_streams` streams (a module parameter, 0 for no limit): a
//! request takes one at its first read from the disk and keeps it until it
//! completes, so a file, once started, goes at the disk's pace. One that
//! parks on a full output pauses: its stream goes to the next in line (a
//! slow reader must not hold the disk), and it takes one back, without
//! waiting, when it reads again: streams bound the requests reading, not
//! those waiting for their readers. A request
//! that finds every stream taken waits in the gate, parked without a
//! thread; a stream that frees goes to the oldest waiter, in submission
//! order. Data in the page cache never passes the gate.
//!
//! A request's place is its `disk` state: NONE, WAITING (in the tree,
//! which holds a reference), HOLDING (counted in `busy`) or PAUSED (parked
//! on its output, not counted). Every change
//! happens under the gate's lock; a cancel takes a waiting request out and
//! makes it ready, and a request that completes gives its stream back.

use crate::{
    request::{make_ready, Request},
    shim::{self, Param},
    stats::{self, Stat},
};
use core::sync::atomic::{AtomicU64, Ordering};
use kernel::{
    new_spinlock,
    prelude::*,
    rbtree::{RBTree, RBTreeNode},
    sync::{Arc, SpinLock},
};

/// Not at the gate.
pub(crate) const NONE: u8 = 0;
/// Waiting for a stream.
pub(crate) const WAITING: u8 = 1;
/// Holding a stream.
pub(crate) const HOLDING: u8 = 2;
/// Started, but parked on its output: holds no stream now.
pub(crate) const PAUSED: u8 = 3;

struct Gate {
    /// Streams held.
    busy: u32,
    /// Requests waiting for a stream, by submission order.
    waiting: RBTree<u64, Arc<Request>>,
}

/// A context's disk gate.
#[pin_data]
pub(crate) struct DiskGate {
    /// Submission order of the next request.
    next: AtomicU64,
    #[pin]
    gate: SpinLock<Gate>,
}

impl DiskGate {
    /// A gate with every stream free.
    pub(crate) fn new() -> impl PinInit<Self> {
        pin_init!(DiskGate {
            next: AtomicU64::new(0),
            gate <- new_spinlock!(Gate { busy: 0, waiting: RBTree::new() }, "kaio_disk_gate"),
        })
    }

    /// The submission order of a new request.
    pub(crate) fn ticket(&self) -> u64 {
        self.next.fetch_add(1, Ordering::Relaxed)
    }

    /// Before `req` reads from the disk: true if it holds a stream (or the
    /// gate is open), false if it now waits for one, parked. Process
    /// context only.
    pub(crate) fn admit(&self, req: &Arc<Request>) -> bool {
        if req.disk_state() == HOLDING {
            return true;
        }
        let limit = shim::param(Param::DiskStreams) as u32;
        if limit == 0 {
            return true;
        }
        // The tree node is allocated before the lock is taken; without
        // one, the request goes ahead rather than fail.
        let Ok(node) = RBTreeNode::new(req.seq(), req.clone(), GFP_KERNEL) else {
            return true;
        };
        let mut g = self.gate.lock();
        match req.disk_state() {
            HOLDING => return true,
            // Already in line (a spurious run): stay there.
            WAITING => return false,
            // Its reader made room: it goes on at once.
            PAUSED => {
                g.busy += 1;
                req.set_disk_state(HOLDING);
                return true;
            }
            _ => {}
        }
        if g.busy < limit {
            g.busy += 1;
            req.set_disk_state(HOLDING);
            return true;
        }
        g.waiting.insert(node);
        req.set_disk_state(WAITING);
        // A cancel that came before this point found the request not yet
        // waiting: it must not wait now. One that comes after takes it
        // out under this lock.
        if req.is_cancelled() {
            g.waiting.remove(&req.seq());
            req.set_disk_state(NONE);
            return true;
        }
        drop(g);
        stats::add(Stat::DiskWaits, 1);
        false
    }

    /// `req` completes (or was cancelled while waiting): leaves the gate;
    /// a stream it held goes to the oldest waiter.
    pub(crate) fn leave(&self, req: &Request) {
        self.give_back(req, NONE);
    }

    /// `req` parks on its full output: its stream, if it holds one, goes
    /// to the next in line until it reads again.
    pub(crate) fn pause(&self, req: &Request) {
        if req.disk_state() == HOLDING {
            self.give_back(req, PAUSED);
        }
    }

    fn give_back(&self, req: &Request, to: u8) {
        if req.disk_state() == NONE {
            return;
        }
        let next = {
            let mut g = self.gate.lock();
            let was = req.disk_state();
            match (was, to) {
                (HOLDING, _) => {
                    req.set_disk_state(to);
                    g.busy -= 1;
                }
                (WAITING, NONE) => {
                    req.set_disk_state(NONE);
                    // The tree's reference is not the last: the caller
                    // holds the request.
                    drop(g.waiting.remove(&req.seq()));
                    return;
                }
                (PAUSED, NONE) => {
                    req.set_disk_state(NONE);
                    return;
                }
                _ => return,
            }
            // One stream came free (a paused request may have taken one
            // over the limit: then nobody is let in).
            let limit = shim::param(Param::DiskStreams) as u32;
            if g.busy >= limit && limit != 0 {
                return;
            }
            match g.waiting.cursor_front() {
                Some(c) => {
                    let (_, node) = c.remove_current();
                    let (_, n) = node.to_key_value();
                    n.set_disk_state(HOLDING);
                    g.busy += 1;
                    Some(n)
                }
                None => None,
            }
        };
        if let Some(n) = next {
            make_ready(n);
        }
    }

    /// A cancel of `req`: if it waits for a stream, it stops waiting and
    /// runs (to see the cancel).
    pub(crate) fn cancel(&self, req: &Request) {
        if req.disk_state() != WAITING {
            return;
        }
        let taken = {
            let mut g = self.gate.lock();
            if req.disk_state() != WAITING {
                return;
            }
            req.set_disk_state(NONE);
            g.waiting.remove(&req.seq())
        };
        if let Some(r) = taken {
            make_ready(r);
        }
    }
}
