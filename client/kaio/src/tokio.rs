// SPDX-License-Identifier: GPL-2.0
//! kaio from async code, on tokio (feature `tokio`).
//!
//! The context's fd sits in a [`tokio::io::unix::AsyncFd`]; it is readable
//! while completions wait in the ring. [`Context::submit`] submits at once
//! and returns an [`Op`], a future of the request's [`Completion`]: the
//! event, and the buffers the request held. Any number of ops may be in
//! flight from any number of tasks; whichever op is polled when the fd is
//! readable reaps the ring for all of them and wakes their tasks.
//!
//! Dropping an [`Op`] before it completes cancels the request
//! (`KAIO_IOC_CANCEL`); its buffers stay with the context until the
//! kernel's completion for it comes in, then are freed.
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

    /// An op that was polling the fd is leaving: make another waiting op
    /// poll it, so that the fd's readiness always wakes someone.
    fn hand_over(&mut self) {
        for s in self.ops.values_mut() {
            if let OpState::Waiting(w @ Some(_)) = s {
                w.take().unwrap().wake();
                return;
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
    /// [`Completion`]. A refused request (`EAGAIN`: as many requests in
    /// flight as the ring has entries) makes the future resolve to that
    /// error, and its buffers are dropped.
    pub fn submit(&self, req: Request<'_>) -> Op {
        let mut st = self.inner.lock();
        let id = match st.ctx.submit(req) {
            Ok(id) => id,
            Err(e) => return Op { inner: self.inner.clone(), id: None, err: Some(e.error) },
        };
        st.ops.insert(id, OpState::Waiting(None));
        Op { inner: self.inner.clone(), id: Some(id), err: None }
    }

    /// Requests in flight (submitted, completion not yet taken).
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

/// The future of a submitted request's [`Completion`]. Dropping it before
/// it completes cancels the request.
#[must_use = "dropping an Op cancels its request"]
pub struct Op {
    inner: Arc<Inner>,
    id: Option<OpId>,
    err: Option<io::Error>,
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
        let inner = this.inner.clone();
        let mut st = inner.lock();
        loop {
            st.reap();
            if let Some(OpState::Done(_)) = st.ops.get(&id) {
                let Some(OpState::Done(c)) = st.ops.remove(&id) else { unreachable!() };
                this.id = None;
                st.hand_over();
                return Poll::Ready(Ok(c));
            }
            if let Some(OpState::Waiting(w)) = st.ops.get_mut(&id) {
                match w {
                    Some(w) if w.will_wake(cx.waker()) => {}
                    _ => *w = Some(cx.waker().clone()),
                }
            }
            match inner.fd.poll_read_ready(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Ok(mut g)) => {
                    // Ring events are consumed by reap(); readiness comes
                    // back with the next completion the kernel posts.
                    g.clear_ready();
                }
                Poll::Ready(Err(e)) => {
                    drop(st);
                    return Poll::Ready(Err(e));
                }
            }
        }
    }
}

impl Drop for Op {
    fn drop(&mut self) {
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
        st.hand_over();
    }
}
