//! Lowering of elementwise ops to CLIF, on scalars or on vector lanes.
//!
//! Every elementwise op of the IR is lowered here, in one exhaustive `match`
//! per op family; transcendental functions go through
//! [`super::transcend::emit`]. A value is either a scalar (`lanes == 1`) or a
//! vector of `lanes` elements (`f64x2`, `f32x4`); booleans are `i8` 0/1
//! scalars, or lane masks (all ones / all zeros, `i64x2` / `i32x4`) in
//! vectors.
//!
//! Semantics are the interpreter's (IEEE-754, no fast-math): separate `mul`
//! and `add` are never contracted into a fused multiply-add, so elementwise
//! arithmetic is bit-identical to the interpreter. `min`/`max` propagate NaN
//! and order `-0 < +0` (Cranelift's `fmin`/`fmax`). Integer `div` by 0 is 0,
//! and `i64::MIN / -1` wraps, without trapping.

use super::error::CompileError;
use adjit_ir::{BinaryOp, CmpOp, Elem, ReduceOp, Scalar, UnaryOp};
use cranelift_codegen::cursor::FuncCursor;
use cranelift_codegen::ir::condcodes::{FloatCC, IntCC};
use cranelift_codegen::ir::{
    ConstantData, Endianness, InstBuilder, MemFlagsData, Type, Value, types,
};

type R<T> = Result<T, CompileError>;

/// The CLIF type of one element (bool is `i8`).
pub(crate) fn scalar_ty(elem: Elem) -> Type {
    match elem {
        Elem::F64 => types::F64,
        Elem::F32 => types::F32,
        Elem::I64 => types::I64,
        Elem::Bool => types::I8,
    }
}

/// The CLIF type of `lanes` elements of `elem` (`lanes > 1` only for floats
/// and, as masks, bools). `float` is the kernel's float type, which fixes the
/// mask type.
pub(crate) fn lane_ty(elem: Elem, lanes: usize) -> Type {
    if lanes == 1 {
        return scalar_ty(elem);
    }
    match (elem, lanes) {
        (Elem::F64, 2) => types::F64X2,
        (Elem::F32, 4) => types::F32X4,
        (_, 2) => types::I64X2,
        _ => types::I32X4,
    }
}

fn bitcast_flags() -> MemFlagsData {
    MemFlagsData::new().with_endianness(Endianness::Little)
}

/// A constant, splatted to `lanes`.
pub(crate) fn constant(pos: &mut FuncCursor, s: Scalar, lanes: usize) -> Value {
    if lanes == 1 {
        return match s {
            Scalar::F64(x) => pos.ins().f64const(x),
            Scalar::F32(x) => pos.ins().f32const(x),
            Scalar::I64(x) => pos.ins().iconst(types::I64, x),
            Scalar::Bool(b) => pos.ins().iconst(types::I8, i64::from(b)),
        };
    }
    let mut bytes = Vec::with_capacity(16);
    for _ in 0..lanes {
        match s {
            Scalar::F64(x) => bytes.extend_from_slice(&x.to_le_bytes()),
            Scalar::F32(x) => bytes.extend_from_slice(&x.to_le_bytes()),
            Scalar::I64(x) => bytes.extend_from_slice(&x.to_le_bytes()),
            Scalar::Bool(b) => {
                let m: u64 = if b { u64::MAX } else { 0 };
                bytes.extend_from_slice(&m.to_le_bytes()[..16 / lanes]);
            }
        }
    }
    let ty = lane_ty(s.elem(), lanes);
    let handle = pos.func.dfg.constants.insert(ConstantData::from(bytes));
    pos.ins().vconst(ty, handle)
}

/// A scalar value broadcast to `lanes` (bools become masks).
pub(crate) fn splat(pos: &mut FuncCursor, elem: Elem, lanes: usize, x: Value) -> Value {
    if elem == Elem::Bool {
        let wide = if lanes == 2 { types::I64 } else { types::I32 };
        let m = pos.ins().bmask(wide, x);
        return pos.ins().splat(lane_ty(Elem::Bool, lanes), m);
    }
    pos.ins().splat(lane_ty(elem, lanes), x)
}

