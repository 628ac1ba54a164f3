//! `scan` and `while` through the JIT against the interpreter: forward and
//! reverse scans, carries only or with scanned inputs and stacked outputs,
//! nested loops, calls in bodies, trip counts 0, 1, the maximum and
//! data-dependent ones, and the bundled spring program against the
//! interpreter and the hand-written workload. Also: compiling a scan costs
//! the same whatever its length (counted in generated code, never timed).

mod common;
mod jit_support;

use adjit::ir::text::parse_module;
use adjit::ir::{Module, Tensor, Type, interp, verify_module};
use adjit::jit::{self, Options};
use jit_support::{Tol, Values, assert_close, tensor};

/// Parses and verifies a module.
fn module(src: &str) -> Module {
    let (m, _) = parse_module(src).unwrap_or_else(|e| panic!("{}", e.render("test", src)));
    verify_module(&m).unwrap_or_else(|e| panic!("{e}"));
    m
}

/// Options under which every result is bit-identical to the interpreter's.
fn strict() -> Vec<(&'static str, Options)> {
    let base = Options {
        strict_order: true,
        library_math: true,
        ..Options::default()
    };
    vec![
        ("strict", base.clone()),
        (
            "strict-scalar-unfused",
            Options {
                fusion: false,
                vectorize: false,
                ..base
            },
        ),
    ]
}

/// Instantiates `func` for `inputs`, then checks JIT ≡ interpreter bitwise.
fn check(m: &Module, func: &str, inputs: &[Tensor], what: &str) {
    let want = interp::eval(m, func, inputs).unwrap_or_else(|e| panic!("{what}: interpreter: {e}"));
    let types: Vec<Type> = inputs.iter().map(|t| t.ty()).collect();
    for (name, opts) in strict() {
        let c = jit::compile_for_with(m, func, &types, &opts)
            .unwrap_or_else(|e| panic!("{what} [{name}]: compile: {e}"));
        let refs: Vec<&Tensor> = inputs.iter().collect();
        let got = c
            .call(&refs)
            .unwrap_or_else(|e| panic!("{what} [{name}]: call: {e}"));
        assert_eq!(got.len(), want.len(), "{what}: outputs");
        for (i, (g, w)) in got.iter().zip(&want).enumerate() {
            assert_close(g, w, &Tol::Exact, &format!("{what} [{name}], output {i}"));
        }
    }
}

fn f64s(shape: &[usize], seed: u64) -> Tensor {
    tensor(&Type::f64(shape), seed, Values::Tame)
}

const SCAN: &str = r#"
func @step(%a: f64, %h: f64[3], %x: f64[3]) -> (f64[3], f64) {
  %ah: f64[3] = broadcast %a, dims=[]
  %s: f64[3] = mul %ah, %h
  %h2: f64[3] = add %s, %x
  %y: f64 = reduce_sum %h2, axes=[0]
  return %h2, %y
}

func @fwd(%a: f64, %h0: f64[3], %xs: f64[T, 3]) -> (f64[3], f64[T]) {
  %h: f64[3], %ys: f64[T] = scan @step, length=T, consts=(%a), carry=(%h0), xs=(%xs)
  return %h, %ys
}

func @rev(%a: f64, %h0: f64[3], %xs: f64[T, 3]) -> (f64[3], f64[T]) {
  %h: f64[3], %ys: f64[T] = scan @step, length=T, consts=(%a), carry=(%h0), xs=(%xs), reverse
  return %h, %ys
}
"#;

#[test]
fn scan_with_xs_and_ys_forward_and_reverse() {
    let m = module(SCAN);
    for t in [0usize, 1, 2, 3, 7, 64] {
        let inputs = [
            Tensor::from_f64(0.75),
            f64s(&[3], 1),
            f64s(&[t, 3], 2 + t as u64),
        ];
        check(&m, "fwd", &inputs, &format!("fwd T={t}"));
        check(&m, "rev", &inputs, &format!("rev T={t}"));
    }
}

const CARRY_ONLY: &str = r#"
func @decay(%k: f64, %x: f64, %v: f64[5]) -> (f64, f64[5]) {
  %kx: f64 = mul %k, %x
  %x2: f64 = sub %x, %kx
  %kb: f64[5] = broadcast %k, dims=[]
  %e: f64[5] = exp %v
  %s: f64[5] = mul %kb, %e
  %v2: f64[5] = sub %v, %s
  return %x2, %v2
}

