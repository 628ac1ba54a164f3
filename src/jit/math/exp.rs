//! The exponential family on `f64x2`: exp, expm1, tanh, sigmoid.
//!
//! All share one reduction: `x = k·ln2 + r`, `|r| <= ln2/2`, with `k` an
//! integer (held as a float) and `r` kept as a double-double `r + c`
//! (Cody–Waite with a 32-bit `ln2_hi`, so `k·ln2_hi` and `x - k·ln2_hi` are
//! exact for `|k| < 2^21`). Then `e^r - 1 = r + tail`,
//! `tail = c + r²(1/2 + r·Q(r))`, with `Q` a degree-9 minimax fit of
//! `(e^r - 1 - r - r²/2)/r³` (relative error 2^-54.2, from `remez.py`).
//!
//! Scaling by `2^k` happens in two exact steps `2^k1 · 2^k2` with
//! `k1 = floor(k/2)`, so results in the subnormal range are rounded once,
//! correctly, and overflow gives +inf.

use super::emitter::Em;
use cranelift_codegen::ir::Value;

/// Coefficients of `Q(r) ≈ (e^r - 1 - r - r²/2) / r³` on `[-0.3466, 0.3466]`.
const EXP_Q: [f64; 10] = [
    0.16666666666666669,
    0.04166666666666666,
    0.00833333333333007,
    0.0013888888888900562,
    0.00019841269863018484,
    2.4801587275140365e-05,
    2.7557268507492522e-06,
    2.7557329608087605e-07,
    2.5100365436625262e-08,
    2.0893976819765347e-09,
];

const LOG2E: f64 = std::f64::consts::LOG2_E;
/// ln 2 rounded to 32 significant bits (0x3fe62e42fee00000).
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// ln 2 - LN2_HI.
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);

/// The reduced argument: `x = k·ln2 + r + c` and `e^(r+c) - 1 = r + tail`.
pub(crate) struct Reduced {
    /// The integer `k` as a float.
    pub(crate) k: Value,
    /// The reduced argument, `|r| <= 0.3466`.
    pub(crate) r: Value,
    /// `e^(r+c) - 1 - r`, including the reduction's rounding error `c`.
    pub(crate) tail: Value,
}

/// Reduces `x` (finite or NaN; callers clamp) as described in the module doc.
pub(crate) fn reduce(em: &mut Em, x: Value) -> Reduced {
    reduce_with(em, x, None)
}

/// Reduces the double-double `x + xl` (`|xl|` at most an ulp of `x`).
pub(crate) fn reduce_dd(em: &mut Em, x: Value, xl: Value) -> Reduced {
    reduce_with(em, x, Some(xl))
}

fn reduce_with(em: &mut Em, x: Value, xl: Option<Value>) -> Reduced {
    let t = em.mulk(x, LOG2E);
    let k = em.nearest(t);
    let nk = em.neg(k);
    // exact: k·LN2_HI has at most 32 + 11 bits and cancels against x
    let t = em.mlak(nk, LN2_HI, x);
    let r = em.mlak(nk, LN2_LO, t);
    let d = em.sub(t, r);
    let c = em.mlak(nk, LN2_LO, d);
    // A sizeable low part must enter the polynomial's argument: the tail
    // adds `c` to first order only (`e^(r+c) ≈ e^r + c`, off by `r·c`).
    let (r, c) = match xl {
        Some(xl) => {
            let cl = em.add(c, xl);
            em.two_sum(r, cl)
        }
        None => (r, c),
    };
    let q = em.poly(r, &EXP_Q);
    let h = em.k(0.5);
    let u = em.mla(r, q, h);
    let r2 = em.mul(r, r);
    let tail = em.mla(r2, u, c);
    Reduced { k, r, tail }
}

/// `m · 2^k` for integral `k` in `[-1077, 1025]`, in two exact steps so the
/// only rounding is the final one (into the subnormal range, or to inf).
pub(crate) fn scale(em: &mut Em, m: Value, k: Value) -> Value {
    let h = em.mulk(k, 0.5);
    let k1 = em.floor(h);
    let k2 = em.sub(k, k1);
    let s1 = em.pow2i(k1);
    let s2 = em.pow2i(k2);
    let m = em.mul(m, s1);
    em.mul(m, s2)
}

/// `x` with lanes above `hi` replaced by `hi` and below `lo` by `lo`; NaN
/// stays NaN.
pub(crate) fn clamp(em: &mut Em, x: Value, lo: f64, hi: f64) -> Value {
    let over = em.gt_k(x, hi);
    let hiv = em.k(hi);
    let x = em.sel(over, hiv, x);
    let under = em.lt_k(x, lo);
    let lov = em.k(lo);
    em.sel(under, lov, x)
}

/// `e^x`.
///
/// Beyond the clamp bounds the result is already 0 or +inf
/// (`e^-746 < 2^-1075`, `e^710 > f64::MAX`), so clamping only keeps `k` in
/// the range of [`scale`].
pub(crate) fn exp(em: &mut Em, x: Value) -> Value {
    let x = clamp(em, x, -746.0, 710.0);
    let red = reduce(em, x);
    let pm = em.add(red.r, red.tail);
    let p = em.addk(pm, 1.0);
    scale(em, p, red.k)
}

