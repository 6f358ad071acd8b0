//! The ready queue.
//!
//! FIFO, drained one snapshot per pass: a pass runs only the callbacks that
//! were queued when it began. Callbacks they schedule wait for the next pass,
//! so a callback that reschedules itself cannot starve I/O and timers.

use std::collections::VecDeque;

pub struct ReadyQueue<T> {
    queue: VecDeque<T>,
}

impl<T> Default for ReadyQueue<T> {
    fn default() -> Self {
        ReadyQueue {
            queue: VecDeque::with_capacity(64),
        }
    }
}

impl<T> ReadyQueue<T> {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn push(&mut self, item: T) {
        self.queue.push_back(item);
    }

    pub fn len(&self) -> usize {
        self.queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.queue.is_empty()
    }

    /// Starts a pass: the number of items it may take.
    pub fn begin_pass(&self) -> usize {
        self.queue.len()
    }

    pub fn pop(&mut self) -> Option<T> {
        self.queue.pop_front()
    }

    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.queue.iter()
    }

    pub fn clear(&mut self) -> Vec<T> {
        self.queue.drain(..).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pass_takes_only_its_snapshot() {
        let mut q = ReadyQueue::new();
        q.push(1);
        q.push(2);
        let mut ran = vec![];
        let n = q.begin_pass();
        for _ in 0..n {
            let item = q.pop().unwrap();
            ran.push(item);
            // Each item schedules a follower, which must wait for the next pass.
            q.push(item * 10);
        }
        assert_eq!(ran, vec![1, 2]);
        assert_eq!(q.begin_pass(), 2);
        assert_eq!(q.pop(), Some(10));
        assert_eq!(q.pop(), Some(20));
        assert!(q.is_empty());
    }
}
