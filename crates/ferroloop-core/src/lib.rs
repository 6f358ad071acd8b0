//! ferroloop-core: the parts of ferroloop's event loop that need no Python.
//!
//! - [`poller`]: epoll in level-triggered mode, so `add_reader` keeps asyncio's
//!   selector semantics (a callback fires on every pass while data is unread).
//! - [`timers`]: the timer heap, ordered by (when, insertion order), with O(1)
//!   cancellation and compaction of cancelled entries.
//! - [`ready`]: the FIFO ready queue drained one snapshot per pass.
//! - [`idle_spin`]: how long to poll before sleeping, adapted to recent sleeps.
//! - [`waker`]: an eventfd that other threads write to end a blocking poll.
//! - [`inbox`]: a queue native worker threads hand results back through.
//! - [`write_buffer`]: a transport's queued output, flushed with vectored writes.
//! - [`clock`]: `CLOCK_MONOTONIC`, the clock behind Python's `time.monotonic()`.
//!
//! Linux only: the loop is built on epoll and eventfd.

#[macro_use]
mod sys;

pub mod clock;
pub mod idle_spin;
pub mod inbox;
pub mod poller;
pub mod ready;
pub mod timers;
pub mod waker;
pub mod write_buffer;

pub use idle_spin::IdleSpin;
pub use inbox::Inbox;
pub use poller::{Event, Events, Interest, Poller};
pub use ready::ReadyQueue;
pub use timers::{TimerEntry, TimerHeap};
pub use waker::Waker;
pub use write_buffer::WriteBuffer;
