//! The benchmark workloads written in plain Rust against adjit's
//! operator-overloading tape ([`adjit::tape`]): the "tape" line of every
//! benchmark table.
//!
//! Each function records its workload on the tape of a reusable
//! [`Workspace`], one scalar operation per node, and runs one reverse sweep
//! for the derivatives the workload asks for:
//!
//! | function | inputs of the tape (differentiated) | constants |
//! |---|---|---|
//! | [`seed1`], [`seed2`], [`seed3`], [`select`] | the arguments | — |
//! | [`rosen`] | x | — |
//! | [`logreg`] | w | X, y |
//! | [`gmm`] | alphas, means, icf | x, γ, m |
//! | [`mlp`] | W1, b1, W2, b2 | X, Y |
//! | [`spring`] | k, v0 | x0, target, dt |
//! | [`bs`], [`bs_per_option`] | S, σ | K, T, r |
//!
//! Data are plain `f64` operands, which the tape records as constants (no
//! node), so no derivative is computed for them.
//!
//! `bs` asks for forward tangents (delta and vega with all-ones seeds on S and
//! on σ). A reverse tape gets them from one sweep of Σ_i C_i: options are
//! independent, so ∂(Σ C)/∂S_i = ∂C_i/∂S_i. [`bs_per_option`] instead sweeps
//! each option's own small tape, which is how a scalar tape would be used
//! without that observation.
//!
//! The `hvp` workload (a Hessian-vector product of `rosen`) is not
//! expressible: it differentiates a derivative, and the tape's values and
//! partials are plain `f64`, so a reverse sweep cannot itself be recorded.
//!
//! # Blocks
//!
//! The losses of `logreg`, `gmm` and `mlp` are sums over data points. Their
//! tapes grow with the data (about 4·10⁵ nodes per point of `gmm` with D = 64
//! and K = 50, 2·10⁵ per sample of `mlp`), so the points are recorded in
//! blocks whose tapes hold about [`Workspace::block_nodes`] nodes: each block
//! records the parameters as fresh inputs, its points' terms (the first block
//! also the terms that do not depend on the data), and is swept on its own;
//! values and gradients are summed over the blocks. That bounds the memory
//! (an unblocked `gmm` D = 64 tape would take about 7 GB) at the price of
//! recording the parameters once per block. With the default budget every
//! workload but `gmm` D = 64 and `mlp` fits in one block.
//!
//! # Invariants
//!
//! - Layouts, argument checks and errors are those of the hand-written
//!   modules ([`super::gmm`], [`super::mlp`], …); lengths are checked before
//!   anything is recorded.
//! - After a first call with the same sizes, a call allocates nothing: the
//!   tape keeps its storage across [`Tape::clear`], and the vectors of
//!   intermediate handles are parked in the workspace between recordings
//!   (as empty vectors of a lifetime-free type of the same layout, so that
//!   their allocations are reused).
//! - Recording follows the hand-written code's order of operations where
//!   that is natural (so many values agree to the last bit), but sums are
//!   accumulated left to right, so results agree to rounding, not bitwise.

use std::mem::{align_of, size_of};

use super::{WorkloadError, bs as bsw, check_len, checked_size, gmm as gmmw, mlp as mlpw};
use adjit::tape::{Tape, TapeError, Var};

/// Default node budget of one block (see the module documentation): 2²¹
/// nodes, about 50 MB of tape and 17 MB of adjoints.
pub const DEFAULT_BLOCK_NODES: usize = 1 << 21;

/// The layout of a [`Var`] (a reference, a `u32`, an `f64`) without its
/// lifetime: the element type of parked handle vectors.
type ParkedVar = (usize, u32, f64);

