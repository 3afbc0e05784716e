//! Command-line options in optparse's style, as swift-ring-builder takes
//! them: `--name value`, `--name=value`, `-n value`, `-nvalue`, flags, and
//! options mixed freely with positional arguments (`--` ends options).
//!
//! Also the device options shared by add/search/set_*/remove
//! (`--region 1 --zone 2 --ip .. --port ..`), turned into a filter, a change
//! or a new device (Swift's `build_dev_from_opts` and friends).

use swirl_ring::search::{
    normalize_address, parse_port, parse_weight, validate_device_name, DevChange, DevFilter,
};
use swirl_ring::Device;

use super::{reason, Fail};

/// One option a command accepts.
pub struct Spec {
    pub short: Option<char>,
    pub long: &'static str,
    pub takes_value: bool,
}

const fn opt(short: char, long: &'static str) -> Spec {
    Spec {
        short: Some(short),
        long,
        takes_value: true,
    }
}

const fn flag(short: char, long: &'static str) -> Spec {
    Spec {
        short: Some(short),
        long,
        takes_value: false,
    }
}

/// Options as given, in order, by long name; and the positional arguments.
#[derive(Debug, Default, PartialEq)]
pub struct Parsed {
    pub opts: Vec<(&'static str, String)>,
    pub positional: Vec<String>,
}

impl Parsed {
    /// The last value given for `long` (optparse keeps the last).
    pub fn get(&self, long: &str) -> Option<&str> {
        self.opts
            .iter()
            .rev()
            .find(|(n, _)| *n == long)
            .map(|(_, v)| v.as_str())
    }

    pub fn has(&self, long: &str) -> bool {
        self.opts.iter().any(|(n, _)| *n == long)
    }
}

/// Splits `args` by `specs`; an unknown option or a missing value is an error.
pub fn parse(args: &[String], specs: &[Spec]) -> Result<Parsed, Fail> {
    let mut out = Parsed::default();
    let mut it = args.iter();
    while let Some(arg) = it.next() {
        if arg == "--" {
            out.positional.extend(it.by_ref().cloned());
            break;
        }
        let (spec, inline) = if let Some(body) = arg.strip_prefix("--") {
            let (name, inline) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (body, None),
            };
            let spec = specs
                .iter()
                .find(|s| s.long == name)
                .ok_or_else(|| Fail::new(format!("no such option: --{name}")))?;
            (spec, inline)
        } else if arg.len() > 1 && arg.starts_with('-') {
            let mut chars = arg[1..].chars();
            let c = chars.next().unwrap_or('-');
            let spec = specs
                .iter()
                .find(|s| s.short == Some(c))
                .ok_or_else(|| Fail::new(format!("no such option: -{c}")))?;
            let rest: String = chars.collect();
            if !spec.takes_value && !rest.is_empty() {
                // Bundled flags (-fy) are rare here; refuse rather than guess.
                return Err(Fail::new(format!(
                    "option -{c} takes no value (got {arg:?})"
                )));
            }
            (spec, (!rest.is_empty()).then_some(rest))
        } else {
            out.positional.push(arg.clone());
            continue;
        };
        let value = if spec.takes_value {
            match inline {
                Some(v) => v,
                None => it
                    .next()
                    .cloned()
                    .ok_or_else(|| Fail::new(format!("option --{} requires a value", spec.long)))?,
            }
        } else if inline.is_some() {
            return Err(Fail::new(format!("option --{} takes no value", spec.long)));
        } else {
            String::new()
        };
        out.opts.push((spec.long, value));
    }
    Ok(out)
}

/// Device options of add/search/list_parts/set_*/remove (Swift's `parse_args`).
pub const DEV_SPECS: &[Spec] = &[
    opt('u', "id"),
    opt('r', "region"),
    opt('z', "zone"),
    opt('i', "ip"),
    opt('p', "port"),
    opt('j', "replication-ip"),
    opt('q', "replication-port"),
    opt('d', "device"),
    opt('w', "weight"),
    opt('m', "meta"),
    opt('I', "change-ip"),
    opt('P', "change-port"),
    opt('J', "change-replication-ip"),
    opt('Q', "change-replication-port"),
    opt('D', "change-device"),
    opt('M', "change-meta"),
    flag('y', "yes"),
];

