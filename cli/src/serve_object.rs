//! `swirl object-server <config.toml>`: loads the object server's config, binds,
//! prints `READY object <addr>`, serves until SIGTERM/SIGINT.

use std::process::ExitCode;

pub fn main(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("usage: swirl object-server <config.toml>");
        return ExitCode::from(2);
    };
    swirl_common::logging::init();
    let cfg: swirl_object::Config = match swirl_common::config::load(std::path::Path::new(path)) {
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
        let addr = cfg.bind_addr();
        let listener = match swirl_common::server::bind_and_announce("object", &addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Error: bind {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match swirl_object::run(cfg, listener, shutdown_signal()).await {
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
