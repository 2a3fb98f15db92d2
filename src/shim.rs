// SPDX-License-Identifier: GPL-2.0

//! Safe wrappers over the C shim (`shim.c`, `kaio_shim.h`).
//!
//! Every kernel object kaio holds on behalf of a submitter (credentials, its
//! memory map, paths, files, its task, an eventfd) is a small owning type
//! here whose `Drop` releases it, so the state machines never handle a raw
//! reference.

use core::ptr::NonNull;
use kernel::{
    bindings,
    error::to_result,
    ffi::{c_char, c_int, c_uint, c_void},
    prelude::*,
    str::CStr,
    workqueue::Queue,
};

pub(crate) use crate::{
    poll_wait::PollEntries,
    ring_mem::UserMem,
    sf_io::{OutKind, Sf},
    users::UserCharge,
};

/// The C side, as declared in `kaio_shim.h`.
mod ffi {
    use kernel::{
        bindings,
        ffi::{c_char, c_int, c_uint, c_void},
    };

    // Only pointers to these structures cross the boundary; bindgen lays
    // them out, and some hold fields bindgen leaves opaque.
    #[allow(improper_ctypes)]
    extern "C" {
        pub(super) fn kaio_shim_register() -> c_int;
        pub(super) fn kaio_shim_deregister();
        pub(super) fn kaio_shim_workqueue() -> *mut bindings::workqueue_struct;
        pub(super) fn kaio_shim_exit_workqueue() -> *mut bindings::workqueue_struct;
        pub(super) fn kaio_shim_init_waitqueue_head(wq: *mut bindings::wait_queue_head);
        pub(super) fn kaio_shim_get_current_cred() -> *const bindings::cred;
        pub(super) fn kaio_shim_cred_is_current(cred: *const bindings::cred) -> bool;
        pub(super) fn kaio_shim_put_cred(cred: *const bindings::cred);
        pub(super) fn kaio_shim_mmgrab_current() -> *mut bindings::mm_struct;
        pub(super) fn kaio_shim_mmdrop(mm: *mut bindings::mm_struct);
        pub(super) fn kaio_shim_is_current_mm(mm: *const bindings::mm_struct) -> bool;
        pub(super) fn kaio_shim_get_current_task() -> *mut bindings::task_struct;
        pub(super) fn kaio_shim_put_task(task: *mut bindings::task_struct);
        pub(super) fn kaio_shim_real_signal_pending() -> bool;
        pub(super) fn kaio_shim_signal_pending() -> bool;
        pub(super) fn kaio_shim_fatal_signal_pending() -> bool;
        pub(super) fn kaio_shim_sigmask_set(umask: u64, old: *mut bindings::sigset_t) -> c_int;
        pub(super) fn kaio_shim_sigmask_restore(old: *mut bindings::sigset_t);
        pub(super) fn kaio_shim_cond_resched();
        pub(super) fn kaio_shim_access_ok(addr: u64, len: u64) -> bool;
        pub(super) fn kaio_shim_worker_create(lane: *mut c_void, idx: c_uint) -> *mut c_void;
        pub(super) fn kaio_shim_worker_stop(vt: *mut c_void);
        pub(super) fn kaio_shim_task_held(task: *mut bindings::task_struct) -> bool;
        pub(super) fn kaio_shim_worker_private_fs() -> c_int;
        pub(super) fn kaio_shim_worker_task_work() -> bool;
        pub(super) fn kaio_shim_current_is_worker() -> bool;
        pub(super) fn kaio_shim_interrupt(task: *mut bindings::task_struct);
        pub(super) fn kaio_shim_get_root(root: *mut bindings::path);
        pub(super) fn kaio_shim_get_pwd(pwd: *mut bindings::path);
        pub(super) fn kaio_shim_dirfd_path(dfd: c_int, dir: *mut bindings::path) -> c_int;
        pub(super) fn kaio_shim_open(
            root: *const bindings::path,
            dir: *const bindings::path,
            name: *const c_char,
            flags: c_int,
            mode: u16,
            umask: c_int,
            in_root: bool,
        ) -> *mut bindings::file;
        pub(super) fn kaio_shim_open_cached(
            root: *const bindings::path,
            name: *const c_char,
            flags: c_int,
            mode: u16,
        ) -> *mut bindings::file;
        pub(super) fn kaio_shim_statx_nowait(file: *mut bindings::file, flags: c_uint) -> bool;
        pub(super) fn kaio_shim_statx(
            file: *mut bindings::file,
            mask: c_uint,
            flags: c_uint,
            buf: *mut c_void,
        ) -> c_int;
        pub(super) fn kaio_shim_sock_push(file: *mut bindings::file);
        pub(super) fn kaio_shim_jiffies() -> u64;
        pub(super) fn kaio_shim_wq_has_sleeper(wq: *mut bindings::wait_queue_head) -> bool;
        pub(super) fn kaio_shim_waitq_alloc() -> *mut c_void;
        pub(super) fn kaio_shim_waitq_free(wq: *mut c_void);
        pub(super) fn kaio_shim_task_work_add(
            task: *mut bindings::task_struct,
            data: *mut c_void,
        ) -> c_int;
        pub(super) fn kaio_shim_param(idx: c_uint) -> u64;
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
        to_result(unsafe { ffi::kaio_shim_register() })?;
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

/// kaio's workqueue, created with the device and destroyed (drained) at
/// module exit.
pub(crate) fn workqueue() -> &'static Queue {
    // SAFETY: Created before the device is registered, destroyed at module
    // exit after every context and request is gone; no caller outlives it.
    unsafe { Queue::from_raw(ffi::kaio_shim_workqueue()) }
}

/// The workqueue of context teardowns (which may wait for a process's
/// workers to exit), apart from [`workqueue`] so they never delay others.
pub(crate) fn exit_workqueue() -> &'static Queue {
    // SAFETY: As for `workqueue`.
    unsafe { Queue::from_raw(ffi::kaio_shim_exit_workqueue()) }
}

