//! The gzip layer of ring files, byte-compatible with Python's `gzip.GzipFile`
//! as Swift drives it.
//!
//! Swift writes rings through `GzipFile(name, 'wb', mtime=1300507380)`:
//! header `1f 8b 08`, FNAME flag when the name is Latin-1, the fixed mtime,
//! XFL 2 (level 9), OS 255, the file's base name minus `.gz`, then one raw
//! deflate stream (zlib, level 9, memLevel 8, default strategy), CRC32 and
//! size. Newer Swift (ring/io.py) switches compressors mid-stream (level 0 for
//! the magic and the trailing offsets) and inserts `Z_FULL_FLUSH` points so
//! sections can be seeked to. [`PyGzWriter`] replays exactly those zlib calls,
//! so the output is the same bytes as long as the same zlib does the work
//! (flate2's zlib backend, the library Python links).

use std::io::Write;

use flate2::{Compress, Compression, Crc, Decompress, FlushCompress, FlushDecompress, Status};

use super::deflate9::Deflate9;
use crate::error::{Error, Result};

/// Swift's fixed gzip mtime, "so the same ring data creates the same bytes".
pub const SWIFT_GZIP_MTIME: u32 = 1_300_507_380;

/// Largest uncompressed ring we accept; far above any real ring (part power
/// 24 with 8 replicas of 4-byte ids is 512 MiB) and a guard against gzip bombs.
const MAX_UNCOMPRESSED: usize = 1 << 32;

const FTEXT: u8 = 1;
const FHCRC: u8 = 2;
const FEXTRA: u8 = 4;
const FNAME: u8 = 8;
const FCOMMENT: u8 = 16;

/// A gzip member Swift would have written, decompressed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GzMember {
    /// FNAME from the header (Latin-1 bytes), if present.
    pub name: Option<Vec<u8>>,
    pub mtime: u32,
    /// The raw deflate data starts with a stored block holding just the ring
    /// magic: the layout newer Swift (ring/io.py `write_magic`) produces.
    pub stored_magic: bool,
    pub data: Vec<u8>,
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidRing(msg.into())
}

/// Parse one gzip member: header, deflate stream, CRC32 and length trailer.
/// Bytes after the member are ignored, as Swift's reader ignores them.
pub fn gunzip(input: &[u8]) -> Result<GzMember> {
    if input.len() < 10 {
        return Err(invalid("not a gzip file (too short)"));
    }
    if input[0] != 0x1f || input[1] != 0x8b {
        return Err(invalid("not a gzip file (bad magic)"));
    }
    if input[2] != 8 {
        return Err(invalid("gzip compression method is not deflate"));
    }
    let flags = input[3];
    if flags & !(FTEXT | FHCRC | FEXTRA | FNAME | FCOMMENT) != 0 {
        return Err(invalid("gzip header has reserved flags set"));
    }
    let mtime = u32::from_le_bytes([input[4], input[5], input[6], input[7]]);
    let truncated = || invalid("gzip header is truncated");
    let mut pos = 10;
    if flags & FEXTRA != 0 {
        let len = input.get(pos..pos + 2).ok_or_else(truncated)?;
        pos += 2 + usize::from(u16::from_le_bytes([len[0], len[1]]));
    }
    let mut name = None;
    if flags & FNAME != 0 {
        let rest = input.get(pos..).ok_or_else(truncated)?;
        let end = rest.iter().position(|&b| b == 0).ok_or_else(truncated)?;
        name = Some(rest[..end].to_vec());
        pos += end + 1;
    }
    if flags & FCOMMENT != 0 {
        let rest = input.get(pos..).ok_or_else(truncated)?;
        let end = rest.iter().position(|&b| b == 0).ok_or_else(truncated)?;
        pos += end + 1;
    }
    if flags & FHCRC != 0 {
        pos += 2;
    }
    let body = input.get(pos..).ok_or_else(truncated)?;
    let stored_magic =
        body.len() >= 11 && body[..5] == [0x00, 0x06, 0x00, 0xf9, 0xff] && &body[5..9] == b"R1NG";

    let mut d = Decompress::new(false);
    let mut data: Vec<u8> = Vec::with_capacity(body.len().saturating_mul(4).min(1 << 26));
    loop {
        if data.len() == data.capacity() {
            if data.len() >= MAX_UNCOMPRESSED {
                return Err(invalid("ring data is implausibly large"));
            }
            data.reserve(data.len().max(1 << 16));
        }
        let consumed = d.total_in() as usize;
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status = d
            .decompress_vec(&body[consumed..], &mut data, FlushDecompress::None)
            .map_err(|e| invalid(format!("corrupt deflate data: {e}")))?;
        if status == Status::StreamEnd {
            break;
        }
        let progressed = d.total_in() != in_before || d.total_out() != out_before;
        if !progressed && data.len() < data.capacity() {
            return Err(invalid("gzip data is truncated"));
        }
    }
    let end = d.total_in() as usize;
    let trailer = body
        .get(end..end + 8)
        .ok_or_else(|| invalid("gzip trailer is truncated"))?;
    let crc = u32::from_le_bytes([trailer[0], trailer[1], trailer[2], trailer[3]]);
    let size = u32::from_le_bytes([trailer[4], trailer[5], trailer[6], trailer[7]]);
    let mut check = Crc::new();
    check.update(&data);
    if check.sum() != crc {
        return Err(invalid("gzip CRC mismatch"));
    }
    if size != data.len() as u32 {
        return Err(invalid("gzip length mismatch"));
    }
    Ok(GzMember {
        name,
        mtime,
        stored_magic,
        data,
    })
}

