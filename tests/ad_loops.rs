//! Automatic differentiation through `scan` and `while`, interpreted, against
//! independent oracles: central finite differences for forward mode, the
//! dot-product test `<J v, w> = <v, Jᵀ w>` for reverse mode against forward
//! mode, finite differences of a `while` loop's reverse-mode gradient, and
//! the hand-written adjoint of the spring workload. Checkpointing policies
//! are compared with each other bit for bit, and the memory the spring
//! gradient holds is bounded through the interpreter's live-bytes limit.
//! Batched loops (`vmap`, `jacobian`) are checked against each lane run
//! alone and against forward mode; `hvp` against central differences of the
//! gradient (for spring, of the hand-written adjoint).

mod common;

use adjit::ad;
use adjit::ir::interp::eval;
use adjit::ir::interp::{EvalError, Interpreter, Limits};
use adjit::ir::text::parse_module;
use adjit::ir::{Module, Tensor, verify_module};
use adjit_workloads::spring;
use common::*;

/// The policies every loop is tried with; `all` first (the reference).
const POLICIES: [&str; 6] = [
    "",
    ", checkpoint=every(1)",
    ", checkpoint=every(3)",
    ", checkpoint=every(1000)",
    ", checkpoint=binomial(1)",
    ", checkpoint=binomial(3)",
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

/// A deterministic pseudo-random sequence in [-1, 1).
fn wave(n: usize, seed: f64) -> Vec<f64> {
    (0..n)
        .map(|i| ((i as f64 + 1.0) * seed).sin() * 0.9 + 0.05 * (i as f64 * 0.37).cos())
        .collect()
}

/// `x + h·v` for every float tensor of `x`.
fn shifted(x: &[Tensor], v: &[Vec<f64>], h: f64) -> Vec<Tensor> {
    x.iter()
        .zip(v)
        .map(|(t, d)| match t.as_f64() {
            Some(xs) => {
                let data = xs.iter().zip(d).map(|(a, b)| a + h * b).collect();
                Tensor::f64(t.shape(), data).unwrap()
            }
            None => t.clone(),
        })
        .collect()
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// A scan with consts, two carries (an array and a scalar), a scanned input
/// and two per-step outputs, whose body calls a function and runs a nested
/// scan over the elements of its row. `ATTRS` is replaced by the scan's
/// `reverse` flag and policy.
const SCAN: &str = "
func @sq(%u: f64[m]) -> f64[m] {
  %y: f64[m] = mul %u, %u
  return %y
}

func @inner(%w: f64, %c: f64, %x: f64) -> (f64, f64) {
  %cw: f64 = mul %c, %w
  %t: f64 = add %cw, %x
  %c2: f64 = sin %t
  %y: f64 = mul %c2, %x
  return %c2, %y
}

func @body(%a: f64[m], %w: f64, %h: f64[m], %s: f64, %x: f64[m]) -> (f64[m], f64, f64[m], f64) {
  %ah: f64[m] = mul %a, %h
  %hh: f64[m] = call @sq(%h)
  %ws: f64[m] = broadcast %w, dims=[]
  %q: f64[m] = mul %ws, %hh
  %u: f64[m] = add %ah, %q
  %ux: f64[m] = add %u, %x
  %h2: f64[m] = tanh %ux
  %s1: f64, %zs: f64[m] = scan @inner, length=m, consts=(%w), carry=(%s), xs=(%x)
  %hs: f64 = reduce_sum %h2, axes=[0]
  %s2: f64 = add %s1, %hs
  %z: f64 = reduce_sum %zs, axes=[0]
  %y: f64 = mul %z, %s
  return %h2, %s2, %zs, %y
}

func @f(%a: f64[m], %w: f64, %h0: f64[m], %s0: f64, %xs: f64[T, m]) -> (f64[m], f64, f64[T, m], f64[T]) {
  %hT: f64[m], %sT: f64, %zss: f64[T, m], %ys: f64[T] = scan @body, length=T, consts=(%a, %w), carry=(%h0, %s0), xs=(%xs)ATTRS
  return %hT, %sT, %zss, %ys
}
";

fn scan_program(attrs: &str) -> Module {
    parse(&SCAN.replace("ATTRS", attrs))
}

fn scan_inputs(m: usize, len: usize) -> Vec<Tensor> {
    vec![
        t(&[m], wave(m, 0.7).iter().map(|v| 0.5 * v).collect()),
        s(0.3),
        t(&[m], wave(m, 1.3)),
        s(-0.4),
        t(&[len, m], wave(len * m, 0.21)),
    ]
}

/// Directions for every parameter of `args`.
fn directions(args: &[Tensor], seed: f64) -> Vec<Vec<f64>> {
    args.iter()
        .enumerate()
        .map(|(i, t)| wave(t.len(), seed + i as f64))
        .collect()
}

/// Checks the JVP of `f` (all parameters, which must all be floats) along
/// `v` against central differences of every output.
fn check_jvp(m: &Module, f: &str, args: &[Tensor], v: &[Vec<f64>], what: &str) {
    let wrt: Vec<usize> = (0..args.len()).collect();
    let (jm, jf) = ad::jvp(m, f, &wrt).unwrap();
    let mut inputs = args.to_vec();
    inputs.extend(
        args.iter()
            .zip(v)
            .map(|(a, d)| Tensor::f64(a.shape(), d.clone()).unwrap()),
    );
    let out = run(&jm, &jf, &inputs);
    let n_out = out.len() / 2;
    let h = 1e-5;
    let plus = run(m, f, &shifted(args, v, h));
    let minus = run(m, f, &shifted(args, v, -h));
    let primal = run(m, f, args);
    for o in 0..n_out {
        assert_eq!(floats(&out[o]), floats(&primal[o]), "{what}: primal {o}");
        let fd: Vec<f64> = floats(&plus[o])
            .iter()
            .zip(floats(&minus[o]))
            .map(|(p, q)| (p - q) / (2.0 * h))
            .collect();
        let got = floats(&out[n_out + o]);
        assert_eq!(got.len(), fd.len());
        for (i, (g, d)) in got.iter().zip(&fd).enumerate() {
            // Central differences: truncation O(h²), rounding O(ε/h).
            assert!(
                (g - d).abs() <= 1e-7 * (1.0 + d.abs()),
                "{what}: tangent of output {o} [{i}]: jvp {g}, finite differences {d}"
            );
        }
    }
}

/// The dot-product test: for the Jacobian J of all float outputs with
/// respect to all parameters, `<J v, w> = <v, Jᵀ w>`, with J v from `jvp`
/// and Jᵀ w from `vjp`.
fn check_dot(m: &Module, f: &str, args: &[Tensor], v: &[Vec<f64>], w_seed: f64, what: &str) {
    let wrt: Vec<usize> = (0..args.len()).collect();
    let (jm, jf) = ad::jvp(m, f, &wrt).unwrap();
    let (vm, vf) = ad::vjp(m, f, &wrt).unwrap();
    let primal = run(m, f, args);
    let floats_out: Vec<usize> = (0..primal.len())
        .filter(|&o| primal[o].as_f64().is_some())
        .collect();
    let mut inputs = args.to_vec();
    inputs.extend(
        args.iter()
            .zip(v)
            .map(|(a, d)| Tensor::f64(a.shape(), d.clone()).unwrap()),
    );
    let jv = run(&jm, &jf, &inputs);
    let w: Vec<Vec<f64>> = floats_out
        .iter()
        .map(|&o| wave(primal[o].len(), w_seed + o as f64))
        .collect();
    let mut inputs = args.to_vec();
    inputs.extend(
        floats_out
            .iter()
            .zip(&w)
            .map(|(&o, d)| Tensor::f64(primal[o].shape(), d.clone()).unwrap()),
    );
    let jtw = run(&vm, &vf, &inputs);
    let lhs: f64 = floats_out
        .iter()
        .zip(&w)
        .map(|(&o, wo)| dot(&floats(&jv[primal.len() + o]), wo))
        .sum();
    let rhs: f64 = v
        .iter()
        .enumerate()
        .map(|(i, vi)| dot(vi, &floats(&jtw[primal.len() + i])))
        .sum();
    assert_close(&format!("{what}: <Jv, w> vs <v, Jᵀw>"), lhs, rhs, 1e-12);
}

#[test]
fn scan_jvp_matches_finite_differences() {
    for reverse in ["", ", reverse"] {
        for len in [0usize, 1, 2, 7] {
            let m = scan_program(reverse);
            let args = scan_inputs(4, len);
            let v = directions(&args, 0.5);
            check_jvp(&m, "f", &args, &v, &format!("scan T={len}{reverse}"));
        }
    }
}

#[test]
fn scan_vjp_passes_the_dot_product_test() {
    for reverse in ["", ", reverse"] {
        for len in [0usize, 1, 2, 7] {
            let m = scan_program(reverse);
            let args = scan_inputs(3, len);
            let v = directions(&args, 1.5);
            check_dot(&m, "f", &args, &v, 2.5, &format!("scan T={len}{reverse}"));
        }
    }
}

/// The gradient of a scalar of the scan's results, under every policy.
fn scan_loss_grad(attrs: &str, len: usize) -> Vec<Vec<u64>> {
    let text = format!(
        "{}\nfunc @loss(%a: f64[m], %w: f64, %h0: f64[m], %s0: f64, %xs: f64[T, m]) -> f64 {{
  %hT: f64[m], %sT: f64, %zss: f64[T, m], %ys: f64[T] = call @f(%a, %w, %h0, %s0, %xs)
  %a1: f64 = reduce_sum %hT, axes=[0]
  %a2: f64 = reduce_sum %ys, axes=[0]
  %a3: f64 = reduce_sum %zss, axes=[0, 1]
  %b: f64 = add %a1, %a2
  %c: f64 = add %b, %a3
  %l: f64 = add %c, %sT
  return %l
}}\n",
        SCAN.replace("ATTRS", attrs)
    );
    let m = parse(&text);
    let (gm, gf) = ad::grad(&m, "loss", &[0, 1, 2, 3, 4]).unwrap();
    let out = run(&gm, &gf, &scan_inputs(3, len));
    out[1..]
        .iter()
        .map(|t| floats(t).iter().map(|x| x.to_bits()).collect())
        .collect()
}

