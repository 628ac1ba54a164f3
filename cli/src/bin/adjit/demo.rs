//! `adjit` with no arguments: logistic regression fitted by minibatch
//! stochastic gradient descent on the JIT-compiled gradient of
//! `examples/programs/logreg.adj`, then the same gradient timed on the
//! hand-written code, adjit's tape and the interpreter.
//!
//! The data come from the workload generator (`adjit_workloads::logreg`):
//! labels drawn from a hidden linear model, so accuracy on held-out samples
//! is the measure of the fit. Everything is deterministic but the times.

use crate::bench::{fmt_secs, measure};
use crate::error::CliError;
use crate::program;
use adjit::ir::interp::Interpreter;
use adjit::ir::{Tensor, Type};
use adjit::jit::{ArgMut, ArgRef};
use adjit_workloads::{logreg, taped};
use indicatif::{ProgressBar, ProgressStyle};
use std::time::{Duration, Instant};

/// Samples per minibatch (the compiled gradient's `n`).
const BATCH: usize = 256;
/// Training samples (80 minibatches), held-out samples, features.
const TRAIN: usize = 80 * BATCH;
const TEST: usize = 5000;
const FEATURES: usize = 32;
/// Gradient steps (each one call of the compiled gradient).
const STEPS: usize = 100_000;
/// The first step size, below 2/L for L ≈ ¼·λ_max(XᵀX/B) + λ ≈ 0.4 here;
/// step t uses LEARNING_RATE/√(1 + t/1000), so that the minibatch noise
/// fades and the loss keeps going down.
const LEARNING_RATE: f64 = 1.0;
/// Steps at which the loss is printed.
const REPORT_AT: [usize; 6] = [0, 10, 100, 1000, 10_000, STEPS];

fn eval_err(e: impl std::fmt::Display) -> CliError {
    CliError::Eval(e.to_string())
}

/// The share of samples whose predicted class (σ(x·w) > ½) is the label.
fn accuracy(x: &[f64], y: &[f64], w: &[f64]) -> f64 {
    let right = x
        .chunks_exact(w.len())
        .zip(y)
        .filter(|(row, yi)| {
            let z: f64 = row.iter().zip(w).map(|(a, b)| a * b).sum();
            (z > 0.0) == (**yi > 0.5)
        })
        .count();
    right as f64 / y.len().max(1) as f64
}

