//! Rules of the reductions: sum, prod, max, min.
//!
//! - `reduce_sum`: linear; its transpose is a broadcast back.
//! - `reduce_prod`: `∂y/∂xᵢ` is the product of the *other* elements of the
//!   group, computed without division so it is right when elements are 0
//!   (with one zero, only that element gets a non-zero derivative; with two,
//!   none does). For a group of a known size `N ≥ 16` it is the product of
//!   the exclusive prefix and suffix products, each a log-depth scan of
//!   shifted products (`2·⌈log₂ N⌉` multiplies of `N`-element arrays). For
//!   a smaller or symbolic `N` (whose scan depth is unknown) it is an
//!   `[N, N]` masked product (element `(i, j)` is `x_j`, or 1 on the
//!   diagonal) reduced over `j`: `O(N²)` work and memory per group.
//! - `reduce_max`, `reduce_min`: the derivative is shared equally among the
//!   elements equal to the result (ties split the cotangent, as in JAX). A NaN
//!   result matches no element, so its derivative is NaN (0/0).

use super::super::AdError;
use super::super::emit::Emitter;
use super::structural::inverse;
use adjit_ir::{CmpOp, Dim, Elem, Op, ReduceOp, Shape, Type, Value};

/// The axes of a rank-`rank` value not in `axes`.
fn kept(rank: usize, axes: &[usize]) -> Vec<usize> {
    (0..rank).filter(|a| !axes.contains(a)).collect()
}

/// `y` (the reduction of `x` over `axes`) broadcast back to `x`'s shape.
fn expand(cx: &mut Emitter, y: Value, x: Value, axes: &[usize]) -> Result<Value, AdError> {
    let shape = cx.shape(x);
    let dims = kept(shape.rank(), axes);
    cx.broadcast(y, shape, dims)
}

/// The pointwise weight of each element of `x` in the reduction `y`:
/// for `prod` the product of the other elements of its group, for `max` and
/// `min` the share of the result it attains. `None` for `sum` (weight 1).
fn weight(
    cx: &mut Emitter,
    op: ReduceOp,
    axes: &[usize],
    x: Value,
    y: Value,
) -> Result<Option<Value>, AdError> {
    match op {
        ReduceOp::Sum => Ok(None),
        ReduceOp::Prod => Ok(Some(exclusive_products(cx, x, axes)?)),
        ReduceOp::Max | ReduceOp::Min => {
            let yb = expand(cx, y, x, axes)?;
            let hit = cx.cmp(CmpOp::Eq, x, yb)?;
            let mask = cx.convert(hit, cx.elem(x))?;
            let count = cx.reduce_sum(mask, axes.to_vec())?;
            let count = expand(cx, count, x, axes)?;
            Ok(Some(cx.div(mask, count)?))
        }
    }
}

/// For each element of `x`, the product of the other elements of its group
/// (the elements reduced together over `axes`), without division.
fn exclusive_products(cx: &mut Emitter, x: Value, axes: &[usize]) -> Result<Value, AdError> {
    let ty = cx.ty(x).clone();
    let rank = ty.rank();
    let keep = kept(rank, axes);
    let perm: Vec<usize> = keep.iter().chain(axes).copied().collect();
    let moved = cx.transpose(x, perm.clone())?;
    let outer: Vec<Dim> = keep.iter().map(|&a| ty.shape.dims()[a].clone()).collect();
    let group: Vec<Dim> = axes.iter().map(|&a| ty.shape.dims()[a].clone()).collect();
    let n = Dim::product(&group)?;

    let mut flat_shape = outer.clone();
    flat_shape.push(n.clone());
    let flat = cx.reshape(moved, Shape(flat_shape))?;
    let excl = match n.known() {
        Some(len) if len >= SCAN_FROM => scanned_exclusive(cx, flat, len)?,
        _ => squared_exclusive(cx, flat, &outer, &n)?,
    };

    let mut grouped = outer;
    grouped.extend(group);
    let excl = cx.reshape(excl, Shape(grouped))?;
    cx.transpose(excl, inverse(&perm))
}

/// Group sizes from which exclusive products are scanned rather than squared.
const SCAN_FROM: i64 = 16;

