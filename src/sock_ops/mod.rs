//! `sock_*`: asyncio's low-level socket operations (`selector_events.py`).
//!
//! Each method checks its arguments when called and returns a
//! [`NativeCoro`]. Its first step tries the syscall on the socket's fd; only
//! `EWOULDBLOCK`/`EAGAIN` (or `EINTR` where asyncio waits on it) makes it
//! create a future and watch the fd with a [`SockWaiter`], which the loop
//! calls from Rust when the fd is ready, in FIFO order with other handles.
//! The future's done callback ([`SockDone`]) unwatches the fd when the future
//! is cancelled, so an abandoned operation leaves nothing registered.
//!
//! Data paths (`recv`, `recv_into`, `sendall`, `recvfrom` on IP and Unix
//! sockets) call libc directly. Operations whose result is a Python object
//! best built by the socket itself (`accept`, `connect`, `sendto`) call the
//! socket's own non-blocking method once per attempt, as asyncio does.
//!
//! asyncio refuses a blocking socket only in debug mode (and otherwise
//! freezes the loop); ferroloop always refuses it, when the method is called.

mod buffer;
pub(crate) mod coro;
mod socket_object;

use crate::errors::os_error;
use crate::event_loop::LoopCore;
use crate::fd_table::Side;
use crate::fresh_bytes::FreshBytes;
use crate::gil_cell::GilCell;
use crate::sockaddr::{self, SockAddr};
use buffer::Buffer;
use coro::{NativeCoro, Start, Started};
use pyo3::exceptions::{
    PyBlockingIOError, PyInterruptedError, PyKeyboardInterrupt, PyOSError, PySystemExit,
    PyTypeError, PyValueError,
};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyTuple, PyType};
use pyo3::IntoPyObjectExt;
use pyo3::PyTraverseError;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// The result of one try of an operation.
enum Outcome {
    Done(PyResult<Py<PyAny>>),
    /// Would block: wait for readiness and try again.
    Again,
}

/// One syscall, retried on `EINTR` after running signal handlers (as the
/// socket module does); `EAGAIN` is [`Io::Again`].
enum Io {
    Ok(usize),
    Again,
    Err(PyErr),
}

fn sys_io(py: Python<'_>, mut call: impl FnMut() -> isize) -> Io {
    loop {
        let res = call();
        if res >= 0 {
            return Io::Ok(res as usize);
        }
        let err = io::Error::last_os_error();
        match err.raw_os_error() {
            Some(e) if e == libc::EAGAIN || e == libc::EWOULDBLOCK => return Io::Again,
            Some(libc::EINTR) => {
                // SAFETY: the GIL is held.
                if unsafe { ffi::PyErr_CheckSignals() } < 0 {
                    return Io::Err(PyErr::fetch(py));
                }
            }
            _ => return Io::Err(os_error(err)),
        }
    }
}

/// The outcome of calling one of the socket's own non-blocking methods.
fn py_outcome(py: Python<'_>, res: PyResult<Bound<'_, PyAny>>) -> Outcome {
    match res {
        Ok(v) => Outcome::Done(Ok(v.unbind())),
        Err(e)
            if e.is_instance_of::<PyBlockingIOError>(py)
                || e.is_instance_of::<PyInterruptedError>(py) =>
        {
            Outcome::Again
        }
        Err(e) => Outcome::Done(Err(e)),
    }
}

