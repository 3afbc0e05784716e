//! `swirl account-server <config.toml>` / `swirl container-server <config.toml>`:
//! load the config, bind, print `READY <role> <addr>`, serve until SIGTERM/SIGINT.

use std::path::Path;
use std::process::ExitCode;

use swirl_db::{Config, DbKind};

/// Resolves on SIGTERM or SIGINT.
async fn shutdown_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = tokio::signal::ctrl_c() => {}
    }
}

pub fn main(kind: &str, args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("usage: swirl {kind}-server <config.toml>");
        return ExitCode::from(2);
    };
    let db_kind = if kind == "account" {
        DbKind::Account
    } else {
        DbKind::Container
    };
    swirl_common::logging::init();
    let cfg: Config = match swirl_common::config::load(Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(1);
        }
    };
    if let Err(e) = cfg.validate() {
        eprintln!("Error: {e}");
        return ExitCode::from(1);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: starting runtime: {e}");
            return ExitCode::from(1);
        }
    };
    rt.block_on(async move {
        let listener = match swirl_common::server::bind_and_announce(kind, &cfg.bind_addr()).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Error: binding {}: {e}", cfg.bind_addr());
                return ExitCode::from(1);
            }
        };
        match swirl_db::run(db_kind, cfg, listener, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::from(1)
            }
        }
    })
}
