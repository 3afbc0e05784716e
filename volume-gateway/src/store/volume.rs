//! An open (attached) volume: its chunk map and a bounded write-back cache,
//! shared by every NBD connection to it.
//!
//! Writes land in cached chunks (4 KiB pages allocated where bytes are
//! written, see `slot.rs`) and are acknowledged at once. A chunk is written
//! back (one PUT of the whole chunk through the proxy) when it has been
//! completely rewritten, when the cache needs room, or on FLUSH/FUA, which
//! return only once every chunk dirty at that moment is durable in the
//! cluster and the map pages that name them are written after them. A
//! write-back of a partly written chunk first reads its object and lays the
//! written bytes over it; a chunk that then reads as all zeros is not
//! stored at all: it becomes a hole.
//!
//! Copy-on-write: a chunk object is overwritten in place only if this volume
//! wrote it after its last snapshot or clone (generation above
//! `frozen_gen`); otherwise the write-back goes to a new generation and the
//! old object stays for whoever shares it.

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::{Notify, RwLock, Semaphore};
use tracing::{info, warn};

use super::catalog::Catalog;
use super::chunkmap::{ChunkMap, ChunkRef, WriteTarget};
use super::frames::Frames;
use super::layout::{self, MapOf, Piece};
use super::records::Head;
use super::slot::{Slot, Src, SLOT_OVERHEAD};
use crate::error::{Error, Result};
use crate::nbd::proto::{STATE_HOLE, STATE_ZERO};

/// How long a writer waits for cache room before checking again.
const ROOM_POLL: Duration = Duration::from_millis(100);
/// Tries of one chunk PUT before the write-back counts as failed.
const PUT_TRIES: u32 = 3;
/// A read this long, or one that continues the last, reads its chunk
/// object whole (and keeps it) instead of just the range.
const WHOLE_READ: usize = 1 << 20;
/// Chunks read ahead of a sequential reader: enough to keep every fetch
/// busy.
const READ_AHEAD: u64 = FETCHES as u64;
/// Whole-chunk reads in flight per volume.
const FETCHES: usize = 8;
/// Chunks remembered as read once in small pieces (forgotten all at once
/// past this, so the set stays small).
const TOUCHED_MAX: usize = 4096;

struct State {
    map: ChunkMap,
    frozen_gen: u64,
    next_gen: u64,
    /// Map pages stored in the cluster (the head lists them).
    pages: BTreeSet<u32>,
    dirty_pages: BTreeSet<u32>,
    head_dirty: bool,
    slots: HashMap<u64, Slot>,
    /// Memory of all slots, and of the dirty ones.
    cache_bytes: usize,
    dirty_bytes: usize,
    /// Least recently written first: (chunk, version when queued). Stale
    /// entries (the slot changed since) are skipped when popped.
    dirty_q: VecDeque<(u64, u64)>,
    /// Least recently used clean slots first: (chunk, use tick).
    clean_q: VecDeque<(u64, u64)>,
    tick: u64,
    /// Chunk objects to delete once the map no longer names them durably.
    deletes: Vec<String>,
    /// Why the last write-back failed (cleared when a flush starts).
    failed: Option<String>,
    /// Where the last read ended (a read starting there is sequential).
    last_read_end: u64,
    /// Chunks being read whole.
    fetching: HashSet<u64>,
    /// Chunks a small read found outside the cache once: a second such
    /// read has the chunk read whole (see `warm`).
    touched: HashSet<u64>,
    /// Write-backs finished so far: a whole read that saw this change may
    /// hold bytes a write-back replaced, so it is not kept.
    write_backs: u64,
}

impl State {
    /// A chunk with an object that is neither cached nor being read whole.
    fn fetchable(&self, chunk: u64) -> bool {
        !self.slots.contains_key(&chunk)
            && !self.fetching.contains(&chunk)
            && self.map.get(chunk).is_some()
    }

    fn next_tick(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }

