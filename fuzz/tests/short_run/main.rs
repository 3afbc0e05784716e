//! The test suite's short fuzz run: every target gets its seeds, the crash
//! reproducers under `fuzz/regressions/<target>/`, and
//! `SWIRL_FUZZ_INPUTS` (default 40,000) structured-random mutations of them,
//! from a fixed seed (`SWIRL_FUZZ_SEED` picks another). A panic fails the
//! run with the input that caused it; so does an input that allocates more
//! than its target's bound at any moment (see `bound`).
//! `SWIRL_FUZZ_VERBOSE=1` prints each input before running it.

mod alloc;
mod mutate;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::PathBuf;
use std::sync::Mutex;

use rand::SeedableRng;
use swirl_fuzz::Target;

#[global_allocator]
static ALLOC: alloc::Counting = alloc::Counting;

/// One target at a time, so that the allocation peak is the input's own.
static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());

/// Longest mutated input (the long run's `-max_len` is larger).
const MAX_LEN: usize = 16 * 1024;

/// Hard cap on what one input may allocate: past it the allocation fails.
const HARD_CAP: usize = 1 << 30;

/// The most one input of `target` may allocate at once, for an input of
/// `len` bytes: a constant for the parsers' fixed buffers and caps (64 KiB
/// pieces of decompressed data, 1 MiB tar metadata records), plus a multiple
/// of the input for what grows with it (a ring file inflates up to 1,032
/// times; decoding, checking and re-encoding hold a few copies).
fn bound(target: &str, len: usize) -> usize {
    let per_byte = match target {
        "ring" | "builder" => 8 * 1032,
        _ => 64,
    };
    (8 << 20) + per_byte * len
}

/// The least share of mutations (numerator, denominator) a target must
/// accept: below it the mutations no longer exercise what lies behind the
/// parser. Set well under the lowest measured share (ring files, whose
/// gzip CRC and JSON turn most mutations away: about 1 in 250).
const MIN_ACCEPTED_OF: (usize, usize) = (1, 1000);

fn inputs() -> usize {
    std::env::var("SWIRL_FUZZ_INPUTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(40_000)
}

fn rng_seed() -> u64 {
    std::env::var("SWIRL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0x5eed)
}

/// Reproducers of bugs the fuzzing found (each fixed), kept as files.
fn regressions(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("regressions")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut files: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    files.sort();
    files
        .into_iter()
        .filter_map(|p| Some((p.display().to_string(), std::fs::read(&p).ok()?)))
        .collect()
}

fn hex(d: &[u8]) -> String {
    d.iter().map(|b| format!("{b:02x}")).collect()
}

fn run(name: &str) {
    let _one = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let Some(target): Option<&Target> = swirl_fuzz::target(name) else {
        panic!("no target named {name}");
    };
    let verbose = std::env::var_os("SWIRL_FUZZ_VERBOSE").is_some();
    let seeds = swirl_fuzz::seeds::for_target(name);
    assert!(!seeds.is_empty(), "{name} has no seeds");
    let mut all: Vec<(String, Vec<u8>)> = seeds
        .iter()
        .enumerate()
        .map(|(i, s)| (format!("seed {i}"), s.clone()))
        .collect();
    all.extend(regressions(name));
    let saved = all.len();
    let pool: Vec<Vec<u8>> = all.iter().map(|(_, d)| d.clone()).collect();
    let seed = rng_seed();
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed ^ name.len() as u64);
    for i in 0..inputs() {
        all.push((
            format!("mutation {i} (SWIRL_FUZZ_SEED={seed})"),
            mutate::input(&mut rng, &pool, MAX_LEN),
        ));
    }
    let mut worst = (0usize, 0usize);
    // Inputs run to the end, and of those, the ones the target accepted
    // (got past its parser): saved inputs (seeds, reproducers), mutations.
    let mut executed = 0usize;
    let (mut saved_ok, mut mutations_ok) = (0usize, 0usize);
    swirl_fuzz::take_accepted();
    for (i, (what, data)) in all.iter().enumerate() {
        if verbose {
            eprintln!("{name} {what}: {}", hex(data));
        }
        let mut outcome = Ok(());
        let peak = alloc::peak_of(HARD_CAP, || {
            outcome = catch_unwind(AssertUnwindSafe(|| (target.run)(data)));
        });
        if let Err(e) = outcome {
            eprintln!("{name}: {what} panicked; input: {}", hex(data));
            std::panic::resume_unwind(e);
        }
        let limit = bound(name, data.len());
        assert!(
            peak <= limit,
            "{name}: {what} allocated {peak} bytes at once (bound {limit}); input: {}",
            hex(data)
        );
        if peak > worst.0 {
            worst = (peak, data.len());
        }
        executed += 1;
        if swirl_fuzz::take_accepted() {
            if i < saved {
                saved_ok += 1;
            } else {
                mutations_ok += 1;
            }
        }
    }
    let mutations = all.len() - saved;
    eprintln!(
        "{name}: {executed} inputs run, accepted {saved_ok}/{saved} saved and \
         {mutations_ok}/{mutations} mutations; largest allocation peak {} bytes \
         (input of {} bytes)",
        worst.0, worst.1
    );
    // Not vacuous: every input ran, and both the saved inputs (some of
    // which are meant to be refused) and the mutations reach the checks
    // behind the parser.
    assert_eq!(executed, saved + inputs(), "{name}: inputs were skipped");
    assert!(saved_ok > 0, "{name}: every seed and reproducer is refused");
    assert!(
        mutations_ok > 0 && mutations_ok * MIN_ACCEPTED_OF.1 >= mutations * MIN_ACCEPTED_OF.0,
        "{name}: only {mutations_ok} of {mutations} mutations got past the parser"
    );
}

macro_rules! targets {
    ($($name:ident),* $(,)?) => {
        $(
            #[test]
            fn $name() {
                run(stringify!($name));
            }
        )*

        #[test]
        fn every_target_is_run() {
            let mut tested = [$(stringify!($name)),*];
            tested.sort_unstable();
            let mut all: Vec<&str> = swirl_fuzz::TARGETS.iter().map(|t| t.name).collect();
            all.sort_unstable();
            assert_eq!(tested.to_vec(), all);
        }
    };
}

targets!(
    request_path,
    listing_params,
    headers,
    range,
    conditional,
    acl,
    slo_manifest,
    tar,
    bulk_delete,
    raw_request,
    backend_bodies,
    ring,
    builder,
);
