//! Large bodies written around the page cache (O_DIRECT).
//!
//! A buffered write copies every byte into freshly allocated page-cache
//! pages, and the kernel later writes them back from its own threads: on a
//! 64 MiB PUT that copy was the largest single cost of an object server
//! (perf: `copy_folio_from_iter_atomic`). With O_DIRECT the device reads the
//! bytes straight from our buffer. The kernel needs the buffer's address, the
//! length and the file offset aligned to the device's logical block, so bytes
//! gather in one reused, aligned buffer (a copy into memory that stays in
//! cache, far cheaper than the page-cache one) and go out in whole aligned
//! pieces. The unaligned end of the body and everything after it (the digest
//! area, metadata) are written buffered after O_DIRECT is turned off.
//!
//! Durability is unchanged: the commit still makes the file durable
//! (fdatasync) before its rename. A filesystem that refuses O_DIRECT (tmpfs)
//! or its alignment gets buffered writes, silently.

use std::fs::File;
use std::io::{self, Write};

use rustix::fs::{fcntl_getfl, fcntl_setfl, OFlags};

/// Alignment of address, length and offset: 4 KiB suits every logical block
/// size in use (512 B and 4 KiB).
const ALIGN: usize = 4096;

/// Bytes gathered before one direct write.
pub const BUF_SIZE: usize = 1 << 20;

/// Bodies from this size on are written directly (smaller ones gain little
/// and are synced by the group commit, which wants them in the page cache).
pub const MIN_BODY: u64 = 4 << 20;

/// An aligned buffer and the state of the file's O_DIRECT flag.
pub struct DirectWrite {
    /// `BUF_SIZE + ALIGN` bytes; the aligned window starts at `start`.
    storage: Vec<u8>,
    start: usize,
    /// Bytes waiting in the window.
    filled: usize,
    /// O_DIRECT is on for the file.
    on: bool,
}

impl std::fmt::Debug for DirectWrite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DirectWrite")
            .field("filled", &self.filled)
            .field("on", &self.on)
            .finish()
    }
}

impl DirectWrite {
    /// Turns O_DIRECT on for `file` (which must be empty, at offset 0); None
    /// where the filesystem refuses it.
    pub fn start(file: &File) -> Option<Self> {
        let flags = fcntl_getfl(file).ok()?;
        fcntl_setfl(file, flags | OFlags::DIRECT).ok()?;
        let storage = vec![0u8; BUF_SIZE + ALIGN];
        let start = storage.as_ptr().align_offset(ALIGN);
        if start >= ALIGN {
            // Cannot align (never on Linux): stay buffered.
            let _ = fcntl_setfl(file, flags);
            return None;
        }
        Some(DirectWrite {
            storage,
            start,
            filled: 0,
            on: true,
        })
    }

    /// O_DIRECT is still on (not refused, not finished).
    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Queues `buf`, writing whole buffers as they fill.
    pub fn write(&mut self, file: &mut File, mut buf: &[u8]) -> io::Result<()> {
        while !buf.is_empty() {
            // Checked at every turn: a refused flush below turns O_DIRECT
            // off (leaving nothing in the window), and what is left of
            // `buf` must then go out buffered, not wait in the window.
            if !self.on {
                return file.write_all(buf);
            }
            let n = buf.len().min(BUF_SIZE - self.filled);
            let at = self.start + self.filled;
            self.storage[at..at + n].copy_from_slice(&buf[..n]);
            self.filled += n;
            buf = &buf[n..];
            if self.filled == BUF_SIZE {
                self.flush_aligned(file)?;
            }
        }
        Ok(())
    }

    /// Writes every whole aligned piece directly, the rest buffered, and
    /// turns O_DIRECT off: what follows is written buffered.
    pub fn finish(&mut self, file: &mut File) -> io::Result<()> {
        if self.on {
            self.flush_aligned(file)?;
            self.set_buffered(file)?;
        }
        // Less than one block is left (nothing once O_DIRECT was refused).
        if self.filled > 0 {
            let at = self.start;
            file.write_all(&self.storage[at..at + self.filled])?;
            self.filled = 0;
        }
        Ok(())
    }

    /// Writes the whole aligned pieces waiting (the remainder moves to the
    /// window's start). A filesystem that refuses them turns O_DIRECT off
    /// and takes them buffered.
    fn flush_aligned(&mut self, file: &mut File) -> io::Result<()> {
        let whole = self.filled / ALIGN * ALIGN;
        if whole == 0 {
            return Ok(());
        }
        let mut done = 0;
        while done < whole {
            let w = &self.storage[self.start + done..self.start + whole];
            match file.write(w) {
                Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                // A short direct write of a whole-block count keeps the
                // offset aligned; one that is not turns O_DIRECT off.
                Ok(n) => {
                    done += n;
                    if n % ALIGN != 0 && done < whole {
                        self.set_buffered(file)?;
                        file.write_all(&self.storage[self.start + done..self.start + whole])?;
                        done = whole;
                    }
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) => {
                    self.set_buffered(file)?;
                    file.write_all(&self.storage[self.start + done..self.start + whole])?;
                    done = whole;
                }
                Err(e) => return Err(e),
            }
        }
        let rest = self.filled - whole;
        let at = self.start;
        self.storage.copy_within(at + whole..at + self.filled, at);
        self.filled = rest;
        if !self.on && rest > 0 {
            file.write_all(&self.storage[at..at + rest])?;
            self.filled = 0;
        }
        Ok(())
    }

