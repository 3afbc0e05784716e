//! Keystone v3 authentication, as a Swift proxy runs it: keystonemiddleware's
//! `authtoken` filter validates X-Auth-Token and X-Service-Token with
//! Keystone (`authtoken.rs`, `client.rs`, a bounded cache in `cache.rs`),
//! and Swift's `keystoneauth` filter maps the token's project and roles to
//! accounts and ACLs (`keystoneauth.rs`, its rules in `rules.rs`).

pub mod authtoken;
pub mod cache;
pub mod client;
pub mod config;
pub mod keystoneauth;
pub mod rules;
pub mod token;
