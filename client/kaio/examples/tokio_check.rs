// SPDX-License-Identifier: GPL-2.0
//! Liveness checks of `kaio::tokio` against the real module, in TAP:
//! `tokio_check` prints `1..N` and `ok K name` / `not ok K name`, and exits
//! with status 0 only if every check passed (selftests/tokio_test.c runs it
//! in the guest).
//!
//! - `lost_wakeup`: task B polls a long request once (`select!` with a
//!   timeout) and then holds its `Op` unpolled; task A's request, which
//!   completes at 50 ms, must still resolve at once.
//! - `many_waiters`: several tasks await requests that complete one after
//!   the other while another task holds a polled-once `Op`.
//! - `no_wedge`: a ring of 4; four long requests (OPENs of a FIFO that
//!   never gets a writer: their cancellation completes a little later, in
//!   the worker) submitted and dropped; a short request must then go
//!   through.
//! - `in_flight_drains`: after that, nothing is left counted in flight.
//! - `held_completions_free_the_ring`: a ring of 4 filled by requests that
//!   completed but whose ops are held unpolled; one more must go through,
//!   and the held ops must still give their completions.

use kaio::{sys, tokio::Context, Request};
use std::{
    ffi::CString,
    future::Future,
    io::Write,
    os::{fd::AsRawFd, unix::net::UnixStream},
    time::{Duration, Instant},
};

/// How long a short request may take to resolve.
const DEADLINE: Duration = Duration::from_secs(2);

/// A RECV on `sock` (a blocking socket): completes when bytes arrive.
fn recv(sock: &UnixStream) -> Request<'static> {
    Request::new(0).fd(sock.as_raw_fd()).recv(sys::FD_CHAIN, Vec::with_capacity(64))
}

/// Writes `data` to `sock` after `delay`, from a thread.
fn send_later(mut sock: UnixStream, delay: Duration, data: &'static [u8]) -> std::thread::JoinHandle<UnixStream> {
    std::thread::spawn(move || {
        std::thread::sleep(delay);
        sock.write_all(data).expect("write to the socket pair");
        sock
    })
}

/// Runs `f` for at most 10 s.
async fn bounded<T>(f: impl Future<Output = Result<T, String>>) -> Result<T, String> {
    tokio::time::timeout(Duration::from_secs(10), f).await.unwrap_or_else(|_| Err("hung for 10 s".into()))
}

/// Task B: polls a request that never completes once, then keeps its
/// `Op` for `hold` without polling it.
fn hold_polled_once(ctx: &Context, sock: &UnixStream, hold: Duration) -> tokio::task::JoinHandle<()> {
    let op = ctx.submit(recv(sock));
    tokio::spawn(async move {
        let mut op = op;
        tokio::select! {
            r = &mut op => panic!("the long request completed: {r:?}"),
            _ = tokio::time::sleep(Duration::from_millis(10)) => {}
        }
        tokio::time::sleep(hold).await;
        drop(op);
    })
}

async fn lost_wakeup() -> Result<(), String> {
    let ctx = Context::new(64).map_err(|e| e.to_string())?;
    let (a0, a1) = UnixStream::pair().map_err(|e| e.to_string())?;
    let (b0, _b1) = UnixStream::pair().map_err(|e| e.to_string())?;
    let t = Instant::now();
    // Task A submits and polls first.
    let a = {
        let op = ctx.submit(recv(&a0));
        tokio::spawn(async move { op.await.map(|mut c| (c.result().ok(), c.take_buf::<Vec<u8>>(), t.elapsed())) })
    };
    tokio::time::sleep(Duration::from_millis(5)).await;
    // Then task B polls its op once and holds it for 3 s.
    let b = hold_polled_once(&ctx, &b0, Duration::from_secs(3));
    let w = send_later(a1, Duration::from_millis(50), b"a");
    let (res, buf, took) = a.await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())?;
    let _ = w.join();
    b.abort();
    let _ = b.await;
    if res != Some(1) || buf.as_deref() != Some(&b"a"[..]) {
        return Err(format!("A's RECV: {res:?} {buf:?}"));
    }
    if took > DEADLINE {
        return Err(format!("A's request completed at 50 ms, its future resolved after {took:?}"));
    }
    Ok(())
}

async fn many_waiters() -> Result<(), String> {
    let ctx = Context::new(64).map_err(|e| e.to_string())?;
    let (b0, _b1) = UnixStream::pair().map_err(|e| e.to_string())?;
    let t = Instant::now();
    let mut tasks = Vec::new();
    let mut peers = Vec::new();
    for i in 0..8u64 {
        let (s0, s1) = UnixStream::pair().map_err(|e| e.to_string())?;
        let op = ctx.submit(recv(&s0));
        tasks.push(tokio::spawn(async move {
            let r = op.await.map(|c| c.result().ok());
            drop(s0);
            (r, t.elapsed())
        }));
        peers.push(send_later(s1, Duration::from_millis(30 + 20 * i), b"x"));
    }
    tokio::time::sleep(Duration::from_millis(5)).await;
    let b = hold_polled_once(&ctx, &b0, Duration::from_secs(3));
    for (i, task) in tasks.into_iter().enumerate() {
        let (r, took) = task.await.map_err(|e| e.to_string())?;
        match r {
            Ok(Some(1)) if took <= DEADLINE => {}
            r => return Err(format!("task {i}: {r:?} after {took:?}")),
        }
    }
    for p in peers {
        let _ = p.join();
    }
    b.abort();
    let _ = b.await;
    Ok(())
}