#[test]
fn every_policy_gives_the_same_scan_gradient_bit_for_bit() {
    for len in [0usize, 1, 2, 9] {
        let reference = scan_loss_grad("", len);
        for p in POLICIES {
            for reverse in ["", ", reverse"] {
                if !reverse.is_empty() && p.is_empty() {
                    continue;
                }
                let attrs = format!("{reverse}{p}");
                let want = if reverse.is_empty() {
                    reference.clone()
                } else {
                    scan_loss_grad(reverse, len)
                };
                assert_eq!(scan_loss_grad(&attrs, len), want, "T={len} {attrs}");
            }
        }
    }
}

/// A `while` loop with a float state, an `i64` counter and a scalar, whose
/// condition is the counter against a runtime limit: `n` steps, at most 6,
/// of `x ← x + h·sin(a·x + r)`, `r ← r·c + sum(x)/m`.
const WHILE: &str = "
func @more(%a: f64[m], %c: f64, %n: i64, %x: f64[m], %r: f64, %i: i64) -> bool {
  %go: bool = lt %i, %n
  return %go
}

func @step(%a: f64[m], %c: f64, %n: i64, %x: f64[m], %r: f64, %i: i64) -> (f64[m], f64, i64) {
  %ax: f64[m] = mul %a, %x
  %rb: f64[m] = broadcast %r, dims=[]
  %t: f64[m] = add %ax, %rb
  %st: f64[m] = sin %t
  %h: f64[m] = const 0.25
  %d: f64[m] = mul %h, %st
  %x2: f64[m] = add %x, %d
  %rc: f64 = mul %r, %c
  %sx: f64 = reduce_sum %x2, axes=[0]
  %inv: f64 = const 0.2
  %sxm: f64 = mul %sx, %inv
  %r2: f64 = add %rc, %sxm
  %one: i64 = const 1
  %i2: i64 = add %i, %one
  return %x2, %r2, %i2
}

