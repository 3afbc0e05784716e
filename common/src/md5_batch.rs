//! The MD5 (ETag) of concurrent uploads, hashed side by side.
//!
//! One body's MD5 is a serial chain, so it costs the same per byte however
//! it is computed; but the bodies of concurrent uploads are independent, and
//! one thread can hash them together in SIMD lanes (`md5_lanes`). Request
//! tasks hand their frames (reference-counted, never copied) to a hashing
//! thread and go on sending; a body's digest is awaited only once it has
//! ended. The thread waits until several bodies have data before it hashes,
//! so lanes fill, but it never waits on a body that has ended or that has
//! more than `HIGH` unhashed, and a request waits only past `CAP`, so what a
//! body pins stays a few MiB.

use crate::body_md5::BodyMd5;
use crate::md5_lanes::{self, LANES};
use bytes::{Buf, Bytes};
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use tokio::sync::{oneshot, Notify};

/// A body with this much unhashed is ready to share a pass.
const LOW: usize = 512 << 10;
/// A body with this much unhashed is hashed at once, with whatever others
/// have, down to `RESERVE`: what it keeps back to share later passes.
const HIGH: usize = 2 << 20;
const RESERVE: usize = 1 << 20;
/// A request hands over no more until its body is back under this.
const CAP: usize = 4 << 20;

/// A body's MD5: in shared lanes where this CPU has them, inline otherwise.
pub enum BodyEtag {
    Lanes(Md5Stream),
    Inline(BodyMd5),
}

/// Bodies declared shorter than this hash inline: a hand-over to the thread
/// and back costs more than their MD5.
const INLINE_BELOW: u64 = 1 << 20;

impl BodyEtag {
    pub fn new() -> Self {
        match Md5Batcher::global().and_then(Md5Batcher::stream) {
            Some(s) => Self::Lanes(s),
            None => Self::Inline(BodyMd5::new()),
        }
    }

    /// For a body of `length` bytes, when known: small ones inline.
    pub fn for_length(length: Option<u64>) -> Self {
        match length {
            Some(n) if n < INLINE_BELOW => Self::Inline(BodyMd5::new()),
            _ => Self::new(),
        }
    }

    /// Adds the next bytes; waits only while this body is far behind.
    pub async fn update(&mut self, data: &Bytes) {
        match self {
            Self::Lanes(s) => s.update(data.clone()).await,
            Self::Inline(m) => m.update(data),
        }
    }

    /// The digest as 32 lowercase hex digits; None only if the hashing
    /// thread died with this body in it.
    pub async fn hex(self) -> Option<String> {
        match self {
            Self::Lanes(s) => s.hex().await,
            Self::Inline(m) => Some(m.hex()),
        }
    }
}

impl Default for BodyEtag {
    fn default() -> Self {
        Self::new()
    }
}

/// The hashing thread and the bodies it hashes.
pub struct Md5Batcher {
    shared: Arc<Shared>,
}

struct Shared {
    state: Mutex<State>,
    wake: Condvar,
    /// Per-lane scalar compression instead of the vector kernel (tests).
    scalar: bool,
}

#[derive(Default)]
struct State {
    next_id: u64,
    bodies: HashMap<u64, Handed>,
    /// The batcher is gone: the thread ends once its bodies have.
    closed: bool,
    /// The thread has ended (a panic): nothing is hashed here any more.
    dead: bool,
}

/// What one body has handed over, as the requests and the thread share it.
struct Handed {
    /// Frames not yet taken by the thread.
    queue: Vec<Bytes>,
    /// Bytes handed over and not yet hashed (queued or taken).
    unhashed: usize,
    /// Set once the body has ended: where its digest goes.
    finish: Option<oneshot::Sender<[u8; 16]>>,
    /// Wakes the request waiting for room.
    room: Arc<Notify>,
}

impl State {
    /// Whether the thread should hash now: a body has ended or is far
    /// behind, or every body (up to a pass's worth) has enough to share one.
    fn due(&self) -> bool {
        let mut ready = 0;
        for h in self.bodies.values() {
            if h.finish.is_some() || h.unhashed >= HIGH {
                return true;
            }
            if h.unhashed >= LOW {
                ready += 1;
            }
        }
        ready > 0 && ready >= self.bodies.len().min(LANES)
    }
}

