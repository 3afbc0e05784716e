//! The ring.gz file format, read and written byte for byte as Swift does.
//!
//! Layout (uncompressed, inside gzip): magic `R1NG` and a big-endian u16
//! format version.
//! - v1 (swift/common/ring/ring.py `serialize_v1`): u32 BE length, JSON
//!   metadata (`byteorder`, `devs`, `part_shift`, `replica_count` = number of
//!   rows, optional `version` / `next_part_power`), then each replica row as
//!   u16 in the JSON's byte order; the last row may be short.
//! - v2 (ring/io.py): length-prefixed (u64 BE) sections `swift/ring/metadata`,
//!   `swift/ring/devices`, `swift/ring/assignments` (ids big-endian, 2 or 4
//!   bytes), each ending on a full-flush point, then a JSON index of sections
//!   (compressed/uncompressed start and end, checksum) and the index's
//!   uncompressed and compressed offsets as two u64 BE.
//!
//! Reading decompresses the whole file and uses the index's uncompressed
//! offsets, so it also accepts a v2 file that was recompressed.

mod deflate9;
mod gz;
pub mod pyjson;

use std::io::{Read, Write};

use serde_json::{Map, Value};
use sha2::Digest as _;

use crate::device::Device;
use crate::error::{Error, Result};
use crate::ring_data::RingData;

pub use gz::SWIFT_GZIP_MTIME;

/// Ring file format versions this codec reads and writes.
pub const FORMAT_V1: u8 = 1;
pub const FORMAT_V2: u8 = 2;

const MAGIC: &[u8; 4] = b"R1NG";
const SECTION_METADATA: &str = "swift/ring/metadata";
const SECTION_DEVICES: &str = "swift/ring/devices";
const SECTION_ASSIGNMENTS: &str = "swift/ring/assignments";

/// The device dict keys Swift's builder writes; anything else is kept in
/// `Device::extra`.
const DEV_KEYS: [&str; 10] = [
    "device",
    "id",
    "ip",
    "meta",
    "port",
    "region",
    "replication_ip",
    "replication_port",
    "weight",
    "zone",
];

/// How a ring file is (or was) laid out beyond the ring itself. Reading
/// reports it so that writing with it reproduces the file byte for byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteOptions {
    /// 1 or 2.
    pub format_version: u8,
    /// The gzip FNAME field. Swift stores the ring file's base name without
    /// `.gz` (see [`WriteOptions::for_path`]); `None` writes no name.
    pub gzip_name: Option<Vec<u8>>,
    /// The gzip mtime; Swift fixes it to [`SWIFT_GZIP_MTIME`].
    pub mtime: u32,
    /// v1 only: put the magic in its own uncompressed block, as Swift's newer
    /// ring/io.py writer does (Swift 2.30's writer, the default here, does not).
    /// v2 always does.
    pub stored_magic: bool,
}

impl Default for WriteOptions {
    fn default() -> Self {
        WriteOptions {
            format_version: FORMAT_V1,
            gzip_name: None,
            mtime: SWIFT_GZIP_MTIME,
            stored_magic: false,
        }
    }
}

impl WriteOptions {
    /// What Swift writes for a ring saved at `path` (e.g. `/etc/swift/object.ring.gz`
    /// gets FNAME `object.ring`).
    pub fn for_path(path: &str, format_version: u8) -> Self {
        WriteOptions {
            format_version,
            gzip_name: gzip_name_for_path(path),
            ..Default::default()
        }
    }
}

/// Python's GzipFile FNAME rule: the base name, `.gz` stripped, Latin-1
/// encoded; a name Latin-1 cannot hold is left out.
pub fn gzip_name_for_path(path: &str) -> Option<Vec<u8>> {
    let base = path.rsplit('/').next().unwrap_or(path);
    let mut bytes = Vec::with_capacity(base.len());
    for c in base.chars() {
        bytes.push(u8::try_from(u32::from(c)).ok()?);
    }
    if bytes.ends_with(b".gz") {
        bytes.truncate(bytes.len() - 3);
    }
    (!bytes.is_empty()).then_some(bytes)
}

