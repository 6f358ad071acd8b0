//! `LoopCore`: the native base of `ferroloop.Loop`.
//!
//! It owns what every pass touches: the ready queue, the timer heap, the fd
//! table and the poller. A pass (`run_once`) follows asyncio's `_run_once`:
//! poll (without the GIL, and only when nothing is ready), queue the handles of
//! ready fds, queue the timers that are due, then run exactly the handles that
//! were queued when the pass began.

use crate::errors::os_error;
use crate::fd_table::{FdTable, Side};
use crate::gil_cell::GilCell;
use crate::handles::{self, Handle, TimerHandle};
use crate::support;
use ferroloop_core::poller::MAX_TIMEOUT;
use ferroloop_core::{
    clock, Events, IdleSpin, Interest, Poller, ReadyQueue, TimerEntry, TimerHeap, Waker,
};
use pyo3::exceptions::{PyRuntimeError, PyTypeError, PyValueError};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyInt, PyTuple};
use pyo3::PyTraverseError;
use std::io;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The poller token of the waker's eventfd; fds use their own number.
const WAKER_TOKEN: u64 = u64::MAX;

/// A timer in the heap: the handle, which carries its own due time.
struct Timer(Py<Handle>);

impl TimerEntry for Timer {
    fn is_cancelled(&self) -> bool {
        self.0.get().is_cancelled()
    }
    fn on_removed(&self) {
        self.0.get().scheduled.store(false, Ordering::Relaxed);
    }
}

fn current_thread_id() -> u64 {
    // SAFETY: pthread_self has no preconditions. CPython's threading.get_ident()
    // returns the same value.
    unsafe { libc::pthread_self() as u64 }
}

/// A poll's result as Python sees it. A signal that ended the wait runs
/// Python's handlers now, so Ctrl-C raises KeyboardInterrupt at once.
fn after_poll(py: Python<'_>, res: io::Result<usize>) -> PyResult<usize> {
    match res {
        Ok(n) => Ok(n),
        Err(e) if e.kind() == io::ErrorKind::Interrupted => {
            // SAFETY: the GIL is held.
            if unsafe { ffi::PyErr_CheckSignals() } < 0 {
                Err(PyErr::fetch(py))
            } else {
                Ok(0)
            }
        }
        Err(e) => Err(os_error(e)),
    }
}

/// The largest spin before sleeping: `FERROLOOP_IDLE_SPIN_US` microseconds
/// (0 turns spinning off), or the default. At most 1 ms, since signal handlers
/// wait for the spin to end.
fn idle_spin_max() -> PyResult<Duration> {
    const VAR: &str = "FERROLOOP_IDLE_SPIN_US";
    match std::env::var(VAR) {
        Err(std::env::VarError::NotPresent) => Ok(ferroloop_core::idle_spin::DEFAULT_MAX),
        Ok(v) => match v.trim().parse::<u32>() {
            Ok(us) if us <= 1_000 => Ok(Duration::from_micros(us.into())),
            _ => Err(PyValueError::new_err(format!(
                "{VAR} must be a whole number of microseconds from 0 to 1000, not {v:?}"
            ))),
        },
        Err(e) => Err(PyValueError::new_err(format!("{VAR}: {e}"))),
    }
}

fn closed_error() -> PyErr {
    PyRuntimeError::new_err("Event loop is closed")
}

#[pyclass(frozen, subclass, weakref, module = "ferroloop._ferroloop")]
pub struct LoopCore {
    ready: GilCell<ReadyQueue<Py<Handle>>>,
    timers: GilCell<TimerHeap<Timer>>,
    fds: GilCell<FdTable>,
    /// Taken out while the GIL is released around the poll.
    events: GilCell<Events>,
    /// `None` once closed; an `Arc` so the poll can run without the GIL.
    poller: GilCell<Option<Arc<Poller>>>,
    waker: GilCell<Option<Arc<Waker>>>,
    running: AtomicBool,
    stopping: AtomicBool,
    closed: AtomicBool,
    debug: AtomicBool,
    thread_id: AtomicU64,
    slow_callback_duration: GilCell<f64>,
    task_factory: GilCell<Option<Py<PyAny>>>,
    /// The handle being run, kept in debug mode for the exception handler.
    current_handle: GilCell<Option<Py<Handle>>>,
    /// The last plain function checked not to be a coroutine function, kept
    /// alive so its identity cannot be reused: call_soon with the same
    /// function skips the check.
    checked_code: GilCell<Option<Py<PyAny>>>,
    clock_resolution: f64,
    /// How long to poll before sleeping; see `ferroloop_core::idle_spin`.
    idle_spin: GilCell<IdleSpin>,
    /// Open transports by fd, so `add_reader` and friends refuse their fds.
    pub(crate) transports: GilCell<crate::transports::Registry>,
    /// The process that created the poller; a forked child must not touch it.
    pid: libc::pid_t,
}

