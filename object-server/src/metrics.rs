//! `GET /metrics` of the object server: the request counts every listener
//! keeps (`swirl_common::metrics`), and, read at each scrape, each device's
//! disk usage, async pendings and quarantined objects per policy, the
//! server's own counts since start (container updates, async pendings
//! written, objects quarantined on read) and the object daemons' last
//! passes from `object.recon` (replicator, auditor, updater, expirer).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use http::{HeaderMap, Response};
use swirl_common::metrics::Figures;
use swirl_common::Body;
use swirl_store::recon_metrics;

use crate::error::Result;
use crate::handler::blocking;
use crate::{recon, Server};

fn figures(s: &Server) -> Figures {
    let mut f = Figures::new();
    recon_metrics::disk_usage(&mut f, &s.store.devices, |d| {
        s.store.check_device(d).is_ok()
    });
    for (index, n) in recon::async_counts(s) {
        let p = index.to_string();
        f.gauge(
            "object_async_pendings",
            "Container updates waiting on disk for the object updater",
            &[("policy", &p)],
            n as f64,
        );
    }
    for (index, n) in recon::quarantined_counts(s) {
        let p = index.to_string();
        f.gauge(
            "object_quarantined",
            "Objects in quarantine on this server's devices",
            &[("policy", &p)],
            n as f64,
        );
    }
    let st = &s.stats;
    let updates = "Container updates sent by this object server since it started, by result";
    for (result, n) in [
        ("ok", &st.container_updates_ok),
        ("failed", &st.container_updates_failed),
        ("refused", &st.container_updates_refused),
    ] {
        f.counter(
            "object_container_updates",
            updates,
            &[("result", result)],
            n.load(Ordering::Relaxed),
        );
    }
    f.counter(
        "object_async_pendings_written",
        "Async pendings this object server wrote since it started",
        &[],
        st.async_pending_written.load(Ordering::Relaxed),
    );
    f.counter(
        "object_quarantined_on_read",
        "Objects this object server quarantined while reading them since it started",
        &[],
        st.quarantined.load(Ordering::Relaxed),
    );
    let cache = swirl_store::recon_cache::load(
        &s.cfg
            .recon_cache_path
            .join(swirl_store::recon_cache::OBJECT),
    );
    recon_metrics::object(&mut f, &cache);
    f
}

/// The answer to `GET /metrics`.
pub async fn handle(s: Arc<Server>, headers: &HeaderMap) -> Result<Response<Body>> {
    let f = blocking(move || Ok(figures(&s))).await?;
    Ok(swirl_common::metrics::response(f, headers))
}