const _: () = assert!(size_of::<ParkedVar>() == size_of::<Var<'_>>());
const _: () = assert!(align_of::<ParkedVar>() == align_of::<Var<'_>>());

/// Empties `vec` and reuses its allocation for another element type of the
/// same size and alignment (collecting a vector's own `IntoIter` reuses its
/// buffer in that case; the closure never runs since the vector is empty).
fn recycle<T, U>(mut vec: Vec<T>) -> Vec<U> {
    vec.clear();
    vec.into_iter().filter_map(|_| None).collect()
}

/// Number of parked handle vectors a recording may borrow at once.
const SCRATCH: usize = 6;

/// Parked storage for the intermediate handle vectors of one recording.
#[derive(Debug, Default)]
struct Scratch {
    parked: [Vec<ParkedVar>; SCRATCH],
}

impl Scratch {
    /// The parked vectors as (empty) handle vectors of a live tape.
    fn take<'t>(&mut self) -> [Vec<Var<'t>>; SCRATCH] {
        self.parked.each_mut().map(|v| recycle(std::mem::take(v)))
    }

    /// Parks the vectors again, keeping their allocations.
    fn park(&mut self, vecs: [Vec<Var<'_>>; SCRATCH]) {
        self.parked = vecs.map(recycle);
    }
}

/// A tape and the buffers that recording the workloads needs, kept across
/// calls so that repeated calls allocate nothing.
#[derive(Debug)]
pub struct Workspace {
    /// The tape every workload is recorded on.
    tape: Tape,
    /// The differentiated parameters, concatenated: the tape's inputs.
    inputs: Vec<f64>,
    /// The derivatives with respect to `inputs`, summed over blocks.
    gradient: Vec<f64>,
    /// The derivatives of the current block (second block on).
    block_gradient: Vec<f64>,
    /// Parked handle vectors.
    scratch: Scratch,
    /// The node budget of a block.
    block_nodes: usize,
}

impl Default for Workspace {
    fn default() -> Workspace {
        Workspace::new()
    }
}

impl Workspace {
    /// A workspace with the default block budget, [`DEFAULT_BLOCK_NODES`].
    pub fn new() -> Workspace {
        Workspace::with_block_nodes(DEFAULT_BLOCK_NODES)
    }

    /// A workspace whose blocks hold about `nodes` nodes (at least one data
    /// point per block, however large).
    pub fn with_block_nodes(nodes: usize) -> Workspace {
        Workspace {
            tape: Tape::new(),
            inputs: Vec::new(),
            gradient: Vec::new(),
            block_gradient: Vec::new(),
            scratch: Scratch::default(),
            block_nodes: nodes.max(1),
        }
    }

    /// The node budget of a block.
    pub fn block_nodes(&self) -> usize {
        self.block_nodes
    }

    /// How many nodes the tape holds before its storage grows (the largest
    /// block recorded so far).
    pub fn tape_capacity(&self) -> usize {
        self.tape.capacity()
    }

    /// Points per block for a workload recording about `per_point` nodes per
    /// point (an estimate; at least 1).
    fn points_per_block(&self, per_point: usize) -> usize {
        (self.block_nodes / per_point.max(1)).max(1)
    }

    /// Fills `self.inputs` with the concatenation of `parts` and sizes the
    /// gradient buffers to match.
    fn set_inputs(&mut self, parts: &[&[f64]]) {
        self.inputs.clear();
        for part in parts {
            self.inputs.extend_from_slice(part);
        }
        let n = self.inputs.len();
        self.gradient.resize(n, 0.0);
        self.block_gradient.resize(n, 0.0);
    }

    /// Records and sweeps the blocks `0..blocks` of a sum, `block(b, inputs,
    /// scratch)` recording block `b`'s terms; leaves Σ gradients in
    /// `self.gradient` and returns Σ values.
    fn sum_blocks<F>(&mut self, blocks: usize, mut block: F) -> Result<f64, WorkloadError>
    where
        F: for<'t> FnMut(usize, &[Var<'t>], &mut [Vec<Var<'t>>; SCRATCH]) -> Var<'t>,
    {
        let Workspace {
            tape,
            inputs,
            gradient,
            block_gradient,
            scratch,
            ..
        } = self;
        let mut total = 0.0;
        for b in 0..blocks.max(1) {
            let out = if b == 0 {
                &mut *gradient
            } else {
                &mut *block_gradient
            };
            total += tape
                .grad_into(
                    |p| {
                        let mut vecs = scratch.take();
                        let value = block(b, p, &mut vecs);
                        scratch.park(vecs);
                        value
                    },
                    inputs,
                    out,
                )
                .map_err(tape_error)?;
            if b > 0 {
                for (g, bg) in gradient.iter_mut().zip(block_gradient.iter()) {
                    *g += bg;
                }
            }
        }
        Ok(total)
    }
}

/// The tape's length errors are the workload's (they cannot occur: every
/// buffer is sized here before the call).
fn tape_error(error: TapeError) -> WorkloadError {
    match error {
        TapeError::LengthMismatch {
            what,
            expected,
            found,
        } => WorkloadError::Length {
            what,
            expected,
            found,
        },
    }
}

/// Records `f` at `x`, writes the gradient into `gradient`, returns the value.
fn run<F>(ws: &mut Workspace, f: F, x: &[f64], gradient: &mut [f64]) -> Result<f64, WorkloadError>
where
    F: for<'t> FnOnce(&[Var<'t>]) -> Var<'t>,
{
    ws.tape.grad_into(f, x, gradient).map_err(tape_error)
}

