//! Reading and writing a project's volume records, heads, map pages and
//! chunk objects in the cluster (the I/O around `layout`, `records` and
//! `chunkmap`). Records and pages are overwritten in place, so they are read
//! with X-Newest: a replica that missed the last write must not win.

use std::sync::Arc;

use bytes::Bytes;
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::chunkmap::ChunkMap;
use super::frames::Frames;
use super::layout::{self, MapOf};
use super::records::{AttachmentIndex, Head, SnapshotRecord, VolumeRecord};
use crate::error::{Error, Result};
use crate::swift::client::SwiftClient;

/// A project's volume metadata and chunks, through the proxy.
#[derive(Clone)]
pub struct Catalog {
    pub swift: Arc<SwiftClient>,
    /// Container of records and maps.
    pub records: String,
    /// Container of chunk objects.
    pub chunks: String,
}

impl Catalog {
    async fn get_json<T: DeserializeOwned>(&self, account: &str, name: &str) -> Result<Option<T>> {
        let Some(b) = self
            .swift
            .get(account, &self.records, name, None, true)
            .await?
        else {
            return Ok(None);
        };
        serde_json::from_slice(&b)
            .map(Some)
            .map_err(|e| Error::Corrupt(format!("{account}/{}/{name}: {e}", self.records)))
    }

    async fn put_json<T: Serialize>(&self, account: &str, name: &str, v: &T) -> Result<()> {
        let body = serde_json::to_vec(v).map_err(|e| Error::Corrupt(e.to_string()))?;
        self.swift
            .put(account, &self.records, name, Bytes::from(body))
            .await
    }

    /// Deletes a record, head, page or index object.
    pub async fn delete_record(&self, account: &str, name: &str) -> Result<()> {
        self.swift.delete(account, &self.records, name).await
    }

    pub async fn volume(&self, account: &str, id: &str) -> Result<Option<VolumeRecord>> {
        if !layout::is_uuid(id) {
            return Ok(None);
        }
        self.get_json(account, &layout::volume_record(id)).await
    }

    pub async fn put_volume(&self, account: &str, v: &VolumeRecord) -> Result<()> {
        self.put_json(account, &layout::volume_record(&v.id), v)
            .await
    }

    pub async fn head(&self, account: &str, id: &str) -> Result<Option<Head>> {
        self.get_json(account, &layout::volume_head(id)).await
    }

    pub async fn put_head(&self, account: &str, id: &str, h: &Head) -> Result<()> {
        self.put_json(account, &layout::volume_head(id), h).await
    }

    pub async fn snapshot(&self, account: &str, id: &str) -> Result<Option<SnapshotRecord>> {
        if !layout::is_uuid(id) {
            return Ok(None);
        }
        self.get_json(account, &layout::snapshot_record(id)).await
    }

    pub async fn put_snapshot(&self, account: &str, s: &SnapshotRecord) -> Result<()> {
        self.put_json(account, &layout::snapshot_record(&s.id), s)
            .await
    }

    pub async fn attachment_index(
        &self,
        account: &str,
        id: &str,
    ) -> Result<Option<AttachmentIndex>> {
        if !layout::is_uuid(id) {
            return Ok(None);
        }
        self.get_json(account, &layout::attachment_index(id)).await
    }

    pub async fn put_attachment_index(
        &self,
        account: &str,
        id: &str,
        volume_id: &str,
    ) -> Result<()> {
        let idx = AttachmentIndex {
            volume_id: volume_id.to_string(),
        };
        self.put_json(account, &layout::attachment_index(id), &idx)
            .await
    }

    /// Ids of every record under `volume/` or `snapshot/`.
    async fn ids(&self, account: &str, kind: &str) -> Result<Vec<String>> {
        let prefix = format!("{kind}/");
        let rows = self
            .swift
            .list(account, &self.records, &prefix, Some('/'))
            .await?;
        Ok(rows
            .into_iter()
            .filter(|r| r.subdir.is_none())
            .filter_map(|r| r.name.strip_prefix(&prefix).map(str::to_string))
            .filter(|id| layout::is_uuid(id))
            .collect())
    }

