//! Socket addresses as Python's `socket` module shows them.
//!
//! `getsockname`, `getpeername`, `accept`, `recvfrom` and `getaddrinfo` give a
//! `sockaddr_storage`; Python code expects what CPython's `makesockaddr`
//! (socketmodule.c) builds: `AF_INET` → `(host, port)`, `AF_INET6` →
//! `(host, port, flowinfo, scope_id)`, `AF_UNIX` → a path `str`, or `bytes`
//! for a Linux abstract name, and `None` for an empty address (`addrlen == 0`,
//! e.g. a datagram from an unbound Unix socket). Hosts are printed with
//! `inet_ntop`, as CPython does (no `%scope` suffix).
//!
//! The reverse conversion, [`from_py`], handles only numeric addresses;
//! anything else (host names, `'<broadcast>'`) is left to Python's socket
//! module.
//!
//! Used by the `sock_*` operations, DNS and the transports alike.

use crate::errors::os_error;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use std::io;
use std::mem::{offset_of, size_of};
use std::os::fd::RawFd;

/// A `sockaddr_storage` and the length the kernel filled in.
pub(crate) struct SockAddr {
    pub storage: libc::sockaddr_storage,
    pub len: libc::socklen_t,
}

impl SockAddr {
    pub fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
            storage: unsafe { std::mem::zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
    }

    /// Copies `len` bytes of a kernel-provided address.
    ///
    /// # Safety
    /// `addr` must point to at least `len` readable bytes.
    pub unsafe fn copy_from(addr: *const libc::sockaddr, len: libc::socklen_t) -> SockAddr {
        let mut out = SockAddr::empty();
        let len = (len as usize).min(size_of::<libc::sockaddr_storage>());
        // SAFETY: the caller vouches for `len` bytes at `addr`; the destination
        // holds a whole sockaddr_storage and `len` is clamped to it.
        unsafe {
            std::ptr::copy_nonoverlapping(addr as *const u8, out.as_mut_ptr() as *mut u8, len)
        };
        out.len = len as libc::socklen_t;
        out
    }

    pub fn as_mut_ptr(&mut self) -> *mut libc::sockaddr {
        (&mut self.storage as *mut libc::sockaddr_storage).cast()
    }

    pub fn as_ptr(&self) -> *const libc::sockaddr {
        (&self.storage as *const libc::sockaddr_storage).cast()
    }

    pub fn family(&self) -> i32 {
        i32::from(self.storage.ss_family)
    }
}