fn invalid(msg: impl Into<String>) -> Error {
    Error::InvalidRing(msg.into())
}

/// Read a ring.gz (format v1 or v2).
pub fn read_ring(r: impl Read) -> Result<RingData> {
    read_ring_with_options(r).map(|(ring, _)| ring)
}

/// Read a ring.gz and report how it was written, so that
/// `write_ring_with(&ring, w, &opts)` gives back the same bytes.
pub fn read_ring_with_options(mut r: impl Read) -> Result<(RingData, WriteOptions)> {
    let mut raw = Vec::new();
    r.read_to_end(&mut raw)?;
    let member = gz::gunzip(&raw)?;
    let data = &member.data;
    if data.len() < 6 || &data[..4] != MAGIC {
        // Swift before 1.8 pickled its rings; those have no magic.
        let hint = if data.first() == Some(&0x80) {
            ": a pickled ring from an old Swift; load and save it with Swift to convert it"
        } else {
            ""
        };
        return Err(invalid(format!("not a ring file (no R1NG magic){hint}")));
    }
    let version = u16::from_be_bytes([data[4], data[5]]);
    let ring = match version {
        1 => decode_v1(&data[6..])?,
        2 => decode_v2(data)?,
        v => return Err(invalid(format!("unsupported ring format version {v}"))),
    };
    ring.validate()?;
    let opts = WriteOptions {
        format_version: version as u8,
        gzip_name: member.name,
        mtime: member.mtime,
        stored_magic: member.stored_magic,
    };
    Ok((ring, opts))
}

/// Write `ring` as Swift would save it in `format_version` (1 or 2), with
/// Swift's fixed mtime and no gzip file name. To match a file Swift writes at
/// a path, use `write_ring_with(ring, w, &WriteOptions::for_path(path, v))`.
pub fn write_ring(ring: &RingData, w: impl Write, format_version: u8) -> Result<()> {
    write_ring_with(
        ring,
        w,
        &WriteOptions {
            format_version,
            ..Default::default()
        },
    )
}

/// Write `ring` with explicit file options.
pub fn write_ring_with(ring: &RingData, w: impl Write, opts: &WriteOptions) -> Result<()> {
    ring.validate()?;
    match opts.format_version {
        FORMAT_V1 => write_v1(ring, w, opts),
        FORMAT_V2 => write_v2(ring, w, opts),
        v => Err(Error::Builder(format!(
            "ring format version must be 1 or 2, not {v}"
        ))),
    }
}

/// Convenience: the bytes of a ring file.
pub fn ring_to_bytes(ring: &RingData, opts: &WriteOptions) -> Result<Vec<u8>> {
    let mut out = Vec::new();
    write_ring_with(ring, &mut out, opts)?;
    Ok(out)
}

// ---------------------------------------------------------------- decoding

fn json_u64(map: &Map<String, Value>, key: &str) -> Result<Option<u64>> {
    match map.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(v) => v
            .as_u64()
            .map(Some)
            .ok_or_else(|| invalid(format!("{key} is not a non-negative integer: {v}"))),
    }
}

fn json_u32(map: &Map<String, Value>, key: &str) -> Result<Option<u32>> {
    json_u64(map, key)?
        .map(|v| u32::try_from(v).map_err(|_| invalid(format!("{key} {v} is too large"))))
        .transpose()
}

fn part_shift_of(meta: &Map<String, Value>) -> Result<u32> {
    let shift = json_u32(meta, "part_shift")?.ok_or_else(|| invalid("part_shift is missing"))?;
    if shift > 32 {
        return Err(invalid(format!("part_shift {shift} is over 32")));
    }
    Ok(shift)
}

