//! atan2 on `f64x2`.
//!
//! `a = min(|x|,|y|) / max(|x|,|y|)` in `[0, 1]`, kept as a double-double
//! (quotient plus exact residual); above `tan(π/8)` the argument is reduced
//! with `atan a = π/4 + atan((a-1)/(a+1))` (again a double-double quotient),
//! leaving `|t| <= tan(π/8)` for `atan t = t + t³·A(t²)` (minimax, relative
//! error 2^-53.3 of the correction term). The octant is undone with
//! `π/2 ± ·` (when `|y| > |x|`) or `π - ·` (when `x` has its sign bit set);
//! those constants are double-doubles and the sum is rounded essentially
//! once. The sign of `y` is copied onto the result.
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
    // Scale tiny operands up (exactly; den >= num) so the residual below
    // does not underflow, and drop it where num is still tiny (then a is
    // tiny or its low part is irrelevant).
    let tiny_den = em.lt_k(den, 2f64.powi(-400));
    let up = em.k(2f64.powi(600));
    let one_k = em.k(1.0);
    let sc = em.sel(tiny_den, up, one_k);
    let num = em.mul(num, sc);
    let den = em.mul(den, sc);
    // a = ah + al exactly enough: the quotient and its residual
    let ah = em.div(num, den);
    let (ph, pl) = em.two_prod(ah, den);
    let res = em.sub(num, ph);
    let res = em.sub(res, pl);
    let al = em.div(res, den);
    // the residual is NaN for infinite operands (and meaningless then)
    let al_ok = em.eq(al, al);
    let num_ok = em.ge_k(num, 2f64.powi(-960));
    let al_ok = em.and(al_ok, num_ok);
    let a_ok = em.ge_k(ah, 2f64.powi(-960));
    let al_ok = em.and(al_ok, a_ok);
    let al = em.and_k(al_ok, al);

    // t = (a - 1)/(a + 1) as th + tl above tan(π/8), else t = a
    let big = em.gt_k(ah, TAN_PI_8);
    let mone = em.k(-1.0);
    let (nh, nl) = em.fast_two_sum(mone, ah);
    let nl = em.add(nl, al);
    let (dh, dl) = em.fast_two_sum(one, ah);
    let dl = em.add(dl, al);
    let qh = em.div(nh, dh);
    let (ph, pl) = em.two_prod(qh, dh);
    let res = em.sub(nh, ph);
    let res = em.sub(res, pl);
    let res = em.add(res, nl);
    let nqh = em.neg(qh);
    let res = em.mla(nqh, dl, res);
    let ql = em.div(res, dh);
    let th = em.sel(big, qh, ah);
    let tl = em.sel(big, ql, al);

    // atan(t) = th + (tl·(1 - z) + th·z·A(z)), z = th²
    let z = em.mul(th, th);
    let p = em.poly(z, &ATAN_A);
    let tz = em.mul(th, z);
    let ntl = em.neg(tl);
    let c = em.mla(ntl, z, tl);
    let c = em.mla(tz, p, c);
    // The result magnitude is B ± (base + v) with B = π/2 when |y| > |x|,
    // else π (x negative) or 0, and the minus sign when exactly one of the
    // two reflections applies. The constants B ± base are summed as
    // double-doubles, so the result is rounded essentially once.
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
    let th = em.neg_where(minus, th);
    let c = em.neg_where(minus, c);
    let (h, e) = em.two_sum(bh, baseh);
    let lo = em.add(bl, basel);
    let lo = em.add(lo, e);
    let lo = em.add(lo, c);
    let (h, e) = em.two_sum(h, th);
    let lo = em.add(lo, e);
    let r = em.add(h, lo);
    em.copysign(r, y)
}
