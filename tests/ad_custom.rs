//! Custom derivative rules against independent oracles: hand-derived
//! derivatives, central differences of the converged solution of an
//! implicit equation, and rules chosen to differ from their function's body
//! so that a result can only come from the rule — through `grad`, `jvp`,
//! `vjp`, `hvp`, `jacobian`, `vmap`, the JIT and `jvp(grad)`.

mod common;

use adjit::ad;
use adjit::ir::interp::eval;
use adjit::ir::text::parse_module;
use adjit::ir::{Dim, Module, Tensor, verify_module};
use adjit::jit;
use common::*;

fn parse(text: &str) -> Module {
    let (m, _) = parse_module(text).unwrap_or_else(|e| panic!("{}", e.render("test", text)));
    verify_module(&m).unwrap();
    m
}

fn run(m: &Module, f: &str, args: &[Tensor]) -> Vec<Tensor> {
    eval(m, f, args).unwrap_or_else(|e| panic!("@{f}: {e}"))
}

fn floats(t: &Tensor) -> Vec<f64> {
    t.as_f64().expect("f64").to_vec()
}

/// Whether any function reachable from `root` holds a node with this op name.
fn reaches_op(m: &Module, root: &str, op: &str) -> bool {
    let mut seen = vec![root.to_string()];
    let mut todo = vec![root.to_string()];
    while let Some(name) = todo.pop() {
        let f = m.get(&name).unwrap();
        for node in f.nodes() {
            if node.op.name() == op {
                return true;
            }
            for c in node.op.callees() {
                if !seen.iter().any(|s| **s == **c) {
                    seen.push(c.to_string());
                    todo.push(c.to_string());
                }
            }
        }
    }
    false
}

/// log Σ exp x written directly (it overflows for large x), and its rules
/// written stably with the maximum taken out.
const LSE: &str = "
func @lse(%x: f64[n]) -> f64 {
  %e: f64[n] = exp %x
  %s: f64 = reduce_sum %e, axes=[0]
  %y: f64 = log %s
  return %y
}

func @softmax(%x: f64[n]) -> (f64, f64[n]) {
  %m: f64 = reduce_max %x, axes=[0]
  %mb: f64[n] = broadcast %m, dims=[]
  %d: f64[n] = sub %x, %mb
  %e: f64[n] = exp %d
  %s: f64 = reduce_sum %e, axes=[0]
  %ls: f64 = log %s
  %y: f64 = add %m, %ls
  %sb: f64[n] = broadcast %s, dims=[]
  %p: f64[n] = div %e, %sb
  return %y, %p
}

func @lse_vjp(%x: f64[n], %y_bar: f64) -> (f64, f64[n]) {
  %y: f64, %p: f64[n] = call @softmax(%x)
  %yb: f64[n] = broadcast %y_bar, dims=[]
  %x_bar: f64[n] = mul %p, %yb
  return %y, %x_bar
}

func @lse_jvp(%x: f64[n], %x_dot: f64[n]) -> (f64, f64) {
  %y: f64, %p: f64[n] = call @softmax(%x)
  %px: f64[n] = mul %p, %x_dot
  %y_dot: f64 = reduce_sum %px, axes=[0]
  return %y, %y_dot
}

func @loss(%x: f64[n], %c: f64) -> f64 {
  %l: f64 = call @lse(%x)
  %y: f64 = mul %l, %c
  return %y
}
";

fn lse_with(jvp: bool, vjp: bool) -> Module {
    let mut m = parse(LSE);
    if jvp {
        m.attach_jvp("lse", "lse_jvp").unwrap();
    }
    if vjp {
        m.attach_vjp("lse", "lse_vjp").unwrap();
    }
    verify_module(&m).unwrap();
    m
}