    /// Runs `f` on a slot, keeping the memory counters right.
    fn with_slot<T>(&mut self, chunk: u64, f: impl FnOnce(&mut Slot) -> T) -> Option<T> {
        let slot = self.slots.get_mut(&chunk)?;
        let (mem0, dirty0, idle0) = (slot.mem(), slot.dirty(), slot.idle_clean());
        let out = f(slot);
        let (mem1, dirty1, idle1) = (slot.mem(), slot.dirty(), slot.idle_clean());
        self.cache_bytes = self.cache_bytes + mem1 - mem0;
        self.dirty_bytes =
            self.dirty_bytes + if dirty1 { mem1 } else { 0 } - if dirty0 { mem0 } else { 0 };
        // A slot becomes evictable once it is clean and no write-back holds
        // it (that order varies: a write-back marks it clean while busy).
        if idle1 && !idle0 {
            self.clean_q.push_back((chunk, slot.use_tick));
        }
        Some(out)
    }

    fn remove_slot(&mut self, chunk: u64) {
        if let Some(s) = self.slots.remove(&chunk) {
            self.cache_bytes -= s.mem();
            if s.dirty() {
                self.dirty_bytes -= s.mem();
            }
        }
    }

    /// Drops least recently used clean slots until `need` more bytes fit.
    fn evict_clean(&mut self, need: usize, limit: usize) {
        while self.cache_bytes + need > limit {
            let Some((chunk, t)) = self.clean_q.pop_front() else {
                return;
            };
            let idle_clean = self
                .slots
                .get(&chunk)
                .is_some_and(|s| s.use_tick == t && s.idle_clean());
            if idle_clean {
                self.remove_slot(chunk);
            }
        }
    }

    /// Up to `n` least recently written dirty, idle slots (taken off the queue).
    fn pop_dirty(&mut self, n: usize) -> Vec<u64> {
        let mut out = Vec::new();
        while out.len() < n {
            let Some((chunk, v)) = self.dirty_q.pop_front() else {
                break;
            };
            let ready = self
                .slots
                .get(&chunk)
                .is_some_and(|s| s.version == v && s.dirty() && !s.busy);
            if ready && !out.contains(&chunk) {
                out.push(chunk);
            }
        }
        out
    }

    /// Rebuilds a queue grown long with stale entries.
    fn compact_queues(&mut self) {
        let max = 4 * self.slots.len() + 1024;
        if self.dirty_q.len() > max {
            let mut v: Vec<(u64, u64)> = self
                .slots
                .iter()
                .filter(|(_, s)| s.dirty())
                .map(|(&c, s)| (s.version, c))
                .collect();
            v.sort_unstable();
            self.dirty_q = v.into_iter().map(|(t, c)| (c, t)).collect();
        }
        if self.clean_q.len() > max {
            let mut v: Vec<(u64, u64)> = self
                .slots
                .iter()
                .filter(|(_, s)| !s.dirty())
                .map(|(&c, s)| (s.use_tick, c))
                .collect();
            v.sort_unstable();
            self.clean_q = v.into_iter().map(|(t, c)| (c, t)).collect();
        }
    }

    /// Drops a chunk from the map (it reads as zeros now).
    fn punch(&mut self, me: &str, chunk: u64) {
        if let Some(old) = self.map.remove(chunk) {
            self.dirty_pages.insert(layout::page_of(chunk));
            if ChunkMap::owned_unshared(&old, me, self.frozen_gen) {
                self.deletes.push(old.object(chunk));
            }
        }
    }
}

/// What a read does after looking at the cache.
enum Next<'a> {
    /// Read the range from the chunk object.
    Range,
    /// Read the chunk object whole into the cache, then look again.
    Fetch,
    /// Wait for another reader's whole read, then look again.
    Wait(tokio::sync::futures::Notified<'a>),
}

/// An attached volume.
pub struct OpenVolume {
    pub account: String,
    pub id: String,
    me: Arc<str>,
    /// Bytes.
    pub size: u64,
    pub chunk_size: u64,
    catalog: Catalog,
    cache_limit: usize,
    state: Mutex<State>,
    changed: Notify,
    uploads: Semaphore,
    fetches: Semaphore,
    /// Write-backs hold it shared; freezing for a snapshot holds it alone.
    gate: RwLock<()>,
    /// One map write at a time.
    persist_lock: tokio::sync::Mutex<()>,
}