impl LoopCore {
    pub fn debug(&self) -> bool {
        self.debug.load(Ordering::Relaxed)
    }

    pub fn timer_cancelled(&self, py: Python<'_>) {
        self.timers.borrow_mut(py).note_cancelled();
    }

    pub(crate) fn check_closed(&self) -> PyResult<()> {
        if self.closed.load(Ordering::Relaxed) {
            return Err(closed_error());
        }
        Ok(())
    }

    fn check_process(&self) -> PyResult<()> {
        if !self.in_creating_process() {
            return Err(PyRuntimeError::new_err(
                "this event loop was created in another process (before fork()); create a new loop",
            ));
        }
        Ok(())
    }

    fn poller(&self, py: Python<'_>) -> PyResult<Arc<Poller>> {
        self.poller.borrow(py).clone().ok_or_else(closed_error)
    }

    fn in_creating_process(&self) -> bool {
        // SAFETY: getpid has no preconditions.
        unsafe { libc::getpid() == self.pid }
    }

    /// The poller, unless this is a forked child: the child shares the
    /// parent's epoll instance and must leave it alone.
    fn own_poller(&self, py: Python<'_>) -> Option<Arc<Poller>> {
        self.poller
            .borrow(py)
            .clone()
            .filter(|_| self.in_creating_process())
    }

    fn check_thread(&self) -> PyResult<()> {
        let owner = self.thread_id.load(Ordering::Relaxed);
        if owner != 0 && owner != current_thread_id() {
            return Err(PyRuntimeError::new_err(
                "Non-thread-safe operation invoked on an event loop other than the current one",
            ));
        }
        Ok(())
    }

    /// asyncio checks callbacks only in debug mode; ferroloop always rejects a
    /// non-callable or a coroutine function at call time, because either would
    /// otherwise fail later, far from the mistake.
    fn check_callback(
        &self,
        py: Python<'_>,
        callback: &Bound<'_, PyAny>,
        method: &str,
    ) -> PyResult<()> {
        let ptr = callback.as_ptr();
        // SAFETY: `ptr` is a live object; these are type checks.
        let (callable, function) = unsafe {
            (
                ffi::PyCallable_Check(ptr) != 0,
                ffi::PyFunction_Check(ptr) != 0,
            )
        };
        if callable && !function && !self.debug() {
            return Ok(());
        }
        if callable && function && !self.debug() {
            // SAFETY: `ptr` is a function object; the code object is borrowed from it.
            let code = unsafe { Bound::from_borrowed_ptr(py, ffi::PyFunction_GetCode(ptr)) };
            if let Some(seen) = self.checked_code.borrow(py).as_ref() {
                if seen.is(&code) {
                    return Ok(());
                }
            }
            let flags: i64 = code.getattr(intern!(py, "co_flags"))?.extract()?;
            if flags & i64::from(ffi::CO_COROUTINE) == 0 {
                self.checked_code.replace(py, Some(code.unbind()));
                return Ok(());
            }
        }
        support::get(py)?
            .check_callback
            .call1(py, (callback, method))?;
        Ok(())
    }

    fn new_handle(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let py = slf.py();
        let h = Py::new(
            py,
            Handle::create(
                py,
                callback.clone().unbind(),
                args.clone().unbind(),
                context,
                f64::NAN,
                Some(slf.clone().into_any().unbind()),
            )?,
        )?;
        if slf.get().debug() {
            capture_source(h.bind(py))?;
        }
        Ok(h)
    }

