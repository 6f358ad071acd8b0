//! Python objects the native loop uses, imported once per interpreter.
//!
//! Cold paths (error reports, slow-callback warnings, reprs, debug-mode stack
//! capture) are written in Python in `ferroloop._support`; hot paths only
//! touch the cached types and interned names here.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyTuple;

pub struct Support {
    /// CPython's C `_asyncio.Future` and `_asyncio.Task`.
    pub future_type: Py<PyAny>,
    pub task_type: Py<PyAny>,
    /// `ferroloop._support` helpers.
    pub callback_error: Py<PyAny>,
    pub slow_callback: Py<PyAny>,
    pub handle_repr: Py<PyAny>,
    pub extract_stack: Py<PyAny>,
    pub check_callback: Py<PyAny>,
    pub set_task_name: Py<PyAny>,
    /// `("loop",)`, the keyword names of `Future(loop=...)` / `Task(coro, loop=...)`.
    pub loop_kwnames: Py<PyTuple>,
    /// True on Pythons whose `create_task` hands every keyword to the factory (3.14+).
    pub create_task_kwargs_to_factory: bool,
}

static SUPPORT: PyOnceLock<Support> = PyOnceLock::new();

pub fn get(py: Python<'_>) -> PyResult<&Support> {
    SUPPORT.get_or_try_init(py, || {
        let asyncio = py.import("asyncio")?;
        let helpers = py.import("ferroloop._support")?;
        let f = |name: &str| -> PyResult<Py<PyAny>> { Ok(helpers.getattr(name)?.unbind()) };
        Ok(Support {
            future_type: asyncio.getattr("Future")?.unbind(),
            task_type: asyncio.getattr("Task")?.unbind(),
            callback_error: f("callback_error")?,
            slow_callback: f("slow_callback")?,
            handle_repr: f("handle_repr")?,
            extract_stack: f("extract_stack")?,
            check_callback: f("check_callback")?,
            set_task_name: f("set_task_name")?,
            loop_kwnames: PyTuple::new(py, ["loop"])?.unbind(),
            create_task_kwargs_to_factory: py.version_info() >= (3, 14),
        })
    })
}
