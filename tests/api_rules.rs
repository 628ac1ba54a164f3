//! Custom derivative rules attached through the handles (`Func::with_vjp`,
//! `Func::with_jvp`). Each rule is deliberately not the body's derivative,
//! so the value shows which one was used; the expected values are the
//! rule's formula, derived by hand.

use adjit::ir::Type;
use adjit::{Builder, Error, Func};

/// `sq(x) = x²`, with a VJP rule `x̄ = 10·x·ȳ` (the body's is `2·x·ȳ`).
fn sq_and_rule() -> Result<(Func, Func), Error> {
    let s = Type::f64(&[]);
    let g = Builder::new("sq");
    let x = g.param("x", s.clone());
    let sq = g.finish(&[x * x])?;
    let g = Builder::new("sq_vjp");
    let (x, dy) = (g.param("x", s.clone()), g.param("dy", s));
    let rule = g.finish(&[x * x, x * dy * 10.0])?;
    Ok((sq, rule))
}

#[test]
fn grad_through_the_handles_uses_the_attached_rule() -> Result<(), Error> {
    let (sq, rule) = sq_and_rule()?;
    let sq = sq.with_vjp(&rule)?;
    let x = 3.0;
    // At the top level, compiled.
    let d = sq.grad()?.compile()?.call((x,))?.scalar(0)?;
    assert_eq!(d, 10.0 * x);
    // Inside a caller: f(x) = sin(sq(x)), f' = cos(x²)·10x by the rule.
    let g = sq.builder("f");
    let x_ = g.param("x", Type::f64(&[]));
    let [y] = g.call_n("sq", &[x_]);
    let f = g.finish(&[y.sin()])?;
    let want = (x * x).cos() * 10.0 * x;
    let got = f.grad()?.compile()?.call((x,))?.scalar(0)?;
    assert!((got - want).abs() <= 1e-14 * want.abs(), "{got} {want}");
    // Simplified before differentiating: the rule survives `opt`.
    let got = f.simplify()?.grad()?.compile()?.call((x,))?.scalar(0)?;
    assert!((got - want).abs() <= 1e-14 * want.abs(), "{got} {want}");
    // Without the rule, the body's derivative (2x): the rule made the difference.
    let (plain, _) = sq_and_rule()?;
    assert_eq!(plain.grad()?.compile()?.call((x,))?.scalar(0)?, 2.0 * x);
    Ok(())
}

#[test]
fn a_jvp_rule_through_the_handles() -> Result<(), Error> {
    let s = Type::f64(&[]);
    let (sq, _) = sq_and_rule()?;
    let g = Builder::new("sq_jvp");
    let (x, dx) = (g.param("x", s.clone()), g.param("dx", s));
    let rule = g.finish(&[x * x, x * dx * 10.0])?;
    let sq = sq.with_jvp(&rule)?;
    let out = sq.jvp()?.compile()?.call((3.0, 0.5))?.scalars()?;
    assert_eq!(out, [9.0, 15.0]);
    // The VJP is the rule transposed: x̄ = 10·x·ȳ.
    assert_eq!(sq.grad()?.compile()?.call((3.0,))?.scalar(0)?, 30.0);
    Ok(())
}

#[test]
fn a_rule_of_the_wrong_signature_is_an_error() -> Result<(), Error> {
    let (sq, _) = sq_and_rule()?;
    let g = Builder::new("bad");
    let x = g.param("x", Type::f64(&[]));
    let bad = g.finish(&[x])?;
    assert!(matches!(sq.with_vjp(&bad), Err(Error::Verify(_))));
    Ok(())
}