/// The running sum `acc + term`, starting from `term`.
#[inline]
fn accumulate<'t>(acc: Option<Var<'t>>, term: Var<'t>) -> Var<'t> {
    match acc {
        Some(acc) => acc + term,
        None => term,
    }
}

/// log Σ_j exp(x_j), shifted by the largest value (a constant shift: the
/// result and its derivative, softmax(x), do not depend on it). `xs` is not
/// empty.
fn logsumexp<'t>(xs: &[Var<'t>]) -> Var<'t> {
    let max = xs.iter().fold(f64::NEG_INFINITY, |m, x| m.max(x.value()));
    let mut sum = None;
    for &x in xs {
        sum = Some(accumulate(sum, (x - max).exp()));
    }
    match sum {
        Some(sum) => sum.ln() + max,
        None => unreachable!("logsumexp of no terms"),
    }
}

// ------------------------------------------------------------------ seeds

/// seed1 and its derivative: f(x) = sin(eˣ·x) + log(x)·tanh(cos x).
pub fn seed1(ws: &mut Workspace, x: f64) -> Result<(f64, f64), WorkloadError> {
    let mut g = [0.0];
    let f = run(
        ws,
        |v| (v[0].exp() * v[0]).sin() + v[0].ln() * v[0].cos().tanh(),
        &[x],
        &mut g,
    )?;
    Ok((f, g[0]))
}

/// seed2 and its gradient: f(x, y) = (x + y)(x − y).
pub fn seed2(ws: &mut Workspace, x: f64, y: f64) -> Result<(f64, [f64; 2]), WorkloadError> {
    let mut g = [0.0; 2];
    let f = run(ws, |v| (v[0] + v[1]) * (v[0] - v[1]), &[x, y], &mut g)?;
    Ok((f, g))
}

/// seed3 and its gradient: z = x·x + x·y + 2.
pub fn seed3(ws: &mut Workspace, x: f64, y: f64) -> Result<(f64, [f64; 2]), WorkloadError> {
    let mut g = [0.0; 2];
    let f = run(ws, |v| v[0] * v[0] + v[0] * v[1] + 2.0, &[x, y], &mut g)?;
    Ok((f, g))
}

/// select and its derivative: x² if x > 1 else 2x − 1 (the branch taken is
/// the one recorded).
pub fn select(ws: &mut Workspace, x: f64) -> Result<(f64, f64), WorkloadError> {
    let mut g = [0.0];
    let f = run(
        ws,
        |v| {
            if v[0].value() > 1.0 {
                v[0] * v[0]
            } else {
                2.0 * v[0] - 1.0
            }
        },
        &[x],
        &mut g,
    )?;
    Ok((f, g[0]))
}

// ------------------------------------------------------------------ rosen