/// A reference to this module, taken while it is already held (by an
/// open file).
pub(crate) struct ModuleRef(());

impl ModuleRef {
    /// Takes a reference; the caller holds one already.
    pub(crate) fn get() -> Self {
        // SAFETY: Called from a file operation: the file holds a reference.
        unsafe { bindings::__module_get(crate::THIS_MODULE.as_ptr()) };
        ModuleRef(())
    }
}

impl Drop for ModuleRef {
    fn drop(&mut self) {
        // SAFETY: Paired with `get`.
        unsafe { bindings::module_put(crate::THIS_MODULE.as_ptr()) };
    }
}

/// Waits until every RCU read-side section (interrupt handlers included)
/// that began before has ended.
pub(crate) fn synchronize_rcu() {
    // SAFETY: Called from process context (a work item).
    unsafe { bindings::synchronize_rcu() }
}

/// Initialises a wait queue head (with the shim's lockdep class).
///
/// # Safety
///
/// `wq` is valid for writes and will not move while in use.
pub(crate) unsafe fn init_waitqueue_head(wq: *mut bindings::wait_queue_head) {
    // SAFETY: Per the safety contract.
    unsafe { ffi::kaio_shim_init_waitqueue_head(wq) }
}

/// Module parameters, defined in the shim (6.12's `module!` has none).
#[derive(Clone, Copy)]
#[repr(u32)]
pub(crate) enum Param {
    /// `max_ring_entries`: largest completion ring a context may set up.
    RingEntries = 0,
    /// `max_inflight`: requests in flight across all contexts.
    Inflight = 1,
    /// `max_memory`: bytes of kernel memory for requests and rings.
    Memory = 2,
    /// `sendfile_window`: default SENDFILE window, in pages.
    SendfileWindow = 3,
    /// `max_user_inflight`: requests in flight per user.
    UserInflight = 4,
    /// `max_user_memory`: bytes of kernel memory per user.
    UserMemory = 5,
    /// `disk_streams`: requests per context reading from the disk at once.
    DiskStreams = 6,
}

/// Current value of module parameter `p`.
pub(crate) fn param(p: Param) -> u64 {
    // SAFETY: Reads a module parameter; any index is accepted.
    unsafe { ffi::kaio_shim_param(p as u32) }
}

/// A counted reference to a set of credentials.
///
/// # Invariants
///
/// `0` holds a reference to a valid `struct cred`.
pub(crate) struct Cred(NonNull<bindings::cred>);

// SAFETY: Credentials are immutable and reference counted atomically.
unsafe impl Send for Cred {}
// SAFETY: As above.
unsafe impl Sync for Cred {}

impl Cred {
    /// The current task's credentials.
    pub(crate) fn current() -> Self {
        // SAFETY: Always valid in process context; returns a new reference.
        let c = unsafe { ffi::kaio_shim_get_current_cred() };
        // INVARIANT: `get_current_cred` never returns null.
        Cred(NonNull::new(c.cast_mut()).expect("current task has credentials"))
    }