/// The device options, checked and normalised.
#[derive(Debug, Default, PartialEq)]
pub struct DevOpts {
    pub id: Option<u32>,
    pub region: Option<u32>,
    pub zone: Option<u32>,
    pub ip: Option<String>,
    pub port: Option<u16>,
    pub replication_ip: Option<String>,
    pub replication_port: Option<u16>,
    pub device: Option<String>,
    pub weight: Option<f64>,
    pub meta: Option<String>,
    pub change: DevChange,
    pub yes: bool,
    pub positional: Vec<String>,
}

fn int<T: std::str::FromStr>(p: &Parsed, long: &str) -> Result<Option<T>, Fail> {
    p.get(long)
        .map(|v| {
            v.parse()
                .map_err(|_| Fail::new(format!("option --{long}: invalid integer value: {v:?}")))
        })
        .transpose()
}

fn port(p: &Parsed, long: &str) -> Result<Option<u16>, Fail> {
    p.get(long)
        .map(|v| parse_port(v).map_err(|e| Fail::new(format!("option --{long}: {}", reason(&e)))))
        .transpose()
}

fn addr(p: &Parsed, long: &str) -> Result<Option<String>, Fail> {
    p.get(long)
        .map(|v| {
            normalize_address(v).map_err(|e| Fail::new(format!("option --{long}: {}", reason(&e))))
        })
        .transpose()
}

impl DevOpts {
    pub fn parse(args: &[String]) -> Result<DevOpts, Fail> {
        let p = parse(args, DEV_SPECS)?;
        let change = DevChange {
            ip: addr(&p, "change-ip")?,
            port: port(&p, "change-port")?,
            replication_ip: addr(&p, "change-replication-ip")?,
            replication_port: port(&p, "change-replication-port")?,
            device: p.get("change-device").map(str::to_string),
            meta: p.get("change-meta").map(str::to_string),
        };
        if let Some(name) = &change.device {
            validate_device_name(name)
                .map_err(|e| Fail::new(format!("option --change-device: {}", reason(&e))))?;
        }
        Ok(DevOpts {
            id: int(&p, "id")?,
            region: int(&p, "region")?,
            zone: int(&p, "zone")?,
            ip: addr(&p, "ip")?,
            port: port(&p, "port")?,
            replication_ip: addr(&p, "replication-ip")?,
            replication_port: port(&p, "replication-port")?,
            device: p.get("device").map(str::to_string),
            weight: p
                .get("weight")
                .map(|v| {
                    parse_weight(v)
                        .map_err(|e| Fail::new(format!("option --weight: {}", reason(&e))))
                })
                .transpose()?,
            meta: p.get("meta").map(str::to_string),
            change,
            yes: p.has("yes"),
            positional: p.positional,
        })
    }

    /// Whether any device option was given: the command then takes the
    /// option form instead of search values (Swift's `new_cmd_format`).
    pub fn option_form(&self) -> bool {
        self.id.is_some()
            || self.region.is_some()
            || self.zone.is_some()
            || self.ip.is_some()
            || self.port.is_some()
            || self.replication_ip.is_some()
            || self.replication_port.is_some()
            || self.device.is_some()
            || self.weight.is_some()
            || self.meta.is_some()
    }

    /// The devices the options select. Unlike Swift, which skips options
    /// whose value is zero or empty (`--zone 0` matches every zone there), a
    /// given option always filters.
    pub fn filter(&self) -> DevFilter {
        DevFilter {
            id: self.id,
            region: self.region,
            zone: self.zone,
            ip: self.ip.clone(),
            port: self.port,
            replication_ip: self.replication_ip.clone(),
            replication_port: self.replication_port,
            device: self.device.clone(),
            meta: self.meta.clone(),
            weight: self.weight,
        }
    }

