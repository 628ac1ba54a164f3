//! Rules of the structural ops: broadcast, reshape, transpose, slice, pad,
//! concat, gather and scatter-add.
//!
//! All are linear in their float operand, so each JVP applies the op itself
//! to the tangent, and each VJP is the transpose:
//!
//! | op | transpose |
//! |---|---|
//! | `broadcast` | `reduce_sum` over the new axes and the stretched size-1 axes, reshaped back |
//! | `reshape` | `reshape` back |
//! | `transpose` | `transpose` by the inverse permutation |
//! | `slice` (strided) | `pad` with zeros (interior padding `step − 1`) |
//! | `pad` | `slice` (stride `interior + 1`) |
//! | `concat` | one `slice` per operand |
//! | `gather` | `scatter_add` |
//! | `scatter_add` | `gather` |
//!
//! Bounds are computed with checked [`Dim`] arithmetic, so the rules work on
//! symbolic shapes (`slice` of `f64[n]` to `1:n` transposes to a pad by 1
//! before and 0 after).

use super::super::AdError;
use super::super::batch::to_batched;
use super::super::emit::Emitter;
use adjit_ir::{CmpOp, Dim, Elem, Op, Shape, SliceRange, Type, Value};

/// JVP of an op that is linear in its first operand and whose other
/// operands (indices) are constant: the op applied to the tangent.
pub(crate) fn linear_jvp(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    dx: &[Option<Value>],
) -> Result<Option<Value>, AdError> {
    let Some(t) = dx[0] else { return Ok(None) };
    let mut args = x.to_vec();
    args[0] = t;
    Ok(Some(cx.push1(op.clone(), &args)?))
}

/// `d` as a known `i64` step or size.
fn dim_of(k: u64) -> Result<Dim, AdError> {
    i64::try_from(k)
        .map(Dim::Known)
        .map_err(|_| AdError::Overflow)
}

/// VJP of `broadcast`: sum over the axes that were created or stretched.
pub(crate) fn broadcast_vjp(
    cx: &mut Emitter,
    x: Value,
    dims: &[usize],
    g: Value,
) -> Result<Value, AdError> {
    let from = cx.shape(x);
    let to = cx.shape(g);
    let mut summed = Vec::new();
    for axis in 0..to.rank() {
        let stretched = match dims.iter().position(|&d| d == axis) {
            None => true,
            Some(i) => from.dims()[i].is(1) && !to.dims()[axis].is(1),
        };
        if stretched {
            summed.push(axis);
        }
    }
    let s = cx.reduce_sum(g, summed)?;
    cx.reshape(s, from)
}

/// VJP of `reshape`.
pub(crate) fn reshape_vjp(cx: &mut Emitter, x: Value, g: Value) -> Result<Value, AdError> {
    let shape = cx.shape(x);
    cx.reshape(g, shape)
}

/// The inverse of a permutation.
pub(crate) fn inverse(perm: &[usize]) -> Vec<usize> {
    let mut inv = vec![0; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inv[p] = i;
    }
    inv
}

/// VJP of `transpose`.
pub(crate) fn transpose_vjp(cx: &mut Emitter, perm: &[usize], g: Value) -> Result<Value, AdError> {
    cx.transpose(g, inverse(perm))
}

/// VJP of `slice`: pad the cotangent back to the operand's shape, with
/// `step − 1` zeros between neighbours.
pub(crate) fn slice_vjp(
    cx: &mut Emitter,
    x: Value,
    ranges: &[SliceRange],
    g: Value,
) -> Result<Value, AdError> {
    let from = cx.shape(x);
    let (mut lo, mut hi, mut interior) = (Vec::new(), Vec::new(), Vec::new());
    for (r, d) in ranges.iter().zip(from.dims()) {
        let len = Dim::range_len(&r.start, &r.stop, r.step)?.ok_or(AdError::Internal {
            message: "a strided slice with an unknown length".into(),
        })?;
        // The last element taken is at start + (len − 1)·step.
        let after_last = if r.step == 1 {
            r.stop.clone()
        } else if len.is(0) {
            r.start.clone()
        } else {
            let span = len.checked_sub(&Dim::ONE)?.checked_mul(&dim_of(r.step)?)?;
            r.start.checked_add(&span)?.checked_add(&Dim::ONE)?
        };
        lo.push(r.start.clone());
        hi.push(d.checked_sub(&after_last)?);
        interior.push(r.step - 1);
    }
    cx.pad_zero(g, lo, hi, interior)
}

