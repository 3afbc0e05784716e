//! swift-ring-builder's device syntax: search values, add values and
//! set_info change values, plus the address normalisation they share.
//!
//! The grammar is Swift's (`swift/common/ring/utils.py`: `parse_search_value`,
//! `parse_add_value`, `parse_address`; `swift/cli/ringbuilder.py`:
//! `calculate_change_value`). Everything here is pure so the CLI can reject a
//! bad argument with a reason before it touches a builder file.
//!
//! One deliberate extension: Swift accepts hostnames only through `--ip`;
//! here a hostname may also stand where an IP stands when it cannot be
//! mistaken for another part (after the `-` of a search or add value, and at
//! the start of a change value). A hostname ends at `:`, `/`, `_` or `R`,
//! the same characters that end an address in Swift's add value.

use std::net::{Ipv4Addr, Ipv6Addr};

use crate::device::Device;
use crate::error::{Error, Result};

/// Which devices a search value selects. `None` fields match anything.
/// IP fields hold the normalised form (see [`normalize_address`]).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DevFilter {
    pub id: Option<u32>,
    pub region: Option<u32>,
    pub zone: Option<u32>,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: Option<String>,
    /// Matches when the device's meta *contains* this (Swift's rule).
    pub meta: Option<String>,
    /// Only settable through `--weight`; search values have no weight part.
    pub weight: Option<f64>,
}

impl DevFilter {
    /// True when no part was given: Swift then matches every device.
    pub fn is_empty(&self) -> bool {
        *self == DevFilter::default()
    }

    /// Whether `dev` satisfies every part of the filter.
    pub fn matches(&self, dev: &Device) -> bool {
        fn eq<T: PartialEq>(want: &Option<T>, have: &T) -> bool {
            want.as_ref().is_none_or(|w| w == have)
        }
        // Devices may carry an address written in another form (upper-case
        // hostname, unexpanded IPv6): compare normalised forms, as Swift does.
        fn addr(want: &Option<String>, have: &str) -> bool {
            want.as_ref()
                .is_none_or(|w| normalize_address(have).is_ok_and(|h| &h == w))
        }
        eq(&self.id, &dev.id)
            && eq(&self.region, &dev.region)
            && eq(&self.zone, &dev.zone)
            && addr(&self.ip, &dev.ip)
            && eq(&self.port, &dev.port)
            && addr(&self.replication_ip, &dev.replication_ip)
            && eq(&self.replication_port, &dev.replication_port)
            && eq(&self.device, &dev.device)
            && eq(&self.weight, &dev.weight)
            && self
                .meta
                .as_ref()
                .is_none_or(|m| dev.meta.contains(m.as_str()))
    }
}

/// What `set_info` changes on the matched devices. `None` keeps the old value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DevChange {
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: Option<String>,
    pub meta: Option<String>,
}

impl DevChange {
    pub fn is_empty(&self) -> bool {
        *self == DevChange::default()
    }

    /// Apply the change to a copy of `dev` (the caller checks for clashes first).
    pub fn applied_to(&self, dev: &Device) -> Device {
        let mut d = dev.clone();
        if let Some(ip) = &self.ip {
            d.ip = ip.clone();
        }
        if let Some(port) = self.port {
            d.port = port;
        }
        if let Some(ip) = &self.replication_ip {
            d.replication_ip = ip.clone();
        }
        if let Some(port) = self.replication_port {
            d.replication_port = port;
        }
        if let Some(name) = &self.device {
            d.device = name.clone();
        }
        if let Some(meta) = &self.meta {
            d.meta = meta.clone();
        }
        d
    }
}

/// A device parsed from an add value, before the CLI fills in defaults.
#[derive(Debug, Clone, PartialEq)]
pub struct AddValue {
    /// `None` when the value had no `r<region>` prefix (Swift warns, uses 1).
    pub region: Option<u32>,
    pub zone: u32,
    pub ip: String,
    pub port: u16,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: String,
    pub meta: String,
}

impl AddValue {
    /// The device this value describes: region 1 and the replication address
    /// equal to the client address when they were left out.
    pub fn into_device(self, weight: f64) -> Device {
        Device {
            region: self.region.unwrap_or(1),
            zone: self.zone,
            replication_ip: self.replication_ip.unwrap_or_else(|| self.ip.clone()),
            replication_port: self.replication_port.unwrap_or(self.port),
            ip: self.ip,
            port: self.port,
            device: self.device,
            weight,
            meta: self.meta,
            ..Default::default()
        }
    }
}