func @run(%k: f64, %x0: f64, %v0: f64[5]) -> (f64, f64[5]) {
  %x: f64, %v: f64[5] = scan @decay, length=T, consts=(%k), carry=(%x0, %v0), xs=()
  return %x, %v
}

func @half(%k: f64, %x0: f64, %v0: f64[5]) -> f64[5] {
  %x: f64, %v: f64[5] = scan @decay, length=T, consts=(%k), carry=(%x0, %v0), xs=()
  return %v
}
"#;

/// Instantiates a module's symbolic length `T` by text substitution.
fn with_length(src: &str, t: usize) -> Module {
    module(&src.replace("length=T", &format!("length={t}")))
}

#[test]
fn scan_carry_only_scalar_and_tensor_carries() {
    for t in [0usize, 1, 2, 5, 100] {
        let m = with_length(CARRY_ONLY, t);
        let inputs = [
            Tensor::from_f64(0.125),
            Tensor::from_f64(2.5),
            f64s(&[5], 7),
        ];
        check(&m, "run", &inputs, &format!("carry only T={t}"));
        // One carry result dead: it still runs, in a spare buffer.
        check(&m, "half", &inputs, &format!("dead carry T={t}"));
    }
}

const NESTED: &str = r#"
func @sq(%x: f64[4]) -> f64[4] {
  %y: f64[4] = mul %x, %x
  return %y
}

func @inner(%c: f64[4], %h: f64[4], %x: f64[4]) -> (f64[4], f64[4]) {
  %s: f64[4] = call @sq(%x)
  %t: f64[4] = mul %c, %h
  %h2: f64[4] = add %t, %s
  %h3: f64[4] = tanh %h2
  return %h3, %s
}

func @outer(%c: f64[4], %h: f64[4], %xs: f64[3, 4]) -> (f64[4], f64[3, 4], f64) {
  %h2: f64[4], %ys: f64[3, 4] = scan @inner, length=3, consts=(%c), carry=(%h), xs=(%xs)
  %m: f64 = reduce_max %h2, axes=[0]
  return %h2, %ys, %m
}

func @run(%c: f64[4], %h0: f64[4], %xss: f64[5, 3, 4]) -> (f64[4], f64[5, 3, 4], f64[5]) {
  %h: f64[4], %yss: f64[5, 3, 4], %ms: f64[5] = scan @outer, length=5, consts=(%c), carry=(%h0), xs=(%xss), reverse
  return %h, %yss, %ms
}

func @twice(%c: f64[4], %h0: f64[4], %xs: f64[3, 4]) -> (f64[4], f64[4]) {
  %a: f64[4], %ya: f64[3, 4] = scan @inner, length=3, consts=(%c), carry=(%h0), xs=(%xs)
  %b: f64[4], %yb: f64[3, 4] = scan @inner, length=3, consts=(%c), carry=(%a), xs=(%ya)
  return %a, %b
}
"#;

#[test]
fn nested_scans_with_calls_in_bodies() {
    let m = module(NESTED);
    let inputs = [f64s(&[4], 11), f64s(&[4], 12), f64s(&[5, 3, 4], 13)];
    check(&m, "run", &inputs, "nested");
    let inputs = [f64s(&[4], 21), f64s(&[4], 22), f64s(&[3, 4], 23)];
    check(&m, "twice", &inputs, "two scans of one body");
    let c = jit::compile(&m, "twice").unwrap();
    assert_eq!(c.stats().loops, 2);
    // @inner once (with @sq inlined), shared by both loops.
    assert_eq!(c.stats().loop_bodies, 1);
}

const WHILE: &str = r#"
func @more(%limit: f64, %x: f64, %v: f64[3]) -> bool {
  %r: bool = lt %x, %limit
  return %r
}

func @grow(%limit: f64, %x: f64, %v: f64[3]) -> (f64, f64[3]) {
  %y: f64 = add %x, %x
  %yb: f64[3] = broadcast %y, dims=[]
  %w: f64[3] = add %v, %yb
  %s: f64[3] = sin %w
  return %y, %s
}

