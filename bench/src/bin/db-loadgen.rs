//! `db-loadgen`: load on one container server's backend API
//! (see `swirl_bench::db_backend`).

fn main() -> std::process::ExitCode {
    swirl_bench::db_backend::main(std::env::args())
}
