//! Reading a backend's `multipart/byteranges` body back into its parts, and
//! the range arithmetic of resuming a ranged GET: which bytes of which
//! ranges are still due after `n` of them were sent. Pure: no I/O.
//!
//! A multi-range GET that breaks mid-body continues from another node with
//! a Range header naming only what is left; that node frames the parts its
//! own way (another boundary, or a single part without framing), so the
//! proxy reads the parts' bytes out of each backend body and frames them
//! once, itself, as swob does (Swift's proxy re-frames the same way).

use bytes::{Buf, Bytes, BytesMut};

/// Longest framing (delimiter line plus part headers) accepted.
const MAX_FRAMING: usize = 16 * 1024;

/// What a backend body holds, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A part starts: bytes `[start, end)` of a `total`-byte object.
    Part {
        start: u64,
        end: u64,
        total: u64,
        content_type: String,
    },
    /// Bytes of the current part.
    Data(Bytes),
    /// The closing delimiter: no more parts.
    End,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Expecting `[CRLF]--boundary` then `--` or CRLF.
    Delimiter,
    /// Expecting part headers up to an empty line.
    Headers,
    /// This many bytes of the current part are due.
    Data(u64),
    /// After the closing delimiter (the epilogue is ignored).
    Done,
}

/// A streaming parser of one `multipart/byteranges` body.
#[derive(Debug)]
pub struct Parser {
    delimiter: Vec<u8>,
    state: State,
    pending: BytesMut,
}

/// The boundary of a `multipart/byteranges` Content-Type.
pub fn boundary_of(content_type: &str) -> Option<String> {
    let mut parts = content_type.split(';');
    let kind = parts.next()?.trim();
    if !kind.eq_ignore_ascii_case("multipart/byteranges") {
        return None;
    }
    parts.find_map(|p| {
        let (k, v) = p.split_once('=')?;
        k.trim()
            .eq_ignore_ascii_case("boundary")
            .then(|| v.trim().trim_matches('"').to_string())
            .filter(|b| !b.is_empty())
    })
}

/// Parses `bytes <first>-<last>/<total>` into `(start, end, total)`, end
/// exclusive.
pub fn parse_content_range(v: &str) -> Option<(u64, u64, u64)> {
    let rest = v.trim().strip_prefix("bytes")?.trim_start();
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, total) = (
        a.trim().parse::<u64>().ok()?,
        b.trim().parse::<u64>().ok()?,
        total.trim().parse::<u64>().ok()?,
    );
    (a <= b && b < total).then_some((a, b + 1, total))
}

impl Parser {
    pub fn new(boundary: &str) -> Parser {
        Parser {
            delimiter: format!("--{boundary}").into_bytes(),
            state: State::Delimiter,
            pending: BytesMut::new(),
        }
    }

    /// Whether the closing delimiter was seen.
    pub fn done(&self) -> bool {
        self.state == State::Done
    }

    /// Takes the next bytes of the body; appends what they complete to `out`.
    pub fn feed(&mut self, mut data: Bytes, out: &mut Vec<Event>) -> Result<(), String> {
        loop {
            match self.state {
                State::Done => return Ok(()),
                State::Data(left) => {
                    let from_pending = !self.pending.is_empty();
                    let avail = if from_pending {
                        self.pending.len()
                    } else {
                        data.len()
                    };
                    if avail == 0 {
                        return Ok(());
                    }
                    let n = (left as usize).min(avail);
                    let piece = if from_pending {
                        self.pending.split_to(n).freeze()
                    } else {
                        data.split_to(n)
                    };
                    out.push(Event::Data(piece));
                    let left = left - n as u64;
                    self.state = if left == 0 {
                        State::Delimiter
                    } else {
                        State::Data(left)
                    };
                }
                State::Delimiter | State::Headers => {
                    if !data.is_empty() {
                        self.pending.extend_from_slice(&data);
                        data = Bytes::new();
                    }
                    let moved = if self.state == State::Delimiter {
                        self.delimiter_line(out)?
                    } else {
                        self.headers(out)?
                    };
                    if !moved {
                        if self.pending.len() > MAX_FRAMING {
                            return Err("multipart framing too long".into());
                        }
                        return Ok(());
                    }
                }
            }
        }
    }

