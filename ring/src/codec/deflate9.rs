//! Raw deflate at zlib's level 9, bit for bit what zlib 1.2.13 writes
//! (memLevel 8, 15-bit window, default strategy), only faster.
//!
//! Ring files must be byte-identical to Swift's, and Swift compresses them
//! with Python's zlib at level 9, so the output of zlib's `deflate_slow` is
//! the contract. Its cost is the match search: at level 9 zlib walks hash
//! chains up to 4096 entries long, and ring tables (little-endian device ids,
//! so every other byte is zero) give chains of a hundred or more true 3-byte
//! matches at every other position. At part power 18 that search costs more
//! than the rebalance itself, in Swift and in swirl alike.
//!
//! This module keeps zlib's exact state machine (window, sliding, lazy
//! matching, block splitting, Huffman trees) and answers zlib's
//! `longest_match` question differently: zlib returns the longest match in
//! the candidates it walks, the most recent one among equals. When the walk
//! would not be cut short by the chain-length cap (counted per hash bucket
//! over the window), that answer is fixed by the data alone, and a second
//! chain keyed on 4 bytes finds it by visiting only the candidates that
//! match 4 bytes or more; the most recent 3-byte match comes from the head of
//! zlib's own chain. Where the cap could bind, or near the end of the input,
//! zlib's own walk runs. Tests run both at every search and compare them,
//! and compare whole streams with the zlib flate2 links.

/// Window size (zlib's `w_size`, 2^15) and its mask.
const WSIZE: usize = 1 << 15;
const WMASK: usize = WSIZE - 1;
const WINDOW_SIZE: usize = 2 * WSIZE;
/// zlib's hash: 15 bits (memLevel 8 + 7), shift 5.
const HASH_SIZE: usize = 1 << 15;
const HASH_MASK: usize = HASH_SIZE - 1;
const MIN_MATCH: usize = 3;
const MAX_MATCH: usize = 258;
const MIN_LOOKAHEAD: usize = MAX_MATCH + MIN_MATCH + 1;
const MAX_DIST: usize = WSIZE - MIN_LOOKAHEAD;
/// Matches of length 3 further away than this are dropped.
const TOO_FAR: usize = 4096;
/// Level 9 of zlib's configuration table.
const GOOD_LENGTH: usize = 32;
const MAX_LAZY: usize = 258;
const NICE_LENGTH: usize = 258;
const MAX_CHAIN: usize = 4096;
/// Symbols per block: zlib's `lit_bufsize` (1 << (memLevel + 6)) less one.
const SYMS_PER_BLOCK: usize = (1 << 14) - 1;
/// Buckets of the 4-byte chain.
const HASH4_BITS: u32 = 16;

/// zlib level-9 raw deflate fed by successive `write`s (`Z_NO_FLUSH`) and one
/// `finish` (`Z_FINISH`), as Python's `compressobj(9, DEFLATED, -15)` is.
pub struct Deflate9 {
    window: Vec<u8>,
    head: Vec<u16>,
    prev: Vec<u16>,
    head4: Vec<u16>,
    prev4: Vec<u16>,
    /// Positions per zlib hash bucket in `(evict - 1, newest inserted]`.
    count: Vec<u16>,
    /// Next position (window coordinates) to take out of `count`.
    evict: usize,
    strstart: usize,
    lookahead: usize,
    /// One past the last byte of input in the window.
    end: usize,
    block_start: isize,
    match_length: usize,
    match_start: usize,
    prev_length: usize,
    prev_match: usize,
    match_available: bool,
    input: Vec<u8>,
    in_pos: usize,
    syms: Vec<(u16, u8)>,
    trees: Trees,
    bits: BitWriter,
}

impl Default for Deflate9 {
    fn default() -> Self {
        Self::new()
    }
}

/// zlib's `UPDATE_HASH` over three bytes (it rolls, but only the last three
/// bytes survive its shifts, so it is a function of them).
fn hash3(w: &[u8], p: usize) -> usize {
    ((usize::from(w[p]) << 10) ^ (usize::from(w[p + 1]) << 5) ^ usize::from(w[p + 2])) & HASH_MASK
}

fn hash4(w: &[u8], p: usize) -> usize {
    let v = u32::from_le_bytes([w[p], w[p + 1], w[p + 2], w[p + 3]]);
    (v.wrapping_mul(0x9e37_79b1) >> (32 - HASH4_BITS)) as usize
}

/// Length of the common prefix of `w[a..]` and `w[b..]`, at most `max`.
fn common_prefix(w: &[u8], a: usize, b: usize, max: usize) -> usize {
    let (x, y) = (&w[a..a + max], &w[b..b + max]);
    let mut n = 0;
    for (cx, cy) in x.chunks_exact(8).zip(y.chunks_exact(8)) {
        let (vx, vy) = (
            u64::from_le_bytes([cx[0], cx[1], cx[2], cx[3], cx[4], cx[5], cx[6], cx[7]]),
            u64::from_le_bytes([cy[0], cy[1], cy[2], cy[3], cy[4], cy[5], cy[6], cy[7]]),
        );
        let diff = vx ^ vy;
        if diff != 0 {
            return n + (diff.trailing_zeros() / 8) as usize;
        }
        n += 8;
    }
    n + x[n..]
        .iter()
        .zip(&y[n..])
        .take_while(|(p, q)| p == q)
        .count()
}