/// The extended Rosenbrock function of n ≥ 2 handles, eight nodes per term.
fn rosen_record<'t>(x: &[Var<'t>]) -> Var<'t> {
    let term = |a: Var<'t>, b: Var<'t>| {
        let t = b - a * a;
        let u = 1.0 - a;
        100.0 * (t * t) + u * u
    };
    let mut sum = None;
    for w in x.windows(2) {
        sum = Some(accumulate(sum, term(w[0], w[1])));
    }
    match sum {
        Some(sum) => sum,
        None => unreachable!("rosen is recorded for n >= 2 only"),
    }
}

/// Writes ∇rosen(x) into `grad` and returns rosen(x).
pub fn rosen(ws: &mut Workspace, x: &[f64], grad: &mut [f64]) -> Result<f64, WorkloadError> {
    check_len("grad", grad.len(), x.len())?;
    if x.len() < 2 {
        grad.fill(0.0);
        return Ok(0.0);
    }
    run(ws, rosen_record, x, grad)
}

// ----------------------------------------------------------------- logreg

/// Nodes recorded per `logreg` sample of dimension d (an estimate).
fn logreg_nodes_per_sample(d: usize) -> usize {
    d.saturating_mul(2).saturating_add(8)
}

/// Writes ∇loss(w) into `grad` and returns the `logreg` loss (see
/// [`super::logreg`]); X (N×D, row-major) and y (N) are constants.
pub fn logreg(
    ws: &mut Workspace,
    x: &[f64],
    y: &[f64],
    w: &[f64],
    grad: &mut [f64],
) -> Result<f64, WorkloadError> {
    let (n, d) = (y.len(), w.len());
    check_len("x", x.len(), checked_size("x", n, d)?)?;
    check_len("grad", grad.len(), d)?;
    if n == 0 || d == 0 {
        // Nothing to record: either the loss is undefined (the hand-written
        // code says so) or it does not depend on any parameter.
        grad.fill(0.0);
        return super::logreg::value(x, y, w);
    }
    let per_block = ws.points_per_block(logreg_nodes_per_sample(d));
    let blocks = n.div_ceil(per_block);
    let inv_n = 1.0 / n as f64;
    ws.set_inputs(&[w]);
    let value = ws.sum_blocks(blocks, |b, w, _| {
        let rows = b * per_block..((b + 1) * per_block).min(n);
        let mut data = None;
        for i in rows {
            let row = &x[i * d..(i + 1) * d];
            let mut z = row[0] * w[0];
            for (&xij, &wj) in row[1..].iter().zip(&w[1..]) {
                z += xij * wj;
            }
            // softplus(z) = max(z, 0) + log1p(e^{−|z|}), one branch recorded.
            let softplus = if z.value() > 0.0 {
                z + (-z).exp().ln_1p()
            } else {
                z.exp().ln_1p()
            };
            data = Some(accumulate(data, softplus - y[i] * z));
        }
        let mut loss = match data {
            Some(data) => data * inv_n,
            None => unreachable!("a block holds at least one sample"),
        };
        if b == 0 {
            let mut norm2 = w[0] * w[0];
            for &wj in &w[1..] {
                norm2 += wj * wj;
            }
            loss += 0.5 * super::logreg::LAMBDA * norm2;
        }
        loss
    })?;
    grad.copy_from_slice(&ws.gradient);
    Ok(value)
}

// -------------------------------------------------------------------- gmm

/// Nodes recorded per `gmm` point (an estimate): per component D for the
/// centred point, D² for Q·z, 2D for the squared norm, a few more for the
/// log-sum-exp.
fn gmm_nodes_per_point(d: usize, k: usize) -> usize {
    let per_component = d
        .saturating_mul(d)
        .saturating_add(d.saturating_mul(3))
        .saturating_add(6);
    per_component.saturating_mul(k).saturating_add(4)
}

