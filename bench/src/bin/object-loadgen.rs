//! `object-loadgen`: load on one object server's backend API
//! (see `swirl_bench::object_backend`).

fn main() -> std::process::ExitCode {
    swirl_bench::object_backend::main(std::env::args())
}
