//! swirl-volume: the volume gateway (block volumes as chunk objects, NBD, Cinder's API).

pub mod config;
pub mod error;
pub mod nbd;
pub mod store;
pub mod swift;

pub use config::Config;
pub use error::{Error, Result};
