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
//!
//! The type's `tp_iternext` and `am_send` slots are native functions set
//! after PyO3 creates the type ([`install_slots`]): the C Task steps a
//! coroutine with `am_send` and `await` with `tp_iternext`, and both can
//! then return a result without creating a `StopIteration` (`am_send`), or
//! with one only for a non-`None` result (`tp_iternext`).

use crate::gil_cell::GilCell;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration, PyTypeError};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyTuple, PyType};
use pyo3::PyTraverseError;
use pyo3::PyTypeInfo;
use std::panic::{catch_unwind, AssertUnwindSafe};

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

/// What one step of the coroutine did.
enum Step {
    /// Suspended on this future.
    Yield(Py<PyAny>),
    /// Finished with this value.
    Return(Py<PyAny>),
}

impl Step {
    /// The Python protocol's form: a yielded value, or `StopIteration(value)`.
    fn into_result(self) -> PyResult<Py<PyAny>> {
        match self {
            Step::Yield(v) => Ok(v),
            Step::Return(v) => Err(PyStopIteration::new_err((v,))),
        }
    }
}

impl NativeCoro {
    pub fn new(py: Python<'_>, name: &'static str, start: Box<dyn Start>) -> PyResult<Py<Self>> {
        install_slots(py);
        Py::new(
            py,
            NativeCoro {
                name,
                state: GilCell::new(State::Created(start)),
            },
        )
    }

    fn step(&self, py: Python<'_>, value: Option<&Bound<'_, PyAny>>) -> PyResult<Step> {
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
                    Started::Return(v) => Ok(Step::Return(v)),
                    Started::Await(fut) => {
                        fut.setattr(py, intern!(py, "_asyncio_future_blocking"), true)?;
                        self.state.replace(py, State::Awaiting(fut.clone_ref(py)));
                        Ok(Step::Yield(fut))
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
                Ok(Step::Return(result.unbind()))
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

    // The C-level slot is `coro_iternext`; this is `__next__` for Python callers.
    fn __next__(&self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        self.step(py, None)?.into_result()
    }

    fn send(&self, py: Python<'_>, value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        self.step(py, Some(value))?.into_result()
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

/// Runs one step from a C slot: `obj` is a `NativeCoro`, the GIL is held.
/// A panic becomes a Python exception rather than crossing into C.
///
/// # Safety
/// `obj` must be a live `NativeCoro`; `arg` NULL or a live object.
unsafe fn step_from_c(obj: *mut ffi::PyObject, arg: *mut ffi::PyObject) -> PyResult<Step> {
    // SAFETY: slots run with the GIL held.
    let py = unsafe { Python::assume_attached() };
    // SAFETY: the slot belongs to NativeCoro's type, so `obj` is one; `arg`
    // is borrowed for the call.
    let (coro, arg) = unsafe {
        (
            Bound::from_borrowed_ptr(py, obj),
            Bound::from_borrowed_ptr_or_opt(py, arg),
        )
    };
    // SAFETY: as above, `obj` is a NativeCoro.
    let coro = unsafe { coro.cast_unchecked::<NativeCoro>() };
    catch_unwind(AssertUnwindSafe(|| coro.get().step(py, arg.as_ref()))).unwrap_or_else(|_| {
        Err(PyRuntimeError::new_err(
            "ferroloop: internal error in a native coroutine",
        ))
    })
}

/// `tp_iternext`: a `None` result is the end with no exception at all, any
/// other result a `StopIteration` built by CPython without normalising.
unsafe extern "C" fn coro_iternext(obj: *mut ffi::PyObject) -> *mut ffi::PyObject {
    // SAFETY: CPython calls the slot with a live NativeCoro.
    let res = unsafe { step_from_c(obj, std::ptr::null_mut()) };
    // SAFETY: the GIL is held (we are in a slot).
    let py = unsafe { Python::assume_attached() };
    match res {
        Ok(Step::Yield(v)) => v.into_ptr(),
        Ok(Step::Return(v)) if v.is_none(py) => std::ptr::null_mut(),
        Ok(Step::Return(v)) => {
            let ptr = v.as_ptr();
            // SAFETY: `ptr` is alive (owned by `v`) for these calls. A tuple or
            // an exception must be wrapped, or CPython would unpack it.
            unsafe {
                if ffi::PyTuple_Check(ptr) != 0 || ffi::PyExceptionInstance_Check(ptr) != 0 {
                    PyStopIteration::new_err((v,)).restore(py);
                } else {
                    ffi::PyErr_SetObject(ffi::PyExc_StopIteration, ptr);
                }
            }
            std::ptr::null_mut()
        }
        Err(e) => {
            e.restore(py);
            std::ptr::null_mut()
        }
    }
}

/// `am_send`, used by `PyIter_Send` (the C Task's step, `await` on 3.11):
/// results come back with no exception.
unsafe extern "C" fn coro_am_send(
    obj: *mut ffi::PyObject,
    arg: *mut ffi::PyObject,
    result: *mut *mut ffi::PyObject,
) -> ffi::PySendResult {
    // SAFETY: CPython calls the slot with a live NativeCoro and argument.
    let res = unsafe { step_from_c(obj, arg) };
    // SAFETY: the GIL is held (we are in a slot); `result` is writable.
    unsafe {
        let py = Python::assume_attached();
        match res {
            Ok(Step::Yield(v)) => {
                *result = v.into_ptr();
                ffi::PySendResult::PYGEN_NEXT
            }
            Ok(Step::Return(v)) => {
                *result = v.into_ptr();
                ffi::PySendResult::PYGEN_RETURN
            }
            Err(e) => {
                e.restore(py);
                *result = std::ptr::null_mut();
                ffi::PySendResult::PYGEN_ERROR
            }
        }
    }
}

/// Points NativeCoro's `tp_iternext` and `am_send` at the native functions
/// above, once. PyO3 has no `am_send`, and its `__next__` can only report a
/// result by raising `StopIteration`.
fn install_slots(py: Python<'_>) {
    static INSTALLED: PyOnceLock<()> = PyOnceLock::new();
    INSTALLED.get_or_init(py, || {
        let tp = NativeCoro::type_object(py);
        let tp = tp.as_type_ptr();
        // SAFETY: the type is a heap type PyO3 just created (its async
        // methods live in the heap type object, and `__await__` made it
        // non-NULL); slots may be replaced while no instance exists yet, and
        // PyType_Modified drops any cached lookups.
        unsafe {
            (*tp).tp_iternext = Some(coro_iternext);
            if let Some(methods) = (*tp).tp_as_async.as_mut() {
                methods.am_send = Some(coro_am_send);
            }
            ffi::PyType_Modified(tp);
        }
    });
}