fn parse_object(bytes: &[u8], what: &str) -> Result<Map<String, Value>> {
    match serde_json::from_slice(bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(invalid(format!("{what} is not a JSON object"))),
        Err(e) => Err(invalid(format!("{what} is not valid JSON: {e}"))),
    }
}

/// One device dict. Keys Swift may omit in old rings get Swift's defaults
/// (region 1, replication address = the client address).
fn decode_dev(index: usize, v: &Value) -> Result<Option<Device>> {
    let map = match v {
        Value::Null => return Ok(None),
        Value::Object(m) => m,
        other => return Err(invalid(format!("device {index} is not an object: {other}"))),
    };
    let need = |key: &str| invalid(format!("device {index} has no {key}"));
    let string = |key: &str| -> Result<Option<String>> {
        match map.get(key) {
            None => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(invalid(format!(
                "device {index} {key} is not a string: {other}"
            ))),
        }
    };
    let port = |key: &str| -> Result<Option<u16>> {
        json_u64(map, key)?
            .map(|p| {
                u16::try_from(p)
                    .map_err(|_| invalid(format!("device {index} {key} {p} is not a port")))
            })
            .transpose()
    };
    let id = json_u32(map, "id")?.ok_or_else(|| need("id"))?;
    if id as usize != index {
        return Err(invalid(format!("device at index {index} has id {id}")));
    }
    let ip = string("ip")?.ok_or_else(|| need("ip"))?;
    let port_v = port("port")?.ok_or_else(|| need("port"))?;
    let weight = match map.get("weight") {
        None | Some(Value::Null) => 0.0,
        Some(v) => v
            .as_f64()
            .ok_or_else(|| invalid(format!("device {index} weight is not a number: {v}")))?,
    };
    let extra = map
        .iter()
        .filter(|(k, _)| !DEV_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(Some(Device {
        id,
        region: json_u32(map, "region")?.unwrap_or(1),
        zone: json_u32(map, "zone")?.ok_or_else(|| need("zone"))?,
        replication_ip: string("replication_ip")?.unwrap_or_else(|| ip.clone()),
        replication_port: port("replication_port")?.unwrap_or(port_v),
        ip,
        port: port_v,
        device: string("device")?.ok_or_else(|| need("device"))?,
        weight,
        meta: string("meta")?.unwrap_or_default(),
        extra,
    }))
}

fn decode_devs(v: &Value) -> Result<Vec<Option<Device>>> {
    let list = v.as_array().ok_or_else(|| invalid("devs is not a list"))?;
    list.iter()
        .enumerate()
        .map(|(i, d)| decode_dev(i, d))
        .collect()
}

fn decode_v1(body: &[u8]) -> Result<RingData> {
    let len_bytes = body
        .get(..4)
        .ok_or_else(|| invalid("v1 ring is truncated"))?;
    let json_len =
        u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
    let json = body
        .get(4..4 + json_len)
        .ok_or_else(|| invalid("v1 ring metadata is truncated"))?;
    let meta = parse_object(json, "v1 ring metadata")?;
    let part_shift = part_shift_of(&meta)?;
    let devs = decode_devs(meta.get("devs").ok_or_else(|| invalid("devs is missing"))?)?;
    let big_endian = match meta.get("byteorder") {
        None => false, // Swift assumes the reader's byte order; ours is little-endian x86/arm.
        Some(Value::String(s)) if s == "little" => false,
        Some(Value::String(s)) if s == "big" => true,
        Some(other) => return Err(invalid(format!("unknown byteorder {other}"))),
    };
    let rows =
        json_u64(&meta, "replica_count")?.ok_or_else(|| invalid("replica_count is missing"))?;
    let parts = 1usize << (32 - part_shift);
    let mut rest = &body[4 + json_len..];
    let mut table = Vec::new();
    for r in 0..rows {
        // Swift reads up to a full row; only the last row may come up short.
        let take = rest.len().min(parts.saturating_mul(2));
        if take == 0 || !take.is_multiple_of(2) {
            return Err(invalid(format!("v1 ring is truncated in replica row {r}")));
        }
        let row = rest[..take]
            .chunks_exact(2)
            .map(|b| {
                u32::from(if big_endian {
                    u16::from_be_bytes([b[0], b[1]])
                } else {
                    u16::from_le_bytes([b[0], b[1]])
                })
            })
            .collect();
        table.push(row);
        rest = &rest[take..];
    }
    Ok(RingData {
        devs,
        replica2part2dev: table,
        part_shift,
        next_part_power: json_u32(&meta, "next_part_power")?,
        version: json_u64(&meta, "version")?,
        dev_id_bytes: 2,
        ..Default::default()
    })
}

/// One entry of the v2 index: [compressed start, uncompressed start,
/// compressed end, uncompressed end, checksum method, checksum value].
struct IndexEntry {
    uncompressed_start: u64,
    uncompressed_end: Option<u64>,
    method: String,
    value: String,
}

fn read_u64(data: &[u8], at: u64, what: &str) -> Result<u64> {
    let at = usize::try_from(at).map_err(|_| invalid(format!("{what} offset out of range")))?;
    let b = data
        .get(at..at.saturating_add(8))
        .ok_or_else(|| invalid(format!("{what} is past the end of the ring")))?;
    Ok(u64::from_be_bytes([
        b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7],
    ]))
}