impl Deflate9 {
    pub fn new() -> Self {
        Deflate9 {
            window: vec![0; WINDOW_SIZE],
            head: vec![0; HASH_SIZE],
            prev: vec![0; WSIZE],
            head4: vec![0; 1 << HASH4_BITS],
            prev4: vec![0; WSIZE],
            count: vec![0; HASH_SIZE],
            evict: 0,
            strstart: 0,
            lookahead: 0,
            end: 0,
            block_start: 0,
            match_length: MIN_MATCH - 1,
            match_start: 0,
            prev_length: MIN_MATCH - 1,
            prev_match: 0,
            match_available: false,
            input: Vec::new(),
            in_pos: 0,
            syms: Vec::with_capacity(SYMS_PER_BLOCK),
            trees: Trees::new(),
            bits: BitWriter::default(),
        }
    }

    /// Compresses `data` (zlib's `deflate(Z_NO_FLUSH)`); compressed bytes
    /// completed so far can be taken with [`Deflate9::take_output`].
    pub fn write(&mut self, data: &[u8]) {
        if data.is_empty() {
            return;
        }
        self.input.clear();
        self.input.extend_from_slice(data);
        self.in_pos = 0;
        self.run(false);
    }

    /// Ends the stream (`Z_FINISH`) and returns the rest of the output.
    pub fn finish(mut self) -> Vec<u8> {
        self.input.clear();
        self.in_pos = 0;
        self.run(true);
        self.bits.windup();
        std::mem::take(&mut self.bits.out)
    }

