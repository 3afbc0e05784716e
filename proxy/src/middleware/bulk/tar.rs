//! A push-style tar reader for extract-archive: bytes go in as they arrive
//! from the client (through gzip or bzip2 when asked), entries and their
//! data come out, so an archive of any size streams with bounded memory.
//! Reads ustar, GNU (long names, base-256 sizes) and pax (path, size and
//! extended attributes, per entry and global) headers, as Python's tarfile
//! does for Swift: a bad first header is an error, a bad later one or a
//! zero block ends the archive, data cut short is an error.

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;

use bytes::{Buf, Bytes};

const BLOCK: usize = 512;
/// Largest pax or GNU long-name record kept in memory.
const MAX_META: u64 = 1 << 20;
/// Most bytes of pax records kept at once (global ones plus the next
/// member's). Object metadata is at most 4 KiB and a path at most 1 KiB;
/// without a cap, a stream of pax headers would grow them without end, and
/// each member's entry carries a copy.
const MAX_PAX: usize = 64 * 1024;

/// Why an archive cannot be read (the text follows "Invalid Tar File: ").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct TarError(pub String);

fn err(m: &str) -> TarError {
    TarError(m.to_string())
}

/// One archive member's header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// The member's path, as stored (bytes; not necessarily UTF-8).
    pub name: Vec<u8>,
    pub size: u64,
    /// A regular file (the only kind extract-archive uploads).
    pub is_file: bool,
    /// Pax records (global then per-entry), e.g. `SCHILY.xattr.user.meta.x`.
    pub pax: BTreeMap<String, String>,
}

/// What the reader found in the bytes fed so far.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Entry(Entry),
    /// A piece of the current entry's data.
    Data(Bytes),
    /// The current entry's data is complete.
    EntryEnd,
    /// The end of the archive (nothing after it is read).
    End,
}

#[derive(Debug)]
enum Meta {
    Pax,
    GlobalPax,
    LongName,
    Ignored,
}

#[derive(Debug)]
enum State {
    Header,
    Meta {
        kind: Meta,
        left: u64,
        pad: u64,
    },
    Data {
        left: u64,
        pad: u64,
    },
    /// Data of an entry nobody wants (directories, links, ...).
    Skip {
        left: u64,
    },
    Done,
}

/// The reader.
pub struct TarReader {
    state: State,
    block: Vec<u8>,
    meta: Vec<u8>,
    pax: BTreeMap<String, String>,
    global: BTreeMap<String, String>,
    long_name: Option<Vec<u8>>,
    /// Headers read so far (the first one is judged more strictly).
    headers: u64,
}

impl Default for TarReader {
    fn default() -> Self {
        Self::new()
    }
}

fn padding(size: u64) -> u64 {
    (BLOCK as u64 - size % BLOCK as u64) % BLOCK as u64
}

/// A NUL-terminated field.
fn nts(b: &[u8]) -> &[u8] {
    match b.iter().position(|c| *c == 0) {
        Some(i) => &b[..i],
        None => b,
    }
}

/// A numeric field: octal (spaces and NULs around), or GNU base-256.
fn number(b: &[u8]) -> Option<u64> {
    if b.first().is_some_and(|c| c & 0x80 != 0) {
        let mut n: u64 = 0;
        for (i, c) in b.iter().enumerate() {
            let c = if i == 0 { c & 0x7f } else { *c };
            n = n.checked_mul(256)?.checked_add(u64::from(c))?;
        }
        return Some(n);
    }
    let t = String::from_utf8_lossy(nts(b)).trim().to_string();
    if t.is_empty() {
        return Some(0);
    }
    u64::from_str_radix(&t, 8).ok()
}

fn checksum_ok(h: &[u8]) -> bool {
    let Some(want) = number(&h[148..156]) else {
        return false;
    };
    let unsigned: u64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(*b)
            }
        })
        .sum();
    let signed: i64 = h
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                i64::from(*b as i8)
            }
        })
        .sum();
    want == unsigned || i64::try_from(want).is_ok_and(|w| w == signed)
}

