//! The ledger of acknowledged writes: what every PUT, POST and DELETE the
//! proxy acknowledged promised, and the checks that the cluster keeps it:
//! through the proxy (every object reads back byte-exact with its
//! metadata, every deleted one is gone) and on the backends (every primary
//! holds exactly that state, as Swift's probe tests ask each node with
//! direct_client; no other device holds the object any more).

use std::collections::BTreeMap;

use super::{Client, NetnsCluster};
use crate::harness::{header, RawResponse};

/// What an acknowledged write left behind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expect {
    Object {
        body: Vec<u8>,
        /// User metadata (`x-object-meta-*`, lower-case names).
        meta: BTreeMap<String, String>,
    },
    Deleted,
}

/// Acknowledged writes of one account, by `container/object`.
#[derive(Debug, Clone)]
pub struct Ledger {
    pub account: String,
    pub entries: BTreeMap<String, Expect>,
}

fn meta_map(meta: &[(&str, &str)]) -> BTreeMap<String, String> {
    meta.iter()
        .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
        .collect()
}

/// Runs `f` over `items` on a few threads, each with its own state from
/// `make` (its kept-alive connections); returns every error it reported.
fn check_all<T: Sync, S>(
    items: &[T],
    make: impl Fn() -> S + Sync,
    f: impl Fn(&mut S, &T) -> Result<(), String> + Sync,
) -> Vec<String> {
    let chunk = items.len().div_ceil(6).max(1);
    std::thread::scope(|s| {
        let handles: Vec<_> = items
            .chunks(chunk)
            .map(|part| {
                s.spawn(|| {
                    let mut state = make();
                    part.iter()
                        .filter_map(|i| f(&mut state, i).err())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .flat_map(|h| h.join().unwrap())
            .collect()
    })
}

fn fail_with(what: &str, errors: Vec<String>) {
    assert!(
        errors.is_empty(),
        "{what}: {} failures, first ones:\n{}",
        errors.len(),
        errors[..errors.len().min(20)].join("\n")
    );
}

/// Whether response `r` shows exactly `expect` (`backend`: a direct HEAD
/// to an object server, else a proxy GET).
fn matches(r: &RawResponse, expect: &Expect, backend: bool) -> Result<(), String> {
    match expect {
        Expect::Deleted => {
            if r.0 != 404 {
                return Err(format!("status {} for a deleted object", r.0));
            }
            if backend && header(&r.1, "x-backend-timestamp").is_none() {
                return Err("404 without a tombstone (no X-Backend-Timestamp)".into());
            }
            Ok(())
        }
        Expect::Object { body, meta } => {
            if r.0 != 200 {
                return Err(format!("status {}", r.0));
            }
            let etag = format!("{:x}", md5::compute(body));
            let got = header(&r.1, "etag").unwrap_or("").trim_matches('"');
            if got != etag {
                return Err(format!("etag {got}, expected {etag}"));
            }
            if header(&r.1, "content-length") != Some(&body.len().to_string()) {
                return Err(format!(
                    "content-length {:?}, expected {}",
                    header(&r.1, "content-length"),
                    body.len()
                ));
            }
            if !backend && r.2 != *body {
                return Err(format!("body of {} bytes differs", r.2.len()));
            }
            let got: BTreeMap<String, String> =
                r.1.iter()
                    .filter(|(k, _)| k.starts_with("x-object-meta-"))
                    .cloned()
                    .collect();
            if got != *meta {
                return Err(format!("metadata {got:?}, expected {meta:?}"));
            }
            Ok(())
        }
    }
}

impl Ledger {
    pub fn new(account: &str) -> Self {
        Ledger {
            account: account.to_string(),
            entries: BTreeMap::new(),
        }
    }

    /// An acknowledged PUT (metadata as sent: `X-Object-Meta-*` pairs).
    pub fn put(&mut self, rel: &str, body: &[u8], meta: &[(&str, &str)]) {
        self.entries.insert(
            rel.to_string(),
            Expect::Object {
                body: body.to_vec(),
                meta: meta_map(meta),
            },
        );
    }

    /// An acknowledged POST: its metadata replaces the user metadata.
    pub fn post(&mut self, rel: &str, meta: &[(&str, &str)]) {
        match self.entries.get_mut(rel) {
            Some(Expect::Object { meta: m, .. }) => *m = meta_map(meta),
            other => panic!("POST to {rel} recorded as {other:?}"),
        }
    }

    /// An acknowledged DELETE.
    pub fn delete(&mut self, rel: &str) {
        self.entries.insert(rel.to_string(), Expect::Deleted);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Every entry through the proxy: objects byte-exact with their
    /// metadata, deleted ones 404.
    pub fn verify_reads(&self, client: &Client) {
        let items: Vec<(&String, &Expect)> = self.entries.iter().collect();
        let errors = check_all(
            &items,
            || client.pool(),
            |pool, (rel, expect)| {
                let r = client.request_via(pool, "GET", rel, &[], b"");
                matches(&r, expect, false).map_err(|e| format!("GET {rel}: {e}"))
            },
        );
        fail_with("reads through the proxy", errors);
    }

    /// Every entry on the backends: each primary answers a direct HEAD with
    /// exactly the expected state, and no other device of the cluster holds
    /// the object's hash directory (handoff copies are gone).
    pub fn verify_replicas(&self, c: &NetnsCluster) {
        let items: Vec<(&String, &Expect)> = self.entries.iter().collect();
        let devices = c.all_devices();
        let errors = check_all(
            &items,
            || c.admin_pool(),
            |pool, (rel, expect)| {
                let p = c.locate(&self.account, rel);
                for loc in &p.primaries {
                    let r = c.direct_object_via(pool, loc, p.part, &self.account, rel, "HEAD");
                    matches(&r, expect, true)
                        .map_err(|e| format!("{rel} on primary {loc}: {e}"))?;
                }
                for loc in devices.iter().filter(|d| !p.primaries.contains(d)) {
                    let files = c.object_files(loc, &p);
                    if !files.is_empty() {
                        return Err(format!("{rel} still on {loc} (not a primary): {files:?}"));
                    }
                }
                Ok(())
            },
        );
        fail_with("replicas on the backends", errors);
    }

    /// Entries with a replica missing on a primary device right now (no
    /// hash directory there): what replication still has to do.
    pub fn missing_replicas(&self, c: &NetnsCluster) -> usize {
        self.entries
            .keys()
            .map(|rel| {
                let p = c.locate(&self.account, rel);
                p.primaries
                    .iter()
                    .filter(|loc| c.object_files(loc, &p).is_empty())
                    .count()
            })
            .sum()
    }
}
