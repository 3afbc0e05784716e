//! swirl-common: what every swirl server shares: Swift timestamps, constraints,
//! path rules, config loading, errors to HTTP responses, the HTTP server loop
//! with its access log, transaction ids.

pub mod backend_auth;
pub mod backend_headers;
pub mod body;
pub mod body_md5;
pub mod client;
pub mod conditional;
pub mod config;
pub mod constraints;
pub mod dead_peer;
pub mod delta_exchange;
pub mod digest_trailer;
pub mod error;
pub mod expiring;
pub mod frames;
pub mod header_text;
pub mod listen;
pub mod listing_format;
pub mod logging;
pub mod md5_batch;
// The one exception to the workspace's no-unsafe rule: AVX-512 loads and
// stores, and calling the kernel once the CPU feature is detected.
#[allow(unsafe_code)]
pub mod md5_lanes;
pub mod metrics;
pub mod path;
pub mod policy;
pub mod range;
pub mod reserved;
pub mod server;
pub mod swift_conf;
pub mod timestamp;
pub mod tls;
pub mod trans_id;

pub use body::Body;
pub use error::ApiError;
pub use timestamp::Timestamp;