impl OpenVolume {
    /// Loads a volume's head and map from the cluster.
    pub async fn load(
        catalog: Catalog,
        account: &str,
        id: &str,
        size: u64,
        chunk_size: u64,
        cache_limit: u64,
        upload_concurrency: usize,
    ) -> Result<OpenVolume> {
        let head = catalog.head(account, id).await?.unwrap_or_default();
        let map = catalog
            .load_map(account, MapOf::Volume, id, &head.pages)
            .await?;
        // Generations handed out after the head was last written show in
        // the map; anything newer is unreferenced and may be reused.
        let next_gen = head.next_gen.max(map.max_gen_of(id) + 1).max(1);
        Ok(OpenVolume {
            account: account.to_string(),
            id: id.to_string(),
            me: Arc::from(id),
            size,
            chunk_size,
            catalog,
            cache_limit: cache_limit as usize,
            state: Mutex::new(State {
                map,
                frozen_gen: head.frozen_gen,
                next_gen,
                pages: head.pages.iter().copied().collect(),
                dirty_pages: BTreeSet::new(),
                head_dirty: false,
                slots: HashMap::new(),
                cache_bytes: 0,
                dirty_bytes: 0,
                dirty_q: VecDeque::new(),
                clean_q: VecDeque::new(),
                tick: 0,
                deletes: Vec::new(),
                failed: None,
                last_read_end: u64::MAX,
                fetching: HashSet::new(),
                touched: HashSet::new(),
                write_backs: 0,
            }),
            changed: Notify::new(),
            uploads: Semaphore::new(upload_concurrency),
            fetches: Semaphore::new(FETCHES),
            gate: RwLock::new(()),
            persist_lock: tokio::sync::Mutex::new(()),
        })
    }

    fn st(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-changed
        // in a way later code relies on; keep serving.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn cs(&self) -> usize {
        self.chunk_size as usize
    }

    /// Reads `len` bytes at `offset`, returned in parts (one per chunk
    /// piece) to send one after the other. A large or sequential read reads
    /// its chunks whole, keeps them, and starts reading the next ones.
    pub async fn read(self: &Arc<Self>, offset: u64, len: usize) -> Result<Vec<Bytes>> {
        let sequential = {
            let mut st = self.st();
            let seq = st.last_read_end == offset;
            st.last_read_end = offset + len as u64;
            seq
        };
        let whole = sequential || len >= WHOLE_READ;
        let pieces = layout::pieces(offset, len as u64, self.chunk_size);
        if let (true, Some(last)) = (whole, pieces.last()) {
            for c in last.chunk + 1..=last.chunk + READ_AHEAD {
                if c * self.chunk_size < self.size {
                    self.spawn_fetch(c);
                }
            }
        }
        if !whole {
            for p in &pieces {
                self.warm(p.chunk);
            }
        }
        let mut out = Vec::with_capacity(pieces.len());
        for &p in &pieces {
            out.extend(self.read_piece(p, whole).await?);
        }
        if whole {
            // A chunk read to its end by a sequential reader is done with:
            // it goes first when the cache needs room (before the chunks
            // read ahead of it).
            let mut st = self.st();
            for p in pieces.iter().filter(|p| p.at + p.len == self.cs()) {
                let idle = st
                    .slots
                    .get(&p.chunk)
                    .filter(|s| s.idle_clean())
                    .map(|s| s.use_tick);
                if let Some(t) = idle {
                    st.clean_q.push_front((p.chunk, t));
                }
            }
        }
        Ok(out)
    }

    /// What a whole-chunk read adds to the cache, and how full the cache
    /// may be after it: reads ahead leave a quarter for writers.
    fn fetch_room(&self) -> (usize, usize) {
        (self.cs() + SLOT_OVERHEAD, self.cache_limit / 4 * 3)
    }

    fn spawn_fetch(self: &Arc<Self>, chunk: u64) {
        let wanted = {
            let mut st = self.st();
            // Read-ahead may take clean chunks' room (least recently used,
            // or read through, first) but leaves a quarter for writers.
            let (need, target) = self.fetch_room();
            if st.cache_bytes + need > target
                && !st.slots.contains_key(&chunk)
                && !st.fetching.contains(&chunk)
            {
                st.evict_clean(need, target);
            }
            let wanted = st.cache_bytes + need <= target && st.fetchable(chunk);
            if wanted {
                st.fetching.insert(chunk);
            }
            wanted
        };
        if wanted {
            self.spawn_marked_fetch(chunk);
        }
    }

