//! swirl-ring: the consistent-hash ring, exactly as OpenStack Swift computes it.
//!
//! Architecture invariant: this crate has no tokio, no filesystem and no clock.
//! Time (`now`), randomness (`rng`) and the hash-path prefix/suffix are arguments;
//! files are read and written by callers as bytes (`Read`/`Write`).

pub mod builder;
pub mod builder_file;
pub mod codec;
pub mod device;
pub mod error;
pub mod hash;
pub mod lookup;
pub mod ring_data;
pub mod search;

pub use device::Device;
pub use error::{Error, Result};
pub use ring_data::RingData;