func @run(%limit: f64, %x: f64, %v: f64[3]) -> (f64, f64[3], i64) {
  %y: f64, %w: f64[3], %n: i64 = while @more, @grow, max=M, consts=(%limit), init=(%x, %v)
  return %y, %w, %n
}

func @count(%limit: f64, %x: f64, %v: f64[3]) -> i64 {
  %y: f64, %w: f64[3], %n: i64 = while @more, @grow, max=M, consts=(%limit), init=(%x, %v)
  return %n
}
"#;

#[test]
fn while_trip_counts_zero_one_max_and_data_dependent() {
    let v = f64s(&[3], 31);
    // (max, limit, x0): trips 0 (condition false), 0 (max 0), 1, the
    // maximum (condition still true), data-dependent (1 → 1024 takes 10).
    let cases: [(usize, f64, f64, i64); 6] = [
        (10, 1.0, 2.0, 0),
        (0, 1e9, 1.0, 0),
        (10, 3.0, 2.0, 1),
        (4, 1e9, 1.0, 4),
        (100, 1000.0, 1.0, 10),
        (1, 1e9, 1.0, 1),
    ];
    for (max, limit, x, trips) in cases {
        let m = module(&WHILE.replace("max=M", &format!("max={max}")));
        let inputs = [Tensor::from_f64(limit), Tensor::from_f64(x), v.clone()];
        let what = format!("while max={max} limit={limit}");
        check(&m, "run", &inputs, &what);
        check(&m, "count", &inputs, &format!("{what}, count only"));
        let got = jit::compile(&m, "count")
            .unwrap()
            .call(&[&inputs[0], &inputs[1], &inputs[2]])
            .unwrap();
        assert_eq!(got[0].as_i64().unwrap(), &[trips], "{what}: trips");
    }
}

#[test]
fn spring_matches_the_interpreter_and_the_workload() {
    use adjit_workloads::spring;
    let (m, entry) = common::program("spring");
    let (inp, args) = common::spring_inputs(5);
    check(&m, &entry, &args, "spring");
    let types: Vec<Type> = args.iter().map(|t| t.ty()).collect();
    let c = jit::compile_for(&m, &entry, &types).unwrap();
    let refs: Vec<&Tensor> = args.iter().collect();
    let got = common::scalar(&c.call(&refs).unwrap()[0]);
    let mut ws = spring::Workspace::new(inp.config).unwrap();
    let want = spring::value(inp.config, inp.args(), &mut ws).unwrap();
    // The program and the workload sum the loss in different orders.
    common::assert_close("spring", got, want, 1e-12);
}

/// Compiles a scan of `t` steps of the spring step; returns (functions,
/// CLIF instructions, workspace bytes).
fn spring_code_size(t: usize) -> (usize, usize, usize) {
    let (m, entry) = common::program("spring");
    let src = adjit::ir::text::print_module(&m).replace("length=1000", &format!("length={t}"));
    let m = module(&src);
    let (_, args) = common::spring_inputs(1);
    let types: Vec<Type> = args.iter().map(|t| t.ty()).collect();
    let c = jit::compile_for(&m, &entry, &types).unwrap();
    let s = c.stats();
    (s.functions, s.clif_insts, s.workspace_bytes)
}

#[test]
fn scan_code_size_does_not_depend_on_the_length() {
    let short = spring_code_size(10);
    let long = spring_code_size(100_000);
    assert_eq!(
        short, long,
        "(functions, CLIF instructions, workspace bytes)"
    );
}

#[test]
fn stacked_outputs_take_length_rows_of_workspace() {
    // A stacked output that is not an output of the function lives in the
    // workspace: length × row bytes (plus alignment), nothing per step.
    let src = r#"
func @step(%h: f64[4], %x: f64[4]) -> (f64[4], f64[4]) {
  %h2: f64[4] = add %h, %x
  return %h2, %h2
}

func @run(%h0: f64[4], %xs: f64[T, 4]) -> f64 {
  %h: f64[4], %ys: f64[T, 4] = scan @step, length=T, consts=(), carry=(%h0), xs=(%xs)
  %s: f64 = reduce_sum %ys, axes=[0, 1]
  return %s
}
"#;
    let mut sizes = Vec::new();
    for t in [1000usize, 2000] {
        let m = with_length(&src.replace("f64[T, 4]", &format!("f64[{t}, 4]")), t);
        let inputs = [f64s(&[4], 3), f64s(&[t, 4], 4)];
        check(&m, "run", &inputs, &format!("stacked T={t}"));
        sizes.push(jit::compile(&m, "run").unwrap().workspace_size());
    }
    assert_eq!(sizes[1] - sizes[0], 1000 * 4 * 8);
}

