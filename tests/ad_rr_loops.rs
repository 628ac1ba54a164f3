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

/// A loss of vector parameters through a scan whose body calls a function
/// and runs a nested scan, with a per-step output; `ATTRS` is replaced by
/// the reverse flag and policy.
const VSCAN: &str = "
func @inner(%w: f64, %c: f64, %x: f64) -> (f64, f64) {
  %cw: f64 = mul %c, %w
  %t: f64 = add %cw, %x
  %c2: f64 = sin %t
  %y: f64 = mul %c2, %x
  return %c2, %y
}

func @sq(%u: f64[3]) -> f64[3] {
  %y: f64[3] = mul %u, %u
  return %y
}

func @body(%a: f64[3], %w: f64, %h: f64[3], %x: f64[3]) -> (f64[3], f64) {
  %ah: f64[3] = mul %a, %h
  %hh: f64[3] = call @sq(%h)
  %ws: f64[3] = broadcast %w, dims=[]
  %q: f64[3] = mul %ws, %hh
  %u: f64[3] = add %ah, %q
  %ux: f64[3] = add %u, %x
  %h2: f64[3] = tanh %ux
  %s0: f64 = const 0.1
  %s1: f64, %zs: f64[3] = scan @inner, length=3, consts=(%w), carry=(%s0), xs=(%h2)
  %z: f64 = reduce_sum %zs, axes=[0]
  %y: f64 = mul %z, %s1
  return %h2, %y
}

func @f(%a: f64[3], %w: f64, %h0: f64[3], %xs: f64[5, 3]) -> f64 {
  %hT: f64[3], %ys: f64[5] = scan @body, length=5, consts=(%a, %w), carry=(%h0), xs=(%xs)ATTRS
  %s: f64 = reduce_sum %ys, axes=[0]
  %hh: f64[3] = mul %hT, %hT
  %q: f64 = reduce_sum %hh, axes=[0]
  %y: f64 = add %s, %q
  return %y
}
";

/// A loss through a `while` over a vector state and a counter, run for
/// `NTRIPS` trips at most (fewer than `max`, or all of it).
const VWHILE: &str = "
func @more(%a: f64[3], %c: f64, %n: i64, %x: f64[3], %k: i64) -> bool {
  %go: bool = lt %k, %n
  return %go
}

func @step(%a: f64[3], %c: f64, %n: i64, %x: f64[3], %k: i64) -> (f64[3], i64) {
  %ax: f64[3] = mul %a, %x
  %s: f64[3] = sin %ax
  %cs: f64[3] = broadcast %c, dims=[]
  %t: f64[3] = mul %cs, %s
  %x2: f64[3] = add %x, %t
  %one: i64 = const 1
  %k2: i64 = add %k, %one
  return %x2, %k2
}

func @f(%a: f64[3], %c: f64, %x0: f64[3]) -> f64 {
  %n: i64 = const NTRIPS
  %k0: i64 = const 0
  %x: f64[3], %k: i64, %trips: i64 = while @more, @step, max=6, consts=(%a, %c, %n), init=(%x0, %k0)ATTRS
  %xx: f64[3] = mul %x, %x
  %y: f64 = reduce_sum %xx, axes=[0]
  return %y
}
";

fn vscan_args() -> Vec<Tensor> {
    let xs: Vec<f64> = (0..15).map(|i| ((i as f64) * 0.77).sin() * 0.8).collect();
    vec![
        t(&[3], vec![0.4, -0.3, 0.6]),
        s(0.3),
        t(&[3], vec![0.5, -0.2, 0.1]),
        t(&[5, 3], xs),
    ]
}

fn vwhile_args() -> Vec<Tensor> {
    vec![
        t(&[3], vec![0.7, -0.4, 1.1]),
        s(0.6),
        t(&[3], vec![0.3, 0.9, -0.5]),
    ]
}

