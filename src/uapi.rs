// SPDX-License-Identifier: GPL-2.0

//! Rust mirror of `include/uapi/linux/kaio.h`.
//!
//! Every structure here is checked at compile time against the C layout of
//! the header (sizes, field offsets, ioctl numbers), which Kbuild extracts
//! from `uapi_layout.c` into `uapi_layout.rs`.

use core::mem::{offset_of, size_of};
use kernel::{
    ioctl::{_IOR, _IOW, _IOWR},
    types::{AsBytes, FromBytes},
};

/// Numbers produced by the C compiler from the UAPI header.
mod c {
    include!("uapi_layout.rs");
}

/// `KAIO_ABI_VERSION`.
pub(crate) const ABI_VERSION: u32 = 2;
/// `KAIO_IOC_MAGIC`.
const IOC_MAGIC: u32 = 0xAA;
/// `KAIO_FEAT_*` bits this module supports: `RESFD`, `VECTOR`, `NOWAIT`,
/// `SIGMASK`, `SOCKET`, `STATX`, `IN_ROOT`.
pub(crate) const FEATURES: u64 = 0x7f;

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

/// `KAIO_MAX_STEPS`.
pub(crate) const MAX_STEPS: usize = 8;

/// `struct kaio_setup`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Setup {
    pub(crate) entries: u32,
    pub(crate) flags: u32,
    pub(crate) reserved: [u64; 2],
    pub(crate) ring_size: u32,
    pub(crate) events_off: u32,
    pub(crate) event_size: u32,
    pub(crate) max_steps: u32,
}

/// Offsets of `head`, `tail`, `mask` and `entries` in `struct kaio_ring`.
pub(crate) const RING_HEAD: usize = 0;
pub(crate) const RING_TAIL: usize = 64;
pub(crate) const RING_MASK: usize = 128;
pub(crate) const RING_ENTRIES: usize = 132;
/// `sizeof(struct kaio_ring)`: where the events start.
pub(crate) const RING_HDR_SIZE: usize = 192;

/// `KAIO_OP_*`.
pub(crate) mod op {
    pub(crate) const OPEN: u8 = 1;
    pub(crate) const FD: u8 = 2;
    pub(crate) const READ: u8 = 3;
    pub(crate) const WRITE: u8 = 4;
    pub(crate) const FSYNC: u8 = 5;
    pub(crate) const CLOSE: u8 = 6;
    pub(crate) const KEEP: u8 = 7;
    pub(crate) const SENDFILE: u8 = 8;
    pub(crate) const READV: u8 = 9;
    pub(crate) const WRITEV: u8 = 10;
    pub(crate) const SEND: u8 = 11;
    pub(crate) const RECV: u8 = 12;
    pub(crate) const STATX: u8 = 13;
}

/// `KAIO_FSYNC_DATASYNC`.
pub(crate) const FSYNC_DATASYNC: u32 = 1;
/// `KAIO_KEEP_CLOEXEC`.
pub(crate) const KEEP_CLOEXEC: u32 = 1;
/// `KAIO_SENDFILE_NOCACHE`.
pub(crate) const SENDFILE_NOCACHE: u32 = 1;
/// `KAIO_RW_NOWAIT`.
pub(crate) const RW_NOWAIT: u32 = 1;
/// `KAIO_IOCB_SHORT_OK`.
pub(crate) const IOCB_SHORT_OK: u32 = 1;
/// `KAIO_IOCB_RESFD`.
pub(crate) const IOCB_RESFD: u32 = 2;
/// All `KAIO_IOCB_*` flags.
pub(crate) const IOCB_FLAGS: u32 = IOCB_SHORT_OK | IOCB_RESFD;
/// `KAIO_EV_CANCELED`.
pub(crate) const EV_CANCELED: u32 = 1;
/// `KAIO_EV_FD`.
pub(crate) const EV_FD: u32 = 2;
/// `KAIO_EV_DONE`.
pub(crate) const EV_DONE: u32 = 4;
/// `KAIO_SEND_MORE`.
pub(crate) const SEND_MORE: u32 = 1;
/// `KAIO_SEND_MAX`.
pub(crate) const SEND_MAX: u64 = 65536;
/// `KAIO_FD_CHAIN`.
pub(crate) const FD_CHAIN: i32 = -1;
/// `KAIO_OPEN_IN_ROOT`.
pub(crate) const OPEN_IN_ROOT: u64 = 0x10;

