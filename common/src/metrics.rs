//! Prometheus metrics (`GET /metrics` on every server), through the
//! `prometheus-client` crate: the request counters every listener keeps
//! (counted once per request by [`crate::server`]'s access log, when the
//! response body ends) and, per scrape, the figures a role reads from disk
//! ([`Figures`]: disk usage, async pendings, quarantines, the daemons' last
//! passes from the recon cache). The answer is the Prometheus text format
//! (0.0.4), or OpenMetrics when the scraper's `Accept` asks for it.
//!
//! Request families are process-wide: in `swirl aio` every server runs in
//! one process, so each of its listeners shows every role's requests (the
//! `role` label tells them apart).

use std::collections::BTreeMap;
use std::sync::atomic::AtomicU64;
use std::sync::LazyLock;
use std::time::Duration;

use http::{header, HeaderMap, HeaderValue, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};
use serde_json::{Map, Value};

use crate::body::{self, Body};

/// The path every server answers (no credentials: a plain GET).
pub const PATH: &str = "/metrics";

/// Upper bounds (seconds) of the request latency histogram's buckets: from
/// a cached HEAD (1 ms) to a large object's transfer (a minute).
pub const LATENCY_BUCKETS: [f64; 14] = [
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0,
];

/// Labels of a request count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub role: &'static str,
    pub method: &'static str,
    pub status: u16,
}

/// Labels of the latency histogram and the byte count.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct MethodLabels {
    pub role: &'static str,
    pub method: &'static str,
}

fn latency_histogram() -> Histogram {
    Histogram::new(LATENCY_BUCKETS)
}

/// The process's request families.
struct Requests {
    count: Family<RequestLabels, Counter>,
    duration: Family<MethodLabels, Histogram, fn() -> Histogram>,
    bytes: Family<MethodLabels, Counter>,
}

static REQUESTS: LazyLock<Requests> = LazyLock::new(|| Requests {
    count: Family::default(),
    duration: Family::new_with_constructor(latency_histogram),
    bytes: Family::default(),
});

/// The method as a label: Swift's methods by name, anything else `other`
/// (a client must not be able to make new series at will).
pub fn method_label(method: &str) -> &'static str {
    match method {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "PUT" => "PUT",
        "POST" => "POST",
        "DELETE" => "DELETE",
        "COPY" => "COPY",
        "OPTIONS" => "OPTIONS",
        "REPLICATE" => "REPLICATE",
        "SSYNC" => "SSYNC",
        "UPDATE" => "UPDATE",
        _ => "other",
    }
}

/// Counts one finished request: `status` as logged (499 for a client gone
/// before the body's end), `elapsed` until the body ended.
pub fn record_request(
    role: &'static str,
    method: &str,
    status: u16,
    elapsed: Duration,
    bytes: u64,
) {
    let r = &*REQUESTS;
    let method = method_label(method);
    r.count
        .get_or_create(&RequestLabels {
            role,
            method,
            status,
        })
        .inc();
    let by_method = MethodLabels { role, method };
    r.duration
        .get_or_create(&by_method)
        .observe(elapsed.as_secs_f64());
    if bytes > 0 {
        r.bytes.get_or_create(&by_method).inc_by(bytes);
    }
}

/// Labels of a figure: `(name, value)` pairs.
pub type Labels = Vec<(String, String)>;

type FloatGauge = Gauge<f64, AtomicU64>;

/// One scrape's figures read by a role (what is not a request count), each
/// a gauge or a counter family named without the `swirl_` prefix.
#[derive(Default)]
pub struct Figures {
    gauges: BTreeMap<String, (String, Family<Labels, FloatGauge>)>,
    counters: BTreeMap<String, (String, Family<Labels, Counter>)>,
}

impl Figures {
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets gauge `name{labels}` to `v`.
    pub fn gauge(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: f64) {
        let (_, f) = self
            .gauges
            .entry(name.to_string())
            .or_insert_with(|| (help.to_string(), Family::default()));
        f.get_or_create(&owned(labels)).set(v);
    }

    /// Sets counter `name{labels}` (registered as `name_total`) to `v`: a
    /// count kept since the process started.
    pub fn counter(&mut self, name: &str, help: &str, labels: &[(&str, &str)], v: u64) {
        let (_, f) = self
            .counters
            .entry(name.to_string())
            .or_insert_with(|| (help.to_string(), Family::default()));
        f.get_or_create(&owned(labels)).inc_by(v);
    }

    /// One gauge `<prefix>_<key>` for every number in `stats` (a daemon's
    /// recon entry), with `labels`. What is not a number is left out, nested
    /// objects too (`failure_nodes` would make a name of each peer).
    pub fn gauges_from_json(
        &mut self,
        prefix: &str,
        help: &str,
        labels: &[(&str, &str)],
        stats: &Map<String, Value>,
    ) {
        for (k, v) in stats {
            if let Some(x) = v.as_f64() {
                let name = format!("{prefix}_{}", metric_name_part(k));
                self.gauge(&name, help, labels, x);
            }
        }
    }

    /// Names of the figures set so far (as registered, counters without
    /// their `_total`).
    pub fn names(&self) -> Vec<&str> {
        self.gauges
            .keys()
            .chain(self.counters.keys())
            .map(String::as_str)
            .collect()
    }
}

