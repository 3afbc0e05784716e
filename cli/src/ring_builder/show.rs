//! Text that swift-ring-builder prints, laid out the same way: device
//! strings, the summary's device table, the search table, durations.
//! Pure functions from values to strings, so the layout is unit-tested.

use std::fmt::Write as _;

use swirl_ring::Device;

/// An address as Swift prints it: IPv6 in brackets.
fn bracketed(ip: &str) -> String {
    if ip.contains(':') {
        format!("[{ip}]")
    } else {
        ip.to_string()
    }
}

/// `d<id>r<region>z<zone>-<ip>:<port>R<rip>:<rport>/<device>_"<meta>"`
/// (Swift's `format_device`): round-trips through a search value.
pub fn format_device(d: &Device) -> String {
    format!(
        "d{}r{}z{}-{}:{}R{}:{}/{}_\"{}\"",
        d.id,
        d.region,
        d.zone,
        bracketed(&d.ip),
        d.port,
        bracketed(&d.replication_ip),
        d.replication_port,
        d.device,
        d.meta
    )
}

/// A float as Python's `str()` prints it in Swift's messages ("1.0", "2.5").
pub fn py_float(v: f64) -> String {
    format!("{v:?}")
}

/// `datetime.timedelta(seconds=s)` as text: `H:MM:SS`, with days in front.
pub fn timedelta(secs: u64) -> String {
    let (days, rem) = (secs / 86_400, secs % 86_400);
    let hms = format!("{}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60);
    match days {
        0 => hms,
        1 => format!("1 day, {hms}"),
        n => format!("{n} days, {hms}"),
    }
}

/// One row of the summary's device table.
pub struct DevRow<'a> {
    pub dev: &'a Device,
    pub parts: u32,
    pub balance: f64,
    pub flags: &'static str,
}