    /// Runs `f` with these credentials in place of the current task's. A
    /// worker runs with its process's credentials already; they are only
    /// overridden when the submitter's changed since (as io-wq does).
    pub(crate) fn with<R>(&self, f: impl FnOnce() -> R) -> R {
        // SAFETY: Compares pointers only.
        if unsafe { ffi::kaio_shim_cred_is_current(self.0.as_ptr()) } {
            return f();
        }
        // SAFETY: By the type invariant the credentials are valid; they are
        // reverted below, before `self` can be dropped.
        let old = unsafe { bindings::override_creds(self.0.as_ptr()) };
        let r = f();
        // SAFETY: `old` is what `override_creds` returned on this task.
        unsafe { bindings::revert_creds(old) };
        r
    }
}

impl Drop for Cred {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold a reference; `with` has
        // always reverted, so these are not the task's current creds.
        unsafe { ffi::kaio_shim_put_cred(self.0.as_ptr()) };
    }
}

/// A reference (`mmgrab`) to the memory map of the process owning a context.
///
/// # Invariants
///
/// `0` is a valid `mm_struct` with an `mm_count` reference held by us.
pub(crate) struct Mm(NonNull<bindings::mm_struct>);

// SAFETY: `mm_struct` references are atomic and usable from any thread.
unsafe impl Send for Mm {}
// SAFETY: As above.
unsafe impl Sync for Mm {}

impl Mm {
    /// The current process's memory map; `EINVAL` for a kernel thread.
    pub(crate) fn current() -> Result<Self> {
        // SAFETY: Reads `current->mm` and takes a reference if it is set.
        let mm = unsafe { ffi::kaio_shim_mmgrab_current() };
        // INVARIANT: non-null means a reference was taken.
        Ok(Mm(NonNull::new(mm).ok_or(EINVAL)?))
    }

    /// Whether the calling task runs in this memory map.
    pub(crate) fn is_current(&self) -> bool {
        // SAFETY: Only compares pointers.
        unsafe { ffi::kaio_shim_is_current_mm(self.0.as_ptr()) }
    }
}

impl Drop for Mm {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold an `mm_count` reference.
        unsafe { ffi::kaio_shim_mmdrop(self.0.as_ptr()) };
    }
}

/// A reference to a task (the submitter of a request that keeps its file).
///
/// # Invariants
///
/// `0` is a task whose reference we hold.
pub(crate) struct TaskRef(NonNull<bindings::task_struct>);

// SAFETY: Task references are atomic.
unsafe impl Send for TaskRef {}
// SAFETY: As above.
unsafe impl Sync for TaskRef {}

impl TaskRef {
    /// The current task.
    pub(crate) fn current() -> Self {
        // SAFETY: `current` is always valid; a reference is taken.
        let t = unsafe { ffi::kaio_shim_get_current_task() };
        // INVARIANT: `current` is never null.
        TaskRef(NonNull::new(t).expect("current is not null"))
    }

    /// Runs `kaio_rust_task_work(data, ..)` in this task's context when it
    /// next returns to user mode (interrupting an interruptible sleep).
    /// `ESRCH` if the task is exiting and will not run it.
    pub(crate) fn task_work(&self, data: *mut c_void) -> Result {
        // SAFETY: By the type invariant the task is valid.
        to_result(unsafe { ffi::kaio_shim_task_work_add(self.0.as_ptr(), data) })
    }

    /// Gives up the reference as a raw pointer.
    pub(crate) fn into_raw(self) -> *mut bindings::task_struct {
        core::mem::ManuallyDrop::new(self).0.as_ptr()
    }

    /// Takes back a reference from [`TaskRef::into_raw`].
    ///
    /// # Safety
    ///
    /// `raw` came from `into_raw` and is taken back once (or borrowed
    /// without dropping, through `ManuallyDrop`).
    pub(crate) unsafe fn from_raw(raw: *mut bindings::task_struct) -> Self {
        // INVARIANT: per the safety contract, a referenced task.
        TaskRef(NonNull::new(raw).expect("a task"))
    }

    /// Wakes the task if it sleeps (a worker waiting for work).
    pub(crate) fn wake(&self) {
        // SAFETY: By the type invariant the task is valid.
        unsafe { bindings::wake_up_process(self.0.as_ptr()) };
    }

    /// Whether the task is stopped, traced or frozen (it would not exit
    /// until continued).
    pub(crate) fn held(&self) -> bool {
        // SAFETY: By the type invariant the task is valid.
        unsafe { ffi::kaio_shim_task_held(self.0.as_ptr()) }
    }

