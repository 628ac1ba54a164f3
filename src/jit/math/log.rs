//! Logarithms on `f64x2`: log, log1p, and the double-double log used by pow.
//!
//! `x = 2^e · m` with `m` in `[√2/2, √2)`, split with integer ops on the bit
//! pattern (subnormals are first scaled by 2^52). With `f = m - 1` (exact)
//! and `s = f / (2 + f)`, `log(m) = 2·atanh(s) = 2s + s³·P(s²)`, where `P` is
//! a minimax fit of `(2·atanh(s) - 2s)/s³` on `s² <= 0.0295`. The result is
//! assembled as in fdlibm, `e·ln2_hi - ((f²/2 - (s(f²/2 + R) + e·ln2_lo)) - f)`,
//! so that the large terms are added last.

use super::emitter::Em;
use cranelift_codegen::ir::{InstBuilder, Value};

/// `P(z) ≈ (2·atanh(s) - 2s) / s³`, `z = s²` in `[0, 0.0295]` (relative
/// error 2^-50.9; the term is at most 1% of the result).
const LOG_P: [f64; 7] = [
    0.666666666666667,
    0.39999999999897856,
    0.2857142862670259,
    0.22222211018642257,
    0.1818289743837608,
    0.15331449390678575,
    0.14619771387951774,
];

/// `P` to 2^-58.2, for the double-double log of pow.
const LOG_P7: [f64; 8] = [
    0.6666666666666666,
    0.40000000000000896,
    0.2857142857079372,
    0.22222222393914892,
    0.18181795408603924,
    0.15386252128267938,
    0.13268444224895665,
    0.13090030916298592,
];

/// ln 2 rounded to 32 significant bits, so `e·LN2_HI` is exact.
const LN2_HI: f64 = f64::from_bits(0x3fe6_2e42_fee0_0000);
/// ln 2 - LN2_HI.
const LN2_LO: f64 = f64::from_bits(0x3dea_39ef_3579_3c76);
const SQRT_HALF_BITS: i64 = 0x3fe6_a09e_667f_3bcd;
const ONE_BITS: i64 = 0x3ff0_0000_0000_0000;
const MANTISSA: i64 = 0x000f_ffff_ffff_ffff;

/// `(e, m)` with `x = 2^e · m`, `m` in `[√2/2, √2)`, for positive finite
/// `x` (normal or subnormal); other lanes give garbage.
fn decompose(em: &mut Em, x: Value) -> (Value, Value) {
    let sub = em.lt_k(x, f64::MIN_POSITIVE);
    let scaled = em.mulk(x, 4_503_599_627_370_496.0);
    let xs = em.sel(sub, scaled, x);
    let m52 = em.k(-52.0);
    let eadj = em.and_k(sub, m52);
    // Shift the bit pattern so that the exponent field rolls over at √2/2.
    let i = em.bits(xs);
    let off = em.ki(ONE_BITS - SQRT_HALF_BITS);
    let u = em.b.ins().iadd(i, off);
    let ef = em.exponent_field(u);
    let e = em.addk(ef, -1023.0);
    let e = em.add(e, eadj);
    let mask = em.ki(MANTISSA);
    let mb = em.b.ins().band(u, mask);
    let base = em.ki(SQRT_HALF_BITS);
    let mb = em.b.ins().iadd(mb, base);
    let m = em.float_of_bits(mb);
    (e, m)
}

/// `log(u) + c/u` for positive finite `u`, `|c| <= ulp(u)` (the rounding
/// error of `u`, for log1p; `None` for zero).
fn log_core(em: &mut Em, u: Value, c: Option<Value>) -> Value {
    let (e, m) = decompose(em, u);
    let f = em.addk(m, -1.0);
    let d = em.addk(f, 2.0);
    let s = em.div(f, d);
    let z = em.mul(s, s);
    let p = em.poly(z, &LOG_P);
    let r = em.mul(z, p);
    let ff = em.mul(f, f);
    let hfsq = em.mulk(ff, 0.5);
    let t = em.add(hfsq, r);
    let lo = em.mulk(e, LN2_LO);
    let lo = match c {
        Some(c) => {
            let cu = em.div(c, u);
            em.add(lo, cu)
        }
        None => lo,
    };
    let t = em.mla(s, t, lo);
    let t = em.sub(hfsq, t);
    let t = em.sub(t, f);
    let hi = em.mulk(e, LN2_HI);
    em.sub(hi, t)
}

