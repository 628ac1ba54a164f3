//! `scan_adjoint` and checkpoint policies: text form, type rule, and the
//! interpreter against a plain-Rust reference, under every policy, with the
//! memory the policies hold observed through the live-bytes limit.

use adjit_ir::interp::{EvalError, Interpreter, Limits};
use adjit_ir::{Tensor, parse_module, print_module, verify_module};

/// A linear recurrence and an order-sensitive reverse step:
/// `c' = a·c + x`; reverse `g' = g·a + c`, `y = c·w`.
const PROGRAM: &str = "
func @step(%a: f64[m], %c: f64[m], %x: f64[m]) -> (f64[m], f64[m]) {
  %ac: f64[m] = mul %a, %c
  %c2: f64[m] = add %ac, %x
  return %c2, %ac
}

func @back(%a: f64[m], %g: f64[m], %c: f64[m], %x: f64[m], %w: f64[m]) -> (f64[m], f64[m]) {
  %h: f64[m] = mul %g, %a
  %g2: f64[m] = add %h, %c
  %y: f64[m] = mul %c, %w
  return %g2, %y
}

func @f(%a: f64[m], %c0: f64[m], %xs: f64[T, m], %g0: f64[m], %ws: f64[T, m], %n: i64) -> (f64[m], f64[T, m]) {
  %g: f64[m], %ys: f64[T, m] = scan_adjoint @step, @back, length=T, consts=(%a), carry=(%c0), xs=(%xs), adjoint_carry=(%g0), adjoint_xs=(%ws), trips=%n ATTRS
  return %g, %ys
}
";