    /// Breaks the task (a worker) out of an interruptible wait: its
    /// current operation sees a pending signal and returns.
    pub(crate) fn interrupt(&self) {
        // SAFETY: By the type invariant the task is valid.
        unsafe { ffi::kaio_shim_interrupt(self.0.as_ptr()) }
    }
}

impl Drop for TaskRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold a reference.
        unsafe { ffi::kaio_shim_put_task(self.0.as_ptr()) };
    }
}

/// Whether a real signal (not only a task_work notification) is pending.
pub(crate) fn real_signal_pending() -> bool {
    // SAFETY: Reads the current task's flags.
    unsafe { ffi::kaio_shim_real_signal_pending() }
}

/// The signal mask of a GETEVENTS call that named one
/// (`kaio_getevents.sigmask`): set for the call, restored when dropped, at
/// its end (after the delivery of a signal that interrupted it, as ppoll(2)).
pub(crate) struct SigMask {
    old: bindings::sigset_t,
}

impl SigMask {
    /// Blocks the signals in the kernel `sigset_t` at user address `umask`
    /// (never SIGKILL or SIGSTOP) until the guard is dropped.
    pub(crate) fn set(umask: u64) -> Result<Self> {
        let mut old = bindings::sigset_t::default();
        // SAFETY: Copies from user memory and changes the current task's
        // mask; `old` is ours.
        to_result(unsafe { ffi::kaio_shim_sigmask_set(umask, &mut old) })?;
        Ok(SigMask { old })
    }
}

impl Drop for SigMask {
    fn drop(&mut self) {
        // SAFETY: Restores (now or at signal delivery) the current task's
        // mask from `set`, in the same task: guards do not leave the call.
        unsafe { ffi::kaio_shim_sigmask_restore(&mut self.old) };
    }
}

/// Whether any signal or notification is pending for the current task.
pub(crate) fn signal_pending() -> bool {
    // SAFETY: Reads the current task's flags.
    unsafe { ffi::kaio_shim_signal_pending() }
}

/// Whether the current task (a worker) is being killed.
pub(crate) fn fatal_signal_pending() -> bool {
    // SAFETY: Reads the current task's signal state.
    unsafe { ffi::kaio_shim_fatal_signal_pending() }
}

/// Lets the scheduler run something else (long loops in workers).
pub(crate) fn cond_resched() {
    // SAFETY: Called from process context (workers, ioctls).
    unsafe { ffi::kaio_shim_cond_resched() }
}

/// Whether `[addr, addr + len)` is a user address range (`access_ok`).
pub(crate) fn access_ok(addr: u64, len: u64) -> bool {
    // SAFETY: Only checks the range against the user address limit.
    unsafe { ffi::kaio_shim_access_ok(addr, len) }
}

/// The current task's umask.
pub(crate) fn current_umask() -> u16 {
    // SAFETY: Reads `current->fs->umask`.
    (unsafe { bindings::current_umask() }) as u16
}

/// Whether `flags` are open(2) flags kaio accepts (`O_PATH` is not).
pub(crate) fn valid_open_flags(flags: u32) -> bool {
    flags & !bindings::VALID_OPEN_FLAGS == 0 && flags & bindings::O_PATH == 0
}

/// A referenced `struct path`.
///
/// # Invariants
///
/// `0` holds a `path_get` reference to a valid path.
pub(crate) struct PathRef(bindings::path);

// SAFETY: Path references are atomic.
unsafe impl Send for PathRef {}
// SAFETY: As above.
unsafe impl Sync for PathRef {}

impl PathRef {
    /// The current task's root directory.
    pub(crate) fn root() -> Self {
        let mut p = bindings::path {
            mnt: core::ptr::null_mut(),
            dentry: core::ptr::null_mut(),
        };
        // SAFETY: `p` is valid for writes; the shim takes a reference.
        unsafe { ffi::kaio_shim_get_root(&mut p) };
        // INVARIANT: `get_fs_root` returned a referenced path.
        PathRef(p)
    }

    /// The current task's working directory.
    pub(crate) fn pwd() -> Self {
        let mut p = bindings::path {
            mnt: core::ptr::null_mut(),
            dentry: core::ptr::null_mut(),
        };
        // SAFETY: `p` is valid for writes; the shim takes a reference.
        unsafe { ffi::kaio_shim_get_pwd(&mut p) };
        // INVARIANT: `get_fs_pwd` returned a referenced path.
        PathRef(p)
    }