/// Writes the `gmm` gradient (with respect to alphas, means and icf) into
/// `grads` and returns the objective, exactly as [`gmmw::value_and_grad`]
/// defines it; x, γ and m are constants.
pub fn gmm(
    ws: &mut Workspace,
    shape: gmmw::Shape,
    params: gmmw::Params<'_>,
    x: &[f64],
    wishart: gmmw::Wishart,
    grads: gmmw::Grads<'_>,
) -> Result<f64, WorkloadError> {
    let gmmw::Shape { d, k, n } = shape;
    if k == 0 {
        return Err(WorkloadError::Invalid {
            what: "k",
            why: "a mixture needs at least one component",
        });
    }
    let row = shape.icf_row_len()?;
    let kd = checked_size("means", k, d)?;
    check_len("alphas", params.alphas.len(), k)?;
    check_len("means", params.means.len(), kd)?;
    check_len("icf", params.icf.len(), checked_size("icf", k, row)?)?;
    check_len("x", x.len(), checked_size("x", n, d)?)?;
    check_len("grads.alphas", grads.alphas.len(), k)?;
    check_len("grads.means", grads.means.len(), kd)?;
    check_len("grads.icf", grads.icf.len(), params.icf.len())?;

    let per_block = ws.points_per_block(gmm_nodes_per_point(d, k));
    let blocks = n.div_ceil(per_block).max(1);
    let (nf, kf) = (n as f64, k as f64);
    let outside = -nf * d as f64 * 0.5 * (2.0 * std::f64::consts::PI).ln()
        + kf * gmmw::wishart_constant(d, wishart);
    let gamma2 = wishart.gamma * wishart.gamma;
    // Column c of a strictly-lower part starts at c(2D − c − 1)/2.
    let column = |c: usize| c * (2 * d - c - 1) / 2;

    ws.set_inputs(&[params.alphas, params.means, params.icf]);
    let value = ws.sum_blocks(blocks, |b, p, scratch| {
        let (alphas, rest) = p.split_at(k);
        let (means, icf) = rest.split_at(kd);
        let [qdiag, sum_q, base, main, z, _] = scratch;
        // Per component: exp of the log-diagonal, sq_k = Σ_j q_kj and α_k + sq_k.
        for c in 0..k {
            let q = &icf[c * row..c * row + d];
            let mut sum = None;
            for &qj in q {
                qdiag.push(qj.exp());
                sum = Some(accumulate(sum, qj));
            }
            // With D = 0, sq_k = 0: `sum_q` stays empty and is not read.
            match sum {
                Some(s) => {
                    sum_q.push(s);
                    base.push(alphas[c] + s);
                }
                None => base.push(alphas[c]),
            }
        }
        let points = b * per_block..((b + 1) * per_block).min(n);
        let mut total = None;
        for i in points {
            let xi = &x[i * d..(i + 1) * d];
            main.clear();
            for c in 0..k {
                let mu = &means[c * d..(c + 1) * d];
                let l = &icf[c * row + d..(c + 1) * row];
                let qd = &qdiag[c * d..(c + 1) * d];
                z.clear();
                z.extend(xi.iter().zip(mu).map(|(&xj, &mj)| xj - mj));
                // ‖Q z‖², with (Q z)_r = e^{q_r} z_r + Σ_{c<r} L_rc z_c.
                let mut norm2 = None;
                for r in 0..d {
                    let mut yr = qd[r] * z[r];
                    for (cc, &zc) in z[..r].iter().enumerate() {
                        yr += l[column(cc) + r - cc - 1] * zc;
                    }
                    norm2 = Some(accumulate(norm2, yr * yr));
                }
                main.push(match norm2 {
                    Some(s) => base[c] - 0.5 * s,
                    None => base[c],
                });
            }
            total = Some(accumulate(total, logsumexp(main)));
        }
        let mut total = match total {
            Some(t) => t,
            None => alphas[0] * 0.0,
        };
        if b == 0 {
            let mut prior = None;
            for c in 0..k {
                let l = &icf[c * row + d..(c + 1) * row];
                let mut frobenius = None;
                for &e in &qdiag[c * d..(c + 1) * d] {
                    frobenius = Some(accumulate(frobenius, e * e));
                }
                for &lj in l {
                    frobenius = Some(accumulate(frobenius, lj * lj));
                }
                let mut term = match frobenius {
                    Some(f) => 0.5 * gamma2 * f,
                    None => alphas[c] * 0.0,
                };
                if d > 0 {
                    term -= wishart.m * sum_q[c];
                }
                prior = Some(accumulate(prior, term));
            }
            total = total + outside - nf * logsumexp(alphas);
            if let Some(prior) = prior {
                total -= prior;
            }
        }
        total
    })?;
    let (ga, rest) = ws.gradient.split_at(k);
    let (gm, gi) = rest.split_at(kd);
    grads.alphas.copy_from_slice(ga);
    grads.means.copy_from_slice(gm);
    grads.icf.copy_from_slice(gi);
    Ok(value)
}

