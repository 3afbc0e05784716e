//! The hash-path secret from a swift.conf text, read as Swift reads it.
//!
//! Swift (swift/common/utils `validate_hash_conf`) opens swift.conf as Latin-1,
//! parses it with Python's `configparser.ConfigParser` and takes
//! `[swift-hash] swift_hash_path_prefix` / `swift_hash_path_suffix`, encoding
//! them back to Latin-1 bytes. So the secret is the file's raw bytes, after
//! ConfigParser's rules: `=` or `:` delimiters, case-insensitive keys, `#`/`;`
//! comment lines, indented continuation lines, `[DEFAULT]` fallbacks and `%`
//! interpolation (`%%` is a literal `%`). Pure: the caller reads the file.
//!
//! The storage policies' names and aliases (`[storage-policy:<n>]`) are read
//! too, for tools that take a policy name (`swirl get-nodes -P gold`).

use std::collections::HashMap;

/// Swift's `swift_hash_path_prefix` and `swift_hash_path_suffix`, as bytes.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashPathSecret {
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
}

/// Why a swift.conf text gives no usable hash-path secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SwiftConfError {
    #[error("swift.conf line {line}: {reason}")]
    Parse { line: usize, reason: String },
    #[error("swift.conf [{section}] {key}: {reason}")]
    Interpolation {
        section: String,
        key: String,
        reason: String,
    },
    #[error("[swift-hash]: both swift_hash_path_suffix and swift_hash_path_prefix are missing")]
    Missing,
    #[error("swift.conf [{section}]: {reason}")]
    Policy { section: String, reason: String },
}

/// A storage policy's identity: its index and the names it answers to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoragePolicy {
    pub index: u32,
    /// The name, then the aliases.
    pub names: Vec<String>,
}

impl StoragePolicy {
    /// Swift's object ring name for the policy: `object` or `object-<n>`.
    pub fn ring_name(&self) -> String {
        if self.index == 0 {
            "object".into()
        } else {
            format!("object-{}", self.index)
        }
    }
}

/// The storage policies of a swift.conf text. Like Swift, a file without any
/// `[storage-policy:<n>]` section has the single legacy policy 0, `Policy-0`.
/// Swift reads policies leniently (a repeated section or option: last wins).
pub fn parse_storage_policies(text: &[u8]) -> Result<Vec<StoragePolicy>, SwiftConfError> {
    let ini = Ini::parse_with(text, false)?;
    let mut policies = Vec::new();
    let mut sections: Vec<&Vec<u8>> = ini.sections.keys().collect();
    sections.sort();
    for raw in sections {
        let section = latin1(raw);
        let Some(idx) = section.strip_prefix("storage-policy:") else {
            continue;
        };
        let fail = |reason: &str| SwiftConfError::Policy {
            section: section.clone(),
            reason: reason.to_string(),
        };
        let index: u32 = idx
            .trim()
            .parse()
            .map_err(|_| fail("invalid policy index"))?;
        let name = ini
            .get(&section, "name")?
            .map(|v| latin1(&v))
            .filter(|n| !n.is_empty())
            .ok_or_else(|| fail("the policy has no name"))?;
        let mut names = vec![name];
        if let Some(aliases) = ini.get(&section, "aliases")? {
            for alias in latin1(&aliases).split(',').map(str::trim) {
                if !alias.is_empty() && !names.iter().any(|n| n == alias) {
                    names.push(alias.to_string());
                }
            }
        }
        policies.push(StoragePolicy { index, names });
    }
    if policies.is_empty() {
        policies.push(StoragePolicy {
            index: 0,
            names: vec!["Policy-0".into()],
        });
    }
    policies.sort_by_key(|p| p.index);
    Ok(policies)
}

/// The policy a name or alias refers to; Swift compares names case-insensitively.
pub fn find_policy<'a>(policies: &'a [StoragePolicy], name: &str) -> Option<&'a StoragePolicy> {
    let want = name.to_uppercase();
    policies
        .iter()
        .find(|p| p.names.iter().any(|n| n.to_uppercase() == want))
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

const HASH_SECTION: &str = "swift-hash";
const DEFAULT_SECTION: &str = "DEFAULT";
/// Python's `configparser.MAX_INTERPOLATION_DEPTH`.
const MAX_DEPTH: usize = 10;