    /// Random small reads: a chunk read a second time while it is not
    /// cached is read whole in the background, where the cache has room
    /// for it without dropping anything (so a working set that fits is
    /// soon served from memory, and one that does not costs at most one
    /// whole read per chunk until the cache is full). Meanwhile reads of
    /// it wait for that read.
    fn warm(self: &Arc<Self>, chunk: u64) {
        let wanted = {
            let mut st = self.st();
            if !st.fetchable(chunk) {
                return;
            }
            if st.touched.insert(chunk) {
                if st.touched.len() > TOUCHED_MAX {
                    st.touched.clear();
                }
                return;
            }
            let (need, target) = self.fetch_room();
            let room = st.cache_bytes + need <= target;
            if room {
                st.touched.remove(&chunk);
                st.fetching.insert(chunk);
            }
            room
        };
        if wanted {
            self.spawn_marked_fetch(chunk);
        }
    }

    /// Reads a chunk whole in the background (the caller marked it
    /// fetching).
    fn spawn_marked_fetch(self: &Arc<Self>, chunk: u64) {
        let me = self.clone();
        tokio::spawn(async move {
            // A hint: a failure here shows up, if at all, when the chunk
            // is really read.
            let _ = me.fetch(chunk).await;
        });
    }

    /// Reads a chunk object whole into the cache (a clean slot, or under
    /// the pages of one a writer made meanwhile). The caller marked it
    /// fetching; this clears the mark. Returns whether the cache has it now
    /// or the map moved on meanwhile (either way: look again).
    async fn fetch(&self, chunk: u64) -> Result<bool> {
        let result = async {
            let _permit = self
                .fetches
                .acquire()
                .await
                .map_err(|e| Error::Cluster(e.to_string()))?;
            let (object, write_backs) = {
                let st = self.st();
                let object = st.map.get(chunk).map(|r| (r.object(chunk), r.rewritten));
                (object, st.write_backs)
            };
            let Some((name, newest)) = object else {
                return Ok(true);
            };
            let data = self
                .catalog
                .get_chunk_frames(&self.account, &name, newest)
                .await?;
            let Some(data) = data else {
                return Ok(true);
            };
            let cs = self.cs();
            let mut st = self.st();
            let st = &mut *st;
            // The map may have moved on (a punch, or a write-back to a new
            // object) while we read: then these bytes are not the chunk's.
            if st.map.get(chunk).map(|r| r.object(chunk)) != Some(name) {
                return Ok(true);
            }
            if st.write_backs != write_backs {
                return Ok(false);
            }
            if st.slots.contains_key(&chunk) {
                st.evict_clean(data.len(), self.cache_limit);
                st.with_slot(chunk, |s| s.attach_base(data, cs));
                return Ok(true);
            }
            st.evict_clean(data.len() + SLOT_OVERHEAD, self.cache_limit);
            if st.cache_bytes + data.len() + SLOT_OVERHEAD > self.cache_limit {
                return Ok(false);
            }
            let t = st.next_tick();
            let mut slot = Slot::with_base(t, data, cs);
            slot.use_tick = t;
            st.cache_bytes += slot.mem();
            st.slots.insert(chunk, slot);
            st.clean_q.push_back((chunk, t));
            Ok(true)
        }
        .await;
        self.st().fetching.remove(&chunk);
        self.changed.notify_waiters();
        result
    }

