//! Smoke test.
use adjit_ir::interp::eval;
use adjit_ir::{Graph, Module, Tensor, Type};

#[test]
fn seed2() {
    let g = Graph::new("seed2");
    let x = g.param("x", Type::f64(&[]));
    let y = g.param("y", Type::f64(&[]));
    let f = (x + y) * (x - y);
    let mut m = Module::new();
    m.add(g.finish(&[f]).unwrap()).unwrap();
    let out = eval(&m, "seed2", &[Tensor::from_f64(3.0), Tensor::from_f64(2.0)]).unwrap();
    assert_eq!(out[0].as_f64(), Some(&[5.0][..]));
}
