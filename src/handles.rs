//! `Handle` and `TimerHandle`: a scheduled callback, as asyncio's `events.py`
//! defines them.
//!
//! A handle keeps its callback, arguments and `contextvars.Context` inline and
//! enters the context through the C API, so running one costs a context
//! switch and a call, no Python frame of ferroloop's own.

use crate::event_loop::LoopCore;
use crate::gil_cell::GilCell;
use crate::support;
use pyo3::exceptions::{PyKeyboardInterrupt, PySystemExit};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::prelude::*;
use pyo3::pyclass::CompareOp;
use pyo3::types::{PyFloat, PyTuple};
use pyo3::PyTraverseError;
use std::sync::atomic::{AtomicBool, Ordering};

/// What a handle calls. Cleared on `cancel()` so a cancelled timer does not
/// keep its arguments alive until it leaves the heap.
#[derive(Default)]
pub struct Callback {
    pub callback: Option<Py<PyAny>>,
    pub args: Option<Py<PyTuple>>,
    pub context: Option<Py<PyAny>>,
    /// The repr taken at cancel time in debug mode, like asyncio.
    pub repr: Option<Py<PyAny>>,
    /// Where the handle was created, captured in debug mode only.
    pub source_traceback: Option<Py<PyAny>>,
}

#[pyclass(frozen, subclass, weakref, module = "ferroloop._ferroloop")]
pub struct Handle {
    pub(crate) cb: GilCell<Callback>,
    pub(crate) cancelled: AtomicBool,
    /// Due time of a timer; NaN for a plain handle.
    pub(crate) when: f64,
    /// A timer still in its loop's heap.
    pub(crate) scheduled: AtomicBool,
    pub(crate) loop_: Option<Py<PyAny>>,
}

/// A handle with a due time; its fields live in the `Handle` base.
#[pyclass(frozen, extends = Handle, module = "ferroloop._ferroloop")]
pub struct TimerHandle;

fn current_context(py: Python<'_>) -> PyResult<Py<PyAny>> {
    // SAFETY: the GIL is held; the call returns a new reference or NULL with an error set.
    unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent()) }.map(Bound::unbind)
}

impl Handle {
    pub(crate) fn create(
        py: Python<'_>,
        callback: Py<PyAny>,
        args: Py<PyTuple>,
        context: Option<Py<PyAny>>,
        when: f64,
        loop_: Option<Py<PyAny>>,
    ) -> PyResult<Handle> {
        let context = match context {
            Some(ctx) if !ctx.is_none(py) => ctx,
            _ => current_context(py)?,
        };
        Ok(Handle {
            cb: GilCell::new(Callback {
                callback: Some(callback),
                args: Some(args),
                context: Some(context),
                repr: None,
                source_traceback: None,
            }),
            cancelled: AtomicBool::new(false),
            when,
            scheduled: AtomicBool::new(false),
            loop_,
        })
    }

    pub(crate) fn is_cancelled(&self) -> bool {
        self.cancelled.load(Ordering::Relaxed)
    }

    fn is_timer(&self) -> bool {
        !self.when.is_nan()
    }

    fn loop_debug(&self, py: Python<'_>) -> bool {
        self.loop_
            .as_ref()
            .and_then(|l| l.bind(py).cast::<LoopCore>().ok().map(|l| l.get().debug()))
            .unwrap_or(false)
    }

    pub(crate) fn cancel_impl(slf: &Bound<'_, Handle>) -> PyResult<()> {
        let py = slf.py();
        let h = slf.get();
        if h.cancelled.swap(true, Ordering::Relaxed) {
            return Ok(());
        }
        if h.is_timer() && h.scheduled.load(Ordering::Relaxed) {
            if let Some(lp) = h.loop_.as_ref() {
                if let Ok(lp) = lp.bind(py).cast::<LoopCore>() {
                    lp.get().timer_cancelled(py);
                }
            }
        }
        if h.loop_debug(py) {
            // Keep the repr with the callback in it before the callback is dropped.
            let repr = support::get(py)?.handle_repr.call1(py, (slf,))?;
            h.cb.borrow_mut(py).repr = Some(repr);
        }
        let dropped = {
            let mut cb = h.cb.borrow_mut(py);
            (cb.callback.take(), cb.args.take())
        };
        drop(dropped);
        Ok(())
    }

