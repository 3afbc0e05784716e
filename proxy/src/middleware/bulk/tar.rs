//! A push-style tar reader for extract-archive: bytes go in as they arrive
//! from the client (through gzip or bzip2 when asked), entries and their
//! data come out, so an archive of any size streams with bounded memory.
//! Reads ustar, GNU (long names, base-256 sizes) and pax (path, size and
//! extended attributes, per entry and global) headers, as Python's tarfile
//! does for Swift: a bad first header is an error, a bad later one or a
//! zero block ends the archive, data cut short is an error.

use std::collections::BTreeMap;
use std::io::Write;

use bytes::Bytes;

const BLOCK: usize = 512;
/// Largest pax or GNU long-name record kept in memory.
const MAX_META: u64 = 1 << 20;

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
                        size + padding(size)
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

/// The compression of an archive.
pub enum Decoder {
    Plain,
    Gzip(Box<flate2::write::GzDecoder<Vec<u8>>>),
    Bzip2(Box<bzip2::write::BzDecoder<Vec<u8>>>),
}

/// Compressed input is fed this much at a time, so one call's output stays
/// bounded even for data that expands enormously.
const SLICE: usize = 4096;

impl Decoder {
    /// For `?extract-archive=<format>` (`tar`, `tar.gz`, `tar.bz2`, any
    /// case, dots around ignored), None for anything else.
    pub fn for_format(format: &str) -> Option<Decoder> {
        match format.to_ascii_lowercase().trim_matches('.') {
            "tar" => Some(Decoder::Plain),
            "tar.gz" => Some(Decoder::Gzip(Box::new(flate2::write::GzDecoder::new(
                Vec::new(),
            )))),
            "tar.bz2" => Some(Decoder::Bzip2(Box::new(bzip2::write::BzDecoder::new(
                Vec::new(),
            )))),
            _ => None,
        }
    }

    /// Decompresses `input`, handing each piece of output to `sink`.
    pub fn push(
        &mut self,
        input: Bytes,
        sink: &mut dyn FnMut(Bytes) -> Result<(), TarError>,
    ) -> Result<(), TarError> {
        let zerr = |e: std::io::Error| TarError(format!("Error while decompressing data: {e}"));
        match self {
            Decoder::Plain => sink(input),
            Decoder::Gzip(d) => {
                for piece in input.chunks(SLICE) {
                    let mut rest = piece;
                    while !rest.is_empty() {
                        let n = d.write(rest).map_err(zerr)?;
                        if n == 0 {
                            break; // data after the gzip member: ignored
                        }
                        rest = &rest[n..];
                    }
                    let out = std::mem::take(d.get_mut());
                    if !out.is_empty() {
                        sink(Bytes::from(out))?;
                    }
                }
                Ok(())
            }
            Decoder::Bzip2(d) => {
                for piece in input.chunks(SLICE) {
                    let mut rest = piece;
                    while !rest.is_empty() {
                        let n = d.write(rest).map_err(zerr)?;
                        if n == 0 {
                            break;
                        }
                        rest = &rest[n..];
                    }
                    let out = std::mem::take(d.get_mut());
                    if !out.is_empty() {
                        sink(Bytes::from(out))?;
                    }
                }
                Ok(())
            }
        }
    }

    /// The input ended: flushes what is left.
    pub fn finish(
        &mut self,
        sink: &mut dyn FnMut(Bytes) -> Result<(), TarError>,
    ) -> Result<(), TarError> {
        let zerr = |e: std::io::Error| TarError(format!("Error while decompressing data: {e}"));
        let out = match self {
            Decoder::Plain => return Ok(()),
            Decoder::Gzip(d) => {
                d.try_finish().map_err(zerr)?;
                std::mem::take(d.get_mut())
            }
            Decoder::Bzip2(d) => {
                d.try_finish().map_err(zerr)?;
                std::mem::take(d.get_mut())
            }
        };
        if out.is_empty() {
            Ok(())
        } else {
            sink(Bytes::from(out))
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

    #[test]
    fn decoders() {
        let a = archive();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&a).unwrap();
        let gz = gz.finish().unwrap();
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&a).unwrap();
        let bz = bz.finish().unwrap();
        for (fmt, data) in [("tar", a.clone()), (".TAR.GZ", gz), ("tar.bz2", bz)] {
            let mut d = Decoder::for_format(fmt).unwrap();
            let mut out = Vec::new();
            let mut sink = |b: Bytes| {
                out.extend_from_slice(&b);
                Ok(())
            };
            for piece in data.chunks(333) {
                d.push(Bytes::copy_from_slice(piece), &mut sink).unwrap();
            }
            d.finish(&mut sink).unwrap();
            assert_eq!(out, a, "{fmt}");
        }
        assert!(Decoder::for_format("zip").is_none());
        let mut d = Decoder::for_format("tar.gz").unwrap();
        assert!(d
            .push(Bytes::from_static(b"not gzip at all"), &mut |_| Ok(()))
            .is_err());
    }
}
