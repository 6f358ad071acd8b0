//! `FreshBytes`: a `bytes` object filled in place by a syscall, then shrunk to
//! what arrived, so received data is never copied out of a scratch buffer.

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

extern "C" {
    // CPython's in-place resize of a bytes object nobody else holds (not in pyo3-ffi).
    fn _PyBytes_Resize(bytes: *mut *mut ffi::PyObject, newsize: ffi::Py_ssize_t) -> libc::c_int;
}

/// An uninitialised `bytes` of `len` bytes, not yet shared with Python code.
pub(crate) struct FreshBytes<'py> {
    obj: Bound<'py, PyAny>,
    len: usize,
}

impl<'py> FreshBytes<'py> {
    pub(crate) fn new(py: Python<'py>, len: usize) -> PyResult<Self> {
        // SAFETY: a NULL source asks for an uninitialised bytes object of `len` bytes.
        let ptr =
            unsafe { ffi::PyBytes_FromStringAndSize(std::ptr::null(), len as ffi::Py_ssize_t) };
        // SAFETY: `ptr` is a new reference, or NULL with an exception set.
        let obj = unsafe { Bound::from_owned_ptr_or_err(py, ptr) }?;
        Ok(FreshBytes { obj, len })
    }

    /// Where to write: `len` writable bytes.
    pub(crate) fn as_mut_ptr(&self) -> *mut libc::c_void {
        // SAFETY: `obj` is a bytes object; its buffer holds `len` bytes.
        unsafe { ffi::PyBytes_AsString(self.obj.as_ptr()) }.cast()
    }

    /// The object, shrunk to the `filled` bytes written.
    pub(crate) fn finish(self, filled: usize) -> PyResult<Bound<'py, PyBytes>> {
        let py = self.obj.py();
        if filled == self.len {
            // SAFETY: made by PyBytes_FromStringAndSize.
            return Ok(unsafe { self.obj.cast_into_unchecked() });
        }
        let mut ptr = self.obj.into_ptr();
        // SAFETY: `ptr` is the only reference to a bytes object not yet shared;
        // on failure CPython frees it and sets `ptr` to NULL.
        if unsafe { _PyBytes_Resize(&mut ptr, filled as ffi::Py_ssize_t) } < 0 {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: after a successful resize `ptr` owns the bytes object.
        Ok(unsafe { Bound::from_owned_ptr(py, ptr).cast_into_unchecked() })
    }
}
