//! The builder file: our own versioned format, gzip-wrapped.
//!
//! Swift pickles its builder; we do not read or write pickles. Inside the gzip
//! stream is a JSON object carrying `"format": "swirl-ring-builder"`, a
//! `format_version` and the builder's settings and devices.
//!
//! - Version 2 (written now): the JSON object is one line, and the tables
//!   follow it as raw bytes: each replica row of `replica2part2dev` (lengths in
//!   `row_lengths`) as little-endian ids of `dev_id_bytes` (1, 2 or 4) bytes,
//!   then `last_part_moves` (one byte per partition). The gzip stream is
//!   stored, not compressed: device ids are close to random, so deflate would
//!   save little and cost more than the rebalance itself at part power 18;
//!   the gzip CRC still catches a damaged file.
//! - Version 1 (still read): the tables are hex strings inside the JSON.
//!
//! Loading checks every invariant the builder relies on, so a damaged file is
//! an error, never a panic later. Writing the file atomically is the caller's
//! job (bytes in, bytes out).

use std::io::{Read, Write};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;
use flate2::Compression;
use serde::{Deserialize, Serialize};

use crate::builder::{RingBuilder, MAX_PART_POWER};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::ring_data::NONE_DEV;

const FORMAT: &str = "swirl-ring-builder";
/// The version [`to_bytes`] writes.
const FORMAT_VERSION: u32 = 2;

/// The JSON object of either version; the `v1`/`v2` fields say where the
/// tables are.
#[derive(Serialize, Deserialize)]
struct Meta {
    format: String,
    format_version: u32,
    part_power: u32,
    next_part_power: Option<u32>,
    replicas: f64,
    min_part_hours: u32,
    overload: f64,
    /// The builder's change counter (Swift's `version`).
    version: u64,
    id: Option<String>,
    devs: Vec<Option<Device>>,
    devs_changed: bool,
    remove_devs: Vec<u32>,
    /// Bytes per device id in `replica2part2dev`.
    dev_id_bytes: u8,
    /// v1: the rows as hex strings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    replica2part2dev: Option<Vec<String>>,
    /// v1: `last_part_moves` as a hex string.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_part_moves: Option<String>,
    /// v2: entries in each binary row.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    row_lengths: Option<Vec<usize>>,
    /// v2: bytes of `last_part_moves` after the rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    last_part_moves_len: Option<usize>,
    last_part_moves_epoch: u64,
    last_part_gather_start: u32,
    dispersion: f64,
}

/// Serialises a builder (format version 2).
pub fn to_bytes(b: &RingBuilder) -> Result<Vec<u8>> {
    let max_id = b.devs.len().saturating_sub(1);
    // All-ones is kept free at every width to stand for NONE_DEV.
    let dev_id_bytes: u8 = match max_id {
        0..=0xfe => 1,
        0xff..=0xfffe => 2,
        _ => 4,
    };
    let meta = Meta {
        format: FORMAT.into(),
        format_version: FORMAT_VERSION,
        part_power: b.part_power,
        next_part_power: b.next_part_power,
        replicas: b.replicas,
        min_part_hours: b.min_part_hours,
        overload: b.overload,
        version: b.version,
        id: b.id.clone(),
        devs: b.devs.clone(),
        devs_changed: b.devs_changed,
        remove_devs: b.remove_devs.clone(),
        dev_id_bytes,
        replica2part2dev: None,
        last_part_moves: None,
        row_lengths: Some(b.replica2part2dev.iter().map(Vec::len).collect()),
        last_part_moves_len: Some(b.last_part_moves.len()),
        last_part_moves_epoch: b.last_part_moves_epoch,
        last_part_gather_start: b.last_part_gather_start,
        dispersion: b.dispersion,
    };
    let w = usize::from(dev_id_bytes);
    let table_len: usize = b.replica2part2dev.iter().map(|r| r.len() * w).sum();
    // Compact JSON escapes control characters, so the header holds no raw
    // newline and the first b'\n' ends it.
    let mut raw = serde_json::to_vec(&meta)?;
    raw.reserve(1 + table_len + b.last_part_moves.len());
    raw.push(b'\n');
    for row in &b.replica2part2dev {
        put_ids(&mut raw, row, dev_id_bytes);
    }
    raw.extend_from_slice(&b.last_part_moves);
    let mut gz = GzEncoder::new(
        Vec::with_capacity(raw.len() + raw.len() / 1000 + 64),
        Compression::none(),
    );
    gz.write_all(&raw)?;
    Ok(gz.finish()?)
}

