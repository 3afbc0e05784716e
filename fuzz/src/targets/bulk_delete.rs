//! Bulk delete bodies: the newline-separated, percent-encoded names of a
//! `?bulk-delete` request, split as they arrive in pieces, and the target
//! each name deletes.
//!
//! Input: `<piece size><body>`.

use swirl_proxy::middleware::bulk::{self, NameParser, Target};

use crate::input::Input;

/// Swift's default `max_deletes_per_request`.
const MAX_DELETES: usize = 10_000;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let piece = usize::from(input.byte()) + 1;
    let body = input.rest();
    let mut parser = NameParser::new(MAX_DELETES);
    for p in body.chunks(piece) {
        if parser.feed(p).is_err() {
            return;
        }
    }
    let Ok(names) = parser.finish() else {
        return;
    };
    crate::accepted();
    assert!(names.len() <= MAX_DELETES);
    for n in &names {
        let _ = bulk::is_object_name(n);
        match bulk::target(n) {
            Target::Object { container, object } => {
                assert!(!container.is_empty() && !object.is_empty());
            }
            Target::Container(c) => assert!(!c.is_empty()),
            Target::Bad(_) => {}
        }
    }
}