/// JVP of `pad`: the tangent padded with zeros (the padding value is a constant).
pub(crate) fn pad_jvp(
    cx: &mut Emitter,
    lo: &[Dim],
    hi: &[Dim],
    interior: &[u64],
    dx: Option<Value>,
) -> Result<Option<Value>, AdError> {
    let Some(t) = dx else { return Ok(None) };
    Ok(Some(cx.pad_zero(
        t,
        lo.to_vec(),
        hi.to_vec(),
        interior.to_vec(),
    )?))
}

/// VJP of `pad`: the strided slice that picks the operand's elements.
pub(crate) fn pad_vjp(
    cx: &mut Emitter,
    x: Value,
    lo: &[Dim],
    interior: &[u64],
    g: Value,
) -> Result<Value, AdError> {
    let from = cx.shape(x);
    let mut ranges = Vec::with_capacity(from.rank());
    for (axis, d) in from.dims().iter().enumerate() {
        let start = lo[axis].clone();
        let step = interior[axis].checked_add(1).ok_or(AdError::Overflow)?;
        let stop = if step == 1 {
            start.checked_add(d)?
        } else {
            match d.known() {
                Some(0) => start.clone(),
                Some(k) => {
                    let span = Dim::Known(k - 1).checked_mul(&dim_of(step)?)?;
                    start.checked_add(&span)?.checked_add(&Dim::ONE)?
                }
                None => {
                    return Err(AdError::Internal {
                        message: "interior padding of an axis of unknown size".into(),
                    });
                }
            }
        };
        ranges.push(SliceRange { start, stop, step });
    }
    cx.slice(g, ranges)
}

/// Where each operand of a concat starts along `axis`, and the total.
fn offsets(cx: &Emitter, axis: usize, x: &[Value]) -> Result<(Vec<Dim>, Dim), AdError> {
    let mut at = Dim::ZERO;
    let mut out = Vec::with_capacity(x.len());
    for &v in x {
        out.push(at.clone());
        at = at.checked_add(&cx.shape(v).dims()[axis])?;
    }
    Ok((out, at))
}

/// JVP of `concat`. One active operand: its tangent padded into place;
/// several: the concat of the tangents, with splat zeros for the inactive.
pub(crate) fn concat_jvp(
    cx: &mut Emitter,
    axis: usize,
    x: &[Value],
    dx: &[Option<Value>],
) -> Result<Option<Value>, AdError> {
    let present: Vec<usize> = (0..x.len()).filter(|&i| dx[i].is_some()).collect();
    match present.as_slice() {
        [] => Ok(None),
        [i] => {
            let t = dx[*i].unwrap_or(x[*i]);
            let (offs, total) = offsets(cx, axis, x)?;
            let rank = cx.ty(t).rank();
            let len = cx.shape(t).dims()[axis].clone();
            let mut lo = vec![Dim::ZERO; rank];
            let mut hi = vec![Dim::ZERO; rank];
            lo[axis] = offs[*i].clone();
            hi[axis] = total.checked_sub(&offs[*i])?.checked_sub(&len)?;
            Ok(Some(cx.pad_zero(t, lo, hi, vec![0; rank])?))
        }
        _ => {
            let mut parts = Vec::with_capacity(x.len());
            for (i, &v) in x.iter().enumerate() {
                parts.push(match dx[i] {
                    Some(t) => t,
                    None => cx.splat_like(v, 0.0)?,
                });
            }
            Ok(Some(cx.concat(&parts, axis)?))
        }
    }
}

