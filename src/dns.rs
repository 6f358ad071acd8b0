//! `getaddrinfo` and `getnameinfo`: name resolution without blocking the loop.
//!
//! asyncio runs `socket.getaddrinfo` in its default executor. ferroloop
//! gives the same results and errors (`socket.gaierror`) in two ways:
//! - A numeric host (an IPv4/IPv6 literal) with a numeric port, for the
//!   flag and type combinations whose answer glibc fixes, is answered on the
//!   loop thread, with no thread and no future ([`numeric_answer`]).
//! - Anything else runs libc's `getaddrinfo`/`getnameinfo` on a pool of
//!   native threads that never hold the interpreter ([`Pool`]). A thread
//!   posts its answer to the loop's [`Resolver`] through an inbox and an
//!   eventfd the loop watches only while lookups are in flight.
//!
//! Debug mode (asyncio logs each lookup) and a patched `socket.getaddrinfo`
//! or `socket.getnameinfo` (tests mock them) go through the executor like
//! asyncio, by way of `ferroloop._sockets`.
//!
//! Arguments are converted the way the socket module converts them, when
//! the coroutine first runs, so errors surface where asyncio raises them.

use crate::errors::os_error;
use crate::event_loop::LoopCore;
use crate::fd_table::Side;
use crate::gil_cell::GilCell;
use crate::sock_ops::coro::{NativeCoro, Start, Started};
use crate::sockaddr::{self, SockAddr};
use ferroloop_core::{Inbox, Waker};
use pyo3::exceptions::{PyOSError, PyRuntimeError, PyTypeError};
use pyo3::ffi;
use pyo3::gc::PyVisit;
use pyo3::intern;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyList, PyString, PyTuple};
use pyo3::PyTraverseError;
use std::collections::{HashMap, VecDeque};
use std::ffi::{CStr, CString};
use std::mem::size_of;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::time::Duration;

extern "C" {
    // CPython's audit hook entry point (not in pyo3-ffi).
    fn PySys_Audit(event: *const libc::c_char, format: *const libc::c_char, ...) -> libc::c_int;
    // POSIX, in libc; the `libc` crate does not declare it.
    fn inet_pton(af: libc::c_int, src: *const libc::c_char, dst: *mut libc::c_void) -> libc::c_int;
}

/// Python objects the resolver needs, imported once.
struct DnsSupport {
    gaierror: Py<PyAny>,
    address_family: Py<PyAny>,
    socket_kind: Py<PyAny>,
    /// Enum members for the values every lookup returns.
    members: Vec<(i32, i32, Py<PyAny>)>,
    socket_module: Py<PyModule>,
    c_getnameinfo: Py<PyAny>,
    /// `ferroloop._sockets._lookup_in_executor`.
    in_executor: Py<PyAny>,
}

const FAMILY: i32 = 0;
const KIND: i32 = 1;

fn support(py: Python<'_>) -> PyResult<&DnsSupport> {
    static SUPPORT: PyOnceLock<DnsSupport> = PyOnceLock::new();
    SUPPORT.get_or_try_init(py, || {
        let socket = py.import("socket")?;
        let address_family = socket.getattr("AddressFamily")?;
        let socket_kind = socket.getattr("SocketKind")?;
        let mut members = Vec::new();
        for v in [libc::AF_INET, libc::AF_INET6, libc::AF_UNIX] {
            members.push((FAMILY, v, address_family.call1((v,))?.unbind()));
        }
        for v in [libc::SOCK_STREAM, libc::SOCK_DGRAM, libc::SOCK_RAW] {
            members.push((KIND, v, socket_kind.call1((v,))?.unbind()));
        }
        Ok(DnsSupport {
            gaierror: socket.getattr("gaierror")?.unbind(),
            address_family: address_family.unbind(),
            socket_kind: socket_kind.unbind(),
            members,
            socket_module: socket.clone().unbind(),
            c_getnameinfo: py.import("_socket")?.getattr("getnameinfo")?.unbind(),
            in_executor: py
                .import("ferroloop._sockets")?
                .getattr("_lookup_in_executor")?
                .unbind(),
        })
    })
}

