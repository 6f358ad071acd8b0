//! `StreamTransport`: a TCP or Unix stream socket, asyncio's
//! `_SelectorSocketTransport`.
//!
//! Reading: the loop's reader handle calls `_read_ready` (a native method), which
//! `recv`s into a scratch buffer and hands `bytes` to `protocol.data_received`
//! (after a large read, straight into a `bytes` of the size the kernel has
//! queued), or `recv_into`s a `BufferedProtocol`'s own buffer. Writing: `write()` sends
//! at once and queues what the socket did not take; the writer handle then
//! flushes the queue with one `sendmsg` per pass. `close()` stops reading,
//! flushes, then closes; `abort()` closes now. Every step follows
//! `selector_events.py`, including the order protocol callbacks run in.
//!
//! # Implementation notes
//! The socket's fd is owned by the transport until Python asks for the socket
//! object (`get_extra_info('socket')`); from then on the `socket.socket` owns it
//! and the transport closes it through that object, so the fd is closed
//! exactly once either way.

use super::{
    call_soon, close_socket_in_drop, ensure_fd_no_transport, extra_item, is_exit, log, make_twin,
    net_support, notify_flow, register, report_fatal, unregister, with_scratch, would_block,
    RawBuffer, LOG_THRESHOLD_FOR_CONNLOST_WRITES, MAX_READ,
};
use crate::errors::os_error;
use crate::event_loop::LoopCore;
use crate::fd_table::Side;
use crate::fresh_bytes::FreshBytes;
use crate::gil_cell::GilCell;
use crate::sockaddr;
use ferroloop_core::write_buffer::{water_marks, WriteBuffer};
use pyo3::exceptions::{
    PyConnectionError, PyResourceWarning, PyRuntimeError, PyTypeError, PyValueError,
};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView};
use pyo3::PyTraverseError;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

/// The tail of a `bytes` object queued by reference: no copy is made.
pub(crate) struct SharedBytes {
    _obj: Py<PyBytes>,
    ptr: *const u8,
    len: usize,
}

// SAFETY: `ptr` points into the immutable storage of `_obj`, which this value
// keeps alive; the bytes never change, so any thread may read them.
unsafe impl Send for SharedBytes {}

impl AsRef<[u8]> for SharedBytes {
    fn as_ref(&self) -> &[u8] {
        // SAFETY: see the `Send` impl: `len` bytes at `ptr` live as long as `self`.
        unsafe { std::slice::from_raw_parts(self.ptr, self.len) }
    }
}

impl SharedBytes {
    /// `data[start:]` of an exact `bytes`.
    fn tail(data: &Bound<'_, PyBytes>, start: usize) -> SharedBytes {
        let all = data.as_bytes();
        SharedBytes {
            _obj: data.clone().unbind(),
            ptr: all[start..].as_ptr(),
            len: all.len() - start,
        }
    }
}

/// Who closes the socket's fd.
pub(crate) enum Sock {
    /// The transport: no Python socket object was made.
    Raw,
    /// A `socket.socket`, made lazily or given by the caller.
    Py(Py<PyAny>),
    Closed,
}

struct State {
    protocol: Option<Py<PyAny>>,
    protocol_connected: bool,
    /// The protocol is a `BufferedProtocol`: read with `get_buffer`.
    buffered: bool,
    /// The `asyncio.Transport` twin handed to the protocol; dropped once
    /// `connection_lost` has run, which ends the twin <-> native cycle.
    twin: Option<Py<PyAny>>,
    sock: Sock,
    /// `TransportSocket(sock)`, made on first request.
    socket_info: Option<Py<PyAny>>,
    server: Option<Py<PyAny>>,
    /// asyncio's `_extra`: the caller's extras plus `sockname`/`peername`.
    extra: Option<Py<PyDict>>,
    closing: bool,
    eof: bool,
    paused: bool,
    /// asyncio's `_conn_lost`: non-zero once `connection_lost` is scheduled;
    /// counts the writes made after that.
    conn_lost: u32,
    protocol_paused: bool,
    /// The fd is registered for reading / writing.
    reading: bool,
    writing: bool,
    high: i64,
    low: i64,
    buf: WriteBuffer<SharedBytes>,
    /// asyncio's `_empty_waiter`: set while `loop.sendfile` owns the socket;
    /// resolved once the write buffer is empty.
    empty_waiter: Option<Py<PyAny>>,
    /// `connection_lost` has run (asyncio then drops `_loop`).
    lost: bool,
    /// The last read was at least `DIRECT_READ_MIN` bytes.
    big_reads: bool,
}

#[pyclass(frozen, weakref, module = "ferroloop._ferroloop")]
pub struct StreamTransport {
    fd: RawFd,
    family: i32,
    sock_type: i32,
    proto: i32,
    loop_: Py<LoopCore>,
    st: GilCell<State>,
}

enum Read {
    Data(Py<PyBytes>),
    Eof,
    Again,
    Failed(PyErr),
}