    /// One chunk's piece of a read, in parts to send one after the other.
    async fn read_piece(self: &Arc<Self>, p: Piece, whole: bool) -> Result<Vec<Bytes>> {
        let cs = self.cs();
        let mut misses = 0;
        loop {
            // What the cache knows, and where the rest is.
            let (slot_id, object, next) = {
                let mut st = self.st();
                let t = st.next_tick();
                let object = st
                    .map
                    .get(p.chunk)
                    .map(|r| (r.object(p.chunk), r.rewritten));
                let fetching = st.fetching.contains(&p.chunk);
                match st.slots.get_mut(&p.chunk) {
                    Some(s) if s.valid.covers(p.at, p.at + p.len) => {
                        // Large pieces of a chunk held whole go out as
                        // slices of it, uncopied; a reply then keeps at
                        // most twice its length alive.
                        let data = (p.len >= cs / 2)
                            .then(|| s.base_slices(p.at, p.len))
                            .flatten()
                            .unwrap_or_else(|| {
                                let mut v = vec![0u8; p.len];
                                s.copy_out(p.at, &mut v);
                                vec![Bytes::from(v)]
                            });
                        s.use_tick = t;
                        if !s.dirty() {
                            st.clean_q.push_back((p.chunk, t));
                        }
                        return Ok(data);
                    }
                    Some(s) => (Some(s.id), object, Next::Range),
                    None if fetching => (None, object, Next::Wait(self.changed.notified())),
                    None if whole && object.is_some() => {
                        st.fetching.insert(p.chunk);
                        (None, object, Next::Fetch)
                    }
                    None => (None, object, Next::Range),
                }
            };
            match next {
                // Someone is reading this chunk whole: use that.
                Next::Wait(n) => {
                    let _ = tokio::time::timeout(ROOM_POLL, n).await;
                    continue;
                }
                Next::Fetch => {
                    if self.fetch(p.chunk).await? {
                        continue;
                    }
                    // No room to keep it: read just the range.
                }
                Next::Range => {}
            }
            let mut out = vec![0u8; p.len];
            match object {
                None => {}
                Some((name, newest)) => {
                    let range = Some((p.at as u64, p.len as u64));
                    match self
                        .catalog
                        .get_chunk(&self.account, &name, range, newest)
                        .await?
                    {
                        // Nothing cached to lay over it: as received.
                        Some(b) if slot_id.is_none() && b.len() == p.len => return Ok(vec![b]),
                        Some(b) => {
                            let n = b.len().min(out.len());
                            out[..n].copy_from_slice(&b[..n]);
                        }
                        // The map moved on while we asked (a write-back or a
                        // punch); look again, but a chunk that stays
                        // missing is damage, not zeros.
                        None if misses < 2 => {
                            misses += 1;
                            continue;
                        }
                        None => {
                            return Err(Error::Corrupt(format!(
                                "{}: chunk object {name} is missing",
                                self.account
                            )))
                        }
                    }
                }
            }
            let Some(id) = slot_id else {
                return Ok(vec![Bytes::from(out)]);
            };
            // Lay what was written here over the object's bytes. If the slot
            // went away meanwhile (written back and evicted), the object we
            // read may predate it: read again.
            let st = self.st();
            if let Some(s) = st.slots.get(&p.chunk).filter(|s| s.id == id) {
                s.overlay(p.at, &mut out);
                return Ok(vec![Bytes::from(out)]);
            }
        }
    }

    /// Writes `data` at `offset`; with `fua`, returns once it is durable.
    pub async fn write(self: &Arc<Self>, offset: u64, data: &Bytes, fua: bool) -> Result<()> {
        for p in layout::pieces(offset, data.len() as u64, self.chunk_size) {
            // A payload within one chunk may be kept as it arrived; a piece
            // of a larger one is copied (a slice would hold the whole).
            let src = if p.len == data.len() {
                Src::Shared(data)
            } else {
                Src::Data(&data[p.pos..p.pos + p.len])
            };
            self.put_piece(p, src, false).await?;
        }
        if fua {
            self.flush().await?;
        }
        Ok(())
    }

    /// Zeroes `len` bytes at `offset`. Whole chunks become holes unless
    /// `no_hole` asks for them to stay allocated.
    pub async fn zero(
        self: &Arc<Self>,
        offset: u64,
        len: u64,
        no_hole: bool,
        fua: bool,
    ) -> Result<()> {
        let cs = self.cs();
        for p in layout::pieces(offset, len, self.chunk_size) {
            if p.whole(self.chunk_size) && !no_hole {
                let mut st = self.st();
                let t = st.next_tick();
                let busy = st.slots.get(&p.chunk).map(|s| s.busy);
                match busy {
                    Some(true) => {
                        // A write-back is reading this slot: zero it, and the
                        // next write-back turns it into a hole.
                        st.with_slot(p.chunk, |s| {
                            s.zero_all(cs);
                            s.version = t;
                        });
                        st.dirty_q.push_back((p.chunk, t));
                    }
                    Some(false) => {
                        st.remove_slot(p.chunk);
                        st.punch(&self.me, p.chunk);
                    }
                    None => st.punch(&self.me, p.chunk),
                }
                drop(st);
                self.changed.notify_waiters();
                continue;
            }
            let exists = {
                let st = self.st();
                st.slots.contains_key(&p.chunk) || st.map.get(p.chunk).is_some()
            };
            if exists || no_hole {
                self.put_piece(p, Src::Zero(p.len), no_hole).await?;
            }
        }
        if fua {
            self.flush().await?;
        }
        Ok(())
    }

