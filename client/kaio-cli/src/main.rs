// SPDX-License-Identifier: GPL-2.0
//! `kaio`: try out /dev/kaio from the command line.
//!
//! ```text
//! kaio send FILE... --to HOST:PORT   open -> sendfile -> close in the kernel, per file
//! kaio recv --listen ADDR            the receiving end, with a checksum
//! kaio cat FILE...                   read files through kaio to stdout
//! kaio serve DIR --listen ADDR        an HTTP/1.1 static file server on kaio
//! kaio stats | kaio info
//! ```

mod http;
mod serve;

use clap::{Parser, Subcommand};
use kaio::{Context, Request};
use std::{
    collections::VecDeque,
    ffi::CString,
    fs,
    io::{self, IsTerminal, Read, Write},
    net::{TcpListener, TcpStream},
    os::{fd::AsRawFd, unix::ffi::OsStrExt},
    path::PathBuf,
    process::ExitCode,
    time::{Duration, Instant},
};

#[derive(Parser)]
#[command(name = "kaio", version, about = "Compound asynchronous I/O through /dev/kaio")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Send files to a TCP receiver: one compound OPEN -> SENDFILE -> CLOSE per file.
    Send {
        /// Files to send.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Receiver address.
        #[arg(long)]
        to: String,
        /// TCP connections; files are spread over them, one in flight per connection.
        #[arg(long, default_value_t = 8)]
        connections: usize,
        /// Read cold data with direct I/O, leaving the page cache untouched.
        #[arg(long)]
        nocache: bool,
        /// Window in pages (0: the module's default).
        #[arg(long, default_value_t = 0)]
        window: u32,
        /// Print progress (default: when stderr is a terminal).
        #[arg(long)]
        progress: bool,
        /// Also print the checksum of what was sent (reads the files again).
        #[arg(long)]
        checksum: bool,
    },
    /// Receive connections and print bytes and a checksum (the other end of `send`).
    Recv {
        /// Address to listen on.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: String,
        /// Number of connections to take.
        #[arg(long, default_value_t = 8)]
        connections: usize,
    },
    /// Read files through kaio (FD -> READ, 4 MiB in flight) to stdout.
    Cat {
        /// Files to print.
        #[arg(required = true)]
        files: Vec<PathBuf>,
    },
    /// Serve the files of DIR over HTTP/1.1 (GET, HEAD, ranges, keep-alive):
    /// lookups, stats and transfers all run in kaio, never blocking a worker.
    Serve {
        /// The directory to serve (its own root: `..` and symbolic links stay inside).
        dir: PathBuf,
        /// Address to listen on (HOST:PORT, or a port for all IPv4 addresses).
        #[arg(long, default_value = "127.0.0.1:8080")]
        listen: String,
        /// Worker threads, each with its own listening socket and kaio context
        /// (default: one per CPU).
        #[arg(long)]
        workers: Option<usize>,
        /// Seconds an idle keep-alive connection is kept.
        #[arg(long, default_value_t = 30)]
        idle: u64,
        /// Connections per worker; more wait in the listen backlog.
        #[arg(long, default_value_t = 1024)]
        max_conn: usize,
        /// Log every answer to stderr.
        #[arg(long)]
        log: bool,
    },
    /// Show the module's counters.
    Stats,
    /// Show the module's ABI version.
    Info,
}

const STATS: &str = "/sys/kernel/debug/kaio/stats";

/// Module counters by name (empty if debugfs is not readable).
fn stats() -> Vec<(String, u64)> {
    fs::read_to_string(STATS)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_string(), v.trim().parse().ok()?))
        })
        .collect()
}

fn stat(s: &[(String, u64)], name: &str) -> u64 {
    s.iter().find(|(k, _)| k == name).map_or(0, |(_, v)| *v)
}

/// FNV-1a, 64 bits, over a byte stream.
#[derive(Clone, Copy)]
struct Fnv(u64);

impl Fnv {
    fn new() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
    fn update(&mut self, data: &[u8]) {
        for b in data {
            self.0 = (self.0 ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3);
        }
    }
}

fn cstring(p: &std::path::Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in path"))
}

fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

