//! `logreg`: L2-regularised logistic regression, its loss and gradient.
//!
//! With X ∈ R^{N×D} (row-major), y ∈ {0,1}^N, w ∈ R^D and z = Xw:
//!
//! loss(w) = (1/N) Σ_i [softplus(z_i) − y_i z_i] + ½λ‖w‖², λ = [`LAMBDA`] = 10⁻³,
//!
//! ∇loss(w) = Xᵀ(σ(z) − y)/N + λw, with σ the logistic function.
//!
//! softplus(z) = log(1 + eᶻ) is computed as max(z, 0) + log1p(e^{−|z|}), which
//! neither overflows for large z nor loses the small result for very negative z.
//!
//! Invariants: N = y.len() and D = w.len(); X must hold N·D entries. Each row
//! is read once: its dot product with w and its contribution r_i·X_i to the
//! gradient are computed while the row is in cache. The dot products use eight
//! accumulators so that they vectorise; the gradient update is an axpy.

use super::rng::SplitMix64;
use super::{WorkloadError, axpy, check_len, checked_size, dot};

/// The L2 regularisation weight λ.
pub const LAMBDA: f64 = 1e-3;

/// softplus(z) = log(1 + eᶻ), stable for every finite z.
#[inline]
pub fn softplus(z: f64) -> f64 {
    z.max(0.0) + (-z.abs()).exp().ln_1p()
}

/// The logistic function σ(z) = 1/(1 + e^{−z}), stable for every finite z:
/// the exponential is always of a non-positive number.
#[inline]
pub fn sigmoid(z: f64) -> f64 {
    let e = (-z.abs()).exp();
    if z >= 0.0 {
        1.0 / (1.0 + e)
    } else {
        e / (1.0 + e)
    }
}

/// Checks the shapes and returns (N, D).
fn shape(x: &[f64], y: &[f64], w: &[f64]) -> Result<(usize, usize), WorkloadError> {
    let (n, d) = (y.len(), w.len());
    check_len("x", x.len(), checked_size("x", n, d)?)?;
    if n == 0 {
        return Err(WorkloadError::Invalid {
            what: "y",
            why: "the mean over zero samples is undefined",
        });
    }
    Ok((n, d))
}

/// The loss at `w` for data `x` (N×D, row-major) and labels `y` (N).
pub fn value(x: &[f64], y: &[f64], w: &[f64]) -> Result<f64, WorkloadError> {
    let (n, d) = shape(x, y, w)?;
    let mut data_term = 0.0;
    if d > 0 {
        for (row, &yi) in x.chunks_exact(d).zip(y) {
            let z = dot(row, w);
            data_term += softplus(z) - yi * z;
        }
    }
    Ok(data_term / n as f64 + 0.5 * LAMBDA * dot(w, w))
}

/// Writes ∇loss(w) into `grad` (D) and returns the loss.
pub fn value_and_grad(
    x: &[f64],
    y: &[f64],
    w: &[f64],
    grad: &mut [f64],
) -> Result<f64, WorkloadError> {
    let (n, d) = shape(x, y, w)?;
    check_len("grad", grad.len(), d)?;
    grad.fill(0.0);
    let mut data_term = 0.0;
    if d > 0 {
        for (row, &yi) in x.chunks_exact(d).zip(y) {
            let z = dot(row, w);
            data_term += softplus(z) - yi * z;
            axpy(sigmoid(z) - yi, row, grad);
        }
    }
    let inv_n = 1.0 / n as f64;
    for (g, wi) in grad.iter_mut().zip(w) {
        *g = *g * inv_n + LAMBDA * wi;
    }
    // Divided exactly as in `value`, so both return the same bits.
    Ok(data_term / n as f64 + 0.5 * LAMBDA * dot(w, w))
}

/// Inputs for `logreg`.
#[derive(Debug, Clone, PartialEq)]
pub struct LogregInputs {
    /// Samples, N×D row-major, entries standard normal.
    pub x: Vec<f64>,
    /// Labels in {0, 1}: y_i = 1 with probability σ(X_i·w*), for hidden
    /// weights w* with entries N(0, 1/D) (so the logits have unit variance).
    pub y: Vec<f64>,
    /// The parameters to differentiate at, entries N(0, 0.1²).
    pub w: Vec<f64>,
}

/// Deterministic inputs with `n` samples of dimension `d` from `seed`
/// (drawn in the order w*, X, y, w).
pub fn inputs(n: usize, d: usize, seed: u64) -> Result<LogregInputs, WorkloadError> {
    let len = checked_size("x", n, d)?;
    let mut rng = SplitMix64::new(seed);
    let scale = if d > 0 { 1.0 / (d as f64).sqrt() } else { 0.0 };
    let w_true = rng.normal_vec(d, 0.0, scale);
    let x = rng.normal_vec(len, 0.0, 1.0);
    let y = if d > 0 {
        x.chunks_exact(d)
            .map(|row| rng.bernoulli(sigmoid(dot(row, &w_true))))
            .collect()
    } else {
        (0..n).map(|_| rng.bernoulli(0.5)).collect()
    };
    let w = rng.normal_vec(d, 0.0, 0.1);
    Ok(LogregInputs { x, y, w })
}
