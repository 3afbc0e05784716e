//! Raw request bytes as they come off a connection, before hyper: the
//! framer that follows HTTP/1.1 framing (request lines, headers,
//! Content-Length and chunked bodies, pipelining) and percent-encodes raw
//! bytes >= 0x80 in request lines. Its output must not depend on how the
//! stream was cut into reads, bodies must pass unchanged, and only bytes
//! >= 0x80 may be rewritten.
//!
//! Input: `<read size><stream>`.

use swirl_proxy::raw_path::Framer;

use crate::input::Input;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let step = usize::from(input.byte()) + 1;
    let stream = input.rest();

    let whole = feed_all(&[stream]);
    // The framer rewrites only the targets of requests it framed.
    if whole != stream {
        crate::accepted();
    }
    let pieces: Vec<&[u8]> = stream.chunks(step).collect();
    assert_eq!(feed_all(&pieces), whole, "output depends on read sizes");
    let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
    assert_eq!(feed_all(&bytewise), whole, "output depends on read sizes");

    // Undoing the encoding of high bytes gives the stream back.
    let mut decoded = Vec::with_capacity(whole.len());
    let mut i = 0;
    while i < whole.len() {
        if whole[i] == b'%' && i + 2 < whole.len() {
            let hex = std::str::from_utf8(&whole[i + 1..i + 3]).ok();
            if let Some(b) = hex
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .filter(|b| *b >= 0x80)
            {
                if stream.get(decoded.len()) == Some(&b) {
                    decoded.push(b);
                    i += 3;
                    continue;
                }
            }
        }
        decoded.push(whole[i]);
        i += 1;
    }
    assert_eq!(decoded, stream, "the framer changed more than high bytes");
}

fn feed_all(pieces: &[&[u8]]) -> Vec<u8> {
    let mut f = Framer::new();
    let mut out = Vec::new();
    for p in pieces {
        match f.feed(p) {
            Some(v) => out.extend_from_slice(&v),
            None => out.extend_from_slice(p),
        }
    }
    out
}
