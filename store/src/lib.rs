//! swirl-store: on-disk formats that servers and replicators share.
//! `object`: object files, metadata, durable writes, suffix hashes, quarantine.
//! `db`: the SQLite account and container brokers.
//! `recon_cache`: the daemons' recon stats files (`object.recon`, ...).

pub mod db;
pub mod object;
pub mod recon_cache;
pub mod recon_md5;
pub mod recon_metrics;
