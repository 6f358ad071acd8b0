//! A socket's fd and blocking mode, read without calling its methods.
//!
//! Every `sock_*` call needs the socket's fd and must refuse a blocking
//! socket. Calling `fileno()` and `gettimeout()` costs two method lookups
//! and calls per operation, a third of a `sock_recv` that completes at once.
//! A `_socket.socket` is a C `PySocketSockObject`: after the object header
//! come `sock_fd` (an int), family, type and proto (ints), the error handler
//! (a pointer), then `sock_timeout` (nanoseconds: 0 non-blocking, -1
//! blocking). The socket module's own methods read these same fields.
//!
//! # Implementation notes
//! The layout has been stable since Python 3.7 but is not public API, so
//! [`layout`] first checks it on a real socket against `fileno()` and
//! `gettimeout()` in every mode; if anything disagrees (another build or
//! version), [`fields`] returns `None` and callers use the methods.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;
use std::mem::{align_of, size_of};
use std::os::fd::RawFd;

pub(crate) struct Fields {
    pub fd: RawFd,
    pub nonblocking: bool,
}

struct Layout {
    /// `_socket.socket`: every object of a subtype has the C layout.
    base: Py<PyType>,
    /// `socket.socket`: objects of exactly this type are not SSL sockets.
    plain: Py<PyType>,
    fd_at: usize,
    timeout_at: usize,
}

/// Byte offsets of `sock_fd` and `sock_timeout` in `PySocketSockObject`.
fn offsets() -> (usize, usize) {
    let fd_at = size_of::<ffi::PyObject>();
    // sock_fd, sock_family, sock_type, sock_proto: four C ints.
    let after_ints = fd_at + 4 * size_of::<libc::c_int>();
    let ptr = align_of::<*const ()>();
    let handler_at = after_ints.div_ceil(ptr) * ptr;
    (fd_at, handler_at + size_of::<*const ()>())
}

impl Layout {
    /// # Safety
    /// `obj`'s type must be `_socket.socket` or a subtype.
    unsafe fn read(&self, obj: *mut ffi::PyObject) -> Fields {
        let base = obj as *const u8;
        // SAFETY: per the caller, `obj` is a PySocketSockObject, whose
        // fields sit at the offsets `probe` verified; reads are unaligned-safe.
        unsafe {
            let fd = std::ptr::read_unaligned(base.add(self.fd_at) as *const libc::c_int);
            let timeout = std::ptr::read_unaligned(base.add(self.timeout_at) as *const i64);
            Fields {
                fd,
                nonblocking: timeout == 0,
            }
        }
    }
}

/// Checks the layout on a real socket in each blocking mode.
fn probe(py: Python<'_>) -> PyResult<Option<Layout>> {
    let base = py
        .import("_socket")?
        .getattr("socket")?
        .cast_into::<PyType>()?;
    let plain = py
        .import("socket")?
        .getattr("socket")?
        .cast_into::<PyType>()?;
    let (fd_at, timeout_at) = offsets();
    // SAFETY: reading the basic size of a live type object.
    let basicsize = unsafe { (*base.as_type_ptr()).tp_basicsize } as usize;
    if basicsize < timeout_at + size_of::<i64>() {
        return Ok(None);
    }
    let layout = Layout {
        base: base.unbind(),
        plain: plain.clone().unbind(),
        fd_at,
        timeout_at,
    };
    let sock = plain.call1((libc::AF_UNIX, libc::SOCK_STREAM))?;
    let agrees = (|| -> PyResult<bool> {
        for timeout in [Some(0.0), None, Some(2.5)] {
            sock.call_method1("settimeout", (timeout,))?;
            // SAFETY: `sock` is a socket.socket, a subtype of _socket.socket.
            let fields = unsafe { layout.read(sock.as_ptr()) };
            let fd: RawFd = sock.call_method0("fileno")?.extract()?;
            let expect_nonblocking =
                sock.call_method0("gettimeout")?.extract::<Option<f64>>()? == Some(0.0);
            if fields.fd != fd || fields.nonblocking != expect_nonblocking {
                return Ok(false);
            }
        }
        Ok(true)
    })();
    sock.call_method0("close")?;
    Ok(agrees?.then_some(layout))
}

fn layout(py: Python<'_>) -> Option<&Layout> {
    static LAYOUT: PyOnceLock<Option<Layout>> = PyOnceLock::new();
    LAYOUT.get_or_init(py, || probe(py).ok().flatten()).as_ref()
}

/// The fd and blocking mode of a `_socket.socket` (or subclass) object;
/// `None` for any other object, or if the layout check failed.
pub(crate) fn fields(sock: &Bound<'_, PyAny>) -> Option<Fields> {
    let layout = layout(sock.py())?;
    // SAFETY: a type check on live objects.
    let is_socket =
        unsafe { ffi::PyObject_TypeCheck(sock.as_ptr(), layout.base.as_ptr() as *mut _) } != 0;
    // SAFETY: the check above says the object has the C socket layout.
    is_socket.then(|| unsafe { layout.read(sock.as_ptr()) })
}

/// Whether `sock` is exactly a `socket.socket` (so certainly not an SSL socket).
pub(crate) fn is_plain_socket(sock: &Bound<'_, PyAny>) -> bool {
    layout(sock.py()).is_some_and(|l| sock.get_type().is(l.plain.bind(sock.py())))
}
