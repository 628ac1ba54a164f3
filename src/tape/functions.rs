//! The elementary functions on [`Var`], each recorded as one node whose
//! partial derivatives are evaluated from the operands (and, where cheaper or
//! more accurate, the result).
//!
//! Values follow `f64` (std) and, for `erf`, `libm`. Where a derivative is
//! undefined the choice is fixed here and documented on the method:
//! `abs` has derivative 0 at ±0; `max`/`min` split a tie evenly (so
//! `max(x, x)` still has derivative 1) and send the whole derivative to the
//! operand they return when the other is NaN; `x.powf(0.0)`, `x.powi(0)` and
//! `x.pow(y)` at `y = 0` have derivative 0 in `x` everywhere, and `x.pow(y)`
//! has derivative 0 in `y` wherever its value is 0. Elsewhere IEEE arithmetic
//! decides (`sqrt` at 0 has derivative +∞, `ln` at a negative number NaN).

use std::f64::consts::FRAC_2_SQRT_PI;

use super::Var;

impl<'t> Var<'t> {
    /// Sine.
    #[inline]
    pub fn sin(self) -> Var<'t> {
        let (sin, cos) = self.value().sin_cos();
        self.unary(sin, cos)
    }

    /// Cosine.
    #[inline]
    pub fn cos(self) -> Var<'t> {
        let (sin, cos) = self.value().sin_cos();
        self.unary(cos, -sin)
    }

    /// Tangent; derivative 1 + tan².
    #[inline]
    pub fn tan(self) -> Var<'t> {
        let tan = self.value().tan();
        self.unary(tan, 1.0 + tan * tan)
    }

    /// The exponential eˣ.
    #[inline]
    pub fn exp(self) -> Var<'t> {
        let exp = self.value().exp();
        self.unary(exp, exp)
    }

    /// eˣ − 1, accurate near 0.
    #[doc(alias = "expm1")]
    #[inline]
    pub fn exp_m1(self) -> Var<'t> {
        // The derivative is eˣ; `exp_m1 + 1` would lose it for x ≪ 0.
        self.unary(self.value().exp_m1(), self.value().exp())
    }

    /// The natural logarithm.
    #[inline]
    pub fn ln(self) -> Var<'t> {
        self.unary(self.value().ln(), 1.0 / self.value())
    }

    /// The logarithm in base `base`.
    #[inline]
    pub fn log(self, base: f64) -> Var<'t> {
        let x = self.value();
        self.unary(x.log(base), 1.0 / (x * base.ln()))
    }

    /// ln(1 + x), accurate near 0.
    #[doc(alias = "log1p")]
    #[inline]
    pub fn ln_1p(self) -> Var<'t> {
        let x = self.value();
        self.unary(x.ln_1p(), 1.0 / (1.0 + x))
    }

    /// The square root; derivative +∞ at 0.
    #[inline]
    pub fn sqrt(self) -> Var<'t> {
        let sqrt = self.value().sqrt();
        self.unary(sqrt, 0.5 / sqrt)
    }

    /// 1/x.
    #[inline]
    pub fn recip(self) -> Var<'t> {
        let recip = self.value().recip();
        self.unary(recip, -recip * recip)
    }

    /// xᶜ for a constant exponent; derivative 0 when `c` is 0.
    #[inline]
    pub fn powf(self, c: f64) -> Var<'t> {
        let x = self.value();
        let partial = if c == 0.0 { 0.0 } else { c * x.powf(c - 1.0) };
        self.unary(x.powf(c), partial)
    }

    /// xⁿ for a constant integer exponent; derivative 0 when `n` is 0.
    #[inline]
    pub fn powi(self, n: i32) -> Var<'t> {
        let x = self.value();
        let partial = match n {
            0 => 0.0,
            // n − 1 would overflow.
            i32::MIN => f64::from(n) * x.powf(f64::from(n) - 1.0),
            _ => f64::from(n) * x.powi(n - 1),
        };
        self.unary(x.powi(n), partial)
    }

    /// xʸ for a recorded exponent. The derivative in x is 0 where y is 0,
    /// and the derivative in y is 0 where xʸ is 0 (the limit for x → 0⁺).
    #[inline]
    pub fn pow(self, exponent: Var<'t>) -> Var<'t> {
        let (x, y) = (self.value(), exponent.value());
        let power = x.powf(y);
        let d_base = if y == 0.0 { 0.0 } else { y * x.powf(y - 1.0) };
        let d_exponent = if power == 0.0 { 0.0 } else { power * x.ln() };
        self.binary(exponent, power, d_base, d_exponent)
    }

    /// Hyperbolic tangent; derivative 1 − tanh².
    #[inline]
    pub fn tanh(self) -> Var<'t> {
        let tanh = self.value().tanh();
        self.unary(tanh, 1.0 - tanh * tanh)
    }

    /// The logistic function 1/(1 + e⁻ˣ), evaluated without overflow;
    /// derivative σ(1 − σ).
    #[inline]
    pub fn sigmoid(self) -> Var<'t> {
        let x = self.value();
        let sigmoid = if x >= 0.0 {
            1.0 / (1.0 + (-x).exp())
        } else {
            let exp = x.exp();
            exp / (1.0 + exp)
        };
        self.unary(sigmoid, sigmoid * (1.0 - sigmoid))
    }

    /// The error function (`libm::erf`); derivative (2/√π)·e^(−x²).
    #[inline]
    pub fn erf(self) -> Var<'t> {
        let x = self.value();
        self.unary(libm::erf(x), FRAC_2_SQRT_PI * (-x * x).exp())
    }

    /// The absolute value; derivative sign(x), and 0 at ±0.
    #[inline]
    pub fn abs(self) -> Var<'t> {
        let x = self.value();
        let partial = if x == 0.0 { 0.0 } else { x.signum() };
        self.unary(x.abs(), partial)
    }

    /// The four-quadrant arctangent of `self / x` (`self` is the ordinate,
    /// as in [`f64::atan2`]).
    #[inline]
    pub fn atan2(self, x: Var<'t>) -> Var<'t> {
        let (y_value, x_value) = (self.value(), x.value());
        let radius2 = x_value * x_value + y_value * y_value;
        self.binary(
            x,
            y_value.atan2(x_value),
            x_value / radius2,
            -y_value / radius2,
        )
    }

    /// The larger of two values (as [`f64::max`]: a NaN operand is ignored).
    /// A tie splits the derivative evenly between the operands.
    #[inline]
    pub fn max(self, other: Var<'t>) -> Var<'t> {
        let (a, b) = (self.value(), other.value());
        let (d_self, d_other) = select_partials(a > b, a < b, a == b, a.is_nan());
        self.binary(other, a.max(b), d_self, d_other)
    }

    /// The smaller of two values (as [`f64::min`]: a NaN operand is ignored).
    /// A tie splits the derivative evenly between the operands.
    #[inline]
    pub fn min(self, other: Var<'t>) -> Var<'t> {
        let (a, b) = (self.value(), other.value());
        let (d_self, d_other) = select_partials(a < b, a > b, a == b, a.is_nan());
        self.binary(other, a.min(b), d_self, d_other)
    }
}

/// The partials of a two-way selection: all to the operand selected, half
/// each on a tie, and to the other operand when `self_is_nan` (since
/// `f64::max`/`min` return the non-NaN operand).
#[inline]
fn select_partials(
    self_selected: bool,
    other_selected: bool,
    tie: bool,
    self_is_nan: bool,
) -> (f64, f64) {
    if self_selected {
        (1.0, 0.0)
    } else if other_selected {
        (0.0, 1.0)
    } else if tie {
        (0.5, 0.5)
    } else if self_is_nan {
        (0.0, 1.0)
    } else {
        (1.0, 0.0)
    }
}