fn pax_size(m: &BTreeMap<String, String>) -> usize {
    m.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Pax records: `"<len> <key>=<value>\n"` each.
fn parse_pax(mut b: &[u8], into: &mut BTreeMap<String, String>) -> Result<(), TarError> {
    while !b.is_empty() && b[0] != 0 {
        let sp = b
            .iter()
            .position(|c| *c == b' ')
            .ok_or_else(|| err("invalid header"))?;
        let len: usize = std::str::from_utf8(&b[..sp])
            .ok()
            .and_then(|s| s.parse().ok())
            .filter(|l| *l > sp + 1 && *l <= b.len())
            .ok_or_else(|| err("invalid header"))?;
        let rec = &b[sp + 1..len];
        let rec = rec.strip_suffix(b"\n").unwrap_or(rec);
        let eq = rec
            .iter()
            .position(|c| *c == b'=')
            .ok_or_else(|| err("invalid header"))?;
        let key = String::from_utf8_lossy(&rec[..eq]).into_owned();
        let value = String::from_utf8_lossy(&rec[eq + 1..]).into_owned();
        into.insert(key, value);
        b = &b[len..];
    }
    Ok(())
}

impl TarReader {
    pub fn new() -> Self {
        TarReader {
            state: State::Header,
            block: Vec::with_capacity(BLOCK),
            meta: Vec::new(),
            pax: BTreeMap::new(),
            global: BTreeMap::new(),
            long_name: None,
            headers: 0,
        }
    }

    /// Reads `input`, appending what it completes to `out`.
    pub fn feed(&mut self, input: Bytes, out: &mut Vec<Event>) -> Result<(), TarError> {
        let mut pos = 0;
        while pos < input.len() {
            match &mut self.state {
                State::Done => return Ok(()),
                State::Header => {
                    let take = (BLOCK - self.block.len()).min(input.len() - pos);
                    self.block.extend_from_slice(&input[pos..pos + take]);
                    pos += take;
                    if self.block.len() == BLOCK {
                        let h = std::mem::take(&mut self.block);
                        self.header(&h, out)?;
                    }
                }
                State::Meta { left, pad, .. } | State::Data { left, pad } if *left == 0 => {
                    let take = (*pad).min((input.len() - pos) as u64);
                    *pad -= take;
                    pos += take as usize;
                    if *pad == 0 {
                        self.finish_entry(out)?;
                    }
                }
                State::Meta { left, .. } => {
                    let take = (*left).min((input.len() - pos) as u64);
                    *left -= take;
                    self.meta
                        .extend_from_slice(&input[pos..pos + take as usize]);
                    pos += take as usize;
                    self.maybe_finish(out)?;
                }
                State::Data { left, .. } => {
                    let take = (*left).min((input.len() - pos) as u64);
                    *left -= take;
                    out.push(Event::Data(input.slice(pos..pos + take as usize)));
                    pos += take as usize;
                    self.maybe_finish(out)?;
                }
                State::Skip { left } => {
                    let take = (*left).min((input.len() - pos) as u64);
                    *left -= take;
                    pos += take as usize;
                    if *left == 0 {
                        self.state = State::Header;
                    }
                }
            }
        }
        Ok(())
    }

    /// An entry whose data and padding are all there.
    fn maybe_finish(&mut self, out: &mut Vec<Event>) -> Result<(), TarError> {
        if let State::Meta {
            left: 0, pad: 0, ..
        }
        | State::Data { left: 0, pad: 0 } = self.state
        {
            self.finish_entry(out)?;
        }
        Ok(())
    }

    fn finish_entry(&mut self, out: &mut Vec<Event>) -> Result<(), TarError> {
        match std::mem::replace(&mut self.state, State::Header) {
            State::Data { .. } => out.push(Event::EntryEnd),
            State::Meta { kind, .. } => {
                let m = std::mem::take(&mut self.meta);
                match kind {
                    Meta::Pax => parse_pax(&m, &mut self.pax)?,
                    Meta::GlobalPax => parse_pax(&m, &mut self.global)?,
                    Meta::LongName => self.long_name = Some(nts(&m).to_vec()),
                    Meta::Ignored => {}
                }
                if pax_size(&self.pax) + pax_size(&self.global) > MAX_PAX {
                    return Err(err("pax headers too large"));
                }
            }
            State::Header | State::Skip { .. } | State::Done => {}
        }
        Ok(())
    }

    fn header(&mut self, h: &[u8], out: &mut Vec<Event>) -> Result<(), TarError> {
        let first = self.headers == 0;
        self.headers += 1;
        if h.iter().all(|b| *b == 0) {
            self.state = State::Done;
            out.push(Event::End);
            return Ok(());
        }
        let size = number(&h[124..136]);
        let (Some(mut size), true) = (size, checksum_ok(h)) else {
            if first {
                return Err(err("invalid header"));
            }
            self.state = State::Done;
            out.push(Event::End);
            return Ok(());
        };
        let kind = h[156];
        let data_state = |size: u64| State::Data {
            left: size,
            pad: padding(size),
        };
        let meta = |kind: Meta, size: u64| -> Result<State, TarError> {
            if size > MAX_META {
                return Err(err("invalid header"));
            }
            Ok(State::Meta {
                kind,
                left: size,
                pad: padding(size),
            })
        };
        self.state = match kind {
            b'x' => meta(Meta::Pax, size)?,
            b'g' => meta(Meta::GlobalPax, size)?,
            b'L' => meta(Meta::LongName, size)?,
            b'K' => meta(Meta::Ignored, size)?,
            _ => {
                let mut pax = self.global.clone();
                pax.extend(std::mem::take(&mut self.pax));
                let mut name = nts(&h[0..100]).to_vec();
                let prefix = nts(&h[345..500]);
                let ustar = &h[257..263] == b"ustar\0";
                if let Some(long) = self.long_name.take() {
                    name = long;
                } else if ustar && !prefix.is_empty() && !matches!(kind, b'L' | b'K' | b'S') {
                    let mut p = prefix.to_vec();
                    p.push(b'/');
                    p.extend_from_slice(&name);
                    name = p;
                }
                if let Some(p) = pax.get("path") {
                    name = p.as_bytes().to_vec();
                }
                if let Some(s) = pax.get("size").and_then(|s| s.parse().ok()) {
                    size = s;
                }
                // Old tars mark directories with a trailing slash only.
                let is_file = matches!(kind, b'0' | 0 | b'7') && !name.ends_with(b"/");
                if is_file {
                    out.push(Event::Entry(Entry {
                        name,
                        size,
                        is_file,
                        pax,
                    }));
                    if size == 0 {
                        out.push(Event::EntryEnd);
                        State::Header
                    } else {
                        data_state(size)
                    }
                } else {
                    // Links carry no data; anything else is skipped whole.
                    let left = if matches!(kind, b'1' | b'2') {
                        0
                    } else {
                        size.saturating_add(padding(size))
                    };
                    if left == 0 {
                        State::Header
                    } else {
                        State::Skip { left }
                    }
                }
            }
        };
        Ok(())
    }

    /// The input ended: fine at an entry boundary (or after the end), an
    /// error in the middle of one.
    pub fn finish(&self) -> Result<(), TarError> {
        match &self.state {
            State::Done => Ok(()),
            State::Header if self.block.is_empty() => {
                if self.headers == 0 {
                    Err(err("empty file"))
                } else {
                    Ok(())
                }
            }
            State::Header if self.headers == 0 => Err(err("truncated header")),
            State::Header => Ok(()),
            State::Meta { .. } | State::Data { .. } | State::Skip { .. } => {
                Err(err("unexpected end of data"))
            }
        }
    }
}

/// Most bytes one [`Decoder::output`] returns. However well an archive
/// compresses (bzip2 turns 50 bytes into 45 MB), no more than about this
/// much decompressed data is held at once.
pub const MAX_OUTPUT: usize = 64 * 1024;

/// Compressed bytes the gzip decoder takes per step: deflate expands a byte
/// to at most 1,032, so one step adds at most about MAX_OUTPUT.
const GZIP_STEP: usize = 64;

/// The compression of an archive: compressed input goes in as it arrives,
/// decompressed output comes out in pieces of at most [`MAX_OUTPUT`].
pub struct Decoder {
    codec: Codec,
    /// Input not decompressed yet.
    pending: VecDeque<Bytes>,
    /// Output not handed out yet.
    ready: Bytes,
    /// No more input will come.
    ended: bool,
}

enum Codec {
    Plain,
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
    /// bzip2's own stream interface: it fills an output buffer of the size
    /// given, where the writer interface would decode a whole block at once.
    Bzip2 {
        d: Box<bzip2::Decompress>,
        done: bool,
    },
}

fn decompress_error(e: impl std::fmt::Display) -> TarError {
    TarError(format!("Error while decompressing data: {e}"))
}

impl Decoder {
    /// For `?extract-archive=<format>` (`tar`, `tar.gz`, `tar.bz2`, any
    /// case, dots around ignored), None for anything else.
    pub fn for_format(format: &str) -> Option<Decoder> {
        let codec = match format.to_ascii_lowercase().trim_matches('.') {
            "tar" => Codec::Plain,
            "tar.gz" => Codec::Gzip(Box::new(flate2::write::GzDecoder::new(Vec::new()))),
            "tar.bz2" => Codec::Bzip2 {
                d: Box::new(bzip2::Decompress::new(false)),
                done: false,
            },
            _ => return None,
        };
        Some(Decoder {
            codec,
            pending: VecDeque::new(),
            ready: Bytes::new(),
            ended: false,
        })
    }

    /// Takes the next compressed bytes.
    pub fn input(&mut self, data: Bytes) {
        if !data.is_empty() && !self.ended {
            self.pending.push_back(data);
        }
    }

    /// The input ended: what the decompressor still holds comes out of
    /// [`Decoder::output`], which then fails if the stream was cut short.
    pub fn finish(&mut self) {
        self.ended = true;
    }

    /// The next piece of output (at most [`MAX_OUTPUT`] bytes); None when
    /// more input is needed, or, after [`Decoder::finish`], at the end.
    pub fn output(&mut self) -> Result<Option<Bytes>, TarError> {
        loop {
            if !self.ready.is_empty() {
                let n = self.ready.len().min(MAX_OUTPUT);
                return Ok(Some(self.ready.split_to(n)));
            }
            if !self.step()? {
                return Ok(None);
            }
        }
    }

    /// Decompresses a little more into `ready`; false when nothing more
    /// can come out until more input arrives (or ever, once ended).
    fn step(&mut self) -> Result<bool, TarError> {
        match &mut self.codec {
            Codec::Plain => {
                self.ready = self.pending.pop_front().unwrap_or_default();
                Ok(!self.ready.is_empty())
            }
            Codec::Gzip(d) => {
                let Some(front) = self.pending.front_mut() else {
                    if !self.ended {
                        return Ok(false);
                    }
                    d.try_finish().map_err(decompress_error)?;
                    self.ready = Bytes::from(std::mem::take(d.get_mut()));
                    return Ok(!self.ready.is_empty());
                };
                let take = front.len().min(GZIP_STEP);
                let used = d.write(&front[..take]).map_err(decompress_error)?;
                if used == 0 {
                    // Data after the gzip member: ignored.
                    self.pending.clear();
                } else {
                    front.advance(used);
                    if front.is_empty() {
                        self.pending.pop_front();
                    }
                }
                self.ready = Bytes::from(std::mem::take(d.get_mut()));
                Ok(true)
            }
            Codec::Bzip2 { d, done } => {
                if *done {
                    self.pending.clear();
                    return Ok(false);
                }
                let input = self.pending.front().cloned().unwrap_or_default();
                if input.is_empty() && !self.ended {
                    return Ok(false);
                }
                let mut out = Vec::with_capacity(MAX_OUTPUT);
                let before = d.total_in();
                let status = d
                    .decompress_vec(&input, &mut out)
                    .map_err(decompress_error)?;
                let used = (d.total_in() - before) as usize;
                if let Some(front) = self.pending.front_mut() {
                    front.advance(used);
                    if front.is_empty() {
                        self.pending.pop_front();
                    }
                }
                if status == bzip2::Status::StreamEnd {
                    *done = true;
                }
                if used == 0 && out.is_empty() && !*done {
                    if self.ended && self.pending.is_empty() {
                        return Err(decompress_error(
                            "Input EOF reached before logical stream end",
                        ));
                    }
                    return Ok(false);
                }
                self.ready = Bytes::from(out);
                Ok(true)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ustar header for `name` of `size` bytes and type `kind`.
    fn header(name: &[u8], size: u64, kind: u8) -> Vec<u8> {
        let mut h = vec![0u8; BLOCK];
        h[..name.len()].copy_from_slice(name);
        h[100..107].copy_from_slice(b"0000644");
        h[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
        h[136..147].copy_from_slice(b"00000000000");
        h[156] = kind;
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }

    fn member(out: &mut Vec<u8>, name: &[u8], data: &[u8], kind: u8) {
        out.extend(header(name, data.len() as u64, kind));
        out.extend_from_slice(data);
        out.extend(std::iter::repeat_n(0, padding(data.len() as u64) as usize));
    }

    fn archive() -> Vec<u8> {
        let mut a = Vec::new();
        member(&mut a, b"c/dir/", b"", b'5');
        member(&mut a, b"c/a.txt", b"hello", b'0');
        let pax = b"30 SCHILY.xattr.user.meta.k=v\n";
        member(&mut a, b"PaxHeader", pax, b'x');
        member(&mut a, b"c/b.bin", &[7u8; 1000], b'0');
        let long = vec![b'n'; 150];
        member(&mut a, b"././@LongLink", &long, b'L');
        member(&mut a, b"short", b"", b'0');
        member(&mut a, b"c/link", b"", b'2');
        a.extend(vec![0u8; 1024]);
        a
    }

    /// A member read back: name, data, number of pax records.
    type Member = (Vec<u8>, Vec<u8>, usize);

    /// Members read with the input cut into `step`-byte pieces.
    fn read(a: &[u8], step: usize) -> Result<Vec<Member>, TarError> {
        let mut r = TarReader::new();
        let mut ev = Vec::new();
        for piece in a.chunks(step) {
            r.feed(Bytes::copy_from_slice(piece), &mut ev)?;
        }
        r.finish()?;
        let mut out: Vec<Member> = Vec::new();
        for e in ev {
            match e {
                Event::Entry(en) => out.push((en.name, Vec::new(), en.pax.len())),
                Event::Data(d) => out.last_mut().unwrap().1.extend_from_slice(&d),
                Event::EntryEnd | Event::End => {}
            }
        }
        Ok(out)
    }

    #[test]
    fn reads_files_in_any_slicing() {
        let a = archive();
        for step in [1, 7, 512, 100_000] {
            let e = read(&a, step).unwrap();
            assert_eq!(e.len(), 3, "step {step}");
            assert_eq!(e[0], (b"c/a.txt".to_vec(), b"hello".to_vec(), 0));
            assert_eq!(e[1], (b"c/b.bin".to_vec(), vec![7u8; 1000], 1));
            assert_eq!(e[2], (vec![b'n'; 150], Vec::new(), 0));
        }
    }

    #[test]
    fn bad_archives() {
        assert_eq!(read(b"", 10).unwrap_err(), err("empty file"));
        assert_eq!(read(&[1u8; 100], 10).unwrap_err(), err("truncated header"));
        assert_eq!(read(&[1u8; 512], 10).unwrap_err(), err("invalid header"));
        let mut a = Vec::new();
        member(&mut a, b"c/x", b"abcdef", b'0');
        assert_eq!(
            read(&a[..515], 10).unwrap_err(),
            err("unexpected end of data")
        );
        // Garbage after a good member ends the archive.
        a.extend(vec![9u8; 512]);
        assert_eq!(read(&a, 100).unwrap().len(), 1);
        assert_eq!(number(b"0000644\0"), Some(0o644));
        assert_eq!(number(&[0x80, 0, 0, 1, 0]), Some(256));
        assert_eq!(number(b"   \0"), Some(0));
        assert_eq!(number(b"9"), None);
    }

    /// Everything a decoder gives for `data` fed in `step`-byte pieces,
    /// checking that no piece is over MAX_OUTPUT.
    fn decode(fmt: &str, data: &[u8], step: usize) -> Result<Vec<u8>, TarError> {
        let mut d = Decoder::for_format(fmt).unwrap();
        let mut out = Vec::new();
        let mut take = |d: &mut Decoder| -> Result<(), TarError> {
            while let Some(b) = d.output()? {
                assert!(!b.is_empty() && b.len() <= MAX_OUTPUT, "{} bytes", b.len());
                out.extend_from_slice(&b);
            }
            Ok(())
        };
        for piece in data.chunks(step) {
            d.input(Bytes::copy_from_slice(piece));
            take(&mut d)?;
        }
        d.finish();
        take(&mut d)?;
        Ok(out)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(data).unwrap();
        gz.finish().unwrap()
    }

    fn bzip2(data: &[u8]) -> Vec<u8> {
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::best());
        bz.write_all(data).unwrap();
        bz.finish().unwrap()
    }

    #[test]
    fn decoders() {
        let a = archive();
        let (gz, bz) = (gzip(&a), bzip2(&a));
        for (fmt, data) in [
            ("tar", a.clone()),
            (".TAR.GZ", gz.clone()),
            ("tar.bz2", bz.clone()),
        ] {
            for step in [1, 333, 100_000] {
                assert_eq!(decode(fmt, &data, step).unwrap(), a, "{fmt} {step}");
            }
        }
        assert!(Decoder::for_format("zip").is_none());
        assert!(decode("tar.gz", b"not gzip at all", 5).is_err());
        assert!(decode("tar.bz2", b"not bzip2 at all", 5).is_err());
        // Cut short: an error once the input ends.
        assert!(decode("tar.gz", &gz[..gz.len() / 2], 100).is_err());
        assert_eq!(
            decode("tar.bz2", &bz[..bz.len() / 2], 100).unwrap_err(),
            TarError(
                "Error while decompressing data: Input EOF reached before logical stream end"
                    .into()
            )
        );
        // Data after the compressed stream is ignored.
        let mut more = gz.clone();
        more.extend_from_slice(b"trailing");
        assert_eq!(decode("tar.gz", &more, 7).unwrap(), a);
    }

    /// A bzip2 bomb (hundreds of megabytes from a few hundred bytes) comes
    /// out in bounded pieces: the writer interface used to decode a whole
    /// input slice at once, gigabytes for 16 KiB of such input.
    #[test]
    fn compressed_bombs_come_out_in_bounded_pieces() {
        let zeros = vec![0u8; 256 << 20];
        let bz = bzip2(&zeros);
        assert!(bz.len() < 1024, "{} bytes", bz.len());
        let gz = gzip(&zeros[..64 << 20]);
        for (fmt, data, len) in [("tar.bz2", bz, 256 << 20), ("tar.gz", gz, 64 << 20)] {
            let mut d = Decoder::for_format(fmt).unwrap();
            d.input(Bytes::from(data));
            d.finish();
            let mut total = 0;
            while let Some(b) = d.output().unwrap() {
                assert!(b.len() <= MAX_OUTPUT);
                total += b.len();
            }
            assert_eq!(total, len, "{fmt}");
        }
    }

    /// Pax records kept across members are capped: a stream of global
    /// headers, each with new keys, used to grow them without end.
    #[test]
    fn pax_records_are_capped() {
        let mut a = Vec::new();
        for i in 0..40 {
            let value = "v".repeat(2000);
            let body = format!("k{i:02}={value}\n");
            let rec = format!("{} {body}", body.len() + 5);
            assert_eq!(rec.len(), body.len() + 5);
            member(&mut a, b"GlobalHead", rec.as_bytes(), b'g');
        }
        member(&mut a, b"c/f", b"x", b'0');
        assert_eq!(read(&a, 512).unwrap_err(), err("pax headers too large"));
    }

    /// A skipped member whose size is near u64::MAX (base-256) used to
    /// overflow adding its padding; it now runs to the end of the input.
    #[test]
    fn huge_skipped_member_is_cut_short() {
        let mut h = header(b"c/dir", 0, b'5');
        // Base-256: a marker byte, then u64::MAX.
        h[124..128].copy_from_slice(&[0x80, 0, 0, 0]);
        h[128..136].copy_from_slice(&[0xff; 8]);
        h[148..156].copy_from_slice(b"        ");
        let sum: u64 = h.iter().map(|b| u64::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        let mut a = h;
        a.extend(vec![0u8; 2048]);
        assert_eq!(read(&a, 100).unwrap_err(), err("unexpected end of data"));
    }
}