fn syntax(msg: impl Into<String>) -> Error {
    Error::Syntax(msg.into())
}

/// A cursor over the value being parsed; parts are consumed front to back.
struct Cursor<'a> {
    rest: &'a str,
}

impl<'a> Cursor<'a> {
    fn eat(&mut self, prefix: char) -> bool {
        match self.rest.strip_prefix(prefix) {
            Some(r) => {
                self.rest = r;
                true
            }
            None => false,
        }
    }

    fn peek(&self) -> Option<char> {
        self.rest.chars().next()
    }

    /// The longest prefix whose chars satisfy `keep`.
    fn take_while(&mut self, keep: impl Fn(char) -> bool) -> &'a str {
        let end = self.rest.find(|c| !keep(c)).unwrap_or(self.rest.len());
        let (head, tail) = self.rest.split_at(end);
        self.rest = tail;
        head
    }

    /// Digits after a one-letter tag such as `d`, `r`, `z` or `:`.
    fn number<T: std::str::FromStr>(&mut self, what: &str) -> Result<T> {
        let digits = self.take_while(|c| c.is_ascii_digit());
        if digits.is_empty() {
            return Err(syntax(format!("{what} needs a number")));
        }
        digits
            .parse()
            .map_err(|_| syntax(format!("{what} {digits} is out of range")))
    }

    /// An address in a search or change value: dotted IPv4 (starts with a
    /// digit), IPv6 in brackets, or (when `hostname_ok`) a hostname.
    fn address(&mut self, hostname_ok: bool) -> Result<Option<String>> {
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                let ip = self.take_while(|c| c.is_ascii_digit() || c == '.');
                normalize_ip(ip).map(Some)
            }
            Some('[') => {
                let Some(close) = self.rest.find(']') else {
                    return Err(syntax(format!("missing ']' in {:?}", self.rest)));
                };
                let ip = &self.rest[1..close];
                self.rest = &self.rest[close + 1..];
                normalize_ip(ip).map(Some)
            }
            Some(c) if hostname_ok && c.is_ascii_alphabetic() && c != 'R' => {
                let host = self.take_while(|c| {
                    (c.is_ascii_alphanumeric() || c == '.' || c == '-') && c != 'R'
                });
                normalize_hostname(host).map(Some)
            }
            _ => Ok(None),
        }
    }

    /// `[<ip>][:<port>]`, as used after the start or after `R`.
    fn address_and_port(&mut self, hostname_ok: bool) -> Result<(Option<String>, Option<u16>)> {
        let ip = self.address(hostname_ok)?;
        let port = if self.eat(':') {
            Some(self.number("port")?)
        } else {
            None
        };
        Ok((ip, port))
    }

    /// `/<device>` then `_<meta>`: the device name runs to the first `_`,
    /// the meta to the end of the value.
    fn device_and_meta(&mut self) -> (Option<String>, Option<String>) {
        let device = if self.eat('/') {
            Some(self.take_while(|c| c != '_').to_string())
        } else {
            None
        };
        let meta = if self.eat('_') {
            let m = self.rest.to_string();
            self.rest = "";
            Some(m)
        } else {
            None
        };
        (device, meta)
    }
}

/// Parse a search value:
/// `d<id>r<region>z<zone>-<ip>:<port>R<r_ip>:<r_port>/<device>_<meta>`.
///
/// Every part is optional and the parts come in that order; the `-` before
/// the IP may be left out. An empty value matches every device (as in Swift).
pub fn parse_search_value(value: &str) -> Result<DevFilter> {
    let bad = |why: &str| syntax(format!("invalid search value {value:?}: {why}"));
    let mut c = Cursor { rest: value };
    let mut f = DevFilter::default();
    let wrap = |e: Error| match e {
        Error::Syntax(why) => bad(&why),
        other => other,
    };
    if c.eat('d') {
        f.id = Some(c.number("device id d").map_err(wrap)?);
    }
    if c.eat('r') {
        f.region = Some(c.number("region r").map_err(wrap)?);
    }
    if c.eat('z') {
        f.zone = Some(c.number("zone z").map_err(wrap)?);
    }
    let dash = c.eat('-');
    let (ip, port) = c.address_and_port(dash).map_err(wrap)?;
    f.ip = ip;
    f.port = port;
    if c.eat('R') {
        let (ip, port) = c.address_and_port(false).map_err(wrap)?;
        f.replication_ip = ip;
        f.replication_port = port;
    }
    (f.device, f.meta) = c.device_and_meta();
    if !c.rest.is_empty() {
        return Err(bad(&format!("unexpected {:?}", c.rest)));
    }
    Ok(f)
}

