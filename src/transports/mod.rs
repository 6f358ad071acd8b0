//! Socket transports, servers and datagram endpoints: asyncio's
//! `selector_events.py` transports, native.
//!
//! - [`stream`]: `StreamTransport`, TCP and Unix stream sockets
//!   (`_SelectorSocketTransport`).
//! - [`server`]: `Listener`, the accept loop behind `Server`
//!   (`_start_serving`/`_accept_connection`).
//! - [`datagram`]: `DatagramTransport`, UDP and Unix datagram sockets
//!   (`_SelectorDatagramTransport`).
//!
//! A native class cannot subclass `asyncio.Transport` (its `__slots__` lay-out
//! conflicts), so each native transport has a thin Python twin in
//! `ferroloop._transports` that is an `asyncio.Transport`; the twin's
//! instances hold the native bound methods in slots, so `transport.write(data)`
//! calls Rust with no Python frame. The native object keeps the twin to hand it
//! to the protocol, and drops it once `connection_lost` has run.
//!
//! Every transport fd is entered in the loop's [`Registry`] while the transport
//! is open, so `add_reader`/`remove_writer` and friends refuse it like
//! asyncio's `_ensure_fd_no_transport`.

pub mod datagram;
pub mod server;
pub mod stream;

use crate::event_loop::LoopCore;
use pyo3::call::PyCallArgs;
use pyo3::exceptions::{PyKeyboardInterrupt, PyOSError, PyRuntimeError, PySystemExit};
use pyo3::ffi;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyDict, PyString, PyWeakrefReference};
use std::collections::HashMap;
use std::os::fd::RawFd;

/// asyncio's `constants.LOG_THRESHOLD_FOR_CONNLOST_WRITES`: writes to a lost
/// connection are counted, and logged from this many on.
pub const LOG_THRESHOLD_FOR_CONNLOST_WRITES: u32 = 5;

/// asyncio's `max_size`: the most one read takes from a socket.
pub const MAX_READ: usize = 256 * 1024;

