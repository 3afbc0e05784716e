//! The targets, one module each; each `run` takes one fuzz input.

pub mod acl;
pub mod backend_bodies;
pub mod builder;
pub mod bulk_delete;
pub mod conditional;
pub mod headers;
pub mod listing_params;
pub mod range;
pub mod raw_request;
pub mod request_path;
pub mod ring;
pub mod slo_manifest;
pub mod tar;
