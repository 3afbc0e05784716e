//! Commands that create a builder or change its parameters: create,
//! set_replicas, set_overload, set_min_part_hours,
//! pretend_min_part_hours_passed and the partition power increase steps.

use swirl_ring::builder::RingBuilder;

use super::paths::BuilderPaths;
use super::store::{self, now_secs};
use super::{need_args, CmdResult, Ctx, Exit, Fail};

fn save(ctx: &Ctx<'_>, mut b: RingBuilder) -> Result<(), Fail> {
    store::save_builder(&ctx.paths.builder, &mut b)
}

fn number<T: std::str::FromStr>(what: &str, v: &str) -> Result<T, Fail> {
    v.trim()
        .parse()
        .map_err(|_| Fail::new(format!("invalid {what} {v:?}: not a valid number")))
}

/// `create <part_power> <replicas> <min_part_hours>`. Like Swift it replaces
/// an existing builder; unlike Swift it first keeps the old one in
/// `backups/<ts>.<name>.replaced` so nothing is lost by a slip of the finger.
pub fn create(ctx: &Ctx<'_>, existing: Option<RingBuilder>) -> CmdResult {
    need_args(ctx, 3, "create <part_power> <replicas> <min_part_hours>")?;
    let part_power: u32 = number("part_power", &ctx.args[0])?;
    let replicas: f64 = number("replicas", &ctx.args[1])?;
    let min_part_hours: u32 = number("min_part_hours", &ctx.args[2])?;
    let mut b = RingBuilder::new(part_power, replicas, min_part_hours)?;
    let ts = now_secs();
    if let Some(mut old) = existing {
        let bytes = store::builder_bytes(&mut old)?;
        let replaced = with_suffix(&ctx.paths, ts, ".replaced");
        std::fs::create_dir_all(ctx.paths.backup_dir())
            .and_then(|()| store::write_atomic(&replaced, &bytes))
            .map_err(|e| {
                Fail::new(format!(
                    "cannot keep the old builder in {}: {e}",
                    replaced.display()
                ))
            })?;
        println!(
            "Replacing the existing builder file (old one kept as {})",
            replaced.display()
        );
    }
    let bytes = store::builder_bytes(&mut b)?;
    store::write_with_backup(&ctx.paths, &ctx.paths.builder, &bytes, ts)?;
    Ok(Exit::Success)
}

fn with_suffix(paths: &BuilderPaths, ts: u64, suffix: &str) -> std::path::PathBuf {
    let mut p = paths.backup_of(&paths.builder, ts).into_os_string();
    p.push(suffix);
    p.into()
}

pub fn set_replicas(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    need_args(ctx, 1, "set_replicas <replicas>")?;
    let v = &ctx.args[0];
    let replicas: f64 = v
        .trim()
        .parse()
        .ok()
        .filter(|r: &f64| r.is_finite())
        .ok_or_else(|| Fail::new(format!("\"{v}\" is not a valid number.")))?;
    if replicas < 1.0 {
        return Err(Fail::new("Replica count must be at least 1."));
    }
    b.set_replicas(replicas)?;
    println!("The replica count is now {:.6}.", b.replicas());
    println!("The change will take effect after the next rebalance.");
    save(ctx, b)?;
    Ok(Exit::Success)
}

/// `set_overload 0.1` or `set_overload 10%`; above 100% given as a plain
/// number is probably a mistake for a percentage, so it warns (exit 1).
pub fn set_overload(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    need_args(ctx, 1, "set_overload <overload>[%]")?;
    let v = &ctx.args[0];
    let (num, percent) = match v.strip_suffix('%') {
        Some(n) => (n, true),
        None => (v.as_str(), false),
    };
    let mut overload: f64 = num
        .trim()
        .parse()
        .ok()
        .filter(|o: &f64| o.is_finite())
        .ok_or_else(|| Fail::new(format!("{num:?} is not a valid number.")))?;
    if percent {
        overload *= 0.01;
    }
    if overload < 0.0 {
        return Err(Fail::new("Overload must be non-negative."));
    }
    let status = if overload > 1.0 && !percent {
        println!("!?! Warning overload is greater than 100% !?!");
        Exit::Warning
    } else {
        Exit::Success
    };
    b.set_overload(overload)?;
    println!(
        "The overload factor is now {:.2}% ({:.6})",
        b.overload() * 100.0,
        b.overload()
    );
    println!("The change will take effect after the next rebalance.");
    save(ctx, b)?;
    Ok(status)
}

pub fn set_min_part_hours(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    need_args(ctx, 1, "set_min_part_hours <hours>")?;
    let hours: u32 = ctx.args[0].parse().map_err(|_| {
        Fail::new(format!(
            "invalid min_part_hours {:?}: must be a non-negative integer",
            ctx.args[0]
        ))
    })?;
    b.set_min_part_hours(hours);
    println!(
        "The minimum number of hours before a partition can be reassigned is now set to {hours}"
    );
    save(ctx, b)?;
    Ok(Exit::Success)
}

pub fn pretend_min_part_hours_passed(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    b.pretend_min_part_hours_passed();
    save(ctx, b)?;
    Ok(Exit::Success)
}

/// prepare_/increase_/cancel_/finish_increase_partition_power.
pub fn partition_power(command: &str, ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    match command {
        "prepare_increase_partition_power" => {
            let name = ctx
                .paths
                .builder
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !name.contains("object") {
                return Err(Fail::new(
                    "Partition power increase is only supported for object rings.",
                ));
            }
            if !b.prepare_increase_partition_power()? {
                return Err(Fail::new(
                    "Ring is already prepared for partition power increase.",
                ));
            }
            let next = b.next_part_power().unwrap_or_default();
            save(ctx, b)?;
            println!("The next partition power is now {next}.");
            println!("The change will take effect after the next write_ring.");
            println!(
                "Relink existing object data on every node before increasing the partition power."
            );
        }
        "increase_partition_power" => {
            if !b.increase_partition_power() {
                return Err(Fail::new(
                    "Ring partition power cannot be increased. Either the ring was not prepared yet, \
                     or this operation has already run.",
                ));
            }
            println!("The partition power is now {}.", b.part_power());
            println!("The change will take effect after the next write_ring.");
            save(ctx, b)?;
        }
        "cancel_increase_partition_power" => {
            if !b.cancel_increase_partition_power() {
                return Err(Fail::new(
                    "Ring partition power increase cannot be canceled.",
                ));
            }
            let next = b.next_part_power().unwrap_or_default();
            save(ctx, b)?;
            println!("The next partition power is now {next}.");
            println!("The change will take effect after the next write_ring.");
        }
        _ => {
            if !b.finish_increase_partition_power() {
                return Err(Fail::new(
                    "Ring partition power increase cannot be finished.",
                ));
            }
            println!("The change will take effect after the next write_ring.");
            save(ctx, b)?;
        }
    }
    Ok(Exit::Success)
}
