//! Commands between builder and ring file: write_ring (builder -> ring),
//! write_builder (ring -> builder, lossy, for a lost builder) and version.

use swirl_ring::builder::RingBuilder;

use super::opts::{parse, Spec};
use super::rebalance::format_version;
use super::reports::current_ring;
use super::store::{self, now_secs};
use super::{CmdResult, Ctx, Exit, Fail};

const WRITE_RING_SPECS: &[Spec] = &[
    Spec {
        short: None,
        long: "format-version",
        takes_value: true,
    },
    Spec {
        short: None,
        long: "dev-id-bytes",
        takes_value: true,
    },
];

/// `write_ring [--format-version 1|2] [--dev-id-bytes 2|4]`: writes the ring
/// file (and a copy in backups/) from the builder as it is.
pub fn write_ring(ctx: &Ctx<'_>, b: &RingBuilder) -> CmdResult {
    let p = parse(ctx.args, WRITE_RING_SPECS)?;
    if let Some(extra) = p.positional.first() {
        return Err(Fail::new(format!("write_ring takes no argument {extra:?}")));
    }
    let format = format_version(p.get("format-version"))?;
    if b.devs().iter().all(Option::is_none) {
        return Err(Fail::new("Unable to write empty ring."));
    }
    let mut ring = current_ring(b);
    if let Some(bytes) = p.get("dev-id-bytes") {
        let n: u8 = match bytes {
            "2" => 2,
            "4" => 4,
            other => {
                return Err(Fail::new(format!(
                    "option --dev-id-bytes: invalid choice: {other:?} (choose from '2', '4')"
                )))
            }
        };
        if format != 2 {
            return Err(Fail::new("--dev-id-bytes needs --format-version 2"));
        }
        let max_id = b.devs().len().saturating_sub(1);
        if n == 2 && max_id >= 0xffff {
            return Err(Fail::new(format!(
                "device id {max_id} does not fit in 2 bytes"
            )));
        }
        ring.dev_id_bytes = n;
    }
    if ring.replica2part2dev.is_empty() {
        eprintln!(
            "WARNING: Writing a ring with no partition assignments but with devices; \
             did you forget to run \"rebalance\"?"
        );
    }
    let bytes = store::ring_bytes(&ring, &ctx.paths.ring, format)?;
    store::write_with_backup(&ctx.paths, &ctx.paths.ring, &bytes, now_secs())?;
    Ok(Exit::Success)
}

/// `<ring.gz> write_builder [min_part_hours]`: a builder from a ring file.
/// The ring does not record min_part_hours or move history; the default 24
/// hours is printed as a warning.
pub fn write_builder(ctx: &Ctx<'_>) -> CmdResult {
    if ctx.paths.builder.exists() {
        return Err(Fail::new(format!(
            "Cowardly refusing to overwrite existing Ring Builder file: {}",
            ctx.paths.builder.display()
        )));
    }
    let min_part_hours = match ctx.args.first() {
        Some(v) => v.parse().map_err(|_| {
            Fail::new(format!(
                "invalid min_part_hours {v:?}: must be a non-negative integer"
            ))
        })?,
        None => {
            eprintln!(
                "WARNING: default min_part_hours may not match the value in the lost builder."
            );
            24
        }
    };
    let (ring, _) = store::load_ring(&ctx.paths.ring).map_err(|e| {
        Fail::new(format!(
            "cannot read ring file {}: {e}",
            ctx.paths.ring.display()
        ))
    })?;
    let mut b = RingBuilder::from_ring(&ring, min_part_hours)?;
    store::save_builder(&ctx.paths.builder, &mut b)?;
    Ok(Exit::Success)
}

/// `<ring.gz> version`: the ring file's format and build version.
pub fn version(ctx: &Ctx<'_>) -> CmdResult {
    let (ring, opts) = store::load_ring(&ctx.paths.ring).map_err(|e| {
        Fail::new(format!(
            "cannot read ring file {}: {e}",
            ctx.paths.ring.display()
        ))
    })?;
    println!(
        "{}: Serialization version: {} ({}-byte IDs), build version: {}",
        ctx.paths.ring.display(),
        opts.format_version,
        ring.dev_id_bytes,
        ring.version.unwrap_or(0)
    );
    Ok(Exit::Success)
}
