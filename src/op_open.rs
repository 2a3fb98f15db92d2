// SPDX-License-Identifier: GPL-2.0

//! `KAIO_OP_OPEN` and `KAIO_OP_FD`: the step that gives a chain its file.
//!
//! OPEN captures, at submit, everything path lookup depends on: the
//! submitter's root, the start directory (working directory or dirfd) and
//! umask, and its credentials (held by the request); the lookup and open
//! then run in a worker, exactly as openat(2) would in the submitter.
//!
//! Inline at SUBMIT, the submitter opens the file itself when nothing can
//! wait: the whole path is in the dentry cache (a cached-only walk, as
//! io_uring's non-blocking openat), it names a regular file or directory,
//! and neither `O_CREAT`, `O_TRUNC` nor `O_TMPFILE` is asked for. Anything
//! else, a lookup miss or an error included, goes to the worker, which
//! gives openat(2)'s exact answer.
//!
//! With `KAIO_OPEN_IN_ROOT` (openat2's `RESOLVE_IN_ROOT`), the start
//! directory is also the root of the lookup: `..`, absolute names and
//! symbolic links stay inside it, in the inline open and the worker's.

use crate::{
    opdef::{Io, Op, Outcome, Prep},
    shim::{self, FileRef, PathRef},
    uapi,
};
use kernel::{bindings, prelude::*, str::CStr};

/// A prepared OPEN.
pub(crate) struct Open {
    /// Root and start directory of the lookup. From a dirfd they are taken
    /// at prep; from the working directory only when the open leaves the
    /// submitter ([`Open::detach`]): an inline open needs neither.
    at: Option<(PathRef, PathRef)>,
    /// The path, NUL-terminated.
    name: KVec<u8>,
    flags: u32,
    mode: u16,
    umask: u16,
    /// The lookup starts at the working directory (or the root): the
    /// submitter's own open sees the same.
    at_cwd: bool,
    /// `KAIO_OPEN_IN_ROOT`: `at` is the start directory as root and start.
    in_root: bool,
}

/// Prep of OPEN: copies the path and captures the lookup context.
pub(crate) fn prep(s: &uapi::Step, _p: &mut Prep) -> Result<Op> {
    if (s.len != 0 && s.len != uapi::OPEN_IN_ROOT) || s.offset != 0 {
        return Err(EINVAL);
    }
    let in_root = s.len == uapi::OPEN_IN_ROOT;
    // IN_ROOT opens what a scoped walk finds; it creates or truncates
    // nothing (the open's own walk is checked only after it).
    let changes = bindings::O_CREAT | bindings::O_TRUNC | bindings::__O_TMPFILE;
    if in_root && s.op_flags & changes != 0 {
        return Err(EINVAL);
    }
    if !shim::valid_open_flags(s.op_flags) || s.arg & !0o7777 != 0 {
        return Err(EINVAL);
    }
    let name = shim::strncpy_from_user(s.addr, bindings::PATH_MAX as usize)?;
    // As openat(2): an empty path names nothing.
    if name.len() <= 1 {
        return Err(ENOENT);
    }
    let absolute = name.first() == Some(&b'/');
    let at_cwd = !in_root && (absolute || s.fd == bindings::AT_FDCWD);
    let at = if in_root {
        let base = if s.fd == bindings::AT_FDCWD {
            PathRef::pwd()
        } else {
            PathRef::dirfd(s.fd)?
        };
        Some((base.clone(), base))
    } else if at_cwd {
        None
    } else {
        Some((PathRef::root(), PathRef::dirfd(s.fd)?))
    };
    Ok(Op::Open(Open {
        at,
        name,
        flags: s.op_flags,
        mode: s.arg as u16,
        umask: shim::current_umask(),
        at_cwd,
        in_root,
    }))
}

/// Prep of FD: takes a reference to the submitter's open file now.
pub(crate) fn prep_fd(s: &uapi::Step, p: &mut Prep) -> Result<Op> {
    if s.addr != 0 || s.len != 0 || s.offset != 0 || s.op_flags != 0 || s.arg != 0 {
        return Err(EINVAL);
    }
    p.file = Some(FileRef::fget(s.fd)?);
    Ok(Op::Fd)
}

impl Open {
    /// Bytes held for the path.
    pub(crate) fn path_bytes(&self) -> usize {
        self.name.capacity()
    }

    /// Before the open leaves the submitter (for a worker): takes the
    /// root and working directory it has now, at SUBMIT.
    pub(crate) fn detach(&mut self) {
        if self.at.is_none() {
            self.at = Some((PathRef::root(), PathRef::pwd()));
        }
    }

    /// Looks the path up and opens it, in a worker of the submitting
    /// process, with the credentials it had at SUBMIT; inline, only from
    /// the dentry cache.
    pub(crate) fn issue(&mut self, io: &mut Io<'_>) -> Outcome {
        let name = match CStr::from_bytes_with_nul(&self.name) {
            Ok(n) => n,
            Err(_) => return Outcome::Failed(EINVAL),
        };
        let opened = if io.inline() {
            let root = match (&self.at, self.in_root) {
                (Some((root, _)), true) => Some(root),
                (_, false) if self.at_cwd => None,
                _ => return Outcome::Block,
            };
            match FileRef::open_cached(root, name, self.flags, self.mode) {
                Err(e) if e == EAGAIN => return Outcome::Block,
                r => r,
            }
        } else {
            // INVARIANT: the runner detached the step before a worker runs it.
            let Some((root, dir)) = self.at.as_ref() else {
                return Outcome::Failed(EINVAL);
            };
            FileRef::open(
                root,
                dir,
                name,
                self.flags,
                self.mode,
                self.umask,
                self.in_root,
            )
        };
        match opened {
            Ok(f) => {
                *io.file = Some(f);
                Outcome::Done(0)
            }
            Err(e) => Outcome::Failed(e),
        }
    }
}
