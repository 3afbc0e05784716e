//! Proxy middleware, each a `pipeline::Filter` (the config's `pipeline`
//! picks and orders them; by default Swift's order): gatekeeper (strip
//! internal headers), healthcheck, etag-quoter, bulk (before auth, as in
//! Swift), tempauth (`crate::auth::filter`), staticweb, copy,
//! container_quotas, account_quotas, slo, dlo, versioned_writes, symlink; by
//! config also domain_remap, formpost, ratelimit, crossdomain and
//! list_endpoints. Logging is common's server loop;
//! CORS is the controllers' (as in
//! Swift's proxy app). `segments` is the large-object body both slo and
//! dlo serve (Swift's `SegmentedIterable`).

pub mod account_quotas;
pub mod bulk;
pub mod container_quotas;
pub mod copy;
pub mod cors;
pub mod crossdomain;
pub mod dlo;
pub mod domain_remap;
pub mod etag_quoter;
pub mod formpost;
pub mod gatekeeper;
pub mod healthcheck;
pub mod list_endpoints;
pub mod object_versioning;
pub mod ratelimit;
pub mod segments;
pub mod slo;
pub mod staticweb;
pub mod symlink;
pub mod tempurl;
pub mod versioned_writes;
