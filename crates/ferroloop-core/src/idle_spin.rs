//! Adaptive polling before the loop sleeps.
//!
//! Waking a thread blocked in `epoll_wait` costs tens of microseconds on a
//! virtual machine: the idle vCPU halts and the host must schedule it again.
//! A request/response server whose peers answer within that time spends more
//! time waking than working. So, when recent sleeps were short, the loop first
//! polls without blocking for a while, the way KVM's halt polling does:
//!
//! - a sleep ended by I/O within `max` grows the budget (doubling from `START`);
//! - a longer sleep, or one ended by its timeout, halves it (to zero below
//!   `START`), so an idle or lightly loaded loop does not spin at all;
//! - a spin that finds events keeps the budget as it is.

use std::time::Duration;

/// The first budget after a short sleep.
pub const START: Duration = Duration::from_micros(10);
/// The largest budget unless configured otherwise.
pub const DEFAULT_MAX: Duration = Duration::from_micros(50);

#[derive(Debug, Clone)]
pub struct IdleSpin {
    budget: Duration,
    max: Duration,
}

impl IdleSpin {
    /// `max` zero disables spinning.
    pub fn new(max: Duration) -> Self {
        IdleSpin {
            budget: Duration::ZERO,
            max,
        }
    }

    /// How long to poll before sleeping.
    pub fn budget(&self) -> Duration {
        self.budget
    }

    /// A sleep of `slept` ended; `by_event` is false when its timeout ended it.
    pub fn after_sleep(&mut self, slept: Duration, by_event: bool) {
        if self.max.is_zero() {
            return;
        }
        if by_event && slept <= self.max {
            self.budget = (self.budget * 2).clamp(START.min(self.max), self.max);
        } else {
            self.budget /= 2;
            if self.budget < START {
                self.budget = Duration::ZERO;
            }
        }
    }
}

impl Default for IdleSpin {
    fn default() -> Self {
        IdleSpin::new(DEFAULT_MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const US: Duration = Duration::from_micros(1);

    #[test]
    fn starts_without_spinning() {
        assert_eq!(IdleSpin::default().budget(), Duration::ZERO);
    }

    #[test]
    fn short_sleeps_grow_the_budget_up_to_max() {
        let mut s = IdleSpin::default();
        s.after_sleep(20 * US, true);
        assert_eq!(s.budget(), START);
        s.after_sleep(20 * US, true);
        assert_eq!(s.budget(), 2 * START);
        for _ in 0..10 {
            s.after_sleep(5 * US, true);
        }
        assert_eq!(s.budget(), DEFAULT_MAX);
    }

    #[test]
    fn long_sleeps_and_timeouts_shrink_it_to_zero() {
        let mut s = IdleSpin::default();
        for _ in 0..10 {
            s.after_sleep(US, true);
        }
        s.after_sleep(Duration::from_millis(3), true);
        assert_eq!(s.budget(), DEFAULT_MAX / 2);
        s.after_sleep(US, false);
        assert_eq!(s.budget(), DEFAULT_MAX / 4);
        s.after_sleep(US, false);
        assert_eq!(s.budget(), Duration::ZERO);
        s.after_sleep(Duration::from_secs(1), true);
        assert_eq!(s.budget(), Duration::ZERO);
    }

    #[test]
    fn zero_max_never_spins() {
        let mut s = IdleSpin::new(Duration::ZERO);
        for _ in 0..10 {
            s.after_sleep(US, true);
        }
        assert_eq!(s.budget(), Duration::ZERO);
    }

    #[test]
    fn a_max_below_start_caps_the_first_budget() {
        let mut s = IdleSpin::new(4 * US);
        s.after_sleep(US, true);
        assert_eq!(s.budget(), 4 * US);
    }
}
