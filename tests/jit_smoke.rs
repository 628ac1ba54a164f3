use adjit::ir::{Graph, Module, Tensor, Type};
use adjit::jit;

#[test]
fn seed2() {
    let g = Graph::new("seed2");
    let x = g.param("x", Type::f64(&[]));
    let y = g.param("y", Type::f64(&[]));
    let f = (x + y) * (x - y);
    let mut m = Module::new();
    m.add(g.finish(&[f]).unwrap()).unwrap();
    let c = jit::compile_with(
        &m,
        "seed2",
        &jit::Options {
            keep_clif: true,
            ..Default::default()
        },
    )
    .unwrap();
    for s in c.clif() {
        println!("{s}");
    }
    let r = c
        .call(&[&Tensor::from_f64(3.0), &Tensor::from_f64(2.0)])
        .unwrap();
    assert_eq!(r[0].as_f64().unwrap(), &[5.0]);
}

#[test]
fn rosen() {
    let n = 11;
    let g = Graph::new("rosen");
    let x = g.param("x", Type::f64(&[n]));
    let a = x.slice_axis(0, 0usize, n - 1);
    let b = x.slice_axis(0, 1usize, n);
    let t = b - a * a;
    let u = 1.0 - a;
    let f = (t * t * 100.0 + u * u).sum_all();
    let mut m = Module::new();
    m.add(g.finish(&[f]).unwrap()).unwrap();
    let c = jit::compile_with(
        &m,
        "rosen",
        &jit::Options {
            keep_clif: true,
            ..Default::default()
        },
    )
    .unwrap();
    for s in c.clif() {
        println!("{s}");
    }
    println!("{:?}", c.stats());
    let xs: Vec<f64> = (0..n).map(|i| 0.1 * i as f64 - 0.3).collect();
    let r = c.call(&[&Tensor::f64(&[n], xs.clone()).unwrap()]).unwrap();
    let want: f64 = (0..n - 1)
        .map(|i| 100.0 * (xs[i + 1] - xs[i] * xs[i]).powi(2) + (1.0 - xs[i]).powi(2))
        .sum();
    let got = r[0].as_f64().unwrap()[0];
    assert!((got - want).abs() < 1e-12 * want.abs(), "{got} {want}");
}
