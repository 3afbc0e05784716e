//! The builder file: our own versioned format (gzip-compressed JSON).
//!
//! Swift pickles its builder; we do not read or write pickles. The JSON object carries
//! `"format": "swirl-ring-builder"` and `"format_version": 1`; the big tables are hex
//! strings of little-endian integers (2 or 4 bytes per device id, 1 byte per hour) so a
//! part power 20 builder stays a few megabytes. Loading checks every invariant the
//! builder relies on, so a damaged file is an error, never a panic later.
//! Writing the file atomically is the caller's job (bytes in, bytes out).

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
const FORMAT_VERSION: u32 = 1;

#[derive(Serialize, Deserialize)]
struct FileV1 {
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
    replica2part2dev: Vec<String>,
    last_part_moves: String,
    last_part_moves_epoch: u64,
    last_part_gather_start: u32,
    dispersion: f64,
}

/// Serialises a builder.
pub fn to_bytes(b: &RingBuilder) -> Result<Vec<u8>> {
    let max_id = b.devs.len().saturating_sub(1);
    let dev_id_bytes: u8 = if max_id > 0xfffe { 4 } else { 2 };
    let file = FileV1 {
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
        replica2part2dev: b
            .replica2part2dev
            .iter()
            .map(|row| encode_ids(row, dev_id_bytes))
            .collect(),
        last_part_moves: hex_encode(&b.last_part_moves),
        last_part_moves_epoch: b.last_part_moves_epoch,
        last_part_gather_start: b.last_part_gather_start,
        dispersion: b.dispersion,
    };
    let json = serde_json::to_vec(&file)?;
    let mut gz = GzEncoder::new(Vec::new(), Compression::fast());
    gz.write_all(&json)?;
    Ok(gz.finish()?)
}

/// Parses and checks a builder file (gzip or plain JSON).
pub fn from_bytes(bytes: &[u8]) -> Result<RingBuilder> {
    let json;
    let raw = if bytes.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::new();
        GzDecoder::new(bytes)
            .read_to_end(&mut out)
            .map_err(|e| bad(format!("not a valid gzip stream: {e}")))?;
        json = out;
        &json[..]
    } else {
        bytes
    };
    let file: FileV1 =
        serde_json::from_slice(raw).map_err(|e| bad(format!("not a swirl builder file ({e})")))?;
    if file.format != FORMAT {
        return Err(bad(format!("unknown format {:?}", file.format)));
    }
    if file.format_version != FORMAT_VERSION {
        return Err(bad(format!(
            "format_version {} is not supported (this swirl reads {FORMAT_VERSION})",
            file.format_version
        )));
    }
    if file.part_power > MAX_PART_POWER {
        return Err(bad(format!("part_power {} out of range", file.part_power)));
    }
    let mut b = RingBuilder::new(file.part_power, file.replicas, file.min_part_hours)
        .map_err(|e| bad(e.to_string()))?;
    b.set_overload(file.overload)
        .map_err(|e| bad(e.to_string()))?;
    b.next_part_power = file.next_part_power;
    b.version = file.version;
    if let Some(id) = file.id {
        b.set_id(id).map_err(|e| bad(e.to_string()))?;
    }
    for (i, d) in file.devs.iter().enumerate() {
        if let Some(d) = d {
            if d.id as usize != i {
                return Err(bad(format!("device at index {i} has id {}", d.id)));
            }
            if !d.weight.is_finite() || d.weight < 0.0 {
                return Err(bad(format!("device {i} has weight {}", d.weight)));
            }
        }
    }
    b.devs = file.devs;
    b.dev_parts = vec![0; b.devs.len()];
    b.devs_changed = file.devs_changed;
    for &id in &file.remove_devs {
        if b.devs.get(id as usize).and_then(Option::as_ref).is_none() {
            return Err(bad(format!(
                "device {id} is marked for removal but missing"
            )));
        }
    }
    b.remove_devs = file.remove_devs;
    if file.dev_id_bytes != 2 && file.dev_id_bytes != 4 {
        return Err(bad(format!(
            "dev_id_bytes {} unsupported",
            file.dev_id_bytes
        )));
    }
    let parts = b.parts() as usize;
    let mut table = Vec::with_capacity(file.replica2part2dev.len());
    for (r, hex) in file.replica2part2dev.iter().enumerate() {
        let row = decode_ids(hex, file.dev_id_bytes)
            .ok_or_else(|| bad(format!("replica row {r} is not valid hex")))?;
        if row.len() > parts {
            return Err(bad(format!("replica row {r} is longer than {parts} parts")));
        }
        for &d in &row {
            match b.dev_parts.get_mut(d as usize) {
                Some(n) if b.devs[d as usize].is_some() => *n += 1,
                _ => return Err(bad(format!("replica row {r} names unknown device {d}"))),
            }
        }
        table.push(row);
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
    let moves = hex_decode(&file.last_part_moves)
        .ok_or_else(|| bad("last_part_moves is not valid hex".into()))?;
    if !moves.is_empty() && moves.len() != parts {
        return Err(bad(format!(
            "last_part_moves has {} entries for {parts} parts",
            moves.len()
        )));
    }
    b.last_part_moves = moves;
    b.last_part_moves_epoch = file.last_part_moves_epoch;
    b.last_part_gather_start = file.last_part_gather_start % b.parts().max(1);
    b.dispersion = if file.dispersion.is_finite() {
        file.dispersion
    } else {
        0.0
    };
    Ok(b)
}

