//! Random well-typed graphs (`adjit_ir::testgen`), compiled and compared
//! with the interpreter bit for bit.
//!
//! The JIT runs with `strict_order` and `library_math`, which make it
//! bit-identical by contract (reductions fold in the interpreter's order,
//! transcendentals call the interpreter's functions), so any difference is a
//! bug of fusion, planning, scheduling or lowering — not rounding. Three
//! configurations: vectorised and fused, fusion off, vectorisation off.
//! The reassociating defaults and the inline math kernels are covered op by
//! op in `tests/jit.rs` with their tolerances.

#[path = "jit_support/mod.rs"]
mod support;

use adjit::ir::instantiate::subst_type;
use adjit::ir::testgen::{GenConfig, random_module};
use adjit::ir::{Dim, Module, SizeVar, Tensor, Type, instantiate, interp};
use adjit::jit::{self, CompileError, Options};
use proptest::prelude::*;
use std::collections::HashMap;
use support::*;

const SIZES: [i64; 8] = [1, 2, 3, 4, 5, 8, 17, 33];

fn configs() -> [(&'static str, Options); 3] {
    let exact = Options {
        strict_order: true,
        library_math: true,
        verify: true,
        ..Options::default()
    };
    [
        ("fused", exact.clone()),
        (
            "unfused",
            Options {
                fusion: false,
                ..exact.clone()
            },
        ),
        (
            "scalar",
            Options {
                vectorize: false,
                ..exact
            },
        ),
    ]
}

/// Checks one random module; returns whether it was compiled (graphs with
/// `scan`/`while`, or that fail on every input, are skipped).
fn check_random(seed: u64, nodes: usize, control_flow: bool, sizes: (usize, usize)) -> bool {
    let cfg = GenConfig {
        nodes,
        symbolic: true,
        control_flow,
        odd_names: false,
    };
    let module = random_module(seed, &cfg);
    let entry = module.last().expect("an entry function");
    let name = entry.name().to_string();
    let mut binding: HashMap<SizeVar, Dim> = HashMap::new();
    binding.insert(SizeVar::from("n"), Dim::Known(SIZES[sizes.0]));
    binding.insert(SizeVar::from("m"), Dim::Known(SIZES[sizes.1]));
    let args: Vec<Type> = entry
        .param_types()
        .iter()
        .map(|t| subst_type(t, &binding).expect("small sizes"))
        .collect();
    let Ok((inst, iname)) = instantiate(&module, &name, &args) else {
        return false;
    };
    let inputs: Vec<Tensor> = args
        .iter()
        .enumerate()
        .map(|(i, t)| tensor(t, seed ^ (i as u64 * 7919), Values::Full))
        .collect();
    let Ok(want) = interp::eval(&inst, &iname, &inputs) else {
        return false;
    };
    for (cname, opts) in configs() {
        let c = match jit::compile_with(&inst, &iname, &opts) {
            Ok(c) => c,
            Err(CompileError::Unsupported {
                op: "scan" | "while",
                ..
            }) => return false,
            Err(e) => panic!("seed {seed} [{cname}]: compile error {e}\n{}", print(&inst)),
        };
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let got = c.call(&refs).unwrap();
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            let what = format!("seed {seed} nodes {nodes} sizes {sizes:?} [{cname}] output {i}");
            if std::panic::catch_unwind(|| assert_close(g, w, &Tol::Exact, &what)).is_err() {
                panic!("{what} differs; module:\n{}", print(&inst));
            }
        }
    }
    true
}

fn print(m: &Module) -> String {
    adjit::ir::text::print_module(m)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1500, failure_persistence: None, .. ProptestConfig::default() })]

    #[test]
    fn random_graphs_match_the_interpreter(
        seed in any::<u64>(),
        nodes in 4usize..40,
        n in 0usize..8,
        m in 0usize..8,
    ) {
        check_random(seed, nodes, false, (n, m));
    }

    #[test]
    fn random_graphs_with_calls_match_the_interpreter(
        seed in any::<u64>(),
        nodes in 4usize..30,
        n in 0usize..8,
        m in 0usize..8,
    ) {
        check_random(seed, nodes, true, (n, m));
    }
}

#[test]
fn most_random_graphs_are_compiled() {
    // The generator must not be skipped wholesale (e.g. every module
    // rejected by the interpreter); count how many of a fixed set run.
    let ran = (0..200)
        .filter(|&s| check_random(s, 20, false, (s as usize % 8, (s as usize / 8) % 8)))
        .count();
    assert!(
        ran >= 150,
        "only {ran} of 200 random graphs were compiled and compared"
    );
}

#[test]
fn regressions_found_by_the_random_tests() {
    // A one-element `reduce_sum` of a scalar `-0.0` (the interpreter folds
    // from `+0`, so the sum is `+0`).
    for sizes in [(4, 0), (0, 0)] {
        check_random(5904174900237278065, 19, false, sizes);
    }
}
