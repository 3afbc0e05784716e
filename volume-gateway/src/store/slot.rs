//! One cached chunk, held as 4 KiB pages allocated only where bytes were
//! written, so the cache's memory follows the bytes written rather than the
//! number of chunks touched (scattered 4 KiB writes do not pin 4 MiB each),
//! plus, when the chunk object was read whole (sequential reads, read-ahead),
//! that object's bytes as a base under the pages. A chunk written in order
//! from its start, one whole write payload after another, keeps those
//! payloads as they arrived (its head, held as the base) instead of copying
//! them into pages, and its write-back sends them as they are. Pure: no
//! I/O, no locks.

use std::collections::HashMap;

use bytes::Bytes;

use super::frames::Frames;
use super::ranges::RangeSet;

/// Bytes per page.
pub const PAGE: usize = 4096;
/// Memory counted per page beyond its bytes (map entry, box header).
const PAGE_OVERHEAD: usize = 64;
/// Memory counted per slot (its maps and range sets).
pub const SLOT_OVERHEAD: usize = 512;
/// The smallest payload a head keeps as it is (smaller ones are copied
/// into pages: a kept part's own bookkeeping, uncounted, stays under 1%).
const SHARE_MIN: usize = 16 * 1024;

/// Bytes to put into a slot.
#[derive(Clone, Copy, Debug)]
pub enum Src<'a> {
    Data(&'a [u8]),
    /// A whole write payload, which the slot may keep instead of copying
    /// (the buffer is the payload's own: keeping it holds no more memory
    /// than its length).
    Shared(&'a Bytes),
    Zero(usize),
}

impl Src<'_> {
    pub fn len(&self) -> usize {
        match self {
            Src::Data(d) => d.len(),
            Src::Shared(d) => d.len(),
            Src::Zero(n) => *n,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A cached chunk.
#[derive(Debug)]
pub struct Slot {
    /// Identifies this slot's lifetime (a reader checks the slot it saw is
    /// the one still there).
    pub id: u64,
    /// Pages hold their region's whole current content.
    pages: HashMap<u32, Box<[u8]>>,
    /// The chunk object's bytes, when read whole: what is under the pages.
    /// Or, with `head`, the payloads written in order from the chunk's
    /// start, kept as they arrived.
    base: Option<Frames>,
    /// The base is a head of written payloads, not the chunk object.
    head: bool,
    /// Bytes whose content the slot knows: in a page, in the base, or zero
    /// where neither holds them. The rest is in the chunk object.
    pub valid: RangeSet,
    /// Bytes written since the last write-back began.
    pub written: RangeSet,
    /// Tick of the last change.
    pub version: u64,
    /// Version known durable in the cluster.
    pub clean: u64,
    /// A write-back is in flight (the slot may not be dropped).
    pub busy: bool,
    /// Zeroes written with NO_HOLE: keep an object even if all zero.
    pub provisioned: bool,
    /// Tick of the last read or write.
    pub use_tick: u64,
}

/// The pages `[at, at + len)` touches.
fn page_span(at: usize, len: usize) -> std::ops::Range<u32> {
    if len == 0 {
        return 0..0;
    }
    (at / PAGE) as u32..((at + len - 1) / PAGE + 1) as u32
}

impl Slot {
    /// A slot for a chunk; a hole's bytes are all known (zeros).
    pub fn new(id: u64, hole: bool, chunk_size: usize) -> Slot {
        Slot {
            id,
            pages: HashMap::new(),
            base: None,
            head: false,
            valid: if hole {
                RangeSet::full(chunk_size)
            } else {
                RangeSet::new()
            },
            written: RangeSet::new(),
            version: 0,
            clean: 0,
            busy: false,
            provisioned: false,
            use_tick: 0,
        }
    }

    pub fn dirty(&self) -> bool {
        self.version > self.clean
    }

    /// Clean and held by no write-back: the cache may drop it.
    pub fn idle_clean(&self) -> bool {
        !self.dirty() && !self.busy
    }

    /// A clean slot holding a chunk object read whole.
    pub fn with_base(id: u64, base: Frames, chunk_size: usize) -> Slot {
        let mut s = Slot::new(id, true, chunk_size);
        s.base = Some(base);
        s
    }

    /// Memory the slot holds.
    pub fn mem(&self) -> usize {
        SLOT_OVERHEAD
            + self.pages.len() * (PAGE + PAGE_OVERHEAD)
            + self.base.as_ref().map_or(0, Frames::len)
    }

    /// Most memory a put of `src` at `at` can add.
    pub fn need(&self, at: usize, src: &Src) -> usize {
        let pages = page_span(at, src.len()).len() * (PAGE + PAGE_OVERHEAD);
        match src {
            // Zeros over a base need pages to hide it.
            Src::Zero(_) if self.base.is_none() => 0,
            _ => pages,
        }
    }

    /// Most memory a put into a new slot can add.
    pub fn need_new(at: usize, src: &Src) -> usize {
        SLOT_OVERHEAD
            + match src {
                Src::Zero(_) => 0,
                Src::Data(_) | Src::Shared(_) => {
                    page_span(at, src.len()).len() * (PAGE + PAGE_OVERHEAD)
                }
            }
    }

    /// The bytes of page `p` as they are without the page: the base's, or zeros.
    fn under(&self, p: u32) -> Box<[u8]> {
        let mut page = vec![0u8; PAGE].into_boxed_slice();
        if let Some(b) = &self.base {
            b.copy_to(p as usize * PAGE, &mut page);
        }
        page
    }

    /// Adds the chunk object's bytes (read whole) under what the slot holds:
    /// every byte becomes known. Pages get the object's bytes where nothing
    /// was written.
    pub fn attach_base(&mut self, base: Frames, chunk_size: usize) {
        if self.head {
            self.head_to_pages();
        }
        if self.base.is_some() {
            return;
        }
        let gaps = self.valid.gaps(chunk_size);
        for (&p, page) in self.pages.iter_mut() {
            let ps = p as usize * PAGE;
            for &(a, b) in &gaps {
                let (a, b) = (a.max(ps), b.min(ps + PAGE));
                if a < b {
                    let have = a + base.copy_to(a, &mut page[a - ps..b - ps]);
                    page[have - ps..b - ps].fill(0);
                }
            }
        }
        // Bytes known as zero without a page must stay zero over the base.
        let zero_known: Vec<(usize, usize)> = {
            let mut known = self.valid.clone();
            for &p in self.pages.keys() {
                let ps = p as usize * PAGE;
                known.remove_span(ps, ps + PAGE);
            }
            known.within(0, chunk_size)
        };
        self.base = Some(base);
        for (a, b) in zero_known {
            for p in page_span(a, b - a) {
                let ps = p as usize * PAGE;
                let under = self.under(p);
                let page = self.pages.entry(p).or_insert(under);
                page[a.max(ps) - ps..b.min(ps + PAGE) - ps].fill(0);
            }
        }
        self.valid = RangeSet::full(chunk_size);
    }

    /// Moves the head's bytes into pages (the base goes), so that the
    /// chunk object's bytes can go under them.
    fn head_to_pages(&mut self) {
        if let Some(base) = &self.base {
            for p in page_span(0, base.len()) {
                if !self.pages.contains_key(&p) {
                    let page = self.under(p);
                    self.pages.insert(p, page);
                }
            }
        }
        self.base = None;
        self.head = false;
    }

    /// Puts bytes at `at`: a whole payload that continues the head (or
    /// starts it) is kept as it is; other data goes into pages (allocated
    /// as needed); zeros only clear pages that exist (no page reads as
    /// zero).
    pub fn put(&mut self, at: usize, src: Src) {
        let end = at + src.len();
        if let Src::Shared(d) = src {
            let continues = match &self.base {
                None => at == 0,
                Some(b) => self.head && b.len() == at,
            };
            if continues && self.pages.is_empty() && d.len() >= SHARE_MIN {
                let mut head = self.base.take().unwrap_or_default();
                head.push(d.clone());
                self.base = Some(head);
                self.head = true;
                self.valid.insert(at, end);
                self.written.insert(at, end);
                return;
            }
        }
        // The bytes to copy in; None for zeros.
        let data: Option<&[u8]> = match src {
            Src::Data(d) => Some(d),
            Src::Shared(d) => Some(d),
            Src::Zero(_) => None,
        };
        for p in page_span(at, src.len()) {
            let ps = p as usize * PAGE;
            let (a, b) = (at.max(ps), end.min(ps + PAGE));
            if let (Some(d), true) = (data, b - a == PAGE) {
                // A whole page of data: nothing under it to keep.
                self.pages.insert(p, Box::from(&d[a - at..b - at]));
                continue;
            }
            if !self.pages.contains_key(&p) && (self.base.is_some() || data.is_some()) {
                let under = self.under(p);
                self.pages.insert(p, under);
            }
            if let Some(page) = self.pages.get_mut(&p) {
                match data {
                    Some(d) => page[a - ps..b - ps].copy_from_slice(&d[a - at..b - at]),
                    None => page[a - ps..b - ps].fill(0),
                }
            }
        }
        self.valid.insert(at, end);
        self.written.insert(at, end);
    }

    /// Copies `[at, at + out.len())` as the slot holds it (zeros where no
    /// page is); meaningful where `valid`.
    pub fn copy_out(&self, at: usize, out: &mut [u8]) {
        let end = at + out.len();
        for p in page_span(at, out.len()) {
            let ps = p as usize * PAGE;
            let (a, b) = (at.max(ps), end.min(ps + PAGE));
            match (self.pages.get(&p), &self.base) {
                (Some(page), _) => out[a - at..b - at].copy_from_slice(&page[a - ps..b - ps]),
                (None, Some(base)) => {
                    let have = a + base.copy_to(a, &mut out[a - at..b - at]);
                    out[have - at..b - at].fill(0);
                }
                (None, None) => out[a - at..b - at].fill(0),
            }
        }
    }

    /// Lays the slot's known bytes over `out` (which holds the chunk
    /// object's bytes from `at`): what was written here is newer.
    pub fn overlay(&self, at: usize, out: &mut [u8]) {
        for (a, b) in self.valid.within(at, at + out.len()) {
            self.copy_out(a, &mut out[a - at..b - at]);
        }
    }

    /// The chunk's whole content, just assembled for a write-back, becomes
    /// the base and the pages go: the body sent and the cache share one
    /// buffer, and later writes make pages over it as over a chunk read
    /// whole.
    pub fn settle(&mut self, content: Frames, chunk_size: usize) {
        self.pages.clear();
        self.base = Some(content);
        self.head = false;
        self.valid = RangeSet::full(chunk_size);
    }

    /// The whole chunk, where the base alone holds it (a head written end
    /// to end, or a chunk read or settled whole with no page over it): a
    /// write-back sends these frames as they are.
    pub fn whole(&self, chunk_size: usize) -> Option<Frames> {
        let base = self.base.as_ref()?;
        (self.pages.is_empty() && base.len() == chunk_size).then(|| base.clone())
    }

    /// `[at, at + len)` as slices of the base, without copying, where no
    /// page lies over it and the base holds all of it.
    pub fn base_slices(&self, at: usize, len: usize) -> Option<Vec<Bytes>> {
        let base = self.base.as_ref()?;
        if at + len > base.len() || page_span(at, len).any(|p| self.pages.contains_key(&p)) {
            return None;
        }
        Some(base.slices(at, len))
    }

    /// Makes the whole chunk read as zeros (a punch while a write-back
    /// reads the slot); frees its pages.
    pub fn zero_all(&mut self, chunk_size: usize) {
        self.pages.clear();
        self.base = None;
        self.head = false;
        self.valid = RangeSet::full(chunk_size);
        self.provisioned = false;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CS: usize = 64 * 1024;

    #[test]
    fn pages_only_where_written() {
        let mut s = Slot::new(1, true, CS);
        assert_eq!(s.mem(), SLOT_OVERHEAD);
        s.put(5000, Src::Data(&[7u8; 10]));
        assert_eq!(s.mem(), SLOT_OVERHEAD + PAGE + PAGE_OVERHEAD);
        // Across a page boundary: two pages.
        s.put(2 * PAGE - 3, Src::Data(&[9u8; 6]));
        assert_eq!(s.pages.len(), 2);
        assert!(s.need(2 * PAGE - 3, &Src::Data(&[0; 6])) >= 2 * PAGE);
        assert_eq!(s.need(0, &Src::Zero(PAGE)), 0);
        // Zeros allocate nothing.
        s.put(10 * PAGE, Src::Zero(3 * PAGE));
        assert_eq!(s.pages.len(), 2);
        let mut out = vec![1u8; 20];
        s.copy_out(4995, &mut out);
        assert_eq!(&out[..5], &[0; 5]);
        assert_eq!(&out[5..15], &[7; 10]);
        let mut out = vec![1u8; 6];
        s.copy_out(2 * PAGE - 3, &mut out);
        assert_eq!(out, vec![9; 6]);
    }

    #[test]
    fn overlay_keeps_the_object_where_nothing_was_written() {
        let mut s = Slot::new(1, false, CS);
        s.put(100, Src::Data(&[5u8; 50]));
        s.put(300, Src::Zero(20));
        let mut obj = vec![8u8; 400];
        s.overlay(0, &mut obj);
        assert_eq!(&obj[..100], &[8; 100][..]);
        assert_eq!(&obj[100..150], &[5; 50][..]);
        assert_eq!(&obj[150..300], &[8; 150][..]);
        assert_eq!(&obj[300..320], &[0; 20][..]);
        assert_eq!(&obj[320..], &[8; 80][..]);
        // A zero write over written data clears it.
        s.put(110, Src::Zero(10));
        let mut obj = vec![8u8; 50];
        s.overlay(100, &mut obj);
        assert_eq!(&obj[..10], &[5; 10]);
        assert_eq!(&obj[10..20], &[0; 10]);
        assert!(!s.valid.covers(0, CS));
        s.zero_all(CS);
        assert!(s.valid.covers(0, CS));
        assert_eq!(s.mem(), SLOT_OVERHEAD);
    }

    /// `b` as frames of uneven sizes that straddle page boundaries, as a
    /// body arrives from the cluster.
    fn frames_of(b: &Bytes) -> Frames {
        let mut parts = Vec::new();
        let (mut at, mut n) = (0, 1000);
        while at < b.len() {
            let end = (at + n).min(b.len());
            parts.push(b.slice(at..end));
            (at, n) = (end, n * 3 / 2 + 37);
        }
        Frames::new(parts)
    }

    #[test]
    fn a_base_sits_under_the_pages() {
        let base = Bytes::from((0..CS).map(|i| (i % 251) as u8).collect::<Vec<u8>>());
        let mut s = Slot::with_base(1, frames_of(&base), CS);
        assert!(s.valid.covers(0, CS));
        assert_eq!(s.mem(), SLOT_OVERHEAD + CS);
        let mut all = vec![0u8; CS];
        s.copy_out(0, &mut all);
        assert_eq!(all, base);
        let slices = s.base_slices(10, CS - 20).expect("no pages yet");
        assert!(slices.len() > 5, "across frames");
        assert_eq!(slices.concat(), &base[10..CS - 10]);
        let mut out = vec![0u8; 100];
        s.copy_out(1000, &mut out);
        assert_eq!(&out[..], &base[1000..1100]);
        // A write keeps the rest of its page from the base.
        s.put(PAGE + 10, Src::Data(&[0xee; 5]));
        let mut out = vec![0u8; 30];
        s.copy_out(PAGE, &mut out);
        assert_eq!(&out[..10], &base[PAGE..PAGE + 10]);
        assert_eq!(&out[10..15], &[0xee; 5]);
        assert_eq!(&out[15..], &base[PAGE + 15..PAGE + 30]);
        // Zeros over a base take a page.
        assert!(s.need(3 * PAGE, &Src::Zero(8)) > 0);
        s.put(3 * PAGE + 2, Src::Zero(8));
        let mut out = vec![1u8; 12];
        s.copy_out(3 * PAGE, &mut out);
        assert_eq!(&out[..2], &base[3 * PAGE..3 * PAGE + 2]);
        assert_eq!(&out[2..10], &[0; 8]);
    }

    #[test]
    fn a_base_attached_later_fills_what_was_not_written() {
        let base = Bytes::from(vec![7u8; CS]);
        let mut s = Slot::new(1, false, CS);
        s.put(100, Src::Data(&[1; 10]));
        s.put(5 * PAGE, Src::Zero(PAGE + 7));
        s.attach_base(frames_of(&base), CS);
        assert!(s.valid.covers(0, CS));
        let mut out = vec![9u8; 200];
        s.copy_out(0, &mut out);
        assert_eq!(&out[..100], &[7; 100][..]);
        assert_eq!(&out[100..110], &[1; 10]);
        assert_eq!(&out[110..], &[7; 90][..]);
        let mut out = vec![9u8; 2 * PAGE];
        s.copy_out(5 * PAGE, &mut out);
        assert_eq!(
            &out[..PAGE + 7],
            &vec![0u8; PAGE + 7][..],
            "zeros stay zeros"
        );
        assert_eq!(&out[PAGE + 7..], &vec![7u8; PAGE - 7][..]);
    }

    #[test]
    fn settled_content_is_the_base_and_slices_share_it() {
        let mut s = Slot::new(1, false, CS);
        s.put(0, Src::Data(&vec![3u8; CS]));
        assert!(s.base_slices(0, PAGE).is_none(), "pages, no base yet");
        let content = Bytes::from(vec![3u8; CS]);
        s.settle(Frames::new([content.clone()]), CS);
        assert_eq!(s.mem(), SLOT_OVERHEAD + CS);
        let slices = s.base_slices(PAGE, 2 * PAGE).expect("base only");
        assert_eq!(slices.len(), 1);
        assert_eq!(slices[0].as_ptr(), content[PAGE..].as_ptr(), "no copy");
        // A later write lays a page over the base: that range is copied.
        s.put(PAGE + 1, Src::Data(&[9]));
        assert!(s.base_slices(PAGE, 2 * PAGE).is_none());
        assert!(s.base_slices(2 * PAGE, PAGE).is_some());
        assert!(s.base_slices(CS - PAGE, PAGE + 1).is_none(), "past the end");
        let mut out = vec![0u8; 3];
        s.copy_out(PAGE, &mut out);
        assert_eq!(out, vec![3, 9, 3]);
    }

    /// `n` bytes of `seed`'s pattern, as a payload of its own.
    fn payload(n: usize, seed: u8) -> Bytes {
        Bytes::from((0..n).map(|i| (i % 253) as u8 ^ seed).collect::<Vec<u8>>())
    }

    #[test]
    fn whole_payloads_written_in_order_are_kept_and_go_out_as_they_are() {
        let mut s = Slot::new(1, false, CS);
        let parts: Vec<Bytes> = (0..4).map(|i| payload(CS / 4, i as u8)).collect();
        for (i, p) in parts.iter().enumerate() {
            assert!(s.whole(CS).is_none(), "not whole yet");
            s.put(i * CS / 4, Src::Shared(p));
        }
        assert!(s.pages.is_empty());
        assert!(s.written.covers(0, CS) && s.valid.covers(0, CS));
        assert_eq!(s.mem(), SLOT_OVERHEAD + CS, "the payloads, nothing more");
        let whole = s.whole(CS).expect("written end to end");
        assert_eq!(whole.parts().len(), 4);
        for (kept, p) in whole.parts().iter().zip(&parts) {
            assert_eq!(kept.as_ptr(), p.as_ptr(), "no copy");
        }
        let mut out = vec![0u8; CS];
        s.copy_out(0, &mut out);
        assert_eq!(out, parts.concat());
        let slices = s.base_slices(CS / 4 - 3, 6).expect("no page over it");
        assert_eq!(slices.concat(), &out[CS / 4 - 3..CS / 4 + 3]);
    }

    #[test]
    fn writes_off_the_head_go_to_pages_over_it() {
        let mut s = Slot::new(1, false, CS);
        let a = payload(CS / 2, 1);
        s.put(0, Src::Shared(&a));
        // Not where the head ends: pages, and the head stays under them.
        let b = payload(SHARE_MIN, 2);
        s.put(CS / 2 + PAGE, Src::Shared(&b));
        s.put(10, Src::Data(&[0xee; 3]));
        // Too small to keep, even where the head ends.
        let c = payload(PAGE, 3);
        s.put(CS / 2, Src::Shared(&c));
        assert!(!s.valid.covers(0, CS));
        assert!(s.whole(CS).is_none());
        let mut obj = vec![7u8; CS];
        s.overlay(0, &mut obj);
        let mut want = a.to_vec();
        want[10..13].fill(0xee);
        want.extend_from_slice(&c);
        want.extend_from_slice(&b);
        want.resize(CS, 7);
        assert_eq!(obj, want);
        // A payload copied into pages is not held whole.
        assert_eq!(s.pages.len(), 1 + 1 + SHARE_MIN / PAGE);
    }

    #[test]
    fn a_base_attached_under_a_head_fills_the_rest() {
        let mut s = Slot::new(1, false, CS);
        let a = payload(SHARE_MIN + 100, 4);
        s.put(0, Src::Shared(&a));
        s.put(CS - 5, Src::Data(&[1; 5]));
        s.attach_base(frames_of(&Bytes::from(vec![7u8; CS])), CS);
        assert!(s.valid.covers(0, CS));
        let mut out = vec![0u8; CS];
        s.copy_out(0, &mut out);
        assert_eq!(&out[..a.len()], &a[..]);
        assert!(out[a.len()..CS - 5].iter().all(|&b| b == 7));
        assert_eq!(&out[CS - 5..], &[1; 5]);
        // The head became pages; the object is the base now.
        assert!(s.whole(CS).is_none());
        let mut t = Slot::new(2, true, CS);
        t.put(0, Src::Shared(&a));
        t.zero_all(CS);
        let mut out = vec![1u8; 100];
        t.copy_out(0, &mut out);
        assert_eq!(out, vec![0u8; 100], "a zeroed head reads as zeros");
    }

    #[test]
    fn dirty_tracks_versions() {
        let mut s = Slot::new(1, true, CS);
        assert!(!s.dirty());
        s.version = 3;
        assert!(s.dirty());
        s.clean = 3;
        assert!(!s.dirty());
    }
}
