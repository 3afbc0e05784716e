//! The account and container replicators (Swift's
//! `common/db_replicator.py`, `account/replicator.py`,
//! `container/replicator.py`): every database on this node's devices is
//! compared with its other replicas by a REPLICATE `sync` call and brought
//! up to date with rows (`merge_items`) or, for a replica missing or far
//! behind, the whole database, shipped over the replication network
//! (streamed, or as a fast_rsync delta against the peer's older copy) and
//! then taken in by `complete_rsync` / `rsync_then_merge`. Handoff
//! databases go once the primaries have them, deleted ones once past
//! reclaim_age; containers report their stats to their account.
//!
//! - `config`: the server's TOML, its `[account-replicator]` /
//!   `[container-replicator]` section;
//! - `plan`: the decisions, pure (nodes, in sync, rows or whole, cleanup);
//! - `kind`: what differs between accounts and containers;
//! - `rpc`, `ship`: REPLICATE calls and whole-database shipping;
//! - `replicate`: one database; `pass`: the daemon;
//! - `account_report`: container stats to the account (Swift's updater);
//! - `stats`: counters, progress line, recon entry.

pub mod account_report;
pub mod config;
pub mod kind;
pub mod pass;
pub mod plan;
pub mod replicate;
pub mod rpc;
pub mod ship;
pub mod stats;

use std::sync::Arc;

use crate::client::PeerClient;
pub use config::{DbNodeConfig, DbSettings};
pub use pass::{DbOverrides, DbPassReport, DbReplicator};

/// What every database's replication shares.
pub struct DbCtx {
    pub settings: DbSettings,
    pub client: Arc<PeerClient>,
    /// Storage policies configured (Swift's container replicator sends
    /// more `sync` arguments when there are several).
    pub policies: usize,
}
