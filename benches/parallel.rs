//! Evaluation across cores: a batch of spring gradients (n = 32 masses,
//! 1000 steps, with respect to k and v0; one sample per seed) on 1 and on 2
//! threads of an `adjit::parallel::Pool`. Prints the median of several runs
//! per thread count and their ratio, and checks that both give the same
//! bits. `ADJIT_BATCH` sets the batch size (default 10^4), `ADJIT_RUNS` the
//! runs per thread count (default 5). On Linux it also prints the CPU time
//! the process used per run (from `/proc/self/stat`): on a machine loaded
//! by other work, wall times say little, but equal CPU time per run on 1
//! and 2 threads shows that the split itself costs nothing.

use adjit::ir::Type;
use adjit::ir::text::parse_module;
use adjit::jit::{self, ArgMut, ArgRef};
use adjit::parallel::{BatchArg, Pool};
use adjit_workloads::spring;
use std::time::Instant;

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// User plus system CPU time of this process in seconds, where the kernel
/// tells it (`/proc/self/stat`, in ticks of 1/100 s).
fn cpu_seconds() -> Option<f64> {
    let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
    // Fields after the command name (which is in parentheses).
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

fn main() {
    let batch = env("ADJIT_BATCH", 10_000);
    let runs = env("ADJIT_RUNS", 5).max(1);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/programs/spring.adj");
    let source = std::fs::read_to_string(path).expect("spring.adj");
    let (m, _) = parse_module(&source).expect("spring parses");
    let (gm, gf) = adjit::ad::grad(&m, "spring", &[0, 1]).expect("grad");
    let gm = adjit::opt::optimize(&gm, &gf).expect("optimize");

    let mut k = Vec::new();
    let mut v0 = Vec::new();
    let first = spring::inputs(spring::BENCH, 0);
    for seed in 0..batch as u64 {
        let inp = spring::inputs(spring::BENCH, seed);
        k.extend_from_slice(&inp.k);
        v0.extend_from_slice(&inp.v0);
    }
    let n = first.config.masses;
    let types = vec![
        Type::f64(&[n - 1]),
        Type::f64(&[n]),
        Type::f64(&[n]),
        Type::f64(&[n]),
        Type::f64(&[]),
    ];
    let c = jit::compile_for(&gm, &gf, &types).expect("compile");
    let dt = [first.config.dt];

    let mut results = Vec::new();
    let mut medians = Vec::new();
    for threads in [1, 2] {
        let mut pool = Pool::new(threads).expect("pool");
        let mut loss = vec![0.0; batch];
        let mut dk = vec![0.0; batch * (n - 1)];
        let mut dv0 = vec![0.0; batch * n];
        let mut times = Vec::new();
        let cpu_start = cpu_seconds();
        for _ in 0..runs {
            let start = Instant::now();
            pool.call_batch(
                &c,
                batch,
                &[
                    BatchArg::Stacked(ArgRef::F64(&k)),
                    BatchArg::Stacked(ArgRef::F64(&v0)),
                    BatchArg::Shared(ArgRef::F64(&first.x0)),
                    BatchArg::Shared(ArgRef::F64(&first.target)),
                    BatchArg::Shared(ArgRef::F64(&dt)),
                ],
                &mut [
                    ArgMut::F64(&mut loss),
                    ArgMut::F64(&mut dk),
                    ArgMut::F64(&mut dv0),
                ],
            )
            .expect("batch call");
            times.push(start.elapsed().as_secs_f64());
        }
        if let (Some(a), Some(b)) = (cpu_start, cpu_seconds()) {
            println!(
                "spring gradient x{batch}, {threads} thread(s): {:.3} s of CPU per run",
                (b - a) / runs as f64
            );
        }
        times.sort_by(f64::total_cmp);
        let median = times[times.len() / 2];
        println!(
            "spring gradient x{batch}, {threads} thread(s): median {:.3} s of {runs} runs (min {:.3} s, max {:.3} s)",
            median,
            times[0],
            times[times.len() - 1]
        );
        medians.push(median);
        results.push((loss, dk, dv0));
    }
    println!(
        "speed-up 2 threads / 1 thread: {:.2}x",
        medians[0] / medians[1]
    );
    assert!(
        results[0] == results[1],
        "results differ between 1 and 2 threads"
    );
    println!("results identical (bitwise) on 1 and 2 threads");
}