    /// The directory open as `dfd` in the current task (`EBADF`, `ENOTDIR`).
    pub(crate) fn dirfd(dfd: i32) -> Result<Self> {
        let mut p = bindings::path {
            mnt: core::ptr::null_mut(),
            dentry: core::ptr::null_mut(),
        };
        // SAFETY: `p` is valid for writes; on success the shim took a reference.
        to_result(unsafe { ffi::kaio_shim_dirfd_path(dfd, &mut p) })?;
        // INVARIANT: success means `p` is referenced.
        Ok(PathRef(p))
    }
}

impl Clone for PathRef {
    fn clone(&self) -> Self {
        // SAFETY: By the type invariant the path is referenced; this takes
        // another reference.
        unsafe { bindings::path_get(&self.0) };
        // INVARIANT: the reference was just taken.
        PathRef(self.0)
    }
}

impl Drop for PathRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold a reference.
        unsafe { bindings::path_put(&self.0) };
    }
}

/// What a file allows (`FileRef::caps`, in `file_io.rs`).
#[derive(Clone, Copy)]
pub(crate) struct FileCaps(u32);

impl FileCaps {
    /// From the bits `FileRef::caps` computes.
    pub(crate) fn from_bits(bits: u32) -> Self {
        FileCaps(bits)
    }
    /// Open for reading.
    pub(crate) fn readable(self) -> bool {
        self.0 & 1 != 0
    }
    /// Open for writing.
    pub(crate) fn writable(self) -> bool {
        self.0 & 2 != 0
    }
    /// A directory.
    pub(crate) fn is_dir(self) -> bool {
        self.0 & 4 != 0
    }
    /// A regular file.
    pub(crate) fn is_reg(self) -> bool {
        self.0 & 8 != 0
    }
    /// Buffered reads can wait for the page cache asynchronously.
    pub(crate) fn async_read(self) -> bool {
        self.0 & 16 != 0
    }
    /// The file supports direct I/O (`FMODE_CAN_ODIRECT`).
    pub(crate) fn can_direct(self) -> bool {
        self.0 & 32 != 0
    }
    /// Opened with `O_DIRECT`.
    pub(crate) fn o_direct(self) -> bool {
        self.0 & 64 != 0
    }
    /// Opened with `O_APPEND`.
    pub(crate) fn append(self) -> bool {
        self.0 & 128 != 0
    }
    /// A pipe, FIFO, socket or tty: transfers park on its wait queue.
    pub(crate) fn stream(self) -> bool {
        self.0 & 256 != 0
    }
    /// Transfers can fail with `EAGAIN` instead of blocking (`FMODE_NOWAIT`).
    pub(crate) fn nowait(self) -> bool {
        self.0 & 512 != 0
    }
    /// Reads go through `read_iter` (which can take `IOCB_NOWAIT`).
    pub(crate) fn read_iter(self) -> bool {
        self.0 & 1024 != 0
    }
    /// Writes go through `write_iter`.
    pub(crate) fn write_iter(self) -> bool {
        self.0 & 2048 != 0
    }
}

/// Poll event bits (`EPOLL*`, which bindgen does not evaluate).
pub(crate) mod poll {
    use crate::kapi;

    /// Readable.
    pub(crate) const IN: u32 = kapi::EPOLLIN;
    /// Writable.
    pub(crate) const OUT: u32 = kapi::EPOLLOUT;
    /// Error.
    pub(crate) const ERR: u32 = kapi::EPOLLERR;
    /// Hang-up.
    pub(crate) const HUP: u32 = kapi::EPOLLHUP;
}

/// How a read or write may wait.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum IoMode {
    /// May sleep (a worker, for a file that offers nothing better).
    Block = 0,
    /// Never waits for the disk: parks on the folio (see [`WaitQ`]).
    WaitQ = 1,
    /// Fails with `EAGAIN` instead of blocking (streams).
    NoWait = 2,
}

/// A counted reference to an open file.
///
/// # Invariants
///
/// `0` is a valid `struct file` whose reference we hold.
pub(crate) struct FileRef(NonNull<bindings::file>);

// SAFETY: File references are atomic and files usable from any thread.
unsafe impl Send for FileRef {}
// SAFETY: As above.
unsafe impl Sync for FileRef {}

impl FileRef {
    /// The file open as `fd` in the current task (`EBADF`).
    pub(crate) fn fget(fd: i32) -> Result<Self> {
        // SAFETY: Looks `fd` up in the current task's table; takes a reference.
        let f = unsafe { bindings::fget(fd as c_uint) };
        // INVARIANT: non-null means a reference was taken.
        Ok(FileRef(NonNull::new(f).ok_or(EBADF)?))
    }

