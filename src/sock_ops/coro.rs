//! `NativeCoroutine`: the awaitable that native `async` loop methods return.
//!
//! asyncio's `sock_recv`, `getaddrinfo`... are coroutines: calling one does
//! nothing until it is awaited, and `create_task` accepts it. A native
//! coroutine keeps both properties without a Python frame: it has `send`,
//! `throw`, `close` and `__await__`, so `collections.abc.Coroutine` (and thus
//! `asyncio.iscoroutine` and the C Task) accept it. Its first step runs the
//! operation ([`Start::start`]): an answer at once ends the coroutine with no
//! future at all; otherwise it yields a future, like `await fut`.
//!
//! # Implementation notes
//! A yielded future gets `_asyncio_future_blocking = True`, as
//! `Future.__await__` does, so the Task treats it as awaited. Throwing into
//! a coroutine that waits cancels its future: the operation is abandoned, and
//! the future's done callbacks unregister whatever it watched.

use crate::gil_cell::GilCell;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyTuple, PyType};
use pyo3::PyTraverseError;

/// What a native coroutine does when first stepped.
pub(crate) trait Start: Send + Sync {
    fn start(self: Box<Self>, py: Python<'_>) -> PyResult<Started>;
    /// Visits the Python objects held, for the garbage collector.
    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError>;
}

pub(crate) enum Started {
    /// The operation finished: the coroutine returns this value.
    Return(Py<PyAny>),
    /// The operation waits: the coroutine awaits this future.
    Await(Py<PyAny>),
}

enum State {
    Created(Box<dyn Start>),
    Awaiting(Py<PyAny>),
    Finished,
}

#[pyclass(frozen, module = "ferroloop._ferroloop", name = "NativeCoroutine")]
pub(crate) struct NativeCoro {
    name: &'static str,
    state: GilCell<State>,
}

fn stop_with(value: Py<PyAny>) -> PyErr {
    PyStopIteration::new_err((value,))
}

impl NativeCoro {
    pub fn new(py: Python<'_>, name: &'static str, start: Box<dyn Start>) -> PyResult<Py<Self>> {
        Py::new(
            py,
            NativeCoro {
                name,
                state: GilCell::new(State::Created(start)),
            },
        )
    }

    fn step(&self, py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Py<PyAny>> {
        let state = self.state.replace(py, State::Finished);
        match state {
            State::Created(start) => {
                if value.is_some_and(|v| !v.is_none()) {
                    self.state.replace(py, State::Created(start));
                    return Err(PyTypeError::new_err(
                        "can't send non-None value to a just-started coroutine",
                    ));
                }
                match start.start(py)? {
                    Started::Return(v) => Err(stop_with(v)),
                    Started::Await(fut) => {
                        fut.setattr(py, intern!(py, "_asyncio_future_blocking"), true)?;
                        self.state.replace(py, State::Awaiting(fut.clone_ref(py)));
                        Ok(fut)
                    }
                }
            }
            State::Awaiting(fut) => {
                let b = fut.bind(py);
                if !b.call_method0(intern!(py, "done"))?.is_truthy()? {
                    self.state.replace(py, State::Awaiting(fut.clone_ref(py)));
                    return Err(PyRuntimeError::new_err("await wasn't used with future"));
                }
                let result = b.call_method0(intern!(py, "result"))?;
                Err(stop_with(result.unbind()))
            }
            State::Finished => Err(PyRuntimeError::new_err(
                "cannot reuse already awaited coroutine",
            )),
        }
    }

    /// Ends the coroutine; a future still pending is cancelled.
    fn finish(&self, py: Python<'_>) -> PyResult<()> {
        let state = self.state.replace(py, State::Finished);
        if let State::Awaiting(fut) = state {
            let b = fut.bind(py);
            if !b.call_method0(intern!(py, "done"))?.is_truthy()? {
                b.call_method0(intern!(py, "cancel"))?;
            }
        }
        Ok(())
    }
}

/// The exception `throw(typ, val, tb)` raises, built the way generators do.
fn thrown(
    py: Python<'_>,
    typ: &Bound<'_, PyAny>,
    val: Option<&Bound<'_, PyAny>>,
    tb: Option<&Bound<'_, PyAny>>,
) -> PyResult<PyErr> {
    let val = val.filter(|v| !v.is_none());
    let exc = if let Ok(cls) = typ.cast::<PyType>() {
        match val {
            Some(v) if v.is_instance(cls)? => v.clone(),
            Some(v) if v.is_instance_of::<PyTuple>() => typ.call1(v.cast::<PyTuple>()?)?,
            Some(v) => typ.call1((v,))?,
            None => typ.call0()?,
        }
    } else {
        if val.is_some() {
            return Err(PyTypeError::new_err(
                "instance exception may not have a separate value",
            ));
        }
        typ.clone()
    };
    if let Some(tb) = tb.filter(|t| !t.is_none()) {
        exc.call_method1(intern!(py, "with_traceback"), (tb,))?;
    }
    Ok(PyErr::from_value(exc))
}

#[pymethods]
impl NativeCoro {
    fn __await__(slf: Py<Self>) -> Py<Self> {
        slf
    }

    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py, None)
    }

    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.step(py, Some(value))
    }

    #[pyo3(signature = (typ, val=None, tb=None))]
    fn throw(
        &self,
        py: Python<'_>,
        typ: &Bound<'_, PyAny>,
        val: Option<&Bound<'_, PyAny>>,
        tb: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let err = thrown(py, typ, val, tb)?;
        self.finish(py)?;
        Err(err)
    }

    fn close(&self, py: Python<'_>) -> PyResult<()> {
        self.finish(py)
    }

    #[getter]
    fn __name__(&self) -> &'static str {
        self.name
    }

    #[getter]
    fn __qualname__(&self) -> String {
        format!("Loop.{}", self.name)
    }

    #[getter]
    fn cr_await(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match &*self.state.borrow(py) {
            State::Awaiting(fut) => Some(fut.clone_ref(py)),
            _ => None,
        }
    }

    #[getter]
    fn cr_running(&self) -> bool {
        false
    }

    fn __repr__(&self) -> String {
        format!("<native coroutine Loop.{}>", self.name)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(state) = self.state.try_borrow_for_gc() {
            match &*state {
                State::Created(start) => start.traverse(&visit)?,
                State::Awaiting(fut) => visit.call(fut)?,
                State::Finished => {}
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let taken = self
            .state
            .try_borrow_mut_for_gc()
            .map(|mut s| std::mem::replace(&mut *s, State::Finished));
        // Dropped after the borrow ends: a decref may run arbitrary code.
        drop(taken);
    }
}