#[test]
fn stable_log_sum_exp_rule_does_not_overflow_where_the_body_does() {
    let huge = t(&[3], vec![1e308, 1e308, 0.0]);
    // The body's own gradient overflows: exp(1e308) = inf, inf / inf = NaN.
    let (plain, name) = ad::grad(&lse_with(false, false), "lse", &[0]).unwrap();
    let g = floats(&run(&plain, &name, std::slice::from_ref(&huge))[1]);
    assert!(g.iter().any(|v| !v.is_finite()), "{g:?}");
    // Each rule alone, and both: every mode gives the softmax.
    for (jvp, vjp) in [(true, false), (false, true), (true, true)] {
        let m = lse_with(jvp, vjp);
        let what = format!("jvp rule {jvp}, vjp rule {vjp}");
        let (gm, gf) = ad::grad(&m, "lse", &[0]).unwrap();
        let out = run(&gm, &gf, std::slice::from_ref(&huge));
        assert_eq!(scalar(&out[0]), 1e308, "{what}: value");
        assert_eq!(floats(&out[1]), vec![0.5, 0.5, 0.0], "{what}: grad");
        // The JIT compiles the rule.
        let c = jit::compile_for(&gm, &gf, &[huge.ty()]).unwrap();
        assert_eq!(floats(&c.call(&[&huge]).unwrap()[1]), vec![0.5, 0.5, 0.0]);
        // Forward mode: ẏ = softmax · ẋ.
        let (jm, jf) = ad::jvp(&m, "lse", &[0]).unwrap();
        let dir = t(&[3], vec![2.0, 4.0, 7.0]);
        let out = run(&jm, &jf, &[huge.clone(), dir]);
        assert_eq!(scalar(&out[1]), 3.0, "{what}: jvp");
        // Through a call, with the other parameter differentiated too (its
        // derivative is the value of the call, which the body computes).
        let (lm, lf) = ad::grad(&m, "loss", &[0, 1]).unwrap();
        let out = run(&lm, &lf, &[huge.clone(), s(3.0)]);
        assert_eq!(floats(&out[1]), vec![1.5, 1.5, 0.0], "{what}: loss grad");
        assert_eq!(scalar(&out[2]), f64::INFINITY, "{what}: d loss / dc");
    }
}

#[test]
fn log_sum_exp_rules_match_the_body_where_it_does_not_overflow() {
    let x = t(&[4], vec![0.3, -1.2, 2.0, 0.5]);
    let e: Vec<f64> = floats(&x).iter().map(|v| v.exp()).collect();
    let sum: f64 = e.iter().sum();
    let soft: Vec<f64> = e.iter().map(|v| v / sum).collect();
    for (jvp, vjp) in [(true, false), (false, true), (true, true)] {
        let m = lse_with(jvp, vjp);
        let (gm, gf) = ad::grad(&m, "lse", &[0]).unwrap();
        let got = floats(&run(&gm, &gf, std::slice::from_ref(&x))[1]);
        assert_all_close("grad", &got, &soft, 1e-14);
        // Hessian-vector products differentiate the rule: H = diag(p) - p pᵀ.
        let v = [1.0, -2.0, 0.5, 3.0];
        let pv: f64 = soft.iter().zip(&v).map(|(a, b)| a * b).sum();
        let want: Vec<f64> = soft.iter().zip(&v).map(|(p, vi)| p * vi - p * pv).collect();
        let (hm, hf) = ad::hvp(&m, "lse", &[0]).unwrap();
        let got = floats(&run(&hm, &hf, &[x.clone(), t(&[4], v.to_vec())])[0]);
        assert_all_close("hvp", &got, &want, 1e-13);
        // The reverse-mode Jacobian of the gradient is the same Hessian.
        let (jm, jf) = ad::jacobian(&gm, &gf, &[0], ad::Mode::Reverse).unwrap();
        let h = floats(&run(&jm, &jf, std::slice::from_ref(&x))[1]);
        for i in 0..4 {
            for j in 0..4 {
                let want = if i == j { soft[i] } else { 0.0 } - soft[i] * soft[j];
                assert_close(&format!("H[{i}][{j}]"), h[4 * i + j], want, 1e-13);
            }
        }
    }
}

/// `sin` with rules that say its derivative is `x²` (so `f''` is `2x`):
/// wrong for the body on purpose, so every result proves which was used.
const ODD: &str = "
func @f(%x: f64) -> f64 {
  %y: f64 = sin %x
  return %y
}

