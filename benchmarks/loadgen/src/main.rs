//! Closed-loop load generator for ferroloop's network benchmarks.
//!
//! ```text
//! loadgen MODE ADDR [--conns N] [--size BYTES] [--warmup SECS] [--duration SECS]
//!   MODE tcp | unix | udp   echo: send SIZE bytes, wait until SIZE bytes came back
//!        http               GET / on a keep-alive connection, read one response
//!   ADDR host:port, or a socket path for unix
//! ```
//!
//! Every connection keeps exactly one request in flight. After the warm-up the
//! generator prints `go`, and at the end of the measured period one JSON line:
//! `{"requests":N,"seconds":S,"p50_us":X,"p99_us":Y,"errors":E}`; then it exits.
//! The server under test reads these lines to bracket its own CPU time.
//!
//! One thread drives every connection with epoll, so a request costs this
//! process a few syscalls: far less CPU than the Python server it measures.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{TcpStream, UdpSocket};
use std::os::fd::{AsRawFd, RawFd};
use std::os::unix::net::UnixStream;
use std::process::exit;
use std::time::{Duration, Instant};

/// A datagram lost on the way is sent again after this long (counted as an error).
const UDP_RETRY: Duration = Duration::from_millis(500);
/// Largest read; 256 KiB is what asyncio's transports read at once, too.
const READ_CHUNK: usize = 256 * 1024;

#[derive(Clone, Copy, PartialEq)]
enum Mode {
    Tcp,
    Unix,
    Udp,
    Http,
}

struct Config {
    mode: Mode,
    addr: String,
    conns: usize,
    size: usize,
    warmup: Duration,
    duration: Duration,
}

trait Stream: Read + Write + AsRawFd {}
impl<T: Read + Write + AsRawFd> Stream for T {}

/// A connected UDP socket seen as a stream of datagrams.
struct Datagrams(UdpSocket);

impl Read for Datagrams {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.recv(buf)
    }
}

impl Write for Datagrams {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.send(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl AsRawFd for Datagrams {
    fn as_raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
    }
}

struct Conn {
    sock: Box<dyn Stream>,
    sent: usize,
    received: usize,
    /// The response so far (http only: echo replies are only counted).
    reply: Vec<u8>,
    started: Instant,
}

fn main() {
    let cfg = parse_args().unwrap_or_else(|msg| {
        eprintln!("loadgen: {msg}");
        exit(2)
    });
    if let Err(err) = run(&cfg) {
        eprintln!("loadgen: {err}");
        exit(1)
    }
}

fn parse_args() -> Result<Config, String> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [mode, addr, options @ ..] = args.as_slice() else {
        return Err("usage: loadgen tcp|unix|udp|http ADDR [--conns N] [--size B] [--warmup S] [--duration S]".into());
    };
    let mode = match mode.as_str() {
        "tcp" => Mode::Tcp,
        "unix" => Mode::Unix,
        "udp" => Mode::Udp,
        "http" => Mode::Http,
        other => return Err(format!("unknown mode {other:?}")),
    };
    let mut cfg = Config {
        mode,
        addr: addr.clone(),
        conns: 10,
        size: 1024,
        warmup: Duration::from_millis(200),
        duration: Duration::from_secs(1),
    };
    for pair in options.chunks(2) {
        let [name, value] = pair else {
            return Err(format!("option {:?} has no value", pair[0]));
        };
        let bad = || format!("bad value for {name}: {value:?}");
        match name.as_str() {
            "--conns" => cfg.conns = value.parse().map_err(|_| bad())?,
            "--size" => cfg.size = value.parse().map_err(|_| bad())?,
            "--warmup" => cfg.warmup = Duration::from_secs_f64(value.parse().map_err(|_| bad())?),
            "--duration" => {
                cfg.duration = Duration::from_secs_f64(value.parse().map_err(|_| bad())?)
            }
            _ => return Err(format!("unknown option {name:?}")),
        }
    }
    Ok(cfg)
}

