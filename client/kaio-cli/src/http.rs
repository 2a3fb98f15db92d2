// SPDX-License-Identifier: GPL-2.0
//! The HTTP/1.1 side of `kaio serve`: parsing a request header from a
//! bounded buffer, mapping its target to a path inside the served
//! directory, byte ranges, dates, and the response header. No I/O here.

use std::ffi::CString;

/// Status codes the server sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Ok = 200,
    Partial = 206,
    BadRequest = 400,
    Forbidden = 403,
    NotFound = 404,
    MethodNotAllowed = 405,
    UriTooLong = 414,
    RangeNotSatisfiable = 416,
    HeaderTooLarge = 431,
    Internal = 500,
    VersionNotSupported = 505,
}

impl Status {
    pub fn code(self) -> u16 {
        self as u16
    }

    pub fn reason(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Partial => "Partial Content",
            Status::BadRequest => "Bad Request",
            Status::Forbidden => "Forbidden",
            Status::NotFound => "Not Found",
            Status::MethodNotAllowed => "Method Not Allowed",
            Status::UriTooLong => "URI Too Long",
            Status::RangeNotSatisfiable => "Range Not Satisfiable",
            Status::HeaderTooLarge => "Request Header Fields Too Large",
            Status::Internal => "Internal Server Error",
            Status::VersionNotSupported => "HTTP Version Not Supported",
        }
    }

    /// After this error the connection cannot go on: what follows the
    /// request in the stream cannot be trusted to start a request.
    pub fn closes(self) -> bool {
        matches!(self, Status::BadRequest | Status::UriTooLong | Status::HeaderTooLarge | Status::VersionNotSupported)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    Get,
    Head,
}

/// A `Range: bytes=` specification (one range).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeSpec {
    /// `a-b` (`b` inclusive) or `a-` (`None`).
    From(u64, Option<u64>),
    /// `-n`: the last `n` bytes.
    Suffix(u64),
}

/// What a range means for a file of a given size.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RangeResult {
    /// Bytes `[start, start + len)`.
    Part {
        start: u64,
        len: u64,
    },
    Unsatisfiable,
}

impl RangeSpec {
    pub fn resolve(self, size: u64) -> RangeResult {
        match self {
            RangeSpec::From(a, _) if a >= size => RangeResult::Unsatisfiable,
            RangeSpec::From(a, b) => {
                let last = b.map_or(size - 1, |b| b.min(size - 1));
                RangeResult::Part { start: a, len: last - a + 1 }
            }
            RangeSpec::Suffix(0) => RangeResult::Unsatisfiable,
            RangeSpec::Suffix(_) if size == 0 => RangeResult::Unsatisfiable,
            RangeSpec::Suffix(n) => {
                let len = n.min(size);
                RangeResult::Part { start: size - len, len }
            }
        }
    }
}

/// A parsed request header.
#[derive(Debug, PartialEq, Eq)]
pub struct Request {
    pub method: Method,
    /// The path to open, relative to the served directory (`.` for it).
    pub path: CString,
    /// The connection may carry another request after this one.
    pub keep_alive: bool,
    /// HTTP/1.0 (the response says `Connection: keep-alive` to keep it).
    pub http10: bool,
    pub range: Option<RangeSpec>,
}

/// The outcome of parsing what a buffer holds.
#[derive(Debug, PartialEq, Eq)]
pub enum Parse {
    /// No complete header yet.
    Incomplete,
    /// A complete header of `len` bytes (leading empty lines included).
    Request { req: Request, len: usize },
    /// A complete header that must be answered with an error; `len` as
    /// above, `head` for a HEAD request (no body in the answer), `keep`
    /// if the connection may go on after the answer.
    Error { status: Status, len: usize, head: bool, keep: bool, http10: bool },
}

/// Where the header that starts at `buf[0]` ends (index after its empty
/// line), accepting bare LF line ends.
fn header_end(buf: &[u8]) -> Option<usize> {
    let mut i = 0;
    while let Some(nl) = buf[i..].iter().position(|&b| b == b'\n') {
        let line_start = i;
        let end = i + nl; // index of '\n'
        let line = &buf[line_start..end];
        if line.is_empty() || line == b"\r" {
            return Some(end + 1);
        }
        i = end + 1;
    }
    None
}

fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