func @f_vjp(%x: f64, %y_bar: f64) -> (f64, f64) {
  %y: f64 = sin %x
  %xx: f64 = mul %x, %x
  %x_bar: f64 = mul %xx, %y_bar
  return %y, %x_bar
}

func @f_jvp(%x: f64, %x_dot: f64) -> (f64, f64) {
  %y: f64 = sin %x
  %xx: f64 = mul %x, %x
  %y_dot: f64 = mul %xx, %x_dot
  return %y, %y_dot
}

func @g(%x: f64) -> f64 {
  %y: f64 = call @f(%x)
  %three: f64 = const 3.0
  %z: f64 = mul %y, %three
  return %z
}
";

#[test]
fn a_rule_unlike_the_body_is_the_one_differentiated() {
    for (jvp, vjp) in [(true, false), (false, true), (true, true)] {
        let what = format!("jvp rule {jvp}, vjp rule {vjp}");
        let mut m = parse(ODD);
        if jvp {
            m.attach_jvp("f", "f_jvp").unwrap();
        }
        if vjp {
            m.attach_vjp("f", "f_vjp").unwrap();
        }
        let xs = [0.7, -1.3, 2.1];
        // grad, interpreted and compiled.
        let (gm, gf) = ad::grad(&m, "f", &[0]).unwrap();
        let c = jit::compile(&gm, &gf).unwrap();
        for x in xs {
            assert_close(&what, scalar(&run(&gm, &gf, &[s(x)])[1]), x * x, 1e-15);
            assert_close(&what, scalar(&c.call(&[&s(x)]).unwrap()[1]), x * x, 1e-15);
        }
        // jvp(grad f), and grad(grad f).
        let (hm, hf) = ad::hvp(&m, "f", &[0]).unwrap();
        let (g2, n2) = ad::grad(&gm, &gf, &[0]).unwrap();
        let c2 = jit::compile(&g2, &n2).unwrap();
        for x in xs {
            assert_close(
                &what,
                scalar(&run(&hm, &hf, &[s(x), s(1.0)])[0]),
                2.0 * x,
                1e-15,
            );
            assert_close(
                &what,
                scalar(&c2.call(&[&s(x)]).unwrap()[2]),
                2.0 * x,
                1e-15,
            );
        }
        // Through a call: d(3 f)/dx = 3x².
        let (cm, cf) = ad::grad(&m, "g", &[0]).unwrap();
        assert_close(&what, scalar(&run(&cm, &cf, &[s(0.5)])[1]), 0.75, 1e-15);
        // vmap of the gradient, interpreted and compiled.
        let (vm, vf) = ad::vmap(&gm, &gf, &[0], Dim::from(3usize)).unwrap();
        let batch = t(&[3], xs.to_vec());
        let want: Vec<f64> = xs.iter().map(|x| x * x).collect();
        assert_all_close(
            &what,
            &floats(&run(&vm, &vf, std::slice::from_ref(&batch))[1]),
            &want,
            1e-15,
        );
        let c = jit::compile_for(&vm, &vf, &[batch.ty()]).unwrap();
        assert_all_close(&what, &floats(&c.call(&[&batch]).unwrap()[1]), &want, 1e-15);
        // Derivatives of the batched function, and of a batched caller.
        let ones = t(&[3], vec![1.0; 3]);
        for func in ["f", "g"] {
            let k = if func == "f" { 1.0 } else { 3.0 };
            let scaled: Vec<f64> = want.iter().map(|v| k * v).collect();
            let (bm, bf) = ad::vmap(&m, func, &[0], Dim::from(3usize)).unwrap();
            let (rm, rf) = ad::vjp(&bm, &bf, &[0]).unwrap();
            let got = floats(&run(&rm, &rf, &[batch.clone(), ones.clone()])[1]);
            assert_all_close(&format!("{what}: vjp(vmap {func})"), &got, &scaled, 1e-15);
            let (fm, ff) = ad::jvp(&bm, &bf, &[0]).unwrap();
            let got = floats(&run(&fm, &ff, &[batch.clone(), ones.clone()])[1]);
            assert_all_close(&format!("{what}: jvp(vmap {func})"), &got, &scaled, 1e-15);
        }
        // Forward mode and the forward-mode Jacobian.
        let (jm, jf) = ad::jvp(&m, "f", &[0]).unwrap();
        assert_close(
            &what,
            scalar(&run(&jm, &jf, &[s(1.5), s(2.0)])[1]),
            4.5,
            1e-15,
        );
        let (km, kf) = ad::jacobian(&m, "f", &[0], ad::Mode::Forward).unwrap();
        assert_close(&what, scalar(&run(&km, &kf, &[s(1.5)])[0]), 2.25, 1e-15);
        // The primal value is still sin.
        assert_close(
            &what,
            scalar(&run(&gm, &gf, &[s(0.7)])[0]),
            0.7f64.sin(),
            1e-15,
        );
    }
}

