//! `GET /metrics` of an account or container server: the request counts
//! every listener keeps (`swirl_common::metrics`), and, read at each
//! scrape, each device's disk usage, the databases of this server's kind in
//! quarantine, and its kind's daemons' last passes from `<kind>.recon`
//! (replicator, auditor).

use std::sync::Arc;

use http::{HeaderMap, Response};
use swirl_common::body::Body;
use swirl_common::metrics::Figures;
use swirl_store::db::quarantine::quarantine_dir;
use swirl_store::{recon_cache, recon_metrics};

use swirl_store::db::placement::DbKind;

use crate::config::Config;
use crate::error::Result;
use crate::server::{blocking, check_drive, DbServer};

fn figures(cfg: &Config, db_kind: DbKind) -> Figures {
    let mut f = Figures::new();
    let devices = &cfg.devices;
    recon_metrics::disk_usage(&mut f, devices, |d| check_drive(cfg, d).is_ok());
    let kind = db_kind.name();
    let quarantined: u64 = recon_metrics::devices(devices)
        .iter()
        .map(|d| {
            std::fs::read_dir(quarantine_dir(&devices.join(d), db_kind))
                .map(|rd| rd.count() as u64)
                .unwrap_or(0)
        })
        .sum();
    f.gauge(
        &format!("{kind}_quarantined"),
        "Databases in quarantine on this server's devices",
        &[],
        quarantined as f64,
    );
    let file = match db_kind {
        DbKind::Account => recon_cache::ACCOUNT,
        DbKind::Container => recon_cache::CONTAINER,
    };
    let cache = recon_cache::load(&cfg.recon_cache_path.join(file));
    recon_metrics::db(&mut f, kind, &cache);
    f
}

/// The answer to `GET /metrics`.
pub async fn handle(s: &DbServer, headers: &HeaderMap) -> Result<Response<Body>> {
    // Reads directories and the recon cache: off the reactor.
    let (cfg, kind) = (Arc::clone(&s.cfg), s.kind);
    let f = blocking(move || Ok(figures(&cfg, kind))).await?;
    Ok(swirl_common::metrics::response(f, headers))
}