fn recv(fd: RawFd, buf: &mut [u8]) -> io::Result<usize> {
    // SAFETY: `buf` is writable for its whole length.
    let n = unsafe { libc::recv(fd, buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

/// A read at least this large makes the next read receive straight into a
/// `bytes` of the size queued in the kernel: for large transfers the extra
/// ioctl costs less than copying out of the scratch buffer.
const DIRECT_READ_MIN: usize = 32 * 1024;

/// The bytes waiting in the socket's receive queue, if the kernel says.
fn queued_bytes(fd: RawFd) -> Option<usize> {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int through the pointer.
    let rc = unsafe { libc::ioctl(fd, libc::FIONREAD, &mut n) };
    (rc == 0 && n > 0).then_some(n as usize)
}

/// `recv` of up to `len` bytes into a new `bytes` object, without a copy.
fn recv_new_bytes(py: Python<'_>, fd: RawFd, len: usize) -> Read {
    let fresh = match FreshBytes::new(py, len) {
        Ok(f) => f,
        Err(e) => return Read::Failed(e),
    };
    // SAFETY: `fresh` is writable for `len` bytes.
    let n = unsafe { libc::recv(fd, fresh.as_mut_ptr(), len, 0) };
    match n {
        0 => Read::Eof,
        n if n < 0 => {
            let err = io::Error::last_os_error();
            if would_block(&err) {
                Read::Again
            } else {
                Read::Failed(os_error(err))
            }
        }
        n => match fresh.finish(n as usize) {
            Ok(data) => Read::Data(data.unbind()),
            Err(e) => Read::Failed(e),
        },
    }
}

fn send(fd: RawFd, data: &[u8]) -> io::Result<usize> {
    // SAFETY: `data` is readable for its whole length. MSG_NOSIGNAL turns a
    // write to a closed peer into EPIPE even where SIGPIPE is not ignored.
    let n = unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn sendmsg(fd: RawFd, slices: &[io::IoSlice<'_>]) -> io::Result<usize> {
    // SAFETY: a zeroed msghdr is valid; only the vector is set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with iovec on Unix.
    msg.msg_iov = slices.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = slices.len() as _;
    // SAFETY: `msg` describes `slices`, which outlive the call.
    let n = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

fn shutdown_write(fd: RawFd) -> PyResult<()> {
    // SAFETY: plain syscall on an fd the transport owns.
    if unsafe { libc::shutdown(fd, libc::SHUT_WR) } < 0 {
        return Err(os_error(io::Error::last_os_error()));
    }
    Ok(())
}

/// asyncio's `base_events._set_nodelay`: only TCP sockets made with
/// `IPPROTO_TCP` get `TCP_NODELAY`.
fn set_nodelay(fd: RawFd, family: i32, sock_type: i32, proto: i32) -> PyResult<()> {
    if (family == libc::AF_INET || family == libc::AF_INET6)
        && sock_type == libc::SOCK_STREAM
        && proto == libc::IPPROTO_TCP
    {
        let one: libc::c_int = 1;
        // SAFETY: the option value is a c_int of the size passed.
        let rc = unsafe {
            libc::setsockopt(
                fd,
                libc::IPPROTO_TCP,
                libc::TCP_NODELAY,
                (&one as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        if rc < 0 {
            return Err(os_error(io::Error::last_os_error()));
        }
    }
    Ok(())
}

/// The bytes a `write()` argument holds: a `bytes` read in place, anything
/// else through the buffer protocol.
enum Data<'py> {
    Bytes(Bound<'py, PyBytes>),
    Buffer(RawBuffer),
}

impl Data<'_> {
    fn as_slice(&self) -> &[u8] {
        match self {
            Data::Bytes(b) => b.as_bytes(),
            Data::Buffer(b) => b.as_slice(),
        }
    }
}

fn data_of<'py>(data: &Bound<'py, PyAny>) -> PyResult<Data<'py>> {
    // An exact bytes is immutable and can be queued by reference; a subclass
    // could do anything on deallocation, so it is copied like mutable data.
    match data.cast_exact::<PyBytes>() {
        Ok(b) => Ok(Data::Bytes(b.clone())),
        Err(_) => Ok(Data::Buffer(RawBuffer::get(data, false)?)),
    }
}

fn queue(buf: &mut WriteBuffer<SharedBytes>, data: &Data<'_>, start: usize) {
    match data {
        Data::Bytes(b) if b.as_bytes().len() - start > ferroloop_core::write_buffer::PACK_LIMIT => {
            buf.push_shared(SharedBytes::tail(b, start))
        }
        _ => buf.push_copy(&data.as_slice()[start..]),
    }
}

fn type_name(obj: &Bound<'_, PyAny>) -> String {
    obj.get_type()
        .name()
        .map(|n| n.to_string())
        .unwrap_or_else(|_| "?".into())
}

impl StreamTransport {
    fn new(
        lp: &Bound<'_, LoopCore>,
        fd: RawFd,
        family: i32,
        sock_type: i32,
        proto: i32,
        sock: Sock,
    ) -> Self {
        let (high, low) = water_marks(None, None).unwrap_or((64 * 1024, 16 * 1024));
        StreamTransport {
            fd,
            family,
            sock_type,
            proto,
            loop_: lp.clone().unbind(),
            st: GilCell::new(State {
                protocol: None,
                protocol_connected: false,
                buffered: false,
                twin: None,
                sock,
                socket_info: None,
                server: None,
                extra: None,
                closing: false,
                eof: false,
                paused: false,
                conn_lost: 0,
                protocol_paused: false,
                reading: false,
                writing: false,
                high,
                low,
                buf: WriteBuffer::new(),
                empty_waiter: None,
                lost: false,
                big_reads: false,
            }),
        }
    }

    /// A transport over a caller's `socket.socket`.
    pub(crate) fn from_socket<'py>(
        lp: &Bound<'py, LoopCore>,
        sock: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, StreamTransport>> {
        let py = lp.py();
        let fd: RawFd = sock.call_method0(intern!(py, "fileno"))?.extract()?;
        let family: i32 = sock.getattr(intern!(py, "family"))?.extract()?;
        let sock_type: i32 = sock.getattr(intern!(py, "type"))?.extract()?;
        let proto: i32 = sock.getattr(intern!(py, "proto"))?.extract()?;
        let t = StreamTransport::new(
            lp,
            fd,
            family,
            sock_type,
            proto,
            Sock::Py(sock.clone().unbind()),
        );
        Bound::new(py, t)
    }

    /// A transport over a freshly accepted fd, which it now owns.
    pub(crate) fn accepted<'py>(
        lp: &Bound<'py, LoopCore>,
        fd: RawFd,
        family: i32,
        sock_type: i32,
        proto: i32,
    ) -> PyResult<Bound<'py, StreamTransport>> {
        let t = StreamTransport::new(lp, fd, family, sock_type, proto, Sock::Raw);
        Bound::new(lp.py(), t)
    }

    fn lp<'py>(&self, py: Python<'py>) -> &Bound<'py, LoopCore> {
        self.loop_.bind(py)
    }

    /// The sendfile waiter, if one is set and not yet resolved.
    fn pending_empty_waiter<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        let w = self
            .st
            .borrow(py)
            .empty_waiter
            .as_ref()
            .map(|w| w.bind(py).clone());
        match w {
            Some(w) if !w.call_method0(intern!(py, "done"))?.is_truthy()? => Ok(Some(w)),
            _ => Ok(None),
        }
    }

    fn check_no_sendfile(&self, py: Python<'_>, method: &str) -> PyResult<()> {
        if self.st.borrow(py).empty_waiter.is_some() {
            return Err(PyRuntimeError::new_err(format!(
                "unable to {method}; sendfile is in progress"
            )));
        }
        Ok(())
    }

    fn protocol<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.st
            .borrow(py)
            .protocol
            .as_ref()
            .map(|p| p.bind(py).clone())
    }

    /// The twin, or the native object once the twin is gone.
    fn public<'py>(slf: &Bound<'py, Self>) -> Bound<'py, PyAny> {
        let py = slf.py();
        let twin = slf
            .get()
            .st
            .borrow(py)
            .twin
            .as_ref()
            .map(|t| t.bind(py).clone());
        twin.unwrap_or_else(|| slf.clone().into_any())
    }

    /// asyncio's transport `__init__`: extras, protocol, server, registration,
    /// `TCP_NODELAY`, then `connection_made`, the reader and the waiter are
    /// scheduled in that order. Returns the twin.
    pub(crate) fn start<'py>(
        slf: &Bound<'py, Self>,
        protocol: &Bound<'py, PyAny>,
        waiter: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyAny>>,
        server: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let t = slf.get();
        let lp = t.lp(py);
        let dict = PyDict::new(py);
        if let Some(extra) = extra.filter(|e| !e.is_none()) {
            dict.call_method1(intern!(py, "update"), (extra,))?;
        }
        let sockname = match sockaddr::local(t.fd) {
            Ok(a) => sockaddr::to_python(py, &a)?,
            Err(_) => py.None().into_bound(py),
        };
        dict.set_item(intern!(py, "sockname"), sockname)?;
        if !dict.contains(intern!(py, "peername"))? {
            let peername = match sockaddr::peer(t.fd) {
                Ok(a) => sockaddr::to_python(py, &a)?,
                Err(_) => py.None().into_bound(py),
            };
            dict.set_item(intern!(py, "peername"), peername)?;
        }
        let twin = make_twin(net_support(py)?.stream_twin.bind(py), slf.as_any())?;
        {
            let mut st = t.st.borrow_mut(py);
            st.extra = Some(dict.unbind());
            st.twin = Some(twin.clone().unbind());
        }
        Self::set_protocol(slf, protocol)?;
        if let Some(server) = server.filter(|s| !s.is_none()) {
            server.call_method1(intern!(py, "_attach"), (&twin,))?;
            t.st.borrow_mut(py).server = Some(server.clone().unbind());
        }
        register(lp, t.fd, slf.as_any())?;
        set_nodelay(t.fd, t.family, t.sock_type, t.proto)?;
        call_soon(
            lp,
            (protocol.getattr(intern!(py, "connection_made"))?, &twin),
        )?;
        call_soon(lp, (slf.getattr(intern!(py, "_start_reading"))?,))?;
        if let Some(waiter) = waiter.filter(|w| !w.is_none()) {
            let set = net_support(py)?.set_result_unless_cancelled.bind(py);
            call_soon(lp, (set, waiter, py.None()))?;
        }
        Ok(twin)
    }

    fn is_reading_now(&self, py: Python<'_>) -> bool {
        let st = self.st.borrow(py);
        !st.closing && !st.paused
    }

    fn add_reader(slf: &Bound<'_, Self>) -> PyResult<()> {
        if !slf.get().is_reading_now(slf.py()) {
            return Ok(());
        }
        Self::watch_side(slf, Side::Read)
    }

    fn remove_reader(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::unwatch_side(slf, Side::Read)
    }

    fn add_writer(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::watch_side(slf, Side::Write)
    }

    fn remove_writer(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::unwatch_side(slf, Side::Write)
    }

    /// Whether the loop watches one side of the socket for this transport.
    fn watched(st: &mut State, side: Side) -> &mut bool {
        match side {
            Side::Read => &mut st.reading,
            Side::Write => &mut st.writing,
        }
    }

    fn watch_side(slf: &Bound<'_, Self>, side: Side) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let ready = match side {
            Side::Read => intern!(py, "_read_ready"),
            Side::Write => intern!(py, "_write_ready"),
        };
        LoopCore::watch(t.lp(py), t.fd, side, &slf.getattr(ready)?)?;
        *Self::watched(&mut t.st.borrow_mut(py), side) = true;
        Ok(())
    }

    fn unwatch_side(slf: &Bound<'_, Self>, side: Side) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let was = std::mem::replace(Self::watched(&mut t.st.borrow_mut(py), side), false);
        if was {
            LoopCore::unwatch(t.lp(py), t.fd, side)?;
        }
        Ok(())
    }

    /// asyncio's `_fatal_error`: an `OSError` is only logged in debug mode;
    /// anything else goes to the exception handler. Then `_force_close`.
    fn fatal_error(slf: &Bound<'_, Self>, err: PyErr, message: &str) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let exc = err.into_value(py).into_bound(py).into_any();
        report_fatal(
            t.lp(py),
            message,
            &exc,
            &Self::public(slf),
            t.protocol(py).as_ref(),
        )?;
        Self::force_close(slf, exc)
    }

    fn force_close(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let (had_data, was_closing, dropped) = {
            let mut st = t.st.borrow_mut(py);
            if st.conn_lost > 0 {
                return Ok(());
            }
            let had_data = !st.buf.is_empty();
            let dropped = st.buf.take();
            let was_closing = std::mem::replace(&mut st.closing, true);
            st.conn_lost += 1;
            (had_data, was_closing, dropped)
        };
        drop(dropped);
        if had_data {
            Self::remove_writer(slf)?;
        }
        if !was_closing {
            Self::remove_reader(slf)?;
            unregister(t.lp(py), t.fd, slf.as_any());
        }
        call_soon(
            t.lp(py),
            (slf.getattr(intern!(py, "_call_connection_lost"))?, exc),
        )
    }

    fn close_impl(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let empty = {
            let mut st = t.st.borrow_mut(py);
            if st.closing {
                return Ok(());
            }
            st.closing = true;
            st.buf.is_empty()
        };
        Self::remove_reader(slf)?;
        unregister(t.lp(py), t.fd, slf.as_any());
        if empty {
            t.st.borrow_mut(py).conn_lost += 1;
            Self::remove_writer(slf)?;
            call_soon(
                t.lp(py),
                (
                    slf.getattr(intern!(py, "_call_connection_lost"))?,
                    py.None(),
                ),
            )?;
        }
        Ok(())
    }

    /// Closes the socket, once.
    fn close_socket(&self, py: Python<'_>) -> PyResult<()> {
        let sock = std::mem::replace(&mut self.st.borrow_mut(py).sock, Sock::Closed);
        match sock {
            Sock::Raw => {
                // SAFETY: the transport owns the fd and closes it only here or in Drop,
                // after which `sock` is `Closed`.
                unsafe { libc::close(self.fd) };
                Ok(())
            }
            Sock::Py(s) => {
                s.bind(py).call_method0(intern!(py, "close"))?;
                Ok(())
            }
            Sock::Closed => Ok(()),
        }
    }

    fn connection_lost(slf: &Bound<'_, Self>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let (protocol, connected) = {
            let st = t.st.borrow(py);
            (
                st.protocol.as_ref().map(|p| p.clone_ref(py)),
                st.protocol_connected,
            )
        };
        let res = match (protocol, connected) {
            (Some(p), true) => p
                .bind(py)
                .call_method1(intern!(py, "connection_lost"), (exc,))
                .map(drop),
            _ => Ok(()),
        };
        // asyncio's `finally:` block.
        let closed = t.close_socket(py);
        let (protocol, server, twin) = {
            let mut st = t.st.borrow_mut(py);
            st.lost = true;
            if st.conn_lost == 0 {
                // Closed after a flush: later writes count as lost ones.
                st.conn_lost = 1;
            }
            (st.protocol.take(), st.server.take(), st.twin.take())
        };
        unregister(t.lp(py), t.fd, slf.as_any());
        drop(protocol);
        let detached = match server {
            Some(server) => {
                let arg = twin
                    .as_ref()
                    .map_or_else(|| slf.clone().into_any(), |t| t.bind(py).clone());
                server
                    .bind(py)
                    .call_method1(intern!(py, "_detach"), (arg,))
                    .map(drop)
            }
            None => Ok(()),
        };
        drop(twin);
        res.and(closed).and(detached)?;
        if let Some(w) = t.pending_empty_waiter(py)? {
            let exc = PyConnectionError::new_err("Connection is closed by peer");
            w.call_method1(intern!(py, "set_exception"), (exc.value(py),))?;
        }
        Ok(())
    }

    /// Drops a transport whose start failed: no callbacks, the fd closed now.
    fn abandon(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let taken = {
            let mut st = t.st.borrow_mut(py);
            st.closing = true;
            st.conn_lost = st.conn_lost.max(1);
            st.lost = true;
            (st.protocol.take(), st.server.take(), st.twin.take())
        };
        Self::remove_reader(slf)?;
        unregister(t.lp(py), t.fd, slf.as_any());
        let closed = t.close_socket(py);
        let (protocol, server, twin) = taken;
        let detached = match (server, &twin) {
            (Some(server), Some(twin)) => server
                .bind(py)
                .call_method1(intern!(py, "_detach"), (twin,))
                .map(drop),
            _ => Ok(()),
        };
        drop((protocol, twin));
        closed.and(detached)
    }

    /// asyncio's `_maybe_pause_protocol` (`pause`) and
    /// `_maybe_resume_protocol`: the water marks decide, the protocol is told.
    fn maybe_flow(slf: &Bound<'_, Self>, pause: bool) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let protocol = {
            let mut st = t.st.borrow_mut(py);
            let size = st.buf.len() as i64;
            let act = if pause {
                size > st.high && !st.protocol_paused
            } else {
                st.protocol_paused && size <= st.low
            };
            if !act {
                return Ok(());
            }
            st.protocol_paused = pause;
            st.protocol.as_ref().map(|p| p.clone_ref(py))
        };
        let Some(protocol) = protocol else {
            return Ok(());
        };
        notify_flow(t.lp(py), &Self::public(slf), protocol.bind(py), pause)
    }

    fn flush(slf: &Bound<'_, Self>) -> PyResult<bool> {
        let py = slf.py();
        let t = slf.get();
        let res = t.st.borrow_mut(py).buf.flush_with(|s| sendmsg(t.fd, s));
        match res {
            Ok(_) => Ok(true),
            Err(e) if would_block(&e) => Ok(true),
            Err(e) => {
                Self::remove_writer(slf)?;
                let dropped = t.st.borrow_mut(py).buf.take();
                drop(dropped);
                let err = os_error(e);
                let exc = err.value(py).clone().into_any();
                Self::fatal_error(slf, err, "Fatal write error on socket transport")?;
                if let Some(w) = t.pending_empty_waiter(py)? {
                    w.call_method1(intern!(py, "set_exception"), (exc,))?;
                }
                Ok(false)
            }
        }
    }

    /// The rest of `_write_ready` once data went out: resume the writer, and
    /// when the queue is empty stop watching and finish a close or `write_eof`.
    fn after_flush(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        Self::maybe_flow(slf, false)?;
        let (empty, closing, eof) = {
            let st = t.st.borrow(py);
            (st.buf.is_empty(), st.closing, st.eof)
        };
        if !empty {
            return Ok(());
        }
        Self::remove_writer(slf)?;
        if let Some(w) = t.pending_empty_waiter(py)? {
            w.call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
        if closing {
            Self::connection_lost(slf, &py.None().into_bound(py))
        } else if eof {
            shutdown_write(t.fd)
        } else {
            Ok(())
        }
    }

    fn read_data(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let direct = if t.st.borrow(py).big_reads {
            queued_bytes(t.fd).filter(|&n| n >= DIRECT_READ_MIN)
        } else {
            None
        };
        let outcome = match direct {
            Some(queued) => recv_new_bytes(py, t.fd, queued.min(MAX_READ)),
            None => with_scratch(MAX_READ, |buf| match recv(t.fd, buf) {
                Ok(0) => Read::Eof,
                Ok(n) => Read::Data(PyBytes::new(py, &buf[..n]).unbind()),
                Err(e) if would_block(&e) => Read::Again,
                Err(e) => Read::Failed(os_error(e)),
            }),
        };
        if let Read::Data(d) = &outcome {
            t.st.borrow_mut(py).big_reads = d.bind(py).as_bytes().len() >= DIRECT_READ_MIN;
        }
        let data = match outcome {
            Read::Data(d) => d,
            Read::Eof => return Self::on_eof(slf),
            Read::Again => return Ok(()),
            Read::Failed(e) => {
                return Self::fatal_error(slf, e, "Fatal read error on socket transport")
            }
        };
        let Some(protocol) = t.protocol(py) else {
            return Ok(());
        };
        if let Err(e) = protocol.call_method1(intern!(py, "data_received"), (data,)) {
            if is_exit(py, &e) {
                return Err(e);
            }
            Self::fatal_error(slf, e, "Fatal error: protocol.data_received() call failed.")?;
        }
        Ok(())
    }

    fn read_buffered(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let Some(protocol) = t.protocol(py) else {
            return Ok(());
        };
        let got = protocol
            .call_method1(intern!(py, "get_buffer"), (-1,))
            .and_then(|buf| {
                if buf.len()? == 0 {
                    Err(PyRuntimeError::new_err(
                        "get_buffer() returned an empty buffer",
                    ))
                } else {
                    Ok(buf)
                }
            });
        let buf = match got {
            Ok(b) => b,
            Err(e) if is_exit(py, &e) => return Err(e),
            Err(e) => {
                return Self::fatal_error(slf, e, "Fatal error: protocol.get_buffer() call failed.")
            }
        };
        let n = match RawBuffer::get(&buf, true) {
            Ok(mut view) => {
                // SAFETY: the view is writable for `len` bytes while held.
                let target =
                    unsafe { std::slice::from_raw_parts_mut(view.as_mut_ptr(), view.len()) };
                recv(t.fd, target)
            }
            Err(e) => return Self::fatal_error(slf, e, "Fatal read error on socket transport"),
        };
        let n = match n {
            Ok(0) => return Self::on_eof(slf),
            Ok(n) => n,
            Err(e) if would_block(&e) => return Ok(()),
            Err(e) => {
                return Self::fatal_error(slf, os_error(e), "Fatal read error on socket transport")
            }
        };
        if let Err(e) = protocol.call_method1(intern!(py, "buffer_updated"), (n,)) {
            if is_exit(py, &e) {
                return Err(e);
            }
            Self::fatal_error(
                slf,
                e,
                "Fatal error: protocol.buffer_updated() call failed.",
            )?;
        }
        Ok(())
    }

    fn on_eof(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        if t.lp(py).get().debug() {
            log(py, "debug", ("%r received EOF", Self::public(slf)), None)?;
        }
        let Some(protocol) = t.protocol(py) else {
            return Ok(());
        };
        let keep_open = match protocol.call_method0(intern!(py, "eof_received")) {
            Ok(k) => k,
            Err(e) if is_exit(py, &e) => return Err(e),
            Err(e) => {
                return Self::fatal_error(
                    slf,
                    e,
                    "Fatal error: protocol.eof_received() call failed.",
                )
            }
        };
        if keep_open.is_truthy()? {
            // The protocol keeps writing; only the reader goes.
            Self::remove_reader(slf)
        } else {
            Self::close_impl(slf)
        }
    }

    fn count_lost_write(&self, py: Python<'_>) -> PyResult<bool> {
        let n = {
            let mut st = self.st.borrow_mut(py);
            if st.conn_lost == 0 {
                return Ok(false);
            }
            st.conn_lost += 1;
            st.conn_lost - 1
        };
        if n >= LOG_THRESHOLD_FOR_CONNLOST_WRITES {
            log(py, "warning", ("socket.send() raised exception.",), None)?;
        }
        Ok(true)
    }

    /// A Python socket object for the fd, made on first use.
    fn socket_object<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let current = match &self.st.borrow(py).sock {
            Sock::Py(s) => return Ok(s.bind(py).clone()),
            Sock::Raw => true,
            Sock::Closed => false,
        };
        let cls = net_support(py)?.socket_type.bind(py);
        if current {
            let kwargs = PyDict::new(py);
            kwargs.set_item(intern!(py, "fileno"), self.fd)?;
            // SOCK_NONBLOCK in the type makes the object non-blocking (timeout
            // 0.0, as asyncio's setblocking(False) leaves it) without a syscall.
            let kind = self.sock_type | libc::SOCK_NONBLOCK;
            let s = cls.call((self.family, kind, self.proto), Some(&kwargs))?;
            self.st.borrow_mut(py).sock = Sock::Py(s.clone().unbind());
            Ok(s)
        } else {
            // Closed before anyone asked: a closed socket of the same kind,
            // as asyncio's closed transport would show.
            let s = cls.call1((self.family, self.sock_type, self.proto))?;
            s.call_method0(intern!(py, "close"))?;
            Ok(s)
        }
    }

    fn socket_info<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        if let Some(info) = self.st.borrow(py).socket_info.as_ref() {
            return Ok(info.bind(py).clone());
        }
        let sock = self.socket_object(py)?;
        let info = net_support(py)?.transport_socket.bind(py).call1((sock,))?;
        self.st.borrow_mut(py).socket_info = Some(info.clone().unbind());
        Ok(info)
    }

    pub(crate) fn describe(&self, py: Python<'_>, name: &str) -> String {
        let loop_closed = self.lp(py).get().is_closed();
        let Some(st) = self.st.try_borrow_for_gc() else {
            return format!("<{name} fd={}>", self.fd);
        };
        let mut info = vec![name.to_string()];
        if matches!(st.sock, Sock::Closed) {
            info.push("closed".into());
        } else if st.closing {
            info.push("closing".into());
        }
        info.push(format!("fd={}", self.fd));
        if !st.lost && !loop_closed {
            info.push(
                if st.reading {
                    "read=polling"
                } else {
                    "read=idle"
                }
                .into(),
            );
            let state = if st.writing { "polling" } else { "idle" };
            info.push(format!("write=<{state}, bufsize={}>", st.buf.len()));
        }
        format!("<{}>", info.join(" "))
    }
}

