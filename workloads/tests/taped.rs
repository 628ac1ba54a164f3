//! The tape-recorded workloads (`adjit_workloads::taped`) against the
//! hand-derived values and gradients of `adjit_workloads`.
//!
//! The two compute the same formulas with different operation orders, so
//! they agree to rounding. Each tolerance is a small multiple of the rounding
//! error the computation can make, measured against the scale of the terms
//! involved:
//!
//! - a gradient that is a long sum with cancellation (logreg, gmm, mlp,
//!   spring) is compared normwise: every component within 10⁻¹² of the
//!   largest component of its parameter block;
//! - a gradient component that is a short formula (rosen, bs) is compared
//!   against the sum of the magnitudes of the terms that make it up (the
//!   terms a reverse sweep adds), which bounds its rounding error;
//! - values are compared relative to themselves, with sizes small enough that
//!   the worst-case summation error n·ε stays below the tolerance.

use adjit_workloads::taped::{self, SpringGrads, Workspace};
use adjit_workloads::{WorkloadError, bs, gmm, logreg, mlp, rosen, seeds, spring};

/// Asserts |got − want| ≤ tol·max(|want|, 10⁻³⁰⁰).
fn assert_rel(what: &str, got: f64, want: f64, tol: f64) {
    let err = (got - want).abs();
    assert!(
        err <= tol * want.abs().max(1e-300),
        "{what}: got {got}, want {want} (relative error {:e} > {tol:e})",
        err / want.abs().max(1e-300)
    );
}

/// Asserts that every component of `got` is within `tol` times the largest
/// component of `want` (normwise relative error in the max norm).
fn assert_normwise(what: &str, got: &[f64], want: &[f64], tol: f64) {
    assert_normwise_floor(what, got, want, 0.0, tol);
}

/// As [`assert_normwise`], with the scale at least `floor`: the magnitude of
/// the terms that cancel in a gradient that may be exactly zero.
fn assert_normwise_floor(what: &str, got: &[f64], want: &[f64], floor: f64, tol: f64) {
    assert_eq!(got.len(), want.len(), "{what}: lengths");
    let scale = want.iter().fold(floor, |m, w| m.max(w.abs()));
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (g - w).abs() <= tol * scale,
            "{what}[{i}]: got {g}, want {w} (error {:e} > {tol:e} × {scale:e})",
            (g - w).abs()
        );
    }
}

/// Asserts |got[i] − want[i]| ≤ tol·scale[i] for every i.
fn assert_scaled(what: &str, got: &[f64], want: &[f64], scale: &[f64], tol: f64) {
    for (i, ((g, w), s)) in got.iter().zip(want).zip(scale).enumerate() {
        assert!(
            (g - w).abs() <= tol * s,
            "{what}[{i}]: got {g}, want {w} (error {:e} > {tol:e} × {s:e})",
            (g - w).abs()
        );
    }
}

// ------------------------------------------------------------------ seeds

#[test]
fn seeds_match_their_hand_derived_gradients() {
    let mut ws = Workspace::new();
    // A handful of operations each: a few ulps at most.
    let tol = 4.0 * f64::EPSILON;
    for &(x, y) in &[(3.0, 2.0), (-1.5, 0.25), (0.0, -0.0), (1e3, -7.0)] {
        let (f, g) = taped::seed2(&mut ws, x, y).unwrap();
        assert_rel("seed2", f, seeds::seed2(x, y), tol);
        let want = seeds::seed2_grad(x, y);
        assert_rel("seed2 dx", g[0], want[0], tol);
        assert_rel("seed2 dy", g[1], want[1], tol);

        let (f, g) = taped::seed3(&mut ws, x, y).unwrap();
        assert_rel("seed3", f, seeds::seed3(x, y), tol);
        let want = seeds::seed3_grad(x, y);
        assert_rel("seed3 dx", g[0], want[0], tol);
        assert_rel("seed3 dy", g[1], want[1], tol);
    }
    assert_eq!(taped::seed2(&mut ws, 3.0, 2.0).unwrap(), (5.0, [6.0, -4.0]));
    for &x in &[0.1, 0.5, 1.0, 2.0, 3.7] {
        let (f, g) = taped::seed1(&mut ws, x).unwrap();
        assert_rel("seed1", f, seeds::seed1(x), tol);
        // The three terms of the derivative may cancel: measure against
        // their magnitudes.
        let ex = x.exp();
        let th = x.cos().tanh();
        let scale = ((ex * x).cos() * ex * (1.0 + x)).abs()
            + (th / x).abs()
            + (x.ln() * (1.0 - th * th) * x.sin()).abs();
        assert_scaled("seed1'", &[g], &[seeds::seed1_grad(x)], &[scale], 1e-14);
    }
    for &x in &[-2.0, 0.0, 1.0, 1.0000001, 3.0] {
        let (f, g) = taped::select(&mut ws, x).unwrap();
        assert_eq!(f, seeds::select(x), "select({x})");
        assert_eq!(g, seeds::select_grad(x), "select'({x})");
    }
}

