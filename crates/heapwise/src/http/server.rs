//! The built-in server: [`serve`], [`ServeOptions`] and [`Server`].
//!
//! One accept loop on a thread named `heapwise-http`; each connection on a
//! short-lived thread of its own (`heapwise-http-c` to the OS; a plain
//! `pthread`, heapwise's own work throughout: `local/own_thread.rs`), at
//! most [`ServeOptions::max_connections`] at once (a new one takes the slot of
//! the one that has waited longest for its request, see `slots`);
//! connections beyond that are answered 503 by one more thread (`heapwise-http-busy`) that spends at
//! most a few hundred milliseconds on each, and closed outright if it falls
//! behind. Every connection serves one request (`Connection: close`), and
//! every step is bounded: the request head must arrive within
//! [`ServeOptions::head_timeout`] of the accept, the whole request within
//! [`ServeOptions::timeout`] (else 408), each write must make progress
//! within the timeout, and the whole response must be written within six
//! times it.

use std::cell::Cell;
use std::io::{self, Read, Write};
use std::net::{
    IpAddr, Ipv4Addr, Ipv6Addr, Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs,
};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use super::message::{reason, Response};
use super::parse::{parse_head, HeadScanner, Refusal, LIMITS};
use super::routes::respond;
use super::slots::{Slot, Slots};
use super::Request;
use crate::local::{spawn_own_thread, without_accounting, without_sampling};
use crate::untracked;

/// Runs `f` outside every scope and unsampled: for starting the server,
/// whose handles are the caller's memory.
fn quietly<R>(f: impl FnOnce() -> R) -> R {
    untracked(|| without_sampling(f))
}

/// Connections waiting for their 503 beyond this are closed at once.
const BUSY_QUEUE: usize = 64;
/// How long a refused or answered connection is drained before it is
/// closed, so the client reads the answer rather than a reset (Go waits
/// 500 ms too).
const LINGER: Duration = Duration::from_millis(500);
/// At most this much is drained.
const LINGER_BYTES: usize = 256 << 10;

/// Options for the built-in server: which interfaces, how many connections
/// at once, how long a client may take.
///
/// ```no_run
/// use std::time::Duration;
/// # fn main() -> std::io::Result<()> {
/// // Serves for the life of the process.
/// heapwise::http::ServeOptions::new()
///     .max_connections(4)
///     .timeout(Duration::from_secs(5))
///     .serve("127.0.0.1:6060")?;
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct ServeOptions {
    allow_remote: bool,
    max_connections: usize,
    head_timeout: Duration,
    timeout: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions::new()
    }
}

impl ServeOptions {
    /// Loopback addresses only, 16 connections at once, 2 s for a request
    /// head, a 10 s timeout.
    pub fn new() -> ServeOptions {
        ServeOptions {
            allow_remote: false,
            max_connections: 16,
            head_timeout: Duration::from_secs(2),
            timeout: Duration::from_secs(10),
        }
    }

    /// Allows binding to addresses other than loopback (`0.0.0.0`, a LAN
    /// address, ...). Off by default: the endpoint has no authentication,
    /// and a heap profile tells whoever reads it what the process does, its
    /// binary's paths and symbols, and its memory layout. Put it behind
    /// your own access control (or keep it on loopback and reach it through
    /// an SSH tunnel or `kubectl port-forward`) before turning this on.
    pub fn allow_remote(mut self, allow: bool) -> ServeOptions {
        self.allow_remote = allow;
        self
    }

    /// The most connections at once (default 16, at least 1). Each takes
    /// one short-lived thread. When every slot is taken, a new connection
    /// takes the slot of the one that has waited longest for the rest of
    /// its request, if that has waited 250 ms or more (it gets a 408);
    /// else (every one is being served, or has just come) the new one gets
    /// a 503.
    pub fn max_connections(mut self, n: usize) -> ServeOptions {
        self.max_connections = n.max(1);
        self
    }

