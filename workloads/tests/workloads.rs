//! Tests of the reference workloads against outside oracles: finite
//! differences of the primal for every hand-derived derivative, differences of
//! the gradient for the Hessian-vector product, independent naive
//! implementations written differently, closed-form special cases and
//! published values.
//!
//! Finite differences use the fourth-order central stencil
//! f'(x) ≈ (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h))/(12h), whose truncation
//! error is h⁴/30·f⁽⁵⁾; with h ≈ 10⁻³ both truncation and rounding stay far
//! below the 10⁻⁶ relative tolerance.

// The naive references index arrays exactly as the formulas do.
#![allow(clippy::needless_range_loop)]

use adjit_workloads::rng::SplitMix64;
use adjit_workloads::{WorkloadError, bs, gmm, logreg, mlp, rosen, seeds, spring};

// ---------------------------------------------------------------- helpers

/// Fourth-order central difference of `f` at `x` along `dir`, step `h`.
fn fd_dir(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], dir: &[f64], h: f64) -> f64 {
    let mut at = |s: f64| {
        let p: Vec<f64> = x.iter().zip(dir).map(|(xi, di)| xi + s * di).collect();
        f(&p)
    };
    (-at(2.0 * h) + 8.0 * at(h) - 8.0 * at(-h) + at(-2.0 * h)) / (12.0 * h)
}

/// Fourth-order central difference of `f` in coordinate `i`, with a step
/// scaled to the coordinate's magnitude.
fn fd_component(f: &mut dyn FnMut(&[f64]) -> f64, x: &[f64], i: usize, h: f64) -> f64 {
    let mut dir = vec![0.0; x.len()];
    dir[i] = 1.0;
    fd_dir(f, x, &dir, h * x[i].abs().max(1.0))
}

/// Relative error of `got` against `want`, relative to `max(|want|, floor)`.
fn rel_err(got: f64, want: f64, floor: f64) -> f64 {
    (got - want).abs() / want.abs().max(floor)
}

/// Asserts that `grad` matches finite differences of `f` in every coordinate
/// listed in `coords`. Each component's error is measured relative to the
/// larger of its own size and 10⁻³ of the gradient's largest component (a
/// component many orders below the rest cannot be resolved relative to itself
/// by differencing f). Returns the largest relative error seen.
fn check_grad(
    what: &str,
    f: &mut dyn FnMut(&[f64]) -> f64,
    x: &[f64],
    grad: &[f64],
    coords: &[usize],
    h: f64,
    tol: f64,
) -> f64 {
    assert_eq!(x.len(), grad.len(), "{what}: gradient length");
    let scale = grad.iter().fold(0.0f64, |m, g| m.max(g.abs()));
    let floor = (1e-3 * scale).max(1e-12);
    let mut worst = 0.0f64;
    for &i in coords {
        let fd = fd_component(f, x, i, h);
        let err = rel_err(grad[i], fd, floor);
        assert!(
            err <= tol,
            "{what}: component {i}: hand {} vs finite differences {fd} (rel err {err:e})",
            grad[i]
        );
        worst = worst.max(err);
    }
    worst
}

/// All coordinates of a vector of length n.
fn all(n: usize) -> Vec<usize> {
    (0..n).collect()
}

/// `count` coordinates of 0..n drawn from `rng`, plus the first and last.
fn some(n: usize, count: usize, rng: &mut SplitMix64) -> Vec<usize> {
    let mut c: Vec<usize> = (0..count).map(|_| rng.below(n as u64) as usize).collect();
    c.push(0);
    c.push(n - 1);
    c
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}

/// Asserts that the directional derivative of `f` along `dir` (scaled to unit
/// length, so that `h` is the Euclidean step) matches grad·dir, relative to
/// |grad| (the size the projection could have had).
fn check_direction(
    what: &str,
    f: &mut dyn FnMut(&[f64]) -> f64,
    x: &[f64],
    grad: &[f64],
    dir: &[f64],
    h: f64,
    tol: f64,
) -> f64 {
    let norm = dot(dir, dir).sqrt();
    let dir: Vec<f64> = dir.iter().map(|v| v / norm).collect();
    let fd = fd_dir(f, x, &dir, h);
    let hand = dot(grad, &dir);
    let scale = dot(grad, grad).sqrt();
    let err = rel_err(hand, fd, 1e-3 * scale);
    assert!(
        err <= tol,
        "{what}: along a direction: hand {hand} vs finite differences {fd} (rel err {err:e})"
    );
    err
}

// ---------------------------------------------------------------- rng

#[test]
fn splitmix64_matches_the_published_stream() {
    // The reference stream of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
    let mut rng = SplitMix64::new(0);
    assert_eq!(rng.next_u64(), 0xE220_A839_7B1D_CDAF);
    assert_eq!(rng.next_u64(), 0x6E78_9E6A_A1B9_65F4);
    assert_eq!(rng.next_u64(), 0x06C4_5D18_8009_454F);
}

#[test]
fn rng_is_deterministic_and_has_the_right_moments() {
    let a: Vec<f64> = SplitMix64::new(7).normal_vec(1000, 0.0, 1.0);
    let b: Vec<f64> = SplitMix64::new(7).normal_vec(1000, 0.0, 1.0);
    assert_eq!(a, b);
    assert_ne!(a, SplitMix64::new(8).normal_vec(1000, 0.0, 1.0));

    let n = 200_000;
    let mut rng = SplitMix64::new(42);
    let u = rng.uniform_vec(n, 0.0, 1.0);
    assert!(u.iter().all(|&v| (0.0..1.0).contains(&v)));
    let mean = u.iter().sum::<f64>() / n as f64;
    // Standard error of the mean is √(1/12/n) ≈ 6.5e-4; allow 5 of them.
    assert!((mean - 0.5).abs() < 3.3e-3, "uniform mean {mean}");
    let z = rng.normal_vec(n, 0.0, 1.0);
    let mean = z.iter().sum::<f64>() / n as f64;
    let var = z.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n as f64;
    assert!(
        mean.abs() < 5.0 * (1.0 / n as f64).sqrt(),
        "normal mean {mean}"
    );
    // The variance estimate's standard error is √(2/n) ≈ 3.2e-3.
    assert!((var - 1.0).abs() < 1.6e-2, "normal variance {var}");
    let below: Vec<u64> = (0..1000).map(|_| rng.below(10)).collect();
    assert!(below.iter().all(|&v| v < 10));
    assert!((0..10).all(|c| below.contains(&c)));
}

// ---------------------------------------------------------------- seeds

#[test]
fn seed2_at_3_2() {
    assert_eq!(seeds::seed2(3.0, 2.0), 5.0);
    assert_eq!(seeds::seed2_grad(3.0, 2.0), [6.0, -4.0]);
}

#[test]
fn seed3_gradient_is_2x_plus_y_and_x() {
    assert_eq!(seeds::seed3(1.5, -2.0), 1.5 * 1.5 - 3.0 + 2.0);
    assert_eq!(seeds::seed3_grad(1.5, -2.0), [1.0, 1.5]);
    for &(x, y) in &[(0.3, 0.7), (-2.0, 5.0), (4.0, -1.25)] {
        let g = seeds::seed3_grad(x, y);
        let mut f = |p: &[f64]| seeds::seed3(p[0], p[1]);
        check_grad("seed3", &mut f, &[x, y], &g, &all(2), 1e-3, 1e-10);
    }
}