fn as_float_vec(pos: &mut FuncCursor, mask: Value, fty: Type) -> Value {
    pos.ins().bitcast(fty, bitcast_flags(), mask)
}

fn as_mask(pos: &mut FuncCursor, x: Value, lanes: usize) -> Value {
    pos.ins()
        .bitcast(lane_ty(Elem::Bool, lanes), bitcast_flags(), x)
}

/// `x` with the sign of `s` (floats).
fn copysign(pos: &mut FuncCursor, elem: Elem, lanes: usize, x: Value, s: Value) -> Value {
    if lanes == 1 {
        return pos.ins().fcopysign(x, s);
    }
    // No vector `fcopysign` on x86-64: splice the sign bit in.
    let sign = constant(pos, Scalar::from_f64(elem, -0.0), lanes);
    let sbits = pos.ins().band(s, sign);
    let magnitude = pos.ins().band_not(x, sign);
    pos.ins().bor(magnitude, sbits)
}

/// Lowers a unary op that is not transcendental (those go through
/// [`super::transcend::emit`]).
pub(crate) fn unary(
    pos: &mut FuncCursor,
    op: UnaryOp,
    elem: Elem,
    lanes: usize,
    x: Value,
) -> R<Value> {
    let float = elem.is_float();
    Ok(match op {
        UnaryOp::Neg if float => pos.ins().fneg(x),
        UnaryOp::Neg => pos.ins().ineg(x),
        UnaryOp::Abs if float => pos.ins().fabs(x),
        UnaryOp::Abs => pos.ins().iabs(x),
        UnaryOp::Sqrt => pos.ins().sqrt(x),
        UnaryOp::Recip => {
            let one = constant(pos, Scalar::from_f64(elem, 1.0), lanes);
            pos.ins().fdiv(one, x)
        }
        UnaryOp::Floor => pos.ins().floor(x),
        UnaryOp::Ceil => pos.ins().ceil(x),
        UnaryOp::Round => {
            // Half away from zero: trunc, then step away from zero when the
            // dropped fraction is at least one half (x − trunc(x) is exact).
            let t = pos.ins().trunc(x);
            let frac = pos.ins().fsub(x, t);
            let d = pos.ins().fabs(frac);
            let half = constant(pos, Scalar::from_f64(elem, 0.5), lanes);
            let one = constant(pos, Scalar::from_f64(elem, 1.0), lanes);
            let step = copysign(pos, elem, lanes, one, x);
            let away = pos.ins().fadd(t, step);
            let ge = pos.ins().fcmp(FloatCC::GreaterThanOrEqual, d, half);
            select(pos, elem, lanes, ge, away, t)
        }
        UnaryOp::Sign if float => {
            let zero = constant(pos, Scalar::from_f64(elem, 0.0), lanes);
            let one = constant(pos, Scalar::from_f64(elem, 1.0), lanes);
            let minus = constant(pos, Scalar::from_f64(elem, -1.0), lanes);
            let gt = pos.ins().fcmp(FloatCC::GreaterThan, x, zero);
            let lt = pos.ins().fcmp(FloatCC::LessThan, x, zero);
            let neg_or_x = select(pos, elem, lanes, lt, minus, x);
            select(pos, elem, lanes, gt, one, neg_or_x)
        }
        UnaryOp::Sign => {
            let gt = pos.ins().icmp_imm_s(IntCC::SignedGreaterThan, x, 0);
            let lt = pos.ins().icmp_imm_s(IntCC::SignedLessThan, x, 0);
            let gt = pos.ins().uextend(types::I64, gt);
            let lt = pos.ins().uextend(types::I64, lt);
            pos.ins().isub(gt, lt)
        }
        UnaryOp::Not if elem == Elem::Bool && lanes == 1 => pos.ins().bxor_imm_s(x, 1),
        UnaryOp::Not => pos.ins().bnot(x),
        UnaryOp::Exp
        | UnaryOp::Log
        | UnaryOp::Log1p
        | UnaryOp::Expm1
        | UnaryOp::Sin
        | UnaryOp::Cos
        | UnaryOp::Tan
        | UnaryOp::Tanh
        | UnaryOp::Sigmoid
        | UnaryOp::Erf => {
            return Err(CompileError::Internal(format!(
                "lower: `{}` must be lowered as a transcendental",
                op.name()
            )));
        }
    })
}

