//! The one integration-test binary: starts the real `swirl` binary (and real
//! Swift tools where a test compares against them) on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod harness;
mod ring_interop;
mod ring_builder_cli;
mod proxy_cluster;
mod proxy_swiftclient;
mod proxy_faults;
mod object_common;
mod object_api;
mod db_support;
mod db_side_by_side;
mod bench_load;
mod db_server;
mod db_crash;
mod object_crash;
mod proxy_memory;
mod object_side_by_side;
mod proxy_aio;
mod proxy_tls;
mod object_memory;