#[pymethods]
impl StreamTransport {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        if let Some(st) = self.st.try_borrow_for_gc() {
            visit.call(&st.protocol)?;
            visit.call(&st.twin)?;
            visit.call(&st.socket_info)?;
            visit.call(&st.server)?;
            visit.call(&st.extra)?;
            visit.call(&st.empty_waiter)?;
            if let Sock::Py(s) = &st.sock {
                visit.call(s)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        // The socket stays (it refers to nothing, and Drop must close it), and
        // so does the server, which Drop tells on 3.13; neither refers back.
        let taken = self.st.try_borrow_mut_for_gc().map(|mut st| {
            (
                st.protocol.take(),
                st.twin.take(),
                st.extra.take(),
                st.socket_info.take(),
                st.empty_waiter.take(),
            )
        });
        drop(taken);
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.describe(py, "StreamTransport")
    }

    fn _repr(&self, py: Python<'_>, name: &str) -> String {
        self.describe(py, name)
    }

    fn write(slf: &Bound<'_, Self>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        if !(data.is_instance_of::<PyBytes>()
            || data.is_instance_of::<PyByteArray>()
            || data.is_instance_of::<PyMemoryView>())
        {
            return Err(PyTypeError::new_err(format!(
                "data argument must be a bytes-like object, not '{}'",
                type_name(data)
            )));
        }
        if t.st.borrow(py).eof {
            return Err(PyRuntimeError::new_err(
                "Cannot call write() after write_eof()",
            ));
        }
        t.check_no_sendfile(py, "write")?;
        let data = data_of(data)?;
        let bytes = data.as_slice();
        if bytes.is_empty() {
            return Ok(());
        }
        if t.count_lost_write(py)? {
            return Ok(());
        }
        let queued = {
            let mut st = t.st.borrow_mut(py);
            let busy = !st.buf.is_empty();
            if busy {
                queue(&mut st.buf, &data, 0);
            }
            busy
        };
        if !queued {
            // Optimisation from asyncio: nothing queued, so try to send now.
            let n = match send(t.fd, bytes) {
                Ok(n) => n,
                Err(e) if would_block(&e) => 0,
                Err(e) => {
                    return Self::fatal_error(
                        slf,
                        os_error(e),
                        "Fatal write error on socket transport",
                    )
                }
            };
            if n == bytes.len() {
                return Ok(());
            }
            Self::add_writer(slf)?;
            queue(&mut t.st.borrow_mut(py).buf, &data, n);
        }
        Self::maybe_flow(slf, true)
    }

