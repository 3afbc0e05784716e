//! Volume data operations behind the API: new volumes, snapshots and clones
//! (copies of a chunk map, never of the chunks), and deletions that free
//! exactly the chunk objects nothing else names.

use std::collections::HashSet;
use std::sync::Arc;

use tracing::info;

use super::catalog::Catalog;
use super::chunkmap::ChunkMap;
use super::layout::{self, MapOf};
use super::records::{Head, SnapshotRecord, VolumeRecord};
use super::registry::{Lease, Registry};
use super::volume::OpenVolume;
use crate::error::{Error, Result};

/// The data side of the gateway.
pub struct Store {
    pub catalog: Catalog,
    pub registry: Registry,
    /// This gateway's name in attachment records.
    pub gateway_id: String,
    pub chunk_size: u64,
    pub cache_size: u64,
    pub upload_concurrency: usize,
}

impl Store {
    /// Loads a volume for serving.
    pub async fn load(&self, account: &str, v: &VolumeRecord) -> Result<OpenVolume> {
        OpenVolume::load(
            self.catalog.clone(),
            account,
            &v.id,
            v.size_bytes(),
            v.chunk_size,
            self.cache_size,
            self.upload_concurrency,
        )
        .await
    }

    /// The record behind an NBD export name, if the name is a live
    /// attachment served by this gateway, and whether it is read-only.
    /// Always the record as stored: the attachment may have moved to
    /// another gateway since this one last looked.
    pub async fn describe_export(&self, name: &str) -> Result<Option<(VolumeRecord, bool)>> {
        let mut parts = name.split('/');
        let (Some(account), Some(vid), Some(aid), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Ok(None);
        };
        if account.is_empty() || !layout::is_uuid(vid) || !layout::is_uuid(aid) {
            return Ok(None);
        }
        let Some(v) = self.catalog.volume(account, vid).await? else {
            return Ok(None);
        };
        let Some(a) = v.attachment(aid) else {
            return Ok(None);
        };
        let served_here = a
            .connection
            .as_ref()
            .is_some_and(|c| c.gateway == self.gateway_id && c.export == name);
        let read_only = a.attach_mode == "ro";
        Ok(served_here.then_some((v, read_only)))
    }

    /// Opens the volume behind an NBD export name for a connection (see
    /// [`Store::describe_export`]). Returns the lease, whether it is
    /// read-only, and the record.
    pub async fn open_export(&self, name: &str) -> Result<Option<(Lease, bool, VolumeRecord)>> {
        let Some((account, rest)) = name.split_once('/') else {
            return Ok(None);
        };
        let vid = rest.split('/').next().unwrap_or("");
        let _lock = self
            .registry
            .lock(&Registry::volume_lock(account, vid))
            .await;
        let Some((v, read_only)) = self.describe_export(name).await? else {
            return Ok(None);
        };
        let aid = name.rsplit('/').next().unwrap_or("");
        let lease = self
            .registry
            .acquire(account, &v.id, aid, self.load(account, &v))
            .await?;
        Ok(Some((lease, read_only, v)))
    }

    /// Freezes a volume's chunks for a snapshot or clone and returns its
    /// map. An open volume is flushed and frozen in memory; one at rest is
    /// frozen in its head. A volume attached through another gateway has
    /// writes cached there, so it cannot be frozen from here.
    pub async fn freeze(&self, account: &str, v: &VolumeRecord) -> Result<ChunkMap> {
        if let Some(open) = self.registry.get(account, &v.id) {
            return open.freeze().await;
        }
        let elsewhere = v.attachments.iter().find_map(|a| {
            a.connection
                .as_ref()
                .filter(|c| c.gateway != self.gateway_id)
                .map(|c| c.gateway.clone())
        });
        if let Some(g) = elsewhere {
            return Err(Error::BadRequest(format!(
                "Invalid volume: {} is attached through gateway {g}; ask that gateway's API",
                v.id
            )));
        }
        let mut head = self.catalog.head(account, &v.id).await?.unwrap_or_default();
        let map = self
            .catalog
            .load_map(account, MapOf::Volume, &v.id, &head.pages)
            .await?;
        let next = head.next_gen.max(map.max_gen_of(&v.id) + 1).max(1);
        head.next_gen = next;
        head.frozen_gen = next - 1;
        self.catalog.put_head(account, &v.id, &head).await?;
        Ok(map)
    }

    /// Stores `map` as the data of new volume `id` (a clone or a volume
    /// from a snapshot): its pages, then its head.
    pub async fn write_volume_data(&self, account: &str, id: &str, map: &ChunkMap) -> Result<()> {
        let pages = map.pages();
        self.catalog
            .put_pages(account, MapOf::Volume, id, map, pages.iter().copied())
            .await?;
        let head = Head {
            frozen_gen: 0,
            next_gen: map.max_gen_of(id) + 1,
            pages: pages.into_iter().collect(),
        };
        self.catalog.put_head(account, id, &head).await
    }