/// The length-prefixed blob at `at`.
fn read_blob<'a>(data: &'a [u8], at: u64, what: &str) -> Result<(&'a [u8], &'a [u8])> {
    let len = read_u64(data, at, what)?;
    let start = at as usize;
    let end = start
        .checked_add(8)
        .and_then(|s| s.checked_add(usize::try_from(len).ok()?))
        .filter(|&e| e <= data.len())
        .ok_or_else(|| invalid(format!("{what} is truncated")))?;
    Ok((&data[start..start + 8], &data[start + 8..end]))
}

fn decode_index(data: &[u8]) -> Result<Map<String, Value>> {
    if data.len() < 6 + 16 {
        return Err(invalid("v2 ring is too short for an index"));
    }
    let index_at = read_u64(data, (data.len() - 16) as u64, "v2 index offset")?;
    let (_, blob) = read_blob(data, index_at, "v2 index")?;
    parse_object(blob, "v2 index")
}

fn index_entry(index: &Map<String, Value>, name: &str) -> Result<IndexEntry> {
    let e = index
        .get(name)
        .and_then(Value::as_array)
        .filter(|a| a.len() == 6)
        .ok_or_else(|| invalid(format!("v2 ring has no valid index entry for {name}")))?;
    let bad = || invalid(format!("v2 index entry for {name} is malformed"));
    Ok(IndexEntry {
        uncompressed_start: e[1].as_u64().ok_or_else(bad)?,
        uncompressed_end: if e[2].is_null() {
            None
        } else {
            Some(e[3].as_u64().ok_or_else(bad)?)
        },
        method: e[4].as_str().ok_or_else(bad)?.to_string(),
        value: e[5].as_str().ok_or_else(bad)?.to_string(),
    })
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A section's payload, checked against its index entry (size and checksum).
fn read_section<'a>(data: &'a [u8], index: &Map<String, Value>, name: &str) -> Result<&'a [u8]> {
    let entry = index_entry(index, name)?;
    let (prefix, blob) = read_blob(data, entry.uncompressed_start, name)?;
    if let Some(end) = entry.uncompressed_end {
        if Some(8 + blob.len() as u64) != end.checked_sub(entry.uncompressed_start) {
            return Err(invalid(format!("inconsistent size for section {name}")));
        }
    }
    let digest = match entry.method.as_str() {
        "md5" => {
            let mut c = md5::Context::new();
            c.consume(prefix);
            c.consume(blob);
            hex(&c.finalize().0)
        }
        "sha256" => hex(&sha2::Sha256::new()
            .chain_update(prefix)
            .chain_update(blob)
            .finalize()),
        "sha512" => hex(&sha2::Sha512::new()
            .chain_update(prefix)
            .chain_update(blob)
            .finalize()),
        other => {
            return Err(invalid(format!(
                "unsupported checksum {other} for section {name}"
            )))
        }
    };
    if digest != entry.value {
        return Err(invalid(format!("checksum mismatch in section {name}")));
    }
    Ok(blob)
}