/// `vjp(grad f)` with the gradient outputs seeded by `v` is `H v` (the
/// Hessian is symmetric): against `jvp(grad f)`, against central
/// differences of the interpreted first gradient, and compiled against
/// interpreted. `jacobian(grad f, Reverse)` against `jacobian(grad f,
/// Forward)`.
fn check_reverse_over_reverse(m: &Module, args: &[Tensor], what: &str) {
    let wrt: Vec<usize> = (0..args.len())
        .filter(|&i| args[i].as_f64().is_some())
        .collect();
    let (gm, gf) = ad::grad(m, "f", &wrt).unwrap();
    let (rm, rf) = ad::vjp(&gm, &gf, &wrt).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (hm, hf) = ad::hvp(m, "f", &wrt).unwrap();
    let v: Vec<Tensor> = wrt
        .iter()
        .map(|&i| {
            let n = args[i].len();
            let shape = args[i].shape().to_vec();
            t(
                &shape,
                (0..n).map(|k| ((k as f64) * 1.37 + 0.2).cos()).collect(),
            )
        })
        .collect();
    // vjp of grad: (x..., ȳ of the loss, ȳ of each gradient output).
    let mut rargs = args.to_vec();
    rargs.push(s(0.0));
    rargs.extend(v.iter().cloned());
    let rr = run(&rm, &rf, &rargs);
    let n_out = 1 + wrt.len();
    let mut hargs = args.to_vec();
    hargs.extend(v.iter().cloned());
    let fr = run(&hm, &hf, &hargs);
    // Central differences of the first gradient along v.
    let h = 1e-5;
    let along = |sign: f64| -> Vec<Tensor> {
        let mut x = args.to_vec();
        for (k, &i) in wrt.iter().enumerate() {
            let d: Vec<f64> = floats(&args[i])
                .iter()
                .zip(floats(&v[k]))
                .map(|(a, b)| a + sign * h * b)
                .collect();
            x[i] = t(args[i].shape(), d);
        }
        run(&gm, &gf, &x)
    };
    let (plus, minus) = (along(1.0), along(-1.0));
    let compiled = {
        let types: Vec<_> = rargs.iter().map(Tensor::ty).collect();
        let c = adjit::jit::compile_for(&rm, &rf, &types)
            .unwrap_or_else(|e| panic!("{what}: compile: {e}"));
        let refs: Vec<&Tensor> = rargs.iter().collect();
        c.call(&refs).unwrap()
    };
    for k in 0..wrt.len() {
        let got = floats(&rr[n_out + k]);
        let fwd = floats(&fr[k]);
        let fd: Vec<f64> = floats(&plus[1 + k])
            .iter()
            .zip(floats(&minus[1 + k]))
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        assert_all_close(
            &format!("{what}: vjp(grad) vs jvp(grad), param {k}"),
            &got,
            &fwd,
            1e-10,
        );
        assert_all_close(
            &format!("{what}: vjp(grad) vs differences, param {k}"),
            &got,
            &fd,
            1e-6,
        );
        let jit = floats(&compiled[n_out + k]);
        assert_all_close(&format!("{what}: compiled, param {k}"), &jit, &got, 1e-12);
    }
    // Hessian blocks, reverse over reverse against forward over reverse.
    let (jr, jrf) =
        ad::jacobian(&gm, &gf, &wrt, ad::Mode::Reverse).unwrap_or_else(|e| panic!("{what}: {e}"));
    let (jf, jff) = ad::jacobian(&gm, &gf, &wrt, ad::Mode::Forward).unwrap();
    let a = run(&jr, &jrf, args);
    let b = run(&jf, &jff, args);
    assert_eq!(a.len(), b.len());
    for (i, (x, y)) in a.iter().zip(&b).enumerate() {
        assert_all_close(
            &format!("{what}: Jacobian block {i}"),
            &floats(x),
            &floats(y),
            1e-10,
        );
    }
}

#[test]
fn vjp_and_reverse_jacobian_of_a_scan_gradient_under_every_policy() {
    for policy in POLICIES {
        for reverse in ["", ", reverse"] {
            let m = parse(&VSCAN.replace("ATTRS", &format!("{reverse}{policy}")));
            check_reverse_over_reverse(&m, &vscan_args(), &format!("scan{reverse}{policy}"));
        }
    }
}

#[test]
fn vjp_and_reverse_jacobian_of_a_while_gradient_under_every_policy() {
    for policy in POLICIES {
        for trips in [0, 1, 4, 6, 9] {
            let m = parse(
                &VWHILE
                    .replace("ATTRS", policy)
                    .replace("NTRIPS", &trips.to_string()),
            );
            check_reverse_over_reverse(&m, &vwhile_args(), &format!("while n={trips}{policy}"));
        }
    }
}

