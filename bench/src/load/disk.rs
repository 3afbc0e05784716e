//! `swirl bench disk`: the write ceiling of a disk for N-replica durable object
//! writes, measured the way an object server writes (temp file, write, fdatasync,
//! rename, fsync of the directory), `replicas` copies of each object in parallel.
//! The figure is in object bytes per second: what a client's large PUTs could reach
//! if nothing but the disk limited them. With `--read`, the read ceiling for
//! large GETs: objects read whole, several at a time, as the object server
//! reads them (O_DIRECT, 1 MiB at a time).

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::thread::ScopedJoinHandle;
use std::time::Instant;

use serde_json::json;

use super::args::DiskArgs;
use super::runner::make_chunk;
use crate::error::Error;

/// Direct reads' alignment (every logical block size in use divides it).
const ALIGN: usize = 4096;
/// What the object server reads of a large body at a time.
const PIECE: usize = 1 << 20;

/// Writes `size` bytes (`chunk` over and over) to a new file, synced.
fn write_synced(path: &Path, size: u64, chunk: &[u8]) -> Result<(), Error> {
    let mut f = File::create(path).map_err(Error::Io)?;
    let mut left = size;
    while left > 0 {
        let n = left.min(chunk.len() as u64) as usize;
        f.write_all(&chunk[..n]).map_err(Error::Io)?;
        left -= n as u64;
    }
    f.sync_data().map_err(Error::Io)
}

/// Writes one replica durably.
fn write_replica(dir: &Path, name: &str, size: u64, chunk: &[u8]) -> Result<(), Error> {
    let tmp = dir.join(format!(".{name}.tmp"));
    let dst = dir.join(name);
    write_synced(&tmp, size, chunk)?;
    fs::rename(&tmp, &dst).map_err(Error::Io)?;
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(Error::Io)?;
    fs::remove_file(&dst).map_err(Error::Io)
}

/// Waits for every thread; the first error (or panic) is the result.
fn join_all(
    handles: Vec<ScopedJoinHandle<'_, Result<(), Error>>>,
    what: &str,
) -> Result<(), Error> {
    for h in handles {
        h.join()
            .map_err(|_| Error::Setup(format!("{what} thread panicked")))??;
    }
    Ok(())
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
                        join_all(hs, "writer")
                    })?;
                }
            }));
        }
        join_all(handles, "writer")
    });
    let secs = t0.elapsed().as_secs_f64();
    let _ = fs::remove_dir_all(&base);
    result?;
    Ok((secs, a.count * a.size))
}

