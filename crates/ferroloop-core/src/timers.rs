//! The timer heap.
//!
//! Timers fire in order of (when, insertion order): two timers due at the same
//! instant run in the order they were scheduled, as in asyncio. Cancelling is
//! O(1): the entry is only marked (by its owner) and counted here; cancelled
//! entries are dropped when they reach the top, and the whole heap is rebuilt
//! without them once they are the majority of a large heap, so a program that
//! schedules and cancels many timeouts keeps the heap small.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

/// Rebuild only heaps larger than this; below it popping dead entries at the
/// top is cheaper than a rebuild (the same threshold asyncio uses).
pub const MIN_ENTRIES_FOR_COMPACTION: usize = 100;

/// Rebuild once more than this fraction of entries is cancelled: each rebuild
/// then removes at least half the heap, which keeps its cost amortised O(1)
/// per cancellation.
pub const CANCELLED_FRACTION_FOR_COMPACTION: f64 = 0.5;

/// What the heap needs to know about an entry.
pub trait TimerEntry {
    fn is_cancelled(&self) -> bool;
    /// Called once when the entry leaves the heap, whether due or dropped.
    fn on_removed(&self) {}
}

struct Slot<T> {
    when: f64,
    seq: u64,
    item: T,
}

impl<T> Slot<T> {
    fn key(&self) -> (f64, u64) {
        (self.when, self.seq)
    }
}

impl<T> PartialEq for Slot<T> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl<T> Eq for Slot<T> {}
impl<T> PartialOrd for Slot<T> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl<T> Ord for Slot<T> {
    // BinaryHeap is a max-heap: reverse so the earliest (when, seq) is on top.
    fn cmp(&self, other: &Self) -> Ordering {
        let (aw, aseq) = self.key();
        let (bw, bseq) = other.key();
        bw.total_cmp(&aw).then(bseq.cmp(&aseq))
    }
}

pub struct TimerHeap<T> {
    heap: BinaryHeap<Slot<T>>,
    next_seq: u64,
    cancelled: usize,
}

impl<T: TimerEntry> Default for TimerHeap<T> {
    fn default() -> Self {
        TimerHeap {
            heap: BinaryHeap::new(),
            next_seq: 0,
            cancelled: 0,
        }
    }
}