/// The other second-order compositions through loops, against `hvp`:
/// reverse over forward (`grad` of the directional derivative is `H v`),
/// forward over forward (`vᵀ H v`), and derivatives of batching (`vjp` of
/// the batched function is the batched gradient, `jvp` along ones its
/// lanes' sums).
fn check_other_compositions(m: &Module, args: &[Tensor], what: &str) {
    let wrt: Vec<usize> = (0..args.len())
        .filter(|&i| args[i].as_f64().is_some())
        .collect();
    let v: Vec<Tensor> = wrt
        .iter()
        .map(|&i| {
            let n = args[i].len();
            t(
                args[i].shape(),
                (0..n).map(|k| ((k as f64) * 0.71 + 0.4).sin()).collect(),
            )
        })
        .collect();
    let mut hargs = args.to_vec();
    hargs.extend(v.iter().cloned());
    let (hm, hf) = ad::hvp(m, "f", &wrt).unwrap();
    let hv = run(&hm, &hf, &hargs);
    // grad(jvp f): the tangent output is the last; differentiate it in x.
    let (jm, jf) = ad::jvp(m, "f", &wrt).unwrap();
    let (gm, gf) = ad::grad(&jm, &jf, &wrt).unwrap_or_else(|e| panic!("{what}: {e}"));
    let out = run(&gm, &gf, &hargs);
    for k in 0..wrt.len() {
        let got = floats(&out[2 + k]);
        assert_all_close(
            &format!("{what}: grad(jvp f) {k}"),
            &got,
            &floats(&hv[k]),
            1e-10,
        );
    }
    // jvp(jvp f) along v twice: vᵀ H v.
    let n = args.len() + wrt.len();
    let (j2m, j2f) = ad::jvp(&jm, &jf, &(0..n).collect::<Vec<_>>()).unwrap();
    let mut j2args = hargs.clone();
    j2args.extend(v.iter().cloned());
    j2args.extend(
        v.iter()
            .map(|t| Tensor::f64(t.shape(), vec![0.0; t.len()]).unwrap()),
    );
    let out = run(&j2m, &j2f, &j2args);
    let vhv: f64 = (0..wrt.len())
        .map(|k| {
            floats(&v[k])
                .iter()
                .zip(floats(&hv[k]))
                .map(|(a, b)| a * b)
                .sum::<f64>()
        })
        .sum();
    assert_close(&format!("{what}: jvp(jvp f)"), scalar(&out[3]), vhv, 1e-10);
    // vjp(vmap f) against vmap(grad f), over a batch of two copies of
    // the first parameter, one shifted.
    let p0 = wrt[0];
    let x0 = floats(&args[p0]);
    let mut stacked = x0.clone();
    stacked.extend(x0.iter().map(|x| x + 0.1));
    let mut shape = vec![2];
    shape.extend_from_slice(args[p0].shape());
    let mut bargs = args.to_vec();
    bargs[p0] = t(&shape, stacked);
    let (bm, bf) = ad::vmap(m, "f", &[p0], adjit::ir::Dim::from(2usize)).unwrap();
    let (rm, rf) = ad::vjp(&bm, &bf, &[p0]).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut rargs = bargs.clone();
    rargs.push(t(&[2], vec![1.0, 1.0]));
    let got = floats(&run(&rm, &rf, &rargs)[1]);
    let (g1, n1) = ad::grad(m, "f", &[p0]).unwrap();
    let (vm, vf) = ad::vmap(&g1, &n1, &[p0], adjit::ir::Dim::from(2usize)).unwrap();
    let want = floats(&run(&vm, &vf, &bargs)[1]);
    assert_all_close(&format!("{what}: vjp(vmap f)"), &got, &want, 1e-12);
    // jvp(vmap f) along ones: each lane's gradient summed.
    let (fm, ff) = ad::jvp(&bm, &bf, &[p0]).unwrap_or_else(|e| panic!("{what}: {e}"));
    let mut fargs = bargs.clone();
    fargs.push(t(&shape, vec![1.0; 2 * x0.len()]));
    let got = floats(&run(&fm, &ff, &fargs)[1]);
    let lane: Vec<f64> = want.chunks(x0.len()).map(|c| c.iter().sum()).collect();
    assert_all_close(&format!("{what}: jvp(vmap f)"), &got, &lane, 1e-12);
}

#[test]
fn every_second_order_composition_through_scan_and_while() {
    for policy in [", checkpoint=binomial(3)", ""] {
        let m = parse(&VSCAN.replace("ATTRS", policy));
        check_other_compositions(&m, &vscan_args(), &format!("scan{policy}"));
        for trips in [0, 4, 9] {
            let m = parse(
                &VWHILE
                    .replace("ATTRS", policy)
                    .replace("NTRIPS", &trips.to_string()),
            );
            check_other_compositions(&m, &vwhile_args(), &format!("while n={trips}{policy}"));
        }
    }
}

/// Straight-line code with a call of log-sum-exp, whose stable rules are
/// attached by the `RULES` line (or not).
const LINE: &str = "
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

func @f(%a: f64[3], %c: f64, %x0: f64[3]) -> f64 {
  %ax: f64[3] = mul %a, %x0
  %s: f64[3] = sin %ax
  %cs: f64[3] = broadcast %c, dims=[]
  %t: f64[3] = mul %cs, %s
  %u: f64[3] = add %t, %a
  %l: f64 = call @lse(%u)
  %y: f64 = mul %l, %c
  return %y
}
RULES
";

#[test]
fn every_composition_through_straight_line_code_and_custom_rules() {
    for rules in [
        "",
        "rules @lse, jvp=@lse_jvp",
        "rules @lse, vjp=@lse_vjp",
        "rules @lse, jvp=@lse_jvp, vjp=@lse_vjp",
    ] {
        let m = parse(&LINE.replace("RULES", rules));
        let what = if rules.is_empty() { "no rules" } else { rules };
        check_reverse_over_reverse(&m, &vwhile_args(), what);
        check_other_compositions(&m, &vwhile_args(), what);
    }
}
