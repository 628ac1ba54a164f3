//! pow on `f64x2`.
//!
//! `|x|^y = e^(y·log|x|)`: `log|x|` as a double-double (about 2^-66
//! relative, see [`super::log::log_dd`]), times `y` exactly (a two-product),
//! then `e^(h + l)` with the exp reduction, the low part `l` added into the
//! reduced argument's correction term, and the two-step scaling of
//! [`super::exp::scale`] (correct overflow to inf and gradual underflow).
//!
//! The special cases of C99 `pow` are applied afterwards with lane masks, in
//! an order where later rules override earlier ones: negative `x` with
//! non-integral finite `y` → NaN; `x = ±0`; `x = ±inf`; `y = ±inf`; NaN
//! operands → NaN; `x = 1` → 1; `y = ±0` → 1. The sign of a negative base
//! (and of `-0`) is carried to the result when `y` is an odd integer.

use super::emitter::Em;
use super::exp::{Reduced, clamp, reduce_dd, scale};
use cranelift_codegen::ir::Value;

/// `x^y`.
pub(crate) fn pow(em: &mut Em, x: Value, y: Value) -> Value {
    let ax = em.abs(x);
    let (lh, ll) = super::log::log_dd(em, ax);
    let (ph, pl) = em.two_prod(y, lh);
    let pl = em.mla(y, ll, pl);
    // keep the reduction in range; beyond, the result is 0 or inf anyway
    // (and the product's low part, then possibly huge or NaN, is dropped)
    let aph = em.abs(ph);
    let in_range = em.lt_k(aph, 746.0);
    // (Dekker's split overflows for |y| > 2^996, where log|x| is 0 anyway)
    let pl_ok = em.eq(pl, pl);
    let keep = em.and(in_range, pl_ok);
    let pl = em.and_k(keep, pl);
    let phc = clamp(em, ph, -746.0, 710.0);
    let Reduced { k, r, tail } = reduce_dd(em, phc, pl);
    let pm = em.add(r, tail);
    let m = em.addk(pm, 1.0);
    let core = scale(em, m, k);

    // integer and odd-integer exponents
    let ty = em.trunc(y);
    let yint = em.eq(ty, y);
    let hy = em.mulk(y, 0.5);
    let thy = em.trunc(hy);
    let yeven = em.eq(thy, hy);
    let yodd = em.and_not(yint, yeven);
    let one = em.k(1.0);
    let sx = em.copysign(one, x);
    let xsign = em.lt_k(sx, 0.0);
    let flip = em.and(xsign, yodd);
    let r = em.neg_where(flip, core);

    // negative finite base, non-integral exponent
    let xneg = em.lt_k(x, 0.0);
    let bad = em.and_not(xneg, yint);
    let nan = em.k(f64::NAN);
    let r = em.sel(bad, nan, r);

    // x = ±0: y < 0 → inf, else 0 (signed when y is an odd integer)
    let inf = em.k(f64::INFINITY);
    let zero = em.k(0.0);
    let yneg = em.lt_k(y, 0.0);
    let zr = em.sel(yneg, inf, zero);
    let zr = em.neg_where(flip, zr);
    let xz = em.eq(ax, zero);
    let r = em.sel(xz, zr, r);
    // x = ±inf: y < 0 → 0, else inf (signed likewise)
    let ir = em.sel(yneg, zero, inf);
    let ir = em.neg_where(flip, ir);
    let xinf = em.eq(ax, inf);
    let r = em.sel(xinf, ir, r);
    // y = ±inf: |x| = 1 → 1; (|x| > 1) == (y > 0) → inf; else 0
    let ay = em.abs(y);
    let yinf = em.eq(ay, inf);
    let xgt1 = em.gt_k(ax, 1.0);
    let ypos = em.gt_k(y, 0.0);
    let xlt1 = em.lt_k(ax, 1.0);
    let a = em.and(xgt1, ypos);
    let b = em.and(xlt1, yneg);
    let to_inf = em.or(a, b);
    let yr = em.sel(to_inf, inf, zero);
    let x1 = em.eq(ax, one);
    let yr = em.sel(x1, one, yr);
    let r = em.sel(yinf, yr, r);
    // NaN operands
    let xn = em.is_nan(x);
    let yn = em.is_nan(y);
    let anan = em.or(xn, yn);
    let r = em.sel(anan, nan, r);
    // pow(1, y) = 1 and pow(x, ±0) = 1, even for NaN
    let xone = em.eq(x, one);
    let yzero = em.eq(y, zero);
    let ones = em.or(xone, yzero);
    em.sel(ones, one, r)
}
