//! Commands that only look: the summary (no command), dispersion, validate.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use swirl_ring::builder::RingBuilder;
use swirl_ring::RingData;

use super::devices::not_rebalanced;
use super::opts::{parse, Spec};
use super::show::{device_table, timedelta, DevRow};
use super::store::{self, now_secs};
use super::{CmdResult, Ctx, Exit, Fail};

const EMPTY_RING: &str = "There are no devices in this ring, or all devices have been deleted";

/// The ring the builder stands for now, even before a first rebalance (then
/// with no assignments), as Swift's `get_ring` gives it.
pub fn current_ring(b: &RingBuilder) -> RingData {
    b.get_ring().unwrap_or_else(|_| RingData {
        devs: b.devs().to_vec(),
        replica2part2dev: Vec::new(),
        part_shift: 32 - b.part_power(),
        next_part_power: b.next_part_power(),
        version: Some(b.version()),
        dev_id_bytes: 2,
        ..Default::default()
    })
}

/// Same ring, ignoring the on-disk id width (an encoding detail).
fn same_ring(a: &RingData, b: &RingData) -> bool {
    a.devs == b.devs
        && a.replica2part2dev == b.replica2part2dev
        && a.part_shift == b.part_shift
        && a.next_part_power == b.next_part_power
        && a.version == b.version
}

/// The summary text (Swift's `default` command).
pub fn summary_text(ctx: &Ctx<'_>, b: &RingBuilder, now: u64) -> String {
    let mut s = String::new();
    let devs: Vec<_> = b.devs().iter().flatten().collect();
    let regions: BTreeSet<u32> = devs.iter().map(|d| d.region).collect();
    let zones: BTreeSet<(u32, u32)> = devs.iter().map(|d| (d.region, d.zone)).collect();
    let weighted = devs.iter().any(|d| d.weight > 0.0);
    let id = if b.has_id() { b.id() } else { "(not assigned)" };
    let _ = writeln!(
        s,
        "{}, build version {}, id {id}",
        ctx.paths.builder.display(),
        b.version()
    );
    let _ = writeln!(
        s,
        "{} partitions, {:.6} replicas, {} regions, {} zones, {} devices, {:.2} balance, {:.2} dispersion",
        b.parts(),
        b.replicas(),
        regions.len(),
        zones.len(),
        devs.len(),
        if weighted { b.get_balance() } else { 0.0 },
        b.dispersion()
    );
    let _ = writeln!(
        s,
        "The minimum number of hours before a partition can be reassigned is {} ({} remaining)",
        b.min_part_hours(),
        timedelta(b.min_part_seconds_left(now))
    );
    let _ = writeln!(
        s,
        "The overload factor is {:.2}% ({:.6})",
        b.overload() * 100.0,
        b.overload()
    );
    let ring_file = ctx.paths.ring.display();
    let current = current_ring(b);
    let mut up_to_date = false;
    if !ctx.paths.ring.exists() {
        let _ = writeln!(
            s,
            "Ring file {ring_file} not found, probably it hasn't been written yet"
        );
    } else {
        match store::load_ring(&ctx.paths.ring) {
            Err(e) => {
                let _ = writeln!(s, "Ring file {ring_file} is invalid: {e}");
            }
            Ok((on_disk, _)) if same_ring(&on_disk, &current) => {
                up_to_date = true;
                let _ = writeln!(s, "Ring file {ring_file} is up-to-date");
            }
            Ok(_) => {
                let _ = writeln!(s, "Ring file {ring_file} is obsolete");
            }
        }
    }
    let removing = b.removing();
    let mut sorted = devs.clone();
    sorted.sort_by(|x, y| {
        (x.region, x.zone, &x.ip, &x.device).cmp(&(y.region, y.zone, &y.ip, &y.device))
    });
    let rows: Vec<DevRow> = sorted
        .iter()
        .map(|d| DevRow {
            dev: d,
            parts: b.dev_parts(d.id),
            balance: if weighted { b.dev_balance(d.id) } else { 0.0 },
            flags: if removing.contains(&d.id) { "DEL" } else { "" },
        })
        .collect();
    s.push_str(&device_table(&rows));
    match b.next_part_power() {
        Some(next) if next == b.part_power() + 1 => {
            let _ = writeln!(
                s,
                "\nPreparing increase of partition power ({} -> {next})\n\
                 Relink object data on all nodes before moving on to increase_partition_power.",
                b.part_power()
            );
        }
        Some(next) if next == b.part_power() => {
            let _ = writeln!(
                s,
                "\nIncreased partition power ({} -> {next})",
                b.part_power() - 1
            );
            if !up_to_date {
                let _ = writeln!(
                    s,
                    "First run \"swirl ring-builder <builderfile> write_ring\" now and copy the updated .ring.gz file to all nodes."
                );
            }
            let _ = writeln!(
                s,
                "Clean up old object links on all nodes before moving on to finish_increase_partition_power."
            );
        }
        _ => {}
    }
    if !weighted {
        let _ = writeln!(s, "{EMPTY_RING}");
    }
    s
}

