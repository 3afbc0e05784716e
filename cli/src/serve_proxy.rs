//! `swirl proxy-server <config.toml>`: the public Swift API alone.

use std::process::ExitCode;

use crate::role;

pub fn main(args: &[String]) -> ExitCode {
    role::serve(
        "proxy",
        args,
        |c: &swirl_proxy::Config| c.validate().map_err(|(k, m)| format!("{k}: {m}")),
        |c| format!("{}:{}", c.listen.bind_ip, c.listen.bind_port),
        |cfg, listener| swirl_proxy::run(cfg, listener, role::shutdown_signal()),
    )
}
