//! ARCHITECTURE.md's invariants, checked: the crates' dependency direction
//! (from `cargo metadata` and the layers in the root Cargo.toml), a ring with
//! no runtime, filesystem or clock (its dependencies and its source), the
//! workspace lints and module docs in every crate, errors made into
//! responses in one place only, the backend header names written once, and
//! a proxy that strips internal headers from what clients send.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::harness;

fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// The host's target triple, so `cargo metadata` resolves only the packages
/// this machine builds (and needs no download for other platforms').
fn host_triple() -> String {
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let out = Command::new(rustc)
        .arg("-vV")
        .output()
        .expect("run rustc -vV");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: "))
        .expect("rustc -vV names the host")
        .to_string()
}

/// `cargo metadata` of the workspace, as the build resolved it.
fn metadata() -> Value {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host_triple()])
        .arg("--manifest-path")
        .arg(workspace_root().join("Cargo.toml"))
        .output()
        .expect("run cargo metadata");
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("cargo metadata JSON")
}

/// Package id -> name, for every package of the resolve.
fn names(meta: &Value) -> BTreeMap<String, String> {
    meta["packages"]
        .as_array()
        .expect("packages")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().unwrap().into(),
                p["name"].as_str().unwrap().into(),
            )
        })
        .collect()
}

/// Workspace members by name.
fn members(meta: &Value) -> BTreeSet<String> {
    let names = names(meta);
    meta["workspace_members"]
        .as_array()
        .expect("workspace_members")
        .iter()
        .map(|id| names[id.as_str().unwrap()].clone())
        .collect()
}

/// The layers of `[workspace.metadata.architecture]`, lowest first:
/// crate name -> (layer index, layer name).
fn layers(meta: &Value) -> BTreeMap<String, (usize, String)> {
    let layers = meta["metadata"]["architecture"]["layers"]
        .as_array()
        .expect("[workspace.metadata.architecture] layers in Cargo.toml");
    let mut out = BTreeMap::new();
    for (i, layer) in layers.iter().enumerate() {
        let name = layer["name"].as_str().expect("layer name").to_string();
        for c in layer["crates"].as_array().expect("layer crates") {
            let c = c.as_str().unwrap().to_string();
            let before = out.insert(c.clone(), (i, name.clone()));
            assert!(before.is_none(), "{c} is in two layers");
        }
    }
    out
}

/// One direct dependency of a package.
struct Dep {
    name: String,
    /// Linked into the package (not only a dev- or build-dependency).
    normal: bool,
}

/// Direct dependencies of each package, by package name.
fn deps(meta: &Value) -> BTreeMap<String, Vec<Dep>> {
    let names = names(meta);
    meta["resolve"]["nodes"]
        .as_array()
        .expect("resolve nodes")
        .iter()
        .map(|n| {
            let d = n["deps"]
                .as_array()
                .unwrap()
                .iter()
                .map(|d| Dep {
                    name: names[d["pkg"].as_str().unwrap()].clone(),
                    // dep_kinds: kind null = normal, "dev", "build".
                    normal: d["dep_kinds"]
                        .as_array()
                        .unwrap()
                        .iter()
                        .any(|k| k["kind"].is_null()),
                })
                .collect();
            (names[n["id"].as_str().unwrap()].clone(), d)
        })
        .collect()
}

#[test]
fn crates_depend_only_on_lower_layers() {
    let meta = metadata();
    let members = members(&meta);
    let layers = layers(&meta);
    let listed: BTreeSet<String> = layers.keys().cloned().collect();
    assert_eq!(
        members, listed,
        "every workspace member must be in exactly one layer of [workspace.metadata.architecture]"
    );
    let deps = deps(&meta);
    let mut wrong = Vec::new();
    for m in &members {
        let (mine, my_layer) = &layers[m];
        for dep in &deps[m] {
            // Dev-dependencies count too: a role's tests import no other role either.
            if let Some((theirs, their_layer)) = layers.get(&dep.name) {
                if theirs >= mine {
                    let name = &dep.name;
                    wrong.push(format!(
                        "{m} ({my_layer}) depends on {name} ({their_layer})"
                    ));
                }
            }
        }
    }
    assert!(
        wrong.is_empty(),
        "dependencies must point down the layers of Cargo.toml:\n{}",
        wrong.join("\n")
    );
}

