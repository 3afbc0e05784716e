//! Structured-random inputs for the short run: seeds changed by a few
//! mutations of the kinds libFuzzer makes (bit flips, boundary bytes,
//! inserted tokens, deleted, duplicated and spliced ranges), plus some
//! purely random inputs.

use rand::{Rng, RngCore};

/// Bytes and words that parsers of paths, headers, JSON and numbers treat
/// specially.
const TOKENS: [&[u8]; 28] = [
    b"/",
    b"%",
    b"%ff",
    b"%00",
    b"..",
    b"\r\n",
    b"\n",
    b"\0",
    b",",
    b"-",
    b"=",
    b":",
    b";",
    b"\"",
    b"{}",
    b"[]",
    b"null",
    b"true",
    b"-1",
    b"0",
    b"18446744073709551616",
    b"99999999999999999999999999",
    b"1e308",
    b"NaN",
    b"\xc3\xa9",
    b"\xff\xfe",
    b"bytes=",
    b"*",
];

/// One input made from `seeds`, at most `max_len` bytes.
pub fn input(rng: &mut impl Rng, seeds: &[Vec<u8>], max_len: usize) -> Vec<u8> {
    if seeds.is_empty() || rng.random_ratio(1, 16) {
        let mut d = vec![0u8; rng.random_range(0..256)];
        rng.fill_bytes(&mut d);
        return d;
    }
    let mut d = seeds[rng.random_range(0..seeds.len())].clone();
    for _ in 0..rng.random_range(1..=8) {
        mutate(rng, &mut d, seeds);
    }
    d.truncate(max_len);
    d
}

fn mutate(rng: &mut impl Rng, d: &mut Vec<u8>, seeds: &[Vec<u8>]) {
    let at = |rng: &mut dyn RngCore, len: usize| {
        if len == 0 {
            0
        } else {
            (rng.next_u64() % len as u64) as usize
        }
    };
    match rng.random_range(0..9) {
        0 if !d.is_empty() => {
            let i = at(rng, d.len());
            d[i] ^= 1 << rng.random_range(0..8);
        }
        1 if !d.is_empty() => {
            let i = at(rng, d.len());
            d[i] = rng.random();
        }
        2 if !d.is_empty() => {
            let i = at(rng, d.len());
            d[i] = [0, 1, 0x7f, 0x80, 0xff, b'0', b'9', b' '][rng.random_range(0..8)];
        }
        3 => {
            let i = at(rng, d.len() + 1);
            let t = TOKENS[rng.random_range(0..TOKENS.len())];
            d.splice(i..i, t.iter().copied());
        }
        4 if !d.is_empty() => {
            let i = at(rng, d.len());
            let n = rng.random_range(1..=16).min(d.len() - i);
            d.drain(i..i + n);
        }
        5 if !d.is_empty() => {
            let i = at(rng, d.len());
            let n = rng.random_range(1..=64).min(d.len() - i);
            let piece = d[i..i + n].to_vec();
            let j = at(rng, d.len() + 1);
            d.splice(j..j, piece);
        }
        6 => {
            let other = &seeds[rng.random_range(0..seeds.len())];
            let i = at(rng, d.len() + 1);
            let j = at(rng, other.len() + 1);
            d.truncate(i);
            d.extend_from_slice(&other[j..]);
        }
        7 => {
            let i = at(rng, d.len() + 1);
            d.truncate(i);
        }
        _ => {
            let i = at(rng, d.len() + 1);
            let mut r = vec![0u8; rng.random_range(1..=16)];
            rng.fill_bytes(&mut r);
            d.splice(i..i, r);
        }
    }
}
