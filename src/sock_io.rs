// SPDX-License-Identifier: GPL-2.0

//! The socket I/O of SEND: bytes from kernel memory to a socket, never
//! waiting and never raising SIGPIPE. (RECV reads through the file's
//! `read_iter`, as a READ of a stream does; see `file_io.rs`.)

use crate::shim::FileRef;
use kernel::bindings;

impl FileRef {
    /// Whether the file is a socket.
    pub(crate) fn is_socket(&self) -> bool {
        // SAFETY: The file is valid.
        !unsafe { bindings::sock_from_file(self.as_ptr()) }.is_null()
    }

    /// Sends `data` on this socket (the caller checked [`FileRef::is_socket`])
    /// with `MSG_DONTWAIT | MSG_NOSIGNAL`, and `MSG_MORE` if `more`: bytes
    /// sent, `-EAGAIN` if the socket is full, or `-errno`.
    pub(crate) fn send_bytes(&self, data: &[u8], more: bool) -> isize {
        let mut kv = bindings::kvec {
            iov_base: data.as_ptr() as *mut core::ffi::c_void,
            iov_len: data.len(),
        };
        let mut msg = bindings::msghdr {
            msg_flags: bindings::MSG_DONTWAIT
                | bindings::MSG_NOSIGNAL
                | if more { bindings::MSG_MORE } else { 0 },
            ..Default::default()
        };
        // The socket copies the bytes of `data`, which `kv` describes.
        // SAFETY: The file is a socket (its `struct socket` lives as long as
        // the file); `kv` and `data` are valid for the call.
        unsafe {
            bindings::kernel_sendmsg(
                bindings::sock_from_file(self.as_ptr()),
                &mut msg,
                &mut kv,
                1,
                data.len(),
            ) as isize
        }
    }
}
