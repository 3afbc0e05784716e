//! The listing rules of Swift's `list_objects_iter` / `list_containers_iter`
//! (swift/container/backend.py, swift/account/backend.py), independent of
//! SQLite: prefix, delimiter (rolled-up subdirs), marker, end_marker, limit,
//! reverse and path. Every step is a bounded range scan over the name index;
//! after a rolled-up subdir the next scan starts past it, so a page costs
//! O(limit + subdirs) index steps whatever the table size.

/// The lower bound of a range scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lower {
    /// `name > x`
    After(String),
    /// `name >= x`
    From(String),
}

/// One bounded scan of live rows in name order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RangeQuery {
    pub lower: Option<Lower>,
    /// `name < x`
    pub upper: Option<String>,
    pub reverse: bool,
    pub limit: usize,
}

/// Where rows come from: a name-ordered scan that stops when `f` says so.
pub trait RowSource {
    type Row;
    type Error;
    /// The row's name.
    fn name(row: &Self::Row) -> &str;
    /// Calls `f` on each row of `q` in order until it returns `false`.
    fn scan(
        &mut self,
        q: &RangeQuery,
        f: &mut dyn FnMut(Self::Row) -> bool,
    ) -> Result<(), Self::Error>;
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
    let mut delim_force_gte = false;
    let mut results: Vec<Entry<S::Row>> = Vec::new();

    while results.len() < p.limit {
        let upper = match (&end_marker, &end_prefix) {
            (Some(em), ep) if !em.is_empty() && ep.as_ref().is_none_or(|ep| em < ep) => {
                Some(em.clone())
            }
            (_, Some(ep)) => Some(ep.clone()),
            _ => None,
        };
        let pfx = prefix.as_deref().filter(|p| !p.is_empty());
        let lower = if delim_force_gte {
            delim_force_gte = false;
            Some(Lower::From(marker.clone().unwrap_or_default()))
        } else if truthy(&marker) && pfx.is_none_or(|pf| marker.as_deref() >= Some(pf)) {
            marker.clone().map(Lower::After)
        } else {
            pfx.map(|pf| Lower::From(pf.to_string()))
        };
        let q = RangeQuery {
            lower,
            upper,
            reverse,
            limit: p.limit - results.len(),
        };
        let (Some(pfx_all), Some(delim)) = (prefix.as_deref(), delim.as_deref()) else {
            // No delimiter: the scan is the answer.
            src.scan(&q, &mut |row| {
                results.push(Entry::Row(row));
                true
            })?;
            return Ok(results);
        };
        let pfx_chars = pfx_all.chars().count();
        let mut rowcount = 0usize;
        let mut full = false;
        let limit = p.limit;
        src.scan(&q, &mut |row| {
            rowcount += 1;
            let name = S::name(&row).to_string();
            if reverse {
                end_marker = Some(name.clone());
            } else {
                marker = Some(name.clone());
            }
            if results.len() >= limit {
                full = true;
                return false;
            }
            let from = char_offset(&name, pfx_chars);
            let end = name
                .get(from..)
                .and_then(|t| t.find(delim))
                .map(|i| i + from);
            let dir_end = end.map(|e| e + delim.len());
            let skip_past = |end: usize, marker: &mut Option<String>| {
                let mut m = name[..end].to_string();
                let mut d = delim.to_string();
                if let Some(last) = d.pop() {
                    m.push_str(&d);
                    m.push(next_char(last));
                }
                *marker = Some(m);
            };
            if let Some(pa) = &path {
                if &name == pa {
                    return true;
                }
                if let (Some(end), Some(dir_end)) = (end, dir_end) {
                    if name.len() > dir_end {
                        if reverse {
                            end_marker = Some(name[..dir_end].to_string());
                        } else {
                            skip_past(end, &mut marker);
                        }
                        return false;
                    }
                }
            } else if let (Some(end), Some(dir_end)) = (end, dir_end) {
                if reverse {
                    end_marker = Some(name[..dir_end].to_string());
                } else {
                    skip_past(end, &mut marker);
                    delim_force_gte = true;
                }
                let dir_name = name[..dir_end].to_string();
                if Some(&dir_name) != orig_marker.as_ref() {
                    results.push(Entry::Subdir(dir_name));
                }
                return false;
            }
            results.push(Entry::Row(row));
            true
        })?;
        if full || rowcount == 0 {
            break;
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
        fn name(row: &String) -> &str {
            row
        }
        fn scan(&mut self, q: &RangeQuery, f: &mut dyn FnMut(String) -> bool) -> Result<(), ()> {
            self.queries += 1;
            let ok = |n: &String| {
                let lo = match &q.lower {
                    None => true,
                    Some(Lower::After(x)) => n > x,
                    Some(Lower::From(x)) => n >= x,
                };
                lo && q.upper.as_ref().is_none_or(|u| n < u)
            };
            let mut v: Vec<&String> = self.names.iter().filter(|n| ok(n)).collect();
            if q.reverse {
                v.reverse();
            }
            for n in v.into_iter().take(q.limit) {
                self.visited += 1;
                if !f(n.clone()) {
                    break;
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
