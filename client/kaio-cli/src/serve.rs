// SPDX-License-Identifier: GPL-2.0
//! `kaio serve`: an HTTP/1.1 static file server on kaio.
//!
//! Each worker thread has its own listening socket (`SO_REUSEPORT`), its
//! own kaio context and an epoll set with three members: the listener, the
//! context (readable while completions wait in its ring) and a shutdown
//! eventfd. A connection always has exactly one kaio request in flight:
//!
//! 1. `FD(conn) -> RECV` into the connection's 8 KiB buffer, until it holds
//!    a complete request header;
//! 2. `OPEN(dir, path, IN_ROOT) -> STATX -> KEEP`: the lookup (which may
//!    miss the dentry cache and read the disk) runs in the kernel, and the
//!    event brings the file's descriptor and attributes;
//! 3. `FD(file) -> SEND(conn, header) -> SENDFILE(conn, range) -> CLOSE`
//!    (`FD(conn) -> SEND(header and body)` for errors and HEAD), then the
//!    file descriptor is closed and, on a kept-alive connection, the next
//!    request is taken from what the buffer still holds or from step 1.
//!
//! So no system call of a worker waits for the disk, a lookup or a slow
//! client: a client that does not read parks its SENDFILE in the kernel,
//! without a thread. Idle connections (and connections being drained after
//! a last answer) time out by CANCEL of their RECV.

use crate::http::{self, Method, Parse, Status};
use kaio::{feature, sys, Completion, Context, OpId, Request};
use std::{
    ffi::CString,
    io,
    mem::MaybeUninit,
    net::{SocketAddr, ToSocketAddrs},
    os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd},
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

/// Per-connection request buffer: the largest request header.
const BUF: usize = 8192;
/// After a last answer: how long, and how much, to read and discard
/// before closing, so that unread request bytes do not reset the
/// connection before the client has read the answer.
const LINGER: Duration = Duration::from_secs(2);
const LINGER_MAX: u64 = 1 << 20;
/// How long a shutdown waits for cancelled requests to complete.
const STOP_WAIT: Duration = Duration::from_secs(10);
/// The timer resolution.
const TICK: Duration = Duration::from_millis(250);

const TOKEN_LISTEN: u64 = 0;
const TOKEN_CTX: u64 = 1;
const TOKEN_STOP: u64 = 2;

static FAILED: AtomicBool = AtomicBool::new(false);

/// `kaio serve`'s options.
pub struct Options {
    pub dir: PathBuf,
    pub listen: String,
    pub workers: usize,
    pub idle: Duration,
    pub max_conn: usize,
    pub log: bool,
}

fn cvt(r: libc::c_int) -> io::Result<libc::c_int> {
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn ctx_err(e: io::Error, what: &str) -> io::Error {
    io::Error::new(e.kind(), format!("{what}: {e}"))
}

fn parse_addr(s: &str) -> io::Result<SocketAddr> {
    if let Ok(port) = s.trim_start_matches(':').parse::<u16>() {
        return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
    }
    s.to_socket_addrs()?.next().ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, format!("{s}: no address")))
}

fn to_sockaddr(a: &SocketAddr) -> (libc::sockaddr_storage, libc::socklen_t) {
    // SAFETY: sockaddr_storage is plain data; all zeroes is valid.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let len = match a {
        SocketAddr::V4(v4) => {
            let sin = libc::sockaddr_in {
                sin_family: libc::AF_INET as libc::sa_family_t,
                sin_port: v4.port().to_be(),
                sin_addr: libc::in_addr { s_addr: u32::from_ne_bytes(v4.ip().octets()) },
                sin_zero: [0; 8],
            };
            // SAFETY: sockaddr_storage is larger than, and aligned for, sockaddr_in.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin) };
            std::mem::size_of::<libc::sockaddr_in>()
        }
        SocketAddr::V6(v6) => {
            let sin6 = libc::sockaddr_in6 {
                sin6_family: libc::AF_INET6 as libc::sa_family_t,
                sin6_port: v6.port().to_be(),
                sin6_flowinfo: v6.flowinfo(),
                sin6_addr: libc::in6_addr { s6_addr: v6.ip().octets() },
                sin6_scope_id: v6.scope_id(),
            };
            // SAFETY: As above, for sockaddr_in6.
            unsafe { std::ptr::write((&mut ss as *mut libc::sockaddr_storage).cast(), sin6) };
            std::mem::size_of::<libc::sockaddr_in6>()
        }
    };
    (ss, len as libc::socklen_t)
}

