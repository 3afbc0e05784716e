//! Bodies the proxy and the storage servers read from each other: JSON
//! listings (converted to the client's format, DLO segment pages),
//! `multipart/byteranges` bodies of multi-range GETs, read in pieces, and
//! the arguments of a database REPLICATE `sync`. The storage servers answer
//! whoever reaches them, so none of these is trusted.
//!
//! Input: `<piece size><boundary>\0<body>`.

use bytes::Bytes;
use swirl_common::listing_format;
use swirl_proxy::byteranges::{Event, Parser};
use swirl_proxy::middleware::dlo;

use crate::input::{text, Input};

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let piece = usize::from(input.byte()) + 1;
    let boundary = text(input.field()).into_owned();
    let body = input.rest();

    if let Ok(items) = listing_format::parse_json(body) {
        crate::accepted();
        let json = listing_format::to_json(&items);
        assert_eq!(listing_format::parse_json(&json).ok(), Some(items.clone()));
        let _ = listing_format::to_text(&items);
        let _ = listing_format::container_to_xml(&items, "c");
        let _ = listing_format::account_to_xml(&items, "a");
    }
    let _ = dlo::parse_page(body);

    let mut parser = Parser::new(&boundary);
    let all = Bytes::copy_from_slice(body);
    let mut due: Option<u64> = None;
    'feed: for p in all.chunks(piece) {
        let mut events = Vec::new();
        if parser.feed(all.slice_ref(p), &mut events).is_err() {
            break;
        }
        for e in events {
            match e {
                Event::Part {
                    start, end, total, ..
                } => {
                    crate::accepted();
                    assert!(start < end && end <= total);
                    assert!(due.is_none_or(|d| d == 0), "part inside a part");
                    due = Some(end - start);
                }
                Event::Data(d) => {
                    let left = due.as_mut().expect("data inside a part");
                    *left = left
                        .checked_sub(d.len() as u64)
                        .expect("data past the part");
                }
                Event::End => {
                    assert!(due.is_none_or(|d| d == 0));
                    break 'feed;
                }
            }
        }
    }

    if let Ok(serde_json::Value::Array(args)) = serde_json::from_slice(body) {
        let _ = swirl_store::db::replication::SyncArgs::parse(&args);
    }
}