/// Parse an add value: `[r<region>]z<zone>-<ip>:<port>[R<r_ip>:<r_port>]/<device>[_<meta>]`.
///
/// The zone, address, port and device name are required. IPv6 addresses go
/// in brackets (`[::1]:6200`); as in Swift, an unbracketed IPv6 address also
/// works because the port is taken after the last `:`.
pub fn parse_add_value(value: &str) -> Result<AddValue> {
    let bad = |why: &str| syntax(format!("invalid add value {value:?}: {why}"));
    let wrap = |e: Error| match e {
        Error::Syntax(why) => bad(&why),
        other => other,
    };
    let mut c = Cursor { rest: value };
    let region = if c.eat('r') {
        Some(c.number("region r").map_err(wrap)?)
    } else {
        None
    };
    if !c.eat('z') {
        return Err(bad("expected z<zone> (after an optional r<region>)"));
    }
    let zone = c.number("zone z").map_err(wrap)?;
    if !c.eat('-') {
        return Err(bad("expected '-' before the address"));
    }
    let (ip, port) = add_address(&mut c).map_err(wrap)?;
    let (mut replication_ip, mut replication_port) = (None, None);
    if c.eat('R') {
        let (rip, rport) = add_address(&mut c).map_err(wrap)?;
        replication_ip = Some(rip);
        replication_port = Some(rport);
    }
    if !c.rest.starts_with('/') {
        return Err(bad("expected /<device name> after the address"));
    }
    let (device, meta) = c.device_and_meta();
    let device = device.unwrap_or_default();
    validate_device_name(&device).map_err(wrap)?;
    Ok(AddValue {
        region,
        zone,
        ip,
        port,
        replication_ip,
        replication_port,
        device,
        meta: meta.unwrap_or_default(),
    })
}

/// `<ip>:<port>` in an add value: the address runs to the next `R` or `/`
/// and the port follows its last `:` (so bare IPv6 works, as in Swift).
fn add_address(c: &mut Cursor<'_>) -> Result<(String, u16)> {
    let (host, port) = if let Some(inner) = c.rest.strip_prefix('[') {
        let Some(close) = inner.find(']') else {
            return Err(syntax("missing ']' after an IPv6 address"));
        };
        let host = &inner[..close];
        c.rest = &inner[close + 1..];
        if !c.eat(':') {
            return Err(syntax(format!("missing :<port> after [{host}]")));
        }
        let port = c.take_while(|ch| ch != 'R' && ch != '/');
        (host, port)
    } else {
        let addr = c.take_while(|ch| ch != 'R' && ch != '/');
        let Some(colon) = addr.rfind(':') else {
            return Err(syntax(format!("missing :<port> in {addr:?}")));
        };
        (&addr[..colon], &addr[colon + 1..])
    };
    let port = parse_port(port)?;
    let ip = if host.starts_with(|ch: char| ch.is_ascii_alphabetic()) && !host.contains(':') {
        normalize_hostname(host)?
    } else {
        normalize_ip(host)?
    };
    Ok((ip, port))
}

/// A TCP port number, 0..=65535, decimal digits only.
pub fn parse_port(s: &str) -> Result<u16> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Err(syntax(format!("invalid port {s:?}")));
    }
    s.parse()
        .map_err(|_| syntax(format!("port {s} is out of range (0-65535)")))
}

/// Parse set_info's change value: `<ip>:<port>R<r_ip>:<r_port>/<device>_<meta>`,
/// every part optional but at least one given.
pub fn parse_change_value(value: &str) -> Result<DevChange> {
    let bad = |why: &str| syntax(format!("invalid set_info change value {value:?}: {why}"));
    let wrap = |e: Error| match e {
        Error::Syntax(why) => bad(&why),
        other => other,
    };
    let mut c = Cursor { rest: value };
    let mut ch = DevChange::default();
    (ch.ip, ch.port) = c.address_and_port(true).map_err(wrap)?;
    if c.eat('R') {
        (ch.replication_ip, ch.replication_port) = c.address_and_port(true).map_err(wrap)?;
    }
    (ch.device, ch.meta) = c.device_and_meta();
    if !c.rest.is_empty() {
        return Err(bad(&format!("unexpected {:?}", c.rest)));
    }
    if ch.is_empty() {
        return Err(bad("nothing to change"));
    }
    if let Some(name) = &ch.device {
        validate_device_name(name).map_err(wrap)?;
    }
    Ok(ch)
}

