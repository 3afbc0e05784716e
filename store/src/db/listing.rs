//! The listing rules of Swift's `list_objects_iter` / `list_containers_iter`
//! (swift/container/backend.py, swift/account/backend.py), independent of
//! SQLite: prefix, delimiter (rolled-up subdirs), marker, end_marker, limit,
//! reverse and path. Every step is a bounded range scan over the name index;
//! after a rolled-up subdir the next scan starts past it, so a page costs
//! O(limit + subdirs) index steps whatever the table size. A source hands
//! each row's name first and builds the full row only for rows the listing
//! keeps, so a rolled-up row costs one index step and no allocation.

use std::sync::OnceLock;

/// The lower bound of a range scan.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lower<'a> {
    /// `name > x`
    After(&'a str),
    /// `name >= x`
    From(&'a str),
}

/// One bounded scan of live rows in name order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RangeQuery<'a> {
    pub lower: Option<Lower<'a>>,
    /// `name < x`
    pub upper: Option<&'a str>,
    pub reverse: bool,
    pub limit: usize,
    /// A delimiter listing's scan: rows are likely to be rolled up, so a
    /// source may hand names first and read whole rows only when taken.
    pub rollup: bool,
}

/// What the listing does with a row a scan visits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Visit {
    /// Build the row, add it, go on.
    Take,
    /// Leave it out, go on.
    Skip,
    /// Leave it out and end the scan.
    Stop,
}

/// Where rows come from: a name-ordered scan that asks `visit` about each
/// row's name and appends the rows it takes to `out`.
pub trait RowSource {
    type Row;
    type Error;
    /// Runs `q`, calling `visit` on each row's name in order until it says
    /// [`Visit::Stop`]; rows it [`Visit::Take`]s are built and pushed to `out`.
    fn scan(
        &mut self,
        q: &RangeQuery<'_>,
        visit: &mut dyn FnMut(&str) -> Visit,
        out: &mut Vec<Entry<Self::Row>>,
    ) -> Result<(), Self::Error>;
}

/// The SQL text of a range scan of one shape, built once per process:
/// `head` is `SELECT <columns> FROM <table> WHERE deleted = 0` (plus any
/// filter bound as `?3`), and the bounds are `?1` (lower) and `?2` (upper).
/// One text per shape lets a connection's statement cache hand back the
/// prepared statement instead of parsing SQL on every scan. There is no
/// `LIMIT ?`: SQLite re-prepares a statement whenever a bound LIMIT changes,
/// and the scan is lazy anyway, so the source stops after `limit` rows.
pub fn range_sql(
    shapes: &'static OnceLock<[String; 12]>,
    head: &str,
    q: &RangeQuery<'_>,
) -> &'static str {
    let all = shapes.get_or_init(|| {
        std::array::from_fn(|i| {
            let lower = ["", " AND name > ?1", " AND name >= ?1"][i / 4];
            let upper = ["", " AND name < ?2"][(i / 2) % 2];
            let order = ["", " DESC"][i % 2];
            format!("{head}{lower}{upper} ORDER BY name{order}")
        })
    });
    let lower = match q.lower {
        None => 0,
        Some(Lower::After(_)) => 1,
        Some(Lower::From(_)) => 2,
    };
    &all[lower * 4 + usize::from(q.upper.is_some()) * 2 + usize::from(q.reverse)]
}

/// The bound text of `q`'s lower bound, if any.
pub fn lower_value<'a>(q: &RangeQuery<'a>) -> Option<&'a str> {
    match q.lower {
        Some(Lower::After(x) | Lower::From(x)) => Some(x),
        None => None,
    }
}

/// One entry of a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Entry<R> {
    Row(R),
    /// A rolled-up name ending in the delimiter.
    Subdir(String),
}

/// A listing request, already validated (limit within the cap).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListingParams {
    pub limit: usize,
    pub marker: Option<String>,
    pub end_marker: Option<String>,
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// Containers only: `path=x` means prefix `x/` and delimiter `/`, without
    /// subdir entries.
    pub path: Option<String>,
    pub reverse: bool,
    /// Names in Swift's reserved namespace (they start with NUL) are
    /// listed too; without it they are left out (the request did not send
    /// X-Backend-Allow-Reserved-Names).
    pub allow_reserved: bool,
}

/// The first name outside the reserved namespace (Swift's
/// `chr(ord(RESERVED_BYTE) + 1)`).
const FIRST_UNRESERVED: &str = "\u{1}";

