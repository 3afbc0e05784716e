//! What the replicator needs to know of each kind of database beyond the
//! broker core: the names its place hashes from, the extra `sync` arguments
//! Swift's container replicator sends, and whether a container's stats have
//! reached its account (Swift's `report_up_to_date`).

use serde_json::Value;
use swirl_store::db::account::Account;
use swirl_store::db::broker::Kind;
use swirl_store::db::container::{Container, ContainerInfo};
use swirl_store::db::placement::DbKind;

use super::plan::{self, ContainerStats};

/// A kind of database the replicator handles.
pub trait Replicated: Kind<Info: Sync> {
    const KIND: DbKind;

    /// The account and (for containers) container its place hashes from.
    fn names(info: &Self::Info) -> (String, Option<String>);

    /// The `sync` call's arguments after Swift's first seven: a container
    /// replicator with more than one storage policy adds status_changed_at,
    /// count and storage_policy_index.
    fn extra_sync_args(_info: &Self::Info, _policies: usize) -> Vec<Value> {
        Vec::new()
    }

    /// Whether what this database reports upward is current (an account
    /// reports to nobody).
    fn reported_up_to_date(_info: &Self::Info) -> bool {
        true
    }
}

impl Replicated for Account {
    const KIND: DbKind = DbKind::Account;

    fn names(info: &Self::Info) -> (String, Option<String>) {
        (info.account.clone(), None)
    }
}

/// A container's stats against what it last reported.
pub fn container_stats(i: &ContainerInfo) -> ContainerStats<'_> {
    ContainerStats {
        put_timestamp: &i.put_timestamp,
        delete_timestamp: &i.delete_timestamp,
        object_count: i.object_count,
        bytes_used: i.bytes_used,
        reported_put_timestamp: &i.reported_put_timestamp,
        reported_delete_timestamp: &i.reported_delete_timestamp,
        reported_object_count: i.reported_object_count,
        reported_bytes_used: i.reported_bytes_used,
    }
}

impl Replicated for Container {
    const KIND: DbKind = DbKind::Container;

    fn names(info: &Self::Info) -> (String, Option<String>) {
        (info.account.clone(), Some(info.container.clone()))
    }

    fn extra_sync_args(info: &Self::Info, policies: usize) -> Vec<Value> {
        if policies > 1 {
            vec![
                info.status_changed_at.clone().into(),
                info.object_count.into(),
                info.storage_policy_index.into(),
            ]
        } else {
            Vec::new()
        }
    }

    fn reported_up_to_date(info: &Self::Info) -> bool {
        plan::report_up_to_date(&container_stats(info))
    }
}