fn decode_v2(data: &[u8]) -> Result<RingData> {
    let index = decode_index(data)?;
    let meta = parse_object(
        read_section(data, &index, SECTION_METADATA)?,
        "v2 ring metadata",
    )?;
    let part_shift = part_shift_of(&meta)?;
    let dev_id_bytes =
        json_u64(&meta, "dev_id_bytes")?.ok_or_else(|| invalid("dev_id_bytes is missing"))?;
    if !matches!(dev_id_bytes, 2 | 4 | 8) {
        return Err(invalid(format!("unsupported dev_id_bytes {dev_id_bytes}")));
    }
    let devs_json: Value = serde_json::from_slice(read_section(data, &index, SECTION_DEVICES)?)
        .map_err(|e| invalid(format!("v2 ring devices are not valid JSON: {e}")))?;
    let devs = decode_devs(&devs_json)?;
    let table_bytes = read_section(data, &index, SECTION_ASSIGNMENTS)?;
    let width = dev_id_bytes as usize;
    if !table_bytes.len().is_multiple_of(width) {
        return Err(invalid(
            "v2 assignments are not a whole number of device ids",
        ));
    }
    let parts = 1usize << (32 - part_shift);
    let mut table = Vec::new();
    for chunk in table_bytes.chunks(parts.saturating_mul(width)) {
        let row = chunk
            .chunks_exact(width)
            .map(|b| {
                let v = b.iter().fold(0u64, |acc, &x| acc << 8 | u64::from(x));
                u32::try_from(v).map_err(|_| invalid(format!("device id {v} is too large")))
            })
            .collect::<Result<Vec<u32>>>()?;
        table.push(row);
    }
    Ok(RingData {
        devs,
        replica2part2dev: table,
        part_shift,
        next_part_power: json_u32(&meta, "next_part_power")?,
        version: json_u64(&meta, "version")?,
        dev_id_bytes: dev_id_bytes as u8,
        ..Default::default()
    })
}

// ---------------------------------------------------------------- encoding

fn float_value(f: f64, what: &str) -> Result<Value> {
    serde_json::Number::from_f64(f)
        .map(Value::Number)
        .ok_or_else(|| Error::Builder(format!("{what} {f} cannot be written to a ring")))
}

