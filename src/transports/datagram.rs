//! `DatagramTransport`: a UDP or Unix datagram socket, asyncio's
//! `_SelectorDatagramTransport`.
//!
//! Readable: up to `DATAGRAMS_PER_PASS` `recvfrom`s per wake-up, each followed
//! by `protocol.datagram_received(data, addr)`; an `OSError` goes to
//! `protocol.error_received` and ends the pass. `sendto` sends at
//! once and queues whole datagrams the socket would not take; the writer
//! handle sends them in order. Numeric IP addresses are converted natively;
//! anything else (host names, Unix paths) goes through the Python socket, which
//! resolves and reports errors exactly as asyncio's `sock.sendto` would.

use super::{
    call_soon, close_socket_in_drop, ensure_fd_no_transport, extra_item, is_exit, log, make_twin,
    net_support, notify_flow, register, report_fatal, unregister, with_scratch, would_block,
    LOG_THRESHOLD_FOR_CONNLOST_WRITES, MAX_READ,
};
use crate::errors::os_error;
use crate::event_loop::LoopCore;
use crate::fd_table::Side;
use crate::gil_cell::GilCell;
use crate::sockaddr;
use crate::transports::RawBuffer;
use ferroloop_core::write_buffer::water_marks;
use pyo3::exceptions::{PyOSError, PyResourceWarning, PyTypeError, PyValueError};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyByteArray, PyBytes, PyDict, PyMemoryView, PyString};
use pyo3::PyTraverseError;
use std::collections::VecDeque;
use std::ffi::CString;
use std::io;
use std::os::fd::RawFd;

/// Datagrams read per readiness event at most, so one busy socket cannot
/// starve the loop's other callbacks.
const DATAGRAMS_PER_PASS: usize = 32;

/// Where a queued datagram goes.
enum Dest {
    /// The connected peer: `send`.
    Peer,
    /// A numeric address converted natively: `sendto`.
    Native(sockaddr::SockAddr),
    /// Anything else: the Python socket's `sendto(data, addr)`.
    Python(Py<PyAny>),
}

struct Queued {
    data: Py<PyBytes>,
    dest: Dest,
}

struct State {
    protocol: Option<Py<PyAny>>,
    twin: Option<Py<PyAny>>,
    /// A `socket.socket`; made lazily when the transport owns a raw fd.
    sock: Option<Py<PyAny>>,
    sock_closed: bool,
    socket_info: Option<Py<PyAny>>,
    extra: Option<Py<PyDict>>,
    /// The remote address given to `create_datagram_endpoint`, if any.
    address: Option<Py<PyAny>>,
    /// `extra['peername']` is truthy: send with `send()`.
    connected: bool,
    closing: bool,
    paused: bool,
    conn_lost: u32,
    protocol_paused: bool,
    reading: bool,
    writing: bool,
    high: i64,
    low: i64,
    queue: VecDeque<Queued>,
    /// asyncio's `_buffer_size`.
    buffer_size: usize,
    lost: bool,
}

#[pyclass(frozen, weakref, module = "ferroloop._ferroloop")]
pub struct DatagramTransport {
    fd: RawFd,
    family: i32,
    loop_: Py<LoopCore>,
    /// Python 3.13 counts 8 header bytes per queued datagram and sends empty ones.
    py313: bool,
    st: GilCell<State>,
}

/// One datagram out, natively. `None`: the destination needs Python.
fn send_native(fd: RawFd, data: &[u8], dest: &Dest) -> Option<io::Result<usize>> {
    // SAFETY (both calls): `data` is readable for its length and the address
    // buffer holds `len` valid bytes.
    let n = match dest {
        Dest::Peer => unsafe { libc::send(fd, data.as_ptr().cast(), data.len(), 0) },
        Dest::Native(a) => unsafe {
            libc::sendto(fd, data.as_ptr().cast(), data.len(), 0, a.as_ptr(), a.len)
        },
        Dest::Python(_) => return None,
    };
    Some(if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    })
}

enum Sent {
    Done,
    Again,
    /// An `OSError` for `error_received`.
    OsError(PyErr),
    /// Anything else: fatal.
    Other(PyErr),
}

