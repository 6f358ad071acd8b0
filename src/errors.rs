//! OS errors as Python sees them.
//!
//! PyO3's stock conversion of `io::Error` keeps only the message; asyncio code
//! and tests read `errno` and match on `OSError` subclasses, so ferroloop
//! builds `OSError(errno, strerror)`, which Python maps to the right subclass.

use pyo3::exceptions::PyOSError;
use pyo3::PyErr;
use std::io;

pub fn os_error(err: io::Error) -> PyErr {
    match err.raw_os_error() {
        Some(code) => {
            // SAFETY: strerror returns a pointer to a static or thread-local string.
            let msg = unsafe { std::ffi::CStr::from_ptr(libc::strerror(code)) }
                .to_string_lossy()
                .into_owned();
            PyOSError::new_err((code, msg))
        }
        None => PyOSError::new_err(err.to_string()),
    }
}
