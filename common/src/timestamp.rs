//! Swift's `Timestamp`: seconds since the epoch at 10 µs precision plus an
//! optional 64-bit offset, with Swift's fixed-width string forms so that
//! string order equals time order (`swift/common/utils/timestamp.py`).

use std::cmp::Ordering;
use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

/// Units of 10 µs per second (Swift's PRECISION = 1e-5).
const RAW_PER_SEC: u64 = 100_000;
/// Swift refuses timestamps at or above 10^10 seconds.
const MAX_SECS: u64 = 10_000_000_000;

/// A Swift timestamp. Ordered by (time, offset), as Swift's `internal` strings sort.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Timestamp {
    /// Time in units of 10 µs since the epoch.
    raw: u64,
    /// Swift's offset: breaks ties between updates at the same instant.
    offset: u64,
}

/// Why a timestamp string was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TimestampError {
    #[error("invalid timestamp {0:?}")]
    Invalid(String),
    #[error("timestamp cannot be negative")]
    Negative,
    #[error("timestamp too large")]
    TooLarge,
}

impl Timestamp {
    /// From raw 10 µs units and an offset.
    pub fn from_raw(raw: u64, offset: u64) -> Result<Self, TimestampError> {
        if raw >= MAX_SECS * RAW_PER_SEC {
            return Err(TimestampError::TooLarge);
        }
        Ok(Timestamp { raw, offset })
    }

    /// From seconds as a float (rounded to 10 µs, as Swift rounds).
    pub fn from_secs_f64(secs: f64) -> Result<Self, TimestampError> {
        if !secs.is_finite() {
            return Err(TimestampError::Invalid(secs.to_string()));
        }
        if secs < 0.0 {
            return Err(TimestampError::Negative);
        }
        let raw = (secs * RAW_PER_SEC as f64).round();
        if raw >= (MAX_SECS * RAW_PER_SEC) as f64 {
            return Err(TimestampError::TooLarge);
        }
        Ok(Timestamp {
            raw: raw as u64,
            offset: 0,
        })
    }

    /// The current time from a clock value (callers pass `SystemTime::now()`).
    pub fn from_system_time(t: SystemTime) -> Self {
        let d = t.duration_since(UNIX_EPOCH).unwrap_or_default();
        let raw = d.as_secs() * RAW_PER_SEC + u64::from(d.subsec_nanos()) / 10_000;
        Timestamp {
            raw: raw.min(MAX_SECS * RAW_PER_SEC - 1),
            offset: 0,
        }
    }

    /// Now, from the system clock.
    pub fn now() -> Self {
        Self::from_system_time(SystemTime::now())
    }

    /// Parses any form Swift accepts: `1402464677.04188`, `1402464677`,
    /// `1402464677.04188_0000000000000001`, and float syntax such as `1.4e9`.
    pub fn parse(s: &str) -> Result<Self, TimestampError> {
        let s = s.trim();
        let (base, offset) = match s.split_once('_') {
            Some((b, o)) => {
                let off = u64::from_str_radix(o, 16)
                    .map_err(|_| TimestampError::Invalid(s.to_string()))?;
                (b, off)
            }
            None => (s, 0),
        };
        // Python's float() accepts these; Rust's parse would too but they are no time.
        if base.is_empty() || base.contains(['n', 'N', 'i', 'I', '_']) {
            return Err(TimestampError::Invalid(s.to_string()));
        }
        let secs: f64 = base
            .parse()
            .map_err(|_| TimestampError::Invalid(s.to_string()))?;
        let mut ts = Self::from_secs_f64(secs)?;
        ts.offset = offset;
        Ok(ts)
    }

    pub fn raw(&self) -> u64 {
        self.raw
    }

    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// The same instant with another offset.
    pub fn with_offset(self, offset: u64) -> Self {
        Timestamp { offset, ..self }
    }

    /// Whole seconds (truncated).
    pub fn secs(&self) -> u64 {
        self.raw / RAW_PER_SEC
    }

    pub fn as_f64(&self) -> f64 {
        self.raw as f64 / RAW_PER_SEC as f64
    }