thread_local! {
    /// Where `recv` lands before the bytes object is made. One per thread;
    /// the GIL serialises its users.
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` on a scratch buffer of `len` bytes (a fresh one if the shared
/// one is busy, which only re-entrant code could cause).
pub(crate) fn with_scratch<R>(len: usize, f: impl FnOnce(&mut [u8]) -> R) -> R {
    SCRATCH.with(|cell| match cell.try_borrow_mut() {
        Ok(mut buf) => {
            if buf.len() < len {
                buf.resize(len, 0);
            }
            f(&mut buf[..len])
        }
        Err(_) => f(&mut vec![0; len]),
    })
}

/// Python objects the transports use, imported once.
pub struct NetSupport {
    pub transport_socket: Py<PyAny>,
    pub socket_type: Py<PyAny>,
    pub logger: Py<PyAny>,
    pub set_result_unless_cancelled: Py<PyAny>,
    pub buffered_protocol: Py<PyAny>,
    pub stream_twin: Py<PyAny>,
    pub datagram_twin: Py<PyAny>,
}

static NET_SUPPORT: PyOnceLock<NetSupport> = PyOnceLock::new();

pub fn net_support(py: Python<'_>) -> PyResult<&NetSupport> {
    NET_SUPPORT.get_or_try_init(py, || {
        let get = |module: &str, name: &str| -> PyResult<Py<PyAny>> {
            Ok(py.import(module)?.getattr(name)?.unbind())
        };
        Ok(NetSupport {
            transport_socket: get("asyncio.trsock", "TransportSocket")?,
            socket_type: get("socket", "socket")?,
            // Looked up per use, like asyncio's `selector_events.logger`.
            logger: get("ferroloop._support", "transport_logger")?,
            set_result_unless_cancelled: get("asyncio.futures", "_set_result_unless_cancelled")?,
            buffered_protocol: get("asyncio", "BufferedProtocol")?,
            stream_twin: get("ferroloop._transports", "_SocketTransport")?,
            datagram_twin: get("ferroloop._transports", "_DatagramTransport")?,
        })
    })
}

/// The transports open on a loop, by fd, held weakly like asyncio's
/// `loop._transports`.
#[derive(Default)]
pub struct Registry {
    by_fd: HashMap<RawFd, Py<PyWeakrefReference>>,
}

impl Registry {
    pub fn clear(&mut self) -> HashMap<RawFd, Py<PyWeakrefReference>> {
        std::mem::take(&mut self.by_fd)
    }
}

/// Enters an open transport's fd in its loop's registry.
pub(crate) fn register(
    lp: &Bound<'_, LoopCore>,
    fd: RawFd,
    transport: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let weak = PyWeakrefReference::new(transport)?.unbind();
    let old = lp
        .get()
        .transports
        .borrow_mut(lp.py())
        .by_fd
        .insert(fd, weak);
    drop(old);
    Ok(())
}

/// Removes `fd` from the registry if `transport` holds it.
pub(crate) fn unregister(lp: &Bound<'_, LoopCore>, fd: RawFd, transport: &Bound<'_, PyAny>) {
    let py = lp.py();
    let mut reg = lp.get().transports.borrow_mut(py);
    let ours = reg
        .by_fd
        .get(&fd)
        .is_some_and(|w| w.bind(py).upgrade().map_or(true, |t| t.is(transport)));
    let old = if ours { reg.by_fd.remove(&fd) } else { None };
    drop(reg);
    drop(old);
}

/// asyncio's `_ensure_fd_no_transport`: `RuntimeError` when an open transport
/// uses `fd`. `fd_obj` is what the caller passed, for the message.
pub(crate) fn ensure_fd_no_transport(
    lp: &Bound<'_, LoopCore>,
    fd: RawFd,
    fd_obj: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let py = lp.py();
    let transport = {
        let reg = lp.get().transports.borrow(py);
        match reg.by_fd.get(&fd) {
            None => return Ok(()),
            Some(w) => w.bind(py).upgrade(),
        }
    };
    let Some(transport) = transport else {
        return Ok(());
    };
    if transport
        .call_method0(intern!(py, "is_closing"))?
        .is_truthy()?
    {
        return Ok(());
    }
    Err(PyRuntimeError::new_err(format!(
        "File descriptor {} is used by transport {}",
        fd_obj.repr()?,
        transport.repr()?
    )))
}

/// `KeyboardInterrupt` and `SystemExit` pass through every handler, as in
/// asyncio's `except (SystemExit, KeyboardInterrupt): raise`.
pub(crate) fn is_exit(py: Python<'_>, err: &PyErr) -> bool {
    err.is_instance_of::<PyKeyboardInterrupt>(py) || err.is_instance_of::<PySystemExit>(py)
}

pub(crate) fn call_soon<'py>(
    lp: &Bound<'py, LoopCore>,
    args: impl PyCallArgs<'py>,
) -> PyResult<()> {
    lp.as_any()
        .call_method1(intern!(lp.py(), "call_soon"), args)?;
    Ok(())
}

/// `loop.call_exception_handler({...})` with asyncio's transport keys.
pub(crate) fn report(
    lp: &Bound<'_, LoopCore>,
    message: &str,
    exc: &Bound<'_, PyAny>,
    transport: Option<&Bound<'_, PyAny>>,
    protocol: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = lp.py();
    let ctx = PyDict::new(py);
    ctx.set_item(intern!(py, "message"), message)?;
    ctx.set_item(intern!(py, "exception"), exc)?;
    if let Some(t) = transport {
        ctx.set_item(intern!(py, "transport"), t)?;
    }
    if let Some(p) = protocol {
        ctx.set_item(intern!(py, "protocol"), p)?;
    }
    lp.as_any()
        .call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
    Ok(())
}

/// `EAGAIN`/`EINTR`: nothing done, try again when the fd is ready.
pub(crate) fn would_block(e: &std::io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EAGAIN) | Some(libc::EINTR))
}

/// The reporting half of asyncio's `_SelectorTransport._fatal_error`: an
/// `OSError` is only logged, in debug mode; anything else goes to the
/// exception handler. The caller then force-closes the transport.
pub(crate) fn report_fatal(
    lp: &Bound<'_, LoopCore>,
    message: &str,
    exc: &Bound<'_, PyAny>,
    transport: &Bound<'_, PyAny>,
    protocol: Option<&Bound<'_, PyAny>>,
) -> PyResult<()> {
    let py = lp.py();
    if exc.is_instance_of::<PyOSError>() {
        if lp.get().debug() {
            log(py, "debug", ("%r: %s", transport, message), Some(exc))?;
        }
        Ok(())
    } else {
        report(lp, message, exc, Some(transport), protocol)
    }
}

/// asyncio's `_FlowControlMixin`: `protocol.pause_writing()` (`pause`) or
/// `protocol.resume_writing()`, once the transport has decided to call it. A
/// failure goes to the exception handler, except `SystemExit` and
/// `KeyboardInterrupt`.
pub(crate) fn notify_flow(
    lp: &Bound<'_, LoopCore>,
    transport: &Bound<'_, PyAny>,
    protocol: &Bound<'_, PyAny>,
    pause: bool,
) -> PyResult<()> {
    let py = lp.py();
    let (method, message) = if pause {
        (
            intern!(py, "pause_writing"),
            "protocol.pause_writing() failed",
        )
    } else {
        (
            intern!(py, "resume_writing"),
            "protocol.resume_writing() failed",
        )
    };
    if let Err(e) = protocol.call_method0(method) {
        if is_exit(py, &e) {
            return Err(e);
        }
        let exc = e.into_value(py).into_bound(py).into_any();
        report(lp, message, &exc, Some(transport), Some(protocol))?;
    }
    Ok(())
}

/// `get_extra_info(name, default)` for every key but `socket`: the entry of
/// asyncio's `_extra`, else `default`.
pub(crate) fn extra_item(
    py: Python<'_>,
    extra: Option<Py<PyDict>>,
    name: &Bound<'_, PyAny>,
    default: Option<Py<PyAny>>,
) -> PyResult<Py<PyAny>> {
    if let Some(extra) = extra {
        if let Some(v) = extra.bind(py).get_item(name)? {
            return Ok(v.unbind());
        }
    }
    Ok(default.unwrap_or_else(|| py.None()))
}

/// `logger.<level>(msg, *args)` on the "asyncio" logger.
pub(crate) fn log<'py>(
    py: Python<'py>,
    level: &str,
    args: impl PyCallArgs<'py>,
    exc_info: Option<&Bound<'py, PyAny>>,
) -> PyResult<()> {
    let logger = net_support(py)?.logger.bind(py);
    let kwargs = match exc_info {
        Some(e) => {
            let kw = PyDict::new(py);
            kw.set_item(intern!(py, "exc_info"), e)?;
            Some(kw)
        }
        None => None,
    };
    logger.call_method(level, args, kwargs.as_ref())?;
    Ok(())
}

/// A Python buffer held for the duration of a system call.
pub(crate) struct RawBuffer {
    view: ffi::Py_buffer,
}

impl RawBuffer {
    /// A contiguous view of `obj`, writable if asked.
    pub fn get(obj: &Bound<'_, PyAny>, writable: bool) -> PyResult<RawBuffer> {
        let flags = if writable {
            ffi::PyBUF_WRITABLE
        } else {
            ffi::PyBUF_SIMPLE
        };
        // SAFETY: a zeroed Py_buffer is what PyObject_GetBuffer expects to fill.
        let mut view: ffi::Py_buffer = unsafe { std::mem::zeroed() };
        // SAFETY: `obj` is a live object and `view` is ours to fill.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut view, flags) } < 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        Ok(RawBuffer { view })
    }

    pub fn len(&self) -> usize {
        self.view.len as usize
    }

    pub fn as_slice(&self) -> &[u8] {
        if self.view.len == 0 {
            return &[];
        }
        // SAFETY: a PyBUF_SIMPLE/WRITABLE view is `len` contiguous bytes at `buf`,
        // valid until released.
        unsafe { std::slice::from_raw_parts(self.view.buf as *const u8, self.len()) }
    }

    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.view.buf as *mut u8
    }
}

impl Drop for RawBuffer {
    fn drop(&mut self) {
        // SAFETY: the view was filled by PyObject_GetBuffer and is released once;
        // a RawBuffer only exists while the GIL is held.
        unsafe { ffi::PyBuffer_Release(&mut self.view) };
    }
}

/// Closes a `socket.socket` from a destructor. The collector may already have
/// cleared the object's Python-level slots (`socket.close` reads `_io_refs`),
/// so the C method of `_socket.socket` is called directly.
pub(crate) fn close_socket_in_drop(py: Python<'_>, sock: &Bound<'_, PyAny>) {
    let res = py
        .import("_socket")
        .and_then(|m| m.getattr("socket"))
        .and_then(|cls| cls.getattr("close"))
        .and_then(|close| close.call1((sock,)));
    if let Err(e) = res {
        e.write_unraisable(py, None);
    }
}

/// The `asyncio.Transport` twin of `native`: an instance of the twin class
/// `cls`, made without running `__init__`, holding `native` in `_t` and, in
/// slots, the native bound methods that `cls._native_methods` names. Those
/// are the calls that run per message, bound once per transport so that
/// `transport.write(data)` is a slot read and a native call.
pub(crate) fn make_twin<'py>(
    cls: &Bound<'py, PyAny>,
    native: &Bound<'py, PyAny>,
) -> PyResult<Bound<'py, PyAny>> {
    let py = cls.py();
    let tp = cls.as_ptr() as *mut ffi::PyTypeObject;
    // SAFETY: `cls` is a Python class (a heap type, which allocates with
    // PyType_GenericAlloc); the call returns a new, zero-filled, GC-tracked
    // instance or NULL with an exception set.
    let twin = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyType_GenericAlloc(tp, 0))? };
    twin.setattr(intern!(py, "_t"), native)?;
    for name in cls.getattr(intern!(py, "_native_methods"))?.try_iter()? {
        let name = name?.cast_into::<PyString>()?;
        twin.setattr(&name, native.getattr(&name)?)?;
    }
    Ok(twin)
}
