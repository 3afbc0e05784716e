//! The gateway's side of the cluster: a Swift client of the proxy.

pub mod client;