/// `recv(fd, n)` into a new bytes object, shrunk to what arrived.
fn recv_bytes(py: Python<'_>, fd: RawFd, n: usize, addr: Option<&mut SockAddr>) -> Outcome {
    let fresh = match FreshBytes::new(py, n) {
        Ok(f) => f,
        Err(e) => return Outcome::Done(Err(e)),
    };
    let buf = fresh.as_mut_ptr();
    let got = match addr {
        // The socket module reads nothing (no syscall) for a zero-byte recv.
        None if n == 0 => Io::Ok(0),
        None => sys_io(py, || {
            // SAFETY: `buf` has room for `n` bytes.
            unsafe { libc::recv(fd, buf, n, 0) }
        }),
        Some(addr) => sys_io(py, || {
            addr.len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: `buf` has room for `n` bytes; `addr` for any address.
            unsafe {
                libc::recvfrom(
                    fd,
                    buf,
                    n,
                    0,
                    &mut addr.storage as *mut _ as *mut libc::sockaddr,
                    &mut addr.len,
                )
            }
        }),
    };
    match got {
        Io::Ok(got) => Outcome::Done(fresh.finish(got).map(|b| b.into_any().unbind())),
        Io::Again => Outcome::Again,
        Io::Err(e) => Outcome::Done(Err(e)),
    }
}

/// `recv`/`recvfrom` into a caller's writable buffer, at most `n` bytes.
fn recv_into(py: Python<'_>, fd: RawFd, buf: &Buffer, n: usize, addr: Option<&mut SockAddr>) -> Io {
    let ptr = buf.as_ptr() as *mut libc::c_void;
    let n = n.min(buf.len());
    match addr {
        None if n == 0 => Io::Ok(0),
        None => sys_io(py, || {
            // SAFETY: the exported buffer is writable and holds at least `n` bytes.
            unsafe { libc::recv(fd, ptr, n, 0) }
        }),
        Some(addr) => sys_io(py, || {
            addr.len = std::mem::size_of::<libc::sockaddr_storage>() as libc::socklen_t;
            // SAFETY: as above; `addr` has room for any address.
            unsafe {
                libc::recvfrom(
                    fd,
                    ptr,
                    n,
                    0,
                    &mut addr.storage as *mut _ as *mut libc::sockaddr,
                    &mut addr.len,
                )
            }
        }),
    }
}

enum Kind {
    Recv {
        n: usize,
    },
    RecvInto {
        buf: Py<PyAny>,
    },
    RecvFrom {
        n: usize,
        native: bool,
    },
    RecvFromInto {
        buf: Py<PyAny>,
        n: usize,
        native: bool,
    },
    SendAll {
        data: Buffer,
        pos: usize,
    },
    SendTo {
        data: Py<PyAny>,
        address: Py<PyAny>,
    },
    Accept,
    Connect {
        address: Py<PyAny>,
        /// `connect()` was called and is in progress: only `SO_ERROR` is left.
        started: bool,
    },
}

impl Kind {
    fn side(&self) -> Side {
        match self {
            Kind::Recv { .. }
            | Kind::RecvInto { .. }
            | Kind::RecvFrom { .. }
            | Kind::RecvFromInto { .. }
            | Kind::Accept => Side::Read,
            Kind::SendAll { .. } | Kind::SendTo { .. } | Kind::Connect { .. } => Side::Write,
        }
    }
}

/// One socket operation: what to do, on which socket, for which loop.
struct SockOp {
    loop_: Py<LoopCore>,
    sock: Py<PyAny>,
    fd: RawFd,
    kind: Kind,
}