    /// The device `add --region .. --zone .. --ip .. --port .. --device .. --weight ..` describes.
    pub fn new_device(&self) -> Result<Device, Fail> {
        let need = |present: bool, name: &str| {
            if present {
                Ok(())
            } else {
                Err(Fail::new(format!(
                    "required argument --{name} not specified"
                )))
            }
        };
        need(self.region.is_some(), "region")?;
        need(self.zone.is_some(), "zone")?;
        need(self.ip.is_some(), "ip")?;
        need(self.port.is_some(), "port")?;
        need(self.device.is_some(), "device")?;
        need(self.weight.is_some(), "weight")?;
        let device = self.device.clone().unwrap_or_default();
        validate_device_name(&device)
            .map_err(|e| Fail::new(format!("option --device: {}", reason(&e))))?;
        let ip = self.ip.clone().unwrap_or_default();
        let port = self.port.unwrap_or_default();
        Ok(Device {
            region: self.region.unwrap_or_default(),
            zone: self.zone.unwrap_or_default(),
            replication_ip: self.replication_ip.clone().unwrap_or_else(|| ip.clone()),
            replication_port: self.replication_port.unwrap_or(port),
            ip,
            port,
            device,
            weight: self.weight.unwrap_or_default(),
            meta: self.meta.clone().unwrap_or_default(),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    #[test]
    fn long_short_inline_and_positional() {
        let specs = [opt('s', "seed"), flag('f', "force")];
        let p = parse(&args("a --seed 3 -f b --seed=4 -s5 -- -x"), &specs).unwrap();
        assert_eq!(p.positional, args("a b -x"));
        assert_eq!(p.get("seed"), Some("5"));
        assert!(p.has("force"));
        assert!(!p.has("nope"));
    }

    #[test]
    fn option_errors() {
        let specs = [opt('s', "seed"), flag('f', "force")];
        for bad in ["--bogus", "-x", "-1", "--seed", "-s", "--force=1", "-fx"] {
            let e = parse(&args(bad), &specs).unwrap_err();
            assert!(!e.0.is_empty(), "{bad}");
        }
        // A lone dash is a positional argument, as in optparse.
        assert_eq!(parse(&args("-"), &specs).unwrap().positional, args("-"));
    }

    #[test]
    fn add_by_options() {
        let o = DevOpts::parse(&args(
            "--region 2 --zone 3 --ip Host.Example --port 6200 --replication-port 6300 --device sdb1 --weight 100 --meta m",
        ))
        .unwrap();
        assert!(o.option_form());
        let d = o.new_device().unwrap();
        assert_eq!(
            (d.region, d.zone, d.port, d.replication_port),
            (2, 3, 6200, 6300)
        );
        assert_eq!(d.ip, "host.example");
        assert_eq!(d.replication_ip, "host.example");
        assert_eq!(
            (d.device.as_str(), d.weight, d.meta.as_str()),
            ("sdb1", 100.0, "m")
        );
    }

    #[test]
    fn add_by_options_needs_everything() {
        let o = DevOpts::parse(&args("-r 1 -z 1 -i 1.2.3.4 -p 6200 -d sdb")).unwrap();
        let e = o.new_device().unwrap_err();
        assert!(e.0.contains("--weight"), "{}", e.0);
        let o = DevOpts::parse(&args("-r 1 -z 1 -i 1.2.3.4 -p 6200 -w 1")).unwrap();
        assert!(o.new_device().unwrap_err().0.contains("--device"));
    }

    #[test]
    fn bad_option_values() {
        for bad in [
            "--zone x",
            "--port 70000",
            "--ip not_a_host",
            "--weight -3",
            "--weight abc",
            "--id -1",
            "--change-port y",
            "--change-ip [zz]",
        ] {
            assert!(DevOpts::parse(&args(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn filter_and_change() {
        let o = DevOpts::parse(&args(
            "--ip [::1] --zone 0 --change-ip 10.0.0.1 --change-port 7000 -y",
        ))
        .unwrap();
        let f = o.filter();
        assert_eq!(f.ip.as_deref(), Some("::1"));
        assert_eq!(f.zone, Some(0));
        assert_eq!(o.change.ip.as_deref(), Some("10.0.0.1"));
        assert_eq!(o.change.port, Some(7000));
        assert!(o.yes);
        assert!(!DevOpts::parse(&args("d1 --yes")).unwrap().option_form());
    }
}