// ------------------------------------------------------------------ rosen

/// Σ of the magnitudes of the terms of each gradient component.
fn rosen_term_scale(x: &[f64]) -> Vec<f64> {
    let n = x.len();
    let mut scale = vec![0.0; n];
    for i in 0..n - 1 {
        let t = x[i + 1] - x[i] * x[i];
        scale[i] += (400.0 * x[i] * t).abs() + (2.0 * (1.0 - x[i])).abs();
        scale[i + 1] += (200.0 * t).abs();
    }
    scale
}

#[test]
fn rosen_matches_the_hand_derived_gradient() {
    let mut ws = Workspace::new();
    for (n, check_value) in [
        (2, true),
        (3, true),
        (7, true),
        (1000, true),
        (100_000, false),
    ] {
        let x = rosen::inputs(n, n as u64).x;
        let mut want = vec![0.0; n];
        let f_hand = rosen::value_and_grad(&x, &mut want).unwrap();
        let mut got = vec![0.0; n];
        let f = taped::rosen(&mut ws, &x, &mut got).unwrap();
        // All terms are non-negative: the summation error is at most n·ε·f.
        if check_value {
            assert_rel(&format!("rosen n={n}"), f, f_hand, 1e-12);
        }
        assert_scaled(
            &format!("∇rosen n={n}"),
            &got,
            &want,
            &rosen_term_scale(&x),
            1e-14,
        );
    }
    // The minimum, and degenerate sizes.
    let mut g = vec![7.0; 4];
    assert_eq!(taped::rosen(&mut ws, &[1.0; 4], &mut g).unwrap(), 0.0);
    assert_eq!(g, [0.0; 4]);
    let mut g = [7.0];
    assert_eq!(taped::rosen(&mut ws, &[0.5], &mut g).unwrap(), 0.0);
    assert_eq!(g, [0.0]);
    assert!(matches!(
        taped::rosen(&mut ws, &[1.0, 2.0], &mut [0.0; 3]),
        Err(WorkloadError::Length { what: "grad", .. })
    ));
}

// ----------------------------------------------------------------- logreg

#[test]
fn logreg_matches_the_hand_derived_gradient() {
    for block_nodes in [taped::DEFAULT_BLOCK_NODES, 1000, 1] {
        let mut ws = Workspace::with_block_nodes(block_nodes);
        for (n, d) in [(1, 1), (50, 3), (400, 20), (10_000, 100)] {
            let inp = logreg::inputs(n, d, 7).unwrap();
            let mut want = vec![0.0; d];
            let f_hand = logreg::value_and_grad(&inp.x, &inp.y, &inp.w, &mut want).unwrap();
            let mut got = vec![0.0; d];
            let f = taped::logreg(&mut ws, &inp.x, &inp.y, &inp.w, &mut got).unwrap();
            let what = format!("logreg {n}×{d}, blocks of {block_nodes} nodes");
            assert_rel(&what, f, f_hand, 1e-12);
            assert_normwise(&what, &got, &want, 1e-12);
        }
    }
    let mut ws = Workspace::new();
    assert!(matches!(
        taped::logreg(&mut ws, &[1.0; 5], &[0.0; 2], &[0.1; 3], &mut [0.0; 3]),
        Err(WorkloadError::Length { what: "x", .. })
    ));
    assert!(taped::logreg(&mut ws, &[], &[], &[0.1], &mut [0.0]).is_err());
}

// -------------------------------------------------------------------- gmm