/// The port a bound socket got.
fn local_port(fd: RawFd) -> io::Result<u16> {
    // SAFETY: Plain data.
    let mut ss: libc::sockaddr_storage = unsafe { std::mem::zeroed() };
    let mut len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
    // SAFETY: `ss` has room for `len` bytes.
    cvt(unsafe { libc::getsockname(fd, (&mut ss as *mut libc::sockaddr_storage).cast(), &mut len) })?;
    // SAFETY: The family says which structure the kernel wrote.
    Ok(unsafe {
        match i32::from(ss.ss_family) {
            libc::AF_INET => {
                u16::from_be((*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>()).sin_port)
            }
            _ => u16::from_be((*(&ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>()).sin6_port),
        }
    })
}

fn setsockopt_int(fd: RawFd, level: i32, opt: i32, v: libc::c_int) -> io::Result<()> {
    // SAFETY: `v` is a c_int, as the option expects.
    cvt(unsafe {
        libc::setsockopt(fd, level, opt, (&v as *const libc::c_int).cast(), std::mem::size_of::<libc::c_int>() as _)
    })
    .map(|_| ())
}

/// A non-blocking socket bound to `addr`, sharing its port with the other
/// workers' (`SO_REUSEPORT`); it listens once the server is ready.
fn listener(addr: &SocketAddr) -> io::Result<OwnedFd> {
    let family = if addr.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 };
    // SAFETY: Creates a socket; the result is checked.
    let fd = cvt(unsafe { libc::socket(family, libc::SOCK_STREAM | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC, 0) })?;
    // SAFETY: A fresh descriptor, owned from here on.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEADDR, 1)?;
    setsockopt_int(fd.as_raw_fd(), libc::SOL_SOCKET, libc::SO_REUSEPORT, 1)?;
    let (ss, len) = to_sockaddr(addr);
    // SAFETY: `ss` holds an address of `len` bytes.
    cvt(unsafe { libc::bind(fd.as_raw_fd(), (&ss as *const libc::sockaddr_storage).cast(), len) })
        .map_err(|e| ctx_err(e, &format!("bind {addr}")))?;
    Ok(fd)
}

fn epoll_add(ep: RawFd, fd: RawFd, token: u64) -> io::Result<()> {
    let mut ev = libc::epoll_event { events: libc::EPOLLIN as u32, u64: token };
    // SAFETY: `ev` is valid for the call.
    cvt(unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_ADD, fd, &mut ev) }).map(|_| ())
}

fn epoll_del(ep: RawFd, fd: RawFd) {
    // SAFETY: A NULL event is allowed for EPOLL_CTL_DEL.
    unsafe { libc::epoll_ctl(ep, libc::EPOLL_CTL_DEL, fd, std::ptr::null_mut()) };
}

fn sigset(sigs: &[i32]) -> libc::sigset_t {
    // SAFETY: sigemptyset initialises the set.
    unsafe {
        let mut s = MaybeUninit::<libc::sigset_t>::zeroed().assume_init();
        libc::sigemptyset(&mut s);
        for &sig in sigs {
            libc::sigaddset(&mut s, sig);
        }
        s
    }
}

