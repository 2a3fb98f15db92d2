// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_SEND` and `KAIO_OP_RECV`: a user buffer to a socket, and a
//! socket to a user buffer, with no thread waiting for the socket.
//!
//! Either step names its socket in `fd` (taken at SUBMIT), or works on the
//! chain's file (`KAIO_FD_CHAIN`), so that one chain can open a file and
//! SEND a header and SENDFILE the file to a connection.
//!
//! SEND copies its bytes at SUBMIT: the buffer may be reused as soon as
//! SUBMIT returns. It sends with `MSG_DONTWAIT | MSG_NOSIGNAL` (a peer that
//! went away is `EPIPE`, never a signal), so it runs inline at SUBMIT too;
//! a full socket parks the request on its wait queue. When the next step
//! sends to the same socket (SEND or SENDFILE), it adds `MSG_MORE`, so that
//! a header and the first bytes of a file leave in one segment; whatever
//! stays queued when the chain ends early is pushed then (see
//! [`Send::push`]).
//!
//! RECV ends as recv(2) does, with the first bytes that arrive (0 at the
//! end of the stream, a short transfer). Until then the request is parked
//! on the socket. The bytes are copied in the submitter's context: inline
//! at SUBMIT, or in a worker of the submitting process.

use crate::{
    file_io::UserBuf,
    opdef::{Io, Op, Outcome, Prep},
    shim::{self, poll, FileRef, IoMode},
    stats::{self, Stat},
    uapi,
};
use kernel::{bindings, prelude::*};

/// Largest RECV in one call.
const CHUNK: u64 = 1 << 20;

const EAGAIN: isize = -(bindings::EAGAIN as isize);

fn enotsock() -> Error {
    Error::from_errno(-(bindings::ENOTSOCK as i32))
}

/// The step's own socket (taken now), or `None` for the chain's file
/// (checked now if the chain's file is already known).
fn socket(fd: i32, p: &Prep) -> Result<Option<FileRef>> {
    if fd == uapi::FD_CHAIN {
        if p.file.as_ref().is_some_and(|f| !f.is_socket()) {
            return Err(enotsock());
        }
        return Ok(None);
    }
    let f = FileRef::fget(fd)?;
    if !f.is_socket() {
        return Err(enotsock());
    }
    Ok(Some(f))
}

/// The socket a step acts on: its own, else the chain's file.
fn target<'a>(own: Option<&'a FileRef>, chain: Option<&'a FileRef>) -> Result<&'a FileRef> {
    let s = own.or(chain).ok_or(EBADF)?;
    if !s.is_socket() {
        return Err(enotsock());
    }
    Ok(s)
}

/// Parks the request on the step's socket (or the chain's file) until it
/// reports `events`.
fn park(own: Option<&FileRef>, io: &mut Io<'_>, events: u32) -> Outcome {
    let parked = match own {
        Some(s) => io.park_on(s, events),
        None => io.park_file(events),
    };
    if parked {
        Outcome::Parked
    } else {
        Outcome::Again
    }
}

/// A prepared SEND.
pub(crate) struct Send {
    /// The step's socket; `None`: the chain's file.
    sock: Option<FileRef>,
    data: KVec<u8>,
    /// Bytes sent so far.
    done: usize,
    /// `KAIO_SEND_MORE`: the caller corks across chains.
    more: bool,
    /// The next step sends to the same socket.
    followed: bool,
}

/// Prep of SEND: copies the bytes.
pub(crate) fn prep_send(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    if s.offset != 0 || s.arg != 0 || s.op_flags & !uapi::SEND_MORE != 0 {
        return Err(EINVAL);
    }
    if s.len == 0 || s.len > uapi::SEND_MAX {
        return Err(EINVAL);
    }
    let sock = socket(s.fd, p)?;
    let mut data = KVec::new();
    kernel::uaccess::UserSlice::new(s.addr as usize, s.len as usize)
        .reader()
        .read_all(&mut data, GFP_KERNEL_ACCOUNT)?;
    Ok(Op::Send(Send {
        sock,
        data,
        done: 0,
        more: s.op_flags & uapi::SEND_MORE != 0,
        followed: false,
    }))
}

