//! The SQLite account and container brokers, shared by the account/container
//! servers and the database replicator.
//!
//! - `dbfile`: one database file (WAL, writer + reader pool, atomic create);
//! - `group_commit`: many callers' row updates committed as one transaction;
//! - `broker`: the broker core every database shares (metadata, timestamps,
//!   replication: rows since a point, merges, sync points, new ids, whole
//!   files shipped and received; reclaim, delete), generic over a `Kind`;
//! - `container` / `account`: the two kinds (schema, rows, stats, listings);
//! - `replication`: what replicas exchange (replication info, sync args);
//! - `listing`: Swift's listing rules over any name-ordered row source;
//! - `metadata`, `timestamps`, `sync`: pure pieces of the row and stat model;
//! - `placement`: where a database file lives on a device; `walk`: finding
//!   the databases on one;
//! - `integrity`: SQLite's own structure checks (the auditors);
//!   `quarantine`: moving a damaged database out of the way;
//! - `ship`: whole database files received from another replica (checked
//!   before they are named), plain or as a delta against a local copy;
//! - `totals`: the bounds of rows' numbers and the saturating sums of them.

pub mod account;
pub mod broker;
pub mod container;
pub mod dbfile;
pub mod error;
pub mod group_commit;
pub mod integrity;
pub mod listing;
pub mod metadata;
pub mod placement;
pub mod quarantine;
pub mod replication;
pub mod ship;
pub mod sync;
pub mod timestamps;
pub mod totals;
pub mod walk;

pub use error::{DbError, DbResult};