    fn writelines(slf: &Bound<'_, Self>, list_of_data: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        if t.st.borrow(py).eof {
            // Python 3.11's writelines() is write(b"".join(...)).
            let name = if py.version_info() >= (3, 12) {
                "writelines"
            } else {
                "write"
            };
            return Err(PyRuntimeError::new_err(format!(
                "Cannot call {name}() after write_eof()"
            )));
        }
        let name = if py.version_info() >= (3, 12) {
            "writelines"
        } else {
            "write"
        };
        t.check_no_sendfile(py, name)?;
        if !list_of_data.is_truthy()? {
            return Ok(());
        }
        let mut items = Vec::new();
        for item in list_of_data.try_iter()? {
            let item = item?;
            match data_of(&item) {
                Ok(d) => items.push(d),
                Err(_) => {
                    return Err(PyTypeError::new_err(format!(
                        "memoryview: a bytes-like object is required, not '{}'",
                        type_name(&item)
                    )))
                }
            }
        }
        if items.iter().all(|d| d.as_slice().is_empty()) {
            return Ok(());
        }
        if t.count_lost_write(py)? {
            return Ok(());
        }
        let was_empty = {
            let mut st = t.st.borrow_mut(py);
            let was_empty = st.buf.is_empty();
            for d in &items {
                queue(&mut st.buf, d, 0);
            }
            was_empty
        };
        drop(items);
        if was_empty {
            if !Self::flush(slf)? {
                return Ok(());
            }
            if t.st.borrow(py).buf.is_empty() {
                return Ok(());
            }
            Self::add_writer(slf)?;
        }
        Self::maybe_flow(slf, true)
    }

    fn write_eof(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let empty = {
            let mut st = t.st.borrow_mut(py);
            if st.closing || st.eof {
                return Ok(());
            }
            st.eof = true;
            st.buf.is_empty()
        };
        if empty {
            shutdown_write(t.fd)?;
        }
        Ok(())
    }

    fn can_write_eof(&self) -> bool {
        true
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::close_impl(slf)
    }

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::force_close(slf, slf.py().None().into_bound(slf.py()))
    }

    /// asyncio's private `_force_close(exc)`, which `SSLProtocol` calls.
    fn _force_close(slf: &Bound<'_, Self>, exc: Bound<'_, PyAny>) -> PyResult<()> {
        Self::force_close(slf, exc)
    }

    fn is_closing(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).closing
    }

    fn is_reading(&self, py: Python<'_>) -> bool {
        self.is_reading_now(py)
    }

    fn pause_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        if !t.is_reading_now(py) {
            return Ok(());
        }
        t.st.borrow_mut(py).paused = true;
        Self::remove_reader(slf)?;
        if t.lp(py).get().debug() {
            log(py, "debug", ("%r pauses reading", Self::public(slf)), None)?;
        }
        Ok(())
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        {
            let mut st = t.st.borrow_mut(py);
            if st.closing || !st.paused {
                return Ok(());
            }
            st.paused = false;
        }
        Self::add_reader(slf)?;
        if t.lp(py).get().debug() {
            log(py, "debug", ("%r resumes reading", Self::public(slf)), None)?;
        }
        Ok(())
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        if let Ok(s) = name.cast::<pyo3::types::PyString>() {
            if s.to_str()? == "socket" {
                return Ok(self.socket_info(py)?.unbind());
            }
        }
        let extra = self.st.borrow(py).extra.as_ref().map(|e| e.clone_ref(py));
        extra_item(py, extra, name, default)
    }

    /// asyncio's `_extra` dict, `socket` included.
    #[getter]
    fn _extra(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let info = self.socket_info(py)?;
        let extra = self.st.borrow(py).extra.as_ref().map(|e| e.clone_ref(py));
        let extra = extra.unwrap_or_else(|| PyDict::new(py).unbind());
        extra.bind(py).set_item(intern!(py, "socket"), info)?;
        Ok(extra)
    }

    fn get_write_buffer_size(&self, py: Python<'_>) -> usize {
        self.st.borrow(py).buf.len()
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_write_buffer_limits(
        slf: &Bound<'_, Self>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        let py = slf.py();
        let (high, low) = water_marks(high, low).map_err(|(h, l)| {
            PyValueError::new_err(format!("high ({h}) must be >= low ({l}) must be >= 0"))
        })?;
        {
            let mut st = slf.get().st.borrow_mut(py);
            st.high = high;
            st.low = low;
        }
        Self::maybe_flow(slf, true)
    }

    fn get_write_buffer_limits(&self, py: Python<'_>) -> (i64, i64) {
        let st = self.st.borrow(py);
        (st.low, st.high)
    }

    fn set_protocol(slf: &Bound<'_, Self>, protocol: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let buffered = protocol.is_instance(net_support(py)?.buffered_protocol.bind(py))?;
        let old = {
            let mut st = slf.get().st.borrow_mut(py);
            st.buffered = buffered;
            st.protocol_connected = true;
            st.protocol.replace(protocol.clone().unbind())
        };
        drop(old);
        Ok(())
    }

    fn get_protocol(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.st
            .borrow(py)
            .protocol
            .as_ref()
            .map(|p| p.clone_ref(py))
    }

    /// asyncio's `_add_reader(fd, _read_ready)`, scheduled after
    /// `connection_made`.
    fn _start_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::add_reader(slf)
    }

    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let (lost, buffered) = {
            let st = slf.get().st.borrow(py);
            (st.conn_lost > 0, st.buffered)
        };
        if lost {
            return Ok(());
        }
        if buffered {
            Self::read_buffered(slf)
        } else {
            Self::read_data(slf)
        }
    }

    fn _write_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        if slf.get().st.borrow(py).conn_lost > 0 {
            return Ok(());
        }
        if Self::flush(slf)? {
            Self::after_flush(slf)?;
        }
        Ok(())
    }

    fn _call_connection_lost(slf: &Bound<'_, Self>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::connection_lost(slf, exc)
    }

    /// asyncio's `_make_empty_waiter`: a future resolved once everything
    /// queued is written; writes are refused until `_reset_empty_waiter`.
    fn _make_empty_waiter(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let t = slf.get();
        if t.st.borrow(py).empty_waiter.is_some() {
            return Err(PyRuntimeError::new_err("Empty waiter is already set"));
        }
        let waiter = t
            .lp(py)
            .as_any()
            .call_method0(intern!(py, "create_future"))?;
        let empty = {
            let mut st = t.st.borrow_mut(py);
            st.empty_waiter = Some(waiter.clone().unbind());
            st.buf.is_empty()
        };
        if empty {
            waiter.call_method1(intern!(py, "set_result"), (py.None(),))?;
        }
        Ok(waiter.unbind())
    }

    #[getter(_empty_waiter)]
    fn get_empty_waiter(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.st
            .borrow(py)
            .empty_waiter
            .as_ref()
            .map(|w| w.clone_ref(py))
    }

    fn _reset_empty_waiter(&self, py: Python<'_>) {
        let old = self.st.borrow_mut(py).empty_waiter.take();
        drop(old);
    }

    /// Takes the fd out of the loop's registry while `sock_sendfile` uses it
    /// (asyncio's `del loop._transports[fd]`), and back in.
    fn _unregister_fd(slf: &Bound<'_, Self>) {
        unregister(slf.get().lp(slf.py()), slf.get().fd, slf.as_any());
    }

    fn _register_fd(slf: &Bound<'_, Self>) -> PyResult<()> {
        let t = slf.get();
        if t.st.borrow(slf.py()).closing {
            return Ok(());
        }
        register(t.lp(slf.py()), t.fd, slf.as_any())
    }

    /// The accept path: asyncio's `_accept_connection2`, run one pass after
    /// the accept like the task asyncio creates for it.
    fn _accept_start(
        slf: &Bound<'_, Self>,
        protocol_factory: &Bound<'_, PyAny>,
        server: &Bound<'_, PyAny>,
        extra: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let mut protocol = None;
        let res = protocol_factory.call0().and_then(|p| {
            protocol = Some(p.clone());
            ensure_fd_no_transport(t.lp(py), t.fd, &t.fd.into_pyobject(py)?.into_any())?;
            Self::start(slf, &p, None, Some(extra), Some(server)).map(drop)
        });
        let Err(err) = res else {
            return Ok(());
        };
        // The transport never got going: no protocol callback will run, so
        // undo what was done and close the fd here.
        let started = t.st.borrow(py).twin.is_some();
        let transport = started.then(|| Self::public(slf));
        Self::abandon(slf)?;
        if is_exit(py, &err) {
            return Err(err);
        }
        if t.lp(py).get().debug() {
            let exc = err.into_value(py).into_bound(py).into_any();
            let ctx = PyDict::new(py);
            ctx.set_item(
                "message",
                "Error on transport creation for incoming connection",
            )?;
            ctx.set_item("exception", exc)?;
            if let Some(p) = protocol {
                ctx.set_item("protocol", p)?;
            }
            if let Some(transport) = transport {
                ctx.set_item("transport", transport)?;
            }
            t.lp(py)
                .as_any()
                .call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
        }
        Ok(())
    }

    #[getter]
    fn _sock(&self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        if matches!(self.st.borrow(py).sock, Sock::Closed) {
            return Ok(None);
        }
        Ok(Some(self.socket_object(py)?.unbind()))
    }

    #[getter]
    fn _sock_fd(&self) -> RawFd {
        self.fd
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> Option<Py<LoopCore>> {
        (!self.st.borrow(py).lost).then(|| self.loop_.clone_ref(py))
    }

    #[getter]
    fn _protocol_paused(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).protocol_paused
    }

    #[getter]
    fn _closing(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).closing
    }

    #[getter]
    fn _eof(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).eof
    }

    #[getter]
    fn _paused(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).paused
    }

    #[getter]
    fn _conn_lost(&self, py: Python<'_>) -> u32 {
        self.st.borrow(py).conn_lost
    }

    #[getter]
    fn _server(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.st.borrow(py).server.as_ref().map(|s| s.clone_ref(py))
    }
}

