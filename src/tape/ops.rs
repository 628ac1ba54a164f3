//! The arithmetic operators on [`Var`]: `+ - * /` between two handles, a
//! handle and an `f64`, an `f64` and a handle; their `…Assign` forms; and
//! negation. An `f64` operand is a constant: it gets no node, and the
//! operation is recorded as one-argument.

use std::ops::{Add, AddAssign, Div, DivAssign, Mul, MulAssign, Neg, Sub, SubAssign};

use super::Var;

impl<'t> Add for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn add(self, rhs: Var<'t>) -> Var<'t> {
        self.binary(rhs, self.value() + rhs.value(), 1.0, 1.0)
    }
}

impl<'t> Sub for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn sub(self, rhs: Var<'t>) -> Var<'t> {
        self.binary(rhs, self.value() - rhs.value(), 1.0, -1.0)
    }
}

impl<'t> Mul for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn mul(self, rhs: Var<'t>) -> Var<'t> {
        self.binary(rhs, self.value() * rhs.value(), rhs.value(), self.value())
    }
}

impl<'t> Div for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn div(self, rhs: Var<'t>) -> Var<'t> {
        let quotient = self.value() / rhs.value();
        // ∂(a/b)/∂b = −a/b² = −(a/b)/b: one division instead of two.
        self.binary(rhs, quotient, 1.0 / rhs.value(), -quotient / rhs.value())
    }
}

impl<'t> Add<f64> for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn add(self, rhs: f64) -> Var<'t> {
        self.unary(self.value() + rhs, 1.0)
    }
}

impl<'t> Sub<f64> for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn sub(self, rhs: f64) -> Var<'t> {
        self.unary(self.value() - rhs, 1.0)
    }
}

impl<'t> Mul<f64> for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn mul(self, rhs: f64) -> Var<'t> {
        self.unary(self.value() * rhs, rhs)
    }
}

impl<'t> Div<f64> for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn div(self, rhs: f64) -> Var<'t> {
        self.unary(self.value() / rhs, 1.0 / rhs)
    }
}

impl<'t> Add<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline]
    fn add(self, rhs: Var<'t>) -> Var<'t> {
        rhs.unary(self + rhs.value(), 1.0)
    }
}

impl<'t> Sub<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline]
    fn sub(self, rhs: Var<'t>) -> Var<'t> {
        rhs.unary(self - rhs.value(), -1.0)
    }
}

impl<'t> Mul<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline]
    fn mul(self, rhs: Var<'t>) -> Var<'t> {
        rhs.unary(self * rhs.value(), self)
    }
}

impl<'t> Div<Var<'t>> for f64 {
    type Output = Var<'t>;
    #[inline]
    fn div(self, rhs: Var<'t>) -> Var<'t> {
        let quotient = self / rhs.value();
        rhs.unary(quotient, -quotient / rhs.value())
    }
}

impl<'t> Neg for Var<'t> {
    type Output = Var<'t>;
    #[inline]
    fn neg(self) -> Var<'t> {
        self.unary(-self.value(), -1.0)
    }
}

/// `a op= b` as `a = a op b`, for handle and `f64` right-hand sides.
macro_rules! assign_ops {
    ($($assign:ident $method:ident $op:tt;)*) => {$(
        impl<'t> $assign<Var<'t>> for Var<'t> {
            #[inline]
            fn $method(&mut self, rhs: Var<'t>) {
                *self = *self $op rhs;
            }
        }

        impl $assign<f64> for Var<'_> {
            #[inline]
            fn $method(&mut self, rhs: f64) {
                *self = *self $op rhs;
            }
        }
    )*};
}

assign_ops! {
    AddAssign add_assign +;
    SubAssign sub_assign -;
    MulAssign mul_assign *;
    DivAssign div_assign /;
}