impl DnsSupport {
    /// The socket module's `_intenum_converter`: the enum member, or the int.
    fn to_enum<'py>(&self, py: Python<'py>, which: i32, value: i32) -> PyResult<Bound<'py, PyAny>> {
        for (w, v, m) in &self.members {
            if *w == which && *v == value {
                return Ok(m.bind(py).clone());
            }
        }
        let cls = if which == FAMILY {
            &self.address_family
        } else {
            &self.socket_kind
        };
        match cls.bind(py).call1((value,)) {
            Ok(m) => Ok(m),
            Err(e) if e.is_instance_of::<pyo3::exceptions::PyValueError>(py) => {
                Ok(value.into_pyobject(py)?.into_any())
            }
            Err(e) => Err(e),
        }
    }

    /// Whether `socket.getaddrinfo` was replaced (mocked); then asyncio's
    /// path, which calls whatever is there, is the one to follow.
    fn getaddrinfo_patched(&self, py: Python<'_>) -> PyResult<bool> {
        static ORIGINAL: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        let current = self
            .socket_module
            .bind(py)
            .getattr(intern!(py, "getaddrinfo"))?;
        if ORIGINAL.get(py).is_some_and(|o| current.is(o)) {
            return Ok(false);
        }
        // The real one is a Python function of the socket module.
        let module = current.getattr(intern!(py, "__module__"));
        let own = matches!(module, Ok(m) if m.extract::<&str>().ok() == Some("socket"))
            && current.hasattr(intern!(py, "__code__"))?;
        if own {
            let _ = ORIGINAL.set(py, current.unbind());
        }
        Ok(!own)
    }

    /// Whether `socket.getnameinfo` is no longer `_socket.getnameinfo`.
    fn getnameinfo_patched(&self, py: Python<'_>) -> PyResult<bool> {
        let current = self
            .socket_module
            .bind(py)
            .getattr(intern!(py, "getnameinfo"))?;
        Ok(!current.is(self.c_getnameinfo.bind(py)))
    }
}

/// A lookup failure, as the socket module reports it.
enum LookupError {
    /// `socket.gaierror(code, gai_strerror(code))`.
    Gai(i32),
    /// `EAI_SYSTEM`: the `OSError` of this errno.
    Os(i32),
}

fn lookup_error(code: i32) -> LookupError {
    if code == libc::EAI_SYSTEM {
        LookupError::Os(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
    } else {
        LookupError::Gai(code)
    }
}

impl LookupError {
    fn into_pyerr(self, py: Python<'_>) -> PyErr {
        match self {
            LookupError::Os(errno) => os_error(std::io::Error::from_raw_os_error(errno)),
            LookupError::Gai(code) => {
                // SAFETY: gai_strerror returns a static string for any code.
                let msg = unsafe { CStr::from_ptr(libc::gai_strerror(code)) }
                    .to_string_lossy()
                    .into_owned();
                match support(py).and_then(|s| s.gaierror.bind(py).call1((code, msg))) {
                    Ok(exc) => PyErr::from_value(exc),
                    Err(e) => e,
                }
            }
        }
    }
}

/// One `addrinfo` result.
struct Entry {
    family: i32,
    socktype: i32,
    protocol: i32,
    canonname: Option<Vec<u8>>,
    addr: SockAddr,
}

/// A strictly decoded UTF-8 `str`, as `Py_BuildValue("s")` makes it.
fn utf8<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the pointer and length describe `bytes`; NULL errors means strict.
    unsafe {
        Bound::from_owned_ptr_or_err(
            py,
            ffi::PyUnicode_DecodeUTF8(
                bytes.as_ptr() as *const libc::c_char,
                bytes.len() as ffi::Py_ssize_t,
                std::ptr::null(),
            ),
        )
    }
}

/// `socket.getaddrinfo`'s list of `(family, type, proto, canonname, sockaddr)`.
fn addrinfo_list(py: Python<'_>, entries: &[Entry]) -> PyResult<Py<PyAny>> {
    let sup = support(py)?;
    let list = PyList::empty(py);
    for e in entries {
        let canon = match &e.canonname {
            Some(name) => utf8(py, name)?,
            None => PyString::new(py, "").into_any(),
        };
        let item = PyTuple::new(
            py,
            [
                sup.to_enum(py, FAMILY, e.family)?,
                sup.to_enum(py, KIND, e.socktype)?,
                e.protocol.into_pyobject(py)?.into_any(),
                canon,
                sockaddr::to_python(py, &e.addr)?,
            ],
        )?;
        list.append(item)?;
    }
    Ok(list.into_any().unbind())
}

/// A port as glibc will see it, when it is a plain number.
fn numeric_port(port: Option<&[u8]>) -> Option<Option<u16>> {
    match port {
        None => Some(None),
        Some(p) if !p.is_empty() && p.len() <= 5 && p.iter().all(u8::is_ascii_digit) => {
            let v: u32 = std::str::from_utf8(p).ok()?.parse().ok()?;
            u16::try_from(v).ok().map(Some)
        }
        Some(_) => None,
    }
}

