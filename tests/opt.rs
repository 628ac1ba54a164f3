//! Tests of the optimisation passes: each rule's promised node list, and the
//! pipeline's behaviour (fixed point, statistics, CSE/DCE on fan-out graphs).

use adjit::opt::{self, Options, Pass, Stop};
use adjit_ir::typing::NoSignatures;
use adjit_ir::{
    ConstData, Dim, Elem, Function, FunctionBuilder, Graph, Module, Op, Scalar, Shape, Type, Value,
    verify_module,
};

fn module_of(fs: Vec<Function>) -> Module {
    let mut m = Module::new();
    for f in fs {
        m.add(f).expect("distinct names");
    }
    m
}

/// The op names of a function's nodes, in order.
fn ops(f: &Function) -> Vec<&'static str> {
    f.nodes().iter().map(|n| n.op.name()).collect()
}

/// Optimises the last function of a module holding `f` alone.
fn optimized(f: Function) -> Function {
    let name = f.name().to_string();
    let m = module_of(vec![f]);
    let out = opt::optimize(&m, &name).expect("optimises");
    verify_module(&out).expect("verifies");
    out.get(&name).expect("kept").clone()
}

fn splat(ty: Type, s: Scalar) -> Op {
    Op::Const {
        ty,
        data: ConstData::Splat(s),
    }
}

#[test]
fn mul_by_one_disappears() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[4]));
    let y = x * 1.0;
    let f = optimized(g.finish(&[y]).unwrap());
    assert_eq!(ops(&f), Vec::<&str>::new());
    assert_eq!(f.outputs(), &[f.params()[0]]);
}

#[test]
fn add_positive_zero_is_kept() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[4]));
    let y = x + 0.0;
    let f = optimized(g.finish(&[y]).unwrap());
    assert_eq!(ops(&f), ["const", "add"]);
}

#[test]
fn names_of_surviving_values_are_kept() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let a = (x * 1.0).named("a");
    let b = a.exp().named("b");
    let c = (b * 1.0).named("c");
    let d = c.sin().named("d");
    let f = optimized(g.finish(&[d]).unwrap());
    assert_eq!(ops(&f), ["exp", "sin"]);
    let names: Vec<&str> = f.values().map(|v| f.value_name(v)).collect();
    assert_eq!(names, ["x", "b", "d"]);
}

#[test]
fn generated_names_of_surviving_values_are_kept_too() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let y = ((x * 1.0).exp() * 1.0).sin();
    let f = g.finish(&[y]).unwrap();
    let names_before: Vec<String> = f.values().map(|v| f.value_name(v).to_string()).collect();
    let exp = &names_before[f.nodes()[2].results[0].index()];
    let sin = &names_before[f.nodes()[5].results[0].index()];
    let after = optimized(f.clone());
    let names: Vec<&str> = after.values().map(|v| after.value_name(v)).collect();
    assert_eq!(names, ["x", exp.as_str(), sin.as_str()]);
}

#[test]
fn cse_merges_fan_out_and_dce_removes_the_rest() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let y = g.param("y", Type::f64(&[3]));
    // Four copies of the same expression, and a dead branch.
    let parts: Vec<_> = (0..4).map(|_| (x * y).sin() + x).collect();
    let _dead = (x - y).exp();
    let s = parts[0] * parts[1] + parts[2] * parts[3];
    let f = optimized(g.finish(&[s]).unwrap());
    assert_eq!(ops(&f), ["mul", "sin", "add", "mul", "add"]);
}

#[test]
fn equal_constants_merge_by_value_and_type() {
    let mut b = FunctionBuilder::new("f");
    let x = b.param("x", Type::f64(&[]));
    let ty = Type::f64(&[]);
    let c1 = b
        .push1(splat(ty.clone(), Scalar::F64(2.0)), &[], &NoSignatures)
        .unwrap();
    let c2 = b
        .push1(splat(ty.clone(), Scalar::F64(2.0)), &[], &NoSignatures)
        .unwrap();
    let z1 = b
        .push1(splat(ty.clone(), Scalar::F64(0.0)), &[], &NoSignatures)
        .unwrap();
    let z2 = b
        .push1(splat(ty.clone(), Scalar::F64(-0.0)), &[], &NoSignatures)
        .unwrap();
    let mul = |b: &mut FunctionBuilder, p: Value, q: Value| {
        b.push1(Op::Binary(adjit_ir::BinaryOp::Mul), &[p, q], &NoSignatures)
            .unwrap()
    };
    let a1 = mul(&mut b, x, c1);
    let a2 = mul(&mut b, x, c2);
    let a3 = mul(&mut b, x, z1);
    let a4 = mul(&mut b, x, z2);
    let f = optimized(b.finish(&[a1, a2, a3, a4]));
    // 2.0 merges; +0.0 and -0.0 are different constants.
    assert_eq!(ops(&f), ["const", "const", "const", "mul", "mul", "mul"]);
    assert_eq!(f.outputs()[0], f.outputs()[1]);
}

#[test]
fn shape_chains_collapse() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[2, 3, 4]));
    let t = x.transpose(&[1, 2, 0]).transpose(&[2, 0, 1]); // identity
    let r = t.reshape([6, 4]).reshape([24]).reshape([2, 3, 4]); // identity
    let b = r.broadcast_in_dim([5, 2, 3, 4], &[1, 2, 3]);
    let bb = b.broadcast_in_dim([6, 5, 2, 3, 4], &[1, 2, 3, 4]);
    let f = optimized(g.finish(&[bb]).unwrap());
    assert_eq!(ops(&f), ["broadcast"]);
    match &f.nodes()[0].op {
        Op::Broadcast { dims, .. } => assert_eq!(dims, &[2, 3, 4]),
        other => panic!("{other:?}"),
    }
}

#[test]
fn unused_functions_are_removed_only_when_asked() {
    let leaf = {
        let g = Graph::new("leaf");
        let x = g.param("x", Type::f64(&[]));
        g.finish(&[x.exp()]).unwrap()
    };
    let unused = {
        let g = Graph::new("unused");
        let x = g.param("x", Type::f64(&[]));
        g.finish(&[x.sin()]).unwrap()
    };
    let m0 = module_of(vec![leaf, unused]);
    let main = {
        let g = Graph::with_module("main", &m0);
        let x = g.param("x", Type::f64(&[]));
        let y = g.call("leaf", &[x]);
        g.finish(&[y[0]]).unwrap()
    };
    let mut m = m0.clone();
    m.add(main).unwrap();
    let kept = opt::optimize(&m, "main").unwrap();
    assert_eq!(kept.functions().len(), 3);
    let options = Options {
        remove_unused_functions: true,
        ..Options::default()
    };
    let pruned = opt::optimize_with(&m, "main", &options).unwrap();
    let names: Vec<&str> = pruned.module.functions().iter().map(|f| f.name()).collect();
    assert_eq!(names, ["leaf", "main"]);
    assert_eq!(pruned.stats.removed_functions, ["unused"]);
}

#[test]
fn the_pipeline_reaches_a_fixed_point_and_reports_statistics() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let mut y = x;
    for _ in 0..10 {
        y = -(-(y * 1.0));
    }
    let f = g.finish(&[y.exp()]).unwrap();
    let before = f.nodes().len();
    let m = module_of(vec![f]);
    let out = opt::optimize_with(&m, "f", &Options::default()).unwrap();
    let stats = &out.stats.functions[0];
    assert_eq!(stats.stop, Stop::FixedPoint);
    assert_eq!(stats.nodes_before, before);
    assert_eq!(stats.nodes_after, 1);
    assert!(stats.rules["neg.neg"] >= 10, "{:?}", stats.rules);
    // The last round changed nothing.
    let last_round: Vec<_> = stats
        .passes
        .iter()
        .filter(|p| p.round == stats.rounds)
        .collect();
    assert_eq!(last_round.len(), Pass::PIPELINE.len());
    assert!(last_round.iter().all(|p| p.nodes_before == p.nodes_after));
    assert_eq!(out.stats.totals(), (before, 1));
    let report = out.stats.to_string();
    let lines: Vec<&str> = report.lines().collect();
    assert!(
        lines[0].starts_with(&format!("@f: {before} -> 1 nodes (")),
        "{report}"
    );
    let removed: i64 = stats.removed_by_pass().values().sum();
    assert_eq!(removed, before as i64 - 1);
    assert_eq!(lines.len(), 1 + Pass::PIPELINE.len(), "{report}");
    assert!(lines[1..].iter().all(|l| l.contains("removed")), "{report}");
}

#[test]
fn the_round_limit_is_a_stop_reason_not_an_error() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let y = (x * 1.0).exp();
    let m = module_of(vec![g.finish(&[y]).unwrap()]);
    let options = Options {
        max_rounds: 1,
        ..Options::default()
    };
    let out = opt::optimize_with(&m, "f", &options).unwrap();
    assert_eq!(out.stats.functions[0].stop, Stop::RoundLimit);
    assert_eq!(ops(out.module.get("f").unwrap()), ["exp"]);
}

#[test]
fn bad_input_is_an_error() {
    let m = Module::new();
    assert!(matches!(
        opt::optimize(&m, "nope"),
        Err(opt::OptError::UnknownFunction(_))
    ));
    let mut b = FunctionBuilder::new("f");
    let x = b.param("x", Type::f64(&[3]));
    let y = b.push_declared(
        Op::Unary(adjit_ir::UnaryOp::Exp),
        &[x],
        vec![Type::f32(&[3])],
    );
    let m = module_of(vec![b.finish(&y)]);
    assert!(matches!(
        opt::optimize(&m, "f"),
        Err(opt::OptError::InvalidInput(_))
    ));
}

#[test]
fn symbolic_shapes_are_handled() {
    let n = Dim::var("n");
    let g = Graph::new("f");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![n.clone()])));
    let one = g.full(Scalar::F64(1.0), Shape(vec![]));
    let ones = one.broadcast_in_dim(Shape(vec![n.clone()]), &[]);
    let y = (x * ones).slice_axis(0, 0usize, n.clone());
    let f = optimized(g.finish(&[y]).unwrap());
    assert_eq!(ops(&f), Vec::<&str>::new());
}