    /// Whole bytes of output so far, handed over.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.bits.out)
    }

    /// zlib's `fill_window`.
    fn fill_window(&mut self) {
        loop {
            let mut more = WINDOW_SIZE - self.lookahead - self.strstart;
            if self.strstart >= WSIZE + MAX_DIST {
                self.slide(more);
                more += WSIZE;
            }
            let avail = self.input.len() - self.in_pos;
            if avail == 0 {
                break;
            }
            let n = avail.min(more);
            let at = self.strstart + self.lookahead;
            self.window[at..at + n].copy_from_slice(&self.input[self.in_pos..self.in_pos + n]);
            self.in_pos += n;
            self.lookahead += n;
            self.end = self.strstart + self.lookahead;
            if self.lookahead >= MIN_LOOKAHEAD || self.in_pos == self.input.len() {
                break;
            }
        }
    }

    /// The window slides down by `WSIZE`; hash entries follow (zlib's
    /// `slide_hash`: entries that fall out become NIL).
    fn slide(&mut self, more: usize) {
        // Positions about to leave the window leave the bucket counts first.
        while self.evict < WSIZE {
            self.uncount(self.evict);
            self.evict += 1;
        }
        self.evict -= WSIZE;
        self.window.copy_within(WSIZE..WSIZE + (WSIZE - more), 0);
        self.match_start = self.match_start.wrapping_sub(WSIZE);
        self.strstart -= WSIZE;
        self.end -= WSIZE;
        self.block_start -= WSIZE as isize;
        for table in [
            &mut self.head,
            &mut self.prev,
            &mut self.head4,
            &mut self.prev4,
        ] {
            for e in table.iter_mut() {
                let m = usize::from(*e);
                *e = if m >= WSIZE { (m - WSIZE) as u16 } else { 0 };
            }
        }
    }

    fn uncount(&mut self, p: usize) {
        let h = hash3(&self.window, p);
        self.count[h] = self.count[h].saturating_sub(1);
    }

    /// zlib's `INSERT_STRING`, plus the 4-byte chain and the bucket count.
    /// Returns the previous head of the position's zlib chain.
    fn insert(&mut self, p: usize) -> usize {
        let w = &self.window;
        let h = hash3(w, p);
        let head = self.head[h];
        self.prev[p & WMASK] = head;
        self.head[h] = p as u16;
        self.count[h] = self.count[h].saturating_add(1);
        // Near the end of the input a position may have only 3 bytes; the
        // 4-byte chain is only consulted where every position has 4 or more.
        if p + 4 <= self.end {
            let h4 = hash4(w, p);
            self.prev4[p & WMASK] = self.head4[h4];
            self.head4[h4] = p as u16;
        }
        usize::from(head)
    }

    /// zlib's `deflate_slow`, run until it needs more input (or, finishing,
    /// to the end).
    fn run(&mut self, finish: bool) {
        loop {
            if self.lookahead < MIN_LOOKAHEAD {
                self.fill_window();
                if self.lookahead < MIN_LOOKAHEAD && !finish {
                    return;
                }
                if self.lookahead == 0 {
                    break;
                }
            }
            let mut hash_head = 0;
            if self.lookahead >= MIN_MATCH {
                hash_head = self.insert(self.strstart);
            }
            self.prev_length = self.match_length;
            self.prev_match = self.match_start;
            self.match_length = MIN_MATCH - 1;
            if hash_head != 0
                && self.prev_length < MAX_LAZY
                && self.strstart - hash_head <= MAX_DIST
            {
                self.match_length = self.longest_match(hash_head);
                // match_start may be stale (and wrapped by a slide) when
                // nothing better was found; the outcome is the same then.
                if self.match_length == MIN_MATCH
                    && self.strstart.wrapping_sub(self.match_start) > TOO_FAR
                {
                    self.match_length = MIN_MATCH - 1;
                }
            }
            if self.prev_length >= MIN_MATCH && self.match_length <= self.prev_length {
                let max_insert = self.strstart + self.lookahead - MIN_MATCH;
                let dist = self.strstart - 1 - self.prev_match;
                let full = self.tally(dist, self.prev_length - MIN_MATCH);
                self.lookahead -= self.prev_length - 1;
                self.prev_length -= 2;
                loop {
                    self.strstart += 1;
                    if self.strstart <= max_insert {
                        self.insert(self.strstart);
                    }
                    self.prev_length -= 1;
                    if self.prev_length == 0 {
                        break;
                    }
                }
                self.match_available = false;
                self.match_length = MIN_MATCH - 1;
                self.strstart += 1;
                if full {
                    self.flush_block(false);
                }
            } else if self.match_available {
                let lit = self.window[self.strstart - 1];
                if self.tally(0, usize::from(lit)) {
                    self.flush_block(false);
                }
                self.strstart += 1;
                self.lookahead -= 1;
            } else {
                self.match_available = true;
                self.strstart += 1;
                self.lookahead -= 1;
            }
        }
        if self.match_available {
            let lit = self.window[self.strstart - 1];
            self.tally(0, usize::from(lit));
            self.match_available = false;
        }
        self.flush_block(true);
    }

    /// Record a literal (`dist` 0, `lc` the byte) or a match (`lc` = length
    /// - 3); true when the block is full.
    fn tally(&mut self, dist: usize, lc: usize) -> bool {
        self.syms.push((dist as u16, lc as u8));
        if dist == 0 {
            self.trees.ltree.freq[lc] += 1;
        } else {
            self.trees.ltree.freq[usize::from(LENGTH_CODE[lc]) + LITERALS + 1] += 1;
            self.trees.dtree.freq[d_code(dist - 1)] += 1;
        }
        self.syms.len() == SYMS_PER_BLOCK
    }

    /// zlib's `FLUSH_BLOCK_ONLY`.
    fn flush_block(&mut self, last: bool) {
        let stored = (self.block_start >= 0).then(|| {
            let start = self.block_start as usize;
            &self.window[start..self.strstart]
        });
        let stored_len = (self.strstart as isize - self.block_start) as usize;
        self.trees
            .flush_block(&mut self.bits, &self.syms, stored, stored_len, last);
        self.syms.clear();
        self.block_start = self.strstart as isize;
    }

    /// zlib's `longest_match(cur_match)`: the fast answer where it is known
    /// to agree, zlib's walk otherwise.
    fn longest_match(&mut self, cur_match: usize) -> usize {
        let s = self.strstart;
        let limit = s.saturating_sub(MAX_DIST);
        // Keep the bucket counts to positions in (limit, s].
        while self.evict <= limit {
            self.uncount(self.evict);
            self.evict += 1;
        }
        let chain = if self.prev_length >= GOOD_LENGTH {
            MAX_CHAIN >> 2
        } else {
            MAX_CHAIN
        };
        let in_chain = usize::from(self.count[hash3(&self.window, s)]).saturating_sub(1);
        if self.lookahead >= MIN_LOOKAHEAD && in_chain <= chain && cur_match > limit {
            let (len, start) = self.fast_match(cur_match, limit);
            #[cfg(test)]
            {
                let saved = self.match_start;
                let want = self.zlib_match(cur_match);
                let want_start = self.match_start;
                self.match_start = saved;
                let (got, got_start) = if len > self.prev_length {
                    (len, start)
                } else {
                    (self.prev_length, saved)
                };
                assert_eq!((got, got_start), (want, want_start), "fast match at {s}");
            }
            if len > self.prev_length {
                self.match_start = start;
                return len;
            }
            return self.prev_length;
        }
        self.zlib_match(cur_match)
    }

    /// The longest match among all earlier positions in `(limit, s)` with the
    /// same first three bytes, the most recent of the longest; `(0, 0)` if
    /// there is none. Valid only with a full lookahead.
    fn fast_match(&self, cur_match: usize, limit: usize) -> (usize, usize) {
        let w = &self.window;
        let s = self.strstart;
        let (mut best, mut best_at) = (0, 0);
        let mut q = usize::from(self.prev4[s & WMASK]);
        let key = &w[s..s + 4];
        while q > limit {
            if &w[q..q + 4] == key {
                let len = 4 + common_prefix(w, q + 4, s + 4, MAX_MATCH - 4);
                if len > best {
                    best = len;
                    best_at = q;
                    if len >= NICE_LENGTH {
                        break;
                    }
                }
            }
            q = usize::from(self.prev4[q & WMASK]);
        }
        if best > 0 {
            return (best, best_at);
        }
        // No 4-byte match: the most recent 3-byte one is the first entry of
        // zlib's chain whose first two bytes agree (the hash fixes the third).
        let mut c = cur_match;
        while c > limit {
            if w[c] == w[s] && w[c + 1] == w[s + 1] {
                return (MIN_MATCH, c);
            }
            c = usize::from(self.prev[c & WMASK]);
        }
        (0, 0)
    }

    /// zlib's `longest_match`, step for step.
    fn zlib_match(&mut self, mut cur_match: usize) -> usize {
        let w = &self.window;
        let s = self.strstart;
        let mut chain_length = MAX_CHAIN;
        let mut best_len = self.prev_length;
        let mut nice_match = NICE_LENGTH;
        let limit = s.saturating_sub(MAX_DIST);
        if self.prev_length >= GOOD_LENGTH {
            chain_length >>= 2;
        }
        if nice_match > self.lookahead {
            nice_match = self.lookahead;
        }
        loop {
            let m = cur_match;
            // zlib compares up to s + MAX_MATCH even near the end of the
            // input (the window beyond the data is zero or old bytes), so
            // this does too.
            if w[m + best_len] == w[s + best_len]
                && w[m + best_len - 1] == w[s + best_len - 1]
                && w[m] == w[s]
                && w[m + 1] == w[s + 1]
            {
                let len = 3 + common_prefix(w, m + 3, s + 3, MAX_MATCH - 3);
                if len > best_len {
                    self.match_start = m;
                    best_len = len;
                    if len >= nice_match {
                        break;
                    }
                }
            }
            cur_match = usize::from(self.prev[cur_match & WMASK]);
            if cur_match <= limit {
                break;
            }
            chain_length -= 1;
            if chain_length == 0 {
                break;
            }
        }
        best_len.min(self.lookahead)
    }
}

