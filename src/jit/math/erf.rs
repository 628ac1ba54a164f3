//! erf on `f64x2`.
//!
//! Three pieces, all always computed and blended by lane:
//! - `|x| < 0.75`: `erf x = x + x·E(x²)`, `E + 1` a degree-10 minimax fit
//!   of `erf(x)/x` in `x²` (relative error 2^-60.2); the small second term
//!   keeps the rounding of the polynomial out of the result;
//! - `0.75 <= |x| < 1.5`: `erf x = erf(1) + M(|x| - 1)`, `M` a degree-16 fit
//!   of `erf(1 + s) - erf(1)` (absolute error 2^-60.3): the correction is at
//!   most 0.13, so its rounding barely shows, unlike a single polynomial in
//!   `x²` up to 1.5 whose terms cancel;
//! - `1.5 <= |x|`: `erf x = 1 - erfc x`, `erfc x = e^{-x²}·t·F(t)` with
//!   `t = 1/|x|` and `F` a degree-12 fit of `x·e^{x²}·erfc(x)` in `t`,
//!   weighted so that the absolute error of `erfc` is below 2^-54.5 (what
//!   `1 - erfc` needs). `x²` is split exactly into `h + l` and
//!   `e^{-x²} = e^{-h}·(1 - l)`. Beyond 5.95, `erfc < 2^-55` and the result
//!   rounds to 1 by itself.
//!
//! The sign is copied from `x` (erf is odd), so ±0, NaN and subnormals come
//! out right.

use super::emitter::Em;
use super::exp::{clamp, exp};
use cranelift_codegen::ir::Value;

/// `E(z) ≈ erf(x)/x - 1`, `z = x²` in `[0, 0.5625]` (the fit of
/// `erf(x)/x` with 1 taken off the constant term, exactly).
const ERF_E: [f64; 11] = [
    0.12837916709551256,
    -0.37612638903183715,
    0.11283791670952481,
    -0.02686617064440247,
    0.005223977615122183,
    -0.0008548326169083661,
    0.00012055288776918906,
    -1.4924176630083953e-05,
    1.6430388118486631e-06,
    -1.5937599297903227e-07,
    1.146375558862989e-08,
];

/// erf(1) rounded to double.
const ERX: f64 = 0.8427007929497149;

/// `M(s) ≈ erf(1 + s) - ERX`, `s` in `[-0.25, 0.5]`.
const ERF_M: [f64; 17] = [
    -2.5169984715266207e-17,
    0.41510749742059466,
    -0.4151074974205943,
    0.13836916580687597,
    0.06918458290333425,
    -0.06918458290453702,
    0.004612305535729042,
    0.015154718201605338,
    -0.004777031112882846,
    -0.0018851888399286766,
    0.0012262961910544667,
    8.551622094634333e-05,
    -0.00020014081311951084,
    1.8936121681304995e-05,
    2.3866240310357637e-05,
    -6.7830457470070695e-06,
    -2.2060355720460734e-07,
];

/// `F(t) ≈ x·e^{x²}·erfc(x)`, `t = 1/x` in `[1/5.95, 1/1.5]`.
const ERFC_F: [f64; 13] = [
    0.5642101993650928,
    -0.0005000305551643753,
    -0.27691644972146745,
    -0.028020025174525728,
    0.4872574746904805,
    0.16036547112865762,
    -2.851646953274738,
    6.5682510829935605,
    -8.604162407621384,
    7.318237945988632,
    -4.035750557245139,
    1.3232889923027544,
    -0.19704055566395348,
];

/// `erf(x)`.
pub(crate) fn erf(em: &mut Em, x: Value) -> Value {
    let z = em.mul(x, x);
    let e = em.poly(z, &ERF_E);
    let small = em.mla(x, e, x);

    let a = em.abs(x);
    let ac = clamp(em, a, 1.5, 5.95);
    let one = em.k(1.0);
    let t = em.div(one, ac);
    let f = em.poly(t, &ERFC_F);
    let (h, l) = em.two_prod(ac, ac);
    let nh = em.neg(h);
    let g = exp(em, nh);
    let nl = em.neg(l);
    let g = em.mla(g, nl, g);
    let tf = em.mul(t, f);
    let erfc = em.mul(g, tf);
    let big = em.sub(one, erfc);
    let big = em.copysign(big, x);

    let s = em.addk(a, -1.0);
    let m = em.poly(s, &ERF_M);
    let mid = em.addk(m, ERX);
    let mid = em.copysign(mid, x);

    let is_mid = em.lt_k(a, 1.5);
    let r = em.sel(is_mid, mid, big);
    let is_small = em.lt_k(a, 0.75);
    em.sel(is_small, small, r)
}
