//! `gmm`: GradBench's Gaussian-mixture log posterior (`objective`) and its
//! gradient with respect to `alpha`, `mu`, `q` and `l` (`jacobian`).
//!
//! The formula and the layout of the strictly-lower factor `l` (column by
//! column) are those of [`adjit_workloads::gmm`], whose `icf` rows are
//! GradBench's `q` and `l` rows side by side. The graph is vectorised over
//! components and points: `x − μ` is a `[k, n, d]` tensor, `Q(x − μ)` is
//! `exp(q) ⊙ (x − μ)` plus a batched product with the strictly-lower
//! matrices, which are gathered from `l` with static indices. The Wishart
//! constant `k·C − n·d/2·log 2π` depends only on the sizes, `m` and `γ`,
//! all part of the cache key, and is a graph constant.

use super::backend::Hints;
use super::input::{field, finish, float, list, matrix, result, rows, scalar_result, size, tensor};
use super::{GradbenchError, Job, gradient, unknown_function};
use adjit::ir::{Graph, Module, Shape, Type, Var};
use adjit_workloads::gmm::{Wishart, wishart_constant};
use serde_json::{Value, json};

/// The sizes and prior parameters a `gmm` graph is specialised to.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Sizes {
    /// Dimension.
    pub d: usize,
    /// Components.
    pub k: usize,
    /// Points.
    pub n: usize,
    /// Wishart degrees of freedom beyond `d + 1`.
    pub m: i64,
    /// Wishart precision.
    pub gamma: f64,
}

/// `max v + log Σ exp(v − max v)` along `axis` of a rank-2 value.
fn logsumexp<'g>(v: Var<'g>, axis: usize) -> Var<'g> {
    let mx = v.reduce_max(&[axis]);
    let mut keep = v.shape().dims().to_vec();
    keep[axis] = 1usize.into();
    let shifted = v - mx.reshape(Shape(keep));
    shifted.exp().sum(&[axis]).log() + mx
}

/// The objective graph; its parameters are `alpha, mu, q, l, x`.
pub(crate) fn objective(s: Sizes) -> Result<(Module, String), GradbenchError> {
    let Sizes { d, k, n, m, gamma } = s;
    if k == 0 {
        return Err(GradbenchError::Input("`k` must be at least 1".into()));
    }
    let lsz = d * d.saturating_sub(1) / 2;
    let g = Graph::new("gmm");
    let alpha = g.param("alpha", Type::f64(&[k]));
    let mu = g.param("mu", Type::f64(&[k, d]));
    let q = g.param("q", Type::f64(&[k, d]));
    let l = g.param("l", Type::f64(&[k, lsz]));
    let x = g.param("x", Type::f64(&[n, d]));

    // The strictly-lower matrices: entry (r, c), r > c, is l[1 + off(c) + r − c − 1]
    // of l with a zero prepended; every other entry picks that zero.
    let mut idx = vec![0i64; d * d];
    for c in 0..d {
        let off = c * (2 * d - c - 1) / 2;
        for r in c + 1..d {
            idx[r * d + c] = (1 + off + r - c - 1) as i64;
        }
    }
    let lpad = g.concat(&[g.zeros(Type::f64(&[k, 1])), l], 1);
    let lower = lpad.gather(g.constant_i64(&idx, [d, d]), 1); // [k, d, d]

    let qdiag = q.exp();
    let sum_q = q.sum(&[1]);
    let xc = x.reshape([1, n, d]) - mu.reshape([k, 1, d]); // [k, n, d]
    let y = qdiag.reshape([k, 1, d]) * xc + xc.matmul(lower.t());
    let sq = (y * y).sum(&[2]); // [k, n]
    let main = alpha.reshape([k, 1]) + sum_q.reshape([k, 1]) - 0.5 * sq;
    let slse = logsumexp(main, 0).sum(&[0]);
    let lse_alpha = logsumexp(alpha.reshape([k, 1]), 0).reshape(Shape::scalar());

    let frobenius = (qdiag * qdiag).sum(&[1]) + (l * l).sum(&[1]);
    let prior = (0.5 * gamma * gamma * frobenius - m as f64 * sum_q).sum(&[0]);
    let c = wishart_constant(d, Wishart { gamma, m: m as f64 });
    let constant = -((n * d) as f64) * 0.5 * (2.0 * std::f64::consts::PI).ln();
    let loglik = slse - n as f64 * lse_alpha + constant;
    let total = loglik - prior + k as f64 * c;
    finish(&g, &[total])
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let d = size(input, "d")?;
    let k = size(input, "k")?;
    let n = size(input, "n")?;
    let m = field(input, "m")?
        .as_i64()
        .ok_or_else(|| GradbenchError::Input("`m` must be an integer".into()))?;
    let gamma = float(input, "gamma")?;
    let lsz = d * d.saturating_sub(1) / 2;
    let alpha = super::input::vector(input, "alpha")?;
    let (_, _, mu) = matrix(input, "mu")?;
    let (_, _, q) = matrix(input, "q")?;
    let (_, _, l) = matrix(input, "l")?;
    let (_, _, x) = matrix(input, "x")?;
    let inputs = vec![
        tensor(&[k], alpha)?,
        tensor(&[k, d], mu)?,
        tensor(&[k, d], q)?,
        tensor(&[k, lsz], l)?,
        tensor(&[n, d], x)?,
    ];
    let s = Sizes { d, k, n, m, gamma };
    let key = format!(
        "gmm/{function}/d={d},k={k},n={n},m={m},gamma={:016x}",
        gamma.to_bits()
    );
    match function {
        "objective" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || objective(s)),
            inputs,
            output: Box::new(|outs| scalar_result(&outs, 0)),
        }),
        "jacobian" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || {
                let (module, f) = objective(s)?;
                gradient(module, &f, &[0, 1, 2, 3])
            }),
            inputs,
            output: Box::new(move |outs| {
                Ok(json!({
                    "alpha": list(result(&outs, 0)?),
                    "mu": rows(result(&outs, 1)?, k, d),
                    "q": rows(result(&outs, 2)?, k, d),
                    "l": rows(result(&outs, 3)?, k, lsz),
                }))
            }),
        }),
        _ => Err(unknown_function("gmm", function)),
    }
}