    fn schedule_soon(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
        method: &str,
        check_thread: bool,
    ) -> PyResult<Py<Handle>> {
        let lp = slf.get();
        let py = slf.py();
        lp.check_closed()?;
        if check_thread && lp.debug() {
            lp.check_thread()?;
        }
        lp.check_callback(py, callback, method)?;
        let h = Self::new_handle(slf, callback, args, context)?;
        handles::untrack(&h);
        lp.ready.borrow_mut(py).push(h.clone_ref(py));
        Ok(h)
    }

    fn schedule_at(
        slf: &Bound<'_, Self>,
        when: f64,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
        method: &str,
    ) -> PyResult<Py<TimerHandle>> {
        let lp = slf.get();
        let py = slf.py();
        lp.check_closed()?;
        if lp.debug() {
            lp.check_thread()?;
        }
        lp.check_callback(py, callback, method)?;
        let base = Handle::create(
            py,
            callback.clone().unbind(),
            args.clone().unbind(),
            context,
            when,
            Some(slf.clone().into_any().unbind()),
        )?;
        base.scheduled.store(true, Ordering::Relaxed);
        let timer = Py::new(py, PyClassInitializer::from(base).add_subclass(TimerHandle))?;
        let as_handle: Py<Handle> = timer.bind(py).as_super().clone().unbind();
        if lp.debug() {
            capture_source(as_handle.bind(py))?;
        }
        handles::untrack(&as_handle);
        lp.timers.borrow_mut(py).push(when, Timer(as_handle));
        Ok(timer)
    }

    /// One pass of the loop.
    fn run_once(slf: &Bound<'_, Self>) -> PyResult<()> {
        let lp = slf.get();
        let py = slf.py();

        let timeout = {
            let mut timers = lp.timers.borrow_mut(py);
            timers.prune();
            if !lp.ready.borrow(py).is_empty() || lp.stopping.load(Ordering::Relaxed) {
                Some(0.0)
            } else {
                timers
                    .next_when()
                    .map(|when| (when - clock::monotonic()).clamp(0.0, MAX_TIMEOUT))
            }
        };

        let poller = lp.poller(py)?;
        let waker = lp.waker.borrow(py).clone().ok_or_else(closed_error)?;
        // Swapped with an empty buffer, which does not allocate.
        let mut events =
            std::mem::replace(&mut *lp.events.borrow_mut(py), Events::with_capacity(0));
        let polled = if timeout == Some(0.0) {
            if lp.fds.borrow(py).is_empty() {
                // Nothing but the waker is registered, and the waker is only
                // written while the loop sleeps: a zero-timeout poll would
                // find nothing, so the syscall is skipped.
                Ok(0)
            } else {
                after_poll(py, poller.wait(&mut events, Some(0.0)))
            }
        } else {
            // Nothing is ready: the only time the GIL is let go. Other threads
            // publish under the GIL, so none can slip in between the ready
            // check above and `prepare_sleep`.
            waker.prepare_sleep();
            let res = Self::spin_then_sleep(slf, &poller, &mut events, timeout);
            waker.finish_sleep();
            res
        };
        if let Err(err) = polled {
            *lp.events.borrow_mut(py) = events;
            return Err(err);
        }

        let mut stale: Vec<(RawFd, Side)> = Vec::new();
        {
            let fds = lp.fds.borrow(py);
            let mut ready = lp.ready.borrow_mut(py);
            for ev in events.iter() {
                if ev.token == WAKER_TOKEN {
                    waker.drain();
                    continue;
                }
                let fd = ev.token as RawFd;
                let Some(entry) = fds.get(fd) else { continue };
                for (wanted, side, handle) in [
                    (ev.readable, Side::Read, &entry.reader),
                    (ev.writable, Side::Write, &entry.writer),
                ] {
                    if let (true, Some(h)) = (wanted, handle) {
                        if h.get().is_cancelled() {
                            stale.push((fd, side));
                        } else {
                            ready.push(h.clone_ref(py));
                        }
                    }
                }
            }
        }
        *lp.events.borrow_mut(py) = events;
        if !stale.is_empty() {
            let mut fds = lp.fds.borrow_mut(py);
            for (fd, side) in stale {
                drop(fds.remove(Some(&poller), fd, side));
            }
        }

        {
            let end = clock::monotonic() + lp.clock_resolution;
            let mut ready = lp.ready.borrow_mut(py);
            lp.timers.borrow_mut(py).pop_due(end, |t| ready.push(t.0));
        }

        let todo = lp.ready.borrow(py).begin_pass();
        if lp.debug() {
            for _ in 0..todo {
                let Some(h) = lp.ready.borrow_mut(py).pop() else {
                    break;
                };
                lp.run_timed(slf, h)?;
            }
        } else {
            for _ in 0..todo {
                let Some(h) = lp.ready.borrow_mut(py).pop() else {
                    break;
                };
                let res = Handle::run(h.bind(py));
                handles::release(py, h);
                res?;
            }
        }
        Ok(())
    }