    /// Runs the callback in its context. An exception goes to the loop's
    /// exception handler; only `KeyboardInterrupt`/`SystemExit` (or an error
    /// raised by the handler itself) come back as `Err`.
    pub(crate) fn run(slf: &Bound<'_, Handle>) -> PyResult<()> {
        let py = slf.py();
        let h = slf.get();
        if h.is_cancelled() {
            return Ok(());
        }
        let (callback, args, context) = {
            let cb = h.cb.borrow(py);
            match (&cb.callback, &cb.args, &cb.context) {
                (Some(c), Some(a), Some(x)) => (c.clone_ref(py), a.clone_ref(py), x.clone_ref(py)),
                _ => return Ok(()),
            }
        };
        // SAFETY: the GIL is held and every pointer is a live reference owned above.
        let result = unsafe {
            if ffi::PyContext_Enter(context.as_ptr()) < 0 {
                Err(PyErr::fetch(py))
            } else {
                let res =
                    ffi::PyObject_Call(callback.as_ptr(), args.as_ptr(), std::ptr::null_mut());
                let res = Bound::from_owned_ptr_or_err(py, res);
                ffi::PyContext_Exit(context.as_ptr());
                res
            }
        };
        match result {
            Ok(_) => Ok(()),
            Err(err) => {
                if err.is_instance_of::<PyKeyboardInterrupt>(py)
                    || err.is_instance_of::<PySystemExit>(py)
                {
                    return Err(err);
                }
                let lp = h
                    .loop_
                    .as_ref()
                    .map_or_else(|| py.None(), |l| l.clone_ref(py));
                support::get(py)?
                    .callback_error
                    .call1(py, (lp, slf, err.into_value(py)))?;
                Ok(())
            }
        }
    }
}

/// A handle the loop's queues own cannot be garbage (the loop reaches it), so
/// the cycle collector need not scan it: a program with many pending
/// callbacks would otherwise pay for scanning them on every collection.
/// CPython does the same for containers that cannot be part of a cycle.
pub(crate) fn untrack(h: &Py<Handle>) {
    // SAFETY: the GIL is held by every caller; untracking is idempotent.
    unsafe { ffi::PyObject_GC_UnTrack(h.as_ptr().cast()) }
}

/// A handle leaving the loop's queues: if anyone else still holds it, cycles
/// through it may become garbage, so the collector must see it again.
pub(crate) fn release(_py: Python<'_>, h: Py<Handle>) {
    let p = h.as_ptr();
    // SAFETY: the GIL is held (token); `p` is alive while `h` is. Tracking is
    // done only for an untracked object, as the C API requires.
    unsafe {
        if ffi::Py_REFCNT(p) > 1 && ffi::PyObject_GC_IsTracked(p) == 0 {
            ffi::PyObject_GC_Track(p.cast());
        }
    }
    drop(h);
}

fn check_callable(py: Python<'_>, callback: &Bound<'_, PyAny>, method: &str) -> PyResult<()> {
    support::get(py)?
        .check_callback
        .call1(py, (callback, method))?;
    Ok(())
}