/// A reverse sweep of a nonlinear recurrence with a tensor and a scalar
/// carry, scanned inputs on both sweeps, a body per-step output (ignored)
/// and two stacked results: `POLICY`, `REV` and the trip count vary.
const ADJOINT: &str = r#"
func @step(%a: f64[3], %h: f64[3], %s: f64, %x: f64[3]) -> (f64[3], f64, f64) {
  %m: f64[3] = mul %a, %h
  %t: f64[3] = sin %m
  %h2: f64[3] = add %t, %x
  %r: f64 = reduce_sum %h2, axes=[0]
  %s2: f64 = mul %s, %r
  return %h2, %s2, %r
}

func @back(%a: f64[3], %gh: f64[3], %gs: f64, %h: f64[3], %s: f64, %x: f64[3], %w: f64) -> (f64[3], f64, f64[3], f64) {
  %m: f64[3] = mul %a, %h
  %c: f64[3] = cos %m
  %t: f64[3] = sin %m
  %h2: f64[3] = add %t, %x
  %r: f64 = reduce_sum %h2, axes=[0]
  %gs2: f64 = mul %gs, %r
  %gr: f64 = mul %gs, %s
  %grb: f64[3] = broadcast %gr, dims=[]
  %gh2: f64[3] = add %gh, %grb
  %gm: f64[3] = mul %gh2, %c
  %gha: f64[3] = mul %gm, %a
  %wb: f64[3] = broadcast %w, dims=[]
  %gx: f64[3] = mul %gh2, %wb
  %gsw: f64 = mul %gs2, %w
  return %gha, %gsw, %gx, %r
}

func @run(%a: f64[3], %h0: f64[3], %s0: f64, %xs: f64[9, 3], %g: f64[3], %gs: f64, %ws: f64[9], %n: i64) -> (f64[3], f64, f64[9, 3], f64[9]) {
  %gh: f64[3], %gs0: f64, %gxs: f64[9, 3], %rs: f64[9] = scan_adjoint @step, @back, length=9, consts=(%a), carry=(%h0, %s0), xs=(%xs), adjoint_carry=(%g, %gs), adjoint_xs=(%ws), trips=%nREV, checkpoint=POLICY
  return %gh, %gs0, %gxs, %rs
}

func @fixed(%a: f64[3], %h0: f64[3], %s0: f64, %xs: f64[9, 3], %g: f64[3], %gs: f64, %ws: f64[9]) -> f64[3] {
  %gh: f64[3], %gs0: f64, %gxs: f64[9, 3], %rs: f64[9] = scan_adjoint @step, @back, length=9, consts=(%a), carry=(%h0, %s0), xs=(%xs), adjoint_carry=(%g, %gs), adjoint_xs=(%ws)REV, checkpoint=POLICY
  return %gh
}
"#;

#[test]
fn scan_adjoint_under_every_policy_and_trip_count() {
    let inputs = |n: i64| {
        vec![
            f64s(&[3], 41),
            f64s(&[3], 42),
            Tensor::from_f64(0.5),
            f64s(&[9, 3], 43),
            f64s(&[3], 44),
            Tensor::from_f64(-1.25),
            f64s(&[9], 45),
            Tensor::i64(&[], vec![n]).unwrap(),
        ]
    };
    for policy in [
        "all",
        "every(1)",
        "every(2)",
        "every(4)",
        "every(20)",
        "binomial(1)",
        "binomial(2)",
        "binomial(3)",
        "binomial(50)",
    ] {
        for rev in ["", ", reverse"] {
            let m = module(&ADJOINT.replace("POLICY", policy).replace("REV", rev));
            for n in [0i64, 1, 2, 5, 9, -3, 100] {
                check(&m, "run", &inputs(n), &format!("{policy}{rev} n={n}"));
            }
            let fixed = &inputs(0)[..7];
            check(
                &m,
                "fixed",
                fixed,
                &format!("{policy}{rev} fixed, dead results"),
            );
        }
    }
}