fn trim(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| b != b' ' && b != b'\t').unwrap_or(s.len());
    let end = s.iter().rposition(|&b| b != b' ' && b != b'\t').map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

/// Percent-decodes `s`; `None` for a bad escape.
pub fn percent_decode(s: &[u8]) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            let (h, l) = (hex(*s.get(i + 1)?)?, hex(*s.get(i + 2)?)?);
            out.push(h << 4 | l);
            i += 3;
        } else {
            out.push(s[i]);
            i += 1;
        }
    }
    Some(out)
}

/// Maps a request target (origin form, or absolute form) to a path
/// relative to the served directory: percent-decoded, query dropped, no
/// NUL, no `..` component, `.` and empty components dropped, a trailing
/// slash kept (so that a file named with one is `ENOTDIR`).
pub fn target_path(target: &[u8]) -> Result<CString, Status> {
    let mut t = target;
    for scheme in [&b"http://"[..], b"https://"] {
        if t.len() >= scheme.len() && t[..scheme.len()].eq_ignore_ascii_case(scheme) {
            let rest = &t[scheme.len()..];
            t = rest.iter().position(|&b| b == b'/').map_or(&b"/"[..], |p| &rest[p..]);
            break;
        }
    }
    let t = &t[..t.iter().position(|&b| b == b'?' || b == b'#').unwrap_or(t.len())];
    if t.first() != Some(&b'/') {
        return Err(Status::BadRequest);
    }
    let raw = percent_decode(t).ok_or(Status::BadRequest)?;
    if raw.contains(&0) {
        return Err(Status::BadRequest);
    }
    let mut out = Vec::with_capacity(raw.len());
    for comp in raw.split(|&b| b == b'/') {
        match comp {
            b"" | b"." => {}
            b".." => return Err(Status::BadRequest),
            c => {
                if !out.is_empty() {
                    out.push(b'/');
                }
                out.extend_from_slice(c);
            }
        }
    }
    if out.is_empty() {
        out.push(b'.');
    } else if raw.ends_with(b"/") || raw.ends_with(b"/.") {
        out.push(b'/');
    }
    Ok(CString::new(out).expect("no NUL"))
}

/// Parses `bytes=...` with exactly one range; `None` to ignore the field
/// (another unit, several ranges, or a syntax error, as RFC 7233 says).
pub fn parse_range(v: &[u8]) -> Option<RangeSpec> {
    let v = trim(v);
    if v.len() < 6 || !v[..6].eq_ignore_ascii_case(b"bytes=") {
        return None;
    }
    let spec = trim(&v[6..]);
    if spec.contains(&b',') {
        return None;
    }
    let dash = spec.iter().position(|&b| b == b'-')?;
    let num = |s: &[u8]| -> Option<u64> {
        let s = trim(s);
        if s.is_empty() || s.len() > 19 || !s.iter().all(u8::is_ascii_digit) {
            return None;
        }
        std::str::from_utf8(s).ok()?.parse().ok()
    };
    let (a, b) = (trim(&spec[..dash]), trim(&spec[dash + 1..]));
    if a.is_empty() {
        return Some(RangeSpec::Suffix(num(b)?));
    }
    let a = num(a)?;
    if b.is_empty() {
        return Some(RangeSpec::From(a, None));
    }
    let b = num(b)?;
    (b >= a).then_some(RangeSpec::From(a, Some(b)))
}