func @g(%a: f64[m], %c: f64, %x0: f64[m], %r0: f64, %n: i64) -> (f64[m], f64, i64, f64) {
  %zero: i64 = const 0
  %x: f64[m], %r: f64, %i: i64, %trips: i64 = while @more, @step, max=6, consts=(%a, %c, %n), init=(%x0, %r0, %zero)ATTRS
  %xx: f64[m] = mul %x, %x
  %sxx: f64 = reduce_sum %xx, axes=[0]
  %loss: f64 = mul %sxx, %r
  return %x, %r, %trips, %loss
}

func @g_loss_n(%a: f64[m], %c: f64, %x0: f64[m], %r0: f64, %n: i64) -> f64 {
  %x: f64[m], %r: f64, %trips: i64, %loss: f64 = call @g(%a, %c, %x0, %r0, %n)
  return %loss
}

func @g_float(%a: f64[m], %c: f64, %x0: f64[m], %r0: f64) -> (f64[m], f64) {
  %n: i64 = const NTRIPS
  %x: f64[m], %r: f64, %trips: i64, %loss: f64 = call @g(%a, %c, %x0, %r0, %n)
  return %x, %r
}

func @g_loss(%a: f64[m], %c: f64, %x0: f64[m], %r0: f64) -> f64 {
  %n: i64 = const NTRIPS
  %x: f64[m], %r: f64, %trips: i64, %loss: f64 = call @g(%a, %c, %x0, %r0, %n)
  return %loss
}
";