    /// Puts one piece into the cache, waiting for room if need be.
    async fn put_piece(self: &Arc<Self>, p: Piece, src: Src<'_>, provision: bool) -> Result<()> {
        let cs = self.cs();
        let limit = self.cache_limit;
        loop {
            let (kick, notified) = {
                let mut guard = self.st();
                let st = &mut *guard;
                let t = st.next_tick();
                let exists = st.slots.contains_key(&p.chunk);
                let need = match st.slots.get(&p.chunk) {
                    Some(s) => s.need(p.at, &src),
                    None => Slot::need_new(p.at, &src),
                };
                if st.cache_bytes + need > limit {
                    st.evict_clean(need, limit);
                }
                if st.cache_bytes + need <= limit {
                    if !exists {
                        let hole = st.map.get(p.chunk).is_none();
                        st.slots.insert(p.chunk, Slot::new(t, hole, cs));
                        st.cache_bytes += SLOT_OVERHEAD;
                    }
                    let done = st.with_slot(p.chunk, |s| {
                        s.put(p.at, src);
                        s.version = t;
                        s.use_tick = t;
                        s.provisioned |= provision;
                        // A chunk written end to end is done with: write it
                        // back now, while the writer moves on.
                        !s.busy && s.written.covers(0, cs)
                    });
                    st.dirty_q.push_back((p.chunk, t));
                    let mut kick = Vec::new();
                    if done == Some(true) {
                        kick.push(p.chunk);
                    }
                    // Keep a quarter of the cache free of dirty data, so a
                    // writer rarely waits for a write-back.
                    if st.dirty_bytes > limit / 4 * 3 {
                        kick.extend(st.pop_dirty(2));
                    }
                    st.compact_queues();
                    drop(guard);
                    for k in kick {
                        self.spawn_upload(k);
                    }
                    return Ok(());
                }
                if let Some(e) = &st.failed {
                    return Err(Error::Cluster(format!("write-back failed: {e}")));
                }
                // No room: write back the least recently written chunks and
                // wait for one to finish.
                (st.pop_dirty(4), self.changed.notified())
            };
            for k in kick {
                self.spawn_upload(k);
            }
            let _ = tokio::time::timeout(ROOM_POLL, notified).await;
        }
    }

    fn spawn_upload(self: &Arc<Self>, chunk: u64) {
        let me = self.clone();
        tokio::spawn(async move {
            me.upload(chunk).await;
        });
    }

    /// Writes one cached chunk back (or punches it if it is all zeros).
    async fn upload(self: Arc<Self>, chunk: u64) {
        let Ok(_permit) = self.uploads.acquire().await else {
            return;
        };
        let _gate = self.gate.read().await;
        let claimed = {
            let mut st = self.st();
            let entry = st.map.get(chunk).map(|r| (r.object(chunk), r.rewritten));
            let cs = self.cs();
            match st.slots.get_mut(&chunk) {
                Some(s) if !s.busy && s.dirty() => {
                    s.busy = true;
                    let base = (!s.valid.covers(0, cs)).then_some(entry).flatten();
                    Some((s.id, base))
                }
                _ => None,
            }
        };
        let Some((slot_id, base)) = claimed else {
            return;
        };
        let result = self.upload_claimed(chunk, slot_id, base).await;
        {
            let mut st = self.st();
            let version = st.with_slot(chunk, |s| {
                s.busy = false;
                s.version
            });
            if let Err(e) = &result {
                warn!(volume = %self.id, chunk, error = %e, "chunk write-back failed");
                st.failed = Some(e.to_string());
                // Still dirty: a later writer or flush tries again.
                if let Some(v) = version {
                    st.dirty_q.push_back((chunk, v));
                }
            }
        }
        self.changed.notify_waiters();
    }

