//! Volumes from Glance images stored in this cluster: where an `imageRef`
//! points (pure), and the import itself, which streams the image object
//! from the proxy (following DLO/SLO manifests there) into chunk objects
//! without the bytes ever passing through the client.

use std::sync::Arc;

use bytes::Bytes;
use http_body_util::BodyExt;
use tracing::info;

use super::catalog::Catalog;
use super::chunkmap::{ChunkMap, ChunkRef};
use super::frames::Frames;
use super::layout;
use crate::error::{Error, Result};

/// An object that holds an image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageObject {
    /// `None`: the caller's own account.
    pub account: Option<String>,
    pub container: String,
    pub object: String,
}

/// What an imageRef names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ImageRef {
    /// A location (swift URL, or `container/object`).
    Object(ImageObject),
    /// A Glance image id: looked for where Glance's Swift store puts it.
    Id(String),
}

/// Parses an imageRef: a Glance image id, a Glance swift location
/// (`swift+http://host/v1/AUTH_x/c/o`, `swift+https://..`, `swift://..`,
/// `swift+config://ref/c/o`), a storage URL (`http://host/v1/AUTH_x/c/o`),
/// or `container/object`.
pub fn parse_image_ref(s: &str, reseller_prefix: &str) -> Result<ImageRef> {
    let bad = || {
        Error::BadRequest(format!(
            "Invalid imageRef {s:?}: expected an image id, a swift location or container/object"
        ))
    };
    if s.is_empty() || s.len() > 2048 {
        return Err(bad());
    }
    if layout::is_uuid(s) {
        return Ok(ImageRef::Id(s.to_string()));
    }
    let path = match s.split_once("://") {
        Some((scheme, rest)) => {
            let known = [
                "swift",
                "swift+http",
                "swift+https",
                "swift+config",
                "http",
                "https",
            ];
            if !known.contains(&scheme) {
                return Err(bad());
            }
            // Drop the host (and any credentials Glance put before it).
            rest.split_once('/').map(|(_, p)| p).ok_or_else(bad)?
        }
        None => s,
    };
    let path = percent_encoding::percent_decode_str(path)
        .decode_utf8()
        .map_err(|_| bad())?;
    let segs: Vec<&str> = path.split('/').collect();
    // A storage URL: .../v1/<account>/<container>/<object...>
    if let Some(i) = segs.iter().position(|p| *p == "v1") {
        if segs.len() >= i + 4 && segs[i + 1].starts_with(reseller_prefix) {
            let object = segs[i + 3..].join("/");
            if !segs[i + 2].is_empty() && !object.is_empty() {
                return Ok(ImageRef::Object(ImageObject {
                    account: Some(segs[i + 1].to_string()),
                    container: segs[i + 2].to_string(),
                    object,
                }));
            }
        }
    }
    // Otherwise the last two segments are container and object (Glance's
    // single-tenant locations put the auth URL before them).
    if segs.len() < 2 {
        return Err(bad());
    }
    let (container, object) = (segs[segs.len() - 2], segs[segs.len() - 1]);
    if container.is_empty() || object.is_empty() {
        return Err(bad());
    }
    Ok(ImageRef::Object(ImageObject {
        account: None,
        container: container.to_string(),
        object: object.to_string(),
    }))
}

/// Chunk PUTs of one import.
struct Importer<'a> {
    catalog: &'a Catalog,
    account: &'a str,
    id: &'a str,
    owner: Arc<str>,
    sem: Arc<tokio::sync::Semaphore>,
    set: tokio::task::JoinSet<Result<()>>,
    map: ChunkMap,
    chunk: u64,
}

impl Importer<'_> {
    /// Stores the next chunk (unless it is all zeros: a hole costs nothing).
    async fn emit(&mut self, full: Vec<u8>) -> Result<()> {
        let chunk = self.chunk;
        self.chunk += 1;
        if full.iter().all(|&b| b == 0) {
            return Ok(());
        }
        self.map.insert(
            chunk,
            ChunkRef {
                owner: self.owner.clone(),
                gen: 1,
                rewritten: false,
            },
        );
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .map_err(|e| Error::Cluster(e.to_string()))?;
        let (cat, account, name) = (
            self.catalog.clone(),
            self.account.to_string(),
            layout::chunk_object(self.id, chunk, 1),
        );
        self.set.spawn(async move {
            let _permit = permit;
            cat.put_chunk(&account, &name, &Frames::new([Bytes::from(full)]))
                .await
        });
        // Collect finished PUTs so that an error stops the import early.
        while let Some(r) = self.set.try_join_next() {
            r.map_err(|e| Error::Cluster(e.to_string()))??;
        }
        Ok(())
    }
}