    /// The blocking poll of a pass with nothing ready. When recent sleeps were
    /// short, it first polls without blocking for the `IdleSpin` budget; then
    /// Python's signal handlers get their chance, as they would have had before
    /// a plain sleep, and only then does the loop block.
    fn spin_then_sleep(
        slf: &Bound<'_, Self>,
        poller: &Poller,
        events: &mut Events,
        timeout: Option<f64>,
    ) -> PyResult<usize> {
        let lp = slf.get();
        let py = slf.py();
        let budget = lp.idle_spin.borrow(py).budget();
        let mut timeout = timeout;
        if !budget.is_zero()
            && !lp.fds.borrow(py).is_empty()
            && timeout.map_or(true, |t| t > budget.as_secs_f64())
        {
            let start = Instant::now();
            let found = after_poll(py, py.detach(|| poller.spin(events, budget)))?;
            if found > 0 {
                return Ok(found);
            }
            // SAFETY: the GIL is held.
            if unsafe { ffi::PyErr_CheckSignals() } < 0 {
                return Err(PyErr::fetch(py));
            }
            if !lp.ready.borrow(py).is_empty() || lp.stopping.load(Ordering::Relaxed) {
                return Ok(0);
            }
            timeout = timeout.map(|t| (t - start.elapsed().as_secs_f64()).max(0.0));
        }
        let start = Instant::now();
        let res = py.detach(|| poller.wait(events, timeout));
        let by_event = matches!(res, Ok(n) if n > 0);
        lp.idle_spin
            .borrow_mut(py)
            .after_sleep(start.elapsed(), by_event);
        after_poll(py, res)
    }

    /// Debug mode: remember the current handle and report slow callbacks.
    fn run_timed(&self, slf: &Bound<'_, Self>, h: Py<Handle>) -> PyResult<()> {
        let py = slf.py();
        self.current_handle.replace(py, Some(h.clone_ref(py)));
        let t0 = clock::monotonic();
        let res = Handle::run(h.bind(py));
        let dt = clock::monotonic() - t0;
        self.current_handle.replace(py, None);
        if let Err(e) = res {
            handles::release(py, h);
            return Err(e);
        }
        if dt >= self.slow_callback_duration.get(py) {
            support::get(py)?
                .slow_callback
                .call1(py, (slf, h.clone_ref(py), dt))?;
        }
        handles::release(py, h);
        Ok(())
    }

    fn fd_of(obj: &Bound<'_, PyAny>) -> PyResult<RawFd> {
        let py = obj.py();
        let fd: i64 = if obj.is_instance_of::<PyInt>() {
            obj.extract()?
        } else {
            let invalid = || {
                PyValueError::new_err(format!(
                    "Invalid file object: {}",
                    obj.repr().map(|r| r.to_string()).unwrap_or_default()
                ))
            };
            match obj.call_method0(intern!(py, "fileno")).and_then(|n| {
                n.call_method0(intern!(py, "__index__"))
                    .or_else(|_| n.call_method0(intern!(py, "__int__")))
            }) {
                Ok(n) => n.extract().map_err(|_| invalid())?,
                Err(e)
                    if e.is_instance_of::<pyo3::exceptions::PyAttributeError>(py)
                        || e.is_instance_of::<PyTypeError>(py)
                        || e.is_instance_of::<PyValueError>(py) =>
                {
                    return Err(invalid())
                }
                Err(e) => return Err(e),
            }
        };
        if fd < 0 {
            return Err(PyValueError::new_err(format!(
                "Invalid file descriptor: {fd}"
            )));
        }
        RawFd::try_from(fd)
            .map_err(|_| PyValueError::new_err(format!("Invalid file descriptor: {fd}")))
    }