// ---------------------------------------------------------------------------
// Huffman trees and block output (zlib's trees.c).

const LITERALS: usize = 256;
const LENGTH_CODES: usize = 29;
const L_CODES: usize = LITERALS + 1 + LENGTH_CODES;
const D_CODES: usize = 30;
const BL_CODES: usize = 19;
const HEAP_SIZE: usize = 2 * L_CODES + 1;
const MAX_BITS: usize = 15;
const MAX_BL_BITS: usize = 7;
const END_BLOCK: usize = 256;
const REP_3_6: usize = 16;
const REPZ_3_10: usize = 17;
const REPZ_11_138: usize = 18;

const EXTRA_LBITS: [u8; LENGTH_CODES] = [
    0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0,
];
const EXTRA_DBITS: [u8; D_CODES] = [
    0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13,
    13,
];
const EXTRA_BLBITS: [u8; BL_CODES] = [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 3, 7];
const BL_ORDER: [usize; BL_CODES] = [
    16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15,
];

/// Length code of `length - 3`, and each code's base (zlib's
/// `_length_code` and `base_length`).
const LENGTH_CODE: [u8; 256] = length_codes().0;
const BASE_LENGTH: [u16; LENGTH_CODES] = length_codes().1;
/// Distance code of `dist - 1` (first 256 entries) and of `(dist - 1) >> 7`
/// (the rest), and each code's base (zlib's `_dist_code` and `base_dist`).
const DIST_CODE: [u8; 512] = dist_codes().0;
const BASE_DIST: [u16; D_CODES] = dist_codes().1;

const fn length_codes() -> ([u8; 256], [u16; LENGTH_CODES]) {
    let mut code_of = [0u8; 256];
    let mut base = [0u16; LENGTH_CODES];
    let mut length = 0;
    let mut code = 0;
    while code < LENGTH_CODES - 1 {
        base[code] = length as u16;
        let mut n = 0;
        while n < (1 << EXTRA_LBITS[code]) {
            code_of[length] = code as u8;
            length += 1;
            n += 1;
        }
        code += 1;
    }
    // Length 258 (lc 255) has its own code, overriding the last slot.
    code_of[255] = code as u8;
    (code_of, base)
}

const fn dist_codes() -> ([u8; 512], [u16; D_CODES]) {
    let mut code_of = [0u8; 512];
    let mut base = [0u16; D_CODES];
    let mut dist = 0;
    let mut code = 0;
    while code < 16 {
        base[code] = dist as u16;
        let mut n = 0;
        while n < (1 << EXTRA_DBITS[code]) {
            code_of[dist] = code as u8;
            dist += 1;
            n += 1;
        }
        code += 1;
    }
    dist >>= 7;
    while code < D_CODES {
        base[code] = (dist << 7) as u16;
        let mut n = 0;
        while n < (1 << (EXTRA_DBITS[code] - 7)) {
            code_of[256 + dist] = code as u8;
            dist += 1;
            n += 1;
        }
        code += 1;
    }
    (code_of, base)
}

fn d_code(dist: usize) -> usize {
    usize::from(if dist < 256 {
        DIST_CODE[dist]
    } else {
        DIST_CODE[256 + (dist >> 7)]
    })
}

fn bi_reverse(mut code: u32, len: usize) -> u16 {
    let mut res = 0u32;
    for _ in 0..len {
        res = (res << 1) | (code & 1);
        code >>= 1;
    }
    res as u16
}

/// zlib's `gen_codes`: canonical codes from bit lengths.
fn gen_codes(len: &[u16], code: &mut [u16], max_code: usize, bl_count: &[u16; MAX_BITS + 1]) {
    let mut next_code = [0u16; MAX_BITS + 1];
    let mut c: u32 = 0;
    for bits in 1..=MAX_BITS {
        c = (c + u32::from(bl_count[bits - 1])) << 1;
        next_code[bits] = c as u16;
    }
    for n in 0..=max_code {
        let l = usize::from(len[n]);
        if l == 0 {
            continue;
        }
        code[n] = bi_reverse(u32::from(next_code[l]), l);
        next_code[l] = next_code[l].wrapping_add(1);
    }
}

/// One of zlib's trees: a leaf per symbol, room for the internal nodes.
struct Tree {
    freq: Vec<u16>,
    dad: Vec<u16>,
    len: Vec<u16>,
    code: Vec<u16>,
    max_code: usize,
}

impl Tree {
    fn new(nodes: usize) -> Tree {
        Tree {
            freq: vec![0; nodes],
            dad: vec![0; nodes],
            len: vec![0; nodes],
            code: vec![0; nodes],
            max_code: 0,
        }
    }
}

/// A static tree: its lengths and codes.
struct StaticTree {
    len: Vec<u16>,
    code: Vec<u16>,
}