/// The summary's device table: header and rows, columns widened to fit
/// (Swift's `_make_display_device_table`).
pub fn device_table(rows: &[DevRow<'_>]) -> String {
    let mut ip_w = 10;
    let mut port_w = 4;
    let mut rip_w = 14;
    let mut rport_w = 4;
    let mut weight_w = 6;
    let (mut ip6, mut rip6) = (false, false);
    for r in rows {
        let d = r.dev;
        ip6 |= d.ip.contains(':');
        rip6 |= d.replication_ip.contains(':');
        ip_w = ip_w.max(d.ip.len());
        rip_w = rip_w.max(d.replication_ip.len());
        port_w = port_w.max(d.port.to_string().len());
        rport_w = rport_w.max(d.replication_port.to_string().len());
        weight_w = weight_w.max(format!("{:6.2}", d.weight).len());
    }
    // Room for the brackets around IPv6 addresses.
    ip_w += 2 * usize::from(ip6);
    rip_w += 2 * usize::from(rip6);
    let mut out = format!(
        "Devices:{:>5} {:>6} {:>4} {:>ip_w$}:{:<port_w$} {:>rip_w$}:{:<rport_w$} {:>5} {:>weight_w$} {:>10} {:>7} {:>5} {}\n",
        "id", "region", "zone", "ip address", "port", "replication ip", "port", "name", "weight",
        "partitions", "balance", "flags", "meta"
    );
    for r in rows {
        let d = r.dev;
        let _ = writeln!(
            out,
            "{:>13} {:>6} {:>4} {:>ip_w$}:{:<port_w$} {:>rip_w$}:{:<rport_w$} {:>5} {:>weight_w$.2} {:>10} {:>7.2} {:>5} {}",
            d.id,
            d.region,
            d.zone,
            bracketed(&d.ip),
            d.port,
            bracketed(&d.replication_ip),
            d.replication_port,
            d.device,
            d.weight,
            r.parts,
            r.balance,
            r.flags,
            d.meta
        );
    }
    out
}

/// The `search` command's fixed-width table.
pub fn search_table(rows: &[DevRow<'_>]) -> String {
    let mut out = String::from(
        "Devices:    id  region  zone      ip address  port  replication ip  replication port      name weight partitions balance meta\n",
    );
    for r in rows {
        let d = r.dev;
        let _ = writeln!(
            out,
            "         {:>5} {:>7} {:>5} {:>15} {:>5} {:>15} {:>17} {:>9} {:>6.2} {:>10} {:>7.2} {}",
            d.id,
            d.region,
            d.zone,
            d.ip,
            d.port,
            d.replication_ip,
            d.replication_port,
            d.device,
            d.weight,
            r.parts,
            r.balance,
            d.meta
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: u32, ip: &str) -> Device {
        Device {
            id,
            region: 1,
            zone: id + 1,
            ip: ip.into(),
            port: 6200 + id as u16,
            replication_ip: ip.into(),
            replication_port: 6300,
            device: format!("sdb{id}"),
            weight: 1.0,
            meta: String::new(),
            ..Default::default()
        }
    }

    #[test]
    fn device_strings() {
        let mut d = dev(0, "127.0.0.1");
        assert_eq!(
            format_device(&d),
            "d0r1z1-127.0.0.1:6200R127.0.0.1:6300/sdb0_\"\""
        );
        d.ip = "::1".into();
        d.meta = "m".into();
        assert_eq!(
            format_device(&d),
            "d0r1z1-[::1]:6200R127.0.0.1:6300/sdb0_\"m\""
        );
    }

    #[test]
    fn python_like_numbers() {
        assert_eq!(py_float(1.0), "1.0");
        assert_eq!(py_float(2.5), "2.5");
        assert_eq!(py_float(100.0), "100.0");
        assert_eq!(timedelta(0), "0:00:00");
        assert_eq!(timedelta(3599), "0:59:59");
        assert_eq!(timedelta(86_400 + 61), "1 day, 0:01:01");
        assert_eq!(timedelta(2 * 86_400 + 3600), "2 days, 1:00:00");
    }

    /// Byte-for-byte what swift-ring-builder 2.30.1 printed for the SAIO ring.
    #[test]
    fn table_matches_swift_layout() {
        let devs: Vec<Device> = (0..2)
            .map(|i| dev(i, &format!("127.0.0.{}", i + 1)))
            .collect();
        let rows: Vec<DevRow> = devs
            .iter()
            .map(|d| DevRow {
                dev: d,
                parts: 768,
                balance: 0.0,
                flags: "",
            })
            .collect();
        let want = concat!(
            "Devices:   id region zone ip address:port replication ip:port  name weight partitions balance flags meta\n",
            "            0      1    1  127.0.0.1:6200      127.0.0.1:6300  sdb0   1.00        768    0.00       \n",
            "            1      1    2  127.0.0.2:6201      127.0.0.2:6300  sdb1   1.00        768    0.00       \n",
        );
        assert_eq!(device_table(&rows), want);
        let want = concat!(
            "Devices:    id  region  zone      ip address  port  replication ip  replication port      name weight partitions balance meta\n",
            "             1       1     2       127.0.0.2  6201       127.0.0.2              6300      sdb1   1.00        768    0.00 \n",
        );
        assert_eq!(search_table(&rows[1..]), want);
    }

    #[test]
    fn table_widens_for_ipv6() {
        let d = dev(3, "2001:db8::1234:5678");
        let rows = [DevRow {
            dev: &d,
            parts: 1,
            balance: -100.0,
            flags: "DEL",
        }];
        let t = device_table(&rows);
        let lines: Vec<&str> = t.lines().collect();
        assert!(lines[1].contains("[2001:db8::1234:5678]:6203"), "{t}");
        assert!(lines[1].contains("-100.00   DEL"), "{t}");
        assert_eq!(
            lines[0].find(":port").unwrap(),
            lines[1].find(":6203").unwrap()
        );
    }
}
