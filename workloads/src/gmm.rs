//! `gmm`: the ADBench / GradBench Gaussian-mixture log-likelihood with a
//! Wishart prior, its value and its hand-derived gradient.
//!
//! # Parameters and layout (all row-major)
//!
//! - `alphas`: K mixture logits α_k.
//! - `means`: K×D, row k is μ_k.
//! - `icf`: K×(D(D+1)/2), row k parametrises the lower-triangular factor Q_k
//!   of component k's precision matrix Σ_k⁻¹ = Q_kᵀQ_k. Its first D entries
//!   q_k are the log-diagonal, (Q_k)_jj = exp(q_kj); the remaining D(D−1)/2
//!   entries l_k are the strictly-lower part column by column: column 0 rows
//!   1..D, then column 1 rows 2..D, and so on (ADBench's `Qtimesx` order).
//!   Column c therefore starts at offset c(2D − c − 1)/2 within l_k.
//! - `x`: n×D data points.
//! - [`Wishart`] prior parameters γ and m (ADBench uses γ = 1, m = 0).
//!
//! # The objective
//!
//! With sq_k = Σ_j q_kj (= log det Q_k) and n_w = D + m + 1:
//!
//! ```text
//! loss = −n·D/2·log(2π)
//!      + Σ_i logsumexp_k(α_k + sq_k − ½‖Q_k(x_i − μ_k)‖²)
//!      − n·logsumexp_k(α_k)
//!      + K·C − Σ_k [½γ²(Σ_j exp(q_kj)² + Σ l_k²) − m·sq_k]
//! C    = n_w·D·(log γ − ½ log 2) − log Γ_D(n_w/2)
//! ```
//!
//! where log Γ_D is the multivariate log-gamma function ([`multigammaln`]).
//! This is exactly GradBench's `gmm` objective (ADBench's `gmm_objective`,
//! constants included): the log-likelihood of the data under the mixture with
//! weights softmax(α), plus ADBench's log Wishart prior on each precision
//! matrix, in which ‖Q_k‖²_F = tr(Σ_k⁻¹) and sq_k = ½ log det Σ_k⁻¹.
//! GradBench's input splits each `icf` row into `q` (the first D entries) and
//! `l` (the rest); concatenating them row by row gives this layout.
//!
//! # The gradient
//!
//! With z = x_i − μ_k, y = Q_k z, main_k = α_k + sq_k − ½‖y‖² and
//! p_ik = softmax_k(main_k):
//!
//! - ∂/∂α_k = Σ_i p_ik − n·softmax(α)_k,
//! - ∂/∂μ_k = Σ_i p_ik Q_kᵀ y,
//! - ∂/∂q_kj = Σ_i p_ik (1 − y_j z_j e^{q_kj}) − γ² e^{2q_kj} + m,
//! - ∂/∂(Q_k)_{rc} (r > c) = −Σ_i p_ik y_r z_c − γ² (Q_k)_{rc}.
//!
//! Invariants: K ≥ 1 (a mixture of nothing has no log-likelihood); every
//! buffer's length is checked against the [`Shape`]; no allocation after the
//! [`Workspace`] is built.

use super::logsumexp;
use super::rng::SplitMix64;
use super::{WorkloadError, axpy, check_len, checked_size, dot};

/// The sizes of a `gmm` instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Dimension of the data points.
    pub d: usize,
    /// Number of mixture components (at least 1).
    pub k: usize,
    /// Number of data points.
    pub n: usize,
}

impl Shape {
    /// Entries of one `icf` row: D(D+1)/2.
    pub fn icf_row_len(&self) -> Result<usize, WorkloadError> {
        let d1 = self
            .d
            .checked_add(1)
            .ok_or(WorkloadError::Overflow { what: "icf" })?;
        // One of d, d+1 is even, so halving the even one first is exact.
        if self.d.is_multiple_of(2) {
            checked_size("icf", self.d / 2, d1)
        } else {
            checked_size("icf", self.d, d1 / 2)
        }
    }