// -------------------------------------------------------------------- mlp

/// Nodes recorded per `mlp` sample (an estimate): two per multiply-add of
/// both layers, a tanh per hidden unit, a few per class.
fn mlp_nodes_per_sample(shape: mlpw::Shape) -> usize {
    let first = shape
        .input
        .saturating_mul(2)
        .saturating_add(1)
        .saturating_mul(shape.hidden);
    let second = shape
        .hidden
        .saturating_mul(2)
        .saturating_add(6)
        .saturating_mul(shape.classes);
    first.saturating_add(second).saturating_add(4)
}

/// Writes the `mlp` gradient (with respect to W1, b1, W2, b2) into `grads`
/// and returns the loss, as [`mlpw::value_and_grad`] defines them; X and Y
/// are constants.
pub fn mlp(
    ws: &mut Workspace,
    shape: mlpw::Shape,
    params: mlpw::Params<'_>,
    x: &[f64],
    y: &[f64],
    grads: mlpw::Grads<'_>,
) -> Result<f64, WorkloadError> {
    let mlpw::Shape {
        batch: nb,
        input: ni,
        hidden: nh,
        classes: nc,
    } = shape;
    if nb == 0 {
        return Err(WorkloadError::Invalid {
            what: "batch",
            why: "the mean over an empty batch is undefined",
        });
    }
    if nc == 0 {
        return Err(WorkloadError::Invalid {
            what: "classes",
            why: "a softmax needs at least one class",
        });
    }
    let w1_len = checked_size("w1", ni, nh)?;
    let w2_len = checked_size("w2", nh, nc)?;
    check_len("x", x.len(), checked_size("x", nb, ni)?)?;
    check_len("y", y.len(), checked_size("y", nb, nc)?)?;
    check_len("w1", params.w1.len(), w1_len)?;
    check_len("b1", params.b1.len(), nh)?;
    check_len("w2", params.w2.len(), w2_len)?;
    check_len("b2", params.b2.len(), nc)?;
    check_len("grads.w1", grads.w1.len(), w1_len)?;
    check_len("grads.b1", grads.b1.len(), nh)?;
    check_len("grads.w2", grads.w2.len(), w2_len)?;
    check_len("grads.b2", grads.b2.len(), nc)?;

    let per_block = ws.points_per_block(mlp_nodes_per_sample(shape));
    let blocks = nb.div_ceil(per_block);
    let inv_b = 1.0 / nb as f64;
    ws.set_inputs(&[params.w1, params.b1, params.w2, params.b2]);
    let value = ws.sum_blocks(blocks, |blk, p, scratch| {
        let (w1, rest) = p.split_at(w1_len);
        let (b1, rest) = rest.split_at(nh);
        let (w2, b2) = rest.split_at(w2_len);
        let [hidden, logits, ..] = scratch;
        let mut total = None;
        for b in blk * per_block..((blk + 1) * per_block).min(nb) {
            // A = X·W1 + b1, accumulated over the inputs in order.
            hidden.clear();
            hidden.extend_from_slice(b1);
            let xb = &x[b * ni..(b + 1) * ni];
            for (&xi, w1_row) in xb.iter().zip(w1.chunks_exact(nh.max(1))) {
                for (a, &w) in hidden.iter_mut().zip(w1_row) {
                    *a += xi * w;
                }
            }
            for a in hidden.iter_mut() {
                *a = a.tanh();
            }
            logits.clear();
            logits.extend_from_slice(b2);
            for (&h, w2_row) in hidden.iter().zip(w2.chunks_exact(nc)) {
                for (l, &w) in logits.iter_mut().zip(w2_row) {
                    *l += h * w;
                }
            }
            let yb = &y[b * nc..(b + 1) * nc];
            let label_mass: f64 = yb.iter().sum();
            let mut loss = logsumexp(logits) * label_mass;
            for (&l, &yc) in logits.iter().zip(yb) {
                loss -= yc * l;
            }
            total = Some(accumulate(total, loss));
        }
        match total {
            Some(total) => total * inv_b,
            None => unreachable!("a block holds at least one sample"),
        }
    })?;
    let (g1, rest) = ws.gradient.split_at(w1_len);
    let (gb1, rest) = rest.split_at(nh);
    let (g2, gb2) = rest.split_at(w2_len);
    grads.w1.copy_from_slice(g1);
    grads.b1.copy_from_slice(gb1);
    grads.w2.copy_from_slice(g2);
    grads.b2.copy_from_slice(gb2);
    Ok(value)
}

