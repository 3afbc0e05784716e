//! The chunk map: for each chunk that holds data, the object that holds it
//! (owner volume and generation). Missing chunks read as zeros. Pages of the
//! map are stored as JSON objects; this module is the pure part: lookups,
//! the copy-on-write rule, page encoding, and the set of objects a map uses.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::layout::{self, PAGE_CHUNKS};

/// Where one chunk's data is.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChunkRef {
    /// The volume that wrote the object.
    pub owner: Arc<str>,
    pub gen: u64,
    /// The object was overwritten in place at least once, so a read must
    /// ask every replica for the newest copy (X-Newest).
    pub rewritten: bool,
}

impl ChunkRef {
    /// The chunk object's name.
    pub fn object(&self, chunk: u64) -> String {
        layout::chunk_object(&self.owner, chunk, self.gen)
    }
}

/// Chunk index -> object.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChunkMap {
    chunks: BTreeMap<u64, ChunkRef>,
}

/// How a write-back of a chunk must be named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteTarget {
    /// Overwrite the existing object: this volume wrote it after its last
    /// snapshot or clone, so nothing else refers to it.
    InPlace { gen: u64 },
    /// Write a new object of a new generation: the old one (if any) is
    /// shared with a snapshot or clone, or belongs to another volume.
    New,
}

impl ChunkMap {
    pub fn new() -> Self {
        ChunkMap::default()
    }

    pub fn get(&self, chunk: u64) -> Option<&ChunkRef> {
        self.chunks.get(&chunk)
    }

    pub fn insert(&mut self, chunk: u64, r: ChunkRef) -> Option<ChunkRef> {
        self.chunks.insert(chunk, r)
    }

    pub fn remove(&mut self, chunk: u64) -> Option<ChunkRef> {
        self.chunks.remove(&chunk)
    }

    pub fn len(&self) -> usize {
        self.chunks.len()
    }

    pub fn is_empty(&self) -> bool {
        self.chunks.is_empty()
    }

    pub fn iter(&self) -> impl Iterator<Item = (u64, &ChunkRef)> {
        self.chunks.iter().map(|(&k, v)| (k, v))
    }

    /// Highest generation this map's `owner` wrote (0 if none).
    pub fn max_gen_of(&self, owner: &str) -> u64 {
        self.chunks
            .values()
            .filter(|r| &*r.owner == owner)
            .map(|r| r.gen)
            .max()
            .unwrap_or(0)
    }

    /// The copy-on-write rule for volume `me` whose generations up to
    /// `frozen` are shared with snapshots or clones.
    pub fn write_target(&self, me: &str, frozen: u64, chunk: u64) -> WriteTarget {
        match self.chunks.get(&chunk) {
            Some(r) if &*r.owner == me && r.gen > frozen => WriteTarget::InPlace { gen: r.gen },
            _ => WriteTarget::New,
        }
    }

    /// Whether removing this entry frees its object (it is `me`'s and
    /// newer than anything shared).
    pub fn owned_unshared(r: &ChunkRef, me: &str, frozen: u64) -> bool {
        &*r.owner == me && r.gen > frozen
    }

    /// Pages holding at least one entry.
    pub fn pages(&self) -> BTreeSet<u32> {
        self.chunks.keys().map(|&c| layout::page_of(c)).collect()
    }

    /// Names of every chunk object this map refers to.
    pub fn objects(&self) -> HashSet<String> {
        self.chunks.iter().map(|(&c, r)| r.object(c)).collect()
    }