impl Md5Batcher {
    /// The process's batcher, started at first use; None where this CPU has
    /// no vector kernel (inline MD5 costs the same there), where
    /// `SWIRL_MD5_LANES=off` asks for inline hashing (to compare the two), or
    /// where no thread starts.
    pub fn global() -> Option<&'static Md5Batcher> {
        static GLOBAL: OnceLock<Option<Md5Batcher>> = OnceLock::new();
        GLOBAL
            .get_or_init(|| {
                let off = std::env::var("SWIRL_MD5_LANES").is_ok_and(|v| v == "off");
                if off || !md5_lanes::vector_available() {
                    return None;
                }
                Md5Batcher::start(false)
                    .map_err(|e| tracing::warn!(error = %e, "no MD5 lanes thread; hashing inline"))
                    .ok()
            })
            .as_ref()
    }

    /// Starts a batcher with its own thread; `scalar` hashes lane by lane.
    pub fn start(scalar: bool) -> std::io::Result<Self> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State::default()),
            wake: Condvar::new(),
            scalar,
        });
        let s = shared.clone();
        std::thread::Builder::new()
            .name("md5-lanes".into())
            .spawn(move || {
                let ended = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| run(&s)));
                if ended.is_err() {
                    tracing::error!(
                        "the MD5 lanes thread panicked; uploads in it fail, new ones hash inline"
                    );
                }
                // However it ended, no request waits on it again: dropping
                // the senders fails the digests awaited.
                let mut st = s.lock();
                st.dead = true;
                for h in st.bodies.values_mut() {
                    h.finish = None;
                    h.room.notify_one();
                }
            })?;
        Ok(Self { shared })
    }

    /// A new body; None once the thread has died.
    pub fn stream(&self) -> Option<Md5Stream> {
        let mut st = self.shared.lock();
        if st.dead {
            return None;
        }
        let id = st.next_id;
        st.next_id += 1;
        let room = Arc::new(Notify::new());
        st.bodies.insert(
            id,
            Handed {
                queue: Vec::new(),
                unhashed: 0,
                finish: None,
                room: room.clone(),
            },
        );
        Some(Md5Stream {
            id,
            shared: self.shared.clone(),
            room,
            finished: false,
        })
    }
}

impl Drop for Md5Batcher {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.wake.notify_one();
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere leaves the bodies' bookkeeping whole: go on.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One body's handle; dropping it before `hex` abandons the body.
pub struct Md5Stream {
    id: u64,
    shared: Arc<Shared>,
    room: Arc<Notify>,
    finished: bool,
}

impl Md5Stream {
    /// Hands over the next frame; waits only while the body is past `CAP`.
    pub async fn update(&mut self, data: Bytes) {
        if data.is_empty() {
            return;
        }
        let mut behind = {
            let mut st = self.shared.lock();
            if st.dead {
                return;
            }
            let Some(h) = st.bodies.get_mut(&self.id) else {
                return;
            };
            h.unhashed += data.len();
            h.queue.push(data);
            let behind = h.unhashed > CAP;
            if st.due() {
                self.shared.wake.notify_one();
            }
            behind
        };
        // Only a body past CAP takes the lock again. The permit Notify keeps
        // makes a wake between the check and the await count: none is lost.
        while behind {
            self.room.notified().await;
            let st = self.shared.lock();
            behind = !st.dead && st.bodies.get(&self.id).is_some_and(|h| h.unhashed > CAP);
        }
    }

    /// The body has ended: its digest as 32 lowercase hex digits; None if
    /// the thread died first.
    pub async fn hex(mut self) -> Option<String> {
        let rx = {
            let (tx, rx) = oneshot::channel();
            let mut st = self.shared.lock();
            // A dead thread's bodies keep no sender: `rx` fails at once.
            if let (false, Some(h)) = (st.dead, st.bodies.get_mut(&self.id)) {
                h.finish = Some(tx);
            }
            rx
        };
        self.finished = true;
        self.shared.wake.notify_one();
        rx.await.ok().map(|d| hex(&d))
    }
}

impl Drop for Md5Stream {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.lock().bodies.remove(&self.id);
            self.shared.wake.notify_one();
        }
    }
}

