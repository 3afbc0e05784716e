//! The MD5 of an object body (its ETag), computed as the bytes stream past.
//!
//! MD5 runs once over every byte a client PUTs, so it is the single largest
//! user-space cost of a large upload: this uses md-5's assembly compression
//! function, measured here at 1.43 s/GiB against the md5 crate's 1.84. Small
//! digests (ring hashing, hash paths, manifests) keep the md5 crate.

use md5_rc::{Digest, Md5};

/// A running MD5.
#[derive(Clone, Default)]
pub struct BodyMd5(Md5);

impl BodyMd5 {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next bytes.
    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    /// The digest as 32 lowercase hex digits (Swift's ETag form).
    pub fn hex(self) -> String {
        format!("{:x}", self.0.finalize())
    }
}

impl std::fmt::Debug for BodyMd5 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodyMd5")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_md5_crate_across_split_updates() {
        let body: Vec<u8> = (0..200_003u32).map(|i| (i * 31 + 7) as u8).collect();
        for split in [0, 1, 63, 64, 65, 4096, 199_999] {
            let mut m = BodyMd5::new();
            m.update(&body[..split]);
            m.update(&body[split..]);
            assert_eq!(m.hex(), format!("{:x}", md5::compute(&body)));
        }
        assert_eq!(BodyMd5::new().hex(), "d41d8cd98f00b204e9800998ecf8427e");
    }
}