/// The compressor behind a [`PyGzWriter`]: zlib itself, or for level 9
/// without flushes our faster deflate that writes zlib's exact bytes.
enum Engine {
    Zlib(Compress),
    Level9(Box<Deflate9>),
}

/// Replays what Python's `GzipFile` (and Swift's `_RingGzWriter` on top of it)
/// does to zlib, writing the same bytes.
pub struct PyGzWriter<W: Write> {
    out: W,
    compress: Engine,
    /// Level 9 runs on [`Deflate9`] (the writer must then never flush while
    /// at level 9).
    fast9: bool,
    crc: Crc,
    /// Compressed bytes written so far, header included (`raw_fp.tell()`).
    written: u64,
    /// Uncompressed bytes written so far (`GzipFile.tell()`).
    offset: u64,
    /// Nothing written since the last full flush.
    flushed: bool,
    buf: Vec<u8>,
}

impl<W: Write> PyGzWriter<W> {
    /// Write the gzip header for `name` (FNAME; `None` leaves it out) and
    /// start a level-9 compressor, as `GzipFile(name, 'wb', mtime=...)` does.
    pub fn new(out: W, name: Option<&[u8]>, mtime: u32) -> Result<Self> {
        Self::with_engine(out, name, mtime, false)
    }

    /// [`PyGzWriter::new`] whose level-9 stretches run on [`Deflate9`]
    /// (same bytes, several times faster) for a writer that never flushes at
    /// level 9 ([`flush`](Self::flush) there is an error).
    pub fn new_fast(out: W, name: Option<&[u8]>, mtime: u32) -> Result<Self> {
        Self::with_engine(out, name, mtime, true)
    }

    fn with_engine(mut out: W, name: Option<&[u8]>, mtime: u32, fast9: bool) -> Result<Self> {
        let name = name.filter(|n| !n.is_empty());
        let mut header = vec![0x1f, 0x8b, 8, if name.is_some() { FNAME } else { 0 }];
        header.extend_from_slice(&mtime.to_le_bytes());
        header.push(2); // XFL: maximum compression (level 9)
        header.push(255); // OS: unknown, as Python writes it
        if let Some(n) = name {
            header.extend_from_slice(n);
            header.push(0);
        }
        out.write_all(&header)?;
        Ok(PyGzWriter {
            out,
            compress: Self::compressor(9, fast9),
            fast9,
            crc: Crc::new(),
            written: header.len() as u64,
            offset: 0,
            flushed: true,
            buf: Vec::with_capacity(1 << 16),
        })
    }

    /// `zlib.compressobj(level, DEFLATED, -MAX_WBITS, DEF_MEM_LEVEL, 0)`.
    fn compressor(level: u32, fast9: bool) -> Engine {
        if level == 9 && fast9 {
            Engine::Level9(Box::default())
        } else {
            Engine::Zlib(Compress::new(Compression::new(level), false))
        }
    }

