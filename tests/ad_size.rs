//! The cheap-gradient principle, as a structural check: the optimised
//! gradient program of every bundled program has at most four times as many
//! nodes as the program itself (the table in ARCHITECTURE.md).

mod common;

use common::program;

fn nodes(m: &adjit::ir::Module, f: &str) -> usize {
    m.get(f).unwrap().nodes().len()
}

#[test]
fn optimised_gradients_are_at_most_four_times_the_primal() {
    let cases: &[(&str, &[usize])] = &[
        ("seed1", &[0]),
        ("seed2", &[0, 1]),
        ("seed3", &[0, 1]),
        ("select", &[0]),
        ("rosen", &[0]),
        ("logreg", &[0]),
        ("mlp", &[0, 1, 2, 3]),
        ("gmm", &[0, 1, 2]),
    ];
    for &(name, wrt) in cases {
        let (m, f) = program(name);
        let (g, gname) = adjit::ad::grad(&m, &f, wrt).unwrap();
        let g = adjit::opt::optimize(&g, &gname).unwrap();
        let (p, d) = (nodes(&m, &f), nodes(&g, &gname));
        assert!(d <= 4 * p, "{name}: gradient has {d} nodes, primal {p}");
    }
    let (m, f) = program("bs");
    let (v, vname) = adjit::ad::vjp(&m, &f, &[0, 1, 2, 3, 4]).unwrap();
    let v = adjit::opt::optimize(&v, &vname).unwrap();
    assert!(nodes(&v, &vname) <= 4 * nodes(&m, &f));
}