fn while_program(attrs: &str, trips: i64) -> Module {
    parse(
        &WHILE
            .replace("ATTRS", attrs)
            .replace("NTRIPS", &trips.to_string()),
    )
}

fn while_inputs(m: usize) -> Vec<Tensor> {
    vec![t(&[m], wave(m, 0.9)), s(0.8), t(&[m], wave(m, 0.4)), s(0.1)]
}

/// The trip counts 0, 1, some, the maximum, and a limit above the maximum.
const TRIPS: [i64; 5] = [0, 1, 3, 6, 9];

#[test]
fn while_runs_the_trips_asked() {
    let m = while_program("", 0);
    for n in TRIPS {
        let mut args = while_inputs(3);
        args.push(Tensor::i64(&[], vec![n]).unwrap());
        let out = run(&m, "g", &args);
        assert_eq!(out[2].as_i64().unwrap(), &[n.min(6)][..], "n={n}");
    }
}

#[test]
fn while_jvp_matches_finite_differences() {
    for n in TRIPS {
        let m = while_program("", n);
        let args = while_inputs(4);
        let v = directions(&args, 0.3);
        check_jvp(&m, "g_float", &args, &v, &format!("while n={n}"));
    }
}

#[test]
fn while_vjp_passes_the_dot_product_test() {
    for n in TRIPS {
        let m = while_program("", n);
        let args = while_inputs(3);
        let v = directions(&args, 0.6);
        check_dot(&m, "g_float", &args, &v, 1.1, &format!("while n={n}"));
    }
}

#[test]
fn while_gradient_matches_finite_differences() {
    for n in TRIPS {
        let m = while_program("", n);
        let args = while_inputs(3);
        let (gm, gf) = ad::grad(&m, "g_loss", &[0, 1, 2, 3]).unwrap();
        let grads = run(&gm, &gf, &args);
        let h = 1e-6;
        for (p, arg) in args.iter().enumerate() {
            for i in 0..arg.len() {
                let mut e: Vec<Vec<f64>> = args.iter().map(|a| vec![0.0; a.len()]).collect();
                e[p][i] = 1.0;
                let plus = scalar(&run(&m, "g_loss", &shifted(&args, &e, h))[0]);
                let minus = scalar(&run(&m, "g_loss", &shifted(&args, &e, -h))[0]);
                let fd = (plus - minus) / (2.0 * h);
                let got = floats(&grads[1 + p])[i];
                assert!(
                    (got - fd).abs() <= 1e-7 * (1.0 + fd.abs()),
                    "n={n}: d loss / d param {p}[{i}]: grad {got}, finite differences {fd}"
                );
            }
        }
    }
}

#[test]
fn every_policy_gives_the_same_while_gradient_bit_for_bit() {
    for n in TRIPS {
        let grad_bits = |attrs: &str| -> Vec<Vec<u64>> {
            let m = while_program(attrs, n);
            let (gm, gf) = ad::grad(&m, "g_loss", &[0, 1, 2, 3]).unwrap();
            run(&gm, &gf, &while_inputs(3))[1..]
                .iter()
                .map(|t| floats(t).iter().map(|x| x.to_bits()).collect())
                .collect()
        };
        let reference = grad_bits("");
        for p in POLICIES {
            assert_eq!(grad_bits(p), reference, "n={n} {p}");
        }
    }
}

/// The spring program with its scan's policy replaced.
fn spring_with(policy: &str) -> Module {
    let path = format!(
        "{}/examples/programs/spring.adj",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).unwrap();
    let text = text
        .replace(", checkpoint=binomial(32)", "")
        .replace("xs=()", &format!("xs=(){policy}"));
    parse(&text)
}

/// The hand-written adjoint of the workload: (loss, ∂k, ∂v0, ∂x0).
fn spring_reference(inp: &spring::SpringInputs) -> (f64, Vec<f64>, Vec<f64>, Vec<f64>) {
    let config = inp.config;
    let mut ws = spring::Workspace::new(config).unwrap();
    let (mut k, mut x0, mut v0) = (
        vec![0.0; config.springs()],
        vec![0.0; config.masses],
        vec![0.0; config.masses],
    );
    let grads = spring::Grads {
        k: &mut k,
        x0: &mut x0,
        v0: &mut v0,
    };
    let loss = spring::value_and_grad(config, inp.args(), &mut ws, grads).unwrap();
    (loss, k, v0, x0)
}

