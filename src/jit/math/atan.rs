//! atan2 on `f64x2`.
//!
//! `a = min(|x|,|y|) / max(|x|,|y|)` in `[0, 1]`; above `tan(π/8)` the
//! argument is reduced with `atan a = π/4 + atan((a-1)/(a+1))`, leaving
//! `|t| <= tan(π/8)` for `atan t = t + t³·A(t²)` (minimax, relative error
//! 2^-53.3 of the correction term). The octant is then undone with `π/2 - ·`
//! (when `|y| > |x|`) and `π - ·` (when `x` has its sign bit set), each
//! constant split in two so that it is added with one rounding, and the sign
//! of `y` is copied onto the result.
//!
//! The C99 special cases follow from the construction: both zero → `a = 0`,
//! both infinite → `a = 1`; a zero or infinite operand gives `a = 0` or the
//! swap; `-0` for `x` counts as negative. NaN propagates.

use super::emitter::Em;
use cranelift_codegen::ir::{InstBuilder, Value};

/// `A(z) ≈ (atan t - t)/t³`, `z = t²` in `[0, 0.17158]`.
const ATAN_A: [f64; 11] = [
    -0.3333333333333333,
    0.1999999999999561,
    -0.14285714284683365,
    0.11111111016501354,
    -0.09090904624959713,
    0.07692184203572651,
    -0.06664524786731423,
    0.058582577055881546,
    -0.05085986137076983,
    0.03924630503227785,
    -0.019193889202591474,
];

const PI_4_HI: f64 = std::f64::consts::FRAC_PI_4;
const PI_4_LO: f64 = 3.061_616_997_868_383e-17;
const PI_2_HI: f64 = std::f64::consts::FRAC_PI_2;
const PI_2_LO: f64 = 6.123_233_995_736_766e-17;
const PI_HI: f64 = std::f64::consts::PI;
const PI_LO: f64 = 1.224_646_799_147_353_2e-16;
const TAN_PI_8: f64 = 0.414_213_562_373_095_03;

/// `atan2(y, x)`.
pub(crate) fn atan2(em: &mut Em, y: Value, x: Value) -> Value {
    let ax = em.abs(x);
    let ay = em.abs(y);
    let swap = em.gt(ay, ax);
    let num = em.sel(swap, ax, ay);
    let den = em.sel(swap, ay, ax);
    let inf = em.k(f64::INFINITY);
    let xinf = em.eq(ax, inf);
    let yinf = em.eq(ay, inf);
    let both_inf = em.and(xinf, yinf);
    let one = em.k(1.0);
    let num = em.sel(both_inf, one, num);
    let den = em.sel(both_inf, one, den);
    let zero = em.k(0.0);
    let xz = em.eq(ax, zero);
    let yz = em.eq(ay, zero);
    let both_zero = em.and(xz, yz);
    let den = em.sel(both_zero, one, den);
    let a = em.div(num, den);

    let big = em.gt_k(a, TAN_PI_8);
    let am1 = em.addk(a, -1.0);
    let ap1 = em.addk(a, 1.0);
    let tr = em.div(am1, ap1);
    let t = em.sel(big, tr, a);
    let z = em.mul(t, t);
    let p = em.poly(z, &ATAN_A);
    let tz = em.mul(t, z);
    let c = em.mul(tz, p);
    // atan(a) = base + v, base = π/4 or 0
    let v = em.add(t, c);
    // The result magnitude is B ± (base + v) with B = π/2 when |y| > |x|,
    // else π (x negative) or 0, and the minus sign when exactly one of the
    // two reflections applies. The constants B ± base are summed as
    // double-doubles, so the result is rounded essentially once.
    let one = em.k(1.0);
    let sx = em.copysign(one, x);
    let xneg = em.lt_k(sx, 0.0);
    let pihi = em.k(PI_HI);
    let pilo = em.k(PI_LO);
    let bh = em.and_k(xneg, pihi);
    let bl = em.and_k(xneg, pilo);
    let pi2hi = em.k(PI_2_HI);
    let pi2lo = em.k(PI_2_LO);
    let bh = em.sel(swap, pi2hi, bh);
    let bl = em.sel(swap, pi2lo, bl);
    let pi4hi = em.k(PI_4_HI);
    let pi4lo = em.k(PI_4_LO);
    let baseh = em.and_k(big, pi4hi);
    let basel = em.and_k(big, pi4lo);
    let minus = em.b.ins().bxor(swap.0, xneg.0);
    let minus = super::emitter::Mask(minus);
    let baseh = em.neg_where(minus, baseh);
    let basel = em.neg_where(minus, basel);
    let v = em.neg_where(minus, v);
    let (h, e) = em.two_sum(bh, baseh);
    let lo = em.add(bl, basel);
    let lo = em.add(lo, e);
    let lo = em.add(v, lo);
    let r = em.add(h, lo);
    em.copysign(r, y)
}