fn gmm_case(ws: &mut Workspace, shape: gmm::Shape, seed: u64, what: &str) {
    let inp = gmm::inputs(shape, seed).unwrap();
    let mut hand_ws = gmm::Workspace::new(shape).unwrap();
    let (mut ha, mut hm, mut hi) = (
        vec![0.0; inp.alphas.len()],
        vec![0.0; inp.means.len()],
        vec![0.0; inp.icf.len()],
    );
    let hand = gmm::Grads {
        alphas: &mut ha,
        means: &mut hm,
        icf: &mut hi,
    };
    let f_hand =
        gmm::value_and_grad(shape, inp.params(), &inp.x, inp.wishart, &mut hand_ws, hand).unwrap();
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
    let f = taped::gmm(ws, shape, inp.params(), &inp.x, inp.wishart, grads).unwrap();
    let what = format!("gmm {shape:?} {what}");
    assert_rel(&what, f, f_hand, 1e-12);
    // ∂/∂α_k = Σ_i p_ik − n·softmax(α)_k: terms of magnitude up to n, which
    // cancel exactly when every point sees the same components (D = 0).
    let n = shape.n as f64;
    assert_normwise_floor(&format!("{what} alphas"), &ga, &ha, n, 1e-12);
    assert_normwise(&format!("{what} means"), &gm, &hm, 1e-12);
    assert_normwise(&format!("{what} icf"), &gi, &hi, 1e-12);
}

#[test]
fn gmm_matches_the_hand_derived_gradient() {
    let shapes = [
        (1, 1, 1),
        (2, 5, 40),
        (3, 4, 10),
        (0, 3, 5),
        (2, 2, 0),
        (10, 25, 20),
        (2, 5, 1000),
        (64, 50, 3),
    ];
    for block_nodes in [taped::DEFAULT_BLOCK_NODES, 1] {
        let mut ws = Workspace::with_block_nodes(block_nodes);
        for (d, k, n) in shapes {
            let what = format!("blocks of {block_nodes} nodes");
            gmm_case(&mut ws, gmm::Shape { d, k, n }, 11, &what);
        }
    }
    // A prior with m ≠ 0 and γ ≠ 1.
    let shape = gmm::Shape { d: 3, k: 2, n: 7 };
    let mut inp = gmm::inputs(shape, 5).unwrap();
    inp.wishart = gmm::Wishart { gamma: 0.7, m: 2.0 };
    let mut hand_ws = gmm::Workspace::new(shape).unwrap();
    let (mut ha, mut hm, mut hi) = (vec![0.0; 2], vec![0.0; 6], vec![0.0; 12]);
    let f_hand = gmm::value_and_grad(
        shape,
        inp.params(),
        &inp.x,
        inp.wishart,
        &mut hand_ws,
        gmm::Grads {
            alphas: &mut ha,
            means: &mut hm,
            icf: &mut hi,
        },
    )
    .unwrap();
    let (mut ga, mut gm, mut gi) = (vec![0.0; 2], vec![0.0; 6], vec![0.0; 12]);
    let mut ws = Workspace::new();
    let f = taped::gmm(
        &mut ws,
        shape,
        inp.params(),
        &inp.x,
        inp.wishart,
        gmm::Grads {
            alphas: &mut ga,
            means: &mut gm,
            icf: &mut gi,
        },
    )
    .unwrap();
    assert_rel("gmm with prior", f, f_hand, 1e-12);
    assert_normwise("gmm with prior: alphas", &ga, &ha, 1e-12);
    assert_normwise("gmm with prior: means", &gm, &hm, 1e-12);
    assert_normwise("gmm with prior: icf", &gi, &hi, 1e-12);
}

#[test]
fn gmm_rejects_bad_shapes() {
    let mut ws = Workspace::new();
    let shape = gmm::Shape { d: 2, k: 2, n: 3 };
    let inp = gmm::inputs(shape, 1).unwrap();
    let (mut ga, mut gm, mut gi) = (vec![0.0; 2], vec![0.0; 4], vec![0.0; 5]);
    let result = taped::gmm(
        &mut ws,
        shape,
        inp.params(),
        &inp.x,
        inp.wishart,
        gmm::Grads {
            alphas: &mut ga,
            means: &mut gm,
            icf: &mut gi,
        },
    );
    assert!(matches!(
        result,
        Err(WorkloadError::Length {
            what: "grads.icf",
            ..
        })
    ));
    let empty = gmm::Shape { d: 2, k: 0, n: 3 };
    let result = taped::gmm(
        &mut ws,
        empty,
        gmm::Params {
            alphas: &[],
            means: &[],
            icf: &[],
        },
        &inp.x,
        inp.wishart,
        gmm::Grads {
            alphas: &mut [],
            means: &mut [],
            icf: &mut [],
        },
    );
    assert!(matches!(
        result,
        Err(WorkloadError::Invalid { what: "k", .. })
    ));
}