#[test]
fn spring_gradient_matches_the_hand_written_adjoint() {
    let (m, entry) = program("spring");
    let (inp, args) = spring_inputs(7);
    let (loss, dk, dv0, dx0) = spring_reference(&inp);
    let (gm, gf) = ad::grad(&m, &entry, &[0, 1, 2]).unwrap();
    verify_module(&gm).unwrap();
    let optimized = adjit::opt::optimize(&gm, &gf).unwrap();
    verify_module(&optimized).unwrap();
    for (what, module) in [("raw", &gm), ("optimised", &optimized)] {
        let out = run(module, &gf, &args);
        assert_close(&format!("{what} loss"), scalar(&out[0]), loss, 1e-12);
        assert_all_close(&format!("{what} dk"), &floats(&out[1]), &dk, 1e-9);
        assert_all_close(&format!("{what} dv0"), &floats(&out[2]), &dv0, 1e-9);
        assert_all_close(&format!("{what} dx0"), &floats(&out[3]), &dx0, 1e-9);
    }
}

#[test]
fn spring_gradient_is_the_same_under_every_policy() {
    let (_, args) = spring_inputs(3);
    let grad_bits = |policy: &str| -> Vec<Vec<u64>> {
        let m = spring_with(policy);
        let (gm, gf) = ad::grad(&m, "spring", &[0, 1]).unwrap();
        run(&gm, &gf, &args)
            .iter()
            .map(|t| floats(t).iter().map(|x| x.to_bits()).collect())
            .collect()
    };
    let reference = grad_bits("");
    for p in [
        ", checkpoint=every(32)",
        ", checkpoint=binomial(8)",
        ", checkpoint=binomial(32)",
    ] {
        assert_eq!(grad_bits(p), reference, "{p}");
    }
}

#[test]
fn spring_gradient_with_binomial_checkpointing_holds_few_states() {
    // Storing every state of the 1000 steps takes 1000 · 2 · 32 · 8 bytes
    // = 512 kB; binomial(32) holds at most 32 states (16 kB). A limit in
    // between separates them.
    let (_, args) = spring_inputs(11);
    let limits = Limits {
        max_live_bytes: 200_000,
        ..Limits::default()
    };
    let grad_with = |policy: &str| {
        let m = spring_with(policy);
        let (gm, gf) = ad::grad(&m, "spring", &[0, 1]).unwrap();
        Interpreter::with_limits(&gm, limits)
            .eval(&gf, &args)
            .map(|out| out.iter().map(floats).collect::<Vec<_>>())
    };
    let all = grad_with("");
    assert!(
        matches!(all, Err(EvalError::OutOfMemory { .. })),
        "store-all should exceed the limit: {all:?}"
    );
    let (m, entry) = program("spring");
    let (gm, gf) = ad::grad(&m, &entry, &[0, 1]).unwrap();
    let want: Vec<Vec<f64>> = run(&gm, &gf, &args).iter().map(floats).collect();
    for policy in [", checkpoint=binomial(32)", ", checkpoint=every(32)"] {
        assert_eq!(grad_with(policy).unwrap(), want, "{policy}");
    }
}

#[test]
fn spring_derivatives_match_finite_differences() {
    // Along a direction in (k, v0, x0): the gradient's inner product, the
    // forward-mode tangent, and central differences of the loss agree.
    let (m, entry) = program("spring");
    let (_, args) = spring_inputs(13);
    let v: Vec<Vec<f64>> = args[..3]
        .iter()
        .enumerate()
        .map(|(i, a)| wave(a.len(), 0.8 + i as f64))
        .collect();
    let zero: Vec<Vec<f64>> = args[3..].iter().map(|a| vec![0.0; a.len()]).collect();
    let dir = [v.clone(), zero].concat();
    let h = 1e-6;
    let plus = scalar(&run(&m, &entry, &shifted(&args, &dir, h))[0]);
    let minus = scalar(&run(&m, &entry, &shifted(&args, &dir, -h))[0]);
    let fd = (plus - minus) / (2.0 * h);

    let (gm, gf) = ad::grad(&m, &entry, &[0, 1, 2]).unwrap();
    let g = run(&gm, &gf, &args);
    let by_grad: f64 = (0..3).map(|i| dot(&floats(&g[1 + i]), &v[i])).sum();

    let (jm, jf) = ad::jvp(&m, &entry, &[0, 1, 2]).unwrap();
    let mut inputs = args.clone();
    inputs.extend((0..3).map(|i| Tensor::f64(args[i].shape(), v[i].clone()).unwrap()));
    let by_jvp = scalar(&run(&jm, &jf, &inputs)[1]);

    assert_close("grad·v vs finite differences", by_grad, fd, 1e-6);
    assert_close("jvp vs grad·v", by_jvp, by_grad, 1e-12);
}