// ---------------------------------------------------------------------------
// Rule tests: each rule's promised node list, and bitwise agreement with the
// interpreter on the unoptimised function over inputs that include ±0, ±∞
// and NaN.
// ---------------------------------------------------------------------------

use adjit_ir::interp::eval;
use adjit_ir::{BinaryOp as Bin, CmpOp, Data, ReduceOp, SliceRange, Tensor, UnaryOp as Un};

const F64_SPECIALS: [f64; 12] = [
    0.0,
    -0.0,
    f64::INFINITY,
    f64::NEG_INFINITY,
    f64::NAN,
    1.0,
    -1.0,
    0.1,
    -2.5,
    3.0,
    f64::MAX,
    5e-324,
];
const F32_SPECIALS: [f32; 10] = [
    0.0,
    -0.0,
    f32::INFINITY,
    f32::NEG_INFINITY,
    f32::NAN,
    1.0,
    -1.0,
    0.1,
    f32::MAX,
    1e-45,
];
const I64_SPECIALS: [i64; 9] = [0, 1, -1, 2, -7, 3, 100, i64::MAX, i64::MIN];
const BOOL_SPECIALS: [bool; 2] = [false, true];

fn specials_len(elem: Elem) -> usize {
    match elem {
        Elem::F64 => F64_SPECIALS.len(),
        Elem::F32 => F32_SPECIALS.len(),
        Elem::I64 => I64_SPECIALS.len(),
        Elem::Bool => BOOL_SPECIALS.len(),
    }
}

/// Inputs for parameters of known shapes: parameter `j`'s element `i` is
/// special value number `(i / radix_j) % S_j`, where `radix_j` is the product
/// of the earlier parameters' `S`. With one-dimensional parameters of length
/// `∏ S_j` this enumerates every combination of special values.
fn special_inputs(types: &[Type]) -> Vec<Tensor> {
    let mut radix = 1usize;
    types
        .iter()
        .map(|t| {
            let shape = t.shape.as_known().expect("known shape");
            let n: usize = shape.iter().product();
            let s = specials_len(t.elem);
            let k = |i: usize| (i / radix) % s;
            let data = match t.elem {
                Elem::F64 => Data::F64((0..n).map(|i| F64_SPECIALS[k(i)]).collect()),
                Elem::F32 => Data::F32((0..n).map(|i| F32_SPECIALS[k(i)]).collect()),
                Elem::I64 => Data::I64((0..n).map(|i| I64_SPECIALS[k(i)]).collect()),
                Elem::Bool => Data::Bool((0..n).map(|i| BOOL_SPECIALS[k(i)]).collect()),
            };
            radix = radix.saturating_mul(s);
            Tensor::new(shape, data).expect("consistent")
        })
        .collect()
}

/// One-dimensional parameter types long enough to pair every special value
/// of each parameter with every special value of the others.
fn all_pairs(elems: &[Elem]) -> Vec<Type> {
    let n: usize = elems.iter().map(|&e| specials_len(e)).product();
    elems
        .iter()
        .map(|&e| Type::new(e, Shape::known(&[n])))
        .collect()
}

/// Bitwise equality, where any NaN equals any NaN.
fn same_bits(a: &Tensor, b: &Tensor) -> Result<(), String> {
    if a.shape() != b.shape() || a.elem() != b.elem() {
        return Err(format!("{} vs {}", a.ty(), b.ty()));
    }
    let nan_or_bits = |x: f64, y: f64| (x.is_nan() && y.is_nan()) || x.to_bits() == y.to_bits();
    let ok = match (a.data(), b.data()) {
        (Data::F64(x), Data::F64(y)) => x.iter().zip(y).all(|(&p, &q)| nan_or_bits(p, q)),
        (Data::F32(x), Data::F32(y)) => x
            .iter()
            .zip(y)
            .all(|(&p, &q)| (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits()),
        (x, y) => x == y,
    };
    if ok {
        return Ok(());
    }
    for i in 0..a.len() {
        let (p, q) = (a.data().get(i), b.data().get(i));
        let equal = match (p, q) {
            (Some(Scalar::F64(p)), Some(Scalar::F64(q))) => nan_or_bits(p, q),
            (Some(Scalar::F32(p)), Some(Scalar::F32(q))) => {
                (p.is_nan() && q.is_nan()) || p.to_bits() == q.to_bits()
            }
            (p, q) => p == q,
        };
        if !equal {
            return Err(format!("element {i}: {p:?} vs {q:?}"));
        }
    }
    Err("differ".into())
}

/// Evaluates `@name` of both modules on `inputs` and requires bitwise-equal
/// outputs (both may also fail to evaluate, as long as the original fails).
fn assert_same_results(before: &Module, after: &Module, name: &str, inputs: &[Tensor]) {
    let want = eval(before, name, inputs);
    let got = eval(after, name, inputs);
    match (want, got) {
        (Ok(want), Ok(got)) => {
            assert_eq!(want.len(), got.len());
            for (i, (w, g)) in want.iter().zip(&got).enumerate() {
                if let Err(e) = same_bits(w, g) {
                    panic!("@{name} output {i}: {e}\ninputs: {inputs:?}");
                }
            }
        }
        (Err(_), _) => {}
        (Ok(_), Err(e)) => panic!("@{name}: the optimised function fails: {e}"),
    }
}

/// A thin wrapper over the builder for writing rule cases.
struct B {
    b: FunctionBuilder,
}

impl B {
    fn op(&mut self, op: Op, args: &[Value]) -> Value {
        self.b
            .push1(op, args, &NoSignatures)
            .expect("well-typed case")
    }
    fn un(&mut self, u: Un, x: Value) -> Value {
        self.op(Op::Unary(u), &[x])
    }
    fn bin(&mut self, b: Bin, x: Value, y: Value) -> Value {
        self.op(Op::Binary(b), &[x, y])
    }
    fn cmp(&mut self, c: CmpOp, x: Value, y: Value) -> Value {
        self.op(Op::Compare(c), &[x, y])
    }
    /// A splat constant of `like`'s shape.
    fn lit(&mut self, like: Value, s: Scalar) -> Value {
        let shape = self.b.ty(like).shape.clone();
        self.op(splat(Type::new(s.elem(), shape), s), &[])
    }
    /// A scalar constant broadcast to `like`'s shape (as AD writes `x * 1`).
    fn lit_broadcast(&mut self, like: Value, s: Scalar) -> Value {
        let shape = self.b.ty(like).shape.clone();
        let c = self.op(splat(Type::scalar(s.elem()), s), &[]);
        self.op(
            Op::Broadcast {
                shape,
                dims: vec![],
            },
            &[c],
        )
    }
}

/// Builds `@f(params) -> build(...)`, optimises it with `options`, checks the
/// node list against `expected`, and (for exact options) checks bitwise
/// agreement with the interpreter on special inputs.
fn rule_with(
    options: &Options,
    params: Vec<Type>,
    build: impl FnOnce(&mut B, &[Value]) -> Vec<Value>,
    expected: &[&str],
) -> (Module, Module) {
    let mut b = B {
        b: FunctionBuilder::new("f"),
    };
    let ps: Vec<Value> = params
        .iter()
        .enumerate()
        .map(|(i, t)| b.b.param(&format!("p{i}"), t.clone()))
        .collect();
    let outs = build(&mut b, &ps);
    let before = module_of(vec![b.b.finish(&outs)]);
    verify_module(&before).expect("case verifies");
    let after = opt::optimize_with(&before, "f", options)
        .expect("optimises")
        .module;
    verify_module(&after).expect("result verifies");
    FIRED.with(|fired| fired.borrow_mut().extend(stats_rules(&before, options)));
    let f = after.get("f").unwrap();
    assert_eq!(
        ops(f),
        expected,
        "before: {:?}\nafter: {:?}",
        ops(before.get("f").unwrap()),
        f.nodes()
    );
    if !options.reassociate && params.iter().all(|t| t.shape.as_known().is_some()) {
        assert_same_results(&before, &after, "f", &special_inputs(&params));
    }
    (before, after)
}

thread_local! {
    /// The rules fired by `rule_with` on this thread.
    static FIRED: std::cell::RefCell<std::collections::BTreeSet<String>> =
        std::cell::RefCell::default();
}

fn stats_rules(m: &Module, options: &Options) -> Vec<String> {
    let out = opt::optimize_with(m, "f", options).expect("optimises");
    out.stats.functions[0]
        .rules
        .keys()
        .map(|r| r.to_string())
        .collect()
}

/// Every rule the module documentation of `simplify` lists fires in some
/// rule test, and the tests fire no undocumented rule.
#[test]
fn every_documented_rule_is_exercised() {
    let doc = include_str!("../src/opt/simplify.rs");
    let mut documented = std::collections::BTreeSet::new();
    for line in doc.lines().filter(|l| l.starts_with("//! - `")) {
        let head = line.split(" — ").next().unwrap_or("");
        for name in head
            .split('`')
            .filter(|t| t.contains('.') && !t.contains(' '))
        {
            documented.insert(name.to_string());
        }
    }
    assert!(documented.len() > 40, "{documented:?}");
    unary_rules();
    add_and_sub_rules();
    mul_and_div_rules();
    min_max_and_logic_rules();
    comparison_and_select_rules();
    convert_rules();
    shape_rules();
    reduction_rules();
    reassociating_sum_of_copies_is_opt_in_and_close();
    negations_move_outwards_to_be_absorbed();
    let fired = FIRED.with(|f| f.borrow().clone());
    let simplify_rules: std::collections::BTreeSet<String> = fired
        .into_iter()
        .filter(|r| !r.starts_with("fold.") && r != "cse" && r != "dce")
        .collect();
    assert_eq!(simplify_rules, documented);
}

fn rule(params: Vec<Type>, build: impl FnOnce(&mut B, &[Value]) -> Vec<Value>, expected: &[&str]) {
    rule_with(&Options::default(), params, build, expected);
}

use Elem::{Bool as BOOL, F32, F64, I64};

#[test]
fn unary_rules() {
    for e in [F64, F32, I64] {
        rule(
            all_pairs(&[e]),
            |b, p| {
                let n = b.un(Un::Neg, p[0]);
                vec![b.un(Un::Neg, n)]
            },
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let n = b.un(Un::Neg, p[0]);
                vec![b.un(Un::Abs, n)]
            },
            &["abs"],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let n = b.un(Un::Abs, p[0]);
                vec![b.un(Un::Abs, n)]
            },
            &["abs"],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let n = b.un(Un::Sign, p[0]);
                vec![b.un(Un::Sign, n)]
            },
            &["sign"],
        );
    }
    for e in [BOOL, I64] {
        rule(
            all_pairs(&[e]),
            |b, p| {
                let n = b.un(Un::Not, p[0]);
                vec![b.un(Un::Not, n)]
            },
            &[],
        );
    }
    let rounding = [Un::Floor, Un::Ceil, Un::Round];
    for e in [F64, F32] {
        for outer in rounding {
            for inner in rounding {
                rule(
                    all_pairs(&[e]),
                    |b, p| {
                        let n = b.un(inner, p[0]);
                        vec![b.un(outer, n)]
                    },
                    &[inner.name()],
                );
            }
        }
    }
    // Not rules: recip(recip x) and sqrt(x)·sqrt(x) round.
    rule(
        all_pairs(&[F64]),
        |b, p| {
            let n = b.un(Un::Recip, p[0]);
            vec![b.un(Un::Recip, n)]
        },
        &["recip", "recip"],
    );
}