/// Replaces the special lanes of a logarithm: `x == 0 → -inf` (where
/// `zero_at` is the pole), below it NaN, `+inf → +inf`, NaN → NaN.
fn log_specials(em: &mut Em, x: Value, pole: f64, r: Value) -> Value {
    let inf = em.k(f64::INFINITY);
    let is_inf = em.eq(x, inf);
    let r = em.sel(is_inf, inf, r);
    let ninf = em.k(f64::NEG_INFINITY);
    let at_pole = em.eq_k(x, pole);
    let r = em.sel(at_pole, ninf, r);
    let below = em.lt_k(x, pole);
    let nan = em.is_nan(x);
    let bad = em.or(below, nan);
    let qnan = em.k(f64::NAN);
    em.sel(bad, qnan, r)
}

/// Natural logarithm.
pub(crate) fn log(em: &mut Em, x: Value) -> Value {
    let r = log_core(em, x, None);
    log_specials(em, x, 0.0, r)
}

/// `log(1 + x)`: `u = 1 + x` rounded, its rounding error `c` recovered
/// exactly (Fast2Sum, ordering the operands by magnitude), and
/// `log(u) + c/u`. Below 2^-54 in magnitude the result is `x` itself.
pub(crate) fn log1p(em: &mut Em, x: Value) -> Value {
    let u = em.addk(x, 1.0);
    let one = em.k(1.0);
    let a = em.abs(x);
    let small = em.lt_k(a, 1.0);
    let big_op = em.sel(small, one, x);
    let small_op = em.sel(small, x, one);
    let t = em.sub(u, big_op);
    let c = em.sub(small_op, t);
    let r = log_core(em, u, Some(c));
    let r = log_specials(em, x, -1.0, r);
    let tiny = em.lt_k(a, 5.551_115_123_125_783e-17);
    em.sel(tiny, x, r)
}

/// `log(x)` as a double-double `(hi, lo)` accurate to about 2^-66 relative,
/// for positive finite `x` (other lanes: garbage; pow handles them).
pub(crate) fn log_dd(em: &mut Em, x: Value) -> (Value, Value) {
    let (e, m) = decompose(em, x);
    let f = em.addk(m, -1.0);
    // s = f / (2 + f) as sh + sl
    let two = em.k(2.0);
    let (dh, dl) = em.fast_two_sum(two, f);
    let sh = em.div(f, dh);
    let (ph, pl) = em.two_prod(sh, dh);
    let res = em.sub(f, ph);
    let res = em.sub(res, pl);
    let nsh = em.neg(sh);
    let res = em.mla(nsh, dl, res);
    let sl = em.div(res, dh);
    // z = s² (double-double)
    let (zh, zl) = em.two_prod(sh, sh);
    let shsl = em.mul(sh, sl);
    let zl = em.mla(shsl, two, zl);
    // s³ = s·z (double-double)
    let (ch, cl) = em.two_prod(sh, zh);
    let cl = em.mla(sh, zl, cl);
    let cl = em.mla(sl, zh, cl);
    // s³·(2/3) (double-double)
    let c23 = em.k(TWO_THIRDS_HI);
    let (th, tl) = em.two_prod(ch, c23);
    let tl = em.mlak(ch, TWO_THIRDS_LO, tl);
    let tl = em.mlak(cl, TWO_THIRDS_HI, tl);
    // s⁵·(P(z) - 2/3)/z, in double (at most 2^-12 of the result)
    let q = em.poly(zh, &LOG_P7[1..]);
    let s5 = em.mul(ch, zh);
    let tail = em.mul(s5, q);
    // sum: e·ln2 + 2s + (2/3)s³ + tail
    let eh = em.mulk(e, LN2_HI);
    let el = em.mulk(e, LN2_LO);
    let s2h = em.add(sh, sh);
    let s2l = em.add(sl, sl);
    let (h, l) = em.two_sum(eh, s2h);
    let (h, l2) = em.two_sum(h, th);
    let l = em.add(l, l2);
    let lo = em.add(tl, tail);
    let lo = em.add(lo, s2l);
    let lo = em.add(lo, el);
    let l = em.add(l, lo);
    em.fast_two_sum(h, l)
}

const TWO_THIRDS_HI: f64 = 0.666_666_666_666_666_6;
const TWO_THIRDS_LO: f64 = 3.700_743_415_417_188e-17;
