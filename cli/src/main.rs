//! The `swirl` binary: thin. Parses the command line and calls the libraries.
//!
//! `swirl ring-builder ...` keeps swift-ring-builder's positional syntax, so it is
//! dispatched by hand rather than through clap's derive.

mod aio;
mod aio_backend_auth;
mod aio_keystone;
mod aio_swift_conf;
mod auditor;
mod cluster_ca;
mod db_replicator;
mod get_nodes;
mod internal_proxy;
mod object_daemons;
mod replicator;
mod ring_builder_cmd;
mod role;
mod serve_db;
mod serve_object;
mod serve_proxy;
mod serve_volume;

use std::process::ExitCode;

fn usage() -> ExitCode {
    eprintln!(
        "usage: swirl <command> [args]\n\
         commands:\n  \
         aio [--data DIR] [--bind H:P] [--volume-api H:P] [--volume-nbd H:P]   all-in-one cluster\n  \
             [--keystone-url URL --keystone-password PW [--keystone-user U] [--keystone-project P]]\n  \
         ring-builder <builder_file> [<subcommand> ...]   swift-ring-builder compatible\n  \
         get-nodes <ring.gz> <account> [<container> [<object>]] [--json]\n  \
         bench ring [options]      ring rebalance and lookup benchmark\n  \
         bench backend-auth        cost of signed backend requests against mutual TLS\n  \
         bench [options]           load generator for any Swift endpoint\n  \
         object-server <config.toml>\n  \
         account-server <config.toml>\n  \
         container-server <config.toml>\n  \
         proxy-server <config.toml>\n  \
         object-replicator <object-server.toml> [--once] [-d DEVS] [-p PARTS] [-i POLICIES]\n  \
         account-replicator <account-server.toml> [--once] [-d DEVS] [-p PARTS]\n  \
         container-replicator <container-server.toml> [--once] [-d DEVS] [-p PARTS]\n  \
         object-auditor <object-server.toml> [--once] [-d DEVS] [-z FPS]\n  \
         account-auditor <account-server.toml> [--once] [-d DEVS]\n  \
         container-auditor <container-server.toml> [--once] [-d DEVS]\n  \
         object-updater <object-server.toml> [--once]\n  \
         object-expirer <object-server.toml> [--once]\n  \
         cluster-ca init <ca-dir> | issue <ca-dir> <node-dir> --name N [--ip IP]... [--dns D]...\n  \
         volume-gateway <config.toml>   block volumes over NBD, Cinder v3 API"
    );
    ExitCode::from(2)
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(cmd) = args.first() else {
        return usage();
    };
    match cmd.as_str() {
        "aio" => aio::main(&args[1..]),
        "ring-builder" => ring_builder_cmd::main(&args[1..]),
        "get-nodes" => get_nodes::main(&args[1..]),
        "bench" => swirl_bench::main(&args[1..]),
        "object-server" => serve_object::main(&args[1..]),
        "account-server" => serve_db::main("account", &args[1..]),
        "container-server" => serve_db::main("container", &args[1..]),
        "proxy-server" => serve_proxy::main(&args[1..]),
        "volume-gateway" => serve_volume::main(&args[1..]),
        "object-replicator" => replicator::main(&args[1..]),
        "object-updater" => object_daemons::main(object_daemons::Daemon::Updater, &args[1..]),
        "object-expirer" => object_daemons::main(object_daemons::Daemon::Expirer, &args[1..]),
        "account-replicator" => db_replicator::main(swirl_db::DbKind::Account, &args[1..]),
        "container-replicator" => db_replicator::main(swirl_db::DbKind::Container, &args[1..]),
        "object-auditor" => auditor::object_main(&args[1..]),
        "account-auditor" => auditor::db_main(swirl_db::DbKind::Account, &args[1..]),
        "container-auditor" => auditor::db_main(swirl_db::DbKind::Container, &args[1..]),
        "cluster-ca" => cluster_ca::main(&args[1..]),
        "-h" | "--help" | "help" => {
            usage();
            ExitCode::SUCCESS
        }
        other => {
            eprintln!("swirl: unknown command {other:?}");
            usage()
        }
    }
}