fn hex(d: &[u8; 16]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// One body as the thread hashes it.
struct Lane {
    state: [u32; 4],
    /// Bytes taken in so far.
    len: u64,
    /// A block split across frames, gathered before it is compressed.
    carry: [u8; 64],
    carry_len: usize,
    /// Frames taken, not yet hashed; the front may be partly consumed.
    frames: VecDeque<Bytes>,
    /// Bytes in `frames`.
    held: usize,
    /// Bytes compressed or carried since the last report.
    consumed: usize,
    /// The body has ended: the next pass hashes all of it.
    ending: bool,
}

impl Lane {
    fn new() -> Self {
        Self {
            state: md5_lanes::INIT,
            len: 0,
            carry: [0; 64],
            carry_len: 0,
            frames: VecDeque::new(),
            held: 0,
            consumed: 0,
            ending: false,
        }
    }

    /// Makes the next run of whole blocks ready; its length in blocks.
    fn ready(&mut self) -> usize {
        loop {
            if self.carry_len == 64 {
                return 1;
            }
            let Some(front) = self.frames.front_mut() else {
                return 0;
            };
            if self.carry_len == 0 && front.len() >= 64 {
                return front.len() / 64;
            }
            let take = (64 - self.carry_len).min(front.len());
            self.carry[self.carry_len..self.carry_len + take].copy_from_slice(&front[..take]);
            self.carry_len += take;
            self.consumed += take;
            self.held -= take;
            front.advance(take);
            if front.is_empty() {
                self.frames.pop_front();
            }
        }
    }

    /// The first `blocks` blocks of the ready run.
    fn run(&self, blocks: usize) -> &[u8] {
        if self.carry_len == 64 {
            &self.carry
        } else {
            self.frames.front().map_or(&[][..], |f| &f[..blocks * 64])
        }
    }

    /// Past the `blocks` just compressed.
    fn advance(&mut self, blocks: usize) {
        if self.carry_len == 64 {
            self.carry_len = 0;
        } else if let Some(front) = self.frames.front_mut() {
            front.advance(blocks * 64);
            self.consumed += blocks * 64;
            self.held -= blocks * 64;
            if front.is_empty() {
                self.frames.pop_front();
            }
        }
    }

    /// MD5's padding and length after the last byte.
    fn digest(mut self) -> [u8; 16] {
        let n = self.carry_len;
        let mut tail = [0u8; 128];
        tail[..n].copy_from_slice(&self.carry[..n]);
        tail[n] = 0x80;
        let end = if n < 56 { 64 } else { 128 };
        tail[end - 8..end].copy_from_slice(&(self.len.wrapping_mul(8)).to_le_bytes());
        md5_lanes::compress_lanes_scalar(std::slice::from_mut(&mut self.state), &[&tail[..end]]);
        let mut out = [0u8; 16];
        for (o, w) in out.chunks_exact_mut(4).zip(self.state) {
            o.copy_from_slice(&w.to_le_bytes());
        }
        out
    }
}

/// The hashing thread: waits for work, takes every handed frame, hashes
/// without the lock, then reports what it hashed and the finished digests.
fn run(shared: &Shared) {
    // By body id, oldest first.
    let mut lanes: Vec<(u64, Lane)> = Vec::new();
    loop {
        {
            let mut st = shared.lock();
            loop {
                lanes.retain(|(id, _)| st.bodies.contains_key(id));
                if st.dead || (st.closed && st.bodies.is_empty()) {
                    return;
                }
                if st.due() {
                    break;
                }
                st = shared.wake.wait(st).unwrap_or_else(|e| e.into_inner());
            }
            for (id, h) in st.bodies.iter_mut() {
                let at = match lanes.binary_search_by_key(id, |(i, _)| *i) {
                    Ok(at) => at,
                    Err(at) => {
                        lanes.insert(at, (*id, Lane::new()));
                        at
                    }
                };
                let lane = &mut lanes[at].1;
                lane.ending = h.finish.is_some();
                for f in h.queue.drain(..) {
                    lane.len += f.len() as u64;
                    lane.held += f.len();
                    lane.frames.push_back(f);
                }
            }
        }
        // Bodies with data side by side, LANES to a pass.
        let mut busy: Vec<&mut Lane> = lanes
            .iter_mut()
            .map(|(_, l)| l)
            .filter(|l| !l.frames.is_empty() || l.carry_len == 64)
            .collect();
        for group in busy.chunks_mut(LANES) {
            hash_group(group, shared.scalar);
        }
        report(shared, &mut lanes);
    }
}

/// Hashes a group's bodies side by side while at least half the lanes it
/// started with still have data, and on until every ended body is done and
/// every other is down to `RESERVE`; the rest waits for company.
fn hash_group(group: &mut [&mut Lane], scalar: bool) {
    let mut keep = None;
    loop {
        let mut runs = [0usize; LANES];
        let mut which = [0usize; LANES];
        let mut m = 0;
        let mut k = usize::MAX;
        let mut needed = false;
        for (i, l) in group.iter_mut().enumerate() {
            runs[i] = l.ready();
            if runs[i] > 0 {
                which[m] = i;
                m += 1;
                k = k.min(runs[i]);
                needed |= l.ending || l.held > RESERVE;
            }
        }
        let keep = *keep.get_or_insert((m / 2).max(1));
        if m == 0 || (m < keep && !needed) {
            return;
        }
        let mut states = [[0u32; 4]; LANES];
        {
            let mut inputs: [&[u8]; LANES] = [&[]; LANES];
            for j in 0..m {
                states[j] = group[which[j]].state;
                inputs[j] = group[which[j]].run(k);
            }
            if scalar {
                md5_lanes::compress_lanes_scalar(&mut states[..m], &inputs[..m]);
            } else {
                md5_lanes::compress_lanes(&mut states[..m], &inputs[..m]);
            }
        }
        for j in 0..m {
            let l = &mut group[which[j]];
            l.state = states[j];
            l.advance(k);
        }
    }
}

/// Tells the requests what was hashed (waking any waiting for room) and
/// hands ended bodies their digests.
fn report(shared: &Shared, lanes: &mut Vec<(u64, Lane)>) {
    let mut st = shared.lock();
    let mut done = Vec::new();
    for (id, lane) in lanes.iter_mut() {
        let Some(h) = st.bodies.get_mut(id) else {
            continue;
        };
        let was = h.unhashed;
        h.unhashed = was.saturating_sub(std::mem::take(&mut lane.consumed));
        if was > CAP && h.unhashed <= CAP {
            h.room.notify_one();
        }
        if h.finish.is_some() && h.queue.is_empty() && lane.frames.is_empty() {
            done.push(*id);
        }
    }
    for id in done {
        let (Some(h), Ok(at)) = (
            st.bodies.remove(&id),
            lanes.binary_search_by_key(&id, |(i, _)| *i),
        ) else {
            continue;
        };
        let lane = lanes.remove(at).1;
        if let Some(tx) = h.finish {
            let _ = tx.send(lane.digest());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};

    fn body(seed: u64, len: usize) -> Vec<u8> {
        let mut r = rand::rngs::StdRng::seed_from_u64(seed);
        (0..len).map(|_| r.random()).collect()
    }

    /// Hands `data` over in frames of random sizes, some tiny, some past HIGH.
    async fn hash_in_frames(b: &Md5Batcher, data: Vec<u8>, seed: u64) -> String {
        let mut r = rand::rngs::StdRng::seed_from_u64(seed);
        let data = Bytes::from(data);
        let mut s = b.stream().unwrap();
        let mut at = 0;
        while at < data.len() {
            let n = match r.random_range(0..10) {
                0 => r.random_range(1..64),
                1 => r.random_range(HIGH..HIGH + 100_000),
                _ => r.random_range(1..300_000),
            }
            .min(data.len() - at);
            s.update(data.slice(at..at + n)).await;
            at += n;
            if r.random_range(0..4) == 0 {
                tokio::task::yield_now().await;
            }
        }
        s.hex().await.unwrap()
    }

    async fn many_bodies(scalar: bool) {
        let b = Arc::new(Md5Batcher::start(scalar).unwrap());
        let mut tasks = Vec::new();
        // More bodies than lanes, of lengths around block and batch edges.
        for i in 0..(LANES as u64 + 5) {
            let len = match i % 6 {
                0 => 0,
                1 => 55,
                2 => 64 * 1000 + 56,
                3 => LOW + 63,
                4 => CAP + HIGH + 1,
                _ => 3 << 20,
            };
            let data = body(i, len);
            let want = format!("{:x}", md5::compute(&data));
            let b = b.clone();
            tasks.push(tokio::spawn(async move {
                (hash_in_frames(&b, data, i + 100).await, want)
            }));
        }
        for t in tasks {
            let (got, want) = t.await.unwrap();
            assert_eq!(got, want);
        }
        assert!(b.shared.lock().bodies.is_empty());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_bodies_get_their_own_digests_in_lanes() {
        many_bodies(false).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_bodies_get_their_own_digests_lane_by_lane() {
        many_bodies(true).await;
    }

    #[tokio::test]
    async fn an_empty_body_and_an_abandoned_one() {
        let b = Md5Batcher::start(false).unwrap();
        let mut gone = b.stream().unwrap();
        gone.update(Bytes::from(body(1, 100_000))).await;
        let empty = b.stream().unwrap();
        drop(gone);
        assert_eq!(
            empty.hex().await.unwrap(),
            "d41d8cd98f00b204e9800998ecf8427e"
        );
        assert!(b.shared.lock().bodies.is_empty());
    }

    #[test]
    fn small_declared_bodies_hash_inline() {
        assert!(matches!(
            BodyEtag::for_length(Some(4096)),
            BodyEtag::Inline(_)
        ));
        let big = BodyEtag::for_length(Some(INLINE_BELOW));
        let unknown = BodyEtag::for_length(None);
        if Md5Batcher::global().is_some() {
            assert!(matches!(big, BodyEtag::Lanes(_)));
            assert!(matches!(unknown, BodyEtag::Lanes(_)));
        }
    }

    #[tokio::test]
    async fn body_etag_matches_md5_whichever_way_it_hashes() {
        let data = body(7, 1 << 20);
        let mut e = BodyEtag::new();
        for c in data.chunks(100_003) {
            e.update(&Bytes::copy_from_slice(c)).await;
        }
        assert_eq!(e.hex().await.unwrap(), format!("{:x}", md5::compute(&data)));
    }

    #[tokio::test]
    async fn a_dead_thread_fails_its_bodies_and_takes_no_new_ones() {
        let b = Md5Batcher::start(false).unwrap();
        let mut s = b.stream().unwrap();
        b.shared.lock().dead = true;
        assert!(b.stream().is_none());
        // Past CAP, yet no wait: nothing would ever make room.
        s.update(Bytes::from(vec![1u8; CAP + HIGH])).await;
        s.update(Bytes::from(vec![1u8; 10])).await;
        assert_eq!(s.hex().await, None);
    }

    fn handed(unhashed: usize, finish: bool) -> Handed {
        Handed {
            queue: Vec::new(),
            unhashed,
            finish: finish.then(|| oneshot::channel().0),
            room: Arc::new(Notify::new()),
        }
    }

    #[test]
    fn hashing_waits_for_company_but_not_for_an_end_or_a_laggard() {
        let due = |bodies: Vec<Handed>| {
            let st = State {
                next_id: 0,
                bodies: bodies
                    .into_iter()
                    .enumerate()
                    .map(|(i, h)| (i as u64, h))
                    .collect(),
                closed: false,
                dead: false,
            };
            st.due()
        };
        assert!(!due(vec![]));
        assert!(!due(vec![handed(LOW - 1, false)]));
        assert!(due(vec![handed(LOW, false)]));
        assert!(!due(vec![handed(LOW, false), handed(10, false)]));
        assert!(due(vec![handed(LOW, false), handed(LOW, false)]));
        assert!(due(vec![handed(HIGH, false), handed(0, false)]));
        assert!(due(vec![handed(0, true), handed(0, false)]));
        let crowd: Vec<Handed> = (0..LANES + 4)
            .map(|i| handed(if i < LANES { LOW } else { 0 }, false))
            .collect();
        assert!(due(crowd));
    }
}