/// The answer glibc's `getaddrinfo` gives for an IPv4/IPv6 literal, built
/// without calling it; `None` for any case not known to be exact (those go
/// to the pool, errors included).
fn numeric_answer(
    host: &[u8],
    port: Option<&[u8]>,
    family: i32,
    socktype: i32,
    proto: i32,
    flags: i32,
) -> Option<Vec<Entry>> {
    const PLAIN_FLAGS: i32 = libc::AI_PASSIVE | libc::AI_NUMERICHOST | libc::AI_NUMERICSERV;
    if flags & !PLAIN_FLAGS != 0 || host.contains(&b'%') || host.contains(&0) {
        return None;
    }
    let port = numeric_port(port)?;
    let text = CString::new(host).ok()?;
    let mut addr = SockAddr::empty();
    let storage = &mut addr.storage as *mut libc::sockaddr_storage;
    // SAFETY: the storage has room for either address; `text` is NUL-terminated.
    let (v4, v6) = unsafe {
        let sin = &mut *(storage as *mut libc::sockaddr_in);
        if inet_pton(
            libc::AF_INET,
            text.as_ptr(),
            &mut sin.sin_addr as *mut _ as *mut _,
        ) == 1
        {
            (true, false)
        } else {
            let sin6 = &mut *(storage as *mut libc::sockaddr_in6);
            let ok = inet_pton(
                libc::AF_INET6,
                text.as_ptr(),
                &mut sin6.sin6_addr as *mut _ as *mut _,
            );
            (false, ok == 1)
        }
    };
    let literal_family = match (v4, v6) {
        (true, _) => libc::AF_INET,
        (_, true) => libc::AF_INET6,
        _ => return None,
    };
    if family != libc::AF_UNSPEC && family != literal_family {
        return None;
    }
    let port_be = port.unwrap_or(0).to_be();
    // SAFETY: the storage holds the address inet_pton filled in; only the
    // family and port fields are set here.
    unsafe {
        if literal_family == libc::AF_INET {
            let sin = &mut *(storage as *mut libc::sockaddr_in);
            sin.sin_family = libc::AF_INET as libc::sa_family_t;
            sin.sin_port = port_be;
            addr.len = size_of::<libc::sockaddr_in>() as libc::socklen_t;
        } else {
            let sin6 = &mut *(storage as *mut libc::sockaddr_in6);
            sin6.sin6_family = libc::AF_INET6 as libc::sa_family_t;
            sin6.sin6_port = port_be;
            addr.len = size_of::<libc::sockaddr_in6>() as libc::socklen_t;
        }
    }
    let (tcp, udp) = (libc::IPPROTO_TCP, libc::IPPROTO_UDP);
    // glibc's table of socket types and protocols, as it answers literals.
    let kinds: Vec<(i32, i32)> = match (socktype, proto) {
        (0, 0) => vec![
            (libc::SOCK_STREAM, tcp),
            (libc::SOCK_DGRAM, udp),
            (libc::SOCK_RAW, 0),
        ],
        (0, p) if p == tcp => vec![(libc::SOCK_STREAM, tcp)],
        (0, p) if p == udp => vec![(libc::SOCK_DGRAM, udp)],
        (libc::SOCK_STREAM, p) if p == 0 || p == tcp => vec![(libc::SOCK_STREAM, tcp)],
        (libc::SOCK_DGRAM, p) if p == 0 || p == udp => vec![(libc::SOCK_DGRAM, udp)],
        // A raw socket has no port: glibc refuses any service for it.
        (libc::SOCK_RAW, p) if port.is_none() && (p == 0 || p == tcp || p == udp) => {
            vec![(libc::SOCK_RAW, p)]
        }
        _ => return None,
    };
    Some(
        kinds
            .into_iter()
            .map(|(socktype, protocol)| Entry {
                family: literal_family,
                socktype,
                protocol,
                canonname: None,
                addr: SockAddr {
                    storage: addr.storage,
                    len: addr.len,
                },
            })
            .collect(),
    )
}

// ---------------------------------------------------------------------------
// The worker pool.

type Job = Box<dyn FnOnce() + Send>;

struct PoolState {
    jobs: VecDeque<Job>,
    idle: usize,
    workers: usize,
}

/// Native threads for blocking lookups, shared by every loop of the process.
struct Pool {
    state: Mutex<PoolState>,
    work: Condvar,
    max_workers: usize,
    /// A forked child starts a pool of its own: the parent's threads are gone.
    pid: libc::pid_t,
}

/// An idle worker exits after this long without work.
const IDLE_EXIT: Duration = Duration::from_secs(10);

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Starts a worker thread with every signal blocked, so a signal (Ctrl-C)
/// is delivered to a Python thread and ends the loop's poll at once.
fn spawn_without_signals(work: impl FnOnce() + Send + 'static) -> std::io::Result<()> {
    // SAFETY: sigset_t is plain data, initialised by sigfillset before use;
    // the thread inherits the mask set here, and the old mask is restored.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        let mut old: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_BLOCK, &all, &mut old);
        let spawned = std::thread::Builder::new()
            .name("ferroloop-dns".into())
            .spawn(work);
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, std::ptr::null_mut());
        spawned.map(drop)
    }
}