    fn add_io(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        side: Side,
    ) -> PyResult<()> {
        let py = slf.py();
        let lp = slf.get();
        let fd_obj = fd;
        let fd = Self::fd_of(fd)?;
        crate::transports::ensure_fd_no_transport(slf, fd, fd_obj)?;
        lp.check_closed()?;
        lp.check_process()?;
        let method = if side == Side::Read {
            "add_reader"
        } else {
            "add_writer"
        };
        lp.check_callback(py, callback, method)?;
        let h = Self::new_handle(slf, callback, args, None)?;
        let poller = lp.poller(py)?;
        let old = lp
            .fds
            .borrow_mut(py)
            .set(&poller, fd, side, h)
            .map_err(os_error)?;
        if let Some(old) = old {
            Handle::cancel_impl(old.bind(py))?;
        }
        Ok(())
    }

    fn remove_io(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>, side: Side) -> PyResult<bool> {
        let py = slf.py();
        let lp = slf.get();
        let fd = Self::fd_of(fd)?;
        if lp.closed.load(Ordering::Relaxed) {
            return Ok(false);
        }
        let poller = lp.own_poller(py);
        let old = lp.fds.borrow_mut(py).remove(poller.as_deref(), fd, side);
        match old {
            Some(h) => {
                Handle::cancel_impl(h.bind(py))?;
                Ok(true)
            }
            None => Ok(false),
        }
    }

    /// Watches `fd` for one kind of readiness on behalf of native code (socket
    /// operations, transports): `callback` is usually a native callable, so a
    /// ready fd reaches Rust without a Python frame, in the same FIFO order as
    /// every other handle. Replaces (and cancels) a previous watcher.
    pub(crate) fn watch(
        slf: &Bound<'_, Self>,
        fd: RawFd,
        side: Side,
        callback: &Bound<'_, PyAny>,
    ) -> PyResult<()> {
        let py = slf.py();
        let lp = slf.get();
        lp.check_closed()?;
        let h = Self::new_handle(slf, callback, &PyTuple::empty(py), None)?;
        let poller = lp.poller(py)?;
        let old = lp
            .fds
            .borrow_mut(py)
            .set(&poller, fd, side, h)
            .map_err(os_error)?;
        if let Some(old) = old {
            Handle::cancel_impl(old.bind(py))?;
        }
        Ok(())
    }

    /// Stops watching one side of `fd`; false if nothing watched it.
    pub(crate) fn unwatch(slf: &Bound<'_, Self>, fd: RawFd, side: Side) -> PyResult<bool> {
        Self::remove_io(slf, &fd.into_pyobject(slf.py())?.into_any(), side)
    }

