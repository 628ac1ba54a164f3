//! sin, cos, tan on `f64x2`.
//!
//! Reduction: `k = nearest(x·2/π)`, `r = x - k·π/2` with π/2 in three
//! 53-bit pieces; `k·C1` and `k·C2` are formed exactly (FMA or Dekker) and
//! the sum is carried as a double-double `rh + rl`. That is accurate (error
//! far below an ulp of `r`) while `|k| < 2^45` or so; the tests cover
//! `|x| <= 1e8`. Beyond about 2^50 the reduction loses accuracy (no
//! Payne–Hanek) and the results, though always in `[-1, 1]` for sin/cos and
//! finite for tan, are not accurate; ±inf and NaN give NaN.
//!
//! On `|r| <= π/4`: `sin r = r + r³·S(r²)`, `cos r = 1 - r²/2 + r⁴·C(r²)`
//! (minimax fits, relative errors 2^-52.8 and 2^-54.8 of the correction
//! terms), with the low part `rl` folded in to first order, and
//! `tan = sin/cos` (or `-cos/sin` in odd quadrants) as a quotient of
//! double-doubles with one correction step.

use super::emitter::Em;
use cranelift_codegen::ir::Value;

/// `S(z) ≈ (sin r - r)/r³`, `z = r²` in `[0, 0.617]`.
const SIN_S: [f64; 6] = [
    -0.16666666666666666,
    0.008333333333330922,
    -0.00019841269836723397,
    2.7557316086322885e-06,
    -2.5051128788780594e-08,
    1.5917927878569052e-10,
];

/// `C(z) ≈ (cos r - 1 + r²/2)/r⁴`, `z = r²` in `[0, 0.617]`.
const COS_C: [f64; 6] = [
    0.041666666666666664,
    -0.0013888888888887387,
    2.4801587298750476e-05,
    -2.7557317264654326e-07,
    2.0876144925669085e-09,
    -1.1382543280558281e-11,
];

const TWO_OVER_PI: f64 = std::f64::consts::FRAC_2_PI;
/// π/2 = C1 + C2 + C3 to 159 bits.
const C1: f64 = std::f64::consts::FRAC_PI_2;
const C2: f64 = 6.123233995736766e-17;
const C3: f64 = -1.4973849048591698e-33;

/// Which of the four quadrant results a function wants.
#[derive(Clone, Copy)]
pub(crate) enum Trig {
    Sin,
    Cos,
    Tan,
}

struct Reduced {
    k: Value,
    rh: Value,
    rl: Value,
}

fn reduce(em: &mut Em, x: Value) -> Reduced {
    let t = em.mulk(x, TWO_OVER_PI);
    let k = em.nearest(t);
    let c1 = em.k(C1);
    let (p1h, p1l) = em.two_prod(k, c1);
    let c2 = em.k(C2);
    let (p2h, p2l) = em.two_prod(k, c2);
    let p3 = em.mulk(k, C3);
    // x and k·C1 agree to within a factor 2 (or k = 0): exact
    let t = em.sub(x, p1h);
    let np1l = em.neg(p1l);
    let (s, e1) = em.two_sum(t, np1l);
    let np2h = em.neg(p2h);
    let (s, e2) = em.two_sum(s, np2h);
    let lo = em.add(e1, e2);
    let lo = em.sub(lo, p2l);
    let lo = em.sub(lo, p3);
    let (rh, rl) = em.two_sum(s, lo);
    // keep the polynomials in range even where the reduction is inaccurate
    // (huge |x|): the results then stay bounded
    let lim = 0.786;
    let rh = super::exp::clamp(em, rh, -lim, lim);
    Reduced { k, rh, rl }
}

/// `sin r` and `cos r` for `r = rh + rl`, each as an unevaluated sum
/// `(hi, lo)` (`hi` is the rounded result).
fn sincos_kernel(em: &mut Em, rh: Value, rl: Value) -> ((Value, Value), (Value, Value)) {
    let z = em.mul(rh, rh);
    // sin: rh + (rh·z·S(z) + rl·(1 - z/2))
    let sp = em.poly(z, &SIN_S);
    let rz = em.mul(rh, z);
    let hz = em.mulk(z, 0.5);
    let one = em.k(1.0);
    let w = em.sub(one, hz);
    let rlw = em.mul(rl, w);
    let st = em.mla(rz, sp, rlw);
    let sin = em.fast_two_sum(rh, st);
    // cos: w + (((1 - w) - hz) + (z²·C(z) - rh·rl))
    let cp = em.poly(z, &COS_C);
    let z2 = em.mul(z, z);
    let nrh = em.neg(rh);
    let corr = em.mul(nrh, rl);
    let ct = em.mla(z2, cp, corr);
    let d = em.sub(one, w);
    let d = em.sub(d, hz);
    let ct = em.add(d, ct);
    let cos = em.fast_two_sum(w, ct);
    (sin, cos)
}

/// sin, cos or tan of `x`.
pub(crate) fn trig(em: &mut Em, x: Value, which: Trig) -> Value {
    let red = reduce(em, x);
    let ((s, sl), (c, cl)) = sincos_kernel(em, red.rh, red.rl);
    // quadrant bits of k: odd (swap sin/cos), and q = k mod 4
    let h = em.mulk(red.k, 0.5);
    let fh = em.floor(h);
    let odd = em.sub(h, fh);
    let odd = em.eq_k(odd, 0.5);
    let q4 = em.mulk(red.k, 0.25);
    let fq = em.floor(q4);
    let q = em.sub(q4, fq); // 0, 0.25, 0.5, 0.75
    let r = match which {
        Trig::Sin => {
            let v = em.sel(odd, c, s);
            let neg = em.ge_k(q, 0.5);
            em.neg_where(neg, v)
        }
        Trig::Cos => {
            let v = em.sel(odd, s, c);
            // negative in quadrants 1 and 2
            let a = em.eq_k(q, 0.25);
            let b = em.eq_k(q, 0.5);
            let neg = em.or(a, b);
            em.neg_where(neg, v)
        }
        Trig::Tan => {
            // quotient of the double-doubles, corrected once
            let nh = em.sel(odd, c, s);
            let nl = em.sel(odd, cl, sl);
            let dh = em.sel(odd, s, c);
            let dl = em.sel(odd, sl, cl);
            let q = em.div(nh, dh);
            let (ph, pl) = em.two_prod(q, dh);
            let res = em.sub(nh, ph);
            let res = em.sub(res, pl);
            let res = em.add(res, nl);
            let nq = em.neg(q);
            let res = em.mla(nq, dl, res);
            let corr = em.div(res, dh);
            let t = em.add(q, corr);
            em.neg_where(odd, t)
        }
    };
    match which {
        // sin x = tan x = x below 2^-27 (this also keeps -0 and subnormals)
        Trig::Sin | Trig::Tan => {
            let a = em.abs(x);
            let tiny = em.lt_k(a, 7.450_580_596_923_828e-9);
            em.sel(tiny, x, r)
        }
        Trig::Cos => r,
    }
}