/// Retries `req()` on `EAGAIN` for up to [`DEADLINE`]; its result must be 1.
async fn short(ctx: &Context, mut req: impl FnMut() -> Request<'static>) -> Result<(), String> {
    let t = Instant::now();
    let mut eagain = 0;
    loop {
        match ctx.submit(req()).await {
            Ok(c) if c.result().ok() == Some(1) => return Ok(()),
            Ok(c) => return Err(format!("the short request: {:?}", c.result())),
            Err(e) if e.raw_os_error() == Some(libc::EAGAIN) && t.elapsed() < DEADLINE => {
                eagain += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => return Err(format!("{e} after {eagain} EAGAINs in {:?}", t.elapsed())),
        }
    }
}

/// The wedge check, and the context it leaves (for `in_flight_drains`).
async fn no_wedge() -> Result<Context, String> {
    let ctx = Context::new(4).map_err(|e| e.to_string())?;
    let dir = std::env::temp_dir().join(format!("kaio-tokio-check.{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir(&dir).map_err(|e| e.to_string())?;
    let fifo = CString::new(dir.join("fifo").into_os_string().into_encoded_bytes()).unwrap();
    // SAFETY: A valid C string.
    if unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) } != 0 {
        return Err(format!("mkfifo: {}", std::io::Error::last_os_error()));
    }
    let ops: Vec<_> = (0..4).map(|_| ctx.submit(Request::new(0).open(&fifo, libc::O_RDONLY | libc::O_CLOEXEC, 0).close())).collect();
    let _ = std::fs::remove_dir_all(&dir);
    if ops.iter().any(|o| o.id().is_none()) {
        return Err("could not submit the four long requests".into());
    }
    // Give the OPENs time to park in their workers.
    std::thread::sleep(Duration::from_millis(20));
    drop(ops);
    let (p0, mut p1) = UnixStream::pair().map_err(|e| e.to_string())?;
    p1.write_all(b"y").map_err(|e| e.to_string())?;
    short(&ctx, || recv(&p0)).await?;
    Ok(ctx)
}

async fn held_completions_free_the_ring() -> Result<(), String> {
    let ctx = Context::new(4).map_err(|e| e.to_string())?;
    let mut socks = Vec::new();
    let mut ops = Vec::new();
    for _ in 0..4 {
        let (s0, mut s1) = UnixStream::pair().map_err(|e| e.to_string())?;
        s1.write_all(b"h").map_err(|e| e.to_string())?;
        ops.push(ctx.submit(recv(&s0)));
        socks.push((s0, s1));
    }
    // They complete at once; their ops are not polled.
    std::thread::sleep(Duration::from_millis(20));
    let (p0, mut p1) = UnixStream::pair().map_err(|e| e.to_string())?;
    p1.write_all(b"y").map_err(|e| e.to_string())?;
    short(&ctx, || recv(&p0)).await?;
    for (i, op) in ops.into_iter().enumerate() {
        let r = op.await.map(|mut c| (c.result().ok(), c.take_buf::<Vec<u8>>()));
        match r {
            Ok((Some(1), Some(b))) if b == b"h" => {}
            r => return Err(format!("held op {i}: {r:?}")),
        }
    }
    Ok(())
}

/// The cancelled requests' completions are reaped: after a few short
/// requests, nothing is counted in flight.
async fn in_flight_drains(ctx: Context) -> Result<(), String> {
    let (p0, mut p1) = UnixStream::pair().map_err(|e| e.to_string())?;
    let t = Instant::now();
    loop {
        p1.write_all(b"z").map_err(|e| e.to_string())?;
        let c = ctx.submit(recv(&p0)).await.map_err(|e| e.to_string())?;
        if c.result().ok() != Some(1) {
            return Err(format!("a short request: {:?}", c.result()));
        }
        let n = ctx.in_flight();
        if n == 0 {
            return Ok(());
        }
        if t.elapsed() > DEADLINE {
            return Err(format!("in_flight() = {n} after {:?}", t.elapsed()));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if let Err(e) = kaio::check_features(kaio::feature::SOCKET) {
        println!("1..0 # SKIP {e}");
        return;
    }
    println!("1..5");
    let mut failed = 0;
    let mut report = |k: usize, name: &str, r: Result<(), String>| match r {
        Ok(()) => println!("ok {k} {name}"),
        Err(e) => {
            failed += 1;
            println!("not ok {k} {name} # {e}");
        }
    };
    report(1, "lost_wakeup", bounded(lost_wakeup()).await);
    report(2, "many_waiters", bounded(many_waiters()).await);
    match bounded(no_wedge()).await {
        Ok(ctx) => {
            report(3, "no_wedge", Ok(()));
            report(4, "in_flight_drains", bounded(in_flight_drains(ctx)).await);
        }
        Err(e) => {
            report(3, "no_wedge", Err(e));
            report(4, "in_flight_drains", Err("no context".into()));
        }
    }
    report(5, "held_completions_free_the_ring", bounded(held_completions_free_the_ring()).await);
    std::process::exit(i32::from(failed != 0));
}
