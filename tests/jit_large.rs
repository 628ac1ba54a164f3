//! Large graphs compile (in time about linear in their size, by splitting the
//! generated code into functions of bounded size) and compute what the
//! interpreter does.

#[path = "jit_support/mod.rs"]
mod support;

use adjit::ir::{Tensor, interp};
use adjit::jit::{self, Options};
use std::time::Instant;
use support::*;

fn exact() -> Options {
    Options {
        strict_order: true,
        library_math: true,
        ..Options::default()
    }
}

fn run(m: &adjit::ir::Module, inputs: &[Tensor], what: &str) {
    let want = interp::eval(m, "f", inputs).unwrap();
    let t = Instant::now();
    let c = jit::compile_with(m, "f", &exact()).unwrap();
    let s = c.stats();
    eprintln!(
        "{what}: compiled in {:?} ({} functions, {} CLIF instructions, {} kernels, {} bytes of workspace)",
        t.elapsed(),
        s.functions,
        s.clif_insts,
        s.kernels.len(),
        s.workspace_bytes
    );
    assert!(s.functions > 1, "{what}: split into functions");
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let got = c.call(&refs).unwrap();
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_close(g, w, &Tol::Exact, &format!("{what}, output {i}"));
    }
}

#[test]
fn long_scalar_chain() {
    let m = random_scalar_chain(20_000, 1);
    let inputs = [Tensor::from_f64(0.3), Tensor::from_f64(-0.7)];
    run(&m, &inputs, "scalar chain of 2·10⁴");
    // With the inline math kernels (called out of line for scalars): each
    // step within a few ulps of values at most 1 in magnitude, and the chain
    // is contracting.
    let t = Instant::now();
    let c = jit::compile(&m, "f").unwrap();
    eprintln!(
        "scalar chain of 2·10⁴ with math kernels: compiled in {:?}",
        t.elapsed()
    );
    let want = interp::eval(&m, "f", &inputs).unwrap();
    let got = c.call(&[&inputs[0], &inputs[1]]).unwrap();
    for (g, w) in got.iter().zip(&want) {
        assert_close(g, w, &Tol::Rel(1e-9, 1.0), "scalar chain, math kernels");
    }
}

#[test]
fn wide_tensor_dag() {
    let m = random_wide_dag(10_000, 8, 2);
    let t = ty(adjit::ir::Elem::F64, &[8]);
    run(
        &m,
        &[tensor(&t, 1, Values::Tame), tensor(&t, 2, Values::Tame)],
        "wide DAG of 10⁴",
    );
}

/// The 10⁵-node sizes of the brief: `cargo test --release --test jit_large -- --ignored`.
#[test]
#[ignore]
fn hundred_thousand_nodes() {
    let m = random_scalar_chain(100_000, 3);
    run(
        &m,
        &[Tensor::from_f64(0.3), Tensor::from_f64(-0.7)],
        "scalar chain of 10⁵",
    );
    let m = random_wide_dag(100_000, 8, 4);
    let t = ty(adjit::ir::Elem::F64, &[8]);
    run(
        &m,
        &[tensor(&t, 1, Values::Tame), tensor(&t, 2, Values::Tame)],
        "wide DAG of 10⁵",
    );
}
