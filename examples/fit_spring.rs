//! Fitting simulation parameters by gradient descent (Adam) through a whole
//! differentiable simulation: the bundled `spring` program
//! (`examples/programs/spring.adj`, a `scan` of 1000 symplectic Euler steps
//! of a 32-mass chain whose loss compares the final positions to a target)
//! is given targets made by simulating with known stiffnesses, then the
//! stiffnesses are recovered from a start up to 30% off.
//!
//! The gradient with respect to the stiffnesses `k` comes from
//! `adjit::ad::grad`, is simplified by `adjit::opt::optimize` and compiled
//! once; its reverse sweep uses the program's binomial checkpointing, so the
//! workspace holds a few dozen states, not 1000. The optimisation loop
//! allocates nothing: every call goes through `call_into` with one reused
//! workspace and fixed output buffers.
//!
//! `cargo run --release --example fit_spring`

use adjit::ir::Type;
use adjit::ir::text::parse_module;
use adjit::jit::{self, ArgMut, ArgRef};
use adjit_workloads::spring;
use std::time::Instant;

/// Final positions as a function of the parameters, added next to the
/// bundled program so that the targets come from the very simulation that
/// is fitted: the exact stiffnesses reach zero loss.
const FINAL_POSITIONS: &str = "
func @final_positions(%k: f64[n-1], %v0: f64[n], %x0: f64[n], %dt: f64) -> f64[n] {
  %xT: f64[n], %vT: f64[n] = scan @step, length=1000, consts=(%k, %dt), carry=(%x0, %v0), xs=()
  return %xT
}
";

/// Recorded experiments fitted at once.
const EXPERIMENTS: u64 = 3;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/programs/spring.adj");
    let src = std::fs::read_to_string(path)? + FINAL_POSITIONS;
    let (module, _) = parse_module(&src).map_err(|e| e.render("spring.adj", &src))?;

    // One final state does not pin down the stiffnesses: total momentum
    // makes the sum of the final positions independent of k, which leaves
    // 31 equations for 31 unknowns, and they have other roots: fitted to one
    // experiment the loss falls by 7 orders while k stays 0.17 off. Several
    // recorded experiments (different initial states, same chain) make the
    // fit overdetermined, so its minimum is the truth.
    let truth = spring::inputs(spring::BENCH, 1).k;
    let n = spring::BENCH.masses;
    let dt = [spring::BENCH.dt];
    let vec_n = Type::f64(&[n]);
    let simulate = jit::compile_for(
        &module,
        "final_positions",
        &[
            Type::f64(&[n - 1]),
            vec_n.clone(),
            vec_n.clone(),
            Type::f64(&[]),
        ],
    )?;
    let mut sim_ws = simulate.workspace();
    let mut experiments = Vec::new();
    for seed in 1..=EXPERIMENTS {
        let inp = spring::inputs(spring::BENCH, seed);
        let mut target = vec![0.0; n];
        simulate.call_into(
            &[
                ArgRef::F64(&truth),
                ArgRef::F64(&inp.v0),
                ArgRef::F64(&inp.x0),
                ArgRef::F64(&dt),
            ],
            &mut [ArgMut::F64(&mut target)],
            &mut sim_ws,
        )?;
        experiments.push((inp.x0, inp.v0, target));
    }

    let (gm, gf) = adjit::ad::grad(&module, "spring", &[0])?;
    let gm = adjit::opt::optimize(&gm, &gf)?;
    let types = [
        Type::f64(&[n - 1]),
        vec_n.clone(),
        vec_n.clone(),
        vec_n,
        Type::f64(&[]),
    ];
    let grad = jit::compile_for(&gm, &gf, &types)?;
    let mut ws = grad.workspace();

    // Start 30% off the truth, spring by spring.
    let mut k: Vec<f64> = truth
        .iter()
        .enumerate()
        .map(|(i, t)| t * (1.0 + 0.3 * (1.7 * i as f64).sin()))
        .collect();
    let (mut loss, mut dk) = ([0.0], vec![0.0; n - 1]);
    let mut total = vec![0.0; n - 1];
    let (mut m, mut v) = (vec![0.0; n - 1], vec![0.0; n - 1]);
    let (b1, b2) = (0.9f64, 0.999f64);
    let iterations: i32 = 2000;
    let start = Instant::now();
    println!(" iter          loss   max |k - k*|");
    for it in 1..=iterations {
        let mut sum = 0.0;
        total.fill(0.0);
        for (x0, v0, target) in &experiments {
            grad.call_into(
                &[
                    ArgRef::F64(&k),
                    ArgRef::F64(v0),
                    ArgRef::F64(x0),
                    ArgRef::F64(target),
                    ArgRef::F64(&dt),
                ],
                &mut [ArgMut::F64(&mut loss), ArgMut::F64(&mut dk)],
                &mut ws,
            )?;
            sum += loss[0];
            for (t, d) in total.iter_mut().zip(&dk) {
                *t += d;
            }
        }
        if it == 1 || it % 200 == 0 {
            println!("{it:5} {sum:13.4e} {:14.3e}", max_error(&k, &truth));
        }
        // Adam with a decaying step: a fixed step keeps kicking the
        // iterate out of the minimum once the gradient is tiny.
        let lr = 0.01 * 0.9995f64.powi(it);
        let (c1, c2) = (1.0 - b1.powi(it), 1.0 - b2.powi(it));
        for (((ki, mi), vi), g) in k.iter_mut().zip(&mut m).zip(&mut v).zip(&total) {
            *mi = b1 * *mi + (1.0 - b1) * g;
            *vi = b2 * *vi + (1.0 - b2) * g * g;
            *ki -= lr * (*mi / c1) / ((*vi / c2).sqrt() + 1e-12);
        }
    }
    let elapsed = start.elapsed().as_secs_f64();
    let calls = u64::try_from(iterations)? * EXPERIMENTS;
    println!();
    println!("spring    true k   fitted k      error");
    for (i, (t, f)) in truth.iter().zip(&k).enumerate() {
        println!("{i:6} {t:9.6} {f:10.6} {:10.1e}", f - t);
    }
    println!();
    println!(
        "{calls} gradient calls in {elapsed:.2} s, {:.0} µs each",
        elapsed / calls as f64 * 1e6
    );
    // The carried state is (x, v): 2n floats per step.
    let store_all = spring::BENCH.steps * 2 * n * std::mem::size_of::<f64>();
    println!(
        "workspace {} bytes (binomial checkpointing; keeping all {} states would take {store_all})",
        grad.workspace_size(),
        spring::BENCH.steps
    );
    Ok(())
}

/// Largest absolute difference between `a` and `b`.
fn max_error(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).fold(0.0, |e, (x, y)| e.max((x - y).abs()))
}