impl SockOp {
    fn attempt(&mut self, py: Python<'_>) -> Outcome {
        let fd = self.fd;
        let sock = self.sock.bind(py);
        match &mut self.kind {
            Kind::Recv { n } => recv_bytes(py, fd, *n, None),
            Kind::RecvInto { buf } => {
                let view = match Buffer::writable(buf.bind(py), "recv_into") {
                    Ok(v) => v,
                    Err(e) => return Outcome::Done(Err(e)),
                };
                match recv_into(py, fd, &view, view.len(), None) {
                    Io::Ok(got) => Outcome::Done(got.into_py_any(py)),
                    Io::Again => Outcome::Again,
                    Io::Err(e) => Outcome::Done(Err(e)),
                }
            }
            Kind::RecvFrom { n, native: true } => {
                let mut addr = SockAddr::empty();
                match recv_bytes(py, fd, *n, Some(&mut addr)) {
                    Outcome::Done(Ok(data)) => Outcome::Done(
                        sockaddr::to_python(py, &addr)
                            .map(Bound::unbind)
                            .and_then(|a| Ok(PyTuple::new(py, [data, a])?.into_any().unbind())),
                    ),
                    other => other,
                }
            }
            Kind::RecvFrom { n, native: false } => {
                py_outcome(py, sock.call_method1(intern!(py, "recvfrom"), (*n,)))
            }
            Kind::RecvFromInto {
                buf,
                n,
                native: true,
            } => {
                let view = match Buffer::writable(buf.bind(py), "recvfrom_into") {
                    Ok(v) => v,
                    Err(e) => return Outcome::Done(Err(e)),
                };
                let mut addr = SockAddr::empty();
                let want = if *n == 0 { view.len() } else { *n };
                match recv_into(py, fd, &view, want, Some(&mut addr)) {
                    Io::Ok(got) => Outcome::Done(
                        sockaddr::to_python(py, &addr)
                            .map(Bound::unbind)
                            .and_then(|a| Ok((got, a).into_pyobject(py)?.into_any().unbind())),
                    ),
                    Io::Again => Outcome::Again,
                    Io::Err(e) => Outcome::Done(Err(e)),
                }
            }
            Kind::RecvFromInto {
                buf,
                n,
                native: false,
            } => py_outcome(
                py,
                sock.call_method1(intern!(py, "recvfrom_into"), (buf.bind(py), *n)),
            ),
            Kind::SendAll { data, pos } => {
                let rest = data.len() - *pos;
                // SAFETY: `*pos <= data.len()`, so the pointer stays inside the export.
                let ptr = unsafe { data.as_ptr().add(*pos) } as *const libc::c_void;
                match sys_io(py, || {
                    // SAFETY: `ptr` points to `rest` readable bytes. MSG_NOSIGNAL:
                    // a closed peer is EPIPE, never a SIGPIPE.
                    unsafe { libc::send(fd, ptr, rest, libc::MSG_NOSIGNAL) }
                }) {
                    Io::Ok(sent) => {
                        *pos += sent;
                        if *pos == data.len() {
                            Outcome::Done(Ok(py.None()))
                        } else {
                            Outcome::Again
                        }
                    }
                    Io::Again => Outcome::Again,
                    Io::Err(e) => Outcome::Done(Err(e)),
                }
            }
            Kind::SendTo { data, address } => py_outcome(
                py,
                sock.call_method1(intern!(py, "sendto"), (data.bind(py), address.bind(py))),
            ),
            Kind::Accept => {
                let res = sock.call_method0(intern!(py, "accept")).and_then(|pair| {
                    let conn = pair.get_item(0)?;
                    conn.call_method1(intern!(py, "setblocking"), (false,))?;
                    Ok(pair)
                });
                py_outcome(py, res)
            }
            Kind::Connect { address, started } => {
                if !*started {
                    let res = sock.call_method1(intern!(py, "connect"), (address.bind(py),));
                    let out = py_outcome(py, res.map(|_| py.None().into_bound(py)));
                    *started = matches!(out, Outcome::Again);
                    return out;
                }
                connect_result(py, fd, address.bind(py))
            }
        }
    }

    /// Would block: create the future, watch the fd, await the future.
    fn wait(self, py: Python<'_>) -> PyResult<Started> {
        let lp = self.loop_.clone_ref(py).into_bound(py);
        let fut = lp
            .as_any()
            .call_method0(intern!(py, "create_future"))?
            .unbind();
        let (fd, side) = (self.fd, self.kind.side());
        // asyncio refuses to wait on an fd a live transport owns.
        crate::transports::ensure_fd_no_transport(&lp, fd, fd.into_pyobject(py)?.as_any())?;
        let installed = Arc::new(AtomicBool::new(true));
        let done = Py::new(
            py,
            SockDone {
                loop_: lp.clone().unbind(),
                fd,
                side,
                installed: installed.clone(),
            },
        )?;
        let waiter = Py::new(
            py,
            SockWaiter {
                op: GilCell::new(Some(self)),
                fut: fut.clone_ref(py),
                done: done.clone_ref(py),
                installed,
            },
        )?;
        LoopCore::watch(&lp, fd, side, waiter.bind(py).as_any())?;
        fut.call_method1(py, intern!(py, "add_done_callback"), (done,))?;
        Ok(Started::Await(fut))
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        visit.call(&self.sock)?;
        match &self.kind {
            Kind::RecvInto { buf } | Kind::RecvFromInto { buf, .. } => visit.call(buf),
            Kind::SendTo { data, address } => {
                visit.call(data)?;
                visit.call(address)
            }
            Kind::Connect { address, .. } => visit.call(address),
            _ => Ok(()),
        }
    }
}

