//! The cheap elementwise functions that need more than one instruction:
//! `round` (ties away from zero), `sign` and `recip`. They run natively on
//! the lane type (`f64x2` or `f32x4`), exact in every case.

use super::emitter::Em;
use cranelift_codegen::ir::Value;

/// Round to nearest, ties away from zero (C `round`), exact.
///
/// `trunc(x)` plus one step away from zero when the dropped fraction is at
/// least a half; `x - trunc(x)` is exact, so the comparison is too. The sign
/// is copied back so that `round(-0.3) = -0.0`; NaN and ±inf pass through
/// (`inf - inf` is NaN, whose comparison is false).
pub(crate) fn round(em: &mut Em, x: Value) -> Value {
    let t = em.trunc(x);
    let frac = em.sub(x, t);
    let frac = em.abs(frac);
    let half = em.ge_k(frac, 0.5);
    let one = em.k(1.0);
    let step = em.and_k(half, one);
    let at = em.abs(t);
    let r = em.add(at, step);
    em.copysign(r, x)
}

/// `-1` or `+1` by the sign of `x`; `±0` and NaN map to themselves.
pub(crate) fn sign(em: &mut Em, x: Value) -> Value {
    let one = em.k(1.0);
    let s = em.copysign(one, x);
    let zero = em.k(0.0);
    // ordered and non-zero: the lanes that get ±1
    let nz = em.one(x, zero);
    em.sel(nz, s, x)
}

/// `1 / x`, correctly rounded.
pub(crate) fn recip(em: &mut Em, x: Value) -> Value {
    let one = em.k(1.0);
    em.div(one, x)
}
