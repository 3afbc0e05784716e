//! Commands that find or change devices: add, search, list_parts,
//! set_weight, set_region, set_zone, set_info, remove.

use std::io::{BufRead, Write};

use swirl_ring::builder::RingBuilder;
use swirl_ring::search::{
    parse_add_value, parse_change_value, parse_search_value, parse_weight, DevFilter,
};
use swirl_ring::Device;

use super::opts::DevOpts;
use super::show::{format_device, py_float, search_table, DevRow};
use super::{need_args, reason, store, CmdResult, Ctx, Exit, Fail};

const UNCHANGED: &str = "The on-disk ring builder is unchanged.";

/// Devices (including ones marked for removal) that `filter` selects, cloned
/// so the builder can be changed while walking them.
fn matching(b: &RingBuilder, filter: &DevFilter) -> Vec<Device> {
    b.devs()
        .iter()
        .flatten()
        .filter(|d| filter.matches(d))
        .cloned()
        .collect()
}

fn search_value(v: &str) -> Result<DevFilter, Fail> {
    parse_search_value(v).map_err(Fail::from)
}

fn save(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    store::save_builder(&ctx.paths.builder, &mut b)?;
    Ok(Exit::Success)
}

/// Swift's `check_devs`: no match is an error; several matches need `--yes`
/// or a "y" typed on stdin.
fn confirm(devs: &[Device], yes: bool, what: &str) -> Result<(), Fail> {
    if devs.is_empty() {
        return Err(Fail::new(format!(
            "Search value matched 0 devices. {UNCHANGED}"
        )));
    }
    if devs.len() == 1 || yes {
        return Ok(());
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Matched more than one device:");
    for d in devs {
        let _ = writeln!(out, "    {}", format_device(d));
    }
    let _ = write!(
        out,
        "Are you sure you want to {what} these {} devices? (y/N) ",
        devs.len()
    );
    let _ = out.flush();
    drop(out);
    let mut answer = String::new();
    let read = std::io::stdin().lock().read_line(&mut answer);
    if read.is_ok() && answer.trim_end_matches(['\r', '\n']) == "y" {
        return Ok(());
    }
    // The question has no newline; end the line before the error.
    println!();
    Err(Fail::new(format!(
        "Aborting device modifications ({} devices matched; pass --yes to confirm). {UNCHANGED}",
        devs.len()
    )))
}

/// Pairs `<a> <b> <a> <b> ...`, or a usage error.
fn pairs<'a>(pos: &'a [String], usage: &str) -> Result<Vec<(&'a str, &'a str)>, Fail> {
    let chunks = pos.chunks_exact(2);
    if pos.is_empty() || !chunks.remainder().is_empty() {
        return Err(Fail::new(format!(
            "usage: swirl ring-builder <builder_file> {usage}"
        )));
    }
    Ok(chunks.map(|c| (c[0].as_str(), c[1].as_str())).collect())
}

/// `Device N already uses ip:port/device.` when another device has the
/// same address and name (Swift refuses those in add and set_info).
fn clash(b: &RingBuilder, dev: &Device) -> Result<(), Fail> {
    for other in b.devs().iter().flatten() {
        if other.id != dev.id
            && other.ip == dev.ip
            && other.port == dev.port
            && other.device == dev.device
        {
            return Err(Fail::new(format!(
                "Device {} already uses {}:{}/{}. {UNCHANGED}",
                other.id, other.ip, other.port, other.device
            )));
        }
    }
    Ok(())
}

pub fn add(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    const USAGE: &str =
        "add [r<region>]z<zone>-<ip>:<port>[R<r_ip>:<r_port>]/<device>_<meta> <weight> [...] \
                         | add --region .. --zone .. --ip .. --port .. --device .. --weight ..";
    need_args(ctx, 2, USAGE)?;
    if b.next_part_power().is_some() {
        return Err(Fail::new(
            "Partition power increase in progress. You need to finish the increase first before adding devices.",
        ));
    }
    let o = DevOpts::parse(ctx.args)?;
    let mut new_devs = Vec::new();
    if o.positional.is_empty() {
        new_devs.push(o.new_device()?);
    } else {
        if o.option_form() {
            return Err(Fail::new(format!(
                "give devices either as values or as options, not both; usage: swirl ring-builder <builder_file> {USAGE}"
            )));
        }
        for (value, weight) in pairs(&o.positional, USAGE)? {
            let parsed = parse_add_value(value)
                .map_err(|e| Fail::new(format!("{}. {UNCHANGED}", reason(&e))))?;
            if parsed.region.is_none() {
                eprintln!("WARNING: No region specified for {value}. Defaulting to region 1.");
            }
            let weight = parse_weight(weight)
                .map_err(|e| Fail::new(format!("{}. {UNCHANGED}", reason(&e))))?;
            new_devs.push(parsed.into_device(weight));
        }
    }
    for dev in new_devs {
        clash(
            &b,
            &Device {
                id: u32::MAX,
                ..dev.clone()
            },
        )?;
        let weight = dev.weight;
        let id = b
            .add_dev(dev, None)
            .map_err(|e| Fail::new(format!("{}. {UNCHANGED}", reason(&e))))?;
        let added = b
            .devs()
            .get(id as usize)
            .cloned()
            .flatten()
            .unwrap_or_default();
        println!(
            "Device {} with {} weight got id {id}",
            format_device(&added),
            py_float(weight)
        );
    }
    save(ctx, b)
}