/// After `connect()` is in progress and the fd is writable: did it succeed?
fn connect_result(py: Python<'_>, fd: RawFd, address: &Bound<'_, PyAny>) -> Outcome {
    let mut err: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `err` and `len` are valid for writes of an int and its length.
    let res = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_ERROR,
            &mut err as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    if res < 0 {
        return Outcome::Done(Err(os_error(io::Error::last_os_error())));
    }
    match err {
        0 => Outcome::Done(Ok(py.None())),
        // What asyncio's `except (BlockingIOError, InterruptedError)` catches:
        // the connection is still in progress.
        libc::EAGAIN | libc::EALREADY | libc::EINPROGRESS | libc::EINTR => Outcome::Again,
        err => {
            let text = address.str().map(|s| s.to_string()).unwrap_or_default();
            Outcome::Done(Err(PyOSError::new_err((
                err,
                format!("Connect call failed {text}"),
            ))))
        }
    }
}

impl Start for SockOp {
    fn start(mut self: Box<Self>, py: Python<'_>) -> PyResult<Started> {
        match self.attempt(py) {
            Outcome::Done(res) => res.map(Started::Return),
            Outcome::Again => (*self).wait(py),
        }
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        SockOp::traverse(self, visit)
    }
}

/// Called by the loop when the fd is ready: tries the operation again.
#[pyclass(frozen, module = "ferroloop._ferroloop")]
struct SockWaiter {
    op: GilCell<Option<SockOp>>,
    fut: Py<PyAny>,
    /// The future's done callback, removed when the operation completes
    /// here: it would only find the fd unwatched already, at the cost of a
    /// scheduled callback per operation.
    done: Py<SockDone>,
    /// True while this waiter's handle is the fd's watcher. The handle owns
    /// the waiter, so dropping the waiter means the handle was cancelled or
    /// replaced (e.g. by `add_reader`): then [`SockDone`] must not remove
    /// whatever watches the fd now, as asyncio's `_sock_read_done` checks.
    installed: Arc<AtomicBool>,
}

impl Drop for SockWaiter {
    fn drop(&mut self) {
        self.installed.store(false, Ordering::Relaxed);
    }
}

#[pymethods]
impl SockWaiter {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let fut = self.fut.bind(py);
        if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
            // Cancelled: the done callback unwatches the fd.
            return Ok(());
        }
        let Some(mut op) = self.op.replace(py, None) else {
            return Ok(());
        };
        let res = match op.attempt(py) {
            Outcome::Again => {
                self.op.replace(py, Some(op));
                return Ok(());
            }
            Outcome::Done(Err(e))
                if e.is_instance_of::<PyKeyboardInterrupt>(py)
                    || e.is_instance_of::<PySystemExit>(py) =>
            {
                // Propagates out of the loop like asyncio's; the operation stays armed.
                self.op.replace(py, Some(op));
                return Err(e);
            }
            Outcome::Done(res) => res,
        };
        self.installed.store(false, Ordering::Relaxed);
        LoopCore::unwatch(op.loop_.bind(py), op.fd, op.kind.side())?;
        drop(op);
        fut.call_method1(intern!(py, "remove_done_callback"), (&self.done,))?;
        match res {
            Ok(v) => fut.call_method1(intern!(py, "set_result"), (v,))?,
            Err(e) => fut.call_method1(intern!(py, "set_exception"), (e.into_value(py),))?,
        };
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.fut)?;
        visit.call(&self.done)?;
        if let Some(op) = self.op.try_borrow_for_gc() {
            if let Some(op) = op.as_ref() {
                op.traverse(&visit)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let taken = self.op.try_borrow_mut_for_gc().and_then(|mut o| o.take());
        drop(taken);
    }
}