/// Swift's device dict (sorted keys on output), plus any extra keys.
fn encode_dev(dev: &Device) -> Result<Value> {
    let mut m: Map<String, Value> = dev
        .extra
        .iter()
        .filter(|(k, _)| !DEV_KEYS.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    m.insert("device".into(), dev.device.clone().into());
    m.insert("id".into(), dev.id.into());
    m.insert("ip".into(), dev.ip.clone().into());
    m.insert("meta".into(), dev.meta.clone().into());
    m.insert("port".into(), dev.port.into());
    m.insert("region".into(), dev.region.into());
    m.insert("replication_ip".into(), dev.replication_ip.clone().into());
    m.insert("replication_port".into(), dev.replication_port.into());
    m.insert("weight".into(), float_value(dev.weight, "device weight")?);
    m.insert("zone".into(), dev.zone.into());
    Ok(Value::Object(m))
}

fn encode_devs(ring: &RingData) -> Result<Value> {
    ring.devs
        .iter()
        .map(|d| d.as_ref().map_or(Ok(Value::Null), encode_dev))
        .collect::<Result<Vec<_>>>()
        .map(Value::Array)
}

fn max_dev_id(ring: &RingData) -> u32 {
    ring.replica2part2dev
        .iter()
        .flatten()
        .copied()
        .chain(ring.devs.iter().flatten().map(|d| d.id))
        .max()
        .unwrap_or(0)
}

fn write_v1(ring: &RingData, mut w: impl Write, opts: &WriteOptions) -> Result<()> {
    let bytes = encode_v1(ring, opts, true)?;
    // The fast deflate is our own code: before anything trusts its stream,
    // inflate it back (gunzip checks the CRC32 and length of what was fed
    // in). Should it ever fail, zlib itself writes the ring.
    let bytes = match gz::gunzip(&bytes) {
        Ok(_) => bytes,
        Err(_) => encode_v1(ring, opts, false)?,
    };
    w.write_all(&bytes)?;
    Ok(())
}

/// The v1 ring file's bytes; `fast`: level 9 on [`gz`]'s fast deflate.
fn encode_v1(ring: &RingData, opts: &WriteOptions, fast: bool) -> Result<Vec<u8>> {
    let w = Vec::new();
    // v1 stores ids as u16, and 0xffff is Swift's "no device".
    if ring.dev_id_bytes > 2 || max_dev_id(ring) >= 0xffff {
        return Err(Error::Builder(
            "ring format v1 only holds 2-byte device ids; write format 2".into(),
        ));
    }
    let mut meta = Map::new();
    meta.insert("byteorder".into(), "little".into());
    meta.insert("devs".into(), encode_devs(ring)?);
    meta.insert("part_shift".into(), ring.part_shift.into());
    meta.insert("replica_count".into(), ring.replica2part2dev.len().into());
    if let Some(v) = ring.version {
        meta.insert("version".into(), v.into());
    }
    if let Some(p) = ring.next_part_power {
        meta.insert("next_part_power".into(), p.into());
    }
    let json = pyjson::dumps(&Value::Object(meta));
    let json_len = u32::try_from(json.len())
        .map_err(|_| Error::Builder("ring metadata is over 4 GiB".into()))?;

    // v1 never flushes, so level 9 can run on the fast deflate.
    let mut gz = if fast {
        gz::PyGzWriter::new_fast(w, opts.gzip_name.as_deref(), opts.mtime)?
    } else {
        gz::PyGzWriter::new(w, opts.gzip_name.as_deref(), opts.mtime)?
    };
    let magic = [&MAGIC[..], &1u16.to_be_bytes()].concat();
    if opts.stored_magic {
        gz.set_level(0)?;
        gz.write(&magic)?;
        gz.set_level(9)?;
    } else {
        gz.write(&magic)?;
    }
    gz.write(&json_len.to_be_bytes())?;
    gz.write(json.as_bytes())?;
    let mut buf = Vec::new();
    for row in &ring.replica2part2dev {
        buf.clear();
        buf.extend(row.iter().flat_map(|&id| (id as u16).to_le_bytes()));
        gz.write(&buf)?;
    }
    gz.finish()
}

/// A v2 section: starts and ends on a full-flush point and is recorded in the
/// index with its offsets and the SHA-256 of everything written inside it.
fn section<W: Write>(
    gz: &mut gz::PyGzWriter<W>,
    index: &mut Map<String, Value>,
    name: &str,
    payload: impl FnOnce(&mut gz::PyGzWriter<W>, &mut sha2::Sha256) -> Result<()>,
) -> Result<()> {
    gz.flush()?;
    let cstart = gz.compressed_tell()?;
    let ustart = gz.tell()?;
    let mut sum = sha2::Sha256::new();
    payload(gz, &mut sum)?;
    gz.flush()?;
    let cend = gz.compressed_tell()?;
    let uend = gz.tell()?;
    index.insert(
        name.into(),
        Value::Array(vec![
            cstart.into(),
            ustart.into(),
            cend.into(),
            uend.into(),
            "sha256".into(),
            hex(&sum.finalize()).into(),
        ]),
    );
    Ok(())
}

/// A length-prefixed (u64 BE) blob; the section checksum covers the prefix too.
fn blob<W: Write>(gz: &mut gz::PyGzWriter<W>, sum: &mut sha2::Sha256, data: &[u8]) -> Result<()> {
    let prefix = (data.len() as u64).to_be_bytes();
    sum.update(prefix);
    gz.write(&prefix)?;
    sum.update(data);
    gz.write(data)
}

fn write_v2(ring: &RingData, w: impl Write, opts: &WriteOptions) -> Result<()> {
    let needed: u8 = if max_dev_id(ring) < 0xffff { 2 } else { 4 };
    let width = match ring.dev_id_bytes {
        0 => needed,
        b @ (2 | 4) if b >= needed => b,
        b => {
            return Err(Error::Builder(format!(
                "dev_id_bytes {b} cannot hold device id {}",
                max_dev_id(ring)
            )))
        }
    };
    let mut meta = Map::new();
    meta.insert("part_shift".into(), ring.part_shift.into());
    meta.insert("dev_id_bytes".into(), width.into());
    // Swift's calc_replica_count: the integer 0 for an empty table, else a float.
    let replicas = if ring.replica2part2dev.is_empty() {
        Value::from(0)
    } else {
        float_value(ring.replica_count(), "replica count")?
    };
    meta.insert("replica_count".into(), replicas);
    meta.insert(
        "version".into(),
        ring.version.map_or(Value::Null, Value::from),
    );
    if let Some(p) = ring.next_part_power {
        meta.insert("next_part_power".into(), p.into());
    }

    let mut gz = gz::PyGzWriter::new(w, opts.gzip_name.as_deref(), opts.mtime)?;
    gz.set_level(0)?;
    gz.write(&[&MAGIC[..], &2u16.to_be_bytes()].concat())?;
    gz.set_level(9)?;

    let mut index = Map::new();
    let meta_json = pyjson::dumps(&Value::Object(meta));
    section(&mut gz, &mut index, SECTION_METADATA, |gz, sum| {
        blob(gz, sum, meta_json.as_bytes())
    })?;
    let devs_json = pyjson::dumps(&encode_devs(ring)?);
    section(&mut gz, &mut index, SECTION_DEVICES, |gz, sum| {
        blob(gz, sum, devs_json.as_bytes())
    })?;
    section(&mut gz, &mut index, SECTION_ASSIGNMENTS, |gz, sum| {
        let total: u64 = ring.replica2part2dev.iter().map(|r| r.len() as u64).sum();
        let prefix = (total * u64::from(width)).to_be_bytes();
        sum.update(prefix);
        gz.write(&prefix)?;
        let mut buf = Vec::new();
        for row in &ring.replica2part2dev {
            buf.clear();
            for &id in row {
                if width == 2 {
                    buf.extend_from_slice(&(id as u16).to_be_bytes());
                } else {
                    buf.extend_from_slice(&id.to_be_bytes());
                }
            }
            sum.update(&buf);
            gz.write(&buf)?;
        }
        Ok(())
    })?;

    // The index, then its two offsets each in an uncompressed block so a
    // reader can find them at a fixed distance from the end of the file.
    let ustart = gz.tell()?;
    let cstart = gz.compressed_tell()?;
    let index_json = pyjson::dumps(&Value::Object(index));
    gz.write(&(index_json.len() as u64).to_be_bytes())?;
    gz.write(index_json.as_bytes())?;
    gz.set_level(0)?;
    gz.write(&ustart.to_be_bytes())?;
    gz.flush()?;
    gz.write(&cstart.to_be_bytes())?;
    gz.flush()?;
    gz.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests;