/// A device name must be non-empty and not start or end with a space.
pub fn validate_device_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(syntax("empty device name"));
    }
    if name.starts_with(' ') || name.ends_with(' ') {
        return Err(syntax(format!(
            "device name {name:?} starts or ends with a space"
        )));
    }
    Ok(())
}

/// An IP address in the form Swift stores and compares: IPv4 as dotted quad,
/// IPv6 lower-case in the compressed form `inet_ntop` gives.
pub fn normalize_ip(ip: &str) -> Result<String> {
    let lower = ip.to_ascii_lowercase();
    if lower.parse::<Ipv4Addr>().is_ok() {
        return Ok(lower);
    }
    match lower.parse::<Ipv6Addr>() {
        Ok(v6) => Ok(format_ipv6(&v6)),
        Err(_) => Err(syntax(format!("invalid IP address {ip:?}"))),
    }
}

/// An address given as an option (`--ip`): an IP (IPv6 optionally in
/// brackets) or a hostname, lower-cased.
pub fn normalize_address(addr: &str) -> Result<String> {
    if let Some(inner) = addr.strip_prefix('[').and_then(|a| a.strip_suffix(']')) {
        return normalize_ip(inner);
    }
    let bare = addr.trim_start_matches('[').trim_end_matches(']');
    normalize_ip(bare).or_else(|_| normalize_hostname(bare))
}

/// RFC 1123 hostname check (labels of letters, digits and inner hyphens,
/// one trailing dot allowed), returned lower-cased.
pub fn normalize_hostname(host: &str) -> Result<String> {
    let bad = || syntax(format!("invalid IP address or hostname {host:?}"));
    if host.is_empty() || host.len() > 255 {
        return Err(bad());
    }
    let body = host.strip_suffix('.').unwrap_or(host);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    if body.split('.').all(label_ok) {
        Ok(host.to_ascii_lowercase())
    } else {
        Err(bad())
    }
}

/// glibc's `inet_ntop` text for an IPv6 address. Rust's `Display` agrees
/// except for IPv4-compatible addresses (`::a.b.c.d`), which glibc (and so
/// Swift) writes with a dotted tail.
fn format_ipv6(ip: &Ipv6Addr) -> String {
    let s = ip.segments();
    let compatible = s[..6].iter().all(|&w| w == 0) && s[6] != 0;
    if compatible {
        let [.., a, b, c, d] = ip.octets();
        return format!("::{a}.{b}.{c}.{d}");
    }
    ip.to_string()
}