/// Lowers a binary op that is not transcendental (those go through
/// [`super::transcend::emit`]).
pub(crate) fn binary(
    pos: &mut FuncCursor,
    op: BinaryOp,
    elem: Elem,
    a: Value,
    b: Value,
) -> R<Value> {
    let float = elem.is_float();
    Ok(match op {
        BinaryOp::Add if float => pos.ins().fadd(a, b),
        BinaryOp::Add => pos.ins().iadd(a, b),
        BinaryOp::Sub if float => pos.ins().fsub(a, b),
        BinaryOp::Sub => pos.ins().isub(a, b),
        BinaryOp::Mul if float => pos.ins().fmul(a, b),
        BinaryOp::Mul => pos.ins().imul(a, b),
        BinaryOp::Div if float => pos.ins().fdiv(a, b),
        BinaryOp::Div => {
            // x / 0 = 0 and MIN / -1 wraps; sdiv itself would trap on both.
            let is_zero = pos.ins().icmp_imm_s(IntCC::Equal, b, 0);
            let is_m1 = pos.ins().icmp_imm_s(IntCC::Equal, b, -1);
            let bad = pos.ins().bor(is_zero, is_m1);
            let one = pos.ins().iconst(types::I64, 1);
            let safe = pos.ins().select(bad, one, b);
            let q = pos.ins().sdiv(a, safe);
            let neg = pos.ins().ineg(a);
            let q = pos.ins().select(is_m1, neg, q);
            let zero = pos.ins().iconst(types::I64, 0);
            pos.ins().select(is_zero, zero, q)
        }
        BinaryOp::Pow | BinaryOp::Atan2 => {
            return Err(CompileError::Internal(format!(
                "lower: `{}` must be lowered as a transcendental",
                op.name()
            )));
        }
        BinaryOp::Min if float => pos.ins().fmin(a, b),
        BinaryOp::Min => pos.ins().smin(a, b),
        BinaryOp::Max if float => pos.ins().fmax(a, b),
        BinaryOp::Max => pos.ins().smax(a, b),
        BinaryOp::And => pos.ins().band(a, b),
        BinaryOp::Or => pos.ins().bor(a, b),
    })
}

/// Lowers a comparison of two operands of element type `elem`; the result is
/// a bool (an `i8` or a lane mask).
pub(crate) fn compare(
    pos: &mut FuncCursor,
    op: CmpOp,
    elem: Elem,
    lanes: usize,
    a: Value,
    b: Value,
) -> Value {
    if elem.is_float() {
        let cc = match op {
            CmpOp::Eq => FloatCC::Equal,
            CmpOp::Ne => FloatCC::NotEqual,
            CmpOp::Lt => FloatCC::LessThan,
            CmpOp::Le => FloatCC::LessThanOrEqual,
            CmpOp::Gt => FloatCC::GreaterThan,
            CmpOp::Ge => FloatCC::GreaterThanOrEqual,
        };
        let _ = lanes;
        // On vectors the result is already a lane mask of the matching width.
        return pos.ins().fcmp(cc, a, b);
    }
    let cc = match op {
        CmpOp::Eq => IntCC::Equal,
        CmpOp::Ne => IntCC::NotEqual,
        CmpOp::Lt => IntCC::SignedLessThan,
        CmpOp::Le => IntCC::SignedLessThanOrEqual,
        CmpOp::Gt => IntCC::SignedGreaterThan,
        CmpOp::Ge => IntCC::SignedGreaterThanOrEqual,
    };
    pos.ins().icmp(cc, a, b)
}

