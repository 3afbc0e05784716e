//! Which files a `ring-builder` invocation works on: the builder file, the
//! ring file beside it, and the `backups/` directory (Swift's
//! `parse_builder_ring_filename_args`).

use std::path::{Path, PathBuf};

/// The files behind one builder argument.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BuilderPaths {
    pub builder: PathBuf,
    pub ring: PathBuf,
}

impl BuilderPaths {
    /// `X.builder` pairs with `X.ring.gz`; a `X.ring.gz` argument means the
    /// builder `X.builder`; any other name `N` gets the ring `N.ring.gz`.
    pub fn from_arg(arg: &str) -> BuilderPaths {
        if let Some(stem) = arg.strip_suffix(".ring.gz") {
            BuilderPaths {
                builder: PathBuf::from(format!("{stem}.builder")),
                ring: PathBuf::from(arg),
            }
        } else {
            let stem = arg.strip_suffix(".builder").unwrap_or(arg);
            BuilderPaths {
                builder: PathBuf::from(arg),
                ring: PathBuf::from(format!("{stem}.ring.gz")),
            }
        }
    }

    /// `backups/` beside the builder file.
    pub fn backup_dir(&self) -> PathBuf {
        parent_dir(&self.builder).join("backups")
    }

    /// `backups/<ts>.<file name>` for one of our files.
    pub fn backup_of(&self, file: &Path, ts: u64) -> PathBuf {
        let name = file
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        self.backup_dir().join(format!("{ts}.{name}"))
    }
}

/// The directory holding `file` (`.` for a bare file name).
pub fn parent_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builder_and_ring_names() {
        let p = BuilderPaths::from_arg("object.builder");
        assert_eq!(p.builder, PathBuf::from("object.builder"));
        assert_eq!(p.ring, PathBuf::from("object.ring.gz"));
        let p = BuilderPaths::from_arg("/etc/swift/account.ring.gz");
        assert_eq!(p.builder, PathBuf::from("/etc/swift/account.builder"));
        assert_eq!(p.ring, PathBuf::from("/etc/swift/account.ring.gz"));
        let p = BuilderPaths::from_arg("odd");
        assert_eq!(p.builder, PathBuf::from("odd"));
        assert_eq!(p.ring, PathBuf::from("odd.ring.gz"));
    }

    #[test]
    fn backups_sit_beside_the_builder() {
        let p = BuilderPaths::from_arg("/r/object.builder");
        assert_eq!(p.backup_dir(), PathBuf::from("/r/backups"));
        assert_eq!(
            p.backup_of(&p.ring, 12),
            PathBuf::from("/r/backups/12.object.ring.gz")
        );
        let p = BuilderPaths::from_arg("object.builder");
        assert_eq!(p.backup_dir(), PathBuf::from("./backups"));
    }
}