/// The future's done callback: unwatches the fd if the operation's waiter
/// still watches it (the future was cancelled while waiting).
#[pyclass(frozen, module = "ferroloop._ferroloop")]
struct SockDone {
    loop_: Py<LoopCore>,
    fd: RawFd,
    side: Side,
    installed: Arc<AtomicBool>,
}

#[pymethods]
impl SockDone {
    fn __call__(&self, py: Python<'_>, _fut: &Bound<'_, PyAny>) -> PyResult<()> {
        if self.installed.swap(false, Ordering::Relaxed) {
            LoopCore::unwatch(self.loop_.bind(py), self.fd, self.side)?;
        }
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)
    }
}

/// `ssl.SSLSocket`, once the program has imported `ssl` (before that no
/// socket can be one).
fn ssl_socket_type(py: Python<'_>) -> PyResult<Option<&Bound<'_, PyType>>> {
    static SSL_SOCKET: PyOnceLock<Py<PyType>> = PyOnceLock::new();
    static MODULES: PyOnceLock<Py<PyDict>> = PyOnceLock::new();
    if let Some(t) = SSL_SOCKET.get(py) {
        return Ok(Some(t.bind(py)));
    }
    let modules = MODULES.get_or_try_init(py, || -> PyResult<_> {
        Ok(py
            .import("sys")?
            .getattr("modules")?
            .cast_into::<PyDict>()?
            .unbind())
    })?;
    let Some(ssl) = modules.bind(py).get_item(intern!(py, "ssl"))? else {
        return Ok(None);
    };
    let Ok(tp) = ssl.getattr(intern!(py, "SSLSocket")) else {
        return Ok(None);
    };
    let tp = tp.cast_into::<PyType>()?.unbind();
    Ok(Some(SSL_SOCKET.get_or_init(py, || tp).bind(py)))
}

/// asyncio's checks: not an SSL socket, and non-blocking (always, not only in
/// debug mode). Returns the socket's fd.
fn checked_fd(sock: &Bound<'_, PyAny>) -> PyResult<RawFd> {
    let py = sock.py();
    if !socket_object::is_plain_socket(sock) {
        if let Some(ssl) = ssl_socket_type(py)? {
            if sock.is_instance(ssl)? {
                return Err(PyTypeError::new_err("Socket cannot be of type SSLSocket"));
            }
        }
    }
    let blocking = || PyValueError::new_err("the socket must be non-blocking");
    if let Some(fields) = socket_object::fields(sock) {
        return if fields.nonblocking {
            Ok(fields.fd)
        } else {
            Err(blocking())
        };
    }
    let timeout = sock.call_method0(intern!(py, "gettimeout"))?;
    if timeout.is_none() || timeout.extract::<f64>()? != 0.0 {
        return Err(blocking());
    }
    sock.call_method0(intern!(py, "fileno"))?.extract()
}

/// A non-negative byte count, as the socket methods' `n` arguments.
fn byte_count(n: &Bound<'_, PyAny>, method: &str) -> PyResult<usize> {
    let n: isize = n.extract()?;
    usize::try_from(n)
        .map_err(|_| PyValueError::new_err(format!("negative buffersize in {method}")))
}

/// Whether `recvfrom` on `fd` can decode the sender natively.
fn native_addresses(fd: RawFd) -> bool {
    let mut domain: libc::c_int = 0;
    let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
    // SAFETY: `domain` and `len` are valid for writes of an int and its length.
    let res = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_DOMAIN,
            &mut domain as *mut libc::c_int as *mut libc::c_void,
            &mut len,
        )
    };
    res == 0 && sockaddr::is_native_family(domain)
}

