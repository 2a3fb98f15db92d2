// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over the C shim (`shim.c`, `kaio_shim.h`).

use kernel::prelude::*;

mod ffi {
    extern "C" {
        pub(super) fn kaio_shim_register() -> kernel::ffi::c_int;
        pub(super) fn kaio_shim_deregister();
    }
}

/// The registered `/dev/kaio` misc device.
///
/// # Invariants
///
/// The shim's misc device is registered for as long as this value lives.
/// Only one exists at a time: it is created once, by module init.
pub(crate) struct MiscDevice(());

impl MiscDevice {
    /// Registers `/dev/kaio`; its file operations call into [`crate::file`].
    pub(crate) fn register() -> Result<Self> {
        // SAFETY: Called once from module init; the shim's miscdevice and
        // file_operations are statics that outlive the registration.
        kernel::error::to_result(unsafe { ffi::kaio_shim_register() })?;
        // INVARIANT: registration succeeded just above.
        Ok(MiscDevice(()))
    }
}

impl Drop for MiscDevice {
    fn drop(&mut self) {
        // SAFETY: By the type invariant the device is registered. Open files
        // hold a module reference, so none exist once module exit runs.
        unsafe { ffi::kaio_shim_deregister() };
    }
}
