//! The loop's clock.
//!
//! `loop.time()` must equal `time.monotonic()`: same clock, same epoch. CPython
//! reads `CLOCK_MONOTONIC` on Linux, so ferroloop reads it too.

/// Seconds on `CLOCK_MONOTONIC`, as a float like `time.monotonic()`.
pub fn monotonic() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid out-pointer; CLOCK_MONOTONIC always exists on Linux.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

/// The clock's resolution in seconds (`time.get_clock_info('monotonic').resolution`).
pub fn resolution() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: as above.
    unsafe { libc::clock_getres(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 + ts.tv_nsec as f64 * 1e-9
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn monotonic_advances() {
        let a = monotonic();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = monotonic();
        assert!(b - a >= 0.002, "{a} -> {b}");
        assert!(resolution() > 0.0 && resolution() < 0.001);
    }
}
