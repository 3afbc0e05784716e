//! The metadata kept inside each object file, and its on-disk encoding.
//!
//! Swift keeps metadata in pickled xattrs, which ext4 caps at about 4 KiB per
//! inode (so Swift's own max-metadata PUT fails there with 507). swirl keeps it
//! in the file itself, after the body, so no file system limit applies and one
//! `pread` of the file's tail usually gets it all:
//!
//! ```text
//! +----------------+---------------+--------------------+---------------------------+
//! | body (N bytes) | block digests | metadata (M bytes) | trailer (16 bytes)        |
//! | .data only;    | (D bytes)     | JSON object, UTF-8 | u32 LE M                  |
//! | empty in .meta | .data only    |                    | u32 LE first 4 bytes of   |
//! | and .ts        |               |                    |        blake3(metadata)   |
//! |                |               |                    | 8 bytes magic "SWIRLMD"+v |
//! +----------------+---------------+--------------------+---------------------------+
//! ```
//!
//! Version 1 (`v` = 0x01). The JSON is
//! `{"v":1,"headers":{..},"blake3":"..","block_size":65536}`: `headers` is
//! Swift's metadata dict (`name`, `X-Timestamp`, `Content-Type`,
//! `Content-Length`, `ETag`, `X-Object-Meta-*`, `X-Object-Sysmeta-*`,
//! `Content-Encoding`, `Content-Disposition`, `X-Delete-At`, ...) with Swift's
//! key spelling; `blake3` (`.data` only) is the hex blake3 of the body.
//!
//! `block_size` (`.data` only) says the body's blocks of that size are checked
//! one by one: when the body has more than one block, the block digests area
//! holds one 32-byte digest per block ([`super::blocks`],
//! [`super::block_hash`]), so D = 32 x blocks; otherwise D = 0 and the
//! `blake3` of the body checks its one block. A `.data` without `block_size`
//! (written before block digests existed) has D = 0 and is checked whole,
//! against `blake3`, on whole reads only.
//!
//! A file whose trailer, check or JSON is wrong is corrupt and goes to
//! quarantine. A reader refuses versions it does not know.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::blocks::Blocks;

/// Length of the fixed trailer.
pub const TRAILER_LEN: usize = 16;
/// The magic at the very end; its last byte is the format version.
pub const MAGIC: [u8; 8] = *b"SWIRLMD\x01";
/// The only format version this code reads and writes.
pub const VERSION: u32 = 1;
/// Metadata larger than this is refused on write and treated as corrupt on read
/// (Swift's limits keep real metadata to a few KiB).
pub const MAX_METADATA_LEN: usize = 1 << 20;

/// Metadata of one object version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Metadata {
    /// Format version ([`VERSION`]).
    pub v: u32,
    /// Swift's metadata dict, Swift's key spelling.
    pub headers: BTreeMap<String, String>,
    /// Hex blake3 of the body (`.data` files).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub blake3: Option<String>,
    /// Size of the blocks whose digests follow the body (`.data` files
    /// written with block digests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub block_size: Option<u64>,
}

/// Why stored metadata cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MetadataError {
    #[error("file too short for a metadata trailer")]
    Short,
    #[error("bad metadata magic or unknown format version")]
    Magic,
    #[error("metadata length {0} out of range")]
    Length(u64),
    #[error("metadata checksum mismatch")]
    Checksum,
    #[error("metadata is not valid JSON: {0}")]
    Json(String),
    #[error("metadata format version {0} not supported")]
    Version(u32),
    #[error("block size {0} not supported, or no Content-Length to place its digests")]
    Blocks(u64),
}

impl Metadata {
    /// Empty metadata of the current version.
    pub fn new() -> Self {
        Metadata {
            v: VERSION,
            headers: BTreeMap::new(),
            blake3: None,
            block_size: None,
        }
    }

    /// A header by exact key.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.headers.get(key).map(String::as_str)
    }

    /// Sets a header.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.headers.insert(key.into(), value.into());
    }

    /// `Content-Length` as a number.
    pub fn content_length(&self) -> Option<u64> {
        self.get("Content-Length").and_then(|v| v.parse().ok())
    }

    /// The block layout of a body checked block by block (None for a file
    /// without block digests).
    pub fn blocks(&self) -> Result<Option<Blocks>, MetadataError> {
        let Some(size) = self.block_size else {
            return Ok(None);
        };
        self.content_length()
            .and_then(|len| Blocks::new(size, len))
            .map(Some)
            .ok_or(MetadataError::Blocks(size))
    }

    /// The metadata bytes and trailer to append after the body.
    pub fn encode(&self) -> Result<Vec<u8>, MetadataError> {
        let json = serde_json::to_vec(self).map_err(|e| MetadataError::Json(e.to_string()))?;
        if json.len() > MAX_METADATA_LEN {
            return Err(MetadataError::Length(json.len() as u64));
        }
        let mut out = Vec::with_capacity(json.len() + TRAILER_LEN);
        out.extend_from_slice(&json);
        out.extend_from_slice(&(json.len() as u32).to_le_bytes());
        out.extend_from_slice(&check(&json));
        out.extend_from_slice(&MAGIC);
        Ok(out)
    }
}

/// First four bytes of blake3: catches torn or bit-flipped metadata.
fn check(json: &[u8]) -> [u8; 4] {
    let h = blake3::hash(json);
    let b = h.as_bytes();
    [b[0], b[1], b[2], b[3]]
}