/// `cond ? a : b` for values of element type `elem`.
pub(crate) fn select(
    pos: &mut FuncCursor,
    elem: Elem,
    lanes: usize,
    cond: Value,
    a: Value,
    b: Value,
) -> Value {
    if lanes == 1 {
        return pos.ins().select(cond, a, b);
    }
    let ty = pos.func.dfg.value_type(a);
    let cty = pos.func.dfg.value_type(cond);
    let mask = if cty == ty {
        cond
    } else if elem == Elem::Bool {
        as_mask(pos, cond, lanes)
    } else {
        as_float_vec(pos, cond, ty)
    };
    pos.ins().bitselect(mask, a, b)
}

/// Lowers `convert` from `from` to `to`.
pub(crate) fn convert(pos: &mut FuncCursor, from: Elem, to: Elem, lanes: usize, x: Value) -> Value {
    match (from, to) {
        (a, b) if a == b => x,
        (Elem::F64, Elem::F32) => pos.ins().fdemote(types::F32, x),
        (Elem::F32, Elem::F64) => pos.ins().fpromote(types::F64, x),
        (Elem::F64 | Elem::F32, Elem::I64) => pos.ins().fcvt_to_sint_sat(types::I64, x),
        (Elem::I64, Elem::F64) => pos.ins().fcvt_from_sint(types::F64, x),
        (Elem::I64, Elem::F32) => pos.ins().fcvt_from_sint(types::F32, x),
        (Elem::F64 | Elem::F32, Elem::Bool) => {
            let zero = constant(pos, Scalar::from_f64(from, 0.0), lanes);
            compare(pos, CmpOp::Ne, from, lanes, x, zero)
        }
        (Elem::I64, Elem::Bool) => pos.ins().icmp_imm_s(IntCC::NotEqual, x, 0),
        (Elem::Bool, Elem::F64 | Elem::F32) => {
            let one = constant(pos, Scalar::from_f64(to, 1.0), lanes);
            if lanes == 1 {
                let zero = constant(pos, Scalar::from_f64(to, 0.0), lanes);
                pos.ins().select(x, one, zero)
            } else {
                let ty = lane_ty(to, lanes);
                let m = as_float_vec(pos, x, ty);
                pos.ins().band(m, one)
            }
        }
        (Elem::Bool, Elem::I64) => pos.ins().uextend(types::I64, x),
        // Identity pairs are the first arm.
        (Elem::F64, Elem::F64)
        | (Elem::F32, Elem::F32)
        | (Elem::I64, Elem::I64)
        | (Elem::Bool, Elem::Bool) => x,
    }
}

/// Combines two partial results of a reduction.
pub(crate) fn combine(pos: &mut FuncCursor, op: ReduceOp, elem: Elem, a: Value, b: Value) -> Value {
    let float = elem.is_float();
    match op {
        ReduceOp::Sum if float => pos.ins().fadd(a, b),
        ReduceOp::Sum => pos.ins().iadd(a, b),
        ReduceOp::Prod if float => pos.ins().fmul(a, b),
        ReduceOp::Prod => pos.ins().imul(a, b),
        ReduceOp::Max if float => pos.ins().fmax(a, b),
        ReduceOp::Max => pos.ins().smax(a, b),
        ReduceOp::Min if float => pos.ins().fmin(a, b),
        ReduceOp::Min => pos.ins().smin(a, b),
    }
}

/// Folds the lanes of a vector into one scalar (pairwise).
pub(crate) fn horizontal(
    pos: &mut FuncCursor,
    op: ReduceOp,
    elem: Elem,
    lanes: usize,
    v: Value,
) -> Value {
    if lanes == 1 {
        return v;
    }
    let mut parts: Vec<Value> = (0..lanes)
        .map(|l| pos.ins().extractlane(v, l as u8))
        .collect();
    while parts.len() > 1 {
        let half = parts.len() / 2;
        let mut next = Vec::with_capacity(half);
        for i in 0..half {
            next.push(combine(pos, op, elem, parts[i], parts[i + half]));
        }
        parts = next;
    }
    parts[0]
}