/// Reads a file whole into `buf` (aligned), a piece at a time: with
/// O_DIRECT where the filesystem takes it, else through the page cache.
/// Returns the bytes read.
fn read_whole(path: &Path, buf: &mut [u8]) -> io::Result<u64> {
    let direct = OpenOptions::new()
        .read(true)
        .custom_flags(rustix::fs::OFlags::DIRECT.bits() as i32)
        .open(path);
    let (mut f, mut direct) = match direct {
        Ok(f) => (f, true),
        Err(_) => (File::open(path)?, false),
    };
    let mut total = 0u64;
    loop {
        match f.read_at(buf, total) {
            Ok(n) => {
                total += n as u64;
                // Short: the file's end (and the next offset may be unaligned).
                if n < buf.len() {
                    return Ok(total);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e)
                if direct && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
            {
                (f, direct) = (File::open(path)?, false);
            }
            Err(e) => return Err(e),
        }
    }
}

/// The read measurement: writes `count` objects (one copy each, synced),
/// then reads them back `concurrency` at a time; returns (seconds of the
/// reads, bytes read).
fn measure_read(a: &DiskArgs) -> Result<(f64, u64), Error> {
    let dir = a
        .dir
        .join(format!("swirl-bench-disk-read-{}", std::process::id()));
    let result = (|| {
        fs::create_dir_all(&dir).map_err(Error::Io)?;
        let chunk = make_chunk(a.size);
        let files: Vec<PathBuf> = (0..a.count)
            .map(|i| dir.join(format!("obj{i:08}")))
            .collect();
        for f in &files {
            write_synced(f, a.size, &chunk)?;
        }
        let next = AtomicU64::new(0);
        let t0 = Instant::now();
        std::thread::scope(|s| -> Result<(), Error> {
            let readers: Vec<_> = (0..a.concurrency)
                .map(|_| {
                    s.spawn(|| -> Result<(), Error> {
                        let mut storage = vec![0u8; PIECE + ALIGN];
                        let at = storage.as_ptr().align_offset(ALIGN).min(ALIGN);
                        let buf = &mut storage[at..at + PIECE];
                        loop {
                            let i = next.fetch_add(1, Ordering::Relaxed) as usize;
                            let Some(f) = files.get(i) else {
                                return Ok(());
                            };
                            let n = read_whole(f, buf).map_err(Error::Io)?;
                            if n != a.size {
                                return Err(Error::Setup(format!(
                                    "{}: read {n} bytes of {}",
                                    f.display(),
                                    a.size
                                )));
                            }
                        }
                    })
                })
                .collect();
            join_all(readers, "reader")
        })?;
        // Every reader checked it read each object whole.
        Ok((t0.elapsed().as_secs_f64(), a.count * a.size))
    })();
    let _ = fs::remove_dir_all(&dir);
    result
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
    let measured = if a.read {
        measure_read(&a)
    } else {
        measure(&a)
    };
    let (secs, bytes) = match measured {
        Ok(m) => m,
        Err(e) => {
            eprintln!("swirl bench disk: {e}");
            return ExitCode::from(1);
        }
    };
    let (mbs, per_s) = (
        bytes as f64 / secs.max(1e-9) / 1e6,
        a.count as f64 / secs.max(1e-9),
    );
    let (mut j, what) = (
        json!({
            "dir": a.dir,
            "size": a.size,
            "count": a.count,
            "concurrency": a.concurrency,
            "elapsed_s": secs,
            "objects_per_s": per_s,
        }),
        format!(
            "disk {}: {} x {} B objects, {} at a time",
            a.dir.display(),
            a.count,
            a.size,
            a.concurrency
        ),
    );
    let text = if a.read {
        j["mode"] = json!("read");
        j["read_mb_per_s"] = json!(mbs);
        format!("{what}, read whole: {secs:.2} s = {mbs:.1} MB/s")
    } else {
        let disk = mbs * a.replicas as f64;
        j["replicas"] = json!(a.replicas);
        j["object_mb_per_s"] = json!(mbs);
        j["disk_mb_per_s"] = json!(disk);
        format!(
            "{what}, {} replicas each: {secs:.2} s = {per_s:.1} objects/s, {mbs:.1} MB/s of \
             objects ({disk:.1} MB/s written to disk)",
            a.replicas
        )
    };
    println!("{}", if a.json { j.to_string() } else { text });
    ExitCode::SUCCESS
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
            read: false,
        };
        let (secs, bytes) = measure(&a).unwrap();
        assert!(secs > 0.0);
        assert_eq!(bytes, 300_000);
        assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
    }

    #[test]
    fn reads_every_byte_and_cleans_up() {
        let d = tempfile::tempdir().unwrap();
        // Sizes off the alignment and the piece, and one of several pieces.
        for size in [100_000, 3 * PIECE as u64 + 5] {
            let a = DiskArgs {
                dir: d.path().to_path_buf(),
                size,
                count: 5,
                concurrency: 2,
                replicas: 1,
                json: false,
                read: true,
            };
            let (secs, bytes) = measure_read(&a).unwrap();
            assert!(secs > 0.0);
            assert_eq!(bytes, 5 * size);
            assert_eq!(fs::read_dir(d.path()).unwrap().count(), 0);
        }
    }

    #[test]
    fn a_file_off_the_alignment_reads_whole() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("f");
        fs::write(&p, vec![1u8; 5000]).unwrap();
        let mut storage = vec![0u8; PIECE + ALIGN];
        let at = storage.as_ptr().align_offset(ALIGN);
        assert_eq!(read_whole(&p, &mut storage[at..at + PIECE]).unwrap(), 5000);
    }
}