/// Parses the request header at the start of `buf` (which holds at most
/// the server's buffer). `full`: the buffer is full, so an incomplete
/// header will never complete.
pub fn parse(buf: &[u8], full: bool) -> Parse {
    // Empty lines before the request line are ignored (RFC 7230 3.5).
    let skip = buf.iter().position(|&b| b != b'\r' && b != b'\n').unwrap_or(buf.len());
    let Some(end) = header_end(&buf[skip..]) else {
        if !full {
            return Parse::Incomplete;
        }
        // The request line alone does not fit: the target is too long.
        let status = if buf[skip..].contains(&b'\n') { Status::HeaderTooLarge } else { Status::UriTooLong };
        return Parse::Error { status, len: buf.len(), head: false, keep: false, http10: false };
    };
    let len = skip + end;
    let head = &buf[skip..len];
    let mut lines = head.split(|&b| b == b'\n').map(|l| l.strip_suffix(b"\r").unwrap_or(l));
    let reqline = lines.next().unwrap_or_default();
    let bad = |status| Parse::Error { status, len, head: false, keep: false, http10: false };

    let mut parts = reqline.split(|&b| b == b' ');
    let (Some(method), Some(target), Some(version), None) = (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return bad(Status::BadRequest);
    };
    if method.is_empty() || !method.iter().all(|&b| is_tchar(b)) || target.is_empty() {
        return bad(Status::BadRequest);
    }
    let http10 = match version {
        b"HTTP/1.0" => true,
        b"HTTP/1.1" => false,
        v if v.len() == 8
            && v.starts_with(b"HTTP/")
            && v[5].is_ascii_digit()
            && v[6] == b'.'
            && v[7].is_ascii_digit() =>
        {
            if v[5] == b'1' {
                false
            } else {
                return bad(Status::VersionNotSupported);
            }
        }
        _ => return bad(Status::BadRequest),
    };

    let (mut close, mut keep_alive_token, mut host) = (false, false, false);
    let mut range = None;
    let mut if_range = false;
    let mut body = false;
    let mut content_length: Option<&[u8]> = None;
    for line in lines {
        if line.is_empty() {
            break;
        }
        if line[0] == b' ' || line[0] == b'\t' {
            return bad(Status::BadRequest); // obsolete line folding
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return bad(Status::BadRequest);
        };
        let (name, value) = (&line[..colon], trim(&line[colon + 1..]));
        if name.is_empty() || !name.iter().all(|&b| is_tchar(b)) || value.contains(&0) {
            return bad(Status::BadRequest);
        }
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("connection") {
            for tok in value.split(|&b| b == b',').map(trim) {
                close |= tok.eq_ignore_ascii_case(b"close");
                keep_alive_token |= tok.eq_ignore_ascii_case(b"keep-alive");
            }
        } else if is("host") {
            if host {
                return bad(Status::BadRequest);
            }
            host = true;
        } else if is("range") {
            range = parse_range(value);
        } else if is("if-range") {
            if_range = true;
        } else if is("content-length") {
            if content_length.is_some_and(|c| c != value) || value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                return bad(Status::BadRequest);
            }
            content_length = Some(value);
            body |= value.iter().any(|&b| b != b'0');
        } else if is("transfer-encoding") {
            body = true;
        }
    }
    if !http10 && !host {
        return bad(Status::BadRequest); // RFC 7230 5.4
    }
    // A body is not read: the connection ends after the answer.
    let keep = !close && !body && (!http10 || keep_alive_token);
    let method = match method {
        b"GET" => Method::Get,
        b"HEAD" => Method::Head,
        _ => return Parse::Error { status: Status::MethodNotAllowed, len, head: false, keep, http10 },
    };
    let is_head = method == Method::Head;
    let path = match target_path(target) {
        Ok(p) => p,
        Err(status) => return Parse::Error { status, len, head: is_head, keep: false, http10 },
    };
    // Range applies to GET only; without If-Range support, a conditional
    // range is ignored (the whole representation is the safe answer).
    let range = if method == Method::Get && !if_range { range } else { None };
    Parse::Request { req: Request { method, path, keep_alive: keep, http10, range }, len }
}

/// The media type for a path, by its extension.
pub fn content_type(path: &[u8]) -> &'static str {
    let name = path.rsplit(|&b| b == b'/').next().unwrap_or_default();
    let ext = match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => name[i + 1..].to_ascii_lowercase(),
        _ => return "application/octet-stream",
    };
    match &ext[..] {
        b"html" | b"htm" => "text/html; charset=utf-8",
        b"txt" => "text/plain; charset=utf-8",
        b"css" => "text/css",
        b"js" | b"mjs" => "text/javascript",
        b"json" => "application/json",
        b"png" => "image/png",
        b"jpg" | b"jpeg" => "image/jpeg",
        b"gif" => "image/gif",
        b"svg" => "image/svg+xml",
        b"wasm" => "application/wasm",
        _ => "application/octet-stream",
    }
}

/// Days since 1970-01-01 to (year, month 1..=12, day 1..=31), proleptic
/// Gregorian calendar.
fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// `secs` since the epoch as an IMF-fixdate (RFC 7231 7.1.1.1), e.g.
/// `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: i64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    format!(
        "{}, {:02} {} {:04} {:02}:{:02}:{:02} GMT",
        DAYS[days.rem_euclid(7) as usize],
        d,
        MONTHS[m as usize - 1],
        y,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