#[test]
fn scan_adjoint_workspace_follows_the_policy() {
    // Only the forward states held grow with the length here (the operands
    // are inputs, the stacked results dead: one row each). A state record
    // is h (24 bytes) and s (8 bytes), each aligned to 64; a snapshot also
    // takes 8 bytes of the schedule's stack.
    let ws = |policy: &str, len: usize| {
        let src = ADJOINT
            .replace("POLICY", policy)
            .replace("REV", "")
            .replace("length=9", &format!("length={len}"))
            .replace("f64[9", &format!("f64[{len}"));
        jit::compile(&module(&src), "fixed")
            .unwrap()
            .workspace_size()
    };
    let (record, stack) = (128, 8);
    // all: n − 1 snapshots.
    let grown = ws("all", 10_000) - ws("all", 100);
    assert!(
        grown >= 9_900 * record && grown <= 9_900 * (record + stack) + 64,
        "all: {grown}"
    );
    // every(100): at most ⌈n/100⌉ + 100 − 2 = 198 snapshots at n = 10⁴.
    let grown = ws("every(100)", 10_000) - ws("every(100)", 1);
    assert!(grown <= 198 * (record + stack) + 64, "every(100): {grown}");
    // binomial(4): 4 snapshots whatever the length.
    assert_eq!(ws("binomial(4)", 10_000), ws("binomial(4)", 100));
}

/// The spring program with its scan's checkpointing policy replaced
/// (`""` is the default, `all`).
fn spring_with(policy: &str) -> Module {
    let (m, _) = common::program("spring");
    let text = adjit::ir::text::print_module(&m);
    let text = text
        .replace(", checkpoint=binomial(32)", "")
        .replace("xs=()", &format!("xs=(){policy}"));
    module(&text)
}

/// The gradient program of spring with respect to k, v0, x0, optimised.
fn spring_gradient(m: &Module) -> (Module, String) {
    let (gm, gf) = adjit::ad::grad(m, "spring", &[0, 1, 2]).unwrap();
    (adjit::opt::optimize(&gm, &gf).unwrap(), gf)
}

const SPRING_POLICIES: [&str; 5] = [
    "",
    ", checkpoint=every(32)",
    ", checkpoint=every(1)",
    ", checkpoint=binomial(32)",
    ", checkpoint=binomial(3)",
];

#[test]
fn spring_gradient_matches_the_interpreter_under_every_policy() {
    let (_, args) = common::spring_inputs(3);
    for policy in SPRING_POLICIES {
        let (gm, gf) = spring_gradient(&spring_with(policy));
        check(&gm, &gf, &args, &format!("spring gradient{policy}"));
    }
}

#[test]
fn spring_gradient_matches_the_hand_written_adjoint() {
    use adjit_workloads::spring;
    let (inp, args) = common::spring_inputs(7);
    let config = inp.config;
    let mut ws = spring::Workspace::new(config).unwrap();
    let (mut dk, mut dx0, mut dv0) = (
        vec![0.0; config.springs()],
        vec![0.0; config.masses],
        vec![0.0; config.masses],
    );
    let grads = spring::Grads {
        k: &mut dk,
        x0: &mut dx0,
        v0: &mut dv0,
    };
    let loss = spring::value_and_grad(config, inp.args(), &mut ws, grads).unwrap();
    let types: Vec<Type> = args.iter().map(|t| t.ty()).collect();
    let refs: Vec<&Tensor> = args.iter().collect();
    for policy in SPRING_POLICIES {
        let (gm, gf) = spring_gradient(&spring_with(policy));
        let c = jit::compile_for(&gm, &gf, &types).unwrap();
        let out = c.call(&refs).unwrap();
        let floats = |t: &Tensor| t.as_f64().unwrap().to_vec();
        common::assert_close(
            &format!("loss{policy}"),
            common::scalar(&out[0]),
            loss,
            1e-12,
        );
        common::assert_all_close(&format!("dk{policy}"), &floats(&out[1]), &dk, 1e-9);
        common::assert_all_close(&format!("dv0{policy}"), &floats(&out[2]), &dv0, 1e-9);
        common::assert_all_close(&format!("dx0{policy}"), &floats(&out[3]), &dx0, 1e-9);
    }
}

