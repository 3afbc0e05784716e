//! swirl-store: on-disk formats that servers and replicators share.
//! `object`: object files, metadata, durable writes, suffix hashes, quarantine.
//! `db`: the SQLite account and container brokers.

pub mod db;
pub mod object;
