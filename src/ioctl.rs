// SPDX-License-Identifier: GPL-2.0

//! ioctl dispatch for `/dev/kaio`.

use crate::{context::Context, uapi};
use kernel::{prelude::*, uaccess::UserSlice};

/// Runs ioctl `cmd` with argument `arg` on `ctx`.
pub(crate) fn dispatch(_ctx: &Context, cmd: u32, arg: usize) -> Result<isize> {
    match cmd {
        uapi::IOC_VERSION => version(arg),
        _ => Err(ENOTTY),
    }
}

/// `KAIO_IOC_VERSION`: reports the ABI version and features.
fn version(arg: usize) -> Result<isize> {
    let v = uapi::Version {
        abi_version: uapi::ABI_VERSION,
        features: uapi::FEATURES,
        ..Default::default()
    };
    UserSlice::new(arg, core::mem::size_of::<uapi::Version>())
        .writer()
        .write(&v)?;
    Ok(0)
}