    /// Run the compressor over `input` with `flush`, writing all output.
    fn run(&mut self, mut input: &[u8], flush: FlushCompress) -> Result<()> {
        let compress = match &mut self.compress {
            Engine::Zlib(c) => c,
            Engine::Level9(d) => {
                let bytes = match flush {
                    FlushCompress::None => {
                        d.write(input);
                        d.take_output()
                    }
                    FlushCompress::Finish => std::mem::take(d).finish(),
                    _ => {
                        return Err(Error::Builder(
                            "internal: a flush inside a fast level-9 gzip stream".into(),
                        ))
                    }
                };
                self.out.write_all(&bytes)?;
                self.written += bytes.len() as u64;
                return Ok(());
            }
        };
        loop {
            self.buf.clear();
            let before = compress.total_in();
            let status = compress
                .compress_vec(input, &mut self.buf, flush)
                .map_err(|e| Error::Io(std::io::Error::other(e)))?;
            let used = (compress.total_in() - before) as usize;
            input = &input[used..];
            self.out.write_all(&self.buf)?;
            self.written += self.buf.len() as u64;
            let room_left = self.buf.len() < self.buf.capacity();
            let done = match flush {
                FlushCompress::Finish => status == Status::StreamEnd,
                _ => input.is_empty() && room_left,
            };
            if done {
                return Ok(());
            }
        }
    }

    /// `GzipFile.write`: compress without flushing.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        if data.is_empty() {
            return Ok(());
        }
        self.flushed = false;
        self.crc.update(data);
        self.offset += data.len() as u64;
        self.run(data, FlushCompress::None)
    }

    /// `_RingGzWriter.flush`: a `Z_FULL_FLUSH`, only if something was written.
    pub fn flush(&mut self) -> Result<()> {
        if !self.flushed {
            self.run(&[], FlushCompress::Full)?;
            self.flushed = true;
        }
        Ok(())
    }

    /// `_set_compression_level`: flush, then continue with a fresh compressor.
    pub fn set_level(&mut self, level: u32) -> Result<()> {
        self.flush()?;
        self.compress = Self::compressor(level, self.fast9);
        Ok(())
    }

    /// `compressed_tell()`: flush, then the position in the file.
    pub fn compressed_tell(&mut self) -> Result<u64> {
        self.flush()?;
        Ok(self.written)
    }

    /// `tell()`: flush, then the position in the uncompressed stream.
    pub fn tell(&mut self) -> Result<u64> {
        self.flush()?;
        Ok(self.offset)
    }

    /// `GzipFile.close`: finish the deflate stream, write CRC32 and length.
    pub fn finish(mut self) -> Result<W> {
        self.run(&[], FlushCompress::Finish)?;
        let mut trailer = self.crc.sum().to_le_bytes().to_vec();
        trailer.extend_from_slice(&(self.offset as u32).to_le_bytes());
        self.out.write_all(&trailer)?;
        self.out.flush()?;
        Ok(self.out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_header() {
        let mut w = PyGzWriter::new(Vec::new(), Some(b"object.ring"), SWIFT_GZIP_MTIME).unwrap();
        w.write(b"hello ").unwrap();
        w.flush().unwrap();
        w.write(b"world").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(&bytes[..4], &[0x1f, 0x8b, 8, FNAME]);
        assert_eq!(&bytes[4..8], &SWIFT_GZIP_MTIME.to_le_bytes());
        assert_eq!(&bytes[8..22], b"\x02\xffobject.ring\0");
        let m = gunzip(&bytes).unwrap();
        assert_eq!(m.data, b"hello world");
        assert_eq!(m.name.as_deref(), Some(&b"object.ring"[..]));
        assert_eq!(m.mtime, SWIFT_GZIP_MTIME);
        assert!(!m.stored_magic);
    }

    #[test]
    fn stored_magic_is_detected() {
        let mut w = PyGzWriter::new(Vec::new(), None, 0).unwrap();
        w.set_level(0).unwrap();
        w.write(b"R1NG\x00\x02").unwrap();
        w.set_level(9).unwrap();
        w.write(b"rest").unwrap();
        let bytes = w.finish().unwrap();
        assert_eq!(bytes[3], 0, "no FNAME");
        let m = gunzip(&bytes).unwrap();
        assert!(m.stored_magic);
        assert_eq!(m.data, b"R1NG\x00\x02rest");
    }

    #[test]
    fn bad_gzip_is_an_error_not_a_panic() {
        let w = PyGzWriter::new(Vec::new(), Some(b"x"), 0).unwrap();
        let mut good = w.finish().unwrap();
        assert!(gunzip(&good).is_ok());
        for cut in 0..good.len() {
            assert!(
                matches!(gunzip(&good[..cut]), Err(Error::InvalidRing(_))),
                "cut {cut}"
            );
        }
        let n = good.len();
        good[n - 8] ^= 1; // CRC
        assert!(gunzip(&good).is_err());
        assert!(gunzip(b"PK\x03\x04 not gzip at all").is_err());
        assert!(gunzip(&[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff]).is_err());
    }
}
