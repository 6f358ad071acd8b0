//! Waking a loop that is blocked in the poll, from any thread.
//!
//! An eventfd registered with the poller. The loop announces when it is about
//! to sleep; `wake` writes only then, so a busy loop fed by
//! `call_soon_threadsafe` pays no syscall per call.
//!
//! # Ordering contract
//! A producer publishes its work first, then calls `wake`. The loop calls
//! `prepare_sleep` first, then checks for published work, and polls with a
//! zero timeout if there is any. With both sides sequentially consistent,
//! either the producer sees the loop sleeping and writes, or the loop sees the
//! work: a wake-up is never lost.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicBool, Ordering};

#[derive(Debug)]
pub struct Waker {
    fd: OwnedFd,
    sleeping: AtomicBool,
}

impl Waker {
    pub fn new() -> io::Result<Waker> {
        let fd = syscall!(eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK))?;
        // SAFETY: eventfd returned a fresh fd that nothing else owns.
        Ok(Waker {
            fd: unsafe { OwnedFd::from_raw_fd(fd) },
            sleeping: AtomicBool::new(false),
        })
    }

    /// The fd to register for readability.
    pub fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    /// The loop is about to block in the poll.
    pub fn prepare_sleep(&self) {
        self.sleeping.store(true, Ordering::SeqCst);
    }

    /// The loop is back from the poll.
    pub fn finish_sleep(&self) {
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// Ends the loop's current or next poll if it is sleeping.
    pub fn wake(&self) {
        if self.sleeping.swap(false, Ordering::SeqCst) {
            self.force_wake();
        }
    }

    /// Makes the eventfd readable whatever the loop is doing.
    pub fn force_wake(&self) {
        let one: u64 = 1;
        // EAGAIN means the counter is saturated: the fd is readable already.
        let _ = syscall!(write(
            self.fd.as_raw_fd(),
            &one as *const u64 as *const libc::c_void,
            8
        ));
    }

    /// Resets the eventfd after the poll reported it readable.
    pub fn drain(&self) {
        let mut buf: u64 = 0;
        let _ = syscall!(read(
            self.fd.as_raw_fd(),
            &mut buf as *mut u64 as *mut libc::c_void,
            8
        ));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Events, Interest, Poller};
    use std::sync::Arc;
    use std::time::{Duration, Instant};

    #[test]
    fn wakes_a_sleeping_poll_from_another_thread() {
        let poller = Poller::new().unwrap();
        let waker = Arc::new(Waker::new().unwrap());
        poller
            .add(waker.as_raw_fd(), Interest::READABLE, 0)
            .unwrap();
        waker.prepare_sleep();
        let w = waker.clone();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            w.wake();
        });
        let t0 = Instant::now();
        let mut events = Events::default();
        assert_eq!(poller.wait(&mut events, Some(10.0)).unwrap(), 1);
        waker.finish_sleep();
        assert!(t0.elapsed() < Duration::from_secs(5));
        waker.drain();
        assert_eq!(poller.wait(&mut events, Some(0.0)).unwrap(), 0);
        t.join().unwrap();
    }

    #[test]
    fn no_write_while_awake() {
        let poller = Poller::new().unwrap();
        let waker = Waker::new().unwrap();
        poller
            .add(waker.as_raw_fd(), Interest::READABLE, 0)
            .unwrap();
        waker.wake();
        let mut events = Events::default();
        assert_eq!(poller.wait(&mut events, Some(0.0)).unwrap(), 0);
        waker.force_wake();
        assert_eq!(poller.wait(&mut events, Some(0.0)).unwrap(), 1);
    }
}
