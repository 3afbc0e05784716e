//! NBD frames as bytes, both ways, with no I/O: the greeting, option headers
//! and payloads, option replies, transmission requests, simple replies and
//! structured reply chunks. Every parser takes untrusted bytes and answers
//! with an error instead of panicking.

use super::proto::*;

/// A frame that cannot be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodecError {
    #[error("bad magic {0:#x}")]
    BadMagic(u64),
    #[error("unknown client flags {0:#x}")]
    ClientFlags(u32),
    #[error("option data malformed: {0}")]
    Malformed(&'static str),
}

/// The 18-byte greeting: NBDMAGIC, IHAVEOPT, handshake flags.
pub fn greeting() -> [u8; 18] {
    let mut b = [0u8; 18];
    b[..8].copy_from_slice(&NBDMAGIC.to_be_bytes());
    b[8..16].copy_from_slice(&IHAVEOPT.to_be_bytes());
    b[16..].copy_from_slice(&(FLAG_FIXED_NEWSTYLE | FLAG_NO_ZEROES).to_be_bytes());
    b
}

/// What the client's flags asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientFlags {
    /// The client wants no 124 zero bytes after an EXPORT_NAME reply.
    pub no_zeroes: bool,
}

/// Parses the client's 32-bit flags. The protocol says a server MUST drop
/// a client that sets flags it does not know or did not advertise, and we
/// serve fixed newstyle only, so that flag is required.
pub fn parse_client_flags(flags: u32) -> Result<ClientFlags, CodecError> {
    let known = FLAG_C_FIXED_NEWSTYLE | FLAG_C_NO_ZEROES;
    if flags & !known != 0 || flags & FLAG_C_FIXED_NEWSTYLE == 0 {
        return Err(CodecError::ClientFlags(flags));
    }
    Ok(ClientFlags {
        no_zeroes: flags & FLAG_C_NO_ZEROES != 0,
    })
}

/// Parses an option header (IHAVEOPT, option, data length).
pub fn parse_option_header(b: &[u8; 16]) -> Result<(u32, u32), CodecError> {
    let magic = u64::from_be_bytes(arr(&b[..8]));
    if magic != IHAVEOPT {
        return Err(CodecError::BadMagic(magic));
    }
    Ok((
        u32::from_be_bytes(arr(&b[8..12])),
        u32::from_be_bytes(arr(&b[12..16])),
    ))
}

/// An option reply: magic, option echoed, reply type, length, data.
pub fn option_reply(opt: u32, reply: u32, data: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(20 + data.len());
    b.extend_from_slice(&OPT_REPLY_MAGIC.to_be_bytes());
    b.extend_from_slice(&opt.to_be_bytes());
    b.extend_from_slice(&reply.to_be_bytes());
    b.extend_from_slice(&(data.len() as u32).to_be_bytes());
    b.extend_from_slice(data);
    b
}

/// An error option reply carrying a human-readable message.
pub fn option_error(opt: u32, reply: u32, message: &str) -> Vec<u8> {
    option_reply(opt, reply, truncate(message).as_bytes())
}

/// NBD_INFO_EXPORT: size and transmission flags.
pub fn info_export(size: u64, flags: u16) -> Vec<u8> {
    let mut b = Vec::with_capacity(12);
    b.extend_from_slice(&INFO_EXPORT.to_be_bytes());
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&flags.to_be_bytes());
    b
}

/// NBD_INFO_BLOCK_SIZE: minimum, preferred, maximum payload.
pub fn info_block_size(min: u32, preferred: u32, max: u32) -> Vec<u8> {
    let mut b = Vec::with_capacity(14);
    b.extend_from_slice(&INFO_BLOCK_SIZE.to_be_bytes());
    b.extend_from_slice(&min.to_be_bytes());
    b.extend_from_slice(&preferred.to_be_bytes());
    b.extend_from_slice(&max.to_be_bytes());
    b
}

/// NBD_INFO_NAME or NBD_INFO_DESCRIPTION: a type and a string.
pub fn info_text(kind: u16, text: &str) -> Vec<u8> {
    let mut b = kind.to_be_bytes().to_vec();
    b.extend_from_slice(truncate(text).as_bytes());
    b
}

/// NBD_REP_SERVER data: the name of one export.
pub fn rep_server(name: &str) -> Vec<u8> {
    let mut b = (name.len() as u32).to_be_bytes().to_vec();
    b.extend_from_slice(name.as_bytes());
    b
}

/// NBD_REP_META_CONTEXT data: a context id and name.
pub fn rep_meta_context(id: u32, name: &str) -> Vec<u8> {
    let mut b = id.to_be_bytes().to_vec();
    b.extend_from_slice(name.as_bytes());
    b
}