    /// Consumes `[CRLF]--boundary` and what follows it; false when more
    /// bytes are needed.
    fn delimiter_line(&mut self, out: &mut Vec<Event>) -> Result<bool, String> {
        let p = &self.pending[..];
        let skip = if p.starts_with(b"\r\n") {
            2
        } else if p.len() < 2 && b"\r\n".starts_with(p) && !p.is_empty() {
            return Ok(false);
        } else {
            0
        };
        let rest = &p[skip..];
        let d = &self.delimiter;
        if rest.len() < d.len() + 2 {
            let n = rest.len().min(d.len());
            if rest[..n] != d[..n] {
                return Err("multipart body does not start a part with its boundary".into());
            }
            return Ok(false);
        }
        if !rest.starts_with(d) {
            return Err("multipart part not followed by its boundary".into());
        }
        let after = &rest[d.len()..];
        if after.starts_with(b"--") {
            self.pending.clear();
            self.state = State::Done;
            out.push(Event::End);
            return Ok(true);
        }
        // Transport padding (RFC 2046) may sit before the line's CRLF.
        let pad = after
            .iter()
            .take_while(|b| **b == b' ' || **b == b'\t')
            .count();
        match after.get(pad..pad + 2) {
            None => Ok(false),
            Some(b"\r\n") => {
                self.pending.advance(skip + d.len() + pad + 2);
                self.state = State::Headers;
                Ok(true)
            }
            Some(_) => Err("bad multipart boundary line".into()),
        }
    }

    /// Consumes the part headers; false when more bytes are needed.
    fn headers(&mut self, out: &mut Vec<Event>) -> Result<bool, String> {
        let Some(at) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") else {
            return Ok(false);
        };
        let text = String::from_utf8_lossy(&self.pending[..at]).into_owned();
        self.pending.advance(at + 4);
        let mut range = None;
        let mut content_type = String::new();
        for line in text.split("\r\n") {
            let Some((k, v)) = line.split_once(':') else {
                continue;
            };
            if k.trim().eq_ignore_ascii_case("content-range") {
                range = parse_content_range(v);
            } else if k.trim().eq_ignore_ascii_case("content-type") {
                content_type = v.trim().to_string();
            }
        }
        let (start, end, total) = range.ok_or("multipart part without a valid Content-Range")?;
        out.push(Event::Part {
            start,
            end,
            total,
            content_type,
        });
        self.state = State::Data(end - start);
        Ok(true)
    }
}

/// Total bytes of `ranges` (half-open).
pub fn data_len(ranges: &[(u64, u64)]) -> u64 {
    ranges.iter().map(|(a, b)| b - a).sum()
}

/// The ranges still due once the first `sent` bytes of `ranges` went out.
pub fn remaining(ranges: &[(u64, u64)], mut sent: u64) -> Vec<(u64, u64)> {
    let mut out = Vec::new();
    for &(a, b) in ranges {
        let len = b - a;
        if sent >= len {
            sent -= len;
            continue;
        }
        out.push((a + sent, b));
        sent = 0;
    }
    out
}