// -------------------------------------------------------------------- mlp

#[test]
fn mlp_matches_the_hand_derived_gradient() {
    let small = [
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
        mlp::Shape {
            batch: 2,
            input: 0,
            hidden: 3,
            classes: 2,
        },
        mlp::Shape {
            batch: 2,
            input: 4,
            hidden: 0,
            classes: 3,
        },
    ];
    let cases = small
        .iter()
        .map(|&s| (s, taped::DEFAULT_BLOCK_NODES))
        .chain(small.iter().map(|&s| (s, 1)))
        .chain([(mlp::MNIST, taped::DEFAULT_BLOCK_NODES)]);
    for (shape, block_nodes) in cases {
        let mut ws = Workspace::with_block_nodes(block_nodes);
        let inp = mlp::inputs(shape, 3).unwrap();
        let p = inp.params();
        let mut hand_ws = mlp::Workspace::new(shape).unwrap();
        let mut h = [
            vec![0.0; p.w1.len()],
            vec![0.0; p.b1.len()],
            vec![0.0; p.w2.len()],
            vec![0.0; p.b2.len()],
        ];
        let [hw1, hb1, hw2, hb2] = &mut h;
        let hand = mlp::Grads {
            w1: hw1,
            b1: hb1,
            w2: hw2,
            b2: hb2,
        };
        let f_hand = mlp::value_and_grad(shape, p, &inp.x, &inp.y, &mut hand_ws, hand).unwrap();
        let mut g = h.clone();
        let [gw1, gb1, gw2, gb2] = &mut g;
        let grads = mlp::Grads {
            w1: gw1,
            b1: gb1,
            w2: gw2,
            b2: gb2,
        };
        let f = taped::mlp(&mut ws, shape, p, &inp.x, &inp.y, grads).unwrap();
        let what = format!("mlp {shape:?}, blocks of {block_nodes} nodes");
        assert_rel(&what, f, f_hand, 1e-12);
        for (name, (got, want)) in ["W1", "b1", "W2", "b2"].iter().zip(g.iter().zip(&h)) {
            assert_normwise(&format!("{what}: {name}"), got, want, 1e-12);
        }
    }
}

// ----------------------------------------------------------------- spring

#[test]
fn spring_matches_the_hand_derived_adjoint() {
    let configs = [
        spring::BENCH,
        spring::Config {
            masses: 2,
            steps: 10,
            dt: 0.1,
        },
        spring::Config {
            masses: 1,
            steps: 5,
            dt: 0.1,
        },
        spring::Config {
            masses: 5,
            steps: 0,
            dt: 0.1,
        },
    ];
    let mut ws = Workspace::new();
    for config in configs {
        let inp = spring::inputs(config, 5);
        let (n, m) = (config.masses, config.springs());
        let mut hand_ws = spring::Workspace::new(config).unwrap();
        let (mut hk, mut hx, mut hv) = (vec![0.0; m], vec![0.0; n], vec![0.0; n]);
        let hand = spring::Grads {
            k: &mut hk,
            x0: &mut hx,
            v0: &mut hv,
        };
        let f_hand = spring::value_and_grad(config, inp.args(), &mut hand_ws, hand).unwrap();
        let (mut gk, mut gv) = (vec![0.0; m], vec![0.0; n]);
        let grads = SpringGrads {
            k: &mut gk,
            v0: &mut gv,
        };
        let f = taped::spring(&mut ws, config, inp.args(), grads).unwrap();
        let what = format!("spring {config:?}");
        assert_rel(&what, f, f_hand, 1e-12);
        assert_normwise(&format!("{what}: k"), &gk, &hk, 1e-12);
        assert_normwise(&format!("{what}: v0"), &gv, &hv, 1e-12);
    }
}