/// The secret from swift.conf bytes. At least one of prefix and suffix must be
/// non-empty, as Swift insists.
pub fn parse_hash_path_secret(text: &[u8]) -> Result<HashPathSecret, SwiftConfError> {
    let ini = Ini::parse(text)?;
    let prefix = ini
        .get(HASH_SECTION, "swift_hash_path_prefix")?
        .unwrap_or_default();
    let suffix = ini
        .get(HASH_SECTION, "swift_hash_path_suffix")?
        .unwrap_or_default();
    if prefix.is_empty() && suffix.is_empty() {
        return Err(SwiftConfError::Missing);
    }
    Ok(HashPathSecret { prefix, suffix })
}

/// Python's `str.isspace()` for a Latin-1 character (what `strip()` removes).
fn is_space(b: u8) -> bool {
    matches!(
        b,
        b'\t' | b'\n' | 0x0b | 0x0c | b'\r' | 0x1c..=0x1f | b' ' | 0x85 | 0xa0
    )
}

fn strip(s: &[u8]) -> &[u8] {
    let start = s.iter().position(|&b| !is_space(b)).unwrap_or(s.len());
    let end = s
        .iter()
        .rposition(|&b| !is_space(b))
        .map_or(start, |e| e + 1);
    &s[start..end.max(start)]
}

/// Python's `str.lower()` on Latin-1: ASCII and the accented capitals.
fn lower(s: &[u8]) -> Vec<u8> {
    s.iter()
        .map(|&b| match b {
            b'A'..=b'Z' | 0xc0..=0xd6 | 0xd8..=0xde => b + 32,
            _ => b,
        })
        .collect()
}

