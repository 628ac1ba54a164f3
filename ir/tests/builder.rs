//! The Graph builder: broadcasting, literals, errors with call sites, and the
//! type rules it applies (checked again by the verifier).

use adjit_ir::{Dim, Elem, Graph, Module, Op, Scalar, Shape, Type, verify_module};

fn verified(f: adjit_ir::Function) -> adjit_ir::Function {
    let mut m = Module::new();
    m.add(f.clone()).unwrap();
    verify_module(&m).unwrap();
    f
}

#[test]
fn operators_and_literals_build_the_expected_nodes() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[3]));
    let w = g.param("w", Type::f64(&[3]));
    let y = (x + 1.0).sin() * w;
    let z = 2.0 - &y;
    let f = verified(g.finish(&[z]).unwrap());
    let ops: Vec<&str> = f.nodes().iter().map(|n| n.op.name()).collect();
    assert_eq!(ops, ["const", "add", "sin", "mul", "const", "sub"]);
    // Literals become splat constants of the other operand's type.
    assert_eq!(f.ty(f.nodes()[0].results[0]), &Type::f64(&[3]));
}

#[test]
fn numpy_broadcasting_inserts_explicit_broadcasts() {
    let g = Graph::new("f");
    let a = g.param("a", Type::f64(&[4, 1]));
    let b = g.param("b", Type::f64(&[3]));
    let c = a + b;
    assert_eq!(c.ty(), Type::f64(&[4, 3]));
    let f = verified(g.finish(&[c]).unwrap());
    let bcasts: Vec<&Op> = f
        .nodes()
        .iter()
        .map(|n| &n.op)
        .filter(|o| o.name() == "broadcast")
        .collect();
    assert_eq!(bcasts.len(), 2);
    assert_eq!(
        bcasts[1],
        &Op::Broadcast {
            shape: Shape::known(&[4, 3]),
            dims: vec![1]
        }
    );
}

#[test]
fn shape_errors_name_the_op_the_shapes_and_the_call_site() {
    let g = Graph::new("f");
    let a = g.param("a", Type::f64(&[3]));
    let b = g.param("b", Type::f64(&[4]));
    let line = line!() + 1;
    let c = a * b;
    let d = c.exp(); // poisoned: no second error
    let errs = g.finish(&[d]).unwrap_err().0;
    assert_eq!(errs.len(), 1, "{errs:?}");
    let e = &errs[0];
    assert_eq!(e.op, "mul");
    assert!(
        e.message.contains("[3]") && e.message.contains("[4]"),
        "{}",
        e.message
    );
    assert_eq!(e.location.file(), file!());
    assert_eq!(e.location.line(), line);
}

#[test]
fn type_errors_from_ops_are_recorded_not_panicked() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[2, 3]));
    let i = g.param("i", Type::f64(&[2]));
    let bad_gather = x.gather(i, 0);
    let bad_reshape = x.reshape([7]);
    let bad_transpose = x.transpose(&[0, 0]);
    let bad_axis = x.sum(&[2]);
    let errs = g
        .finish(&[bad_gather, bad_reshape, bad_transpose, bad_axis])
        .unwrap_err()
        .0;
    let ops: Vec<&str> = errs.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(ops, ["gather", "reshape", "transpose", "reduce_sum"]);
    assert!(
        errs[1].message.contains("6 elements"),
        "{}",
        errs[1].message
    );
}

#[test]
fn matmul_follows_numpy_for_vectors_and_batches() {
    let g = Graph::new("f");
    let m = g.param("m", Type::f64(&[5, 3]));
    let v = g.param("v", Type::f64(&[3]));
    let u = g.param("u", Type::f64(&[5]));
    let batch = g.param("b", Type::f64(&[2, 3, 4]));
    assert_eq!(m.matmul(v).ty(), Type::f64(&[5]));
    assert_eq!(u.matmul(m).ty(), Type::f64(&[3]));
    assert_eq!(v.matmul(v).ty(), Type::f64(&[]));
    assert_eq!(m.matmul(batch).ty(), Type::f64(&[2, 5, 4]));
    let out = m.matmul(batch).sum_all();
    verified(g.finish(&[out]).unwrap());
}

#[test]
fn mean_over_a_symbolic_axis_divides_by_its_size() {
    let g = Graph::new("f");
    let n = Dim::var("n");
    let x = g.param("x", Type::new(Elem::F64, Shape(vec![n.clone()])));
    let m = x.mean_all();
    let f = verified(g.finish(&[m]).unwrap());
    assert!(f.nodes().iter().any(|node| node.op
        == Op::Size {
            dim: n.clone(),
            elem: Elem::F64
        }));
}

#[test]
fn literal_must_fit_the_element_type() {
    let g = Graph::new("f");
    let i = g.param("i", Type::new(Elem::I64, Shape::known(&[2])));
    let ok = i + 2.0;
    assert_eq!(ok.elem(), Elem::I64);
    let bad = i + 0.5;
    let errs = g.finish(&[ok, bad]).unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("0.5"));
}

#[test]
fn select_broadcasts_condition_and_literals() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[]));
    let y = g.select(x.gt(1.0), x * x, 2.0 * x - 1.0);
    assert_eq!(y.ty(), Type::f64(&[]));
    verified(g.finish(&[y]).unwrap());
}

#[test]
fn calls_and_scans_use_module_signatures() {
    let body = Graph::new("step");
    let k = body.param("k", Type::f64(&[]));
    let c = body.param("c", Type::f64(&[4]));
    let x = body.param("x", Type::f64(&[4]));
    let next = c * k + x;
    let y = next.sum_all();
    let body = body.finish(&[next, y]).unwrap();
    let mut module = Module::new();
    module.add(body).unwrap();

    let g = Graph::with_module("main", &module);
    let k = g.param("k", Type::f64(&[]));
    let init = g.param("init", Type::f64(&[4]));
    let xs = g.param("xs", Type::f64(&[10, 4]));
    let out = g.scan("step", 10usize, &[k], &[init], &[xs], false);
    assert_eq!(out.len(), 2);
    assert_eq!(out[0].ty(), Type::f64(&[4]));
    assert_eq!(out[1].ty(), Type::f64(&[10]));
    let bad = g.scan("step", 9usize, &[k], &[init], &[xs], false);
    let errs = g.finish(&[out[0], bad[0]]).unwrap_err().0;
    assert_eq!(errs.len(), 1);
    assert!(errs[0].message.contains("leading axis"), "{}", errs[0]);
    let _ = Scalar::F64(0.0);
}

#[test]
fn names_are_unique_and_kept() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[]));
    let a = (x * 2.0).named("a");
    let b = (a + 1.0).named("a");
    let f = verified(g.finish(&[b]).unwrap());
    let names: Vec<&str> = f.values().map(|v| f.value_name(v)).collect();
    assert!(names.contains(&"a") && names.contains(&"a_1"), "{names:?}");
}
