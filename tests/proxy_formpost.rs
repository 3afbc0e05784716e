//! formpost through `swirl aio` with real form uploads (curl -F, as a
//! browser sends them): files stored under the form's prefix with their
//! types and expiry, redirects, the account's key and base64 signatures,
//! and every refusal a 4xx with Swift's text: bad or expired signatures
//! 401, a file over `max_file_size`, too many files, no file, a body that
//! is not the form it says, fields that are not numbers 400.

use std::net::SocketAddr;
use std::path::Path;
use std::process::Command;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::harness::{self, header, http_request};
use crate::proxy_cluster::token;
use crate::proxy_tempurl::sign;

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// A form's fields (signature computed over them unless given).
struct Form<'a> {
    path: &'a str,
    redirect: &'a str,
    max_size: &'a str,
    max_count: &'a str,
    expires: String,
    extra: Vec<(&'a str, &'a str)>,
    files: Vec<(&'a str, &'a Path, Option<&'a str>)>,
}

impl<'a> Form<'a> {
    fn new(path: &'a str) -> Self {
        Form {
            path,
            redirect: "",
            max_size: "1024",
            max_count: "2",
            expires: (now() + 300).to_string(),
            extra: Vec::new(),
            files: Vec::new(),
        }
    }

    fn hmac_body(&self) -> String {
        format!(
            "{}\n{}\n{}\n{}\n{}",
            self.path, self.redirect, self.max_size, self.max_count, self.expires
        )
    }