impl<T: TimerEntry> TimerHeap<T> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Entries in the heap, cancelled ones included.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// How many entries in the heap are known to be cancelled.
    pub fn cancelled_count(&self) -> usize {
        self.cancelled
    }

    pub fn push(&mut self, when: f64, item: T) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push(Slot { when, seq, item });
    }

    /// The owner cancelled an entry that is still in the heap.
    pub fn note_cancelled(&mut self) {
        self.cancelled += 1;
    }

    /// Drops cancelled entries: all of them if they are the majority of a
    /// large heap, otherwise only those on top.
    pub fn prune(&mut self) {
        let n = self.heap.len();
        if n > MIN_ENTRIES_FOR_COMPACTION
            && self.cancelled as f64 > n as f64 * CANCELLED_FRACTION_FOR_COMPACTION
        {
            let slots = std::mem::take(&mut self.heap).into_vec();
            let mut live = Vec::with_capacity(n - self.cancelled.min(n));
            for slot in slots {
                if slot.item.is_cancelled() {
                    slot.item.on_removed();
                } else {
                    live.push(slot);
                }
            }
            self.heap = BinaryHeap::from(live);
            self.cancelled = 0;
        } else {
            while let Some(top) = self.heap.peek() {
                if !top.item.is_cancelled() {
                    break;
                }
                let slot = self.heap.pop().expect("peeked");
                slot.item.on_removed();
                self.cancelled = self.cancelled.saturating_sub(1);
            }
        }
    }

    /// When the earliest entry is due (cancelled entries on top are dropped first).
    pub fn next_when(&mut self) -> Option<f64> {
        self.prune_top();
        self.heap.peek().map(|s| s.when)
    }

    /// Hands every live entry due before `deadline` to `f`, earliest first.
    pub fn pop_due(&mut self, deadline: f64, mut f: impl FnMut(T)) {
        while let Some(top) = self.heap.peek() {
            if top.when >= deadline {
                break;
            }
            let slot = self.heap.pop().expect("peeked");
            slot.item.on_removed();
            if slot.item.is_cancelled() {
                self.cancelled = self.cancelled.saturating_sub(1);
            } else {
                f(slot.item);
            }
        }
    }

    /// Every entry, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &T> {
        self.heap.iter().map(|s| &s.item)
    }

    /// Removes every entry (for closing the loop).
    pub fn clear(&mut self) -> Vec<T> {
        self.cancelled = 0;
        let slots = std::mem::take(&mut self.heap).into_vec();
        slots
            .into_iter()
            .map(|s| {
                s.item.on_removed();
                s.item
            })
            .collect()
    }

    fn prune_top(&mut self) {
        while let Some(top) = self.heap.peek() {
            if !top.item.is_cancelled() {
                break;
            }
            let slot = self.heap.pop().expect("peeked");
            slot.item.on_removed();
            self.cancelled = self.cancelled.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    #[derive(Clone)]
    struct T {
        id: u32,
        cancelled: Rc<Cell<bool>>,
        removed: Rc<Cell<u32>>,
    }
    impl TimerEntry for T {
        fn is_cancelled(&self) -> bool {
            self.cancelled.get()
        }
        fn on_removed(&self) {
            self.removed.set(self.removed.get() + 1);
        }
    }
    fn t(id: u32) -> T {
        T {
            id,
            cancelled: Rc::new(Cell::new(false)),
            removed: Rc::new(Cell::new(0)),
        }
    }
    fn drain(h: &mut TimerHeap<T>, deadline: f64) -> Vec<u32> {
        let mut out = vec![];
        h.pop_due(deadline, |e| out.push(e.id));
        out
    }

    #[test]
    fn orders_by_when_then_insertion() {
        let mut h = TimerHeap::new();
        for (id, when) in [(1, 5.0), (2, 1.0), (3, 5.0), (4, 1.0), (5, 3.0), (6, 5.0)] {
            h.push(when, t(id));
        }
        assert_eq!(h.next_when(), Some(1.0));
        assert_eq!(drain(&mut h, 3.0), vec![2, 4]);
        assert_eq!(drain(&mut h, 3.0000001), vec![5]);
        assert_eq!(drain(&mut h, 100.0), vec![1, 3, 6]);
        assert!(h.is_empty());
    }

    #[test]
    fn never_early() {
        let mut h = TimerHeap::new();
        h.push(2.0, t(1));
        assert!(drain(&mut h, 2.0).is_empty());
        assert_eq!(drain(&mut h, 2.0 + 1e-9), vec![1]);
    }

    #[test]
    fn cancelled_entries_are_skipped_and_counted() {
        let mut h = TimerHeap::new();
        let items: Vec<T> = (0..10).map(t).collect();
        for (i, it) in items.iter().enumerate() {
            h.push(i as f64, it.clone());
        }
        for it in items.iter().filter(|it| it.id % 2 == 0) {
            it.cancelled.set(true);
            h.note_cancelled();
        }
        assert_eq!(h.cancelled_count(), 5);
        assert_eq!(h.next_when(), Some(1.0));
        assert_eq!(drain(&mut h, 100.0), vec![1, 3, 5, 7, 9]);
        assert_eq!(h.cancelled_count(), 0);
        assert!(items.iter().all(|it| it.removed.get() == 1));
    }

    #[test]
    fn compacts_when_most_are_cancelled() {
        let mut h = TimerHeap::new();
        let items: Vec<T> = (0..1000).map(t).collect();
        for it in &items {
            h.push(1000.0 - it.id as f64, it.clone());
        }
        // Cancelling a minority leaves the heap alone.
        for it in &items[..400] {
            it.cancelled.set(true);
            h.note_cancelled();
        }
        h.prune();
        assert_eq!(h.len(), 1000);
        // Past half, one prune rebuilds the heap without any cancelled entry.
        for it in &items[400..501] {
            it.cancelled.set(true);
            h.note_cancelled();
        }
        h.prune();
        assert_eq!(h.len(), 499);
        assert_eq!(h.cancelled_count(), 0);
        let order = drain(&mut h, f64::INFINITY);
        let expected: Vec<u32> = (501..1000).rev().collect();
        assert_eq!(order, expected);
        assert!(items.iter().all(|it| it.removed.get() == 1));
    }

    #[test]
    fn small_heaps_drop_only_the_top() {
        let mut h = TimerHeap::new();
        let items: Vec<T> = (0..10).map(t).collect();
        for it in &items {
            h.push(it.id as f64, it.clone());
        }
        for it in &items[1..9] {
            it.cancelled.set(true);
            h.note_cancelled();
        }
        h.prune();
        assert_eq!(h.len(), 10, "top entry is live, nothing dropped");
        items[0].cancelled.set(true);
        h.note_cancelled();
        h.prune();
        assert_eq!(h.len(), 1);
        assert_eq!(h.next_when(), Some(9.0));
    }

    #[test]
    fn clear_returns_everything() {
        let mut h = TimerHeap::new();
        for i in 0..5 {
            h.push(i as f64, t(i));
        }
        assert_eq!(h.clear().len(), 5);
        assert!(h.is_empty());
    }
}