fn owned(labels: &[(&str, &str)]) -> Labels {
    labels
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `key` as a metric name part: lower-case letters, digits and `_`.
pub fn metric_name_part(key: &str) -> String {
    key.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// The registry one scrape encodes: the request families and `figures`.
fn registry(figures: Figures) -> Registry {
    let mut reg = Registry::with_prefix("swirl");
    let r = &*REQUESTS;
    reg.register(
        "requests",
        "Requests answered, by the role of the listener, method and status (499: the client left before the body's end)",
        r.count.clone(),
    );
    reg.register_with_unit(
        "request_duration",
        "Time from a request's arrival to its response body's end",
        Unit::Seconds,
        r.duration.clone(),
    );
    reg.register_with_unit(
        "response_body",
        "Response body bytes sent",
        Unit::Bytes,
        r.bytes.clone(),
    );
    for (name, (help, f)) in figures.gauges {
        reg.register(name, help, f);
    }
    for (name, (help, f)) in figures.counters {
        reg.register(name, help, f);
    }
    reg
}

/// OpenMetrics' content type, which a scraper's `Accept` may ask for.
const OPENMETRICS: &str = "application/openmetrics-text";

/// The exposition of the request families and `figures`: OpenMetrics if
/// `accept` asks for it, else Prometheus' text format. Returns the content
/// type and the text.
pub fn encode(figures: Figures, accept: Option<&str>) -> (&'static str, String) {
    let reg = registry(figures);
    let mut out = String::new();
    if accept.is_some_and(|a| a.contains(OPENMETRICS)) {
        // Writing into a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut out, &reg);
        (
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            out,
        )
    } else {
        let _ = prometheus_client::encoding::prometheus_text::encode(&mut out, &reg);
        (
            prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
            out,
        )
    }
}

/// The answer to `GET /metrics` with the request's headers.
pub fn response(figures: Figures, headers: &HeaderMap) -> Response<Body> {
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let (ctype, text) = encode(figures, accept);
    let len = text.len();
    let mut r = Response::new(body::full(text));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    r.headers_mut()
        .insert(header::CONTENT_LENGTH, HeaderValue::from(len));
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_methods_share_one_label() {
        assert_eq!(method_label("PUT"), "PUT");
        assert_eq!(method_label("REPLICATE"), "REPLICATE");
        assert_eq!(method_label("BREW"), "other");
        assert_eq!(method_label("get"), "other");
    }

    #[test]
    fn names_from_recon_entries() {
        let mut f = Figures::new();
        let stats = json!({"attempted": 3, "bytes_sent": 1024, "start": 1.5,
            "failure_nodes": {"10.0.0.1": {"sdb": 2}}, "note": "x"});
        let Value::Object(m) = stats else {
            unreachable!()
        };
        f.gauges_from_json("object_replication_last_pass", "h", &[], &m);
        let mut names = f.names();
        names.sort();
        assert_eq!(
            names,
            [
                "object_replication_last_pass_attempted",
                "object_replication_last_pass_bytes_sent",
                "object_replication_last_pass_start",
            ]
        );
    }

    #[test]
    fn exposition_in_both_formats() {
        // A role of its own: the families are process-wide and other tests
        // of this binary count requests too.
        record_request("metrics-test", "PUT", 201, Duration::from_millis(3), 0);
        record_request("metrics-test", "PUT", 201, Duration::from_millis(30), 0);
        record_request("metrics-test", "BREW", 405, Duration::from_millis(1), 10);
        let mut f = Figures::new();
        f.gauge("disk_used_bytes", "Used", &[("device", "sda")], 42.0);
        f.counter("object_async_pendings_written", "Written", &[], 7);

        let (ctype, text) = encode(f, None);
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        let lines: Vec<&str> = text.lines().collect();
        for want in [
            "# TYPE swirl_requests_total counter",
            r#"swirl_requests_total{role="metrics-test",method="PUT",status="201"} 2"#,
            r#"swirl_requests_total{role="metrics-test",method="other",status="405"} 1"#,
            "# TYPE swirl_request_duration_seconds histogram",
            r#"swirl_request_duration_seconds_bucket{role="metrics-test",method="PUT",le="0.005"} 1"#,
            r#"swirl_request_duration_seconds_bucket{role="metrics-test",method="PUT",le="+Inf"} 2"#,
            r#"swirl_request_duration_seconds_count{role="metrics-test",method="PUT"} 2"#,
            r#"swirl_response_body_bytes_total{role="metrics-test",method="other"} 10"#,
            "# TYPE swirl_disk_used_bytes gauge",
            r#"swirl_disk_used_bytes{device="sda"} 42.0"#,
            "swirl_object_async_pendings_written_total 7",
        ] {
            assert!(lines.contains(&want), "no {want:?} in\n{text}");
        }
        assert!(!text.contains("# EOF"));

        let (ctype, text) = encode(
            Figures::new(),
            Some("application/openmetrics-text;version=1.0.0"),
        );
        assert!(ctype.starts_with("application/openmetrics-text"), "{ctype}");
        assert!(text.ends_with("# EOF\n"), "{text}");
        assert!(text.contains("# TYPE swirl_requests counter\n"), "{text}");
    }
}