impl Pool {
    /// The process's pool. Only called with the GIL held, so the lock is
    /// never contended (nor held across a fork by another thread).
    fn get() -> Arc<Pool> {
        static POOL: Mutex<Option<Arc<Pool>>> = Mutex::new(None);
        // SAFETY: getpid has no preconditions.
        let pid = unsafe { libc::getpid() };
        let mut slot = lock(&POOL);
        match &*slot {
            Some(p) if p.pid == pid => p.clone(),
            _ => {
                // asyncio's default executor size: min(32, CPUs + 4).
                let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
                let pool = Arc::new(Pool {
                    state: Mutex::new(PoolState {
                        jobs: VecDeque::new(),
                        idle: 0,
                        workers: 0,
                    }),
                    work: Condvar::new(),
                    max_workers: (cpus + 4).min(32),
                    pid,
                });
                *slot = Some(pool.clone());
                pool
            }
        }
    }

    fn submit(self: &Arc<Self>, job: Job) -> std::io::Result<()> {
        let mut st = lock(&self.state);
        st.jobs.push_back(job);
        if st.idle > 0 {
            self.work.notify_one();
        }
        if st.jobs.len() > st.idle && st.workers < self.max_workers {
            let pool = self.clone();
            let spawned = spawn_without_signals(move || pool.work_loop());
            match spawned {
                Ok(_) => st.workers += 1,
                Err(e) if st.workers == 0 => {
                    st.jobs.pop_back();
                    return Err(e);
                }
                // The running workers will get to it.
                Err(_) => {}
            }
        }
        Ok(())
    }