/// What zlib's `static_tree_desc` says about a tree.
struct Desc<'a> {
    stree: Option<&'a StaticTree>,
    extra: &'a [u8],
    extra_base: usize,
    elems: usize,
    max_length: usize,
}

struct Trees {
    ltree: Tree,
    dtree: Tree,
    bltree: Tree,
    static_l: StaticTree,
    static_d: StaticTree,
    heap: Vec<usize>,
    heap_len: usize,
    heap_max: usize,
    depth: Vec<u8>,
    bl_count: [u16; MAX_BITS + 1],
    opt_len: u64,
    static_len: u64,
}

impl Trees {
    fn new() -> Trees {
        let mut static_l = StaticTree {
            len: vec![0; L_CODES + 2],
            code: vec![0; L_CODES + 2],
        };
        let mut bl_count = [0u16; MAX_BITS + 1];
        for (n, l) in static_l.len.iter_mut().enumerate() {
            *l = match n {
                0..=143 => 8,
                144..=255 => 9,
                256..=279 => 7,
                _ => 8,
            };
            bl_count[usize::from(*l)] += 1;
        }
        let max = L_CODES + 1;
        gen_codes(&static_l.len, &mut static_l.code, max, &bl_count);
        let static_d = StaticTree {
            len: vec![5; D_CODES],
            code: (0..D_CODES as u32).map(|n| bi_reverse(n, 5)).collect(),
        };
        let mut t = Trees {
            ltree: Tree::new(HEAP_SIZE),
            dtree: Tree::new(2 * D_CODES + 1),
            bltree: Tree::new(2 * BL_CODES + 1),
            static_l,
            static_d,
            heap: vec![0; HEAP_SIZE],
            heap_len: 0,
            heap_max: 0,
            depth: vec![0; HEAP_SIZE],
            bl_count: [0; MAX_BITS + 1],
            opt_len: 0,
            static_len: 0,
        };
        t.init_block();
        t
    }

    fn init_block(&mut self) {
        self.ltree.freq[..L_CODES].fill(0);
        self.dtree.freq[..D_CODES].fill(0);
        self.bltree.freq[..BL_CODES].fill(0);
        self.ltree.freq[END_BLOCK] = 1;
        self.opt_len = 0;
        self.static_len = 0;
    }

    /// zlib's `smaller`: by frequency, then by depth.
    fn smaller(tree: &Tree, depth: &[u8], n: usize, m: usize) -> bool {
        tree.freq[n] < tree.freq[m] || (tree.freq[n] == tree.freq[m] && depth[n] <= depth[m])
    }

    fn pqdownheap(&mut self, tree: &Tree, mut k: usize) {
        let v = self.heap[k];
        let mut j = k << 1;
        while j <= self.heap_len {
            if j < self.heap_len && Self::smaller(tree, &self.depth, self.heap[j + 1], self.heap[j])
            {
                j += 1;
            }
            if Self::smaller(tree, &self.depth, v, self.heap[j]) {
                break;
            }
            self.heap[k] = self.heap[j];
            k = j;
            j <<= 1;
        }
        self.heap[k] = v;
    }

    /// zlib's `build_tree` (with `gen_bitlen` and `gen_codes`).
    fn build_tree(&mut self, tree: &mut Tree, desc: &Desc<'_>) {
        let elems = desc.elems;
        let mut max_code: isize = -1;
        self.heap_len = 0;
        self.heap_max = HEAP_SIZE;
        for n in 0..elems {
            if tree.freq[n] != 0 {
                self.heap_len += 1;
                self.heap[self.heap_len] = n;
                max_code = n as isize;
                self.depth[n] = 0;
            } else {
                tree.len[n] = 0;
            }
        }
        // Force at least two codes of non-zero frequency.
        while self.heap_len < 2 {
            let node = if max_code < 2 {
                max_code += 1;
                max_code as usize
            } else {
                0
            };
            self.heap_len += 1;
            self.heap[self.heap_len] = node;
            tree.freq[node] = 1;
            self.depth[node] = 0;
            self.opt_len = self.opt_len.wrapping_sub(1);
            if let Some(st) = desc.stree {
                self.static_len = self.static_len.wrapping_sub(u64::from(st.len[node]));
            }
        }
        tree.max_code = max_code as usize;
        for n in (1..=self.heap_len / 2).rev() {
            self.pqdownheap(tree, n);
        }
        let mut node = elems;
        loop {
            // pqremove
            let n = self.heap[1];
            self.heap[1] = self.heap[self.heap_len];
            self.heap_len -= 1;
            self.pqdownheap(tree, 1);
            let m = self.heap[1];
            self.heap_max -= 1;
            self.heap[self.heap_max] = n;
            self.heap_max -= 1;
            self.heap[self.heap_max] = m;
            tree.freq[node] = tree.freq[n].wrapping_add(tree.freq[m]);
            self.depth[node] = self.depth[n].max(self.depth[m]).wrapping_add(1);
            tree.dad[n] = node as u16;
            tree.dad[m] = node as u16;
            self.heap[1] = node;
            node += 1;
            self.pqdownheap(tree, 1);
            if self.heap_len < 2 {
                break;
            }
        }
        self.heap_max -= 1;
        self.heap[self.heap_max] = self.heap[1];
        self.gen_bitlen(tree, desc);
        let bl_count = self.bl_count;
        let max = tree.max_code;
        gen_codes(&tree.len, &mut tree.code, max, &bl_count);
    }