/// Universal-newline line splitting, as Python's text-mode file iteration does.
fn lines(text: &[u8]) -> Vec<&[u8]> {
    let mut out = Vec::new();
    let mut start = 0;
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'\n' => {
                out.push(&text[start..i]);
                start = i + 1;
            }
            b'\r' => {
                out.push(&text[start..i]);
                if text.get(i + 1) == Some(&b'\n') {
                    i += 1;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if start < text.len() {
        out.push(&text[start..]);
    }
    out
}

type Section = HashMap<Vec<u8>, Vec<u8>>;
type Sections = HashMap<Vec<u8>, Section>;

/// The option being read: its key, value lines and indentation.
struct Pending {
    key: Vec<u8>,
    lines: Vec<Vec<u8>>,
    indent: usize,
}

/// Sections of raw (uninterpolated) values, keys lower-cased.
struct Ini {
    sections: Sections,
}

impl Ini {
    /// Python's `ConfigParser()` (strict: a repeated section or option is an error).
    fn parse(text: &[u8]) -> Result<Ini, SwiftConfError> {
        Ini::parse_with(text, true)
    }

    /// `ConfigParser(strict=strict)`; when not strict, repeats merge and the last value wins.
    fn parse_with(text: &[u8], strict: bool) -> Result<Ini, SwiftConfError> {
        let mut sections = Sections::new();
        let mut cur: Option<Vec<u8>> = None;
        let mut opt: Option<Pending> = None;
        let finish = |sections: &mut Sections, cur: &Option<Vec<u8>>, opt: &mut Option<Pending>| {
            if let (Some(sec), Some(mut p)) = (cur, opt.take()) {
                // Trailing empty lines are not part of a multi-line value.
                while p.lines.last().is_some_and(Vec::is_empty) {
                    p.lines.pop();
                }
                let value = p.lines.join(&b'\n');
                sections
                    .entry(sec.clone())
                    .or_default()
                    .insert(p.key, value);
            }
        };
        for (n, line) in lines(text).into_iter().enumerate() {
            let lineno = n + 1;
            let err = |reason: &str| SwiftConfError::Parse {
                line: lineno,
                reason: reason.to_string(),
            };
            let stripped = strip(line);
            if stripped.starts_with(b"#") || stripped.starts_with(b";") {
                continue;
            }
            if stripped.is_empty() {
                if let Some(p) = opt.as_mut() {
                    p.lines.push(Vec::new());
                }
                continue;
            }
            let indent = line.iter().take_while(|&&b| is_space(b)).count();
            if let Some(p) = opt.as_mut() {
                if indent > p.indent {
                    p.lines.push(stripped.to_vec());
                    continue;
                }
            }
            finish(&mut sections, &cur, &mut opt);
            // Python's SECTCRE `\[(?P<header>.+)\]`: anything else falls
            // through to the option syntax.
            let header = stripped
                .iter()
                .rposition(|&b| b == b']')
                .filter(|&c| stripped[0] == b'[' && c > 1);
            if let Some(close) = header {
                let name = stripped[1..close].to_vec();
                if strict && name != DEFAULT_SECTION.as_bytes() && sections.contains_key(&name) {
                    return Err(err("section appears twice"));
                }
                sections.entry(name.clone()).or_default();
                cur = Some(name);
                continue;
            }
            if cur.is_none() {
                return Err(err("option before any [section] header"));
            }
            let delim = stripped
                .iter()
                .position(|&b| b == b'=' || b == b':')
                .ok_or_else(|| err("expected `key = value`"))?;
            let key = lower(strip(&stripped[..delim]));
            if key.is_empty() {
                return Err(err("empty option name"));
            }
            if let Some(sec) = &cur {
                if strict && sections.get(sec).is_some_and(|s| s.contains_key(&key)) {
                    return Err(err("option appears twice in its section"));
                }
            }
            let value = strip(&stripped[delim + 1..]).to_vec();
            opt = Some(Pending {
                key,
                lines: vec![value],
                indent,
            });
        }
        finish(&mut sections, &cur, &mut opt);
        Ok(Ini { sections })
    }

    fn raw(&self, section: &[u8], key: &[u8]) -> Option<&Vec<u8>> {
        self.sections
            .get(section)
            .and_then(|s| s.get(key))
            .or_else(|| {
                self.sections
                    .get(DEFAULT_SECTION.as_bytes())
                    .and_then(|s| s.get(key))
            })
    }

    /// The interpolated value (Python's `BasicInterpolation`), if the section
    /// has the key (directly or through `[DEFAULT]`).
    fn get(&self, section: &str, key: &str) -> Result<Option<Vec<u8>>, SwiftConfError> {
        if !self.sections.contains_key(section.as_bytes()) {
            return Ok(None);
        }
        let Some(raw) = self.raw(section.as_bytes(), key.as_bytes()) else {
            return Ok(None);
        };
        let mut out = Vec::new();
        self.interpolate(section, key, raw, 1, &mut out)?;
        Ok(Some(out))
    }

    fn interpolate(
        &self,
        section: &str,
        key: &str,
        raw: &[u8],
        depth: usize,
        out: &mut Vec<u8>,
    ) -> Result<(), SwiftConfError> {
        let fail = |reason: String| SwiftConfError::Interpolation {
            section: section.to_string(),
            key: key.to_string(),
            reason,
        };
        if depth > MAX_DEPTH {
            return Err(fail("interpolation is nested too deeply".into()));
        }
        let mut rest = raw;
        while let Some(p) = rest.iter().position(|&b| b == b'%') {
            out.extend_from_slice(&rest[..p]);
            rest = &rest[p..];
            match rest.get(1) {
                Some(b'%') => {
                    out.push(b'%');
                    rest = &rest[2..];
                }
                Some(b'(') => {
                    // Python's `%\(([^)]+)\)s`.
                    let end = rest
                        .iter()
                        .position(|&b| b == b')')
                        .filter(|&e| e > 2 && rest.get(e + 1) == Some(&b's'))
                        .ok_or_else(|| fail("bad interpolation variable reference".into()))?;
                    let name = lower(&rest[2..end]);
                    let value = self.raw(section.as_bytes(), &name).ok_or_else(|| {
                        fail(format!(
                            "no option {:?} to interpolate",
                            String::from_utf8_lossy(&name)
                        ))
                    })?;
                    self.interpolate(section, key, value, depth + 1, out)?;
                    rest = &rest[end + 2..];
                }
                _ => return Err(fail("'%' must be followed by '%' or '('".into())),
            }
        }
        out.extend_from_slice(rest);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(text: &str) -> Result<HashPathSecret, SwiftConfError> {
        parse_hash_path_secret(text.as_bytes())
    }

    #[test]
    fn saio_conf() {
        let s = secret(
            "[swift-hash]\nswift_hash_path_prefix = changeme\nswift_hash_path_suffix = changeme\n\n\
             [storage-policy:0]\nname = gold\naliases = yellow, orange\ndefault = yes\n",
        )
        .unwrap();
        assert_eq!(s.prefix, b"changeme");
        assert_eq!(s.suffix, b"changeme");
    }

    #[test]
    fn configparser_rules() {
        let s = secret(
            "# comment\n; another\n[DEFAULT]\nbase = sec\n\n[Swift-Hash]\n[swift-hash]\n\
             SWIFT_HASH_PATH_SUFFIX: %(base)sret %% done  \n",
        );
        // Section names are case-sensitive: [Swift-Hash] is another section.
        let s = s.unwrap();
        assert_eq!(s.suffix, b"secret % done");
        assert_eq!(s.prefix, b"");
        let multi =
            secret("[swift-hash]\nswift_hash_path_prefix = a\n  b\n\n\nswift_hash_path_suffix=\n")
                .unwrap();
        assert_eq!(multi.prefix, b"a\nb");
        assert_eq!(multi.suffix, b"");
        let crlf = secret("[swift-hash]\r\nswift_hash_path_suffix = x\r\n").unwrap();
        assert_eq!(crlf.suffix, b"x");
        // Latin-1 bytes are kept as they are.
        let latin =
            parse_hash_path_secret(b"[swift-hash]\nswift_hash_path_suffix = caf\xe9\n").unwrap();
        assert_eq!(latin.suffix, b"caf\xe9");
        let inline = secret("[swift-hash]\nswift_hash_path_suffix = a # not a comment\n").unwrap();
        assert_eq!(inline.suffix, b"a # not a comment");
    }

    #[test]
    fn storage_policies() {
        let text = "[swift-hash]\nswift_hash_path_suffix = x\n\n[storage-policy:0]\nname = gold\n\
                    aliases = yellow, orange,\ndefault = yes\n\n[storage-policy:1]\nname = silver\n\
                    [storage-policy:1]\nname = Silver2\n";
        let p = parse_storage_policies(text.as_bytes()).unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].names, ["gold", "yellow", "orange"]);
        assert_eq!(p[1].names, ["Silver2"]);
        assert_eq!(find_policy(&p, "ORANGE").map(|p| p.index), Some(0));
        assert_eq!(
            find_policy(&p, "silver2").map(|p| p.ring_name()),
            Some("object-1".into())
        );
        assert_eq!(find_policy(&p, "silver"), None);
        let legacy = parse_storage_policies(b"[swift-hash]\nswift_hash_path_suffix = x\n").unwrap();
        assert_eq!(legacy[0].names, ["Policy-0"]);
        assert_eq!(legacy[0].ring_name(), "object");
        assert!(parse_storage_policies(b"[storage-policy:x]\nname = a\n").is_err());
        assert!(parse_storage_policies(b"[storage-policy:1]\ndefault = yes\n").is_err());
    }

    #[test]
    fn errors() {
        assert_eq!(secret("[swift-hash]\n"), Err(SwiftConfError::Missing));
        assert_eq!(secret(""), Err(SwiftConfError::Missing));
        assert_eq!(
            secret("[swift-hash]\nswift_hash_path_suffix =\nswift_hash_path_prefix = \n"),
            Err(SwiftConfError::Missing)
        );
        assert!(matches!(
            secret("key = v\n"),
            Err(SwiftConfError::Parse { line: 1, .. })
        ));
        assert!(matches!(
            secret("[a]\njunk line\n"),
            Err(SwiftConfError::Parse { line: 2, .. })
        ));
        assert!(matches!(secret("[a\n"), Err(SwiftConfError::Parse { .. })));
        assert!(matches!(secret("[]\n"), Err(SwiftConfError::Parse { .. })));
        assert!(matches!(
            secret("[swift-hash]\nx = 1\nswift_hash_path_suffix = %(x)b)s\n"),
            Err(SwiftConfError::Interpolation { .. })
        ));
        assert!(matches!(
            secret("[a]\n[a]\n"),
            Err(SwiftConfError::Parse { line: 2, .. })
        ));
        assert!(matches!(
            secret("[a]\nk=1\nK=2\n"),
            Err(SwiftConfError::Parse { line: 3, .. })
        ));
        assert!(matches!(
            secret("[swift-hash]\nswift_hash_path_suffix = 100%\n"),
            Err(SwiftConfError::Interpolation { .. })
        ));
        assert!(matches!(
            secret("[swift-hash]\nswift_hash_path_suffix = %(nope)s\n"),
            Err(SwiftConfError::Interpolation { .. })
        ));
        assert!(matches!(
            secret("[swift-hash]\nswift_hash_path_suffix = %(swift_hash_path_suffix)s\n"),
            Err(SwiftConfError::Interpolation { .. })
        ));
    }
}
