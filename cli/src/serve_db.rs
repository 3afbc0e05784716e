//! `swirl account-server|container-server <config>` (being written).
use std::process::ExitCode;
pub fn main(kind: &str, _args: &[String]) -> ExitCode {
    eprintln!("{kind}-server: not yet implemented");
    ExitCode::from(2)
}