/// `struct kaio_step`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct Step {
    pub(crate) opcode: u8,
    pub(crate) reserved0: u8,
    pub(crate) reserved1: u16,
    pub(crate) fd: i32,
    pub(crate) addr: u64,
    pub(crate) len: u64,
    pub(crate) offset: i64,
    pub(crate) op_flags: u32,
    pub(crate) arg: u32,
    pub(crate) reserved2: u64,
}

/// The part of `struct kaio_iocb` before its steps.
#[repr(C)]
#[derive(Default)]
pub(crate) struct IocbHead {
    pub(crate) user_data: u64,
    pub(crate) flags: u32,
    pub(crate) nr_steps: u16,
    pub(crate) reserved0: u16,
    pub(crate) resfd: i32,
    pub(crate) reserved1: u32,
    pub(crate) reserved2: u64,
}

/// `struct kaio_iocb`.
#[repr(C)]
pub(crate) struct Iocb {
    pub(crate) head: IocbHead,
    pub(crate) steps: [Step; MAX_STEPS],
}

/// `struct kaio_submit`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Submit {
    pub(crate) iocbs: u64,
    pub(crate) nr: u32,
    pub(crate) flags: u32,
    pub(crate) reserved: u64,
}

/// `struct kaio_event`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct Event {
    pub(crate) user_data: u64,
    pub(crate) result: i64,
    pub(crate) step: u16,
    pub(crate) nr_steps: u16,
    pub(crate) flags: u32,
    pub(crate) fd: i32,
    pub(crate) error: i32,
    pub(crate) bytes: u64,
    pub(crate) step_result: [i64; MAX_STEPS],
}

/// `struct kaio_getevents`.
#[repr(C)]
#[derive(Default, Clone, Copy)]
pub(crate) struct GetEvents {
    pub(crate) events: u64,
    pub(crate) min_nr: u32,
    pub(crate) max_nr: u32,
    pub(crate) timeout_ns: i64,
    pub(crate) sigmask: u64,
}

/// `struct kaio_cancel`.
#[repr(C)]
#[derive(Default)]
pub(crate) struct Cancel {
    pub(crate) user_data: u64,
    pub(crate) reserved: u64,
}

// SAFETY: All of these are `repr(C)` with integer fields only and no
// padding (checked against the C layout below), so any bytes are a valid
// value and every byte is initialised.
unsafe impl FromBytes for Setup {}
// SAFETY: As above.
unsafe impl AsBytes for Setup {}
// SAFETY: As above.
unsafe impl FromBytes for Step {}
// SAFETY: As above.
unsafe impl FromBytes for IocbHead {}
// SAFETY: As above.
unsafe impl FromBytes for Submit {}
// SAFETY: As above.
unsafe impl AsBytes for Event {}
// SAFETY: As above.
unsafe impl FromBytes for GetEvents {}
// SAFETY: As above (no padding: written back with the time left).
unsafe impl AsBytes for GetEvents {}
// SAFETY: As above.
unsafe impl FromBytes for Cancel {}

/// `KAIO_IOC_SETUP`.
pub(crate) const IOC_SETUP: u32 = _IOWR::<Setup>(IOC_MAGIC, 0x01);
/// `KAIO_IOC_SUBMIT`.
pub(crate) const IOC_SUBMIT: u32 = _IOW::<Submit>(IOC_MAGIC, 0x02);
/// `KAIO_IOC_GETEVENTS`.
pub(crate) const IOC_GETEVENTS: u32 = _IOW::<GetEvents>(IOC_MAGIC, 0x03);
/// `KAIO_IOC_CANCEL`.
pub(crate) const IOC_CANCEL: u32 = _IOW::<Cancel>(IOC_MAGIC, 0x04);
/// `KAIO_IOC_EVENTFD`.
pub(crate) const IOC_EVENTFD: u32 = _IOW::<i32>(IOC_MAGIC, 0x05);

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

const _: () = assert!(IOC_SETUP as usize == c::IOC_SETUP);
const _: () = assert!(IOC_SUBMIT as usize == c::IOC_SUBMIT);
const _: () = assert!(IOC_GETEVENTS as usize == c::IOC_GETEVENTS);
const _: () = assert!(IOC_CANCEL as usize == c::IOC_CANCEL);
const _: () = assert!(IOC_EVENTFD as usize == c::IOC_EVENTFD);
const _: () = assert!(MAX_STEPS == c::MAX_STEPS);
const _: () = assert!(op::OPEN as usize == c::OP_OPEN && op::FD as usize == c::OP_FD);
const _: () = assert!(op::READ as usize == c::OP_READ && op::WRITE as usize == c::OP_WRITE);
const _: () = assert!(op::FSYNC as usize == c::OP_FSYNC && op::CLOSE as usize == c::OP_CLOSE);
const _: () = assert!(op::KEEP as usize == c::OP_KEEP && op::SENDFILE as usize == c::OP_SENDFILE);
const _: () = assert!(op::READV as usize == c::OP_READV && op::WRITEV as usize == c::OP_WRITEV);
const _: () = assert!(op::SEND as usize == c::OP_SEND && op::RECV as usize == c::OP_RECV);
const _: () = assert!(op::STATX as usize == c::OP_STATX && op::STATX as usize + 1 == c::OP_LAST);
const _: () = assert!(SEND_MORE as usize == c::SEND_MORE && SEND_MAX as usize == c::SEND_MAX);
const _: () =
    assert!(-FD_CHAIN as usize == c::FD_CHAIN && OPEN_IN_ROOT as usize == c::OPEN_IN_ROOT);