/// The old NBD_OPT_EXPORT_NAME answer: size, flags and (unless the client
/// said NO_ZEROES) 124 zero bytes.
pub fn export_name_reply(size: u64, flags: u16, no_zeroes: bool) -> Vec<u8> {
    let mut b = Vec::with_capacity(134);
    b.extend_from_slice(&size.to_be_bytes());
    b.extend_from_slice(&flags.to_be_bytes());
    if !no_zeroes {
        b.extend_from_slice(&[0u8; 124]);
    }
    b
}

/// The data of NBD_OPT_INFO / NBD_OPT_GO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GoRequest {
    pub name: String,
    pub infos: Vec<u16>,
}

/// Parses NBD_OPT_INFO / NBD_OPT_GO data.
pub fn parse_go(data: &[u8]) -> Result<GoRequest, CodecError> {
    let mut r = Reader::new(data);
    let name = r.string()?;
    let n = r.u16()? as usize;
    let mut infos = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        infos.push(r.u16()?);
    }
    r.end()?;
    Ok(GoRequest { name, infos })
}

/// The data of NBD_OPT_LIST_META_CONTEXT / NBD_OPT_SET_META_CONTEXT.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetaRequest {
    pub export: String,
    pub queries: Vec<String>,
}

/// Parses a meta-context request.
pub fn parse_meta(data: &[u8]) -> Result<MetaRequest, CodecError> {
    let mut r = Reader::new(data);
    let export = r.string()?;
    let n = r.u32()? as usize;
    let mut queries = Vec::with_capacity(n.min(16));
    for _ in 0..n {
        queries.push(r.string()?);
    }
    r.end()?;
    Ok(MetaRequest { export, queries })
}

/// A transmission-phase request header (28 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Request {
    pub flags: u16,
    pub kind: u16,
    pub cookie: u64,
    pub offset: u64,
    pub length: u32,
}

/// Size of a request header.
pub const REQUEST_LEN: usize = 28;

/// Parses a request header; a wrong magic means the stream is lost.
pub fn parse_request(b: &[u8; REQUEST_LEN]) -> Result<Request, CodecError> {
    let magic = u32::from_be_bytes(arr(&b[..4]));
    if magic != REQUEST_MAGIC {
        return Err(CodecError::BadMagic(u64::from(magic)));
    }
    Ok(Request {
        flags: u16::from_be_bytes(arr(&b[4..6])),
        kind: u16::from_be_bytes(arr(&b[6..8])),
        cookie: u64::from_be_bytes(arr(&b[8..16])),
        offset: u64::from_be_bytes(arr(&b[16..24])),
        length: u32::from_be_bytes(arr(&b[24..28])),
    })
}

/// Encodes a request header (tests and the fuzzer speak as a client).
pub fn encode_request(r: &Request) -> [u8; REQUEST_LEN] {
    let mut b = [0u8; REQUEST_LEN];
    b[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
    b[4..6].copy_from_slice(&r.flags.to_be_bytes());
    b[6..8].copy_from_slice(&r.kind.to_be_bytes());
    b[8..16].copy_from_slice(&r.cookie.to_be_bytes());
    b[16..24].copy_from_slice(&r.offset.to_be_bytes());
    b[24..28].copy_from_slice(&r.length.to_be_bytes());
    b
}

/// A simple reply header (16 bytes); READ data follows it on success.
pub fn simple_reply(error: u32, cookie: u64) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..4].copy_from_slice(&SIMPLE_REPLY_MAGIC.to_be_bytes());
    b[4..8].copy_from_slice(&error.to_be_bytes());
    b[8..].copy_from_slice(&cookie.to_be_bytes());
    b
}

/// A structured reply chunk header (20 bytes); `len` bytes of payload follow.
pub fn chunk_header(flags: u16, kind: u16, cookie: u64, len: u32) -> [u8; 20] {
    let mut b = [0u8; 20];
    b[..4].copy_from_slice(&STRUCTURED_REPLY_MAGIC.to_be_bytes());
    b[4..6].copy_from_slice(&flags.to_be_bytes());
    b[6..8].copy_from_slice(&kind.to_be_bytes());
    b[8..16].copy_from_slice(&cookie.to_be_bytes());
    b[16..].copy_from_slice(&len.to_be_bytes());
    b
}