/// Newton's method for `x³ + a x = θ` (one root per element, `a > 0`) as a
/// bounded `while` until the residual is below 1e-14, and a VJP rule from
/// the implicit function theorem: `θ̄ = x̄ / (3x² + a)` — one (diagonal)
/// linear solve at the converged solution.
const NEWTON: &str = "
func @unconverged(%a: f64, %th: f64[n], %x: f64[n], %r: f64) -> bool {
  %tol: f64 = const 1e-14
  %c: bool = gt %r, %tol
  return %c
}

func @newton(%a: f64, %th: f64[n], %x: f64[n], %r: f64) -> (f64[n], f64) {
  %ab: f64[n] = broadcast %a, dims=[]
  %xx: f64[n] = mul %x, %x
  %x3: f64[n] = mul %xx, %x
  %ax: f64[n] = mul %ab, %x
  %g0: f64[n] = add %x3, %ax
  %g: f64[n] = sub %g0, %th
  %three: f64[n] = const 3.0
  %d0: f64[n] = mul %three, %xx
  %d: f64[n] = add %d0, %ab
  %step: f64[n] = div %g, %d
  %x2: f64[n] = sub %x, %step
  %ag: f64[n] = abs %g
  %r2: f64 = reduce_max %ag, axes=[0]
  return %x2, %r2
}

func @solve(%th: f64[n]) -> f64[n] {
  %a: f64 = const 2.0
  %x0: f64[n] = const 0.0
  %r0: f64 = const 1.0
  %x: f64[n], %r: f64, %trips: i64 = while @unconverged, @newton, max=100, consts=(%a, %th), init=(%x0, %r0)
  return %x
}

func @solve_vjp(%th: f64[n], %x_bar: f64[n]) -> (f64[n], f64[n]) {
  %x: f64[n] = call @solve(%th)
  %a: f64[n] = const 2.0
  %three: f64[n] = const 3.0
  %xx: f64[n] = mul %x, %x
  %d0: f64[n] = mul %three, %xx
  %d: f64[n] = add %d0, %a
  %th_bar: f64[n] = div %x_bar, %d
  return %x, %th_bar
}

func @loss(%th: f64[n], %w: f64[n]) -> f64 {
  %x: f64[n] = call @solve(%th)
  %xx: f64[n] = mul %x, %x
  %wx: f64[n] = mul %xx, %w
  %y: f64 = reduce_sum %wx, axes=[0]
  return %y
}
";