/// `getsockname(fd)`.
pub(crate) fn local(fd: RawFd) -> io::Result<SockAddr> {
    let mut a = SockAddr::empty();
    // SAFETY: `a` provides a buffer of `a.len` bytes for the address.
    if unsafe { libc::getsockname(fd, a.as_mut_ptr(), &mut a.len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(a)
}

/// `getpeername(fd)`.
pub(crate) fn peer(fd: RawFd) -> io::Result<SockAddr> {
    let mut a = SockAddr::empty();
    // SAFETY: `a` provides a buffer of `a.len` bytes for the address.
    if unsafe { libc::getpeername(fd, a.as_mut_ptr(), &mut a.len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(a)
}

/// Whether [`to_python`] decodes addresses of `family` exactly as CPython.
pub(crate) fn is_native_family(family: i32) -> bool {
    matches!(family, libc::AF_INET | libc::AF_INET6 | libc::AF_UNIX)
}

/// Room for the longest text form of an IPv6 address (`INET6_ADDRSTRLEN`).
const ADDR_TEXT_LEN: usize = 46;

extern "C" {
    // POSIX, in libc; the `libc` crate does not declare it.
    fn inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

fn ntop(py: Python<'_>, family: i32, src: *const libc::c_void) -> PyResult<Bound<'_, PyString>> {
    let mut buf = [0 as libc::c_char; ADDR_TEXT_LEN];
    // SAFETY: `src` points to an in_addr/in6_addr matching `family`; `buf`
    // is large enough for either text form.
    let res = unsafe { inet_ntop(family, src, buf.as_mut_ptr(), buf.len() as libc::socklen_t) };
    if res.is_null() {
        return Err(os_error(io::Error::last_os_error()));
    }
    // SAFETY: inet_ntop wrote a NUL-terminated string into `buf`.
    let text = unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) };
    Ok(PyString::new(py, &text.to_string_lossy()))
}

/// `makesockaddr`: the address as Python's socket methods return it.
/// Families other than those of [`is_native_family`] get CPython's generic
/// `(family, sa_data)` form.
pub(crate) fn to_python<'py>(py: Python<'py>, addr: &SockAddr) -> PyResult<Bound<'py, PyAny>> {
    if addr.len == 0 {
        return Ok(py.None().into_bound(py));
    }
    let p = addr.as_ptr();
    let obj = match addr.family() {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(p as *const libc::sockaddr_in) };
            let host = ntop(
                py,
                libc::AF_INET,
                (&sin.sin_addr as *const libc::in_addr).cast(),
            )?;
            (host, u16::from_be(sin.sin_port))
                .into_pyobject(py)?
                .into_any()
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(p as *const libc::sockaddr_in6) };
            let host = ntop(
                py,
                libc::AF_INET6,
                (&sin6.sin6_addr as *const libc::in6_addr).cast(),
            )?;
            (
                host,
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )
                .into_pyobject(py)?
                .into_any()
        }
        libc::AF_UNIX => {
            // SAFETY: the family says the storage holds a sockaddr_un.
            let sun = unsafe { &*(p as *const libc::sockaddr_un) };
            let start = offset_of!(libc::sockaddr_un, sun_path);
            let path_len = (addr.len as usize).saturating_sub(start);
            // SAFETY: sun_path is an array of c_char; reading it as bytes is sound.
            let path: &[u8] = unsafe {
                std::slice::from_raw_parts(sun.sun_path.as_ptr() as *const u8, sun.sun_path.len())
            };
            let path = &path[..path_len.min(path.len())];
            if path.first() == Some(&0) {
                // Linux abstract namespace: the name is every byte, NULs included.
                PyBytes::new(py, path).into_any()
            } else {
                let end = path.iter().position(|&b| b == 0).unwrap_or(path.len());
                // SAFETY: the pointer and length describe `path[..end]`; the call
                // returns a new reference or NULL with an exception set.
                unsafe {
                    Bound::from_owned_ptr_or_err(
                        py,
                        ffi::PyUnicode_DecodeFSDefaultAndSize(
                            path.as_ptr() as *const libc::c_char,
                            end as ffi::Py_ssize_t,
                        ),
                    )?
                }
            }
        }
        family => {
            // SAFETY: every sockaddr starts with a generic `sockaddr` header.
            let sa = unsafe { &*p };
            // SAFETY: sa_data is an array of c_char; reading it as bytes is sound.
            let data: &[u8] = unsafe {
                std::slice::from_raw_parts(sa.sa_data.as_ptr() as *const u8, sa.sa_data.len())
            };
            PyTuple::new(
                py,
                [
                    family.into_pyobject(py)?.into_any(),
                    PyBytes::new(py, data).into_any(),
                ],
            )?
            .into_any()
        }
    };
    Ok(obj)
}

/// A numeric Python address for `family`, or `None` when it needs Python's
/// socket module (a host name, `'<broadcast>'`, a malformed value: Python
/// then gives the exact error).
pub(crate) fn from_py(family: i32, addr: &Bound<'_, PyAny>) -> Option<SockAddr> {
    let mut a = SockAddr::empty();
    match family {
        libc::AF_INET | libc::AF_INET6 => {
            let t = addr.cast::<PyTuple>().ok()?;
            let host = t.get_item(0).ok()?;
            let host = host.cast::<PyString>().ok()?.to_str().ok()?;
            let port: u16 = t.get_item(1).ok()?.extract().ok()?;
            if family == libc::AF_INET {
                if t.len() != 2 {
                    return None;
                }
                let ip: std::net::Ipv4Addr = host.parse().ok()?;
                // SAFETY: sockaddr_in fits in sockaddr_storage.
                let sin = unsafe { &mut *(a.as_mut_ptr() as *mut libc::sockaddr_in) };
                sin.sin_family = libc::AF_INET as libc::sa_family_t;
                sin.sin_port = port.to_be();
                sin.sin_addr.s_addr = u32::from(ip).to_be();
                a.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
            } else {
                if !(2..=4).contains(&t.len()) || host.contains('%') {
                    return None;
                }
                let ip: std::net::Ipv6Addr = host.parse().ok()?;
                let flowinfo: u32 = match t.get_item(2) {
                    Ok(v) => v.extract().ok().filter(|f| *f <= 0xfffff)?,
                    Err(_) => 0,
                };
                let scope_id: u32 = match t.get_item(3) {
                    Ok(v) => v.extract().ok()?,
                    Err(_) => 0,
                };
                // SAFETY: sockaddr_in6 fits in sockaddr_storage.
                let sin6 = unsafe { &mut *(a.as_mut_ptr() as *mut libc::sockaddr_in6) };
                sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
                sin6.sin6_port = port.to_be();
                sin6.sin6_flowinfo = flowinfo.to_be();
                sin6.sin6_addr.s6_addr = ip.octets();
                sin6.sin6_scope_id = scope_id;
                a.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
            }
            Some(a)
        }
        _ => None,
    }
}