    /// Opens `name` with the given root, start directory and umask, as
    /// openat(2) would for the task whose credentials are current; with
    /// `in_root` (`root` is `dir`), as openat2(2) with `RESOLVE_IN_ROOT`.
    pub(crate) fn open(
        root: &PathRef,
        dir: &PathRef,
        name: &CStr,
        flags: u32,
        mode: u16,
        umask: u16,
        in_root: bool,
    ) -> Result<Self> {
        // SAFETY: The paths are referenced and `name` is NUL-terminated.
        let f = unsafe {
            ffi::kaio_shim_open(
                &root.0,
                &dir.0,
                name.as_char_ptr(),
                flags as c_int,
                mode,
                umask as c_int,
                in_root,
            )
        };
        // `filp_open` returns a file or an `ERR_PTR`.
        let f = kernel::error::from_err_ptr(f)?;
        // INVARIANT: a successful open returns a referenced file.
        Ok(FileRef(NonNull::new(f).ok_or(EINVAL)?))
    }

    /// In the submitter, at SUBMIT: opens `name` (from `root` as its root
    /// directory, else from the current root and working directory) only
    /// if neither lookup nor open can wait; `EAGAIN` otherwise, for any
    /// miss or error (the worker's [`FileRef::open`] then gives the real
    /// answer).
    pub(crate) fn open_cached(
        root: Option<&PathRef>,
        name: &CStr,
        flags: u32,
        mode: u16,
    ) -> Result<Self> {
        let root = root.map_or(core::ptr::null(), |r| &r.0 as *const bindings::path);
        let flags = flags as c_int;
        // SAFETY: `root` is null or a referenced path; `name` ends in NUL.
        let f = unsafe { ffi::kaio_shim_open_cached(root, name.as_char_ptr(), flags, mode) };
        // `filp_open` returns a file or an `ERR_PTR`.
        let f = kernel::error::from_err_ptr(f)?;
        // INVARIANT: a successful open returns a referenced file.
        Ok(FileRef(NonNull::new(f).ok_or(EINVAL)?))
    }

    /// fsync(2) or fdatasync(2).
    pub(crate) fn fsync(&self, datasync: bool) -> Result {
        // SAFETY: The file is valid.
        to_result(unsafe {
            bindings::vfs_fsync_range(self.0.as_ptr(), 0, i64::MAX, datasync as c_int)
        })
    }

    /// Installs the file in the current task's fd table; returns the fd.
    pub(crate) fn install(self, cloexec: bool) -> Result<i32> {
        let flags = if cloexec { bindings::O_CLOEXEC } else { 0 };
        // SAFETY: Reserves a slot in the current task's fd table.
        let fd = unsafe { bindings::get_unused_fd_flags(flags) };
        if fd < 0 {
            return Err(Error::from_errno(fd));
        }
        let f = core::mem::ManuallyDrop::new(self);
        // SAFETY: `fd` is the slot just reserved; `fd_install` consumes our
        // reference to the valid file.
        unsafe { bindings::fd_install(fd as c_uint, f.0.as_ptr()) };
        Ok(fd)
    }

    /// Closes the file as close(2) would (flush, then drop our reference).
    pub(crate) fn close(self) -> Result {
        let f = core::mem::ManuallyDrop::new(self);
        // SAFETY: We own the reference; `filp_close` consumes it.
        to_result(unsafe { bindings::filp_close(f.0.as_ptr(), core::ptr::null_mut()) })
    }
}

impl Drop for FileRef {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold a reference.
        unsafe { bindings::fput(self.0.as_ptr()) };
    }
}

impl FileRef {
    /// Whether `self` and `other` are the same open file.
    pub(crate) fn same(&self, other: &FileRef) -> bool {
        self.0 == other.0
    }

    /// Whether statx(2) of the file can answer without waiting (a local
    /// file system, not `AT_STATX_FORCE_SYNC`).
    pub(crate) fn statx_nowait(&self, flags: u32) -> bool {
        // SAFETY: The file is valid.
        unsafe { ffi::kaio_shim_statx_nowait(self.0.as_ptr(), flags) }
    }

    /// statx(2) of the file into the user's `buf` (`struct statx`), in the
    /// current task, with its credentials.
    pub(crate) fn statx(&self, mask: u32, flags: u32, buf: u64) -> Result {
        // SAFETY: The file is valid; the shim copies to the user address
        // with `copy_to_user`, which checks it.
        to_result(unsafe {
            ffi::kaio_shim_statx(self.0.as_ptr(), mask, flags, buf as usize as *mut c_void)
        })
    }