    /// zlib's `gen_bitlen`: lengths from the tree, capped at `max_length`.
    fn gen_bitlen(&mut self, tree: &mut Tree, desc: &Desc<'_>) {
        let max_code = tree.max_code;
        let max_length = desc.max_length;
        self.bl_count = [0; MAX_BITS + 1];
        let mut overflow: isize = 0;
        tree.len[self.heap[self.heap_max]] = 0;
        let mut h = self.heap_max + 1;
        while h < HEAP_SIZE {
            let n = self.heap[h];
            let mut bits = usize::from(tree.len[usize::from(tree.dad[n])]) + 1;
            if bits > max_length {
                bits = max_length;
                overflow += 1;
            }
            tree.len[n] = bits as u16;
            h += 1;
            if n > max_code {
                continue;
            }
            self.bl_count[bits] += 1;
            let xbits = if n >= desc.extra_base {
                usize::from(desc.extra[n - desc.extra_base])
            } else {
                0
            };
            let f = u64::from(tree.freq[n]);
            self.opt_len = self.opt_len.wrapping_add(f * (bits + xbits) as u64);
            if let Some(st) = desc.stree {
                self.static_len = self
                    .static_len
                    .wrapping_add(f * (usize::from(st.len[n]) + xbits) as u64);
            }
        }
        if overflow == 0 {
            return;
        }
        loop {
            let mut bits = max_length - 1;
            while self.bl_count[bits] == 0 {
                bits -= 1;
            }
            self.bl_count[bits] -= 1;
            self.bl_count[bits + 1] += 2;
            self.bl_count[max_length] -= 1;
            overflow -= 2;
            if overflow <= 0 {
                break;
            }
        }
        let mut h = HEAP_SIZE;
        for bits in (1..=max_length).rev() {
            let mut n = self.bl_count[bits];
            while n != 0 {
                h -= 1;
                let m = self.heap[h];
                if m > max_code {
                    continue;
                }
                if usize::from(tree.len[m]) != bits {
                    let delta = (bits as u64)
                        .wrapping_sub(u64::from(tree.len[m]))
                        .wrapping_mul(u64::from(tree.freq[m]));
                    self.opt_len = self.opt_len.wrapping_add(delta);
                    tree.len[m] = bits as u16;
                }
                n -= 1;
            }
        }
    }

    /// zlib's `scan_tree`: bit-length code frequencies for one tree.
    fn scan_tree(bltree: &mut Tree, tree: &mut Tree, max_code: usize) {
        let mut prevlen: isize = -1;
        let mut nextlen = usize::from(tree.len[0]);
        let mut count = 0;
        let (mut max_count, mut min_count) = if nextlen == 0 { (138, 3) } else { (7, 4) };
        tree.len[max_code + 1] = 0xffff;
        for n in 0..=max_code {
            let curlen = nextlen;
            nextlen = usize::from(tree.len[n + 1]);
            count += 1;
            if count < max_count && curlen == nextlen {
                continue;
            } else if count < min_count {
                bltree.freq[curlen] += count as u16;
            } else if curlen != 0 {
                if curlen as isize != prevlen {
                    bltree.freq[curlen] += 1;
                }
                bltree.freq[REP_3_6] += 1;
            } else if count <= 10 {
                bltree.freq[REPZ_3_10] += 1;
            } else {
                bltree.freq[REPZ_11_138] += 1;
            }
            count = 0;
            prevlen = curlen as isize;
            (max_count, min_count) = if nextlen == 0 {
                (138, 3)
            } else if curlen == nextlen {
                (6, 3)
            } else {
                (7, 4)
            };
        }
    }

    /// zlib's `send_tree`.
    fn send_tree(bits: &mut BitWriter, bltree: &Tree, tree: &Tree, max_code: usize) {
        let mut prevlen: isize = -1;
        let mut nextlen = usize::from(tree.len[0]);
        let mut count = 0;
        let (mut max_count, mut min_count) = if nextlen == 0 { (138, 3) } else { (7, 4) };
        let send = |bits: &mut BitWriter, c: usize| {
            bits.send(u32::from(bltree.code[c]), usize::from(bltree.len[c]));
        };
        for n in 0..=max_code {
            let curlen = nextlen;
            nextlen = usize::from(tree.len[n + 1]);
            count += 1;
            if count < max_count && curlen == nextlen {
                continue;
            } else if count < min_count {
                while count > 0 {
                    send(bits, curlen);
                    count -= 1;
                }
            } else if curlen != 0 {
                if curlen as isize != prevlen {
                    send(bits, curlen);
                    count -= 1;
                }
                send(bits, REP_3_6);
                bits.send(count as u32 - 3, 2);
            } else if count <= 10 {
                send(bits, REPZ_3_10);
                bits.send(count as u32 - 3, 3);
            } else {
                send(bits, REPZ_11_138);
                bits.send(count as u32 - 11, 7);
            }
            count = 0;
            prevlen = curlen as isize;
            (max_count, min_count) = if nextlen == 0 {
                (138, 3)
            } else if curlen == nextlen {
                (6, 3)
            } else {
                (7, 4)
            };
        }
    }

