//! MD5 (RFC 1321) for the short messages the ring hashes: hash paths and
//! partition numbers.
//!
//! A ring lookup is one MD5 of a path of a few dozen bytes, so the digest's
//! fixed costs (context setup, buffering, padding) weigh as much as the
//! compression itself. This hasher takes the message as a list of pieces,
//! lays them straight into one or two padded blocks on the stack and runs the
//! compression function on them: no allocation, no intermediate copy of the
//! path. Longer messages stream through the same compression function.

/// Per-step left rotations.
const S: [u32; 64] = [
    7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 7, 12, 17, 22, 5, 9, 14, 20, 5, 9, 14, 20, 5, 9,
    14, 20, 5, 9, 14, 20, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 4, 11, 16, 23, 6, 10, 15,
    21, 6, 10, 15, 21, 6, 10, 15, 21, 6, 10, 15, 21,
];

/// Per-step constants: floor(abs(sin(i + 1)) * 2^32).
const K: [u32; 64] = [
    0xd76a_a478,
    0xe8c7_b756,
    0x2420_70db,
    0xc1bd_ceee,
    0xf57c_0faf,
    0x4787_c62a,
    0xa830_4613,
    0xfd46_9501,
    0x6980_98d8,
    0x8b44_f7af,
    0xffff_5bb1,
    0x895c_d7be,
    0x6b90_1122,
    0xfd98_7193,
    0xa679_438e,
    0x49b4_0821,
    0xf61e_2562,
    0xc040_b340,
    0x265e_5a51,
    0xe9b6_c7aa,
    0xd62f_105d,
    0x0244_1453,
    0xd8a1_e681,
    0xe7d3_fbc8,
    0x21e1_cde6,
    0xc337_07d6,
    0xf4d5_0d87,
    0x455a_14ed,
    0xa9e3_e905,
    0xfcef_a3f8,
    0x676f_02d9,
    0x8d2a_4c8a,
    0xfffa_3942,
    0x8771_f681,
    0x6d9d_6122,
    0xfde5_380c,
    0xa4be_ea44,
    0x4bde_cfa9,
    0xf6bb_4b60,
    0xbebf_bc70,
    0x289b_7ec6,
    0xeaa1_27fa,
    0xd4ef_3085,
    0x0488_1d05,
    0xd9d4_d039,
    0xe6db_99e5,
    0x1fa2_7cf8,
    0xc4ac_5665,
    0xf429_2244,
    0x432a_ff97,
    0xab94_23a7,
    0xfc93_a039,
    0x655b_59c3,
    0x8f0c_cc92,
    0xffef_f47d,
    0x8584_5dd1,
    0x6fa8_7e4f,
    0xfe2c_e6e0,
    0xa301_4314,
    0x4e08_11a1,
    0xf753_7e82,
    0xbd3a_f235,
    0x2ad7_d2bb,
    0xeb86_d391,
];

const INIT: [u32; 4] = [0x6745_2301, 0xefcd_ab89, 0x98ba_dcfe, 0x1032_5476];

/// One 64-byte block into the state.
#[inline(always)]
fn compress(state: &mut [u32; 4], block: &[u8; 64]) {
    macro_rules! word {
        ($i:expr) => {
            u32::from_le_bytes([
                block[4 * $i],
                block[4 * $i + 1],
                block[4 * $i + 2],
                block[4 * $i + 3],
            ])
        };
    }
    let m = [
        word!(0),
        word!(1),
        word!(2),
        word!(3),
        word!(4),
        word!(5),
        word!(6),
        word!(7),
        word!(8),
        word!(9),
        word!(10),
        word!(11),
        word!(12),
        word!(13),
        word!(14),
        word!(15),
    ];
    let [mut a, mut b, mut c, mut d] = *state;
    // Read the constants through an opaque reference: as immediates the
    // compiler adds them last, on the dependency chain of the step before;
    // as loaded values `a + m + k` is summed first, off that chain.
    let k: &[u32; 64] = std::hint::black_box(&K);
    macro_rules! step {
        ($f:expr, $a:ident, $b:ident, $i:expr, $g:expr) => {
            $a = $a
                .wrapping_add(m[$g])
                .wrapping_add(k[$i])
                .wrapping_add($f)
                .rotate_left(S[$i])
                .wrapping_add($b);
        };
    }
    // F = (b & c) | (!b & d), written d ^ (b & (c ^ d)).
    macro_rules! ff {
        ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr) => {
            step!($d ^ ($b & ($c ^ $d)), $a, $b, $i, $i)
        };
    }
    // G = (b & d) | (c & !d): the halves never overlap, so `+` works, and
    // `c & !d`, which does not wait for the fresh `b`, joins the early sum.
    macro_rules! gg {
        ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr) => {
            step!(
                ($c & !$d).wrapping_add($b & $d),
                $a,
                $b,
                $i,
                (5 * $i + 1) % 16
            )
        };
    }
    macro_rules! hh {
        ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr) => {
            step!($b ^ $c ^ $d, $a, $b, $i, (3 * $i + 5) % 16)
        };
    }
    macro_rules! ii {
        ($a:ident, $b:ident, $c:ident, $d:ident, $i:expr) => {
            step!($c ^ ($b | !$d), $a, $b, $i, (7 * $i) % 16)
        };
    }
    macro_rules! round {
        ($r:ident, $base:expr) => {
            $r!(a, b, c, d, $base);
            $r!(d, a, b, c, $base + 1);
            $r!(c, d, a, b, $base + 2);
            $r!(b, c, d, a, $base + 3);
            $r!(a, b, c, d, $base + 4);
            $r!(d, a, b, c, $base + 5);
            $r!(c, d, a, b, $base + 6);
            $r!(b, c, d, a, $base + 7);
            $r!(a, b, c, d, $base + 8);
            $r!(d, a, b, c, $base + 9);
            $r!(c, d, a, b, $base + 10);
            $r!(b, c, d, a, $base + 11);
            $r!(a, b, c, d, $base + 12);
            $r!(d, a, b, c, $base + 13);
            $r!(c, d, a, b, $base + 14);
            $r!(b, c, d, a, $base + 15);
        };
    }
    round!(ff, 0);
    round!(gg, 16);
    round!(hh, 32);
    round!(ii, 48);
    state[0] = state[0].wrapping_add(a);
    state[1] = state[1].wrapping_add(b);
    state[2] = state[2].wrapping_add(c);
    state[3] = state[3].wrapping_add(d);
}

