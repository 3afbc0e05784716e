//! `swirl ring-builder` (being written).
use std::process::ExitCode;
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("ring-builder: not yet implemented");
    ExitCode::from(2)
}