#[test]
fn optimised_loop_derivatives_give_the_same_bits() {
    // `opt` rewrites exactly, through the derived bodies and steps too.
    let m = scan_program(", checkpoint=binomial(2)");
    let args = scan_inputs(3, 5);
    let v = directions(&args, 0.9);
    let mut jvp_inputs = args.clone();
    jvp_inputs.extend(
        args.iter()
            .zip(&v)
            .map(|(a, d)| Tensor::f64(a.shape(), d.clone()).unwrap()),
    );
    let w: Vec<Tensor> = run(&m, "f", &args)
        .iter()
        .enumerate()
        .map(|(o, y)| Tensor::f64(y.shape(), wave(y.len(), 3.0 + o as f64)).unwrap())
        .collect();
    let vjp_inputs = [args.clone(), w].concat();
    let wrt = [0, 1, 2, 3, 4];
    for (what, derived, inputs) in [
        ("jvp", ad::jvp(&m, "f", &wrt).unwrap(), &jvp_inputs),
        ("vjp", ad::vjp(&m, "f", &wrt).unwrap(), &vjp_inputs),
    ] {
        let (dm, df) = derived;
        let optimized = adjit::opt::optimize(&dm, &df).unwrap();
        verify_module(&optimized).unwrap();
        let bits = |m: &Module| -> Vec<Vec<u64>> {
            run(m, &df, inputs)
                .iter()
                .map(|t| floats(t).iter().map(|x| x.to_bits()).collect())
                .collect()
        };
        assert_eq!(bits(&optimized), bits(&dm), "{what}");
    }
}

/// Checks the Jacobian blocks of `f` (all parameters, all outputs floats)
/// against forward mode: `Σ_j J_ij v_j` is the tangent of output `i`.
fn check_jacobian(m: &Module, f: &str, args: &[Tensor], mode: ad::Mode, what: &str) {
    let wrt: Vec<usize> = (0..args.len()).collect();
    let v = directions(args, 0.4);
    let (jm, jf) = ad::jacobian(m, f, &wrt, mode).unwrap();
    verify_module(&jm).unwrap();
    let blocks = run(&jm, &jf, args);
    let (tm, tf) = ad::jvp(m, f, &wrt).unwrap();
    let mut inputs = args.to_vec();
    inputs.extend(
        args.iter()
            .zip(&v)
            .map(|(a, d)| Tensor::f64(a.shape(), d.clone()).unwrap()),
    );
    let tangents = run(&tm, &tf, &inputs);
    let n_out = tangents.len() / 2;
    assert_eq!(blocks.len(), n_out * args.len(), "{what}");
    for o in 0..n_out {
        let want = floats(&tangents[n_out + o]);
        let mut got = vec![0.0; want.len()];
        let mut mag = vec![0.0; want.len()];
        for (j, vj) in v.iter().enumerate() {
            let block = floats(&blocks[o * args.len() + j]);
            for (a, (g, s)) in got.iter_mut().zip(&mut mag).enumerate() {
                for (b, x) in vj.iter().enumerate() {
                    let term = block[a * vj.len() + b] * x;
                    *g += term;
                    *s += term.abs();
                }
            }
        }
        for (a, ((g, w), s)) in got.iter().zip(&want).zip(&mag).enumerate() {
            assert!(
                (g - w).abs() <= 1e-13 * s.max(1e-300),
                "{what}: (J v)[{o}][{a}] = {g}, jvp {w}"
            );
        }
    }
}

#[test]
fn jacobians_through_scans_in_both_modes() {
    for attrs in ["", ", reverse, checkpoint=binomial(2)"] {
        let m = scan_program(attrs);
        for len in [0usize, 1, 4] {
            let args = scan_inputs(3, len);
            for mode in [ad::Mode::Forward, ad::Mode::Reverse] {
                check_jacobian(&m, "f", &args, mode, &format!("T={len}{attrs} {mode:?}"));
            }
        }
    }
}

#[test]
fn jacobians_through_a_while_in_both_modes() {
    for n in TRIPS {
        let m = while_program("", n);
        let args = while_inputs(3);
        for mode in [ad::Mode::Forward, ad::Mode::Reverse] {
            check_jacobian(&m, "g_float", &args, mode, &format!("while n={n} {mode:?}"));
        }
    }
}

