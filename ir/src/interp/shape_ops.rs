//! Structural kernels: broadcast, reshape, transpose, slice, concat, pad,
//! gather, scatter_add, reductions and matmul.
//!
//! Every kernel checks its operands against the op's type rule (with the
//! attributes already evaluated to concrete sizes) before it allocates, and
//! sizes its result with [`Meter::count`]. Index arithmetic is safe because
//! of two facts kernels establish first: an operand's element count fits
//! `usize` (it exists), and a non-empty result's every partial product is at
//! most its element count; empty results return before any index is formed.
//! The semantics are documented in [`super`].

use super::buf::{
    Buf, Elt, Fault, Meter, Num, Operand, for_each_row, for_elem, for_num, malformed, strides,
    typed,
};
use super::elementwise::{max_f32, max_f64, min_f32, min_f64, scalar_as};
use crate::op::{ReduceOp, Scalar};
use crate::tensor::Data;
use crate::types::Elem;
use std::rc::Rc;

/// The product of `dims`; callers only use it where it cannot overflow, and it
/// saturates rather than wraps if that reasoning were ever wrong.
fn prod(dims: &[usize]) -> usize {
    dims.iter().fold(1usize, |a, &d| a.saturating_mul(d))
}

/// An empty buffer of the given shape (whose count the caller found to be 0).
pub(super) fn empty(m: &Rc<Meter>, elem: Elem, shape: Vec<usize>) -> Buf {
    Buf::new(m, shape, for_elem!(elem, T => T::wrap(Vec::new())))
}

/// Reads `out[i] = src[offset + Σ index_k · steps_k]` over the row-major
/// indices of `shape` (element count `n`).
fn strided_typed<T: Copy>(
    m: &Meter,
    src: &[T],
    offset: usize,
    shape: &[usize],
    steps: &[usize],
    n: usize,
) -> Result<Vec<T>, Fault> {
    let mut out = m.alloc(n)?;
    if n == 0 {
        return Ok(out);
    }
    // The farthest element read must exist (a guard against our own bugs).
    let last = shape.iter().zip(steps).try_fold(offset, |acc, (&d, &s)| {
        (d - 1).checked_mul(s).and_then(|x| acc.checked_add(x))
    });
    if last.is_none_or(|l| l >= src.len()) {
        return Err(malformed("strided read outside the operand"));
    }
    let Some((&len, outer)) = shape.split_last() else {
        out.push(src[offset]);
        return Ok(out);
    };
    let (&step, outer_steps) = steps.split_last().unwrap_or((&0, &[]));
    for_each_row(outer, [outer_steps], [offset], |[base]| match step {
        1 => out.extend_from_slice(&src[base..base + len]),
        0 => out.extend(std::iter::repeat_n(src[base], len)),
        s => out.extend((0..len).map(|j| src[base + j * s])),
    });
    Ok(out)
}

fn strided(
    m: &Rc<Meter>,
    data: &Data,
    offset: usize,
    shape: Vec<usize>,
    steps: &[usize],
) -> Result<Buf, Fault> {
    let n = m.count(&shape)?;
    let out = for_elem!(data.elem(), T => T::wrap(strided_typed::<T>(m, typed(data)?, offset, &shape, steps, n)?));
    Ok(Buf::new(m, shape, out))
}

/// Operand axis `i` becomes result axis `dims[i]`; size-1 axes stretch.
pub(super) fn broadcast(
    m: &Rc<Meter>,
    x: &Operand<'_>,
    shape: Vec<usize>,
    dims: &[usize],
) -> Result<Buf, Fault> {
    let xs = x.shape();
    if dims.len() != xs.len()
        || dims.windows(2).any(|w| w[0] >= w[1])
        || dims.iter().any(|&d| d >= shape.len())
    {
        return Err(malformed(format!(
            "dims {dims:?} must be increasing result axes of {shape:?}, one per axis of {xs:?}"
        )));
    }
    let xstr = strides(xs);
    let mut steps = vec![0; shape.len()];
    for (i, &d) in dims.iter().enumerate() {
        if xs[i] != shape[d] && xs[i] != 1 {
            return Err(malformed(format!(
                "cannot broadcast {xs:?} to {shape:?}: axis {i} has size {}, target axis {d} has {}",
                xs[i], shape[d]
            )));
        }
        if xs[i] != 1 {
            steps[d] = xstr[i];
        }
    }
    strided(m, x.data(), 0, shape, &steps)
}

