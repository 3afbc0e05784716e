//! Authentication and authorization: tempauth tokens, Keystone tokens
//! (authtoken + keystoneauth) and Swift's ACLs.

pub mod acl;
pub mod filter;
pub mod keystone;
pub mod tempauth;
