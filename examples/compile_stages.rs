//! Compile time per stage on large generated graphs: parsing, verification,
//! reverse-mode AD (`grad` with respect to every float parameter), each pass
//! of the optimiser (summed over its rounds), the JIT's planning
//! (instantiation, verification, flattening, fusion, buffer planning) and
//! Cranelift, in milliseconds and in microseconds per node of the input.
//!
//! ```text
//! python3 scripts/random_chain.py 100000 > chain.adj
//! python3 scripts/random_chain.py --wide 100000 > wide.adj
//! cargo run --release --example compile_stages -- chain.adj wide.adj
//! ```
//!
//! Times are CPU time of the calling thread (`CLOCK_THREAD_CPUTIME_ID`; the
//! compiler is single-threaded), so a loaded machine slows them less than
//! wall-clock time. Each file is timed `ADJIT_STAGES_REPEAT` times (3 unless
//! set) and the median of each stage printed. The JIT's two stages are its
//! own wall-clock split ([`adjit::jit::CompileStats`]) applied to the CPU
//! time of the whole compilation; the optimiser's passes likewise
//! ([`adjit::opt::PassStats::time`]), and add up to the `optimise` column less
//! the verification of its input.

use adjit::ir::text::parse_module;
use adjit::ir::{Module, verify_module};
use adjit::opt::{Options, Pass};
use std::time::Duration;

/// The stages, in the order they run.
const STAGES: [&str; 10] = [
    "parse",
    "verify",
    "AD",
    "fold",
    "simplify",
    "cse",
    "dce",
    "optimise",
    "plan",
    "cranelift",
];

/// CPU time of the calling thread since some fixed point.
struct Instant(Duration);

impl Instant {
    fn now() -> Instant {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: `ts` is a valid, writable timespec for the call's duration.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0, "clock_gettime(CLOCK_THREAD_CPUTIME_ID) failed");
        Instant(Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32))
    }

    fn elapsed(&self) -> Duration {
        Instant::now().0.saturating_sub(self.0)
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files: Vec<String> = std::env::args().skip(1).collect();
    if files.is_empty() {
        return Err("usage: compile_stages FILE.adj... (see scripts/random_chain.py)".into());
    }
    let repeat: usize = match std::env::var("ADJIT_STAGES_REPEAT") {
        Ok(s) => s.parse()?,
        Err(_) => 3,
    };
    println!(
        "| program | nodes | grad nodes (raw → optimised) | {} |",
        STAGES.join(" | ")
    );
    println!("|---|---|---|{}", "---|".repeat(STAGES.len()));
    for file in &files {
        let source = std::fs::read_to_string(file)?;
        let mut runs: Vec<[Duration; 10]> = Vec::new();
        let mut sizes = (0, 0, 0);
        for _ in 0..repeat.max(1) {
            let (t, s) = once(&source)?;
            runs.push(t);
            sizes = s;
        }
        let medians: Vec<Duration> = (0..STAGES.len())
            .map(|i| {
                let mut v: Vec<Duration> = runs.iter().map(|r| r[i]).collect();
                v.sort();
                v[v.len() / 2]
            })
            .collect();
        let name = std::path::Path::new(file)
            .file_name()
            .map_or_else(|| file.clone(), |n| n.to_string_lossy().into_owned());
        let cells: Vec<String> = medians
            .iter()
            .map(|d| {
                let ms = d.as_secs_f64() * 1e3;
                let per_node = d.as_secs_f64() * 1e6 / sizes.0.max(1) as f64;
                format!("{ms:.1} ms ({per_node:.2} µs)")
            })
            .collect();
        println!(
            "| {name} | {} | {} → {} | {} |",
            sizes.0,
            sizes.1,
            sizes.2,
            cells.join(" | ")
        );
    }
    Ok(())
}

/// The time of each stage, in the order of [`STAGES`].
type Times = [Duration; 10];

/// Nodes of the primal, the raw gradient and the optimised gradient.
type Sizes = (usize, usize, usize);

/// Runs every stage once: their times, and the node counts of the primal,
/// the raw gradient and the optimised gradient.
fn once(source: &str) -> Result<(Times, Sizes), Box<dyn std::error::Error>> {
    let mut t = [Duration::ZERO; 10];

    let start = Instant::now();
    let (module, _) = parse_module(source).map_err(|e| format!("{e:?}"))?;
    t[0] = start.elapsed();

    let start = Instant::now();
    verify_module(&module)?;
    t[1] = start.elapsed();

    let f = module.last().ok_or("no function")?;
    let primal_nodes = f.nodes().len();
    let wrt: Vec<usize> = (0..f.params().len())
        .filter(|&i| f.ty(f.params()[i]).elem.is_float())
        .collect();
    let start = Instant::now();
    let (gm, gname) = adjit::grad(&module, f.name(), &wrt)?;
    t[2] = start.elapsed();
    let raw_nodes = gm.get(&gname).ok_or("no gradient")?.nodes().len();

    let (om, opt_nodes) = optimise(&gm, &gname, &mut t)?;

    let g = om.get(&gname).ok_or("no gradient")?;
    let types = g.param_types();
    let start = Instant::now();
    let compiled = adjit::jit::compile_for(&om, &gname, &types)?;
    let cpu = start.elapsed();
    let (plan, cranelift) = (compiled.stats().plan_time, compiled.stats().codegen_time);
    let share = plan.as_secs_f64() / (plan + cranelift).as_secs_f64().max(1e-12);
    t[8] = cpu.mul_f64(share);
    t[9] = cpu.saturating_sub(t[8]);
    Ok((t, (primal_nodes, raw_nodes, opt_nodes)))
}

/// The optimiser on the gradient ([`adjit::opt::optimize_with`], default
/// options): its CPU time in `t[7]`, split over the passes in `t[3..7]` by
/// their wall-clock shares ([`adjit::opt::PassStats::time`]; the rest is
/// the verification of the input).
fn optimise(
    module: &Module,
    name: &str,
    t: &mut [Duration; 10],
) -> Result<(Module, usize), Box<dyn std::error::Error>> {
    let wall = std::time::Instant::now();
    let start = Instant::now();
    let out = adjit::opt::optimize_with(module, name, &Options::default())?;
    t[7] = start.elapsed();
    let wall = wall.elapsed().as_secs_f64().max(1e-12);
    let stats = &out.stats.functions[0];
    for p in &stats.passes {
        let i = Pass::PIPELINE
            .iter()
            .position(|&q| q == p.pass)
            .ok_or("pass")?;
        t[3 + i] += t[7].mul_f64(p.time.as_secs_f64() / wall);
        if std::env::var_os("ADJIT_STAGES_VERBOSE").is_some() {
            eprintln!(
                "round {} {}: {} -> {} nodes, {:.1} ms",
                p.round,
                p.pass,
                p.nodes_before,
                p.nodes_after,
                p.time.as_secs_f64() * 1e3
            );
        }
    }
    Ok((out.module, stats.nodes_after))
}