/// Reads the trailer (the file's last [`TRAILER_LEN`] bytes) of a file of
/// `file_len` bytes: the metadata length, and so where the body ends.
pub fn parse_trailer(trailer: &[u8], file_len: u64) -> Result<(u64, [u8; 4]), MetadataError> {
    if trailer.len() != TRAILER_LEN || file_len < TRAILER_LEN as u64 {
        return Err(MetadataError::Short);
    }
    if trailer[8..16] != MAGIC {
        return Err(MetadataError::Magic);
    }
    let mut len = [0u8; 4];
    len.copy_from_slice(&trailer[0..4]);
    let len = u64::from(u32::from_le_bytes(len));
    if len as usize > MAX_METADATA_LEN || len + TRAILER_LEN as u64 > file_len {
        return Err(MetadataError::Length(len));
    }
    let mut sum = [0u8; 4];
    sum.copy_from_slice(&trailer[4..8]);
    Ok((len, sum))
}

/// Decodes the metadata bytes, given the check from the trailer.
pub fn decode(json: &[u8], sum: [u8; 4]) -> Result<Metadata, MetadataError> {
    if check(json) != sum {
        return Err(MetadataError::Checksum);
    }
    let m: Metadata =
        serde_json::from_slice(json).map_err(|e| MetadataError::Json(e.to_string()))?;
    if m.v != VERSION {
        return Err(MetadataError::Version(m.v));
    }
    Ok(m)
}

/// Decodes a whole file's tail: `tail` is the last `tail.len()` bytes of a file
/// of `file_len` bytes. Returns the metadata and the body length (the bytes
/// before the block digests), or `Ok(None)` when `tail` is too short to hold
/// all the metadata (read more and retry).
pub fn decode_tail(tail: &[u8], file_len: u64) -> Result<Option<(Metadata, u64)>, MetadataError> {
    if tail.len() < TRAILER_LEN {
        return Err(MetadataError::Short);
    }
    let (len, sum) = parse_trailer(&tail[tail.len() - TRAILER_LEN..], file_len)?;
    let need = len as usize + TRAILER_LEN;
    if tail.len() < need {
        return Ok(None);
    }
    let json = &tail[tail.len() - need..tail.len() - TRAILER_LEN];
    let m = decode(json, sum)?;
    let before = file_len - need as u64;
    let digests = m.blocks()?.map_or(0, |b| b.digest_area_len());
    let body_len = before
        .checked_sub(digests)
        .ok_or(MetadataError::Length(digests))?;
    Ok(Some((m, body_len)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Metadata {
        let mut m = Metadata::new();
        m.set("name", "/a/c/o");
        m.set("X-Timestamp", "1402464677.04188");
        m.set("Content-Length", "5");
        m.set("X-Object-Meta-Color", "blue ünïcode");
        m.blake3 = Some(blake3::hash(b"hello").to_hex().to_string());
        m
    }

    #[test]
    fn round_trip_after_a_body() {
        let m = sample();
        let mut file = b"hello".to_vec();
        file.extend(m.encode().unwrap());
        let (got, body_len) = decode_tail(&file, file.len() as u64).unwrap().unwrap();
        assert_eq!(got, m);
        assert_eq!(body_len, 5);
        assert_eq!(got.content_length(), Some(5));
        // A short tail asks for more.
        let tail = &file[file.len() - 20..];
        assert_eq!(decode_tail(tail, file.len() as u64).unwrap(), None);
    }

    #[test]
    fn corruption_is_detected() {
        let m = sample();
        let mut file = b"hello".to_vec();
        file.extend(m.encode().unwrap());
        let n = file.len();
        for i in 5..n {
            let mut bad = file.clone();
            bad[i] ^= 0x20;
            assert!(decode_tail(&bad, n as u64).is_err(), "flip at {i}");
        }
        assert_eq!(decode_tail(&file[..3], 3), Err(MetadataError::Short));
        let mut truncated = file.clone();
        truncated.truncate(n - 1);
        assert!(decode_tail(&truncated, (n - 1) as u64).is_err());
    }

    #[test]
    fn block_digests_sit_between_body_and_metadata() {
        let body = vec![9u8; 200_000];
        let mut m = sample();
        m.set("Content-Length", body.len().to_string());
        m.block_size = Some(65536);
        let mut file = body.clone();
        file.extend(vec![0u8; 4 * 32]);
        file.extend(m.encode().unwrap());
        let (got, body_len) = decode_tail(&file, file.len() as u64).unwrap().unwrap();
        assert_eq!(body_len, 200_000);
        assert_eq!(got.blocks().unwrap().unwrap().count(), 4);
        // A body of one block has no digest area.
        let mut m1 = sample();
        m1.block_size = Some(65536);
        let mut file = b"hello".to_vec();
        file.extend(m1.encode().unwrap());
        assert_eq!(decode_tail(&file, file.len() as u64).unwrap().unwrap().1, 5);
        // A digest area larger than the file, or a bad block size, is corrupt.
        let mut big = sample();
        big.set("Content-Length", "100000000");
        big.block_size = Some(65536);
        let enc = big.encode().unwrap();
        assert!(decode_tail(&enc, enc.len() as u64).is_err());
        let mut odd = sample();
        odd.block_size = Some(1000);
        let enc = odd.encode().unwrap();
        assert_eq!(
            decode_tail(&enc, enc.len() as u64),
            Err(MetadataError::Blocks(1000))
        );
    }

    #[test]
    fn unknown_version_is_refused() {
        let mut m = sample();
        m.v = 2;
        let enc = m.encode().unwrap();
        assert_eq!(
            decode_tail(&enc, enc.len() as u64),
            Err(MetadataError::Version(2))
        );
    }
}