fn program(attrs: &str) -> adjit_ir::Module {
    let text = PROGRAM.replace(" ATTRS", attrs);
    let (m, _) = parse_module(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
    verify_module(&m).unwrap();
    m
}

struct Inputs {
    a: Vec<f64>,
    c0: Vec<f64>,
    xs: Vec<f64>,
    g0: Vec<f64>,
    ws: Vec<f64>,
    m: usize,
    len: usize,
}

fn inputs(m: usize, len: usize) -> Inputs {
    let wave = |k: usize, s: f64| -> Vec<f64> { (0..k).map(|i| (i as f64 * s).sin()).collect() };
    Inputs {
        a: (0..m).map(|i| 0.9 + 0.01 * i as f64).collect(),
        c0: wave(m, 0.7),
        xs: wave(len * m, 0.31),
        g0: wave(m, 1.3),
        ws: wave(len * m, 0.17),
        m,
        len,
    }
}

impl Inputs {
    fn tensors(&self, n: i64) -> Vec<Tensor> {
        let (m, l) = (self.m, self.len);
        vec![
            Tensor::f64(&[m], self.a.clone()).unwrap(),
            Tensor::f64(&[m], self.c0.clone()).unwrap(),
            Tensor::f64(&[l, m], self.xs.clone()).unwrap(),
            Tensor::f64(&[m], self.g0.clone()).unwrap(),
            Tensor::f64(&[l, m], self.ws.clone()).unwrap(),
            Tensor::i64(&[], vec![n]).unwrap(),
        ]
    }

    /// The documented semantics, written out: states forward, then the
    /// reverse sweep, over `n` steps (clamped) with the index map of `reverse`.
    fn reference(&self, n: i64, reverse: bool) -> (Vec<f64>, Vec<f64>) {
        let (m, l) = (self.m, self.len);
        let n = n.clamp(0, l as i64) as usize;
        let index = |s: usize| if reverse { l - 1 - s } else { s };
        let mut states = vec![self.c0.clone()];
        for s in 0..n {
            let (c, t) = (&states[s], index(s));
            let next = (0..m)
                .map(|i| self.a[i] * c[i] + self.xs[t * m + i])
                .collect();
            states.push(next);
        }
        let mut g = self.g0.clone();
        let mut ys = vec![0.0; l * m];
        for s in (0..n).rev() {
            let (c, t) = (&states[s], index(s));
            for i in 0..m {
                ys[t * m + i] = c[i] * self.ws[t * m + i];
                g[i] = g[i] * self.a[i] + c[i];
            }
        }
        (g, ys)
    }
}

const POLICIES: [&str; 9] = [
    "",
    ", checkpoint=every(1)",
    ", checkpoint=every(3)",
    ", checkpoint=every(7)",
    ", checkpoint=binomial(1)",
    ", checkpoint=binomial(2)",
    ", checkpoint=binomial(3)",
    ", checkpoint=binomial(5)",
    ", checkpoint=binomial(100)",
];

#[test]
fn every_policy_matches_the_reference_bit_for_bit() {
    let inp = inputs(3, 23);
    for reverse in [false, true] {
        for policy in POLICIES {
            let attrs = if reverse {
                format!(", reverse{policy}")
            } else {
                policy.to_string()
            };
            let m = program(&attrs);
            for n in [0, 1, 2, 5, 22, 23, 24, -3, i64::MAX] {
                let out = Interpreter::new(&m).eval("f", &inp.tensors(n)).unwrap();
                let (g, ys) = inp.reference(n, reverse);
                assert_eq!(out[0].as_f64().unwrap(), g, "{attrs} n={n}");
                assert_eq!(out[1].as_f64().unwrap(), ys, "{attrs} n={n}");
            }
        }
    }
}

#[test]
fn text_form_round_trips_and_leaves_the_default_out() {
    for policy in POLICIES {
        let m = program(&format!(", reverse{policy}"));
        let printed = print_module(&m);
        assert!(
            printed.contains(&format!("trips=%n, reverse{policy}\n")),
            "{printed}"
        );
        let (again, _) = parse_module(&printed).unwrap();
        assert_eq!(again, m);
        assert_eq!(print_module(&again), printed);
    }
    // `checkpoint=all` is accepted and printed as the default (nothing).
    let m = program(", checkpoint=all");
    assert!(!print_module(&m).contains("checkpoint"));
    assert_eq!(m, program(""));
}

#[test]
fn loops_carry_their_policy_in_text() {
    let text = "
func @more(%limit: f64, %x: f64) -> bool {
  %r: bool = lt %x, %limit
  return %r
}

func @double(%limit: f64, %x: f64) -> f64 {
  %y: f64 = add %x, %x
  return %y
}

func @s(%limit: f64, %x: f64) -> (f64, f64) {
  return %x, %x
}

func @g(%x: f64, %xs: f64[4]) -> (f64, i64, f64, f64[4]) {
  %limit: f64 = const 1000.0
  %y: f64, %steps: i64 = while @more, @double, max=100, consts=(%limit), init=(%x), checkpoint=binomial(3)
  %z: f64, %zs: f64[4] = scan @s, length=4, consts=(%limit), carry=(%x), xs=(), reverse, checkpoint=every(2)
  return %y, %steps, %z, %zs
}
";
    let (m, _) = parse_module(text).unwrap();
    verify_module(&m).unwrap();
    let printed = print_module(&m);
    assert!(
        printed.contains("init=(%x), checkpoint=binomial(3)\n"),
        "{printed}"
    );
    assert!(
        printed.contains("xs=(), reverse, checkpoint=every(2)\n"),
        "{printed}"
    );
    assert_eq!(parse_module(&printed).unwrap().0, m);
    // Forward evaluation ignores the policy.
    let out = Interpreter::new(&m)
        .eval(
            "g",
            &[
                Tensor::from_f64(3.0),
                Tensor::f64(&[4], vec![0.0; 4]).unwrap(),
            ],
        )
        .unwrap();
    assert_eq!(out[0].as_f64().unwrap(), [1536.0]);
    assert_eq!(out[1].as_i64().unwrap(), [9]);
}

/// What the parser or the verifier reports about `text`.
fn type_errors(text: &str) -> String {
    match parse_module(text) {
        Err(e) => e.to_string(),
        Ok((m, _)) => verify_module(&m).unwrap_err().to_string(),
    }
}

#[test]
fn bad_policies_and_operands_are_reported() {
    let bad = |attrs: &str, want: &str| {
        let text = PROGRAM.replace(" ATTRS", attrs);
        let errs = parse_module(&text).unwrap_err().to_string();
        assert!(errs.contains(want), "{attrs}: {errs}");
    };
    bad(", checkpoint=every(0)", "needs k >= 1");
    bad(", checkpoint=binomial(0)", "needs s >= 1");
    bad(", checkpoint=revolve(3)", "a checkpoint policy");
    bad(", checkpoint=every", "`(` after `every`");
    bad(", checkpoint=binomial(2), reverse", "expected");
    bad(", sideways", "`reverse` or `checkpoint=`");
    // A trip count of the wrong type is a type error.
    let text = PROGRAM
        .replace(" ATTRS", "")
        .replace("%n: i64)", "%n: f64)");
    let errs = type_errors(&text);
    assert!(errs.contains("trip count must be i64"), "{errs}");
    // An adjoint that does not return its carry first.
    let text = PROGRAM
        .replace(" ATTRS", "")
        .replace("-> (f64[m], f64[m]) {\n  %h", "-> (f64, f64[m]) {\n  %h")
        .replace(
            "return %g2, %y",
            "%s: f64 = reduce_sum %g2, axes=[0]\n  return %s, %y",
        );
    let errs = type_errors(&text);
    assert!(errs.contains("must return the adjoint carry"), "{errs}");
}

/// No scanned inputs or outputs: the only buffers the op makes are states.
const MEMORY: &str = "
func @step(%a: f64[m], %c: f64[m]) -> (f64[m]) {
  %ac: f64[m] = mul %a, %c
  %one: f64[m] = const 1.0
  %c2: f64[m] = add %ac, %one
  return %c2
}

func @back(%a: f64[m], %g: f64[m], %c: f64[m]) -> (f64[m]) {
  %h: f64[m] = mul %g, %a
  %g2: f64[m] = add %h, %c
  return %g2
}

func @f(%a: f64[m], %c0: f64[m], %g0: f64[m]) -> (f64[m]) {
  %g: f64[m] = scan_adjoint @step, @back, length=200, consts=(%a), carry=(%c0), xs=(), adjoint_carry=(%g0), adjoint_xs=() ATTRS
  return %g
}
";

#[test]
fn the_states_held_are_those_of_the_policy() {
    // 200 steps of a 1000-element state (8000 bytes): keeping every state
    // needs about 1.6 MB; three snapshots, a few tens of kB; segments of
    // 14 steps at most 27 states.
    let m = 1000;
    let a: Vec<f64> = (0..m).map(|i| 0.99 - 1e-4 * i as f64).collect();
    let c0: Vec<f64> = (0..m).map(|i| (i as f64).cos()).collect();
    let g0: Vec<f64> = (0..m).map(|i| (i as f64).sin()).collect();
    let args = [
        Tensor::f64(&[m], a.clone()).unwrap(),
        Tensor::f64(&[m], c0.clone()).unwrap(),
        Tensor::f64(&[m], g0.clone()).unwrap(),
    ];
    let mut states = vec![c0];
    for s in 0..199 {
        let next = (0..m).map(|i| a[i] * states[s][i] + 1.0).collect();
        states.push(next);
    }
    let mut g = g0;
    for c in states.iter().rev() {
        for i in 0..m {
            g[i] = g[i] * a[i] + c[i];
        }
    }
    let module = |attrs: &str| {
        let (module, _) = parse_module(&MEMORY.replace(" ATTRS", attrs)).unwrap();
        module
    };
    let limits = Limits {
        max_live_bytes: 400_000,
        ..Limits::default()
    };
    let all = module("");
    let caught = Interpreter::with_limits(&all, limits).eval("f", &args);
    assert!(
        matches!(caught, Err(EvalError::OutOfMemory { .. })),
        "store-all should exceed the limit: {caught:?}"
    );
    for attrs in [", checkpoint=binomial(3)", ", checkpoint=every(14)"] {
        let out = Interpreter::with_limits(&module(attrs), limits)
            .eval("f", &args)
            .unwrap();
        assert_eq!(out[0].as_f64().unwrap(), g, "{attrs}");
    }
    // Without the limit, store-all agrees.
    let out = Interpreter::new(&all).eval("f", &args).unwrap();
    assert_eq!(out[0].as_f64().unwrap(), g);
}