/// A device weight: a finite, non-negative number.
pub fn parse_weight(s: &str) -> Result<f64> {
    match s.trim().parse::<f64>() {
        Ok(w) if w.is_finite() && w >= 0.0 => Ok(w),
        Ok(_) => Err(syntax(format!(
            "invalid weight {s:?}: must be a non-negative number"
        ))),
        Err(_) => Err(syntax(format!("invalid weight {s:?}: not a number"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev() -> Device {
        Device {
            id: 74,
            region: 4,
            zone: 1,
            ip: "1.2.3.4".into(),
            port: 5678,
            replication_ip: "5.6.7.8".into(),
            replication_port: 9999,
            device: "sdb1".into(),
            weight: 100.0,
            meta: "snet: 5.6.7.8".into(),
            ..Default::default()
        }
    }

    fn search(v: &str) -> DevFilter {
        parse_search_value(v).unwrap()
    }

    fn syntax_err(r: Result<impl std::fmt::Debug>) -> String {
        match r {
            Err(Error::Syntax(why)) => why,
            other => panic!("expected a syntax error, got {other:?}"),
        }
    }

    #[test]
    fn search_examples_from_swift_docs() {
        assert_eq!(search("d74").id, Some(74));
        assert_eq!(search("r4").region, Some(4));
        assert_eq!(search("z1").zone, Some(1));
        let f = search("z1-1.2.3.4");
        assert_eq!((f.zone, f.ip.as_deref()), (Some(1), Some("1.2.3.4")));
        assert_eq!(search("1.2.3.4").ip.as_deref(), Some("1.2.3.4"));
        let f = search("z1:5678");
        assert_eq!((f.zone, f.port, f.ip), (Some(1), Some(5678), None));
        assert_eq!(search(":5678").port, Some(5678));
        assert_eq!(
            search("R5.6.7.8").replication_ip.as_deref(),
            Some("5.6.7.8")
        );
        assert_eq!(search("R:5678").replication_port, Some(5678));
        let f = search("1.2.3.4R5.6.7.8");
        assert_eq!(f.ip.as_deref(), Some("1.2.3.4"));
        assert_eq!(f.replication_ip.as_deref(), Some("5.6.7.8"));
        assert_eq!(search("/sdb1").device.as_deref(), Some("sdb1"));
        assert_eq!(search("_shiny").meta.as_deref(), Some("shiny"));
        assert_eq!(
            search("_\"snet: 5.6.7.8\"").meta.as_deref(),
            Some("\"snet: 5.6.7.8\"")
        );
        assert_eq!(search("[::1]").ip.as_deref(), Some("::1"));
        let f = search("z1-[::1]:5678");
        assert_eq!(
            (f.zone, f.ip.as_deref(), f.port),
            (Some(1), Some("::1"), Some(5678))
        );
    }

    #[test]
    fn search_most_specific() {
        let f = search("d74r4z1-1.2.3.4:5678R5.6.7.8:9999/sdb1_snet: 5.6.7.8");
        assert_eq!(
            f,
            DevFilter {
                id: Some(74),
                region: Some(4),
                zone: Some(1),
                ip: Some("1.2.3.4".into()),
                port: Some(5678),
                replication_ip: Some("5.6.7.8".into()),
                replication_port: Some(9999),
                device: Some("sdb1".into()),
                meta: Some("snet: 5.6.7.8".into()),
                weight: None,
            }
        );
        assert!(f.matches(&dev()));
        let mut other = dev();
        other.port = 1;
        assert!(!f.matches(&other));
    }

    #[test]
    fn search_ipv6_is_normalised_and_matched() {
        let f = search("[2001:DB8:0:0::1]:6200R[2001:db8::2]:6300");
        assert_eq!(f.ip.as_deref(), Some("2001:db8::1"));
        assert_eq!(f.replication_ip.as_deref(), Some("2001:db8::2"));
        let d = Device {
            ip: "2001:0db8::0001".into(),
            port: 6200,
            replication_ip: "2001:db8::2".into(),
            replication_port: 6300,
            ..Default::default()
        };
        assert!(f.matches(&d));
    }

    #[test]
    fn search_hostname_after_dash() {
        let f = search("z2-Storage1.Example.com:6200/sdc");
        assert_eq!(f.zone, Some(2));
        assert_eq!(f.ip.as_deref(), Some("storage1.example.com"));
        assert_eq!(f.port, Some(6200));
        assert_eq!(f.device.as_deref(), Some("sdc"));
        let d = Device {
            zone: 2,
            ip: "STORAGE1.example.com".into(),
            port: 6200,
            device: "sdc".into(),
            ..Default::default()
        };
        assert!(f.matches(&d));
        // A hostname ends at R, like an address in an add value.
        let f = search("-hostR10.0.0.1");
        assert_eq!(f.ip.as_deref(), Some("host"));
        assert_eq!(f.replication_ip.as_deref(), Some("10.0.0.1"));
    }

    #[test]
    fn search_empty_matches_everything() {
        let f = search("");
        assert!(f.is_empty());
        assert!(f.matches(&dev()));
        assert!(f.matches(&Device::default()));
    }

    #[test]
    fn search_meta_is_substring_and_device_exact() {
        assert!(search("_net").matches(&dev()));
        assert!(!search("_nope").matches(&dev()));
        assert!(search("/sdb1").matches(&dev()));
        assert!(!search("/sdb").matches(&dev()));
        assert!(
            search("/sdb1_").matches(&dev()),
            "empty meta is contained in any meta"
        );
    }

    #[test]
    fn search_rejects_bad_values() {
        for bad in [
            "d",
            "dx",
            "r",
            "z",
            "zz1",
            "d1x",
            "1.2.3",
            "1.2.3.4.5",
            "300.1.1.1",
            "[::1",
            "[nope]",
            ":",
            ":x",
            ":70000",
            "Rx",
            "R:",
            "d99999999999",
            "host",
            "z1-bad!host",
            "z1-1.2.3.4:",
            "01.2.3.4",
        ] {
            let why = syntax_err(parse_search_value(bad));
            assert!(why.contains("invalid search value"), "{bad}: {why}");
        }
    }

    #[test]
    fn search_lone_dash_like_swift() {
        // Swift strips the '-' (or the 'R') and, with nothing left, matches everything.
        assert!(parse_search_value("-").is_ok_and(|f| f.is_empty()));
        assert!(parse_search_value("R").is_ok_and(|f| f.is_empty()));
    }

    #[test]
    fn add_value_full() {
        let a = parse_add_value("r1z1-127.0.0.1:6200R127.0.0.1:6300/sdb1_meta data").unwrap();
        assert_eq!(
            a,
            AddValue {
                region: Some(1),
                zone: 1,
                ip: "127.0.0.1".into(),
                port: 6200,
                replication_ip: Some("127.0.0.1".into()),
                replication_port: Some(6300),
                device: "sdb1".into(),
                meta: "meta data".into(),
            }
        );
    }

    #[test]
    fn add_value_defaults() {
        let a = parse_add_value("z3-10.0.0.3:6200/sdd").unwrap();
        assert_eq!(a.region, None);
        assert_eq!(a.meta, "");
        let d = a.into_device(100.0);
        assert_eq!(d.region, 1);
        assert_eq!(d.replication_ip, "10.0.0.3");
        assert_eq!(d.replication_port, 6200);
        assert_eq!(d.weight, 100.0);
        assert_eq!(d.device, "sdd");
    }

    #[test]
    fn add_value_ipv6_with_and_without_brackets() {
        let a = parse_add_value("r2z1-[2001:DB8::10]:6200R[2001:db8::11]:6300/sdb").unwrap();
        assert_eq!(a.ip, "2001:db8::10");
        assert_eq!(a.port, 6200);
        assert_eq!(a.replication_ip.as_deref(), Some("2001:db8::11"));
        assert_eq!(a.replication_port, Some(6300));
        let a = parse_add_value("z1-::1:6200/sdb").unwrap();
        assert_eq!((a.ip.as_str(), a.port), ("::1", 6200));
    }

    #[test]
    fn add_value_hostname() {
        let a = parse_add_value("z1-Node1.example.com:6200Rrepl-1.local:6300/sdb1").unwrap();
        assert_eq!(a.ip, "node1.example.com");
        assert_eq!(a.replication_ip.as_deref(), Some("repl-1.local"));
        assert_eq!(a.replication_port, Some(6300));
    }

    #[test]
    fn add_value_rejects() {
        for bad in [
            "",
            "r1",
            "r1z",
            "rz1-1.2.3.4:1/sdb",
            "z1",
            "z1-",
            "z1-1.2.3.4/sdb",
            "z1-1.2.3.4:/sdb",
            "z1-1.2.3.4:x/sdb",
            "z1-1.2.3.4:70000/sdb",
            "z1-1.2.3.4:6200",
            "z1-1.2.3.4:6200/",
            "z1-1.2.3.4:6200/_meta",
            "z1-1.2.3.4:6200/ sdb",
            "z1-1.2.3.4:6200R/sdb",
            "z1-1.2.3.4:6200R1.2.3.5/sdb",
            "z1-999.2.3.4:6200/sdb",
            "z1-[::1:6200/sdb",
            "z1-[::1]/sdb",
            "z1-bad!host:6200/sdb",
            "d1z1-1.2.3.4:6200/sdb",
        ] {
            let why = syntax_err(parse_add_value(bad));
            assert!(why.contains("invalid add value"), "{bad}: {why}");
        }
    }

    #[test]
    fn change_values() {
        let c = parse_change_value("1.2.3.4:6200R5.6.7.8:6300/sdc_new meta").unwrap();
        assert_eq!(
            c,
            DevChange {
                ip: Some("1.2.3.4".into()),
                port: Some(6200),
                replication_ip: Some("5.6.7.8".into()),
                replication_port: Some(6300),
                device: Some("sdc".into()),
                meta: Some("new meta".into()),
            }
        );
        assert_eq!(
            parse_change_value("_snet: 5.6.7.8")
                .unwrap()
                .meta
                .as_deref(),
            Some("snet: 5.6.7.8")
        );
        assert_eq!(parse_change_value(":6201").unwrap().port, Some(6201));
        assert_eq!(
            parse_change_value("R:6301").unwrap().replication_port,
            Some(6301)
        );
        assert_eq!(
            parse_change_value("[::2]").unwrap().ip.as_deref(),
            Some("::2")
        );
        assert_eq!(
            parse_change_value("Host.Example:1").unwrap().ip.as_deref(),
            Some("host.example")
        );
        assert_eq!(parse_change_value("_").unwrap().meta.as_deref(), Some(""));
        let d = parse_change_value("/sdz").unwrap().applied_to(&dev());
        assert_eq!(d.device, "sdz");
        assert_eq!(d.ip, "1.2.3.4");
    }

    #[test]
    fn change_values_rejected() {
        for bad in [
            "",
            "R",
            "x!",
            "1.2.3.4:",
            "1.2.3.4:99999",
            "/",
            "/ sdb",
            "1.2.3.4:1 junk",
            "[::1",
        ] {
            let why = syntax_err(parse_change_value(bad));
            assert!(why.contains("change value"), "{bad}: {why}");
        }
    }

    #[test]
    fn ip_normalisation_matches_inet_ntop() {
        assert_eq!(normalize_ip("127.0.0.1").unwrap(), "127.0.0.1");
        assert_eq!(normalize_ip("FE80::0:1").unwrap(), "fe80::1");
        assert_eq!(normalize_ip("0:0:0:0:0:0:0:1").unwrap(), "::1");
        assert_eq!(normalize_ip("::").unwrap(), "::");
        assert_eq!(normalize_ip("::ffff:1.2.3.4").unwrap(), "::ffff:1.2.3.4");
        assert_eq!(normalize_ip("::1.2.3.4").unwrap(), "::1.2.3.4");
        assert_eq!(normalize_ip("::2").unwrap(), "::2");
        assert_eq!(normalize_ip("::100").unwrap(), "::100");
        assert_eq!(normalize_ip("::0:1:2").unwrap(), "::0.1.0.2");
        assert_eq!(normalize_ip("::ffff:1:2").unwrap(), "::ffff:0.1.0.2");
        assert_eq!(normalize_ip("::1:0:0").unwrap(), "::1:0:0");
        assert_eq!(normalize_ip("1:0:0:1:0:0:0:1").unwrap(), "1:0:0:1::1");
        assert_eq!(normalize_ip("1:0:1:1:1:1:1:1").unwrap(), "1:0:1:1:1:1:1:1");
        for bad in [
            "",
            "1.2.3",
            "256.1.1.1",
            "01.1.1.1",
            "::g",
            "host",
            "1::2::3",
        ] {
            assert!(normalize_ip(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn address_normalisation() {
        assert_eq!(normalize_address("[::1]").unwrap(), "::1");
        assert_eq!(normalize_address("::1").unwrap(), "::1");
        assert_eq!(
            normalize_address("Host.Example.COM").unwrap(),
            "host.example.com"
        );
        assert_eq!(normalize_address("host.").unwrap(), "host.");
        assert!(normalize_address("[host]").is_err());
        assert!(normalize_address("-host").is_err());
        assert!(normalize_address("host-").is_err());
        assert!(normalize_address("a..b").is_err());
        assert!(normalize_address(&"a".repeat(64)).is_err());
        assert!(normalize_address(&"a".repeat(63)).is_ok());
    }

    #[test]
    fn weights_and_ports() {
        assert_eq!(parse_weight("100").unwrap(), 100.0);
        assert_eq!(parse_weight("0").unwrap(), 0.0);
        assert_eq!(parse_weight("1.5").unwrap(), 1.5);
        for bad in ["", "x", "-1", "nan", "inf", "1,5"] {
            assert!(parse_weight(bad).is_err(), "{bad}");
        }
        assert_eq!(parse_port("0").unwrap(), 0);
        assert_eq!(parse_port("65535").unwrap(), 65535);
        for bad in ["", "65536", "-1", "+1", " 1", "1x"] {
            assert!(parse_port(bad).is_err(), "{bad}");
        }
    }
}