#[test]
fn seed2_gradient_matches_finite_differences() {
    for &(x, y) in &[(3.0, 2.0), (-1.5, 0.25), (10.0, -7.0)] {
        let g = seeds::seed2_grad(x, y);
        assert_eq!(g, [2.0 * x, -2.0 * y]);
        let mut f = |p: &[f64]| seeds::seed2(p[0], p[1]);
        check_grad("seed2", &mut f, &[x, y], &g, &all(2), 1e-3, 1e-10);
    }
}

#[test]
fn seed1_gradient_matches_finite_differences() {
    for &x in &[0.05, 0.3, 1.0, 2.0, 3.7] {
        let g = seeds::seed1_grad(x);
        let mut f = |p: &[f64]| seeds::seed1(p[0]);
        // sin(eˣx) oscillates with angular frequency eˣ(1 + x); the step
        // resolves it and stays well inside x > 0.
        let h = 1e-3 * x.min(1.0) / (1.0 + x.exp() * (1.0 + x));
        let fd = fd_dir(&mut f, &[x], &[1.0], h);
        let err = rel_err(g, fd, 1.0);
        assert!(
            err < 1e-8,
            "seed1 at {x}: hand {g} vs finite differences {fd}"
        );
    }
    // The value against its definition, evaluated piece by piece.
    let x: f64 = 0.8;
    let want = (x.exp() * x).sin() + x.ln() * x.cos().tanh();
    assert_eq!(seeds::seed1(x), want);
}

#[test]
fn select_on_both_sides_of_the_branch() {
    // else branch: 2x − 1
    assert_eq!(seeds::select(0.5), 0.0);
    assert_eq!(seeds::select_grad(0.5), 2.0);
    assert_eq!(seeds::select(-3.0), -7.0);
    // the boundary takes the else branch
    assert_eq!(seeds::select(1.0), 1.0);
    assert_eq!(seeds::select_grad(1.0), 2.0);
    // then branch: x²
    assert_eq!(seeds::select(3.0), 9.0);
    assert_eq!(seeds::select_grad(3.0), 6.0);
    for &x in &[-2.0, 0.25, 0.9, 1.1, 2.5, 40.0] {
        let g = [seeds::select_grad(x)];
        let mut f = |p: &[f64]| seeds::select(p[0]);
        // Steps small enough not to cross x = 1.
        check_grad("select", &mut f, &[x], &g, &[0], 1e-3, 1e-10);
    }
}

// ---------------------------------------------------------------- rosen

/// The definition, one term at a time.
fn rosen_naive(x: &[f64]) -> f64 {
    let mut sum = 0.0;
    for i in 0..x.len().saturating_sub(1) {
        sum += 100.0 * (x[i + 1] - x[i] * x[i]).powi(2) + (1.0 - x[i]).powi(2);
    }
    sum
}

#[test]
fn rosen_known_points() {
    // The global minimum at x = 1, and f(0) = n − 1.
    for n in [0, 1, 2, 3, 9, 1000] {
        let ones = vec![1.0; n];
        let mut g = vec![f64::NAN; n];
        assert_eq!(rosen::value(&ones), 0.0);
        assert_eq!(rosen::value_and_grad(&ones, &mut g), Ok(0.0));
        assert!(
            g.iter().all(|&v| v == 0.0),
            "gradient at the minimum, n = {n}"
        );
        assert_eq!(rosen::value(&vec![0.0; n]), n.saturating_sub(1) as f64);
    }
    // n = 2 at (−1.2, 1), the classic start: 100·(1 − 1.44)² + 2.2² = 24.2.
    assert!((rosen::value(&[-1.2, 1.0]) - 24.2).abs() < 1e-12);
}

#[test]
fn rosen_value_matches_the_naive_sum() {
    for n in [2, 3, 8, 9, 10, 17, 1000, 100_000] {
        let inp = rosen::inputs(n, n as u64);
        let naive = rosen_naive(&inp.x);
        let mut g = vec![0.0; n];
        let fused = rosen::value_and_grad(&inp.x, &mut g).unwrap();
        assert!(rel_err(fused, naive, 1.0) < 1e-13, "n = {n}");
        assert_eq!(
            rosen::value(&inp.x),
            fused,
            "n = {n}: value and value_and_grad"
        );
    }
}

#[test]
fn rosen_gradient_matches_finite_differences() {
    let mut worst = 0.0f64;
    for n in [1, 2, 3, 5, 8, 9, 10, 17, 100] {
        let inp = rosen::inputs(n, 100 + n as u64);
        let mut g = vec![0.0; n];
        rosen::value_and_grad(&inp.x, &mut g).unwrap();
        let mut f = |p: &[f64]| rosen::value(p);
        worst = worst.max(check_grad("rosen", &mut f, &inp.x, &g, &all(n), 1e-3, 1e-8));
    }
    let n = 100_000;
    let inp = rosen::inputs(n, 5);
    let mut g = vec![0.0; n];
    rosen::value_and_grad(&inp.x, &mut g).unwrap();
    let mut rng = SplitMix64::new(1);
    let coords = some(n, 20, &mut rng);
    let mut f = |p: &[f64]| rosen::value(p);
    // f is a quartic, so the stencil has no truncation error at any step; a
    // larger step keeps the rounding of the 10⁵-term sum (∝ ε·f/h) small.
    worst = worst.max(check_grad(
        "rosen 1e5",
        &mut f,
        &inp.x,
        &g,
        &coords,
        1e-1,
        1e-8,
    ));
    eprintln!("rosen gradient: worst relative error {worst:e}");
}

#[test]
fn rosen_hvp_matches_differences_of_the_gradient() {
    let mut worst = 0.0f64;
    for n in [1, 2, 3, 4, 9, 17, 1000] {
        let inp = rosen::inputs(n, 200 + n as u64);
        let mut hv = vec![0.0; n];
        rosen::hvp(&inp.x, &inp.v, &mut hv).unwrap();
        // Fourth-order differences of the gradient along v, all components at once.
        let h = 1e-3;
        let grad_at = |s: f64| {
            let p: Vec<f64> = inp.x.iter().zip(&inp.v).map(|(x, v)| x + s * v).collect();
            let mut g = vec![0.0; n];
            rosen::value_and_grad(&p, &mut g).unwrap();
            g
        };
        let (gp2, gp1, gm1, gm2) = (grad_at(2.0 * h), grad_at(h), grad_at(-h), grad_at(-2.0 * h));
        let scale = hv.iter().fold(0.0f64, |m, v| m.max(v.abs()));
        for i in 0..n {
            let fd = (-gp2[i] + 8.0 * gp1[i] - 8.0 * gm1[i] + gm2[i]) / (12.0 * h);
            let err = rel_err(hv[i], fd, (1e-3 * scale).max(1e-12));
            assert!(err < 1e-8, "hvp n = {n}, component {i}: {} vs {fd}", hv[i]);
            worst = worst.max(err);
        }
        // The Hessian is symmetric: u·(Hv) = v·(Hu).
        let u = SplitMix64::new(n as u64).normal_vec(n, 0.0, 1.0);
        let mut hu = vec![0.0; n];
        rosen::hvp(&inp.x, &u, &mut hu).unwrap();
        let (a, b) = (dot(&u, &hv), dot(&inp.v, &hu));
        assert!(rel_err(a, b, 1.0) < 1e-12, "symmetry n = {n}: {a} vs {b}");
    }
    eprintln!("rosen hvp: worst relative error {worst:e}");
}