    /// Every volume record of the project (fetched a few at a time).
    pub async fn volumes(&self, account: &str) -> Result<Vec<VolumeRecord>> {
        let ids = self.ids(account, "volume").await?;
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(16) {
            let mut set = tokio::task::JoinSet::new();
            for id in batch {
                let (me, account, id) = (self.clone(), account.to_string(), id.clone());
                set.spawn(async move { me.volume(&account, &id).await });
            }
            while let Some(r) = set.join_next().await {
                if let Some(v) = r.map_err(|e| Error::Cluster(e.to_string()))?? {
                    out.push(v);
                }
            }
        }
        out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(out)
    }

    /// Every snapshot record of the project.
    pub async fn snapshots(&self, account: &str) -> Result<Vec<SnapshotRecord>> {
        let ids = self.ids(account, "snapshot").await?;
        let mut out = Vec::with_capacity(ids.len());
        for batch in ids.chunks(16) {
            let mut set = tokio::task::JoinSet::new();
            for id in batch {
                let (me, account, id) = (self.clone(), account.to_string(), id.clone());
                set.spawn(async move { me.snapshot(&account, &id).await });
            }
            while let Some(r) = set.join_next().await {
                if let Some(s) = r.map_err(|e| Error::Cluster(e.to_string()))?? {
                    out.push(s);
                }
            }
        }
        out.sort_by(|a, b| (&a.created_at, &a.id).cmp(&(&b.created_at, &b.id)));
        Ok(out)
    }

    /// Loads the map pages of a volume or snapshot.
    pub async fn load_map(
        &self,
        account: &str,
        of: MapOf,
        id: &str,
        pages: &[u32],
    ) -> Result<ChunkMap> {
        let mut map = ChunkMap::new();
        for &p in pages {
            let name = layout::map_page(of, id, p);
            let Some(b) = self
                .swift
                .get(account, &self.records, &name, None, true)
                .await?
            else {
                return Err(Error::Corrupt(format!(
                    "{account}: map page {name} is missing"
                )));
            };
            map.decode_page(p, &b)
                .map_err(|e| Error::Corrupt(format!("{account}: {name}: {e}")))?;
        }
        Ok(map)
    }

    /// Writes the given pages of `map`.
    pub async fn put_pages(
        &self,
        account: &str,
        of: MapOf,
        id: &str,
        map: &ChunkMap,
        pages: impl IntoIterator<Item = u32>,
    ) -> Result<()> {
        let mut set = tokio::task::JoinSet::new();
        for p in pages {
            let body = Bytes::from(map.encode_page(p));
            let (me, account, name) = (
                self.clone(),
                account.to_string(),
                layout::map_page(of, id, p),
            );
            set.spawn(async move { me.swift.put(&account, &me.records, &name, body).await });
        }
        while let Some(r) = set.join_next().await {
            r.map_err(|e| Error::Cluster(e.to_string()))??;
        }
        Ok(())
    }

    /// Deletes the given pages.
    pub async fn delete_pages(
        &self,
        account: &str,
        of: MapOf,
        id: &str,
        pages: &[u32],
    ) -> Result<()> {
        for &p in pages {
            self.delete_record(account, &layout::map_page(of, id, p))
                .await?;
        }
        Ok(())
    }

    /// Reads `len` bytes at `at` of a chunk object (the whole object when
    /// `range` is None). `Ok(None)`: the object does not exist.
    pub async fn get_chunk(
        &self,
        account: &str,
        name: &str,
        range: Option<(u64, u64)>,
        newest: bool,
    ) -> Result<Option<Bytes>> {
        self.swift
            .get(account, &self.chunks, name, range, newest)
            .await
    }

    /// A chunk object whole, as the frames it arrived in.
    pub async fn get_chunk_frames(
        &self,
        account: &str,
        name: &str,
        newest: bool,
    ) -> Result<Option<Frames>> {
        let parts = self
            .swift
            .get_parts(account, &self.chunks, name, None, newest);
        Ok(parts.await?.map(Frames::new))
    }

    pub async fn put_chunk(&self, account: &str, name: &str, body: &Frames) -> Result<()> {
        self.swift
            .put_parts(account, &self.chunks, name, body.parts().to_vec())
            .await
    }

    pub async fn delete_chunk(&self, account: &str, name: &str) -> Result<()> {
        self.swift.delete(account, &self.chunks, name).await
    }

    /// Names of every chunk object a volume ever wrote (its prefix).
    pub async fn chunk_objects_of(&self, account: &str, owner: &str) -> Result<Vec<String>> {
        let rows = self
            .swift
            .list(account, &self.chunks, &format!("{owner}/"), None)
            .await?;
        Ok(rows.into_iter().map(|r| r.name).collect())
    }
}
