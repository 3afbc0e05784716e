//! Volumes open on this gateway and the connections using them, plus the
//! per-volume and per-project locks that keep this process's metadata
//! changes in order (records are read, changed and written back whole).

use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{Notify, OwnedMutexGuard};

use super::volume::OpenVolume;
use crate::error::Result;

struct Conn {
    attachment: String,
    kick: Arc<Notify>,
}

struct Entry {
    vol: Arc<OpenVolume>,
    conns: HashMap<u64, Conn>,
}

/// What a connection holds while it uses a volume.
pub struct Lease {
    pub vol: Arc<OpenVolume>,
    pub conn: u64,
    /// Notified when the attachment is deleted: the connection must end.
    pub kick: Arc<Notify>,
}

/// Open volumes by (account, volume id).
#[derive(Default)]
pub struct Registry {
    open: Mutex<HashMap<(String, String), Entry>>,
    locks: Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    next_conn: AtomicU64,
}

impl Registry {
    fn open_map(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Entry>> {
        self.open.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes the named lock (`volume:<account>/<id>`, `project:<account>`).
    pub async fn lock(&self, name: &str) -> OwnedMutexGuard<()> {
        let m = {
            let mut locks = self.locks.lock().unwrap_or_else(|e| e.into_inner());
            // Forget locks nobody holds or waits for, so the table stays small.
            if locks.len() > 1024 {
                locks.retain(|_, l| Arc::strong_count(l) > 1);
            }
            locks
                .entry(name.to_string())
                .or_insert_with(|| Arc::new(tokio::sync::Mutex::new(())))
                .clone()
        };
        m.lock_owned().await
    }

    /// The volume's lock name.
    pub fn volume_lock(account: &str, id: &str) -> String {
        format!("volume:{account}/{id}")
    }

    /// The project's lock name (operations that change which chunk
    /// objects are shared: clones, snapshots' volumes, deletions).
    pub fn project_lock(account: &str) -> String {
        format!("project:{account}")
    }

    /// The open volume, if any.
    pub fn get(&self, account: &str, id: &str) -> Option<Arc<OpenVolume>> {
        self.open_map()
            .get(&(account.to_string(), id.to_string()))
            .map(|e| e.vol.clone())
    }

    /// Every open volume (to write back at shutdown).
    pub fn all(&self) -> Vec<Arc<OpenVolume>> {
        self.open_map().values().map(|e| e.vol.clone()).collect()
    }

    /// Gives a connection for `attachment` the open volume, loading it
    /// with `load` if it is not open. The caller holds the volume lock.
    pub async fn acquire<F>(
        &self,
        account: &str,
        id: &str,
        attachment: &str,
        load: F,
    ) -> Result<Lease>
    where
        F: Future<Output = Result<OpenVolume>>,
    {
        let key = (account.to_string(), id.to_string());
        let existing = self.open_map().get(&key).map(|e| e.vol.clone());
        let vol = match existing {
            Some(v) => v,
            None => Arc::new(load.await?),
        };
        let conn = self.next_conn.fetch_add(1, Ordering::Relaxed);
        let kick = Arc::new(Notify::new());
        let mut open = self.open_map();
        let entry = open.entry(key).or_insert_with(|| Entry {
            vol: vol.clone(),
            conns: HashMap::new(),
        });
        entry.conns.insert(
            conn,
            Conn {
                attachment: attachment.to_string(),
                kick: kick.clone(),
            },
        );
        Ok(Lease {
            vol: entry.vol.clone(),
            conn,
            kick,
        })
    }

    /// A connection is done. The last one out writes the volume back and
    /// closes it (under the volume lock, so a new attach loads what it
    /// wrote).
    pub async fn release(&self, lease: &Lease) {
        let (account, id) = (lease.vol.account.clone(), lease.vol.id.clone());
        let _lock = self.lock(&Self::volume_lock(&account, &id)).await;
        let last = {
            let mut open = self.open_map();
            let key = (account, id);
            match open.get_mut(&key) {
                Some(e) => {
                    e.conns.remove(&lease.conn);
                    if e.conns.is_empty() {
                        open.remove(&key).map(|e| e.vol)
                    } else {
                        None
                    }
                }
                None => None,
            }
        };
        if let Some(vol) = last {
            vol.close().await;
        }
    }

    /// Ends every connection of `attachment` and waits (up to `limit`) until
    /// they are gone and, if they were the last, the volume is written back.
    pub async fn kick(&self, account: &str, id: &str, attachment: &str, limit: Duration) -> bool {
        let key = (account.to_string(), id.to_string());
        let kicks: Vec<Arc<Notify>> = self
            .open_map()
            .get(&key)
            .map(|e| {
                e.conns
                    .values()
                    .filter(|c| c.attachment == attachment)
                    .map(|c| c.kick.clone())
                    .collect()
            })
            .unwrap_or_default();
        for k in &kicks {
            k.notify_one();
        }
        let deadline = Instant::now() + limit;
        loop {
            let busy = self
                .open_map()
                .get(&key)
                .is_some_and(|e| e.conns.values().any(|c| c.attachment == attachment));
            if !busy {
                // The last connection's release holds the volume lock while it
                // writes back; taking it waits for that to end.
                drop(self.lock(&Self::volume_lock(account, id)).await);
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