/// Same elements in row-major order, new shape.
pub(super) fn reshape(m: &Rc<Meter>, x: &mut Operand<'_>, shape: Vec<usize>) -> Result<Buf, Fault> {
    let n = m.count(&shape)?;
    if n != x.data().len() {
        return Err(malformed(format!(
            "cannot reshape {:?} ({} elements) to {shape:?} ({n} elements)",
            x.shape(),
            x.data().len()
        )));
    }
    if let Some(mut buf) = x.take_buf() {
        buf.shape = shape;
        return Ok(buf);
    }
    let data = for_elem!(x.elem(), T => {
        let mut out = m.alloc(n)?;
        out.extend_from_slice(typed::<T>(x.data())?);
        T::wrap(out)
    });
    Ok(Buf::new(m, shape, data))
}

/// Result axis `i` is operand axis `perm[i]`.
pub(super) fn transpose(m: &Rc<Meter>, x: &mut Operand<'_>, perm: &[usize]) -> Result<Buf, Fault> {
    let xs = x.shape();
    let mut seen = vec![false; xs.len()];
    if perm.len() != xs.len()
        || perm
            .iter()
            .any(|&p| p >= xs.len() || std::mem::replace(&mut seen[p], true))
    {
        return Err(malformed(format!(
            "perm {perm:?} is not a permutation of the axes of {xs:?}"
        )));
    }
    if perm.iter().enumerate().all(|(i, &p)| i == p) {
        let shape = xs.to_vec();
        return reshape(m, x, shape);
    }
    let xstr = strides(xs);
    let shape = perm.iter().map(|&p| xs[p]).collect();
    let steps: Vec<usize> = perm.iter().map(|&p| xstr[p]).collect();
    strided(m, x.data(), 0, shape, &steps)
}

/// One evaluated slice range: `start:stop:step`.
pub(super) struct Range {
    pub(super) start: i64,
    pub(super) stop: i64,
    pub(super) step: u64,
}

/// A strided box, one range per axis.
pub(super) fn slice(m: &Rc<Meter>, x: &Operand<'_>, ranges: &[Range]) -> Result<Buf, Fault> {
    let xs = x.shape();
    if ranges.len() != xs.len() {
        return Err(malformed(format!(
            "needs one range per axis of {xs:?}, got {}",
            ranges.len()
        )));
    }
    let xstr = strides(xs);
    let mut shape = Vec::with_capacity(xs.len());
    let mut steps = Vec::with_capacity(xs.len());
    let mut offset = 0usize;
    for (axis, (r, &size)) in ranges.iter().zip(xs).enumerate() {
        if r.step == 0 {
            return Err(malformed(format!("axis {axis}: step must be at least 1")));
        }
        let within =
            0 <= r.start && r.start <= r.stop && usize::try_from(r.stop).is_ok_and(|s| s <= size);
        if !within {
            return Err(Fault::SliceOutOfBounds {
                axis,
                start: r.start,
                stop: r.stop,
                size,
            });
        }
        // 0 <= start <= stop <= size, so these conversions are exact.
        let (start, span) = (r.start as usize, (r.stop - r.start) as u64);
        let len = if span == 0 {
            0
        } else {
            (span - 1) / r.step + 1
        };
        let len = len as usize;
        shape.push(len);
        steps.push(if len <= 1 {
            0
        } else {
            // (len-1)·step < span <= size, so this is below the operand's count.
            (r.step as usize).saturating_mul(xstr[axis])
        });
        offset = offset.saturating_add(start.saturating_mul(xstr[axis]));
    }
    if m.count(&shape)? == 0 {
        return Ok(empty(m, x.elem(), shape));
    }
    strided(m, x.data(), offset, shape, &steps)
}

