//! A queue native worker threads hand finished work back through.
//!
//! Native helpers (the DNS pool, for instance) run without the Python
//! interpreter and cannot touch the loop's ready queue. They push here and
//! wake the loop, which drains the inbox at the start of its next pass.

use crate::Waker;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

pub struct Inbox<T> {
    items: Mutex<Vec<T>>,
    len: AtomicUsize,
    waker: Arc<Waker>,
}

impl<T> Inbox<T> {
    pub fn new(waker: Arc<Waker>) -> Self {
        Inbox {
            items: Mutex::new(Vec::new()),
            len: AtomicUsize::new(0),
            waker,
        }
    }

    /// Publishes `item`, then wakes the loop (see the waker's ordering contract).
    pub fn push(&self, item: T) {
        {
            let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
            items.push(item);
            self.len.store(items.len(), Ordering::SeqCst);
        }
        self.waker.wake();
    }

    pub fn is_empty(&self) -> bool {
        self.len.load(Ordering::SeqCst) == 0
    }

    /// Moves everything published so far into `out`, in publication order.
    pub fn drain_into(&self, out: &mut Vec<T>) {
        if self.is_empty() {
            return;
        }
        let mut items = self.items.lock().unwrap_or_else(|e| e.into_inner());
        out.append(&mut items);
        self.len.store(0, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Events, Interest, Poller};

    #[test]
    fn concurrent_producers_lose_nothing_and_keep_their_order() {
        const THREADS: usize = 8;
        const PER_THREAD: usize = 20_000;
        let waker = Arc::new(Waker::new().unwrap());
        let poller = Poller::new().unwrap();
        poller
            .add(waker.as_raw_fd(), Interest::READABLE, 0)
            .unwrap();
        let inbox = Arc::new(Inbox::new(waker.clone()));
        let producers: Vec<_> = (0..THREADS)
            .map(|t| {
                let inbox = inbox.clone();
                std::thread::spawn(move || {
                    for i in 0..PER_THREAD {
                        inbox.push((t, i));
                    }
                })
            })
            .collect();

        let mut got = Vec::new();
        let mut events = Events::default();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while got.len() < THREADS * PER_THREAD {
            assert!(std::time::Instant::now() < deadline, "lost items");
            waker.prepare_sleep();
            let timeout = if inbox.is_empty() {
                Some(1.0)
            } else {
                Some(0.0)
            };
            poller.wait(&mut events, timeout).unwrap();
            waker.finish_sleep();
            waker.drain();
            inbox.drain_into(&mut got);
        }
        for p in producers {
            p.join().unwrap();
        }
        assert_eq!(got.len(), THREADS * PER_THREAD);
        let mut next = [0usize; THREADS];
        for (t, i) in got {
            assert_eq!(i, next[t], "thread {t} reordered");
            next[t] += 1;
        }
    }
}