#[test]
fn spring_gradient_workspace_under_binomial_is_few_states() {
    // Store-all keeps the 1000 states (x and v: 512 bytes each); the
    // bundled binomial(32) at most 32 of them, whatever the length.
    let (_, args) = common::spring_inputs(1);
    let types: Vec<Type> = args.iter().map(|t| t.ty()).collect();
    let ws = |policy: &str| {
        let (gm, gf) = spring_gradient(&spring_with(policy));
        jit::compile_for(&gm, &gf, &types).unwrap().workspace_size()
    };
    let all = ws("");
    let binomial = ws(", checkpoint=binomial(32)");
    assert!(all >= 999 * 512, "all: {all}");
    assert!(binomial <= 34 * 512 + 16 * 1024, "binomial(32): {binomial}");
}

const WHILE_LOSS: &str = r#"
func @more(%a: f64[3], %limit: f64, %x: f64[3]) -> bool {
  %s: f64 = reduce_sum %x, axes=[0]
  %r: bool = lt %s, %limit
  return %r
}

func @grow(%a: f64[3], %limit: f64, %x: f64[3]) -> f64[3] {
  %m: f64[3] = mul %a, %x
  %t: f64[3] = tanh %m
  %y: f64[3] = add %x, %t
  return %y
}

func @loss(%a: f64[3], %limit: f64, %x0: f64[3]) -> f64 {
  %x: f64[3], %n: i64 = while @more, @grow, max=MAX, consts=(%a, %limit), init=(%x0)POLICY
  %q: f64[3] = mul %x, %x
  %l: f64 = reduce_sum %q, axes=[0]
  return %l
}
"#;

#[test]
fn while_gradient_matches_the_interpreter() {
    // Trip counts: 0 (limit below the start), data-dependent, and the
    // maximum (limit never reached).
    let a = Tensor::f64(&[3], vec![0.5, 0.25, 1.0]).unwrap();
    let x0 = Tensor::f64(&[3], vec![0.1, 0.2, 0.3]).unwrap();
    for policy in ["", ", checkpoint=every(3)", ", checkpoint=binomial(2)"] {
        let m = module(&WHILE_LOSS.replace("MAX", "40").replace("POLICY", policy));
        let (gm, gf) = adjit::ad::grad(&m, "loss", &[0, 2]).unwrap();
        let opt = adjit::opt::optimize(&gm, &gf).unwrap();
        for limit in [0.1, 5.0, 1e9] {
            let args = [a.clone(), Tensor::from_f64(limit), x0.clone()];
            check(
                &gm,
                &gf,
                &args,
                &format!("while grad{policy} limit={limit}"),
            );
            check(
                &opt,
                &gf,
                &args,
                &format!("while grad (opt){policy} limit={limit}"),
            );
        }
    }
}

/// The derivative programs of a module, each with its inputs: every
/// parameter, then (jvp) one tangent per parameter differentiated.
fn derivative_checks(m: &Module, func: &str, wrt: &[usize], inputs: &[Tensor], what: &str) {
    let (gm, gf) = adjit::ad::grad(m, func, wrt).unwrap();
    check(&gm, &gf, inputs, &format!("{what}: grad"));
    let opt = adjit::opt::optimize(&gm, &gf).unwrap();
    check(&opt, &gf, inputs, &format!("{what}: grad, optimised"));
    let (jm, jf) = adjit::ad::jvp(m, func, wrt).unwrap();
    let mut tangents = inputs.to_vec();
    for (i, &w) in wrt.iter().enumerate() {
        tangents.push(tensor(&inputs[w].ty(), 900 + i as u64, Values::Tame));
    }
    check(&jm, &jf, &tangents, &format!("{what}: jvp"));
}

const NESTED_LOSS: &str = r#"
func @inner(%c: f64[4], %h: f64[4], %x: f64[4]) -> f64[4] {
  %t: f64[4] = mul %c, %h
  %u: f64[4] = add %t, %x
  %h2: f64[4] = sin %u
  return %h2
}

