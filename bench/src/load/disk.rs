//! `swirl bench disk`: the write ceiling of a disk for N-replica durable object
//! writes, measured the way an object server writes (temp file, write, fdatasync,
//! rename, fsync of the directory), `replicas` copies of each object in parallel.
//! The figure is in object bytes per second: what a client's large PUTs could reach
//! if nothing but the disk limited them.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::args::DiskArgs;
use super::runner::make_chunk;
use crate::error::Error;

/// Writes one replica durably.
fn write_replica(dir: &Path, name: &str, size: u64, chunk: &[u8]) -> Result<(), Error> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let dst = dir.join(name);
    let mut f = File::create(&tmp).map_err(Error::Io)?;
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).map_err(Error::Io)?;
        left -= n as u64;
    }
    f.sync_data().map_err(Error::Io)?;
    drop(f);
    fs::rename(&tmp, &dst).map_err(Error::Io)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::Io)?;
    fs::remove_file(&dst).map_err(Error::Io)
}

/// Runs the measurement; returns (seconds, object bytes written).
fn measure(a: &DiskArgs) -> Result<(f64, u64), Error> {
    let base: PathBuf = a
        .dir
        .join(format!("swirl-bench-disk-{}", std::process::id()));
    let dirs: Vec<PathBuf> = (0..a.replicas)
        .map(|r| base.join(format!("r{r}")))
        .collect();
    for d in &dirs {
        fs::create_dir_all(d).map_err(Error::Io)?;
    }
    let chunk = make_chunk(a.size);
    let next = Arc::new(AtomicU64::new(0));
    let t0 = Instant::now();
    let result = std::thread::scope(|s| -> Result<(), Error> {
        let mut handles = Vec::new();
        for _ in 0..a.concurrency {
            let next = next.clone();
            let (dirs, chunk) = (&dirs, &chunk);
            handles.push(s.spawn(move || -> Result<(), Error> {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= a.count {
                        return Ok(());
                    }
                    let name = format!("obj{i:08}");
                    // the replicas of one object are written at once, like a proxy's PUT
                    std::thread::scope(|s2| -> Result<(), Error> {
                        let hs: Vec<_> = dirs
                            .iter()
                            .map(|d| s2.spawn(|| write_replica(d, &name, a.size, chunk)))
                            .collect();
                        for h in hs {
                            h.join()
                                .map_err(|_| Error::Setup("writer thread panicked".into()))??;
                        }
                        Ok(())
                    })?;
                }
            }));
        }
        for h in handles {
            h.join()
                .map_err(|_| Error::Setup("writer thread panicked".into()))??;
        }
        Ok(())
    });
    let secs = t0.elapsed().as_secs_f64();
    let _ = fs::remove_dir_all(&base);
    result?;
    Ok((secs, a.count * a.size))
}

/// Entry point of `swirl bench disk`.
pub fn main(args: &[String]) -> ExitCode {
    let argv = std::iter::once("swirl bench disk".to_string()).chain(args.iter().cloned());
    let a: DiskArgs = match crate::parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.concurrency == 0 || a.replicas == 0 || a.count == 0 || a.size == 0 {
        eprintln!(
            "swirl bench disk: --concurrency, --replicas, --count and --size must be positive"
        );
        return ExitCode::from(2);
    }
    match measure(&a) {
        Ok((secs, bytes)) => {
            let mbs = bytes as f64 / secs.max(1e-9) / 1e6;
            if a.json {
                println!(
                    "{}",
                    json!({
                        "dir": a.dir,
                        "size": a.size,
                        "count": a.count,
                        "concurrency": a.concurrency,
                        "replicas": a.replicas,
                        "elapsed_s": secs,
                        "objects_per_s": a.count as f64 / secs.max(1e-9),
                        "object_mb_per_s": mbs,
                        "disk_mb_per_s": mbs * a.replicas as f64,
                    })
                );
            } else {
                println!(
                    "disk {}: {} x {} B objects, {} at a time, {} replicas each: {:.2} s = \
                     {:.1} objects/s, {:.1} MB/s of objects ({:.1} MB/s written to disk)",
                    a.dir.display(),
                    a.count,
                    a.size,
                    a.concurrency,
                    a.replicas,
                    secs,
                    a.count as f64 / secs.max(1e-9),
                    mbs,
                    mbs * a.replicas as f64
                );
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swirl bench disk: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn measures_and_cleans_up() {
        let d = tempfile::tempdir().unwrap();
        let a = DiskArgs {
            dir: d.path().to_path_buf(),
            size: 100_000,
            count: 3,
            concurrency: 2,
            replicas: 3,
            json: false,
        };
        let (secs, bytes) = measure(&a).unwrap();
        assert!(secs > 0.0);
        assert_eq!(bytes, 300_000);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }
}