/// Crates that would give the ring a runtime, sockets, files or a clock.
const NOT_IN_RING: &[&str] = &[
    "tokio",
    "mio",
    "async-std",
    "smol",
    "hyper",
    "socket2",
    "tempfile",
    "walkdir",
    "memmap2",
    "fs2",
    "fs-err",
    "notify",
    "rusqlite",
    "libsqlite3-sys",
    "chrono",
    "time",
];

#[test]
fn ring_depends_on_no_runtime_file_or_clock_crate() {
    let meta = metadata();
    let deps = deps(&meta);
    // Everything the ring library links: normal dependencies, transitively.
    let mut seen = BTreeSet::new();
    let mut todo = vec!["swirl-ring".to_string()];
    while let Some(p) = todo.pop() {
        for dep in &deps[&p] {
            if dep.normal && seen.insert(dep.name.clone()) {
                todo.push(dep.name.clone());
            }
        }
    }
    let bad: Vec<&String> = seen
        .iter()
        .filter(|d| NOT_IN_RING.contains(&d.as_str()) || d.starts_with("swirl"))
        .collect();
    assert!(bad.is_empty(), "swirl-ring links {bad:?}");
    assert!(
        seen.contains("flate2"),
        "the walk found the ring's dependencies"
    );
}

/// `text` without `//` comments (outside string literals), so that prose
/// about what the code does not use is not mistaken for a use.
fn code_only(text: &str) -> String {
    let mut out = String::new();
    for line in text.lines() {
        let mut in_str = false;
        let mut prev = ' ';
        let mut cut = line.len();
        for (i, c) in line.char_indices() {
            if c == '"' && prev != '\\' {
                in_str = !in_str;
            }
            if !in_str && c == '/' && prev == '/' {
                cut = i - 1;
                break;
            }
            prev = c;
        }
        out.push_str(&line[..cut]);
        out.push('\n');
    }
    out
}

/// Every `.rs` file under `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = walk(dir)
        .into_iter()
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    out.sort();
    out
}

#[test]
fn ring_source_uses_no_filesystem_clock_runtime_or_entropy() {
    // Time, randomness, secrets and files reach the ring as arguments.
    const FORBIDDEN: &[&str] = &[
        "std::fs",
        "File::",
        "OpenOptions",
        "tokio",
        "std::net::Tcp",
        "UdpSocket",
        "std::thread",
        "std::env",
        "SystemTime",
        "Instant",
        "thread_rng",
        "rand::rng(",
        "OsRng",
        "from_os_rng",
        "from_entropy",
    ];
    assert_eq!(
        code_only("a // std::fs\n\"http://x\" // b"),
        "a \n\"http://x\" \n"
    );
    let files = rust_files(&workspace_root().join("ring/src"));
    assert!(files.len() > 5, "found the ring's source: {files:?}");
    let mut hits = Vec::new();
    for f in files {
        let code = code_only(&std::fs::read_to_string(&f).unwrap());
        for (n, line) in code.lines().enumerate() {
            for word in FORBIDDEN.iter().filter(|w| line.contains(*w)) {
                hits.push(format!("{}:{}: {word}", f.display(), n + 1));
            }
        }
    }
    assert!(hits.is_empty(), "ring/src:\n{}", hits.join("\n"));
}

