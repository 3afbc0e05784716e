//! `swirl bench ring` (being written).
use std::process::ExitCode;
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("bench: not yet implemented");
    ExitCode::from(2)
}
