// SPDX-License-Identifier: GPL-2.0

//! kaio: asynchronous compound I/O through `/dev/kaio`.
//!
//! Each open of `/dev/kaio` is a [`context::Context`]. The misc device and the
//! few kernel APIs 6.12's Rust support cannot reach live in the C shim
//! (`shim.c`); [`shim`] wraps them. The ABI is `include/uapi/linux/kaio.h`,
//! mirrored and checked in [`uapi`].

#![recursion_limit = "256"]

use kernel::prelude::*;

mod context;
mod disk;
mod file;
mod file_io;
mod iocb;
mod ioctl;
mod kapi;
mod limits;
mod op_close;
mod op_fsync;
mod op_open;
mod op_rw;
mod op_sendfile;
mod op_socket;
mod op_statx;
mod opdef;
mod park;
mod poll_wait;
mod request;
mod ring;
mod ring_mem;
mod sf_io;
mod shim;
mod sock_io;
mod stats;
mod uapi;
mod users;
mod worker;

module! {
    type: Kaio,
    name: "kaio",
    author: "kaio developers",
    description: "Asynchronous compound I/O (/dev/kaio)",
    license: "GPL",
}

struct Kaio {
    // Dropped in this order: no file is open, no request is left, when
    // the table of users goes.
    _dev: shim::MiscDevice,
    _users: users::UsersTable,
}

impl kernel::Module for Kaio {
    fn init(_module: &'static ThisModule) -> Result<Self> {
        let users = users::UsersTable::new()?;
        let dev = shim::MiscDevice::register()?;
        pr_info!("/dev/kaio ready, ABI version {}\n", uapi::ABI_VERSION);
        Ok(Kaio {
            _dev: dev,
            _users: users,
        })
    }
}