#[test]
fn add_and_sub_rules() {
    for (e, nz, pz) in [
        (F64, Scalar::F64(-0.0), Scalar::F64(0.0)),
        (F32, Scalar::F32(-0.0), Scalar::F32(0.0)),
    ] {
        // x + (−0) → x, either side; also written as a broadcast scalar.
        rule(
            all_pairs(&[e]),
            |b, p| {
                let z = b.lit(p[0], nz);
                vec![b.bin(Bin::Add, p[0], z)]
            },
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let z = b.lit_broadcast(p[0], nz);
                vec![b.bin(Bin::Add, z, p[0])]
            },
            &[],
        );
        // x + (+0) is not x (−0 + +0 = +0).
        rule(
            all_pairs(&[e]),
            |b, p| {
                let z = b.lit(p[0], pz);
                vec![b.bin(Bin::Add, p[0], z)]
            },
            &["const", "add"],
        );
        // x − (+0) → x; x − (−0) stays.
        rule(
            all_pairs(&[e]),
            |b, p| {
                let z = b.lit(p[0], pz);
                vec![b.bin(Bin::Sub, p[0], z)]
            },
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let z = b.lit(p[0], nz);
                vec![b.bin(Bin::Sub, p[0], z)]
            },
            &["const", "sub"],
        );
        // (−0) − x → neg x; (+0) − x stays.
        rule(
            all_pairs(&[e]),
            |b, p| {
                let z = b.lit(p[0], nz);
                vec![b.bin(Bin::Sub, z, p[0])]
            },
            &["neg"],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let z = b.lit(p[0], pz);
                vec![b.bin(Bin::Sub, z, p[0])]
            },
            &["const", "sub"],
        );
        // x − x stays (NaN, ∞).
        rule(
            all_pairs(&[e]),
            |b, p| vec![b.bin(Bin::Sub, p[0], p[0])],
            &["sub"],
        );
    }
    for e in [F64, F32, I64] {
        // x + neg y → x − y; neg y + x → x − y; x − neg y → x + y.
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let n = b.un(Un::Neg, p[1]);
                vec![b.bin(Bin::Add, p[0], n)]
            },
            &["sub"],
        );
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let n = b.un(Un::Neg, p[1]);
                vec![b.bin(Bin::Add, n, p[0])]
            },
            &["sub"],
        );
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let n = b.un(Un::Neg, p[1]);
                vec![b.bin(Bin::Sub, p[0], n)]
            },
            &["add"],
        );
    }
    // Integers: x + 0, 0 + x, x − 0 → x; 0 − x → neg x; x − x → 0.
    let z = Scalar::I64(0);
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let c = b.lit(p[0], z);
            vec![b.bin(Bin::Add, p[0], c)]
        },
        &[],
    );
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let c = b.lit(p[0], z);
            vec![b.bin(Bin::Add, c, p[0])]
        },
        &[],
    );
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let c = b.lit(p[0], z);
            vec![b.bin(Bin::Sub, p[0], c)]
        },
        &[],
    );
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let c = b.lit(p[0], z);
            vec![b.bin(Bin::Sub, c, p[0])]
        },
        &["neg"],
    );
    rule(
        all_pairs(&[I64]),
        |b, p| vec![b.bin(Bin::Sub, p[0], p[0])],
        &["const"],
    );
}

#[test]
fn mul_and_div_rules() {
    let lits = |e: Elem, x: f64| Scalar::from_f64(e, x);
    for e in [F64, F32, I64] {
        for one_side in [false, true] {
            // x · 1 → x and x · (−1) → neg x, either side.
            rule(
                all_pairs(&[e]),
                |b, p| {
                    let c = b.lit_broadcast(p[0], lits(e, 1.0));
                    let args = if one_side { [c, p[0]] } else { [p[0], c] };
                    vec![b.bin(Bin::Mul, args[0], args[1])]
                },
                &[],
            );
            rule(
                all_pairs(&[e]),
                |b, p| {
                    let c = b.lit(p[0], lits(e, -1.0));
                    let args = if one_side { [c, p[0]] } else { [p[0], c] };
                    vec![b.bin(Bin::Mul, args[0], args[1])]
                },
                &["neg"],
            );
        }
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let (x, y) = (b.un(Un::Neg, p[0]), b.un(Un::Neg, p[1]));
                vec![b.bin(Bin::Mul, x, y)]
            },
            &["mul"],
        );
        // x / 1 → x; x / (−1) → neg x (i64: MIN / −1 = MIN = neg MIN).
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], lits(e, 1.0));
                vec![b.bin(Bin::Div, p[0], c)]
            },
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], lits(e, -1.0));
                vec![b.bin(Bin::Div, p[0], c)]
            },
            &["neg"],
        );
    }
    for e in [F64, F32] {
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let (x, y) = (b.un(Un::Neg, p[0]), b.un(Un::Neg, p[1]));
                vec![b.bin(Bin::Div, x, y)]
            },
            &["div"],
        );
        // x · 0, 0 / x and x / x stay for floats.
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], lits(e, 0.0));
                vec![b.bin(Bin::Mul, p[0], c)]
            },
            &["const", "mul"],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], lits(e, 0.0));
                vec![b.bin(Bin::Div, c, p[0])]
            },
            &["const", "div"],
        );
        rule(
            all_pairs(&[e]),
            |b, p| vec![b.bin(Bin::Div, p[0], p[0])],
            &["div"],
        );
        // pow(x, 1) depends on the math library: left alone.
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], lits(e, 1.0));
                vec![b.bin(Bin::Pow, p[0], c)]
            },
            &["const", "pow"],
        );
    }
    // Integer division by zero is zero; so is zero divided by anything.
    let z = Scalar::I64(0);
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let c = b.lit(p[0], z);
            vec![b.bin(Bin::Div, p[0], c)]
        },
        &["const"],
    );
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let c = b.lit(p[0], z);
            vec![b.bin(Bin::Div, c, p[0])]
        },
        &["const"],
    );
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let c = b.lit(p[0], z);
            vec![b.bin(Bin::Mul, c, p[0])]
        },
        &["const"],
    );
    // Integer (−x)/(−y) is not x/y (MIN / 2).
    rule(
        all_pairs(&[I64, I64]),
        |b, p| {
            let (x, y) = (b.un(Un::Neg, p[0]), b.un(Un::Neg, p[1]));
            vec![b.bin(Bin::Div, x, y)]
        },
        &["neg", "neg", "div"],
    );
}

#[test]
fn negations_move_outwards_to_be_absorbed() {
    for e in [F64, F32, I64] {
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let n = b.un(Un::Neg, p[0]);
                vec![b.bin(Bin::Mul, n, p[1])]
            },
            &["mul", "neg"],
        );
        // AD's `cos` rule, accumulated: a + ct · neg(sin x) → a − ct · sin x.
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let n = b.un(Un::Neg, p[1]);
                let m = b.bin(Bin::Mul, p[0], n);
                vec![b.bin(Bin::Add, p[0], m)]
            },
            &["mul", "sub"],
        );
        // A negation with other uses stays where it is.
        rule(
            all_pairs(&[e, e]),
            |b, p| {
                let n = b.un(Un::Neg, p[1]);
                vec![b.bin(Bin::Mul, p[0], n), n]
            },
            &["neg", "mul"],
        );
    }
    for e in [F64, F32] {
        for left in [false, true] {
            rule(
                all_pairs(&[e, e]),
                |b, p| {
                    let n = b.un(Un::Neg, p[usize::from(left)]);
                    let args = if left { [n, p[0]] } else { [p[0], n] };
                    vec![b.bin(Bin::Div, args[0], args[1])]
                },
                &["div", "neg"],
            );
        }
    }
    // Integer division keeps its negations: (−MIN) / 2 ≠ −(MIN / 2).
    rule(
        all_pairs(&[I64, I64]),
        |b, p| {
            let n = b.un(Un::Neg, p[0]);
            vec![b.bin(Bin::Div, n, p[1])]
        },
        &["neg", "div"],
    );
}

