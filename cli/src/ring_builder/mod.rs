//! `swirl ring-builder`: swift-ring-builder's command line over the ring
//! crate's builder. Same positional syntax, same output layout, same exit
//! codes (0 done, 1 done with a warning, 2 error). Every error is one line
//! on stderr and leaves the builder file as it was: commands change the
//! builder in memory and write it (atomically) only once everything passed.

mod devices;
mod lock;
mod opts;
mod paths;
mod rebalance;
mod reports;
mod ring_out;
mod settings;
mod show;
mod store;

use std::io::Write as _;
use std::process::ExitCode;

use swirl_ring::builder::RingBuilder;

use paths::BuilderPaths;

/// How a command that did its job ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Success,
    /// Done, but the operator should look (Swift's exit code 1).
    Warning,
}

/// A command that could not be done: the reason, printed as one line on
/// stderr; exit code 2.
#[derive(Debug)]
pub struct Fail(pub String);

impl Fail {
    pub fn new(msg: impl Into<String>) -> Fail {
        Fail(msg.into())
    }
}

impl From<swirl_ring::Error> for Fail {
    fn from(e: swirl_ring::Error) -> Fail {
        Fail(reason(&e))
    }
}

/// The ring crate's error as a reason line: syntax and builder errors carry
/// a complete sentence of their own, so they go without a category prefix.
pub fn reason(e: &swirl_ring::Error) -> String {
    match e {
        swirl_ring::Error::Syntax(m) | swirl_ring::Error::Builder(m) => m.clone(),
        other => other.to_string(),
    }
}

pub type CmdResult = Result<Exit, Fail>;

/// What a command gets: the files and the arguments after the command name.
pub struct Ctx<'a> {
    pub paths: BuilderPaths,
    pub args: &'a [String],
}

/// Every command's synopsis, in the order the usage text lists them.
const COMMANDS: &[&str] = &[
    "(no command): the summary: partitions, replicas, balance, dispersion, devices",
    "create <part_power> <replicas> <min_part_hours>",
    "add [r<region>]z<zone>-<ip>:<port>[R<r_ip>:<r_port>]/<device>_<meta> <weight> ...",
    "add --region <r> --zone <z> --ip <ip> --port <p> [--replication-ip ..] [--replication-port ..] --device <d> --weight <w> [--meta <m>]",
    "search <search-value> | search --region .. --zone .. --ip .. ...",
    "list_parts <search-value> [<search-value>] ...",
    "set_weight <search-value> <weight> [...] [--yes]",
    "set_region <search-value> <region> [...] [--yes]",
    "set_zone <search-value> <zone> [...] [--yes]",
    "set_info <search-value> <ip>:<port>[R<r_ip>:<r_port>]/<device>_<meta> [...] [--yes]",
    "remove <search-value> [<search-value>] ... [--yes]",
    "rebalance [--force] [--seed <n>] [--format-version 1|2] [--debug]",
    "dispersion [<tier-regex>] [--verbose]",
    "validate",
    "write_ring [--format-version 1|2] [--dev-id-bytes 2|4]",
    "write_builder [min_part_hours]   (argument: the ring file)",
    "version   (argument: the ring file)",
    "set_replicas <replicas>",
    "set_min_part_hours <hours>",
    "set_overload <overload>[%]",
    "pretend_min_part_hours_passed",
    "prepare_increase_partition_power | increase_partition_power",
    "cancel_increase_partition_power | finish_increase_partition_power",
];

fn usage() -> String {
    let mut s =
        String::from("usage: swirl ring-builder <builder_file> [<command> ...]\ncommands:\n");
    for cmd in COMMANDS {
        s.push_str(&format!("  {cmd}\n"));
    }
    s.push_str(
        "search value: d<id>r<region>z<zone>-<ip>:<port>R<r_ip>:<r_port>/<device>_<meta>, every part optional\n\
         exit codes: 0 = done, 1 = done with warnings, 2 = error\n",
    );
    s
}

fn known(cmd: &str) -> bool {
    matches!(
        cmd,
        "default"
            | "create"
            | "add"
            | "search"
            | "list_parts"
            | "set_weight"
            | "set_region"
            | "set_zone"
            | "set_info"
            | "remove"
            | "rebalance"
            | "dispersion"
            | "validate"
            | "write_ring"
            | "write_builder"
            | "version"
            | "set_replicas"
            | "set_min_part_hours"
            | "set_overload"
            | "pretend_min_part_hours_passed"
            | "prepare_increase_partition_power"
            | "increase_partition_power"
            | "cancel_increase_partition_power"
            | "finish_increase_partition_power"
    )
}