func @outer(%c: f64[4], %h: f64[4], %xs: f64[3, 4]) -> (f64[4], f64) {
  %h2: f64[4] = scan @inner, length=3, consts=(%c), carry=(%h), xs=(%xs)POLICY
  %s: f64 = reduce_sum %h2, axes=[0]
  return %h2, %s
}

func @loss(%c: f64[4], %h0: f64[4], %xss: f64[5, 3, 4]) -> f64 {
  %h: f64[4], %ss: f64[5] = scan @outer, length=5, consts=(%c), carry=(%h0), xs=(%xss), reversePOLICY
  %q: f64[5] = mul %ss, %ss
  %l: f64 = reduce_sum %q, axes=[0]
  %hh: f64 = reduce_sum %h, axes=[0]
  %r: f64 = add %l, %hh
  return %r
}
"#;

#[test]
fn derivatives_of_nested_scans_match_the_interpreter() {
    let inputs = [f64s(&[4], 61), f64s(&[4], 62), f64s(&[5, 3, 4], 63)];
    for policy in ["", ", checkpoint=every(2)", ", checkpoint=binomial(1)"] {
        let m = module(&NESTED_LOSS.replace("POLICY", policy));
        derivative_checks(&m, "loss", &[0, 1, 2], &inputs, &format!("nested{policy}"));
    }
}

#[test]
fn derivatives_of_spring_match_the_interpreter() {
    // jvp (a scan of the step's jvp) and grad, on a shorter run.
    let (_, args) = common::spring_inputs(9);
    let m = spring_with(", checkpoint=every(7)");
    let m = module(&adjit::ir::text::print_module(&m).replace("length=1000", "length=50"));
    derivative_checks(&m, "spring", &[0, 1], &args, "spring T=50");
}

#[test]
fn loops_with_huge_maxima_checkpoint_within_the_budget() {
    // Storing every state of up to 2^60 steps cannot fit the budget: under
    // the default policy the sweep checkpoints binomially with the snapshots
    // the budget holds (37 trips run without recomputation), as the
    // interpreter does. With binomial(4) the same loop needs four snapshots.
    let src = r#"
func @step(%a: f64, %c: f64) -> f64 {
  %c2: f64 = mul %a, %c
  return %c2
}

func @back(%a: f64, %g: f64, %c: f64) -> f64 {
  %g2: f64 = mul %g, %a
  return %g2
}

func @f(%a: f64, %c0: f64, %g: f64, %n: i64) -> f64 {
  %c0_bar: f64 = scan_adjoint @step, @back, length=1152921504606846976, consts=(%a), carry=(%c0), xs=(), adjoint_carry=(%g), adjoint_xs=(), trips=%nPOLICY
  return %c0_bar
}
"#;
    let inputs = [
        Tensor::from_f64(0.5),
        Tensor::from_f64(3.0),
        Tensor::from_f64(2.0),
        Tensor::i64(&[], vec![37]).unwrap(),
    ];
    let m = module(&src.replace("POLICY", ""));
    let c = jit::compile(&m, "f").expect("compiles within the budget");
    assert!(c.workspace_size() <= 2 * adjit::ir::Limits::default().max_workspace_bytes);
    check(&m, "f", &inputs, "default policy, 37 of up to 2^60 steps");
    let m = module(&src.replace("POLICY", ", checkpoint=binomial(4)"));
    check(&m, "f", &inputs, "binomial(4), 37 of up to 2^60 steps");
}

#[test]
fn one_compiled_gradient_many_threads() {
    // Loops keep all their state (carries, snapshots, the schedule) in the
    // caller's workspace: threads with their own workspaces agree bitwise.
    let (_, args) = common::spring_inputs(4);
    let types: Vec<Type> = args.iter().map(|t| t.ty()).collect();
    let (gm, gf) = spring_gradient(&spring_with(", checkpoint=binomial(5)"));
    let c = jit::compile_for(&gm, &gf, &types).unwrap();
    let refs: Vec<&Tensor> = args.iter().collect();
    let want = c.call(&refs).unwrap();
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..5 {
                    let got = c.call(&refs).unwrap();
                    for (g, w) in got.iter().zip(&want) {
                        assert_close(g, w, &Tol::Exact, "threaded spring gradient");
                    }
                }
            });
        }
    });
}