/// The filter of a search-like command: one search value, or the options.
fn one_filter(o: &DevOpts, usage: &str) -> Result<DevFilter, Fail> {
    match o.positional.as_slice() {
        [] => Ok(o.filter()),
        [v] if !o.option_form() => search_value(v),
        _ => Err(Fail::new(format!(
            "usage: swirl ring-builder <builder_file> {usage}"
        ))),
    }
}

/// The devices selected by several search values, or by the options.
fn many_filters(b: &RingBuilder, o: &DevOpts, usage: &str) -> Result<Vec<Device>, Fail> {
    if o.positional.is_empty() {
        return Ok(matching(b, &o.filter()));
    }
    if o.option_form() {
        return Err(Fail::new(format!(
            "usage: swirl ring-builder <builder_file> {usage}"
        )));
    }
    let mut devs: Vec<Device> = Vec::new();
    for v in &o.positional {
        for d in matching(b, &search_value(v)?) {
            if !devs.iter().any(|x| x.id == d.id) {
                devs.push(d);
            }
        }
    }
    Ok(devs)
}

fn row<'a>(b: &RingBuilder, d: &'a Device) -> DevRow<'a> {
    DevRow {
        dev: d,
        parts: b.dev_parts(d.id),
        balance: b.dev_balance(d.id),
        flags: if b.removing().contains(&d.id) {
            "DEL"
        } else {
            ""
        },
    }
}

pub fn search(ctx: &Ctx<'_>, b: &RingBuilder) -> CmdResult {
    const USAGE: &str = "search <search-value> | search --region .. --zone .. --ip .. --port .. --device .. --meta .. --weight ..";
    need_args(ctx, 1, USAGE)?;
    let o = DevOpts::parse(ctx.args)?;
    let devs = matching(b, &one_filter(&o, USAGE)?);
    if devs.is_empty() {
        return Err(Fail::new("No matching devices found"));
    }
    let rows: Vec<DevRow> = devs.iter().map(|d| row(b, d)).collect();
    print!("{}", search_table(&rows));
    Ok(Exit::Success)
}

pub fn list_parts(ctx: &Ctx<'_>, b: &RingBuilder) -> CmdResult {
    const USAGE: &str =
        "list_parts <search-value> [<search-value>] ... | list_parts --region .. --zone .. ...";
    need_args(ctx, 1, USAGE)?;
    if !b.ever_rebalanced() {
        return Err(not_rebalanced(ctx));
    }
    let o = DevOpts::parse(ctx.args)?;
    let devs = many_filters(b, &o, USAGE)?;
    let ids: Vec<u32> = devs.iter().map(|d| d.id).collect();
    let parts = b.list_parts(&ids);
    if devs.is_empty() || parts.is_empty() {
        return Err(Fail::new("No matching devices found"));
    }
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "Partition   Matches");
    for (p, n) in parts {
        let _ = writeln!(out, "{p:>9}   {n:>7}");
    }
    Ok(Exit::Success)
}

/// The error of commands that need a rebalanced builder.
pub fn not_rebalanced(ctx: &Ctx<'_>) -> Fail {
    Fail::new(format!(
        "Specified builder file \"{}\" is not rebalanced yet. Please rebalance first.",
        ctx.paths.builder.display()
    ))
}

