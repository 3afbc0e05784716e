//! `swirl proxy-server <config.toml>`: loads the proxy config, binds, prints
//! `READY proxy <addr>`, serves until SIGTERM/SIGINT.

use std::process::ExitCode;

pub fn main(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("usage: swirl proxy-server <config.toml>");
        return ExitCode::from(2);
    };
    swirl_common::logging::init();
    let cfg: swirl_proxy::Config = match swirl_common::config::load(std::path::Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err((key, msg)) = cfg.validate() {
        eprintln!("Error: config {path}: {key}: {msg}");
        return ExitCode::from(2);
    }
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("Error: tokio runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    rt.block_on(async move {
        let addr = format!("{}:{}", cfg.bind_ip, cfg.bind_port);
        let listener = match swirl_common::server::bind_and_announce("proxy", &addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Error: bind {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match swirl_proxy::run(cfg, listener, shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// Resolves on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}