/// The start of a response header: status line, Server, Date, and the
/// Connection field when it differs from the version's default.
fn start(status: Status, date: &str, keep: bool, http10: bool) -> String {
    let mut h = format!("HTTP/1.1 {} {}\r\nServer: kaio\r\nDate: {date}\r\n", status.code(), status.reason());
    if !keep {
        h += "Connection: close\r\n";
    } else if http10 {
        h += "Connection: keep-alive\r\n";
    }
    h
}

/// What a file response describes.
pub struct FileMeta<'a> {
    pub path: &'a [u8],
    pub size: u64,
    /// Modification time (seconds since the epoch), if known.
    pub mtime: Option<i64>,
}

/// The header of a 200, 206 or 416 answer about a file; returns it with
/// the byte range of the file to send after it (length 0: none).
pub fn file_header(req: &Request, meta: &FileMeta, date: &str) -> (String, Status, u64, u64) {
    let (status, start_off, len) = match req.range.map(|r| r.resolve(meta.size)) {
        None => (Status::Ok, 0, meta.size),
        Some(RangeResult::Part { start, len }) => (Status::Partial, start, len),
        Some(RangeResult::Unsatisfiable) => (Status::RangeNotSatisfiable, 0, 0),
    };
    let mut h = start(status, date, req.keep_alive, req.http10);
    match status {
        Status::RangeNotSatisfiable => {
            h += &format!("Content-Range: bytes */{}\r\nContent-Length: 0\r\n\r\n", meta.size);
            return (h, status, 0, 0);
        }
        Status::Partial => {
            h += &format!("Content-Range: bytes {}-{}/{}\r\n", start_off, start_off + len - 1, meta.size);
        }
        _ => {}
    }
    h += &format!("Content-Type: {}\r\nContent-Length: {len}\r\n", content_type(meta.path));
    if let Some(t) = meta.mtime {
        h += &format!("Last-Modified: {}\r\n", http_date(t));
    }
    h += "Accept-Ranges: bytes\r\n\r\n";
    let send = if req.method == Method::Head { 0 } else { len };
    (h, status, start_off, send)
}

/// A complete error answer (header and a short text body, none for HEAD).
pub fn error_response(status: Status, date: &str, keep: bool, http10: bool, head: bool) -> String {
    let body = format!("{} {}\n", status.code(), status.reason());
    let mut h = start(status, date, keep, http10);
    if status == Status::MethodNotAllowed {
        h += "Allow: GET, HEAD\r\n";
    }
    h += &format!("Content-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n", body.len());
    if !head {
        h += &body;
    }
    h
}