#[test]
fn min_max_and_logic_rules() {
    for e in [F64, F32, I64] {
        for m in [Bin::Min, Bin::Max] {
            rule(all_pairs(&[e]), |b, p| vec![b.bin(m, p[0], p[0])], &[]);
        }
    }
    for (e, lo, hi) in [
        (
            F64,
            Scalar::F64(f64::NEG_INFINITY),
            Scalar::F64(f64::INFINITY),
        ),
        (
            F32,
            Scalar::F32(f32::NEG_INFINITY),
            Scalar::F32(f32::INFINITY),
        ),
        (I64, Scalar::I64(i64::MIN), Scalar::I64(i64::MAX)),
    ] {
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], lo);
                vec![b.bin(Bin::Max, p[0], c)]
            },
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], hi);
                vec![b.bin(Bin::Min, c, p[0])]
            },
            &[],
        );
        // Absorbing bounds fold only for integers (NaN).
        let absorbed: &[&str] = if e == I64 {
            &["const"]
        } else {
            &["const", "max"]
        };
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], hi);
                vec![b.bin(Bin::Max, p[0], c)]
            },
            absorbed,
        );
    }
    for (e, zero, ones) in [
        (BOOL, Scalar::Bool(false), Scalar::Bool(true)),
        (I64, Scalar::I64(0), Scalar::I64(-1)),
    ] {
        rule(
            all_pairs(&[e]),
            |b, p| vec![b.bin(Bin::And, p[0], p[0])],
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| vec![b.bin(Bin::Or, p[0], p[0])],
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], ones);
                vec![b.bin(Bin::And, p[0], c)]
            },
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], zero);
                vec![b.bin(Bin::Or, c, p[0])]
            },
            &[],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], zero);
                vec![b.bin(Bin::And, p[0], c)]
            },
            &["const"],
        );
        rule(
            all_pairs(&[e]),
            |b, p| {
                let c = b.lit(p[0], ones);
                vec![b.bin(Bin::Or, p[0], c)]
            },
            &["const"],
        );
    }
}

#[test]
fn comparison_and_select_rules() {
    for c in CmpOp::ALL {
        rule(
            all_pairs(&[I64]),
            |b, p| vec![b.cmp(c, p[0], p[0])],
            &["const"],
        );
        let float: &[&str] = match c {
            CmpOp::Lt | CmpOp::Gt => &["const"],
            _ => &[c.name()],
        };
        rule(all_pairs(&[F64]), |b, p| vec![b.cmp(c, p[0], p[0])], float);
    }
    for c in [CmpOp::Eq, CmpOp::Ne] {
        rule(
            all_pairs(&[BOOL]),
            |b, p| vec![b.cmp(c, p[0], p[0])],
            &["const"],
        );
        for lit in [false, true] {
            let expected: &[&str] = if (c == CmpOp::Eq) == lit {
                &[]
            } else {
                &["not"]
            };
            rule(
                all_pairs(&[BOOL]),
                |b, p| {
                    let k = b.lit(p[0], Scalar::Bool(lit));
                    vec![b.cmp(c, k, p[0])]
                },
                expected,
            );
        }
    }
    rule(
        all_pairs(&[BOOL, F64]),
        |b, p| vec![b.op(Op::Select, &[p[0], p[1], p[1]])],
        &[],
    );
    for lit in [false, true] {
        rule(
            all_pairs(&[F64, F64]),
            |b, p| {
                let c = b.lit(p[0], Scalar::Bool(lit));
                vec![b.op(Op::Select, &[c, p[0], p[1]])]
            },
            &[],
        );
    }
    rule(
        all_pairs(&[BOOL, F64, F64]),
        |b, p| {
            let n = b.un(Un::Not, p[0]);
            vec![b.op(Op::Select, &[n, p[1], p[2]])]
        },
        &["select"],
    );
    rule(
        all_pairs(&[BOOL]),
        |b, p| {
            let (t, f) = (
                b.lit(p[0], Scalar::Bool(true)),
                b.lit(p[0], Scalar::Bool(false)),
            );
            vec![
                b.op(Op::Select, &[p[0], t, f]),
                b.op(Op::Select, &[p[0], f, t]),
            ]
        },
        &["not"],
    );
}

#[test]
fn convert_rules() {
    for e in [F64, F32, I64, BOOL] {
        rule(
            all_pairs(&[e]),
            |b, p| vec![b.op(Op::Convert { elem: e }, &[p[0]])],
            &[],
        );
    }
    // Through an exact, injective conversion: bool → anything, f32 → f64.
    for (from, mid, to) in [
        (BOOL, F64, I64),
        (BOOL, I64, F32),
        (BOOL, F32, BOOL),
        (F32, F64, F32),
        (F32, F64, I64),
        (F32, F64, BOOL),
    ] {
        let expected: &[&str] = if from == to { &[] } else { &["convert"] };
        rule(
            all_pairs(&[from]),
            |b, p| {
                let m = b.op(Op::Convert { elem: mid }, &[p[0]]);
                vec![b.op(Op::Convert { elem: to }, &[m])]
            },
            expected,
        );
    }
    // Lossy first steps stay.
    for (from, mid, to) in [
        (F64, F32, F64),
        (I64, F64, I64),
        (F64, I64, F64),
        (F64, BOOL, F64),
    ] {
        rule(
            all_pairs(&[from]),
            |b, p| {
                let m = b.op(Op::Convert { elem: mid }, &[p[0]]);
                vec![b.op(Op::Convert { elem: to }, &[m])]
            },
            &["convert", "convert"],
        );
    }
}

fn range(start: i64, stop: i64, step: u64) -> SliceRange {
    SliceRange {
        start: Dim::Known(start),
        stop: Dim::Known(stop),
        step,
    }
}

#[test]
fn shape_rules() {
    let x23 = vec![Type::f64(&[2, 3])];
    rule(
        x23.clone(),
        |b, p| {
            vec![b.op(
                Op::Reshape {
                    shape: Shape::known(&[2, 3]),
                },
                &[p[0]],
            )]
        },
        &[],
    );
    rule(
        x23.clone(),
        |b, p| {
            vec![b.op(
                Op::Broadcast {
                    shape: Shape::known(&[2, 3]),
                    dims: vec![0, 1],
                },
                &[p[0]],
            )]
        },
        &[],
    );
    rule(
        x23.clone(),
        |b, p| {
            let t = b.op(
                Op::Broadcast {
                    shape: Shape::known(&[2, 1, 3]),
                    dims: vec![0, 2],
                },
                &[p[0]],
            );
            vec![b.op(
                Op::Broadcast {
                    shape: Shape::known(&[4, 2, 5, 3]),
                    dims: vec![1, 2, 3],
                },
                &[t],
            )]
        },
        &["broadcast"],
    );
    rule(
        x23.clone(),
        |b, p| vec![b.op(Op::Transpose { perm: vec![0, 1] }, &[p[0]])],
        &[],
    );
    rule(
        x23.clone(),
        |b, p| {
            let t = b.op(Op::Transpose { perm: vec![1, 0] }, &[p[0]]);
            vec![b.op(Op::Transpose { perm: vec![1, 0] }, &[t])]
        },
        &[],
    );
    rule(
        vec![Type::f64(&[2, 3, 4])],
        |b, p| {
            let t = b.op(
                Op::Transpose {
                    perm: vec![1, 2, 0],
                },
                &[p[0]],
            );
            vec![b.op(
                Op::Transpose {
                    perm: vec![1, 0, 2],
                },
                &[t],
            )]
        },
        &["transpose"],
    );
    rule(
        x23.clone(),
        |b, p| {
            let r = b.op(
                Op::Reshape {
                    shape: Shape::known(&[6]),
                },
                &[p[0]],
            );
            let r = b.op(
                Op::Reshape {
                    shape: Shape::known(&[3, 2]),
                },
                &[r],
            );
            vec![b.op(
                Op::Reshape {
                    shape: Shape::known(&[1, 6]),
                },
                &[r],
            )]
        },
        &["reshape"],
    );
    rule(
        x23.clone(),
        |b, p| {
            let r = b.op(
                Op::Reshape {
                    shape: Shape::known(&[6]),
                },
                &[p[0]],
            );
            vec![b.op(
                Op::Reshape {
                    shape: Shape::known(&[2, 3]),
                },
                &[r],
            )]
        },
        &[],
    );
    rule(
        x23.clone(),
        |b, p| {
            vec![b.op(
                Op::Slice {
                    ranges: vec![range(0, 2, 1), range(0, 3, 1)],
                },
                &[p[0]],
            )]
        },
        &[],
    );
    rule(
        vec![Type::f64(&[20])],
        |b, p| {
            let s = b.op(
                Op::Slice {
                    ranges: vec![range(1, 19, 1)],
                },
                &[p[0]],
            );
            vec![b.op(
                Op::Slice {
                    ranges: vec![range(2, 10, 1)],
                },
                &[s],
            )]
        },
        &["slice"],
    );
    rule(
        vec![Type::f64(&[40])],
        |b, p| {
            let s = b.op(
                Op::Slice {
                    ranges: vec![range(1, 38, 3)],
                },
                &[p[0]],
            );
            vec![b.op(
                Op::Slice {
                    ranges: vec![range(1, 12, 2)],
                },
                &[s],
            )]
        },
        &["slice"],
    );
    let pad = |lo: i64, hi: i64, v: f64| Op::Pad {
        lo: vec![Dim::Known(lo)],
        hi: vec![Dim::Known(hi)],
        interior: vec![0],
        value: Scalar::F64(v),
    };
    rule(
        vec![Type::f64(&[5])],
        |b, p| vec![b.op(pad(0, 0, 1.0), &[p[0]])],
        &[],
    );
    rule(
        vec![Type::f64(&[5])],
        |b, p| {
            let q = b.op(pad(1, 2, -0.0), &[p[0]]);
            vec![b.op(pad(3, 0, -0.0), &[q])]
        },
        &["pad"],
    );
    rule(
        vec![Type::f64(&[5])],
        |b, p| {
            let q = b.op(pad(1, 2, -0.0), &[p[0]]);
            vec![b.op(pad(3, 0, 0.0), &[q])]
        },
        &["pad", "pad"],
    );
    rule(
        vec![Type::f64(&[5])],
        |b, p| vec![b.op(Op::Concat { axis: 0 }, &[p[0]])],
        &[],
    );
    rule(
        vec![Type::f64(&[5]), Type::f64(&[0]), Type::f64(&[2])],
        |b, p| vec![b.op(Op::Concat { axis: 0 }, &[p[1], p[0], p[1], p[2]])],
        &["concat"],
    );
}

