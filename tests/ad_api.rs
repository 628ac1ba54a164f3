//! The transforms' contracts: errors on bad requests, symbolic zeros (no
//! node for a value that does not depend on the differentiated
//! parameters), names of derived values and functions.

use adjit::ad::{self, AdError, Mode};
use adjit::ir::{
    ConstData, Dim, Elem, FunctionBuilder, Graph, Module, Op, Type, UnaryOp, Var, verify_module,
};

fn module_of(
    params: &[(&str, Type)],
    build: impl for<'g> FnOnce(&'g Graph, &[Var<'g>]) -> Vec<Var<'g>>,
) -> Module {
    let g = Graph::new("f");
    let vars: Vec<Var<'_>> = params.iter().map(|(n, t)| g.param(n, t.clone())).collect();
    let outs = build(&g, &vars);
    let mut m = Module::new();
    m.add(g.finish(&outs).unwrap()).unwrap();
    m
}

fn s() -> Type {
    Type::f64(&[])
}

#[test]
fn bad_requests_are_errors() {
    let m = module_of(
        &[("x", s()), ("i", Type::new(Elem::I64, vec![]))],
        |_, p| vec![p[0].sin(), p[0] * 2.0],
    );
    assert!(matches!(
        ad::jvp(&m, "g", &[0]),
        Err(AdError::UnknownFunction(_))
    ));
    assert!(matches!(
        ad::vjp(&m, "f", &[2]),
        Err(AdError::BadParam { index: 2, .. })
    ));
    assert!(matches!(
        ad::vjp(&m, "f", &[0, 0]),
        Err(AdError::BadParam { index: 0, .. })
    ));
    assert!(matches!(
        ad::jvp(&m, "f", &[1]),
        Err(AdError::BadParam { index: 1, .. })
    ));
    let v = module_of(&[("x", Type::f64(&[3]))], |_, p| vec![p[0].sin()]);
    assert!(matches!(
        ad::grad(&v, "f", &[0]),
        Err(AdError::BadOutput { .. })
    ));
    assert!(matches!(
        ad::hvp(&v, "f", &[0]),
        Err(AdError::BadOutput { .. })
    ));
    assert!(matches!(
        ad::vmap(&v, "f", &[0], Dim::Known(-1)),
        Err(AdError::BadSize { .. })
    ));
    assert!(matches!(
        ad::vmap(&v, "f", &[], Dim::var("q")),
        Err(AdError::BadSize { .. })
    ));
}

#[test]
fn an_invalid_module_is_reported_not_transformed() {
    let mut b = FunctionBuilder::new("f");
    let x = b.param("x", s());
    // Declared with a wrong result type: the verifier rejects it.
    let y = b.push_declared(Op::Unary(UnaryOp::Sin), &[x], vec![Type::f64(&[2])]);
    let mut m = Module::new();
    m.add(b.finish(&y)).unwrap();
    assert!(matches!(ad::jvp(&m, "f", &[0]), Err(AdError::Invalid(_))));
}

#[test]
fn loops_are_unsupported_when_active_and_copied_when_not() {
    // main(x, k) = scan(k)·x: the scan depends on k only.
    let mut m = module_of(&[("c", s()), ("h", s())], |_, p| vec![p[1] + p[0]]);
    let g = Graph::with_module("main", &m);
    let x = g.param("x", s());
    let k = g.param("k", s());
    let r = g.scan("f", 4usize, &[k], &[k], &[], false);
    let out = r[0] * x;
    m.add(g.finish(&[out]).unwrap()).unwrap();
    for res in [ad::jvp(&m, "main", &[1]), ad::vjp(&m, "main", &[0, 1])] {
        assert!(
            matches!(res, Err(AdError::Unsupported { op: "scan", .. })),
            "{res:?}"
        );
    }
    // W.r.t. x alone the scan is a constant and is copied.
    for res in [
        ad::jvp(&m, "main", &[0]),
        ad::vjp(&m, "main", &[0]),
        ad::grad(&m, "main", &[0]),
    ] {
        let (out, _) = res.unwrap();
        verify_module(&out).unwrap();
    }
}

fn zero_constants(m: &Module, name: &str) -> usize {
    m.get(name)
        .unwrap()
        .nodes()
        .iter()
        .filter(|n| {
            matches!(&n.op, Op::Const { data: ConstData::Splat(s), .. }
                if s.to_f64() == 0.0)
        })
        .count()
}

#[test]
fn symbolic_zeros_emit_no_nodes() {
    // f(x, c) = sin(x)·c + exp(c)·c, differentiated w.r.t. x only.
    let m = module_of(&[("x", Type::f64(&[4])), ("c", Type::f64(&[4]))], |_, p| {
        let (x, c) = (p[0], p[1]);
        vec![x.sin() * c + c.exp() * c]
    });
    let primal = m.get("f").unwrap().nodes().len();
    assert_eq!(primal, 5);
    // Forward: cos x, ẋ·cos x, (·)·c. The add with one constant side and the
    // whole exp(c)·c branch get nothing.
    let (jm, jf) = ad::jvp(&m, "f", &[0]).unwrap();
    assert_eq!(jm.get(&jf).unwrap().nodes().len(), primal + 3);
    assert_eq!(zero_constants(&jm, &jf), 0);
    // Reverse: ȳ·c, (·)·cos x — and nothing for c or the exp branch.
    let (vm, vf) = ad::vjp(&m, "f", &[0]).unwrap();
    assert_eq!(vm.get(&vf).unwrap().nodes().len(), primal + 3);
    assert_eq!(zero_constants(&vm, &vf), 0);
    // Only an output whose derivative is identically zero is filled with zeros.
    let (vm, vf) = ad::jvp(&m, "f", &[]).unwrap();
    assert_eq!(zero_constants(&vm, &vf), 1);
    verify_module(&vm).unwrap();
}

#[test]
fn derived_values_and_functions_have_readable_names() {
    let m = module_of(&[("x", s()), ("y", s())], |_, p| {
        let a = (p[0] + p[1]).named("a");
        let b = (p[0] - p[1]).named("b");
        vec![(a * b).named("f")]
    });
    let (jm, jf) = ad::jvp(&m, "f", &[0, 1]).unwrap();
    assert_eq!(jf, "f_jvp");
    let j = jm.get(&jf).unwrap();
    for name in [
        "x", "y", "x_dot", "y_dot", "a", "a_dot", "b", "b_dot", "f", "f_dot",
    ] {
        assert!(j.value_by_name(name).is_some(), "no %{name}");
    }
    let (vm, vf) = ad::vjp(&m, "f", &[0, 1]).unwrap();
    assert_eq!(vf, "f_vjp");
    let v = vm.get(&vf).unwrap();
    for name in ["f_bar", "a_bar", "b_bar", "x_bar", "y_bar"] {
        assert!(v.value_by_name(name).is_some(), "no %{name}");
    }
    let (gm, gf) = ad::grad(&m, "f", &[0]).unwrap();
    assert_eq!(gf, "f_grad");
    // Names are fresh: a second gradient in the same module gets a suffix.
    let (_, gf2) = ad::grad(&gm, "f", &[1]).unwrap();
    assert_eq!(gf2, "f_grad_1");
    let (_, h) = ad::hvp(&m, "f", &[0]).unwrap();
    assert_eq!(h, "f_hvp");
    let (jm, jac) = ad::jacobian(&m, "f", &[0, 1], Mode::Reverse).unwrap();
    assert_eq!(jac, "f_jacrev");
    let jf = jm.get(&jac).unwrap();
    assert!(jf.value_by_name("df_dx").is_some() && jf.value_by_name("df_dy").is_some());
}

#[test]
fn the_source_functions_are_kept_unchanged() {
    let m = module_of(&[("x", s())], |_, p| vec![p[0].sin()]);
    let (out, _) = ad::grad(&m, "f", &[0]).unwrap();
    assert_eq!(out.get("f"), m.get("f"));
    // Non-float outputs carry no tangent or cotangent.
    let m = module_of(&[("x", s())], |_, p| vec![p[0].gt(0.0), p[0].sin()]);
    let (jm, jf) = ad::jvp(&m, "f", &[0]).unwrap();
    assert_eq!(jm.get(&jf).unwrap().outputs().len(), 3);
    let (vm, vf) = ad::vjp(&m, "f", &[0]).unwrap();
    assert_eq!(vm.get(&vf).unwrap().params().len(), 2);
}

#[test]
fn deep_graphs_do_not_recurse() {
    // A chain of 30 000 nodes: every sweep is a loop, never a recursion
    // (a recursive walk would overflow the 2 MiB stack of a test thread).
    let g = Graph::new("f");
    let x = g.param("x", s());
    let mut y = x;
    for _ in 0..10_000 {
        y = (y * 0.5).sin();
    }
    let mut m = Module::new();
    m.add(g.finish(&[y]).unwrap()).unwrap();
    let (gm, gf) = ad::grad(&m, "f", &[0]).unwrap();
    let (hm, hf) = ad::hvp(&gm, "f", &[0]).unwrap();
    assert!(gm.get(&gf).is_some() && hm.get(&hf).is_some());
}

#[test]
fn degenerate_requests_give_well_formed_functions() {
    let m = module_of(
        &[("x", Type::f64(&[3])), ("i", Type::new(Elem::I64, vec![]))],
        |_, p| vec![p[0].sin(), p[1] + p[1]],
    );
    for mode in [Mode::Forward, Mode::Reverse] {
        // Nothing to differentiate with respect to: no Jacobian blocks.
        let (jm, jf) = ad::jacobian(&m, "f", &[], mode).unwrap();
        verify_module(&jm).unwrap();
        assert!(jm.get(&jf).unwrap().outputs().is_empty());
    }
    // No float output: the adjoint takes no cotangent and returns zeros.
    let ints = module_of(&[("x", Type::f64(&[3]))], |_, p| {
        vec![p[0].convert(Elem::I64)]
    });
    let (vm, vf) = ad::vjp(&ints, "f", &[0]).unwrap();
    verify_module(&vm).unwrap();
    let v = vm.get(&vf).unwrap();
    assert_eq!((v.params().len(), v.outputs().len()), (1, 2));
    let (jm, jf) = ad::jacobian(&ints, "f", &[0], Mode::Reverse).unwrap();
    verify_module(&jm).unwrap();
    assert!(jm.get(&jf).unwrap().outputs().is_empty());
}
