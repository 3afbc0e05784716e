//! swirl-replicator: Swift's replication daemons over swirl-store: the
//! account and container replicators ([`db`]) and the object replicator
//! ([`object`]): suffix hashes compared with REPLICATE,
//! a missing check and whole files or fast_rsync deltas sent to the peers'
//! replication listeners over the cluster's mutual TLS ([`client`],
//! [`sender`]), handoffs pushed home and removed once confirmed, progress
//! lines and Swift's `object.recon` entry ([`stats`]); and the object,
//! account and container auditors ([`audit`]).
//! lines and Swift's `object.recon` entry ([`stats`]); the object updater
//! ([`updater`]: async pendings sent to the container ring's replicas) and
//! the object expirer ([`expirer`]: the `.expiring_objects` queue read from
//! the account and container servers, expired objects deleted with
//! X-If-Delete-At), which talk to the servers' main ports ([`backend`]).
//!
//! The pieces a later daemon reuses: [`config`] (the object server's file,
//! its own `[object-*]` section), [`client`] (the TLS peer client),
//! [`rings`] (ring files and change detection), [`stats`].

pub mod audit;
pub mod backend;
pub mod client;
pub mod config;
pub mod db;
pub mod delta_send;
pub mod error;
pub mod expirer;
pub mod jobs;
pub mod object;
pub mod pace;
pub mod rings;
pub mod schedule;
pub mod sender;
pub mod stats;
pub mod tmp_sweep;
pub mod updater;

pub use error::{Error, Result};