    /// How long a client may take to send its request head, from the
    /// connection's accept (default 2 s, and never more than
    /// [`timeout`](ServeOptions::timeout); clamped to 1 ms ..= 1 h), else
    /// 408. A head is one packet for any real client; the short deadline
    /// is what keeps clients that dribble a request from holding slots.
    pub fn head_timeout(mut self, timeout: Duration) -> ServeOptions {
        self.head_timeout = clamp(timeout);
        self
    }

    /// How long a client may take (default 10 s; clamped to 1 ms ..= 1 h):
    /// to send its whole request, body included (else 408), to accept each
    /// part of the response; the whole response must be written within six
    /// times this.
    pub fn timeout(mut self, timeout: Duration) -> ServeOptions {
        self.timeout = clamp(timeout);
        self
    }

    /// Binds `addr` and starts serving on a background thread, for the
    /// life of the process (see [`Server`]).
    ///
    /// # Errors
    ///
    /// `addr` does not resolve, or it resolves to an address that is not
    /// loopback and [`ServeOptions::allow_remote`] is off (`InvalidInput`),
    /// or binding or starting the threads fails.
    pub fn serve(&self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        quietly(|| self.start(addr))
    }

    fn start(&self, addr: impl ToSocketAddrs) -> io::Result<Server> {
        let addrs: Vec<SocketAddr> = addr.to_socket_addrs()?.collect();
        if addrs.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "heapwise::http: the address resolved to nothing",
            ));
        }
        if !self.allow_remote {
            if let Some(a) = addrs.iter().find(|a| !is_loopback(a.ip())) {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!(
                        "heapwise::http: refusing to serve on {a}, which is not a loopback address: \
                         the endpoint exposes this process's heap profiles and symbols to anyone who \
                         can connect; bind 127.0.0.1 (or [::1]), or use \
                         ServeOptions::new().allow_remote(true) to serve on other interfaces"
                    ),
                ));
            }
        }
        let listener = TcpListener::bind(&addrs[..])?;
        let local_addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            slots: Arc::new(Slots::new(self.max_connections, super::slots::DRIBBLING)),
            options: self.clone(),
        });
        let (busy_tx, busy_rx) = sync_channel::<TcpStream>(BUSY_QUEUE);
        let timeout = self.timeout;
        // Named for the OS only, from inside heapwise's own work: a name
        // given to std is copied on the new thread before any code of ours
        // runs there (std's stack-overflow handler keeps it), an allocation
        // counted as the program's at a moment nobody chose.
        thread::Builder::new().spawn(move || {
            without_accounting(|| {
                name_os_thread(c"heapwise-http-b");
                busy_loop(busy_rx, timeout)
            })
        })?;
        let accept = {
            let shared = Arc::clone(&shared);
            thread::Builder::new().spawn(move || {
                without_accounting(|| {
                    name_os_thread(c"heapwise-http");
                    accept_loop(listener, &shared, busy_tx)
                })
            })?
        };
        Ok(Server {
            local_addr,
            shared,
            accept: Some(accept),
            stop_on_drop: false,
        })
    }
}

/// Serves the endpoint on `addr` (a loopback address, such as
/// `"127.0.0.1:6060"`; port 0 picks a free port) on a background thread,
/// with the default [`ServeOptions`].
///
/// The server runs for the life of the process, whether or not the
/// returned [`Server`] is kept (`let _ = serve(addr);` serves on);
/// [`Server::shutdown`] stops it, and [`Server::stop_on_drop`] makes
/// dropping the handle stop it.
///
/// # Errors
///
/// As [`ServeOptions::serve`]: in particular, an address that is not
/// loopback is refused (`InvalidInput`) unless
/// [`ServeOptions::allow_remote`] allows it.
pub fn serve(addr: impl ToSocketAddrs) -> io::Result<Server> {
    ServeOptions::new().serve(addr)
}

