//! A transport's write buffer: what `write()` could not send at once.
//!
//! Data is queued without copying twice: a caller's immutable buffer (a
//! Python `bytes`) is kept by reference, mutable data is copied exactly once,
//! and small pieces are packed into one owned chunk so a burst of tiny writes
//! becomes one I/O vector entry. Flushing hands up to [`MAX_IOV`] slices to a
//! vectored write (`writev`/`sendmsg`) and drops what was sent.
//!
//! Water marks follow asyncio's `_FlowControlMixin`: 64 KiB high, a quarter of
//! that low, `high >= low >= 0`.

use std::collections::VecDeque;
use std::io::{self, IoSlice};

/// Slices handed to one vectored write. Linux allows 1024 (`IOV_MAX`); 64
/// keeps the array on the stack and is plenty, since packing merges small
/// writes.
pub const MAX_IOV: usize = 64;

/// Writes up to this size are copied into a shared owned chunk instead of
/// being queued by reference: copying a few hundred bytes is cheaper than an
/// extra I/O vector entry and a reference to keep.
pub const PACK_LIMIT: usize = 1024;

/// Capacity of a fresh packing chunk.
const PACK_CHUNK: usize = 16 * 1024;

/// asyncio's default high-water mark (`transports._FlowControlMixin`).
pub const DEFAULT_HIGH_WATER: i64 = 64 * 1024;

enum Chunk<B> {
    Shared(B),
    Owned(Vec<u8>),
}

impl<B: AsRef<[u8]>> Chunk<B> {
    fn bytes(&self) -> &[u8] {
        match self {
            Chunk::Shared(b) => b.as_ref(),
            Chunk::Owned(v) => v,
        }
    }
}

pub struct WriteBuffer<B> {
    chunks: VecDeque<Chunk<B>>,
    /// Bytes of the first chunk already written.
    head: usize,
    len: usize,
}

impl<B> Default for WriteBuffer<B> {
    fn default() -> Self {
        WriteBuffer {
            chunks: VecDeque::new(),
            head: 0,
            len: 0,
        }
    }
}

impl<B: AsRef<[u8]>> WriteBuffer<B> {
    pub fn new() -> Self {
        Self::default()
    }

    /// Bytes queued and not yet written.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Queues an immutable buffer by reference; small ones are packed.
    pub fn push_shared(&mut self, data: B) {
        let n = data.as_ref().len();
        if n == 0 {
            return;
        }
        if n <= PACK_LIMIT {
            self.push_copy(data.as_ref());
            return;
        }
        self.len += n;
        self.chunks.push_back(Chunk::Shared(data));
    }

    /// Queues a copy of `data`, packed behind the last chunk when it fits.
    pub fn push_copy(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.len += data.len();
        // The head chunk may be partly written; packing behind it is fine
        // since only its start is consumed.
        if let Some(Chunk::Owned(last)) = self.chunks.back_mut() {
            if last.capacity() - last.len() >= data.len() {
                last.extend_from_slice(data);
                return;
            }
        }
        let mut v = Vec::with_capacity(data.len().max(PACK_CHUNK));
        v.extend_from_slice(data);
        self.chunks.push_back(Chunk::Owned(v));
    }