/// Exclusive products along the last axis (of known length `n`) as the
/// product of exclusive prefix and suffix products.
fn scanned_exclusive(cx: &mut Emitter, flat: Value, n: i64) -> Result<Value, AdError> {
    let rank = cx.ty(flat).rank();
    let last = rank - 1;
    let at_last = |d: i64| {
        let mut v = vec![Dim::ZERO; rank];
        v[last] = Dim::Known(d);
        v
    };
    // Inclusive scans: after the step with shift s, element i holds the
    // product of the 2s elements ending (or starting) at i.
    let mut prefix = flat;
    let mut suffix = flat;
    let mut s = 1;
    while s < n {
        let head = cx.slice_axis(prefix, last, Dim::ZERO, Dim::Known(n - s))?;
        let shifted = cx.pad(head, at_last(s), at_last(0), vec![0; rank], 1.0)?;
        prefix = cx.mul(prefix, shifted)?;
        let tail = cx.slice_axis(suffix, last, Dim::Known(s), Dim::Known(n))?;
        let shifted = cx.pad(tail, at_last(0), at_last(s), vec![0; rank], 1.0)?;
        suffix = cx.mul(suffix, shifted)?;
        s = s.saturating_mul(2);
    }
    // Exclusive: shift each by one, filling with 1.
    let head = cx.slice_axis(prefix, last, Dim::ZERO, Dim::Known(n - 1))?;
    let before = cx.pad(head, at_last(1), at_last(0), vec![0; rank], 1.0)?;
    let tail = cx.slice_axis(suffix, last, Dim::ONE, Dim::Known(n))?;
    let after = cx.pad(tail, at_last(0), at_last(1), vec![0; rank], 1.0)?;
    cx.mul(before, after)
}

/// Exclusive products along the last axis (of length `n`, maybe symbolic)
/// from an `[.., n, n]` product with 1 on the diagonal.
fn squared_exclusive(
    cx: &mut Emitter,
    flat: Value,
    outer: &[Dim],
    n: &Dim,
) -> Result<Value, AdError> {
    let k = outer.len();
    // square[.., i, j] = flat[.., j]
    let mut square_shape = outer.to_vec();
    square_shape.extend([n.clone(), n.clone()]);
    let square_shape = Shape(square_shape);
    let dims: Vec<usize> = (0..k).chain([k + 1]).collect();
    let square = cx.broadcast(flat, square_shape.clone(), dims)?;
    let eye_ty = Type::new(Elem::I64, Shape(vec![n.clone(), n.clone()]));
    let rows = cx.iota(eye_ty.clone(), 0)?;
    let cols = cx.iota(eye_ty, 1)?;
    let diag = cx.cmp(CmpOp::Eq, rows, cols)?;
    let diag = cx.broadcast(diag, square_shape, vec![k, k + 1])?;
    let one = cx.splat_like(square, 1.0)?;
    let others = cx.select(diag, one, square)?;
    cx.reduce(ReduceOp::Prod, others, vec![k + 1])
}

/// JVP of `y = reduce(x)`.
pub(crate) fn jvp(
    cx: &mut Emitter,
    op: ReduceOp,
    axes: &[usize],
    x: Value,
    y: Value,
    dx: Option<Value>,
) -> Result<Option<Value>, AdError> {
    let Some(t) = dx else { return Ok(None) };
    if axes.is_empty() {
        return Ok(Some(t));
    }
    let scaled = match weight(cx, op, axes, x, y)? {
        Some(w) => cx.mul(t, w)?,
        None => t,
    };
    Ok(Some(cx.reduce_sum(scaled, axes.to_vec())?))
}

/// VJP of `y = reduce(x)`.
pub(crate) fn vjp(
    cx: &mut Emitter,
    op: ReduceOp,
    axes: &[usize],
    x: Value,
    y: Value,
    g: Value,
) -> Result<Option<Value>, AdError> {
    if axes.is_empty() {
        return Ok(Some(g));
    }
    let spread = expand(cx, g, x, axes)?;
    Ok(Some(match weight(cx, op, axes, x, y)? {
        Some(w) => cx.mul(spread, w)?,
        None => spread,
    }))
}

/// Batching rule of the reductions: the same reduction, axes shifted past
/// the batch axis.
pub(crate) fn batch(
    cx: &mut Emitter,
    op: ReduceOp,
    axes: &[usize],
    x: Value,
) -> Result<Value, AdError> {
    let axes = axes.iter().map(|a| a + 1).collect();
    cx.push1(Op::Reduce { op, axes }, &[x])
}
