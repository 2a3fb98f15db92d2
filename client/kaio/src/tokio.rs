// SPDX-License-Identifier: GPL-2.0
//! kaio from async code, on tokio (feature `tokio`).
//!
//! The context's fd sits in a [`tokio::io::unix::AsyncFd`]; it is readable
//! while completions wait in the ring. [`Context::submit`] submits at once
//! and returns an [`Op`], a future of the request's [`Completion`]: the
//! event, and the buffers the request held. Any number of ops may be in
//! flight from any number of tasks.
//!
//! # How completions reach their tasks
//!
//! Every pending [`Op`] waits with [`AsyncFd::readable`], which wakes
//! *all* its waiters when the fd turns readable (unlike
//! `AsyncFd::poll_read_ready`, which keeps only the last task's waker). A
//! woken op reaps the whole ring: each completion goes to its op's entry
//! and wakes the task that last polled that op. So a completion reaches
//! its task as long as that task is waiting for it, whatever other ops are
//! held unpolled meanwhile; an op polled again later finds its completion
//! there. [`Context::submit`] reaps too, before it submits.
//!
//! Dropping an [`Op`] before it completes cancels the request
//! (`KAIO_IOC_CANCEL`); its buffers stay with the context until the
//! kernel's completion for it is reaped (by the next submit, or by any op
//! that wakes), then are freed. The context (the fd, the ring) lives as
//! long as any clone of it or any [`Op`]; when the last goes, requests
//! still in flight are cancelled and their buffers leaked, never freed
//! (as [`crate::Context`] does).
//!
//! ```no_run
//! use kaio::{tokio::Context, Request};
//!
//! # async fn f() -> std::io::Result<()> {
//! let ctx = Context::new(64)?;
//! let file = std::fs::File::open("/etc/hostname")?;
//! # use std::os::fd::AsRawFd;
//! let mut c = ctx.submit(Request::new(0).fd(file.as_raw_fd()).read(Vec::with_capacity(4096), 0)).await?;
//! let n = c.result()?;
//! let buf: Vec<u8> = c.take_buf().unwrap();
//! assert_eq!(buf.len() as i64, n);
//! # Ok(())
//! # }
//! ```

use crate::{Completion, OpId, Request};
use std::{
    collections::HashMap,
    future::Future,
    io,
    os::fd::{AsRawFd, RawFd},
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context as TaskCx, Poll, Waker},
};
use tokio::io::{unix::AsyncFd, Interest};

/// The fd for [`AsyncFd`]; the [`crate::Context`] owns it.
struct Fd(RawFd);

impl AsRawFd for Fd {
    fn as_raw_fd(&self) -> RawFd {
        self.0
    }
}

enum OpState {
    /// In flight; the task to wake when it completes.
    Waiting(Option<Waker>),
    /// Completed, not yet taken by its [`Op`].
    Done(Completion),
    /// Its [`Op`] was dropped: the completion is dropped when it comes.
    Abandoned,
}

struct State {
    ctx: crate::Context,
    ops: HashMap<OpId, OpState>,
}

struct Inner {
    // Declared first: deregistered before `state` closes the fd.
    fd: AsyncFd<Fd>,
    state: Mutex<State>,
}

impl Inner {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl State {
    /// Moves every completion in the ring to its op and wakes its task.
    fn reap(&mut self) {
        let State { ctx, ops } = self;
        for c in ctx.reap() {
            match ops.remove(&c.id()) {
                Some(OpState::Waiting(w)) => {
                    ops.insert(c.id(), OpState::Done(c));
                    if let Some(w) = w {
                        w.wake();
                    }
                }
                Some(OpState::Abandoned) | None => drop(c),
                Some(done @ OpState::Done(_)) => {
                    ops.insert(c.id(), done);
                }
            }
        }
    }
}

/// A kaio context for tokio: cheap to clone (shared), `Send` and `Sync`.
/// Must be created inside a tokio runtime with I/O enabled.
#[derive(Clone)]
pub struct Context {
    inner: Arc<Inner>,
}

impl Context {
    /// Opens a context with a ring of `entries` (a power of two): at most
    /// that many requests in flight.
    pub fn new(entries: u32) -> io::Result<Self> {
        Self::from_sync(crate::Context::new(entries)?)
    }

    /// Takes over a synchronous context (with nothing in flight).
    pub fn from_sync(ctx: crate::Context) -> io::Result<Self> {
        // SAFETY: The fd is the context's, which `Inner` drops after the
        // `AsyncFd` (field order): it stays open, the same file, until then.
        let fd = unsafe { AsyncFd::register_with_interest(Fd(ctx.as_raw_fd()), Interest::READABLE)? };
        Ok(Context { inner: Arc::new(Inner { fd, state: Mutex::new(State { ctx, ops: HashMap::new() }) }) })
    }