    /// Seconds rounded up: Swift's `ceil()`, used for Last-Modified.
    pub fn ceil_secs(&self) -> u64 {
        self.raw.div_ceil(RAW_PER_SEC)
    }

    /// `%016.05f`: 16 characters, 5 decimals, e.g. `1402464677.04188`.
    pub fn normal(&self) -> String {
        format!(
            "{:010}.{:05}",
            self.raw / RAW_PER_SEC,
            self.raw % RAW_PER_SEC
        )
    }

    /// Swift's canonical form: `normal`, plus `_%016x` when the offset is set.
    pub fn internal(&self) -> String {
        if self.offset == 0 {
            self.normal()
        } else {
            format!("{}_{:016x}", self.normal(), self.offset)
        }
    }

    /// `1970-01-01T00:00:00.000000` (microseconds, no zone), as listings show `last_modified`.
    pub fn isoformat(&self) -> String {
        let secs = self.secs();
        let micros = (self.raw % RAW_PER_SEC) * 10;
        let (y, mo, d, h, mi, s) = civil_from_unix(secs);
        // Digits by hand: listings format one of these per row.
        let mut b = *b"0000-00-00T00:00:00.000000";
        let mut put = |at: usize, width: usize, mut v: u64| {
            for i in (at..at + width).rev() {
                b[i] = b'0' + (v % 10) as u8;
                v /= 10;
            }
        };
        put(0, 4, y);
        put(5, 2, mo);
        put(8, 2, d);
        put(11, 2, h);
        put(14, 2, mi);
        put(17, 2, s);
        put(20, 6, micros);
        b.iter().map(|&c| char::from(c)).collect()
    }

    /// RFC 7231 HTTP date of the rounded-up second (Swift's Last-Modified).
    pub fn http_date(&self) -> String {
        http_date(self.ceil_secs())
    }
}

/// Formats Unix seconds as an IMF-fixdate: `Sun, 06 Nov 1994 08:49:37 GMT`.
pub fn http_date(secs: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let (y, mo, d, h, mi, s) = civil_from_unix(secs);
    let wd = DAYS[((secs / 86_400) % 7) as usize];
    let mon = MONTHS[(mo - 1) as usize];
    format!("{wd}, {d:02} {mon} {y} {h:02}:{mi:02}:{s:02} GMT")
}

/// Parses an HTTP date (IMF-fixdate, RFC 850 or asctime) to Unix seconds.
pub fn parse_http_date(s: &str) -> Option<u64> {
    let s = s.trim();
    let month = |m: &str| -> Option<u64> {
        let names = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        names
            .iter()
            .position(|n| n.eq_ignore_ascii_case(m))
            .map(|i| i as u64 + 1)
    };
    let hms = |t: &str| -> Option<(u64, u64, u64)> {
        let mut it = t.split(':');
        let h = it.next()?.parse().ok()?;
        let m = it.next()?.parse().ok()?;
        let s = it.next()?.parse().ok()?;
        if it.next().is_some() || h > 23 || m > 59 || s > 60 {
            return None;
        }
        Some((h, m, s))
    };
    let parts: Vec<&str> = s.split_whitespace().collect();
    let (y, mo, d, (h, mi, sec)) = if parts.len() == 6 && parts[0].ends_with(',') {
        // Sun, 06 Nov 1994 08:49:37 GMT
        (
            parts[3].parse::<u64>().ok()?,
            month(parts[2])?,
            parts[1].parse::<u64>().ok()?,
            hms(parts[4])?,
        )
    } else if parts.len() == 4 && parts[0].ends_with(',') {
        // Sunday, 06-Nov-94 08:49:37 GMT
        let mut dmy = parts[1].split('-');
        let d = dmy.next()?.parse::<u64>().ok()?;
        let mo = month(dmy.next()?)?;
        let yy = dmy.next()?.parse::<u64>().ok()?;
        let y = if yy < 70 { 2000 + yy } else { 1900 + yy };
        (y, mo, d, hms(parts[2])?)
    } else if parts.len() == 5 {
        // Sun Nov  6 08:49:37 1994
        (
            parts[4].parse::<u64>().ok()?,
            month(parts[1])?,
            parts[2].parse::<u64>().ok()?,
            hms(parts[3])?,
        )
    } else {
        return None;
    };
    // Python's datetime (which Swift's swob parses into) ends at year 9999.
    if !(1..=31).contains(&d) || !(1970..=9999).contains(&y) {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + sec)
}

