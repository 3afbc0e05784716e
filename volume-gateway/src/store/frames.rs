//! A chunk object's bytes as they arrived: the body's frames kept as they
//! are, read by offset. Joining a 4 MiB body into one buffer cost a copy of
//! every byte read from the cluster (5% of the machine reading a volume
//! out); a reply sends slices of the frames instead.

use std::ops::Range;

use bytes::Bytes;

/// Bytes held as a run of shared buffers.
#[derive(Clone, Debug, Default)]
pub struct Frames {
    parts: Vec<Bytes>,
    /// The offset of each part's first byte.
    starts: Vec<usize>,
    len: usize,
}

impl Frames {
    pub fn new(parts: impl IntoIterator<Item = Bytes>) -> Frames {
        let mut f = Frames::default();
        for p in parts {
            f.push(p);
        }
        f
    }

    /// Adds a part at the end.
    pub fn push(&mut self, part: Bytes) {
        if !part.is_empty() {
            self.starts.push(self.len);
            self.len += part.len();
            self.parts.push(part);
        }
    }

    /// The parts, in order.
    pub fn parts(&self) -> &[Bytes] {
        &self.parts
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The pieces of `[at, at + len)` (clamped to what is held), in order:
    /// each part with the range of it that lies inside.
    fn pieces(&self, at: usize, len: usize) -> impl Iterator<Item = (&Bytes, Range<usize>)> {
        let end = (at + len).min(self.len);
        // The part holding byte `at`: the last one starting at or before it.
        let first = self.starts.partition_point(|&s| s <= at).saturating_sub(1);
        self.parts[first..]
            .iter()
            .zip(&self.starts[first..])
            .take_while(move |&(_, &s)| s < end)
            .map(move |(p, &s)| (p, at.max(s) - s..end.min(s + p.len()) - s))
            .filter(|(_, r)| !r.is_empty())
    }

    /// `[at, at + len)` (clamped to what is held) as slices of the parts:
    /// no copy.
    pub fn slices(&self, at: usize, len: usize) -> Vec<Bytes> {
        self.pieces(at, len).map(|(p, r)| p.slice(r)).collect()
    }

    /// Copies the bytes from `at` into `out`; what lies past the end is
    /// left as it is. Returns how many bytes were copied.
    pub fn copy_to(&self, at: usize, out: &mut [u8]) -> usize {
        let mut n = 0;
        for (p, r) in self.pieces(at, out.len()) {
            out[n..n + r.len()].copy_from_slice(&p[r.clone()]);
            n += r.len();
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frames() -> (Frames, Vec<u8>) {
        let whole: Vec<u8> = (0..100u8).collect();
        let parts = [0..7, 7..7, 7..40, 40..41, 41..100].map(|r| Bytes::copy_from_slice(&whole[r]));
        (Frames::new(parts), whole)
    }

    #[test]
    fn every_range_reads_as_the_whole_would() {
        let (f, whole) = frames();
        assert_eq!(f.len(), 100);
        for at in 0..=100 {
            for len in 0..=(105 - at) {
                let got: Vec<u8> = f.slices(at, len).concat();
                let end = (at + len).min(100);
                assert_eq!(got, &whole[at.min(end)..end], "{at}+{len}");
                assert!(f.slices(at, len).iter().all(|s| !s.is_empty()));
                let mut out = vec![0xeeu8; len];
                let n = f.copy_to(at, &mut out);
                assert_eq!(n, end - at.min(end));
                assert_eq!(&out[..n], &whole[at.min(end)..end]);
                assert!(
                    out[n..].iter().all(|&b| b == 0xee),
                    "past the end untouched"
                );
            }
        }
    }

    #[test]
    fn slices_share_the_parts() {
        let (f, _) = frames();
        let s = f.slices(10, 20);
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].as_ptr(), f.parts[1][3..].as_ptr(), "no copy");
        assert!(Frames::new(Vec::new()).slices(0, 10).is_empty());
    }
}
