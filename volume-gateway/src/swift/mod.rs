//! The gateway's side of the cluster: a Swift client of the proxy, over
//! HTTP or in process.

pub mod client;
pub mod transport;
