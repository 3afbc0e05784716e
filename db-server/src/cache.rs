//! Open databases, kept between requests (opening SQLite costs a few syscalls
//! and the page cache warms per connection). Bounded: the least recently used
//! entry is dropped past the cap. An entry whose file vanished or is another
//! file now (reclaimed, shipped in anew) is dropped on the next lookup.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use swirl_store::db::{DbError, DbResult};

struct Entry<B> {
    broker: Arc<B>,
    used: u64,
    /// The file opened: (device, inode).
    file: (u64, u64),
}

/// A bounded map of open brokers.
pub struct Cache<B> {
    inner: Mutex<(HashMap<PathBuf, Entry<B>>, u64)>,
    cap: usize,
}

impl<B> Cache<B> {
    pub fn new(cap: usize) -> Self {
        Cache {
            inner: Mutex::new((HashMap::new(), 0)),
            cap: cap.max(1),
        }
    }

    /// The open broker for `path`, opening it with `open` if needed;
    /// `DbError::NotFound` when the file does not exist.
    pub fn get(&self, path: &Path, open: impl FnOnce(&Path) -> DbResult<B>) -> DbResult<Arc<B>> {
        let file = match std::fs::metadata(path) {
            Ok(m) if m.is_file() => (m.dev(), m.ino()),
            _ => {
                self.forget(path);
                return Err(DbError::NotFound(path.display().to_string()));
            }
        };
        {
            let mut g = self
                .inner
                .lock()
                .map_err(|_| DbError::Invalid("cache lock poisoned".into()))?;
            let (map, tick) = &mut *g;
            *tick += 1;
            match map.get_mut(path) {
                Some(e) if e.file == file => {
                    e.used = *tick;
                    return Ok(e.broker.clone());
                }
                Some(_) => {
                    map.remove(path);
                }
                None => {}
            }
        }
        // Open outside the lock; a racing opener's copy is simply replaced.
        let broker = Arc::new(open(path)?);
        let mut g = self
            .inner
            .lock()
            .map_err(|_| DbError::Invalid("cache lock poisoned".into()))?;
        let (map, tick) = &mut *g;
        *tick += 1;
        if let Some(e) = map.get_mut(path).filter(|e| e.file == file) {
            e.used = *tick;
            return Ok(e.broker.clone());
        }
        if map.len() >= self.cap {
            if let Some(oldest) = map
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone())
            {
                map.remove(&oldest);
            }
        }
        map.insert(
            path.to_path_buf(),
            Entry {
                broker: broker.clone(),
                used: *tick,
                file,
            },
        );
        Ok(broker)
    }

    /// Drops the entry for `path`.
    pub fn forget(&self, path: &Path) {
        if let Ok(mut g) = self.inner.lock() {
            g.0.remove(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_missing() {
        let d = tempfile::tempdir().unwrap();
        let c: Cache<u32> = Cache::new(2);
        let paths: Vec<PathBuf> = (0..3).map(|i| d.path().join(format!("{i}.db"))).collect();
        assert!(matches!(
            c.get(&paths[0], |_| Ok(0)),
            Err(DbError::NotFound(_))
        ));
        for (i, p) in paths.iter().enumerate() {
            std::fs::write(p, b"").unwrap();
            assert_eq!(*c.get(p, |_| Ok(i as u32)).unwrap(), i as u32);
        }
        assert_eq!(c.inner.lock().unwrap().0.len(), 2);
        // cached: the opener is not called again
        assert_eq!(*c.get(&paths[2], |_| Ok(99)).unwrap(), 2);
        std::fs::remove_file(&paths[2]).unwrap();
        assert!(c.get(&paths[2], |_| Ok(7)).is_err());
        // Another file under a cached name is opened anew.
        let other = d.path().join("other.db");
        std::fs::write(&other, b"").unwrap();
        std::fs::rename(&other, &paths[1]).unwrap();
        assert_eq!(*c.get(&paths[1], |_| Ok(11)).unwrap(), 11);
    }
}
