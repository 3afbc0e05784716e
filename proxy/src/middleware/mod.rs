//! Proxy middleware, each a `pipeline::Filter` (the config's `pipeline`
//! picks and orders them; by default Swift's order): gatekeeper (strip
//! internal headers), healthcheck, etag-quoter, bulk (before auth, as in
//! Swift), tempauth (`crate::auth::filter`), copy, container_quotas, slo,
//! dlo. Logging is common's server loop; CORS is the controllers' (as in
//! Swift's proxy app). `segments` is the large-object body both slo and
//! dlo serve (Swift's `SegmentedIterable`).

pub mod bulk;
pub mod container_quotas;
pub mod copy;
pub mod cors;
pub mod dlo;
pub mod etag_quoter;
pub mod gatekeeper;
pub mod healthcheck;
pub mod segments;
pub mod slo;
pub mod tempurl;
