//! A Python buffer export held by Rust, released on drop.
//!
//! The socket methods take "bytes-like objects": `send` any C-contiguous
//! buffer (`y*`), `recv_into` a writable one (`w*`). Like CPython, bytes are
//! counted, not items.

use pyo3::exceptions::PyTypeError;
use pyo3::ffi;
use pyo3::prelude::*;

pub(crate) struct Buffer {
    // Boxed: exporters may keep pointers into the view while it is exported.
    view: Box<ffi::Py_buffer>,
}

// SAFETY: the view is only read or released while the GIL is held (the owning
// objects are Python objects, dropped under the GIL).
unsafe impl Send for Buffer {}
// SAFETY: as above; shared access never mutates the view.
unsafe impl Sync for Buffer {}

impl Buffer {
    fn export(obj: &Bound<'_, PyAny>, flags: i32) -> PyResult<Buffer> {
        // SAFETY: Py_buffer is plain data; zeroes are its "not exported" state.
        let mut view: Box<ffi::Py_buffer> = Box::new(unsafe { std::mem::zeroed() });
        // SAFETY: the GIL is held, `obj` is alive and `view` is writable.
        if unsafe { ffi::PyObject_GetBuffer(obj.as_ptr(), &mut *view, flags) } != 0 {
            return Err(PyErr::fetch(obj.py()));
        }
        let buf = Buffer { view };
        // SAFETY: `buf.view` was filled by a successful export.
        if unsafe { ffi::PyBuffer_IsContiguous(&*buf.view, b'C' as libc::c_char) } == 0 {
            return Err(PyTypeError::new_err("contiguous buffer expected"));
        }
        Ok(buf)
    }

    /// A read-only export, as `socket.send` takes it.
    pub fn readable(obj: &Bound<'_, PyAny>) -> PyResult<Buffer> {
        Buffer::export(obj, ffi::PyBUF_SIMPLE)
    }

    /// A writable export, as `socket.recv_into(buffer)` takes it; `method`
    /// names the caller in the `TypeError`, like CPython's message.
    pub fn writable(obj: &Bound<'_, PyAny>, method: &str) -> PyResult<Buffer> {
        Buffer::export(obj, ffi::PyBUF_WRITABLE).map_err(|_| {
            let tp = obj
                .get_type()
                .name()
                .map(|n| n.to_string())
                .unwrap_or_default();
            PyTypeError::new_err(format!(
                "{method}() argument 1 must be read-write bytes-like object, not {tp}"
            ))
        })
    }

    pub fn len(&self) -> usize {
        self.view.len as usize
    }

    pub fn as_ptr(&self) -> *mut u8 {
        self.view.buf as *mut u8
    }
}

impl Drop for Buffer {
    fn drop(&mut self) {
        // Dropped under the GIL in practice; attaching is free then and makes
        // the release sound if that ever changes.
        Python::attach(|_| {
            // SAFETY: the view was exported by `export` and is released once.
            unsafe { ffi::PyBuffer_Release(&mut *self.view) }
        });
    }
}