/// Operands joined along `axis`.
pub(super) fn concat(m: &Rc<Meter>, args: &[Operand<'_>], axis: usize) -> Result<Buf, Fault> {
    let Some(first) = args.first() else {
        return Err(malformed("needs at least one operand"));
    };
    let fs = first.shape();
    if axis >= fs.len() {
        return Err(malformed(format!("axis {axis} out of range for {fs:?}")));
    }
    let mut total = 0usize;
    for (i, a) in args.iter().enumerate() {
        let s = a.shape();
        let compatible = a.elem() == first.elem()
            && s.len() == fs.len()
            && s.iter()
                .zip(fs)
                .enumerate()
                .all(|(j, (p, q))| j == axis || p == q);
        if !compatible {
            return Err(malformed(format!(
                "operand {i} of type {}{s:?} does not match {}{fs:?} except along axis {axis}",
                a.elem(),
                first.elem()
            )));
        }
        total = total.checked_add(s[axis]).ok_or_else(|| Fault::TooLarge {
            shape: fs.to_vec(),
            limit: usize::MAX,
        })?;
    }
    let mut shape = fs.to_vec();
    shape[axis] = total;
    let n = m.count(&shape)?;
    if n == 0 {
        return Ok(empty(m, first.elem(), shape));
    }
    let outer = prod(&shape[..axis]);
    let inner = prod(&shape[axis + 1..]);
    let data = for_elem!(first.elem(), T => {
        let parts: Vec<(&[T], usize)> = args
            .iter()
            .map(|a| Ok((typed::<T>(a.data())?, a.shape()[axis] * inner)))
            .collect::<Result<_, Fault>>()?;
        let mut out = m.alloc(n)?;
        for o in 0..outer {
            for &(src, chunk) in &parts {
                out.extend_from_slice(&src[o * chunk..(o + 1) * chunk]);
            }
        }
        T::wrap(out)
    });
    Ok(Buf::new(m, shape, data))
}

/// Padding along each axis: `lo`, `hi` and `interior`, all `value`.
pub(super) fn pad(
    m: &Rc<Meter>,
    x: &Operand<'_>,
    lo: &[usize],
    hi: &[usize],
    interior: &[u64],
    value: Scalar,
) -> Result<Buf, Fault> {
    let xs = x.shape();
    let rank = xs.len();
    if lo.len() != rank || hi.len() != rank || interior.len() != rank {
        return Err(malformed(format!(
            "lo, hi and interior need one entry per axis of {xs:?}"
        )));
    }
    let mut shape = Vec::with_capacity(rank);
    for k in 0..rank {
        let gaps = usize::try_from(interior[k])
            .ok()
            .and_then(|i| i.checked_mul(xs[k].saturating_sub(1)));
        let d = gaps
            .and_then(|g| g.checked_add(xs[k]))
            .and_then(|d| d.checked_add(lo[k]))
            .and_then(|d| d.checked_add(hi[k]));
        match d {
            Some(d) => shape.push(d),
            None => {
                shape.push(usize::MAX);
                return Err(Fault::TooLarge {
                    shape,
                    limit: m.limits().max_elements,
                });
            }
        }
    }
    let n = m.count(&shape)?;
    let ostr = strides(&shape);
    let xstr = strides(xs);
    let data = for_elem!(x.elem(), T => {
        let fill = scalar_as::<T>(value)?;
        let src = typed::<T>(x.data())?;
        let mut out = m.filled(n, fill)?;
        if !src.is_empty() {
            // `src` non-empty makes `n` non-empty, so these offsets are below `n`.
            let base = lo.iter().zip(&ostr).map(|(&l, &s)| l * s).sum();
            let osteps: Vec<usize> = (0..rank)
                .map(|k| if xs[k] <= 1 { 0 } else { ostr[k] * (interior[k] as usize + 1) })
                .collect();
            match xs.split_last() {
                None => out[base] = src[0],
                Some((&len, outer)) => {
                    let ostep = osteps[rank - 1];
                    for_each_row(outer, [&xstr[..rank - 1], &osteps[..rank - 1]], [0, base], |[ib, ob]| {
                        for j in 0..len {
                            out[ob + j * ostep] = src[ib + j];
                        }
                    });
                }
            }
        }
        T::wrap(out)
    });
    Ok(Buf::new(m, shape, data))
}

/// The index clamped into `[0, d-1]` (`d >= 1`).
fn clamp(i: i64, d: usize) -> usize {
    let top = i64::try_from(d - 1).unwrap_or(i64::MAX);
    i.clamp(0, top) as usize
}

/// numpy `take` along `axis`, indices clamped.
pub(super) fn gather(m: &Rc<Meter>, args: &[Operand<'_>], axis: usize) -> Result<Buf, Fault> {
    let [x, idx] = args else {
        return Err(malformed(format!("takes 2 operands, got {}", args.len())));
    };
    let xs = x.shape();
    let indices = typed::<i64>(idx.data())?;
    if axis >= xs.len() {
        return Err(malformed(format!("axis {axis} out of range for {xs:?}")));
    }
    let mut shape = xs[..axis].to_vec();
    shape.extend_from_slice(idx.shape());
    shape.extend_from_slice(&xs[axis + 1..]);
    let n = m.count(&shape)?;
    if n == 0 {
        return Ok(empty(m, x.elem(), shape));
    }
    let d = xs[axis];
    if d == 0 {
        return Err(Fault::EmptyAxis { axis });
    }
    let outer = prod(&xs[..axis]);
    let inner = prod(&xs[axis + 1..]);
    let data = for_elem!(x.elem(), T => {
        let src = typed::<T>(x.data())?;
        let mut out = m.alloc(n)?;
        for o in 0..outer {
            for &i in indices {
                let start = (o * d + clamp(i, d)) * inner;
                out.extend_from_slice(&src[start..start + inner]);
            }
        }
        T::wrap(out)
    });
    Ok(Buf::new(m, shape, data))
}

fn scatter_typed<T: Num>(
    m: &Meter,
    upd: &[T],
    indices: &[i64],
    n: usize,
    (outer, size, inner): (usize, usize, usize),
) -> Result<Vec<T>, Fault> {
    let mut out = m.filled(n, T::ZERO)?;
    if upd.is_empty() {
        return Ok(out);
    }
    let count = indices.len();
    for o in 0..outer {
        for (j, &i) in indices.iter().enumerate() {
            let dst = (o * size + clamp(i, size)) * inner;
            let src = (o * count + j) * inner;
            for (a, &b) in out[dst..dst + inner].iter_mut().zip(&upd[src..src + inner]) {
                *a = a.add(b);
            }
        }
    }
    Ok(out)
}

/// Zeros with axis `axis` of size `size`, each slice of `updates` added at
/// its clamped index.
pub(super) fn scatter_add(
    m: &Rc<Meter>,
    args: &[Operand<'_>],
    axis: usize,
    size: usize,
) -> Result<Buf, Fault> {
    let [upd, idx] = args else {
        return Err(malformed(format!("takes 2 operands, got {}", args.len())));
    };
    let (us, is) = (upd.shape(), idx.shape());
    let indices = typed::<i64>(idx.data())?;
    let end = axis.checked_add(is.len()).filter(|&e| e <= us.len());
    let Some(end) = end.filter(|&e| us[axis..e] == *is) else {
        return Err(malformed(format!(
            "updates {us:?} must have the indices' shape {is:?} at axis {axis}"
        )));
    };
    let mut shape = us[..axis].to_vec();
    shape.push(size);
    shape.extend_from_slice(&us[end..]);
    let n = m.count(&shape)?;
    if size == 0 && !upd.data().is_empty() {
        return Err(Fault::EmptyAxis { axis });
    }
    // Non-empty updates make every partial product below their count.
    let dims = (prod(&us[..axis]), size, prod(&us[end..]));
    let data = for_num!(upd.elem(), T => {
        T::wrap(scatter_typed::<T>(m, typed(upd.data())?, indices, n, dims)?)
    });
    Ok(Buf::new(m, shape, data))
}

fn reduce_typed<T: Copy>(
    m: &Meter,
    src: &[T],
    xs: &[usize],
    kept: &[bool],
    n: usize,
    identity: T,
    f: impl Fn(T, T) -> T,
) -> Result<Vec<T>, Fault> {
    let mut out = m.filled(n, identity)?;
    if src.is_empty() {
        return Ok(out);
    }
    let Some((&len, outer)) = xs.split_last() else {
        out[0] = f(out[0], src[0]);
        return Ok(out);
    };
    // Output step of each operand axis: its output stride if kept, else 0.
    let kept_shape: Vec<usize> = xs
        .iter()
        .zip(kept)
        .filter(|(_, k)| **k)
        .map(|(&d, _)| d)
        .collect();
    let kept_strides = strides(&kept_shape);
    let mut next = kept_strides.iter();
    let osteps: Vec<usize> = kept
        .iter()
        .map(|&k| {
            if k {
                next.next().copied().unwrap_or(0)
            } else {
                0
            }
        })
        .collect();
    let xstr = strides(xs);
    let rank = xs.len();
    let last_kept = kept[rank - 1];
    for_each_row(
        outer,
        [&xstr[..rank - 1], &osteps[..rank - 1]],
        [0, 0],
        |[ib, ob]| {
            let row = &src[ib..ib + len];
            if last_kept {
                for (o, &x) in out[ob..ob + len].iter_mut().zip(row) {
                    *o = f(*o, x);
                }
            } else {
                let mut acc = out[ob];
                for &x in row {
                    acc = f(acc, x);
                }
                out[ob] = acc;
            }
        },
    );
    Ok(out)
}

/// Reduces the listed axes, which are removed.
pub(super) fn reduce(
    m: &Rc<Meter>,
    op: ReduceOp,
    x: &Operand<'_>,
    axes: &[usize],
) -> Result<Buf, Fault> {
    let xs = x.shape();
    if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= xs.len()) {
        return Err(malformed(format!(
            "axes {axes:?} must be increasing and below the rank {}",
            xs.len()
        )));
    }
    let kept: Vec<bool> = (0..xs.len()).map(|a| !axes.contains(&a)).collect();
    let shape: Vec<usize> = xs
        .iter()
        .zip(&kept)
        .filter(|(_, k)| **k)
        .map(|(&d, _)| d)
        .collect();
    let n = m.count(&shape)?;
    let d = x.data();
    let data = match (x.elem(), op) {
        (Elem::F64, ReduceOp::Sum) => {
            Data::F64(reduce_typed(m, typed(d)?, xs, &kept, n, 0.0, |a, b| a + b)?)
        }
        (Elem::F64, ReduceOp::Prod) => {
            Data::F64(reduce_typed(m, typed(d)?, xs, &kept, n, 1.0, |a, b| a * b)?)
        }
        (Elem::F64, ReduceOp::Max) => Data::F64(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            f64::NEG_INFINITY,
            max_f64,
        )?),
        (Elem::F64, ReduceOp::Min) => Data::F64(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            f64::INFINITY,
            min_f64,
        )?),
        (Elem::F32, ReduceOp::Sum) => {
            Data::F32(reduce_typed(m, typed(d)?, xs, &kept, n, 0.0, |a, b| a + b)?)
        }
        (Elem::F32, ReduceOp::Prod) => {
            Data::F32(reduce_typed(m, typed(d)?, xs, &kept, n, 1.0, |a, b| a * b)?)
        }
        (Elem::F32, ReduceOp::Max) => Data::F32(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            f32::NEG_INFINITY,
            max_f32,
        )?),
        (Elem::F32, ReduceOp::Min) => Data::F32(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            f32::INFINITY,
            min_f32,
        )?),
        (Elem::I64, ReduceOp::Sum) => Data::I64(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            0,
            i64::wrapping_add,
        )?),
        (Elem::I64, ReduceOp::Prod) => Data::I64(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            1,
            i64::wrapping_mul,
        )?),
        (Elem::I64, ReduceOp::Max) => Data::I64(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            i64::MIN,
            i64::max,
        )?),
        (Elem::I64, ReduceOp::Min) => Data::I64(reduce_typed(
            m,
            typed(d)?,
            xs,
            &kept,
            n,
            i64::MAX,
            i64::min,
        )?),
        (Elem::Bool, _) => {
            return Err(malformed(format!(
                "`{}` is not defined for bool",
                op.name()
            )));
        }
    };
    Ok(Buf::new(m, shape, data))
}