const MIXED: &str = r#"
func @step(%a: f32[5], %i: i64, %b: bool, %h: f32[5], %x: f32[5]) -> (i64, bool, f32[5], i64, bool) {
  %one: i64 = const 1
  %i2: i64 = add %i, %one
  %nb: bool = not %b
  %m: f32[5] = mul %a, %h
  %h2: f32[5] = add %m, %x
  %s: f32 = reduce_sum %h2, axes=[0]
  %z: f32 = const 0.0
  %pos: bool = gt %s, %z
  return %i2, %nb, %h2, %i2, %pos
}

func @run(%a: f32[5], %h0: f32[5], %xs: f32[6, 5], %b0: bool) -> (i64, bool, f32[5], i64[6], bool[6]) {
  %i0: i64 = const 0
  %i: i64, %b: bool, %h: f32[5], %is: i64[6], %ps: bool[6] = scan @step, length=6, consts=(%a), carry=(%i0, %b0, %h0), xs=(%xs), reverse
  return %i, %b, %h, %is, %ps
}
"#;

#[test]
fn scans_of_every_element_type() {
    let m = module(MIXED);
    let f32s = |shape: &[usize], seed| {
        tensor(
            &Type::new(adjit::ir::Elem::F32, adjit::ir::Shape::known(shape)),
            seed,
            Values::Tame,
        )
    };
    for b in [false, true] {
        let inputs = [
            f32s(&[5], 71),
            f32s(&[5], 72),
            f32s(&[6, 5], 73),
            Tensor::bool(&[], vec![b]).unwrap(),
        ];
        check(&m, "run", &inputs, &format!("mixed elements, b0={b}"));
    }
}

#[test]
fn store_all_reverse_sweeps_reuse_the_forward_states() {
    // The spring gradient runs the scan forward for the loss, then reverses
    // it: under `all` the states the forward scan computes are kept for the
    // reverse sweep (not recomputed); under binomial they are recomputed.
    let (_, args) = common::spring_inputs(2);
    let types: Vec<Type> = args.iter().map(|t| t.ty()).collect();
    let shared = |policy: &str| {
        let (gm, gf) = spring_gradient(&spring_with(policy));
        jit::compile_for(&gm, &gf, &types)
            .unwrap()
            .stats()
            .shared_sweeps
    };
    assert_eq!(shared(""), 1);
    assert_eq!(shared(", checkpoint=every(1)"), 1);
    assert_eq!(shared(", checkpoint=binomial(32)"), 0);
    // A reverse scan with scanned inputs and stacked outputs shares too (the
    // results are checked against the interpreter in
    // `derivatives_of_nested_scans_match_the_interpreter`).
    let m = module(&NESTED_LOSS.replace("POLICY", ""));
    let (gm, gf) = adjit::ad::grad(&m, "loss", &[0, 1, 2]).unwrap();
    let c = jit::compile(&gm, &gf).unwrap();
    assert_eq!(c.stats().shared_sweeps, 1);
}

#[test]
fn batched_while_gradients_match_the_interpreter() {
    // vmap of a while loop's gradient over the limit and the initial
    // state: each lane runs its own trip count (0, data-dependent, the
    // maximum), masked beyond it.
    let lanes = 4;
    let a = Tensor::f64(&[3], vec![0.5, 0.25, 1.0]).unwrap();
    let limits = Tensor::f64(&[lanes], vec![0.1, 2.0, 5.0, 1e9]).unwrap();
    let x0 = f64s(&[lanes, 3], 81);
    for policy in ["", ", checkpoint=binomial(2)"] {
        let m = module(&WHILE_LOSS.replace("MAX", "12").replace("POLICY", policy));
        let (gm, gf) = adjit::ad::grad(&m, "loss", &[0, 2]).unwrap();
        let (vm, vf) = adjit::ad::vmap(&gm, &gf, &[1, 2], adjit::ir::Dim::var("b")).unwrap();
        let args = [a.clone(), limits.clone(), x0.clone()];
        check(&vm, &vf, &args, &format!("batched while gradient{policy}"));
    }
}