#[test]
fn rosen_rejects_mismatched_buffers() {
    let x = [1.0, 2.0, 3.0];
    let mut short = [0.0; 2];
    assert!(matches!(
        rosen::value_and_grad(&x, &mut short),
        Err(WorkloadError::Length {
            what: "grad",
            expected: 3,
            found: 2
        })
    ));
    let mut out = [0.0; 3];
    assert!(rosen::hvp(&x, &[1.0], &mut out).is_err());
    assert!(rosen::hvp(&x, &x, &mut short).is_err());
}

// ---------------------------------------------------------------- logreg

/// The loss from its definition with the textbook log(1 + eᶻ) (fine for the
/// moderate logits of generated data).
fn logreg_naive(x: &[f64], y: &[f64], w: &[f64]) -> f64 {
    let (n, d) = (y.len(), w.len());
    let mut sum = 0.0;
    for i in 0..n {
        let z: f64 = (0..d).map(|j| x[i * d + j] * w[j]).sum();
        sum += (1.0 + z.exp()).ln() - y[i] * z;
    }
    sum / n as f64 + 0.5 * 1e-3 * w.iter().map(|v| v * v).sum::<f64>()
}

#[test]
fn softplus_and_sigmoid_are_stable() {
    for z in [-30.0, -5.0, -1.0, -1e-3, 0.0, 1e-3, 1.0, 5.0, 30.0] {
        // For z ≤ −1, 1 + eᶻ would round away eᶻ's digits; the series
        // log(1 + u) = Σ (−1)^{k+1} uᵏ/k with u = eᶻ ≤ e⁻¹ converges fast.
        let naive = if z <= -1.0 {
            let u = f64::exp(z);
            (1..80).rev().fold(0.0, |acc, k| {
                let sign = if k % 2 == 1 { 1.0 } else { -1.0 };
                acc + sign * u.powi(k) / k as f64
            })
        } else {
            (1.0 + f64::exp(z)).ln()
        };
        assert!(
            rel_err(logreg::softplus(z), naive, 1e-300) < 1e-14,
            "softplus({z})"
        );
        let naive = 1.0 / (1.0 + f64::exp(-z));
        assert!(
            rel_err(logreg::sigmoid(z), naive, 1e-300) < 1e-15,
            "sigmoid({z})"
        );
    }
    // Large positive z: log(1 + eᶻ) = z + log1p(e⁻ᶻ), and e⁻ᶻ is below half an ulp of z.
    for z in [50.0, 700.0, 710.0, 1e3] {
        assert_eq!(logreg::softplus(z), z, "softplus({z})");
        assert_eq!(logreg::sigmoid(z), 1.0, "sigmoid({z})");
    }
    // Very negative z: log(1 + eᶻ) = eᶻ(1 − eᶻ/2 + …), so softplus(z) = eᶻ to rounding.
    for z in [-50.0, -700.0, -740.0] {
        assert!(
            rel_err(logreg::softplus(z), z.exp(), 1e-320) < 1e-14,
            "softplus({z})"
        );
        assert!(
            rel_err(logreg::sigmoid(z), z.exp(), 1e-320) < 1e-14,
            "sigmoid({z})"
        );
    }
    // e^{−1000} underflows to 0 in f64.
    assert_eq!(logreg::softplus(-1e3), 0.0);
    assert_eq!(logreg::sigmoid(-1e3), 0.0);
    for z in [-1e3, -750.0, 750.0, 1e3] {
        assert!(logreg::softplus(z).is_finite() && logreg::sigmoid(z).is_finite());
    }
}

#[test]
fn logreg_with_logits_of_a_thousand_is_finite_and_exact() {
    // D = 1, X = (1000, −1000), w = 1: z = ±1000.
    let x = [1000.0, -1000.0];
    let w = [1.0];
    let mut g = [0.0];
    // Labels that agree with the logits: both data terms vanish.
    let y = [1.0, 0.0];
    assert_eq!(logreg::value(&x, &y, &w), Ok(0.5e-3));
    assert_eq!(logreg::value_and_grad(&x, &y, &w, &mut g), Ok(0.5e-3));
    assert_eq!(g, [1e-3]);
    // Labels that disagree: each data term is 1000; σ(z) − y = ±1.
    let y = [0.0, 1.0];
    let loss = logreg::value_and_grad(&x, &y, &w, &mut g).unwrap();
    assert!(rel_err(loss, 1000.0 + 0.5e-3, 1.0) < 1e-15);
    assert!(rel_err(g[0], 1000.0 + 1e-3, 1.0) < 1e-15);
}

#[test]
fn logreg_value_matches_the_naive_formula() {
    for (n, d) in [(1, 1), (7, 3), (50, 9), (200, 17), (10_000, 100)] {
        let inp = logreg::inputs(n, d, (n * d) as u64).unwrap();
        let naive = logreg_naive(&inp.x, &inp.y, &inp.w);
        let v = logreg::value(&inp.x, &inp.y, &inp.w).unwrap();
        let mut g = vec![0.0; d];
        let vg = logreg::value_and_grad(&inp.x, &inp.y, &inp.w, &mut g).unwrap();
        assert!(rel_err(v, naive, 1.0) < 1e-13, "({n}, {d}): {v} vs {naive}");
        assert_eq!(v, vg, "({n}, {d}): value and value_and_grad");
    }
}

#[test]
fn logreg_gradient_matches_finite_differences() {
    let mut worst = 0.0f64;
    for (n, d) in [(1, 1), (7, 3), (50, 9), (200, 17)] {
        let inp = logreg::inputs(n, d, 31 + d as u64).unwrap();
        let mut g = vec![0.0; d];
        logreg::value_and_grad(&inp.x, &inp.y, &inp.w, &mut g).unwrap();
        let mut f = |w: &[f64]| logreg::value(&inp.x, &inp.y, w).unwrap();
        worst = worst.max(check_grad(
            "logreg",
            &mut f,
            &inp.w,
            &g,
            &all(d),
            1e-3,
            1e-8,
        ));
    }
    // The benchmark size: some components, and random directions.
    let inp = logreg::inputs(10_000, 100, 3).unwrap();
    let mut g = vec![0.0; 100];
    logreg::value_and_grad(&inp.x, &inp.y, &inp.w, &mut g).unwrap();
    let mut f = |w: &[f64]| logreg::value(&inp.x, &inp.y, w).unwrap();
    // The 10⁴-term sum rounds at about 10⁻¹⁴, which the 10⁻³ step turns into
    // about 10⁻¹¹ of noise in each difference: hence 10⁻⁶ here, not 10⁻⁸.
    worst = worst.max(check_grad(
        "logreg full",
        &mut f,
        &inp.w,
        &g,
        &some(100, 10, &mut SplitMix64::new(4)),
        1e-3,
        1e-6,
    ));
    let mut rng = SplitMix64::new(9);
    for _ in 0..3 {
        let dir = rng.normal_vec(100, 0.0, 1.0);
        worst = worst.max(check_direction(
            "logreg full",
            &mut f,
            &inp.w,
            &g,
            &dir,
            1e-3,
            1e-6,
        ));
    }
    eprintln!("logreg gradient: worst relative error {worst:e}");
}

#[test]
fn logreg_inputs_are_sensible() {
    let a = logreg::inputs(10_000, 100, 1).unwrap();
    assert_eq!(a, logreg::inputs(10_000, 100, 1).unwrap());
    assert_ne!(a.x, logreg::inputs(10_000, 100, 2).unwrap().x);
    assert_eq!((a.x.len(), a.y.len(), a.w.len()), (1_000_000, 10_000, 100));
    assert!(a.y.iter().all(|&v| v == 0.0 || v == 1.0));
    let positive = a.y.iter().sum::<f64>() / 10_000.0;
    assert!((0.3..0.7).contains(&positive), "class balance {positive}");
}

