//! A `Var` belongs to the `Graph` that made it: using it in another graph is
//! a located `BuildError` naming both graphs (never a wrong graph, never a
//! panic); a failed `call` keeps the callee's arity; integer literals stand
//! for sizes; `stack`.

use adjit_ir::{Graph, Module, Tensor, Type, interp};
use proptest::prelude::*;

fn scalar() -> Type {
    Type::f64(&[])
}

/// A foreign value whose index is also a valid index of the graph it is used
/// in: before graphs knew their values, this printed `add %p, %p`.
#[test]
fn a_foreign_value_with_an_index_in_range_is_an_error_naming_both_graphs() {
    let g1 = Graph::new("g1");
    let g2 = Graph::new("g2");
    let p = g1.param("p", scalar());
    let _ = g1.param("p2", scalar());
    let q = g2.param("q", scalar());
    let line = line!() + 1;
    let sum = p + q;
    let err = g1.finish(&[sum]).unwrap_err();
    assert_eq!(err.0.len(), 1, "{err}");
    let e = &err.0[0];
    assert_eq!(e.op, "add");
    assert!(e.message.contains("graph @g2"), "{e}");
    assert!(e.message.contains("not of @g1"), "{e}");
    assert_eq!(e.location.line(), line);
    assert!(e.location.file().ends_with("graph_identity.rs"));
    // g2 is untouched and still finishes.
    assert!(g2.finish(&[q * 2.0]).is_ok());
}

/// A foreign value whose index is past the end of the graph it is used in:
/// this used to panic with "index out of bounds".
#[test]
fn a_foreign_value_with_an_index_out_of_range_is_an_error_not_a_panic() {
    let g1 = Graph::new("small");
    let x = g1.param("x", scalar());
    let g2 = Graph::new("big");
    let a = g2.param("a", Type::f64(&[3]));
    let b = (a.sin() + 1.0).exp().sum_all();
    assert!(b.value().unwrap().index() >= 3);
    for (op, y) in [
        ("add", x + b),
        ("mul", x * b),
        ("max", x.max(b)),
        ("lt", x.lt(b)),
        ("select", g1.select(x.lt(1.0), b, x)),
        ("concat", g1.concat(&[x.reshape(&[1][..]), a], 0)),
        ("stack", g1.stack(&[x, b], 0)),
        ("matmul", x.reshape(&[1][..]).matmul(a)),
        (
            "gather",
            x.reshape(&[1][..])
                .gather(g2.constant_i64(&[0], &[1][..]), 0),
        ),
    ] {
        assert!(y.value().is_none(), "{op}");
    }
    let err = g1.finish(&[x]).unwrap_err();
    let ops: Vec<&str> = err.0.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(
        ops,
        [
            "add", "mul", "max", "lt", "select", "concat", "stack", "matmul", "gather"
        ]
    );
    assert!(
        err.0
            .iter()
            .all(|e| e.message.contains("graph @big") && e.message.contains("not of @small"))
    );
}

#[test]
fn foreign_outputs_and_loop_operands_are_errors() {
    let g1 = Graph::new("f");
    let g2 = Graph::new("f");
    let x = g1.param("x", scalar());
    let y = g2.param("y", scalar());
    let err = g1.finish(&[x, y]).unwrap_err();
    assert_eq!(err.0[0].op, "return");
    assert!(
        err.0[0].message.contains("another graph also named @f"),
        "{err}"
    );

    let g3 = Graph::new("h");
    let z = g3.param("z", scalar());
    let _ = g3.call("f", &[y]);
    let _ = g3.scan("f", 3, &[], &[y], &[], false);
    let _ = g3.while_loop("c", "f", 3, &[], &[z, y]);
    let err = g3.finish(&[z]).unwrap_err();
    let ops: Vec<&str> = err.0.iter().map(|e| e.op.as_str()).collect();
    assert_eq!(ops, ["call", "scan", "while"]);
    assert!(err.0.iter().all(|e| e.message.contains("graph @f")));
}

/// The callee's arity survives a failed call, so indexing its results does
/// not panic before `finish` reports the error.
#[test]
fn a_failed_call_returns_the_callee_arity_and_keeps_the_error() {
    let g = Graph::new("two");
    let a = g.param("a", scalar());
    let mut m = Module::new();
    m.add(g.finish(&[a + 1.0, a * 2.0, a - 3.0]).unwrap())
        .unwrap();

    let g = Graph::with_module("main", &m);
    let x = g.param("x", Type::f64(&[2]));
    let r = g.call("two", &[x]); // wrong argument type
    assert_eq!(r.len(), 3);
    let y = r[2] + r[1];
    let err = g.finish(&[y]).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert_eq!(err.0[0].op, "call");

    // An unknown callee: the error says how to make a graph that sees it.
    let g = Graph::new("main");
    let x = g.param("x", scalar());
    let [q, r] = g.call_n("two", &[x]);
    let err = g.finish(&[q + r]).unwrap_err();
    assert_eq!(err.0.len(), 1);
    assert!(err.0[0].message.contains("no function named @two"), "{err}");
    assert!(err.0[0].message.contains("Graph::with_module"), "{err}");

    // call_n with the wrong count: an error, not a panic.
    let g = Graph::with_module("main", &m);
    let x = g.param("x", scalar());
    let [a, b] = g.call_n("two", &[x]);
    let err = g.finish(&[a + b]).unwrap_err();
    assert!(err.0[0].message.contains("has 3 output(s), not 2"), "{err}");
}

