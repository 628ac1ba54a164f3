//! The gradients of the bundled programs (`examples/programs/*.adj`), built
//! by `grad`/`vjp`/`hvp` from the generic (symbolic-size) functions and
//! interpreted, against the hand-derived gradients of the plain-Rust
//! workloads (`adjit_workloads`) on the same inputs.

mod common;

use adjit::ad::{self, AdError};
use adjit::ir::interp::eval;
use adjit::ir::{Module, Tensor, verify_module};
use adjit_workloads::{bs, gmm, logreg, mlp, rosen, seeds};
use common::*;

fn derived(r: Result<(Module, String), AdError>) -> (Module, String) {
    let (m, f) = r.unwrap();
    verify_module(&m).unwrap();
    (m, f)
}

fn run(m: &(Module, String), args: &[Tensor]) -> Vec<Tensor> {
    eval(&m.0, &m.1, args).unwrap_or_else(|e| panic!("@{}: {e}", m.1))
}

fn all_wrt(m: &Module, entry: &str) -> Vec<usize> {
    (0..m.get(entry).unwrap().params().len()).collect()
}

#[test]
fn seeds_gradients() {
    for name in ["seed1", "seed2", "seed3", "select"] {
        let (m, entry) = program(name);
        let g = derived(ad::grad(&m, &entry, &all_wrt(&m, &entry)));
        for &(x, y) in &[(3.0, 2.0), (0.4, -1.5), (1.0, 0.5), (2.2, 7.0)] {
            let got: Vec<f64> = match name {
                "seed2" | "seed3" => run(&g, &[s(x), s(y)])[1..].iter().map(scalar).collect(),
                _ => vec![scalar(&run(&g, &[s(x)])[1])],
            };
            let want: Vec<f64> = match name {
                "seed1" => vec![seeds::seed1_grad(x)],
                "seed2" => seeds::seed2_grad(x, y).to_vec(),
                "seed3" => seeds::seed3_grad(x, y).to_vec(),
                _ => vec![seeds::select_grad(x)],
            };
            assert_all_close(&format!("{name} at ({x}, {y})"), &got, &want, 1e-14);
        }
    }
}

#[test]
fn rosen_gradient_and_hvp_at_every_size() {
    let (m, entry) = program("rosen");
    let g = derived(ad::grad(&m, &entry, &[0]));
    let h = derived(ad::hvp(&m, &entry, &[0]));
    for n in [2usize, 3, 10, 200] {
        let inp = rosen::inputs(n, n as u64);
        let mut want = vec![0.0; n];
        let value = rosen::value_and_grad(&inp.x, &mut want).unwrap();
        let out = run(&g, &[t(&[n], inp.x.clone())]);
        assert_close("rosen value", scalar(&out[0]), value, 1e-13);
        assert_all_close(
            &format!("rosen grad n={n}"),
            out[1].as_f64().unwrap(),
            &want,
            1e-12,
        );
        let v: Vec<f64> = (0..n).map(|i| ((i * 7 % 5) as f64 - 2.0) / 3.0).collect();
        let mut hv = vec![0.0; n];
        rosen::hvp(&inp.x, &v, &mut hv).unwrap();
        let out = run(&h, &[t(&[n], inp.x.clone()), t(&[n], v)]);
        assert_all_close(
            &format!("rosen hvp n={n}"),
            out[0].as_f64().unwrap(),
            &hv,
            1e-12,
        );
    }
}

#[test]
fn logreg_gradient() {
    let (m, entry) = program("logreg");
    let g = derived(ad::grad(&m, &entry, &[0]));
    for (n, d) in [(1, 1), (50, 3), (200, 12)] {
        let (inp, args) = logreg_inputs(n, d, 5);
        let mut want = vec![0.0; d];
        let value = logreg::value_and_grad(&inp.x, &inp.y, &inp.w, &mut want).unwrap();
        let out = run(&g, &args);
        assert_close("logreg value", scalar(&out[0]), value, 1e-13);
        assert_all_close("logreg grad", out[1].as_f64().unwrap(), &want, 1e-11);
    }
}