/// A whole NBD_REPLY_TYPE_ERROR chunk (with DONE): error and message.
pub fn error_chunk(error: u32, cookie: u64, message: &str) -> Vec<u8> {
    let msg = truncate(message).as_bytes();
    let mut b = chunk_header(
        REPLY_FLAG_DONE,
        REPLY_TYPE_ERROR,
        cookie,
        6 + msg.len() as u32,
    )
    .to_vec();
    b.extend_from_slice(&error.to_be_bytes());
    b.extend_from_slice(&(msg.len() as u16).to_be_bytes());
    b.extend_from_slice(msg);
    b
}

/// A whole NBD_REPLY_TYPE_BLOCK_STATUS chunk (with DONE) for one context.
pub fn block_status_chunk(cookie: u64, context: u32, extents: &[(u32, u32)]) -> Vec<u8> {
    let len = 4 + 8 * extents.len();
    let mut b = chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_BLOCK_STATUS, cookie, len as u32).to_vec();
    b.reserve(len);
    b.extend_from_slice(&context.to_be_bytes());
    for (length, flags) in extents {
        b.extend_from_slice(&length.to_be_bytes());
        b.extend_from_slice(&flags.to_be_bytes());
    }
    b
}

/// The header of an OFFSET_DATA chunk carrying `len` bytes read at `offset`
/// (the data follows), with DONE set.
pub fn data_chunk_header(cookie: u64, offset: u64, len: u32) -> [u8; 28] {
    let mut b = [0u8; 28];
    b[..20].copy_from_slice(&chunk_header(
        REPLY_FLAG_DONE,
        REPLY_TYPE_OFFSET_DATA,
        cookie,
        8 + len,
    ));
    b[20..].copy_from_slice(&offset.to_be_bytes());
    b
}

/// The empty final chunk (NONE with DONE).
pub fn none_chunk(cookie: u64) -> [u8; 20] {
    chunk_header(REPLY_FLAG_DONE, REPLY_TYPE_NONE, cookie, 0)
}

/// A message cut to the protocol's string limit on a character boundary.
fn truncate(s: &str) -> &str {
    if s.len() <= MAX_STRING {
        return s;
    }
    let mut end = MAX_STRING;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn arr<const N: usize>(b: &[u8]) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[..N]);
    a
}

/// A cursor over option data that refuses to read past the end.
struct Reader<'a> {
    b: &'a [u8],
}

impl<'a> Reader<'a> {
    fn new(b: &'a [u8]) -> Self {
        Reader { b }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        if self.b.len() < n {
            return Err(CodecError::Malformed("length runs past the option data"));
        }
        let (head, rest) = self.b.split_at(n);
        self.b = rest;
        Ok(head)
    }

    fn u16(&mut self) -> Result<u16, CodecError> {
        Ok(u16::from_be_bytes(arr(self.take(2)?)))
    }

    fn u32(&mut self) -> Result<u32, CodecError> {
        Ok(u32::from_be_bytes(arr(self.take(4)?)))
    }

    /// A u32 length then that many bytes of UTF-8, at most MAX_STRING.
    fn string(&mut self) -> Result<String, CodecError> {
        let n = self.u32()? as usize;
        if n > MAX_STRING {
            return Err(CodecError::Malformed("string longer than 4096 bytes"));
        }
        let raw = self.take(n)?;
        String::from_utf8(raw.to_vec()).map_err(|_| CodecError::Malformed("string is not UTF-8"))
    }