#[test]
fn integer_literals_are_sizes_and_negative_ones_are_located_errors() {
    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[5]));
    let n = 5;
    let head = x.slice_axis(0, 0, n - 1);
    let tail = x.slice_axis(0, 1, n);
    assert_eq!(head.ty(), Type::f64(&[4]));
    let f = g.finish(&[(tail - head).sum_all()]).unwrap();
    let mut m = Module::new();
    m.add(f).unwrap();
    let xs = Tensor::f64(&[5], vec![1.0, 4.0, 9.0, 16.0, 25.0]).unwrap();
    let out = interp::eval(&m, "f", &[xs]).unwrap();
    assert_eq!(out[0].as_f64().unwrap(), [24.0]); // telescoping: 25 − 1

    let g = Graph::new("f");
    let x = g.param("x", Type::f64(&[5]));
    let line = line!() + 1;
    let y = x.slice_axis(0, -1, 5);
    let z = g.scatter_add(x, g.constant_i64(&[0; 5], &[5][..]), 0, -2);
    assert!(y.value().is_none() && z.value().is_none());
    let err = g.finish(&[x]).unwrap_err();
    assert_eq!(err.0.len(), 2);
    assert!(err.0[0].message.contains("start -1 is negative"), "{err}");
    assert_eq!(err.0[0].location.line(), line);
    assert!(err.0[1].message.contains("size -2 is negative"), "{err}");
}

#[test]
fn stack_joins_along_a_new_axis() {
    let g = Graph::new("f");
    let a = g.param("a", Type::f64(&[2]));
    let b = g.param("b", Type::f64(&[2]));
    let rows = g.stack(&[a, b], 0);
    let cols = g.stack(&[a, b], 1);
    assert_eq!(rows.ty(), Type::f64(&[2, 2]));
    let f = g.finish(&[rows, cols]).unwrap();
    let mut m = Module::new();
    m.add(f).unwrap();
    let out = interp::eval(
        &m,
        "f",
        &[
            Tensor::f64(&[2], vec![1.0, 2.0]).unwrap(),
            Tensor::f64(&[2], vec![3.0, 4.0]).unwrap(),
        ],
    )
    .unwrap();
    assert_eq!(out[0].as_f64().unwrap(), [1.0, 2.0, 3.0, 4.0]);
    assert_eq!(out[1].as_f64().unwrap(), [1.0, 3.0, 2.0, 4.0]);

    let g = Graph::new("f");
    let a = g.param("a", Type::f64(&[2]));
    let b = g.param("b", Type::f64(&[3]));
    let _ = g.stack(&[a, b], 0);
    let _ = g.stack(&[a], 2);
    let _ = g.stack(&[], 0);
    let err = g.finish(&[a]).unwrap_err();
    let msgs: Vec<&str> = err.0.iter().map(|e| e.message.as_str()).collect();
    assert!(msgs[0].contains("all must have one shape"), "{err}");
    assert!(msgs[1].contains("axis 2 out of range"), "{err}");
    assert!(msgs[2].contains("at least one value"), "{err}");
}

