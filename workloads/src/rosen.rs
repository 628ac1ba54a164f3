//! `rosen`: the extended Rosenbrock function, its gradient and its
//! Hessian-vector product (the `hvp` workload).
//!
//! f(x) = Σ_{i<n−1} 100(x_{i+1} − x_i²)² + (1 − x_i)², x ∈ Rⁿ.
//!
//! With t_i = x_{i+1} − x_i², the gradient is
//!
//! - g_0 = −400 x_0 t_0 − 2(1 − x_0),
//! - g_i = 200 t_{i−1} − 400 x_i t_i − 2(1 − x_i) for 0 < i < n−1,
//! - g_{n−1} = 200 t_{n−2},
//!
//! and the Hessian is tridiagonal: for each term i (i < n−1) it adds
//! 1200 x_i² − 400 x_{i+1} + 2 to H_{i,i}, −400 x_i to H_{i,i+1} and H_{i+1,i},
//! and 200 to H_{i+1,i+1}.
//!
//! Invariants: for n < 2 the sum is empty, so f = 0 and every derivative is 0.
//! Sums are accumulated in several lanes so that they vectorise (a single
//! accumulator is a serial chain the compiler may not reorder); the order of
//! summation is therefore not left to right, but it is fixed.

use super::rng::SplitMix64;
use super::{WorkloadError, check_len};

/// Lanes per chunk: four outputs per window of six inputs (the final sums
/// name all four lanes).
const LANES: usize = 4;

/// Term i of the sum, 100(x_{i+1} − x_i²)² + (1 − x_i)².
#[inline(always)]
fn term(xi: f64, xi1: f64) -> f64 {
    let t = xi1 - xi * xi;
    let u = 1.0 - xi;
    100.0 * t * t + u * u
}

/// f(x) = Σ_{i<n−1} 100(x_{i+1} − x_i²)² + (1 − x_i)².
///
/// Summed in the same order as [`value_and_grad`], so both return the same bits.
pub fn value(x: &[f64]) -> f64 {
    let n = x.len();
    if n < 2 {
        return 0.0;
    }
    let head = term(x[0], x[1]);
    // Terms 1..n−1, four per window of five inputs.
    let inner = n - 2;
    let full = inner / LANES * LANES;
    let mut acc = [0.0f64; LANES];
    let mut base = 0;
    while base < full {
        let w = &x[base + 1..base + LANES + 2];
        for l in 0..LANES {
            acc[l] += term(w[l], w[l + 1]);
        }
        base += LANES;
    }
    let mut tail = 0.0;
    for i in base + 1..n - 1 {
        tail += term(x[i], x[i + 1]);
    }
    head + (((acc[0] + acc[2]) + (acc[1] + acc[3])) + tail)
}

/// Writes ∇f(x) into `grad` and returns f(x).
pub fn value_and_grad(x: &[f64], grad: &mut [f64]) -> Result<f64, WorkloadError> {
    let n = x.len();
    check_len("grad", grad.len(), n)?;
    if n < 2 {
        grad.fill(0.0);
        return Ok(0.0);
    }
    // The ends: term 0 (which the interior loop does not sum) and g_0, g_{n−1}.
    let t0 = x[1] - x[0] * x[0];
    let u0 = 1.0 - x[0];
    let head = term(x[0], x[1]);
    grad[0] = -400.0 * x[0] * t0 - 2.0 * u0;
    let t_last = x[n - 1] - x[n - 2] * x[n - 2];
    grad[n - 1] = 200.0 * t_last;

    // Interior i = 1..n−1: term i's value, and g_i from terms i−1 and i.
    // Four outputs per chunk read a window of six inputs; the compiler maps
    // the four lanes onto vector registers (an eight-lane version, or three
    // shifted slices, vectorise worse: the overlapping loads get shuffled).
    let mut acc = [0.0f64; LANES];
    let mut chunks = grad[1..n - 1].chunks_exact_mut(LANES);
    let mut base = 0;
    for g in &mut chunks {
        let w = &x[base..base + LANES + 2];
        for l in 0..LANES {
            let (a, b, c) = (w[l], w[l + 1], w[l + 2]);
            let t_prev = b - a * a;
            let t = c - b * b;
            let u = 1.0 - b;
            g[l] = 200.0 * t_prev - 400.0 * b * t - 2.0 * u;
            acc[l] += term(b, c);
        }
        base += LANES;
    }
    let mut tail = 0.0;
    for (l, g) in chunks.into_remainder().iter_mut().enumerate() {
        let (a, b, c) = (x[base + l], x[base + l + 1], x[base + l + 2]);
        let t_prev = b - a * a;
        let t = c - b * b;
        let u = 1.0 - b;
        *g = 200.0 * t_prev - 400.0 * b * t - 2.0 * u;
        tail += term(b, c);
    }
    Ok(head + (((acc[0] + acc[2]) + (acc[1] + acc[3])) + tail))
}

/// Writes the Hessian-vector product H(x)·v into `out`.
pub fn hvp(x: &[f64], v: &[f64], out: &mut [f64]) -> Result<(), WorkloadError> {
    let n = x.len();
    check_len("v", v.len(), n)?;
    check_len("out", out.len(), n)?;
    if n < 2 {
        out.fill(0.0);
        return Ok(());
    }
    // (Hv)_i = [i<n−1]((1200x_i² − 400x_{i+1} + 2)v_i − 400x_i v_{i+1})
    //        + [i>0](−400x_{i−1}v_{i−1} + 200v_i)
    out[0] = (1200.0 * x[0] * x[0] - 400.0 * x[1] + 2.0) * v[0] - 400.0 * x[0] * v[1];
    out[n - 1] = -400.0 * x[n - 2] * v[n - 2] + 200.0 * v[n - 1];
    // Plain zipped slices: no reduction, so the loop vectoriser handles it.
    let interior = x[..n - 2]
        .iter()
        .zip(&x[1..n - 1])
        .zip(&x[2..])
        .zip(v[..n - 2].iter().zip(&v[1..n - 1]).zip(&v[2..]));
    for (o, (((xp, xc), xn), ((vp, vc), vn))) in out[1..n - 1].iter_mut().zip(interior) {
        let diag = 1200.0 * xc * xc - 400.0 * xn + 2.0 + 200.0;
        *o = diag * vc - 400.0 * xc * vn - 400.0 * xp * vp;
    }
    Ok(())
}

/// Inputs for `rosen` and `hvp` of size n.
#[derive(Debug, Clone, PartialEq)]
pub struct RosenInputs {
    /// The point, x_i uniform in [−1.5, 1.5).
    pub x: Vec<f64>,
    /// The direction for the Hessian-vector product, v_i standard normal.
    pub v: Vec<f64>,
}

/// Deterministic inputs of size `n` from `seed` (x drawn first, then v).
pub fn inputs(n: usize, seed: u64) -> RosenInputs {
    let mut rng = SplitMix64::new(seed);
    let x = rng.uniform_vec(n, -1.5, 1.5);
    let v = rng.normal_vec(n, 0.0, 1.0);
    RosenInputs { x, v }
}