    /// Checks the shape and returns (K·D, K·D(D+1)/2, n·D).
    fn sizes(&self) -> Result<(usize, usize, usize), WorkloadError> {
        if self.k == 0 {
            return Err(WorkloadError::Invalid {
                what: "k",
                why: "a mixture needs at least one component",
            });
        }
        Ok((
            checked_size("means", self.k, self.d)?,
            checked_size("icf", self.k, self.icf_row_len()?)?,
            checked_size("x", self.n, self.d)?,
        ))
    }
}

/// The parameters of the Wishart prior.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Wishart {
    /// The scale γ (> 0).
    pub gamma: f64,
    /// The extra degrees of freedom m (an integer in ADBench; any real
    /// m > −2 keeps every log-gamma argument positive).
    pub m: f64,
}

/// The differentiable parameters, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// Mixture logits, K.
    pub alphas: &'a [f64],
    /// Component means, K×D.
    pub means: &'a [f64],
    /// Inverse-covariance factors, K×D(D+1)/2.
    pub icf: &'a [f64],
}

/// Output buffers for the gradient, one per parameter, same shapes.
#[derive(Debug)]
pub struct Grads<'a> {
    /// ∂loss/∂alphas, K.
    pub alphas: &'a mut [f64],
    /// ∂loss/∂means, K×D.
    pub means: &'a mut [f64],
    /// ∂loss/∂icf, K×D(D+1)/2.
    pub icf: &'a mut [f64],
}

/// Scratch space for one shape's (D, K), reused across calls.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The (D, K) this workspace was built for.
    d: usize,
    /// The (D, K) this workspace was built for.
    k: usize,
    /// exp(q_kj), K×D.
    qdiag: Vec<f64>,
    /// sq_k = Σ_j q_kj, K.
    sum_q: Vec<f64>,
    /// main_k for the current point, K.
    main: Vec<f64>,
    /// z = x_i − μ_k for the current point, K×D.
    centered: Vec<f64>,
    /// y = Q_k z for the current point, K×D.
    transformed: Vec<f64>,
}

impl Workspace {
    /// Scratch space for `shape`'s D and K (n may vary between calls).
    pub fn new(shape: Shape) -> Result<Workspace, WorkloadError> {
        let kd = checked_size("means", shape.k, shape.d)?;
        Ok(Workspace {
            d: shape.d,
            k: shape.k,
            qdiag: vec![0.0; kd],
            sum_q: vec![0.0; shape.k],
            main: vec![0.0; shape.k],
            centered: vec![0.0; kd],
            transformed: vec![0.0; kd],
        })
    }

    fn check(&self, shape: Shape) -> Result<(), WorkloadError> {
        if (self.d, self.k) == (shape.d, shape.k) {
            Ok(())
        } else {
            Err(WorkloadError::Invalid {
                what: "workspace",
                why: "built for a different (d, k)",
            })
        }
    }
}

/// The multivariate log-gamma function
/// log Γ_p(a) = p(p−1)/4 · log π + Σ_{j=1..p} log Γ(a + (1 − j)/2).
pub fn multigammaln(a: f64, p: usize) -> f64 {
    let pf = p as f64;
    let mut out = 0.25 * pf * (pf - 1.0) * std::f64::consts::PI.ln();
    for j in 1..=p {
        out += libm::lgamma(a + 0.5 * (1.0 - j as f64));
    }
    out
}

/// The per-component constant of the Wishart prior,
/// C = n_w·D·(log γ − ½ log 2) − log Γ_D(n_w/2) with n_w = D + m + 1.
pub fn wishart_constant(d: usize, wishart: Wishart) -> f64 {
    let df = d as f64;
    let n_w = df + wishart.m + 1.0;
    n_w * df * (wishart.gamma.ln() - 0.5 * std::f64::consts::LN_2) - multigammaln(0.5 * n_w, d)
}

/// Offset of column `c`'s strictly-lower entries within a row's l part.
#[inline]
fn column_offset(d: usize, c: usize) -> usize {
    c * (2 * d - c - 1) / 2
}