pub fn summary(ctx: &Ctx<'_>, b: &RingBuilder) -> CmdResult {
    print!("{}", summary_text(ctx, b, now_secs()));
    Ok(Exit::Success)
}

pub fn validate(b: &RingBuilder) -> CmdResult {
    b.validate()
        .map_err(|e| Fail::new(format!("Ring validation failed: {e}")))?;
    Ok(Exit::Success)
}

const DISPERSION_SPECS: &[Spec] = &[
    Spec {
        short: None,
        long: "recalculate",
        takes_value: false,
    },
    Spec {
        short: Some('v'),
        long: "verbose",
        takes_value: false,
    },
];

/// `dispersion [<tier filter>] [--verbose] [--recalculate]`: the worst tier,
/// and with -v the per-tier histogram. Exit 1 when some tier holds more
/// replicas of a partition than it should. The filter keeps tiers whose
/// name starts with a match of the regular expression (Python's `re.match`).
pub fn dispersion(ctx: &Ctx<'_>, b: RingBuilder) -> CmdResult {
    if !b.ever_rebalanced() {
        return Err(not_rebalanced(ctx));
    }
    let p = parse(ctx.args, DISPERSION_SPECS)?;
    let filter = match p.positional.as_slice() {
        [] => None,
        [re] => Some(TierFilter::new(re)?),
        more => {
            return Err(Fail::new(format!(
                "dispersion takes one tier filter, got {}",
                more.len()
            )))
        }
    };
    let report = b.dispersion_report();
    let kept: Vec<_> = report
        .graph
        .iter()
        .filter(|t| filter.as_ref().is_none_or(|f| f.matches(&t.tier)))
        .collect();
    let worst = kept.iter().filter(|t| t.dispersion > 0.0).fold(
        None::<&&swirl_ring::builder::TierDispersion>,
        |w, t| match w {
            Some(w) if w.dispersion >= t.dispersion => Some(w),
            _ => Some(t),
        },
    );
    println!(
        "Dispersion is {:.6}, Balance is {:.6}, Overload is {:.2}%",
        b.dispersion(),
        b.get_balance(),
        b.overload() * 100.0
    );
    println!(
        "Required overload is {:.6}%",
        b.get_required_overload() * 100.0
    );
    let mut status = Exit::Success;
    if let Some(w) = worst {
        status = Exit::Warning;
        println!("Worst tier is {:.6} ({})", w.dispersion, w.tier);
    }
    if p.has("verbose") && !kept.is_empty() {
        let columns = b.replicas().ceil() as usize + 1;
        let count_w = b.parts().to_string().len().max(5);
        let tier_w = kept.iter().map(|t| t.tier.len()).max().unwrap_or(0).max(30);
        let mut header = format!(
            "{:<tier_w$} {:>count_w$} {:>6} {:>6} ",
            "Tier", "Parts", "%", "Max"
        );
        header.push_str(
            &(0..columns)
                .map(|i| format!("{i:>count_w$}"))
                .collect::<Vec<_>>()
                .join(" "),
        );
        let rule = "-".repeat(header.len());
        println!("{rule}\n{header}\n{rule}");
        for t in kept {
            let counts: Vec<String> = (0..columns)
                .map(|i| format!("{:>count_w$}", t.replicas.get(i).copied().unwrap_or(0)))
                .collect();
            println!(
                "{:<tier_w$} {:>count_w$} {:>6.2} {:>6} {}",
                t.tier,
                t.placed_parts,
                t.dispersion,
                t.max_replicas,
                counts.join(" ")
            );
        }
    }
    Ok(status)
}

/// The tier filter of `dispersion`: a regular expression anchored at the
/// start of the tier name.
struct TierFilter(regex_automata::meta::Regex);

impl TierFilter {
    fn new(pattern: &str) -> Result<TierFilter, Fail> {
        regex_automata::meta::Regex::new(pattern)
            .map(TierFilter)
            .map_err(|e| Fail::new(format!("invalid tier filter {pattern:?}: {e}")))
    }

    fn matches(&self, tier: &str) -> bool {
        let input = regex_automata::Input::new(tier).anchored(regex_automata::Anchored::Yes);
        self.0.search(&input).is_some()
    }
}