impl Drop for StreamTransport {
    fn drop(&mut self) {
        let open = self
            .st
            .try_borrow_for_gc()
            .is_some_and(|st| !matches!(st.sock, Sock::Closed));
        if !open {
            return;
        }
        Python::attach(|py| {
            // asyncio's `__del__`: warn, then close the socket.
            let msg = format!(
                "unclosed transport {}",
                self.describe(py, "_SocketTransport")
            );
            let sock = self
                .st
                .try_borrow_mut_for_gc()
                .map(|mut st| std::mem::replace(&mut st.sock, Sock::Closed));
            let category = py.get_type::<PyResourceWarning>();
            if let Ok(msg) = CString::new(msg) {
                if let Err(e) = PyErr::warn(py, category.as_any(), &msg, 1) {
                    e.write_unraisable(py, None);
                }
            }
            match sock {
                Some(Sock::Raw) => {
                    // SAFETY: the transport still owned the fd; nothing else closes it.
                    unsafe { libc::close(self.fd) };
                }
                Some(Sock::Py(s)) => close_socket_in_drop(py, s.bind(py)),
                _ => {}
            }
            // 3.13's `__del__` also detaches from the server.
            let server = self
                .st
                .try_borrow_mut_for_gc()
                .and_then(|mut st| st.server.take());
            if let Some(server) = server.filter(|_| py.version_info() >= (3, 13)) {
                if let Err(e) = server.bind(py).call_method0(intern!(py, "_detach")) {
                    e.write_unraisable(py, None);
                }
            }
        });
    }
}

#[pymethods]
impl LoopCore {
    /// asyncio's `_make_socket_transport`: a stream transport over `sock`,
    /// returned as its `asyncio.Transport` twin.
    #[pyo3(signature = (sock, protocol, waiter=None, *, extra=None, server=None))]
    fn _make_socket_transport<'py>(
        slf: &Bound<'py, Self>,
        sock: &Bound<'py, PyAny>,
        protocol: &Bound<'py, PyAny>,
        waiter: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyAny>>,
        server: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        if py.version_info() >= (3, 12) {
            let fd: RawFd = sock.call_method0(intern!(py, "fileno"))?.extract()?;
            ensure_fd_no_transport(slf, fd, sock)?;
        }
        let t = StreamTransport::from_socket(slf, sock)?;
        StreamTransport::start(&t, protocol, waiter, extra, server)
    }
}