fn reduce(op: ReduceOp, axes: &[usize]) -> Op {
    Op::Reduce {
        op,
        axes: axes.to_vec(),
    }
}

#[test]
fn reduction_rules() {
    let n = F64_SPECIALS.len();
    let column = vec![Type::f64(&[n, 1])];
    // Over a size-1 axis: a reshape for max, min, prod and integer sums…
    for op in [ReduceOp::Max, ReduceOp::Min, ReduceOp::Prod] {
        rule(
            column.clone(),
            |b, p| vec![b.op(reduce(op, &[1]), &[p[0]])],
            &["reshape"],
        );
        rule(
            column.clone(),
            |b, p| vec![b.op(reduce(op, &[]), &[p[0]])],
            &[],
        );
    }
    rule(
        vec![Type::new(I64, Shape::known(&[9, 1]))],
        |b, p| vec![b.op(reduce(ReduceOp::Sum, &[1]), &[p[0]])],
        &["reshape"],
    );
    // …but not for float sums, which turn −0 into +0…
    rule(
        column.clone(),
        |b, p| vec![b.op(reduce(ReduceOp::Sum, &[1]), &[p[0]])],
        &["reduce_sum"],
    );
    // …unless asked to reassociate.
    let relaxed = Options {
        reassociate: true,
        ..Options::default()
    };
    rule_with(
        &relaxed,
        column.clone(),
        |b, p| vec![b.op(reduce(ReduceOp::Sum, &[1]), &[p[0]])],
        &["reshape"],
    );
    // Over an empty axis: the identity.
    for op in ReduceOp::ALL {
        rule(
            vec![Type::f64(&[3, 0])],
            |b, p| vec![b.op(reduce(op, &[1]), &[p[0]])],
            &["const"],
        );
    }
    // Max and min of broadcast copies are the value itself.
    let bcast = |b: &mut B, x: Value| {
        b.op(
            Op::Broadcast {
                shape: Shape::known(&[4, n]),
                dims: vec![1],
            },
            &[x],
        )
    };
    for op in [ReduceOp::Max, ReduceOp::Min] {
        rule(
            all_pairs(&[F64]),
            |b, p| {
                let y = bcast(b, p[0]);
                vec![b.op(reduce(op, &[0]), &[y])]
            },
            &[],
        );
    }
    // Stretched size-1 axes and new axes together: max over [0, 2] of
    // broadcast(x: [n, 1] → [3, n, 2]) is a reshape of x.
    rule(
        column.clone(),
        |b, p| {
            let y = b.op(
                Op::Broadcast {
                    shape: Shape::known(&[3, n, 2]),
                    dims: vec![1, 2],
                },
                &[p[0]],
            );
            vec![b.op(reduce(ReduceOp::Max, &[0, 2]), &[y])]
        },
        &["reshape"],
    );
    // Float sums of copies are k·x only up to rounding: kept by default.
    rule(
        all_pairs(&[F64]),
        |b, p| {
            let y = bcast(b, p[0]);
            vec![b.op(reduce(ReduceOp::Sum, &[0]), &[y])]
        },
        &["broadcast", "reduce_sum"],
    );
    // Integer sums of copies are exactly k·x (wrapping).
    rule(
        all_pairs(&[I64]),
        |b, p| {
            let y = b.op(
                Op::Broadcast {
                    shape: Shape::known(&[4, 9]),
                    dims: vec![1],
                },
                &[p[0]],
            );
            vec![b.op(reduce(ReduceOp::Sum, &[0]), &[y])]
        },
        &["const", "mul"],
    );
}

#[test]
fn reassociating_sum_of_copies_is_opt_in_and_close() {
    let relaxed = Options {
        reassociate: true,
        ..Options::default()
    };
    let n = 64;
    let (before, after) = rule_with(
        &relaxed,
        vec![Type::f64(&[n])],
        |b, p| {
            let y = b.op(
                Op::Broadcast {
                    shape: Shape::known(&[3, n]),
                    dims: vec![1],
                },
                &[p[0]],
            );
            vec![b.op(reduce(ReduceOp::Sum, &[0]), &[y])]
        },
        &["const", "mul"],
    );
    let xs: Vec<f64> = (0..n).map(|i| (i as f64 - 20.0) * 0.173).collect();
    let input = [Tensor::f64(&[n], xs.clone()).unwrap()];
    let want = eval(&before, "f", &input).unwrap();
    let got = eval(&after, "f", &input).unwrap();
    for ((w, g), x) in want[0]
        .as_f64()
        .unwrap()
        .iter()
        .zip(got[0].as_f64().unwrap())
        .zip(&xs)
    {
        // Oracle: the real number 3x; both results are within 2 ulps of it.
        let exact = 3.0 * x;
        assert!(
            (w - exact).abs() <= 2.0 * f64::EPSILON * exact.abs(),
            "{w} vs {exact}"
        );
        assert!(
            (g - exact).abs() <= 2.0 * f64::EPSILON * exact.abs(),
            "{g} vs {exact}"
        );
    }
}

#[test]
fn the_oracle_catches_inexact_rewrites() {
    // x + 0.0 and x differ on −0; x · 0.0 and 0.0 differ on NaN and ∞.
    let make = |name: &str, body: &dyn Fn(&mut B, Value) -> Value| {
        let mut b = B {
            b: FunctionBuilder::new(name),
        };
        let x = b.b.param("x", all_pairs(&[F64])[0].clone());
        let y = body(&mut b, x);
        b.b.finish(&[y])
    };
    let inputs = special_inputs(&all_pairs(&[F64]));
    let run = |f: Function| {
        let name = f.name().to_string();
        eval(&module_of(vec![f]), &name, &inputs).unwrap().remove(0)
    };
    let plus_zero = run(make("a", &|b, x| {
        let z = b.lit(x, Scalar::F64(0.0));
        b.bin(Bin::Add, x, z)
    }));
    let times_zero = run(make("b", &|b, x| {
        let z = b.lit(x, Scalar::F64(0.0));
        b.bin(Bin::Mul, x, z)
    }));
    let identity = run(make("c", &|_, x| x));
    let zeros = run(make("d", &|b, x| b.lit(x, Scalar::F64(0.0))));
    assert!(same_bits(&plus_zero, &identity).is_err());
    assert!(same_bits(&times_zero, &zeros).is_err());
    assert!(same_bits(&identity, &identity).is_ok());
}

// ---------------------------------------------------------------------------
// Constant folding.
// ---------------------------------------------------------------------------

fn the_const(f: &Function, i: usize) -> (&Type, &ConstData) {
    match &f.nodes()[i].op {
        Op::Const { ty, data } => (ty, data),
        other => panic!("node {i} is {other:?}"),
    }
}

#[test]
fn splat_elementwise_ops_fold_to_splats_of_any_shape() {
    let n = Dim::var("n");
    let g = Graph::new("f");
    let x = g.param("x", Type::new(F64, Shape(vec![n.clone(), Dim::Known(3)])));
    let two = g.full(Scalar::F64(2.0), Shape(vec![n.clone(), Dim::Known(3)]));
    let y = x * (two.exp() - 1.0).sqrt();
    let f = optimized(g.finish(&[y]).unwrap());
    assert_eq!(ops(&f), ["const", "mul"]);
    let (ty, data) = the_const(&f, 0);
    assert_eq!(ty.shape, Shape(vec![n, Dim::Known(3)]));
    // Oracle: libm.
    let want = (2.0f64.exp() - 1.0).sqrt();
    assert_eq!(data, &ConstData::Splat(Scalar::F64(want)));
}

#[test]
fn broadcast_of_a_scalar_stays_a_splat() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[1000, 1000]));
    let c = g.scalar(-0.0).broadcast_to([1000, 1000]);
    let y = x * c;
    let f = optimized(g.finish(&[y]).unwrap());
    assert_eq!(ops(&f), ["const", "mul"]);
    assert_eq!(the_const(&f, 0).1, &ConstData::Splat(Scalar::F64(-0.0)));
}

#[test]
fn small_dense_constants_fold_through_the_interpreter() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let a = g.constant(&[1.0, -0.0, 4.0, 9.0, f64::NAN, -1.0], [2, 3]);
    let s = a.sqrt().sum(&[0]); // [1+NaN, -0+NaN?, ...] computed by the interpreter
    let y = x + s;
    let f = g.finish(&[y]).unwrap();
    let m = module_of(vec![f]);
    let out = opt::optimize(&m, "f").unwrap();
    assert_eq!(ops(out.get("f").unwrap()), ["const", "add"]);
    // Oracle: std's sqrt, summed from +0 as the IR defines.
    let (_, data) = the_const(out.get("f").unwrap(), 0);
    let want = [
        0.0 + 1.0f64.sqrt() + 9.0f64.sqrt(),
        0.0 + (-0.0f64).sqrt() + f64::NAN.sqrt(),
        0.0 + 4.0f64.sqrt() + (-1.0f64).sqrt(),
    ];
    let ConstData::Dense(items) = data else {
        panic!("{data:?}")
    };
    for (got, want) in items.iter().zip(want) {
        let Scalar::F64(got) = *got else { panic!() };
        assert!(got.to_bits() == want.to_bits() || (got.is_nan() && want.is_nan()));
    }
    assert_same_results(&m, &out, "f", &special_inputs(&[Type::f64(&[3])]));
}

