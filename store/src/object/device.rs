//! Device checks: is the device there (and mounted, with mount_check), and how
//! much room is left on it (Swift's `check_drive` and `fallocate_reserve`).

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::error::{Error, Result};

/// Swift's `check_drive`: with `mount_check`, the device must be a mount point
/// (a different st_dev than its parent); without it, an existing directory.
pub fn check_device(devices: &Path, device: &str, mount_check: bool) -> Result<()> {
    let path = devices.join(device);
    let unavailable = || Error::DeviceUnavailable(device.to_string());
    let md = std::fs::metadata(&path).map_err(|_| unavailable())?;
    if !md.is_dir() {
        return Err(unavailable());
    }
    if mount_check {
        let parent = std::fs::metadata(devices).map_err(|_| unavailable())?;
        let is_mount = md.dev() != parent.dev() || md.ino() == parent.ino();
        if !is_mount {
            return Err(unavailable());
        }
    }
    Ok(())
}

/// Space on the file system holding `path`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Space {
    pub size: u64,
    pub avail: u64,
}

/// statvfs of `path`.
pub fn space(path: &Path) -> Result<Space> {
    let st = rustix::fs::statvfs(path).map_err(|e| Error::Io(e.into()))?;
    let frsize = st.f_frsize.max(1);
    Ok(Space {
        size: st.f_blocks.saturating_mul(frsize),
        avail: st.f_bavail.saturating_mul(frsize),
    })
}

/// Whether `incoming` more bytes fit while keeping `reserve_percent` of the
/// file system free (Swift's `fallocate_reserve`, as a percentage).
pub fn has_room(space: Space, incoming: u64, reserve_percent: f64) -> bool {
    let reserve = (space.size as f64 * reserve_percent / 100.0) as u64;
    space.avail >= incoming.saturating_add(reserve)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir(d.path().join("sda")).unwrap();
        std::fs::write(d.path().join("file"), b"").unwrap();
        assert!(check_device(d.path(), "sda", false).is_ok());
        assert!(check_device(d.path(), "nope", false).is_err());
        assert!(check_device(d.path(), "file", false).is_err());
        // A plain directory is not a mount point.
        assert!(check_device(d.path(), "sda", true).is_err());
        let s = space(d.path()).unwrap();
        assert!(s.size >= s.avail && s.size > 0);
        let sp = Space {
            size: 1000,
            avail: 100,
        };
        assert!(has_room(sp, 50, 1.0));
        assert!(!has_room(sp, 95, 1.0));
        assert!(!has_room(sp, 200, 0.0));
    }
}
