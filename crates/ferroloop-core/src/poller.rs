//! A level-triggered epoll poller.
//!
//! asyncio's selector loop is level-triggered: a reader registered with
//! `add_reader` is called on every pass while the fd stays readable. ferroloop
//! keeps that contract, so the poller registers fds without `EPOLLET` and never
//! needs re-arming.
//!
//! # Implementation notes
//! Timeouts are whole milliseconds for `epoll_wait`; a fractional timeout is
//! rounded *up*, so a timer due in 0.3 ms is never polled with a 0 ms timeout
//! (that would spin) and is never woken early.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

/// Which readiness a registration asks for.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Interest {
    pub readable: bool,
    pub writable: bool,
}

impl Interest {
    pub const READABLE: Interest = Interest {
        readable: true,
        writable: false,
    };
    pub const WRITABLE: Interest = Interest {
        readable: false,
        writable: true,
    };
    pub const BOTH: Interest = Interest {
        readable: true,
        writable: true,
    };

    pub fn is_empty(self) -> bool {
        !self.readable && !self.writable
    }

    fn epoll_bits(self) -> u32 {
        let mut bits = 0;
        if self.readable {
            bits |= libc::EPOLLIN as u32;
        }
        if self.writable {
            bits |= libc::EPOLLOUT as u32;
        }
        bits
    }
}

/// One readiness report.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    pub token: u64,
    /// Readable, or an error/hang-up that a read will report.
    pub readable: bool,
    /// Writable, or an error/hang-up that a write will report.
    pub writable: bool,
}

impl Event {
    fn from_raw(ev: &libc::epoll_event) -> Event {
        let bits = ev.events;
        // Like asyncio's EpollSelector: any condition other than "only writable"
        // wakes readers, anything other than "only readable" wakes writers, so an
        // error or hang-up reaches whichever side is waiting.
        Event {
            token: ev.u64,
            readable: bits & !(libc::EPOLLOUT as u32) != 0,
            writable: bits & !(libc::EPOLLIN as u32) != 0,
        }
    }
}

/// The buffer `Poller::wait` fills.
pub struct Events {
    buf: Vec<libc::epoll_event>,
    len: usize,
}

impl Events {
    /// A buffer for up to `capacity` events; 0 makes a placeholder that does
    /// not allocate (a wait with it reports nothing).
    pub fn with_capacity(capacity: usize) -> Events {
        Events {
            buf: vec![libc::epoll_event { events: 0, u64: 0 }; capacity],
            len: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn capacity(&self) -> usize {
        self.buf.len()
    }

    pub fn get(&self, i: usize) -> Option<Event> {
        self.buf[..self.len].get(i).map(Event::from_raw)
    }

    pub fn iter(&self) -> impl Iterator<Item = Event> + '_ {
        self.buf[..self.len].iter().map(Event::from_raw)
    }
}

impl Default for Events {
    fn default() -> Events {
        // asyncio's selector asks for up to as many events as fds are registered;
        // 1024 per wait is plenty and the rest come on the next pass.
        Events::with_capacity(1024)
    }
}

/// An epoll instance. All methods take `&self`: the kernel serialises them.
#[derive(Debug)]
pub struct Poller {
    epfd: OwnedFd,
}

/// Longest single wait: 24 hours, as asyncio caps its select timeout.
pub const MAX_TIMEOUT: f64 = 24.0 * 3600.0;

impl Poller {
    pub fn new() -> io::Result<Poller> {
        let fd = syscall!(epoll_create1(libc::EPOLL_CLOEXEC))?;
        // SAFETY: epoll_create1 returned a fresh fd that nothing else owns.
        Ok(Poller {
            epfd: unsafe { OwnedFd::from_raw_fd(fd) },
        })
    }

    fn ctl(&self, op: libc::c_int, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        let mut ev = libc::epoll_event {
            events: interest.epoll_bits(),
            u64: token,
        };
        syscall!(epoll_ctl(self.epfd.as_raw_fd(), op, fd, &mut ev))?;
        Ok(())
    }

    /// Starts watching `fd`. Fails with `EEXIST` if it is watched already.
    pub fn add(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_ADD, fd, interest, token)
    }

    /// Changes what `fd` is watched for.
    pub fn modify(&self, fd: RawFd, interest: Interest, token: u64) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_MOD, fd, interest, token)
    }

    /// Stops watching `fd`.
    pub fn delete(&self, fd: RawFd) -> io::Result<()> {
        self.ctl(libc::EPOLL_CTL_DEL, fd, Interest::default(), 0)
    }

    /// Waits for readiness. `None` waits forever. A signal ends the wait with
    /// `ErrorKind::Interrupted`, so the caller can run Python's signal handlers.
    pub fn wait(&self, events: &mut Events, timeout: Option<f64>) -> io::Result<usize> {
        let ms = match timeout {
            None => -1,
            Some(t) => timeout_ms(t),
        };
        let cap = events.buf.len() as libc::c_int;
        events.len = 0;
        if cap == 0 {
            return Ok(0);
        }
        let n = syscall!(epoll_wait(
            self.epfd.as_raw_fd(),
            events.buf.as_mut_ptr(),
            cap,
            ms
        ))?;
        events.len = n as usize;
        Ok(events.len)
    }

    /// Polls without blocking until something is ready or `budget` has passed.
    /// Returns what the last poll found, so 0 means the budget ran out.
    pub fn spin(&self, events: &mut Events, budget: std::time::Duration) -> io::Result<usize> {
        let start = std::time::Instant::now();
        loop {
            let n = self.wait(events, Some(0.0))?;
            if n > 0 || start.elapsed() >= budget {
                return Ok(n);
            }
            std::hint::spin_loop();
        }
    }

    pub fn as_raw_fd(&self) -> RawFd {
        self.epfd.as_raw_fd()
    }
}

