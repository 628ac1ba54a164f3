//! Elementwise kernels: unary, binary, compare, select, convert, and the
//! nullary constant, iota and size ops.
//!
//! Each op is one monomorphic loop over whole arrays (the op is matched once,
//! outside the loop). When an operand's buffer is free to take
//! ([`Operand::take_buf`]) and has the result's element type, the result is
//! written over it in place. The semantics are documented in [`super`].

use super::buf::{Buf, Elt, Fault, Meter, Operand, for_elem, malformed, typed};
use crate::op::{BinaryOp, CmpOp, ConstData, Scalar, UnaryOp};
use crate::tensor::Data;
use crate::types::Elem;
use std::rc::Rc;

/// Where a unary map writes: over its input, or into a fresh vector.
enum Dst<'x, T> {
    InPlace(&'x mut [T]),
    Fresh(&'x [T], &'x mut Vec<T>),
}

fn map1<T: Copy>(d: Dst<'_, T>, f: impl Fn(T) -> T) {
    match d {
        Dst::InPlace(xs) => xs.iter_mut().for_each(|x| *x = f(*x)),
        Dst::Fresh(xs, out) => out.extend(xs.iter().map(|&x| f(x))),
    }
}

/// Where a binary map writes: over one of its inputs, or into a fresh vector.
enum Dst2<'x, T> {
    Left(&'x mut [T], &'x [T]),
    Right(&'x [T], &'x mut [T]),
    Fresh(&'x [T], &'x [T], &'x mut Vec<T>),
}

fn map2<T: Copy>(d: Dst2<'_, T>, f: impl Fn(T, T) -> T) {
    match d {
        Dst2::Left(a, b) => a.iter_mut().zip(b).for_each(|(x, &y)| *x = f(*x, y)),
        Dst2::Right(a, b) => b.iter_mut().zip(a).for_each(|(y, &x)| *y = f(x, *y)),
        Dst2::Fresh(a, b, out) => out.extend(a.iter().zip(b).map(|(&x, &y)| f(x, y))),
    }
}

fn undefined(elem: Elem) -> Fault {
    malformed(format!("not defined for {elem}"))
}

/// Float kernels, written once for `f64` and `f32` with the type's own
/// methods (so `f32` is computed in single precision throughout).
macro_rules! float_kernels {
    ($t:ty, $unary:ident, $binary:ident, $min:ident, $max:ident, $erf:path) => {
        /// Minimum: NaN if either is NaN (the first NaN), `min(-0, +0) = -0`.
        pub(super) fn $min(a: $t, b: $t) -> $t {
            if a.is_nan() {
                a
            } else if b.is_nan() {
                b
            } else if a < b {
                a
            } else if b < a {
                b
            } else if a.is_sign_negative() {
                a
            } else {
                b
            }
        }

        /// Maximum: NaN if either is NaN (the first NaN), `max(-0, +0) = +0`.
        pub(super) fn $max(a: $t, b: $t) -> $t {
            if a.is_nan() {
                a
            } else if b.is_nan() {
                b
            } else if a > b {
                a
            } else if b > a {
                b
            } else if a.is_sign_positive() {
                a
            } else {
                b
            }
        }

        fn $unary(op: UnaryOp, d: Dst<'_, $t>) -> Result<(), Fault> {
            match op {
                UnaryOp::Neg => map1(d, |x: $t| -x),
                UnaryOp::Abs => map1(d, <$t>::abs),
                UnaryOp::Sqrt => map1(d, <$t>::sqrt),
                UnaryOp::Exp => map1(d, <$t>::exp),
                UnaryOp::Log => map1(d, <$t>::ln),
                UnaryOp::Log1p => map1(d, <$t>::ln_1p),
                UnaryOp::Expm1 => map1(d, <$t>::exp_m1),
                UnaryOp::Sin => map1(d, <$t>::sin),
                UnaryOp::Cos => map1(d, <$t>::cos),
                UnaryOp::Tan => map1(d, <$t>::tan),
                UnaryOp::Tanh => map1(d, <$t>::tanh),
                UnaryOp::Sigmoid => map1(d, |x: $t| {
                    // Either branch exponentiates a non-positive number, so
                    // neither overflows.
                    if x >= 0.0 {
                        1.0 / (1.0 + (-x).exp())
                    } else {
                        let e = x.exp();
                        e / (1.0 + e)
                    }
                }),
                UnaryOp::Erf => map1(d, $erf),
                UnaryOp::Recip => map1(d, |x: $t| 1.0 / x),
                UnaryOp::Floor => map1(d, <$t>::floor),
                UnaryOp::Ceil => map1(d, <$t>::ceil),
                UnaryOp::Round => map1(d, <$t>::round),
                UnaryOp::Sign => map1(d, |x: $t| {
                    if x > 0.0 {
                        1.0
                    } else if x < 0.0 {
                        -1.0
                    } else {
                        x
                    }
                }),
                UnaryOp::Not => return Err(undefined(<$t as Elt>::ELEM)),
            }
            Ok(())
        }

        fn $binary(op: BinaryOp, d: Dst2<'_, $t>) -> Result<(), Fault> {
            match op {
                BinaryOp::Add => map2(d, |a: $t, b: $t| a + b),
                BinaryOp::Sub => map2(d, |a: $t, b: $t| a - b),
                BinaryOp::Mul => map2(d, |a: $t, b: $t| a * b),
                BinaryOp::Div => map2(d, |a: $t, b: $t| a / b),
                BinaryOp::Pow => map2(d, <$t>::powf),
                BinaryOp::Min => map2(d, $min),
                BinaryOp::Max => map2(d, $max),
                BinaryOp::Atan2 => map2(d, <$t>::atan2),
                BinaryOp::And | BinaryOp::Or => {
                    return Err(undefined(<$t as Elt>::ELEM));
                }
            }
            Ok(())
        }
    };
}