// ----------------------------------------------------------------- spring

/// Output buffers of [`spring`]: the derivatives the workload asks for.
#[derive(Debug)]
pub struct SpringGrads<'a> {
    /// ∂loss/∂k, N−1.
    pub k: &'a mut [f64],
    /// ∂loss/∂v0, N.
    pub v0: &'a mut [f64],
}

/// Writes ∂loss/∂k and ∂loss/∂v0 of the `spring` simulation (see
/// [`super::spring`]) into `grads` and returns the loss; the whole
/// trajectory (T steps) is recorded. x0 and target are constants.
pub fn spring(
    ws: &mut Workspace,
    config: super::spring::Config,
    args: super::spring::Args<'_>,
    grads: SpringGrads<'_>,
) -> Result<f64, WorkloadError> {
    let n = config.masses;
    let springs = config.springs();
    check_len("k", args.k.len(), springs)?;
    check_len("x0", args.x0.len(), n)?;
    check_len("v0", args.v0.len(), n)?;
    check_len("target", args.target.len(), n)?;
    check_len("grads.k", grads.k.len(), springs)?;
    check_len("grads.v0", grads.v0.len(), n)?;
    if n == 0 {
        return Ok(0.0);
    }
    let dt = config.dt;
    ws.set_inputs(&[args.k, args.v0]);
    let value = ws.sum_blocks(1, |_, p, scratch| {
        let (k, v0) = p.split_at(springs);
        let tape = v0[0].tape();
        let [x, v, ..] = scratch;
        // x0 is data: leaves whose derivatives are not read.
        x.extend(args.x0.iter().map(|&xj| tape.var(xj)));
        v.extend_from_slice(v0);
        for _ in 0..config.steps {
            // v_j += dt·(f_j − f_{j−1}), f_{−1} = 0, the last mass sees −f_{N−2}.
            let mut previous: Option<Var<'_>> = None;
            for i in 0..springs {
                let tension = k[i] * (x[i + 1] - x[i] - 1.0);
                let force = match previous {
                    Some(p) => tension - p,
                    None => tension,
                };
                v[i] += dt * force;
                previous = Some(tension);
            }
            if let Some(p) = previous {
                v[n - 1] -= dt * p;
            }
            for (xj, &vj) in x.iter_mut().zip(v.iter()) {
                *xj += dt * vj;
            }
        }
        let mut loss = None;
        for (&xj, &tj) in x.iter().zip(args.target) {
            let e = xj - tj;
            loss = Some(accumulate(loss, e * e));
        }
        match loss {
            Some(loss) => loss,
            None => unreachable!("n > 0"),
        }
    })?;
    let (gk, gv) = ws.gradient.split_at(springs);
    grads.k.copy_from_slice(gk);
    grads.v0.copy_from_slice(gv);
    Ok(value)
}