fn send(
    files: &[PathBuf],
    to: &str,
    conns: usize,
    nocache: bool,
    window: u32,
    progress: bool,
    checksum: bool,
) -> io::Result<()> {
    let conns = conns.max(1).min(files.len().max(1));
    let socks: Vec<TcpStream> = (0..conns).map(|_| TcpStream::connect(to)).collect::<io::Result<_>>()?;
    let paths: Vec<CString> = files.iter().map(|p| cstring(p)).collect::<io::Result<_>>()?;
    let mut queues: Vec<VecDeque<usize>> = vec![VecDeque::new(); conns];
    for i in 0..files.len() {
        queues[i % conns].push_back(i);
    }
    let mut ctx = Context::new((conns as u32).next_power_of_two().max(8))?;
    let before = stats();
    let start = Instant::now();
    let (mut sent, mut done, mut failed) = (0u64, 0usize, 0usize);
    let mut inflight = 0;
    for (c, q) in queues.iter_mut().enumerate() {
        if let Some(i) = q.pop_front() {
            submit_one(&mut ctx, &socks[c], &paths[i], c, i, nocache, window)?;
            inflight += 1;
        }
    }
    let show = progress || io::stderr().is_terminal();
    let mut last = Instant::now();
    while inflight > 0 {
        let evs = ctx.wait(1, 64, Some(Duration::from_millis(500)))?;
        let mut evs: Vec<_> = evs;
        evs.extend(ctx.reap());
        for ev in evs {
            inflight -= 1;
            let (c, i) = ((ev.user_data() >> 32) as usize, (ev.user_data() & 0xffff_ffff) as usize);
            if ev.done() {
                sent += ev.bytes();
                done += 1;
            } else {
                failed += 1;
                let why = ev.error().map_or_else(|| "short transfer".to_string(), |e| e.to_string());
                eprintln!("kaio send: {}: {why}", files[i].display());
            }
            if let Some(j) = queues[c].pop_front() {
                submit_one(&mut ctx, &socks[c], &paths[j], c, j, nocache, window)?;
                inflight += 1;
            }
        }
        if show && last.elapsed() >= Duration::from_millis(500) {
            last = Instant::now();
            let t = start.elapsed().as_secs_f64();
            let line = format!("{done}/{} files, {:.1} MiB, {:.1} MiB/s", files.len(), mib(sent), mib(sent) / t);
            if io::stderr().is_terminal() {
                eprint!("\r{line}   ");
            } else {
                eprintln!("{line}");
            }
        }
    }
    let secs = start.elapsed().as_secs_f64();
    drop(socks);
    let after = stats();
    if show && io::stderr().is_terminal() {
        eprintln!();
    }
    println!("files        {done} sent, {failed} failed");
    println!("bytes        {sent} ({:.1} MiB)", mib(sent));
    println!("time         {secs:.3} s");
    println!("throughput   {:.1} MiB/s, {:.0} files/s", mib(sent) / secs, done as f64 / secs);
    if !after.is_empty() {
        let d = |n: &str| stat(&after, n).saturating_sub(stat(&before, n));
        println!(
            "kernel       {} parks on a disk read, {} windows from disk, {} sends from the page cache, \
             {} parks on a full socket, {} worker waits for disk",
            d("parked_reads"),
            d("sendfile_chunks_disk"),
            d("sendfile_chunks_cached"),
            d("sendfile_out_parks"),
            d("worker_disk_waits")
        );
    }
    if checksum {
        let mut x = 0u64;
        for q in 0..conns {
            let mut h = Fnv::new();
            for i in (q..files.len()).step_by(conns) {
                h.update(&fs::read(&files[i])?);
            }
            x ^= h.0;
        }
        println!("checksum     {x:016x} (sent)");
    }
    if failed > 0 {
        return Err(io::Error::other(format!("{failed} files failed")));
    }
    Ok(())
}