    /// `Cls(*args, loop=self)` through vectorcall, without building a dict.
    fn call_with_loop(
        slf: &Bound<'_, Self>,
        callable: &Py<PyAny>,
        positional: &[&Bound<'_, PyAny>],
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let sup = support::get(py)?;
        let mut argv: Vec<*mut ffi::PyObject> = positional.iter().map(|a| a.as_ptr()).collect();
        argv.push(slf.as_ptr());
        // SAFETY: argv holds borrowed references kept alive by the caller for the
        // duration of the call; kwnames names the last argument.
        unsafe {
            let res = ffi::PyObject_Vectorcall(
                callable.as_ptr(),
                argv.as_ptr(),
                positional.len(),
                sup.loop_kwnames.as_ptr(),
            );
            Bound::from_owned_ptr_or_err(py, res).map(Bound::unbind)
        }
    }
}

/// Debug mode: record where a handle was created.
fn capture_source(h: &Bound<'_, Handle>) -> PyResult<()> {
    let py = h.py();
    let tb = support::get(py)?.extract_stack.call0(py)?;
    h.get().cb.borrow_mut(py).source_traceback = Some(tb);
    Ok(())
}

#[pymethods]
impl LoopCore {
    // Queued handles refer back to the loop; let the collector see them so an
    // abandoned loop with pending callbacks can be freed.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        if let Some(ready) = self.ready.try_borrow_for_gc() {
            for h in ready.iter() {
                visit.call(h)?;
            }
        }
        if let Some(timers) = self.timers.try_borrow_for_gc() {
            for t in timers.iter() {
                visit.call(&t.0)?;
            }
        }
        if let Some(fds) = self.fds.try_borrow_for_gc() {
            for h in fds.handles() {
                visit.call(h)?;
            }
        }
        for cell in [&self.task_factory, &self.checked_code] {
            if let Some(obj) = cell.try_borrow_for_gc() {
                visit.call(&*obj)?;
            }
        }
        if let Some(h) = self.current_handle.try_borrow_for_gc() {
            visit.call(&*h)?;
        }
        Ok(())
    }

    fn __clear__(&self) {
        let ready = self.ready.try_borrow_mut_for_gc().map(|mut q| q.clear());
        let timers = self.timers.try_borrow_mut_for_gc().map(|mut t| t.clear());
        let fds = self.fds.try_borrow_mut_for_gc().map(|mut f| f.drain(None));
        let factory = self
            .task_factory
            .try_borrow_mut_for_gc()
            .and_then(|mut f| f.take());
        let code = self
            .checked_code
            .try_borrow_mut_for_gc()
            .and_then(|mut f| f.take());
        let current = self
            .current_handle
            .try_borrow_mut_for_gc()
            .and_then(|mut f| f.take());
        // Dropped after every borrow ends: a decref may run arbitrary code.
        drop((ready, timers, fds, factory, code, current));
    }

    #[new]
    #[pyo3(signature = (*_args, **_kwargs))]
    fn new(_args: &Bound<'_, PyTuple>, _kwargs: Option<&Bound<'_, PyDict>>) -> PyResult<Self> {
        let poller = Poller::new().map_err(os_error)?;
        let waker = Waker::new().map_err(os_error)?;
        poller
            .add(waker.as_raw_fd(), Interest::READABLE, WAKER_TOKEN)
            .map_err(os_error)?;
        Ok(LoopCore {
            ready: GilCell::new(ReadyQueue::new()),
            timers: GilCell::new(TimerHeap::new()),
            fds: GilCell::new(FdTable::default()),
            events: GilCell::new(Events::default()),
            poller: GilCell::new(Some(Arc::new(poller))),
            waker: GilCell::new(Some(Arc::new(waker))),
            running: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            debug: AtomicBool::new(false),
            thread_id: AtomicU64::new(0),
            slow_callback_duration: GilCell::new(0.1),
            task_factory: GilCell::new(None),
            current_handle: GilCell::new(None),
            checked_code: GilCell::new(None),
            transports: GilCell::new(Default::default()),
            clock_resolution: clock::resolution(),
            idle_spin: GilCell::new(IdleSpin::new(idle_spin_max()?)),
            // SAFETY: getpid has no preconditions.
            pid: unsafe { libc::getpid() },
        })
    }

    fn time(&self) -> f64 {
        clock::monotonic()
    }

    #[pyo3(signature = (callback, *args, context=None))]
    fn call_soon(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<Handle>> {
        Self::schedule_soon(slf, callback, args, context, "call_soon", true)
    }

    #[pyo3(signature = (callback, *args, context=None))]
    fn call_soon_threadsafe(
        slf: &Bound<'_, Self>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<Handle>> {
        let h = Self::schedule_soon(slf, callback, args, context, "call_soon_threadsafe", false)?;
        if let Some(w) = slf.get().waker.borrow(slf.py()).as_ref() {
            w.wake();
        }
        Ok(h)
    }

    #[pyo3(signature = (delay, callback, *args, context=None))]
    fn call_later(
        slf: &Bound<'_, Self>,
        delay: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        if delay.is_none() {
            return Err(PyTypeError::new_err("delay must not be None"));
        }
        // PyFloat_AsDouble's own errors match asyncio's `time() + delay`:
        // TypeError for a non-number, OverflowError for a huge int.
        let delay: f64 = delay.extract()?;
        Self::schedule_at(
            slf,
            clock::monotonic() + delay,
            callback,
            args,
            context,
            "call_later",
        )
    }

    #[pyo3(signature = (when, callback, *args, context=None))]
    fn call_at(
        slf: &Bound<'_, Self>,
        when: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
        context: Option<Py<PyAny>>,
    ) -> PyResult<Py<TimerHandle>> {
        if when.is_none() {
            return Err(PyTypeError::new_err("when cannot be None"));
        }
        let when: f64 = when.extract()?;
        Self::schedule_at(slf, when, callback, args, context, "call_at")
    }

    /// Queues an existing handle (signal delivery) and wakes the loop.
    fn _add_callback(slf: &Bound<'_, Self>, handle: Py<Handle>) {
        let lp = slf.get();
        let py = slf.py();
        if handle.get().is_cancelled() {
            return;
        }
        lp.ready.borrow_mut(py).push(handle);
        if let Some(w) = lp.waker.borrow(py).as_ref() {
            w.wake();
        }
    }

    /// Ends a blocking poll whatever the loop is doing.
    fn _write_to_self(&self, py: Python<'_>) {
        if let Some(w) = self.waker.borrow(py).as_ref() {
            w.force_wake();
        }
    }

    fn get_debug(&self) -> bool {
        self.debug()
    }

    fn set_debug(&self, enabled: &Bound<'_, PyAny>) -> PyResult<()> {
        self.debug.store(enabled.is_truthy()?, Ordering::Relaxed);
        Ok(())
    }

    #[getter]
    fn get_slow_callback_duration(&self, py: Python<'_>) -> f64 {
        self.slow_callback_duration.get(py)
    }

    #[setter]
    fn set_slow_callback_duration(&self, py: Python<'_>, value: f64) {
        self.slow_callback_duration.set(py, value);
    }

    #[getter]
    fn _current_handle(&self, py: Python<'_>) -> Option<Py<Handle>> {
        self.current_handle
            .borrow(py)
            .as_ref()
            .map(|h| h.clone_ref(py))
    }

    #[getter]
    fn _thread_id(&self) -> Option<u64> {
        match self.thread_id.load(Ordering::Relaxed) {
            0 => None,
            id => Some(id),
        }
    }

    #[getter]
    fn _closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    #[getter]
    fn _stopping(&self) -> bool {
        self.stopping.load(Ordering::Relaxed)
    }

    fn is_running(&self) -> bool {
        self.running.load(Ordering::Relaxed)
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Relaxed)
    }

    fn stop(&self) {
        self.stopping.store(true, Ordering::Relaxed);
    }

    fn create_future(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let sup = support::get(slf.py())?;
        Self::call_with_loop(slf, &sup.future_type, &[])
    }

    #[pyo3(signature = (coro, **kwargs))]
    fn create_task(
        slf: &Bound<'_, Self>,
        coro: &Bound<'_, PyAny>,
        kwargs: Option<&Bound<'_, PyDict>>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let lp = slf.get();
        lp.check_closed()?;
        let sup = support::get(py)?;
        let kwargs = kwargs.filter(|k| !k.is_empty());
        let factory = lp.task_factory.borrow(py).as_ref().map(|f| f.clone_ref(py));
        if sup.create_task_kwargs_to_factory {
            if let Some(factory) = factory {
                return factory.call(py, (slf, coro), kwargs);
            }
        }
        let (name, context) = match kwargs {
            None => (None, None),
            Some(kw) if !sup.create_task_kwargs_to_factory => {
                let mut name = None;
                let mut context = None;
                for (k, v) in kw.iter() {
                    match k.extract::<String>()?.as_str() {
                        "name" => name = Some(v).filter(|v| !v.is_none()),
                        "context" => context = Some(v).filter(|v| !v.is_none()),
                        other => {
                            return Err(PyTypeError::new_err(format!(
                                "create_task() got an unexpected keyword argument '{other}'"
                            )))
                        }
                    }
                }
                (name, context)
            }
            Some(_) => (None, None),
        };
        let task = match factory {
            None => {
                let task = match kwargs {
                    None => Self::call_with_loop(slf, &sup.task_type, &[coro])?,
                    Some(kw) => {
                        let kw = kw.copy()?;
                        kw.set_item(intern!(py, "loop"), slf)?;
                        sup.task_type.call(py, (coro,), Some(&kw))?
                    }
                };
                if lp.debug() {
                    let tb = task.getattr(py, intern!(py, "_source_traceback"))?;
                    if tb.is_truthy(py)? {
                        tb.call_method1(py, intern!(py, "pop"), (-1,))?;
                    }
                }
                task
            }
            Some(factory) => {
                let task = match context {
                    None => factory.call1(py, (slf, coro))?,
                    Some(ctx) => {
                        let kw = PyDict::new(py);
                        kw.set_item(intern!(py, "context"), ctx)?;
                        factory.call(py, (slf, coro), Some(&kw))?
                    }
                };
                sup.set_task_name.call1(py, (&task, name))?;
                task
            }
        };
        Ok(task)
    }

    fn set_task_factory(&self, py: Python<'_>, factory: &Bound<'_, PyAny>) -> PyResult<()> {
        if !factory.is_none() && !factory.is_callable() {
            return Err(PyTypeError::new_err(
                "task factory must be a callable or None",
            ));
        }
        let value = (!factory.is_none()).then(|| factory.clone().unbind());
        self.task_factory.replace(py, value);
        Ok(())
    }

    fn get_task_factory(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.task_factory
            .borrow(py)
            .as_ref()
            .map(|f| f.clone_ref(py))
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_reader(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        Self::add_io(slf, fd, callback, args, Side::Read)
    }

    #[pyo3(signature = (fd, callback, *args))]
    fn add_writer(
        slf: &Bound<'_, Self>,
        fd: &Bound<'_, PyAny>,
        callback: &Bound<'_, PyAny>,
        args: &Bound<'_, PyTuple>,
    ) -> PyResult<()> {
        Self::add_io(slf, fd, callback, args, Side::Write)
    }

    fn remove_reader(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        crate::transports::ensure_fd_no_transport(slf, Self::fd_of(fd)?, fd)?;
        Self::remove_io(slf, fd, Side::Read)
    }

    fn remove_writer(slf: &Bound<'_, Self>, fd: &Bound<'_, PyAny>) -> PyResult<bool> {
        crate::transports::ensure_fd_no_transport(slf, Self::fd_of(fd)?, fd)?;
        Self::remove_io(slf, fd, Side::Write)
    }

    /// The run loop proper; `Loop.run_forever` wraps it with asyncio's set-up
    /// (running loop, async-generator hooks, origin tracking).
    fn _run_forever_native(slf: &Bound<'_, Self>) -> PyResult<()> {
        let lp = slf.get();
        lp.check_closed()?;
        lp.check_process()?;
        if lp.running.swap(true, Ordering::Relaxed) {
            return Err(PyRuntimeError::new_err(
                "This event loop is already running",
            ));
        }
        lp.thread_id.store(current_thread_id(), Ordering::Relaxed);
        let result = loop {
            if let Err(e) = Self::run_once(slf) {
                break Err(e);
            }
            if lp.stopping.load(Ordering::Relaxed) {
                break Ok(());
            }
        };
        lp.stopping.store(false, Ordering::Relaxed);
        lp.running.store(false, Ordering::Relaxed);
        lp.thread_id.store(0, Ordering::Relaxed);
        result
    }

    /// Drops every queued callback, timer and watched fd, and closes the
    /// poller; `Loop.close` does asyncio's checks and the executor first.
    fn _close_native(slf: &Bound<'_, Self>) {
        let lp = slf.get();
        let py = slf.py();
        lp.closed.store(true, Ordering::Relaxed);
        let ready = lp.ready.borrow_mut(py).clear();
        let timers = lp.timers.borrow_mut(py).clear();
        let forked = !lp.in_creating_process();
        let poller = lp.poller.replace(py, None);
        let fds = lp
            .fds
            .borrow_mut(py)
            .drain(poller.as_deref().filter(|_| !forked));
        lp.waker.replace(py, None);
        lp.task_factory.replace(py, None);
        lp.checked_code.replace(py, None);
        let transports = lp.transports.borrow_mut(py).clear();
        // Released with no borrow held: a handle's last reference may run Python code.
        for h in ready.into_iter().chain(timers.into_iter().map(|t| t.0)) {
            handles::release(py, h);
        }
        drop((fds, poller, transports));
    }

    #[getter]
    fn _ready_count(&self, py: Python<'_>) -> usize {
        self.ready.borrow(py).len()
    }

    #[getter]
    fn _timer_count(&self, py: Python<'_>) -> usize {
        self.timers.borrow(py).len()
    }
}
