//! What each request is: the operation mix, object names, and which object index a
//! worker touches next (pure logic over atomics; no I/O).
//!
//! Index rules: PUT takes fresh indexes in order (unique names), GET/HEAD pick a
//! random index of the pool, DELETE takes the pool's indexes in order. In the mixed
//! workload the pool is a moving window: reads pick from [next delete, lowest
//! unfinished PUT), so a read never races a PUT of the same name; a read that races
//! a DELETE is told apart afterwards with [`Pool::deleted`].

use std::sync::atomic::{AtomicU64, Ordering};

/// One kind of request.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// PUT an object.
    Put,
    /// GET an object.
    Get,
    /// HEAD an object.
    Head,
    /// DELETE an object.
    Delete,
    /// GET a container listing.
    List,
}

impl Op {
    /// Lower-case name for output.
    pub fn name(self) -> &'static str {
        match self {
            Op::Put => "put",
            Op::Get => "get",
            Op::Head => "head",
            Op::Delete => "delete",
            Op::List => "list",
        }
    }
}

/// Relative weights of operations.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mix {
    weights: Vec<(Op, u32)>,
    total: u64,
}

impl Mix {
    /// A mix; at least one positive weight.
    pub fn new(weights: Vec<(Op, u32)>) -> Result<Mix, String> {
        let weights: Vec<(Op, u32)> = weights.into_iter().filter(|(_, w)| *w > 0).collect();
        let total: u64 = weights.iter().map(|(_, w)| u64::from(*w)).sum();
        if total == 0 {
            return Err("the mix needs at least one operation with a positive weight".into());
        }
        Ok(Mix { weights, total })
    }

    /// A mix of one operation.
    pub fn only(op: Op) -> Mix {
        Mix {
            weights: vec![(op, 1)],
            total: 1,
        }
    }

    /// The weight of `op` (sum if listed twice).
    pub fn weight(&self, op: Op) -> u64 {
        self.weights
            .iter()
            .filter(|(o, _)| *o == op)
            .map(|(_, w)| u64::from(*w))
            .sum()
    }

    /// Picks an operation from a uniform random number.
    pub fn pick(&self, r: u64) -> Op {
        let mut x = r % self.total;
        for &(op, w) in &self.weights {
            if x < u64::from(w) {
                return op;
            }
            x -= u64::from(w);
        }
        // unreachable in practice: x < total
        self.weights.last().map(|(o, _)| *o).unwrap_or(Op::Put)
    }
}

/// Object and container names.
#[derive(Clone, Debug)]
pub struct Naming {
    container: String,
    containers: u64,
    prefix: String,
}