#[test]
fn logreg_rejects_bad_shapes() {
    let mut g = [0.0; 2];
    assert!(matches!(
        logreg::value(&[1.0; 5], &[0.0; 3], &[0.0; 2]),
        Err(WorkloadError::Length { what: "x", .. })
    ));
    assert!(logreg::value_and_grad(&[1.0; 6], &[0.0; 3], &[0.0; 2], &mut g[..1]).is_err());
    assert!(logreg::value(&[], &[], &[0.0; 2]).is_err());
    assert!(matches!(
        logreg::inputs(usize::MAX, 2, 0),
        Err(WorkloadError::Overflow { .. })
    ));
}

// ---------------------------------------------------------------- gmm

/// log Γ_p(a) = p(p−1)/4·log π + Σ_{j<p} log Γ(a − j/2), with the gamma
/// function itself rather than its logarithm (fine while Γ stays finite).
fn multigammaln_naive(a: f64, p: usize) -> f64 {
    let mut sum = p as f64 * (p as f64 - 1.0) / 4.0 * std::f64::consts::PI.ln();
    for j in 0..p {
        sum += libm::tgamma(a - j as f64 / 2.0).ln();
    }
    sum
}

/// Log-determinant of a symmetric positive-definite matrix by Cholesky.
fn spd_logdet(a: &[Vec<f64>]) -> f64 {
    let d = a.len();
    let mut l = vec![vec![0.0; d]; d];
    for i in 0..d {
        for j in 0..=i {
            let s: f64 = (0..j).map(|t| l[i][t] * l[j][t]).sum();
            if i == j {
                l[i][i] = (a[i][i] - s).sqrt();
            } else {
                l[i][j] = (a[i][j] - s) / l[j][j];
            }
        }
    }
    2.0 * (0..d).map(|i| l[i][i].ln()).sum::<f64>()
}

/// The GMM objective written as a textbook would: explicit precision
/// matrices Λ_k = Q_kᵀQ_k with log det Λ_k by Cholesky, the log of each
/// weighted Gaussian density log(w_k N(x_i; μ_k, Λ_k⁻¹)) with softmax weights,
/// combined over k by factoring out the largest, and the Wishart prior written
/// with tr(Λ_k) and log det Λ_k.
fn gmm_naive(inp: &gmm::GmmInputs) -> f64 {
    let gmm::Shape { d, k, n } = inp.shape;
    let row = d * (d + 1) / 2;
    let (gamma, m) = (inp.wishart.gamma, inp.wishart.m);
    let alpha_norm: f64 = inp.alphas.iter().map(|a| a.exp()).sum();
    let mut precisions = Vec::new();
    let mut logdets = Vec::new();
    let mut prior = 0.0;
    let n_w = d as f64 + m + 1.0;
    let c = n_w * d as f64 * (gamma / 2f64.sqrt()).ln() - multigammaln_naive(n_w / 2.0, d);
    for kk in 0..k {
        let icf = &inp.icf[kk * row..(kk + 1) * row];
        let mut q = vec![vec![0.0; d]; d];
        let mut idx = d;
        for col in 0..d {
            q[col][col] = icf[col].exp();
            for r in col + 1..d {
                q[r][col] = icf[idx];
                idx += 1;
            }
        }
        let mut lam = vec![vec![0.0; d]; d];
        for a in 0..d {
            for b in 0..d {
                lam[a][b] = (0..d).map(|r| q[r][a] * q[r][b]).sum();
            }
        }
        let logdet = spd_logdet(&lam);
        let trace: f64 = (0..d).map(|a| lam[a][a]).sum();
        prior += c - 0.5 * gamma * gamma * trace + m * 0.5 * logdet;
        precisions.push(lam);
        logdets.push(logdet);
    }
    let mut loglik = 0.0;
    for i in 0..n {
        let xi = &inp.x[i * d..(i + 1) * d];
        let mut log_densities = Vec::new();
        for kk in 0..k {
            let delta: Vec<f64> = (0..d).map(|j| xi[j] - inp.means[kk * d + j]).collect();
            let lam = &precisions[kk];
            let mut mahalanobis = 0.0;
            for a in 0..d {
                for b in 0..d {
                    mahalanobis += delta[a] * lam[a][b] * delta[b];
                }
            }
            let weight = inp.alphas[kk].exp() / alpha_norm;
            log_densities.push(
                weight.ln() - d as f64 / 2.0 * (2.0 * std::f64::consts::PI).ln()
                    + 0.5 * logdets[kk]
                    - 0.5 * mahalanobis,
            );
        }
        // In high dimension every density underflows, so factor out the largest.
        let top = log_densities
            .iter()
            .copied()
            .fold(f64::NEG_INFINITY, f64::max);
        loglik += top
            + log_densities
                .iter()
                .map(|l| (l - top).exp())
                .sum::<f64>()
                .ln();
    }
    loglik + prior
}

#[test]
fn multigammaln_matches_closed_forms() {
    use std::f64::consts::PI;
    // Γ_1(a) = Γ(a); Γ_2(3/2) = √π Γ(3/2) Γ(1) = π/2; Γ_3(2) = π^{3/2} Γ(2) Γ(3/2) Γ(1) = π²/2.
    assert!((gmm::multigammaln(4.5, 1) - libm::lgamma(4.5)).abs() < 1e-14);
    assert!((gmm::multigammaln(1.5, 2) - (PI / 2.0).ln()).abs() < 1e-14);
    assert!((gmm::multigammaln(2.0, 3) - (PI * PI / 2.0).ln()).abs() < 1e-14);
    for (a, p) in [(1.5, 2), (3.0, 2), (5.5, 10), (33.0, 64)] {
        let (got, want) = (gmm::multigammaln(a, p), multigammaln_naive(a, p));
        assert!(
            rel_err(got, want, 1.0) < 1e-12,
            "log Γ_{p}({a}): {got} vs {want}"
        );
    }
}

/// Small shapes covering D = 1 (no off-diagonal part), K = 1 and odd sizes.
const GMM_SMALL: [(usize, usize, usize); 6] = [
    (1, 1, 3),
    (1, 3, 5),
    (2, 3, 10),
    (3, 4, 20),
    (4, 2, 6),
    (5, 3, 9),
];

/// Priors: ADBench's (γ = 1, m = 0) and one that exercises both terms.
const GMM_PRIORS: [gmm::Wishart; 2] = [
    gmm::Wishart { gamma: 1.0, m: 0.0 },
    gmm::Wishart { gamma: 1.7, m: 2.0 },
];

#[test]
fn gmm_value_matches_the_naive_implementation() {
    let shapes = GMM_SMALL
        .iter()
        .copied()
        .chain([(2, 5, 1000), (10, 25, 1000), (64, 50, 20)]);
    for (d, k, n) in shapes {
        for wishart in GMM_PRIORS {
            let shape = gmm::Shape { d, k, n };
            let mut inp = gmm::inputs(shape, (d * 1000 + k) as u64).unwrap();
            inp.wishart = wishart;
            if d > 10 {
                // A unit lower-triangular factor with N(0, 1) entries has a
                // condition number growing like 2^D, so at D = 64 Λ = QᵀQ is
                // singular in f64 and the naive route cannot run. Shrinking the
                // off-diagonal part keeps Λ well conditioned.
                let row = d * (d + 1) / 2;
                for icf_k in inp.icf.chunks_exact_mut(row) {
                    icf_k[d..].iter_mut().for_each(|l| *l *= 0.05);
                }
            }
            let mut ws = gmm::Workspace::new(shape).unwrap();
            let got = gmm::value(shape, inp.params(), &inp.x, wishart, &mut ws).unwrap();
            let want = gmm_naive(&inp);
            assert!(
                rel_err(got, want, 1.0) < 1e-11,
                "gmm {shape:?} {wishart:?}: {got} vs naive {want}"
            );
        }
    }
}

