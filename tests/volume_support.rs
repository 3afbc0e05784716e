//! What the volume gateway's tests share: `swirl aio` with its gateway, a
//! standalone `swirl volume-gateway`, the Cinder API over HTTP, external
//! tools with a time limit, a minimal blocking NBD client (for crash and
//! fuzz tests that need to stop mid-stream), and sparse test images.

#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

pub use crate::harness::pattern;
use crate::harness::{self, http_request, Proc};
use crate::proxy_cluster::token;

/// `swirl aio` with its volume gateway, and test:tester's token.
pub struct Cluster {
    pub aio: Proc,
    pub proxy: SocketAddr,
    pub api: SocketAddr,
    pub nbd: SocketAddr,
    /// The gateway's NBD Unix socket (in the data folder).
    pub nbd_socket: PathBuf,
    pub token: String,
    pub data: PathBuf,
}

impl Cluster {
    /// Starts (or restarts, on the same `data`) an aio cluster.
    pub fn start(data: &Path) -> Cluster {
        let mut aio = harness::start_aio(data);
        let api = aio.ready_addr("volume-api");
        let nbd = aio.ready_addr("volume-nbd");
        let nbd_socket = PathBuf::from(aio.ready_text("volume-nbd-unix"));
        let proxy = aio.addr();
        let (token, _) = token(proxy, "test:tester", "testing");
        Cluster {
            aio,
            proxy,
            api,
            nbd,
            nbd_socket,
            token,
            data: data.to_path_buf(),
        }
    }

    /// The gateway API of this cluster.
    pub fn gw(&self) -> Api {
        Api {
            addr: self.api,
            token: self.token.clone(),
        }
    }

    /// Names in a container of AUTH_test, through the Swift API.
    pub fn list(&self, container: &str) -> Vec<String> {
        let (s, _, body) = http_request(
            self.proxy,
            "GET",
            &format!("/v1/AUTH_test/{container}?format=json"),
            &[("X-Auth-Token", &self.token)],
            b"",
        )
        .unwrap();
        if s == 404 || s == 204 {
            return Vec::new();
        }
        assert_eq!(s, 200, "listing {container}");
        let rows: Vec<Value> = serde_json::from_slice(&body).unwrap();
        rows.iter()
            .map(|r| r["name"].as_str().unwrap().to_string())
            .collect()
    }

    /// A container's listing once `settled` holds of it, or the last one
    /// after 60 s. Listings are eventually consistent, as in Swift: under
    /// load a container update waits as an async pending for the updater
    /// (every 10 s in the aio).
    pub fn list_settled(
        &self,
        container: &str,
        settled: impl Fn(&[String]) -> bool,
    ) -> Vec<String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let names = self.list(container);
            if settled(&names) || Instant::now() > deadline {
                return names;
            }
            std::thread::sleep(Duration::from_millis(250));
        }
    }

    /// AUTH_test's volumes' chunk objects once there are `n` of them (see `list_settled`).
    pub fn chunk_objects_n(&self, n: usize) -> Vec<String> {
        self.list_settled("swirl-volume-chunks", |l| l.len() == n)
    }
}

/// A standalone `swirl volume-gateway` on free ports.
pub struct Gateway {
    pub proc: Proc,
    pub api: SocketAddr,
    pub nbd: SocketAddr,
}

impl Gateway {
    /// Starts a gateway named `id` against the aio proxy at `proxy`, with
    /// its config in `dir`.
    pub fn start(dir: &Path, proxy: SocketAddr, id: &str) -> Gateway {
        Gateway::start_with(dir, proxy, id, "")
    }

    /// As [`Gateway::start`], but running the aio's proxy (its config in
    /// `aio_data`/etc) inside the gateway's process (`proxy_config`): its
    /// chunks go from the gateway straight to the storage servers; only
    /// clients' tokens are checked at `proxy`.
    pub fn start_in_process(dir: &Path, proxy: SocketAddr, aio_data: &Path, id: &str) -> Gateway {
        let conf = aio_data.join("etc/proxy-server.toml");
        Gateway::start_with(
            dir,
            proxy,
            id,
            &format!("proxy_config = \"{}\"\n", conf.display()),
        )
    }

    fn start_with(dir: &Path, proxy: SocketAddr, id: &str, extra: &str) -> Gateway {
        std::fs::create_dir_all(dir).unwrap();
        let conf = dir.join(format!("{id}.toml"));
        let text = format!(
            "bind_port = 0\nnbd_bind_port = 0\ngateway_id = \"{id}\"\n\
             proxy_url = \"http://{proxy}\"\nauth_url = \"http://{proxy}/auth/v1.0\"\n\
             auth_user = \"admin:admin\"\nauth_key = \"admin\"\n{extra}"
        );
        std::fs::write(&conf, text).unwrap();
        let mut proc = Proc::swirl_server(
            id,
            &["volume-gateway", conf.to_str().unwrap()],
            Duration::from_secs(60),
        );
        let api = proc.addr();
        let nbd = proc.ready_addr("volume-nbd");
        Gateway { proc, api, nbd }
    }
}

