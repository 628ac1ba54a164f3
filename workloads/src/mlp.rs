//! `mlp`: a one-hidden-layer perceptron with softmax cross-entropy, its loss
//! and hand-derived gradient.
//!
//! # Layout (all row-major, f64)
//!
//! - `x`: B×I inputs (B = batch, I = input width; 64×784 for [`MNIST`]).
//! - `y`: B×C labels as one-hot rows (C = classes). Any non-negative rows are
//!   accepted (soft labels); the formulas below hold for every y.
//! - `w1`: I×H, `b1`: H — so the hidden pre-activation is X·W1 + b1.
//! - `w2`: H×C, `b2`: C — so the logits are tanh(X·W1 + b1)·W2 + b2.
//!
//! # Loss and gradient
//!
//! ```text
//! A = X·W1 + 1·b1ᵀ    Hd = tanh(A)    L = Hd·W2 + 1·b2ᵀ
//! loss = (1/B) Σ_b [ s_b·logsumexp(L_b) − Σ_c Y_bc L_bc ],  s_b = Σ_c Y_bc
//!      = −(1/B) Σ_b Σ_c Y_bc log softmax(L_b)_c   for one-hot rows
//! dL  = (softmax(L)·diag(s) − Y)/B
//! dW2 = Hdᵀ·dL,  db2 = Σ_b dL_b
//! dA  = (dL·W2ᵀ) ⊙ (1 − Hd²)
//! dW1 = Xᵀ·dA,   db1 = Σ_b dA_b
//! ```
//!
//! Invariants: B ≥ 1 and C ≥ 1; every length is checked against the
//! [`Shape`]; no allocation after the [`Workspace`] is built. The two large
//! products (X·W1 and Xᵀ·dA) update four output rows per pass over a shared
//! input row, which quarters the memory traffic of the plain triple loop while
//! staying a straightforward loop nest.

use super::rng::SplitMix64;
use super::{WorkloadError, axpy, check_len, checked_size, dot, logsumexp};

/// The sizes of an `mlp` instance.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Samples per batch B (at least 1).
    pub batch: usize,
    /// Input width I.
    pub input: usize,
    /// Hidden width H.
    pub hidden: usize,
    /// Number of classes C (at least 1).
    pub classes: usize,
}

/// The benchmark's shape: batch 64, 784 → 128 → 10.
pub const MNIST: Shape = Shape {
    batch: 64,
    input: 784,
    hidden: 128,
    classes: 10,
};

/// Checked array sizes of a shape.
#[derive(Debug, Clone, Copy)]
struct Sizes {
    x: usize,
    y: usize,
    w1: usize,
    w2: usize,
    hidden: usize,
}

impl Shape {
    fn sizes(&self) -> Result<Sizes, WorkloadError> {
        if self.batch == 0 {
            return Err(WorkloadError::Invalid {
                what: "batch",
                why: "the mean over an empty batch is undefined",
            });
        }
        if self.classes == 0 {
            return Err(WorkloadError::Invalid {
                what: "classes",
                why: "a softmax needs at least one class",
            });
        }
        Ok(Sizes {
            x: checked_size("x", self.batch, self.input)?,
            y: checked_size("y", self.batch, self.classes)?,
            w1: checked_size("w1", self.input, self.hidden)?,
            w2: checked_size("w2", self.hidden, self.classes)?,
            hidden: checked_size("hidden activations", self.batch, self.hidden)?,
        })
    }
}

/// The differentiable parameters, borrowed.
#[derive(Debug, Clone, Copy)]
pub struct Params<'a> {
    /// I×H.
    pub w1: &'a [f64],
    /// H.
    pub b1: &'a [f64],
    /// H×C.
    pub w2: &'a [f64],
    /// C.
    pub b2: &'a [f64],
}

/// Output buffers for the gradient, same shapes as [`Params`].
#[derive(Debug)]
pub struct Grads<'a> {
    /// ∂loss/∂W1, I×H.
    pub w1: &'a mut [f64],
    /// ∂loss/∂b1, H.
    pub b1: &'a mut [f64],
    /// ∂loss/∂W2, H×C.
    pub w2: &'a mut [f64],
    /// ∂loss/∂b2, C.
    pub b2: &'a mut [f64],
}

/// Scratch space for one shape, reused across calls.
#[derive(Debug, Clone)]
pub struct Workspace {
    /// The shape this workspace was built for.
    shape: Shape,
    /// tanh(A), B×H.
    hidden: Vec<f64>,
    /// The logits, then (in the backward pass) dL; B×C.
    logits: Vec<f64>,
    /// dA, B×H.
    dhidden: Vec<f64>,
}

impl Workspace {
    /// Scratch space for `shape`.
    pub fn new(shape: Shape) -> Result<Workspace, WorkloadError> {
        let sizes = shape.sizes()?;
        Ok(Workspace {
            shape,
            hidden: vec![0.0; sizes.hidden],
            logits: vec![0.0; sizes.y],
            dhidden: vec![0.0; sizes.hidden],
        })
    }
}

