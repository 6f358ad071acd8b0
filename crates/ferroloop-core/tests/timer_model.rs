//! The timer heap against a naive model: random schedules, cancellations and
//! pops must give the same firing order as sorting by (when, insertion).

use ferroloop_core::{TimerEntry, TimerHeap};
use proptest::prelude::*;
use std::cell::Cell;
use std::rc::Rc;

#[derive(Clone)]
struct Entry {
    id: usize,
    cancelled: Rc<Cell<bool>>,
}

impl TimerEntry for Entry {
    fn is_cancelled(&self) -> bool {
        self.cancelled.get()
    }
}

#[derive(Debug, Clone)]
enum Op {
    /// Schedule at a coarse time, so equal times are common.
    Push(u8),
    /// Cancel the n-th scheduled timer (modulo how many exist).
    Cancel(usize),
    /// Advance the clock and pop what is due.
    Pop(u8),
    Prune,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => (0u8..20).prop_map(Op::Push),
        3 => any::<usize>().prop_map(Op::Cancel),
        2 => (0u8..5).prop_map(Op::Pop),
        1 => Just(Op::Prune),
    ]
}

proptest! {
    #[test]
    fn fires_like_a_sorted_list(ops in proptest::collection::vec(op(), 1..400)) {
        let mut heap = TimerHeap::new();
        // The model: every scheduled timer with its due time and state.
        let mut all: Vec<(f64, Entry, bool)> = Vec::new(); // (when, entry, fired)
        let mut now = 0.0f64;
        for op in ops {
            match op {
                Op::Push(dt) => {
                    let when = now + f64::from(dt);
                    let e = Entry { id: all.len(), cancelled: Rc::new(Cell::new(false)) };
                    heap.push(when, e.clone());
                    all.push((when, e, false));
                }
                Op::Cancel(n) if !all.is_empty() => {
                    let (_, e, fired) = &all[n % all.len()];
                    if !*fired && !e.cancelled.get() {
                        e.cancelled.set(true);
                        heap.note_cancelled();
                    }
                }
                Op::Cancel(_) => {}
                Op::Pop(dt) => {
                    now += f64::from(dt);
                    let mut got = Vec::new();
                    heap.pop_due(now + 0.5, |e| got.push(e.id));
                    // Expected: live, unfired timers due before the deadline, by (when, id).
                    let mut want: Vec<(f64, usize)> = all
                        .iter()
                        .filter(|(w, e, fired)| !fired && !e.cancelled.get() && *w < now + 0.5)
                        .map(|(w, e, _)| (*w, e.id))
                        .collect();
                    want.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                    let want: Vec<usize> = want.into_iter().map(|(_, id)| id).collect();
                    prop_assert_eq!(&got, &want);
                    for id in got {
                        all[id].2 = true;
                    }
                }
                Op::Prune => {
                    heap.prune();
                    // After a prune a large heap is never mostly cancelled.
                    if heap.len() > ferroloop_core::timers::MIN_ENTRIES_FOR_COMPACTION {
                        prop_assert!(heap.cancelled_count() * 2 <= heap.len());
                    }
                }
            }
            let live = all.iter().filter(|(_, e, fired)| !fired && !e.cancelled.get()).count();
            prop_assert!(heap.len() >= live);
            prop_assert!(heap.cancelled_count() <= heap.len());
        }
    }
}