/// VJP of `concat`: each operand's piece of the cotangent.
pub(crate) fn concat_vjp(
    cx: &mut Emitter,
    axis: usize,
    x: &[Value],
    g: Value,
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let (offs, _) = offsets(cx, axis, x)?;
    let mut out = Vec::with_capacity(x.len());
    for (i, &v) in x.iter().enumerate() {
        if !needs[i] {
            out.push(None);
            continue;
        }
        let stop = offs[i].checked_add(&cx.shape(v).dims()[axis])?;
        out.push(Some(cx.slice_axis(g, axis, offs[i].clone(), stop)?));
    }
    Ok(out)
}

/// VJP of `gather` (w.r.t. the gathered operand): scatter-add back.
pub(crate) fn gather_vjp(
    cx: &mut Emitter,
    x: &[Value],
    axis: usize,
    g: Value,
) -> Result<Value, AdError> {
    let size = cx.shape(x[0]).dims()[axis].clone();
    cx.scatter_add(g, x[1], axis, size)
}

/// VJP of `scatter_add` (w.r.t. the updates): gather at the same indices.
pub(crate) fn scatter_add_vjp(
    cx: &mut Emitter,
    x: &[Value],
    axis: usize,
    g: Value,
) -> Result<Value, AdError> {
    cx.gather(g, x[1], axis)
}

/// Batching rule of the single-operand structural ops: the op with the batch
/// axis prepended to its attributes.
pub(crate) fn batch_one(cx: &mut Emitter, op: &Op, x: Value, size: &Dim) -> Result<Value, AdError> {
    let lead = |shape: &Shape| {
        let mut dims = vec![size.clone()];
        dims.extend_from_slice(shape.dims());
        Shape(dims)
    };
    let shifted = |axes: &[usize]| -> Vec<usize> {
        std::iter::once(0)
            .chain(axes.iter().map(|a| a + 1))
            .collect()
    };
    let op = match op {
        Op::Broadcast { shape, dims } => Op::Broadcast {
            shape: lead(shape),
            dims: shifted(dims),
        },
        Op::Reshape { shape } => Op::Reshape { shape: lead(shape) },
        Op::Transpose { perm } => Op::Transpose {
            perm: shifted(perm),
        },
        Op::Slice { ranges } => {
            let mut all = vec![SliceRange {
                start: Dim::ZERO,
                stop: size.clone(),
                step: 1,
            }];
            all.extend_from_slice(ranges);
            Op::Slice { ranges: all }
        }
        Op::Pad {
            lo,
            hi,
            interior,
            value,
        } => Op::Pad {
            lo: std::iter::once(Dim::ZERO)
                .chain(lo.iter().cloned())
                .collect(),
            hi: std::iter::once(Dim::ZERO)
                .chain(hi.iter().cloned())
                .collect(),
            interior: std::iter::once(0).chain(interior.iter().copied()).collect(),
            value: *value,
        },
        other => {
            return Err(AdError::Internal {
                message: format!("`{}` is not a single-operand structural op", other.name()),
            });
        }
    };
    cx.push1(op, &[x])
}

