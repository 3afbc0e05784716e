//! `swirl object-server <config.toml>`: the backend object server alone.

use std::process::ExitCode;

use crate::role;

pub fn main(args: &[String]) -> ExitCode {
    role::serve(
        "object",
        args,
        |c: &swirl_object::Config| c.validate().map_err(|(k, m)| format!("{k}: {m}")),
        swirl_object::Config::bind_addr,
        |cfg, listener| swirl_object::run(cfg, listener, role::shutdown_signal()),
    )
}