/// set_weight / set_region / set_zone: `<search-value> <new> ...` pairs, or
/// the options plus one `<new>`; `apply` changes one device.
fn set_field(
    ctx: &Ctx<'_>,
    mut b: RingBuilder,
    field: &str,
    apply: &dyn Fn(&mut RingBuilder, u32, &str) -> Result<String, Fail>,
) -> CmdResult {
    let usage = format!(
        "set_{field} <search-value> <{field}> [<search-value> <{field}>] ... [--yes] \
         | set_{field} --region .. --zone .. --ip .. ... <{field}> [--yes]"
    );
    need_args(ctx, 2, &usage)?;
    let o = DevOpts::parse(ctx.args)?;
    // Parse everything first so a bad value fails before any change; match
    // each search value when its turn comes, as Swift does.
    let jobs: Vec<(DevFilter, &str)> = if o.option_form() {
        match o.positional.as_slice() {
            [new] => vec![(o.filter(), new.as_str())],
            _ => {
                return Err(Fail::new(format!(
                    "usage: swirl ring-builder <builder_file> {usage}"
                )))
            }
        }
    } else {
        pairs(&o.positional, &usage)?
            .into_iter()
            .map(|(v, new)| Ok((search_value(v)?, new)))
            .collect::<Result<_, Fail>>()?
    };
    for (filter, new) in jobs {
        let devs = matching(&b, &filter);
        confirm(&devs, o.yes, &format!("update the {field} for"))?;
        for d in devs {
            let shown = apply(&mut b, d.id, new)?;
            println!("{} {field} set to {shown}", format_device(&d));
        }
    }
    save(ctx, b)
}

pub fn set_weight(ctx: &Ctx<'_>, b: RingBuilder) -> CmdResult {
    set_field(ctx, b, "weight", &|b, id, v| {
        let w = parse_weight(v).map_err(Fail::from)?;
        b.set_dev_weight(id, w)?;
        Ok(py_float(w))
    })
}

fn parse_u32(what: &str, v: &str) -> Result<u32, Fail> {
    v.parse().map_err(|_| {
        Fail::new(format!(
            "invalid {what} {v:?}: must be a non-negative integer"
        ))
    })
}

pub fn set_region(ctx: &Ctx<'_>, b: RingBuilder) -> CmdResult {
    set_field(ctx, b, "region", &|b, id, v| {
        let r = parse_u32("region", v)?;
        b.set_dev_region(id, r)?;
        Ok(r.to_string())
    })
}

pub fn set_zone(ctx: &Ctx<'_>, b: RingBuilder) -> CmdResult {
    set_field(ctx, b, "zone", &|b, id, v| {
        let z = parse_u32("zone", v)?;
        b.set_dev_zone(id, z)?;
        Ok(z.to_string())
    })
}

pub fn set_info(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    const USAGE: &str = "set_info <search-value> <ip>:<port>[R<r_ip>:<r_port>]/<device>_<meta> [...] [--yes] \
                         | set_info --ip .. --port .. ... --change-ip .. --change-port .. ... [--yes]";
    need_args(ctx, 2, USAGE)?;
    let o = DevOpts::parse(ctx.args)?;
    let jobs = if o.option_form() || (o.positional.is_empty() && !o.change.is_empty()) {
        if !o.positional.is_empty() {
            return Err(Fail::new(format!(
                "usage: swirl ring-builder <builder_file> {USAGE}"
            )));
        }
        if o.change.is_empty() {
            return Err(Fail::new(
                "set_info: nothing to change (give --change-ip, --change-port, ...)",
            ));
        }
        vec![(o.filter(), o.change.clone())]
    } else {
        pairs(&o.positional, USAGE)?
            .into_iter()
            .map(|(v, change)| {
                let change = parse_change_value(change).map_err(Fail::from)?;
                Ok((search_value(v)?, change))
            })
            .collect::<Result<Vec<_>, Fail>>()?
    };
    for (filter, change) in jobs {
        let devs = matching(&b, &filter);
        confirm(&devs, o.yes, "update the info for")?;
        for d in devs {
            let new = change.applied_to(&d);
            clash(&b, &new)?;
            let live = b.dev_mut_info(d.id)?;
            live.ip = new.ip.clone();
            live.port = new.port;
            live.replication_ip = new.replication_ip.clone();
            live.replication_port = new.replication_port;
            live.device = new.device.clone();
            live.meta = new.meta.clone();
            println!(
                "Device {} is now {}",
                format_device(&d),
                format_device(&new)
            );
        }
    }
    save(ctx, b)
}

pub fn remove(ctx: &Ctx<'_>, mut b: RingBuilder) -> CmdResult {
    const USAGE: &str = "remove <search-value> [<search-value>] ... [--yes] | remove --region .. --zone .. ... [--yes]";
    need_args(ctx, 1, USAGE)?;
    if b.next_part_power().is_some() {
        return Err(Fail::new(
            "Partition power increase in progress. You need to finish the increase first before removing devices.",
        ));
    }
    let o = DevOpts::parse(ctx.args)?;
    let devs = many_filters(&b, &o, USAGE)?;
    confirm(&devs, o.yes, "remove")?;
    for d in &devs {
        b.remove_dev(d.id).map_err(|e| {
            Fail::new(format!(
                "An error occurred while removing device with id {}: {e} \
                 (removing the last device of a ring? create a new ring instead). {UNCHANGED}",
                d.id
            ))
        })?;
        println!(
            "{} marked for removal and will be removed next rebalance.",
            format_device(d)
        );
    }
    save(ctx, b)
}
