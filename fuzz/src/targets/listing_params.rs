//! Listing parameters: a query string as the account and container servers
//! read it (`parse_qsl`, per-parameter UTF-8, `limit`), the Accept header
//! and `format` negotiation, and the listing they ask for run over a set of
//! names (prefix, delimiter, marker, end_marker, path, reverse), checking
//! that the listing ends, stays within its limit and keeps name order.
//!
//! Input: `<flags><query>\0<accept>\0<name>\n<name>...`; flag bit 0: a
//! container listing (which allows `path`).

use std::collections::BTreeSet;

use swirl_common::listing_format;
use swirl_db::params::{listing_params, true_value, Query};
use swirl_store::db::listing::{list, Entry, Lower, RangeQuery, RowSource, Visit};

use crate::input::{text, Input};

/// Names are few and the cap small, so a listing stays quick to check.
const CAP: usize = 10_000;

pub fn run(data: &[u8]) {
    let mut input = Input::new(data);
    let flags = input.byte();
    let query = text(input.field()).into_owned();
    let accept = text(input.field()).into_owned();
    let names: BTreeSet<String> = input
        .rest()
        .split(|b| *b == b'\n')
        .take(200)
        .map(|n| text(n).into_owned())
        // No account, container or object has an empty name.
        .filter(|n| !n.is_empty())
        .collect();

    let q = Query::parse(Some(&query));
    let _ = true_value(q.get("reverse").ok().flatten().as_deref());
    if let Ok(format) = q.get("format") {
        let _ = listing_format::negotiate(format.as_deref(), Some(&accept));
    }
    let Ok(params) = listing_params(&q, CAP, flags & 1 == 1) else {
        return;
    };
    crate::accepted();
    assert!(params.limit <= CAP);

    let mut src = Names {
        names: &names,
        scans: 0,
    };
    let Ok(out) = list(&mut src, &params);
    assert!(out.len() <= params.limit, "listing past its limit");
    let key = |e: &Entry<String>| match e {
        Entry::Row(n) | Entry::Subdir(n) => n.clone(),
    };
    for w in out.windows(2) {
        let (a, b) = (key(&w[0]), key(&w[1]));
        if params.reverse {
            assert!(a > b, "reverse listing out of order: {a:?} then {b:?}");
        } else {
            assert!(a < b, "listing out of order: {a:?} then {b:?}");
        }
    }
    if let Some(prefix) = params.prefix.as_deref().filter(|_| params.path.is_none()) {
        for e in &out {
            assert!(
                key(e).starts_with(prefix),
                "{:?} outside {prefix:?}",
                key(e)
            );
        }
    }
}

/// Names in memory, scanned as the SQLite sources scan their index.
struct Names<'a> {
    names: &'a BTreeSet<String>,
    scans: usize,
}

impl RowSource for Names<'_> {
    type Row = String;
    type Error = std::convert::Infallible;

    fn scan(
        &mut self,
        q: &RangeQuery<'_>,
        visit: &mut dyn FnMut(&str) -> Visit,
        out: &mut Vec<Entry<String>>,
    ) -> Result<(), Self::Error> {
        // Every scan after the first starts past a row or subdir already
        // seen, so a listing needs at most one scan per name, plus one.
        self.scans += 1;
        assert!(
            self.scans <= 2 * self.names.len() + 2,
            "listing does not end"
        );
        let fits = |n: &&String| {
            let lower = match q.lower {
                None => true,
                Some(Lower::After(x)) => n.as_str() > x,
                Some(Lower::From(x)) => n.as_str() >= x,
            };
            lower && q.upper.is_none_or(|u| n.as_str() < u)
        };
        let rows: Vec<&String> = if q.reverse {
            self.names.iter().rev().filter(fits).take(q.limit).collect()
        } else {
            self.names.iter().filter(fits).take(q.limit).collect()
        };
        for n in rows {
            match visit(n) {
                Visit::Take => out.push(Entry::Row(n.clone())),
                Visit::Skip => {}
                Visit::Stop => break,
            }
        }
        Ok(())
    }
}