float_kernels!(f64, unary_f64, binary_f64, min_f64, max_f64, libm::erf);
float_kernels!(f32, unary_f32, binary_f32, min_f32, max_f32, libm::erff);

fn unary_i64(op: UnaryOp, d: Dst<'_, i64>) -> Result<(), Fault> {
    match op {
        UnaryOp::Neg => map1(d, i64::wrapping_neg),
        UnaryOp::Abs => map1(d, i64::wrapping_abs),
        UnaryOp::Sign => map1(d, i64::signum),
        UnaryOp::Not => map1(d, |x: i64| !x),
        _ => return Err(undefined(Elem::I64)),
    }
    Ok(())
}

fn unary_bool(op: UnaryOp, d: Dst<'_, bool>) -> Result<(), Fault> {
    match op {
        UnaryOp::Not => map1(d, |x: bool| !x),
        _ => return Err(undefined(Elem::Bool)),
    }
    Ok(())
}

fn binary_i64(op: BinaryOp, d: Dst2<'_, i64>) -> Result<(), Fault> {
    match op {
        BinaryOp::Add => map2(d, i64::wrapping_add),
        BinaryOp::Sub => map2(d, i64::wrapping_sub),
        BinaryOp::Mul => map2(d, i64::wrapping_mul),
        BinaryOp::Div => map2(
            d,
            |a: i64, b: i64| if b == 0 { 0 } else { a.wrapping_div(b) },
        ),
        BinaryOp::Min => map2(d, i64::min),
        BinaryOp::Max => map2(d, i64::max),
        BinaryOp::And => map2(d, |a: i64, b: i64| a & b),
        BinaryOp::Or => map2(d, |a: i64, b: i64| a | b),
        BinaryOp::Pow | BinaryOp::Atan2 => return Err(undefined(Elem::I64)),
    }
    Ok(())
}

fn binary_bool(op: BinaryOp, d: Dst2<'_, bool>) -> Result<(), Fault> {
    match op {
        BinaryOp::And => map2(d, |a: bool, b: bool| a & b),
        BinaryOp::Or => map2(d, |a: bool, b: bool| a | b),
        _ => return Err(undefined(Elem::Bool)),
    }
    Ok(())
}

