//! `swirl ring-builder`: entry point. The commands live in `ring_builder/`.

#[path = "ring_builder/mod.rs"]
mod ring_builder;

use std::process::ExitCode;

/// `swirl ring-builder <builder_file> [<command> ...]` (args after `ring-builder`).
pub fn main(args: &[String]) -> ExitCode {
    ring_builder::run(args)
}