#[test]
fn dense_constants_with_equal_elements_become_splats() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[4]));
    let c = g.constant(&[2.5; 4], [4]);
    let mixed = g.constant(&[0.0, -0.0, 0.0, 0.0], [4]);
    let f = optimized(g.finish(&[x * c, x * mixed]).unwrap());
    assert_eq!(ops(&f), ["const", "const", "mul", "mul"]);
    assert_eq!(the_const(&f, 0).1, &ConstData::Splat(Scalar::F64(2.5)));
    assert!(matches!(the_const(&f, 1).1, ConstData::Dense(_)));
}

#[test]
fn large_results_and_iota_do_not_fold() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[2000]));
    let i = g.iota(Type::f64(&[2000]), 0);
    let dense: Vec<f64> = (0..2000).map(f64::from).collect();
    let d = g.constant(&dense, [2000]);
    let y = x + (i + 1.0) + d.exp();
    let f = optimized(g.finish(&[y]).unwrap());
    assert_eq!(
        ops(&f),
        ["iota", "const", "const", "add", "add", "exp", "add"]
    );
}

#[test]
fn sizes_fold_when_known() {
    let g = Graph::new("f");
    let x = g.param("x", Type::new(I64, Shape::known(&[])));
    let _ = g.param("y", Type::new(F64, Shape(vec![Dim::var("n")])));
    let k = g.size(Dim::Known(7), I64);
    let n = g.size(Dim::var("n"), I64);
    let f = optimized(g.finish(&[x + k + n]).unwrap_or_else(|e| panic!("{e}")));
    assert_eq!(ops(&f), ["const", "size", "add", "add"]);
    assert_eq!(the_const(&f, 0).1, &ConstData::Splat(Scalar::I64(7)));
}

#[test]
fn folding_leaves_run_time_errors_alone() {
    // An out-of-range gather from an empty axis is reported at run time.
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[]));
    let empty = g.constant(&[], [0]);
    let idx = g.constant_i64(&[0], [1]);
    let y = empty.gather(idx, 0).sum_all() + x;
    let f = optimized(g.finish(&[y]).unwrap());
    assert!(ops(&f).contains(&"gather"), "{:?}", ops(&f));
}

// ---------------------------------------------------------------------------
// Property tests on random well-typed graphs.
// ---------------------------------------------------------------------------

mod random {
    //! A small generator of random well-typed functions, driven by a list of
    //! instructions so that proptest can shrink failures. It favours the
    //! patterns the rules look for: special constants, negation chains,
    //! broadcast-then-reduce, shape round trips, conversions.

    use super::*;

    /// The value types the generator works with.
    #[derive(Clone, Copy, PartialEq, Eq, Debug)]
    enum Kind {
        F,   // f64[2, 3]
        Ft,  // f64[3, 2]
        F6,  // f64[6]
        Fb,  // f64[4, 2, 3]
        Fu,  // f64[2, 1, 3]
        F32, // f32[2, 3]
        I,   // i64[2, 3]
        Ib,  // i64[4, 2, 3]
        B,   // bool[2, 3]
    }

    const KINDS: [Kind; 9] = [
        Kind::F,
        Kind::Ft,
        Kind::F6,
        Kind::Fb,
        Kind::Fu,
        Kind::F32,
        Kind::I,
        Kind::Ib,
        Kind::B,
    ];

    fn ty(k: Kind) -> Type {
        let (e, s): (Elem, &[usize]) = match k {
            Kind::F => (F64, &[2, 3]),
            Kind::Ft => (F64, &[3, 2]),
            Kind::F6 => (F64, &[6]),
            Kind::Fb => (F64, &[4, 2, 3]),
            Kind::Fu => (F64, &[2, 1, 3]),
            Kind::F32 => (F32, &[2, 3]),
            Kind::I => (I64, &[2, 3]),
            Kind::Ib => (I64, &[4, 2, 3]),
            Kind::B => (BOOL, &[2, 3]),
        };
        Type::new(e, Shape::known(s))
    }

    /// One generator step: an opcode and three selectors.
    pub type Step = (u8, u16, u16, u16);

    struct Gen {
        b: B,
        pools: Vec<Vec<Value>>,
    }

    impl Gen {
        fn pool(&self, k: Kind) -> &Vec<Value> {
            &self.pools[KINDS.iter().position(|&x| x == k).unwrap()]
        }
        fn pick(&self, k: Kind, sel: u16) -> Option<Value> {
            let p = self.pool(k);
            (!p.is_empty()).then(|| p[p.len() - 1 - usize::from(sel) % p.len()])
        }
        fn add(&mut self, k: Kind, v: Value) {
            let i = KINDS.iter().position(|&x| x == k).unwrap();
            self.pools[i].push(v);
        }
        fn special(&mut self, k: Kind, sel: u16) -> Value {
            let t = ty(k);
            let i = usize::from(sel);
            let s = match t.elem {
                Elem::F64 => Scalar::F64(F64_SPECIALS[i % F64_SPECIALS.len()]),
                Elem::F32 => Scalar::F32(F32_SPECIALS[i % F32_SPECIALS.len()]),
                Elem::I64 => Scalar::I64(I64_SPECIALS[i % I64_SPECIALS.len()]),
                Elem::Bool => Scalar::Bool(i % 2 == 1),
            };
            if i % 3 == 0 {
                // As AD writes it: a scalar broadcast to the shape.
                let c = self.b.op(splat(Type::scalar(t.elem), s), &[]);
                self.b.op(
                    Op::Broadcast {
                        shape: t.shape,
                        dims: vec![],
                    },
                    &[c],
                )
            } else {
                self.b.op(splat(t, s), &[])
            }
        }

        fn step(&mut self, (code, a, b, c): Step) -> Option<()> {
            use Kind::*;
            const FLOAT_UNARY: [Un; 12] = [
                Un::Neg,
                Un::Abs,
                Un::Exp,
                Un::Sin,
                Un::Floor,
                Un::Ceil,
                Un::Round,
                Un::Sign,
                Un::Sqrt,
                Un::Recip,
                Un::Tanh,
                Un::Log,
            ];
            const FLOAT_BINARY: [Bin; 8] = [
                Bin::Add,
                Bin::Sub,
                Bin::Mul,
                Bin::Div,
                Bin::Min,
                Bin::Max,
                Bin::Pow,
                Bin::Atan2,
            ];
            const INT_BINARY: [Bin; 8] = [
                Bin::Add,
                Bin::Sub,
                Bin::Mul,
                Bin::Div,
                Bin::Min,
                Bin::Max,
                Bin::And,
                Bin::Or,
            ];
            let au = usize::from(a);
            match code % 27 {
                0 | 1 => {
                    let v = self.special(F, a);
                    self.add(F, v);
                }
                2 | 3 => {
                    let x = self.pick(F, b)?;
                    let v = self.b.un(FLOAT_UNARY[au % FLOAT_UNARY.len()], x);
                    self.add(F, v);
                }
                4..=6 => {
                    let (x, y) = (self.pick(F, b)?, self.pick(F, c)?);
                    let v = self.b.bin(FLOAT_BINARY[au % FLOAT_BINARY.len()], x, y);
                    self.add(F, v);
                }
                7 => {
                    let (x, y) = (self.pick(F, b)?, self.pick(F, c)?);
                    let v = self.b.cmp(CmpOp::ALL[au % 6], x, y);
                    self.add(B, v);
                }
                8 => {
                    let (cond, x, y) = (self.pick(B, a)?, self.pick(F, b)?, self.pick(F, c)?);
                    let v = self.b.op(Op::Select, &[cond, x, y]);
                    self.add(F, v);
                }
                9 => {
                    let x = self.pick(F, b)?;
                    let v = self.b.op(Op::Transpose { perm: vec![1, 0] }, &[x]);
                    self.add(Ft, v);
                }
                10 => {
                    let x = self.pick(Ft, b)?;
                    let v = self.b.op(Op::Transpose { perm: vec![1, 0] }, &[x]);
                    self.add(F, v);
                }
                11 => {
                    let x = self.pick(F, b)?;
                    let v = self.b.op(
                        Op::Reshape {
                            shape: Shape::known(&[6]),
                        },
                        &[x],
                    );
                    self.add(F6, v);
                }
                12 => {
                    let x = self.pick(F6, b)?;
                    let v = self.b.op(
                        Op::Reshape {
                            shape: Shape::known(&[2, 3]),
                        },
                        &[x],
                    );
                    self.add(F, v);
                }
                13 => {
                    let x = self.pick(F, b)?;
                    let v = self.b.op(
                        Op::Broadcast {
                            shape: ty(Fb).shape,
                            dims: vec![1, 2],
                        },
                        &[x],
                    );
                    self.add(Fb, v);
                }
                14 => {
                    let x = self.pick(Fb, b)?;
                    let v = self.b.op(reduce(ReduceOp::ALL[au % 4], &[0]), &[x]);
                    self.add(F, v);
                }
                15 => {
                    let x = self.pick(F, b)?;
                    let v = self.b.op(
                        Op::Broadcast {
                            shape: ty(Fu).shape,
                            dims: vec![0, 2],
                        },
                        &[x],
                    );
                    self.add(Fu, v);
                    let r = self.b.op(reduce(ReduceOp::ALL[au % 4], &[1]), &[v]);
                    self.add(F, r);
                }
                16 => {
                    let x = self.pick(F, b)?;
                    let v = self.b.op(Op::Convert { elem: Elem::F32 }, &[x]);
                    self.add(F32, v);
                }
                17 => {
                    let x = self.pick(F32, b)?;
                    let v = if a % 2 == 0 {
                        self.b.op(Op::Convert { elem: Elem::F64 }, &[x])
                    } else {
                        let y = self.pick(F32, c)?;
                        let s = self.b.bin(FLOAT_BINARY[au % 4], x, y);
                        self.add(F32, s);
                        return Some(());
                    };
                    self.add(F, v);
                }
                18 => {
                    let x = self.pick(F, b)?;
                    let full = self.b.op(
                        Op::Slice {
                            ranges: vec![range(0, 2, 1), range(0, 3, 1)],
                        },
                        &[x],
                    );
                    let row = self.b.op(
                        Op::Slice {
                            ranges: vec![range(0, 1, 1), range(0, 3, 1)],
                        },
                        &[full],
                    );
                    let value = Scalar::F64(F64_SPECIALS[au % F64_SPECIALS.len()]);
                    let v = self.b.op(
                        Op::Pad {
                            lo: vec![Dim::ZERO, Dim::ZERO],
                            hi: vec![Dim::ONE, Dim::ZERO],
                            interior: vec![0, 0],
                            value,
                        },
                        &[row],
                    );
                    let v = self.b.op(Op::Concat { axis: 0 }, &[v]);
                    self.add(F, v);
                }
                19 => {
                    let v = if a % 3 == 0 {
                        let x = self.pick(I, b)?;
                        let n = if c % 2 == 0 { Un::Neg } else { Un::Not };
                        self.b.un(n, x)
                    } else if a % 3 == 1 {
                        self.special(I, c)
                    } else {
                        let (x, y) = (self.pick(I, b)?, self.pick(I, c)?);
                        self.b.bin(INT_BINARY[au / 3 % INT_BINARY.len()], x, y)
                    };
                    self.add(I, v);
                }
                20 => {
                    let x = self.pick(I, b)?;
                    let v = self.b.op(
                        Op::Broadcast {
                            shape: ty(Ib).shape,
                            dims: vec![1, 2],
                        },
                        &[x],
                    );
                    self.add(Ib, v);
                    let r = self.b.op(reduce(ReduceOp::ALL[au % 4], &[0]), &[v]);
                    self.add(I, r);
                }
                21 => {
                    let v = if a % 3 == 0 {
                        let x = self.pick(B, b)?;
                        self.b.un(Un::Not, x)
                    } else if a % 3 == 1 {
                        self.special(B, c)
                    } else {
                        let (x, y) = (self.pick(B, b)?, self.pick(B, c)?);
                        let op = [Bin::And, Bin::Or][usize::from(c) % 2];
                        if b % 2 == 0 {
                            self.b.bin(op, x, y)
                        } else {
                            self.b.cmp([CmpOp::Eq, CmpOp::Ne][usize::from(c) % 2], x, y)
                        }
                    };
                    self.add(B, v);
                }
                22 => {
                    let (cond, x, y) = (self.pick(B, a)?, self.pick(I, b)?, self.pick(I, c)?);
                    let v = self.b.op(Op::Select, &[cond, x, y]);
                    self.add(I, v);
                }
                23 => {
                    let x = self.pick(F, b)?;
                    let v = self.b.un(Un::Neg, x);
                    self.add(F, v);
                }
                24 => {
                    // An op with a special constant, on either side.
                    let x = self.pick(F, b)?;
                    let k = self.special(F, c);
                    let op = FLOAT_BINARY[au % 6];
                    let v = if a % 2 == 0 {
                        self.b.bin(op, x, k)
                    } else {
                        self.b.bin(op, k, x)
                    };
                    self.add(F, v);
                }
                25 => {
                    // broadcast(broadcast x), then a reduction over both new axes.
                    let x = self.pick(Fb, b)?;
                    let y = self.b.op(
                        Op::Broadcast {
                            shape: Shape::known(&[5, 4, 2, 3]),
                            dims: vec![1, 2, 3],
                        },
                        &[x],
                    );
                    let v = self.b.op(reduce(ReduceOp::ALL[au % 4], &[0, 1]), &[y]);
                    self.add(F, v);
                }
                _ => {
                    let (from, to) = [(B, F), (I, F), (F, I), (B, I), (I, B), (F, B)][au % 6];
                    let x = self.pick(from, b)?;
                    let v = self.b.op(Op::Convert { elem: ty(to).elem }, &[x]);
                    self.add(to, v);
                }
            }
            Some(())
        }
    }