fn submit_one(
    ctx: &mut Context,
    sock: &TcpStream,
    path: &CString,
    c: usize,
    i: usize,
    nocache: bool,
    window: u32,
) -> io::Result<()> {
    let fd = sock.as_raw_fd();
    let r = Request::new(((c as u64) << 32) | i as u64).open(path, libc::O_RDONLY, 0);
    let r = if nocache { r.sendfile_nocache(fd, 0, 0, window) } else { r.sendfile(fd, 0, 0) };
    ctx.submit(r.close())?;
    Ok(())
}

fn recv(listen: &str, conns: usize) -> io::Result<()> {
    let l = TcpListener::bind(listen)?;
    let mut threads = Vec::new();
    for _ in 0..conns {
        let (mut s, _) = l.accept()?;
        threads.push(std::thread::spawn(move || -> io::Result<(u64, u64)> {
            let mut h = Fnv::new();
            let mut n = 0u64;
            let mut buf = vec![0u8; 1 << 16];
            loop {
                let k = s.read(&mut buf)?;
                if k == 0 {
                    return Ok((n, h.0));
                }
                h.update(&buf[..k]);
                n += k as u64;
            }
        }));
    }
    let (mut bytes, mut x) = (0u64, 0u64);
    for t in threads {
        let (n, h) = t.join().map_err(|_| io::Error::other("receiver thread panicked"))??;
        bytes += n;
        x ^= h;
    }
    println!("received     {bytes} bytes on {conns} connections");
    println!("checksum     {x:016x} (received)");
    Ok(())
}

fn cat(files: &[PathBuf]) -> io::Result<()> {
    const CHUNK: usize = 1 << 20;
    const DEPTH: usize = 4;
    let mut ctx = Context::new(8)?;
    let mut out = io::stdout().lock();
    // Buffers not in flight; the others are the kernel's until their
    // completion hands them back.
    let mut spare: Vec<Vec<u8>> = (0..DEPTH).map(|_| Vec::with_capacity(CHUNK)).collect();
    for p in files {
        let f = fs::File::open(p)?;
        let size = f.metadata()?.len();
        let chunks = size.div_ceil(CHUNK as u64) as usize;
        let mut next = 0usize;
        let mut pending = VecDeque::new();
        let mut done: Vec<Option<Vec<u8>>> = (0..DEPTH).map(|_| None).collect();
        let mut written = 0usize;
        while written < chunks {
            while next < chunks && pending.len() < DEPTH {
                let mut buf = spare.pop().expect("a spare buffer");
                buf.clear();
                ctx.submit(Request::new(next as u64).fd(f.as_raw_fd()).read(buf, (next * CHUNK) as i64))?;
                pending.push_back(next);
                next += 1;
            }
            let mut evs = ctx.wait(1, DEPTH as u32, None)?;
            evs.extend(ctx.reap());
            for mut c in evs {
                c.result()?;
                let buf: Vec<u8> = c.take_buf().expect("the READ buffer");
                done[c.user_data() as usize % DEPTH] = Some(buf);
            }
            while let Some(&c) = pending.front() {
                let Some(buf) = done[c % DEPTH].take() else { break };
                out.write_all(&buf)?;
                spare.push(buf);
                pending.pop_front();
                written += 1;
            }
        }
    }
    out.flush()
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let r = match cli.cmd {
        Cmd::Send { files, to, connections, nocache, window, progress, checksum } => {
            send(&files, &to, connections, nocache, window, progress, checksum)
        }
        Cmd::Recv { listen, connections } => recv(&listen, connections),
        Cmd::Cat { files } => cat(&files),
        Cmd::Serve { dir, listen, workers, idle, max_conn, log } => serve::serve(serve::Options {
            dir,
            listen,
            workers: workers.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())),
            idle: Duration::from_secs(idle),
            max_conn,
            log,
        }),
        Cmd::Stats => match fs::read_to_string(STATS) {
            Ok(s) => {
                print!("{s}");
                Ok(())
            }
            Err(e) => Err(io::Error::new(e.kind(), format!("{STATS}: {e} (is debugfs mounted and kaio loaded?)"))),
        },
        Cmd::Info => kaio::check_module().map(|v| {
            println!("{}: ABI version {}, features {:#x}", kaio::DEVICE, v.abi_version, v.features);
        }),
    };
    match r {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("kaio: {e}");
            ExitCode::FAILURE
        }
    }
}