/// Parses and checks a builder file (gzip or plain, version 1 or 2).
pub fn from_bytes(bytes: &[u8]) -> Result<RingBuilder> {
    let unzipped;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("not a valid gzip stream: {e}")))?;
        unzipped = out;
        &unzipped[..]
    } else {
        bytes
    };
    // Version 2 ends its JSON at the first newline; version 1 is JSON alone
    // (and may be pretty-printed), so a header that does not parse on its
    // own is retried as the whole text.
    let (header, rest) = match raw.iter().position(|&c| c == b'\n') {
        Some(nl) => (&raw[..nl], &raw[nl + 1..]),
        None => (raw, &raw[raw.len()..]),
    };
    let (meta, rest): (Meta, &[u8]) = match serde_json::from_slice(header) {
        Ok(m) => (m, rest),
        Err(first) => match serde_json::from_slice(raw) {
            Ok(m) => (m, &raw[raw.len()..]),
            Err(_) => return Err(bad(format!("not a swirl builder file ({first})"))),
        },
    };
    if meta.format != FORMAT {
        return Err(bad(format!("unknown format {:?}", meta.format)));
    }
    let (table, moves) = match meta.format_version {
        1 => tables_v1(&meta)?,
        2 => tables_v2(&meta, rest)?,
        v => {
            return Err(bad(format!(
                "format_version {v} is not supported (this swirl reads 1 and {FORMAT_VERSION})"
            )))
        }
    };
    build(meta, table, moves)
}

/// Version 1: hex strings inside the JSON.
fn tables_v1(meta: &Meta) -> Result<(Vec<Vec<u32>>, Vec<u8>)> {
    if meta.dev_id_bytes != 2 && meta.dev_id_bytes != 4 {
        return Err(bad(format!(
            "dev_id_bytes {} unsupported",
            meta.dev_id_bytes
        )));
    }
    let rows = meta
        .replica2part2dev
        .as_ref()
        .ok_or_else(|| bad("replica2part2dev missing".into()))?;
    let mut table = Vec::with_capacity(rows.len());
    for (r, hex) in rows.iter().enumerate() {
        let bytes =
            hex_decode(hex).ok_or_else(|| bad(format!("replica row {r} is not valid hex")))?;
        let row = ids_from(&bytes, meta.dev_id_bytes)
            .ok_or_else(|| bad(format!("replica row {r} is not valid hex")))?;
        table.push(row);
    }
    let moves = hex_decode(meta.last_part_moves.as_deref().unwrap_or(""))
        .ok_or_else(|| bad("last_part_moves is not valid hex".into()))?;
    Ok((table, moves))
}

/// Version 2: binary rows and moves after the JSON line, sizes from the JSON.
fn tables_v2(meta: &Meta, mut rest: &[u8]) -> Result<(Vec<Vec<u32>>, Vec<u8>)> {
    if ![1, 2, 4].contains(&meta.dev_id_bytes) {
        return Err(bad(format!(
            "dev_id_bytes {} unsupported",
            meta.dev_id_bytes
        )));
    }
    let w = usize::from(meta.dev_id_bytes);
    let lengths = meta
        .row_lengths
        .as_ref()
        .ok_or_else(|| bad("row_lengths missing".into()))?;
    let mut table = Vec::with_capacity(lengths.len());
    for (r, &len) in lengths.iter().enumerate() {
        let n = len
            .checked_mul(w)
            .filter(|&n| n <= rest.len())
            .ok_or_else(|| bad(format!("replica row {r} is cut short")))?;
        let (row, tail) = rest.split_at(n);
        table.push(ids_from(row, meta.dev_id_bytes).unwrap_or_default());
        rest = tail;
    }
    let moves_len = meta.last_part_moves_len.unwrap_or(0);
    if rest.len() != moves_len {
        return Err(bad(format!(
            "{} bytes after the replica rows, expected {moves_len} of last_part_moves",
            rest.len()
        )));
    }
    Ok((table, rest.to_vec()))
}