    /// Builds the function the steps describe; outputs are the last value of
    /// each main kind and a few picked values.
    pub fn build(steps: &[Step], picks: &[u16]) -> Function {
        let mut g = Gen {
            b: B {
                b: FunctionBuilder::new("f"),
            },
            pools: vec![Vec::new(); KINDS.len()],
        };
        for (name, k) in [
            ("x", Kind::F),
            ("y", Kind::F),
            ("i", Kind::I),
            ("c", Kind::B),
        ] {
            let v = g.b.b.param(name, ty(k));
            g.add(k, v);
        }
        for &s in steps {
            let _ = g.step(s);
        }
        let mut outs = Vec::new();
        for k in [Kind::F, Kind::I, Kind::B] {
            outs.push(*g.pool(k).last().unwrap());
        }
        for (i, &p) in picks.iter().enumerate() {
            let k = KINDS[i % KINDS.len()];
            if let Some(v) = g.pick(k, p) {
                outs.push(v);
            }
        }
        g.b.b.finish(&outs)
    }

    /// Inputs for `x, y, i, c`: each element from the special values or from
    /// a seed, as the selector says.
    pub fn inputs(f: &Function, seeds: &[u64]) -> Vec<Tensor> {
        let mut k = 0usize;
        let mut next = || {
            let s = seeds[k % seeds.len()];
            k += 1;
            s
        };
        f.param_types()
            .iter()
            .map(|t| {
                let shape = t.shape.as_known().unwrap();
                let n: usize = shape.iter().product();
                let data = match t.elem {
                    Elem::F64 => Data::F64(
                        (0..n)
                            .map(|_| {
                                let s = next();
                                if s % 2 == 0 {
                                    F64_SPECIALS[(s / 2) as usize % F64_SPECIALS.len()]
                                } else {
                                    ((s >> 8) % 20_001) as f64 / 1000.0 - 10.0
                                }
                            })
                            .collect(),
                    ),
                    Elem::I64 => Data::I64(
                        (0..n)
                            .map(|_| {
                                let s = next();
                                if s % 2 == 0 {
                                    I64_SPECIALS[(s / 2) as usize % I64_SPECIALS.len()]
                                } else {
                                    (s >> 1) as i64
                                }
                            })
                            .collect(),
                    ),
                    Elem::Bool => Data::Bool((0..n).map(|_| next() % 2 == 1).collect()),
                    Elem::F32 => Data::F32((0..n).map(|_| next() as f32).collect()),
                };
                Tensor::new(shape, data).unwrap()
            })
            .collect()
    }
}

use proptest::prelude::*;

fn steps() -> impl Strategy<Value = Vec<random::Step>> {
    prop::collection::vec(
        (any::<u8>(), any::<u16>(), any::<u16>(), any::<u16>()),
        1..60,
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_graphs_optimise_exactly(
        steps in steps(),
        picks in prop::collection::vec(any::<u16>(), 0..6),
        seeds in prop::collection::vec(any::<u64>(), 1..64),
    ) {
        let f = random::build(&steps, &picks);
        let before = module_of(vec![f.clone()]);
        prop_assert!(verify_module(&before).is_ok());
        let out = opt::optimize_with(&before, "f", &Options::default()).unwrap();
        prop_assert!(verify_module(&out.module).is_ok());
        let g = out.module.get("f").unwrap();
        prop_assert!(g.nodes().len() <= f.nodes().len(),
            "grew from {} to {} nodes", f.nodes().len(), g.nodes().len());
        prop_assert_eq!(out.stats.functions[0].stop, Stop::FixedPoint);
        // Optimising again changes nothing.
        let again = opt::optimize(&out.module, "f").unwrap();
        prop_assert_eq!(again.get("f").unwrap().nodes(), g.nodes());
        if std::env::var_os("OPT_RULE_COUNTS").is_some() {
            eprintln!("{:?}", out.stats.functions[0].rules);
        }
        for inputs in [random::inputs(&f, &seeds), special_inputs(&f.param_types())] {
            assert_same_results(&before, &out.module, "f", &inputs);
        }
    }

    #[test]
    fn random_graphs_optimise_with_reassociation(
        steps in steps(),
        picks in prop::collection::vec(any::<u16>(), 0..6),
        seeds in prop::collection::vec(any::<u64>(), 1..64),
    ) {
        let f = random::build(&steps, &picks);
        let before = module_of(vec![f.clone()]);
        let options = Options { reassociate: true, ..Options::default() };
        let out = opt::optimize_with(&before, "f", &options).unwrap();
        prop_assert!(verify_module(&out.module).is_ok());
        // Results may round differently; they must still evaluate.
        let inputs = random::inputs(&f, &seeds);
        if eval(&before, "f", &inputs).is_ok() {
            prop_assert!(eval(&out.module, "f", &inputs).is_ok());
        }
    }
}

#[test]
fn cse_uses_commutativity_exactly() {
    let (_, after) = rule_with(
        &Options::default(),
        all_pairs(&[F64, F64]),
        |b, p| {
            let s1 = b.bin(Bin::Add, p[0], p[1]);
            let s2 = b.bin(Bin::Add, p[1], p[0]);
            let m1 = b.bin(Bin::Max, p[0], p[1]);
            let m2 = b.bin(Bin::Max, p[1], p[0]);
            let c1 = b.cmp(CmpOp::Lt, p[0], p[1]);
            let c2 = b.cmp(CmpOp::Gt, p[1], p[0]);
            vec![s1, s2, m1, m2, c1, c2]
        },
        &["add", "max", "lt"],
    );
    let f = after.get("f").unwrap();
    assert_eq!(f.outputs()[0], f.outputs()[1]);
}

#[test]
fn calls_are_merged_and_dead_calls_removed() {
    let callee = {
        let g = Graph::new("g");
        let x = g.param("x", Type::f64(&[3]));
        g.finish(&[x.exp(), x.sin()]).unwrap()
    };
    let m0 = module_of(vec![callee]);
    let g = Graph::with_module("f", &m0);
    let x = g.param("x", Type::f64(&[3]));
    let r1 = g.call("g", &[x]);
    let r2 = g.call("g", &[x]);
    let _dead = g.call("g", &[r1[1]]);
    let y = r1[0] + r2[1];
    let mut m = m0.clone();
    m.add(g.finish(&[y]).unwrap()).unwrap();
    let out = opt::optimize(&m, "f").unwrap();
    assert_eq!(ops(out.get("f").unwrap()), ["call", "add"]);
    assert_same_results(&m, &out, "f", &special_inputs(&[Type::f64(&[3])]));
}

// ---------------------------------------------------------------------------
// In the text format, and on the bundled programs.
// ---------------------------------------------------------------------------

use adjit_ir::text::{parse_module, print_module};

/// Optimises the text of a module (entry: its last function) and prints it.
fn optimize_text(source: &str) -> String {
    let (m, _) = parse_module(source).unwrap_or_else(|e| panic!("{}", e.render("case", source)));
    let out = opt::optimize_module(&m).expect("optimises");
    print_module(&out)
}

#[test]
fn text_before_and_after() {
    let cases = [
        // `x · 1 + neg y`: the mul disappears, the add absorbs the neg, and
        // the surviving value keeps its name.
        (
            "func @f(%x: f64[3], %y: f64[3]) -> f64[3] {
  %one: f64[3] = const 1.0
  %a: f64[3] = mul %x, %one
  %n: f64[3] = neg %y
  %b: f64[3] = add %a, %n
  return %b
}
",
            "func @f(%x: f64[3], %y: f64[3]) -> f64[3] {
  %b: f64[3] = sub %x, %y
  return %b
}
",
        ),
        // The transpose pattern of a matmul's VJP, and a reshape round trip.
        (
            "func @g(%a: f64[2, 3]) -> f64[3, 2] {
  %t: f64[3, 2] = transpose %a, perm=[1, 0]
  %tt: f64[2, 3] = transpose %t, perm=[1, 0]
  %r: f64[6] = reshape %tt
  %rr: f64[2, 3] = reshape %r
  %out: f64[3, 2] = transpose %rr, perm=[1, 0]
  return %out
}
",
            "func @g(%a: f64[2, 3]) -> f64[3, 2] {
  %t: f64[3, 2] = transpose %a, perm=[1, 0]
  return %t
}
",
        ),
        // Splat arithmetic folds to a splat, whatever the shape.
        (
            "func @h(%x: f64[n]) -> f64[n] {
  %two: f64[n] = const 2.0
  %four: f64[n] = mul %two, %two
  %y: f64[n] = mul %x, %four
  return %y
}
",
            "func @h(%x: f64[n]) -> f64[n] {
  %four: f64[n] = const 4.0
  %y: f64[n] = mul %x, %four
  return %y
}
",
        ),
    ];
    for (before, after) in cases {
        assert_eq!(optimize_text(before), after, "from:\n{before}");
    }
}