/// Batching rule of `concat`.
pub(crate) fn concat_batch(
    cx: &mut Emitter,
    axis: usize,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<Value, AdError> {
    let mut args = Vec::with_capacity(x.len());
    for (&v, &b) in x.iter().zip(xb) {
        args.push(if b { v } else { to_batched(cx, v, size)? });
    }
    cx.concat(&args, axis + 1)
}

/// Indices of a batched gather or scatter along an axis of size `len`,
/// clamped into range (as the ops do) and offset by `b·len` for batch
/// element `b`, so that they index the batch and the axis merged into one.
fn merged_indices(cx: &mut Emitter, idx: Value, len: &Dim) -> Result<Value, AdError> {
    let ty = cx.ty(idx).clone();
    let last = cx.size(len.checked_sub(&Dim::ONE)?, Elem::I64)?;
    let last = cx.broadcast(last, ty.shape.clone(), vec![])?;
    let zero = cx.splat(ty.clone(), 0.0)?;
    let above = cx.cmp(CmpOp::Gt, idx, last)?;
    let clamped = cx.select(above, last, idx)?;
    let neg = cx.cmp(CmpOp::Lt, clamped, zero)?;
    let clamped = cx.select(neg, zero, clamped)?;
    let b = cx.iota(Type::new(Elem::I64, ty.shape.clone()), 0)?;
    let n = cx.size(len.clone(), Elem::I64)?;
    let n = cx.broadcast(n, ty.shape, vec![])?;
    let off = cx.mul(b, n)?;
    cx.add(clamped, off)
}

/// Batching rule of `gather`.
pub(crate) fn gather_batch(
    cx: &mut Emitter,
    axis: usize,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<Value, AdError> {
    let (v, idx) = (x[0], x[1]);
    match (xb[0], xb[1]) {
        (true, false) => cx.gather(v, idx, axis + 1),
        (false, true) => {
            // The batch axis lands where `axis` was; move it to the front.
            let g = cx.gather(v, idx, axis)?;
            let rank = cx.ty(g).rank();
            let perm = std::iter::once(axis)
                .chain((0..rank).filter(|&a| a != axis))
                .collect();
            cx.transpose(g, perm)
        }
        _ => {
            // v: [B, P.., A, Q..], idx: [B, I..]. Merge B and A into one axis.
            let vs = cx.shape(v);
            let p = axis;
            let len = vs.dims()[axis + 1].clone();
            let rank = vs.rank();
            let perm: Vec<usize> = [0, axis + 1]
                .into_iter()
                .chain((1..rank).filter(|&a| a != axis + 1))
                .collect();
            let vt = cx.transpose(v, perm)?;
            let mut merged = vec![size.checked_mul(&len)?];
            merged.extend_from_slice(&cx.shape(vt).dims()[2..]);
            let flat = cx.reshape(vt, Shape(merged))?;
            let mi = merged_indices(cx, idx, &len)?;
            // [B, I.., P.., Q..] → [B, P.., I.., Q..]
            let g = cx.gather(flat, mi, 0)?;
            let ni = cx.ty(idx).rank() - 1;
            let grank = cx.ty(g).rank();
            let perm: Vec<usize> = std::iter::once(0)
                .chain(1 + ni..1 + ni + p)
                .chain(1..1 + ni)
                .chain(1 + ni + p..grank)
                .collect();
            cx.transpose(g, perm)
        }
    }
}

/// Batching rule of `scatter_add`.
pub(crate) fn scatter_add_batch(
    cx: &mut Emitter,
    axis: usize,
    len: &Dim,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<Value, AdError> {
    let (u, idx) = (x[0], x[1]);
    if !xb[1] {
        return cx.scatter_add(u, idx, axis + 1, len.clone());
    }
    let u = if xb[0] { u } else { to_batched(cx, u, size)? };
    // u: [B, P.., I.., Q..], idx: [B, I..] → scatter into [B·len, P.., Q..].
    let p = axis;
    let ni = cx.ty(idx).rank() - 1;
    let urank = cx.ty(u).rank();
    let perm: Vec<usize> = std::iter::once(0)
        .chain(1 + p..1 + p + ni)
        .chain(1..1 + p)
        .chain(1 + p + ni..urank)
        .collect();
    let ut = cx.transpose(u, perm)?;
    let mi = merged_indices(cx, idx, len)?;
    let s = cx.scatter_add(ut, mi, 0, size.checked_mul(len)?)?;
    // [B·len, P.., Q..] → [B, len, P.., Q..] → [B, P.., len, Q..]
    let mut split = vec![size.clone(), len.clone()];
    split.extend_from_slice(&cx.shape(s).dims()[1..]);
    let srank = split.len();
    let s = cx.reshape(s, Shape(split))?;
    let perm: Vec<usize> = std::iter::once(0)
        .chain(2..2 + p)
        .chain(std::iter::once(1))
        .chain(2 + p..srank)
        .collect();
    cx.transpose(s, perm)
}
