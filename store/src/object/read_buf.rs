//! Aligned buffers for direct reads, kept for reuse. A fresh buffer costs a
//! memset and a page fault per 4 KiB when first written (about 4 us each on
//! the VMs this was measured on), and a large GET goes through one per MiB.
//! A buffer comes back here when the last `Bytes` made from it is dropped,
//! that is once the socket has taken its bytes.

use std::sync::Mutex;

use bytes::Bytes;

/// Alignment of a direct read's buffer, offset and length (every logical
/// block size in use divides it).
pub const ALIGN: usize = 4096;

/// The window of the buffers kept: one direct read piece.
pub const WINDOW: usize = 1 << 20;

/// Buffers kept at most (their memory stays with the process).
const KEPT: usize = 32;

/// Buffers of `WINDOW + ALIGN` bytes waiting for reuse.
pub struct Pool {
    kept: Mutex<Vec<Vec<u8>>>,
}

/// The process's pool.
static POOL: Pool = Pool::new();

impl Pool {
    pub const fn new() -> Pool {
        Pool {
            kept: Mutex::new(Vec::new()),
        }
    }
}

impl Default for Pool {
    fn default() -> Self {
        Pool::new()
    }
}

/// An aligned window of `len` bytes, from the pool when it fits one.
pub struct ReadBuf {
    storage: Vec<u8>,
    at: usize,
    len: usize,
    pool: &'static Pool,
}

impl ReadBuf {
    /// A buffer whose window holds `len` bytes; None where the allocation
    /// cannot be aligned (never on Linux).
    pub fn take(len: usize) -> Option<ReadBuf> {
        ReadBuf::take_from(&POOL, len)
    }

    fn take_from(pool: &'static Pool, len: usize) -> Option<ReadBuf> {
        let storage = if len <= WINDOW {
            let kept = pool.kept.lock().ok().and_then(|mut p| p.pop());
            kept.unwrap_or_else(|| vec![0u8; WINDOW + ALIGN])
        } else {
            vec![0u8; len + ALIGN]
        };
        let at = storage.as_ptr().align_offset(ALIGN);
        (at + len <= storage.len()).then_some(ReadBuf {
            storage,
            at,
            len,
            pool,
        })
    }

    /// The window, to read into.
    pub fn window(&mut self) -> &mut [u8] {
        &mut self.storage[self.at..self.at + self.len]
    }

    /// The window's first `n` bytes, shared without a copy; the buffer goes
    /// back to the pool when the last of them is dropped.
    pub fn into_bytes(mut self, n: usize) -> Bytes {
        self.len = n.min(self.len);
        Bytes::from_owner(self)
    }
}

impl AsRef<[u8]> for ReadBuf {
    fn as_ref(&self) -> &[u8] {
        &self.storage[self.at..self.at + self.len]
    }
}

impl Drop for ReadBuf {
    fn drop(&mut self) {
        let storage = std::mem::take(&mut self.storage);
        if storage.len() != WINDOW + ALIGN {
            return;
        }
        if let Ok(mut p) = self.pool.kept.lock() {
            if p.len() < KEPT {
                p.push(storage);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_are_aligned_and_buffers_come_back() {
        let pool: &'static Pool = Box::leak(Box::default());
        let mut b = ReadBuf::take_from(pool, WINDOW).unwrap();
        assert_eq!(b.window().as_ptr() as usize % ALIGN, 0);
        b.window().fill(7);
        let addr = b.window().as_ptr() as usize;
        let bytes = b.into_bytes(100);
        assert_eq!(&bytes[..], &[7u8; 100][..]);
        let part = bytes.slice(10..20);
        drop(bytes);
        assert_eq!(&part[..], &[7u8; 10][..]);
        drop(part);
        // Back in the pool once the last slice went, and taken again.
        let mut again = ReadBuf::take_from(pool, 4096).unwrap();
        assert_eq!(again.window().as_ptr() as usize, addr);
        assert_eq!(again.window().len(), 4096);
        // Larger than a window: a buffer of its own, aligned too, not kept.
        let mut big = ReadBuf::take_from(pool, 3 * WINDOW).unwrap();
        assert_eq!(big.window().len(), 3 * WINDOW);
        assert_eq!(big.window().as_ptr() as usize % ALIGN, 0);
        drop(big);
        drop(again);
        assert_eq!(pool.kept.lock().unwrap().len(), 1);
    }
}
