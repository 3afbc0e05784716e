//! `swirl volume-gateway <config.toml>`: the volume gateway alone (one per
//! compute node). It prints `READY volume-api <addr>` and
//! `READY volume-nbd <addr>` once both ports listen (and
//! `READY volume-nbd-unix <path>` with `nbd_socket`).

use std::path::Path;
use std::process::ExitCode;

use crate::role;

pub fn main(args: &[String]) -> ExitCode {
    let Some(path) = args.first() else {
        eprintln!("usage: swirl volume-gateway <config.toml>");
        return ExitCode::from(2);
    };
    swirl_common::logging::init();
    // A panic is a bug: say where and stop, rather than leave a connection
    // task silently dead with a volume half-served.
    std::panic::set_hook(Box::new(|info| {
        eprintln!("swirl volume-gateway: panic: {info}");
        std::process::abort();
    }));
    let cfg: swirl_volume::Config = match swirl_common::config::load(Path::new(path)) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("Error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Err((k, m)) = cfg.validate() {
        eprintln!("Error: config {path}: {k}: {m}");
        return ExitCode::from(2);
    }
    let Some(rt) = role::runtime() else {
        return ExitCode::FAILURE;
    };
    rt.block_on(async move {
        let api_addr = format!("{}:{}", cfg.bind_ip, cfg.bind_port);
        let nbd_addr = format!("{}:{}", cfg.nbd_bind_ip, cfg.nbd_bind_port);
        let api = match swirl_common::server::bind_and_announce("volume-api", &api_addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Error: bind {api_addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let nbd = match swirl_common::server::bind_and_announce("volume-nbd", &nbd_addr).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Error: bind {nbd_addr}: {e}");
                return ExitCode::FAILURE;
            }
        };
        let unix = match bind_nbd_socket(&cfg).await {
            Ok(l) => l,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let (proxy, client_proxy) = match crate::internal_proxy::for_gateway(&cfg) {
            Ok(p) => p,
            Err(e) => {
                eprintln!("Error: {e}");
                return ExitCode::FAILURE;
            }
        };
        let ends = swirl_volume::Endpoints {
            api,
            nbd,
            nbd_unix: unix,
            proxy,
            client_proxy,
        };
        match swirl_volume::run(cfg, ends, role::shutdown_signal()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("Error: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// The gateway's NBD Unix socket if its config names one, bound and
/// announced (`READY volume-nbd-unix <path>`).
pub async fn bind_nbd_socket(
    cfg: &swirl_volume::Config,
) -> Result<Option<tokio::net::UnixListener>, String> {
    let Some(p) = &cfg.nbd_socket else {
        return Ok(None);
    };
    let l = swirl_volume::nbd::server::bind_unix(p)
        .await
        .map_err(|e| format!("bind {}: {e}", p.display()))?;
    swirl_common::server::announce_ready("volume-nbd-unix", &p.display().to_string());
    Ok(Some(l))
}
