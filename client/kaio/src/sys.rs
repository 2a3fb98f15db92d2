// SPDX-License-Identifier: GPL-2.0
//! The ABI of `include/uapi/linux/kaio.h`, mirrored in `repr(C)` and checked
//! at compile time against the numbers the build script got from the header.

#![allow(missing_docs)]

use core::mem::{offset_of, size_of};

/// Numbers generated from the C header by `build.rs`.
pub mod c {
    include!(concat!(env!("OUT_DIR"), "/layout.rs"));
}

pub const MAX_STEPS: usize = c::MAX_STEPS as usize;

/// SEND, RECV: the socket is the chain's file (`KAIO_FD_CHAIN`).
pub const FD_CHAIN: i32 = c::FD_CHAIN as i32;

/// The largest SEND (`KAIO_SEND_MAX`).
pub const SEND_MAX: usize = c::SEND_MAX as usize;

/// The statx buffer STATX fills (`struct statx`, 256 bytes).
pub type Statx = libc::statx;

const _: () = assert!(size_of::<Statx>() == 256);

#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Version {
    pub abi_version: u32,
    pub reserved: u32,
    pub features: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Setup {
    pub entries: u32,
    pub flags: u32,
    pub reserved: [u64; 2],
    pub ring_size: u32,
    pub events_off: u32,
    pub event_size: u32,
    pub max_steps: u32,
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    pub opcode: u8,
    pub reserved0: u8,
    pub reserved1: u16,
    pub fd: i32,
    pub addr: u64,
    pub len: u64,
    pub offset: i64,
    pub op_flags: u32,
    pub arg: u32,
    pub reserved2: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Iocb {
    pub user_data: u64,
    pub flags: u32,
    pub nr_steps: u16,
    pub reserved0: u16,
    pub resfd: i32,
    pub reserved1: u32,
    pub reserved2: u64,
    pub steps: [Step; MAX_STEPS],
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Submit {
    pub iocbs: u64,
    pub nr: u32,
    pub flags: u32,
    pub reserved: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub user_data: u64,
    pub result: i64,
    pub step: u16,
    pub nr_steps: u16,
    pub flags: u32,
    pub fd: i32,
    pub error: i32,
    pub bytes: u64,
    pub step_result: [i64; MAX_STEPS],
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct GetEvents {
    pub events: u64,
    pub min_nr: u32,
    pub max_nr: u32,
    pub timeout_ns: i64,
    pub sigmask: u64,
}

#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Cancel {
    pub user_data: u64,
    pub reserved: u64,
}

/// Offsets in the mapped ring (`struct kaio_ring`).
pub const RING_HEAD: usize = c::RING_HEAD as usize;
pub const RING_TAIL: usize = c::RING_TAIL as usize;
pub const RING_MASK: usize = c::RING_MASK as usize;
pub const RING_ENTRIES: usize = c::RING_ENTRIES as usize;

macro_rules! same_layout {
    ($ty:ty, $size:expr, { $($field:ident: $off:expr),* $(,)? }) => {
        const _: () = assert!(size_of::<$ty>() as u64 == $size);
        $(const _: () = assert!(offset_of!($ty, $field) as u64 == $off);)*
    };
}

same_layout!(Version, c::VERSION_SIZE, {
    abi_version: c::VERSION_ABI_VERSION, reserved: c::VERSION_RESERVED, features: c::VERSION_FEATURES,
});
same_layout!(Setup, c::SETUP_SIZE, {
    entries: c::SETUP_ENTRIES, flags: c::SETUP_FLAGS, reserved: c::SETUP_RESERVED,
    ring_size: c::SETUP_RING_SIZE, events_off: c::SETUP_EVENTS_OFF, event_size: c::SETUP_EVENT_SIZE,
    max_steps: c::SETUP_MAX_STEPS,
});
same_layout!(Step, c::STEP_SIZE, {
    opcode: c::STEP_OPCODE, reserved0: c::STEP_RESERVED0, reserved1: c::STEP_RESERVED1, fd: c::STEP_FD,
    addr: c::STEP_ADDR, len: c::STEP_LEN, offset: c::STEP_OFFSET, op_flags: c::STEP_OP_FLAGS,
    arg: c::STEP_ARG, reserved2: c::STEP_RESERVED2,
});
same_layout!(Iocb, c::IOCB_SIZE, {
    user_data: c::IOCB_USER_DATA, flags: c::IOCB_FLAGS, nr_steps: c::IOCB_NR_STEPS,
    reserved0: c::IOCB_RESERVED0, resfd: c::IOCB_RESFD, reserved1: c::IOCB_RESERVED1,
    reserved2: c::IOCB_RESERVED2, steps: c::IOCB_STEPS,
});
same_layout!(Submit, c::SUBMIT_SIZE, {
    iocbs: c::SUBMIT_IOCBS, nr: c::SUBMIT_NR, flags: c::SUBMIT_FLAGS, reserved: c::SUBMIT_RESERVED,
});
same_layout!(Event, c::EVENT_SIZE, {
    user_data: c::EVENT_USER_DATA, result: c::EVENT_RESULT, step: c::EVENT_STEP,
    nr_steps: c::EVENT_NR_STEPS, flags: c::EVENT_FLAGS, fd: c::EVENT_FD, error: c::EVENT_ERROR,
    bytes: c::EVENT_BYTES, step_result: c::EVENT_STEP_RESULT,
});
same_layout!(GetEvents, c::GETEVENTS_SIZE, {
    events: c::GETEVENTS_EVENTS, min_nr: c::GETEVENTS_MIN_NR, max_nr: c::GETEVENTS_MAX_NR,
    timeout_ns: c::GETEVENTS_TIMEOUT_NS, sigmask: c::GETEVENTS_SIGMASK,
});
same_layout!(Cancel, c::CANCEL_SIZE, { user_data: c::CANCEL_USER_DATA, reserved: c::CANCEL_RESERVED });