fn connect(cfg: &Config) -> io::Result<Box<dyn Stream>> {
    let sock: Box<dyn Stream> = match cfg.mode {
        Mode::Tcp | Mode::Http => {
            let s = TcpStream::connect(&cfg.addr)?;
            s.set_nodelay(true)?;
            s.set_nonblocking(true)?;
            Box::new(s)
        }
        Mode::Unix => {
            let s = UnixStream::connect(&cfg.addr)?;
            s.set_nonblocking(true)?;
            Box::new(s)
        }
        Mode::Udp => {
            let s = UdpSocket::bind("127.0.0.1:0")?;
            s.connect(&cfg.addr)?;
            s.set_nonblocking(true)?;
            Box::new(Datagrams(s))
        }
    };
    Ok(sock)
}

/// True once `reply` holds a whole HTTP response (headers and Content-Length body).
fn http_reply_complete(reply: &[u8]) -> bool {
    let Some(head_end) = reply.windows(4).position(|w| w == b"\r\n\r\n") else {
        return false;
    };
    let head = String::from_utf8_lossy(&reply[..head_end]);
    let body_len = head
        .lines()
        .filter_map(|line| line.split_once(':'))
        .find(|(name, _)| name.trim().eq_ignore_ascii_case("content-length"))
        .and_then(|(_, value)| value.trim().parse::<usize>().ok())
        .unwrap_or(0);
    reply.len() >= head_end + 4 + body_len
}