#[test]
fn vmap_of_a_while_runs_each_lane_its_own_trips() {
    // Batched over the initial state and the trip limit: the lanes run 0,
    // 1, 3, 6 (the maximum) and 6 steps.
    let m = while_program("", 0);
    let width = 3;
    let lanes = TRIPS.len();
    let (vm, vf) = ad::vmap(&m, "g", &[2, 4], adjit::ir::Dim::var("b")).unwrap();
    verify_module(&vm).unwrap();
    let base = while_inputs(width);
    let x0 = wave(lanes * width, 0.77);
    let mut args = base.clone();
    args[2] = t(&[lanes, width], x0.clone());
    args.push(Tensor::i64(&[lanes], TRIPS.to_vec()).unwrap());
    let out = run(&vm, &vf, &args);
    for (lane, &n) in TRIPS.iter().enumerate() {
        let mut one = base.clone();
        one[2] = t(&[width], x0[lane * width..(lane + 1) * width].to_vec());
        one.push(Tensor::i64(&[], vec![n]).unwrap());
        let want = run(&m, "g", &one);
        assert_eq!(
            out[2].as_i64().unwrap()[lane],
            n.min(6),
            "lane {lane} trips"
        );
        for o in [0, 1, 3] {
            let w = floats(&want[o]);
            let got = &floats(&out[o])[lane * w.len()..(lane + 1) * w.len()];
            assert_all_close(&format!("lane {lane} output {o}"), got, &w, 1e-14);
        }
    }
}

#[test]
fn vmap_of_a_scan_is_the_scan_of_each_slice() {
    // Batched over the consts `a` and the scanned inputs `xs`.
    let m = scan_program("");
    let (b, width, len) = (3usize, 3usize, 4usize);
    let (vm, vf) = ad::vmap(&m, "f", &[0, 4], adjit::ir::Dim::var("b")).unwrap();
    verify_module(&vm).unwrap();
    let base = scan_inputs(width, len);
    let a: Vec<f64> = wave(b * width, 0.23).iter().map(|x| 0.5 * x).collect();
    let xs = wave(b * len * width, 0.61);
    let mut args = base.clone();
    args[0] = t(&[b, width], a.clone());
    args[4] = t(&[b, len, width], xs.clone());
    let out = run(&vm, &vf, &args);
    for lane in 0..b {
        let mut one = base.clone();
        one[0] = t(&[width], a[lane * width..(lane + 1) * width].to_vec());
        one[4] = t(
            &[len, width],
            xs[lane * len * width..(lane + 1) * len * width].to_vec(),
        );
        let want = run(&m, "f", &one);
        for (o, w) in want.iter().enumerate() {
            let w = floats(w);
            let got = &floats(&out[o])[lane * w.len()..(lane + 1) * w.len()];
            assert_all_close(&format!("lane {lane} output {o}"), got, &w, 1e-14);
        }
    }
}

#[test]
fn vmap_of_a_while_gradient_runs_each_lane_its_own_trips() {
    // The gradient's reverse sweep, batched over the initial state and the
    // trip limit, against the gradient of each lane alone.
    let m = while_program("", 0);
    let (gm, gf) = ad::grad(&m, "g_loss_n", &[0, 1, 2, 3]).unwrap();
    for policy in ["", ", checkpoint=binomial(2)"] {
        let m = while_program(policy, 0);
        let (pm, pf) = ad::grad(&m, "g_loss_n", &[0, 1, 2, 3]).unwrap();
        let (vm, vf) = ad::vmap(&pm, &pf, &[2, 4], adjit::ir::Dim::var("b")).unwrap();
        verify_module(&vm).unwrap();
        let width = 3;
        let lanes = TRIPS.len();
        let base = while_inputs(width);
        let x0 = wave(lanes * width, 0.37);
        let mut args = base.clone();
        args[2] = t(&[lanes, width], x0.clone());
        args.push(Tensor::i64(&[lanes], TRIPS.to_vec()).unwrap());
        let out = run(&vm, &vf, &args);
        for (lane, &n) in TRIPS.iter().enumerate() {
            let mut one = base.clone();
            one[2] = t(&[width], x0[lane * width..(lane + 1) * width].to_vec());
            one.push(Tensor::i64(&[], vec![n]).unwrap());
            let want = run(&gm, &gf, &one);
            for (o, w) in want.iter().enumerate() {
                let w = floats(w);
                let got = &floats(&out[o])[lane * w.len()..(lane + 1) * w.len()];
                assert_all_close(&format!("{policy} lane {lane} output {o}"), got, &w, 1e-13);
            }
        }
    }
}