/// `e^x - 1`.
///
/// For `k <= 53`, `2^k - 1` is exact and the result is
/// `(2^k - 1) + 2^k·r + 2^k·tail`, summed with one error-free addition, so
/// cancellation (x near -ln2·k) costs nothing. For larger `k` it is
/// `(1 + r + tail - 2^-k)·2^k` with `1 + r` error-free.
pub(crate) fn expm1(em: &mut Em, x: Value) -> Value {
    let xc = clamp(em, x, -40.0, 710.0);
    let red = reduce(em, xc);
    // small k: 2^k in range since -58 <= k <= 53 is all that is selected
    let ks = clamp(em, red.k, -60.0, 60.0);
    let s = em.pow2i(ks);
    let sm1 = em.addk(s, -1.0);
    let sr = em.mul(s, red.r);
    let (h, l) = em.two_sum(sm1, sr);
    let st = em.mul(s, red.tail);
    let lo = em.add(l, st);
    let small = em.add(h, lo);
    // large k: (1 + r) exactly as h2 + l2
    let one = em.k(1.0);
    let (h2, l2) = em.fast_two_sum(one, red.r);
    let kc = clamp(em, red.k, -1000.0, 1000.0);
    let nkc = em.neg(kc);
    let inv = em.pow2i(nkc);
    let l2 = em.sub(l2, inv);
    let l2 = em.add(l2, red.tail);
    let m = em.add(h2, l2);
    let big = scale(em, m, red.k);
    let is_big = em.ge_k(red.k, 54.0);
    let r = em.sel(is_big, big, small);
    // e^x - 1 rounds to x below 2^-54 (and keeps the sign of zero)
    let ax = em.abs(x);
    let tiny = em.lt_k(ax, 5.551_115_123_125_783e-17);
    em.sel(tiny, x, r)
}

/// Coefficients of `T(z) ≈ (tanh(x) - x) / x³`, `z = x²` in `[0, 0.3025]`
/// (relative error 2^-55.3).
const TANH_T: [f64; 11] = [
    -0.3333333333333333,
    0.13333333333332714,
    -0.05396825396743444,
    0.021869488493684794,
    -0.00886323439819658,
    0.0035921103833921335,
    -0.0014556618653442843,
    0.0005889362155153758,
    -0.00023463519961657391,
    8.511384890855689e-05,
    -2.0603235410621578e-05,
];

/// `tanh(x)`.
///
/// `|x| < 0.55`: `x + x·z·T(z)`. Above: `1 - 2·e/(1 + e)` with
/// `e = e^{-2|x|}` as a double-double and the quotient corrected (the result
/// is at least 0.5, so the subtraction loses nothing). The sign is copied
/// from `x` at the end (tanh is odd), which also keeps `tanh(-0) = -0`.
pub(crate) fn tanh(em: &mut Em, x: Value) -> Value {
    let z = em.mul(x, x);
    let t = em.poly(z, &TANH_T);
    let zt = em.mul(z, t);
    let small = em.mla(x, zt, x);
    let a = em.abs(x);
    let m2a = em.mulk(a, -2.0);
    let m2a = clamp(em, m2a, -746.0, 0.0);
    let (eh, el) = exp_dd(em, m2a);
    let q = ratio(em, eh, el, None);
    let one = em.k(1.0);
    let big = em.mlak(q, -2.0, one);
    let is_small = em.lt_k(a, 0.55);
    let r = em.sel(is_small, small, big);
    em.copysign(r, x)
}

/// `e^x` as an unevaluated sum `hi + lo` accurate to about 2^-63 relative,
/// for `x` in `[-746, 0]`. Where `e^x` is subnormal, `hi` alone is `e^x`
/// rounded once and `lo` is (nearly) zero.
fn exp_dd(em: &mut Em, x: Value) -> (Value, Value) {
    let red = reduce(em, x);
    let one = em.k(1.0);
    let (h, l) = em.fast_two_sum(one, red.r);
    let l = em.add(l, red.tail);
    let (h, l) = em.fast_two_sum(h, l);
    let h = scale(em, h, red.k);
    let l = scale(em, l, red.k);
    (h, l)
}

/// `n / (1 + e)` for `e = eh + el` in `[0, 1]`, where `n` is `e` in the
/// lanes of `take_e` (all lanes if `None`) and `1` elsewhere: the quotient of
/// the double-doubles, corrected once with the exact residual, so it is
/// within about 0.5 ulp + 2^-60 relative.
fn ratio(em: &mut Em, eh: Value, el: Value, take_e: Option<super::emitter::Mask>) -> Value {
    let one = em.k(1.0);
    let (dh, dl) = em.fast_two_sum(one, eh);
    let dl = em.add(dl, el);
    let (nh, nl) = match take_e {
        None => (eh, el),
        Some(m) => {
            let nh = em.sel(m, eh, one);
            let nl = em.and_k(m, el);
            (nh, nl)
        }
    };
    let q = em.div(nh, dh);
    let (ph, pl) = em.two_prod(q, dh);
    let res = em.sub(nh, ph);
    let res = em.sub(res, pl);
    let res = em.add(res, nl);
    let nq = em.neg(q);
    let res = em.mla(nq, dl, res);
    let corr = em.div(res, dh);
    em.add(q, corr)
}

/// `1 / (1 + e^-x)`.
///
/// With `e = e^-|x|` in `(0, 1]` as a double-double: `1/(1 + e)` for
/// `x >= 0` and `e/(1 + e)` for `x < 0`, by [`ratio`] (subnormal results:
/// `e^x` rounded once).
pub(crate) fn sigmoid(em: &mut Em, x: Value) -> Value {
    let a = em.abs(x);
    let na = em.neg(a);
    let nac = clamp(em, na, -746.0, 0.0);
    let (eh, el) = exp_dd(em, nac);
    let neg = em.lt_k(x, 0.0);
    ratio(em, eh, el, Some(neg))
}