fn matmul_typed<T: Num>(
    m: &Meter,
    a: &[T],
    b: &[T],
    n: usize,
    (batch, rows, inner, cols): (usize, usize, usize, usize),
) -> Result<Vec<T>, Fault> {
    let mut out = m.filled(n, T::ZERO)?;
    if n == 0 {
        return Ok(out);
    }
    for bi in 0..batch {
        let a = &a[bi * rows * inner..(bi + 1) * rows * inner];
        let b = &b[bi * inner * cols..(bi + 1) * inner * cols];
        let c = &mut out[bi * rows * cols..(bi + 1) * rows * cols];
        for (i, crow) in c.chunks_exact_mut(cols).enumerate() {
            // i-k-j order: each output element still sums its products in k order.
            for (p, brow) in b.chunks_exact(cols).enumerate() {
                let aip = a[i * inner + p];
                for (c, &bv) in crow.iter_mut().zip(brow) {
                    *c = c.add(aip.mul(bv));
                }
            }
        }
    }
    Ok(out)
}

/// `[B.., m, k] × [B.., k, n] → [B.., m, n]`.
pub(super) fn matmul(m: &Rc<Meter>, args: &[Operand<'_>]) -> Result<Buf, Fault> {
    let [a, b] = args else {
        return Err(malformed(format!("takes 2 operands, got {}", args.len())));
    };
    let (sa, sb) = (a.shape(), b.shape());
    let r = sa.len();
    let ok = a.elem() == b.elem()
        && r >= 2
        && sb.len() == r
        && sa[..r - 2] == sb[..r - 2]
        && sa[r - 1] == sb[r - 2];
    if !ok {
        return Err(malformed(format!(
            "operands {}{sa:?} and {}{sb:?} must be [batch.., m, k] and [batch.., k, n] of one type",
            a.elem(),
            b.elem()
        )));
    }
    let mut shape = sa[..r - 1].to_vec();
    shape.push(sb[r - 1]);
    let n = m.count(&shape)?;
    // A non-empty result bounds batch, m and n by its count; k is bounded by
    // the operands' counts unless batch·m is 0, and then n is 0 too.
    let dims = if n == 0 {
        (0, 0, 0, 0)
    } else {
        (prod(&sa[..r - 2]), sa[r - 2], sa[r - 1], sb[r - 1])
    };
    let data = for_num!(a.elem(), T => {
        T::wrap(matmul_typed::<T>(m, typed(a.data())?, typed(b.data())?, n, dims)?)
    });
    Ok(Buf::new(m, shape, data))
}