    fn work_loop(&self) {
        let mut st = lock(&self.state);
        loop {
            if let Some(job) = st.jobs.pop_front() {
                drop(st);
                // A job only calls libc and pushes its answer; should it
                // panic, the worker survives and the lookup stays unanswered.
                let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(job));
                st = lock(&self.state);
                continue;
            }
            st.idle += 1;
            let (guard, timeout) = self
                .work
                .wait_timeout(st, IDLE_EXIT)
                .unwrap_or_else(|e| e.into_inner());
            st = guard;
            st.idle -= 1;
            if timeout.timed_out() && st.jobs.is_empty() {
                st.workers -= 1;
                return;
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Blocking lookups, run on the pool.

enum Request {
    AddrInfo {
        host: Option<CString>,
        port: Option<CString>,
        family: i32,
        socktype: i32,
        proto: i32,
        flags: i32,
    },
    NameInfo {
        host: CString,
        port: CString,
        flowinfo: u32,
        scope_id: u32,
        flags: i32,
    },
}

enum Answer {
    AddrInfo(Result<Vec<Entry>, LookupError>),
    NameInfo(Result<(Vec<u8>, Vec<u8>), LookupError>),
}

/// libc `getaddrinfo`, with the results copied out.
fn call_getaddrinfo(
    host: Option<&CStr>,
    port: Option<&CStr>,
    family: i32,
    socktype: i32,
    proto: i32,
    flags: i32,
) -> Result<Vec<Entry>, LookupError> {
    // SAFETY: addrinfo is plain data; zeroes are the empty hints.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = family;
    hints.ai_socktype = socktype;
    hints.ai_protocol = proto;
    hints.ai_flags = flags;
    let mut res: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: host/port are NUL-terminated or NULL; `res` receives a list we free below.
    let code = unsafe {
        libc::getaddrinfo(
            host.map_or(std::ptr::null(), CStr::as_ptr),
            port.map_or(std::ptr::null(), CStr::as_ptr),
            &hints,
            &mut res,
        )
    };
    if code != 0 {
        return Err(lookup_error(code));
    }
    let mut out = Vec::new();
    let mut cur = res;
    while !cur.is_null() {
        // SAFETY: `cur` is a node of the list getaddrinfo returned.
        let ai = unsafe { &*cur };
        let canonname = (!ai.ai_canonname.is_null()).then(|| {
            // SAFETY: a non-NULL canonname is a NUL-terminated string.
            unsafe { CStr::from_ptr(ai.ai_canonname) }
                .to_bytes()
                .to_vec()
        });
        let addr = if ai.ai_addr.is_null() {
            let mut a = SockAddr::empty();
            a.len = 0;
            a
        } else {
            // SAFETY: ai_addr points to ai_addrlen bytes.
            unsafe { SockAddr::copy_from(ai.ai_addr, ai.ai_addrlen) }
        };
        out.push(Entry {
            family: ai.ai_family,
            socktype: ai.ai_socktype,
            protocol: ai.ai_protocol,
            canonname,
            addr,
        });
        cur = ai.ai_next;
    }
    // SAFETY: `res` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(res) };
    Ok(out)
}

/// The socket module's `getnameinfo` after its argument checks: resolve the
/// numeric host, set IPv6 flow and scope, then ask for the names.
fn call_getnameinfo(
    host: &CStr,
    port: &CStr,
    flowinfo: u32,
    scope_id: u32,
    flags: i32,
) -> Result<(Vec<u8>, Vec<u8>), LookupError> {
    let mut entries = call_getaddrinfo(
        Some(host),
        Some(port),
        libc::AF_UNSPEC,
        libc::SOCK_DGRAM,
        0,
        libc::AI_NUMERICHOST,
    )?;
    if entries.is_empty() {
        return Err(LookupError::Gai(libc::EAI_NONAME));
    }
    let mut addr = entries.swap_remove(0).addr;
    if addr.family() == libc::AF_INET6 {
        let p = &mut addr.storage as *mut libc::sockaddr_storage as *mut libc::sockaddr_in6;
        // SAFETY: the family says the storage holds a sockaddr_in6.
        unsafe {
            (*p).sin6_flowinfo = flowinfo.to_be();
            (*p).sin6_scope_id = scope_id;
        }
    }
    // Sizes as CPython's: NI_MAXHOST for the host, 32 bytes for the service.
    let mut hbuf = [0 as libc::c_char; 1025];
    let mut sbuf = [0 as libc::c_char; 32];
    // SAFETY: `addr` holds `addr.len` valid bytes; both buffers are writable
    // for the lengths given.
    let code = unsafe {
        libc::getnameinfo(
            &addr.storage as *const _ as *const libc::sockaddr,
            addr.len,
            hbuf.as_mut_ptr(),
            hbuf.len() as libc::socklen_t,
            sbuf.as_mut_ptr(),
            sbuf.len() as libc::socklen_t,
            flags,
        )
    };
    if code != 0 {
        return Err(lookup_error(code));
    }
    // SAFETY: on success both buffers hold NUL-terminated strings.
    let (h, s) = unsafe { (CStr::from_ptr(hbuf.as_ptr()), CStr::from_ptr(sbuf.as_ptr())) };
    Ok((h.to_bytes().to_vec(), s.to_bytes().to_vec()))
}

impl Request {
    fn run(self) -> Answer {
        match self {
            Request::AddrInfo {
                host,
                port,
                family,
                socktype,
                proto,
                flags,
            } => Answer::AddrInfo(call_getaddrinfo(
                host.as_deref(),
                port.as_deref(),
                family,
                socktype,
                proto,
                flags,
            )),
            Request::NameInfo {
                host,
                port,
                flowinfo,
                scope_id,
                flags,
            } => Answer::NameInfo(call_getnameinfo(&host, &port, flowinfo, scope_id, flags)),
        }
    }
}

impl Answer {
    fn into_python(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self {
            Answer::AddrInfo(Ok(entries)) => addrinfo_list(py, &entries),
            Answer::NameInfo(Ok((host, serv))) => {
                Ok(PyTuple::new(py, [utf8(py, &host)?, utf8(py, &serv)?])?
                    .into_any()
                    .unbind())
            }
            Answer::AddrInfo(Err(e)) | Answer::NameInfo(Err(e)) => Err(e.into_pyerr(py)),
        }
    }
}

// ---------------------------------------------------------------------------
// The loop side: answers come back through an inbox and an eventfd.

/// What the pool threads share with a loop's resolver: no Python objects.
struct Mailbox {
    inbox: Inbox<(u64, Answer)>,
    waker: Arc<Waker>,
}

/// A loop's lookups in flight. Exists while there are some: the loop's fd
/// table owns its [`Resolver`] (the eventfd's watcher), and the registry
/// below only finds it.
struct Lookups {
    loop_: Py<LoopCore>,
    mailbox: Arc<Mailbox>,
    pending: GilCell<HashMap<u64, Py<PyAny>>>,
    next_id: AtomicU64,
}

/// Each loop's [`Lookups`], by the loop's address. Weak: closing the loop
/// drops its watchers, and with them the lookups.
static REGISTRY: Mutex<Vec<(usize, Weak<Lookups>)>> = Mutex::new(Vec::new());

/// Watches the eventfd; the loop calls it when answers have arrived.
#[pyclass(frozen, module = "ferroloop._ferroloop")]
struct Resolver {
    lookups: Arc<Lookups>,
}

impl Lookups {
    /// The loop's lookups in flight, created (and its eventfd watched) on demand.
    fn of(lp: &Bound<'_, LoopCore>) -> PyResult<Arc<Lookups>> {
        let py = lp.py();
        let key = lp.as_ptr() as usize;
        {
            let reg = lock(&REGISTRY);
            if let Some(l) = reg
                .iter()
                .find(|(k, _)| *k == key)
                .and_then(|(_, w)| w.upgrade())
            {
                return Ok(l);
            }
        }
        let waker = Arc::new(Waker::new().map_err(os_error)?);
        // Armed: the first answer writes to the eventfd (see `Resolver::__call__`).
        waker.prepare_sleep();
        let lookups = Arc::new(Lookups {
            loop_: lp.clone().unbind(),
            mailbox: Arc::new(Mailbox {
                inbox: Inbox::new(waker.clone()),
                waker: waker.clone(),
            }),
            pending: GilCell::new(HashMap::new()),
            next_id: AtomicU64::new(0),
        });
        let watcher = Py::new(
            py,
            Resolver {
                lookups: lookups.clone(),
            },
        )?;
        LoopCore::watch(lp, waker.as_raw_fd(), Side::Read, watcher.bind(py).as_any())?;
        let mut reg = lock(&REGISTRY);
        reg.retain(|(_, w)| w.strong_count() > 0);
        reg.push((key, Arc::downgrade(&lookups)));
        Ok(lookups)
    }

    /// Starts `request` on the pool; the returned future gets its answer.
    fn submit(lp: &Bound<'_, LoopCore>, request: Request) -> PyResult<Py<PyAny>> {
        let py = lp.py();
        let lookups = Lookups::of(lp)?;
        let fut = lp
            .as_any()
            .call_method0(intern!(py, "create_future"))?
            .unbind();
        let id = lookups.next_id.fetch_add(1, Ordering::Relaxed);
        lookups.pending.borrow_mut(py).insert(id, fut.clone_ref(py));
        let mailbox = lookups.mailbox.clone();
        let job: Job = Box::new(move || {
            let answer = request.run();
            mailbox.inbox.push((id, answer));
        });
        if let Err(e) = Pool::get().submit(job) {
            let dropped = lookups.pending.borrow_mut(py).remove(&id);
            drop(dropped);
            lookups.finish_if_idle(py)?;
            return Err(PyRuntimeError::new_err(format!(
                "can't start new thread: {e}"
            )));
        }
        Ok(fut)
    }

    /// No lookup left: stop watching the eventfd, which drops the resolver.
    fn finish_if_idle(self: &Arc<Self>, py: Python<'_>) -> PyResult<()> {
        if !self.pending.borrow(py).is_empty() {
            return Ok(());
        }
        lock(&REGISTRY).retain(|(_, w)| !std::ptr::eq(w.as_ptr(), Arc::as_ptr(self)));
        LoopCore::unwatch(
            self.loop_.bind(py),
            self.mailbox.waker.as_raw_fd(),
            Side::Read,
        )?;
        Ok(())
    }
}

/// Resolves a lookup's future with its answer, unless it was cancelled.
fn deliver(fut: &Bound<'_, PyAny>, answer: Answer) -> PyResult<()> {
    let py = fut.py();
    if fut.call_method0(intern!(py, "done"))?.is_truthy()? {
        return Ok(());
    }
    match answer.into_python(py) {
        Ok(v) => fut.call_method1(intern!(py, "set_result"), (v,))?,
        Err(e) => fut.call_method1(intern!(py, "set_exception"), (e.into_value(py),))?,
    };
    Ok(())
}

#[pymethods]
impl Resolver {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let lookups = &self.lookups;
        let mailbox = &lookups.mailbox;
        // Reset the eventfd, re-arm it, then take what was published: an
        // answer pushed after the re-arm writes the eventfd again (the
        // waker's ordering contract), so none is left behind.
        mailbox.waker.drain();
        mailbox.waker.prepare_sleep();
        let mut answers = Vec::new();
        mailbox.inbox.drain_into(&mut answers);
        // Every answer is delivered even if one delivery fails.
        let mut first_error = None;
        for (id, answer) in answers {
            let fut = lookups.pending.borrow_mut(py).remove(&id);
            let Some(fut) = fut else { continue };
            if let Err(e) = deliver(fut.bind(py), answer) {
                first_error.get_or_insert(e);
            }
        }
        lookups.finish_if_idle(py)?;
        first_error.map_or(Ok(()), Err)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.lookups.loop_)?;
        if let Some(pending) = self.lookups.pending.try_borrow_for_gc() {
            for fut in pending.values() {
                visit.call(fut)?;
            }
        }
        Ok(())
    }

    fn __clear__(&self) {
        let taken = self
            .lookups
            .pending
            .try_borrow_mut_for_gc()
            .map(|mut p| std::mem::take(&mut *p));
        drop(taken);
    }
}

// ---------------------------------------------------------------------------
// The coroutines.

/// asyncio's `run_in_executor` checks, which its lookups go through.
fn check_loop(lp: &Bound<'_, LoopCore>) -> PyResult<()> {
    let py = lp.py();
    lp.get().check_closed()?;
    if let Ok(v) = lp
        .as_any()
        .getattr(intern!(py, "_executor_shutdown_called"))
    {
        if v.is_truthy()? {
            return Err(PyRuntimeError::new_err("Executor shutdown has been called"));
        }
    }
    Ok(())
}

/// NUL-terminated, cut at the first NUL as C reads it.
fn c_string(bytes: &[u8]) -> CString {
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    CString::new(&bytes[..end]).unwrap_or_default()
}

/// `_socket.getaddrinfo`'s conversion of the host.
fn host_bytes(host: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    let py = host.py();
    if host.is_none() {
        Ok(None)
    } else if let Ok(s) = host.cast::<PyString>() {
        // An ASCII literal is its own IDNA form; skip the codec for it.
        let text = s.to_str().ok().filter(|t| t.is_ascii());
        if let Some(t) = text.filter(|t| numeric_literal(t.as_bytes())) {
            return Ok(Some(t.as_bytes().to_vec()));
        }
        let idna = host.call_method1(intern!(py, "encode"), ("idna",))?;
        Ok(Some(idna.cast::<PyBytes>()?.as_bytes().to_vec()))
    } else if let Ok(b) = host.cast::<PyBytes>() {
        Ok(Some(b.as_bytes().to_vec()))
    } else {
        Err(PyTypeError::new_err(
            "getaddrinfo() argument 1 must be string or None",
        ))
    }
}

fn numeric_literal(text: &[u8]) -> bool {
    let Ok(c) = CString::new(text) else {
        return false;
    };
    let mut buf = [0u8; 16];
    // SAFETY: `c` is NUL-terminated; `buf` has room for an in6_addr.
    unsafe {
        inet_pton(libc::AF_INET, c.as_ptr(), buf.as_mut_ptr() as *mut _) == 1
            || inet_pton(libc::AF_INET6, c.as_ptr(), buf.as_mut_ptr() as *mut _) == 1
    }
}

/// `_socket.getaddrinfo`'s conversion of the port.
fn port_bytes(port: &Bound<'_, PyAny>) -> PyResult<Option<Vec<u8>>> {
    let py = port.py();
    // SAFETY: a type check on a live object.
    if unsafe { ffi::PyLong_CheckExact(port.as_ptr()) } != 0 {
        let v: libc::c_long = port.extract()?;
        Ok(Some(v.to_string().into_bytes()))
    } else if let Ok(s) = port.cast::<PyString>() {
        // PyUnicode_AsUTF8, as CPython: it refuses an embedded NUL where
        // that Python version does.
        // SAFETY: `s` is a str; the result is borrowed from it or NULL with an error.
        let p = unsafe { ffi::PyUnicode_AsUTF8(s.as_ptr()) };
        if p.is_null() {
            return Err(PyErr::fetch(py));
        }
        // SAFETY: PyUnicode_AsUTF8 returns a NUL-terminated buffer.
        Ok(Some(unsafe { CStr::from_ptr(p) }.to_bytes().to_vec()))
    } else if let Ok(b) = port.cast::<PyBytes>() {
        Ok(Some(b.as_bytes().to_vec()))
    } else if port.is_none() {
        Ok(None)
    } else {
        Err(PyOSError::new_err("Int or String expected"))
    }
}

struct AddrInfoCall {
    loop_: Py<LoopCore>,
    host: Py<PyAny>,
    port: Py<PyAny>,
    family: Py<PyAny>,
    socktype: Py<PyAny>,
    proto: Py<PyAny>,
    flags: Py<PyAny>,
}

impl AddrInfoCall {
    fn via_executor(&self, py: Python<'_>, sup: &DnsSupport) -> PyResult<Started> {
        let args = (
            intern!(py, "getaddrinfo"),
            &self.loop_,
            &self.host,
            &self.port,
            &self.family,
            &self.socktype,
            &self.proto,
            &self.flags,
        );
        Ok(Started::Await(sup.in_executor.call1(py, args)?))
    }
}

impl Start for AddrInfoCall {
    fn start(self: Box<Self>, py: Python<'_>) -> PyResult<Started> {
        let lp = self.loop_.bind(py);
        check_loop(lp)?;
        let sup = support(py)?;
        let debug = lp
            .as_any()
            .call_method0(intern!(py, "get_debug"))?
            .is_truthy()?;
        if debug || sup.getaddrinfo_patched(py)? {
            return self.via_executor(py, sup);
        }
        let family: i32 = self.family.extract(py)?;
        let socktype: i32 = self.socktype.extract(py)?;
        let proto: i32 = self.proto.extract(py)?;
        let flags: i32 = self.flags.extract(py)?;
        let host = host_bytes(self.host.bind(py))?;
        let port = port_bytes(self.port.bind(py))?;
        // SAFETY: the format matches the arguments: two objects, three ints.
        let audited = unsafe {
            PySys_Audit(
                c"socket.getaddrinfo".as_ptr(),
                c"OOiii".as_ptr(),
                self.host.as_ptr(),
                self.port.as_ptr(),
                family as libc::c_int,
                socktype as libc::c_int,
                proto as libc::c_int,
            )
        };
        if audited < 0 {
            return Err(PyErr::fetch(py));
        }
        if let Some(h) = host.as_deref() {
            if let Some(entries) =
                numeric_answer(h, port.as_deref(), family, socktype, proto, flags)
            {
                return Ok(Started::Return(addrinfo_list(py, &entries)?));
            }
        }
        let request = Request::AddrInfo {
            host: host.as_deref().map(c_string),
            port: port.as_deref().map(c_string),
            family,
            socktype,
            proto,
            flags,
        };
        Ok(Started::Await(Lookups::submit(lp, request)?))
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        for obj in [
            &self.host,
            &self.port,
            &self.family,
            &self.socktype,
            &self.proto,
            &self.flags,
        ] {
            visit.call(obj)?;
        }
        Ok(())
    }
}

struct NameInfoCall {
    loop_: Py<LoopCore>,
    sockaddr: Py<PyAny>,
    flags: Py<PyAny>,
}

impl Start for NameInfoCall {
    fn start(self: Box<Self>, py: Python<'_>) -> PyResult<Started> {
        let lp = self.loop_.bind(py);
        check_loop(lp)?;
        let sup = support(py)?;
        if sup.getnameinfo_patched(py)? {
            let args = (
                intern!(py, "getnameinfo"),
                &self.loop_,
                &self.sockaddr,
                &self.flags,
            );
            return Ok(Started::Await(sup.in_executor.call1(py, args)?));
        }
        let getnameinfo = sup.c_getnameinfo.bind(py);
        let flags: i32 = self.flags.extract(py)?;
        let numeric = libc::NI_NUMERICHOST | libc::NI_NUMERICSERV;
        if flags & numeric == numeric {
            // Nothing to look up: the socket module answers without blocking.
            return Ok(Started::Return(
                getnameinfo.call1((&self.sockaddr, flags))?.unbind(),
            ));
        }
        // The socket module's own argument checks (and audit event), with no
        // lookup; then the blocking part on the pool.
        getnameinfo.call1((&self.sockaddr, numeric))?;
        let sa = self.sockaddr.bind(py).cast::<PyTuple>()?;
        let host: String = sa.get_item(0)?.extract()?;
        let port: i32 = sa.get_item(1)?.extract()?;
        let low32 = |i: usize| -> PyResult<u32> {
            if sa.len() <= i {
                return Ok(0);
            }
            let v = sa.get_item(i)?.call_method0(intern!(py, "__index__"))?;
            v.bitand(0xffff_ffffu32)?.extract()
        };
        let request = Request::NameInfo {
            host: c_string(host.as_bytes()),
            port: c_string(port.to_string().as_bytes()),
            flowinfo: low32(2)?,
            scope_id: low32(3)?,
            flags,
        };
        Ok(Started::Await(Lookups::submit(lp, request)?))
    }