#[test]
fn implicit_function_rule_matches_differences_of_the_converged_solve() {
    let mut m = parse(NEWTON);
    m.attach_vjp("solve", "solve_vjp").unwrap();
    let th = vec![0.5, -3.0, 10.0, 0.01];
    let w = vec![1.0, 0.5, -0.25, 2.0];
    let (gm, gf) = ad::grad(&m, "loss", &[0]).unwrap();
    // One linear solve: no reverse sweep of the Newton iterations.
    assert!(!reaches_op(&gm, &gf, "scan_adjoint"));
    assert!(reaches_op(
        &ad::grad(&parse(NEWTON), "loss", &[0]).unwrap().0,
        &gf,
        "scan_adjoint"
    ));
    let args = [t(&[4], th.clone()), t(&[4], w.clone())];
    let got = floats(&run(&gm, &gf, &args)[1]);
    let c = jit::compile_for(&gm, &gf, &[args[0].ty(), args[1].ty()]).unwrap();
    let compiled = floats(&c.call(&[&args[0], &args[1]]).unwrap()[1]);
    let loss = |th: &[f64]| scalar(&run(&m, "loss", &[t(&[4], th.to_vec()), args[1].clone()])[0]);
    for i in 0..4 {
        let h = 1e-5;
        let (mut plus, mut minus) = (th.clone(), th.clone());
        plus[i] += h;
        minus[i] -= h;
        let fd = (loss(&plus) - loss(&minus)) / (2.0 * h);
        assert!(
            (got[i] - fd).abs() <= 1e-8 * fd.abs().max(1.0),
            "d/dθ{i}: rule {} vs differences {fd}",
            got[i]
        );
        assert_close("compiled", compiled[i], got[i], 1e-13);
    }
}

#[test]
fn rules_with_the_wrong_signature_are_reported() {
    let mut m = parse(ODD);
    m.attach_vjp("f", "g").unwrap();
    let err = verify_module(&m).unwrap_err().to_string();
    assert!(
        err.contains("@f: its VJP rule @g has signature (f64) -> (f64)"),
        "{err}"
    );
    assert!(m.attach_jvp("f", "nope").is_err());
    assert!(m.attach_jvp("nope", "f").is_err());
    let err = ad::grad(&m, "f", &[0]).unwrap_err().to_string();
    assert!(err.contains("VJP rule"), "{err}");
}

#[test]
fn the_text_format_prints_and_parses_attachments() {
    let text = format!("{LSE}\nrules @lse, jvp=@lse_jvp, vjp=@lse_vjp\n");
    let m = parse(&text);
    assert_eq!(m, lse_with(true, true));
    let printed = m.to_string();
    assert!(
        printed.ends_with("\nrules @lse, jvp=@lse_jvp, vjp=@lse_vjp\n"),
        "{printed}"
    );
    assert_eq!(parse(&printed), m);
    assert_eq!(parse(&printed).to_string(), printed);
    for (line, message) in [
        (
            "rules @lse, jvp=@nope",
            "1:17: error: no function named @nope",
        ),
        (
            "rules @nope, vjp=@lse_vjp",
            "1:7: error: no function named @nope",
        ),
        ("rules @lse", "expected `, jvp=@rule` or `, vjp=@rule`"),
        (
            "rules @lse, vjp=@lse_vjp, vjp=@lse_vjp",
            "`vjp=` is given twice",
        ),
        ("rules @lse, hvp=@lse_vjp", "expected `jvp=` or `vjp=`"),
    ] {
        let source = format!("{line}\n{LSE}");
        let err = parse_module(&source).unwrap_err().render("t", &source);
        assert!(err.contains(message), "{line}: {err}");
    }
    let twice = format!("{LSE}\nrules @lse, jvp=@lse_jvp\nrules @lse, vjp=@lse_vjp\n");
    let err = parse_module(&twice).unwrap_err().to_string();
    assert!(err.contains("@lse is given rules twice"), "{err}");
}

#[test]
fn a_rule_that_needs_its_own_derivative_is_an_error() {
    // A JVP rule that calls its function on the tangent: reverse mode by
    // transposition would need the adjoint it is building.
    let text = "
func @f(%x: f64) -> f64 {
  %y: f64 = sin %x
  return %y
}

func @f_jvp(%x: f64, %x_dot: f64) -> (f64, f64) {
  %y: f64 = sin %x
  %t: f64 = call @f(%x_dot)
  return %y, %t
}

rules @f, jvp=@f_jvp
";
    let m = parse(text);
    let err = ad::grad(&m, "f", &[0]).unwrap_err().to_string();
    assert!(err.contains("needs the derivative it defines"), "{err}");
}
