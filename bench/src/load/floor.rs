//! `swirl bench floor`: the least machine CPU a large object's trip through a
//! swirl cluster can cost on this machine, whatever the servers do.
//!
//! A large PUT's bytes cross four TCP connections (client to proxy, proxy to
//! each of three object servers) and are hashed five times: MD5 once (the
//! ETag, at the proxy), blake3 at the proxy (the digest trailer the object
//! servers check the body against) and at each object server (the stored
//! body and block digests). Where four PUTs run at once, their MD5s share
//! SIMD lanes on one thread (common's md5_batch), so that floor counts MD5
//! at the four-lane rate. A large GET's bytes cross two connections with
//! the proxy relaying between them, and blake3 checks them once at the
//! object server. Each part is measured here alone, with the same digest code
//! the servers run and 1 MiB socket reads and writes, and the parts add up
//! to a floor in machine CPU seconds per GiB of object: the disk's own work
//! and every server's bookkeeping come on top. Divided into Swift's figure
//! from the same machine, it bounds the CPU ratio bench/compare can show.

use std::collections::HashMap;
use std::io::{self, Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::process::ExitCode;
use std::thread;
use std::time::Instant;

use serde_json::json;
use swirl_common::body_md5::BodyMd5;
use swirl_common::md5_lanes;

use super::args::FloorArgs;
use super::machine_cpu::MachineSample;

/// What every hop moves at a time (the object server's read size).
const PIECE: usize = 1 << 20;
/// What the digests see at a time (hyper's largest body frame).
const FRAME: usize = 408 << 10;
const GIB: u64 = 1 << 30;

pub fn main(args: &[String]) -> ExitCode {
    let argv = std::iter::once("swirl bench floor".to_string()).chain(args.iter().cloned());
    let a: FloorArgs = match crate::parse_args(argv) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if a.gib == 0 {
        eprintln!("swirl bench floor: --gib must be positive");
        return ExitCode::from(2);
    }
    match measure(a.gib) {
        Ok(f) => {
            if a.json {
                println!("{}", f.to_json());
            } else {
                print!("{}", f.to_text());
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("swirl bench floor: {e}");
            ExitCode::from(1)
        }
    }
}

/// Seconds per GiB of each part, and the floors they add up to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Floor {
    pub md5: f64,
    /// MD5 of four bodies side by side in SIMD lanes, per GiB of all four
    /// (what the proxy pays when four uploads run at once).
    pub md5_4_lanes: f64,
    pub blake3: f64,
    /// One TCP connection over loopback, both ends and the kernel's work.
    pub hop: f64,
    /// Two connections with a relay copying between them.
    pub relay: f64,
}

impl Floor {
    /// A large PUT: four hops, MD5 once, blake3 four times.
    pub fn put(&self) -> f64 {
        4.0 * self.hop + self.md5 + 4.0 * self.blake3
    }

    /// A large PUT among four at once: their MD5s share lanes.
    pub fn put_4(&self) -> f64 {
        4.0 * self.hop + self.md5_4_lanes + 4.0 * self.blake3
    }

    /// A large GET: the relayed two hops, blake3 once.
    pub fn get(&self) -> f64 {
        self.relay + self.blake3
    }

    fn to_json(self) -> serde_json::Value {
        json!({
            "md5_s_per_gib": self.md5,
            "md5_4_lanes_s_per_gib": self.md5_4_lanes,
            "blake3_s_per_gib": self.blake3,
            "tcp_hop_s_per_gib": self.hop,
            "tcp_relay_s_per_gib": self.relay,
            "put_floor_s_per_gib": self.put(),
            "put_4_floor_s_per_gib": self.put_4(),
            "get_floor_s_per_gib": self.get(),
        })
    }

    fn to_text(self) -> String {
        format!(
            "MD5 {:.3} s/GiB, blake3 {:.3} s/GiB (one thread)\n\
             MD5 of four bodies in lanes {:.3} s/GiB of all four (one thread)\n\
             one loopback TCP hop {:.3}, two hops through a copying relay {:.3} machine CPU s/GiB\n\
             large PUT floor (4 hops, MD5, 4 x blake3): {:.3} machine CPU s/GiB\n\
             the same among four at once (their MD5s in lanes): {:.3} machine CPU s/GiB\n\
             large GET floor (relayed 2 hops, blake3): {:.3} machine CPU s/GiB\n",
            self.md5,
            self.blake3,
            self.md5_4_lanes,
            self.hop,
            self.relay,
            self.put(),
            self.put_4(),
            self.get()
        )
    }
}

fn measure(gib: u64) -> io::Result<Floor> {
    let total = gib * GIB;
    let data: Vec<u8> = (0..64usize << 20).map(|i| (i * 131 + 7) as u8).collect();
    let md5 = hash_time(&data, total, |b| {
        let mut m = BodyMd5::new();
        for f in b.chunks(FRAME) {
            m.update(f);
        }
        std::hint::black_box(m.hex());
    });
    let md5_4_lanes = hash_time(&data, total, |b| {
        // Four bodies, a quarter of the bytes each, a frame at a time.
        let quarter = b.len() / 4 / 64 * 64;
        let mut states = [md5_lanes::INIT; 4];
        let mut at = 0;
        while at < quarter {
            let n = FRAME.min(quarter - at);
            let inputs: Vec<&[u8]> = (0..4).map(|i| &b[i * quarter + at..][..n]).collect();
            md5_lanes::compress_lanes(&mut states, &inputs);
            at += n;
        }
        std::hint::black_box(states);
    });
    let blake3 = hash_time(&data, total, |b| {
        let mut h = blake3::Hasher::new();
        for f in b.chunks(FRAME) {
            h.update(f);
        }
        std::hint::black_box(h.finalize());
    });
    let hop = machine_seconds(|| hops(total, false))? / gib as f64;
    let relay = machine_seconds(|| hops(total, true))? / gib as f64;
    Ok(Floor {
        md5: md5 / gib as f64,
        md5_4_lanes: md5_4_lanes / gib as f64,
        blake3: blake3 / gib as f64,
        hop,
        relay,
    })
}

/// Seconds one thread takes to hash `total` bytes of `data` (repeated).
fn hash_time(data: &[u8], total: u64, hash: impl Fn(&[u8])) -> f64 {
    let started = Instant::now();
    let mut left = total;
    while left > 0 {
        let n = left.min(data.len() as u64) as usize;
        hash(&data[..n]);
        left -= n as u64;
    }
    started.elapsed().as_secs_f64()
}

/// The machine's busy CPU seconds (all CPUs, /proc/stat) while `work` runs.
fn machine_seconds(work: impl FnOnce() -> io::Result<()>) -> io::Result<f64> {
    let ticks = super::cpu::clock_ticks();
    // No processes given: only the busy time is wanted, not the kernel threads'.
    let none = HashMap::new();
    let before = MachineSample::now(ticks, &none);
    work()?;
    Ok(before.delta(&MachineSample::now(ticks, &none)).0)
}

/// Sends `total` bytes from one thread to another over loopback TCP, in
/// `PIECE` writes and reads; with `relay`, through a third thread that reads
/// each piece from one connection and writes it to the next.
fn hops(total: u64, relay: bool) -> io::Result<()> {
    let sink = TcpListener::bind("127.0.0.1:0")?;
    let sink_addr = sink.local_addr()?;
    let receiver = thread::spawn(move || -> io::Result<u64> {
        let (mut s, _) = sink.accept()?;
        drain(&mut s, None)
    });
    let mut relayer = None;
    let target = if relay {
        let mid = TcpListener::bind("127.0.0.1:0")?;
        let mid_addr = mid.local_addr()?;
        relayer = Some(thread::spawn(move || -> io::Result<u64> {
            let (mut from, _) = mid.accept()?;
            let mut to = TcpStream::connect(sink_addr)?;
            let n = drain(&mut from, Some(&mut to))?;
            to.shutdown(Shutdown::Write)?;
            Ok(n)
        }));
        mid_addr
    } else {
        sink_addr
    };
    let mut out = TcpStream::connect(target)?;
    let piece = vec![0x5au8; PIECE];
    let mut left = total;
    while left > 0 {
        let n = left.min(PIECE as u64) as usize;
        out.write_all(&piece[..n])?;
        left -= n as u64;
    }
    out.shutdown(Shutdown::Write)?;
    let join = |h: thread::JoinHandle<io::Result<u64>>| {
        h.join()
            .map_err(|_| io::Error::other("a hop's thread panicked"))?
    };
    if let Some(r) = relayer {
        join(r)?;
    }
    let got = join(receiver)?;
    if got != total {
        return Err(io::Error::other(format!(
            "sent {total} bytes, {got} arrived"
        )));
    }
    Ok(())
}

/// Reads `s` to its end in `PIECE` reads, forwarding each read to `to`.
fn drain(s: &mut TcpStream, mut to: Option<&mut TcpStream>) -> io::Result<u64> {
    let mut buf = vec![0u8; PIECE];
    let mut got = 0u64;
    loop {
        let n = match s.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        got += n as u64;
        if let Some(t) = to.as_mut() {
            t.write_all(&buf[..n])?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floors_add_the_parts_each_path_crosses() {
        let f = Floor {
            md5: 1.5,
            md5_4_lanes: 0.5,
            blake3: 0.2,
            hop: 0.3,
            relay: 0.7,
        };
        assert!((f.put() - (1.2 + 1.5 + 0.8)).abs() < 1e-9);
        assert!((f.put_4() - (1.2 + 0.5 + 0.8)).abs() < 1e-9);
        assert!((f.get() - 0.9).abs() < 1e-9);
    }

    #[test]
    fn hops_move_every_byte() {
        hops(3 * PIECE as u64 + 17, false).unwrap();
        hops(3 * PIECE as u64 + 17, true).unwrap();
    }
}
