//! The derivative rules of every op, and the three dispatchers that pick
//! them: `jvp` (forward), `vjp` (reverse) and `batch` (vmap).
//!
//! Each dispatcher is one exhaustive `match` over [`Op`] with no `_ =>` arm,
//! so adding an op makes the compiler ask for its rules. The rules of one op
//! live side by side in one file — its JVP, its VJP (transpose) and its
//! batching rule:
//!
//! | file | ops |
//! |---|---|
//! | [`elementwise`] | unary, binary, compare, select, convert |
//! | [`structural`] | broadcast, reshape, transpose, slice, pad, concat, gather, scatter-add |
//! | [`reduce`] | reduce sum / prod / max / min |
//! | [`linalg`] | matmul |
//! | [`control`] | call, scan, while, scan_adjoint |
//!
//! `const`, `iota` and `size` have no operands, hence no derivative and no
//! batch axis; their arms are here.
//!
//! Conventions shared by all rules:
//! - Operand and result values are those of the function being built: a JVP
//!   rule receives the operands and their tangents and emits the primal node
//!   itself (so `call` can compute both in one call); a VJP rule receives
//!   the primal operands and results (already computed by the primal sweep),
//!   the results' cotangents, and which operands need a cotangent.
//! - `None` is a symbolic zero, both in and out. A rule never emits a zero
//!   array to stand for a tangent or cotangent; where an op needs a full
//!   operand (one branch of `select`, pieces of `concat`), a splat literal 0
//!   stands in for the missing side.
//! - A batched value has the batch axis first.

pub mod control;
pub mod elementwise;
pub mod linalg;
pub mod reduce;
pub mod structural;

use super::AdError;
use super::emit::Emitter;
use adjit_ir::{Dim, Op, Value};

/// What a JVP rule returns: the primal results and their tangents.
pub(crate) type JvpOut = (Vec<Value>, Vec<Option<Value>>);

/// What a batching rule returns: the results and whether each is batched.
pub(crate) type BatchOut = (Vec<Value>, Vec<bool>);

/// Emits the primal node `op(x)` and, from its single result, the tangent.
fn single(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    rule: impl FnOnce(&mut Emitter, Value) -> Result<Option<Value>, AdError>,
) -> Result<JvpOut, AdError> {
    let y = cx.push1(op.clone(), x)?;
    let t = rule(cx, y)?;
    Ok((vec![y], vec![t]))
}

/// The JVP of one node: emits `op(x)` and the tangents of its results.
/// `dx` holds the operands' tangents; `want` says which results' tangents
/// are needed (the others may be returned as `None`).
pub(crate) fn jvp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    dx: &[Option<Value>],
    want: &[bool],
) -> Result<JvpOut, AdError> {
    use elementwise as ew;
    use structural as st;
    match op {
        Op::Const { .. } | Op::Iota { .. } | Op::Size { .. } => single(cx, op, x, |_, _| Ok(None)),
        Op::Unary(u) => single(cx, op, x, |cx, y| ew::unary_jvp(cx, *u, x[0], y, dx[0])),
        Op::Binary(b) => single(cx, op, x, |cx, y| ew::binary_jvp(cx, *b, x, y, dx)),
        Op::Compare(_) => single(cx, op, x, |_, _| Ok(None)),
        Op::Select => single(cx, op, x, |cx, _| ew::select_jvp(cx, x, dx)),
        Op::Convert { elem } => single(cx, op, x, |cx, _| ew::convert_jvp(cx, *elem, x[0], dx[0])),
        Op::Broadcast { .. } | Op::Reshape { .. } | Op::Transpose { .. } | Op::Slice { .. } => {
            single(cx, op, x, |cx, _| st::linear_jvp(cx, op, x, dx))
        }
        Op::Pad {
            lo, hi, interior, ..
        } => single(cx, op, x, |cx, _| st::pad_jvp(cx, lo, hi, interior, dx[0])),
        Op::Concat { axis } => single(cx, op, x, |cx, _| st::concat_jvp(cx, *axis, x, dx)),
        Op::Gather { .. } | Op::ScatterAdd { .. } => {
            single(cx, op, x, |cx, _| st::linear_jvp(cx, op, x, dx))
        }
        Op::Reduce { op: r, axes } => {
            single(cx, op, x, |cx, y| reduce::jvp(cx, *r, axes, x[0], y, dx[0]))
        }
        Op::Matmul => single(cx, op, x, |cx, _| linalg::matmul_jvp(cx, x, dx)),
        Op::Call { func } => control::call_jvp(cx, func, x, dx, want),
        Op::Scan { .. } => control::scan_jvp(cx, op, x, dx, want),
        Op::While { .. } => control::while_jvp(cx, op, x, dx),
        Op::ScanAdjoint { .. } => control::scan_adjoint_jvp(cx, op, x, dx, want),
    }
}