    /// Submits `req` now (its borrowed paths and bytes are copied by the
    /// kernel before this returns) and gives the future of its
    /// [`Completion`].
    ///
    /// It first reaps the ring, so that completions already posted (those
    /// of ops not being polled, or of dropped ops) free their entries. The
    /// kernel refuses a request (`EAGAIN`) while its ring could not hold
    /// one more event: requests running plus completions posted and not
    /// yet reaped reach the ring's size. Then this reaps again and retries
    /// once; if that fails too, the future resolves to the error and the
    /// request's buffers are dropped.
    pub fn submit(&self, req: Request<'_>) -> Op {
        let mut st = self.inner.lock();
        st.reap();
        let id = match st.ctx.submit(req) {
            Ok(id) => Ok(id),
            Err(e) if e.error.raw_os_error() == Some(libc::EAGAIN) => {
                st.reap();
                st.ctx.submit(*e.request).map_err(|e| e.error)
            }
            Err(e) => Err(e.error),
        };
        let id = match id {
            Ok(id) => id,
            Err(e) => return Op { inner: self.inner.clone(), id: None, err: Some(e), wait: None },
        };
        // Keys are never reused (see `OpId`): nothing can be there.
        let prev = st.ops.insert(id, OpState::Waiting(None));
        assert!(prev.is_none(), "kaio: {id:?} submitted twice");
        Op { inner: self.inner.clone(), id: Some(id), err: None, wait: None }
    }

    /// Ops not resolved yet: submitted, and neither taken by their [`Op`]
    /// nor (for a dropped op) reaped. Each one whose completion is not
    /// reaped yet also holds an entry of the kernel's ring.
    pub fn in_flight(&self) -> usize {
        self.inner.lock().ops.len()
    }
}

impl AsRawFd for Context {
    /// The device fd.
    fn as_raw_fd(&self) -> RawFd {
        self.inner.fd.get_ref().0
    }
}

/// One wait for the fd to turn readable, and the reaping that follows.
type Wait = Pin<Box<dyn Future<Output = io::Result<()>> + Send>>;

fn wait_readable(inner: Arc<Inner>) -> Wait {
    Box::pin(async move {
        let mut g = inner.fd.readable().await?;
        inner.lock().reap();
        // The ring is empty now; readiness comes back with the next
        // completion (tokio keeps it set if that came after `readable`).
        g.clear_ready();
        Ok(())
    })
}

/// The future of a submitted request's [`Completion`]. Dropping it before
/// it completes cancels the request.
#[must_use = "dropping an Op cancels its request"]
pub struct Op {
    inner: Arc<Inner>,
    id: Option<OpId>,
    err: Option<io::Error>,
    /// The wait for readiness in progress, if any.
    wait: Option<Wait>,
}

impl Op {
    /// Which submission this is (`None` if it was refused, or once the
    /// completion was taken).
    pub fn id(&self) -> Option<OpId> {
        self.id
    }
}

impl Future for Op {
    type Output = io::Result<Completion>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskCx<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let Some(id) = this.id else {
            return Poll::Ready(Err(this.err.take().unwrap_or_else(|| io::Error::other("kaio: Op polled after completion"))));
        };
        loop {
            {
                let mut st = this.inner.lock();
                st.reap();
                match st.ops.get_mut(&id) {
                    Some(OpState::Done(_)) => {
                        let Some(OpState::Done(c)) = st.ops.remove(&id) else { unreachable!() };
                        this.id = None;
                        this.wait = None;
                        return Poll::Ready(Ok(c));
                    }
                    Some(OpState::Waiting(w)) => match w {
                        Some(w) if w.will_wake(cx.waker()) => {}
                        _ => *w = Some(cx.waker().clone()),
                    },
                    _ => unreachable!("kaio: an op's entry went away"),
                }
            }
            let wait = this.wait.get_or_insert_with(|| wait_readable(this.inner.clone()));
            match wait.as_mut().poll(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(r) => {
                    this.wait = None;
                    r?;
                }
            }
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
        // Its wait (and the context reference in it) goes first.
        self.wait = None;
        let Some(id) = self.id.take() else { return };
        let mut st = self.inner.lock();
        st.reap();
        match st.ops.remove(&id) {
            Some(OpState::Waiting(_)) => {
                // The buffers stay in the context until the kernel's
                // completion comes: then reap() drops them.
                st.ops.insert(id, OpState::Abandoned);
                let _ = st.ctx.cancel(id);
            }
            Some(other) => drop(other),
            None => {}
        }
    }
}
