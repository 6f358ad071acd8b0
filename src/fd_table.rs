//! The fd table: what the loop watches each file descriptor for.
//!
//! One entry per fd with its reader and writer handles, mirrored into the
//! level-triggered poller. Transports will keep their native state here too,
//! so a ready socket is dispatched to Rust code without a Python handle.

use crate::handles::Handle;
use ferroloop_core::{Interest, Poller};
use pyo3::prelude::*;
use std::collections::HashMap;
use std::io;
use std::os::fd::RawFd;

#[derive(Default)]
pub struct FdEntry {
    pub reader: Option<Py<Handle>>,
    pub writer: Option<Py<Handle>>,
}

impl FdEntry {
    fn interest(&self) -> Interest {
        Interest {
            readable: self.reader.is_some(),
            writable: self.writer.is_some(),
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Read,
    Write,
}

#[derive(Default)]
pub struct FdTable {
    entries: HashMap<RawFd, FdEntry>,
}

impl FdTable {
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub fn get(&self, fd: RawFd) -> Option<&FdEntry> {
        self.entries.get(&fd)
    }

    /// Installs `handle` on one side of `fd`, returning the handle it replaces.
    pub fn set(
        &mut self,
        poller: &Poller,
        fd: RawFd,
        side: Side,
        handle: Py<Handle>,
    ) -> io::Result<Option<Py<Handle>>> {
        let known = self.entries.contains_key(&fd);
        let entry = self.entries.entry(fd).or_default();
        let slot = match side {
            Side::Read => &mut entry.reader,
            Side::Write => &mut entry.writer,
        };
        let old = slot.replace(handle);
        let interest = entry.interest();
        let res = if known {
            // A registration can vanish behind our back when its fd was closed
            // and the number reused; register afresh then.
            match poller.modify(fd, interest, fd as u64) {
                Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {
                    poller.add(fd, interest, fd as u64)
                }
                other => other,
            }
        } else {
            poller.add(fd, interest, fd as u64)
        };
        if let Err(err) = res {
            let entry = self.entries.get_mut(&fd).expect("inserted above");
            let slot = match side {
                Side::Read => &mut entry.reader,
                Side::Write => &mut entry.writer,
            };
            *slot = old;
            if entry.reader.is_none() && entry.writer.is_none() {
                self.entries.remove(&fd);
            }
            return Err(err);
        }
        Ok(old)
    }

    /// Removes one side of `fd`, returning its handle if there was one.
    /// Without a poller (a forked child, whose epoll instance is the
    /// parent's) only the table changes.
    pub fn remove(&mut self, poller: Option<&Poller>, fd: RawFd, side: Side) -> Option<Py<Handle>> {
        let entry = self.entries.get_mut(&fd)?;
        let old = match side {
            Side::Read => entry.reader.take(),
            Side::Write => entry.writer.take(),
        }?;
        let interest = entry.interest();
        if interest.is_empty() {
            self.entries.remove(&fd);
        }
        if let Some(poller) = poller {
            if interest.is_empty() {
                // The fd may be closed already, which removed it from epoll.
                let _ = poller.delete(fd);
            } else if poller.modify(fd, interest, fd as u64).is_err() {
                let _ = poller.add(fd, interest, fd as u64);
            }
        }
        Some(old)
    }

    /// Every handle in the table (for the garbage collector).
    pub fn handles(&self) -> impl Iterator<Item = &Py<Handle>> {
        self.entries
            .values()
            .flat_map(|e| e.reader.iter().chain(e.writer.iter()))
    }

    /// Empties the table (closing the loop), returning every handle.
    pub fn drain(&mut self, poller: Option<&Poller>) -> Vec<Py<Handle>> {
        let mut out = Vec::new();
        for (fd, entry) in self.entries.drain() {
            if let Some(p) = poller {
                let _ = p.delete(fd);
            }
            out.extend(entry.reader);
            out.extend(entry.writer);
        }
        out
    }
}