/// y = Q z with Q given by its diagonal `qdiag` and strictly-lower part `l`.
#[inline]
fn q_times(d: usize, qdiag: &[f64], l: &[f64], z: &[f64], y: &mut [f64]) {
    for ((yj, qj), zj) in y.iter_mut().zip(qdiag).zip(z) {
        *yj = qj * zj;
    }
    for c in 0..d {
        let off = column_offset(d, c);
        axpy(z[c], &l[off..off + (d - c - 1)], &mut y[c + 1..]);
    }
}

/// Checks every length and fills `qdiag` and `sum_q`; returns the terms that
/// do not depend on the data: −n·D/2·log(2π) − n·lse(α) + prior.
fn prepare(
    shape: Shape,
    params: Params<'_>,
    x: &[f64],
    wishart: Wishart,
    ws: &mut Workspace,
) -> Result<f64, WorkloadError> {
    let (kd, icf_len, xd) = shape.sizes()?;
    ws.check(shape)?;
    check_len("alphas", params.alphas.len(), shape.k)?;
    check_len("means", params.means.len(), kd)?;
    check_len("icf", params.icf.len(), icf_len)?;
    check_len("x", x.len(), xd)?;
    let (d, row) = (shape.d, shape.icf_row_len()?);
    let mut prior = 0.0;
    for k in 0..shape.k {
        let icf_k = &params.icf[k * row..(k + 1) * row];
        let (q, l) = icf_k.split_at(d);
        let qdiag = &mut ws.qdiag[k * d..(k + 1) * d];
        for (e, qj) in qdiag.iter_mut().zip(q) {
            *e = qj.exp();
        }
        ws.sum_q[k] = q.iter().sum();
        let frobenius = dot(qdiag, qdiag) + dot(l, l);
        prior += 0.5 * wishart.gamma * wishart.gamma * frobenius - wishart.m * ws.sum_q[k];
    }
    let (n, k) = (shape.n as f64, shape.k as f64);
    let constant = -n * shape.d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln();
    Ok(constant - n * logsumexp(params.alphas) + k * wishart_constant(d, wishart) - prior)
}

/// Fills `ws.main`, `ws.centered` and `ws.transformed` for point `xi`;
/// `row` is the checked D(D+1)/2.
#[inline]
fn point_terms(shape: Shape, row: usize, params: Params<'_>, xi: &[f64], ws: &mut Workspace) {
    let d = shape.d;
    for k in 0..shape.k {
        let z = &mut ws.centered[k * d..(k + 1) * d];
        for ((zj, xj), mj) in z.iter_mut().zip(xi).zip(&params.means[k * d..(k + 1) * d]) {
            *zj = xj - mj;
        }
        let y = &mut ws.transformed[k * d..(k + 1) * d];
        let l = &params.icf[k * row + d..(k + 1) * row];
        q_times(d, &ws.qdiag[k * d..(k + 1) * d], l, z, y);
        ws.main[k] = params.alphas[k] + ws.sum_q[k] - 0.5 * dot(y, y);
    }
}

/// The objective (see the module documentation).
pub fn value(
    shape: Shape,
    params: Params<'_>,
    x: &[f64],
    wishart: Wishart,
    ws: &mut Workspace,
) -> Result<f64, WorkloadError> {
    let outside = prepare(shape, params, x, wishart, ws)?;
    let row = shape.icf_row_len()?;
    let mut slse = 0.0;
    if shape.d == 0 {
        // Every point is the empty vector: each contributes lse(α + sq).
        point_terms(shape, row, params, &[], ws);
        return Ok(outside + shape.n as f64 * logsumexp(&ws.main));
    }
    for xi in x.chunks_exact(shape.d) {
        point_terms(shape, row, params, xi, ws);
        slse += logsumexp(&ws.main);
    }
    Ok(outside + slse)
}

