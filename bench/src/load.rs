//! `swirl bench [options]`: a load generator for any Swift-compatible endpoint
//! (tempauth v1 URL, user, key). One measured phase per run: PUT, GET, HEAD or
//! DELETE of objects, container listings, or a weighted mix; a progress line on
//! stderr each second; ops/s, MB/s, latency percentiles, errors by status and,
//! given the server's process ids, server CPU seconds per 1,000 operations read
//! from /proc (the figure that holds on a noisy machine).
//!
//! `swirl bench disk --dir DIR` measures the disk's N-replica fsync write limit;
//! `swirl bench floor`, the least a large object's path can cost here.
//! `bench/compare` runs the standard phases against Swift and swirl side by side.

mod args;
mod cpu;
mod disk;
mod floor;
mod histogram;
mod machine_cpu;
mod memory;
mod report;
pub(crate) mod runner;
mod setup;
mod tempurl;
mod workload;

use std::process::ExitCode;
use std::time::Duration;

use crate::error::Error;
use args::{Args, Workload};
use report::{CpuUse, Settings};
use runner::{Outcome, Plan};
use workload::{Mix, Naming, Op};

/// Entry point of `swirl bench ...` (except `swirl bench ring`).
pub fn main(argv: &[String]) -> ExitCode {
    if argv.first().map(String::as_str) == Some("disk") {
        return disk::main(&argv[1..]);
    }
    if argv.first().map(String::as_str) == Some("floor") {
        return floor::main(&argv[1..]);
    }
    let a: Args = match crate::parse_args(
        std::iter::once("swirl bench".to_string()).chain(argv.iter().cloned()),
    ) {
        Ok(a) => a,
        Err(code) => return code,
    };
    if let Err(e) = a.validate() {
        eprintln!("swirl bench: {e}");
        return ExitCode::from(2);
    }
    let rt = match crate::runtime(a.threads) {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("swirl bench: cannot start the runtime: {e}");
            return ExitCode::from(1);
        }
    };
    match rt.block_on(run(&a)) {
        Ok(o) if o.ok > 0 => ExitCode::SUCCESS,
        Ok(_) => {
            eprintln!("swirl bench: no request succeeded");
            ExitCode::from(1)
        }
        Err(e @ (Error::Usage(_) | Error::Url(..))) => {
            eprintln!("swirl bench: {e}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("swirl bench: {e}");
            ExitCode::from(1)
        }
    }
}

fn workload_op(w: Workload) -> Option<Op> {
    match w {
        Workload::Put => Some(Op::Put),
        Workload::Get => Some(Op::Get),
        Workload::Head => Some(Op::Head),
        Workload::Delete => Some(Op::Delete),
        Workload::List => Some(Op::List),
        Workload::Mixed => None,
    }
}

fn workload_name(a: &Args) -> String {
    format!("{:?}", a.workload).to_lowercase()
}

/// The processes whose CPU is counted.
fn cpu_roots(a: &Args) -> Result<cpu::Roots, Error> {
    let mut roots = cpu::Roots::new();
    if let Some(f) = &a.pids_file {
        let text = std::fs::read_to_string(f)
            .map_err(|e| Error::Usage(format!("--pids-file {}: {e}", f.display())))?;
        roots = cpu::parse_pids_file(&text)
            .map_err(|e| Error::Usage(format!("--pids-file {}: {e}", f.display())))?;
    }
    for &p in &a.pid {
        if !std::path::Path::new(&format!("/proc/{p}")).exists() {
            return Err(Error::Usage(format!("--pid {p}: no such process")));
        }
        roots.insert(p, "server".into());
    }
    Ok(roots)
}