    fn set_buffered(&mut self, file: &File) -> io::Result<()> {
        if self.on {
            let flags = fcntl_getfl(file)?;
            fcntl_setfl(file, flags - OFlags::DIRECT)?;
            self.on = false;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::fs::OpenOptionsExt;

    /// Writes `body` in uneven pieces through `dw` (buffered when None),
    /// then a buffered tail, and returns what the file holds.
    fn write_and_read(
        path: &std::path::Path,
        mut f: File,
        dw: Option<&mut DirectWrite>,
        body: &[u8],
    ) -> Vec<u8> {
        let mut dw = dw;
        let mut rest = body;
        let mut n = 1;
        while !rest.is_empty() {
            let k = n.min(rest.len());
            match dw.as_deref_mut() {
                Some(dw) => dw.write(&mut f, &rest[..k]).unwrap(),
                None => f.write_all(&rest[..k]).unwrap(),
            }
            rest = &rest[k..];
            n = n * 3 % 700_001 + 1;
        }
        if let Some(dw) = dw {
            dw.finish(&mut f).unwrap();
        }
        // what follows the body goes in buffered, unaligned
        f.write_all(b"tail").unwrap();
        f.sync_all().unwrap();
        let mut got = Vec::new();
        File::open(path).unwrap().read_to_end(&mut got).unwrap();
        got
    }

    fn body(len: usize) -> Vec<u8> {
        (0..len).map(|i| (i % 249) as u8).collect()
    }

    /// Whether `dir`'s filesystem refuses an O_DIRECT write from a buffer
    /// that is not aligned (ext4 and XFS do; tmpfs does not check).
    fn refuses_misaligned(dir: &std::path::Path) -> bool {
        let p = dir.join("probe");
        let Ok(mut f) = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .custom_flags(OFlags::DIRECT.bits() as i32)
            .open(&p)
        else {
            return true;
        };
        let buf = vec![0u8; 3 * ALIGN];
        let at = buf.as_ptr().align_offset(ALIGN) + 1;
        let r = f.write(&buf[at..at + ALIGN]);
        let _ = std::fs::remove_file(&p);
        r.is_err()
    }

    #[test]
    fn bytes_arrive_in_order_whatever_the_pieces() {
        let d = tempfile::tempdir().unwrap();
        // Around the buffer and block sizes: whole buffers, a block more or
        // less, a byte more or less, a body smaller than one block.
        for len in [
            3 * BUF_SIZE + 12_345,
            2 * BUF_SIZE,
            2 * BUF_SIZE - 1,
            2 * BUF_SIZE + 1,
            BUF_SIZE + ALIGN,
            BUF_SIZE - ALIGN + 1,
            ALIGN - 1,
            ALIGN,
            1,
        ] {
            let path = d.path().join(format!("f{len}"));
            let f = File::create(&path).unwrap();
            let mut dw = DirectWrite::start(&f);
            let b = body(len);
            let got = write_and_read(&path, f, dw.as_mut(), &b);
            assert_eq!(got.len(), len + 4, "{len}");
            assert!(got[..len] == b[..], "{len}");
            assert_eq!(&got[len..], b"tail");
        }
    }

    #[test]
    fn a_write_the_kernel_refuses_goes_buffered() {
        // A window one byte off alignment: filesystems that check (ext4,
        // XFS) answer EINVAL to the first direct write, as one that cannot
        // take the device's alignment would.
        let d = tempfile::tempdir().unwrap();
        let path = d.path().join("f");
        let f = File::create(&path).unwrap();
        let Some(mut dw) = DirectWrite::start(&f) else {
            // The filesystem refuses O_DIRECT outright: nothing to shift.
            return;
        };
        dw.start += 1;
        let len = 2 * BUF_SIZE + 5_000;
        let b = body(len);
        let got = write_and_read(&path, f, Some(&mut dw), &b);
        assert_eq!(got.len(), len + 4);
        assert!(got[..len] == b[..]);
        assert_eq!(&got[len..], b"tail");
        if refuses_misaligned(d.path()) {
            assert!(!dw.on, "the refused write did not turn O_DIRECT off");
        }
    }

    #[test]
    fn a_file_that_cannot_go_direct_gets_none() {
        // Character devices have no direct I/O: fcntl refuses the flag
        // with EINVAL, as filesystems without it (ramfs) do.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .open("/dev/null")
            .unwrap();
        assert!(DirectWrite::start(&f).is_none());
        let flags = fcntl_getfl(&f).unwrap();
        assert!(!flags.contains(OFlags::DIRECT));
    }
}
