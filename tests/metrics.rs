//! `GET /metrics` on every server of `swirl aio` (proxy, object, account
//! and container servers, volume gateway API), without credentials, read
//! by the official Python client's parsers (Prometheus text and
//! OpenMetrics, `tests/py/metrics_parse.py`): the request counts match
//! what the test did, the latency histograms agree with them, the storage
//! servers show disk usage, async pendings, quarantined objects (one the
//! test corrupts and reads) and the replicators' last passes.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::harness;
use crate::object_common::walk;

/// One parsed sample.
#[derive(Debug, Clone)]
struct Sample {
    family: String,
    kind: String,
    name: String,
    labels: BTreeMap<String, String>,
    value: f64,
}

/// Scrapes `addr`'s `/metrics` (OpenMetrics when `openmetrics`) and parses
/// it with the Python client.
fn scrape(addr: SocketAddr, openmetrics: bool) -> Vec<Sample> {
    let accept = if openmetrics {
        "application/openmetrics-text; version=1.0.0"
    } else {
        "text/plain"
    };
    let (st, h, body) =
        harness::http_request(addr, "GET", "/metrics", &[("Accept", accept)], b"").unwrap();
    assert_eq!(st, 200, "{}", String::from_utf8_lossy(&body));
    let ctype = harness::header(&h, "content-type").unwrap();
    let fmt = if openmetrics {
        assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
        "openmetrics"
    } else {
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        "text"
    };
    let file = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(file.path(), &body).unwrap();
    let out = harness::swift_python(
        &harness::py_dir().join("metrics_parse.py"),
        &[fmt, file.path().to_str().unwrap()],
    );
    assert!(
        out.status.success(),
        "the {fmt} parser refused {addr}'s /metrics: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&body)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            Sample {
                family: v["family"].as_str().unwrap().to_string(),
                kind: v["type"].as_str().unwrap().to_string(),
                name: v["name"].as_str().unwrap().to_string(),
                labels: v["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
                    .collect(),
                value: v["value"].as_f64().unwrap(),
            }
        })
        .collect()
}