fn output(state: &[u32; 4]) -> [u8; 16] {
    let mut out = [0u8; 16];
    for (o, w) in out.chunks_exact_mut(4).zip(state) {
        o.copy_from_slice(&w.to_le_bytes());
    }
    out
}

/// Longest message [`digest_in_place`] takes: two blocks less the padding
/// (0x80 and the 8-byte length).
pub const SHORT_MAX: usize = 119;

/// MD5 of the concatenation of `pieces`.
pub fn digest(pieces: &[&[u8]]) -> [u8; 16] {
    let len: usize = pieces.iter().map(|p| p.len()).sum();
    if len <= SHORT_MAX {
        let mut buf = [0u8; 128];
        let mut n = 0;
        for p in pieces {
            buf[n..n + p.len()].copy_from_slice(p);
            n += p.len();
        }
        if let Some(d) = digest_in_place(&mut buf, len) {
            return d;
        }
    }
    let mut h = Stream::new();
    for p in pieces {
        h.update(p);
    }
    h.finish()
}

/// MD5 of `buf[..len]` when `len <= SHORT_MAX` (`None` otherwise), where
/// every byte after the message is zero: the padding is written into `buf`
/// itself, so a caller that lays out its message there pays for no copy.
pub fn digest_in_place(buf: &mut [u8; 128], len: usize) -> Option<[u8; 16]> {
    if len > SHORT_MAX {
        return None;
    }
    buf[len] = 0x80;
    let blocks = if len <= 55 { 1 } else { 2 };
    let end = blocks * 64;
    buf[end - 8..end].copy_from_slice(&((len as u64) << 3).to_le_bytes());
    // Opaque for the same reason as the constants in `compress`.
    let mut state = std::hint::black_box(INIT);
    let (first, second) = buf.split_at(64);
    if let Ok(first) = first.try_into() {
        compress(&mut state, first);
    }
    if blocks == 2 {
        if let Ok(second) = second.try_into() {
            compress(&mut state, second);
        }
    }
    Some(output(&state))
}

/// Incremental MD5 for messages too long for [`digest`]'s stack blocks.
struct Stream {
    state: [u32; 4],
    buf: [u8; 64],
    used: usize,
    total: u64,
}

impl Stream {
    fn new() -> Self {
        Stream {
            state: INIT,
            buf: [0; 64],
            used: 0,
            total: 0,
        }
    }

    fn update(&mut self, mut data: &[u8]) {
        self.total = self.total.wrapping_add(data.len() as u64);
        if self.used > 0 {
            let take = (64 - self.used).min(data.len());
            self.buf[self.used..self.used + take].copy_from_slice(&data[..take]);
            self.used += take;
            data = &data[take..];
            if self.used < 64 {
                return;
            }
            let block = self.buf;
            compress(&mut self.state, &block);
            self.used = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for block in &mut blocks {
            if let Ok(block) = block.try_into() {
                compress(&mut self.state, block);
            }
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.used = rest.len();
    }

    fn finish(mut self) -> [u8; 16] {
        let bits = self.total.wrapping_shl(3);
        let pad_len = if self.used < 56 {
            56 - self.used
        } else {
            120 - self.used
        };
        let mut pad = [0u8; 64];
        pad[0] = 0x80;
        self.update(&pad[..pad_len]);
        self.update(&bits.to_le_bytes());
        output(&self.state)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1321_vectors() {
        let cases: [(&[u8], &str); 7] = [
            (b"", "d41d8cd98f00b204e9800998ecf8427e"),
            (b"a", "0cc175b9c0f1b6a831c399e269772661"),
            (b"abc", "900150983cd24fb0d6963f7d28e17f72"),
            (b"message digest", "f96b697d7cb7938d525a2f31aaf161d0"),
            (
                b"abcdefghijklmnopqrstuvwxyz",
                "c3fcd3d76192e4007dfb496cca67e13b",
            ),
            (
                b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
                "d174ab98d277d9f5a5611c2c9f419d9f",
            ),
            (
                b"12345678901234567890123456789012345678901234567890123456789012345678901234567890",
                "57edf4a22be3c955ac49da2e2107b67a",
            ),
        ];
        for (msg, want) in cases {
            assert_eq!(crate::hash::to_hex(&digest(&[msg])), want);
        }
    }

    #[test]
    fn every_length_and_split_matches_the_md5_crate() {
        let data: Vec<u8> = (0..700u32)
            .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
            .collect();
        for len in 0..data.len() {
            let msg = &data[..len];
            let want = md5::compute(msg).0;
            assert_eq!(digest(&[msg]), want, "len {len}");
            let cut = len / 3;
            assert_eq!(
                digest(&[&msg[..cut], b"", &msg[cut..len - cut], &msg[len - cut..]]),
                want,
                "len {len} in pieces"
            );
        }
    }
}