/// All gmm parameters packed as alphas ‖ means ‖ icf.
fn gmm_pack(inp: &gmm::GmmInputs) -> Vec<f64> {
    [&inp.alphas[..], &inp.means[..], &inp.icf[..]].concat()
}

fn gmm_value_packed(inp: &gmm::GmmInputs, ws: &mut gmm::Workspace, p: &[f64]) -> f64 {
    let (k, kd) = (inp.alphas.len(), inp.means.len());
    let params = gmm::Params {
        alphas: &p[..k],
        means: &p[k..k + kd],
        icf: &p[k + kd..],
    };
    gmm::value(inp.shape, params, &inp.x, inp.wishart, ws).unwrap()
}

fn gmm_grad_packed(inp: &gmm::GmmInputs, ws: &mut gmm::Workspace) -> (f64, Vec<f64>) {
    let mut g = vec![0.0; inp.alphas.len() + inp.means.len() + inp.icf.len()];
    let (ga, rest) = g.split_at_mut(inp.alphas.len());
    let (gm, gi) = rest.split_at_mut(inp.means.len());
    let grads = gmm::Grads {
        alphas: ga,
        means: gm,
        icf: gi,
    };
    let v = gmm::value_and_grad(inp.shape, inp.params(), &inp.x, inp.wishart, ws, grads).unwrap();
    (v, g)
}

#[test]
fn gmm_gradient_matches_finite_differences() {
    let mut worst = 0.0f64;
    for (d, k, n) in GMM_SMALL {
        for wishart in GMM_PRIORS {
            let shape = gmm::Shape { d, k, n };
            let mut inp = gmm::inputs(shape, (7 * d + k) as u64).unwrap();
            inp.wishart = wishart;
            let mut ws = gmm::Workspace::new(shape).unwrap();
            let (v, g) = gmm_grad_packed(&inp, &mut ws);
            let p = gmm_pack(&inp);
            assert_eq!(v, gmm_value_packed(&inp, &mut ws, &p));
            let mut f = |p: &[f64]| gmm_value_packed(&inp, &mut ws, p);
            let what = format!("gmm {shape:?} {wishart:?}");
            worst = worst.max(check_grad(&what, &mut f, &p, &g, &all(p.len()), 1e-3, 1e-8));
        }
    }
    // A benchmark size: some components of each parameter, and directions.
    let shape = gmm::Shape {
        d: 10,
        k: 25,
        n: 1000,
    };
    let inp = gmm::inputs(shape, 11).unwrap();
    let mut ws = gmm::Workspace::new(shape).unwrap();
    let (_, g) = gmm_grad_packed(&inp, &mut ws);
    let p = gmm_pack(&inp);
    let mut rng = SplitMix64::new(12);
    let mut coords = some(25, 2, &mut rng);
    coords.extend(some(250, 3, &mut rng).iter().map(|i| 25 + i));
    coords.extend(some(25 * 55, 6, &mut rng).iter().map(|i| 275 + i));
    let mut f = |p: &[f64]| gmm_value_packed(&inp, &mut ws, p);
    worst = worst.max(check_grad(
        "gmm d10 k25",
        &mut f,
        &p,
        &g,
        &coords,
        1e-3,
        1e-6,
    ));
    for _ in 0..2 {
        let dir = rng.normal_vec(p.len(), 0.0, 1.0);
        worst = worst.max(check_direction(
            "gmm d10 k25",
            &mut f,
            &p,
            &g,
            &dir,
            1e-3,
            1e-6,
        ));
    }
    eprintln!("gmm gradient: worst relative error {worst:e}");
}

#[test]
fn gmm_rejects_bad_shapes() {
    let shape = gmm::Shape { d: 2, k: 3, n: 4 };
    let inp = gmm::inputs(shape, 0).unwrap();
    let mut ws = gmm::Workspace::new(shape).unwrap();
    let mut params = inp.params();
    params.icf = &inp.icf[1..];
    assert!(matches!(
        gmm::value(shape, params, &inp.x, inp.wishart, &mut ws),
        Err(WorkloadError::Length { what: "icf", .. })
    ));
    let other = gmm::Shape { d: 3, k: 3, n: 4 };
    let mut wrong_ws = gmm::Workspace::new(other).unwrap();
    assert!(gmm::value(shape, inp.params(), &inp.x, inp.wishart, &mut wrong_ws).is_err());
    let empty = gmm::Shape { d: 2, k: 0, n: 4 };
    assert!(gmm::inputs(empty, 0).is_err());
    let huge = gmm::Shape {
        d: usize::MAX,
        k: 1,
        n: 1,
    };
    assert!(matches!(
        gmm::inputs(huge, 0),
        Err(WorkloadError::Overflow { .. })
    ));
}

// ---------------------------------------------------------------- mlp

/// The network from its definition: explicit sums for every product and
/// −Σ y·log softmax for the loss.
fn mlp_naive(shape: mlp::Shape, p: mlp::Params<'_>, x: &[f64], y: &[f64]) -> f64 {
    let mlp::Shape {
        batch,
        input,
        hidden,
        classes,
    } = shape;
    let mut loss = 0.0;
    for b in 0..batch {
        let mut h = vec![0.0; hidden];
        for j in 0..hidden {
            let mut a = p.b1[j];
            for i in 0..input {
                a += x[b * input + i] * p.w1[i * hidden + j];
            }
            h[j] = a.tanh();
        }
        let mut logits = vec![0.0; classes];
        for c in 0..classes {
            logits[c] = p.b2[c]
                + (0..hidden)
                    .map(|j| h[j] * p.w2[j * classes + c])
                    .sum::<f64>();
        }
        let norm = logits.iter().map(|l| l.exp()).sum::<f64>().ln();
        for c in 0..classes {
            loss -= y[b * classes + c] * (logits[c] - norm);
        }
    }
    loss / batch as f64
}

/// Small shapes covering the four-row blocks' remainders on both products.
const MLP_SMALL: [mlp::Shape; 5] = [
    mlp::Shape {
        batch: 1,
        input: 1,
        hidden: 1,
        classes: 1,
    },
    mlp::Shape {
        batch: 3,
        input: 5,
        hidden: 4,
        classes: 3,
    },
    mlp::Shape {
        batch: 4,
        input: 8,
        hidden: 3,
        classes: 2,
    },
    mlp::Shape {
        batch: 6,
        input: 7,
        hidden: 5,
        classes: 3,
    },
    mlp::Shape {
        batch: 9,
        input: 10,
        hidden: 6,
        classes: 4,
    },
];

/// Parameters packed as w1 ‖ b1 ‖ w2 ‖ b2, and split back.
fn mlp_pack(inp: &mlp::MlpInputs) -> Vec<f64> {
    [&inp.w1[..], &inp.b1[..], &inp.w2[..], &inp.b2[..]].concat()
}