    /// Sends what `MSG_MORE` left queued on this socket.
    pub(crate) fn sock_push(&self) {
        // SAFETY: The file is valid.
        unsafe { ffi::kaio_shim_sock_push(self.0.as_ptr()) };
    }

    /// The `struct file`, for the typed wrappers of other modules; valid
    /// as long as `self`.
    pub(crate) fn as_ptr(&self) -> *mut bindings::file {
        self.0.as_ptr()
    }
}

/// A worker thread of the submitting process (a `vhost_task`), running
/// `kaio_rust_worker_run(lane)` whenever woken with work pending.
///
/// # Invariants
///
/// `0` is a started vhost_task; [`Worker::stop`] consumes it.
pub(crate) struct Worker(NonNull<c_void>);

// SAFETY: vhost_task handles are used from any thread.
unsafe impl Send for Worker {}
// SAFETY: As above.
unsafe impl Sync for Worker {}

impl Worker {
    /// Starts a worker in the current process for `lane`.
    ///
    /// # Safety
    ///
    /// `lane` must stay valid until [`Worker::stop`] returned.
    pub(crate) unsafe fn start(lane: *const c_void, idx: u32) -> Result<Self> {
        // SAFETY: Per the safety contract.
        let vt = unsafe { ffi::kaio_shim_worker_create(lane.cast_mut(), idx) };
        let vt = kernel::error::from_err_ptr(vt)?;
        // INVARIANT: created and started.
        Ok(Worker(NonNull::new(vt).ok_or(ENOMEM)?))
    }

    /// Gives up the handle as a raw pointer (for an atomic slot).
    pub(crate) fn as_raw(this: &core::mem::ManuallyDrop<Self>) -> *const c_void {
        this.0.as_ptr()
    }

    /// Takes a handle back from [`Worker::as_raw`].
    ///
    /// # Safety
    ///
    /// `raw` came from `as_raw` of a worker that was not stopped, and is
    /// taken back once.
    pub(crate) unsafe fn from_raw(raw: *mut c_void) -> Self {
        // INVARIANT: per the safety contract, a started worker.
        Worker(NonNull::new(raw).expect("a worker handle"))
    }

    /// Stops the worker and waits until it has exited.
    pub(crate) fn stop(self) {
        // SAFETY: By the type invariant; consumed here.
        unsafe { ffi::kaio_shim_worker_stop(self.0.as_ptr()) }
    }
}

/// Whether the current task is a user worker (a thread like kaio's own).
pub(crate) fn current_is_worker() -> bool {
    // SAFETY: Reads the current task's flags.
    unsafe { ffi::kaio_shim_current_is_worker() }
}

/// The tick count (`jiffies`).
pub(crate) fn jiffies() -> u64 {
    // SAFETY: Reads a kernel global; no preconditions.
    unsafe { ffi::kaio_shim_jiffies() }
}

/// `ms` milliseconds in ticks (rounded up).
pub(crate) fn msecs_to_jiffies(ms: u32) -> u64 {
    // SAFETY: Pure conversion.
    unsafe { bindings::__msecs_to_jiffies(ms) as u64 }
}

/// Whether anyone waits on `wq` (after a full barrier, so an update made
/// before the call is seen by a waiter that checks after queueing).
///
/// `wq` must have been initialised (as every wait queue head in kaio is,
/// by the constructor of the object that holds it).
pub(crate) fn wq_has_sleeper(wq: &kernel::types::Opaque<bindings::wait_queue_head>) -> bool {
    // SAFETY: `wq` is a live, initialised wait queue head.
    unsafe { ffi::kaio_shim_wq_has_sleeper(wq.get()) }
}

/// Sleeps for `ms` milliseconds, interruptibly (a kworker's idle wait).
pub(crate) fn nap(ms: u32) {
    let j = kernel::time::msecs_to_jiffies(ms);
    // SAFETY: Called from process context.
    unsafe { bindings::schedule_timeout_interruptible(j as _) };
}

/// In a worker: gives it a private copy of its process's fs_struct.
pub(crate) fn worker_private_fs() -> Result {
    // SAFETY: Called from a worker thread, for itself.
    to_result(unsafe { ffi::kaio_shim_worker_private_fs() })
}

/// In a worker: whether task work (files released by the worker) is
/// pending; if so the worker is flagged to run it when it returns to its
/// loop.
pub(crate) fn worker_task_work() -> bool {
    // SAFETY: Called from a worker thread, for itself.
    unsafe { ffi::kaio_shim_worker_task_work() }
}