/// One step of the random program: an op on values picked from any graph.
#[derive(Debug, Clone)]
enum Step {
    Unary(usize),
    Binary(usize, usize, u8),
    Select(usize, usize, usize),
    Concat(Vec<usize>),
    Stack(Vec<usize>),
    Matmul(usize, usize),
    Gather(usize, usize),
    Slice(usize, i32, i32),
    Call(usize, usize),
    Scan(usize, usize),
    Sum(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let ix = 0usize..64;
    prop_oneof![
        ix.clone().prop_map(Step::Unary),
        (ix.clone(), ix.clone(), 0u8..4).prop_map(|(a, b, o)| Step::Binary(a, b, o)),
        (ix.clone(), ix.clone(), ix.clone()).prop_map(|(a, b, c)| Step::Select(a, b, c)),
        prop::collection::vec(ix.clone(), 0..4).prop_map(Step::Concat),
        prop::collection::vec(ix.clone(), 0..4).prop_map(Step::Stack),
        (ix.clone(), ix.clone()).prop_map(|(a, b)| Step::Matmul(a, b)),
        (ix.clone(), ix.clone()).prop_map(|(a, b)| Step::Gather(a, b)),
        (ix.clone(), -2i32..6, -2i32..6).prop_map(|(a, s, e)| Step::Slice(a, s, e)),
        (ix.clone(), ix.clone()).prop_map(|(a, b)| Step::Call(a, b)),
        (ix.clone(), ix.clone()).prop_map(|(a, b)| Step::Scan(a, b)),
        ix.prop_map(Step::Sum),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Random op sequences over values of three graphs never panic; every
    /// graph that was handed a value of another ends with an error naming
    /// both, and the others finish or report only their own errors.
    #[test]
    fn random_ops_with_values_of_several_graphs_never_panic(
        steps in prop::collection::vec(step(), 0..40)
    ) {
        let mut m = Module::new();
        let body = Graph::new("body");
        let c = body.param("c", Type::f64(&[3]));
        m.add(body.finish(&[c.sin(), c]).unwrap()).unwrap();
        let graphs = [
            Graph::with_module("g0", &m),
            Graph::with_module("g1", &m),
            Graph::new("g2"),
        ];
        let mut pool = Vec::new();
        for (k, g) in graphs.iter().enumerate() {
            pool.push((k, g.param("a", Type::f64(&[3]))));
            pool.push((k, g.param("b", Type::f64(&[]))));
            pool.push((k, g.param("m", Type::f64(&[3, 3]))));
        }
        let mut mixed = [false; 3];
        for s in steps {
            let pick = |i: usize| pool[i % pool.len()];
            let (k, v) = match s {
                Step::Unary(a) => { let (k, a) = pick(a); (k, a.exp()) }
                Step::Binary(a, b, o) => {
                    let ((k, a), (kb, b)) = (pick(a), pick(b));
                    mixed[k] |= k != kb;
                    (k, match o { 0 => a + b, 1 => a * b, 2 => a.max(b), _ => a - b })
                }
                Step::Select(a, b, c) => {
                    let ((k, a), (kb, b), (kc, c)) = (pick(a), pick(b), pick(c));
                    mixed[kc] |= k != kc || kb != kc;
                    (kc, graphs[kc].select(a.lt(0.5), b, c))
                }
                Step::Concat(ix) | Step::Stack(ix) if ix.is_empty() => {
                    (0, graphs[0].concat(&[], 0))
                }
                Step::Concat(ix) => {
                    let vs: Vec<_> = ix.iter().map(|&i| pick(i)).collect();
                    let k = vs[0].0;
                    mixed[k] |= vs.iter().any(|p| p.0 != k);
                    let vars: Vec<_> = vs.iter().map(|p| p.1).collect();
                    (k, graphs[k].concat(&vars, 0))
                }
                Step::Stack(ix) => {
                    let vs: Vec<_> = ix.iter().map(|&i| pick(i)).collect();
                    let k = vs[vs.len() - 1].0;
                    mixed[k] |= vs.iter().any(|p| p.0 != k);
                    let vars: Vec<_> = vs.iter().map(|p| p.1).collect();
                    (k, graphs[k].stack(&vars, 0))
                }
                Step::Matmul(a, b) => {
                    let ((k, a), (kb, b)) = (pick(a), pick(b));
                    mixed[k] |= k != kb;
                    (k, a.matmul(b))
                }
                Step::Gather(a, b) => {
                    let ((k, a), (kb, b)) = (pick(a), pick(b));
                    mixed[k] |= k != kb;
                    (k, a.gather(b.convert(adjit_ir::Elem::I64), 0))
                }
                Step::Slice(a, s, e) => { let (k, a) = pick(a); (k, a.slice_axis(0, s, e)) }
                Step::Call(a, g) => {
                    let (ka, a) = pick(a);
                    let k = g % 3;
                    mixed[k] |= k != ka;
                    let r = graphs[k].call("body", &[a]);
                    (k, r[r.len() - 1])
                }
                Step::Scan(a, g) => {
                    let (ka, a) = pick(a);
                    let k = g % 3;
                    mixed[k] |= k != ka;
                    let r = graphs[k].scan("body", 4, &[], &[a], &[], false);
                    (k, r[0])
                }
                Step::Sum(a) => { let (k, a) = pick(a); (k, a.sum_all()) }
            };
            pool.push((k, v));
        }
        for (k, g) in graphs.iter().enumerate() {
            let own: Vec<_> = pool.iter().filter(|p| p.0 == k).map(|p| p.1).collect();
            match g.finish(&own[own.len() - 1..]) {
                Ok(f) => {
                    prop_assert!(!mixed[k], "graph g{k} took a foreign value silently");
                    let mut mk = m.clone();
                    mk.add(f).unwrap();
                    prop_assert!(adjit_ir::verify_module(&mk).is_ok());
                }
                Err(errs) => {
                    if mixed[k] {
                        let named = errs.0.iter().any(|e| {
                            e.message.contains(&format!("not of @g{k}"))
                        });
                        prop_assert!(named, "{errs}");
                    }
                }
            }
        }
    }
}