/// Whether `a` and `b` name the same socket; `None` is the chain's file,
/// `chain` when known at SUBMIT (an FD step's).
pub(crate) fn same_output(
    a: Option<&FileRef>,
    b: Option<&FileRef>,
    chain: Option<&FileRef>,
) -> bool {
    match (a.or(chain), b.or(chain)) {
        (Some(a), Some(b)) => a.same(b),
        // Both the chain's file, opened later.
        _ => a.is_none() && b.is_none(),
    }
}

impl Send {
    /// Bytes held beyond the request, for the memory charge.
    pub(crate) fn bytes(&self) -> usize {
        self.data.capacity()
    }

    /// Bytes sent so far.
    pub(crate) fn progress(&self) -> i64 {
        self.done as i64
    }

    /// The step's socket, or `None` for the chain's file.
    pub(crate) fn output(&self) -> Option<&FileRef> {
        self.sock.as_ref()
    }

    /// The next step sends to the same socket: send with `MSG_MORE`.
    pub(crate) fn set_followed(&mut self) {
        self.followed = true;
    }

    /// At the end of the chain: if this step corked its socket for a
    /// following send that did not (fully) happen, push what is queued.
    pub(crate) fn push(&self, chain: Option<&FileRef>) {
        if self.followed && !self.more && self.done > 0 {
            if let Some(s) = self.sock.as_ref().or(chain) {
                s.sock_push();
            }
        }
    }

    /// Sends what is left, or parks until the socket has room.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        io.unpark();
        let n = match target(self.sock.as_ref(), io.file.as_ref()) {
            Err(e) => return Outcome::Failed(e),
            Ok(_) if self.done == self.data.len() => return Outcome::Done(self.done as i64),
            Ok(s) => s.send_bytes(&self.data[self.done..], self.more || self.followed),
        };
        if n > 0 {
            self.done += n as usize;
            stats::add(Stat::BytesSent, n as u64);
            return if self.done == self.data.len() {
                Outcome::Done(self.done as i64)
            } else {
                Outcome::Again
            };
        }
        match n {
            EAGAIN => park(self.sock.as_ref(), io, poll::OUT),
            0 => Outcome::Again,
            n => Outcome::Failed(Error::from_errno(n as i32)),
        }
    }
}

/// A prepared RECV.
pub(crate) struct Recv {
    /// The step's socket; `None`: the chain's file.
    sock: Option<FileRef>,
    buf: UserBuf,
    len: u64,
    /// Bytes received (set once: the step ends with the first bytes).
    done: u64,
}

/// Prep of RECV.
pub(crate) fn prep_recv(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    if s.offset != 0 || s.arg != 0 || s.op_flags != 0 {
        return Err(EINVAL);
    }
    if s.len == 0 || s.len > isize::MAX as u64 {
        return Err(EINVAL);
    }
    if s.addr == 0 || !shim::access_ok(s.addr, s.len) {
        return Err(EFAULT);
    }
    Ok(Op::Recv(Recv {
        sock: socket(s.fd, p)?,
        buf: UserBuf::Flat(s.addr),
        len: s.len,
        done: 0,
    }))
}

impl Recv {
    /// Bytes received so far.
    pub(crate) fn progress(&self) -> i64 {
        self.done as i64
    }

    /// Receives what has arrived, or parks until something does.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        io.unpark();
        let len = self.len.min(CHUNK) as usize;
        let n = match target(self.sock.as_ref(), io.file.as_ref()) {
            Err(e) => return Outcome::Failed(e),
            Ok(s) => s.read(0, &self.buf, 0, len, IoMode::NoWait, None),
        };
        match n {
            n if n > 0 => {
                self.done = n as u64;
                stats::add(Stat::BytesRead, n as u64);
                Outcome::Done(n as i64)
            }
            // The peer shut its side down: the end of the stream.
            0 => Outcome::Short(0),
            EAGAIN => park(self.sock.as_ref(), io, poll::IN),
            n => Outcome::Failed(Error::from_errno(n as i32)),
        }
    }
}