/// The builder from a parsed file, with every invariant checked.
fn build(meta: Meta, table: Vec<Vec<u32>>, moves: Vec<u8>) -> Result<RingBuilder> {
    if meta.part_power > MAX_PART_POWER {
        return Err(bad(format!("part_power {} out of range", meta.part_power)));
    }
    let mut b = RingBuilder::new(meta.part_power, meta.replicas, meta.min_part_hours)
        .map_err(|e| bad(e.to_string()))?;
    b.set_overload(meta.overload)
        .map_err(|e| bad(e.to_string()))?;
    b.next_part_power = meta.next_part_power;
    b.version = meta.version;
    if let Some(id) = meta.id {
        b.set_id(id).map_err(|e| bad(e.to_string()))?;
    }
    for (i, d) in meta.devs.iter().enumerate() {
        if let Some(d) = d {
            if d.id as usize != i {
                return Err(bad(format!("device at index {i} has id {}", d.id)));
            }
            if !d.weight.is_finite() || d.weight < 0.0 {
                return Err(bad(format!("device {i} has weight {}", d.weight)));
            }
        }
    }
    b.devs = meta.devs;
    b.dev_parts = vec![0; b.devs.len()];
    b.devs_changed = meta.devs_changed;
    for &id in &meta.remove_devs {
        if b.devs.get(id as usize).and_then(Option::as_ref).is_none() {
            return Err(bad(format!(
                "device {id} is marked for removal but missing"
            )));
        }
    }
    b.remove_devs = meta.remove_devs;
    let parts = b.parts() as usize;
    for (r, row) in table.iter().enumerate() {
        if row.len() > parts {
            return Err(bad(format!("replica row {r} is longer than {parts} parts")));
        }
        for &d in row {
            match b.dev_parts.get_mut(d as usize) {
                Some(n) if b.devs[d as usize].is_some() => *n += 1,
                _ => return Err(bad(format!("replica row {r} names unknown device {d}"))),
            }
        }
    }
    // After set_replicas the saved table keeps its old shape until the next
    // rebalance resizes it (as Swift's does), so a table sized for other replicas
    // is checked for structure only; one of the current shape gets full validation.
    let whole = b.replicas.floor() as usize;
    let frac_len = (parts as f64 * b.replicas.fract()) as usize;
    let shape_now: Vec<usize> = (0..whole)
        .map(|_| parts)
        .chain((frac_len > 0).then_some(frac_len))
        .collect();
    let shape_saved: Vec<usize> = table.iter().map(Vec::len).collect();
    if let Some((r, _)) = shape_saved
        .iter()
        .enumerate()
        .take(shape_saved.len().saturating_sub(1))
        .find(|(_, &len)| len != parts)
    {
        return Err(bad(format!(
            "replica row {r} has {} entries for {parts} parts",
            shape_saved[r]
        )));
    }
    b.replica2part2dev = table;
    if !b.replica2part2dev.is_empty() && shape_saved == shape_now {
        b.validate().map_err(|e| bad(e.to_string()))?;
    }
    if !moves.is_empty() && moves.len() != parts {
        return Err(bad(format!(
            "last_part_moves has {} entries for {parts} parts",
            moves.len()
        )));
    }
    b.last_part_moves = moves;
    b.last_part_moves_epoch = meta.last_part_moves_epoch;
    b.last_part_gather_start = meta.last_part_gather_start % b.parts().max(1);
    b.dispersion = if meta.dispersion.is_finite() {
        meta.dispersion
    } else {
        0.0
    };
    Ok(b)
}

fn bad(msg: String) -> Error {
    Error::Builder(format!("invalid builder file: {msg}"))
}

/// Appends `row` as little-endian ids of `width` bytes; NONE_DEV (never in a
/// saved table, since rebalance fills every slot, but representable) as all-ones.
fn put_ids(out: &mut Vec<u8>, row: &[u32], width: u8) {
    match width {
        1 => out.extend(
            row.iter()
                .map(|&d| if d == NONE_DEV { 0xff } else { d as u8 }),
        ),
        2 => {
            for &d in row {
                let v = if d == NONE_DEV { 0xffff } else { d as u16 };
                out.extend_from_slice(&v.to_le_bytes());
            }
        }
        _ => {
            for &d in row {
                out.extend_from_slice(&d.to_le_bytes());
            }
        }
    }
}