const _: () = assert!(EV_DONE as usize == c::EV_DONE);
const _: () = assert!(RW_NOWAIT as usize == c::RW_NOWAIT && FEATURES as usize == c::FEATURES);
const _: () = assert!(SENDFILE_NOCACHE as usize == c::SENDFILE_NOCACHE);
const _: () = assert!(FSYNC_DATASYNC as usize == c::FSYNC_DATASYNC);
const _: () = assert!(KEEP_CLOEXEC as usize == c::KEEP_CLOEXEC);
const _: () = assert!(IOCB_FLAGS as usize == c::IOCB_FLAGS);
const _: () = assert!(EV_CANCELED as usize == c::EV_CANCELED && EV_FD as usize == c::EV_FD);
const _: () = assert!(RING_HEAD == c::RING_HEAD && RING_TAIL == c::RING_TAIL);
const _: () = assert!(RING_MASK == c::RING_MASK && RING_ENTRIES == c::RING_ENTRIES);
const _: () = assert!(RING_HDR_SIZE == c::RING_SIZE);
same_layout!(Setup, c::SETUP_SIZE, {
    entries: c::SETUP_ENTRIES,
    flags: c::SETUP_FLAGS,
    reserved: c::SETUP_RESERVED,
    ring_size: c::SETUP_RING_SIZE,
    events_off: c::SETUP_EVENTS_OFF,
    event_size: c::SETUP_EVENT_SIZE,
    max_steps: c::SETUP_MAX_STEPS,
});
same_layout!(Step, c::STEP_SIZE, {
    opcode: c::STEP_OPCODE,
    reserved0: c::STEP_RESERVED0,
    reserved1: c::STEP_RESERVED1,
    fd: c::STEP_FD,
    addr: c::STEP_ADDR,
    len: c::STEP_LEN,
    offset: c::STEP_OFFSET,
    op_flags: c::STEP_OP_FLAGS,
    arg: c::STEP_ARG,
    reserved2: c::STEP_RESERVED2,
});
same_layout!(IocbHead, c::IOCB_STEPS, {
    user_data: c::IOCB_USER_DATA,
    flags: c::IOCB_FLAGS_OFF,
    nr_steps: c::IOCB_NR_STEPS,
    reserved0: c::IOCB_RESERVED0,
    resfd: c::IOCB_RESFD,
    reserved1: c::IOCB_RESERVED1,
    reserved2: c::IOCB_RESERVED2,
});
same_layout!(Iocb, c::IOCB_SIZE, { steps: c::IOCB_STEPS });
same_layout!(Submit, c::SUBMIT_SIZE, {
    iocbs: c::SUBMIT_IOCBS,
    nr: c::SUBMIT_NR,
    flags: c::SUBMIT_FLAGS,
    reserved: c::SUBMIT_RESERVED,
});
same_layout!(Event, c::EVENT_SIZE, {
    user_data: c::EVENT_USER_DATA,
    result: c::EVENT_RESULT,
    step: c::EVENT_STEP,
    nr_steps: c::EVENT_NR_STEPS,
    flags: c::EVENT_FLAGS,
    fd: c::EVENT_FD,
    error: c::EVENT_ERROR,
    bytes: c::EVENT_BYTES,
    step_result: c::EVENT_STEP_RESULT,
});
same_layout!(GetEvents, c::GETEVENTS_SIZE, {
    events: c::GETEVENTS_EVENTS,
    min_nr: c::GETEVENTS_MIN_NR,
    max_nr: c::GETEVENTS_MAX_NR,
    timeout_ns: c::GETEVENTS_TIMEOUT_NS,
    sigmask: c::GETEVENTS_SIGMASK,
});
same_layout!(Cancel, c::CANCEL_SIZE, {
    user_data: c::CANCEL_USER_DATA,
    reserved: c::CANCEL_RESERVED,
});
