//! `det`: the determinant by expansion by minors (Laplace expansion along
//! the first row, recursively), and its gradient.
//!
//! The recursion is laid out level by level with static gathers. Level `m`
//! holds the determinants of every `m×m` minor made of the last `m` rows
//! and a set `S` of `m` columns, one entry per `S` in a fixed order; level
//! `m + 1` expands each minor along its first row:
//! `D(S) = Σₜ (−1)ᵗ A[ℓ−m−1, Sₜ] · D(S ∖ Sₜ)` over the columns `S₀ < S₁ < …`,
//! the same terms with the same signs as the reference recursion. Each
//! minor is computed once and shared by every larger minor that contains
//! it, so the graph does `ℓ·2^(ℓ−1)` multiplications where the reference
//! recursion, which recomputes shared minors, does about `e·ℓ!`.

use super::backend::Hints;
use super::input::{field, finish, list, result, scalar_result, size, tensor, vector_of};
use super::{GradbenchError, Job, gradient, unknown_function};
use adjit::ir::{Graph, Module, Type};
use serde_json::Value;
use std::collections::HashMap;

/// Edge sizes above this are refused: level sizes grow as `2^ℓ`.
pub(crate) const MAX_ELL: usize = 24;

/// The column sets of size `m` out of `ell`, as bit masks in increasing order.
fn subsets(ell: usize, m: usize) -> Vec<u32> {
    (0u32..(1 << ell))
        .filter(|s| s.count_ones() as usize == m)
        .collect()
}

/// The primal graph for an `ell × ell` matrix given row-major as `[ell²]`.
pub(crate) fn primal(ell: usize) -> Result<(Module, String), GradbenchError> {
    if ell == 0 || ell > MAX_ELL {
        return Err(GradbenchError::Input(format!(
            "`ell` must be between 1 and {MAX_ELL}, got {ell}"
        )));
    }
    let g = Graph::new("det");
    let a_flat = g.param("A", Type::f64(&[ell * ell]));
    let a = a_flat.reshape([ell, ell]);
    let row = |r: usize| a.slice_axis(0, r, r + 1).reshape([ell]);
    // Level 1: the last row, one 1×1 minor per column.
    let mut level = row(ell - 1);
    let mut prev: Vec<u32> = subsets(ell, 1);
    for m in 1..ell {
        let pos: HashMap<u32, i64> = prev
            .iter()
            .enumerate()
            .map(|(i, &s)| (s, i as i64))
            .collect();
        let next = subsets(ell, m + 1);
        let w = m + 1;
        let mut minor_idx = Vec::with_capacity(next.len() * w);
        let mut col_idx = Vec::with_capacity(next.len() * w);
        for &s in &next {
            for c in (0..ell).filter(|c| s & (1 << c) != 0) {
                minor_idx.push(pos[&(s & !(1 << c))]);
                col_idx.push(c as i64);
            }
        }
        let signs: Vec<f64> = (0..w)
            .map(|t| if t % 2 == 0 { 1.0 } else { -1.0 })
            .collect();
        let minors = level.gather(g.constant_i64(&minor_idx, [next.len(), w]), 0);
        let entries = row(ell - m - 1).gather(g.constant_i64(&col_idx, [next.len(), w]), 0);
        let terms = entries * minors * g.constant(&signs, [w]);
        level = terms.sum(&[1]);
        prev = next;
    }
    finish(&g, &[level.reshape(adjit::ir::Shape::scalar())])
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let a = vector_of(field(input, "A")?, "A")?;
    let ell = size(input, "ell")?;
    if ell.checked_mul(ell) != Some(a.len()) {
        return Err(GradbenchError::Input(format!(
            "`A` has {} entries, expected ell² = {ell}²",
            a.len()
        )));
    }
    let inputs = vec![tensor(&[a.len()], a)?];
    let key = format!("det/{function}/ell={ell}");
    match function {
        "primal" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || primal(ell)),
            inputs,
            output: Box::new(|outs| scalar_result(&outs, 0)),
        }),
        "gradient" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || {
                let (m, f) = primal(ell)?;
                gradient(m, &f, &[0])
            }),
            inputs,
            output: Box::new(|outs| Ok(list(result(&outs, 0)?))),
        }),
        _ => Err(unknown_function("det", function)),
    }
}