/// Howard Hinnant's days-from-civil, for dates from 1970 on.
fn days_from_civil(y: u64, m: u64, d: u64) -> u64 {
    let y = if m <= 2 { y - 1 } else { y } as i64;
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    (era * 146_097 + doe - 719_468).max(0) as u64
}

/// Unix seconds to (year, month, day, hour, minute, second) in UTC.
fn civil_from_unix(secs: u64) -> (u64, u64, u64, u64, u64, u64) {
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    (
        y as u64,
        m as u64,
        d as u64,
        rem / 3600,
        (rem % 3600) / 60,
        rem % 60,
    )
}

impl Ord for Timestamp {
    fn cmp(&self, other: &Self) -> Ordering {
        (self.raw, self.offset).cmp(&(other.raw, other.offset))
    }
}

impl PartialOrd for Timestamp {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl fmt::Display for Timestamp {
    /// Displays the internal form.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.internal())
    }
}

impl std::str::FromStr for Timestamp {
    type Err = TimestampError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Timestamp::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms_match_swift() {
        let t = Timestamp::parse("1402464677.04188").unwrap();
        assert_eq!(t.normal(), "1402464677.04188");
        assert_eq!(t.internal(), "1402464677.04188");
        let t = Timestamp::parse("1402464677.04188_0000000000000001").unwrap();
        assert_eq!(t.internal(), "1402464677.04188_0000000000000001");
        assert_eq!(t.normal(), "1402464677.04188");
        assert_eq!(
            Timestamp::parse("1").unwrap().internal(),
            "0000000001.00000"
        );
        assert_eq!(
            Timestamp::parse("0").unwrap().internal(),
            "0000000000.00000"
        );
        assert_eq!(
            Timestamp::parse("1.4e9").unwrap().internal(),
            "1400000000.00000"
        );
        // Rounded to 10 µs as Swift rounds.
        assert_eq!(
            Timestamp::parse("1402464677.041886").unwrap().internal(),
            "1402464677.04189"
        );
    }

    #[test]
    fn bad_values_are_refused() {
        for bad in ["", "abc", "-1", "nan", "inf", "1_zz", "10000000000", "1e10"] {
            assert!(Timestamp::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ordering_follows_internal_strings() {
        let a = Timestamp::parse("1402464677.04188").unwrap();
        let b = a.with_offset(1);
        let c = Timestamp::parse("1402464677.04189").unwrap();
        assert!(a < b && b < c);
        assert!(a.internal() < b.internal() && b.internal() < c.internal());
    }

    #[test]
    fn dates() {
        let t = Timestamp::parse("784111777.5").unwrap();
        assert_eq!(t.http_date(), "Sun, 06 Nov 1994 08:49:38 GMT");
        assert_eq!(t.isoformat(), "1994-11-06T08:49:37.500000");
        let edge = |s: &str| Timestamp::parse(s).unwrap().isoformat();
        assert_eq!(edge("0"), "1970-01-01T00:00:00.000000");
        assert_eq!(edge("9999999999.99999"), "2286-11-20T17:46:39.999990");
        assert_eq!(edge("1402464677.04188"), "2014-06-11T05:31:17.041880");
        assert_eq!(
            parse_http_date("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(
            parse_http_date("Sunday, 06-Nov-94 08:49:37 GMT"),
            Some(784111777)
        );
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 1994"), Some(784111777));
        assert_eq!(parse_http_date("yesterday"), None);
        // Found by fuzzing: a huge year overflowed the day count.
        assert_eq!(parse_http_date("Sun Nov  6 08:49:37 99999999999999"), None);
        assert_eq!(
            parse_http_date("Sun, 06 Nov 18446744073709551615 08:49:37 GMT"),
            None
        );
        assert_eq!(
            parse_http_date("Fri, 31 Dec 9999 23:59:59 GMT"),
            Some(253_402_300_799)
        );
        assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    }
}
