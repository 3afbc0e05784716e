//! `swirl get-nodes` (being written).
use std::process::ExitCode;
pub fn main(_args: &[String]) -> ExitCode {
    eprintln!("get-nodes: not yet implemented");
    ExitCode::from(2)
}
