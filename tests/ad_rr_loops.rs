//! Reverse over reverse through `scan` and `while`: `grad(grad f)`,
//! `vjp(grad f)` and `jacobian(grad f, Reverse)` of functions whose value
//! comes out of a loop, under every checkpointing policy, against
//! independent oracles — central differences of the first gradient
//! (compiled by the JIT, and interpreted) and `jvp(grad f)` (forward over
//! reverse, tested on its own in `ad_loops.rs`).

mod common;

use adjit::ad;
use adjit::ir::interp::eval;
use adjit::ir::text::parse_module;
use adjit::ir::{Module, Tensor, verify_module};
use adjit::jit;
use common::*;

/// Every policy; `all` first.
const POLICIES: [&str; 7] = [
    "",
    ", checkpoint=every(1)",
    ", checkpoint=every(3)",
    ", checkpoint=every(1000)",
    ", checkpoint=binomial(1)",
    ", checkpoint=binomial(3)",
    ", checkpoint=binomial(4)",
];

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

/// A scalar function whose value comes out of a `while` that runs until a
/// counter carried beside the state reaches 4.5 (five trips), with the
/// parameter in the consts and in the initial state.
const WHILE: &str = "
func @more(%p: f64, %x: f64, %i: f64) -> bool {
  %lim: f64 = const 4.5
  %c: bool = lt %i, %lim
  return %c
}

func @step(%p: f64, %x: f64, %i: f64) -> (f64, f64) {
  %px: f64 = mul %p, %x
  %s: f64 = sin %px
  %x2: f64 = add %x, %s
  %one: f64 = const 1.0
  %i2: f64 = add %i, %one
  return %x2, %i2
}

func @f(%p: f64) -> f64 {
  %half: f64 = const 0.5
  %x0: f64 = mul %p, %half
  %i0: f64 = const 0.0
  %x: f64, %i: f64, %n: i64 = while @more, @step, max=10, consts=(%p), init=(%x0, %i0)ATTRS
  %xx: f64 = mul %x, %x
  %y: f64 = mul %xx, %p
  return %y
}
";

/// A scalar function of a `scan` with a scanned input, a per-step output
/// and a const array.
const SCAN: &str = "
func @step(%p: f64, %w: f64[3], %h: f64[3], %u: f64) -> (f64[3], f64) {
  %pw: f64[3] = broadcast %p, dims=[]
  %a: f64[3] = mul %pw, %h
  %us: f64[3] = broadcast %u, dims=[]
  %b: f64[3] = add %a, %us
  %c: f64[3] = mul %b, %w
  %h2: f64[3] = tanh %c
  %hh: f64[3] = mul %h2, %h2
  %y: f64 = reduce_sum %hh, axes=[0]
  return %h2, %y
}

func @f(%p: f64) -> f64 {
  %w: f64[3] = const [0.9, -1.1, 0.7]
  %h0: f64[3] = const [0.3, -0.2, 0.5]
  %us: f64[12] = const [0.1, -0.3, 0.5, 0.2, -0.7, 0.4, 0.0, 0.6, -0.2, 0.3, -0.5, 0.8]
  %hT: f64[3], %ys: f64[12] = scan @step, length=12, consts=(%p, %w), carry=(%h0), xs=(%us)ATTRS
  %s: f64 = reduce_sum %ys, axes=[0]
  %q: f64 = reduce_sum %hT, axes=[0]
  %qp: f64 = mul %q, %p
  %y: f64 = add %s, %qp
  return %y
}
";

/// `grad(grad f)` compiled, against central differences of the compiled
/// first gradient, for a scalar `f` of one scalar parameter.
fn check_second_derivative(m: &Module, at: &[f64], what: &str) {
    let (g1, n1) = ad::grad(m, "f", &[0]).unwrap();
    let (g2, n2) = ad::grad(&g1, &n1, &[0]).unwrap_or_else(|e| panic!("{what}: {e}"));
    verify_module(&g2).unwrap();
    let first = jit::compile(&g1, &n1).unwrap();
    let second = jit::compile(&g2, &n2).unwrap_or_else(|e| panic!("{what}: compile: {e}"));
    let df = |p: f64| scalar(&first.call(&[&s(p)]).unwrap()[1]);
    for &p in at {
        let out = second.call(&[&s(p)]).unwrap();
        // (f, f', f'').
        assert_eq!(out.len(), 3, "{what}");
        let h = 1e-5 * p.abs().max(1.0);
        let fd = (df(p + h) - df(p - h)) / (2.0 * h);
        assert_close(&format!("{what}: f'' at {p}"), scalar(&out[2]), fd, 1e-6);
        // The interpreter agrees with the JIT.
        let interp = run(&g2, &n2, &[s(p)]);
        assert_close(
            &format!("{what}: interpreted f'' at {p}"),
            scalar(&interp[2]),
            scalar(&out[2]),
            1e-12,
        );
    }
}

#[test]
fn grad_of_grad_through_a_while_matches_differences_of_the_compiled_gradient() {
    for policy in POLICIES {
        let m = parse(&WHILE.replace("ATTRS", policy));
        check_second_derivative(&m, &[0.4, 0.9, -0.6], &format!("while{policy}"));
    }
}

#[test]
fn grad_of_grad_through_a_scan_matches_differences_of_the_compiled_gradient() {
    for policy in POLICIES {
        let m = parse(&SCAN.replace("ATTRS", policy));
        check_second_derivative(&m, &[0.4, 1.3, -0.8], &format!("scan{policy}"));
    }
}