/// Checks every length; returns the sizes.
fn check(
    shape: Shape,
    params: Params<'_>,
    x: &[f64],
    y: &[f64],
    ws: &Workspace,
) -> Result<Sizes, WorkloadError> {
    let sizes = shape.sizes()?;
    if ws.shape != shape {
        return Err(WorkloadError::Invalid {
            what: "workspace",
            why: "built for a different shape",
        });
    }
    check_len("x", x.len(), sizes.x)?;
    check_len("y", y.len(), sizes.y)?;
    check_len("w1", params.w1.len(), sizes.w1)?;
    check_len("b1", params.b1.len(), shape.hidden)?;
    check_len("w2", params.w2.len(), sizes.w2)?;
    check_len("b2", params.b2.len(), shape.classes)?;
    Ok(sizes)
}

/// rows[r] += coefs[r]·v for four rows of v's length.
#[inline]
fn rank1_block4(coefs: [f64; 4], v: &[f64], rows: &mut [f64], width: usize) {
    let (r0, rest) = rows.split_at_mut(width);
    let (r1, rest) = rest.split_at_mut(width);
    let (r2, r3) = rest.split_at_mut(width);
    for ((((vj, y0), y1), y2), y3) in v.iter().zip(r0).zip(r1).zip(r2).zip(r3) {
        *y0 += coefs[0] * vj;
        *y1 += coefs[1] * vj;
        *y2 += coefs[2] * vj;
        *y3 += coefs[3] * vj;
    }
}

/// The forward pass: fills `ws.hidden` and `ws.logits` and returns the loss.
fn forward(shape: Shape, params: Params<'_>, x: &[f64], y: &[f64], ws: &mut Workspace) -> f64 {
    let Shape {
        input: ni,
        hidden: nh,
        classes: nc,
        ..
    } = shape;
    for row in ws.hidden.chunks_exact_mut(nh.max(1)) {
        row.copy_from_slice(&params.b1[..row.len()]);
    }
    if nh > 0 && ni > 0 {
        // A = X·W1 + b1, four batch rows per pass over W1.
        let mut x_blocks = x.chunks_exact(4 * ni);
        let mut a_blocks = ws.hidden.chunks_exact_mut(4 * nh);
        for (xb, ab) in (&mut x_blocks).zip(&mut a_blocks) {
            for (i, w1_row) in params.w1.chunks_exact(nh).enumerate() {
                let coefs = [xb[i], xb[ni + i], xb[2 * ni + i], xb[3 * ni + i]];
                rank1_block4(coefs, w1_row, ab, nh);
            }
        }
        for (xr, ar) in x_blocks
            .remainder()
            .chunks_exact(ni)
            .zip(a_blocks.into_remainder().chunks_exact_mut(nh))
        {
            for (&xi, w1_row) in xr.iter().zip(params.w1.chunks_exact(nh)) {
                axpy(xi, w1_row, ar);
            }
        }
    }
    for a in ws.hidden.iter_mut() {
        *a = a.tanh();
    }

    let mut total = 0.0;
    for (b, logits) in ws.logits.chunks_exact_mut(nc).enumerate() {
        logits.copy_from_slice(params.b2);
        if nh > 0 {
            let h = &ws.hidden[b * nh..(b + 1) * nh];
            for (&hj, w2_row) in h.iter().zip(params.w2.chunks_exact(nc)) {
                axpy(hj, w2_row, logits);
            }
        }
        let yb = &y[b * nc..(b + 1) * nc];
        let label_mass: f64 = yb.iter().sum();
        total += label_mass * logsumexp(logits) - dot(yb, logits);
    }
    total / shape.batch as f64
}

/// The mean softmax cross-entropy of the batch.
pub fn value(
    shape: Shape,
    params: Params<'_>,
    x: &[f64],
    y: &[f64],
    ws: &mut Workspace,
) -> Result<f64, WorkloadError> {
    check(shape, params, x, y, ws)?;
    Ok(forward(shape, params, x, y, ws))
}