/// Seconds to epoll's milliseconds, rounded up and clamped.
fn timeout_ms(seconds: f64) -> libc::c_int {
    if seconds.is_nan() || seconds <= 0.0 {
        return 0;
    }
    let ms = (seconds.min(MAX_TIMEOUT) * 1000.0).ceil();
    ms as libc::c_int
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::UnixStream;

    #[test]
    fn timeouts_round_up() {
        assert_eq!(timeout_ms(-1.0), 0);
        assert_eq!(timeout_ms(0.0), 0);
        assert_eq!(timeout_ms(0.0003), 1);
        assert_eq!(timeout_ms(0.001), 1);
        assert_eq!(timeout_ms(0.0011), 2);
        assert_eq!(timeout_ms(1e12), 86_400_000);
    }

    #[test]
    fn level_triggered_until_drained() {
        let poller = Poller::new().unwrap();
        let (mut a, mut b) = UnixStream::pair().unwrap();
        poller.add(b.as_raw_fd(), Interest::READABLE, 7).unwrap();
        let mut events = Events::with_capacity(8);
        assert_eq!(poller.wait(&mut events, Some(0.0)).unwrap(), 0);
        a.write_all(b"xy").unwrap();
        for _ in 0..3 {
            assert_eq!(poller.wait(&mut events, Some(1.0)).unwrap(), 1);
            let ev = events.get(0).unwrap();
            assert_eq!((ev.token, ev.readable, ev.writable), (7, true, false));
        }
        let mut buf = [0u8; 2];
        b.read_exact(&mut buf).unwrap();
        assert_eq!(poller.wait(&mut events, Some(0.0)).unwrap(), 0);
    }

    #[test]
    fn spin_returns_what_arrives_during_the_budget() {
        let poller = Poller::new().unwrap();
        let (mut a, b) = UnixStream::pair().unwrap();
        poller.add(b.as_raw_fd(), Interest::READABLE, 3).unwrap();
        let mut events = Events::with_capacity(8);
        let budget = std::time::Duration::from_millis(2);
        let start = std::time::Instant::now();
        assert_eq!(poller.spin(&mut events, budget).unwrap(), 0);
        assert!(start.elapsed() >= budget);
        let writer = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(5));
            a.write_all(b"x").unwrap();
            a
        });
        let found = poller.spin(&mut events, std::time::Duration::from_secs(10));
        assert_eq!(found.unwrap(), 1);
        assert_eq!(events.get(0).unwrap().token, 3);
        drop(writer.join().unwrap());
    }

    #[test]
    fn modify_and_delete() {
        let poller = Poller::new().unwrap();
        let (_a, b) = UnixStream::pair().unwrap();
        let fd = b.as_raw_fd();
        poller.add(fd, Interest::READABLE, 1).unwrap();
        assert_eq!(
            poller
                .add(fd, Interest::READABLE, 1)
                .unwrap_err()
                .raw_os_error(),
            Some(libc::EEXIST)
        );
        poller.modify(fd, Interest::WRITABLE, 2).unwrap();
        let mut events = Events::default();
        assert_eq!(poller.wait(&mut events, Some(1.0)).unwrap(), 1);
        assert_eq!(events.get(0).unwrap().token, 2);
        assert!(events.get(0).unwrap().writable);
        poller.delete(fd).unwrap();
        assert_eq!(poller.wait(&mut events, Some(0.0)).unwrap(), 0);
        assert_eq!(
            poller.delete(fd).unwrap_err().raw_os_error(),
            Some(libc::ENOENT)
        );
    }

    #[test]
    fn hangup_wakes_both_sides() {
        let poller = Poller::new().unwrap();
        let (a, b) = UnixStream::pair().unwrap();
        poller.add(b.as_raw_fd(), Interest::BOTH, 3).unwrap();
        drop(a);
        let mut events = Events::default();
        assert_eq!(poller.wait(&mut events, Some(1.0)).unwrap(), 1);
        let ev = events.get(0).unwrap();
        assert!(ev.readable && ev.writable);
    }

    #[test]
    fn wait_honours_timeout() {
        let poller = Poller::new().unwrap();
        let mut events = Events::default();
        let t0 = std::time::Instant::now();
        poller.wait(&mut events, Some(0.02)).unwrap();
        assert!(t0.elapsed() >= std::time::Duration::from_millis(20));
    }
}