/// A scan's lower bound with Swift's `name >= '\x01'` added to it.
fn past_reserved(lower: Option<Lower<'_>>) -> Lower<'_> {
    match lower {
        Some(Lower::After(x)) if x >= FIRST_UNRESERVED => Lower::After(x),
        Some(Lower::From(x)) if x >= FIRST_UNRESERVED => Lower::From(x),
        _ => Lower::From(FIRST_UNRESERVED),
    }
}

/// Python's `chr(ord(c) + 1)`, skipping the surrogate gap Rust cannot hold.
fn next_char(c: char) -> char {
    char::from_u32(u32::from(c) + 1).unwrap_or('\u{e000}')
}

/// `s[:-1] + chr(ord(s[-1]) + 1)`: the first string after every string that
/// starts with `s`.
fn after_prefix(s: &str) -> String {
    let mut out = s.to_string();
    if let Some(last) = out.pop() {
        out.push(next_char(last));
    }
    out
}

fn truthy(s: &Option<String>) -> bool {
    s.as_deref().is_some_and(|s| !s.is_empty())
}

/// Byte offset of the `n`th character of `s` (or its length).
fn char_offset(s: &str, n: usize) -> usize {
    s.char_indices().nth(n).map_or(s.len(), |(i, _)| i)
}

/// Runs a listing over `src` exactly as Swift's backends do.
pub fn list<S: RowSource>(src: &mut S, p: &ListingParams) -> Result<Vec<Entry<S::Row>>, S::Error> {
    let reverse = p.reverse;
    let (mut marker, mut end_marker) = if reverse {
        (p.end_marker.clone(), p.marker.clone())
    } else {
        (p.marker.clone(), p.end_marker.clone())
    };
    let mut prefix = p.prefix.clone();
    let mut delimiter = p.delimiter.clone();
    let mut path = p.path.clone();
    if let Some(pa) = &path {
        prefix = Some(pa.clone());
        if !pa.is_empty() {
            let with_slash = format!("{}/", pa.trim_end_matches('/'));
            prefix = Some(with_slash.clone());
            path = Some(with_slash);
        }
        delimiter = Some("/".to_string());
    } else if truthy(&delimiter) && !truthy(&prefix) {
        prefix = Some(String::new());
    }
    let end_prefix = prefix
        .as_deref()
        .filter(|p| !p.is_empty())
        .map(after_prefix);
    let orig_marker = marker.clone();
    let delim = delimiter.clone().filter(|d| !d.is_empty());
    let pfx_chars = prefix.as_deref().map_or(0, |p| p.chars().count());
    let mut delim_force_gte = false;
    let mut results: Vec<Entry<S::Row>> = Vec::new();
    // The name of the last row a scan visited (a reused buffer).
    let mut last = String::new();

    while results.len() < p.limit {
        let upper = match (&end_marker, &end_prefix) {
            (Some(em), ep) if !em.is_empty() && ep.as_ref().is_none_or(|ep| em < ep) => {
                Some(em.as_str())
            }
            (_, Some(ep)) => Some(ep.as_str()),
            _ => None,
        };
        let pfx = prefix.as_deref().filter(|p| !p.is_empty());
        let lower = if std::mem::take(&mut delim_force_gte) {
            Some(Lower::From(marker.as_deref().unwrap_or_default()))
        } else if truthy(&marker) && pfx.is_none_or(|pf| marker.as_deref() >= Some(pf)) {
            marker.as_deref().map(Lower::After)
        } else {
            pfx.map(Lower::From)
        };
        let lower = if p.allow_reserved {
            lower
        } else {
            Some(past_reserved(lower))
        };
        let q = RangeQuery {
            lower,
            upper,
            reverse,
            limit: p.limit - results.len(),
            rollup: delim.is_some(),
        };
        let (Some(_), Some(delim)) = (prefix.as_deref(), delim.as_deref()) else {
            // No delimiter: the scan is the answer.
            src.scan(&q, &mut |_| Visit::Take, &mut results)?;
            return Ok(results);
        };
        let before = results.len();
        let limit = p.limit;
        let mut rowcount = 0usize;
        let mut taken = 0usize;
        let mut full = false;
        // Where the last row's name meets the delimiter, when the scan
        // stopped there (a rolled-up subdir, or a deeper name in path mode).
        let mut cut: Option<usize> = None;
        src.scan(
            &q,
            &mut |name| {
                rowcount += 1;
                last.clear();
                last.push_str(name);
                if before + taken >= limit {
                    full = true;
                    return Visit::Stop;
                }
                let from = char_offset(name, pfx_chars);
                let end = name
                    .get(from..)
                    .and_then(|t| t.find(delim))
                    .map(|i| i + from);
                if let Some(pa) = &path {
                    if name == pa {
                        return Visit::Skip;
                    }
                    if let Some(end) = end.filter(|e| name.len() > e + delim.len()) {
                        cut = Some(end);
                        return Visit::Stop;
                    }
                } else if let Some(end) = end {
                    cut = Some(end);
                    return Visit::Stop;
                }
                taken += 1;
                Visit::Take
            },
            &mut results,
        )?;
        if full || rowcount == 0 {
            break;
        }
        let Some(end) = cut else {
            // Swift moves the marker to every row it visits.
            let m = Some(std::mem::take(&mut last));
            if reverse {
                end_marker = m;
            } else {
                marker = m;
            }
            continue;
        };
        let dir = &last[..end + delim.len()];
        if reverse {
            end_marker = Some(dir.to_string());
        } else {
            // Past every name under the subdir: the delimiter's last
            // character + 1 (the marker's buffer is reused).
            let m = marker.get_or_insert_with(String::new);
            m.clear();
            m.push_str(&last[..end]);
            let mut d = delim.chars();
            if let Some(c) = d.next_back() {
                m.push_str(d.as_str());
                m.push(next_char(c));
            }
            delim_force_gte = path.is_none();
        }
        if path.is_none() && Some(dir) != orig_marker.as_deref() {
            results.push(Entry::Subdir(dir.to_string()));
        }
    }
    Ok(results)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    /// An in-memory source that also counts the rows it hands out.
    struct Mem {
        names: BTreeSet<String>,
        visited: usize,
        queries: usize,
    }

    impl RowSource for Mem {
        type Row = String;
        type Error = ();
        fn scan(
            &mut self,
            q: &RangeQuery<'_>,
            visit: &mut dyn FnMut(&str) -> Visit,
            out: &mut Vec<Entry<String>>,
        ) -> Result<(), ()> {
            self.queries += 1;
            let ok = |n: &String| {
                let lo = match q.lower {
                    None => true,
                    Some(Lower::After(x)) => n.as_str() > x,
                    Some(Lower::From(x)) => n.as_str() >= x,
                };
                lo && q.upper.is_none_or(|u| n.as_str() < u)
            };
            let mut v: Vec<&String> = self.names.iter().filter(|n| ok(n)).collect();
            if q.reverse {
                v.reverse();
            }
            for n in v.into_iter().take(q.limit) {
                self.visited += 1;
                match visit(n) {
                    Visit::Take => out.push(Entry::Row(n.clone())),
                    Visit::Skip => {}
                    Visit::Stop => break,
                }
            }
            Ok(())
        }
    }

    fn mem(names: &[&str]) -> Mem {
        Mem {
            names: names.iter().map(|s| s.to_string()).collect(),
            visited: 0,
            queries: 0,
        }
    }

    fn show(e: &[Entry<String>]) -> Vec<String> {
        e.iter()
            .map(|e| match e {
                Entry::Row(r) => r.clone(),
                Entry::Subdir(s) => format!("{s}[dir]"),
            })
            .collect()
    }

    fn p() -> ListingParams {
        ListingParams {
            limit: 10_000,
            ..Default::default()
        }
    }

    fn run(names: &[&str], params: ListingParams) -> Vec<String> {
        show(&list(&mut mem(names), &params).unwrap())
    }

    #[test]
    fn reserved_names_listed_only_when_allowed() {
        let names = &["\0versions\0c", "\0x", "a", "b\0c", "c"];
        let allow = ListingParams {
            allow_reserved: true,
            ..p()
        };
        assert_eq!(
            run(names, allow.clone()),
            ["\0versions\0c", "\0x", "a", "b\0c", "c"]
        );
        assert_eq!(run(names, p()), ["a", "b\0c", "c"]);
        // Every bound and order keeps them out.
        for params in [
            ListingParams {
                reverse: true,
                ..p()
            },
            ListingParams {
                marker: Some("\0versions".into()),
                ..p()
            },
            ListingParams {
                prefix: Some("\0".into()),
                ..p()
            },
            ListingParams {
                delimiter: Some("\0".into()),
                ..p()
            },
            ListingParams {
                end_marker: Some("b".into()),
                reverse: true,
                ..p()
            },
        ] {
            let got = run(names, params.clone());
            assert!(
                got.iter().all(|n| !n.starts_with('\0')),
                "{params:?}: {got:?}"
            );
        }
        assert_eq!(
            run(
                names,
                ListingParams {
                    prefix: Some("\0".into()),
                    ..allow.clone()
                }
            ),
            ["\0versions\0c", "\0x"]
        );
        assert_eq!(
            run(
                names,
                ListingParams {
                    delimiter: Some("\0".into()),
                    ..allow
                }
            ),
            ["\0[dir]", "a", "b\0[dir]", "c"]
        );
    }

    const NAMES: &[&str] = &[
        "a", "a/", "a/b", "a/b/c", "a/c", "b", "b/1", "b/2", "c", "d/x/y", "é/1",
    ];

    #[test]
    fn plain_marker_end_marker_limit_reverse() {
        assert_eq!(run(NAMES, p()).len(), NAMES.len());
        let r = run(
            NAMES,
            ListingParams {
                marker: Some("a/c".into()),
                end_marker: Some("c".into()),
                ..p()
            },
        );
        assert_eq!(r, ["b", "b/1", "b/2"]);
        let r = run(
            NAMES,
            ListingParams {
                limit: 2,
                reverse: true,
                ..p()
            },
        );
        assert_eq!(r, ["é/1", "d/x/y"]);
        // reverse swaps the markers: marker is the upper bound.
        let r = run(
            NAMES,
            ListingParams {
                marker: Some("b/1".into()),
                end_marker: Some("a/c".into()),
                reverse: true,
                ..p()
            },
        );
        assert_eq!(r, ["b"]);
        let r = run(NAMES, ListingParams { limit: 0, ..p() });
        assert!(r.is_empty());
    }

    #[test]
    fn prefix_and_delimiter() {
        let r = run(
            NAMES,
            ListingParams {
                delimiter: Some("/".into()),
                ..p()
            },
        );
        assert_eq!(
            r,
            ["a", "a/[dir]", "b", "b/[dir]", "c", "d/[dir]", "é/[dir]"]
        );
        let r = run(
            NAMES,
            ListingParams {
                prefix: Some("a/".into()),
                delimiter: Some("/".into()),
                ..p()
            },
        );
        assert_eq!(r, ["a/", "a/b", "a/b/[dir]", "a/c"]);
        let r = run(
            NAMES,
            ListingParams {
                delimiter: Some("/".into()),
                reverse: true,
                ..p()
            },
        );
        assert_eq!(
            r,
            ["é/[dir]", "d/[dir]", "c", "b/[dir]", "b", "a/[dir]", "a"]
        );
        // A marker equal to a subdir does not repeat it.
        let r = run(
            NAMES,
            ListingParams {
                delimiter: Some("/".into()),
                marker: Some("a/".into()),
                ..p()
            },
        );
        assert_eq!(r, ["b", "b/[dir]", "c", "d/[dir]", "é/[dir]"]);
        let r = run(
            NAMES,
            ListingParams {
                delimiter: Some("/".into()),
                limit: 3,
                ..p()
            },
        );
        assert_eq!(r, ["a", "a/[dir]", "b"]);
        let r = run(
            NAMES,
            ListingParams {
                prefix: Some("b".into()),
                ..p()
            },
        );
        assert_eq!(r, ["b", "b/1", "b/2"]);
        // Multi-character delimiter.
        let r = run(
            &["x--1", "x--2", "y"],
            ListingParams {
                delimiter: Some("--".into()),
                ..p()
            },
        );
        assert_eq!(r, ["x--[dir]", "y"]);
    }

    #[test]
    fn path_mode() {
        let r = run(
            NAMES,
            ListingParams {
                path: Some("a".into()),
                ..p()
            },
        );
        // The directory marker "a/" itself and deeper names are left out.
        assert_eq!(r, ["a/b", "a/c"]);
        let r = run(
            NAMES,
            ListingParams {
                path: Some(String::new()),
                ..p()
            },
        );
        // "a/" is no deeper than the path, so it is listed.
        assert_eq!(r, ["a", "a/", "b", "c"]);
    }

    #[test]
    fn subdir_skip_is_bounded() {
        // 100 dirs of 1000 rows each: a delimiter listing visits about one row
        // per dir, not every row.
        let names: Vec<String> = (0..100)
            .flat_map(|d| (0..1000).map(move |i| format!("{d:03}/{i:04}")))
            .collect();
        let refs: Vec<&str> = names.iter().map(String::as_str).collect();
        let mut m = mem(&refs);
        let r = list(
            &mut m,
            &ListingParams {
                delimiter: Some("/".into()),
                ..p()
            },
        )
        .unwrap();
        assert_eq!(r.len(), 100);
        assert!(m.visited <= 101, "visited {}", m.visited);
    }
}