    /// Writes queued data with `write` (given at most [`MAX_IOV`] slices) and
    /// drops what it reports written. Returns that count.
    pub fn flush_with<F>(&mut self, write: F) -> io::Result<usize>
    where
        F: FnOnce(&[IoSlice<'_>]) -> io::Result<usize>,
    {
        if self.is_empty() {
            return Ok(0);
        }
        let n = {
            let mut slices = [IoSlice::new(&[]); MAX_IOV];
            let mut count = 0;
            for (i, chunk) in self.chunks.iter().take(MAX_IOV).enumerate() {
                let bytes = chunk.bytes();
                slices[i] = IoSlice::new(if i == 0 { &bytes[self.head..] } else { bytes });
                count += 1;
            }
            write(&slices[..count])?
        };
        self.consume(n);
        Ok(n)
    }

    /// Drops the first `n` queued bytes.
    pub fn consume(&mut self, mut n: usize) {
        assert!(n <= self.len, "consumed more than was queued");
        self.len -= n;
        while n > 0 {
            let left = self.chunks[0].bytes().len() - self.head;
            if n < left {
                self.head += n;
                return;
            }
            n -= left;
            self.chunks.pop_front();
            self.head = 0;
        }
        if self
            .chunks
            .front()
            .is_some_and(|c| c.bytes().len() == self.head)
        {
            self.chunks.pop_front();
            self.head = 0;
        }
    }

    /// Empties the buffer, returning it so the caller can drop the chunks
    /// where that is safe (a chunk may hold an interpreter reference).
    pub fn take(&mut self) -> WriteBuffer<B> {
        std::mem::take(self)
    }
}

/// asyncio's `_set_write_buffer_limits`: fills in the missing mark and checks
/// `high >= low >= 0`. Returns `(high, low)`; `Err` carries the values that
/// failed the check, for the error message.
pub fn water_marks(high: Option<i64>, low: Option<i64>) -> Result<(i64, i64), (i64, i64)> {
    let high = match (high, low) {
        (Some(h), _) => h,
        (None, None) => DEFAULT_HIGH_WATER,
        (None, Some(l)) => l.saturating_mul(4),
    };
    // Floor division, like Python's `high // 4`.
    let low = low.unwrap_or_else(|| high.div_euclid(4));
    if high >= low && low >= 0 {
        Ok((high, low))
    } else {
        Err((high, low))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn drain(buf: &mut WriteBuffer<Vec<u8>>, limit: usize) -> Vec<u8> {
        let mut out = Vec::new();
        buf.flush_with(|slices| {
            for s in slices {
                let take = (limit - out.len()).min(s.len());
                out.extend_from_slice(&s[..take]);
            }
            Ok(out.len())
        })
        .unwrap();
        out
    }

    #[test]
    fn small_writes_are_packed() {
        let mut buf: WriteBuffer<Vec<u8>> = WriteBuffer::new();
        for _ in 0..100 {
            buf.push_copy(b"abc");
            buf.push_shared(b"de".to_vec());
        }
        assert_eq!(buf.len(), 500);
        assert_eq!(buf.chunks.len(), 1);
    }

    #[test]
    fn large_shared_kept_by_reference() {
        let mut buf: WriteBuffer<Vec<u8>> = WriteBuffer::new();
        buf.push_shared(vec![1; 5000]);
        buf.push_shared(vec![2; 5000]);
        assert_eq!(buf.chunks.len(), 2);
        assert!(matches!(buf.chunks[0], Chunk::Shared(_)));
    }

    #[test]
    fn partial_flushes_keep_order() {
        let mut buf: WriteBuffer<Vec<u8>> = WriteBuffer::new();
        let mut expected = Vec::new();
        for i in 0..50u8 {
            let piece = vec![i; 100 + usize::from(i) * 37];
            expected.extend_from_slice(&piece);
            if i % 2 == 0 {
                buf.push_shared(piece);
            } else {
                buf.push_copy(&piece);
            }
        }
        let mut got = Vec::new();
        while !buf.is_empty() {
            got.extend(drain(&mut buf, 777));
        }
        assert_eq!(got, expected);
        assert_eq!(buf.chunks.len(), 0);
    }

    #[test]
    fn exact_chunk_boundary_drops_chunk() {
        let mut buf: WriteBuffer<Vec<u8>> = WriteBuffer::new();
        buf.push_shared(vec![1; 2000]);
        buf.push_shared(vec![2; 2000]);
        assert_eq!(drain(&mut buf, 2000), vec![1; 2000]);
        assert_eq!(buf.chunks.len(), 1);
        assert_eq!(buf.head, 0);
        assert_eq!(buf.len(), 2000);
    }

    #[test]
    fn error_leaves_buffer_intact() {
        let mut buf: WriteBuffer<Vec<u8>> = WriteBuffer::new();
        buf.push_copy(b"hello");
        let err = buf.flush_with(|_| Err(io::Error::from(io::ErrorKind::WouldBlock)));
        assert!(err.is_err());
        assert_eq!(buf.len(), 5);
    }

    #[test]
    fn at_most_max_iov_slices() {
        let mut buf: WriteBuffer<Vec<u8>> = WriteBuffer::new();
        for _ in 0..200 {
            buf.push_shared(vec![0; 2000]);
        }
        buf.flush_with(|s| {
            assert_eq!(s.len(), MAX_IOV);
            Ok(0)
        })
        .unwrap();
    }

    #[test]
    fn water_marks_like_asyncio() {
        assert_eq!(water_marks(None, None), Ok((65536, 16384)));
        assert_eq!(water_marks(Some(100), None), Ok((100, 25)));
        assert_eq!(water_marks(None, Some(10)), Ok((40, 10)));
        assert_eq!(water_marks(Some(0), None), Ok((0, 0)));
        assert_eq!(water_marks(Some(10), Some(20)), Err((10, 20)));
        assert_eq!(water_marks(Some(-1), None), Err((-1, -1)));
        assert_eq!(water_marks(None, Some(-1)), Err((-4, -1)));
    }
}