/// Runs the server until SIGTERM or SIGINT.
pub fn serve(o: Options) -> io::Result<()> {
    kaio::check_features(feature::SOCKET | feature::STATX | feature::IN_ROOT)?;
    let dirpath = CString::new(o.dir.as_os_str().as_encoded_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in DIR"))?;
    // SAFETY: `dirpath` is a valid C string.
    let dirfd = cvt(unsafe { libc::open(dirpath.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) })
        .map_err(|e| ctx_err(e, &o.dir.display().to_string()))?;
    // SAFETY: A fresh descriptor, owned from here on.
    let dir = unsafe { OwnedFd::from_raw_fd(dirfd) };
    let workers = o.workers.max(1);
    let max_conn = o.max_conn.clamp(1, 32768);
    let mut addr = parse_addr(&o.listen)?;

    // Signals are taken by sigwait() in this thread only: the workers
    // inherit the mask.
    let stop_sigs = sigset(&[libc::SIGINT, libc::SIGTERM]);
    // SAFETY: Valid sets.
    unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &stop_sigs, std::ptr::null_mut()) };

    let mut setups = Vec::with_capacity(workers);
    for _ in 0..workers {
        let l = listener(&addr)?;
        if addr.port() == 0 {
            addr.set_port(local_port(l.as_raw_fd())?);
        }
        let ctx =
            Context::new((max_conn as u32).next_power_of_two().max(64)).map_err(|e| ctx_err(e, "kaio context"))?;
        setups.push((l, ctx));
    }
    // SAFETY: Creates an eventfd; checked.
    let stopfd = cvt(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) })?;
    // SAFETY: A fresh descriptor, owned from here on.
    let stopfd = unsafe { OwnedFd::from_raw_fd(stopfd) };

    // The startup line comes before the first connection can.
    eprintln!("kaio serve: {} on {addr}, {workers} workers", o.dir.display());
    for (l, _) in &setups {
        // SAFETY: Plain call on our socket.
        cvt(unsafe { libc::listen(l.as_raw_fd(), 1024) }).map_err(|e| ctx_err(e, &format!("listen {addr}")))?;
    }
    let mut threads = Vec::new();
    for (i, (l, ctx)) in setups.into_iter().enumerate() {
        let w = Worker::new(ctx, l, dir.as_raw_fd(), stopfd.as_raw_fd(), max_conn, o.idle, o.log)?;
        threads.push(
            std::thread::Builder::new()
                .name(format!("serve-{i}"))
                .spawn(move || {
                    if let Err(e) = w.run() {
                        eprintln!("kaio serve: worker {i}: {e}");
                        FAILED.store(true, Ordering::SeqCst);
                        // SAFETY: Signals this process; main's sigwait() takes it.
                        unsafe { libc::kill(libc::getpid(), libc::SIGTERM) };
                    }
                })
                .map_err(|e| ctx_err(e, "spawn"))?,
        );
    }
    let mut sig = 0;
    // SAFETY: `stop_sigs` is blocked in every thread.
    while unsafe { libc::sigwait(&stop_sigs, &mut sig) } != 0 {}
    let one: u64 = 1;
    // SAFETY: Writes 8 bytes to the eventfd.
    unsafe { libc::write(stopfd.as_raw_fd(), (&one as *const u64).cast(), 8) };
    for t in threads {
        let _ = t.join();
    }
    if FAILED.load(Ordering::SeqCst) {
        return Err(io::Error::other("a worker failed"));
    }
    Ok(())
}

/// What a connection's request in flight is doing.
enum State {
    /// RECV of a request header.
    Recv,
    /// OPEN -> STATX -> KEEP of the requested file.
    Open(http::Request),
    /// An answer going out; the file it sends from, if any.
    Send { file: Option<OwnedFd>, keep: bool },
    /// RECV of what the client still sends after the last answer, to discard.
    Linger,
}

struct Conn {
    sock: OwnedFd,
    gen: u32,
    /// The request buffer (`BUF` bytes of capacity, the bytes received so
    /// far), and the statx buffer: `None` while the kernel holds them.
    buf: Option<Vec<u8>>,
    stx: Option<Box<sys::Statx>>,
    /// The request in flight.
    op: Option<OpId>,
    state: State,
    /// The request in flight will end this connection (CANCEL sent, or
    /// shutting down).
    closing: bool,
    /// When to cancel the RECV in flight (idle or linger timeout).
    deadline: Option<Instant>,
    drained: u64,
}

struct Worker {
    ctx: Context,
    ep: OwnedFd,
    lfd: Option<OwnedFd>,
    listening: bool,
    accept_pause: Option<Instant>,
    dirfd: RawFd,
    stopfd: RawFd,
    conns: Vec<Option<Conn>>,
    free: Vec<usize>,
    nconn: usize,
    max_conn: usize,
    gen: u32,
    idle: Duration,
    log: bool,
    stopping: Option<Instant>,
    date: (u64, String),
}

fn user_data(idx: usize, gen: u32) -> u64 {
    (u64::from(gen) << 32) | idx as u64
}

