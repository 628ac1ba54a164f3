//! Rules of `matmul` (`[B.., m, k] × [B.., k, n] → [B.., m, n]`).
//!
//! Bilinear: the JVP is `ȧ·b + a·ḃ`; the transpose rules are
//! `ā = ȳ·bᵀ` and `b̄ = aᵀ·ȳ` (transposing the last two axes, batch axes
//! carried along).

use super::super::AdError;
use super::super::batch::to_batched;
use super::super::emit::Emitter;
use adjit_ir::{Dim, Shape, Value};

/// JVP of `y = a·b`.
pub(crate) fn matmul_jvp(
    cx: &mut Emitter,
    x: &[Value],
    dx: &[Option<Value>],
) -> Result<Option<Value>, AdError> {
    let left = match dx[0] {
        Some(da) => Some(cx.matmul(da, x[1])?),
        None => None,
    };
    let right = match dx[1] {
        Some(db) => Some(cx.matmul(x[0], db)?),
        None => None,
    };
    cx.add_opt(left, right)
}

/// VJP of `y = a·b`.
pub(crate) fn matmul_vjp(
    cx: &mut Emitter,
    x: &[Value],
    g: Value,
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let mut out = vec![None, None];
    if needs[0] {
        let bt = cx.swap_last_two(x[1])?;
        out[0] = Some(cx.matmul(g, bt)?);
    }
    if needs[1] {
        let at = cx.swap_last_two(x[0])?;
        out[1] = Some(cx.matmul(at, g)?);
    }
    Ok(out)
}

/// Batching rule of `matmul`. A batched matrix times an unbatched one is a
/// single larger product (the batch folded into the rows of `a` or the
/// columns of `b`) rather than a product with a broadcast copy; with batch
/// axes of their own, the unbatched operand is broadcast.
pub(crate) fn matmul_batch(
    cx: &mut Emitter,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<Value, AdError> {
    let (a, b) = (x[0], x[1]);
    let plain_rank = cx.ty(if xb[0] { b } else { a }).rank();
    match (xb[0], xb[1]) {
        (true, false) if plain_rank == 2 => {
            // [B, m, k] → [B·m, k] · [k, n] → [B, m, n]
            let s = cx.shape(a);
            let (m, k) = (s.dims()[1].clone(), s.dims()[2].clone());
            let n = cx.shape(b).dims()[1].clone();
            let rows = cx.reshape(a, Shape(vec![size.checked_mul(&m)?, k]))?;
            let p = cx.matmul(rows, b)?;
            cx.reshape(p, Shape(vec![size.clone(), m, n]))
        }
        (false, true) if plain_rank == 2 => {
            // [m, k] · ([B, k, n] → [k, B·n]) → [m, B, n] → [B, m, n]
            let s = cx.shape(b);
            let (k, n) = (s.dims()[1].clone(), s.dims()[2].clone());
            let m = cx.shape(a).dims()[0].clone();
            let bt = cx.transpose(b, vec![1, 0, 2])?;
            let cols = cx.reshape(bt, Shape(vec![k, size.checked_mul(&n)?]))?;
            let p = cx.matmul(a, cols)?;
            let p = cx.reshape(p, Shape(vec![m, size.clone(), n]))?;
            cx.transpose(p, vec![1, 0, 2])
        }
        _ => {
            let a = if xb[0] { a } else { to_batched(cx, a, size)? };
            let b = if xb[1] { b } else { to_batched(cx, b, size)? };
            cx.matmul(a, b)
        }
    }
}
