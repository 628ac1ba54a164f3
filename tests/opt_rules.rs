//! Custom derivative rules survive the optimiser (`opt`, removing unused
//! functions included) and specialisation (`ir::instantiate`). The rule is
//! deliberately not the body's derivative, so the gradient shows which one
//! was used; the expected values are the rule's formula, derived by hand.

use adjit::ir::{Type, instantiate, parse_module};
use adjit::{Error, Func, ad, opt};

const RULED: &str = "\
func @sq(%x: f64[n]) -> f64[n] {
  %y: f64[n] = mul %x, %x
  return %y
}
func @sq_vjp(%x: f64[n], %dy: f64[n]) -> (f64[n], f64[n]) {
  %y: f64[n] = mul %x, %x
  %t: f64[n] = mul %x, %dy
  %tens: f64[n] = const 10.0
  %g: f64[n] = mul %t, %tens
  return %y, %g
}
rules @sq, vjp=@sq_vjp
func @unused(%x: f64) -> f64 {
  %y: f64 = sin %x
  return %y
}
func @f(%x: f64[n]) -> f64 {
  %y: f64[n] = call @sq(%x)
  %z: f64[n] = mul %y, %x
  %s: f64 = reduce_sum %z, axes=[0]
  return %s
}
";

/// `f(x) = Σ sq(x)·x` with the rule: `∂f/∂xᵢ = 10·xᵢ·xᵢ + xᵢ²` = 11·xᵢ².
fn check_rule_used(module: &adjit::ir::Module, func: &str, xs: &[f64]) -> Result<(), Error> {
    let f = Func::from_module(module.clone(), func)?;
    let n = xs.len();
    let got = f
        .grad()?
        .compile_for(&[Type::f64(&[n])])?
        .call((xs,))?
        .to_vec(0)?;
    for (g, x) in got.iter().zip(xs) {
        let want = 11.0 * x * x;
        assert!((g - want).abs() <= 1e-14 * want.abs(), "{g} {want}");
    }
    // And through ad on the module directly.
    let (m, name) = ad::grad(module, func, &[0])?;
    assert!(m.contains(&name));
    Ok(())
}

#[test]
fn optimising_keeps_the_rules_and_their_functions() -> Result<(), Error> {
    let (m, _) = parse_module(RULED)?;
    let xs = [0.5, -2.0, 3.0];
    check_rule_used(&m, "f", &xs)?;

    let all = opt::optimize_module(&m)?;
    assert!(
        all.rules("sq")
            .is_some_and(|r| r.vjp.as_deref() == Some("sq_vjp"))
    );
    check_rule_used(&all, "f", &xs)?;

    let one = opt::optimize(&m, "f")?;
    check_rule_used(&one, "f", &xs)?;

    let options = opt::Options {
        remove_unused_functions: true,
        ..Default::default()
    };
    let pruned = opt::optimize_module_with(&m, &options)?;
    assert_eq!(pruned.stats.removed_functions, ["unused"]);
    assert!(pruned.module.contains("sq_vjp"));
    check_rule_used(&pruned.module, "f", &xs)?;

    let (dce, removed) = opt::dce::remove_unused_functions(&m, &["f"]);
    assert_eq!(removed, ["unused"]);
    check_rule_used(&dce, "f", &xs)?;
    Ok(())
}

#[test]
fn instantiating_specialises_the_rules_with_the_function() -> Result<(), Error> {
    let (m, _) = parse_module(RULED)?;
    let (inst, name) = instantiate(&m, "f", &[Type::f64(&[3])])?;
    let sq = inst
        .all_rules()
        .map(|(f, r)| (f.to_string(), r.clone()))
        .next()
        .expect("the specialised @sq keeps its rule");
    let rule = sq.1.vjp.expect("a VJP rule");
    assert_eq!(
        inst.get(&rule).map(|r| r.param_types()),
        Some(vec![Type::f64(&[3]); 2])
    );
    check_rule_used(&inst, &name, &[0.5, -2.0, 3.0])
}
