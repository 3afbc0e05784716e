//! Swift's hash path and the partition it falls in.
//!
//! Swift (swift/common/utils `hash_path`) hashes `prefix + "/" + a[/c[/o]] + suffix`
//! with MD5; the ring (`Ring.get_part`) takes the first four digest bytes as a
//! big-endian u32 and shifts it right by `part_shift` (= 32 - part_power).
//! The prefix and suffix are the cluster's secret (`[swift-hash]` in swift.conf),
//! so they are an argument here, never global state.

/// The cluster's hash-path secret: `swift_hash_path_prefix` / `swift_hash_path_suffix`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashPathConfig {
    pub prefix: Vec<u8>,
    pub suffix: Vec<u8>,
}

impl HashPathConfig {
    pub fn new(prefix: impl Into<Vec<u8>>, suffix: impl Into<Vec<u8>>) -> Self {
        HashPathConfig {
            prefix: prefix.into(),
            suffix: suffix.into(),
        }
    }

    /// Swift refuses to run when both are empty (`InvalidHashPathConfigError`):
    /// every cluster would then share the same, guessable placement.
    pub fn is_set(&self) -> bool {
        !self.prefix.is_empty() || !self.suffix.is_empty()
    }
}

/// MD5 of Swift's hash path for `account[/container[/object]]`.
///
/// As in Swift, an empty container or object counts as absent. Swift refuses an
/// object without a container; that check belongs to the caller (it parses the
/// path), this function only hashes what it is given.
pub fn hash_path(
    cfg: &HashPathConfig,
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> [u8; 16] {
    hash_path_bytes(
        cfg,
        account.as_bytes(),
        container.map(str::as_bytes),
        object.map(str::as_bytes),
    )
}

/// [`hash_path`] over raw bytes (Swift accepts byte strings too).
pub fn hash_path_bytes(
    cfg: &HashPathConfig,
    account: &[u8],
    container: Option<&[u8]>,
    object: Option<&[u8]>,
) -> [u8; 16] {
    // As in Swift, an empty container or object is left out.
    let parts = [container, object].map(|p| p.filter(|p| !p.is_empty()));
    let len = cfg.prefix.len()
        + 1
        + account.len()
        + parts.iter().flatten().map(|p| p.len() + 1).sum::<usize>()
        + cfg.suffix.len();
    // Short paths (nearly all) are assembled on the stack and hashed in one
    // call, the fastest way through MD5; no allocation on the lookup hot path.
    const STACK: usize = 256;
    if len <= STACK {
        let mut buf = [0u8; STACK];
        let mut n = 0;
        let mut put = |bytes: &[u8]| {
            buf[n..n + bytes.len()].copy_from_slice(bytes);
            n += bytes.len();
        };
        put(&cfg.prefix);
        put(b"/");
        put(account);
        for p in parts.iter().flatten() {
            put(b"/");
            put(p);
        }
        put(&cfg.suffix);
        return md5::compute(&buf[..n]).0;
    }
    let mut ctx = md5::Context::new();
    ctx.consume(&cfg.prefix);
    ctx.consume(b"/");
    ctx.consume(account);
    for p in parts.iter().flatten() {
        ctx.consume(b"/");
        ctx.consume(p);
    }
    ctx.consume(&cfg.suffix);
    ctx.finalize().0
}

/// Lower-case hex of a digest (Swift's `hash_path(...)` without `raw_digest`).
pub fn to_hex(digest: &[u8; 16]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut s = String::with_capacity(32);
    for b in digest {
        s.push(HEX[usize::from(b >> 4)] as char);
        s.push(HEX[usize::from(b & 15)] as char);
    }
    s
}

/// Hex form of [`hash_path`]: the object's directory name on disk.
pub fn hash_path_hex(
    cfg: &HashPathConfig,
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> String {
    to_hex(&hash_path(cfg, account, container, object))
}

/// The partition of a digest: the top `32 - part_shift` bits of its first four
/// bytes read big-endian. `part_shift` 32 (part power 0) gives partition 0;
/// larger shifts are clamped the same way rather than overflowing.
pub fn partition(digest: &[u8; 16], part_shift: u32) -> u32 {
    let top = u32::from_be_bytes([digest[0], digest[1], digest[2], digest[3]]);
    top.checked_shr(part_shift).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg() -> HashPathConfig {
        HashPathConfig::new("changeme", "changeme")
    }

    /// Vectors computed once with Swift 2.30.1's `swift.common.utils.hash_path`
    /// (HASH_PATH_PREFIX/SUFFIX as given).
    #[test]
    fn matches_swift_vectors() {
        let c = cfg();
        for (a, co, o, want) in SWIFT_VECTORS_CHANGEME {
            assert_eq!(hash_path_hex(&c, a, *co, *o), *want, "{a:?} {co:?} {o:?}");
        }
        let empty_prefix = HashPathConfig::new("", "endcap");
        for (a, co, o, want) in SWIFT_VECTORS_ENDCAP {
            assert_eq!(
                hash_path_hex(&empty_prefix, a, *co, *o),
                *want,
                "{a:?} {co:?} {o:?}"
            );
        }
    }

    #[test]
    fn empty_container_or_object_counts_as_absent() {
        let c = cfg();
        assert_eq!(
            hash_path(&c, "a", Some(""), None),
            hash_path(&c, "a", None, None)
        );
        assert_eq!(
            hash_path(&c, "a", Some("c"), Some("")),
            hash_path(&c, "a", Some("c"), None)
        );
    }

    #[test]
    fn hash_is_md5_of_joined_path() {
        let c = HashPathConfig::new("pre", "suf");
        let want = md5::compute(b"pre/AUTH_x/cont/obj/with/slashessuf").0;
        assert_eq!(
            hash_path(&c, "AUTH_x", Some("cont"), Some("obj/with/slashes")),
            want
        );
    }

    #[test]
    fn long_paths_hash_the_same_way() {
        let c = HashPathConfig::new("pre", "suf");
        for len in [200, 230, 240, 250, 256, 300, 1024] {
            let obj = "o".repeat(len);
            let want = md5::compute(format!("pre/a/c/{obj}suf")).0;
            assert_eq!(hash_path(&c, "a", Some("c"), Some(&obj)), want, "{len}");
        }
    }

    #[test]
    fn partition_for_every_part_power() {
        let digest = [
            0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12,
        ];
        let top = 0xdead_beef_u32;
        for power in 0..=32u32 {
            let shift = 32 - power;
            let want = if power == 0 { 0 } else { top >> shift };
            assert_eq!(partition(&digest, shift), want, "power {power}");
            assert!(u64::from(partition(&digest, shift)) < 1u64 << power);
        }
        // all ones stays in range at every power
        let ones = [0xff; 16];
        for power in 0..=32u32 {
            assert_eq!(u64::from(partition(&ones, 32 - power)), (1u64 << power) - 1);
        }
        assert_eq!(partition(&digest, 40), 0);
    }

    #[test]
    fn config_set() {
        assert!(!HashPathConfig::default().is_set());
        assert!(HashPathConfig::new("", "x").is_set());
        assert!(HashPathConfig::new("x", "").is_set());
    }

    type Vector = (
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
        &'static str,
    );

    const SWIFT_VECTORS_CHANGEME: &[Vector] = &[
        ("AUTH_test", None, None, "c8bcccab3ddbfdc34b08e9223f4f5178"),
        ("AUTH_test", Some("c"), None, "0f65ef68c2db3f0768374d15c9a14cae"),
        ("AUTH_test", Some("c"), Some("o"), "4e2772c453cbe15a19b26fbfbb223e31"),
        ("a", Some("c"), Some("o/with/slashes"), "76136b4f3e6fa268ef71a9b004abcdfd"),
        ("AUTH_\u{e9}t\u{e9}", Some("cont \u{2603}"), Some("obj\u{1F600}"), "63870cde7f0315f1dda47154872fb73d"),
        ("acct", Some(""), None, "4cd2abe51e2e5fe3b45e9f74c19e2efb"),
        ("acct", Some("c"), Some(""), "9beecae036ae86f8f659169903508893"),
        ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Some("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"), Some("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), "742ea763082aa3347e0bc51b29e2b170"),
        (".shards_AUTH_test", Some("c-1234"), None, "1c3e785cbca251c83d7bf2cc2388355e"),
        ("AUTH_test", Some("c"), Some(" leading space"), "66ba2bfd61d0384556e0438f55069448"),
    ];
    const SWIFT_VECTORS_ENDCAP: &[Vector] = &[
        ("AUTH_test", None, None, "c6b2b6e24309ba1ac6c52a19c1b34272"),
        ("AUTH_test", Some("c"), None, "53a62a1b0409bb4557da6793dc95704c"),
        ("AUTH_test", Some("c"), Some("o"), "593886fa2da63f0dacf8af5524200f09"),
        ("a", Some("c"), Some("o/with/slashes"), "5b99f359c6aed7fb99f259b8263fac3d"),
        ("AUTH_\u{e9}t\u{e9}", Some("cont \u{2603}"), Some("obj\u{1F600}"), "554d5ca6b362990de0858f813aa15c48"),
        ("acct", Some(""), None, "2ecd073cf7f07af56eb1d275a01169cf"),
        ("acct", Some("c"), Some(""), "c5e2aab3cbd85ef33196a7a7b2b472bd"),
        ("xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", Some("yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy"), Some("zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz"), "2c17ceb14f00b2f8f8ab55c980fc7ac0"),
        (".shards_AUTH_test", Some("c-1234"), None, "a319e645f46609aa6bb3488e748577bb"),
        ("AUTH_test", Some("c"), Some(" leading space"), "a9a13f3d7673422fb229550ee69b7126"),
    ];
}