    fn end(&self) -> Result<(), CodecError> {
        if self.b.is_empty() {
            Ok(())
        } else {
            Err(CodecError::Malformed(
                "trailing bytes after the option data",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn go_data(name: &str, infos: &[u16]) -> Vec<u8> {
        let mut d = (name.len() as u32).to_be_bytes().to_vec();
        d.extend_from_slice(name.as_bytes());
        d.extend_from_slice(&(infos.len() as u16).to_be_bytes());
        for i in infos {
            d.extend_from_slice(&i.to_be_bytes());
        }
        d
    }

    #[test]
    fn greeting_is_nbdmagic_ihaveopt_and_flags() {
        let g = greeting();
        assert_eq!(&g[..8], b"NBDMAGIC");
        assert_eq!(&g[8..16], b"IHAVEOPT");
        assert_eq!(&g[16..], &[0, 3]);
    }

    #[test]
    fn client_flags() {
        assert_eq!(parse_client_flags(3), Ok(ClientFlags { no_zeroes: true }));
        assert_eq!(parse_client_flags(1), Ok(ClientFlags { no_zeroes: false }));
        assert!(parse_client_flags(0).is_err(), "oldstyle newstyle refused");
        assert!(parse_client_flags(7).is_err(), "unknown bit refused");
    }

    #[test]
    fn option_header() {
        let mut h = [0u8; 16];
        h[..8].copy_from_slice(b"IHAVEOPT");
        h[8..12].copy_from_slice(&7u32.to_be_bytes());
        h[12..].copy_from_slice(&9u32.to_be_bytes());
        assert_eq!(parse_option_header(&h), Ok((7, 9)));
        h[0] = b'X';
        assert!(matches!(
            parse_option_header(&h),
            Err(CodecError::BadMagic(_))
        ));
    }

    #[test]
    fn go_parses_name_and_infos() {
        let g = parse_go(&go_data("vol", &[INFO_BLOCK_SIZE, INFO_NAME])).unwrap();
        assert_eq!(g.name, "vol");
        assert_eq!(g.infos, vec![INFO_BLOCK_SIZE, INFO_NAME]);
        // Name length past the end, trailing bytes, truncated info list.
        let mut bad = go_data("vol", &[]);
        bad[3] = 200;
        assert!(parse_go(&bad).is_err());
        let mut bad = go_data("vol", &[1]);
        bad.push(0);
        assert!(parse_go(&bad).is_err());
        let bad = go_data("vol", &[1]);
        assert!(parse_go(&bad[..bad.len() - 1]).is_err());
        assert!(parse_go(&[]).is_err());
        // Not UTF-8.
        assert!(parse_go(&go_data("\u{0}", &[])).is_ok());
        let mut raw = 1u32.to_be_bytes().to_vec();
        raw.extend_from_slice(&[0xff, 0, 0]);
        assert!(parse_go(&raw).is_err());
    }

    #[test]
    fn meta_request() {
        let mut d = 3u32.to_be_bytes().to_vec();
        d.extend_from_slice(b"vol");
        d.extend_from_slice(&2u32.to_be_bytes());
        for q in ["base:allocation", "qemu:dirty-bitmap:x"] {
            d.extend_from_slice(&(q.len() as u32).to_be_bytes());
            d.extend_from_slice(q.as_bytes());
        }
        let m = parse_meta(&d).unwrap();
        assert_eq!(m.export, "vol");
        assert_eq!(m.queries, vec!["base:allocation", "qemu:dirty-bitmap:x"]);
        // A query count that promises more than is there.
        let mut bad = d.clone();
        bad[10] = 9;
        assert!(parse_meta(&bad).is_err());
        // A huge count with no data: an error, not a huge allocation.
        let mut bad = 0u32.to_be_bytes().to_vec();
        bad.extend_from_slice(&u32::MAX.to_be_bytes());
        assert!(parse_meta(&bad).is_err());
    }

    #[test]
    fn request_round_trip_and_bad_magic() {
        let r = Request {
            flags: CMD_FLAG_FUA,
            kind: CMD_WRITE,
            cookie: 0x1122334455667788,
            offset: 4096,
            length: 512,
        };
        let b = encode_request(&r);
        assert_eq!(parse_request(&b), Ok(r));
        let mut b2 = b;
        b2[0] ^= 1;
        assert!(parse_request(&b2).is_err());
    }

    #[test]
    fn replies_have_the_documented_layout() {
        let s = simple_reply(EIO, 9);
        assert_eq!(&s[..4], &[0x67, 0x44, 0x66, 0x98]);
        assert_eq!(u32::from_be_bytes(s[4..8].try_into().unwrap()), 5);
        let e = error_chunk(EINVAL, 3, "nope");
        assert_eq!(e.len(), 20 + 6 + 4);
        assert_eq!(&e[4..6], &[0, 1], "DONE");
        assert_eq!(&e[6..8], &[0x80, 0x01], "ERROR type");
        let bs = block_status_chunk(1, 1, &[(4096, 0), (8192, 3)]);
        assert_eq!(bs.len(), 20 + 4 + 16);
        assert_eq!(u32::from_be_bytes(bs[16..20].try_into().unwrap()), 20);
        let d = data_chunk_header(5, 1 << 20, 512);
        assert_eq!(u32::from_be_bytes(d[16..20].try_into().unwrap()), 520);
        assert_eq!(u64::from_be_bytes(d[20..28].try_into().unwrap()), 1 << 20);
        assert_eq!(export_name_reply(1, 1, false).len(), 134);
        assert_eq!(export_name_reply(1, 1, true).len(), 10);
        let r = option_reply(OPT_GO, REP_ACK, &[]);
        assert_eq!(r.len(), 20);
        let long = "é".repeat(3000);
        assert!(option_error(OPT_GO, REP_ERR_UNKNOWN, &long).len() <= 20 + MAX_STRING);
    }
}
