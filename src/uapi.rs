// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/kaio.h`.
//!
//! Every structure here is checked at compile time against the C layout of
//! the header (sizes, field offsets, ioctl numbers), which Kbuild extracts
//! from `uapi_layout.c` into `uapi_layout.rs`.

use core::mem::{offset_of, size_of};
use kernel::{ioctl::_IOR, types::AsBytes};

/// Numbers produced by the C compiler from the UAPI header.
mod c {
    include!("uapi_layout.rs");
}

/// `KAIO_ABI_VERSION`.
pub(crate) const ABI_VERSION: u32 = 1;
/// `KAIO_IOC_MAGIC`.
const IOC_MAGIC: u32 = 0xAA;
/// `KAIO_FEAT_*` bits this module supports.
pub(crate) const FEATURES: u64 = 0;

/// `struct kaio_version`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Version {
    pub(crate) abi_version: u32,
    pub(crate) reserved: u32,
    pub(crate) features: u64,
}

// SAFETY: `Version` is `repr(C)` with only integer fields and no padding
// (checked against the C layout below).
unsafe impl AsBytes for Version {}

/// `KAIO_IOC_VERSION`.
pub(crate) const IOC_VERSION: u32 = _IOR::<Version>(IOC_MAGIC, 0x00);

/// Asserts at compile time that a Rust structure has the C structure's size
/// and field offsets.
macro_rules! same_layout {
    ($ty:ty, $size:expr, { $($field:ident: $off:expr),* $(,)? }) => {
        const _: () = assert!(size_of::<$ty>() == $size);
        $(const _: () = assert!(offset_of!($ty, $field) == $off);)*
    };
}

const _: () = assert!(ABI_VERSION as usize == c::ABI_VERSION);
const _: () = assert!(IOC_VERSION as usize == c::IOC_VERSION);
same_layout!(Version, c::VERSION_SIZE, {
    abi_version: c::VERSION_ABI_VERSION,
    reserved: c::VERSION_RESERVED,
    features: c::VERSION_FEATURES,
});
