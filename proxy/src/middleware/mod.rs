//! Proxy middleware in Swift's pipeline order: gatekeeper (strip internal
//! headers), healthcheck, proxy-logging (common's server loop), etag-quoter
//! (around the controllers), bulk
//! (bulk delete, before auth as in Swift), tempauth (crate::auth), copy,
//! container_quotas (in the object PUT path), slo and dlo (in the object
//! GET path, slo also in PUT and DELETE with `?multipart-manifest`),
//! CORS (applied around the controllers). `segments` is the large-object
//! body both slo and dlo serve (Swift's `SegmentedIterable`).

pub mod bulk;
pub mod container_quotas;
pub mod copy;
pub mod cors;
pub mod dlo;
pub mod etag_quoter;
pub mod gatekeeper;
pub mod segments;
pub mod slo;