/// The VJP of one node: the contributions of the results' cotangents `ybar`
/// to each operand's cotangent (`None` for operands not in `needs`).
pub(crate) fn vjp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    y: &[Value],
    ybar: &[Option<Value>],
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    use elementwise as ew;
    use structural as st;
    let one = |v: Option<Value>| Ok(vec![v]);
    // Every op but `call` has one result, whose cotangent is present or the
    // node would not have been visited; `call` reads `ybar` itself.
    let Some(g) = ybar.iter().flatten().next().copied() else {
        return Ok(vec![None; x.len()]);
    };
    match op {
        Op::Const { .. } | Op::Iota { .. } | Op::Size { .. } => Ok(Vec::new()),
        Op::Unary(u) => one(ew::unary_vjp(cx, *u, x[0], y[0], g)?),
        Op::Binary(b) => ew::binary_vjp(cx, *b, x, y[0], g, needs),
        Op::Compare(_) => Ok(vec![None, None]),
        Op::Select => ew::select_vjp(cx, x, g, needs),
        Op::Convert { .. } => one(ew::convert_vjp(cx, x[0], g)?),
        Op::Broadcast { dims, .. } => one(Some(st::broadcast_vjp(cx, x[0], dims, g)?)),
        Op::Reshape { .. } => one(Some(st::reshape_vjp(cx, x[0], g)?)),
        Op::Transpose { perm } => one(Some(st::transpose_vjp(cx, perm, g)?)),
        Op::Slice { ranges } => one(Some(st::slice_vjp(cx, x[0], ranges, g)?)),
        Op::Pad { lo, interior, .. } => one(Some(st::pad_vjp(cx, x[0], lo, interior, g)?)),
        Op::Concat { axis } => st::concat_vjp(cx, *axis, x, g, needs),
        Op::Gather { axis } => Ok(vec![Some(st::gather_vjp(cx, x, *axis, g)?), None]),
        Op::ScatterAdd { axis, .. } => Ok(vec![Some(st::scatter_add_vjp(cx, x, *axis, g)?), None]),
        Op::Reduce { op: r, axes } => one(reduce::vjp(cx, *r, axes, x[0], y[0], g)?),
        Op::Matmul => linalg::matmul_vjp(cx, x, g, needs),
        Op::Call { func } => control::call_vjp(cx, func, x, ybar, needs),
        Op::Scan { .. } => control::scan_vjp(cx, op, x, ybar, needs),
        Op::While { .. } => control::while_vjp(cx, op, x, y, ybar, needs),
        Op::ScanAdjoint { .. } => control::scan_adjoint_vjp(cx, op, x, ybar, needs),
    }
}

/// The batching rule of one node: `op` applied to operands of which those
/// flagged in `xb` carry a leading batch axis of `size`.
pub(crate) fn batch(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<BatchOut, AdError> {
    use elementwise as ew;
    use structural as st;
    let one = |v: Value| Ok((vec![v], vec![true]));
    match op {
        Op::Const { .. } | Op::Iota { .. } | Op::Size { .. } => {
            let y = cx.push(op.clone(), x)?;
            let yb = vec![false; y.len()];
            Ok((y, yb))
        }
        Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Convert { .. } => {
            one(ew::batch(cx, op, x, xb, size)?)
        }
        Op::Broadcast { .. }
        | Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Pad { .. } => one(st::batch_one(cx, op, x[0], size)?),
        Op::Concat { axis } => one(st::concat_batch(cx, *axis, x, xb, size)?),
        Op::Gather { axis } => one(st::gather_batch(cx, *axis, x, xb, size)?),
        Op::ScatterAdd { axis, size: len } => {
            one(st::scatter_add_batch(cx, *axis, len, x, xb, size)?)
        }
        Op::Reduce { op: r, axes } => one(reduce::batch(cx, *r, axes, x[0])?),
        Op::Matmul => one(linalg::matmul_batch(cx, x, xb, size)?),
        Op::Call { func } => control::call_batch(cx, func, x, xb, size),
        Op::Scan { .. } => control::scan_batch(cx, op, x, xb, size),
        Op::While { .. } => control::while_batch(cx, op, x, xb, size),
        Op::ScanAdjoint { .. } => control::scan_adjoint_batch(cx, op, x, xb, size),
    }
}