/// Streams an image body into chunk objects of volume `id` (generation 1),
/// skipping all-zero chunks, at most `concurrency` PUTs at a time. Returns
/// the map of what was written and the image's size.
pub async fn import(
    catalog: &Catalog,
    account: &str,
    id: &str,
    chunk_size: u64,
    volume_bytes: u64,
    concurrency: usize,
    mut body: swirl_common::Body,
) -> Result<(ChunkMap, u64)> {
    let cs = chunk_size as usize;
    let mut imp = Importer {
        catalog,
        account,
        id,
        owner: Arc::from(id),
        sem: Arc::new(tokio::sync::Semaphore::new(concurrency)),
        set: tokio::task::JoinSet::new(),
        map: ChunkMap::new(),
        chunk: 0,
    };
    let mut buf: Vec<u8> = Vec::with_capacity(cs);
    let mut total = 0u64;
    let mut reported = 0u64;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Error::Cluster(format!("reading the image: {e}")))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        if total == 0 && data.starts_with(b"QFI\xfb") {
            return Err(Error::BadRequest(
                "the image is qcow2; only raw images can become volumes".into(),
            ));
        }
        total += data.len() as u64;
        if total > volume_bytes {
            return Err(Error::BadRequest(format!(
                "the image is larger than the volume ({volume_bytes} bytes)"
            )));
        }
        let mut rest = &data[..];
        while !rest.is_empty() {
            let take = rest.len().min(cs - buf.len());
            buf.extend_from_slice(&rest[..take]);
            rest = &rest[take..];
            if buf.len() == cs {
                let full = std::mem::replace(&mut buf, Vec::with_capacity(cs));
                imp.emit(full).await?;
            }
        }
        if total - reported >= 256 << 20 {
            reported = total;
            info!(account, volume = id, bytes = total, "image import progress");
        }
    }
    if !buf.is_empty() {
        buf.resize(cs, 0);
        imp.emit(buf).await?;
    }
    while let Some(r) = imp.set.join_next().await {
        r.map_err(|e| Error::Cluster(e.to_string()))??;
    }
    info!(
        account,
        volume = id,
        bytes = total,
        chunks = imp.map.len(),
        "image imported"
    );
    Ok((imp.map, total))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn obj(account: Option<&str>, c: &str, o: &str) -> ImageRef {
        ImageRef::Object(ImageObject {
            account: account.map(str::to_string),
            container: c.into(),
            object: o.into(),
        })
    }

    #[test]
    fn image_refs() {
        let id = "1b7f6c2e-3d4a-4f5b-8c9d-0e1f2a3b4c5d";
        assert_eq!(
            parse_image_ref(id, "AUTH_").unwrap(),
            ImageRef::Id(id.into())
        );
        assert_eq!(
            parse_image_ref(
                "swift+http://127.0.0.1:8080/v1/AUTH_glance/glance/x",
                "AUTH_"
            )
            .unwrap(),
            obj(Some("AUTH_glance"), "glance", "x")
        );
        assert_eq!(
            parse_image_ref("http://h/v1/AUTH_t/c/a/b%20c", "AUTH_").unwrap(),
            obj(Some("AUTH_t"), "c", "a/b c")
        );
        assert_eq!(
            parse_image_ref("swift+config://ref1/glance/abc", "AUTH_").unwrap(),
            obj(None, "glance", "abc")
        );
        assert_eq!(
            parse_image_ref("swift+http://t%3Au:k@auth:5000/v2.0/glance/abc", "AUTH_").unwrap(),
            obj(None, "glance", "abc")
        );
        assert_eq!(
            parse_image_ref("images/disk.raw", "AUTH_").unwrap(),
            obj(None, "images", "disk.raw")
        );
        for bad in ["", "x", "ftp://h/c/o", "c/", "/o", "swift://host"] {
            assert!(parse_image_ref(bad, "AUTH_").is_err(), "{bad}");
        }
    }
}