fn bad(msg: String) -> Error {
    Error::Builder(format!("invalid builder file: {msg}"))
}

fn encode_ids(row: &[u32], width: u8) -> String {
    let mut bytes = Vec::with_capacity(row.len() * usize::from(width));
    for &d in row {
        let le = d.to_le_bytes();
        // NONE_DEV never reaches a saved table (rebalance fills every slot), but keep it
        // representable: all-ones at either width.
        let le = if d == NONE_DEV { [0xff; 4] } else { le };
        bytes.extend_from_slice(&le[..usize::from(width)]);
    }
    hex_encode(&bytes)
}

fn decode_ids(hex: &str, width: u8) -> Option<Vec<u32>> {
    let bytes = hex_decode(hex)?;
    let w = usize::from(width);
    if !bytes.len().is_multiple_of(w) {
        return None;
    }
    Some(
        bytes
            .chunks_exact(w)
            .map(|c| {
                let mut le = [0u8; 4];
                le[..w].copy_from_slice(c);
                u32::from_le_bytes(le)
            })
            .collect(),
    )
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

    #[test]
    fn round_trips() {
        let b = built();
        let bytes = to_bytes(&b).unwrap();
        let back = from_bytes(&bytes).unwrap();
        assert_eq!(back, b);
        assert_eq!(back.id().len(), 32);
    }

    #[test]
    fn reads_plain_json_too() {
        let b = built();
        let mut json = Vec::new();
        GzDecoder::new(&to_bytes(&b).unwrap()[..])
            .read_to_end(&mut json)
            .unwrap();
        assert_eq!(from_bytes(&json).unwrap(), b);
    }

    #[test]
    fn rejects_damage_with_errors() {
        assert!(from_bytes(b"").is_err());
        assert!(from_bytes(b"\x1f\x8b garbage").is_err());
        assert!(from_bytes(b"{\"format\":\"x\"}").is_err());
        let b = built();
        let mut json = Vec::new();
        GzDecoder::new(&to_bytes(&b).unwrap()[..])
            .read_to_end(&mut json)
            .unwrap();
        let text = String::from_utf8(json).unwrap();
        // A row pointing at a device that does not exist.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["replica2part2dev"][0] = serde_json::Value::String("6300".repeat(64));
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
        // A short row.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["replica2part2dev"][1] = serde_json::Value::String("0000".into());
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
        // Odd-length hex and a future version.
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["last_part_moves"] = serde_json::Value::String("abc".into());
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
        let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
        v["format_version"] = serde_json::json!(2);
        assert!(from_bytes(v.to_string().as_bytes()).is_err());
    }
}
