//! `Listener`: the accept loop of a listening socket, asyncio's
//! `_start_serving`/`_accept_connection`.
//!
//! When the listening fd is readable, up to `backlog` connections are accepted
//! with `accept4` (non-blocking, close-on-exec) and each gets a native
//! `StreamTransport` at once (with TLS, its protocol is an `SSLProtocol`
//! around the user's). asyncio then runs `_accept_connection2` in a new
//! task, one pass later; ferroloop schedules the transport's `_accept_start`
//! with `call_soon`, which calls the protocol factory on that same pass, with
//! no task and no Python frame of its own.

use super::{log, net_support, stream::StreamTransport};
use crate::errors::os_error;
use crate::event_loop::LoopCore;
use crate::fd_table::Side;
use crate::sockaddr;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::PyTraverseError;
use std::io;
use std::os::fd::RawFd;

/// asyncio's `constants.ACCEPT_RETRY_DELAY`: seconds to stop accepting after
/// running out of fds or memory.
const ACCEPT_RETRY_DELAY: f64 = 1.0;

#[pyclass(frozen, module = "ferroloop._ferroloop")]
pub struct Listener {
    fd: RawFd,
    family: i32,
    sock_type: i32,
    proto: i32,
    backlog: usize,
    loop_: Py<LoopCore>,
    sock: Py<PyAny>,
    protocol_factory: Py<PyAny>,
    /// What `_accept_start` calls: `protocol_factory`, or with TLS a factory
    /// of `SSLProtocol`s around its protocols.
    accept_factory: Py<PyAny>,
    server: Py<PyAny>,
    /// `_start_serving`'s TLS arguments, passed back when accepting restarts.
    ssl_args: Py<PyAny>,
}

#[pymethods]
impl Listener {
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        visit.call(&self.sock)?;
        visit.call(&self.protocol_factory)?;
        visit.call(&self.accept_factory)?;
        visit.call(&self.server)?;
        visit.call(&self.ssl_args)?;
        Ok(())
    }

    fn _accept_ready(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let l = slf.get();
        let lp = l.loop_.bind(py);
        for _ in 0..l.backlog {
            let mut peer = sockaddr::SockAddr::empty();
            // SAFETY: `peer` provides `peer.len` bytes for the address.
            let fd = unsafe {
                libc::accept4(
                    l.fd,
                    peer.as_mut_ptr(),
                    &mut peer.len,
                    libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                let err = io::Error::last_os_error();
                return match err.raw_os_error() {
                    Some(libc::EAGAIN | libc::EINTR | libc::ECONNABORTED) => Ok(()),
                    Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM) => {
                        // Linux keeps reporting the fd readable: stop watching it
                        // for a while, as asyncio does. (asyncio goes on trying
                        // the rest of the backlog; each try fails the same way.)
                        Self::out_of_resources(slf, err)
                    }
                    _ => Err(os_error(err)),
                };
            }
            // The transport owns the fd from here: dropped, it closes it.
            let transport = StreamTransport::accepted(lp, fd, l.family, l.sock_type, l.proto)?;
            let peername = sockaddr::to_python(py, &peer)?;
            if lp.get().debug() {
                log(
                    py,
                    "debug",
                    (
                        "%r got a new connection from %r: fd=%r",
                        l.server.bind(py),
                        &peername,
                        fd,
                    ),
                    None,
                )?;
            }
            let extra = PyDict::new(py);
            extra.set_item(intern!(py, "peername"), peername)?;
            super::call_soon(
                lp,
                (
                    transport.getattr(intern!(py, "_accept_start"))?,
                    l.accept_factory.bind(py),
                    l.server.bind(py),
                    extra,
                ),
            )?;
        }
        Ok(())
    }
}