#[test]
fn every_crate_takes_the_workspace_lints_and_documents_its_modules() {
    let meta = metadata();
    let members: Vec<&Value> = meta["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["source"].is_null())
        .collect();
    assert!(members.len() >= 8, "found the workspace's crates");
    let mut problems = Vec::new();
    for p in members {
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
        let toml: toml::Value = std::fs::read_to_string(&manifest).unwrap().parse().unwrap();
        // unsafe_code, unwrap_used and expect_used are denied workspace-wide.
        if toml.get("lints").and_then(|l| l.get("workspace")) != Some(&toml::Value::Boolean(true)) {
            problems.push(format!(
                "{}: no [lints] workspace = true",
                manifest.display()
            ));
        }
        let src = manifest.parent().unwrap().join("src");
        for f in rust_files(&src) {
            let text = std::fs::read_to_string(&f).unwrap();
            if !text.starts_with("//!") {
                problems.push(format!("{}: does not start with a //! doc", f.display()));
            }
        }
    }
    for f in rust_files(&workspace_root().join("tests")) {
        if !std::fs::read_to_string(&f).unwrap().starts_with("//!") {
            problems.push(format!("{}: does not start with a //! doc", f.display()));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Every workspace crate's source file: its path from the workspace root
/// and its code before any `#[cfg(test)]` (unit tests spell wire formats
/// out on purpose), without comments.
fn member_sources() -> Vec<(String, String)> {
    let root = workspace_root();
    let meta = metadata();
    let mut out = Vec::new();
    for p in meta["packages"].as_array().unwrap() {
        if !p["source"].is_null() {
            continue;
        }
        let manifest = PathBuf::from(p["manifest_path"].as_str().unwrap());
        for f in rust_files(&manifest.parent().unwrap().join("src")) {
            let rel = f.strip_prefix(&root).unwrap_or(&f).display().to_string();
            let text = std::fs::read_to_string(&f).unwrap();
            let code = code_only(text.split("#[cfg(test)]").next().unwrap_or(""));
            out.push((rel, code));
        }
    }
    out
}

/// The statuses a handler may name when it makes a response; any other
/// `StatusCode::` constant is a 4xx or 5xx, an error's.
const SUCCESS_STATUSES: &[&str] = &[
    "CONTINUE",
    "OK",
    "CREATED",
    "ACCEPTED",
    "NO_CONTENT",
    "PARTIAL_CONTENT",
    "MULTI_STATUS",
    // Version discovery (Cinder's GET /) answers 300 with the versions.
    "MULTIPLE_CHOICES",
    "NOT_MODIFIED",
    // Redirects (staticweb's trailing slash, formpost's `redirect`).
    "MOVED_PERMANENTLY",
    "SEE_OTHER",
];

/// Where an error status is named in code that is not a comparison, a
/// match pattern or a fallback: `(line, name)`.
fn error_statuses_made(code: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (n, line) in code.lines().enumerate() {
        for (i, _) in line.match_indices("StatusCode::") {
            let rest = &line[i + "StatusCode::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_uppercase() || *c == '_')
                .collect();
            if name.is_empty() || SUCCESS_STATUSES.contains(&name.as_str()) {
                continue;
            }
            let before = line[..i].trim_end();
            let before = before.strip_suffix("http::").unwrap_or(before).trim_end();
            let after = rest[name.len()..].trim_start_matches([')', ' ']);
            let compared = before.ends_with("==")
                || before.ends_with("!=")
                || before.ends_with("unwrap_or(")
                || ["=>", "|", "==", "!="].iter().any(|t| after.starts_with(t));
            if !compared {
                out.push((n + 1, name));
            }
        }
    }
    out
}

#[test]
fn errors_become_responses_in_one_place() {
    // Handlers return their crate's error; `common::server::respond` alone
    // turns it into a response (logged there), and the status of each
    // error is chosen in its crate's error.rs, in one exhaustive match.
    // The answers Swift itself gives as responses rather than errors:
    const ALLOWED: &[(&str, &str)] = &[
        // A refused CORS preflight is the OPTIONS answer (Allow, no body).
        ("proxy/src/middleware/cors.rs", "UNAUTHORIZED"),
        // The heartbeating SLO PUT reports statuses inside its 202's body.
        ("proxy/src/middleware/slo/put.rs", "BAD_REQUEST"),
        ("proxy/src/middleware/slo/put.rs", "UNPROCESSABLE_ENTITY"),
        // DELETE's 404 has written its tombstone; 404 and 409 both carry
        // what was stored (Swift's response classes).
        ("object-server/src/delete.rs", "NOT_FOUND"),
        ("object-server/src/delete.rs", "CONFLICT"),
    ];
    assert_eq!(
        error_statuses_made(
            "if s == http::StatusCode::CONFLICT {}\nOk(Err(StatusCode::GONE)) => 1,\n*r.status_mut() = StatusCode::GONE;"
        ),
        vec![(3, "GONE".to_string())]
    );
    let sources = member_sources();
    assert!(sources.len() > 50, "found the workspace's sources");
    let mut callers = Vec::new();
    let mut made = Vec::new();
    for (rel, code) in &sources {
        for (n, line) in code.lines().enumerate() {
            if line.contains("error_response(") {
                callers.push(format!("{rel}:{}", n + 1));
            }
            // The proxy relays backends' statuses; it never picks an error one.
            if let Some(i) = line.find("response::status(") {
                let arg = &line[i + "response::status(".len()..];
                if arg.starts_with('4') || arg.starts_with('5') {
                    made.push(format!("{rel}:{}: {}", n + 1, line.trim()));
                }
            }
        }
        if rel.ends_with("/error.rs") {
            continue;
        }
        for (n, name) in error_statuses_made(code) {
            if !ALLOWED.contains(&(rel.as_str(), name.as_str())) {
                made.push(format!("{rel}:{n}: StatusCode::{name}"));
            }
        }
    }
    assert_eq!(
        callers.len(),
        1,
        "error_response is called from: {callers:?}"
    );
    assert!(
        callers[0].starts_with("common/src/server.rs:"),
        "error_response is called from: {callers:?}"
    );
    assert!(
        made.is_empty(),
        "error statuses made into responses outside the error enums:\n{}",
        made.join("\n")
    );
}

#[test]
fn backend_header_names_are_written_once() {
    // The backend protocol's vocabulary lives in common: a role names a
    // header by its constant, so two roles cannot drift apart on a spelling.
    const DEFINED_IN: &[&str] = &[
        "common/src/backend_headers.rs",
        // The digest trailers' own names, beside their encoding.
        "common/src/digest_trailer.rs",
    ];
    const PREFIXES: &[&str] = &[
        "\"x-backend-",
        "\"x-container-host",
        "\"x-container-device",
        "\"x-container-partition",
        "\"x-account-host",
        "\"x-account-device",
        "\"x-account-partition",
        "\"x-delete-at-host",
        "\"x-delete-at-device",
        "\"x-delete-at-partition",
        "\"x-delete-at-container",
    ];
    let mut seen = 0;
    let mut hits = Vec::new();
    for (rel, code) in member_sources() {
        if DEFINED_IN.contains(&rel.as_str()) {
            seen += 1;
            continue;
        }
        for (n, line) in code.lines().enumerate() {
            let lower = line.to_ascii_lowercase();
            // A literal that is the name (not text quoting it, `\"X-Backend-...`).
            let literal = |w: &&str| {
                lower
                    .match_indices(*w)
                    .any(|(i, _)| !lower[..i].ends_with('\\'))
            };
            if PREFIXES.iter().any(literal) {
                hits.push(format!("{rel}:{}: {}", n + 1, line.trim()));
            }
        }
    }
    assert_eq!(seen, DEFINED_IN.len(), "found the files that define them");
    assert!(
        hits.is_empty(),
        "backend header names outside common::backend_headers:\n{}",
        hits.join("\n")
    );
}

#[test]
fn proxy_strips_backend_and_sysmeta_headers_from_clients() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("aio");
    let aio = harness::start_aio(&data);
    let addr = aio.addr();
    let (token, _) = crate::proxy_cluster::token(addr, "test:tester", "testing");
    let req = |method: &str, path: &str, extra: &[(&str, &str)]| {
        let mut headers = vec![("X-Auth-Token", token.as_str())];
        headers.extend_from_slice(extra);
        harness::http_request(addr, method, path, &headers, b"data").unwrap()
    };
    // A client that claims to be a proxy: policy 1 (silver) for a container
    // and an object, and system metadata on both.
    let forged = [
        ("X-Backend-Storage-Policy-Index", "1"),
        ("X-Container-Sysmeta-Forged", "c"),
        ("X-Object-Sysmeta-Forged", "o"),
    ];
    let (status, _, _) = req("PUT", "/v1/AUTH_test/arch", &forged);
    assert_eq!(status, 201);
    let (status, _, _) = req("PUT", "/v1/AUTH_test/arch/o", &forged);
    assert_eq!(status, 201);
    let (_, h, _) = req("HEAD", "/v1/AUTH_test/arch", &[]);
    assert_eq!(harness::header(&h, "x-storage-policy"), Some("gold"));
    assert!(h.iter().all(|(k, _)| !k.contains("sysmeta")), "{h:?}");
    let (status, h, _) = req("HEAD", "/v1/AUTH_test/arch/o", &[]);
    assert_eq!(status, 200);
    assert!(h.iter().all(|(k, _)| !k.contains("sysmeta")), "{h:?}");
    // The object's replicas are policy 0's: objects/, never objects-1/.
    let files = walk(&data);
    let datas: Vec<&PathBuf> = files
        .iter()
        .filter(|p| p.extension().is_some_and(|e| e == "data"))
        .collect();
    assert_eq!(datas.len(), 3, "three replicas: {datas:?}");
    assert!(
        datas
            .iter()
            .all(|p| p.components().any(|c| c.as_os_str() == "objects")),
        "{datas:?}"
    );
}

/// Every file under `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}