    async fn upload_claimed(
        &self,
        chunk: u64,
        slot_id: u64,
        base: Option<(String, bool)>,
    ) -> Result<()> {
        let cs = self.cs();
        // The chunk as stored, where the cache does not know it.
        let base = match base {
            None => None,
            Some((name, newest)) => Some(
                self.catalog
                    .get_chunk_frames(&self.account, &name, newest)
                    .await?
                    .ok_or_else(|| {
                        Error::Corrupt(format!("{}: chunk object {name} is missing", self.account))
                    })?,
            ),
        };
        let (name, body, version, target, gen) = {
            let mut st = self.st();
            let st = &mut *st;
            let Some(slot) = st.slots.get(&chunk).filter(|s| s.id == slot_id) else {
                return Ok(());
            };
            // A chunk whose base alone holds it (a head written end to end)
            // goes out as it is; any other is assembled in one buffer.
            let content = slot.whole(cs).unwrap_or_else(|| {
                let mut buf = vec![0u8; cs];
                if let Some(b) = &base {
                    b.copy_to(0, &mut buf);
                }
                slot.overlay(0, &mut buf);
                Frames::new([Bytes::from(buf)])
            });
            let version = slot.version;
            let zero = !slot.provisioned && content.parts().iter().all(|p| is_zero(p));
            let body = (!zero).then_some(content);
            // The body becomes the slot's content (its pages go) where that
            // takes no more memory than the cache may hold: a chunk written
            // whole then costs one buffer, shared by the cache and the PUT.
            let grow = (cs + SLOT_OVERHEAD).saturating_sub(slot.mem());
            let settle = body
                .clone()
                .filter(|_| st.cache_bytes + grow <= self.cache_limit);
            st.with_slot(chunk, |s| {
                s.written.clear();
                if let Some(b) = settle {
                    s.settle(b, cs);
                }
            });
            let target = st.map.write_target(&self.me, st.frozen_gen, chunk);
            let gen = match (target, zero) {
                (_, true) => 0,
                (WriteTarget::InPlace { gen }, false) => gen,
                (WriteTarget::New, false) => {
                    let g = st.next_gen;
                    st.next_gen += 1;
                    g
                }
            };
            (
                layout::chunk_object(&self.id, chunk, gen),
                body,
                version,
                target,
                gen,
            )
        };
        if let Some(body) = &body {
            let mut tries = 0;
            loop {
                tries += 1;
                match self.catalog.put_chunk(&self.account, &name, body).await {
                    Ok(()) => break,
                    Err(e) if tries >= PUT_TRIES => return Err(e),
                    Err(_) => tokio::time::sleep(Duration::from_millis(100 << tries)).await,
                }
            }
        }
        let mut st = self.st();
        let st = &mut *st;
        st.write_backs += 1;
        st.with_slot(chunk, |s| s.clean = s.clean.max(version));
        if body.is_none() {
            st.punch(&self.me, chunk);
            return Ok(());
        }
        let new = ChunkRef {
            owner: self.me.clone(),
            gen,
            rewritten: matches!(target, WriteTarget::InPlace { .. }),
        };
        if st.map.get(chunk) != Some(&new) {
            // A rewrite of an unshared chunk keeps its name; a first write or
            // a copy-on-write names a new object, and the old one (if any)
            // stays for the snapshot or clone that shares it.
            st.map.insert(chunk, new);
            st.dirty_pages.insert(layout::page_of(chunk));
        }
        Ok(())
    }
    /// Makes every write acknowledged so far durable: writes back each dirty
    /// chunk, then the map pages that name them, then deletes the objects
    /// no longer named.
    pub async fn flush(self: &Arc<Self>) -> Result<()> {
        let targets: Vec<(u64, u64)> = {
            let mut st = self.st();
            st.failed = None;
            st.slots
                .iter()
                .filter(|(_, s)| s.dirty())
                .map(|(&k, s)| (k, s.version))
                .collect()
        };
        loop {
            let (start, waiting, notified) = {
                let st = self.st();
                if let Some(e) = &st.failed {
                    return Err(Error::Cluster(format!("write-back failed: {e}")));
                }
                let mut start = Vec::new();
                let mut waiting = false;
                for (k, v) in &targets {
                    if let Some(s) = st.slots.get(k) {
                        if s.clean < *v {
                            if s.busy {
                                waiting = true;
                            } else {
                                start.push(*k);
                            }
                        }
                    }
                }
                (start, waiting, self.changed.notified())
            };
            if start.is_empty() && !waiting {
                break;
            }
            if start.is_empty() {
                let _ = tokio::time::timeout(ROOM_POLL, notified).await;
                continue;
            }
            let mut set = tokio::task::JoinSet::new();
            for k in start {
                let me = self.clone();
                set.spawn(async move { me.upload(k).await });
            }
            while set.join_next().await.is_some() {}
        }
        self.persist().await
    }

