// SPDX-License-Identifier: GPL-2.0

//! ioctl dispatch for `/dev/kaio`.

use crate::{context::Context, uapi};
use kernel::{prelude::*, sync::Arc, uaccess::UserSlice};

/// Runs ioctl `cmd` with argument `arg` on `ctx`.
pub(crate) fn dispatch(ctx: &Arc<Context>, cmd: u32, arg: usize) -> Result<isize> {
    if cmd == uapi::IOC_VERSION {
        return version(arg);
    }
    let f: fn(&Arc<Context>, usize) -> Result<isize> = match cmd {
        uapi::IOC_SETUP => |c, a| c.setup(a),
        uapi::IOC_SUBMIT => |c, a| c.submit(a),
        uapi::IOC_GETEVENTS => |c, a| c.getevents(a),
        uapi::IOC_CANCEL => |c, a| c.cancel(a),
        uapi::IOC_EVENTFD => |c, a| c.set_eventfd(a),
        _ => return Err(ENOTTY),
    };
    ctx.check_owner()?;
    f(ctx, arg)
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