/// The Cinder v3 API of one gateway, as project AUTH_test at 3.70.
#[derive(Clone)]
pub struct Api {
    pub addr: SocketAddr,
    pub token: String,
}

impl Api {
    /// A request under `/v3/AUTH_test`; returns status and JSON (or Null).
    pub fn call(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        let text = body.map(|b| b.to_string()).unwrap_or_default();
        let (s, _, b) = http_request(
            self.addr,
            method,
            &format!("/v3/AUTH_test{path}"),
            &[
                ("X-Auth-Token", &self.token),
                ("OpenStack-API-Version", "volume 3.70"),
                ("Content-Type", "application/json"),
            ],
            text.as_bytes(),
        )
        .unwrap();
        let v = serde_json::from_slice(&b).unwrap_or(Value::Null);
        (s, v)
    }

    /// Creates an empty volume of `gib` GiB; returns its id.
    pub fn create(&self, gib: u64, name: &str) -> String {
        let (s, v) = self.call(
            "POST",
            "/volumes",
            Some(json!({"volume": {"size": gib, "name": name}})),
        );
        assert_eq!(s, 202, "create: {v}");
        v["volume"]["id"].as_str().unwrap().to_string()
    }

    /// Attaches a volume here; returns the attachment as the API shows it.
    pub fn attachment(&self, volume: &str) -> Value {
        let (s, v) = self.call(
            "POST",
            "/attachments",
            Some(json!({"attachment": {"volume_uuid": volume,
                "connector": {"host": "test-host", "mode": "rw"}}})),
        );
        assert_eq!(s, 200, "attach: {v}");
        let a = v["attachment"].clone();
        assert_eq!(a["connection_info"]["driver_volume_type"], "nbd");
        a
    }

    /// Attaches a volume here; returns (attachment id, export name).
    pub fn attach(&self, volume: &str) -> (String, String) {
        let a = self.attachment(volume);
        (
            a["id"].as_str().unwrap().to_string(),
            a["connection_info"]["data"]["export"]
                .as_str()
                .unwrap()
                .to_string(),
        )
    }

    pub fn detach(&self, attachment: &str) {
        let (s, v) = self.call("DELETE", &format!("/attachments/{attachment}"), None);
        assert_eq!(s, 200, "detach: {v}");
    }

    /// The volume's record as the API shows it.
    pub fn volume(&self, id: &str) -> (u16, Value) {
        self.call("GET", &format!("/volumes/{id}"), None)
    }

    /// Waits until the volume's status is `status` (or, for "gone", 404).
    pub fn wait(&self, id: &str, status: &str) {
        let deadline = Instant::now() + Duration::from_secs(120);
        let mut backoff = Duration::from_millis(20);
        loop {
            let (s, v) = self.volume(id);
            let now = v["volume"]["status"].as_str().unwrap_or("").to_string();
            if (status == "gone" && s == 404) || now == status {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "volume {id}: {s} {now}, want {status}"
            );
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(300));
        }
    }
}

/// The NBD URI of an export on `nbd`.
pub fn uri(nbd: SocketAddr, export: &str) -> String {
    format!("nbd://{nbd}/{export}")
}

/// Runs a tool under `timeout SECS`, asserts success, returns its output.
pub fn run(secs: u32, prog: &str, args: &[&str]) -> Output {
    let out = run_status(secs, prog, args);
    assert!(
        out.status.success(),
        "{prog} {args:?}: {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Runs a tool under `timeout SECS` and returns its output, whatever it is.
pub fn run_status(secs: u32, prog: &str, args: &[&str]) -> Output {
    Command::new("timeout")
        .arg(secs.to_string())
        .arg(prog)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("run {prog}: {e}"))
}

/// Writes a sparse file of `size` bytes holding `pattern(len, i + 1)` at the i-th
/// (offset, len) and holes elsewhere.
pub fn sparse_image(path: &Path, size: u64, pieces: &[(u64, usize)]) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::File::create(path).unwrap();
    f.set_len(size).unwrap();
    for (i, &(off, len)) in pieces.iter().enumerate() {
        f.write_all_at(&pattern(len, i as u64 + 1), off).unwrap();
    }
    f.sync_all().unwrap();
}

/// `qemu-img convert` of the NBD export at `from` into the raw file `out`,
/// then asserts `out` is byte for byte `expected` and removes it.
pub fn convert_out_matches(from: &str, out: &Path, expected: &Path, what: &str) {
    run(
        300,
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "raw",
            from,
            out.to_str().unwrap(),
        ],
    );
    assert!(same_files(expected, out), "{what}: the copy differs");
    std::fs::remove_file(out).unwrap();
}

/// Whether two files are byte for byte the same (cmp).
pub fn same_files(a: &Path, b: &Path) -> bool {
    run_status(300, "cmp", &[a.to_str().unwrap(), b.to_str().unwrap()])
        .status
        .success()
}