    fn traverse(&self, visit: &PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.loop_)?;
        visit.call(&self.sockaddr)?;
        visit.call(&self.flags)
    }
}

/// An optional argument whose default is the int 0, where an explicit `None`
/// is an argument like any other (and a `TypeError` later, as in asyncio).
struct IntOrZero(Option<Py<PyAny>>);

impl<'a, 'py> FromPyObject<'a, 'py> for IntOrZero {
    type Error = PyErr;

    fn extract(obj: pyo3::Borrowed<'a, 'py, PyAny>) -> PyResult<Self> {
        Ok(IntOrZero(Some(obj.to_owned().unbind())))
    }
}

impl IntOrZero {
    const ZERO: IntOrZero = IntOrZero(None);

    fn into_object(self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        match self.0 {
            Some(obj) => Ok(obj),
            None => Ok(0i32.into_pyobject(py)?.into_any().unbind()),
        }
    }
}

#[pymethods]
impl LoopCore {
    #[pyo3(signature = (host, port, *, family=IntOrZero::ZERO, r#type=IntOrZero::ZERO, proto=IntOrZero::ZERO, flags=IntOrZero::ZERO))]
    #[pyo3(text_signature = "($self, host, port, *, family=0, type=0, proto=0, flags=0)")]
    #[allow(clippy::too_many_arguments)]
    fn getaddrinfo(
        slf: &Bound<'_, Self>,
        host: &Bound<'_, PyAny>,
        port: &Bound<'_, PyAny>,
        family: IntOrZero,
        r#type: IntOrZero,
        proto: IntOrZero,
        flags: IntOrZero,
    ) -> PyResult<Py<NativeCoro>> {
        let py = slf.py();
        let call = AddrInfoCall {
            loop_: slf.clone().unbind(),
            host: host.clone().unbind(),
            port: port.clone().unbind(),
            family: family.into_object(py)?,
            socktype: r#type.into_object(py)?,
            proto: proto.into_object(py)?,
            flags: flags.into_object(py)?,
        };
        NativeCoro::new(py, "getaddrinfo", Box::new(call))
    }

    #[pyo3(signature = (sockaddr, flags=IntOrZero::ZERO))]
    #[pyo3(text_signature = "($self, sockaddr, flags=0)")]
    fn getnameinfo(
        slf: &Bound<'_, Self>,
        sockaddr: &Bound<'_, PyAny>,
        flags: IntOrZero,
    ) -> PyResult<Py<NativeCoro>> {
        let py = slf.py();
        let call = NameInfoCall {
            loop_: slf.clone().unbind(),
            sockaddr: sockaddr.clone().unbind(),
            flags: flags.into_object(py)?,
        };
        NativeCoro::new(py, "getnameinfo", Box::new(call))
    }
}