    /// zlib's `_tr_flush_block`.
    fn flush_block(
        &mut self,
        bits: &mut BitWriter,
        syms: &[(u16, u8)],
        stored: Option<&[u8]>,
        stored_len: usize,
        last: bool,
    ) {
        let mut ltree = std::mem::replace(&mut self.ltree, Tree::new(0));
        let mut dtree = std::mem::replace(&mut self.dtree, Tree::new(0));
        let mut bltree = std::mem::replace(&mut self.bltree, Tree::new(0));
        let static_l = std::mem::replace(
            &mut self.static_l,
            StaticTree {
                len: Vec::new(),
                code: Vec::new(),
            },
        );
        let static_d = std::mem::replace(
            &mut self.static_d,
            StaticTree {
                len: Vec::new(),
                code: Vec::new(),
            },
        );
        self.build_tree(
            &mut ltree,
            &Desc {
                stree: Some(&static_l),
                extra: &EXTRA_LBITS,
                extra_base: LITERALS + 1,
                elems: L_CODES,
                max_length: MAX_BITS,
            },
        );
        self.build_tree(
            &mut dtree,
            &Desc {
                stree: Some(&static_d),
                extra: &EXTRA_DBITS,
                extra_base: 0,
                elems: D_CODES,
                max_length: MAX_BITS,
            },
        );
        // build_bl_tree
        let (lmax, dmax) = (ltree.max_code, dtree.max_code);
        Self::scan_tree(&mut bltree, &mut ltree, lmax);
        Self::scan_tree(&mut bltree, &mut dtree, dmax);
        self.build_tree(
            &mut bltree,
            &Desc {
                stree: None,
                extra: &EXTRA_BLBITS,
                extra_base: 0,
                elems: BL_CODES,
                max_length: MAX_BL_BITS,
            },
        );
        let mut max_blindex = BL_CODES - 1;
        while max_blindex >= 3 && bltree.len[BL_ORDER[max_blindex]] == 0 {
            max_blindex -= 1;
        }
        self.opt_len = self
            .opt_len
            .wrapping_add(3 * (max_blindex as u64 + 1) + 5 + 5 + 4);

        let mut opt_lenb = (self.opt_len.wrapping_add(3 + 7)) >> 3;
        let static_lenb = (self.static_len.wrapping_add(3 + 7)) >> 3;
        if static_lenb <= opt_lenb {
            opt_lenb = static_lenb;
        }
        let last_bit = u32::from(last);
        match stored {
            Some(buf) if stored_len as u64 + 4 <= opt_lenb => {
                bits.send(last_bit, 3); // STORED_BLOCK << 1
                bits.windup();
                bits.put_short(stored_len as u16);
                bits.put_short(!(stored_len as u16));
                bits.out.extend_from_slice(buf);
            }
            _ if static_lenb == opt_lenb => {
                bits.send((1 << 1) + last_bit, 3); // STATIC_TREES
                compress_block(
                    bits,
                    syms,
                    &static_l.len,
                    &static_l.code,
                    &static_d.len,
                    &static_d.code,
                );
            }
            _ => {
                bits.send((2 << 1) + last_bit, 3); // DYN_TREES
                let (lcodes, dcodes, blcodes) = (lmax + 1, dmax + 1, max_blindex + 1);
                bits.send(lcodes as u32 - 257, 5);
                bits.send(dcodes as u32 - 1, 5);
                bits.send(blcodes as u32 - 4, 4);
                for &code in &BL_ORDER[..blcodes] {
                    bits.send(u32::from(bltree.len[code]), 3);
                }
                Self::send_tree(bits, &bltree, &ltree, lcodes - 1);
                Self::send_tree(bits, &bltree, &dtree, dcodes - 1);
                compress_block(bits, syms, &ltree.len, &ltree.code, &dtree.len, &dtree.code);
            }
        }
        self.ltree = ltree;
        self.dtree = dtree;
        self.bltree = bltree;
        self.static_l = static_l;
        self.static_d = static_d;
        self.init_block();
        if last {
            bits.windup();
        }
    }
}

/// zlib's `compress_block`: the block's symbols with the given codes.
fn compress_block(
    bits: &mut BitWriter,
    syms: &[(u16, u8)],
    llen: &[u16],
    lcode: &[u16],
    dlen: &[u16],
    dcode: &[u16],
) {
    for &(dist, lc) in syms {
        let lc = usize::from(lc);
        if dist == 0 {
            bits.send(u32::from(lcode[lc]), usize::from(llen[lc]));
        } else {
            let code = usize::from(LENGTH_CODE[lc]);
            let sym = code + LITERALS + 1;
            bits.send(u32::from(lcode[sym]), usize::from(llen[sym]));
            let extra = usize::from(EXTRA_LBITS[code]);
            if extra != 0 {
                bits.send((lc - usize::from(BASE_LENGTH[code])) as u32, extra);
            }
            let dist = usize::from(dist) - 1;
            let code = d_code(dist);
            bits.send(u32::from(dcode[code]), usize::from(dlen[code]));
            let extra = usize::from(EXTRA_DBITS[code]);
            if extra != 0 {
                bits.send((dist - usize::from(BASE_DIST[code])) as u32, extra);
            }
        }
    }
    bits.send(u32::from(lcode[END_BLOCK]), usize::from(llen[END_BLOCK]));
}

/// Deflate's bit order: least significant bit first.
#[derive(Default)]
struct BitWriter {
    out: Vec<u8>,
    acc: u64,
    nbits: usize,
}

impl BitWriter {
    fn send(&mut self, value: u32, len: usize) {
        self.acc |= u64::from(value) << self.nbits;
        self.nbits += len;
        while self.nbits >= 8 {
            self.out.push(self.acc as u8);
            self.acc >>= 8;
            self.nbits -= 8;
        }
    }

    /// Pad to a byte boundary (zlib's `bi_windup`).
    fn windup(&mut self) {
        if self.nbits > 0 {
            self.out.push(self.acc as u8);
        }
        self.acc = 0;
        self.nbits = 0;
    }