/// Characters that need no escaping in a URL path segment.
fn plain_segment(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

impl Naming {
    /// Names under `container` (or `container-k`), objects `prefix` + index.
    pub fn new(container: &str, containers: u64, prefix: &str) -> Result<Naming, String> {
        if !plain_segment(container) {
            return Err(format!(
                "container name {container:?} must be non-empty and use only A-Z a-z 0-9 - . _ ~"
            ));
        }
        if !prefix.is_empty() && !plain_segment(prefix) {
            return Err(format!(
                "object prefix {prefix:?} may use only A-Z a-z 0-9 - . _ ~"
            ));
        }
        if containers == 0 {
            return Err("at least one container".into());
        }
        Ok(Naming {
            container: container.to_string(),
            containers,
            prefix: prefix.to_string(),
        })
    }

    /// Number of containers.
    pub fn containers(&self) -> u64 {
        self.containers
    }

    /// Container `k` (0-based).
    pub fn container_name(&self, k: u64) -> String {
        if self.containers == 1 {
            self.container.clone()
        } else {
            format!("{}-{}", self.container, k % self.containers)
        }
    }

    /// `/container/object` of object index `i`.
    pub fn object_path(&self, i: u64) -> String {
        format!(
            "/{}/{}{:08}",
            self.container_name(i % self.containers),
            self.prefix,
            i
        )
    }
}

/// Marker for "no PUT in flight" in [`Pool`]'s per-worker slots.
const NONE: u64 = u64::MAX;

/// Index allocation shared by the workers of one run.
pub struct Pool {
    objects: u64,
    mixed: bool,
    put_next: AtomicU64,
    del_next: AtomicU64,
    inflight: Vec<AtomicU64>,
}

impl Pool {
    /// For `workers` workers; the pool is `0..objects`; PUTs start at `start` (in a
    /// mixed run: after the pool).
    pub fn new(workers: usize, objects: u64, start: u64, mixed: bool) -> Pool {
        Pool {
            objects,
            mixed,
            put_next: AtomicU64::new(if mixed { start.max(objects) } else { start }),
            del_next: AtomicU64::new(0),
            inflight: (0..workers).map(|_| AtomicU64::new(NONE)).collect(),
        }
    }

    /// Lowest index not known to be written: the next PUT or the oldest in flight.
    fn written_below(&self) -> u64 {
        let mut w = self.put_next.load(Ordering::Acquire);
        for s in &self.inflight {
            w = w.min(s.load(Ordering::Acquire));
        }
        w
    }

    /// Index for a PUT by `worker`; call [`Pool::put_done`] when it completes.
    pub fn put(&self, worker: usize) -> u64 {
        if !self.mixed {
            return self.put_next.fetch_add(1, Ordering::Relaxed);
        }
        // Mark the slot before taking the index so a reader computing the window
        // never sees the new put_next without this in-flight entry (the slot holds
        // a lower bound until the real index is stored).
        let slot = self.inflight.get(worker);
        if let Some(s) = slot {
            s.store(self.put_next.load(Ordering::Acquire), Ordering::Release);
        }
        let i = self.put_next.fetch_add(1, Ordering::AcqRel);
        if let Some(s) = slot {
            s.store(i, Ordering::Release);
        }
        i
    }

    /// The PUT of `worker` finished (successfully or not).
    pub fn put_done(&self, worker: usize) {
        if let Some(s) = self.inflight.get(worker) {
            s.store(NONE, Ordering::Release);
        }
    }

    /// Index for a GET/HEAD from a uniform random number; None if nothing is readable.
    pub fn read(&self, r: u64) -> Option<u64> {
        let (lo, hi) = if self.mixed {
            (self.del_next.load(Ordering::Acquire), self.written_below())
        } else {
            (0, self.objects)
        };
        (hi > lo).then(|| lo + r % (hi - lo))
    }

    /// Index for a DELETE; None when the pool is used up.
    pub fn delete(&self) -> Option<u64> {
        if !self.mixed {
            let i = self.del_next.fetch_add(1, Ordering::Relaxed);
            return (i < self.objects).then_some(i);
        }
        let mut cur = self.del_next.load(Ordering::Acquire);
        loop {
            if cur >= self.written_below() {
                return None;
            }
            match self.del_next.compare_exchange_weak(
                cur,
                cur + 1,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => return Some(cur),
                Err(now) => cur = now,
            }
        }
    }

    /// Whether index `i` has been handed to a DELETE (a 404 on it is a race, not an error).
    pub fn deleted(&self, i: u64) -> bool {
        i < self.del_next.load(Ordering::Acquire)
    }

    /// Number of leading indexes `0..n` handed out to PUTs so far (from `start`).
    pub fn puts_issued(&self) -> u64 {
        self.put_next.load(Ordering::Acquire)
    }
}

/// Small fast PRNG (xorshift64*) for picking objects and operations.
pub struct Rng(u64);

impl Rng {
    /// Seeded generator (a zero seed is replaced).
    pub fn new(seed: u64) -> Rng {
        Rng(if seed == 0 {
            0x9e37_79b9_7f4a_7c15
        } else {
            seed
        })
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mix_picks_by_weight() {
        let m = Mix::new(vec![(Op::Put, 1), (Op::Get, 3), (Op::Head, 0)]).unwrap();
        let mut counts = [0u32; 2];
        for r in 0..4000u64 {
            match m.pick(r) {
                Op::Put => counts[0] += 1,
                Op::Get => counts[1] += 1,
                other => panic!("picked {other:?}"),
            }
        }
        assert_eq!(counts, [1000, 3000]);
        assert!(Mix::new(vec![(Op::Put, 0)]).is_err());
        assert_eq!(Mix::only(Op::List).pick(12345), Op::List);
    }

    #[test]
    fn names() {
        let n = Naming::new("bench", 1, "o").unwrap();
        assert_eq!(n.object_path(7), "/bench/o00000007");
        let n = Naming::new("bench", 3, "x").unwrap();
        assert_eq!(n.object_path(7), "/bench-1/x00000007");
        assert_eq!(n.container_name(2), "bench-2");
        assert!(Naming::new("a/b", 1, "o").is_err());
        assert!(Naming::new("", 1, "o").is_err());
        assert!(Naming::new("a", 1, "o?").is_err());
        assert!(Naming::new("a", 0, "o").is_err());
        assert_eq!(
            Naming::new("a", 1, "").unwrap().object_path(1),
            "/a/00000001"
        );
    }

    #[test]
    fn plain_pool() {
        let p = Pool::new(2, 3, 10, false);
        assert_eq!(p.put(0), 10);
        assert_eq!(p.put(1), 11);
        assert_eq!(p.delete(), Some(0));
        assert_eq!(p.delete(), Some(1));
        assert_eq!(p.delete(), Some(2));
        assert_eq!(p.delete(), None);
        for r in 0..100 {
            assert!(p.read(r).unwrap() < 3);
        }
    }

    #[test]
    fn mixed_pool_window() {
        let p = Pool::new(2, 2, 0, true);
        // pool 0..2 exists; puts start at 2
        let a = p.put(0);
        assert_eq!(a, 2);
        // index 2 is in flight: readable window is 0..2
        for r in 0..50 {
            assert!(p.read(r).unwrap() < 2);
        }
        p.put_done(0);
        let b = p.put(1);
        assert_eq!(b, 3);
        for r in 0..50 {
            assert!(p.read(r).unwrap() < 3);
        }
        assert_eq!(p.delete(), Some(0));
        assert!(p.deleted(0));
        assert!(!p.deleted(1));
        assert_eq!(p.delete(), Some(1));
        assert_eq!(p.delete(), Some(2));
        // 3 still in flight: nothing left to delete or read
        assert_eq!(p.delete(), None);
        assert_eq!(p.read(5), None);
        p.put_done(1);
        assert_eq!(p.read(5), Some(3));
        assert_eq!(p.puts_issued(), 4);
    }

    #[test]
    fn rng_varies() {
        let mut r = Rng::new(0);
        let a = r.next_u64();
        let b = r.next_u64();
        assert_ne!(a, b);
    }
}