/// `op(x)`, elementwise.
pub(super) fn unary(m: &Rc<Meter>, op: UnaryOp, x: &mut Operand<'_>) -> Result<Buf, Fault> {
    let elem = x.elem();
    if !op.accepts(elem) {
        return Err(undefined(elem));
    }
    if let Some(mut buf) = x.take_buf() {
        match &mut buf.data {
            Data::F64(v) => unary_f64(op, Dst::InPlace(v))?,
            Data::F32(v) => unary_f32(op, Dst::InPlace(v))?,
            Data::I64(v) => unary_i64(op, Dst::InPlace(v))?,
            Data::Bool(v) => unary_bool(op, Dst::InPlace(v))?,
        }
        return Ok(buf);
    }
    let n = x.data().len();
    let data = match x.data() {
        Data::F64(s) => {
            let mut out = m.alloc(n)?;
            unary_f64(op, Dst::Fresh(s, &mut out))?;
            Data::F64(out)
        }
        Data::F32(s) => {
            let mut out = m.alloc(n)?;
            unary_f32(op, Dst::Fresh(s, &mut out))?;
            Data::F32(out)
        }
        Data::I64(s) => {
            let mut out = m.alloc(n)?;
            unary_i64(op, Dst::Fresh(s, &mut out))?;
            Data::I64(out)
        }
        Data::Bool(s) => {
            let mut out = m.alloc(n)?;
            unary_bool(op, Dst::Fresh(s, &mut out))?;
            Data::Bool(out)
        }
    };
    Ok(Buf::new(m, x.shape().to_vec(), data))
}

/// Checks that two operands have one type (element type and shape).
fn same_type(a: &Operand<'_>, b: &Operand<'_>) -> Result<(), Fault> {
    if a.elem() != b.elem() || a.shape() != b.shape() {
        return Err(malformed(format!(
            "operands differ: {}{:?} and {}{:?}",
            a.elem(),
            a.shape(),
            b.elem(),
            b.shape()
        )));
    }
    Ok(())
}

