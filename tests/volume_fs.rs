//! A filesystem on a volume: nbdfuse exposes the export as a file, a loop
//! device carries ext4, files are written and the volume is detached; a
//! second gateway process (running the cluster's proxy in its own process,
//! `proxy_config`) attaches it, e2fsck finds it clean, and the files read
//! back identical.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::volume_support::{pattern, run, run_status, uri, Cluster, Gateway};

/// nbdfuse + a loop device + a mount, torn down in reverse on drop.
struct Stack {
    fuse_dir: PathBuf,
    fuse: Option<Child>,
    loopdev: Option<String>,
    mnt: Option<PathBuf>,
}

impl Stack {
    /// Exposes `u` as `<dir>/fuse/disk` and sets a loop device on it.
    fn new(dir: &Path, u: &str) -> Stack {
        let fuse_dir = dir.join("fuse");
        std::fs::create_dir_all(&fuse_dir).unwrap();
        let pidfile = dir.join("nbdfuse.pid");
        let _ = std::fs::remove_file(&pidfile);
        let child = Command::new("nbdfuse")
            .arg("-P")
            .arg(&pidfile)
            .arg(fuse_dir.join("disk"))
            .arg(u)
            .stdin(Stdio::null())
            .spawn()
            .expect("nbdfuse");
        let mut s = Stack {
            fuse_dir,
            fuse: Some(child),
            loopdev: None,
            mnt: None,
        };
        // nbdfuse writes its pid file once it serves.
        let deadline = Instant::now() + Duration::from_secs(60);
        let mut backoff = Duration::from_millis(10);
        while !pidfile.exists() {
            assert!(Instant::now() < deadline, "nbdfuse did not come up");
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_millis(200));
        }
        let disk = s.fuse_dir.join("disk");
        let out = run(60, "losetup", &["-f", "--show", disk.to_str().unwrap()]);
        s.loopdev = Some(String::from_utf8_lossy(&out.stdout).trim().to_string());
        s
    }

    fn dev(&self) -> &str {
        self.loopdev.as_deref().unwrap()
    }

    fn mount(&mut self, mnt: &Path) {
        std::fs::create_dir_all(mnt).unwrap();
        run(60, "mount", &[self.dev(), mnt.to_str().unwrap()]);
        self.mnt = Some(mnt.to_path_buf());
    }

    /// Unmounts and takes everything down, checking each step worked.
    fn close(mut self) {
        if let Some(m) = self.mnt.take() {
            run(120, "umount", &[m.to_str().unwrap()]);
        }
        if let Some(l) = self.loopdev.take() {
            run(60, "losetup", &["-d", &l]);
        }
        run(60, "fusermount3", &["-u", self.fuse_dir.to_str().unwrap()]);
        if let Some(mut c) = self.fuse.take() {
            let status = c.wait().unwrap();
            assert!(status.success(), "nbdfuse: {status:?}");
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        if let Some(m) = self.mnt.take() {
            let _ = run_status(60, "umount", &["-l", m.to_str().unwrap()]);
        }
        if let Some(l) = self.loopdev.take() {
            let _ = run_status(60, "losetup", &["-d", &l]);
        }
        let _ = run_status(
            60,
            "fusermount3",
            &["-u", "-z", self.fuse_dir.to_str().unwrap()],
        );
        if let Some(mut c) = self.fuse.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The files the test writes: (relative path, contents).
fn files() -> Vec<(String, Vec<u8>)> {
    let mut out = Vec::new();
    for i in 0..24u64 {
        let len = (i as usize * 37_321) % (3 << 20) + 1;
        out.push((format!("d{}/f{i}.bin", i % 4), pattern(len, 1000 + i)));
    }
    out.push(("big.bin".into(), pattern(20 << 20, 7)));
    out.push(("empty".into(), Vec::new()));
    out
}

#[test]
fn volume_ext4_on_nbdfuse_moves_to_a_second_gateway() {
    let tmp = tempfile::tempdir().unwrap();
    let c = Cluster::start(&tmp.path().join("aio"));
    let api = c.gw();
    let vol = api.create(1, "fs");
    let (att, export) = api.attach(&vol);

    let work = tmp.path().join("one");
    let mut st = Stack::new(&work, &uri(c.nbd, &export));
    run(120, "mkfs.ext4", &["-q", st.dev()]);
    let mnt = work.join("mnt");
    st.mount(&mnt);
    for (name, data) in files() {
        let p = mnt.join(&name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, &data).unwrap();
    }
    st.close();
    // Detached through the API of the gateway that served it.
    api.detach(&att);
    api.wait(&vol, "available");

    // A second gateway process attaches it and serves what the first wrote,
    // through a proxy pipeline of its own (no proxy process between it and
    // the storage servers).
    let g2 = Gateway::start_in_process(&tmp.path().join("gw2"), c.proxy, &c.data, "gw2");
    let api2 = crate::volume_support::Api {
        addr: g2.api,
        token: c.token.clone(),
    };
    let (att2, export2) = api2.attach(&vol);
    let (_, v) = api2.call("GET", &format!("/attachments/{att2}"), None);
    assert_eq!(v["attachment"]["connection_info"]["data"]["gateway"], "gw2");
    // The first gateway does not serve the new attachment.
    let wrong = crate::volume_support::NbdClient::connect(c.nbd, &export2);
    assert!(wrong.is_err(), "gateway 1 served gateway 2's attachment");

    let work2 = tmp.path().join("two");
    let mut st = Stack::new(&work2, &uri(g2.nbd, &export2));
    let fsck = run_status(300, "e2fsck", &["-fn", st.dev()]);
    assert!(
        fsck.status.success(),
        "e2fsck after the move: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
    let mnt2 = work2.join("mnt");
    st.mount(&mnt2);
    for (name, data) in files() {
        let got = std::fs::read(mnt2.join(&name)).unwrap();
        assert!(got == data, "{name} differs after the move");
    }
    st.close();
    api2.detach(&att2);
    api2.wait(&vol, "available");
}
