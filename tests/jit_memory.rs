//! Compiling and dropping functions returns their code memory: the resident
//! set stays flat over 10,000 compile-and-drop cycles. (A binary of its own,
//! so no other test allocates while it measures.)

use adjit::ir::{Graph, Module, Tensor, Type};
use adjit::jit::{self, Options};

fn seed2() -> Module {
    let g = Graph::new("seed2");
    let x = g.param("x", Type::f64(&[]));
    let y = g.param("y", Type::f64(&[]));
    let f = (x + y) * (x - y);
    let mut m = Module::new();
    m.add(g.finish(&[f]).unwrap()).unwrap();
    m
}

fn rss_bytes() -> usize {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: usize = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

#[test]
fn compiling_and_dropping_keeps_memory_flat() {
    let m = seed2();
    let opts = Options {
        verify: false,
        ..Options::default()
    };
    let mut x = Tensor::from_f64(0.0);
    let y = Tensor::from_f64(1.0);
    let mut round = |count: usize| {
        for i in 0..count {
            let c = jit::compile_with(&m, "seed2", &opts).unwrap();
            x = Tensor::from_f64(i as f64);
            let r = c.call(&[&x, &y]).unwrap();
            assert_eq!(r[0].as_f64().unwrap()[0], (i * i) as f64 - 1.0);
        }
    };
    round(1000);
    let before = rss_bytes();
    round(10_000);
    let after = rss_bytes();
    // Without freeing, every compiled function keeps at least a page of
    // code: 10,000 functions would add 40 MB or more.
    assert!(
        after < before + 8 * 1024 * 1024,
        "RSS grew from {before} to {after} bytes over 10,000 compile-and-drop cycles"
    );
}