/// Writes the gradient into `grads` and returns the objective.
pub fn value_and_grad(
    shape: Shape,
    params: Params<'_>,
    x: &[f64],
    wishart: Wishart,
    ws: &mut Workspace,
    grads: Grads<'_>,
) -> Result<f64, WorkloadError> {
    let outside = prepare(shape, params, x, wishart, ws)?;
    check_len("grads.alphas", grads.alphas.len(), params.alphas.len())?;
    check_len("grads.means", grads.means.len(), params.means.len())?;
    check_len("grads.icf", grads.icf.len(), params.icf.len())?;
    grads.alphas.fill(0.0);
    grads.means.fill(0.0);
    grads.icf.fill(0.0);
    let (d, row) = (shape.d, shape.icf_row_len()?);

    let mut slse = 0.0;
    for i in 0..shape.n {
        let xi = &x[i * d..(i + 1) * d];
        point_terms(shape, row, params, xi, ws);
        let lse = logsumexp(&ws.main);
        slse += lse;
        for k in 0..shape.k {
            let p = (ws.main[k] - lse).exp();
            grads.alphas[k] += p;
            let z = &ws.centered[k * d..(k + 1) * d];
            let y = &ws.transformed[k * d..(k + 1) * d];
            let qdiag = &ws.qdiag[k * d..(k + 1) * d];
            let l = &params.icf[k * row + d..(k + 1) * row];
            let (gq, gl) = grads.icf[k * row..(k + 1) * row].split_at_mut(d);
            let gmu = &mut grads.means[k * d..(k + 1) * d];
            for j in 0..d {
                gq[j] += p * (1.0 - y[j] * z[j] * qdiag[j]);
            }
            for c in 0..d {
                let off = column_offset(d, c);
                let len = d - c - 1;
                // (Qᵀy)_c = Q_cc y_c + Σ_{r>c} Q_rc y_r
                gmu[c] += p * (qdiag[c] * y[c] + dot(&l[off..off + len], &y[c + 1..]));
                axpy(-p * z[c], &y[c + 1..], &mut gl[off..off + len]);
            }
        }
    }

    let n = shape.n as f64;
    let lse_alpha = logsumexp(params.alphas);
    for (g, a) in grads.alphas.iter_mut().zip(params.alphas) {
        *g -= n * (a - lse_alpha).exp();
    }
    let gamma2 = wishart.gamma * wishart.gamma;
    for k in 0..shape.k {
        let qdiag = &ws.qdiag[k * d..(k + 1) * d];
        let icf_k = &params.icf[k * row..(k + 1) * row];
        let g_k = &mut grads.icf[k * row..(k + 1) * row];
        for j in 0..d {
            g_k[j] += wishart.m - gamma2 * qdiag[j] * qdiag[j];
        }
        for (g, l) in g_k[d..].iter_mut().zip(&icf_k[d..]) {
            *g -= gamma2 * l;
        }
    }
    Ok(outside + slse)
}

/// Inputs for `gmm`, drawn like ADBench's generator.
#[derive(Debug, Clone, PartialEq)]
pub struct GmmInputs {
    /// The sizes.
    pub shape: Shape,
    /// Mixture logits, K, standard normal.
    pub alphas: Vec<f64>,
    /// Means, K×D, uniform in [0, 1).
    pub means: Vec<f64>,
    /// Inverse-covariance factors, K×D(D+1)/2, standard normal.
    pub icf: Vec<f64>,
    /// Data, n×D, standard normal.
    pub x: Vec<f64>,
    /// γ = 1, m = 0, as in ADBench.
    pub wishart: Wishart,
}

impl GmmInputs {
    /// The differentiable parameters, borrowed.
    pub fn params(&self) -> Params<'_> {
        Params {
            alphas: &self.alphas,
            means: &self.means,
            icf: &self.icf,
        }
    }
}

/// Deterministic inputs of `shape` from `seed`, with ADBench's distributions
/// (drawn in the order alphas, means, icf, x).
pub fn inputs(shape: Shape, seed: u64) -> Result<GmmInputs, WorkloadError> {
    let (kd, icf_len, xd) = shape.sizes()?;
    let mut rng = SplitMix64::new(seed);
    Ok(GmmInputs {
        shape,
        alphas: rng.normal_vec(shape.k, 0.0, 1.0),
        means: rng.uniform_vec(kd, 0.0, 1.0),
        icf: rng.normal_vec(icf_len, 0.0, 1.0),
        x: rng.normal_vec(xd, 0.0, 1.0),
        wishart: Wishart { gamma: 1.0, m: 0.0 },
    })
}