impl DatagramTransport {
    fn lp<'py>(&self, py: Python<'py>) -> &Bound<'py, LoopCore> {
        self.loop_.bind(py)
    }

    fn protocol<'py>(&self, py: Python<'py>) -> Option<Bound<'py, PyAny>> {
        self.st
            .borrow(py)
            .protocol
            .as_ref()
            .map(|p| p.bind(py).clone())
    }

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

    fn socket_object<'py>(&self, py: Python<'py>) -> Bound<'py, PyAny> {
        self.st
            .borrow(py)
            .sock
            .as_ref()
            .map(|s| s.bind(py).clone())
            .unwrap_or_else(|| py.None().into_bound(py))
    }

    fn send_one(&self, py: Python<'_>, data: &[u8], dest: &Dest) -> Sent {
        match send_native(self.fd, data, dest) {
            Some(Ok(_)) => Sent::Done,
            Some(Err(e)) if would_block(&e) => Sent::Again,
            Some(Err(e)) => Sent::OsError(os_error(e)),
            None => {
                let Dest::Python(a) = dest else {
                    return Sent::Done;
                };
                let sock = self.socket_object(py);
                let res =
                    sock.call_method1(intern!(py, "sendto"), (PyBytes::new(py, data), a.bind(py)));
                match res {
                    Ok(_) => Sent::Done,
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyBlockingIOError>(py) => {
                        Sent::Again
                    }
                    Err(e) if e.is_instance_of::<pyo3::exceptions::PyInterruptedError>(py) => {
                        Sent::Again
                    }
                    Err(e) if e.is_instance_of::<PyOSError>(py) => Sent::OsError(e),
                    Err(e) => Sent::Other(e),
                }
            }
        }
    }

    fn add_reader(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        {
            let st = t.st.borrow(py);
            if st.closing || st.paused {
                return Ok(());
            }
        }
        LoopCore::watch(
            t.lp(py),
            t.fd,
            Side::Read,
            &slf.getattr(intern!(py, "_read_ready"))?,
        )?;
        t.st.borrow_mut(py).reading = true;
        Ok(())
    }

    fn remove_side(slf: &Bound<'_, Self>, side: Side) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let was = {
            let mut st = t.st.borrow_mut(py);
            let flag = if side == Side::Read {
                &mut st.reading
            } else {
                &mut st.writing
            };
            std::mem::replace(flag, false)
        };
        if was {
            LoopCore::unwatch(t.lp(py), t.fd, side)?;
        }
        Ok(())
    }

    fn add_writer(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        LoopCore::watch(
            t.lp(py),
            t.fd,
            Side::Write,
            &slf.getattr(intern!(py, "_sendto_ready"))?,
        )?;
        t.st.borrow_mut(py).writing = true;
        Ok(())
    }

    fn error_received(slf: &Bound<'_, Self>, err: PyErr) -> PyResult<()> {
        let py = slf.py();
        match slf.get().protocol(py) {
            Some(p) => {
                p.call_method1(intern!(py, "error_received"), (err.into_value(py),))?;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// asyncio's `_fatal_error`: reported, then `_force_close`.
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
            let had_data = !st.queue.is_empty();
            let dropped = std::mem::take(&mut st.queue);
            st.buffer_size = 0;
            let was_closing = std::mem::replace(&mut st.closing, true);
            st.conn_lost += 1;
            (had_data, was_closing, dropped)
        };
        drop(dropped);
        if had_data {
            Self::remove_side(slf, Side::Write)?;
        }
        if !was_closing {
            Self::remove_side(slf, Side::Read)?;
            unregister(t.lp(py), t.fd, slf.as_any());
        }
        call_soon(
            t.lp(py),
            (slf.getattr(intern!(py, "_call_connection_lost"))?, exc),
        )
    }

    fn connection_lost(slf: &Bound<'_, Self>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let protocol = t.protocol(py);
        let res = match protocol {
            Some(p) => p
                .call_method1(intern!(py, "connection_lost"), (exc,))
                .map(drop),
            None => Ok(()),
        };
        let (sock, protocol, twin) = {
            let mut st = t.st.borrow_mut(py);
            st.lost = true;
            st.sock_closed = true;
            if st.conn_lost == 0 {
                st.conn_lost = 1;
            }
            (
                st.sock.as_ref().map(|s| s.clone_ref(py)),
                st.protocol.take(),
                st.twin.take(),
            )
        };
        let closed = match sock {
            Some(s) => s.bind(py).call_method0(intern!(py, "close")).map(drop),
            None => Ok(()),
        };
        unregister(t.lp(py), t.fd, slf.as_any());
        drop((protocol, twin));
        res.and(closed)
    }

    fn maybe_flow(slf: &Bound<'_, Self>, pause: bool) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let protocol = {
            let mut st = t.st.borrow_mut(py);
            let size = st.buffer_size as i64;
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

    fn describe(&self, py: Python<'_>, name: &str) -> String {
        let loop_closed = self.lp(py).get().is_closed();
        let Some(st) = self.st.try_borrow_for_gc() else {
            return format!("<{name} fd={}>", self.fd);
        };
        let mut info = vec![name.to_string()];
        if st.sock_closed {
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
            info.push(format!("write=<{state}, bufsize={}>", st.buffer_size));
        }
        format!("<{}>", info.join(" "))
    }
}

#[pymethods]
impl DatagramTransport {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        if let Some(st) = self.st.try_borrow_for_gc() {
            visit.call(&st.protocol)?;
            visit.call(&st.twin)?;
            visit.call(&st.sock)?;
            visit.call(&st.socket_info)?;
            visit.call(&st.extra)?;
            visit.call(&st.address)?;
            for q in &st.queue {
                if let Dest::Python(a) = &q.dest {
                    visit.call(a)?;
                }
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let taken = self.st.try_borrow_mut_for_gc().map(|mut st| {
            (
                st.protocol.take(),
                st.twin.take(),
                st.extra.take(),
                st.address.take(),
                std::mem::take(&mut st.queue),
            )
        });
        drop(taken);
    }

    fn __repr__(&self, py: Python<'_>) -> String {
        self.describe(py, "DatagramTransport")
    }

    fn _repr(&self, py: Python<'_>, name: &str) -> String {
        self.describe(py, name)
    }

    #[pyo3(signature = (data, addr=None))]
    fn sendto(
        slf: &Bound<'_, Self>,
        data: &Bound<'_, PyAny>,
        addr: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        if !(data.is_instance_of::<PyBytes>()
            || data.is_instance_of::<PyByteArray>()
            || data.is_instance_of::<PyMemoryView>())
        {
            let name = data.get_type().name()?;
            return Err(PyTypeError::new_err(format!(
                "data argument must be a bytes-like object, not '{name}'"
            )));
        }
        let view = RawBuffer::get(data, false)?;
        if view.len() == 0 && !t.py313 {
            return Ok(());
        }
        let none = py.None().into_bound(py);
        let mut addr = addr.cloned().unwrap_or(none);
        let (remote, connected) = {
            let st = t.st.borrow(py);
            (
                st.address.as_ref().map(|a| a.bind(py).clone()),
                st.connected,
            )
        };
        if let Some(remote) = remote.filter(|r| r.is_truthy().unwrap_or(true)) {
            if !addr.is_none() && !addr.eq(&remote)? {
                return Err(PyValueError::new_err(format!(
                    "Invalid address: must be None or {}",
                    remote.str()?
                )));
            }
            addr = remote;
            let lost = {
                let mut st = t.st.borrow_mut(py);
                let n = st.conn_lost;
                if n > 0 {
                    st.conn_lost += 1;
                }
                n
            };
            if lost > 0 {
                if lost >= LOG_THRESHOLD_FOR_CONNLOST_WRITES {
                    log(py, "warning", ("socket.send() raised exception.",), None)?;
                }
                return Ok(());
            }
        }
        if t.st.borrow(py).sock_closed {
            // asyncio would fail on its dropped socket; the fd number may
            // already belong to someone else, so nothing is sent.
            return Ok(());
        }
        let dest = if connected {
            Dest::Peer
        } else {
            match sockaddr::from_py(t.family, &addr) {
                Some(a) => Dest::Native(a),
                None => Dest::Python(addr.clone().unbind()),
            }
        };
        if t.st.borrow(py).queue.is_empty() {
            match t.send_one(py, view.as_slice(), &dest) {
                Sent::Done => return Ok(()),
                Sent::Again => Self::add_writer(slf)?,
                Sent::OsError(e) => return Self::error_received(slf, e),
                Sent::Other(e) => {
                    if is_exit(py, &e) {
                        return Err(e);
                    }
                    return Self::fatal_error(slf, e, "Fatal write error on datagram transport");
                }
            }
        }
        let bytes = PyBytes::new(py, view.as_slice()).unbind();
        drop(view);
        {
            let mut st = t.st.borrow_mut(py);
            let n = bytes.bind(py).as_bytes().len() + if t.py313 { 8 } else { 0 };
            st.queue.push_back(Queued { data: bytes, dest });
            st.buffer_size += n;
        }
        Self::maybe_flow(slf, true)
    }

    fn _sendto_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        loop {
            let next = t.st.borrow_mut(py).queue.pop_front();
            let Some(q) = next else { break };
            let header = if t.py313 { 8 } else { 0 };
            let n = q.data.bind(py).as_bytes().len() + header;
            t.st.borrow_mut(py).buffer_size -= n;
            let sent = t.send_one(py, q.data.bind(py).as_bytes(), &q.dest);
            match sent {
                Sent::Done => {}
                Sent::Again => {
                    let mut st = t.st.borrow_mut(py);
                    st.queue.push_front(q);
                    st.buffer_size += n;
                    break;
                }
                Sent::OsError(e) => return Self::error_received(slf, e),
                Sent::Other(e) => {
                    if is_exit(py, &e) {
                        return Err(e);
                    }
                    return Self::fatal_error(slf, e, "Fatal write error on datagram transport");
                }
            }
        }
        Self::maybe_flow(slf, false)?;
        let (empty, closing) = {
            let st = t.st.borrow(py);
            (st.queue.is_empty(), st.closing)
        };
        if empty {
            Self::remove_side(slf, Side::Write)?;
            if closing {
                Self::connection_lost(slf, &py.None().into_bound(py))?;
            }
        }
        Ok(())
    }

    fn _read_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        // Several datagrams per wake-up: one socket often serves many peers, and
        // a poll per datagram would cost more than the datagram itself.
        for _ in 0..DATAGRAMS_PER_PASS {
            {
                let st = t.st.borrow(py);
                if st.conn_lost > 0 || st.closing || st.paused {
                    return Ok(());
                }
            }
            let mut from = sockaddr::SockAddr::empty();
            let got = with_scratch(MAX_READ, |buf| {
                // SAFETY: `buf` and `from` are writable for the lengths passed.
                let n = unsafe {
                    libc::recvfrom(
                        t.fd,
                        buf.as_mut_ptr().cast(),
                        buf.len(),
                        0,
                        from.as_mut_ptr(),
                        &mut from.len,
                    )
                };
                if n < 0 {
                    Err(io::Error::last_os_error())
                } else {
                    Ok(PyBytes::new(py, &buf[..n as usize]))
                }
            });
            let data = match got {
                Ok(d) => d,
                Err(e) if would_block(&e) => return Ok(()),
                Err(e) => return Self::error_received(slf, os_error(e)),
            };
            let from = sockaddr::to_python(py, &from)?;
            match t.protocol(py) {
                Some(p) => p.call_method1(intern!(py, "datagram_received"), (data, from))?,
                None => return Ok(()),
            };
        }
        Ok(())
    }

    fn _start_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::add_reader(slf)
    }

    fn _call_connection_lost(slf: &Bound<'_, Self>, exc: &Bound<'_, PyAny>) -> PyResult<()> {
        Self::connection_lost(slf, exc)
    }

    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let t = slf.get();
        let empty = {
            let mut st = t.st.borrow_mut(py);
            if st.closing {
                return Ok(());
            }
            st.closing = true;
            st.queue.is_empty()
        };
        Self::remove_side(slf, Side::Read)?;
        unregister(t.lp(py), t.fd, slf.as_any());
        if empty {
            t.st.borrow_mut(py).conn_lost += 1;
            Self::remove_side(slf, Side::Write)?;
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

    fn abort(slf: &Bound<'_, Self>) -> PyResult<()> {
        Self::force_close(slf, slf.py().None().into_bound(slf.py()))
    }

    fn is_closing(&self, py: Python<'_>) -> bool {
        self.st.borrow(py).closing
    }

    fn is_reading(&self, py: Python<'_>) -> bool {
        let st = self.st.borrow(py);
        !st.closing && !st.paused
    }

    fn pause_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        if !slf.get().is_reading(py) {
            return Ok(());
        }
        slf.get().st.borrow_mut(py).paused = true;
        Self::remove_side(slf, Side::Read)
    }

    fn resume_reading(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        {
            let mut st = slf.get().st.borrow_mut(py);
            if st.closing || !st.paused {
                return Ok(());
            }
            st.paused = false;
        }
        Self::add_reader(slf)
    }

    #[pyo3(signature = (name, default=None))]
    fn get_extra_info(
        &self,
        py: Python<'_>,
        name: &Bound<'_, PyAny>,
        default: Option<Py<PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        if let Ok(s) = name.cast::<PyString>() {
            if s.to_str()? == "socket" {
                return Ok(self
                    .st
                    .borrow(py)
                    .socket_info
                    .as_ref()
                    .map_or_else(|| py.None(), |i| i.clone_ref(py)));
            }
        }
        let extra = self.st.borrow(py).extra.as_ref().map(|e| e.clone_ref(py));
        extra_item(py, extra, name, default)
    }

    #[getter]
    fn _extra(&self, py: Python<'_>) -> PyResult<Py<PyDict>> {
        let st = self.st.borrow(py);
        let extra = st
            .extra
            .as_ref()
            .map(|e| e.clone_ref(py))
            .unwrap_or_else(|| PyDict::new(py).unbind());
        if let Some(info) = st.socket_info.as_ref() {
            extra.bind(py).set_item(intern!(py, "socket"), info)?;
        }
        Ok(extra)
    }

    fn get_write_buffer_size(&self, py: Python<'_>) -> usize {
        self.st.borrow(py).buffer_size
    }

    #[pyo3(signature = (high=None, low=None))]
    fn set_write_buffer_limits(
        slf: &Bound<'_, Self>,
        high: Option<i64>,
        low: Option<i64>,
    ) -> PyResult<()> {
        let (high, low) = water_marks(high, low).map_err(|(h, l)| {
            PyValueError::new_err(format!("high ({h}) must be >= low ({l}) must be >= 0"))
        })?;
        {
            let mut st = slf.get().st.borrow_mut(slf.py());
            st.high = high;
            st.low = low;
        }
        Self::maybe_flow(slf, true)
    }

    fn get_write_buffer_limits(&self, py: Python<'_>) -> (i64, i64) {
        let st = self.st.borrow(py);
        (st.low, st.high)
    }

    fn set_protocol(&self, py: Python<'_>, protocol: Py<PyAny>) {
        let old = self.st.borrow_mut(py).protocol.replace(protocol);
        drop(old);
    }

    fn get_protocol(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.st
            .borrow(py)
            .protocol
            .as_ref()
            .map(|p| p.clone_ref(py))
    }

    #[getter]
    fn _address(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.st.borrow(py).address.as_ref().map(|a| a.clone_ref(py))
    }

    #[getter]
    fn _sock(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        let st = self.st.borrow(py);
        if st.sock_closed {
            return None;
        }
        st.sock.as_ref().map(|s| s.clone_ref(py))
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
    fn _conn_lost(&self, py: Python<'_>) -> u32 {
        self.st.borrow(py).conn_lost
    }

    #[getter]
    fn _server(&self) -> Option<Py<PyAny>> {
        None
    }
}

