//! swirl-volume: the volume gateway (block volumes as chunk objects, NBD, Cinder's API).

pub mod config;
pub mod error;
pub mod nbd;

pub use config::Config;
pub use error::{Error, Result};