impl Worker {
    fn new(
        ctx: Context,
        lfd: OwnedFd,
        dirfd: RawFd,
        stopfd: RawFd,
        max_conn: usize,
        idle: Duration,
        log: bool,
    ) -> io::Result<Self> {
        // SAFETY: Creates an epoll set; checked.
        let ep = cvt(unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) })?;
        // SAFETY: A fresh descriptor, owned from here on.
        let ep = unsafe { OwnedFd::from_raw_fd(ep) };
        epoll_add(ep.as_raw_fd(), lfd.as_raw_fd(), TOKEN_LISTEN)?;
        epoll_add(ep.as_raw_fd(), ctx.as_raw_fd(), TOKEN_CTX)?;
        epoll_add(ep.as_raw_fd(), stopfd, TOKEN_STOP)?;
        Ok(Worker {
            ctx,
            ep,
            lfd: Some(lfd),
            listening: true,
            accept_pause: None,
            dirfd,
            stopfd,
            conns: Vec::new(),
            free: Vec::new(),
            nconn: 0,
            max_conn,
            gen: 0,
            idle,
            log,
            stopping: None,
            date: (0, String::new()),
        })
    }

    fn run(mut self) -> io::Result<()> {
        let mut evs = [libc::epoll_event { events: 0, u64: 0 }; 8];
        let mut next_tick = Instant::now() + TICK;
        loop {
            let wait = next_tick.saturating_duration_since(Instant::now());
            // SAFETY: `evs` has room for 8 events.
            let n = unsafe {
                libc::epoll_wait(self.ep.as_raw_fd(), evs.as_mut_ptr(), evs.len() as i32, wait.as_millis() as i32 + 1)
            };
            if n < 0 {
                let e = io::Error::last_os_error();
                // EINTR: a KEEP'd file being installed (task_work).
                if e.raw_os_error() != Some(libc::EINTR) {
                    return Err(ctx_err(e, "epoll_wait"));
                }
            }
            for ev in &evs[..n.max(0) as usize] {
                match ev.u64 {
                    TOKEN_LISTEN => self.accept_all(),
                    TOKEN_STOP if self.stopping.is_none() => self.begin_stop(),
                    _ => {}
                }
            }
            self.drain_ring();
            let now = Instant::now();
            if now >= next_tick {
                next_tick = now + TICK;
                self.timers(now);
            }
            if let Some(t) = self.stopping {
                if self.nconn == 0 {
                    return Ok(());
                }
                if now >= t + STOP_WAIT {
                    // Requests the kernel did not finish: dropping the
                    // context leaks the buffers they hold.
                    eprintln!("kaio serve: {} connections did not finish their cancelled requests", self.nconn);
                    return Ok(());
                }
            }
        }
    }

    fn now_date(&mut self) -> String {
        let secs = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs());
        if self.date.0 != secs || self.date.1.is_empty() {
            self.date = (secs, http::http_date(secs as i64));
        }
        self.date.1.clone()
    }

    fn set_listening(&mut self, on: bool) {
        let Some(l) = self.lfd.as_ref() else { return };
        if on == self.listening {
            return;
        }
        if on {
            if epoll_add(self.ep.as_raw_fd(), l.as_raw_fd(), TOKEN_LISTEN).is_err() {
                return;
            }
        } else {
            epoll_del(self.ep.as_raw_fd(), l.as_raw_fd());
        }
        self.listening = on;
    }

    fn accept_all(&mut self) {
        while self.nconn < self.max_conn && self.stopping.is_none() {
            let Some(l) = self.lfd.as_ref() else { return };
            // SAFETY: Plain call; the peer address is not wanted.
            let fd =
                unsafe { libc::accept4(l.as_raw_fd(), std::ptr::null_mut(), std::ptr::null_mut(), libc::SOCK_CLOEXEC) };
            if fd < 0 {
                let e = io::Error::last_os_error();
                match e.raw_os_error() {
                    Some(libc::EAGAIN) => return,
                    Some(libc::EINTR) | Some(libc::ECONNABORTED) | Some(libc::EPROTO) => continue,
                    _ => {
                        // Out of descriptors or memory: stop accepting for a
                        // while rather than spin on a readable listener.
                        eprintln!("kaio serve: accept: {e}");
                        self.set_listening(false);
                        self.accept_pause = Some(Instant::now() + Duration::from_millis(100));
                        return;
                    }
                }
            }
            // SAFETY: A fresh descriptor, owned from here on.
            let sock = unsafe { OwnedFd::from_raw_fd(fd) };
            let _ = setsockopt_int(fd, libc::IPPROTO_TCP, libc::TCP_NODELAY, 1);
            self.gen = self.gen.wrapping_add(1);
            let conn = Conn {
                sock,
                gen: self.gen,
                buf: Some(Vec::with_capacity(BUF)),
                stx: Some(kaio::statx_buf()),
                op: None,
                state: State::Recv,
                closing: false,
                deadline: None,
                drained: 0,
            };
            let idx = match self.free.pop() {
                Some(i) => {
                    self.conns[i] = Some(conn);
                    i
                }
                None => {
                    self.conns.push(Some(conn));
                    self.conns.len() - 1
                }
            };
            self.nconn += 1;
            self.await_request(idx);
        }
        if self.nconn >= self.max_conn {
            self.set_listening(false);
        }
    }

    fn conn(&mut self, idx: usize) -> &mut Conn {
        self.conns[idx].as_mut().expect("live connection")
    }

    /// Frees a connection with no request in flight (closes its socket).
    fn drop_conn(&mut self, idx: usize) {
        if self.conns[idx].take().is_some() {
            self.free.push(idx);
            self.nconn -= 1;
            if self.nconn < self.max_conn && self.accept_pause.is_none() && self.stopping.is_none() {
                self.set_listening(true);
            }
        }
    }

    /// Submits connection `idx`'s next request; a refused one gives its
    /// buffers back to the connection.
    fn submit(&mut self, idx: usize, r: Request) -> io::Result<()> {
        match self.ctx.submit(r) {
            Ok(id) => {
                self.conn(idx).op = Some(id);
                Ok(())
            }
            Err(e) => {
                let kaio::SubmitError { error, request } = e;
                let mut bufs = request.into_bufs();
                let c = self.conn(idx);
                for b in bufs.drain(..) {
                    let b = match b.downcast::<Vec<u8>>() {
                        Ok(v) => {
                            c.buf = Some(*v);
                            continue;
                        }
                        Err(b) => b,
                    };
                    if let Ok(x) = b.downcast::<Box<sys::Statx>>() {
                        c.stx = Some(*x);
                    }
                }
                Err(error)
            }
        }
    }

    /// Waits for the next request on a connection, idle timer armed.
    fn await_request(&mut self, idx: usize) {
        let idle = self.idle;
        self.conn(idx).deadline = Some(Instant::now() + idle);
        self.next_request(idx);
    }

    /// Starts the next request from the buffer, or RECVs more of it.
    fn next_request(&mut self, idx: usize) {
        let c = self.conn(idx);
        let buf = c.buf.as_mut().expect("the request buffer");
        match http::parse(buf, buf.len() >= BUF) {
            Parse::Incomplete => {
                let (fd, gen) = (c.sock.as_raw_fd(), c.gen);
                let buf = c.buf.take().expect("the request buffer");
                c.state = State::Recv;
                // The buffer is the kernel's until the event gives it back.
                let r = Request::new(user_data(idx, gen)).fd(fd).recv(sys::FD_CHAIN, buf);
                if let Err(e) = self.submit(idx, r) {
                    eprintln!("kaio serve: submit RECV: {e}");
                    self.drop_conn(idx);
                }
            }
            Parse::Request { req, len } => {
                buf.drain(..len);
                c.deadline = None;
                self.open(idx, req);
            }
            Parse::Error { status, len, head, keep, http10 } => {
                buf.drain(..len);
                c.deadline = None;
                self.log_line(idx, "-", b"-", status, 0);
                self.send_error(idx, status, keep && !status.closes(), http10, head);
            }
        }
    }

    fn log_line(&self, idx: usize, method: &str, path: &[u8], status: Status, len: u64) {
        if self.log {
            eprintln!("kaio serve: [{idx}] {method} /{} {} {len}", String::from_utf8_lossy(path), status.code());
        }
    }

    /// OPEN -> STATX -> KEEP of the requested file.
    fn open(&mut self, idx: usize, req: http::Request) {
        let dirfd = self.dirfd;
        let c = self.conn(idx);
        let ud = user_data(idx, c.gen);
        let stx = c.stx.take().expect("the statx buffer");
        let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
        let (keep, http10, head) = (req.keep_alive, req.http10, req.method == Method::Head);
        let path = req.path.clone();
        let r = Request::new(ud)
            .open_in_root(dirfd, &path, flags, 0)
            .statx(stx, libc::STATX_TYPE | libc::STATX_MODE | libc::STATX_SIZE | libc::STATX_MTIME)
            .keep(true);
        c.state = State::Open(req);
        let submitted = self.submit(idx, r);
        let path = path.into_bytes();
        if let Err(e) = submitted {
            // Refused at submit (a path too long, say): the same answer as
            // if the OPEN had failed.
            let status = http::open_error_status(e.raw_os_error().unwrap_or(0));
            if status == Status::Internal {
                eprintln!("kaio serve: submit OPEN: {e}");
            }
            self.log_line(idx, if head { "HEAD" } else { "GET" }, &path, status, 0);
            self.send_error(idx, status, keep && !status.closes(), http10, head);
        }
    }

    /// An error answer: `FD(conn) -> SEND`.
    fn send_error(&mut self, idx: usize, status: Status, keep: bool, http10: bool, head: bool) {
        let date = self.now_date();
        let keep = keep && self.stopping.is_none();
        let resp = http::error_response(status, &date, keep, http10, head);
        let c = self.conn(idx);
        let r = Request::new(user_data(idx, c.gen)).fd(c.sock.as_raw_fd()).send(sys::FD_CHAIN, resp.as_bytes());
        c.state = State::Send { file: None, keep };
        if let Err(e) = self.submit(idx, r) {
            eprintln!("kaio serve: submit SEND: {e}");
            self.drop_conn(idx);
        }
    }

    fn drain_ring(&mut self) {
        loop {
            let ev = self.ctx.reap().next();
            let Some(ev) = ev else { break };
            self.on_event(ev);
        }
    }

    fn on_event(&mut self, mut ev: Completion) {
        let idx = (ev.user_data() & 0xffff_ffff) as usize;
        let gen = (ev.user_data() >> 32) as u32;
        // A KEEP'd descriptor is ours to close whatever else happened.
        // SAFETY: The kernel installed it for us.
        let kept = ev.kept_fd().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
        let Some(c) = self.conns.get_mut(idx).and_then(|c| c.as_mut()).filter(|c| c.gen == gen) else {
            eprintln!("kaio serve: event for no connection ({:#x})", ev.user_data());
            return;
        };
        c.op = None;
        // The buffers the request held are the connection's again.
        if let Some(b) = ev.take_buf::<Vec<u8>>() {
            c.buf = Some(b);
        }
        if let Some(x) = ev.take_buf::<Box<sys::Statx>>() {
            c.stx = Some(x);
        }
        if c.closing {
            drop(kept);
            self.drop_conn(idx);
            return;
        }
        match std::mem::replace(&mut c.state, State::Recv) {
            State::Recv => {
                if !ev.done() {
                    // End of stream, a reset, or a cancel.
                    self.drop_conn(idx);
                    return;
                }
                self.next_request(idx);
            }
            State::Linger => {
                let n = ev.result().unwrap_or(0).max(0) as u64;
                c.drained += n;
                if !ev.done() || c.drained >= LINGER_MAX {
                    self.drop_conn(idx);
                    return;
                }
                self.linger_recv(idx);
            }
            State::Open(req) => self.opened(idx, req, &ev, kept),
            State::Send { file, keep } => {
                drop(file);
                if !ev.done() {
                    // The client went away (EPIPE, ECONNRESET), or the file
                    // was shorter than its header said: the connection
                    // cannot go on.
                    self.drop_conn(idx);
                } else if keep && self.stopping.is_none() {
                    self.await_request(idx);
                } else {
                    self.linger(idx);
                }
            }
        }
    }

    /// The OPEN chain's event: answer with the file or an error.
    fn opened(&mut self, idx: usize, mut req: http::Request, ev: &Completion, kept: Option<OwnedFd>) {
        let head = req.method == Method::Head;
        let mname = if head { "HEAD" } else { "GET" };
        let Some(file) = kept.filter(|_| ev.done()) else {
            let status = match ev.error() {
                // OPEN failed: the path's answer; STATX or KEEP: ours.
                Some(e) if ev.step() == 0 => http::open_error_status(e.raw_os_error().unwrap_or(0)),
                Some(e) => {
                    eprintln!("kaio serve: step {}: {e}", ev.step());
                    Status::Internal
                }
                None => Status::Internal,
            };
            self.log_line(idx, mname, req.path.as_bytes(), status, 0);
            self.send_error(idx, status, req.keep_alive && !status.closes(), req.http10, head);
            return;
        };
        // STATX completed: the kernel filled the buffer.
        let stx: sys::Statx = **self.conn(idx).stx.as_ref().expect("the statx buffer");
        let mode = u32::from(stx.stx_mode) & libc::S_IFMT;
        if stx.stx_mask & libc::STATX_TYPE == 0 || stx.stx_mask & libc::STATX_SIZE == 0 || mode != libc::S_IFREG {
            // Directories (no index), devices, FIFOs, sockets.
            drop(file);
            self.log_line(idx, mname, req.path.as_bytes(), Status::Forbidden, 0);
            self.send_error(idx, Status::Forbidden, req.keep_alive, req.http10, head);
            return;
        }
        req.keep_alive &= self.stopping.is_none();
        let meta = http::FileMeta {
            path: req.path.as_bytes(),
            size: stx.stx_size,
            mtime: (stx.stx_mask & libc::STATX_MTIME != 0).then_some(stx.stx_mtime.tv_sec),
        };
        let date = self.now_date();
        let (header, status, off, len) = http::file_header(&req, &meta, &date);
        self.log_line(idx, mname, req.path.as_bytes(), status, len);
        let keep = req.keep_alive;
        let c = self.conn(idx);
        let (sock, ud) = (c.sock.as_raw_fd(), user_data(idx, c.gen));
        let r = if len > 0 {
            Request::new(ud).fd(file.as_raw_fd()).send(sock, header.as_bytes()).sendfile(sock, off as i64, len).close()
        } else {
            Request::new(ud).fd(sock).send(sys::FD_CHAIN, header.as_bytes())
        };
        let file = (len > 0).then_some(file);
        c.state = State::Send { file, keep };
        if let Err(e) = self.submit(idx, r) {
            eprintln!("kaio serve: submit SEND: {e}");
            self.drop_conn(idx);
        }
    }

    /// After the last answer: no more sending; read and discard what the
    /// client still sends, for a while, then close.
    fn linger(&mut self, idx: usize) {
        let c = self.conn(idx);
        // SAFETY: Plain call on our socket.
        unsafe { libc::shutdown(c.sock.as_raw_fd(), libc::SHUT_WR) };
        c.drained = 0;
        c.deadline = Some(Instant::now() + LINGER);
        self.linger_recv(idx);
    }

    fn linger_recv(&mut self, idx: usize) {
        let c = self.conn(idx);
        c.state = State::Linger;
        let mut buf = c.buf.take().expect("the request buffer");
        buf.clear();
        let r = Request::new(user_data(idx, c.gen)).fd(c.sock.as_raw_fd()).recv(sys::FD_CHAIN, buf);
        if self.submit(idx, r).is_err() {
            self.drop_conn(idx);
        }
    }

    /// Ends a connection: cancels its request in flight; the event frees it.
    fn cancel(&mut self, idx: usize) {
        let c = self.conn(idx);
        if c.closing {
            return;
        }
        c.closing = true;
        // ENOENT: it has just completed; its event, in the ring, ends it.
        if let Some(id) = c.op {
            let _ = self.ctx.cancel(id);
        }
    }

    fn timers(&mut self, now: Instant) {
        if self.accept_pause.is_some_and(|t| now >= t) {
            self.accept_pause = None;
            if self.nconn < self.max_conn && self.stopping.is_none() {
                self.set_listening(true);
                self.accept_all();
            }
        }
        for idx in 0..self.conns.len() {
            if let Some(c) = self.conns[idx].as_ref() {
                if c.deadline.is_some_and(|d| now >= d) && !c.closing {
                    self.cancel(idx);
                }
            }
        }
    }

    /// SIGTERM or SIGINT: stop accepting, cancel every request; the loop
    /// ends when their events are in.
    fn begin_stop(&mut self) {
        self.stopping = Some(Instant::now());
        self.set_listening(false);
        self.lfd = None;
        epoll_del(self.ep.as_raw_fd(), self.stopfd);
        for idx in 0..self.conns.len() {
            if self.conns[idx].is_some() {
                self.cancel(idx);
            }
        }
    }
}