/// The answer for an OPEN that failed with `errno`.
pub fn open_error_status(errno: i32) -> Status {
    match errno {
        libc::ENOENT | libc::ENOTDIR => Status::NotFound,
        libc::EACCES | libc::EPERM | libc::ELOOP | libc::EISDIR | libc::ENXIO | libc::EXDEV => Status::Forbidden,
        libc::ENAMETOOLONG => Status::UriTooLong,
        _ => Status::Internal,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(buf: &[u8]) -> (Request, usize) {
        match parse(buf, false) {
            Parse::Request { req, len } => (req, len),
            p => panic!("{p:?}"),
        }
    }

    fn err(buf: &[u8]) -> Status {
        match parse(buf, false) {
            Parse::Error { status, .. } => status,
            p => panic!("{p:?}"),
        }
    }

    #[test]
    fn simple_get_and_keep_alive_rules() {
        let (r, n) = req(b"GET /a/b.html HTTP/1.1\r\nHost: x\r\n\r\nGET /next");
        assert_eq!(n, 35);
        assert_eq!(r.method, Method::Get);
        assert_eq!(r.path.as_bytes(), b"a/b.html");
        assert!(r.keep_alive && !r.http10);
        assert!(!req(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: Close\r\n\r\n").0.keep_alive);
        assert!(!req(b"GET / HTTP/1.0\r\n\r\n").0.keep_alive);
        let (r, _) = req(b"HEAD / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n");
        assert!(r.keep_alive && r.http10);
        assert_eq!(r.method, Method::Head);
        assert_eq!(r.path.as_bytes(), b".");
        // Bare LF line ends, empty lines before the request line.
        let (r, n) = req(b"\r\n\nGET /x HTTP/1.1\nHost: y\n\n");
        assert_eq!((r.path.as_bytes(), n), (&b"x"[..], 28));
        // A body is not read: the connection ends.
        assert!(!req(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n").0.keep_alive);
        assert!(req(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n").0.keep_alive);
        assert!(!req(b"GET / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n").0.keep_alive);
    }

    #[test]
    fn incomplete_and_too_large() {
        assert_eq!(parse(b"GET / HTTP/1.1\r\nHost: x\r\n", false), Parse::Incomplete);
        assert_eq!(parse(b"", false), Parse::Incomplete);
        assert_eq!(parse(b"\r\n", false), Parse::Incomplete);
        let mut long = b"GET /".to_vec();
        long.resize(8192, b'a');
        assert!(matches!(parse(&long, true), Parse::Error { status: Status::UriTooLong, keep: false, .. }));
        let mut big = b"GET / HTTP/1.1\r\nHost: x\r\nX: ".to_vec();
        big.resize(8192, b'a');
        assert!(matches!(parse(&big, true), Parse::Error { status: Status::HeaderTooLarge, keep: false, .. }));
    }

    #[test]
    fn bad_requests() {
        assert_eq!(err(b"GARBAGE\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET /\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET  / HTTP/1.1\r\nHost: x\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET foo HTTP/1.1\r\nHost: x\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET / HTTP/1.1\r\n\r\n"), Status::BadRequest); // no Host
        assert_eq!(err(b"GET / HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET / HTTP/1.1\r\nHost: x\r\nNoColon\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n"), Status::VersionNotSupported);
        assert_eq!(err(b"GET / HTTP/1.1x\r\nHost: x\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET /a%00b HTTP/1.1\r\nHost: x\r\n\r\n"), Status::BadRequest);
        assert_eq!(err(b"GET /a% HTTP/1.1\r\nHost: x\r\n\r\n"), Status::BadRequest);
        match parse(b"POST /x HTTP/1.1\r\nHost: x\r\n\r\n", false) {
            Parse::Error { status: Status::MethodNotAllowed, keep: true, len: 29, .. } => {}
            p => panic!("{p:?}"),
        }
        assert_eq!(err(b"get / HTTP/1.1\r\nHost: x\r\n\r\n"), Status::MethodNotAllowed);
    }

    #[test]
    fn paths() {
        let ok = |t: &[u8]| target_path(t).map(|c| c.into_bytes());
        assert_eq!(ok(b"/").unwrap(), b".");
        assert_eq!(ok(b"/a//b/./c?x=../..").unwrap(), b"a/b/c");
        assert_eq!(ok(b"/dir/").unwrap(), b"dir/");
        assert_eq!(ok(b"/f%20g%2Fh").unwrap(), b"f g/h");
        assert_eq!(ok(b"http://host:80/x/y").unwrap(), b"x/y");
        assert_eq!(ok(b"HTTP://host").unwrap(), b".");
        for bad in [&b"/.."[..], b"/../x", b"/a/../b", b"/%2e%2e/x", b"/%2E%2e", b"/a%2F..%2Fb", b"/a/..", b"x", b"*"] {
            assert_eq!(ok(bad), Err(Status::BadRequest), "{}", String::from_utf8_lossy(bad));
        }
        assert_eq!(ok(b"/...").unwrap(), b"...");
        assert_eq!(ok(b"/..a").unwrap(), b"..a");
        assert_eq!(percent_decode(b"%41%4a%4A"), Some(b"AJJ".to_vec()));
    }

    #[test]
    fn ranges() {
        use RangeResult::*;
        let r = |s: &str| parse_range(s.as_bytes());
        assert_eq!(r("bytes=0-9"), Some(RangeSpec::From(0, Some(9))));
        assert_eq!(r("bytes=5-"), Some(RangeSpec::From(5, None)));
        assert_eq!(r("Bytes= -7 "), Some(RangeSpec::Suffix(7)));
        for ignored in ["bytes=9-5", "bytes=0-1,3-4", "items=0-1", "bytes=-", "bytes=a-b", "bytes=1", "bytes=--1"] {
            assert_eq!(r(ignored), None, "{ignored}");
        }
        assert_eq!(RangeSpec::From(0, Some(9)).resolve(100), Part { start: 0, len: 10 });
        assert_eq!(RangeSpec::From(90, Some(200)).resolve(100), Part { start: 90, len: 10 });
        assert_eq!(RangeSpec::From(99, None).resolve(100), Part { start: 99, len: 1 });
        assert_eq!(RangeSpec::From(100, None).resolve(100), Unsatisfiable);
        assert_eq!(RangeSpec::From(0, None).resolve(0), Unsatisfiable);
        assert_eq!(RangeSpec::Suffix(10).resolve(100), Part { start: 90, len: 10 });
        assert_eq!(RangeSpec::Suffix(1000).resolve(100), Part { start: 0, len: 100 });
        assert_eq!(RangeSpec::Suffix(0).resolve(100), Unsatisfiable);
        assert_eq!(RangeSpec::Suffix(5).resolve(0), Unsatisfiable);
        // Range is for GET only, and ignored with If-Range.
        assert_eq!(req(b"HEAD / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\n\r\n").0.range, None);
        assert_eq!(req(b"GET / HTTP/1.1\r\nHost: x\r\nRange: bytes=0-1\r\nIf-Range: x\r\n\r\n").0.range, None);
        assert_eq!(
            req(b"GET / HTTP/1.1\r\nHost: x\r\nrange: bytes=0-1\r\n\r\n").0.range,
            Some(RangeSpec::From(0, Some(1)))
        );
    }

    #[test]
    fn dates() {
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
        assert_eq!(http_date(1_709_210_096), "Thu, 29 Feb 2024 12:34:56 GMT");
        assert_eq!(http_date(4_102_444_799), "Thu, 31 Dec 2099 23:59:59 GMT");
        assert_eq!(http_date(-1), "Wed, 31 Dec 1969 23:59:59 GMT");
    }

    #[test]
    fn content_types() {
        assert_eq!(content_type(b"a/index.HTML"), "text/html; charset=utf-8");
        assert_eq!(content_type(b"x.json"), "application/json");
        assert_eq!(content_type(b"x.jpg"), "image/jpeg");
        assert_eq!(content_type(b".png"), "application/octet-stream");
        assert_eq!(content_type(b"dir.css/file"), "application/octet-stream");
        assert_eq!(content_type(b"noext"), "application/octet-stream");
    }

    #[test]
    fn headers() {
        let (r, _) = req(b"GET /f.txt HTTP/1.1\r\nHost: x\r\nRange: bytes=-4\r\n\r\n");
        let meta = FileMeta { path: b"f.txt", size: 10, mtime: Some(0) };
        let (h, s, off, len) = file_header(&r, &meta, "D");
        assert_eq!((s, off, len), (Status::Partial, 6, 4));
        assert_eq!(
            h,
            "HTTP/1.1 206 Partial Content\r\nServer: kaio\r\nDate: D\r\nContent-Range: bytes 6-9/10\r\n\
             Content-Type: text/plain; charset=utf-8\r\nContent-Length: 4\r\n\
             Last-Modified: Thu, 01 Jan 1970 00:00:00 GMT\r\nAccept-Ranges: bytes\r\n\r\n"
        );
        let (r, _) = req(b"GET /f.txt HTTP/1.0\r\nRange: bytes=10-\r\n\r\n");
        let (h, s, _, len) = file_header(&r, &meta, "D");
        assert_eq!((s, len), (Status::RangeNotSatisfiable, 0));
        assert!(h.contains("\r\nContent-Range: bytes */10\r\n") && h.contains("Connection: close\r\n"), "{h}");
        let (r, _) = req(b"HEAD /f.txt HTTP/1.1\r\nHost: x\r\n\r\n");
        let (h, s, _, len) = file_header(&r, &meta, "D");
        assert_eq!((s, len), (Status::Ok, 0));
        assert!(h.contains("Content-Length: 10\r\n"));
        let e = error_response(Status::MethodNotAllowed, "D", true, true, false);
        assert!(e.starts_with("HTTP/1.1 405 Method Not Allowed\r\n"));
        assert!(e.contains("Connection: keep-alive\r\nAllow: GET, HEAD\r\n"));
        assert!(e.ends_with("Content-Length: 23\r\n\r\n405 Method Not Allowed\n"), "{e}");
        assert!(error_response(Status::NotFound, "D", true, false, true).ends_with("Content-Length: 14\r\n\r\n"));
        assert_eq!(open_error_status(libc::ENOENT), Status::NotFound);
        assert_eq!(open_error_status(libc::ELOOP), Status::Forbidden);
    }
}