fn binary_typed<T: Elt>(
    m: &Rc<Meter>,
    args: &mut [Operand<'_>],
    kernel: fn(BinaryOp, Dst2<'_, T>) -> Result<(), Fault>,
    op: BinaryOp,
) -> Result<Buf, Fault> {
    let [a, b] = args else {
        return Err(malformed("takes 2 operands"));
    };
    if let Some(mut buf) = a.take_buf() {
        let (Some(x), Ok(y)) = (T::slice_mut(&mut buf.data), typed::<T>(b.data())) else {
            return Err(malformed("operand element types differ"));
        };
        kernel(op, Dst2::Left(x, y))?;
        return Ok(buf);
    }
    if let Some(mut buf) = b.take_buf() {
        let (Ok(x), Some(y)) = (typed::<T>(a.data()), T::slice_mut(&mut buf.data)) else {
            return Err(malformed("operand element types differ"));
        };
        kernel(op, Dst2::Right(x, y))?;
        return Ok(buf);
    }
    let (x, y) = (typed::<T>(a.data())?, typed::<T>(b.data())?);
    let mut out = m.alloc(x.len())?;
    kernel(op, Dst2::Fresh(x, y, &mut out))?;
    Ok(Buf::new(m, a.shape().to_vec(), T::wrap(out)))
}

/// `op(a, b)`, elementwise, on operands of one type.
pub(super) fn binary(m: &Rc<Meter>, op: BinaryOp, args: &mut [Operand<'_>]) -> Result<Buf, Fault> {
    let [a, b] = &*args else {
        return Err(malformed(format!("takes 2 operands, got {}", args.len())));
    };
    same_type(a, b)?;
    let elem = a.elem();
    if !op.accepts(elem) {
        return Err(undefined(elem));
    }
    match elem {
        Elem::F64 => binary_typed::<f64>(m, args, binary_f64, op),
        Elem::F32 => binary_typed::<f32>(m, args, binary_f32, op),
        Elem::I64 => binary_typed::<i64>(m, args, binary_i64, op),
        Elem::Bool => binary_typed::<bool>(m, args, binary_bool, op),
    }
}

fn compare_typed<T: Elt + PartialOrd>(
    m: &Meter,
    op: CmpOp,
    a: &Data,
    b: &Data,
) -> Result<Vec<bool>, Fault> {
    let (a, b) = (typed::<T>(a)?, typed::<T>(b)?);
    let mut out = m.alloc(a.len())?;
    let pairs = a.iter().zip(b);
    match op {
        CmpOp::Eq => out.extend(pairs.map(|(x, y)| x == y)),
        CmpOp::Ne => out.extend(pairs.map(|(x, y)| x != y)),
        CmpOp::Lt => out.extend(pairs.map(|(x, y)| x < y)),
        CmpOp::Le => out.extend(pairs.map(|(x, y)| x <= y)),
        CmpOp::Gt => out.extend(pairs.map(|(x, y)| x > y)),
        CmpOp::Ge => out.extend(pairs.map(|(x, y)| x >= y)),
    }
    Ok(out)
}

/// `op(a, b)`, elementwise, giving `bool`.
pub(super) fn compare(m: &Rc<Meter>, op: CmpOp, args: &[Operand<'_>]) -> Result<Buf, Fault> {
    let [a, b] = args else {
        return Err(malformed(format!("takes 2 operands, got {}", args.len())));
    };
    same_type(a, b)?;
    let elem = a.elem();
    let ordered = !matches!(op, CmpOp::Eq | CmpOp::Ne);
    let out = match elem {
        Elem::Bool if ordered => return Err(undefined(elem)),
        _ => for_elem!(elem, T => compare_typed::<T>(m, op, a.data(), b.data())?),
    };
    Ok(Buf::new(m, a.shape().to_vec(), Data::Bool(out)))
}

fn select_typed<T: Elt>(m: &Rc<Meter>, args: &mut [Operand<'_>]) -> Result<Buf, Fault> {
    let [c, t, f] = args else {
        return Err(malformed(format!("takes 3 operands, got {}", args.len())));
    };
    let cond = typed::<bool>(c.data())?;
    if let Some(mut buf) = t.take_buf() {
        let (Some(x), Ok(y)) = (T::slice_mut(&mut buf.data), typed::<T>(f.data())) else {
            return Err(malformed("branch element types differ"));
        };
        for ((x, &y), &c) in x.iter_mut().zip(y).zip(cond) {
            if !c {
                *x = y;
            }
        }
        return Ok(buf);
    }
    let (x, y) = (typed::<T>(t.data())?, typed::<T>(f.data())?);
    let mut out = m.alloc(x.len())?;
    out.extend(
        cond.iter()
            .zip(x.iter().zip(y))
            .map(|(&c, (&x, &y))| if c { x } else { y }),
    );
    Ok(Buf::new(m, t.shape().to_vec(), T::wrap(out)))
}

/// `cond ? on_true : on_false`, elementwise.
pub(super) fn select(m: &Rc<Meter>, args: &mut [Operand<'_>]) -> Result<Buf, Fault> {
    let [c, t, f] = &*args else {
        return Err(malformed(format!("takes 3 operands, got {}", args.len())));
    };
    same_type(t, f)?;
    if c.elem() != Elem::Bool || c.shape() != t.shape() {
        return Err(malformed(format!(
            "condition must be bool{:?}, got {}{:?}",
            t.shape(),
            c.elem(),
            c.shape()
        )));
    }
    for_elem!(t.elem(), T => select_typed::<T>(m, args))
}

/// Converts `xs` with `f` into fresh storage.
fn convert_with<S: Copy, T>(m: &Meter, xs: &[S], f: impl Fn(S) -> T) -> Result<Vec<T>, Fault> {
    let mut out = m.alloc(xs.len())?;
    out.extend(xs.iter().map(|&x| f(x)));
    Ok(out)
}

/// Converts elements to `to`.
pub(super) fn convert(m: &Rc<Meter>, to: Elem, x: &mut Operand<'_>) -> Result<Buf, Fault> {
    if x.elem() == to {
        if let Some(buf) = x.take_buf() {
            return Ok(buf);
        }
        let data = for_elem!(to, T => {
            let xs = typed::<T>(x.data())?;
            let mut out = m.alloc(xs.len())?;
            out.extend_from_slice(xs);
            T::wrap(out)
        });
        return Ok(Buf::new(m, x.shape().to_vec(), data));
    }
    let data = match (x.data(), to) {
        (Data::F64(v), Elem::F32) => Data::F32(convert_with(m, v, |x| x as f32)?),
        (Data::F64(v), Elem::I64) => Data::I64(convert_with(m, v, |x| x as i64)?),
        (Data::F64(v), Elem::Bool) => Data::Bool(convert_with(m, v, |x| x != 0.0)?),
        (Data::F32(v), Elem::F64) => Data::F64(convert_with(m, v, f64::from)?),
        (Data::F32(v), Elem::I64) => Data::I64(convert_with(m, v, |x| x as i64)?),
        (Data::F32(v), Elem::Bool) => Data::Bool(convert_with(m, v, |x| x != 0.0)?),
        (Data::I64(v), Elem::F64) => Data::F64(convert_with(m, v, |x| x as f64)?),
        (Data::I64(v), Elem::F32) => Data::F32(convert_with(m, v, |x| x as f32)?),
        (Data::I64(v), Elem::Bool) => Data::Bool(convert_with(m, v, |x| x != 0)?),
        (Data::Bool(v), Elem::F64) => Data::F64(convert_with(m, v, |x| f64::from(u8::from(x)))?),
        (Data::Bool(v), Elem::F32) => Data::F32(convert_with(m, v, |x| f32::from(u8::from(x)))?),
        (Data::Bool(v), Elem::I64) => Data::I64(convert_with(m, v, i64::from)?),
        (d, to) => {
            return Err(malformed(format!("cannot convert {} to {to}", d.elem())));
        }
    };
    Ok(Buf::new(m, x.shape().to_vec(), data))
}

/// A literal of the element type `T`, or a malformed fault naming it.
pub(super) fn scalar_as<T: Elt>(s: Scalar) -> Result<T, Fault> {
    T::from_scalar(s).ok_or_else(|| malformed(format!("literal {s} is not of type {}", T::ELEM)))
}

/// A constant of element type `elem` and the evaluated `shape`.
pub(super) fn constant(
    m: &Rc<Meter>,
    elem: Elem,
    shape: Vec<usize>,
    data: &ConstData,
) -> Result<Buf, Fault> {
    let n = m.count(&shape)?;
    let out = match data {
        ConstData::Splat(s) => for_elem!(elem, T => T::wrap(m.filled(n, scalar_as::<T>(*s)?)?)),
        ConstData::Dense(items) => {
            if items.len() != n {
                return Err(malformed(format!(
                    "shape {shape:?} has {n} element(s), the literal has {}",
                    items.len()
                )));
            }
            for_elem!(elem, T => {
                let mut out = m.alloc(n)?;
                for &s in items.iter() {
                    out.push(scalar_as::<T>(s)?);
                }
                T::wrap(out)
            })
        }
    };
    Ok(Buf::new(m, shape, out))
}

/// Element `i` holds its index along `axis`, as `elem` (`as` conversion).
pub(super) fn iota(
    m: &Rc<Meter>,
    elem: Elem,
    shape: Vec<usize>,
    axis: usize,
) -> Result<Buf, Fault> {
    if !elem.is_numeric() {
        return Err(undefined(elem));
    }
    if axis >= shape.len() {
        return Err(malformed(format!("axis {axis} out of range for {shape:?}")));
    }
    let n = m.count(&shape)?;
    if n == 0 {
        return Ok(Buf::new(
            m,
            shape,
            for_elem!(elem, T => T::wrap(Vec::new())),
        ));
    }
    // With no empty axis, every partial product is at most `n`.
    let d = shape[axis];
    let inner: usize = shape[axis + 1..].iter().product();
    let outer: usize = shape[..axis].iter().product();
    fn fill<T: Copy>(
        m: &Meter,
        n: usize,
        outer: usize,
        d: usize,
        inner: usize,
        f: impl Fn(usize) -> T,
    ) -> Result<Vec<T>, Fault> {
        let mut out = m.alloc(n)?;
        for _ in 0..outer {
            for k in 0..d {
                out.extend(std::iter::repeat_n(f(k), inner));
            }
        }
        Ok(out)
    }
    let data = match elem {
        Elem::F64 => Data::F64(fill(m, n, outer, d, inner, |k| k as f64)?),
        Elem::F32 => Data::F32(fill(m, n, outer, d, inner, |k| k as f32)?),
        Elem::I64 => Data::I64(fill(m, n, outer, d, inner, |k| k as i64)?),
        Elem::Bool => return Err(undefined(elem)),
    };
    Ok(Buf::new(m, shape, data))
}

/// The scalar `value` as `elem` (`as` conversion).
pub(super) fn size(m: &Rc<Meter>, elem: Elem, value: i64) -> Result<Buf, Fault> {
    let data = match elem {
        Elem::F64 => Data::F64(m.filled(1, value as f64)?),
        Elem::F32 => Data::F32(m.filled(1, value as f32)?),
        Elem::I64 => Data::I64(m.filled(1, value)?),
        Elem::Bool => return Err(undefined(elem)),
    };
    Ok(Buf::new(m, Vec::new(), data))
}