/// Runs the demo.
pub fn run() -> Result<(), CliError> {
    let source = include_str!("../../../../examples/programs/logreg.adj");
    let p = program::from_source("examples/programs/logreg.adj", source)?;
    let f = p.function(None)?;
    let all = logreg::inputs(TRAIN + TEST, FEATURES, 7).map_err(eval_err)?;
    let (x, x_test) = all.x.split_at(TRAIN * FEATURES);
    let (y, y_test) = all.y.split_at(TRAIN);
    let mut w = all.w.clone();

    println!(
        "adjit demo: logistic regression ({TRAIN} samples, {FEATURES} features, {TEST} held out)\n\
         fitted by {STEPS} steps of minibatch gradient descent ({BATCH} samples a step) on\n\
         the JIT-compiled gradient of examples/programs/logreg.adj.\n"
    );
    let start = Instant::now();
    let (grad_module, grad_name) = adjit::ad::grad(&p.module, f.name(), &[0]).map_err(eval_err)?;
    let grad_module = adjit::opt::optimize(&grad_module, &grad_name).map_err(eval_err)?;
    let types = [
        Type::f64(&[FEATURES]),
        Type::f64(&[BATCH, FEATURES]),
        Type::f64(&[BATCH]),
    ];
    let compiled = adjit::jit::compile_for(&grad_module, &grad_name, &types).map_err(eval_err)?;
    println!(
        "@{grad_name}: differentiated, optimised and compiled in {}\n",
        fmt_secs(start.elapsed().as_secs_f64())
    );

    // Training: one compiled gradient call per step, through a reused
    // workspace (no allocation per call).
    let mut ws = compiled.workspace();
    let mut loss = [0.0];
    let mut grad = vec![0.0; FEATURES];
    println!(
        "{:>8}  {:>10}  {:>9}  {:>9}",
        "step", "loss", "train", "held out"
    );
    let bar = ProgressBar::new(STEPS as u64);
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} gradient calls ({per_sec})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let start = Instant::now();
    let batches = TRAIN / BATCH;
    for step in 0..=STEPS {
        if REPORT_AT.contains(&step) {
            // The loss on the whole training set, by the hand-written code.
            let full = logreg::value(x, y, &w).map_err(eval_err)?;
            bar.suspend(|| {
                println!(
                    "{step:>8}  {full:>10.6}  {:>8.1}%  {:>8.1}%",
                    100.0 * accuracy(x, y, &w),
                    100.0 * accuracy(x_test, y_test, &w)
                )
            });
        }
        if step == STEPS {
            break;
        }
        let b = step % batches;
        compiled
            .call_into(
                &[
                    ArgRef::F64(&w),
                    ArgRef::F64(&x[b * BATCH * FEATURES..(b + 1) * BATCH * FEATURES]),
                    ArgRef::F64(&y[b * BATCH..(b + 1) * BATCH]),
                ],
                &mut [ArgMut::F64(&mut loss), ArgMut::F64(&mut grad)],
                &mut ws,
            )
            .map_err(eval_err)?;
        let rate = LEARNING_RATE / (1.0 + step as f64 / 1000.0).sqrt();
        for (wi, gi) in w.iter_mut().zip(&grad) {
            *wi -= rate * gi;
        }
        if step % 1000 == 999 {
            bar.inc(1000);
        }
    }
    let train_time = start.elapsed();
    bar.finish_and_clear();
    println!(
        "(accuracy: the labels are drawn from a logistic model whose logits have unit\n\
         variance, so even the true model gets only about two in three right)"
    );
    println!(
        "\n{STEPS} gradient calls in {} ({} per call, with the update)\n",
        fmt_secs(train_time.as_secs_f64()),
        fmt_secs(train_time.as_secs_f64() / STEPS as f64)
    );

    // The same gradient, at the fitted weights on the first minibatch, four
    // ways.
    let (x, y) = (&x[..BATCH * FEATURES], &y[..BATCH]);
    let budget = Duration::from_millis(400);
    let jit = measure(budget, || {
        let _ = compiled.call_into(
            &[
                ArgRef::F64(std::hint::black_box(&w)),
                ArgRef::F64(x),
                ArgRef::F64(y),
            ],
            &mut [ArgMut::F64(&mut loss), ArgMut::F64(&mut grad)],
            &mut ws,
        );
    });
    let hand = measure(budget, || {
        let _ = logreg::value_and_grad(x, y, std::hint::black_box(&w), &mut grad);
    });
    let mut tape_ws = taped::Workspace::new();
    let tape = measure(budget, || {
        let _ = taped::logreg(&mut tape_ws, x, y, std::hint::black_box(&w), &mut grad);
    });
    let interp = Interpreter::new(&grad_module);
    let args = [
        Tensor::f64(&[FEATURES], w.clone()).map_err(eval_err)?,
        Tensor::f64(&[BATCH, FEATURES], x.to_vec()).map_err(eval_err)?,
        Tensor::f64(&[BATCH], y.to_vec()).map_err(eval_err)?,
    ];
    interp.eval(&grad_name, &args).map_err(eval_err)?;
    let interpreted = measure(budget, || {
        let _ = interp.eval(&grad_name, std::hint::black_box(&args));
    });
    println!("the same gradient (loss and ∂loss/∂w on {BATCH} samples), median time per call:");
    println!(
        "  {:<28} {:>10}",
        "JIT-compiled (adjit)",
        fmt_secs(jit.median)
    );
    for (name, t) in [
        ("hand-written Rust", hand),
        ("adjit's tape (reverse mode)", tape),
        ("adjit's interpreter", interpreted),
    ] {
        let ratio = t.median / jit.median;
        let says = if ratio >= 1.0 {
            format!("the JIT is {ratio:.1}x faster")
        } else {
            format!("the JIT takes {:.2}x its time", 1.0 / ratio)
        };
        println!("  {name:<28} {:>10}   {says}", fmt_secs(t.median));
    }
    println!("\nMore: `adjit bench FILE --grad`, `cargo bench` (BENCHMARKS.md).");
    Ok(())
}