    /// Stores `map` as snapshot `id`'s frozen map; returns its pages.
    pub async fn write_snapshot_map(
        &self,
        account: &str,
        id: &str,
        map: &ChunkMap,
    ) -> Result<Vec<u32>> {
        let pages = map.pages();
        self.catalog
            .put_pages(account, MapOf::Snapshot, id, map, pages.iter().copied())
            .await?;
        Ok(pages.into_iter().collect())
    }

    /// A snapshot's map.
    pub async fn snapshot_map(&self, account: &str, s: &SnapshotRecord) -> Result<ChunkMap> {
        self.catalog
            .load_map(account, MapOf::Snapshot, &s.id, &s.pages)
            .await
    }

    /// Every chunk object named by the project's volumes and snapshots,
    /// except the one being deleted and others already being deleted.
    async fn refs(&self, account: &str, skip: &str) -> Result<HashSet<String>> {
        let mut refs = HashSet::new();
        let gone = |status: &str| status == "deleting" || status == "error_deleting";
        for v in self.catalog.volumes(account).await? {
            if v.id == skip || gone(&v.status) {
                continue;
            }
            if let Some(open) = self.registry.get(account, &v.id) {
                open.flush().await?;
            }
            let head = self.catalog.head(account, &v.id).await?.unwrap_or_default();
            let map = self
                .catalog
                .load_map(account, MapOf::Volume, &v.id, &head.pages)
                .await?;
            refs.extend(map.objects());
        }
        for s in self.catalog.snapshots(account).await? {
            if s.id == skip || gone(&s.status) {
                continue;
            }
            refs.extend(self.snapshot_map(account, &s).await?.objects());
        }
        Ok(refs)
    }

    /// Deletes the chunk objects in `names` that `refs` does not hold.
    async fn delete_unreferenced(
        &self,
        account: &str,
        what: &str,
        names: impl IntoIterator<Item = String>,
        refs: &HashSet<String>,
    ) -> Result<usize> {
        let doomed: Vec<String> = names.into_iter().filter(|n| !refs.contains(n)).collect();
        let total = doomed.len();
        let mut done = 0usize;
        for batch in doomed.chunks(32) {
            let mut set = tokio::task::JoinSet::new();
            for name in batch {
                let (cat, account, name) =
                    (self.catalog.clone(), account.to_string(), name.clone());
                set.spawn(async move { cat.delete_chunk(&account, &name).await });
            }
            while let Some(r) = set.join_next().await {
                r.map_err(|e| Error::Cluster(e.to_string()))??;
                done += 1;
            }
            if total >= 256 {
                info!(account, what, done, total, "deleting chunk objects");
            }
        }
        Ok(total)
    }

    /// Deletes volume `id`'s data: every chunk object it names or ever
    /// wrote (its prefix also holds objects a crash left unnamed) that no
    /// other volume or snapshot names, then its map and head. The caller
    /// holds the project lock.
    pub async fn delete_volume_data(&self, account: &str, id: &str) -> Result<()> {
        let refs = self.refs(account, id).await?;
        let head = self.catalog.head(account, id).await?.unwrap_or_default();
        let map = self
            .catalog
            .load_map(account, MapOf::Volume, id, &head.pages)
            .await?;
        let mut names = map.objects();
        names.extend(self.catalog.chunk_objects_of(account, id).await?);
        let n = self
            .delete_unreferenced(account, &format!("volume {id}"), names, &refs)
            .await?;
        self.catalog
            .delete_pages(account, MapOf::Volume, id, &head.pages)
            .await?;
        self.catalog
            .delete_record(account, &layout::volume_head(id))
            .await?;
        info!(
            account,
            volume = id,
            chunks_deleted = n,
            "volume data deleted"
        );
        Ok(())
    }

    /// Deletes snapshot `s`'s map and the chunk objects only it named. The
    /// caller holds the project lock.
    pub async fn delete_snapshot_data(&self, account: &str, s: &SnapshotRecord) -> Result<()> {
        let refs = self.refs(account, &s.id).await?;
        let map = self.snapshot_map(account, s).await?;
        let n = self
            .delete_unreferenced(account, &format!("snapshot {}", s.id), map.objects(), &refs)
            .await?;
        self.catalog
            .delete_pages(account, MapOf::Snapshot, &s.id, &s.pages)
            .await?;
        info!(account, snapshot = %s.id, chunks_deleted = n, "snapshot data deleted");
        Ok(())
    }
}

/// Shared handle.
pub type StoreRef = Arc<Store>;