#[pymethods]
impl Handle {
    // A handle's callback often refers back to it (an object keeping its own
    // timer handle); the collector must see those references to free such cycles.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        if let Some(cb) = self.cb.try_borrow_for_gc() {
            visit.call(&cb.callback)?;
            visit.call(&cb.args)?;
            visit.call(&cb.context)?;
            visit.call(&cb.repr)?;
            visit.call(&cb.source_traceback)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let taken = self
            .cb
            .try_borrow_mut_for_gc()
            .map(|mut cb| std::mem::take(&mut *cb));
        // Dropped after the borrow ends: a decref may run arbitrary code.
        drop(taken);
    }

    #[new]
    #[pyo3(signature = (callback, args, r#loop, context=None))]
    fn py_new(
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyAny>,
        r#loop: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Handle> {
        check_callable(py, callback, "Handle")?;
        let args = PyTuple::new(py, args.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        Handle::create(
            py,
            callback.clone().unbind(),
            args.unbind(),
            context,
            f64::NAN,
            Some(r#loop),
        )
    }

    fn cancel(slf: &Bound<'_, Self>) -> PyResult<()> {
        Handle::cancel_impl(slf)
    }

    fn cancelled(&self) -> bool {
        self.is_cancelled()
    }

    fn get_context(&self, py: Python<'_>) -> Py<PyAny> {
        self.cb
            .borrow(py)
            .context
            .as_ref()
            .map_or_else(|| py.None(), |c| c.clone_ref(py))
    }

    fn _run(slf: &Bound<'_, Self>) -> PyResult<()> {
        Handle::run(slf)
    }

    fn __repr__(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        if let Some(repr) = slf.get().cb.borrow(py).repr.as_ref() {
            return Ok(repr.clone_ref(py));
        }
        support::get(py)?.handle_repr.call1(py, (slf,))
    }

    #[getter]
    fn _callback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.cb
            .borrow(py)
            .callback
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    #[getter]
    fn _args(&self, py: Python<'_>) -> Option<Py<PyTuple>> {
        self.cb.borrow(py).args.as_ref().map(|c| c.clone_ref(py))
    }

    #[getter]
    fn _context(&self, py: Python<'_>) -> Py<PyAny> {
        self.get_context(py)
    }

    #[getter]
    fn _cancelled(&self) -> bool {
        self.is_cancelled()
    }

    #[getter]
    fn _loop(&self, py: Python<'_>) -> Py<PyAny> {
        self.loop_
            .as_ref()
            .map_or_else(|| py.None(), |l| l.clone_ref(py))
    }

    #[getter]
    fn _source_traceback(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.cb
            .borrow(py)
            .source_traceback
            .as_ref()
            .map(|c| c.clone_ref(py))
    }

    #[setter(_source_traceback)]
    fn set_source_traceback(&self, py: Python<'_>, value: Option<Py<PyAny>>) {
        self.cb.borrow_mut(py).source_traceback = value.filter(|v| !v.is_none(py));
    }
}

#[pymethods]
impl TimerHandle {
    #[new]
    #[pyo3(signature = (when, callback, args, r#loop, context=None))]
    fn py_new(
        py: Python<'_>,
        when: f64,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyAny>,
        r#loop: Py<PyAny>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<PyClassInitializer<TimerHandle>> {
        check_callable(py, callback, "TimerHandle")?;
        let args = PyTuple::new(py, args.try_iter()?.collect::<PyResult<Vec<_>>>()?)?;
        let base = Handle::create(
            py,
            callback.clone().unbind(),
            args.unbind(),
            context,
            when,
            Some(r#loop),
        )?;
        Ok(PyClassInitializer::from(base).add_subclass(TimerHandle))
    }

    fn when(slf: &Bound<'_, Self>) -> f64 {
        slf.as_super().get().when
    }

    #[getter]
    fn _when(slf: &Bound<'_, Self>) -> f64 {
        slf.as_super().get().when
    }

    #[getter]
    fn _scheduled(slf: &Bound<'_, Self>) -> bool {
        slf.as_super().get().scheduled.load(Ordering::Relaxed)
    }

    fn __hash__(slf: &Bound<'_, Self>) -> PyResult<isize> {
        PyFloat::new(slf.py(), slf.as_super().get().when).hash()
    }

    fn __richcmp__(
        slf: &Bound<'_, Self>,
        other: &Bound<'_, PyAny>,
        op: CompareOp,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let Ok(other) = other.cast::<TimerHandle>() else {
            return Ok(py.NotImplemented());
        };
        let (a, b) = (slf.as_super().get(), other.as_super().get());
        // asyncio's TimerHandle: ordered by due time; equal only when due
        // time, callback, arguments and cancelled state all match, and
        // `<=`/`>=` mean "strictly before/after, or equal".
        let equal = || -> PyResult<bool> {
            if a.when != b.when || a.is_cancelled() != b.is_cancelled() {
                return Ok(false);
            }
            let same = |x: Option<Bound<'_, PyAny>>, y: Option<Bound<'_, PyAny>>| match (x, y) {
                (Some(x), Some(y)) => x.eq(y),
                (x, y) => Ok(x.is_none() && y.is_none()),
            };
            let cb = |h: &Handle| h._callback(py).map(|c| c.into_bound(py));
            let args = |h: &Handle| h._args(py).map(|c| c.into_bound(py).into_any());
            Ok(same(cb(a), cb(b))? && same(args(a), args(b))?)
        };
        let result = match op {
            CompareOp::Lt => a.when < b.when,
            CompareOp::Gt => a.when > b.when,
            CompareOp::Le => a.when < b.when || equal()?,
            CompareOp::Ge => a.when > b.when || equal()?,
            CompareOp::Eq => equal()?,
            CompareOp::Ne => !equal()?,
        };
        Ok(result.into_pyobject(py)?.to_owned().into_any().unbind())
    }
}
