//! What every `swirl <role>-server <config.toml>` shares: load the TOML config,
//! start the runtime, bind and print `READY <role> <addr>`, serve until
//! SIGTERM/SIGINT. Exit codes: 2 for a bad command line or config, 1 for a
//! failure while starting or running.

use std::fmt::Display;
use std::future::Future;
use std::path::Path;
use std::process::ExitCode;

use serde::de::DeserializeOwned;
use tokio::net::TcpListener;

/// Runs one role from the config file named by `args[0]`. `validate` checks the
/// config before anything binds; `bind_addr` says where to listen; `run` serves
/// on the bound listener.
pub fn serve<C, Fut, E>(
    role: &str,
    args: &[String],
    validate: impl FnOnce(&C) -> Result<(), String>,
    bind_addr: impl FnOnce(&C) -> String,
    run: impl FnOnce(C, TcpListener) -> Fut,
) -> ExitCode
where
    C: DeserializeOwned,
    Fut: Future<Output = Result<(), E>>,
    E: Display,
{
    let Some(path) = args.first() else {
        eprintln!("usage: swirl {role}-server <config.toml>");
        return ExitCode::from(2);
    };
    swirl_common::logging::init();
    let cfg: C = match swirl_common::config::load(Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err(e) = validate(&cfg) {
        eprintln!("Error: config {path}: {e}");
        return ExitCode::from(2);
    }
    let Some(rt) = runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let addr = bind_addr(&cfg);
        let listener = match swirl_common::server::bind_and_announce(role, &addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Error: bind {addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        match run(cfg, listener).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// A daemon's settings from a server's config file: the file loaded, then
/// its section checked; what is wrong is printed, and the exit code is 2.
pub fn daemon_settings<C, S, E, K, M>(
    path: &str,
    load: impl FnOnce(&std::path::Path) -> Result<C, E>,
    settings: impl FnOnce(C) -> Result<S, (K, M)>,
) -> Result<S, ExitCode>
where
    E: std::fmt::Display,
    K: std::fmt::Display,
    M: std::fmt::Display,
{
    let c = load(std::path::Path::new(path)).map_err(|e| {
        eprintln!("Error: {e}");
        ExitCode::from(2)
    })?;
    settings(c).map_err(|(k, m)| {
        eprintln!("Error: config {path}: {k}: {m}");
        ExitCode::from(2)
    })
}

/// The multi-threaded tokio runtime every role runs on (the error is printed).
pub fn runtime() -> Option<tokio::runtime::Runtime> {
    match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => Some(rt),
        Err(e) => {
            eprintln!("Error: tokio runtime: {e}");
            None
        }
    }
}

/// Resolves on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
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
