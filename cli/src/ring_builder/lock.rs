//! One ring-builder at a time per builder file.
//!
//! Commands that change files hold an exclusive `flock` on the directory
//! that holds the builder (as `swift-ring-builder-safe` locks it), so two
//! operators running `add` at once cannot lose one of the changes: the
//! second waits for the first, up to 15 seconds. Locking the directory
//! itself leaves no lock file behind, and the kernel drops the lock when the
//! process exits, however it exits.

use std::fs::File;
use std::io;
use std::thread::sleep;
use std::time::{Duration, Instant};

use rustix::fs::{flock, FlockOperation};

use super::paths::{parent_dir, BuilderPaths};
use super::Fail;

/// How long a command waits for another one to finish.
const WAIT: Duration = Duration::from_secs(15);

/// Held for the life of the command.
pub struct BuilderLock {
    _file: File,
}

/// Takes the builder's lock, waiting up to [`WAIT`].
pub fn lock(paths: &BuilderPaths) -> Result<BuilderLock, Fail> {
    let path = parent_dir(&paths.builder);
    let file = File::open(&path)
        .map_err(|e| Fail::new(format!("cannot open directory {}: {e}", path.display())))?;
    let start = Instant::now();
    loop {
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => return Ok(BuilderLock { _file: file }),
            Err(e) if io::Error::from(e).kind() == io::ErrorKind::WouldBlock => {
                if start.elapsed() >= WAIT {
                    return Err(Fail::new(format!(
                        "{} is locked by another ring-builder (waited {}s); try again when it is done",
                        paths.builder.display(),
                        WAIT.as_secs()
                    )));
                }
                sleep(Duration::from_millis(50));
            }
            Err(e) => {
                return Err(Fail::new(format!("cannot lock {}: {e}", path.display())));
            }
        }
    }
}
