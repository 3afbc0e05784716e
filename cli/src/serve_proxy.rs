//! `swirl proxy-server <config>` (being written).
use std::process::ExitCode;
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("proxy-server: not yet implemented");
    ExitCode::from(2)
}
