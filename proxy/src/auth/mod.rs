//! Authentication and authorization: tempauth tokens and Swift's ACLs.

pub mod acl;
pub mod filter;
pub mod tempauth;
