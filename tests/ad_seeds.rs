//! Hand-derived derivatives: the seed functions, a conditional, higher
//! orders of scalar functions, the Rosenbrock gradient and Hessian, and
//! Jacobians built in one sweep.

mod ad_support;

use ad_support::{assert_close, eval, tensor};
use adjit::ad::{self, Mode};
use adjit::ir::{Dim, Elem, Graph, Module, Shape, Tensor, Type, Var, verify_module};

fn module_of(
    name: &str,
    params: &[(&str, Type)],
    build: impl for<'g> FnOnce(&'g Graph, &[Var<'g>]) -> Vec<Var<'g>>,
) -> Module {
    let g = Graph::new(name);
    let vars: Vec<Var<'_>> = params.iter().map(|(n, t)| g.param(n, t.clone())).collect();
    let outs = build(&g, &vars);
    let mut m = Module::new();
    m.add(g.finish(&outs).unwrap()).unwrap();
    m
}

fn scalar() -> Type {
    Type::f64(&[])
}

fn checked(r: Result<(Module, String), ad::AdError>) -> (Module, String) {
    let (m, f) = r.unwrap();
    verify_module(&m).unwrap();
    (m, f)
}

fn values(ts: &[Tensor]) -> Vec<f64> {
    ts.iter().map(|t| t.to_f64_vec()[0]).collect()
}

fn s(x: f64) -> Tensor {
    Tensor::from_f64(x)
}

#[test]
fn seed2_value_and_gradient_at_3_2() {
    // f(x, y) = (x + y)(x − y) = x² − y²: ∇f = (2x, −2y) = (6, −4) at (3, 2).
    let m = module_of("seed2", &[("x", scalar()), ("y", scalar())], |_, p| {
        vec![(p[0] + p[1]) * (p[0] - p[1])]
    });
    let (gm, gf) = checked(ad::grad(&m, "seed2", &[0, 1]));
    assert_eq!(values(&eval(&gm, &gf, &[s(3.0), s(2.0)])), [5.0, 6.0, -4.0]);
    // Only with respect to y: x is a constant.
    let (gm, gf) = checked(ad::grad(&m, "seed2", &[1]));
    assert_eq!(values(&eval(&gm, &gf, &[s(3.0), s(2.0)])), [5.0, -4.0]);
}

#[test]
fn seed3_gradient_is_2x_plus_y_and_x() {
    let m = module_of("seed3", &[("x", scalar()), ("y", scalar())], |_, p| {
        vec![p[0] * p[0] + p[0] * p[1] + 2.0]
    });
    let (gm, gf) = checked(ad::grad(&m, "seed3", &[0, 1]));
    for (x, y) in [(3.0, 2.0), (-1.5, 0.25), (0.0, 7.0)] {
        let got = values(&eval(&gm, &gf, &[s(x), s(y)]));
        assert_eq!(got, [x * x + x * y + 2.0, 2.0 * x + y, x]);
    }
}

#[test]
fn seed1_against_the_hand_derived_derivative() {
    // f(x) = sin(eˣ·x) + log(x)·tanh(cos x)
    // f'(x) = cos(x·eˣ)·eˣ·(1 + x) + tanh(cos x)/x − log(x)·(1 − tanh²(cos x))·sin x
    let m = module_of("seed1", &[("x", scalar())], |_, p| {
        let x = p[0];
        vec![(x.exp() * x).sin() + x.log() * x.cos().tanh()]
    });
    let (gm, gf) = checked(ad::grad(&m, "seed1", &[0]));
    let (jm, jf) = checked(ad::jvp(&m, "seed1", &[0]));
    for x in [0.3f64, 1.0, 2.5] {
        let t = x.cos().tanh();
        let want =
            (x * x.exp()).cos() * x.exp() * (1.0 + x) + t / x - x.ln() * (1.0 - t * t) * x.sin();
        let got = values(&eval(&gm, &gf, &[s(x)]))[1];
        assert_close(&[got], &[want], 1e-14, "grad seed1");
        let tangent = values(&eval(&jm, &jf, &[s(x), s(1.0)]))[1];
        assert_close(&[tangent], &[want], 1e-14, "jvp seed1");
    }
}

#[test]
fn conditional_derivative_follows_the_taken_branch() {
    // f(x) = x² if x > 1 else 2x − 1: f' = 2x above 1, 2 at or below.
    let m = module_of("cond", &[("x", scalar())], |g, p| {
        let x = p[0];
        vec![g.select(x.gt(1.0), x * x, x * 2.0 - 1.0)]
    });
    let (gm, gf) = checked(ad::grad(&m, "cond", &[0]));
    for (x, want) in [(3.0, 6.0), (1.5, 3.0), (1.0, 2.0), (0.5, 2.0), (-4.0, 2.0)] {
        let got = values(&eval(&gm, &gf, &[s(x)]));
        let value = if x > 1.0 { x * x } else { 2.0 * x - 1.0 };
        assert_eq!(got, [value, want], "at {x}");
    }
}

/// `grad` applied `k` times to a scalar function of one variable: the
/// function returning `(f, f', ..., f⁽ᵏ⁾)`.
fn nth_grad(m: &Module, name: &str, k: usize) -> (Module, String) {
    let (mut m, mut f) = (m.clone(), name.to_string());
    for _ in 0..k {
        (m, f) = checked(ad::grad(&m, &f, &[0]));
    }
    (m, f)
}

#[test]
fn second_and_third_derivatives_of_scalar_functions() {
    type Closed = fn(f64) -> [f64; 4];
    type Body = fn(Var<'_>) -> Var<'_>;
    let cases: [(&str, Body, Closed); 5] = [
        (
            "sin",
            |x| x.sin(),
            |x| [x.sin(), x.cos(), -x.sin(), -x.cos()],
        ),
        (
            "xexp",
            |x| x.exp() * x,
            |x| {
                let e = x.exp();
                [x * e, (1.0 + x) * e, (2.0 + x) * e, (3.0 + x) * e]
            },
        ),
        (
            "cube_pow",
            |x| x.pow(3.0),
            |x| [x * x * x, 3.0 * x * x, 6.0 * x, 6.0],
        ),
        (
            "cube_mul",
            |x| x * x * x,
            |x| [x * x * x, 3.0 * x * x, 6.0 * x, 6.0],
        ),
        (
            "tanh",
            |x| x.tanh(),
            |x| {
                let t = x.tanh();
                let d1 = 1.0 - t * t;
                [t, d1, -2.0 * t * d1, d1 * (6.0 * t * t - 2.0)]
            },
        ),
    ];
    for (name, build, closed) in cases {
        let m = module_of(name, &[("x", scalar())], |_, p| vec![build(p[0])]);
        let (gm, gf) = nth_grad(&m, name, 3);
        for x in [-1.3, 0.0, 0.4, 2.0] {
            let got = values(&eval(&gm, &gf, &[s(x)]));
            assert_close(&got, &closed(x), 1e-13, &format!("{name} at {x}"));
        }
        // jvp(grad(grad(f))) with tangent 1: the third derivative again.
        let (g2m, g2f) = nth_grad(&m, name, 2);
        let (hm, hf) = checked(ad::jvp(&g2m, &g2f, &[0]));
        for x in [-0.7, 1.1] {
            let out = values(&eval(&hm, &hf, &[s(x), s(1.0)]));
            // (f, f', f'', ḟ, ḟ', ḟ'')
            assert_close(
                &out[3..],
                &closed(x)[1..],
                1e-13,
                &format!("{name} jvp at {x}"),
            );
        }
    }
}

#[test]
fn hvp_of_a_function_with_a_call() {
    // g(u) = u·sin(u); f(x) = g(x²): f' = 2x·g'(x²), g' = sin u + u cos u,
    // f'' = 2·g'(x²) + 4x²·g''(x²), g'' = 2 cos u − u sin u.
    let mut m = module_of("g", &[("u", scalar())], |_, p| vec![p[0] * p[0].sin()]);
    let gr = Graph::with_module("f", &m);
    let x = gr.param("x", scalar());
    let y = gr.call("g", &[x * x]);
    m.add(gr.finish(&y).unwrap()).unwrap();
    let (hm, hf) = checked(ad::hvp(&m, "f", &[0]));
    let (gm, gf) = nth_grad(&m, "f", 2);
    for x in [0.3f64, -1.2] {
        let u = x * x;
        let g1 = u.sin() + u * u.cos();
        let g2 = 2.0 * u.cos() - u * u.sin();
        let f2 = 2.0 * g1 + 4.0 * x * x * g2;
        let hv = values(&eval(&hm, &hf, &[s(x), s(0.5)]));
        assert_close(&hv, &[0.5 * f2], 1e-13, "hvp through a call");
        let all = values(&eval(&gm, &gf, &[s(x)]));
        assert_close(
            &all,
            &[x * x * u.sin(), 2.0 * x * g1, f2],
            1e-13,
            "grad grad through a call",
        );
    }
}

/// The extended Rosenbrock function, generic in `n`.
fn rosen() -> Module {
    let n = Dim::var("n");
    let ty = Type::new(Elem::F64, Shape(vec![n.clone()]));
    module_of("rosen", &[("x", ty)], |_, p| {
        let x = p[0];
        let n1 = n.checked_sub(&Dim::ONE).unwrap();
        let x0 = x.slice_axis(0, 0usize, n1);
        let x1 = x.slice_axis(0, 1usize, n.clone());
        let d = x1 - x0 * x0;
        let e = 1.0 - x0;
        vec![(d * d * 100.0 + e * e).sum_all()]
    })
}

fn rosen_grad_closed(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    (0..n)
        .map(|i| {
            let mut g = 0.0;
            if i + 1 < n {
                g += -400.0 * x[i] * (x[i + 1] - x[i] * x[i]) - 2.0 * (1.0 - x[i]);
            }
            if i > 0 {
                g += 200.0 * (x[i] - x[i - 1] * x[i - 1]);
            }
            g
        })
        .collect()
}

fn rosen_hessian_closed(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut h = vec![0.0; n * n];
    for i in 0..n {
        let mut d = 0.0;
        if i + 1 < n {
            d += 1200.0 * x[i] * x[i] - 400.0 * x[i + 1] + 2.0;
            h[i * n + i + 1] = -400.0 * x[i];
            h[(i + 1) * n + i] = -400.0 * x[i];
        }
        if i > 0 {
            d += 200.0;
        }
        h[i * n + i] = d;
    }
    h
}

#[test]
fn generic_rosenbrock_gradient_and_hessian() {
    let m = rosen();
    let (gm, gf) = checked(ad::grad(&m, "rosen", &[0]));
    assert_eq!(gm.get(&gf).unwrap().params().len(), 1);
    // The gradient is generic: one function serves every n.
    assert!(
        gm.get(&gf).unwrap().size_vars().iter().any(|v| &**v == "n"),
        "grad(rosen) keeps the size variable"
    );
    let (hm, hf) = checked(ad::hvp(&m, "rosen", &[0]));
    let (jm, jf) = checked(ad::jacobian(&gm, &gf, &[0], Mode::Forward));
    let (rm, rf) = checked(ad::jacobian(&gm, &gf, &[0], Mode::Reverse));
    for n in [2usize, 3, 7] {
        let xs: Vec<f64> = (0..n).map(|i| 0.3 * i as f64 - 0.8).collect();
        let v: Vec<f64> = (0..n).map(|i| 1.0 / (i as f64 + 1.0)).collect();
        let x = tensor(Elem::F64, &[n], xs.clone());
        let g = eval(&gm, &gf, std::slice::from_ref(&x));
        assert_close(
            &g[1].to_f64_vec(),
            &rosen_grad_closed(&xs),
            1e-13,
            "rosen grad",
        );
        let h = rosen_hessian_closed(&xs);
        let hv_want: Vec<f64> = (0..n)
            .map(|i| (0..n).map(|j| h[i * n + j] * v[j]).sum())
            .collect();
        let hv = eval(&hm, &hf, &[x.clone(), tensor(Elem::F64, &[n], v)]);
        assert_close(&hv[0].to_f64_vec(), &hv_want, 1e-13, "rosen hvp");
        // The Jacobian of (f, ∇f) is (∇f, H), forward and reverse.
        for (mm, ff) in [(&jm, &jf), (&rm, &rf)] {
            let j = eval(mm, ff, std::slice::from_ref(&x));
            assert_eq!(j[1].shape(), &[n, n]);
            assert_close(&j[0].to_f64_vec(), &rosen_grad_closed(&xs), 1e-13, "J[0]");
            assert_close(&j[1].to_f64_vec(), &h, 1e-13, "rosen Hessian");
        }
    }
}

/// Nodes over every function of a module.
fn node_count(m: &Module) -> usize {
    m.functions().iter().map(|f| f.nodes().len()).sum()
}

#[test]
fn jacobians_are_one_sweep() {
    // y = (sin(x)·x[::-shifted], Σ x²) for x: f64[k], with k directions
    // (forward) and k + 1 (reverse); the programs must not grow with k.
    let build = |k: usize| {
        module_of(
            "f",
            &[("x", Type::f64(&[k])), ("w", Type::f64(&[]))],
            |_, p| {
                let (x, w) = (p[0], p[1]);
                let sq = (x * x).sum_all() * w;
                vec![x.sin() * x.exp(), sq]
            },
        )
    };
    for mode in [Mode::Forward, Mode::Reverse] {
        let sizes: Vec<usize> = [3usize, 10, 40]
            .iter()
            .map(|&k| {
                let m = build(k);
                let (jm, _) = checked(ad::jacobian(&m, "f", &[0, 1], mode));
                node_count(&jm) - node_count(&m)
            })
            .collect();
        assert!(
            sizes.windows(2).all(|w| w[0] == w[1]),
            "{mode:?}: {sizes:?}"
        );
    }
}