fn clamp(timeout: Duration) -> Duration {
    timeout.clamp(Duration::from_millis(1), Duration::from_secs(3600))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// What the accept loop and the [`Server`] handle share.
#[derive(Debug)]
struct Shared {
    stop: AtomicBool,
    slots: Arc<Slots>,
    options: ServeOptions,
}

/// A running endpoint (see [`serve`]): a handle on it, like a
/// [`JoinHandle`] on a thread.
///
/// The endpoint serves for the life of the process: dropping the handle
/// leaves it running, so `let _ = serve(addr);` works.
/// [`Server::shutdown`] stops it: the accept loop ends and the listening
/// socket closes; requests already being served finish on their own
/// threads. [`Server::stop_on_drop`] makes dropping the handle stop it
/// (for a test, or a program that serves for part of its run).
#[derive(Debug)]
pub struct Server {
    local_addr: SocketAddr,
    shared: Arc<Shared>,
    accept: Option<JoinHandle<()>>,
    stop_on_drop: bool,
}

impl Server {
    /// The address it listens on (with the port picked when port 0 was
    /// asked).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// `http://ADDR/debug/pprof/heap`, ready for `go tool pprof`.
    pub fn heap_url(&self) -> String {
        format!("http://{}/debug/pprof/heap", self.local_addr)
    }

    /// Stops accepting connections and waits for the accept loop to end,
    /// which closes the listening socket. Requests in progress complete.
    pub fn shutdown(mut self) {
        self.stop();
    }

    /// Makes dropping this handle [shut the server down](Server::shutdown),
    /// as a guard: `let _server = serve(addr)?.stop_on_drop();` serves
    /// until the end of the scope.
    #[must_use = "the server stops when the returned handle is dropped"]
    pub fn stop_on_drop(mut self) -> Server {
        self.stop_on_drop = true;
        self
    }

    /// Keeps serving for the life of the process, even after
    /// [`stop_on_drop`](Server::stop_on_drop): nothing stops it then.
    /// (Dropping a handle without `stop_on_drop` does the same.)
    pub fn detach(mut self) {
        self.stop_on_drop = false;
    }

    fn stop(&mut self) {
        let Some(accept) = self.accept.take() else {
            return;
        };
        self.shared.stop.store(true, SeqCst);
        // Wake the accept loop with a connection of our own; it sees the
        // flag and returns. If even that fails, leave it: it returns at its
        // next connection.
        let mut wake = self.local_addr;
        if wake.ip().is_unspecified() {
            wake.set_ip(match wake.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            });
        }
        if TcpStream::connect_timeout(&wake, Duration::from_secs(1)).is_ok() {
            let _ = accept.join();
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.stop_on_drop {
            self.stop();
        }
    }
}

fn accept_loop(listener: TcpListener, shared: &Arc<Shared>, busy: SyncSender<TcpStream>) {
    loop {
        let stream = match listener.accept() {
            Ok((stream, _)) => stream,
            Err(e) => {
                if shared.stop.load(SeqCst) {
                    return;
                }
                // Out of file descriptors and the like: back off, don't spin.
                if !matches!(
                    e.kind(),
                    io::ErrorKind::Interrupted
                        | io::ErrorKind::ConnectionAborted
                        | io::ErrorKind::ConnectionReset
                ) {
                    thread::sleep(Duration::from_millis(50));
                }
                continue;
            }
        };
        let accepted = Instant::now();
        if shared.stop.load(SeqCst) {
            return;
        }
        let Some(slot) = shared.slots.claim(&stream) else {
            // Full queue: closed without an answer.
            let _ = busy.try_send(stream);
            continue;
        };
        let options = shared.options.clone();
        // If the thread cannot start, the closure is dropped: the
        // connection is closed and the slot released. Not a std thread:
        // std frees what it allocated here (its packet, its handle, spawn
        // hooks) on the new thread before and after the closure, outside
        // heapwise's own work, and those frees were counted as the
        // program's, a few a request (`spawn_own_thread`).
        let _ = spawn_own_thread(move || {
            name_os_thread(c"heapwise-http-c");
            connection(&stream, &slot, accepted, &options);
            // The slot goes after the connection has closed.
            drop(stream);
            drop((slot, options));
        });
    }
}

/// Names the calling thread for the OS (`top -H`, gdb), without std's
/// allocation; at most 15 bytes.
fn name_os_thread(name: &std::ffi::CStr) {
    #[cfg(target_os = "linux")]
    // SAFETY: names the calling thread; `name` is NUL-terminated and short
    // enough (longer names fail with ERANGE, harmlessly).
    unsafe {
        libc::pthread_setname_np(libc::pthread_self(), name.as_ptr());
    }
    #[cfg(not(target_os = "linux"))]
    let _ = name;
}

/// Answers 503 to the connections beyond the limit, one at a time.
fn busy_loop(connections: Receiver<TcpStream>, timeout: Duration) {
    for stream in connections {
        // Take what the client has sent already, so closing does not reset
        // the connection before it reads the answer.
        let _ = stream.set_read_timeout(Some(Duration::from_millis(100)));
        let mut buf = [0u8; 4096];
        let _ = (&stream).read(&mut buf);
        let response = Response::error(
            503,
            "heapwise::http: too many connections in progress; retry later",
        )
        .with_header("Retry-After", "1");
        let _ = write_response(
            &stream,
            &response,
            false,
            timeout.min(Duration::from_secs(1)),
        );
        finish(&stream, Duration::from_millis(200));
    }
}

/// Serves one connection: one request, one response.
fn connection(stream: &TcpStream, slot: &Slot, accepted: Instant, options: &ServeOptions) {
    let timeout = options.timeout;
    let _ = stream.set_nodelay(true);
    let request = read_request(stream, accepted, options.head_timeout, timeout);
    if !slot.serve() {
        let waited = Duration::from_millis(accepted.elapsed().as_millis() as u64);
        let response = Response::error(
            408,
            format!(
                "request not received within {waited:?}: dropped to make room for a new \
                 connection (at most {} at once)",
                options.max_connections
            ),
        );
        let _ = write_response(
            stream,
            &response,
            false,
            timeout.min(Duration::from_secs(1)),
        );
        finish(stream, Duration::from_millis(100));
        return;
    }
    let (response, head_only) = match request {
        Ok(Some(request)) => {
            let head_only = request.method == "HEAD";
            let left = Cell::new(false);
            let wait = |d| {
                let stays = client_stays(stream, d);
                left.set(!stays);
                stays
            };
            let response = catch_unwind(AssertUnwindSafe(|| respond(&request, &wait)))
                .unwrap_or_else(|_| Response::error(500, "heapwise::http: the handler panicked"));
            if left.get() {
                // A delta whose client went away: no one to answer.
                return;
            }
            (response, head_only)
        }
        Ok(None) => return,
        Err(refusal) => (Response::error(refusal.status, refusal.message), false),
    };
    let _ = write_response(stream, &response, head_only, timeout);
    finish(stream, LINGER);
}

/// Reads into `buf` before `deadline`.
fn read_by(stream: &TcpStream, buf: &mut [u8], deadline: Instant) -> io::Result<usize> {
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_read_timeout(Some(left))?;
        match (&*stream).read(buf) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            r => return r,
        }
    }
}

