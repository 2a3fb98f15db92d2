// SPDX-License-Identifier: GPL-2.0
//! The ABI of `include/uapi/linux/kaio.h`, mirrored in `repr(C)` and checked
//! at compile time against the numbers the build script got from the header.

use core::mem::{offset_of, size_of};

/// Numbers generated from the C header by `build.rs`.
pub mod c {
    include!(concat!(env!("OUT_DIR"), "/layout.rs"));
}

/// Most steps in one request (`KAIO_MAX_STEPS`).
pub const MAX_STEPS: usize = c::MAX_STEPS as usize;

/// SEND, RECV: the socket is the chain's file (`KAIO_FD_CHAIN`).
pub const FD_CHAIN: i32 = c::FD_CHAIN as i32;

/// The largest SEND (`KAIO_SEND_MAX`).
pub const SEND_MAX: usize = c::SEND_MAX as usize;

/// The statx buffer STATX fills (`struct statx`, 256 bytes).
pub type Statx = libc::statx;

const _: () = assert!(size_of::<Statx>() == 256);

/// `struct kaio_version`, filled by `KAIO_IOC_VERSION`.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Version {
    /// `KAIO_ABI_VERSION` of the module.
    pub abi_version: u32,
    /// Zero.
    pub reserved: u32,
    /// `KAIO_FEAT_*` the module supports.
    pub features: u64,
}

/// `struct kaio_setup`, for `KAIO_IOC_SETUP`.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Setup {
    /// In: ring size, a power of two.
    pub entries: u32,
    /// In: zero.
    pub flags: u32,
    /// In: zero.
    pub reserved: [u64; 2],
    /// Out: bytes to map at offset 0.
    pub ring_size: u32,
    /// Out: offset of the event array in the mapping.
    pub events_off: u32,
    /// Out: `size_of::<Event>()`.
    pub event_size: u32,
    /// Out: `KAIO_MAX_STEPS`.
    pub max_steps: u32,
}

/// `struct kaio_step`: one step of a chain.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Step {
    /// `KAIO_OP_*`.
    pub opcode: u8,
    /// Zero.
    pub reserved0: u8,
    /// Zero.
    pub reserved1: u16,
    /// OPEN: dirfd; FD: the fd; SENDFILE: out fd; SEND, RECV: socket.
    pub fd: i32,
    /// OPEN: path; READ, WRITE, SEND, RECV, STATX: user buffer.
    pub addr: u64,
    /// READ, WRITE, SENDFILE, SEND, RECV: bytes; OPEN: `KAIO_OPEN_IN_ROOT`.
    pub len: u64,
    /// READ, WRITE, SENDFILE: file offset.
    pub offset: i64,
    /// Per opcode flags.
    pub op_flags: u32,
    /// OPEN: mode; STATX: mask; SENDFILE: window.
    pub arg: u32,
    /// Zero.
    pub reserved2: u64,
}

/// `struct kaio_iocb`: a compound request.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Iocb {
    /// Returned in the event, and the CANCEL key.
    pub user_data: u64,
    /// `KAIO_IOCB_*`.
    pub flags: u32,
    /// 1..=[`MAX_STEPS`].
    pub nr_steps: u16,
    /// Zero.
    pub reserved0: u16,
    /// `KAIO_IOCB_RESFD`: an eventfd; else zero.
    pub resfd: i32,
    /// Zero.
    pub reserved1: u32,
    /// Zero.
    pub reserved2: u64,
    /// The chain; only `nr_steps` are read.
    pub steps: [Step; MAX_STEPS],
}

/// `struct kaio_submit`, for `KAIO_IOC_SUBMIT`.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Submit {
    /// Address of the iocb array.
    pub iocbs: u64,
    /// How many iocbs.
    pub nr: u32,
    /// Zero.
    pub flags: u32,
    /// Zero.
    pub reserved: u64,
}

/// `struct kaio_event`: how a chain ended.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The iocb's `user_data`.
    pub user_data: u64,
    /// Result of step `step`: bytes, fd, 0 or -errno.
    pub result: i64,
    /// Index of the step that ended the chain.
    pub step: u16,
    /// The chain's steps.
    pub nr_steps: u16,
    /// `KAIO_EV_*`.
    pub flags: u32,
    /// The KEEP'd fd, or -1.
    pub fd: i32,
    /// 0, or the -errno that ended the chain.
    pub error: i32,
    /// Bytes moved by all the chain's transfers.
    pub bytes: u64,
    /// Per step; 0 past `step`.
    pub step_result: [i64; MAX_STEPS],
}

/// `struct kaio_getevents`, for `KAIO_IOC_GETEVENTS`.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct GetEvents {
    /// Address of an event array of `max_nr`.
    pub events: u64,
    /// Wait until this many (or the timeout).
    pub min_nr: u32,
    /// Room in `events`.
    pub max_nr: u32,
    /// Relative; < 0 waits for ever.
    pub timeout_ns: i64,
    /// 0, or the address of a kernel sigset_t to wait with.
    pub sigmask: u64,
}

/// `struct kaio_cancel`, for `KAIO_IOC_CANCEL`.
#[repr(C)]
#[derive(Default, Clone, Copy, Debug)]
pub struct Cancel {
    /// The request's `user_data`.
    pub user_data: u64,
    /// Zero.
    pub reserved: u64,
}

/// Offset of `head` in the mapped ring (`struct kaio_ring`).
pub const RING_HEAD: usize = c::RING_HEAD as usize;
/// Offset of `tail`.
pub const RING_TAIL: usize = c::RING_TAIL as usize;
/// Offset of `mask`.
pub const RING_MASK: usize = c::RING_MASK as usize;
/// Offset of `entries`.
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