/// A page wait entry for a read that waits for the page cache without a
/// thread (`struct kaio_waitq` in the shim).
///
/// # Invariants
///
/// `0` is a `kaio_waitq` allocated by the shim and owned by this value.
/// Once a read armed it, it stays alive until the wake callback has run:
/// its owner (a request) keeps it, and holds a reference on itself, until
/// then.
pub(crate) struct WaitQ(NonNull<c_void>);

// SAFETY: Plain memory; the wake callback's access is ordered by the wait
// queue's lock and the workqueue.
unsafe impl Send for WaitQ {}
// SAFETY: As above.
unsafe impl Sync for WaitQ {}

impl WaitQ {
    /// The shim's `struct kaio_waitq`, for `kapi::waitq_arm`.
    pub(crate) fn as_ptr(&self) -> *mut c_void {
        self.0.as_ptr()
    }

    /// Allocates a wait entry.
    pub(crate) fn new() -> Result<Self> {
        // SAFETY: Plain allocation.
        let p = unsafe { ffi::kaio_shim_waitq_alloc() };
        // INVARIANT: a fresh allocation.
        Ok(WaitQ(NonNull::new(p).ok_or(ENOMEM)?))
    }
}

impl Drop for WaitQ {
    fn drop(&mut self) {
        // SAFETY: Owned, and not armed (see the type invariant).
        unsafe { ffi::kaio_shim_waitq_free(self.0.as_ptr()) };
    }
}

/// A counted reference to an eventfd.
///
/// # Invariants
///
/// `0` is an `eventfd_ctx` whose reference we hold.
pub(crate) struct EventFd(NonNull<bindings::eventfd_ctx>);

// SAFETY: eventfd contexts are reference counted and signalled from any context.
unsafe impl Send for EventFd {}
// SAFETY: As above.
unsafe impl Sync for EventFd {}

impl EventFd {
    /// The eventfd open as `fd` in the current task.
    pub(crate) fn fdget(fd: i32) -> Result<Self> {
        // SAFETY: Looks the fd up in the current task; returns a reference or ERR_PTR.
        let ctx = kernel::error::from_err_ptr(unsafe { bindings::eventfd_ctx_fdget(fd) })?;
        // INVARIANT: success returns a referenced context.
        Ok(EventFd(NonNull::new(ctx).ok_or(EBADF)?))
    }

    /// Adds one to the eventfd's counter.
    pub(crate) fn signal(&self) {
        // SAFETY: By the type invariant the context is valid.
        unsafe { bindings::eventfd_signal_mask(self.0.as_ptr(), 0) };
    }
}

impl Drop for EventFd {
    fn drop(&mut self) {
        // SAFETY: By the type invariant we hold a reference.
        unsafe { bindings::eventfd_ctx_put(self.0.as_ptr()) };
    }
}

/// Copies a NUL-terminated user string of at most `max - 1` bytes, with its
/// NUL; `ENAMETOOLONG` if longer, `EFAULT` if unreadable. Short strings (the
/// common case) get a short buffer: a first try copies at most 256 bytes.
pub(crate) fn strncpy_from_user(addr: u64, max: usize) -> Result<KVec<u8>> {
    match copy_user_string(addr, max.min(256))? {
        Some(buf) => Ok(buf),
        None if max > 256 => copy_user_string(addr, max)?
            .ok_or(Error::from_errno(-(bindings::ENAMETOOLONG as c_int))),
        None => Err(Error::from_errno(-(bindings::ENAMETOOLONG as c_int))),
    }
}

/// One try of [`strncpy_from_user`] with a `cap`-byte buffer: `None` if the
/// string (with its NUL) does not fit.
fn copy_user_string(addr: u64, cap: usize) -> Result<Option<KVec<u8>>> {
    let mut buf = KVec::with_capacity(cap, GFP_KERNEL_ACCOUNT)?;
    // SAFETY: `buf` has room for `cap` bytes; the function checks the user
    // address and writes at most `cap` bytes.
    let n = unsafe {
        bindings::strncpy_from_user(
            buf.as_mut_ptr() as *mut c_char,
            addr as *const c_char,
            cap as _,
        )
    };
    if n < 0 {
        return Err(Error::from_errno(n as c_int));
    }
    let n = n as usize;
    if n >= cap {
        return Ok(None);
    }
    // SAFETY: `strncpy_from_user` initialised `n` bytes plus the NUL.
    unsafe { buf.set_len(n + 1) };
    Ok(Some(buf))
}