fn mlp_split(shape: mlp::Shape, p: &[f64]) -> mlp::Params<'_> {
    let (w1, rest) = p.split_at(shape.input * shape.hidden);
    let (b1, rest) = rest.split_at(shape.hidden);
    let (w2, b2) = rest.split_at(shape.hidden * shape.classes);
    mlp::Params { w1, b1, w2, b2 }
}

fn mlp_grad_packed(inp: &mlp::MlpInputs, y: &[f64], ws: &mut mlp::Workspace) -> (f64, Vec<f64>) {
    let s = inp.shape;
    let mut g = vec![f64::NAN; mlp_pack(inp).len()];
    let (w1, rest) = g.split_at_mut(s.input * s.hidden);
    let (b1, rest) = rest.split_at_mut(s.hidden);
    let (w2, b2) = rest.split_at_mut(s.hidden * s.classes);
    let grads = mlp::Grads { w1, b1, w2, b2 };
    let v = mlp::value_and_grad(s, inp.params(), &inp.x, y, ws, grads).unwrap();
    (v, g)
}

/// Rows of non-negative weights that do not sum to one, to exercise the
/// general (soft-label) form of the loss.
fn soft_labels(shape: mlp::Shape, seed: u64) -> Vec<f64> {
    SplitMix64::new(seed).uniform_vec(shape.batch * shape.classes, 0.0, 1.0)
}

#[test]
fn mlp_value_matches_the_naive_network() {
    for shape in MLP_SMALL.into_iter().chain([mlp::MNIST]) {
        let inp = mlp::inputs(shape, 3).unwrap();
        let mut ws = mlp::Workspace::new(shape).unwrap();
        for y in [inp.y.clone(), soft_labels(shape, 4)] {
            let got = mlp::value(shape, inp.params(), &inp.x, &y, &mut ws).unwrap();
            let want = mlp_naive(shape, inp.params(), &inp.x, &y);
            assert!(
                rel_err(got, want, 1.0) < 1e-13,
                "{shape:?}: {got} vs naive {want}"
            );
            let (vg, _) = mlp_grad_packed(&inp, &y, &mut ws);
            assert_eq!(got, vg, "{shape:?}: value and value_and_grad");
        }
    }
    // Uniform logits give log C.
    let shape = mlp::Shape {
        batch: 2,
        input: 3,
        hidden: 2,
        classes: 10,
    };
    let inp = mlp::inputs(shape, 0).unwrap();
    let zeros = vec![0.0; 20];
    let params = mlp::Params {
        w2: &zeros,
        b2: &zeros[..10],
        ..inp.params()
    };
    let mut ws = mlp::Workspace::new(shape).unwrap();
    let v = mlp::value(shape, params, &inp.x, &inp.y, &mut ws).unwrap();
    assert!((v - 10f64.ln()).abs() < 1e-15);
}

#[test]
fn mlp_gradient_matches_finite_differences() {
    let mut worst = 0.0f64;
    for shape in MLP_SMALL {
        let inp = mlp::inputs(shape, 5).unwrap();
        let mut ws = mlp::Workspace::new(shape).unwrap();
        for y in [inp.y.clone(), soft_labels(shape, 6)] {
            let (_, g) = mlp_grad_packed(&inp, &y, &mut ws);
            let p = mlp_pack(&inp);
            let mut f =
                |p: &[f64]| mlp::value(shape, mlp_split(shape, p), &inp.x, &y, &mut ws).unwrap();
            let what = format!("mlp {shape:?}");
            worst = worst.max(check_grad(&what, &mut f, &p, &g, &all(p.len()), 1e-3, 1e-8));
        }
    }
    // The benchmark shape: some components of each parameter, and directions.
    let shape = mlp::MNIST;
    let inp = mlp::inputs(shape, 7).unwrap();
    let mut ws = mlp::Workspace::new(shape).unwrap();
    let (_, g) = mlp_grad_packed(&inp, &inp.y, &mut ws);
    let p = mlp_pack(&inp);
    let mut rng = SplitMix64::new(8);
    let (n_w1, n_w2) = (784 * 128, 128 * 10);
    let mut coords = some(n_w1, 6, &mut rng);
    coords.extend(some(128, 3, &mut rng).iter().map(|i| n_w1 + i));
    coords.extend(some(n_w2, 4, &mut rng).iter().map(|i| n_w1 + 128 + i));
    coords.extend(some(10, 2, &mut rng).iter().map(|i| n_w1 + 128 + n_w2 + i));
    let mut f =
        |p: &[f64]| mlp::value(shape, mlp_split(shape, p), &inp.x, &inp.y, &mut ws).unwrap();
    worst = worst.max(check_grad("mlp MNIST", &mut f, &p, &g, &coords, 1e-3, 1e-8));
    for _ in 0..2 {
        let dir = rng.normal_vec(p.len(), 0.0, 1.0);
        worst = worst.max(check_direction(
            "mlp MNIST",
            &mut f,
            &p,
            &g,
            &dir,
            1e-3,
            1e-8,
        ));
    }
    eprintln!("mlp gradient: worst relative error {worst:e}");
}

#[test]
fn mlp_inputs_are_sensible() {
    let inp = mlp::inputs(mlp::MNIST, 1).unwrap();
    assert_eq!(inp, mlp::inputs(mlp::MNIST, 1).unwrap());
    assert_eq!(inp.x.len(), 64 * 784);
    assert_eq!((inp.w1.len(), inp.w2.len()), (784 * 128, 128 * 10));
    for (row, &label) in inp.y.chunks_exact(10).zip(&inp.labels) {
        assert!(label < 10);
        for (c, &v) in row.iter().enumerate() {
            assert_eq!(v, if c == label { 1.0 } else { 0.0 });
        }
    }
    let bound = (6.0f64 / (784.0 + 128.0)).sqrt();
    assert!(inp.w1.iter().all(|w| w.abs() <= bound));
    assert!(inp.x.iter().all(|v| (0.0..1.0).contains(v)));
}

#[test]
fn mlp_rejects_bad_shapes() {
    let shape = MLP_SMALL[1];
    let inp = mlp::inputs(shape, 0).unwrap();
    let mut ws = mlp::Workspace::new(shape).unwrap();
    let params = mlp::Params {
        b2: &inp.b2[1..],
        ..inp.params()
    };
    assert!(matches!(
        mlp::value(shape, params, &inp.x, &inp.y, &mut ws),
        Err(WorkloadError::Length { what: "b2", .. })
    ));
    assert!(mlp::value(shape, inp.params(), &inp.x[1..], &inp.y, &mut ws).is_err());
    let mut other = mlp::Workspace::new(MLP_SMALL[2]).unwrap();
    assert!(mlp::value(shape, inp.params(), &inp.x, &inp.y, &mut other).is_err());
    let mut g = [0.0; 3];
    let mut big = vec![0.0; 100];
    let (w1, rest) = big.split_at_mut(20);
    let (b1, w2) = rest.split_at_mut(4);
    let grads = mlp::Grads {
        w1,
        b1,
        w2: &mut w2[..12],
        b2: &mut g[..2],
    };
    assert!(mlp::value_and_grad(shape, inp.params(), &inp.x, &inp.y, &mut ws, grads).is_err());
    assert!(mlp::Workspace::new(mlp::Shape { batch: 0, ..shape }).is_err());
    assert!(
        mlp::Workspace::new(mlp::Shape {
            classes: 0,
            ..shape
        })
        .is_err()
    );
}

// ---------------------------------------------------------------- spring

