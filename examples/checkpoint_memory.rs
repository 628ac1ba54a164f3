//! The memory and time trade-off of checkpointing, measured on the spring
//! gradient: for trip counts T from 10 to 10⁵ and each policy, the
//! workspace of the compiled gradient (fixed at compile time) and the time
//! of one gradient call (best of a few).
//!
//! ```text
//! cargo run --release --example checkpoint_memory
//! ```

use adjit::ir::Type;
use adjit::ir::text::{parse_module, print_module};
use adjit::jit::{self, ArgMut, ArgRef, Options};
use adjit_workloads::spring;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/programs/spring.adj");
    let (bundled, _) =
        parse_module(&std::fs::read_to_string(path)?).map_err(|e| format!("{e:?}"))?;
    let text = print_module(&bundled).replace(", checkpoint=binomial(32)", "");
    let n = spring::BENCH.masses;
    let types = vec![
        Type::f64(&[n - 1]),
        Type::f64(&[n]),
        Type::f64(&[n]),
        Type::f64(&[n]),
        Type::f64(&[]),
    ];
    let policies = [
        "all",
        "every(32)",
        "every(√T)",
        "binomial(8)",
        "binomial(32)",
    ];
    println!("spring gradient (N = {n}), workspace bytes and time per call, by trip count T");
    println!();
    print!("| T |");
    for p in policies {
        print!(" {p} |");
    }
    println!();
    println!("|---|{}", "---|".repeat(policies.len()));
    for steps in [10usize, 100, 1000, 10_000, 100_000] {
        let config = spring::Config {
            steps,
            ..spring::BENCH
        };
        let inp = spring::inputs(config, 1);
        let dt = [config.dt];
        print!("| {steps} |");
        for policy in policies {
            let attr = match policy {
                "all" => String::new(),
                "every(√T)" => format!(", checkpoint=every({})", (steps as f64).sqrt().ceil()),
                p => format!(", checkpoint={p}"),
            };
            let src = text
                .replace("length=1000", &format!("length={steps}"))
                .replace("xs=()", &format!("xs=(){attr}"));
            let (m, _) = parse_module(&src).map_err(|e| format!("{e:?}"))?;
            let (gm, gf) = adjit::ad::grad(&m, "spring", &[0, 1, 2])?;
            let gm = adjit::opt::optimize(&gm, &gf)?;
            let opts = Options {
                verify: false,
                ..Options::default()
            };
            let c = jit::compile_for_with(&gm, &gf, &types, &opts)?;
            let mut ws = c.workspace();
            let (mut loss, mut dk, mut dv, mut dx) =
                ([0.0], vec![0.0; n - 1], vec![0.0; n], vec![0.0; n]);
            let mut best = f64::INFINITY;
            let runs = if steps >= 10_000 { 3 } else { 20 };
            for _ in 0..runs {
                let t = Instant::now();
                c.call_into(
                    &[
                        ArgRef::F64(&inp.k),
                        ArgRef::F64(&inp.v0),
                        ArgRef::F64(&inp.x0),
                        ArgRef::F64(&inp.target),
                        ArgRef::F64(&dt),
                    ],
                    &mut [
                        ArgMut::F64(&mut loss),
                        ArgMut::F64(&mut dk),
                        ArgMut::F64(&mut dv),
                        ArgMut::F64(&mut dx),
                    ],
                    &mut ws,
                )?;
                best = best.min(t.elapsed().as_secs_f64());
            }
            print!(" {} B, {} |", c.workspace_size(), human(best));
        }
        println!();
    }
    Ok(())
}

fn human(seconds: f64) -> String {
    if seconds < 1e-3 {
        format!("{:.0} µs", seconds * 1e6)
    } else {
        format!("{:.1} ms", seconds * 1e3)
    }
}
