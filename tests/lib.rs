//! The one integration-test binary: starts the real `swirl` binary (and real
//! Swift tools where a test compares against them) on loopback.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bench_load;
mod db_crash;
mod db_server;
mod db_side_by_side;
mod db_support;
mod functests;
mod harness;
mod object_api;
mod object_common;
mod object_crash;
mod object_digest_trailer;
mod object_memory;
mod object_side_by_side;
mod proxy_aio;
mod proxy_bulk;
mod proxy_cluster;
mod proxy_dlo;
mod proxy_etag_quoter;
mod proxy_faults;
mod proxy_integrity;
mod proxy_memory;
mod proxy_quotas;
mod proxy_slo;
mod proxy_swiftclient;
mod proxy_tls;
mod replication_aio;
mod ring_builder_cli;
mod ring_interop;
mod volume_cinder;
mod volume_crash;
mod volume_fs;
mod volume_fuzz;
mod volume_nbd;
mod volume_support;
