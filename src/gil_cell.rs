//! Interior mutability guarded by the GIL.
//!
//! ferroloop's classes are `frozen` (shared freely between Python objects and
//! Rust) and keep their mutable state in `GilCell`s. Every access takes a
//! `Python<'_>` token, the proof that the caller holds the GIL; the module is
//! declared `gil_used`, so on free-threaded builds the interpreter re-enables
//! the GIL for it. The inner `RefCell` still catches re-entrant misuse: code
//! must never keep a borrow across a call into Python.

use pyo3::Python;
use std::cell::{Ref, RefCell, RefMut};

pub struct GilCell<T>(RefCell<T>);

// SAFETY: all access goes through methods that demand a GIL token, and the GIL
// lets one thread at a time run, so the RefCell is never touched concurrently.
unsafe impl<T: Send> Sync for GilCell<T> {}

impl<T> GilCell<T> {
    pub fn new(value: T) -> Self {
        GilCell(RefCell::new(value))
    }

    pub fn borrow<'a>(&'a self, _py: Python<'_>) -> Ref<'a, T> {
        self.0.borrow()
    }

    pub fn borrow_mut<'a>(&'a self, _py: Python<'_>) -> RefMut<'a, T> {
        self.0.borrow_mut()
    }

    /// For the GC slots (`__traverse__`, `__clear__`): the collector calls
    /// them with the GIL held but hands them no token. `None` while the cell
    /// is borrowed elsewhere, which the collector can interrupt.
    pub fn try_borrow_for_gc(&self) -> Option<Ref<'_, T>> {
        self.0.try_borrow().ok()
    }

    /// See [`GilCell::try_borrow_for_gc`].
    pub fn try_borrow_mut_for_gc(&self) -> Option<RefMut<'_, T>> {
        self.0.try_borrow_mut().ok()
    }

    pub fn replace(&self, py: Python<'_>, value: T) -> T {
        std::mem::replace(&mut *self.borrow_mut(py), value)
    }
}

impl<T: Copy> GilCell<T> {
    pub fn get(&self, _py: Python<'_>) -> T {
        *self.0.borrow()
    }

    pub fn set(&self, _py: Python<'_>, value: T) {
        *self.0.borrow_mut() = value;
    }
}