/// The final positions, simulated mass by mass: each mass sums the forces of
/// the springs on either side of it.
fn spring_naive_final(cfg: spring::Config, a: spring::Args<'_>) -> Vec<f64> {
    let n = cfg.masses;
    let mut x = a.x0.to_vec();
    let mut v = a.v0.to_vec();
    for _ in 0..cfg.steps {
        let mut force = vec![0.0; n];
        for j in 0..n {
            if j + 1 < n {
                // The right spring pulls mass j towards j+1 when stretched.
                force[j] += a.k[j] * (x[j + 1] - x[j] - 1.0);
            }
            if j > 0 {
                force[j] -= a.k[j - 1] * (x[j] - x[j - 1] - 1.0);
            }
        }
        for j in 0..n {
            v[j] += cfg.dt * force[j];
            x[j] += cfg.dt * v[j];
        }
    }
    x
}

fn spring_loss_naive(cfg: spring::Config, a: spring::Args<'_>) -> f64 {
    let xt = spring_naive_final(cfg, a);
    xt.iter()
        .zip(a.target)
        .map(|(x, t)| (x - t) * (x - t))
        .sum()
}

const SPRING_SMALL: [spring::Config; 6] = [
    spring::Config {
        masses: 1,
        steps: 5,
        dt: 0.1,
    },
    spring::Config {
        masses: 2,
        steps: 3,
        dt: 0.1,
    },
    spring::Config {
        masses: 3,
        steps: 1,
        dt: 0.2,
    },
    spring::Config {
        masses: 4,
        steps: 5,
        dt: 0.1,
    },
    spring::Config {
        masses: 5,
        steps: 50,
        dt: 0.05,
    },
    spring::Config {
        masses: 8,
        steps: 0,
        dt: 0.01,
    },
];

/// Parameters packed as k ‖ x0 ‖ v0 (the target is data).
fn spring_pack(inp: &spring::SpringInputs) -> Vec<f64> {
    [&inp.k[..], &inp.x0[..], &inp.v0[..]].concat()
}

fn spring_split<'a>(inp: &'a spring::SpringInputs, p: &'a [f64]) -> spring::Args<'a> {
    let springs = inp.config.springs();
    let (k, rest) = p.split_at(springs);
    let (x0, v0) = rest.split_at(inp.config.masses);
    spring::Args {
        k,
        x0,
        v0,
        target: &inp.target,
    }
}

fn spring_grad_packed(inp: &spring::SpringInputs, ws: &mut spring::Workspace) -> (f64, Vec<f64>) {
    let mut g = vec![f64::NAN; inp.k.len() + 2 * inp.config.masses];
    let (k, rest) = g.split_at_mut(inp.k.len());
    let (x0, v0) = rest.split_at_mut(inp.config.masses);
    let grads = spring::Grads { k, x0, v0 };
    let v = spring::value_and_grad(inp.config, inp.args(), ws, grads).unwrap();
    (v, g)
}

#[test]
fn spring_value_matches_the_naive_simulation() {
    for cfg in SPRING_SMALL.into_iter().chain([spring::BENCH]) {
        let inp = spring::inputs(cfg, 17);
        let mut ws = spring::Workspace::new(cfg).unwrap();
        let got = spring::value(cfg, inp.args(), &mut ws).unwrap();
        let want = spring_loss_naive(cfg, inp.args());
        assert!(
            rel_err(got, want, 1.0) < 1e-12,
            "{cfg:?}: {got} vs naive {want}"
        );
        let (vg, _) = spring_grad_packed(&inp, &mut ws);
        assert_eq!(got, vg);
    }
}

#[test]
fn spring_at_rest_length_only_drifts() {
    // Springs at rest length exert no force: the chain moves rigidly.
    let cfg = spring::BENCH;
    let mut inp = spring::inputs(cfg, 2);
    for (j, x) in inp.x0.iter_mut().enumerate() {
        *x = j as f64 + 0.25;
    }
    let mut ws = spring::Workspace::new(cfg).unwrap();
    inp.v0.fill(0.0);
    let want: f64 = inp
        .x0
        .iter()
        .zip(&inp.target)
        .map(|(x, t)| (x - t) * (x - t))
        .sum();
    assert_eq!(spring::value(cfg, inp.args(), &mut ws), Ok(want));
    inp.v0.fill(0.3);
    let shift = cfg.steps as f64 * cfg.dt * 0.3;
    let want: f64 = inp
        .x0
        .iter()
        .zip(&inp.target)
        .map(|(x, t)| (x + shift - t) * (x + shift - t))
        .sum();
    let got = spring::value(cfg, inp.args(), &mut ws).unwrap();
    assert!(rel_err(got, want, 1.0) < 1e-12, "{got} vs {want}");
}

#[test]
fn spring_adjoint_respects_translation_invariance() {
    // Shifting every x0 by c shifts x_T by c; shifting every v0 by u shifts
    // x_T by T·dt·u. So Σ_j ∂L/∂x0_j = Σ_j 2(x_T − target)_j, and the v0 sum is
    // T·dt times that.
    for cfg in [SPRING_SMALL[3], SPRING_SMALL[4], spring::BENCH] {
        let inp = spring::inputs(cfg, 23);
        let mut ws = spring::Workspace::new(cfg).unwrap();
        let (_, g) = spring_grad_packed(&inp, &mut ws);
        let n = cfg.masses;
        let springs = cfg.springs();
        let xt = spring_naive_final(cfg, inp.args());
        let residual: f64 = xt.iter().zip(&inp.target).map(|(x, t)| 2.0 * (x - t)).sum();
        let sum_x0: f64 = g[springs..springs + n].iter().sum();
        let sum_v0: f64 = g[springs + n..].iter().sum();
        let abs: f64 = g.iter().map(|v| v.abs()).sum();
        assert!(
            (sum_x0 - residual).abs() < 1e-12 * abs.max(1.0),
            "{cfg:?} x0: {sum_x0} vs {residual}"
        );
        let want = cfg.steps as f64 * cfg.dt * residual;
        assert!(
            (sum_v0 - want).abs() < 1e-12 * abs.max(1.0),
            "{cfg:?} v0: {sum_v0} vs {want}"
        );
    }
}

#[test]
fn spring_adjoint_matches_finite_differences() {
    let mut worst = 0.0f64;
    for cfg in SPRING_SMALL {
        let inp = spring::inputs(cfg, 29);
        let mut ws = spring::Workspace::new(cfg).unwrap();
        let (_, g) = spring_grad_packed(&inp, &mut ws);
        let p = spring_pack(&inp);
        let mut f = |p: &[f64]| spring::value(cfg, spring_split(&inp, p), &mut ws).unwrap();
        let what = format!("spring {cfg:?}");
        worst = worst.max(check_grad(&what, &mut f, &p, &g, &all(p.len()), 1e-3, 1e-8));
    }
    // The benchmark configuration: every parameter, and random directions.
    let cfg = spring::BENCH;
    let inp = spring::inputs(cfg, 31);
    let mut ws = spring::Workspace::new(cfg).unwrap();
    let (_, g) = spring_grad_packed(&inp, &mut ws);
    let p = spring_pack(&inp);
    let mut f = |p: &[f64]| spring::value(cfg, spring_split(&inp, p), &mut ws).unwrap();
    // A thousand steps leave about 3·10⁻¹³ of rounding noise in the loss (≈ 24),
    // which the 10⁻³ step turns into about 5·10⁻¹⁰ of error in each
    // difference, 2·10⁻⁸ of the smallest components resolved; larger steps
    // trade it for the stencil's h⁴ truncation. Hence 10⁻⁶ at this size.
    worst = worst.max(check_grad(
        "spring bench",
        &mut f,
        &p,
        &g,
        &all(p.len()),
        1e-3,
        1e-6,
    ));
    let mut rng = SplitMix64::new(32);
    for _ in 0..4 {
        let dir = rng.normal_vec(p.len(), 0.0, 1.0);
        worst = worst.max(check_direction(
            "spring bench",
            &mut f,
            &p,
            &g,
            &dir,
            1e-3,
            1e-6,
        ));
    }
    eprintln!("spring adjoint: worst relative error {worst:e}");
}