impl Drop for DatagramTransport {
    fn drop(&mut self) {
        Python::attach(|py| {
            let open = self
                .st
                .try_borrow_for_gc()
                .is_some_and(|st| !st.sock_closed && st.sock.is_some());
            if !open {
                return;
            }
            // asyncio's `__del__`: warn, then close the socket.
            let msg = format!(
                "unclosed transport {}",
                self.describe(py, "_DatagramTransport")
            );
            let sock = self.st.try_borrow_mut_for_gc().and_then(|mut st| {
                st.sock_closed = true;
                st.sock.take()
            });
            let category = py.get_type::<PyResourceWarning>();
            if let Ok(msg) = CString::new(msg) {
                if let Err(e) = PyErr::warn(py, category.as_any(), &msg, 1) {
                    e.write_unraisable(py, None);
                }
            }
            if let Some(sock) = sock {
                close_socket_in_drop(py, sock.bind(py));
            }
        });
    }
}

#[pymethods]
impl LoopCore {
    /// asyncio's `_make_datagram_transport`: a datagram transport over `sock`,
    /// returned as its `asyncio.DatagramTransport` twin.
    #[pyo3(signature = (sock, protocol, address=None, waiter=None, extra=None))]
    fn _make_datagram_transport<'py>(
        slf: &Bound<'py, Self>,
        sock: &Bound<'py, PyAny>,
        protocol: &Bound<'py, PyAny>,
        address: Option<&Bound<'py, PyAny>>,
        waiter: Option<&Bound<'py, PyAny>>,
        extra: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let py = slf.py();
        let fd: RawFd = sock.call_method0(intern!(py, "fileno"))?.extract()?;
        if py.version_info() >= (3, 12) {
            ensure_fd_no_transport(slf, fd, sock)?;
        }
        let family: i32 = sock.getattr(intern!(py, "family"))?.extract()?;
        let dict = PyDict::new(py);
        if let Some(extra) = extra.filter(|e| !e.is_none()) {
            dict.call_method1(intern!(py, "update"), (extra,))?;
        }
        let sockname = match sockaddr::local(fd) {
            Ok(a) => sockaddr::to_python(py, &a)?,
            Err(_) => py.None().into_bound(py),
        };
        dict.set_item(intern!(py, "sockname"), sockname)?;
        if !dict.contains(intern!(py, "peername"))? {
            let peername = match sockaddr::peer(fd) {
                Ok(a) => sockaddr::to_python(py, &a)?,
                Err(_) => py.None().into_bound(py),
            };
            dict.set_item(intern!(py, "peername"), peername)?;
        }
        let connected = dict
            .get_item(intern!(py, "peername"))?
            .map_or(Ok(false), |p| p.is_truthy())?;
        let info = net_support(py)?.transport_socket.bind(py).call1((sock,))?;
        let (high, low) = water_marks(None, None).unwrap_or((64 * 1024, 16 * 1024));
        let t = Bound::new(
            py,
            DatagramTransport {
                fd,
                family,
                loop_: slf.clone().unbind(),
                py313: py.version_info() >= (3, 13),
                st: GilCell::new(State {
                    protocol: Some(protocol.clone().unbind()),
                    twin: None,
                    sock: Some(sock.clone().unbind()),
                    sock_closed: false,
                    socket_info: Some(info.unbind()),
                    extra: Some(dict.unbind()),
                    address: address.filter(|a| !a.is_none()).map(|a| a.clone().unbind()),
                    connected,
                    closing: false,
                    paused: false,
                    conn_lost: 0,
                    protocol_paused: false,
                    reading: false,
                    writing: false,
                    high,
                    low,
                    queue: VecDeque::new(),
                    buffer_size: 0,
                    lost: false,
                }),
            },
        )?;
        let twin = make_twin(net_support(py)?.datagram_twin.bind(py), t.as_any())?;
        t.get().st.borrow_mut(py).twin = Some(twin.clone().unbind());
        register(slf, fd, t.as_any())?;
        call_soon(
            slf,
            (protocol.getattr(intern!(py, "connection_made"))?, &twin),
        )?;
        call_soon(slf, (t.getattr(intern!(py, "_start_reading"))?,))?;
        if let Some(waiter) = waiter.filter(|w| !w.is_none()) {
            let set = net_support(py)?.set_result_unless_cancelled.bind(py);
            call_soon(slf, (set, waiter, py.None()))?;
        }
        Ok(twin)
    }
}
