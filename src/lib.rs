//! ferroloop's extension module, `ferroloop._ferroloop`.
//!
//! The native half of the loop: scheduling, handles, the fd table and the run
//! loop. The Python package (`python/ferroloop`) subclasses [`LoopCore`] into
//! `ferroloop.Loop` and adds the long tail (executors, signals, async
//! generators, the exception handler), which never sits on a hot path.
//!
//! The module declares that it needs the GIL: its state lives in
//! [`gil_cell::GilCell`]s whose soundness rests on it.

mod dns;
mod errors;
mod event_loop;
mod fd_table;
mod fresh_bytes;
mod gil_cell;
mod handles;
mod sock_ops;
mod sockaddr;
mod support;
mod transports;

use pyo3::prelude::*;

#[pymodule(gil_used = true)]
fn _ferroloop(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<event_loop::LoopCore>()?;
    m.add_class::<handles::Handle>()?;
    m.add_class::<handles::TimerHandle>()?;
    m.add_class::<transports::stream::StreamTransport>()?;
    m.add_class::<transports::server::Listener>()?;
    m.add_class::<transports::datagram::DatagramTransport>()?;
    Ok(())
}
