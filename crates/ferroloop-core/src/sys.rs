//! Syscall helpers shared by the core's modules.

/// Calls a libc function and turns a `-1` result into the thread's `errno`
/// as an `io::Error`, read before anything else can overwrite it.
macro_rules! syscall {
    ($fn:ident ( $($arg:expr),* $(,)? )) => {{
        // SAFETY: callers pass arguments that satisfy the libc function's contract.
        let res = unsafe { libc::$fn($($arg),*) };
        if res == -1 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(res)
        }
    }};
}
