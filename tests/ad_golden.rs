//! Golden files of printed AD output (`tests/golden/`), raw as the
//! transforms emit it (before any simplification). A change to a rule shows
//! up as a readable diff; after checking it, bless the new output with
//! `INSTA_UPDATE=always cargo test --test ad_golden` (or `cargo insta review`).

use adjit::ad;
use adjit::ir::Module;
use adjit::ir::text::{parse_module, print_function};

fn program(file: &str) -> Module {
    let path = format!(
        "{}/examples/programs/{file}.adj",
        env!("CARGO_MANIFEST_DIR")
    );
    let source = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let (module, _) = parse_module(&source).unwrap_or_else(|e| panic!("{path}: {e}"));
    module
}

fn printed_grad(file: &str, func: &str, wrt: &[usize]) -> String {
    let (module, name) = ad::grad(&program(file), func, wrt).unwrap();
    adjit::ir::verify_module(&module).unwrap();
    print_function(module.get(&name).unwrap())
}

macro_rules! golden {
    ($name:literal, $value:expr) => {
        insta::with_settings!({ snapshot_path => "golden", prepend_module_to_snapshot => false }, {
            insta::assert_snapshot!($name, $value);
        })
    };
}

#[test]
fn seed2_gradient() {
    golden!("seed2_grad", printed_grad("seed2", "seed2", &[0, 1]));
}

#[test]
fn rosen_gradient() {
    golden!("rosen_grad", printed_grad("rosen", "rosen", &[0]));
}

/// The gradient as the CLI shows it: AD, then the optimiser.
fn printed_optimised_grad(file: &str, func: &str, wrt: &[usize]) -> String {
    let (module, name) = ad::grad(&program(file), func, wrt).unwrap();
    let module = adjit::opt::optimize(&module, &name).unwrap();
    adjit::ir::verify_module(&module).unwrap();
    print_function(module.get(&name).unwrap())
}

#[test]
fn seed2_optimised_gradient() {
    golden!(
        "seed2_grad_opt",
        printed_optimised_grad("seed2", "seed2", &[0, 1])
    );
}

#[test]
fn rosen_optimised_gradient() {
    golden!(
        "rosen_grad_opt",
        printed_optimised_grad("rosen", "rosen", &[0])
    );
}
