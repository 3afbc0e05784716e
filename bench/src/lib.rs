//! swirl's benchmark tools, one library for every binary that runs them.
//!
//! - `swirl bench ...` ([`main`]): load on any Swift endpoint ([`load`]), the
//!   disk's durable-write limit (`swirl bench disk`), the ring builder and
//!   lookups ([`ring`], `swirl bench ring`), and what authenticating the
//!   backend costs, a signed head against mutual TLS on a large body
//!   ([`backend_auth`], `swirl bench backend-auth`).
//! - Load on one storage server's backend API, for the side-by-side scripts
//!   in `bench/`: [`object_backend`] (binary `object-loadgen`, used by
//!   `bench/object-compare`) and [`db_backend`] (binary `db-loadgen`, used by
//!   `bench/db-compare/run.sh`).

pub mod backend_auth;
pub mod client;
pub mod db_backend;
pub mod error;
pub mod load;
pub mod object_backend;
pub mod ring;

use std::process::ExitCode;

/// `swirl bench <args>`: `argv` is what follows `bench`.
pub fn main(argv: &[String]) -> ExitCode {
    match argv.first().map(String::as_str) {
        Some("ring") => ring::main(&argv[1..]),
        Some("backend-auth") => backend_auth::main(&argv[1..]),
        _ => load::main(argv),
    }
}

/// Parses `argv` (program name first) with clap, or prints clap's message and
/// gives the exit code: 0 for --help, 2 for a usage error.
pub(crate) fn parse_args<T: clap::Parser>(
    argv: impl IntoIterator<Item = String>,
) -> Result<T, ExitCode> {
    T::try_parse_from(argv).map_err(|e| {
        let _ = e.print();
        if e.use_stderr() {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        }
    })
}

/// A runtime for one benchmark run with `threads` workers.
pub(crate) fn runtime(threads: usize) -> Result<tokio::runtime::Runtime, error::Error> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .enable_all()
        .build()
        .map_err(error::Error::Io)
}