    /// Writes the changed map pages, then the head if the page set or the
    /// generations changed, then deletes chunk objects no longer named.
    async fn persist(&self) -> Result<()> {
        let _one = self.persist_lock.lock().await;
        let (pages, head, deletes) = {
            let mut st = self.st();
            if st.dirty_pages.is_empty() && !st.head_dirty && st.deletes.is_empty() {
                return Ok(());
            }
            let dirty = std::mem::take(&mut st.dirty_pages);
            let pages: Vec<(u32, Bytes)> = dirty
                .iter()
                .map(|&p| (p, Bytes::from(st.map.encode_page(p))))
                .collect();
            for &p in &dirty {
                if st.pages.insert(p) {
                    st.head_dirty = true;
                }
            }
            let head = std::mem::take(&mut st.head_dirty).then(|| Head {
                frozen_gen: st.frozen_gen,
                next_gen: st.next_gen,
                pages: st.pages.iter().copied().collect(),
            });
            (pages, head, std::mem::take(&mut st.deletes))
        };
        let result = async {
            let mut set = tokio::task::JoinSet::new();
            for (p, body) in pages.clone() {
                let cat = self.catalog.clone();
                let (account, name) = (
                    self.account.clone(),
                    layout::map_page(MapOf::Volume, &self.id, p),
                );
                set.spawn(async move { cat.swift.put(&account, &cat.records, &name, body).await });
            }
            while let Some(r) = set.join_next().await {
                r.map_err(|e| Error::Cluster(e.to_string()))??;
            }
            // The head names pages only after they exist.
            if let Some(h) = &head {
                self.catalog.put_head(&self.account, &self.id, h).await?;
            }
            Ok::<(), Error>(())
        }
        .await;
        if let Err(e) = result {
            let mut st = self.st();
            st.dirty_pages.extend(pages.iter().map(|(p, _)| *p));
            st.head_dirty |= head.is_some();
            st.deletes.extend(deletes);
            return Err(e);
        }
        // Only now is no durable map naming these objects.
        for name in deletes {
            if let Err(e) = self.catalog.delete_chunk(&self.account, &name).await {
                // Left for the volume's deletion, which sweeps its prefix.
                warn!(volume = %self.id, object = %name, error = %e, "chunk delete failed");
            }
        }
        Ok(())
    }

    /// Flushes, then marks every existing chunk object as shared (for a
    /// snapshot or clone) and returns the map to copy. Later write-backs of
    /// those chunks go to new generations.
    pub async fn freeze(self: &Arc<Self>) -> Result<ChunkMap> {
        self.flush().await?;
        let _alone = self.gate.write().await;
        let map = {
            let mut st = self.st();
            st.frozen_gen = st.next_gen - 1;
            st.head_dirty = true;
            st.map.clone()
        };
        // Durable before the snapshot exists: a restarted gateway must not
        // overwrite what the snapshot names.
        self.persist().await?;
        Ok(map)
    }

    /// base:allocation extents from `offset`: a chunk is data if it has an
    /// object or cached bytes, else a hole that reads as zeros.
    pub fn extents(&self, offset: u64, len: u64) -> Vec<(u64, u32)> {
        let st = self.st();
        layout::pieces(offset, len, self.chunk_size)
            .into_iter()
            .map(|p| {
                let data = st.slots.contains_key(&p.chunk) || st.map.get(p.chunk).is_some();
                (p.len as u64, if data { 0 } else { STATE_HOLE | STATE_ZERO })
            })
            .collect()
    }

    /// Writes everything back before the volume is let go.
    pub async fn close(self: &Arc<Self>) {
        match self.flush().await {
            Ok(()) => info!(account = %self.account, volume = %self.id, "volume closed"),
            Err(e) => warn!(account = %self.account, volume = %self.id, error = %e,
                "volume closed with unflushed writes lost"),
        }
    }
}

/// Whether a buffer is all zero bytes (16 bytes at a time).
fn is_zero(b: &[u8]) -> bool {
    let mut words = b.chunks_exact(16);
    let body = words.all(|w| u128::from_ne_bytes(w.try_into().unwrap_or([1; 16])) == 0);
    body && words.remainder().iter().all(|&x| x == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zero_detection() {
        let mut b = vec![0u8; 4099];
        assert!(is_zero(&b));
        b[4098] = 1;
        assert!(!is_zero(&b));
        b[4098] = 0;
        b[17] = 1;
        assert!(!is_zero(&b));
        assert!(is_zero(&[]));
    }
}
