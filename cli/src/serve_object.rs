//! `swirl object-server <config>` (being written).
use std::process::ExitCode;
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("object-server: not yet implemented");
    ExitCode::from(2)
}