/// The samples named `name` whose labels include `labels`.
fn find<'a>(s: &'a [Sample], name: &str, labels: &[(&str, &str)]) -> Vec<&'a Sample> {
    s.iter()
        .filter(|x| {
            x.name == name
                && labels
                    .iter()
                    .all(|(k, v)| x.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .collect()
}

/// The one sample's value (0 when there is none: a count never made).
fn value(s: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let f = find(s, name, labels);
    assert!(f.len() <= 1, "{name} {labels:?}: {f:?}");
    f.first().map_or(0.0, |x| x.value)
}

/// The proxy's requests by (method, status).
fn proxy_counts(s: &[Sample]) -> BTreeMap<(String, String), f64> {
    find(s, "swirl_requests_total", &[("role", "proxy")])
        .into_iter()
        .map(|x| {
            (
                (x.labels["method"].clone(), x.labels["status"].clone()),
                x.value,
            )
        })
        .collect()
}

/// For every (role, method) histogram: buckets never decrease, `+Inf` is
/// the count, and the count is the sum of the request counts over statuses.
fn histograms_agree(s: &[Sample]) {
    let counts = find(s, "swirl_request_duration_seconds_count", &[]);
    assert!(!counts.is_empty());
    for c in counts {
        let (role, method) = (&c.labels["role"], &c.labels["method"]);
        let l = [("role", role.as_str()), ("method", method.as_str())];
        let mut buckets: Vec<(f64, f64)> = find(s, "swirl_request_duration_seconds_bucket", &l)
            .into_iter()
            .map(|b| (b.labels["le"].parse::<f64>().unwrap(), b.value))
            .collect();
        buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        assert!(buckets.windows(2).all(|w| w[0].1 <= w[1].1), "{buckets:?}");
        assert_eq!(buckets.last().unwrap(), &(f64::INFINITY, c.value));
        let requests: f64 = find(s, "swirl_requests_total", &l)
            .iter()
            .map(|x| x.value)
            .sum();
        assert_eq!(requests, c.value, "{role} {method}");
        assert_eq!(c.family, "swirl_request_duration_seconds");
        assert_eq!(c.kind, "histogram");
    }
}

fn wait_for(what: &str, timeout: Duration, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn server_port(etc: &Path, role: &str) -> SocketAddr {
    let text = std::fs::read_to_string(etc.join(format!("{role}-server.toml"))).unwrap();
    let t: toml::Table = text.parse().unwrap();
    let port = t["bind_port"].as_integer().unwrap() as u16;
    ([127, 0, 0, 1], port).into()
}

#[test]
fn every_server_exposes_prometheus_metrics() {
    let tmp = tempfile::tempdir().unwrap();
    let data = tmp.path().join("d");
    let mut aio = harness::start_aio(&data);
    let proxy = aio.addr();
    let volume_api = aio.ready_addr("volume-api");
    let etc = data.join("etc");
    let object = server_port(&etc, "object");

    // What the test asks of the proxy, by (method, status).
    let mut did: BTreeMap<(String, String), f64> = BTreeMap::new();
    let before = proxy_counts(&scrape(proxy, false));
    *did.entry(("GET".into(), "200".into())).or_default() += 1.0; // that scrape
    let mut req = |method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]| {
        let (st, h, b) = harness::http_request(proxy, method, path, headers, body).unwrap();
        *did.entry((method.to_string(), st.to_string())).or_default() += 1.0;
        (st, h, b)
    };
    let (st, h, _) = req(
        "GET",
        "/auth/v1.0",
        &[("X-Auth-User", "test:tester"), ("X-Auth-Key", "testing")],
        b"",
    );
    assert_eq!(st, 200);
    let token = harness::header(&h, "x-auth-token").unwrap().to_string();
    let t = [("X-Auth-Token", token.as_str())];
    assert_eq!(req("PUT", "/v1/AUTH_test/c", &t, b"").0, 201);
    const OBJECTS: usize = 5;
    for i in 0..OBJECTS {
        let p = format!("/v1/AUTH_test/c/o{i}");
        assert_eq!(
            req("PUT", &p, &t, &harness::pattern(1000 + i, i as u64)).0,
            201
        );
    }
    for i in 0..3 {
        assert_eq!(req("GET", &format!("/v1/AUTH_test/c/o{i}"), &t, b"").0, 200);
    }
    assert_eq!(req("GET", "/v1/AUTH_test/c/missing", &t, b"").0, 404);
    assert_eq!(req("DELETE", "/v1/AUTH_test/c/o4", &t, b"").0, 204);
    // The only object of policy 1 (2 replicas): both copies corrupted, so
    // a GET quarantines them where it reads them.
    let silver = [
        ("X-Auth-Token", token.as_str()),
        ("X-Storage-Policy", "silver"),
    ];
    assert_eq!(req("PUT", "/v1/AUTH_test/s", &silver, b"").0, 201);
    assert_eq!(
        req(
            "PUT",
            "/v1/AUTH_test/s/victim",
            &t,
            &harness::pattern(4000, 9)
        )
        .0,
        201
    );
    let victims: Vec<_> = walk(&data.join("srv"))
        .into_iter()
        .filter(|p| {
            p.extension().is_some_and(|e| e == "data")
                && p.components().any(|c| c.as_os_str() == "objects-1")
        })
        .collect();
    assert_eq!(victims.len(), 2, "{victims:?}");
    for v in &victims {
        harness::flip_byte(v, 10);
    }
    let (st, _, _) = req("GET", "/v1/AUTH_test/s/victim", &t, b"");
    assert!(st >= 400, "a corrupted object served: {st}");
    // Object PUTs: three replicas each for policy 0, two for policy 1.
    let object_puts = (3 * OBJECTS + 2) as f64;

    // The proxy: exactly what the test did, no credentials needed.
    let p = scrape(proxy, false);
    let mut after = proxy_counts(&p);
    for (k, v) in &before {
        *after.get_mut(k).unwrap() -= v;
    }
    after.retain(|_, v| *v != 0.0);
    assert_eq!(after, did);
    histograms_agree(&p);
    // The same through the OpenMetrics parser.
    let om = scrape(proxy, true);
    histograms_agree(&om);
    assert_eq!(
        value(
            &om,
            "swirl_requests_total",
            &[("role", "proxy"), ("method", "PUT"), ("status", "201")]
        ),
        did[&("PUT".to_string(), "201".to_string())]
    );

    // The object server: its requests, disks, quarantine, async pendings.
    // A PUT's third replica may still be writing when the proxy answered.
    let mut o = Vec::new();
    wait_for(
        "every replica's PUT counted",
        Duration::from_secs(60),
        || {
            o = scrape(object, false);
            value(
                &o,
                "swirl_requests_total",
                &[("role", "object"), ("method", "PUT"), ("status", "201")],
            ) == object_puts
                && value(&o, "swirl_object_quarantined", &[("policy", "1")]) == 2.0
        },
    );
    histograms_agree(&o);
    assert_eq!(
        value(&o, "swirl_object_quarantined", &[("policy", "0")]),
        0.0
    );
    assert_eq!(
        value(&o, "swirl_object_quarantined_on_read_total", &[]),
        2.0
    );
    assert_eq!(
        value(&o, "swirl_object_async_pendings", &[("policy", "0")]),
        0.0
    );
    assert_eq!(
        value(&o, "swirl_object_async_pendings_written_total", &[]),
        0.0
    );
    // Each container replica (3) takes every object write's row once: the
    // PUTs and the DELETE, all taken.
    let updates = (3 * (OBJECTS + 1 + 1)) as f64;
    wait_for(
        "every container update counted",
        Duration::from_secs(60),
        || {
            o = scrape(object, false);
            value(
                &o,
                "swirl_object_container_updates_total",
                &[("result", "ok")],
            ) == updates
        },
    );
    assert_eq!(
        value(
            &o,
            "swirl_object_container_updates_total",
            &[("result", "failed")]
        ),
        0.0
    );
    // An async pending: a write straight to the object server whose
    // container update names a container that does not exist (the
    // container server answers 404, and so it does to the updater, which
    // keeps the pending).
    let container_host = server_port(&etc, "container").to_string();
    let ts = format!(
        "{:.5}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64()
    );
    let auth = harness::aio_backend_auth(&data);
    let (st, _, _) = harness::signed_request(
        &auth,
        object,
        "PUT",
        "/d1/1/AUTH_test/nowhere/o",
        &[
            ("X-Timestamp", ts.as_str()),
            ("Content-Type", "text/plain"),
            ("X-Container-Host", container_host.as_str()),
            ("X-Container-Device", "d1"),
            ("X-Container-Partition", "1"),
        ],
        b"x",
    )
    .unwrap();
    assert_eq!(st, 201);
    let o = scrape(object, false);
    let l = [("role", "object"), ("method", "PUT"), ("status", "201")];
    assert_eq!(value(&o, "swirl_requests_total", &l), object_puts + 1.0);
    let failed = [("result", "failed")];
    assert_eq!(
        value(&o, "swirl_object_container_updates_total", &failed),
        1.0
    );
    assert_eq!(
        value(&o, "swirl_object_async_pendings_written_total", &[]),
        1.0
    );
    assert_eq!(
        value(&o, "swirl_object_async_pendings", &[("policy", "0")]),
        1.0
    );
    for d in 1..=4 {
        let dev = format!("d{d}");
        let l = [("device", dev.as_str())];
        assert_eq!(value(&o, "swirl_disk_mounted", &l), 1.0);
        let (size, used) = (
            value(&o, "swirl_disk_size_bytes", &l),
            value(&o, "swirl_disk_used_bytes", &l),
        );
        assert!(used > 0.0 && size >= used, "{dev}: {used} of {size}");
    }

    // The replicators' passes (they run every 30 s in the aio), from the
    // recon cache, on the object server and the database servers.
    let (account, container) = (server_port(&etc, "account"), server_port(&etc, "container"));
    // A pass that found the test's data (the first ones ran on empty disks).
    wait_for(
        "a replication pass of each kind",
        Duration::from_secs(180),
        || {
            [
                (object, "object"),
                (account, "account"),
                (container, "container"),
            ]
            .iter()
            .all(|(a, k)| {
                let s = scrape(*a, false);
                value(
                    &s,
                    &format!("swirl_{k}_replication_last_pass_attempted"),
                    &[],
                ) > 0.0
            })
        },
    );
    let o = scrape(object, false);
    assert!(value(&o, "swirl_object_replication_last_pass_attempted", &[]) > 0.0);
    assert_eq!(
        value(&o, "swirl_object_replication_last_pass_failure", &[]),
        0.0
    );
    for name in [
        "swirl_object_replication_last_pass_bytes_sent",
        "swirl_object_replication_last_pass_deltas",
        "swirl_object_replication_last_pass_files_sent",
        "swirl_object_replication_last_pass_duration_seconds",
    ] {
        assert_eq!(find(&o, name, &[]).len(), 1, "{name}");
    }
    for (addr, kind) in [(account, "account"), (container, "container")] {
        let s = scrape(addr, true);
        histograms_agree(&s);
        assert!(value(&s, "swirl_disk_used_bytes", &[("device", "d1")]) > 0.0);
        assert_eq!(value(&s, &format!("swirl_{kind}_quarantined"), &[]), 0.0);
        assert!(
            value(
                &s,
                &format!("swirl_{kind}_replication_last_pass_attempted"),
                &[]
            ) > 0.0
        );
        // Its own role's requests: the container server took the object
        // servers' updates, the account server the container PUTs' reports.
        assert!(
            find(
                &s,
                "swirl_requests_total",
                &[("role", kind), ("method", "PUT")]
            )
            .iter()
            .map(|x| x.value)
            .sum::<f64>()
                > 0.0,
            "{kind}"
        );
    }

    // The volume gateway's API: its own GETs are counted.
    scrape(volume_api, false);
    let v = scrape(volume_api, false);
    assert!(
        value(
            &v,
            "swirl_requests_total",
            &[("role", "volume-api"), ("method", "GET"), ("status", "200")]
        ) >= 1.0
    );
}
