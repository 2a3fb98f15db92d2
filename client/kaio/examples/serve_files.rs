// SPDX-License-Identifier: GPL-2.0
//! A tiny TCP file server on kaio and tokio: `serve_files ROOT ADDR`.
//!
//! A client sends lines `GET <path>\n` (any number per connection); each is
//! answered with `OK <size>\n` and the file's bytes, or `ERR <errno>\n`. The
//! path resolves inside ROOT (`KAIO_OPEN_IN_ROOT`: no `..`, absolute path
//! or symbolic link leads out of it). Per request, all in the kernel:
//! `FD(conn)→RECV` reads the line when more bytes are needed,
//! `OPEN(IN_ROOT)→STATX→KEEP` opens the file and gives its size, and
//! `FD(file)→SEND(header)→SENDFILE(conn)→CLOSE` answers. No `unsafe`.

use kaio::{sys, tokio::Context, Request};
use std::{
    ffi::CString,
    fs::File,
    io,
    net::TcpStream,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

/// The longest request line.
const LINE_MAX: usize = 4096;

/// Reads up to and with the next `\n` (`None` at end of stream); what
/// follows stays in `buf`.
async fn read_line(ctx: &Context, sock: &TcpStream, buf: &mut Vec<u8>) -> io::Result<Option<Vec<u8>>> {
    loop {
        if let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line = buf[..nl].to_vec();
            buf.drain(..=nl);
            return Ok(Some(line));
        }
        if buf.len() >= LINE_MAX {
            return Err(io::Error::from_raw_os_error(libc::ENAMETOOLONG));
        }
        // A fresh buffer moves into the request and comes back with what
        // was received; `buf` keeps the partial line meanwhile, so a
        // failed request (refused or cancelled) loses nothing.
        let b = Vec::with_capacity(LINE_MAX - buf.len());
        let mut c = ctx.submit(Request::new(0).fd(sock.as_raw_fd()).recv(sys::FD_CHAIN, b)).await?;
        let got: Vec<u8> = c.take_buf().expect("the RECV buffer");
        buf.extend_from_slice(&got);
        if c.result()? == 0 {
            return Ok(None);
        }
    }
}

/// Sends `data` (short) to the socket.
async fn send(ctx: &Context, sock: &TcpStream, data: &[u8]) -> io::Result<()> {
    let c = ctx.submit(Request::new(0).fd(sock.as_raw_fd()).send(sys::FD_CHAIN, data)).await?;
    if c.done() {
        Ok(())
    } else {
        Err(c.error().unwrap_or_else(|| io::Error::from(io::ErrorKind::WriteZero)))
    }
}

/// Answers one `GET <path>`.
async fn answer(ctx: &Context, root: &File, sock: &TcpStream, line: &[u8]) -> io::Result<()> {
    let Some(name) = line.strip_prefix(b"GET ") else {
        return send(ctx, sock, b"ERR 22\n").await;
    };
    let Ok(path) = CString::new(name) else {
        return send(ctx, sock, b"ERR 22\n").await;
    };
    let flags = libc::O_RDONLY | libc::O_NONBLOCK | libc::O_NOCTTY | libc::O_CLOEXEC;
    let req = Request::new(1)
        .open_in_root(root.as_raw_fd(), &path, flags, 0)
        .statx(kaio::statx_buf(), libc::STATX_TYPE | libc::STATX_SIZE)
        .keep(true);
    let mut c = ctx.submit(req).await?;
    // SAFETY: KEEP installed this descriptor for us; nothing else owns it.
    let file = c.kept_fd().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) });
    let (Some(file), true) = (file, c.done()) else {
        let errno = c.error().and_then(|e| e.raw_os_error()).unwrap_or(libc::EIO);
        return send(ctx, sock, format!("ERR {errno}\n").as_bytes()).await;
    };
    let stx: Box<sys::Statx> = c.take_buf().expect("the STATX buffer");
    match u32::from(stx.stx_mode) & libc::S_IFMT {
        libc::S_IFREG => {}
        libc::S_IFDIR => return send(ctx, sock, format!("ERR {}\n", libc::EISDIR).as_bytes()).await,
        _ => return send(ctx, sock, format!("ERR {}\n", libc::EACCES).as_bytes()).await,
    }
    let header = format!("OK {}\n", stx.stx_size);
    let s = sock.as_raw_fd();
    let req = Request::new(2).fd(file.as_raw_fd()).send(s, header.as_bytes()).sendfile(s, 0, stx.stx_size).close();
    let c = ctx.submit(req).await?;
    if c.done() {
        Ok(())
    } else {
        Err(c.error().unwrap_or_else(|| io::Error::from(io::ErrorKind::UnexpectedEof)))
    }
}

async fn serve(ctx: Context, root: std::sync::Arc<File>, sock: TcpStream) -> io::Result<()> {
    let mut buf = Vec::with_capacity(LINE_MAX);
    while let Some(line) = read_line(&ctx, &sock, &mut buf).await? {
        answer(&ctx, &root, &sock, &line).await?;
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, root, addr] = &args[..] else {
        eprintln!("usage: serve_files ROOT ADDR");
        std::process::exit(2);
    };
    kaio::check_features(kaio::feature::SOCKET | kaio::feature::STATX | kaio::feature::IN_ROOT)?;
    let root = std::sync::Arc::new(File::open(root)?);
    let ctx = Context::new(1024)?;
    let listener = tokio::net::TcpListener::bind(addr.as_str()).await?;
    eprintln!("serve_files: listening on {}", listener.local_addr()?);
    loop {
        let (conn, _) = listener.accept().await?;
        // kaio parks on the socket itself: give it a plain blocking one.
        let conn = conn.into_std()?;
        conn.set_nonblocking(false)?;
        let _ = conn.set_nodelay(true);
        let (ctx, root) = (ctx.clone(), root.clone());
        tokio::spawn(async move {
            if let Err(e) = serve(ctx, root, conn).await {
                eprintln!("serve_files: connection: {e}");
            }
        });
    }
}
