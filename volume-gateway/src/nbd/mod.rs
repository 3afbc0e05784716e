//! The NBD server: the protocol's numbers, a pure frame codec, the pure
//! option negotiation and request checks, and the connection I/O.

pub mod codec;
pub mod command;
pub mod negotiate;
pub mod proto;
pub mod server;