impl Listener {
    fn out_of_resources(slf: &Bound<'_, Self>, err: io::Error) -> PyResult<()> {
        let py = slf.py();
        let l = slf.get();
        let lp = l.loop_.bind(py);
        let exc = os_error(err).into_value(py).into_bound(py).into_any();
        let info = net_support(py)?
            .transport_socket
            .bind(py)
            .call1((l.sock.bind(py),))?;
        let ctx = PyDict::new(py);
        ctx.set_item("message", "socket.accept() out of system resource")?;
        ctx.set_item("exception", exc)?;
        ctx.set_item("socket", info)?;
        lp.as_any()
            .call_method1(intern!(py, "call_exception_handler"), (ctx,))?;
        LoopCore::unwatch(lp, l.fd, Side::Read)?;
        let restart = lp.as_any().getattr(intern!(py, "_start_serving"))?;
        let args = l.ssl_args.bind(py);
        let mut argv: Vec<Bound<'_, PyAny>> = vec![
            pyo3::types::PyFloat::new(py, ACCEPT_RETRY_DELAY).into_any(),
            restart,
            l.protocol_factory.bind(py).clone(),
            l.sock.bind(py).clone(),
        ];
        argv.extend(args.try_iter()?.collect::<PyResult<Vec<_>>>()?);
        let argv = pyo3::types::PyTuple::new(py, argv)?;
        lp.as_any().call_method1(intern!(py, "call_later"), argv)?;
        Ok(())
    }
}

#[pymethods]
impl LoopCore {
    /// asyncio's `_start_serving`: accept connections on `sock` for `server`.
    #[pyo3(signature = (protocol_factory, sock, sslcontext=None, server=None, backlog=100, ssl_handshake_timeout=None, ssl_shutdown_timeout=None))]
    #[allow(clippy::too_many_arguments)]
    fn _start_serving(
        slf: &Bound<'_, Self>,
        protocol_factory: &Bound<'_, PyAny>,
        sock: &Bound<'_, PyAny>,
        sslcontext: Option<&Bound<'_, PyAny>>,
        server: Option<&Bound<'_, PyAny>>,
        backlog: i64,
        ssl_handshake_timeout: Option<&Bound<'_, PyAny>>,
        ssl_shutdown_timeout: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        let py = slf.py();
        let none = py.None().into_bound(py);
        let accept_factory = match sslcontext.filter(|c| !c.is_none()) {
            Some(context) => slf.as_any().call_method1(
                intern!(py, "_tls_accept_factory"),
                (
                    protocol_factory,
                    context,
                    ssl_handshake_timeout.unwrap_or(&none),
                    ssl_shutdown_timeout.unwrap_or(&none),
                ),
            )?,
            None => protocol_factory.clone(),
        };
        let fd: RawFd = sock.call_method0(intern!(py, "fileno"))?.extract()?;
        let listener = Listener {
            fd,
            family: sock.getattr(intern!(py, "family"))?.extract()?,
            sock_type: sock.getattr(intern!(py, "type"))?.extract()?,
            proto: sock.getattr(intern!(py, "proto"))?.extract()?,
            backlog: usize::try_from(backlog).unwrap_or(0),
            loop_: slf.clone().unbind(),
            sock: sock.clone().unbind(),
            protocol_factory: protocol_factory.clone().unbind(),
            accept_factory: accept_factory.unbind(),
            server: server.map_or_else(|| py.None(), |s| s.clone().unbind()),
            ssl_args: (
                sslcontext.map_or_else(|| py.None(), |s| s.clone().unbind()),
                server.map_or_else(|| py.None(), |s| s.clone().unbind()),
                backlog,
                ssl_handshake_timeout.map_or_else(|| py.None(), |s| s.clone().unbind()),
                ssl_shutdown_timeout.map_or_else(|| py.None(), |s| s.clone().unbind()),
            )
                .into_pyobject(py)?
                .into_any()
                .unbind(),
        };
        let listener = Bound::new(py, listener)?;
        LoopCore::watch(
            slf,
            fd,
            Side::Read,
            &listener.getattr(intern!(py, "_accept_ready"))?,
        )
    }

    /// Stops accepting on a listening fd (the native half of `_stop_serving`).
    fn _stop_accepting(slf: &Bound<'_, Self>, fd: RawFd) -> PyResult<bool> {
        LoopCore::unwatch(slf, fd, Side::Read)
    }
}
