//! The bundled programs (`examples/programs/*.adj`), compiled at the
//! benchmark sizes, against the hand-written references of
//! `adjit_workloads` and the interpreter; and the gradient graphs the
//! benchmarks use, against the hand-derived gradients.

#[path = "jit_support/mod.rs"]
mod support;

use adjit::ir::text::parse_module;
use adjit::ir::{Module, Tensor, Type, interp};
use adjit::jit;
use adjit_workloads::{bs, gmm, logreg, mlp, rosen, seeds};

fn program(name: &str) -> Module {
    let path = format!(
        "{}/examples/programs/{name}.adj",
        env!("CARGO_MANIFEST_DIR")
    );
    let text = std::fs::read_to_string(&path).expect("bundled program");
    parse_module(&text).expect("parses").0
}

fn t(dims: &[usize], v: &[f64]) -> Tensor {
    Tensor::f64(dims, v.to_vec()).unwrap()
}

/// Runs `f` compiled and interpreted on `inputs`; returns the compiled
/// outputs after checking them against the interpreter (relative `rel`).
fn run(m: &Module, f: &str, inputs: &[Tensor], rel: f64) -> Vec<Vec<f64>> {
    let types: Vec<Type> = inputs.iter().map(Tensor::ty).collect();
    let c = jit::compile_for(m, f, &types).unwrap_or_else(|e| panic!("{f}: {e}"));
    let refs: Vec<&Tensor> = inputs.iter().collect();
    let got = c.call(&refs).unwrap();
    let want = interp::eval(m, f, inputs).unwrap();
    for (g, w) in got.iter().zip(&want) {
        for (a, b) in g.to_f64_vec().iter().zip(w.to_f64_vec()) {
            assert!(
                (a - b).abs() <= rel * b.abs().max(1.0),
                "{f}: jit {a} vs interpreter {b}"
            );
        }
    }
    got.iter().map(Tensor::to_f64_vec).collect()
}

fn close(a: f64, b: f64, rel: f64, what: &str) {
    assert!(
        (a - b).abs() <= rel * b.abs().max(1.0),
        "{what}: {a} vs reference {b}"
    );
}

#[test]
fn seeds_are_exact() {
    for (x, y) in [(3.0, 2.0), (-1.5, 0.25), (0.0, -0.0)] {
        let r = run(
            &program("seed2"),
            "seed2",
            &[t(&[], &[x]), t(&[], &[y])],
            0.0,
        );
        assert_eq!(r[0][0], seeds::seed2(x, y));
        let r = run(
            &program("seed3"),
            "seed3",
            &[t(&[], &[x]), t(&[], &[y])],
            0.0,
        );
        assert_eq!(r[0][0], seeds::seed3(x, y));
    }
    for x in [0.5, 1.0, 1.5, 3.0] {
        let r = run(&program("seed1"), "seed1", &[t(&[], &[x])], 1e-15);
        close(r[0][0], seeds::seed1(x), 1e-14, "seed1");
        let r = run(&program("select"), "select", &[t(&[], &[x])], 0.0);
        assert_eq!(r[0][0], seeds::select(x));
    }
}

#[test]
fn rosen_value_and_gradient() {
    for n in [2usize, 3, 1000, 100_001] {
        let x = rosen::inputs(n, 7).x;
        let r = run(&program("rosen"), "rosen", &[t(&[n], &x)], 1e-13);
        close(r[0][0], rosen::value(&x), 1e-13, "rosen");
    }
}

#[test]
fn logreg_value() {
    let (n, d) = (10_000, 100);
    let inp = logreg::inputs(n, d, 7).unwrap();
    let args = [t(&[d], &inp.w), t(&[n, d], &inp.x), t(&[n], &inp.y)];
    let r = run(&program("logreg"), "logreg", &args, 1e-12);
    close(
        r[0][0],
        logreg::value(&inp.x, &inp.y, &inp.w).unwrap(),
        1e-12,
        "logreg",
    );
}