/// Writes as much of the request as the socket takes now.
fn send_some(conn: &mut Conn, request: &[u8]) -> io::Result<()> {
    if conn.sent == 0 {
        conn.started = Instant::now();
    }
    while conn.sent < request.len() {
        match conn.sock.write(&request[conn.sent..]) {
            Ok(n) => conn.sent += n,
            Err(e) if e.kind() == ErrorKind::WouldBlock => break,
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Reads what has arrived; returns true when the reply is complete.
fn receive_some(conn: &mut Conn, cfg: &Config, scratch: &mut [u8]) -> io::Result<bool> {
    loop {
        match conn.sock.read(scratch) {
            Ok(0) => {
                return Err(io::Error::new(
                    ErrorKind::UnexpectedEof,
                    "server closed the connection",
                ))
            }
            Ok(n) => {
                conn.received += n;
                if cfg.mode == Mode::Http {
                    conn.reply.extend_from_slice(&scratch[..n]);
                }
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock => return Ok(false),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        let done = match cfg.mode {
            Mode::Http => http_reply_complete(&conn.reply),
            _ => conn.received >= cfg.size,
        };
        if done {
            return Ok(true);
        }
    }
}

/// Starts the next request.
fn start_request(conn: &mut Conn) {
    conn.sent = 0;
    conn.received = 0;
    conn.reply.clear();
}

/// Sends the next request at once, and watches for writability only when the
/// socket did not take all of it: a request costs the client one write and one
/// read, so the client stays cheaper than any server it measures.
fn send_next(poller: &Poller, conn: &mut Conn, token: usize, request: &[u8]) -> io::Result<()> {
    start_request(conn);
    send_some(conn, request)?;
    if conn.sent < request.len() {
        poller.watch(conn, token, true)?;
    }
    Ok(())
}

/// Level-triggered epoll over the connections; a connection's token is its index.
struct Poller(RawFd);

impl Poller {
    fn new() -> io::Result<Self> {
        // SAFETY: plain syscall; the fd it returns is owned by the Poller.
        let fd = unsafe { libc::epoll_create1(libc::EPOLL_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(Poller(fd))
    }

    /// Watches `conn` for replies, and for writability while a request is to be sent.
    fn watch(&self, conn: &Conn, token: usize, writable: bool) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: (libc::EPOLLIN | if writable { libc::EPOLLOUT } else { 0 }) as u32,
            u64: token as u64,
        };
        let fd = conn.sock.as_raw_fd();
        // SAFETY: `ev` is a valid epoll_event; both fds are open.
        let mut rc = unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_MOD, fd, &mut ev) };
        if rc < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::ENOENT) {
            // SAFETY: as above.
            rc = unsafe { libc::epoll_ctl(self.0, libc::EPOLL_CTL_ADD, fd, &mut ev) };
        }
        if rc < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    fn wait(&self, events: &mut [libc::epoll_event], timeout_ms: libc::c_int) -> io::Result<usize> {
        // SAFETY: `events` is a live buffer of `events.len()` entries.
        let n = unsafe {
            libc::epoll_wait(
                self.0,
                events.as_mut_ptr(),
                events.len() as libc::c_int,
                timeout_ms,
            )
        };
        if n < 0 {
            let err = io::Error::last_os_error();
            return if err.kind() == ErrorKind::Interrupted {
                Ok(0)
            } else {
                Err(err)
            };
        }
        Ok(n as usize)
    }
}

impl Drop for Poller {
    fn drop(&mut self) {
        // SAFETY: the Poller owns this fd and closes it once.
        unsafe { libc::close(self.0) };
    }
}

fn percentile_us(sorted_ns: &[u64], p: f64) -> f64 {
    if sorted_ns.is_empty() {
        return 0.0;
    }
    let rank = ((p / 100.0) * sorted_ns.len() as f64).ceil() as usize;
    sorted_ns[rank.clamp(1, sorted_ns.len()) - 1] as f64 / 1000.0
}

fn run(cfg: &Config) -> io::Result<()> {
    let request = match cfg.mode {
        Mode::Http => b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".to_vec(),
        _ => vec![b'x'; cfg.size],
    };
    let now = Instant::now();
    let mut conns = Vec::with_capacity(cfg.conns);
    for _ in 0..cfg.conns {
        let sock = connect(cfg)?;
        conns.push(Conn {
            sock,
            sent: 0,
            received: 0,
            reply: Vec::new(),
            started: now,
        });
    }

    let mut scratch = vec![0u8; READ_CHUNK];
    let poller = Poller::new()?;
    for (token, conn) in conns.iter().enumerate() {
        poller.watch(conn, token, true)?;
    }
    let mut events = vec![libc::epoll_event { events: 0, u64: 0 }; conns.len()];
    let mut latencies_ns: Vec<u64> = Vec::new();
    let mut errors = 0u64;
    let mut measuring = false;
    let mut measure_start = now;
    let mut phase_end = now + cfg.warmup;

    loop {
        let now = Instant::now();
        if now >= phase_end {
            if measuring {
                break;
            }
            println!("go");
            io::stdout().flush()?;
            measuring = true;
            latencies_ns.clear();
            errors = 0;
            measure_start = now;
            phase_end = now + cfg.duration;
        }
        let wait_ms = (phase_end - now).as_millis().clamp(1, 100) as libc::c_int;
        let ready = poller.wait(&mut events, wait_ms)?;
        let now = Instant::now();
        for ev in &events[..ready] {
            let token = ev.u64 as usize;
            let conn = &mut conns[token];
            if ev.events & libc::EPOLLOUT as u32 != 0 {
                send_some(conn, &request)?;
                if conn.sent == request.len() {
                    poller.watch(conn, token, false)?;
                }
            }
            if ev.events & (libc::EPOLLIN | libc::EPOLLERR | libc::EPOLLHUP) as u32 != 0
                && receive_some(conn, cfg, &mut scratch)?
            {
                if measuring {
                    latencies_ns.push((now - conn.started).as_nanos() as u64);
                }
                send_next(&poller, conn, token, &request)?;
            }
        }
        if cfg.mode == Mode::Udp {
            for (token, conn) in conns.iter_mut().enumerate() {
                if conn.sent == request.len() && now - conn.started > UDP_RETRY {
                    errors += 1;
                    send_next(&poller, conn, token, &request)?;
                }
            }
        }
    }

    let seconds = measure_start.elapsed().as_secs_f64();
    latencies_ns.sort_unstable();
    println!(
        "{{\"requests\":{},\"seconds\":{:.6},\"p50_us\":{:.1},\"p99_us\":{:.1},\"errors\":{}}}",
        latencies_ns.len(),
        seconds,
        percentile_us(&latencies_ns, 50.0),
        percentile_us(&latencies_ns, 99.0),
        errors
    );
    io::stdout().flush()
}
