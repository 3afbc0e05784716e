//! Where a volume's bytes and records live, as pure functions: byte ranges
//! cut at chunk boundaries, and the names of chunk objects, map pages and
//! records in the project's account.
//!
//! In the volume container (`swirl-volumes` by default):
//! - `volume/<id>`: the volume's record (what Cinder shows, attachments);
//! - `volume/<id>/head`: generation counters and the list of map pages;
//! - `volume/<id>/map/<page>`: which chunk object holds each chunk;
//! - `snapshot/<id>` and `snapshot/<id>/map/<page>`: the same for snapshots;
//! - `attachment/<id>`: which volume an attachment belongs to.
//!
//! In the chunk container (`swirl-volume-chunks`): `<owner>/<index>.<gen>`,
//! where owner is the volume that wrote the chunk (clones and snapshots
//! keep pointing at their source's chunks) and gen its generation.

/// Chunks described by one map page (16 GiB of a volume at 4 MiB chunks).
pub const PAGE_CHUNKS: u64 = 4096;

/// One piece of a byte range that falls inside one chunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Piece {
    /// Chunk index.
    pub chunk: u64,
    /// Offset of the piece inside its chunk.
    pub at: usize,
    /// Length of the piece.
    pub len: usize,
    /// Offset of the piece inside the whole range.
    pub pos: usize,
}

impl Piece {
    /// Whether the piece is the whole chunk.
    pub fn whole(&self, chunk_size: u64) -> bool {
        self.at == 0 && self.len as u64 == chunk_size
    }
}

/// Cuts `[offset, offset + len)` at chunk boundaries.
pub fn pieces(offset: u64, len: u64, chunk_size: u64) -> Vec<Piece> {
    let mut out = Vec::new();
    let mut pos = 0u64;
    while pos < len {
        let abs = offset + pos;
        let chunk = abs / chunk_size;
        let at = abs % chunk_size;
        let n = (chunk_size - at).min(len - pos);
        out.push(Piece {
            chunk,
            at: at as usize,
            len: n as usize,
            pos: pos as usize,
        });
        pos += n;
    }
    out
}

/// The map page a chunk is described in.
pub fn page_of(chunk: u64) -> u32 {
    (chunk / PAGE_CHUNKS) as u32
}

/// Name of a chunk object.
pub fn chunk_object(owner: &str, chunk: u64, gen: u64) -> String {
    format!("{owner}/{chunk:016x}.{gen:016x}")
}

/// Parses a chunk object name back into (owner, chunk, gen).
pub fn parse_chunk_object(name: &str) -> Option<(&str, u64, u64)> {
    let (owner, rest) = name.split_once('/')?;
    let (c, g) = rest.split_once('.')?;
    if c.len() != 16 || g.len() != 16 {
        return None;
    }
    Some((
        owner,
        u64::from_str_radix(c, 16).ok()?,
        u64::from_str_radix(g, 16).ok()?,
    ))
}

/// Record of a volume.
pub fn volume_record(id: &str) -> String {
    format!("volume/{id}")
}

/// Head (generations, page list) of a volume.
pub fn volume_head(id: &str) -> String {
    format!("volume/{id}/head")
}

/// Which kind of map: a live volume's or a snapshot's (frozen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MapOf {
    Volume,
    Snapshot,
}

/// A map page of a volume or snapshot.
pub fn map_page(of: MapOf, id: &str, page: u32) -> String {
    match of {
        MapOf::Volume => format!("volume/{id}/map/{page:08x}"),
        MapOf::Snapshot => format!("snapshot/{id}/map/{page:08x}"),
    }
}

/// Record of a snapshot.
pub fn snapshot_record(id: &str) -> String {
    format!("snapshot/{id}")
}

/// Index entry of an attachment.
pub fn attachment_index(id: &str) -> String {
    format!("attachment/{id}")
}

/// Whether `s` is a UUID in its canonical text form (ids are uuids; this
/// keeps arbitrary text out of object names).
pub fn is_uuid(s: &str) -> bool {
    uuid::Uuid::try_parse(s).is_ok_and(|u| u.hyphenated().to_string() == s)
}

/// A new id.
pub fn new_id() -> String {
    uuid::Uuid::new_v4().hyphenated().to_string()
}

/// Bytes in `gib` GiB (Cinder sizes are whole GiB).
pub fn gib(gib: u64) -> u64 {
    gib << 30
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pieces_cut_at_chunk_boundaries() {
        let cs = 4 << 20;
        assert_eq!(pieces(0, 0, cs), vec![]);
        let p = pieces(cs - 10, 30, cs);
        assert_eq!(
            p,
            vec![
                Piece {
                    chunk: 0,
                    at: (cs - 10) as usize,
                    len: 10,
                    pos: 0
                },
                Piece {
                    chunk: 1,
                    at: 0,
                    len: 20,
                    pos: 10
                }
            ]
        );
        let p = pieces(cs, 3 * cs, cs);
        assert_eq!(p.len(), 3);
        assert!(p.iter().all(|x| x.whole(cs)));
        assert_eq!(p.iter().map(|x| x.len as u64).sum::<u64>(), 3 * cs);
    }

    #[test]
    fn names_round_trip() {
        let id = new_id();
        assert!(is_uuid(&id));
        assert!(!is_uuid("../x"));
        assert!(!is_uuid(&id.to_uppercase()));
        let n = chunk_object(&id, 0x1234, 7);
        assert_eq!(parse_chunk_object(&n), Some((id.as_str(), 0x1234, 7)));
        assert_eq!(parse_chunk_object("x/1.2"), None);
        assert_eq!(page_of(PAGE_CHUNKS * 3 + 1), 3);
        assert_eq!(map_page(MapOf::Snapshot, "s", 2), "snapshot/s/map/00000002");
    }
}