#[test]
fn mlp_gradient() {
    let (m, entry) = program("mlp");
    let g = derived(ad::grad(&m, &entry, &[0, 1, 2, 3]));
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
        let mut ws = mlp::Workspace::new(shape).unwrap();
        let (mut w1, mut b1) = (vec![0.0; p.w1.len()], vec![0.0; p.b1.len()]);
        let (mut w2, mut b2) = (vec![0.0; p.w2.len()], vec![0.0; p.b2.len()]);
        let grads = mlp::Grads {
            w1: &mut w1,
            b1: &mut b1,
            w2: &mut w2,
            b2: &mut b2,
        };
        let value = mlp::value_and_grad(shape, p, &inp.x, &inp.y, &mut ws, grads).unwrap();
        let out = run(&g, &args);
        assert_close("mlp value", scalar(&out[0]), value, 1e-12);
        for (k, want) in [&w1, &b1, &w2, &b2].into_iter().enumerate() {
            let got = out[1 + k].as_f64().unwrap();
            assert_all_close(&format!("mlp grad {k} {shape:?}"), got, want, 1e-10);
        }
    }
}

#[test]
fn gmm_gradient() {
    let (m, entry) = program("gmm");
    let g = derived(ad::grad(&m, &entry, &[0, 1, 2]));
    for (d, k, n) in [(1, 1, 1), (2, 3, 7), (3, 4, 10)] {
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
        let mut ws = gmm::Workspace::new(shape).unwrap();
        let (mut ga, mut gm, mut gi) = (
            vec![0.0; inp.alphas.len()],
            vec![0.0; inp.means.len()],
            vec![0.0; inp.icf.len()],
        );
        let grads = gmm::Grads {
            alphas: &mut ga,
            means: &mut gm,
            icf: &mut gi,
        };
        gmm::value_and_grad(shape, inp.params(), &inp.x, inp.wishart, &mut ws, grads).unwrap();
        let out = run(&g, &args);
        for (j, want) in [&ga, &gm, &gi].into_iter().enumerate() {
            let got = out[1 + j].as_f64().unwrap();
            assert_all_close(&format!("gmm grad {j} {shape:?}"), got, want, 1e-10);
        }
    }
}

#[test]
fn black_scholes_delta_and_vega() {
    // Each price depends only on its own option: the VJP with ȳ = 1 gives
    // ∂C_i/∂S_i and ∂C_i/∂σ_i.
    let (m, entry) = program("bs");
    let v = derived(ad::vjp(&m, &entry, &[0, 4]));
    let n = 64;
    let inp = bs::inputs(n, 9);
    let args = vec![
        t(&[n], inp.s.clone()),
        t(&[n], inp.k.clone()),
        t(&[n], inp.t.clone()),
        t(&[n], inp.r.clone()),
        t(&[n], inp.sigma.clone()),
        t(&[n], vec![1.0; n]),
    ];
    let out = run(&v, &args);
    let (mut price, mut delta, mut vega) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let greeks = bs::Greeks {
        price: &mut price,
        delta: &mut delta,
        vega: &mut vega,
    };
    bs::price_delta_vega(inp.options(), greeks).unwrap();
    assert_all_close("bs price", out[0].as_f64().unwrap(), &price, 1e-13);
    assert_all_close("bs delta", out[1].as_f64().unwrap(), &delta, 1e-11);
    assert_all_close("bs vega", out[2].as_f64().unwrap(), &vega, 1e-11);
}

#[test]
fn reverse_over_reverse_through_the_spring_loop_is_the_hessian_vector_product() {
    // vjp(grad f) seeded with v on the gradient outputs is Hᵀv = Hv, which
    // forward over reverse (hvp, tested against the hand-written adjoint in
    // tests/ad_loops.rs) computes independently.
    let (m, entry) = program("spring");
    let (_, args) = spring_inputs(5);
    let (g, gname) = ad::grad(&m, &entry, &[0, 1]).unwrap();
    let (r, rname) = ad::vjp(&g, &gname, &[0, 1]).unwrap();
    let (h, hname) = ad::hvp(&m, &entry, &[0, 1]).unwrap();
    let v: Vec<Tensor> = args[..2]
        .iter()
        .map(|a| {
            let d = (0..a.len()).map(|i| (i as f64 * 0.9 + 0.3).sin()).collect();
            Tensor::f64(a.shape(), d).unwrap()
        })
        .collect();
    let mut rargs = args.clone();
    rargs.push(Tensor::from_f64(0.0));
    rargs.extend(v.iter().cloned());
    let mut hargs = args.clone();
    hargs.extend(v.iter().cloned());
    let rr = eval(&r, &rname, &rargs).unwrap();
    let fr = eval(&h, &hname, &hargs).unwrap();
    for p in 0..2 {
        assert_all_close(
            &format!("Hv[{p}]"),
            rr[3 + p].as_f64().unwrap(),
            fr[p].as_f64().unwrap(),
            1e-9,
        );
    }
}
