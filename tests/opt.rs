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
    assert!(out.stats.to_string().contains("@f:"), "{}", out.stats);
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