fn op_coro(
    slf: &Bound<'_, LoopCore>,
    sock: &Bound<'_, PyAny>,
    fd: RawFd,
    name: &'static str,
    kind: Kind,
) -> PyResult<Py<NativeCoro>> {
    let op = SockOp {
        loop_: slf.clone().unbind(),
        sock: sock.clone().unbind(),
        fd,
        kind,
    };
    NativeCoro::new(slf.py(), name, Box::new(op))
}

#[pymethods]
impl LoopCore {
    fn sock_recv(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        n: &Bound<'_, PyAny>,
    ) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        let n = byte_count(n, "recv")?;
        op_coro(slf, sock, fd, "sock_recv", Kind::Recv { n })
    }

    fn sock_recv_into(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        buf: &Bound<'_, PyAny>,
    ) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        drop(Buffer::writable(buf, "recv_into")?);
        let kind = Kind::RecvInto {
            buf: buf.clone().unbind(),
        };
        op_coro(slf, sock, fd, "sock_recv_into", kind)
    }

    fn sock_recvfrom(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        bufsize: &Bound<'_, PyAny>,
    ) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        let n = byte_count(bufsize, "recvfrom")?;
        let native = native_addresses(fd);
        op_coro(slf, sock, fd, "sock_recvfrom", Kind::RecvFrom { n, native })
    }

    #[pyo3(signature = (sock, buf, nbytes=None))]
    fn sock_recvfrom_into(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        buf: &Bound<'_, PyAny>,
        nbytes: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        // asyncio: `if not nbytes: nbytes = len(buf)` (the default is 0).
        let nbytes = nbytes.filter(|n| n.is_truthy().unwrap_or(true));
        let n = if let Some(nbytes) = nbytes {
            byte_count(nbytes, "recvfrom_into")?
        } else {
            buf.len()?
        };
        let view = Buffer::writable(buf, "recvfrom_into")?;
        if n > view.len() {
            return Err(PyValueError::new_err(
                "nbytes is greater than the length of the buffer",
            ));
        }
        drop(view);
        let kind = Kind::RecvFromInto {
            buf: buf.clone().unbind(),
            n,
            native: native_addresses(fd),
        };
        op_coro(slf, sock, fd, "sock_recvfrom_into", kind)
    }

    fn sock_sendall(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
    ) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        let data = Buffer::readable(data)?;
        op_coro(
            slf,
            sock,
            fd,
            "sock_sendall",
            Kind::SendAll { data, pos: 0 },
        )
    }

    fn sock_sendto(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        data: &Bound<'_, PyAny>,
        address: &Bound<'_, PyAny>,
    ) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        let kind = Kind::SendTo {
            data: data.clone().unbind(),
            address: address.clone().unbind(),
        };
        op_coro(slf, sock, fd, "sock_sendto", kind)
    }

    fn sock_accept(slf: &Bound<'_, Self>, sock: &Bound<'_, PyAny>) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        op_coro(slf, sock, fd, "sock_accept", Kind::Accept)
    }

    /// `sock_connect` once the address is resolved (`ferroloop._sockets`
    /// resolves names first, through the loop's `getaddrinfo`).
    fn _sock_connect(
        slf: &Bound<'_, Self>,
        sock: &Bound<'_, PyAny>,
        address: &Bound<'_, PyAny>,
    ) -> PyResult<Py<NativeCoro>> {
        let fd = checked_fd(sock)?;
        let kind = Kind::Connect {
            address: address.clone().unbind(),
            started: false,
        };
        op_coro(slf, sock, fd, "sock_connect", kind)
    }

    /// asyncio's socket checks, for the Python half of `sock_connect`.
    fn _check_sock(&self, sock: &Bound<'_, PyAny>) -> PyResult<()> {
        checked_fd(sock).map(drop)
    }
}
