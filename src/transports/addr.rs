//! Socket addresses as Python's `socket` module shows them.
//!
//! `getsockname`, `getpeername`, `accept` and `recvfrom` give a
//! `sockaddr_storage`; Python code expects the tuples `socket` builds
//! (`makesockaddr` in CPython's socketmodule.c): `(host, port)` for IPv4,
//! `(host, port, flowinfo, scope_id)` for IPv6, a `str` path (or `bytes` for
//! a Linux abstract name) for Unix sockets, and `None` for an empty address.
//! The reverse conversion handles only numeric addresses; anything else
//! (host names, `'<broadcast>'`) is left to Python's socket module.

use crate::errors::os_error;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyString, PyTuple};
use std::io;
use std::mem::{size_of, zeroed};
use std::os::fd::RawFd;

pub struct SockAddr {
    pub storage: libc::sockaddr_storage,
    pub len: libc::socklen_t,
}

impl SockAddr {
    pub fn empty() -> SockAddr {
        SockAddr {
            // SAFETY: sockaddr_storage is plain data; all zeroes is a valid value.
            storage: unsafe { zeroed() },
            len: size_of::<libc::sockaddr_storage>() as libc::socklen_t,
        }
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
pub fn local(fd: RawFd) -> io::Result<SockAddr> {
    let mut a = SockAddr::empty();
    // SAFETY: `a` provides a buffer of `a.len` bytes for the address.
    if unsafe { libc::getsockname(fd, a.as_mut_ptr(), &mut a.len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(a)
}

/// `getpeername(fd)`.
pub fn peer(fd: RawFd) -> io::Result<SockAddr> {
    let mut a = SockAddr::empty();
    // SAFETY: `a` provides a buffer of `a.len` bytes for the address.
    if unsafe { libc::getpeername(fd, a.as_mut_ptr(), &mut a.len) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(a)
}

extern "C" {
    // In glibc's <arpa/inet.h>; the libc crate does not bind it.
    fn inet_ntop(
        af: libc::c_int,
        src: *const libc::c_void,
        dst: *mut libc::c_char,
        size: libc::socklen_t,
    ) -> *const libc::c_char;
}

fn ntop(family: i32, src: *const libc::c_void) -> PyResult<String> {
    let mut buf = [0 as libc::c_char; 64];
    // SAFETY: `src` points at an in_addr/in6_addr matching `family`; `buf` is
    // larger than INET6_ADDRSTRLEN.
    let p = unsafe { inet_ntop(family, src, buf.as_mut_ptr(), buf.len() as libc::socklen_t) };
    if p.is_null() {
        return Err(os_error(io::Error::last_os_error()));
    }
    // SAFETY: inet_ntop wrote a NUL-terminated string into `buf`.
    Ok(unsafe { std::ffi::CStr::from_ptr(buf.as_ptr()) }
        .to_string_lossy()
        .into_owned())
}

/// The Python form of an address, as `socket` would return it.
pub fn to_py<'py>(py: Python<'py>, a: &SockAddr) -> PyResult<Bound<'py, PyAny>> {
    if a.len == 0 {
        return Ok(py.None().into_bound(py));
    }
    match a.family() {
        libc::AF_INET => {
            // SAFETY: the family says the storage holds a sockaddr_in.
            let sin = unsafe { &*(a.as_ptr() as *const libc::sockaddr_in) };
            let ip = u32::from_be(sin.sin_addr.s_addr).to_be_bytes();
            let host = format!("{}.{}.{}.{}", ip[0], ip[1], ip[2], ip[3]);
            Ok((host, u16::from_be(sin.sin_port))
                .into_pyobject(py)?
                .into_any())
        }
        libc::AF_INET6 => {
            // SAFETY: the family says the storage holds a sockaddr_in6.
            let sin6 = unsafe { &*(a.as_ptr() as *const libc::sockaddr_in6) };
            let host = ntop(
                libc::AF_INET6,
                (&sin6.sin6_addr as *const libc::in6_addr).cast(),
            )?;
            Ok((
                host,
                u16::from_be(sin6.sin6_port),
                u32::from_be(sin6.sin6_flowinfo),
                sin6.sin6_scope_id,
            )
                .into_pyobject(py)?
                .into_any())
        }
        libc::AF_UNIX => {
            // SAFETY: the family says the storage holds a sockaddr_un.
            let sun = unsafe { &*(a.as_ptr() as *const libc::sockaddr_un) };
            let offset = std::mem::offset_of!(libc::sockaddr_un, sun_path);
            let n = (a.len as usize)
                .saturating_sub(offset)
                .min(sun.sun_path.len());
            // SAFETY: sun_path is n bytes of plain data (c_char is a byte).
            let path: &[u8] =
                unsafe { std::slice::from_raw_parts(sun.sun_path.as_ptr().cast(), n) };
            if n > 0 && path[0] == 0 {
                // A Linux abstract name: the bytes, leading NUL included.
                return Ok(PyBytes::new(py, path).into_any());
            }
            let end = path.iter().position(|&b| b == 0).unwrap_or(n);
            // SAFETY: the pointer and length describe `path[..end]`; the call
            // returns a new reference or NULL with an exception set.
            unsafe {
                Bound::from_owned_ptr_or_err(
                    py,
                    ffi::PyUnicode_DecodeFSDefaultAndSize(
                        path.as_ptr().cast(),
                        end as ffi::Py_ssize_t,
                    ),
                )
            }
        }
        family => {
            // Python gives (family, raw bytes) for families it does not know.
            let data = &a.storage as *const libc::sockaddr_storage as *const u8;
            let n = (a.len as usize).min(size_of::<libc::sockaddr_storage>());
            // SAFETY: the storage is at least n bytes of plain data.
            let raw = unsafe { std::slice::from_raw_parts(data, n) };
            Ok((family, PyBytes::new(py, raw.get(2..).unwrap_or(&[])))
                .into_pyobject(py)?
                .into_any())
        }
    }
}

/// A numeric Python address for `family`, or `None` when it needs Python's
/// socket module (a host name, `'<broadcast>'`, a malformed value: Python
/// then gives the exact error).
pub fn from_py(family: i32, addr: &Bound<'_, PyAny>) -> Option<SockAddr> {
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