    fn put_short(&mut self, v: u16) {
        self.out.extend_from_slice(&v.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compress, Compression, FlushCompress};

    /// zlib itself (through flate2), fed the same way.
    fn zlib(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = Compress::new(Compression::new(9), false);
        let mut out = Vec::with_capacity(chunks.iter().map(|c| c.len()).sum::<usize>() + 1024);
        for chunk in chunks {
            let mut input = *chunk;
            while !input.is_empty() {
                if out.len() == out.capacity() {
                    out.reserve(1 << 16);
                }
                let before = c.total_in();
                c.compress_vec(input, &mut out, FlushCompress::None)
                    .unwrap();
                input = &input[(c.total_in() - before) as usize..];
            }
        }
        loop {
            if out.len() == out.capacity() {
                out.reserve(1 << 16);
            }
            if c.compress_vec(&[], &mut out, FlushCompress::Finish)
                .unwrap()
                == flate2::Status::StreamEnd
            {
                return out;
            }
        }
    }

    fn ours(chunks: &[&[u8]]) -> Vec<u8> {
        let mut d = Deflate9::new();
        let mut out = Vec::new();
        for chunk in chunks {
            d.write(chunk);
            out.extend(d.take_output());
        }
        out.extend(d.finish());
        out
    }

    fn same(chunks: &[&[u8]], what: &str) {
        let (want, got) = (zlib(chunks), ours(chunks));
        assert!(
            want == got,
            "{what}: {} bytes from zlib, {} ours",
            want.len(),
            got.len()
        );
    }

    struct Lcg(u64);
    impl Lcg {
        fn next(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (self.0 >> 33) as u32
        }
    }

    /// A ring table: little-endian u16 ids below `devs`.
    fn table(parts: usize, devs: u32, seed: u64) -> Vec<u8> {
        let mut r = Lcg(seed);
        (0..parts)
            .flat_map(|_| ((r.next() % devs) as u16).to_le_bytes())
            .collect()
    }

    #[test]
    fn empty_and_tiny() {
        same(&[], "empty");
        same(&[b"a"], "one byte");
        same(&[b"ab"], "two bytes");
        same(&[b"abcabcabc"], "repeat");
        same(&[b"R1NG\x00\x01", b"\x00\x00\x00\x02", b"{}"], "header");
    }

    #[test]
    fn ring_tables_of_many_sizes() {
        for (parts, devs) in [
            (64, 6),
            (4096, 6),
            (4096, 120),
            (1 << 14, 3),
            (70_000, 120),
            (1 << 17, 120),
        ] {
            let t = table(parts, devs, parts as u64 + u64::from(devs));
            let rows: Vec<&[u8]> = t.chunks(parts * 2 / 3 + 1).collect();
            let mut chunks: Vec<&[u8]> = vec![b"R1NG\x00\x01", b"\x00\x00\x01\x00", &[b'{'; 256]];
            chunks.extend(rows);
            same(&chunks, &format!("{parts} parts, {devs} devices"));
        }
    }

    #[test]
    fn other_data() {
        let mut r = Lcg(1);
        let random: Vec<u8> = (0..200_000).map(|_| r.next() as u8).collect();
        same(&[&random], "random (stored blocks)");
        let zeros = vec![0u8; 300_000];
        same(&[&zeros], "zeros");
        let text: Vec<u8> = (0..40_000)
            .flat_map(|i| format!("line {} of {}\n", i % 977, i % 13).into_bytes())
            .collect();
        same(&[&text], "text");
        let runs: Vec<u8> = (0..150_000).map(|i| ((i / 300) % 7) as u8).collect();
        same(&[&runs], "runs");
        // Chunks of odd sizes across window slides.
        let pieces: Vec<&[u8]> = text.chunks(7919).collect();
        same(&pieces, "text in pieces");
        let small: Vec<&[u8]> = runs.chunks(100).collect();
        same(&small, "runs in small pieces");
    }

    /// Streams from small alphabets with repeats copied from earlier (long
    /// chains, long matches, window slides), in random pieces.
    #[test]
    fn random_repetitive_streams() {
        let mut r = Lcg(42);
        for round in 0..10 {
            let alphabet = 2 + r.next() % 9;
            let len = 40_000 + (r.next() % 60_000) as usize;
            let mut data: Vec<u8> = Vec::with_capacity(len);
            while data.len() < len {
                if data.len() > 300 && r.next().is_multiple_of(4) {
                    let back = 1 + (r.next() as usize % data.len().min(40_000));
                    let n = 3 + r.next() as usize % 300;
                    for _ in 0..n {
                        data.push(data[data.len() - back]);
                    }
                } else {
                    data.push(((r.next() % alphabet) as u8).wrapping_mul(37));
                }
            }
            let mut pieces = Vec::new();
            let mut at = 0;
            while at < data.len() {
                let n = (1 + r.next() as usize % 20_000).min(data.len() - at);
                pieces.push(&data[at..at + n]);
                at += n;
            }
            same(&pieces, &format!("round {round}, alphabet {alphabet}"));
        }
    }

    #[test]
    fn code_tables_match_zlib() {
        assert_eq!(LENGTH_CODE[0], 0);
        assert_eq!(LENGTH_CODE[255], 28);
        assert_eq!(LENGTH_CODE[254], 27);
        assert_eq!(BASE_LENGTH[28], 0);
        assert_eq!(BASE_DIST[29], 24576);
        assert_eq!(d_code(32767), 29);
        assert_eq!(d_code(0), 0);
    }
}
