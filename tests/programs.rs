//! Every bundled program, evaluated by the interpreter, against an
//! independent plain-Rust implementation of the same formula
//! (`adjit_workloads`) on the same inputs.

mod common;

use adjit::ir::interp::eval;
use adjit_workloads::{bs, gmm, logreg, mlp, rosen, seeds, spring};
use common::*;

fn run(name: &str, args: &[adjit::ir::Tensor]) -> Vec<adjit::ir::Tensor> {
    let (m, entry) = program(name);
    eval(&m, &entry, args).unwrap_or_else(|e| panic!("{name}: {e}"))
}

#[test]
fn seeds_match_their_formulas() {
    for &(x, y) in &[(3.0, 2.0), (-1.5, 0.25), (0.0, -0.0), (1e3, -7.0)] {
        assert_eq!(scalar(&run("seed2", &[s(x), s(y)])[0]), seeds::seed2(x, y));
        assert_close(
            "seed3",
            scalar(&run("seed3", &[s(x), s(y)])[0]),
            seeds::seed3(x, y),
            1e-15,
        );
    }
    assert_eq!(scalar(&run("seed2", &[s(3.0), s(2.0)])[0]), 5.0);
    for &x in &[0.1, 0.5, 1.0, 2.0, 3.7] {
        assert_close(
            "seed1",
            scalar(&run("seed1", &[s(x)])[0]),
            seeds::seed1(x),
            1e-15,
        );
    }
    for &x in &[-2.0, 0.0, 1.0, 1.0000001, 3.0] {
        assert_eq!(
            scalar(&run("select", &[s(x)])[0]),
            seeds::select(x),
            "select({x})"
        );
    }
}

#[test]
fn rosen_matches_at_every_size() {
    for n in [2usize, 3, 7, 1000] {
        let x = rosen::inputs(n, n as u64).x;
        let got = scalar(&run("rosen", &[t(&[n], x.clone())])[0]);
        assert_close(&format!("rosen n={n}"), got, rosen::value(&x), 1e-13);
    }
    // Known values: the minimum and the classic starting point.
    assert_eq!(scalar(&run("rosen", &[t(&[4], vec![1.0; 4])])[0]), 0.0);
    assert_close(
        "rosen(-1.2, 1)",
        scalar(&run("rosen", &[t(&[2], vec![-1.2, 1.0])])[0]),
        24.2,
        1e-15,
    );
}

#[test]
fn logreg_matches() {
    for (n, d) in [(1, 1), (50, 3), (400, 20)] {
        let (inp, args) = logreg_inputs(n, d, 7);
        let got = scalar(&run("logreg", &args)[0]);
        assert_close(
            "logreg",
            got,
            logreg::value(&inp.x, &inp.y, &inp.w).unwrap(),
            1e-13,
        );
    }
}

#[test]
fn mlp_matches() {
    for shape in [
        mlp::Shape {
            batch: 3,
            input: 5,
            hidden: 4,
            classes: 3,
        },
        mlp::Shape {
            batch: 8,
            input: 30,
            hidden: 16,
            classes: 10,
        },
        mlp::MNIST,
    ] {
        let inp = mlp::inputs(shape, 3).unwrap();
        let p = inp.params();
        let args = vec![
            t(&[shape.input, shape.hidden], p.w1.to_vec()),
            t(&[shape.hidden], p.b1.to_vec()),
            t(&[shape.hidden, shape.classes], p.w2.to_vec()),
            t(&[shape.classes], p.b2.to_vec()),
            t(&[shape.batch, shape.input], inp.x.clone()),
            t(&[shape.batch, shape.classes], inp.y.clone()),
        ];
        let got = scalar(&run("mlp", &args)[0]);
        let mut ws = mlp::Workspace::new(shape).unwrap();
        let want = mlp::value(shape, p, &inp.x, &inp.y, &mut ws).unwrap();
        assert_close(&format!("mlp {shape:?}"), got, want, 1e-12);
    }
}

#[test]
fn gmm_matches_up_to_its_documented_constants() {
    for (d, k, n) in [(1, 1, 1), (2, 5, 40), (3, 4, 10), (10, 25, 20)] {
        let shape = gmm::Shape { d, k, n };
        let inp = gmm::inputs(shape, 11).unwrap();
        let row = shape.icf_row_len().unwrap();
        let args = vec![
            t(&[k], inp.alphas.clone()),
            t(&[k, d], inp.means.clone()),
            t(&[k, row], inp.icf.clone()),
            t(&[n, d], inp.x.clone()),
            s(inp.wishart.gamma),
            s(inp.wishart.m),
        ];
        let got = scalar(&run("gmm", &args)[0]);
        let mut ws = gmm::Workspace::new(shape).unwrap();
        let full = gmm::value(shape, inp.params(), &inp.x, inp.wishart, &mut ws).unwrap();
        // The file leaves out -n d/2 log(2 pi) and +K C(d, gamma, m).
        let constants = -(n as f64) * d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln()
            + k as f64 * gmm::wishart_constant(d, inp.wishart);
        assert_close(&format!("gmm {shape:?}"), got, full - constants, 1e-12);
    }
}

#[test]
fn spring_matches() {
    let (inp, args) = spring_inputs(5);
    let got = scalar(&run("spring", &args)[0]);
    let mut ws = spring::Workspace::new(inp.config).unwrap();
    let want = spring::value(inp.config, inp.args(), &mut ws).unwrap();
    assert_close("spring", got, want, 1e-12);
}

#[test]
fn bs_matches() {
    let n = 500;
    let inp = bs::inputs(n, 9);
    let args = vec![
        t(&[n], inp.s.clone()),
        t(&[n], inp.k.clone()),
        t(&[n], inp.t.clone()),
        t(&[n], inp.r.clone()),
        t(&[n], inp.sigma.clone()),
    ];
    let got = run("bs", &args)[0].as_f64().unwrap().to_vec();
    let mut want = vec![0.0; n];
    bs::price(inp.options(), &mut want).unwrap();
    assert_all_close("bs", &got, &want, 1e-13);
}
