//! Lane-generic CLIF building blocks shared by every kernel.
//!
//! [`Em`] wraps a `FunctionBuilder` positioned where the kernel goes, the
//! constant source and the host features. Every transcendental kernel works on
//! `f64x2` values (scalars and `f32` lanes are widened to it by the caller), so
//! that one branch-free instruction sequence serves all lane types.
//!
//! Invariants:
//! - conditions are lane masks (all-ones or all-zeros per lane, the result of a
//!   vector `fcmp`), combined with bitwise ops and consumed by [`Em::sel`];
//!   no scalar `select` is ever emitted (on x86-64 a scalar float `select`
//!   lowers to a branch);
//! - every constant comes from the [`Consts`] implementation, so a loop emitter
//!   can hoist them.

use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{Endianness, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_frontend::FunctionBuilder;

use super::{Consts, Features};

/// A lane mask (all-ones or all-zeros per lane), typed like the integer
/// vector matching the float type it came from.
#[derive(Clone, Copy)]
pub(crate) struct Mask(pub(crate) Value);

/// Emission context for one kernel: builder, constants, features, lane type.
pub(crate) struct Em<'a, 'f> {
    /// The caller's builder, at the insertion point of the kernel.
    pub(crate) b: &'a mut FunctionBuilder<'f>,
    consts: &'a mut dyn Consts,
    features: Features,
    /// The float lane type every value of this kernel has (`F64X2` or `F32X4`).
    pub(crate) ty: Type,
    /// The integer vector type with the same lane layout as `ty`.
    pub(crate) ity: Type,
}

fn le() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

impl<'a, 'f> Em<'a, 'f> {
    /// A context producing values of vector type `ty` (`F64X2` or `F32X4`).
    pub(crate) fn new(
        b: &'a mut FunctionBuilder<'f>,
        consts: &'a mut dyn Consts,
        features: Features,
        ty: Type,
    ) -> Self {
        let ity = if ty == types::F32X4 {
            types::I32X4
        } else {
            types::I64X2
        };
        Em {
            b,
            consts,
            features,
            ty,
            ity,
        }
    }

    // ---- constants -------------------------------------------------------

    /// A float constant in every lane.
    pub(crate) fn k(&mut self, x: f64) -> Value {
        self.consts.float(self.b, self.ty, x)
    }

    /// An integer constant (lane-width bits) in every lane.
    pub(crate) fn ki(&mut self, bits: i64) -> Value {
        self.consts.int(self.b, self.ity, bits)
    }

    // ---- arithmetic ------------------------------------------------------

    pub(crate) fn add(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fadd(a, b)
    }
    pub(crate) fn sub(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fsub(a, b)
    }
    pub(crate) fn mul(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fmul(a, b)
    }
    pub(crate) fn div(&mut self, a: Value, b: Value) -> Value {
        self.b.ins().fdiv(a, b)
    }
    pub(crate) fn neg(&mut self, a: Value) -> Value {
        self.b.ins().fneg(a)
    }
    pub(crate) fn abs(&mut self, a: Value) -> Value {
        self.b.ins().fabs(a)
    }
    pub(crate) fn sqrt(&mut self, a: Value) -> Value {
        self.b.ins().sqrt(a)
    }
    /// `|a|` with the sign of `s`.
    pub(crate) fn copysign(&mut self, a: Value, s: Value) -> Value {
        // x86-64 has no vector fcopysign lowering: mask the bits directly.
        let sign = self.k(-0.0);
        let mag = self.b.ins().band_not(a, sign);
        let sgn = self.b.ins().band(s, sign);
        self.b.ins().bor(mag, sgn)
    }
    pub(crate) fn addk(&mut self, a: Value, c: f64) -> Value {
        let c = self.k(c);
        self.add(a, c)
    }
    pub(crate) fn mulk(&mut self, a: Value, c: f64) -> Value {
        let c = self.k(c);
        self.mul(a, c)
    }

    /// `a * b + c`: one rounding with FMA, two without.
    pub(crate) fn mla(&mut self, a: Value, b: Value, c: Value) -> Value {
        if self.features.fma {
            self.b.ins().fma(a, b, c)
        } else {
            let p = self.b.ins().fmul(a, b);
            self.b.ins().fadd(p, c)
        }
    }

    /// `a * b + c` with a constant `b`.
    pub(crate) fn mlak(&mut self, a: Value, b: f64, c: Value) -> Value {
        let b = self.k(b);
        self.mla(a, b, c)
    }

    /// Horner evaluation of `c[0] + c[1] x + c[2] x^2 + ...`.
    pub(crate) fn poly(&mut self, x: Value, c: &[f64]) -> Value {
        let (last, rest) = c.split_last().expect("a polynomial has a coefficient");
        let mut acc = self.k(*last);
        for &ci in rest.iter().rev() {
            let ci = self.k(ci);
            acc = self.mla(acc, x, ci);
        }
        acc
    }

    /// `(hi, lo)` with `hi + lo = a * b` exactly (barring over/underflow).
    pub(crate) fn two_prod(&mut self, a: Value, b: Value) -> (Value, Value) {
        let hi = self.mul(a, b);
        if self.features.fma {
            let nhi = self.neg(hi);
            let lo = self.b.ins().fma(a, b, nhi);
            (hi, lo)
        } else {
            let (ah, al) = self.split(a);
            let (bh, bl) = self.split(b);
            // Dekker: lo = ((ah*bh - hi) + ah*bl + al*bh) + al*bl, each step exact.
            let t = self.mul(ah, bh);
            let t = self.sub(t, hi);
            let u = self.mul(ah, bl);
            let t = self.add(t, u);
            let u = self.mul(al, bh);
            let t = self.add(t, u);
            let u = self.mul(al, bl);
            let lo = self.add(t, u);
            (hi, lo)
        }
    }

    /// Veltkamp split of `a` into 26- and 27-bit halves (f64 lanes only).
    fn split(&mut self, a: Value) -> (Value, Value) {
        let c = self.mulk(a, 134_217_729.0); // 2^27 + 1
        let d = self.sub(c, a);
        let hi = self.sub(c, d);
        let lo = self.sub(a, hi);
        (hi, lo)
    }

    /// `(s, e)` with `s + e = a + b` exactly, for any magnitudes.
    pub(crate) fn two_sum(&mut self, a: Value, b: Value) -> (Value, Value) {
        let s = self.add(a, b);
        let bb = self.sub(s, a);
        let aa = self.sub(s, bb);
        let db = self.sub(b, bb);
        let da = self.sub(a, aa);
        let e = self.add(da, db);
        (s, e)
    }

    /// `(s, e)` with `s + e = a + b` exactly, given `|a| >= |b|` (or a zero).
    pub(crate) fn fast_two_sum(&mut self, a: Value, b: Value) -> (Value, Value) {
        let s = self.add(a, b);
        let t = self.sub(s, a);
        let e = self.sub(b, t);
        (s, e)
    }

    // ---- rounding --------------------------------------------------------

    /// Round to nearest integer, ties to even (`roundpd` when available).
    pub(crate) fn nearest(&mut self, x: Value) -> Value {
        if self.features.sse41 {
            self.b.ins().nearest(x)
        } else {
            // Adding and subtracting 2^52 (2^23) rounds in the current
            // (nearest-even) mode; values at or above that are integers.
            let big = if self.ty == types::F32X4 {
                8_388_608.0
            } else {
                4_503_599_627_370_496.0
            };
            let a = self.abs(x);
            let t = self.addk(a, big);
            let t = self.addk(t, -big);
            let small = self.lt_k(a, big);
            let r = self.copysign(t, x);
            self.sel(small, r, x)
        }
    }

    /// Round towards zero.
    pub(crate) fn trunc(&mut self, x: Value) -> Value {
        if self.features.sse41 {
            self.b.ins().trunc(x)
        } else {
            let n = self.nearest(x);
            // nearest moved away from zero by a half or less: step back.
            let a = self.abs(x);
            let an = self.abs(n);
            let over = self.gt(an, a);
            let one = self.k(1.0);
            let step = self.and_k(over, one);
            let t = self.sub(an, step);
            self.copysign(t, n)
        }
    }

    /// Round towards negative infinity.
    pub(crate) fn floor(&mut self, x: Value) -> Value {
        if self.features.sse41 {
            self.b.ins().floor(x)
        } else {
            let n = self.nearest(x);
            let over = self.gt(n, x);
            let one = self.k(1.0);
            let step = self.and_k(over, one);
            let r = self.sub(n, step);
            // keep -0.0 and integers exactly
            self.copysign(r, n)
        }
    }

    /// Round towards positive infinity.
    pub(crate) fn ceil(&mut self, x: Value) -> Value {
        if self.features.sse41 {
            self.b.ins().ceil(x)
        } else {
            let n = self.nearest(x);
            let under = self.lt(n, x);
            let one = self.k(1.0);
            let step = self.and_k(under, one);
            let r = self.add(n, step);
            self.copysign(r, x)
        }
    }

    // ---- masks -----------------------------------------------------------

    fn cmp(&mut self, cc: FloatCC, a: Value, b: Value) -> Mask {
        Mask(self.b.ins().fcmp(cc, a, b))
    }
    pub(crate) fn lt(&mut self, a: Value, b: Value) -> Mask {
        self.cmp(FloatCC::LessThan, a, b)
    }
    pub(crate) fn gt(&mut self, a: Value, b: Value) -> Mask {
        self.cmp(FloatCC::GreaterThan, a, b)
    }
    pub(crate) fn ge(&mut self, a: Value, b: Value) -> Mask {
        self.cmp(FloatCC::GreaterThanOrEqual, a, b)
    }
    pub(crate) fn eq(&mut self, a: Value, b: Value) -> Mask {
        self.cmp(FloatCC::Equal, a, b)
    }
    /// Ordered and not equal (false if either is NaN).
    pub(crate) fn one(&mut self, a: Value, b: Value) -> Mask {
        // no vector lowering of `one` on x86-64
        let l = self.lt(a, b);
        let g = self.gt(a, b);
        self.or(l, g)
    }
    /// True in lanes where `a` is NaN.
    pub(crate) fn is_nan(&mut self, a: Value) -> Mask {
        self.cmp(FloatCC::Unordered, a, a)
    }
    pub(crate) fn lt_k(&mut self, a: Value, c: f64) -> Mask {
        let c = self.k(c);
        self.lt(a, c)
    }
    pub(crate) fn gt_k(&mut self, a: Value, c: f64) -> Mask {
        let c = self.k(c);
        self.gt(a, c)
    }
    pub(crate) fn ge_k(&mut self, a: Value, c: f64) -> Mask {
        let c = self.k(c);
        self.ge(a, c)
    }
    pub(crate) fn eq_k(&mut self, a: Value, c: f64) -> Mask {
        let c = self.k(c);
        self.eq(a, c)
    }
    pub(crate) fn and(&mut self, a: Mask, b: Mask) -> Mask {
        Mask(self.b.ins().band(a.0, b.0))
    }
    pub(crate) fn or(&mut self, a: Mask, b: Mask) -> Mask {
        Mask(self.b.ins().bor(a.0, b.0))
    }
    /// `a & !b`.
    pub(crate) fn and_not(&mut self, a: Mask, b: Mask) -> Mask {
        Mask(self.b.ins().band_not(a.0, b.0))
    }

    /// The mask reinterpreted as a float vector (for bitwise float ops).
    fn mask_f(&mut self, m: Mask) -> Value {
        self.b.ins().bitcast(self.ty, le(), m.0)
    }

    /// Per lane: `t` where the mask is set, else `f`.
    pub(crate) fn sel(&mut self, m: Mask, t: Value, f: Value) -> Value {
        let c = self.mask_f(m);
        self.b.ins().bitselect(c, t, f)
    }

    /// Per lane: `x` where the mask is set, else `+0.0`.
    pub(crate) fn and_k(&mut self, m: Mask, x: Value) -> Value {
        let c = self.mask_f(m);
        self.b.ins().band(c, x)
    }

    // ---- bits ------------------------------------------------------------

    /// The lanes' bit patterns as integers.
    pub(crate) fn bits(&mut self, x: Value) -> Value {
        self.b.ins().bitcast(self.ity, le(), x)
    }

    /// Integer lanes reinterpreted as floats.
    pub(crate) fn float_of_bits(&mut self, i: Value) -> Value {
        self.b.ins().bitcast(self.ty, le(), i)
    }

    /// The float lanes `x` with the sign bit flipped where `m` is set.
    pub(crate) fn neg_where(&mut self, m: Mask, x: Value) -> Value {
        let sign = self.k(-0.0);
        let s = self.and_k(m, sign);
        self.b.ins().bxor(x, s)
    }

    /// `2^k` for an integral `k` in `[-1022, 1023]` (f64 lanes), built in
    /// the exponent field. Any other `k` (including NaN) gives some finite
    /// power of two or zero — callers arrange the range.
    pub(crate) fn pow2i(&mut self, k: Value) -> Value {
        // k + 1023 + 1.5*2^52 keeps k + 1023 in the low mantissa bits.
        let t = self.addk(k, 6_755_399_441_055_744.0 + 1023.0);
        let i = self.bits(t);
        let i = self.b.ins().ishl_imm_u(i, 52);
        self.float_of_bits(i)
    }

    /// Bits 52..63 of integer lanes `i` as a float (`0..=4095`; the biased
    /// exponent of a positive f64's bit pattern).
    pub(crate) fn exponent_field(&mut self, i: Value) -> Value {
        let e = self.b.ins().ushr_imm_u(i, 52);
        // or-ing into the mantissa of 2^52 turns the integer into 2^52 + e.
        let two52 = self.ki(0x4330_0000_0000_0000);
        let e = self.b.ins().bor(e, two52);
        let e = self.float_of_bits(e);
        self.addk(e, -4_503_599_627_370_496.0)
    }
}
