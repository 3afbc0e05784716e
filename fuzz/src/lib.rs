//! Fuzz targets for every parser of untrusted bytes in swirl, as plain
//! functions `fn(&[u8])` that panic on a bug. libFuzzer runs them for long
//! runs (`fuzz/libfuzzer`, one binary per target); the test suite replays
//! their seeds and mutations of them (`tests/short_run.rs`), under a bound
//! on the memory each input may allocate. See `fuzz/README.md`.

// A target's job is to panic when a parser breaks a promise, so it states
// those promises with expect() and unwrap().
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::sync::atomic::{AtomicBool, Ordering};

pub mod input;
pub mod seeds;
pub mod targets;

/// Set by a target when its input got past the parser under test.
static ACCEPTED: AtomicBool = AtomicBool::new(false);

/// A target calls this when the input passed the parser under test and
/// reached the checks behind it. The short run counts these, so that a
/// run in which every input is turned away at the door (a parser that
/// refuses everything, seeds that no longer parse) fails instead of
/// passing for want of anything to check.
pub fn accepted() {
    ACCEPTED.store(true, Ordering::Relaxed);
}

/// Whether the input run since the last call was accepted; clears the flag.
pub fn take_accepted() -> bool {
    ACCEPTED.swap(false, Ordering::Relaxed)
}

/// One fuzz target: its name (also its libFuzzer binary's) and function.
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

/// Every target.
pub const TARGETS: [Target; 13] = [
    Target {
        name: "request_path",
        run: targets::request_path::run,
    },
    Target {
        name: "listing_params",
        run: targets::listing_params::run,
    },
    Target {
        name: "headers",
        run: targets::headers::run,
    },
    Target {
        name: "range",
        run: targets::range::run,
    },
    Target {
        name: "conditional",
        run: targets::conditional::run,
    },
    Target {
        name: "acl",
        run: targets::acl::run,
    },
    Target {
        name: "slo_manifest",
        run: targets::slo_manifest::run,
    },
    Target {
        name: "tar",
        run: targets::tar::run,
    },
    Target {
        name: "bulk_delete",
        run: targets::bulk_delete::run,
    },
    Target {
        name: "raw_request",
        run: targets::raw_request::run,
    },
    Target {
        name: "backend_bodies",
        run: targets::backend_bodies::run,
    },
    Target {
        name: "ring",
        run: targets::ring::run,
    },
    Target {
        name: "builder",
        run: targets::builder::run,
    },
];

/// The target named `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