/// A minimal blocking NBD client: fixed newstyle, NBD_OPT_GO, simple
/// replies, one request at a time.
pub struct NbdClient {
    s: TcpStream,
    pub size: u64,
    pub flags: u16,
    cookie: u64,
}

/// The client's view of a failed request.
#[derive(Debug)]
pub enum NbdError {
    Errno(u32),
    Io(std::io::Error),
}

impl From<std::io::Error> for NbdError {
    fn from(e: std::io::Error) -> Self {
        NbdError::Io(e)
    }
}

impl NbdClient {
    /// Connects and enters transmission on `export`.
    pub fn connect(addr: SocketAddr, export: &str) -> std::io::Result<NbdClient> {
        let mut s = TcpStream::connect_timeout(&addr, Duration::from_secs(10))?;
        s.set_read_timeout(Some(Duration::from_secs(120)))?;
        s.set_nodelay(true)?;
        let mut greet = [0u8; 18];
        s.read_exact(&mut greet)?;
        assert_eq!(&greet[..16], b"NBDMAGICIHAVEOPT");
        s.write_all(&3u32.to_be_bytes())?;
        let mut data = (export.len() as u32).to_be_bytes().to_vec();
        data.extend_from_slice(export.as_bytes());
        data.extend_from_slice(&0u16.to_be_bytes());
        let mut opt = b"IHAVEOPT".to_vec();
        opt.extend_from_slice(&7u32.to_be_bytes());
        opt.extend_from_slice(&(data.len() as u32).to_be_bytes());
        opt.extend_from_slice(&data);
        s.write_all(&opt)?;
        let (mut size, mut flags) = (0, 0);
        loop {
            let mut h = [0u8; 20];
            s.read_exact(&mut h)?;
            let typ = u32::from_be_bytes(h[12..16].try_into().unwrap());
            let len = u32::from_be_bytes(h[16..20].try_into().unwrap()) as usize;
            let mut d = vec![0u8; len];
            s.read_exact(&mut d)?;
            match typ {
                1 => break,
                3 if d[..2] == [0, 0] => {
                    size = u64::from_be_bytes(d[2..10].try_into().unwrap());
                    flags = u16::from_be_bytes(d[10..12].try_into().unwrap());
                }
                3 => {}
                _ => {
                    return Err(std::io::Error::other(format!(
                        "GO refused: {typ:#x} {}",
                        String::from_utf8_lossy(&d)
                    )))
                }
            }
        }
        Ok(NbdClient {
            s,
            size,
            flags,
            cookie: 0,
        })
    }

    fn request(
        &mut self,
        kind: u16,
        flags: u16,
        offset: u64,
        len: u32,
        data: &[u8],
    ) -> Result<(), NbdError> {
        self.cookie += 1;
        let mut h = Vec::with_capacity(28 + data.len());
        h.extend_from_slice(&0x2560_9513u32.to_be_bytes());
        h.extend_from_slice(&flags.to_be_bytes());
        h.extend_from_slice(&kind.to_be_bytes());
        h.extend_from_slice(&self.cookie.to_be_bytes());
        h.extend_from_slice(&offset.to_be_bytes());
        h.extend_from_slice(&len.to_be_bytes());
        h.extend_from_slice(data);
        self.s.write_all(&h)?;
        let mut r = [0u8; 16];
        self.s.read_exact(&mut r)?;
        assert_eq!(&r[..4], &0x6744_6698u32.to_be_bytes());
        assert_eq!(
            u64::from_be_bytes(r[8..16].try_into().unwrap()),
            self.cookie
        );
        match u32::from_be_bytes(r[4..8].try_into().unwrap()) {
            0 => Ok(()),
            e => Err(NbdError::Errno(e)),
        }
    }

    pub fn write(&mut self, offset: u64, data: &[u8]) -> Result<(), NbdError> {
        self.request(1, 0, offset, data.len() as u32, data)
    }

    /// A write with NBD_CMD_FLAG_FUA: durable once acknowledged.
    pub fn write_fua(&mut self, offset: u64, data: &[u8]) -> Result<(), NbdError> {
        self.request(1, 1, offset, data.len() as u32, data)
    }

    pub fn flush(&mut self) -> Result<(), NbdError> {
        self.request(3, 0, 0, 0, &[])
    }

    pub fn read(&mut self, offset: u64, len: u32) -> Result<Vec<u8>, NbdError> {
        self.request(0, 0, offset, len, &[])?;
        let mut d = vec![0u8; len as usize];
        self.s.read_exact(&mut d)?;
        Ok(d)
    }

    /// NBD_CMD_DISC.
    pub fn disconnect(mut self) {
        let mut h = Vec::with_capacity(28);
        h.extend_from_slice(&0x2560_9513u32.to_be_bytes());
        h.extend_from_slice(&0u16.to_be_bytes());
        h.extend_from_slice(&2u16.to_be_bytes());
        h.extend_from_slice(&[0u8; 20]);
        let _ = self.s.write_all(&h);
    }
}