/// Ids of `width` little-endian bytes; all-ones reads as NONE_DEV at widths
/// 1 and 2 (the loader then rejects it as naming no device). `None` if the
/// bytes do not divide into ids.
fn ids_from(bytes: &[u8], width: u8) -> Option<Vec<u32>> {
    let w = usize::from(width);
    if w == 0 || !bytes.len().is_multiple_of(w) {
        return None;
    }
    Some(match width {
        1 => bytes
            .iter()
            .map(|&b| if b == 0xff { NONE_DEV } else { u32::from(b) })
            .collect(),
        2 => bytes
            .chunks_exact(2)
            .map(|c| match u16::from_le_bytes([c[0], c[1]]) {
                0xffff => NONE_DEV,
                v => u32::from(v),
            })
            .collect(),
        _ => bytes
            .chunks_exact(w)
            .map(|c| {
                let mut le = [0u8; 4];
                le[..w.min(4)].copy_from_slice(&c[..w.min(4)]);
                u32::from_le_bytes(le)
            })
            .collect(),
    })
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    fn nibble(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let s = s.as_bytes();
    if !s.len().is_multiple_of(2) {
        return None;
    }
    s.chunks_exact(2)
        .map(|p| Some(nibble(p[0])? << 4 | nibble(p[1])?))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand_chacha::ChaCha8Rng;

    fn built() -> RingBuilder {
        let mut b = RingBuilder::new(6, 3.0, 1).unwrap();
        for i in 0..6u32 {
            b.add_dev(
                Device {
                    region: 1,
                    zone: i % 3,
                    ip: format!("10.0.0.{i}"),
                    port: 6200,
                    device: "sda".into(),
                    weight: 100.0,
                    ..Default::default()
                },
                None,
            )
            .unwrap();
        }
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        b.new_id(&mut rng);
        b.rebalance(&mut rng, 1_700_000_000, &mut |_| {}).unwrap();
        b
    }

    fn hex_encode(bytes: &[u8]) -> String {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut s = String::with_capacity(bytes.len() * 2);
        for &b in bytes {
            s.push(char::from(DIGITS[usize::from(b >> 4)]));
            s.push(char::from(DIGITS[usize::from(b & 0xf)]));
        }
        s
    }

    /// The version 1 writer as it shipped: the tables as hex inside the JSON.
    fn v1_json(b: &RingBuilder) -> serde_json::Value {
        let width: u8 = if b.devs.len().saturating_sub(1) > 0xfffe {
            4
        } else {
            2
        };
        let rows: Vec<String> = b
            .replica2part2dev
            .iter()
            .map(|row| {
                let mut bytes = Vec::new();
                for &d in row {
                    bytes.extend_from_slice(&d.to_le_bytes()[..usize::from(width)]);
                }
                hex_encode(&bytes)
            })
            .collect();
        serde_json::json!({
            "format": FORMAT, "format_version": 1, "part_power": b.part_power,
            "next_part_power": b.next_part_power, "replicas": b.replicas,
            "min_part_hours": b.min_part_hours, "overload": b.overload, "version": b.version,
            "id": b.id, "devs": b.devs, "devs_changed": b.devs_changed,
            "remove_devs": b.remove_devs, "dev_id_bytes": width, "replica2part2dev": rows,
            "last_part_moves": hex_encode(&b.last_part_moves),
            "last_part_moves_epoch": b.last_part_moves_epoch,
            "last_part_gather_start": b.last_part_gather_start, "dispersion": b.dispersion,
        })
    }

    fn gunzip(bytes: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzDecoder::new(bytes).read_to_end(&mut out).unwrap();
        out
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
        gz.write_all(bytes).unwrap();
        gz.finish().unwrap()
    }

    #[test]
    fn round_trips() {
        let b = built();
        let bytes = to_bytes(&b).unwrap();
        let back = from_bytes(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.id().len(), 32);
        // An unrebalanced builder (no tables) too.
        let fresh = RingBuilder::new(10, 3.0, 1).unwrap();
        assert_eq!(from_bytes(&to_bytes(&fresh).unwrap()).unwrap(), fresh);
    }

    #[test]
    fn writes_version_2_with_one_byte_ids() {
        let b = built();
        let raw = gunzip(&to_bytes(&b).unwrap());
        let nl = raw.iter().position(|&c| c == b'\n').unwrap();
        let meta: serde_json::Value = serde_json::from_slice(&raw[..nl]).unwrap();
        assert_eq!(meta["format_version"], 2);
        assert_eq!(meta["dev_id_bytes"], 1);
        assert_eq!(raw.len() - nl - 1, 3 * 64 + 64);
        assert_eq!(
            &raw[nl + 1..nl + 65],
            &b.replica2part2dev[0]
                .iter()
                .map(|&d| d as u8)
                .collect::<Vec<_>>()[..]
        );
    }

    #[test]
    fn reads_plain_too() {
        let b = built();
        let raw = gunzip(&to_bytes(&b).unwrap());
        assert_eq!(from_bytes(&raw).unwrap(), b);
    }

    /// A file written by swirl before version 2 (`swirl ring-builder v1.builder
    /// create 6 3 1`, six `add`s, `rebalance --seed 3`, `set_weight d4 80`).
    #[test]
    fn loads_a_version_1_file_written_by_an_older_swirl() {
        let b = from_bytes(include_bytes!("../testdata/v1.builder")).unwrap();
        assert_eq!(b.part_power(), 6);
        assert_eq!(b.version(), 8);
        assert_eq!(b.id(), "24cb3e0ad58b4b0db0622e4d9cd2ae38");
        assert_eq!(b.devs().iter().flatten().count(), 6);
        assert_eq!(b.devs()[4].as_ref().unwrap().weight, 80.0);
        assert!(b.devs_changed());
        assert_eq!(b.dev_parts(4), 18);
        assert_eq!(b.dev_parts(0), 35);
        b.validate().unwrap();
        // Saved again it becomes version 2 and loads back the same.
        assert_eq!(from_bytes(&to_bytes(&b).unwrap()).unwrap(), b);
    }

    #[test]
    fn loads_version_1_json() {
        let b = built();
        let text = v1_json(&b).to_string();
        assert_eq!(from_bytes(text.as_bytes()).unwrap(), b);
        assert_eq!(from_bytes(&gzip(text.as_bytes())).unwrap(), b);
        let pretty = serde_json::to_string_pretty(&v1_json(&b)).unwrap();
        assert_eq!(from_bytes(pretty.as_bytes()).unwrap(), b);
    }

    #[test]
    fn rejects_version_1_damage_with_errors() {
        assert!(from_bytes(b"").is_err());
        assert!(from_bytes(b"\x1f\x8b garbage").is_err());
        assert!(from_bytes(b"{\"format\":\"x\"}").is_err());
        let b = built();
        // A row pointing at a device that does not exist.
        let mut v = v1_json(&b);
        v["replica2part2dev"][0] = serde_json::Value::String("6300".repeat(64));
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
        // A short row.
        let mut v = v1_json(&b);
        v["replica2part2dev"][1] = serde_json::Value::String("0000".into());
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
        // Odd-length hex and a future version.
        let mut v = v1_json(&b);
        v["last_part_moves"] = serde_json::Value::String("abc".into());
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
        let mut v = v1_json(&b);
        v["format_version"] = serde_json::json!(3);
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
    }

    #[test]
    fn rejects_version_2_damage_with_errors() {
        let b = built();
        let good = gunzip(&to_bytes(&b).unwrap());
        let nl = good.iter().position(|&c| c == b'\n').unwrap();
        let with_meta = |f: &dyn Fn(&mut serde_json::Value)| {
            let mut meta: serde_json::Value = serde_json::from_slice(&good[..nl]).unwrap();
            f(&mut meta);
            let mut out = meta.to_string().into_bytes();
            out.extend_from_slice(&good[nl..]);
            out
        };
        assert!(from_bytes(&with_meta(&|_| {})).is_ok());
        // Cut short, or trailing bytes.
        assert!(from_bytes(&good[..good.len() - 1]).is_err());
        assert!(from_bytes(&good[..nl + 10]).is_err());
        let mut longer = good.clone();
        longer.push(0);
        assert!(from_bytes(&longer).is_err());
        // A device id that does not exist.
        let mut bad_id = good.clone();
        bad_id[nl + 1] = 9;
        assert!(from_bytes(&bad_id).is_err());
        let mut none_id = good.clone();
        none_id[nl + 1] = 0xff;
        assert!(from_bytes(&none_id).is_err());
        // Sizes that do not fit the data, an odd id width, a future version.
        assert!(from_bytes(&with_meta(&|m| m["row_lengths"][0] = 63.into())).is_err());
        assert!(from_bytes(&with_meta(&|m| m["row_lengths"] = serde_json::Value::Null)).is_err());
        assert!(from_bytes(&with_meta(&|m| m["dev_id_bytes"] = 3.into())).is_err());
        assert!(from_bytes(&with_meta(&|m| m["format_version"] = 3.into())).is_err());
        // A flipped bit inside the gzip stream fails its CRC.
        let mut gz = to_bytes(&b).unwrap();
        let at = gz.len() - 100;
        gz[at] ^= 0x10;
        assert!(from_bytes(&gz).is_err());
    }

    #[test]
    fn id_widths() {
        let row = [0, 1, 254, NONE_DEV];
        for w in [1u8, 2, 4] {
            let mut out = Vec::new();
            put_ids(&mut out, &row, w);
            assert_eq!(out.len(), 4 * usize::from(w));
            assert_eq!(ids_from(&out, w).unwrap(), row);
        }
        assert_eq!(ids_from(&[1, 0, 0], 2), None);
    }
}