#[test]
fn spring_rejects_bad_shapes() {
    let cfg = SPRING_SMALL[3];
    let inp = spring::inputs(cfg, 0);
    let mut ws = spring::Workspace::new(cfg).unwrap();
    let args = spring::Args {
        k: &inp.k[1..],
        ..inp.args()
    };
    assert!(matches!(
        spring::value(cfg, args, &mut ws),
        Err(WorkloadError::Length { what: "k", .. })
    ));
    let mut other = spring::Workspace::new(SPRING_SMALL[2]).unwrap();
    assert!(spring::value(cfg, inp.args(), &mut other).is_err());
    let huge = spring::Config {
        masses: 2,
        steps: usize::MAX,
        dt: 0.1,
    };
    assert!(matches!(
        spring::Workspace::new(huge),
        Err(WorkloadError::Overflow { .. })
    ));
}

// ---------------------------------------------------------------- bs

#[test]
fn normal_cdf_and_density_match_known_values() {
    assert_eq!(bs::norm_cdf(0.0), 0.5);
    // Standard normal table values.
    assert!((bs::norm_cdf(1.0) - 0.841_344_746_068_542_9).abs() < 1e-15);
    assert!((bs::norm_cdf(1.96) - 0.975_002_104_851_780).abs() < 1e-15);
    assert!((bs::norm_pdf(0.0) - 1.0 / (2.0 * std::f64::consts::PI).sqrt()).abs() < 1e-16);
    for z in [0.1, 0.5, 1.3, 2.7, 4.0] {
        assert!(
            (bs::norm_cdf(z) + bs::norm_cdf(-z) - 1.0).abs() < 1e-15,
            "symmetry at {z}"
        );
        // φ is the derivative of N.
        let mut f = |p: &[f64]| bs::norm_cdf(p[0]);
        let fd = fd_dir(&mut f, &[z], &[1.0], 1e-3);
        assert!(rel_err(bs::norm_pdf(z), fd, 1e-3) < 1e-9, "N'({z})");
    }
}

#[test]
fn black_scholes_matches_textbook_prices() {
    // Hull, "Options, Futures, and Other Derivatives": S = 42, K = 40, r = 10%,
    // σ = 20%, T = 0.5 gives c = 4.76 (4.7594 to four decimals); and the
    // at-the-money one-year option at r = 5%, σ = 20% is worth 10.4506.
    assert!((bs::call_price(42.0, 40.0, 0.5, 0.1, 0.2) - 4.7594).abs() < 5e-5);
    assert!((bs::call_price(100.0, 100.0, 1.0, 0.05, 0.2) - 10.4506).abs() < 5e-5);
}

#[test]
fn black_scholes_price_delta_vega() {
    let n = 10_000;
    let inp = bs::inputs(n, 77);
    assert_eq!(inp, bs::inputs(n, 77));
    let ranges = [
        (&inp.s, 50.0, 150.0),
        (&inp.k, 50.0, 150.0),
        (&inp.t, 0.1, 2.0),
        (&inp.r, 0.0, 0.05),
        (&inp.sigma, 0.1, 0.5),
    ];
    for (v, lo, hi) in ranges {
        assert_eq!(v.len(), n);
        assert!(v.iter().all(|x| (lo..hi).contains(x)));
    }
    let (mut price, mut delta, mut vega) = (vec![0.0; n], vec![0.0; n], vec![0.0; n]);
    let out = bs::Greeks {
        price: &mut price,
        delta: &mut delta,
        vega: &mut vega,
    };
    bs::price_delta_vega(inp.options(), out).unwrap();
    let mut price_only = vec![0.0; n];
    bs::price(inp.options(), &mut price_only).unwrap();
    assert_eq!(price, price_only);

    let mut worst = 0.0f64;
    for i in 0..n {
        let (s, k, t, r, sigma) = (inp.s[i], inp.k[i], inp.t[i], inp.r[i], inp.sigma[i]);
        // No-arbitrage bounds.
        let forward_intrinsic = s - k * (-r * t).exp();
        assert!(
            price[i] >= forward_intrinsic.max(0.0) - 1e-12 && price[i] <= s,
            "bounds {i}"
        );
        // Deep in or out of the money, N(d1) rounds to exactly 1 or 0.
        assert!((0.0..=1.0).contains(&delta[i]) && vega[i] >= 0.0);
        let mut by_s = |p: &[f64]| bs::call_price(p[0], k, t, r, sigma);
        // Far out of the money, delta decays like e^{−d1²/2}, changing by a
        // factor e per ~1 of S: the step must be well below that.
        let fd = fd_dir(&mut by_s, &[s], &[1.0], 1e-4 * s);
        let err = rel_err(delta[i], fd, 1e-3);
        assert!(err < 1e-8, "delta {i}: {} vs {fd}", delta[i]);
        worst = worst.max(err);
        let mut by_sigma = |p: &[f64]| bs::call_price(s, k, t, r, p[0]);
        let fd = fd_dir(&mut by_sigma, &[sigma], &[1.0], 1e-3 * sigma);
        let err = rel_err(vega[i], fd, 1e-3 * s);
        assert!(err < 1e-8, "vega {i}: {} vs {fd}", vega[i]);
        worst = worst.max(err);
    }
    eprintln!("bs delta and vega: worst relative error {worst:e}");

    // The scalar summary and its tangents along all-ones seeds.
    let total = bs::sum_prices(inp.options()).unwrap();
    assert!(rel_err(total, price.iter().sum(), 1.0) < 1e-14);
    let ones = vec![1.0; n];
    let mut by_s = |p: &[f64]| {
        bs::sum_prices(bs::Options {
            s: p,
            ..inp.options()
        })
        .unwrap()
    };
    let fd = fd_dir(&mut by_s, &inp.s, &ones, 1e-2);
    assert!(rel_err(delta.iter().sum(), fd, 1.0) < 1e-8);
    let mut by_sigma = |p: &[f64]| {
        bs::sum_prices(bs::Options {
            sigma: p,
            ..inp.options()
        })
        .unwrap()
    };
    let fd = fd_dir(&mut by_sigma, &inp.sigma, &ones, 1e-4);
    assert!(rel_err(vega.iter().sum(), fd, 1.0) < 1e-8);
}

#[test]
fn black_scholes_rejects_mismatched_lengths() {
    let inp = bs::inputs(5, 0);
    let mut out = vec![0.0; 5];
    let short = bs::Options {
        r: &inp.r[..4],
        ..inp.options()
    };
    assert!(matches!(
        bs::price(short, &mut out),
        Err(WorkloadError::Length { what: "r", .. })
    ));
    assert!(bs::price(inp.options(), &mut out[..3]).is_err());
    assert!(bs::sum_prices(short).is_err());
    let (mut p, mut d, mut v) = (vec![0.0; 5], vec![0.0; 5], vec![0.0; 4]);
    let greeks = bs::Greeks {
        price: &mut p,
        delta: &mut d,
        vega: &mut v,
    };
    assert!(bs::price_delta_vega(inp.options(), greeks).is_err());
}