/// Writes the gradient into `grads` and returns the loss.
pub fn value_and_grad(
    shape: Shape,
    params: Params<'_>,
    x: &[f64],
    y: &[f64],
    ws: &mut Workspace,
    grads: Grads<'_>,
) -> Result<f64, WorkloadError> {
    let sizes = check(shape, params, x, y, ws)?;
    check_len("grads.w1", grads.w1.len(), sizes.w1)?;
    check_len("grads.b1", grads.b1.len(), shape.hidden)?;
    check_len("grads.w2", grads.w2.len(), sizes.w2)?;
    check_len("grads.b2", grads.b2.len(), shape.classes)?;
    let loss = forward(shape, params, x, y, ws);
    let Shape {
        batch: nb,
        input: ni,
        hidden: nh,
        classes: nc,
    } = shape;
    let inv_b = 1.0 / nb as f64;

    // dL = (softmax(L)·s − Y)/B, in place of the logits.
    for (logits, yb) in ws.logits.chunks_exact_mut(nc).zip(y.chunks_exact(nc)) {
        let lse = logsumexp(logits);
        let label_mass: f64 = yb.iter().sum();
        for (l, yc) in logits.iter_mut().zip(yb) {
            *l = ((*l - lse).exp() * label_mass - yc) * inv_b;
        }
    }
    let dlogits = &ws.logits;

    grads.b2.fill(0.0);
    for dl in dlogits.chunks_exact(nc) {
        axpy(1.0, dl, grads.b2);
    }
    grads.w2.fill(0.0);
    grads.b1.fill(0.0);
    grads.w1.fill(0.0);
    if nh == 0 {
        return Ok(loss);
    }
    for (b, dl) in dlogits.chunks_exact(nc).enumerate() {
        let h = &ws.hidden[b * nh..(b + 1) * nh];
        let dh = &mut ws.dhidden[b * nh..(b + 1) * nh];
        for (((&hj, w2_row), g2_row), dhj) in h
            .iter()
            .zip(params.w2.chunks_exact(nc))
            .zip(grads.w2.chunks_exact_mut(nc))
            .zip(dh.iter_mut())
        {
            axpy(hj, dl, g2_row);
            *dhj = dot(w2_row, dl) * (1.0 - hj * hj);
        }
        axpy(1.0, dh, grads.b1);
    }

    if ni == 0 {
        return Ok(loss);
    }
    // dW1 = Xᵀ·dA, four rows of dW1 per pass over dA.
    let mut g_blocks = grads.w1.chunks_exact_mut(4 * nh);
    let mut i0 = 0;
    for gb in &mut g_blocks {
        for (xr, da) in x.chunks_exact(ni).zip(ws.dhidden.chunks_exact(nh)) {
            let coefs = [xr[i0], xr[i0 + 1], xr[i0 + 2], xr[i0 + 3]];
            rank1_block4(coefs, da, gb, nh);
        }
        i0 += 4;
    }
    for (r, g_row) in g_blocks.into_remainder().chunks_exact_mut(nh).enumerate() {
        for (xr, da) in x.chunks_exact(ni).zip(ws.dhidden.chunks_exact(nh)) {
            axpy(xr[i0 + r], da, g_row);
        }
    }
    Ok(loss)
}

/// Inputs for `mlp`: synthetic image-like data and Glorot-initialised weights.
#[derive(Debug, Clone, PartialEq)]
pub struct MlpInputs {
    /// The sizes.
    pub shape: Shape,
    /// B×I, pixel-like entries uniform in [0, 1).
    pub x: Vec<f64>,
    /// B×C one-hot rows of `labels`.
    pub y: Vec<f64>,
    /// The class of each sample, uniform in 0..C.
    pub labels: Vec<usize>,
    /// I×H, uniform in [−a, a) with a = √(6/(I + H)).
    pub w1: Vec<f64>,
    /// H, uniform in [−0.1, 0.1).
    pub b1: Vec<f64>,
    /// H×C, uniform in [−a, a) with a = √(6/(H + C)).
    pub w2: Vec<f64>,
    /// C, uniform in [−0.1, 0.1).
    pub b2: Vec<f64>,
}

impl MlpInputs {
    /// The differentiable parameters, borrowed.
    pub fn params(&self) -> Params<'_> {
        Params {
            w1: &self.w1,
            b1: &self.b1,
            w2: &self.w2,
            b2: &self.b2,
        }
    }
}

/// Glorot's uniform bound √(6/(fan_in + fan_out)), 0 when both are 0.
fn glorot(fan_in: usize, fan_out: usize) -> f64 {
    let fans = (fan_in as f64) + (fan_out as f64);
    if fans > 0.0 { (6.0 / fans).sqrt() } else { 0.0 }
}

/// Deterministic inputs of `shape` from `seed`
/// (drawn in the order x, labels, w1, b1, w2, b2).
pub fn inputs(shape: Shape, seed: u64) -> Result<MlpInputs, WorkloadError> {
    let sizes = shape.sizes()?;
    let mut rng = SplitMix64::new(seed);
    let x = rng.uniform_vec(sizes.x, 0.0, 1.0);
    let labels: Vec<usize> = (0..shape.batch)
        .map(|_| rng.below(shape.classes as u64) as usize)
        .collect();
    let mut y = vec![0.0; sizes.y];
    for (row, &label) in y.chunks_exact_mut(shape.classes).zip(&labels) {
        row[label] = 1.0;
    }
    let a1 = glorot(shape.input, shape.hidden);
    let w1 = rng.uniform_vec(sizes.w1, -a1, a1);
    let b1 = rng.uniform_vec(shape.hidden, -0.1, 0.1);
    let a2 = glorot(shape.hidden, shape.classes);
    let w2 = rng.uniform_vec(sizes.w2, -a2, a2);
    let b2 = rng.uniform_vec(shape.classes, -0.1, 0.1);
    Ok(MlpInputs {
        shape,
        x,
        y,
        labels,
        w1,
        b1,
        w2,
        b2,
    })
}
