//! The SQLite account and container brokers, shared by the account/container
//! servers and the database replicator.
//!
//! - `dbfile`: one database file (WAL, writer + reader pool, atomic create);
//! - `group_commit`: many callers' row updates committed as one transaction;
//! - `container` / `account`: the brokers (schema, rows, stats, metadata);
//! - `listing`: Swift's listing rules over any name-ordered row source;
//! - `metadata`, `timestamps`, `sync`: pure pieces of the row and stat model;
//! - `placement`: where a database file lives on a device.

pub mod account;
pub mod container;
pub mod dbfile;
pub mod error;
pub mod group_commit;
pub mod listing;
pub mod metadata;
pub mod placement;
pub mod sync;
pub mod timestamps;

pub use error::{DbError, DbResult};