async fn run(a: &Args) -> Result<Outcome, Error> {
    let timeout = Duration::from_secs_f64(a.timeout);
    let naming = Naming::new(&a.container, a.containers, &a.prefix).map_err(Error::Usage)?;
    let roots = cpu_roots(a)?;
    let session = match (&a.storage_url, &a.token) {
        (Some(u), Some(t)) => setup::session(u, t)?,
        _ => setup::login(&a.auth, &a.user, &a.key, timeout).await?,
    };
    let op = workload_op(a.workload);
    let mix = match op {
        Some(op) => Mix::only(op),
        None => a.mix.clone(),
    };
    let list_query = format!(
        "/{}?format=json&limit={}",
        naming.container_name(0),
        a.list_limit
    );
    let base_plan = |label: &str| Plan {
        label: label.to_string(),
        endpoint: session.endpoint.clone(),
        token: session.token.clone(),
        mix: mix.clone(),
        mixed: op.is_none(),
        concurrency: a.concurrency,
        duration: a.duration_secs().map(Duration::from_secs_f64),
        count: a.count,
        size: a.size,
        naming: naming.clone(),
        objects: a.objects,
        start: a.start,
        list_query: list_query.clone(),
        timeout,
        progress: !a.quiet,
        tempurl: None,
    };
    if op == Some(Op::Put) || op.is_none() || a.prepare {
        setup::create_containers(&session, &naming, timeout).await?;
    }
    if a.prepare && op != Some(Op::Put) {
        let have = setup::object_count(&session, &naming, timeout).await?;
        if have < a.objects {
            let size = if op == Some(Op::List) { 0 } else { a.size };
            if !a.quiet {
                eprintln!(
                    "swirl bench: preparing {} objects of {size} B (containers hold {have})",
                    a.objects
                );
            }
            let mut p = base_plan("prepare");
            p.mix = Mix::only(Op::Put);
            p.mixed = false;
            p.duration = None;
            p.count = Some(a.objects);
            p.start = 0;
            p.size = size;
            let o = runner::run(p).await;
            if o.error_count() > 0 {
                return Err(Error::Setup(format!(
                    "preparing the pool: {} PUTs failed ({})",
                    o.error_count(),
                    o.first_error.unwrap_or_default()
                )));
            }
        }
    }
    let mut plan = base_plan(&workload_name(a));
    if let Some(key) = &a.tempurl_key {
        tempurl::set_account_key(&session, key, timeout).await?;
        plan.tempurl = Some(tempurl::Signer::for_an_hour(key));
        plan.label += " (tempurl)";
    }
    let ticks = cpu::clock_ticks();
    let procs0 = cpu::all_procs();
    let server0 = (!roots.is_empty()).then(|| cpu::sample(&procs0, &roots, ticks));
    let machine0 = machine_cpu::MachineSample::now(ticks, &procs0);
    let client0 = cpu::self_cpu(ticks);
    let memory = (!roots.is_empty()).then(|| memory::PeakRss::start(roots.clone()));
    let outcome = runner::run(plan).await;
    let peak_rss = memory.map(memory::PeakRss::finish).unwrap_or_default();
    let client1 = cpu::self_cpu(ticks);
    let procs1 = cpu::all_procs();
    let (machine, kernel_threads) =
        machine0.delta(&machine_cpu::MachineSample::now(ticks, &procs1));
    let mut cpu_use = CpuUse {
        client: (client1 - client0).max(0.0),
        machine,
        kernel_threads,
        peak_rss_kib: peak_rss,
        ..CpuUse::default()
    };
    if let Some(s0) = server0 {
        let (total, by_role) = s0.delta(&cpu::sample(&procs1, &roots, ticks));
        cpu_use.server = Some(total);
        cpu_use.by_role = by_role;
    }
    let settings = Settings {
        workload: workload_name(a),
        storage_url: session.storage_url.clone(),
        concurrency: a.concurrency,
        size: a.size,
        containers: a.containers,
        objects: a.objects,
    };
    if a.json {
        println!("{}", report::to_json(&settings, &outcome, &cpu_use));
    } else {
        print!("{}", report::to_text(&settings, &outcome, &cpu_use));
    }
    Ok(outcome)
}