    /// curl -F with `signature`: status, headers and body.
    fn post(&self, addr: SocketAddr, signature: &str) -> (u16, String, String) {
        let mut cmd = Command::new("curl");
        cmd.args(["-s", "-D", "-", "-o", "-"]);
        let mut field = |k: &str, v: &str| {
            cmd.arg("--form-string").arg(format!("{k}={v}"));
        };
        field("redirect", self.redirect);
        field("max_file_size", self.max_size);
        field("max_file_count", self.max_count);
        field("expires", &self.expires);
        field("signature", signature);
        for (k, v) in &self.extra {
            field(k, v);
        }
        for (name, file, ctype) in &self.files {
            let mut spec = format!("{name}=@{}", file.display());
            if let Some(t) = ctype {
                spec.push_str(&format!(";type={t}"));
            }
            cmd.arg("-F").arg(spec);
        }
        cmd.arg(format!("http://{addr}{}", self.path));
        let out = cmd.output().expect("curl");
        assert!(
            out.status.success(),
            "curl: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // A 100 Continue may come first: the last head is the answer's.
        let (head, body) = text
            .rsplit_once("\r\n\r\n")
            .map_or((text.as_str(), ""), |(h, b)| (h, b));
        let head = head.rsplit("\r\n\r\n").next().unwrap_or(head);
        let status = head.split(' ').nth(1).unwrap_or("0").parse().unwrap();
        (status, head.to_ascii_lowercase(), body.to_string())
    }
}

#[test]
fn formpost_uploads_files_and_refuses_bad_forms() {
    let tmp = tempfile::tempdir().unwrap();
    let aio = harness::start_aio(&tmp.path().join("d"));
    let addr = aio.addr();
    let (tok, acct) = token(addr, "test:tester", "testing");
    let req = |method: &str, path: &str, h: &[(&str, &str)]| {
        let mut hs = vec![("X-Auth-Token", tok.as_str())];
        hs.extend_from_slice(h);
        http_request(addr, method, &format!("{acct}{path}"), &hs, b"").unwrap()
    };
    assert_eq!(
        req("PUT", "/up", &[("X-Container-Meta-Temp-URL-Key", "ckey")]).0,
        201
    );
    let small = tmp.path().join("a.txt");
    std::fs::write(&small, b"hello form").unwrap();
    let csv = tmp.path().join("b.csv");
    std::fs::write(&csv, b"x,y\n1,2\n").unwrap();
    let big = tmp.path().join("big.bin");
    std::fs::write(&big, vec![7u8; 2000]).unwrap();
    let path = format!("{acct}/up/pre_");

    // Two files under the prefix, one with its own type, expiring.
    let mut f = Form::new(&path);
    f.extra.push(("x_delete_after", "3600"));
    f.files.push(("file1", &small, None));
    f.files.push(("file2", &csv, Some("text/csv")));
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    let (s, _, body) = f.post(addr, &sig);
    assert_eq!((s, body.as_str()), (201, "201 Created"));
    let (s, h, b) = req("GET", "/up/pre_a.txt", &[]);
    assert_eq!((s, b.as_slice()), (200, &b"hello form"[..]));
    assert!(header(&h, "x-delete-at").is_some(), "{h:?}");
    let (s, h, _) = req("HEAD", "/up/pre_b.csv", &[]);
    assert_eq!(s, 200);
    assert_eq!(header(&h, "content-type"), Some("text/csv"));

    // A redirect gets the status in its query.
    let mut f = Form::new(&path);
    f.redirect = "https://example.org/done?x=1";
    f.files.push(("file1", &small, None));
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    let (s, head, body) = f.post(addr, &sig);
    assert_eq!(s, 303);
    assert!(
        head.contains("location: https://example.org/done?x=1&status=201&message="),
        "{head}"
    );
    assert!(body.contains("Click to continue..."));

    // The account's key, a base64 sha512 signature, a whole container.
    assert_eq!(
        http_request(
            addr,
            "POST",
            &acct,
            &[
                ("X-Auth-Token", &tok),
                ("X-Account-Meta-Temp-URL-Key", "akey")
            ],
            b""
        )
        .unwrap()
        .0,
        204
    );
    let cpath = format!("{acct}/up");
    let mut f = Form::new(&cpath);
    f.files.push(("file1", &csv, None));
    let sig = format!("sha512:{}", sign("sha512", "akey", &f.hmac_body(), true));
    assert_eq!(f.post(addr, &sig).0, 201);
    assert_eq!(req("HEAD", "/up/b.csv", &[]).0, 200);

    // Refusals.
    let mut f = Form::new(&path);
    f.files.push(("file1", &small, None));
    let (s, head, body) = f.post(addr, &"ab".repeat(32));
    assert_eq!((s, body.as_str()), (401, "FormPost: Invalid Signature"));
    assert!(head.contains("www-authenticate: swift realm="), "{head}");
    // sha1 is not allowed unless configured.
    let sig = sign("sha1", "ckey", &f.hmac_body(), false);
    assert_eq!(f.post(addr, &sig).0, 401);
    f.expires = (now() - 10).to_string();
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    let (s, _, body) = f.post(addr, &sig);
    assert_eq!((s, body.as_str()), (401, "FormPost: Form Expired"));

    let mut f = Form::new(&path);
    f.files.push(("file1", &big, None));
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    let (s, _, body) = f.post(addr, &sig);
    assert_eq!(
        (s, body.as_str()),
        (400, "FormPost: max_file_size exceeded")
    );
    assert_eq!(req("HEAD", "/up/pre_big.bin", &[]).0, 404);

    let mut f = Form::new(&path);
    f.max_count = "1";
    f.files.push(("file1", &small, None));
    f.files.push(("file2", &csv, None));
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    let (s, _, body) = f.post(addr, &sig);
    assert_eq!(
        (s, body.as_str()),
        (400, "400 Bad Request\r\nFormPost: Max File Count Exceeded")
    );

    let f = Form::new(&path);
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    let (s, _, body) = f.post(addr, &sig);
    assert_eq!(
        (s, body.as_str()),
        (400, "400 Bad Request\r\nFormPost: No Files To Process")
    );

    let mut f = Form::new(&path);
    f.max_size = "big";
    f.files.push(("file1", &small, None));
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    let (s, _, body) = f.post(addr, &sig);
    assert_eq!(
        (s, body.as_str()),
        (400, "FormPost: max_file_size not an integer")
    );
    let mut f = Form::new(&path);
    f.extra.push(("x_delete_at", "soon"));
    f.files.push(("file1", &small, None));
    let sig = sign("sha256", "ckey", &f.hmac_body(), false);
    assert_eq!(f.post(addr, &sig).0, 400);

    // A body that is not the form its type says.
    let (s, _, b) = http_request(
        addr,
        "POST",
        &path,
        &[("Content-Type", "multipart/form-data; boundary=XyZ")],
        b"not a form at all",
    )
    .unwrap();
    assert_eq!(
        (s, String::from_utf8_lossy(&b).as_ref()),
        (400, "FormPost: invalid starting boundary")
    );
    // A form for the account itself has no key to check against.
    let apath = acct.clone();
    let mut f = Form::new(&apath);
    f.files.push(("file1", &small, None));
    let sig = sign("sha256", "akey", &f.hmac_body(), false);
    assert_eq!(f.post(addr, &sig).0, 401);

    let (_, _, info) = http_request(addr, "GET", "/info", &[], b"").unwrap();
    let info: serde_json::Value = serde_json::from_slice(&info).unwrap();
    assert_eq!(
        info["formpost"],
        serde_json::json!({"allowed_digests": ["sha256", "sha512"]})
    );
}