/// Commands that never write a file.
fn read_only(cmd: &str) -> bool {
    matches!(
        cmd,
        "default" | "search" | "list_parts" | "dispersion" | "validate" | "version"
    )
}

/// `swirl ring-builder <builder_file> [<command> [args...]]`.
pub fn run(args: &[String]) -> ExitCode {
    let result = dispatch(args);
    let _ = std::io::stdout().flush();
    match result {
        Ok(Exit::Success) => ExitCode::SUCCESS,
        Ok(Exit::Warning) => ExitCode::from(1),
        Err(Fail(msg)) => {
            eprintln!("{msg}");
            ExitCode::from(2)
        }
    }
}

fn dispatch(args: &[String]) -> CmdResult {
    let Some(target) = args.first() else {
        print!("{}", usage());
        return Ok(Exit::Success);
    };
    if matches!(target.as_str(), "-h" | "--help" | "help") {
        print!("{}", usage());
        return Ok(Exit::Success);
    }
    let command = args.get(1).map(String::as_str).unwrap_or("default");
    if !known(command) {
        return Err(Fail::new(format!(
            "Unknown command: {command} (run `swirl ring-builder --help` for the list)"
        )));
    }
    let paths = BuilderPaths::from_arg(target);
    if paths.builder.as_os_str() != target.as_str()
        && !matches!(command, "write_builder" | "version")
    {
        println!(
            "Note: using {} instead of {} as builder file",
            paths.builder.display(),
            target
        );
    }
    let ctx = Ctx {
        paths,
        args: args.get(2..).unwrap_or(&[]),
    };
    // `version` and `write_builder` read the ring, not the builder.
    if command == "version" {
        return ring_out::version(&ctx);
    }
    // Commands that write hold the builder's lock from before they read it
    // until they have written, so concurrent runs cannot lose a change.
    let _lock = if read_only(command) {
        None
    } else {
        Some(lock::lock(&ctx.paths)?)
    };
    if command == "write_builder" {
        return ring_out::write_builder(&ctx);
    }
    let loaded = store::load_builder(&ctx.paths.builder)?;
    if command == "create" {
        return settings::create(&ctx, loaded);
    }
    let Some(builder) = loaded else {
        return Err(Fail::new(format!(
            "Ring Builder file does not exist: {}",
            ctx.paths.builder.display()
        )));
    };
    run_command(command, &ctx, builder)
}

fn run_command(command: &str, ctx: &Ctx<'_>, b: RingBuilder) -> CmdResult {
    match command {
        "default" => reports::summary(ctx, &b),
        "add" => devices::add(ctx, b),
        "search" => devices::search(ctx, &b),
        "list_parts" => devices::list_parts(ctx, &b),
        "set_weight" => devices::set_weight(ctx, b),
        "set_region" => devices::set_region(ctx, b),
        "set_zone" => devices::set_zone(ctx, b),
        "set_info" => devices::set_info(ctx, b),
        "remove" => devices::remove(ctx, b),
        "rebalance" => rebalance::rebalance(ctx, b),
        "dispersion" => reports::dispersion(ctx, b),
        "validate" => reports::validate(&b),
        "write_ring" => ring_out::write_ring(ctx, &b),
        "set_replicas" => settings::set_replicas(ctx, b),
        "set_min_part_hours" => settings::set_min_part_hours(ctx, b),
        "set_overload" => settings::set_overload(ctx, b),
        "pretend_min_part_hours_passed" => settings::pretend_min_part_hours_passed(ctx, b),
        "prepare_increase_partition_power"
        | "increase_partition_power"
        | "cancel_increase_partition_power"
        | "finish_increase_partition_power" => settings::partition_power(command, ctx, b),
        other => Err(Fail::new(format!("Unknown command: {other}"))),
    }
}

/// `Err(usage line)` unless at least `n` arguments follow the command.
pub fn need_args(ctx: &Ctx<'_>, n: usize, usage: &str) -> Result<(), Fail> {
    if ctx.args.len() < n {
        return Err(Fail::new(format!(
            "usage: swirl ring-builder <builder_file> {usage}"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_listed_command_is_known() {
        for cmd in &COMMANDS[1..] {
            let name = cmd.split_whitespace().next().unwrap();
            assert!(known(name), "{name}");
        }
        assert!(!known("bogus"));
    }
}