/// A Range header value asking for `ranges` (half-open, non-empty).
pub fn range_value(ranges: &[(u64, u64)]) -> String {
    let specs: Vec<String> = ranges
        .iter()
        .map(|(a, b)| format!("{a}-{}", b - 1))
        .collect();
    format!("bytes={}", specs.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn doc(boundary: &str, parts: &[(u64, u64, &[u8])], total: u64) -> Vec<u8> {
        let mut v = Vec::new();
        for (a, b, data) in parts {
            v.extend_from_slice(
                format!(
                    "--{boundary}\r\nContent-Type: text/plain\r\nContent-Range: bytes {a}-{}/{total}\r\n\r\n",
                    b - 1
                )
                .as_bytes(),
            );
            v.extend_from_slice(data);
            v.extend_from_slice(b"\r\n");
        }
        v.extend_from_slice(format!("--{boundary}--").as_bytes());
        v
    }

    fn parse_in_pieces(boundary: &str, body: &[u8], step: usize) -> Vec<Event> {
        let mut p = Parser::new(boundary);
        let mut out = Vec::new();
        for piece in body.chunks(step) {
            p.feed(Bytes::copy_from_slice(piece), &mut out).unwrap();
        }
        assert!(p.done());
        // Merge adjacent data events so any split compares equal.
        let mut merged: Vec<Event> = Vec::new();
        for e in out {
            match (merged.last_mut(), e) {
                (Some(Event::Data(prev)), Event::Data(d)) => {
                    let mut b = prev.to_vec();
                    b.extend_from_slice(&d);
                    *prev = Bytes::from(b);
                }
                (_, e) => merged.push(e),
            }
        }
        merged
    }

    #[test]
    fn parts_come_back_whatever_the_splits() {
        // Data that contains boundary-like bytes and CRLFs.
        let a: &[u8] = b"--b0undary\r\n\r\nabc";
        let b: &[u8] = b"\r\n--xyz--";
        let body = doc(
            "b0undary",
            &[(0, a.len() as u64, a), (100, 100 + b.len() as u64, b)],
            1000,
        );
        for step in [1, 2, 3, 7, 64, body.len()] {
            let ev = parse_in_pieces("b0undary", &body, step);
            assert_eq!(
                ev,
                vec![
                    Event::Part {
                        start: 0,
                        end: a.len() as u64,
                        total: 1000,
                        content_type: "text/plain".into()
                    },
                    Event::Data(Bytes::from_static(a)),
                    Event::Part {
                        start: 100,
                        end: 100 + b.len() as u64,
                        total: 1000,
                        content_type: "text/plain".into()
                    },
                    Event::Data(Bytes::from_static(b)),
                    Event::End,
                ],
                "step {step}"
            );
        }
    }

    #[test]
    fn bad_framing_is_an_error() {
        let mut out = Vec::new();
        assert!(Parser::new("b")
            .feed(Bytes::from_static(b"--x\r\n"), &mut out)
            .is_err());
        let mut p = Parser::new("b");
        assert!(p
            .feed(
                Bytes::from_static(b"--b\r\nContent-Type: x\r\n\r\n"),
                &mut out
            )
            .is_err());
        let mut p = Parser::new("b");
        let err = p.feed(Bytes::from(vec![b'-'; 2]), &mut out);
        assert!(err.is_ok() && !p.done());
        assert!(p
            .feed(Bytes::from(vec![b'x'; MAX_FRAMING + 10]), &mut out)
            .is_err());
    }

    #[test]
    fn content_types_and_ranges() {
        assert_eq!(
            boundary_of("multipart/byteranges;boundary=abc").as_deref(),
            Some("abc")
        );
        assert_eq!(
            boundary_of("Multipart/Byteranges; boundary=\"q\"").as_deref(),
            Some("q")
        );
        assert_eq!(boundary_of("text/plain;boundary=abc"), None);
        assert_eq!(boundary_of("multipart/byteranges"), None);
        assert_eq!(parse_content_range("bytes 0-9/10"), Some((0, 10, 10)));
        assert_eq!(parse_content_range("bytes 5-4/10"), None);
        assert_eq!(parse_content_range("bytes 0-10/10"), None);
        assert_eq!(parse_content_range("bytes */10"), None);
    }

    #[test]
    fn what_is_left_after_n_bytes() {
        let r = [(10, 20), (30, 35), (50, 60)];
        assert_eq!(data_len(&r), 25);
        assert_eq!(remaining(&r, 0), r.to_vec());
        assert_eq!(remaining(&r, 3), vec![(13, 20), (30, 35), (50, 60)]);
        // On a part boundary: the finished part is gone.
        assert_eq!(remaining(&r, 10), vec![(30, 35), (50, 60)]);
        assert_eq!(remaining(&r, 11), vec![(31, 35), (50, 60)]);
        assert_eq!(remaining(&r, 24), vec![(59, 60)]);
        assert_eq!(remaining(&r, 25), vec![]);
        assert_eq!(range_value(&[(13, 20), (30, 35)]), "bytes=13-19,30-34");
        assert_eq!(range_value(&[(0, 1)]), "bytes=0-0");
    }
}