/// Concrete inputs for a function's parameters, binding every size variable
/// to a small size (different per variable).
fn program_inputs(f: &Function, seed: u64) -> Vec<Tensor> {
    let env = |v: &str| Some(3 + (v.bytes().map(i64::from).sum::<i64>() % 4));
    let mut state = seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    f.param_types()
        .iter()
        .map(|t| {
            let shape: Vec<usize> = t
                .shape
                .dims()
                .iter()
                .map(|d| d.eval(&env).unwrap())
                .collect();
            let n: usize = shape.iter().product();
            let data = match t.elem {
                Elem::F64 => Data::F64(
                    (0..n)
                        .map(|_| {
                            let s = next();
                            if s % 7 == 0 {
                                F64_SPECIALS[(s >> 8) as usize % F64_SPECIALS.len()]
                            } else {
                                ((s >> 11) % 2001) as f64 / 1000.0 - 1.0
                            }
                        })
                        .collect(),
                ),
                Elem::F32 => Data::F32(
                    (0..n)
                        .map(|_| ((next() >> 40) % 200) as f32 / 100.0)
                        .collect(),
                ),
                Elem::I64 => Data::I64((0..n).map(|_| (next() % 5) as i64).collect()),
                Elem::Bool => Data::Bool((0..n).map(|_| next() % 2 == 0).collect()),
            };
            Tensor::new(shape, data).unwrap()
        })
        .collect()
}

#[test]
fn bundled_programs_optimise_exactly() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/programs");
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_none_or(|e| e != "adj") {
            continue;
        }
        let source = std::fs::read_to_string(&path).unwrap();
        let (m, _) = parse_module(&source).unwrap();
        let out = opt::optimize_module(&m).unwrap_or_else(|e| panic!("{path:?}: {e}"));
        verify_module(&out).unwrap();
        for f in m.functions() {
            let g = out.get(f.name()).unwrap();
            assert!(g.nodes().len() <= f.nodes().len(), "{path:?} @{}", f.name());
        }
        let entry = m.last().unwrap();
        for seed in 0..4 {
            let inputs = program_inputs(entry, seed);
            if let Err(e) = eval(&m, entry.name(), &inputs) {
                panic!("{path:?}: {e}");
            }
            assert_same_results(&m, &out, entry.name(), &inputs);
        }
        seen += 1;
    }
    assert!(seen >= 10, "found {seen} programs");
}

// ---------------------------------------------------------------------------
// Property tests on the shared random module generator.
// ---------------------------------------------------------------------------

use adjit_ir::testgen::{GenConfig, random_module};

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn generated_modules_optimise_exactly(
        seed in any::<u64>(),
        symbolic in any::<bool>(),
        control_flow in any::<bool>(),
        nodes in 5usize..60,
        input_seed in any::<u64>(),
    ) {
        let cfg = GenConfig { nodes, symbolic, control_flow, ..GenConfig::default() };
        let m = random_module(seed, &cfg);
        prop_assert!(verify_module(&m).is_ok());
        let out = opt::optimize_module_with(&m, &Options::default()).unwrap();
        prop_assert!(verify_module(&out.module).is_ok());
        for (f, s) in m.functions().iter().zip(&out.stats.functions) {
            let g = out.module.get(f.name()).unwrap();
            prop_assert!(g.nodes().len() <= f.nodes().len(),
                "@{} grew from {} to {} nodes", f.name(), f.nodes().len(), g.nodes().len());
            prop_assert_eq!(s.stop, Stop::FixedPoint);
        }
        let again = opt::optimize_module(&out.module).unwrap();
        prop_assert_eq!(&again, &out.module);
        let entry = m.last().unwrap();
        for inputs in [program_inputs(entry, input_seed), program_inputs(entry, !input_seed)] {
            assert_same_results(&m, &out.module, entry.name(), &inputs);
        }
    }
}

// ---------------------------------------------------------------------------
// On the output of automatic differentiation.
// ---------------------------------------------------------------------------

/// The indices of the float parameters of a function.
fn float_params(f: &Function) -> Vec<usize> {
    f.param_types()
        .iter()
        .enumerate()
        .filter(|(_, t)| t.elem.is_float())
        .map(|(i, _)| i)
        .collect()
}

/// Optimises a derived module at its entry, checks it, and returns the node
/// counts of the entry's reachable functions before and after.
fn optimise_derived(m: &Module, entry: &str, inputs: &[Vec<Tensor>]) -> (usize, usize) {
    verify_module(m).unwrap();
    let out = opt::optimize_with(m, entry, &Options::default()).unwrap();
    verify_module(&out.module).unwrap();
    for inputs in inputs {
        assert_same_results(m, &out.module, entry, inputs);
    }
    out.stats.totals()
}

#[test]
fn derivatives_of_the_bundled_programs_shrink_and_stay_exact() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/programs");
    let mut report = String::new();
    let (mut all_before, mut all_after) = (0, 0);
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "adj"))
        .collect();
    paths.sort();
    for path in paths {
        let source = std::fs::read_to_string(&path).unwrap();
        let (m, _) = parse_module(&source).unwrap();
        let f = m.last().unwrap();
        let wrt = float_params(f);
        let name = path.file_stem().unwrap().to_string_lossy().to_string();
        let scalar = f.outputs().last().is_some_and(|&o| f.ty(o).is_scalar());
        let mut derived = vec![("vjp", adjit::vjp(&m, f.name(), &wrt))];
        if scalar {
            derived.push(("grad", adjit::grad(&m, f.name(), &wrt)));
            derived.push(("hvp", adjit::hvp(&m, f.name(), &wrt)));
        }
        for (kind, d) in derived {
            let (dm, entry) = match d {
                Ok(d) => d,
                // A limitation of the transform, not of the optimiser.
                Err(e) if e.to_string().contains("not supported") => {
                    report += &format!("{name:>8} {kind:<5} ({e})\n");
                    continue;
                }
                Err(e) => panic!("{name} {kind}: {e}"),
            };
            let g = dm.get(&entry).unwrap();
            let inputs: Vec<Vec<Tensor>> = (0..2).map(|s| program_inputs(g, s)).collect();
            let (before, after) = optimise_derived(&dm, &entry, &inputs);
            report += &format!("{name:>8} {kind:<5} {before:>5} -> {after:>5}\n");
            all_before += before;
            all_after += after;
        }
    }
    if std::env::var_os("OPT_REPORT").is_some() {
        eprint!("{report}");
    }
    assert!(all_after < all_before, "{report}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 100, ..ProptestConfig::default() })]

    #[test]
    fn derivatives_of_generated_modules_optimise_exactly(
        seed in any::<u64>(),
        nodes in 5usize..40,
        input_seed in any::<u64>(),
    ) {
        let cfg = GenConfig { nodes, ..GenConfig::default() };
        let m = random_module(seed, &cfg);
        let f = m.last().unwrap();
        let wrt = float_params(f);
        let Ok((dm, entry)) = adjit::vjp(&m, f.name(), &wrt) else {
            return Ok(());
        };
        let d = dm.get(&entry).unwrap();
        let (before, after) =
            optimise_derived(&dm, &entry, &[program_inputs(d, input_seed)]);
        prop_assert!(after <= before);
    }
}