/// Waits `d` for a delta, watching its client: `false` as soon as the
/// client closes the connection, half-closes it (as Go's server and hyper
/// take it too: no HTTP client sends a FIN while it waits for the answer)
/// or resets it. Bytes it sends meanwhile are dropped: a connection serves
/// one request.
fn client_stays(stream: &TcpStream, d: Duration) -> bool {
    let deadline = Instant::now() + d;
    let mut buf = [0u8; 1024];
    loop {
        match read_by(stream, &mut buf, deadline) {
            Ok(0) => return false,
            Ok(_) => {}
            Err(e) => return is_timeout(&e),
        }
    }
}

fn is_timeout(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Reads one request, its head within `head_timeout` of `start` and the
/// whole of it within `timeout`; `Ok(None)` when the client went away
/// without sending one (nothing to answer).
fn read_request(
    stream: &TcpStream,
    start: Instant,
    head_timeout: Duration,
    timeout: Duration,
) -> Result<Option<Request>, Refusal> {
    let head_timeout = head_timeout.min(timeout);
    let late = |within: Duration| Refusal {
        status: 408,
        message: format!("request not received within {within:?}"),
    };
    let head_deadline = start + head_timeout;
    let deadline = start + timeout;
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    let mut chunk = [0u8; 4096];
    let mut scanner = HeadScanner::default();
    let head_len = loop {
        if let Some(n) = scanner.scan(&buf, &LIMITS)? {
            break n;
        }
        match read_by(stream, &mut chunk, head_deadline) {
            Ok(0) if buf.is_empty() => return Ok(None),
            Ok(0) => {
                return Err(Refusal {
                    status: 400,
                    message: "incomplete request: the header did not end".into(),
                })
            }
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => return Err(late(head_timeout)),
            Err(_) => return Ok(None),
        }
    };
    let head = parse_head(&buf[..head_len], &LIMITS)?;
    let mut body = buf.split_off(head_len);
    body.truncate(head.content_length);
    if head.expect_continue && body.len() < head.content_length {
        let _ = write_all_by(stream, b"HTTP/1.1 100 Continue\r\n\r\n", deadline, timeout);
    }
    while body.len() < head.content_length {
        let want = (head.content_length - body.len()).min(chunk.len());
        match read_by(stream, &mut chunk[..want], deadline) {
            Ok(0) => {
                return Err(Refusal {
                    status: 400,
                    message: format!(
                        "incomplete request: {} of {} body bytes received",
                        body.len(),
                        head.content_length
                    ),
                })
            }
            Ok(n) => body.extend_from_slice(&chunk[..n]),
            Err(e) if is_timeout(&e) => return Err(late(timeout)),
            Err(_) => return Ok(None),
        }
    }
    Ok(Some(Request::new(head.method, &head.target, body)))
}

/// Writes all of `data` before `deadline`, each write within `step`.
fn write_all_by(
    stream: &TcpStream,
    data: &[u8],
    deadline: Instant,
    step: Duration,
) -> io::Result<()> {
    let mut pos = 0;
    while pos < data.len() {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::ErrorKind::TimedOut.into());
        }
        stream.set_write_timeout(Some(left.min(step)))?;
        let end = data.len().min(pos + (64 << 10));
        match (&*stream).write(&data[pos..end]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => pos += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// A header name or value the response may carry as is.
fn header_safe(s: &str) -> bool {
    !s.bytes().any(|b| b == b'\r' || b == b'\n' || b == 0)
}

fn write_response(
    stream: &TcpStream,
    r: &Response,
    head_only: bool,
    timeout: Duration,
) -> io::Result<()> {
    let deadline = Instant::now() + timeout * 6;
    let mut head = format!(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        r.status,
        reason(r.status),
        r.content_type,
        r.body.len()
    );
    for (name, value) in &r.headers {
        if !name.is_empty() && header_safe(name) && header_safe(value) {
            head.push_str(name);
            head.push_str(": ");
            head.push_str(value);
            head.push_str("\r\n");
        }
    }
    head.push_str("\r\n");
    write_all_by(stream, head.as_bytes(), deadline, timeout)?;
    if !head_only {
        write_all_by(stream, &r.body, deadline, timeout)?;
    }
    Ok(())
}

/// Ends the response, then reads what the client still sends (for at most
/// `linger`) so the close does not reset the connection under its feet.
fn finish(stream: &TcpStream, linger: Duration) {
    let _ = stream.shutdown(Shutdown::Write);
    let deadline = Instant::now() + linger;
    let mut buf = [0u8; 4096];
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match read_by(stream, &mut buf, deadline) {
            Ok(0) | Err(_) => break,
            Ok(n) => drained += n,
        }
    }
}
