//! `fuzz-seeds <dir>`: writes every target's seeds to `<dir>/<target>/`,
//! the starting corpus of a long libFuzzer run.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let Some(dir) = std::env::args_os().nth(1).map(PathBuf::from) else {
        eprintln!("usage: fuzz-seeds <corpus dir>");
        return ExitCode::from(2);
    };
    for t in &swirl_fuzz::TARGETS {
        let d = dir.join(t.name);
        if let Err(e) = std::fs::create_dir_all(&d) {
            eprintln!("fuzz-seeds: {}: {e}", d.display());
            return ExitCode::FAILURE;
        }
        let seeds = swirl_fuzz::seeds::for_target(t.name);
        for (i, s) in seeds.iter().enumerate() {
            let f = d.join(format!("seed-{i:03}"));
            if let Err(e) = std::fs::write(&f, s) {
                eprintln!("fuzz-seeds: {}: {e}", f.display());
                return ExitCode::FAILURE;
            }
        }
        println!("{}: {} seeds", t.name, seeds.len());
    }
    ExitCode::SUCCESS
}
