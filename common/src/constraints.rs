//! Swift's default constraints (`swift/common/constraints.py`, `[swift-constraints]`).

/// 5 GiB + 2 bytes: Swift's default max_file_size.
pub const MAX_FILE_SIZE: u64 = 5 * 1024 * 1024 * 1024 + 2;
pub const MAX_META_NAME_LENGTH: usize = 128;
pub const MAX_META_VALUE_LENGTH: usize = 256;
pub const MAX_META_COUNT: usize = 90;
pub const MAX_META_OVERALL_SIZE: usize = 4096;
pub const MAX_HEADER_SIZE: usize = 8192;
pub const MAX_HEADER_COUNT: usize = 256;
pub const MAX_OBJECT_NAME_LENGTH: usize = 1024;
pub const CONTAINER_LISTING_LIMIT: usize = 10_000;
pub const ACCOUNT_LISTING_LIMIT: usize = 10_000;
pub const MAX_ACCOUNT_NAME_LENGTH: usize = 256;
pub const MAX_CONTAINER_NAME_LENGTH: usize = 256;
/// Tombstones and deleted databases are kept this long (seconds).
pub const DEFAULT_RECLAIM_AGE: u64 = 604_800;
