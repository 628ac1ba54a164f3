//! `kmeans`: the cost `Σᵢ minⱼ ‖Cⱼ − Pᵢ‖²` of points `P` (n×d) under
//! centroids `C` (k×d), and `dir`, the Newton direction `J ⊘ diag(H)` where
//! `J` is the cost's gradient with respect to `C` and `H` its (diagonal)
//! Hessian.
//!
//! The squared distances are formed as `‖Pᵢ‖² − 2 Pᵢ·Cⱼ + ‖Cⱼ‖²`, one matrix
//! product instead of an n×k×d difference tensor; the first and last terms
//! are the same for every `j` and for every `i`, so the minimum picks the
//! same centroid up to rounding.

use super::backend::Hints;
use super::input::{finish, matrix, result, rows, scalar_result, tensor};
use super::{GradbenchError, Job, ad_error, unknown_function};
use adjit::ir::{Elem, Graph, Module, Scalar, Type, Var};
use serde_json::Value;

/// The squared distances `‖Pᵢ‖² − 2 Pᵢ·Cⱼ + ‖Cⱼ‖²`, `[n, k]`.
fn distances<'g>(p: Var<'g>, c: Var<'g>, n: usize, k: usize) -> Var<'g> {
    let pp = (p * p).sum(&[1]).reshape([n, 1]);
    let cc = (c * c).sum(&[1]).reshape([1, k]);
    pp - 2.0 * p.matmul(c.t()) + cc
}

/// The cost graph for `n` points, `k` centroids, `d` dimensions.
pub(crate) fn cost(n: usize, k: usize, d: usize) -> Result<(Module, String), GradbenchError> {
    let g = Graph::new("cost");
    let p = g.param("points", Type::f64(&[n, d]));
    let c = g.param("centroids", Type::f64(&[k, d]));
    let closest = distances(p, c, n, k).reduce_min(&[1]);
    finish(&g, &[closest.sum(&[0])])
}

/// The same cost written through the assignment: `Σᵢⱼ Aᵢⱼ Dᵢⱼ` where `D`
/// holds the squared distances and `A` marks each point's nearest centroid
/// (a comparison, so nothing is differentiated through it). It equals
/// [`cost`] up to rounding wherever each point has one nearest centroid
/// (everywhere but a set of measure zero) and has the same derivatives
/// there, which spares the derivative of the minimum its division of each
/// point's weight among tied centroids (a count and a division per entry
/// of the `n × k` matrix).
fn assigned_cost(n: usize, k: usize, d: usize) -> Result<(Module, String), GradbenchError> {
    let g = Graph::new("assigned_cost");
    let p = g.param("points", Type::f64(&[n, d]));
    let c = g.param("centroids", Type::f64(&[k, d]));
    let dist = distances(p, c, n, k);
    let nearest = dist
        .equal(dist.reduce_min(&[1]).reshape([n, 1]))
        .convert(Elem::F64);
    finish(&g, &[(nearest * dist).sum(&[0, 1])])
}

/// The Newton direction `J ⊘ (H·1)`: the gradient with respect to the
/// centroids divided by a Hessian-vector product with ones, which is the
/// Hessian's diagonal because the cost is a sum of functions of one
/// coordinate of one centroid each (given the assignment).
///
/// Both come from one function, the forward derivative of the gradient
/// (`jvp(grad(assigned_cost))` with tangent ones), so the distances and the
/// assignment are computed once for both and the JIT compiles a single
/// function body.
fn dir(n: usize, k: usize, d: usize) -> Result<(Module, String), GradbenchError> {
    let (module, f) = assigned_cost(n, k, d)?;
    // (points, centroids) → (cost, J)
    let (module, grad) = adjit::ad::grad(&module, &f, &[1]).map_err(ad_error)?;
    // (points, centroids, ċ) → (cost, J, cosṫ, H·ċ)
    let (mut module, both) = adjit::ad::jvp(&module, &grad, &[1]).map_err(ad_error)?;
    let name = module.fresh_name("dir");
    let g = Graph::with_module(&name, &module);
    let p = g.param("points", Type::f64(&[n, d]));
    let c = g.param("centroids", Type::f64(&[k, d]));
    let ones = g.full(Scalar::F64(1.0), [k, d]);
    let outs = g.call(&both, &[p, c, ones]);
    let out = match (outs.get(1), outs.get(3)) {
        (Some(&j), Some(&h)) => j / h,
        _ => {
            return Err(GradbenchError::Graph(
                "unexpected derivative outputs".into(),
            ));
        }
    };
    let f = g
        .finish(&[out])
        .map_err(|e| GradbenchError::Graph(e.to_string()))?;
    module
        .add(f)
        .map_err(|e| GradbenchError::Graph(e.to_string()))?;
    Ok((module, name))
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let (n, d, points) = matrix(input, "points")?;
    let (k, dc, centroids) = matrix(input, "centroids")?;
    if dc != d && k > 0 && n > 0 {
        return Err(GradbenchError::Input(format!(
            "points have {d} coordinates but centroids {dc}"
        )));
    }
    let inputs = vec![tensor(&[n, d], points)?, tensor(&[k, d], centroids)?];
    let key = format!("kmeans/{function}/n={n},k={k},d={d}");
    match function {
        "cost" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || cost(n, k, d)),
            inputs,
            output: Box::new(|outs| scalar_result(&outs, 0)),
        }),
        "dir" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || dir(n, k, d)),
            inputs,
            output: Box::new(move |outs| Ok(rows(result(&outs, 0)?, k, d))),
        }),
        _ => Err(unknown_function("kmeans", function)),
    }
}