/// Checks `hvp` of the scalar function `f` (all parameters floats) along
/// `v` against central differences of its gradient.
fn check_hvp(m: &Module, f: &str, args: &[Tensor], v: &[Vec<f64>], tol: f64, what: &str) {
    let wrt: Vec<usize> = (0..args.len()).collect();
    let (hm, hf) = ad::hvp(m, f, &wrt).unwrap();
    verify_module(&hm).unwrap();
    let mut inputs = args.to_vec();
    inputs.extend(
        args.iter()
            .zip(v)
            .map(|(a, d)| Tensor::f64(a.shape(), d.clone()).unwrap()),
    );
    let hv = run(&hm, &hf, &inputs);
    let (gm, gf) = ad::grad(m, f, &wrt).unwrap();
    let h = 1e-5;
    let plus = run(&gm, &gf, &shifted(args, v, h));
    let minus = run(&gm, &gf, &shifted(args, v, -h));
    for p in 0..args.len() {
        let fd: Vec<f64> = floats(&plus[1 + p])
            .iter()
            .zip(floats(&minus[1 + p]))
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        for (i, (g, d)) in floats(&hv[p]).iter().zip(&fd).enumerate() {
            assert!(
                (g - d).abs() <= tol * (1.0 + d.abs()),
                "{what}: (Hv)[{p}][{i}]: hvp {g}, differences of the gradient {d}"
            );
        }
    }
}

#[test]
fn hvp_through_scans_and_whiles_matches_differences_of_the_gradient() {
    let scan_loss = |attrs: &str| {
        parse(&format!(
            "{}\nfunc @loss(%a: f64[m], %w: f64, %h0: f64[m], %s0: f64, %xs: f64[T, m]) -> f64 {{
  %hT: f64[m], %sT: f64, %zss: f64[T, m], %ys: f64[T] = call @f(%a, %w, %h0, %s0, %xs)
  %hh: f64[m] = mul %hT, %hT
  %a1: f64 = reduce_sum %hh, axes=[0]
  %y2: f64[T] = mul %ys, %ys
  %a2: f64 = reduce_sum %y2, axes=[0]
  %b: f64 = add %a1, %a2
  %s2: f64 = mul %sT, %sT
  %l: f64 = add %b, %s2
  return %l
}}\n",
            SCAN.replace("ATTRS", attrs)
        ))
    };
    for attrs in ["", ", reverse, checkpoint=binomial(2)"] {
        for len in [0usize, 1, 5] {
            let m = scan_loss(attrs);
            let args = scan_inputs(3, len);
            let v = directions(&args, 0.7);
            check_hvp(&m, "loss", &args, &v, 1e-7, &format!("scan T={len}{attrs}"));
        }
    }
    for n in TRIPS {
        for policy in ["", ", checkpoint=every(2)"] {
            let m = while_program(policy, n);
            let args = while_inputs(3);
            let v = directions(&args, 0.2);
            check_hvp(
                &m,
                "g_loss",
                &args,
                &v,
                1e-7,
                &format!("while n={n}{policy}"),
            );
        }
    }
}

#[test]
fn spring_hvp_matches_differences_of_the_hand_written_adjoint() {
    // Along a direction in (k, v0, x0): central differences of the
    // workload's own gradient.
    let (m, entry) = program("spring");
    let (inp, args) = spring_inputs(17);
    let (hm, hf) = ad::hvp(&m, &entry, &[0, 1, 2]).unwrap();
    let v: Vec<Vec<f64>> = args[..3]
        .iter()
        .enumerate()
        .map(|(i, a)| wave(a.len(), 0.5 + i as f64))
        .collect();
    let mut inputs = args.clone();
    inputs.extend((0..3).map(|i| Tensor::f64(args[i].shape(), v[i].clone()).unwrap()));
    let hv = run(&hm, &hf, &inputs);
    let h = 1e-5;
    let at = |sign: f64| {
        let mut p = inp.clone();
        for (x, d) in p.k.iter_mut().zip(&v[0]) {
            *x += sign * h * d;
        }
        for (x, d) in p.v0.iter_mut().zip(&v[1]) {
            *x += sign * h * d;
        }
        for (x, d) in p.x0.iter_mut().zip(&v[2]) {
            *x += sign * h * d;
        }
        let (_, dk, dv0, dx0) = spring_reference(&p);
        [dk, dv0, dx0]
    };
    let (plus, minus) = (at(1.0), at(-1.0));
    for p in 0..3 {
        let fd: Vec<f64> = plus[p]
            .iter()
            .zip(&minus[p])
            .map(|(a, b)| (a - b) / (2.0 * h))
            .collect();
        let got = floats(&hv[p]);
        let scale = fd.iter().fold(0.0f64, |m, x| m.max(x.abs()));
        for (i, (g, d)) in got.iter().zip(&fd).enumerate() {
            assert!(
                (g - d).abs() <= 1e-6 * scale,
                "(Hv)[{p}][{i}]: hvp {g}, differences of the hand adjoint {d}"
            );
        }
    }
}