// --------------------------------------------------------------------- bs

/// The Black–Scholes call price of one option with recorded S and σ.
#[inline]
fn call_price<'t>(s: Var<'t>, sigma: Var<'t>, k: f64, t: f64, r: f64) -> Var<'t> {
    let vol = sigma * t.sqrt();
    let d1 = ((s / k).ln() + (0.5 * (sigma * sigma) + r) * t) / vol;
    let norm_cdf = |z: Var<'t>| 0.5 * ((z * std::f64::consts::FRAC_1_SQRT_2).erf() + 1.0);
    let discounted = k * (-r * t).exp();
    s * norm_cdf(d1) - discounted * norm_cdf(d1 - vol)
}

/// Checks the option arrays and the outputs; returns the number of options.
fn bs_len(options: bsw::Options<'_>, out: &bsw::Greeks<'_>) -> Result<usize, WorkloadError> {
    let n = options.s.len();
    check_len("k", options.k.len(), n)?;
    check_len("t", options.t.len(), n)?;
    check_len("r", options.r.len(), n)?;
    check_len("sigma", options.sigma.len(), n)?;
    check_len("price", out.price.len(), n)?;
    check_len("delta", out.delta.len(), n)?;
    check_len("vega", out.vega.len(), n)?;
    Ok(n)
}

/// Writes each option's price, delta (∂C/∂S) and vega (∂C/∂σ) into `out`,
/// from one reverse sweep of Σ_i C_i over a tape of all options.
pub fn bs(
    ws: &mut Workspace,
    options: bsw::Options<'_>,
    out: bsw::Greeks<'_>,
) -> Result<(), WorkloadError> {
    let n = bs_len(options, &out)?;
    if n == 0 {
        return Ok(());
    }
    ws.set_inputs(&[options.s, options.sigma]);
    let prices = &mut *out.price;
    ws.sum_blocks(1, |_, p, _| {
        let (s, sigma) = p.split_at(n);
        let mut total = None;
        for i in 0..n {
            let c = call_price(s[i], sigma[i], options.k[i], options.t[i], options.r[i]);
            prices[i] = c.value();
            total = Some(accumulate(total, c));
        }
        match total {
            Some(total) => total,
            None => unreachable!("n > 0"),
        }
    })?;
    let (delta, vega) = ws.gradient.split_at(n);
    out.delta.copy_from_slice(delta);
    out.vega.copy_from_slice(vega);
    Ok(())
}

/// As [`bs`], but recording and sweeping one small tape per option.
pub fn bs_per_option(
    ws: &mut Workspace,
    options: bsw::Options<'_>,
    out: bsw::Greeks<'_>,
) -> Result<(), WorkloadError> {
    let n = bs_len(options, &out)?;
    for i in 0..n {
        let (k, t, r) = (options.k[i], options.t[i], options.r[i]);
        let mut g = [0.0; 2];
        out.price[i] = run(
            ws,
            |p| call_price(p[0], p[1], k, t, r),
            &[options.s[i], options.sigma[i]],
            &mut g,
        )?;
        out.delta[i] = g[0];
        out.vega[i] = g[1];
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parked_vectors_keep_their_allocation() {
        let tape = Tape::new();
        let mut scratch = Scratch::default();
        let mut vecs = scratch.take();
        vecs[0].extend((0..100).map(|i| tape.var(f64::from(i))));
        let pointer = vecs[0].as_ptr() as usize;
        scratch.park(vecs);
        assert!(scratch.parked[0].is_empty());
        assert!(scratch.parked[0].capacity() >= 100);
        assert_eq!(scratch.parked[0].as_ptr() as usize, pointer);
        let vecs = scratch.take();
        assert_eq!(vecs[0].as_ptr() as usize, pointer);
    }

    #[test]
    fn points_per_block_is_at_least_one() {
        let ws = Workspace::with_block_nodes(10);
        assert_eq!(ws.points_per_block(1000), 1);
        assert_eq!(ws.points_per_block(3), 3);
        assert_eq!(ws.points_per_block(0), 10);
    }
}