#[test]
fn black_scholes_prices() {
    let n = 1003;
    let inp = bs::inputs(n, 7);
    let args = [
        t(&[n], &inp.s),
        t(&[n], &inp.k),
        t(&[n], &inp.t),
        t(&[n], &inp.r),
        t(&[n], &inp.sigma),
    ];
    let r = run(&program("bs"), "bs", &args, 1e-12);
    let mut want = vec![0.0; n];
    bs::price(inp.options(), &mut want).unwrap();
    for (a, b) in r[0].iter().zip(&want) {
        close(*a, *b, 1e-11, "bs");
    }
}

#[test]
fn mlp_loss() {
    let shape = mlp::MNIST;
    let inp = mlp::inputs(shape, 7).unwrap();
    let (b, i, h, o) = (shape.batch, shape.input, shape.hidden, shape.classes);
    let args = [
        t(&[i, h], &inp.w1),
        t(&[h], &inp.b1),
        t(&[h, o], &inp.w2),
        t(&[o], &inp.b2),
        t(&[b, i], &inp.x),
        t(&[b, o], &inp.y),
    ];
    let r = run(&program("mlp"), "mlp", &args, 1e-12);
    let mut ws = mlp::Workspace::new(shape).unwrap();
    let want = mlp::value(shape, inp.params(), &inp.x, &inp.y, &mut ws).unwrap();
    close(r[0][0], want, 1e-12, "mlp");
}

#[test]
fn gmm_loss() {
    for shape in [
        gmm::Shape {
            d: 2,
            k: 5,
            n: 1000,
        },
        gmm::Shape {
            d: 10,
            k: 25,
            n: 1000,
        },
    ] {
        let inp = gmm::inputs(shape, 7).unwrap();
        let tlen = shape.icf_row_len().unwrap();
        let args = [
            t(&[shape.k], &inp.alphas),
            t(&[shape.k, shape.d], &inp.means),
            t(&[shape.k, tlen], &inp.icf),
            t(&[shape.n, shape.d], &inp.x),
            t(&[], &[inp.wishart.gamma]),
            t(&[], &[inp.wishart.m]),
        ];
        let r = run(&program("gmm"), "gmm", &args, 1e-11);
        let mut ws = gmm::Workspace::new(shape).unwrap();
        let full = gmm::value(shape, inp.params(), &inp.x, inp.wishart, &mut ws).unwrap();
        // The program leaves out −n·d/2·log(2π) and +K·C(d, γ, m).
        let (n, d, k) = (shape.n as f64, shape.d as f64, shape.k as f64);
        let constants = -n * d * 0.5 * (2.0 * std::f64::consts::PI).ln()
            + k * gmm::wishart_constant(shape.d, inp.wishart);
        close(r[0][0], full - constants, 1e-11, "gmm");
    }
}

#[test]
fn gradient_graphs_of_the_benchmarks() {
    for n in [2usize, 5, 1000, 100_001] {
        let x = rosen::inputs(n, 7).x;
        let m = support::rosen_grad_module(n);
        let r = run(&m, "rosen_grad", &[t(&[n], &x)], 1e-13);
        let mut grad = vec![0.0; n];
        let f = rosen::value_and_grad(&x, &mut grad).unwrap();
        close(r[0][0], f, 1e-13, "rosen value");
        for (a, b) in r[1].iter().zip(&grad) {
            close(*a, *b, 1e-13, "rosen gradient");
        }
    }
    let (n, d) = (10_000, 100);
    let inp = logreg::inputs(n, d, 7).unwrap();
    let m = support::logreg_grad_module(n, d);
    let args = [t(&[d], &inp.w), t(&[n, d], &inp.x), t(&[n], &inp.y)];
    let r = run(&m, "logreg_grad", &args, 1e-12);
    let mut grad = vec![0.0; d];
    let f = logreg::value_and_grad(&inp.x, &inp.y, &inp.w, &mut grad).unwrap();
    close(r[0][0], f, 1e-12, "logreg value");
    for (a, b) in r[1].iter().zip(&grad) {
        close(*a, *b, 1e-10, "logreg gradient");
    }
}