    /// Encodes one page (entries of chunks in that page) as JSON.
    pub fn encode_page(&self, page: u32) -> Vec<u8> {
        let start = u64::from(page) * PAGE_CHUNKS;
        let mut owners: Vec<Arc<str>> = Vec::new();
        let mut entries = Vec::new();
        for (&c, r) in self.chunks.range(start..start + PAGE_CHUNKS) {
            let ix = match owners.iter().position(|o| *o == r.owner) {
                Some(i) => i,
                None => {
                    owners.push(r.owner.clone());
                    owners.len() - 1
                }
            };
            entries.push((c, ix, r.gen, u8::from(r.rewritten)));
        }
        let page = PageJson {
            owners: owners.iter().map(|o| o.to_string()).collect(),
            entries,
        };
        serde_json::to_vec(&page).unwrap_or_default()
    }

    /// Adds the entries of an encoded page; rejects a page that names
    /// chunks outside itself or owners it does not list.
    pub fn decode_page(&mut self, page: u32, data: &[u8]) -> Result<(), String> {
        let p: PageJson = serde_json::from_slice(data).map_err(|e| e.to_string())?;
        let owners: Vec<Arc<str>> = p.owners.into_iter().map(Arc::from).collect();
        for (c, ix, gen, rewritten) in p.entries {
            if layout::page_of(c) != page {
                return Err(format!("chunk {c} is not in page {page}"));
            }
            let owner = owners
                .get(ix)
                .ok_or_else(|| format!("owner {ix} not listed"))?
                .clone();
            self.chunks.insert(
                c,
                ChunkRef {
                    owner,
                    gen,
                    rewritten: rewritten != 0,
                },
            );
        }
        Ok(())
    }
}

#[derive(Serialize, Deserialize)]
struct PageJson {
    owners: Vec<String>,
    /// (chunk, owner index, generation, rewritten)
    entries: Vec<(u64, usize, u64, u8)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(owner: &str, gen: u64) -> ChunkRef {
        ChunkRef {
            owner: Arc::from(owner),
            gen,
            rewritten: false,
        }
    }

    #[test]
    fn copy_on_write_rule() {
        let mut m = ChunkMap::new();
        m.insert(0, r("me", 3));
        m.insert(1, r("me", 7));
        m.insert(2, r("parent", 9));
        // Generation 3 is shared (frozen at 5), 7 is not.
        assert_eq!(m.write_target("me", 5, 0), WriteTarget::New);
        assert_eq!(m.write_target("me", 5, 1), WriteTarget::InPlace { gen: 7 });
        assert_eq!(
            m.write_target("me", 5, 2),
            WriteTarget::New,
            "a clone's parent chunk"
        );
        assert_eq!(m.write_target("me", 5, 3), WriteTarget::New, "a hole");
        assert!(ChunkMap::owned_unshared(m.get(1).unwrap(), "me", 5));
        assert!(!ChunkMap::owned_unshared(m.get(0).unwrap(), "me", 5));
        assert_eq!(m.max_gen_of("me"), 7);
        assert_eq!(m.max_gen_of("x"), 0);
    }

    #[test]
    fn pages_round_trip() {
        let mut m = ChunkMap::new();
        m.insert(1, r("a", 1));
        m.insert(PAGE_CHUNKS + 5, r("b", 2));
        m.insert(
            PAGE_CHUNKS + 6,
            ChunkRef {
                rewritten: true,
                ..r("a", 3)
            },
        );
        assert_eq!(m.pages().into_iter().collect::<Vec<_>>(), vec![0, 1]);
        let mut back = ChunkMap::new();
        for p in m.pages() {
            back.decode_page(p, &m.encode_page(p)).unwrap();
        }
        assert_eq!(back, m);
        assert_eq!(m.objects().len(), 3);
        assert!(m
            .objects()
            .contains(&layout::chunk_object("b", PAGE_CHUNKS + 5, 2)));
        // A page claiming a chunk of another page, an unlisted owner, garbage.
        let mut x = ChunkMap::new();
        assert!(x.decode_page(0, &m.encode_page(1)).is_err());
        assert!(x
            .decode_page(0, br#"{"owners":[],"entries":[[1,0,1,0]]}"#)
            .is_err());
        assert!(x.decode_page(0, b"not json").is_err());
    }
}