// --------------------------------------------------------------------- bs

/// Per option: the magnitudes of the terms a reverse sweep adds up for the
/// price, delta and vega (the two chain-rule terms through d1 and d2 cancel
/// analytically, and each carries the rounding of φ(d) = e^{−d²/2}/√(2π),
/// relative error about (1 + d²)ε).
fn bs_scales(o: bs::Options<'_>, i: usize) -> [f64; 3] {
    let (s, k, t, r, sigma) = (o.s[i], o.k[i], o.t[i], o.r[i], o.sigma[i]);
    let vol = sigma * t.sqrt();
    let d1 = ((s / k).ln() + (r + 0.5 * sigma * sigma) * t) / vol;
    let d2 = d1 - vol;
    let discounted = k * (-r * t).exp();
    let price = s * bs::norm_cdf(d1) + discounted * bs::norm_cdf(d2);
    let amplify = 1.0 + (d1 * d1).max(d2 * d2);
    let delta = bs::norm_cdf(d1) + amplify * bs::norm_pdf(d1) / vol;
    let vega = amplify * s * bs::norm_pdf(d1) * (t.sqrt() + d1.abs() / sigma + d2.abs() / sigma);
    [price, delta, vega]
}

#[test]
fn bs_matches_the_closed_form_greeks() {
    let n = 2000;
    let inp = bs::inputs(n, 9);
    let o = inp.options();
    let (mut hp, mut hd, mut hv) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    bs::price_delta_vega(
        o,
        bs::Greeks {
            price: &mut hp,
            delta: &mut hd,
            vega: &mut hv,
        },
    )
    .unwrap();
    let scales: Vec<[f64; 3]> = (0..n).map(|i| bs_scales(o, i)).collect();
    let column = |j: usize| scales.iter().map(|s| s[j]).collect::<Vec<f64>>();
    let mut ws = Workspace::new();
    for per_option in [false, true] {
        let (mut p, mut d, mut v) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
        let out = bs::Greeks {
            price: &mut p,
            delta: &mut d,
            vega: &mut v,
        };
        if per_option {
            taped::bs_per_option(&mut ws, o, out).unwrap();
        } else {
            taped::bs(&mut ws, o, out).unwrap();
        }
        let what = if per_option {
            "per option"
        } else {
            "one sweep"
        };
        assert_scaled(&format!("bs price, {what}"), &p, &hp, &column(0), 1e-15);
        assert_scaled(&format!("bs delta, {what}"), &d, &hd, &column(1), 1e-14);
        assert_scaled(&format!("bs vega, {what}"), &v, &hv, &column(2), 1e-14);
    }
    let result = taped::bs(
        &mut ws,
        bs::Options {
            s: &[100.0],
            k: &[100.0],
            t: &[1.0],
            r: &[0.0],
            sigma: &[0.2, 0.3],
        },
        bs::Greeks {
            price: &mut [0.0],
            delta: &mut [0.0],
            vega: &mut [0.0],
        },
    );
    assert!(matches!(
        result,
        Err(WorkloadError::Length { what: "sigma", .. })
    ));
}

// ----------------------------------------------------------------- reuse

#[test]
fn repeated_calls_are_deterministic_and_do_not_grow_the_tape() {
    let mut ws = Workspace::with_block_nodes(5000);
    let shape = gmm::Shape { d: 3, k: 4, n: 200 };
    let inp = gmm::inputs(shape, 2).unwrap();
    let run = |ws: &mut Workspace| {
        let (mut ga, mut gm, mut gi) = (vec![0.0; 4], vec![0.0; 12], vec![0.0; 24]);
        let f = taped::gmm(
            ws,
            shape,
            inp.params(),
            &inp.x,
            inp.wishart,
            gmm::Grads {
                alphas: &mut ga,
                means: &mut gm,
                icf: &mut gi,
            },
        )
        .unwrap();
        (f, ga, gm, gi)
    };
    let first = run(&mut ws);
    let capacity = ws.tape_capacity();
    for _ in 0..3 {
        assert_eq!(run(&mut ws), first);
        assert_eq!(ws.tape_capacity(), capacity);
    }
    // Blocks of 5000 nodes hold a few points each: more than one block ran.
    assert!(capacity < 20_000, "capacity {capacity}");
}
