//! Helpers shared by the integration tests: the bundled programs and their
//! inputs from the workload generators.
#![allow(dead_code)]

use adjit::ir::text::parse_module;
use adjit::ir::{Module, Tensor, verify_module};
use adjit_workloads as workloads;

/// Parses and verifies `examples/programs/NAME.adj`; returns the module and
/// the entry function's name (the last function of the file).
pub fn program(name: &str) -> (Module, String) {
    let path = format!(
        "{}/examples/programs/{name}.adj",
        env!("CARGO_MANIFEST_DIR")
    );
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (module, _) =
        parse_module(&source).unwrap_or_else(|e| panic!("{}", e.render(&path, &source)));
    verify_module(&module).unwrap_or_else(|e| panic!("{path}: {e}"));
    let entry = module.last().expect("a function").name().to_string();
    (module, entry)
}

/// An `f64` tensor.
pub fn t(shape: &[usize], data: Vec<f64>) -> Tensor {
    Tensor::f64(shape, data).expect("shape matches data")
}

/// An `f64` scalar.
pub fn s(x: f64) -> Tensor {
    Tensor::from_f64(x)
}

/// The only element of a scalar result.
pub fn scalar(t: &Tensor) -> f64 {
    assert!(t.shape().is_empty(), "expected a scalar, got {}", t.ty());
    t.as_f64().expect("f64")[0]
}

/// |a - b| <= tol * max(|a|, |b|, 1e-300), with a readable failure.
pub fn assert_close(what: &str, got: f64, want: f64, tol: f64) {
    let scale = got.abs().max(want.abs()).max(1e-300);
    let err = (got - want).abs() / scale;
    assert!(
        err <= tol || got == want,
        "{what}: got {got}, want {want} (relative error {err:e} > {tol:e})"
    );
}

/// Elementwise [`assert_close`].
pub fn assert_all_close(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths differ");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert_close(&format!("{what}[{i}]"), *g, *w, tol);
    }
}

/// Inputs for the bundled logreg program (parameter order w, X, y).
pub fn logreg_inputs(
    n: usize,
    d: usize,
    seed: u64,
) -> (workloads::logreg::LogregInputs, Vec<Tensor>) {
    let inp = workloads::logreg::inputs(n, d, seed).unwrap();
    let args = vec![
        t(&[d], inp.w.clone()),
        t(&[n, d], inp.x.clone()),
        t(&[n], inp.y.clone()),
    ];
    (inp, args)
}

/// Inputs for the bundled spring program (parameter order k, v0, x0, target, dt).
pub fn spring_inputs(seed: u64) -> (workloads::spring::SpringInputs, Vec<Tensor>) {
    let inp = workloads::spring::inputs(workloads::spring::BENCH, seed);
    let n = inp.config.masses;
    let args = vec![
        t(&[n - 1], inp.k.clone()),
        t(&[n], inp.v0.clone()),
        t(&[n], inp.x0.clone()),
        t(&[n], inp.target.clone()),
        s(inp.config.dt),
    ];
    (inp, args)
}
