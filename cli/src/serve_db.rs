//! `swirl account-server <config.toml>` / `swirl container-server <config.toml>`:
//! the backend account or container server alone.

use std::process::ExitCode;

use swirl_db::{Config, DbKind};

use crate::role;

pub fn main(kind: &str, args: &[String]) -> ExitCode {
    let db_kind = if kind == "account" {
        DbKind::Account
    } else {
        DbKind::Container
    };
    role::serve(
        kind,
        args,
        |c: &Config| c.validate().map_err(|e| e.to_string()),
        Config::bind_addr,
        move |cfg, listener| swirl_db::run(db_kind, cfg, listener, role::shutdown_signal()),
    )
}
