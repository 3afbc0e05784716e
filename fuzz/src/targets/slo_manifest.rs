//! SLO manifests: the JSON a client PUTs (validated, checked against segment
//! HEADs, rendered as the stored manifest, which must read back), the stored
//! manifest a GET reads (segments, ETag and size, the raw form, the walk of
//! a byte range across segments and nested manifests), and the container
//! listing rewrite that splits `slo_etag` out of a hash.
//!
//! Input: `<flags><seg length: u64 LE><first: u64 LE><len: u64 LE><body>`;
//! flag bit 0: the walk covers a range (not the whole object), bit 1: the
//! segments' HEADs say they are manifests themselves.

use swirl_proxy::middleware::slo::manifest::{self as m, Head, Input as Seg, Stored, WalkStep};

use crate::input::{text, Input};

/// Steps of one walk: every step either returns a piece or moves past a
/// segment, so a manifest this small finishes well within it.
const WALK_STEPS: usize = 20_000;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let seg_len = input.u64() % (1 << 40);
    let first = input.u64();
    let len = input.u64();
    let body = input.rest();

    put(body, seg_len, flags & 2 == 2);
    get(body, flags & 1 == 1, first, len);

    let t = text(body);
    let _ = m::split_slo_etag(&t);
    if let Some(out) = m::rewrite_json_listing(body) {
        assert!(serde_json::from_slice::<serde_json::Value>(&out).is_ok());
    }
    let _ = m::rewrite_xml_listing(body);
    if let Some(d) = m::b64_decode_strict(&t) {
        assert_eq!(m::b64_decode_strict(&m::b64_encode(&d)), Some(d));
    }
}

/// A manifest PUT: validation, each segment against a HEAD, the stored form.
fn put(body: &[u8], seg_len: u64, sub_slo: bool) {
    let Ok(inputs) = m::parse_input(body, "c", "o") else {
        return;
    };
    crate::accepted();
    let mut problems = Vec::new();
    let mut stored = Vec::new();
    for i in &inputs {
        match i {
            Seg::Data(d) => {
                assert!(!d.is_empty());
                stored.push(Stored::Data(m::b64_encode(d)));
            }
            Seg::Object(o) => {
                let head = Head {
                    failed: None,
                    length: Some(seg_len),
                    etag: Some("d41d8cd98f00b204e9800998ecf8427e".into()),
                    content_type: Some("application/octet-stream".into()),
                    last_modified: "2024-01-01T00:00:00.000000".into(),
                    slo: sub_slo,
                };
                let _ = swirl_proxy::object_path::ObjectPath::in_account("AUTH_fuzz", &o.path);
                let (_, s) = m::check_segment(o, &head, false, &mut problems);
                stored.extend(s);
            }
        }
    }
    let rendered = m::render_stored(&stored);
    let back = m::parse_stored(&rendered, true).expect("a stored manifest reads back");
    assert_eq!(back.len(), stored.len());
    let _ = m::slo_etag(&stored);
    let _ = m::etag_and_size(&back);
}

/// A manifest GET: the stored segments and the walk over a range of them.
fn get(body: &[u8], ranged: bool, first: u64, len: u64) {
    let _ = m::raw_manifest(body);
    for top in [true, false] {
        let Ok(segs) = m::parse_stored(body, top) else {
            continue;
        };
        crate::accepted();
        let (_, size) = m::etag_and_size(&segs);
        let ranges: Vec<(u64, u64)> = if ranged {
            // The proxy asks for ranges within the manifest's size, which
            // sysmeta may state apart from the segments' sum.
            let a = first % (1 << 60);
            vec![(a, a.saturating_add(len % (1 << 40)))]
        } else {
            Vec::new()
        };
        let mut walker = m::Walker::new(segs.clone(), &ranges, "/v1/a/c/o");
        let mut wanted = 0u128;
        let mut done = false;
        for _ in 0..WALK_STEPS {
            match walker.step() {
                Ok(WalkStep::Want(m::Want::Data(d))) => wanted += d.len() as u128,
                Ok(WalkStep::Want(m::Want::Object { first, last, .. })) => {
                    assert!(first <= last, "walk wants {first}..={last}");
                    wanted += u128::from(last - first) + 1;
                }
                // Every nested manifest is this one again: the walk must
                // stop at the nesting limit.
                Ok(WalkStep::Fetch(_)) => walker.provide(segs.clone()),
                Ok(WalkStep::Done) | Err(_) => {
                    done = true;
                    break;
                }
            }
        }
        if !ranged && done {
            let _ = (wanted, size);
        }
    }
}
