//! Rules of the elementwise ops: unary, binary, compare, select, convert.
//!
//! An elementwise op's derivative is a pointwise factor (a `Scale`); the
//! JVP scales the operand's tangent by it and the VJP scales the result's
//! cotangent by the same factor, so the two rules cannot disagree.
//!
//! Derivatives at kinks and edges (fixed, matching JAX where it has a rule):
//!
//! | op | derivative | at the kink / edge |
//! |---|---|---|
//! | `abs x` | `sign(x)` | `abs'(0) = 0` |
//! | `sqrt x` | `0.5 / sqrt(x)` | `+inf` at `x = +0` (so a zero tangent gives `0·inf = NaN`) |
//! | `log x`, `log1p x`, `recip x` | `1/x`, `1/(1+x)`, `−(1/x)²` | IEEE values at the pole |
//! | `floor`, `ceil`, `round`, `sign` | `0` (symbolic) | also at the jumps |
//! | `max(a, b)`, `min(a, b)` | `1` to the operand equal to the result, `0` to the other | a tie gives `½` to each; a NaN operand gives `0` to both |
//! | `pow(x, y)` w.r.t. `x` | `y·x^(y−1)` | `0` where `y == 0` (even at `x = 0`) |
//! | `pow(x, y)` w.r.t. `y` | `log(x)·x^y` | `0` where `x == 0` |
//! | `atan2(a, b)` | `(b, −a) / (a² + b²)` | `NaN` at the origin |
//! | `select(c, t, f)` | flows through the taken branch only | — |
//! | `convert` | float→float converts the tangent | to or from `i64`/`bool`: `0` |
//! | comparisons, `not`, `and`, `or`, integer ops | `0` (symbolic) | — |

use super::super::AdError;
use super::super::batch::to_batched;
use super::super::emit::Emitter;
use adjit_ir::{BinaryOp, CmpOp, Dim, Elem, Op, UnaryOp, Value};

/// A pointwise derivative factor, applied to a tangent or a cotangent.
pub(crate) enum Scale {
    /// The identity.
    One,
    /// Negation.
    Neg,
    /// Multiplication by a value.
    Mul(Value),
    /// Division by a value.
    Div(Value),
    /// Zero everywhere (a symbolic zero result).
    Zero,
}

impl Scale {
    /// `t` scaled; `None` for [`Scale::Zero`].
    pub fn apply(&self, cx: &mut Emitter, t: Value) -> Result<Option<Value>, AdError> {
        Ok(Some(match *self {
            Scale::One => t,
            Scale::Neg => cx.neg(t)?,
            Scale::Mul(v) => cx.mul(t, v)?,
            Scale::Div(v) => cx.div(t, v)?,
            Scale::Zero => return Ok(None),
        }))
    }
}

/// `dy/dx` of `y = u(x)`.
fn unary_scale(cx: &mut Emitter, u: UnaryOp, x: Value, y: Value) -> Result<Scale, AdError> {
    Ok(match u {
        UnaryOp::Neg => Scale::Neg,
        UnaryOp::Abs => Scale::Mul(cx.unary(UnaryOp::Sign, x)?),
        UnaryOp::Sqrt => {
            let half = cx.splat_like(y, 0.5)?;
            Scale::Mul(cx.div(half, y)?)
        }
        UnaryOp::Exp => Scale::Mul(y),
        UnaryOp::Log => Scale::Div(x),
        UnaryOp::Log1p => Scale::Div(cx.add_lit(1.0, x)?),
        UnaryOp::Expm1 => Scale::Mul(cx.add_lit(1.0, y)?),
        UnaryOp::Sin => Scale::Mul(cx.unary(UnaryOp::Cos, x)?),
        UnaryOp::Cos => {
            let s = cx.unary(UnaryOp::Sin, x)?;
            Scale::Mul(cx.neg(s)?)
        }
        UnaryOp::Tan => {
            let y2 = cx.mul(y, y)?;
            Scale::Mul(cx.add_lit(1.0, y2)?)
        }
        UnaryOp::Tanh => {
            let y2 = cx.mul(y, y)?;
            Scale::Mul(cx.lit_sub(1.0, y2)?)
        }
        UnaryOp::Sigmoid => {
            let one_minus = cx.lit_sub(1.0, y)?;
            Scale::Mul(cx.mul(y, one_minus)?)
        }
        UnaryOp::Erf => {
            // erf'(x) = 2/√π · e^(−x²)
            let x2 = cx.mul(x, x)?;
            let nx2 = cx.neg(x2)?;
            let e = cx.unary(UnaryOp::Exp, nx2)?;
            Scale::Mul(cx.lit_mul(std::f64::consts::FRAC_2_SQRT_PI, e)?)
        }
        UnaryOp::Recip => {
            let y2 = cx.mul(y, y)?;
            Scale::Mul(cx.neg(y2)?)
        }
        UnaryOp::Floor | UnaryOp::Ceil | UnaryOp::Round | UnaryOp::Sign | UnaryOp::Not => {
            Scale::Zero
        }
    })
}

/// JVP of `y = u(x)`.
pub(crate) fn unary_jvp(
    cx: &mut Emitter,
    u: UnaryOp,
    x: Value,
    y: Value,
    dx: Option<Value>,
) -> Result<Option<Value>, AdError> {
    let Some(dx) = dx else { return Ok(None) };
    unary_scale(cx, u, x, y)?.apply(cx, dx)
}

/// VJP of `y = u(x)`.
pub(crate) fn unary_vjp(
    cx: &mut Emitter,
    u: UnaryOp,
    x: Value,
    y: Value,
    g: Value,
) -> Result<Option<Value>, AdError> {
    unary_scale(cx, u, x, y)?.apply(cx, g)
}

/// The weight of `this` in `y = max(this, other)` (or `min`): 1 where `this`
/// alone attains `y`, ½ at a tie, 0 where it does not (and where `y` is NaN).
fn tie_weight(cx: &mut Emitter, this: Value, other: Value, y: Value) -> Result<Value, AdError> {
    let this_eq = cx.cmp(CmpOp::Eq, this, y)?;
    let other_eq = cx.cmp(CmpOp::Eq, other, y)?;
    let half = cx.splat_like(y, 0.5)?;
    let one = cx.splat_like(y, 1.0)?;
    let zero = cx.splat_like(y, 0.0)?;
    let attained = cx.select(other_eq, half, one)?;
    cx.select(this_eq, attained, zero)
}

/// `∂y/∂a` and `∂y/∂b` of `y = a op b`, each computed only if `need`ed.
fn binary_scales(
    cx: &mut Emitter,
    op: BinaryOp,
    a: Value,
    b: Value,
    y: Value,
    need: [bool; 2],
) -> Result<[Scale; 2], AdError> {
    let mut out = [Scale::Zero, Scale::Zero];
    for (k, slot) in out.iter_mut().enumerate() {
        if !need[k] {
            continue;
        }
        *slot = match (op, k) {
            (BinaryOp::Add, _) | (BinaryOp::Sub, 0) => Scale::One,
            (BinaryOp::Sub, _) => Scale::Neg,
            (BinaryOp::Mul, 0) => Scale::Mul(b),
            (BinaryOp::Mul, _) => Scale::Mul(a),
            (BinaryOp::Div, 0) => Scale::Div(b),
            (BinaryOp::Div, _) => {
                // ∂(a/b)/∂b = −a/b² = −y/b
                let q = cx.div(y, b)?;
                Scale::Mul(cx.neg(q)?)
            }
            (BinaryOp::Pow, 0) => {
                // b·a^(b−1), and 0 where b == 0
                let one = cx.splat_like(b, 1.0)?;
                let bm1 = cx.sub(b, one)?;
                let p = cx.binary(BinaryOp::Pow, a, bm1)?;
                let d = cx.mul(b, p)?;
                let zero = cx.splat_like(b, 0.0)?;
                let b_zero = cx.cmp(CmpOp::Eq, b, zero)?;
                Scale::Mul(cx.select(b_zero, zero, d)?)
            }
            (BinaryOp::Pow, _) => {
                // log(a)·a^b, and 0 where a == 0
                let l = cx.unary(UnaryOp::Log, a)?;
                let d = cx.mul(l, y)?;
                let zero = cx.splat_like(a, 0.0)?;
                let a_zero = cx.cmp(CmpOp::Eq, a, zero)?;
                Scale::Mul(cx.select(a_zero, zero, d)?)
            }
            (BinaryOp::Max | BinaryOp::Min, 0) => Scale::Mul(tie_weight(cx, a, b, y)?),
            (BinaryOp::Max | BinaryOp::Min, _) => Scale::Mul(tie_weight(cx, b, a, y)?),
            (BinaryOp::Atan2, k) => {
                // atan2(a, b): ∂/∂a = b/(a²+b²), ∂/∂b = −a/(a²+b²)
                let a2 = cx.mul(a, a)?;
                let b2 = cx.mul(b, b)?;
                let r2 = cx.add(a2, b2)?;
                if k == 0 {
                    Scale::Mul(cx.div(b, r2)?)
                } else {
                    let q = cx.div(a, r2)?;
                    Scale::Mul(cx.neg(q)?)
                }
            }
            (BinaryOp::And | BinaryOp::Or, _) => Scale::Zero,
        };
    }
    Ok(out)
}

/// JVP of `y = a op b`.
pub(crate) fn binary_jvp(
    cx: &mut Emitter,
    op: BinaryOp,
    x: &[Value],
    y: Value,
    dx: &[Option<Value>],
) -> Result<Option<Value>, AdError> {
    let (da, db) = (dx[0], dx[1]);
    match op {
        BinaryOp::Add => return cx.add_opt(da, db),
        BinaryOp::Sub => {
            return Ok(match (da, db) {
                (Some(a), Some(b)) => Some(cx.sub(a, b)?),
                (a, None) => a,
                (None, Some(b)) => Some(cx.neg(b)?),
            });
        }
        _ => {}
    }
    let scales = binary_scales(cx, op, x[0], x[1], y, [da.is_some(), db.is_some()])?;
    let ta = match da {
        Some(t) => scales[0].apply(cx, t)?,
        None => None,
    };
    let tb = match db {
        Some(t) => scales[1].apply(cx, t)?,
        None => None,
    };
    cx.add_opt(ta, tb)
}

/// VJP of `y = a op b`.
pub(crate) fn binary_vjp(
    cx: &mut Emitter,
    op: BinaryOp,
    x: &[Value],
    y: Value,
    g: Value,
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let scales = binary_scales(cx, op, x[0], x[1], y, [needs[0], needs[1]])?;
    let mut out = Vec::with_capacity(2);
    for s in &scales {
        out.push(s.apply(cx, g)?);
    }
    Ok(out)
}

/// JVP of `y = select(c, t, f)`: the tangent of the branch taken.
pub(crate) fn select_jvp(
    cx: &mut Emitter,
    x: &[Value],
    dx: &[Option<Value>],
) -> Result<Option<Value>, AdError> {
    let c = x[0];
    Ok(match (dx[1], dx[2]) {
        (None, None) => None,
        (Some(t), Some(f)) => Some(cx.select(c, t, f)?),
        (Some(t), None) => {
            let zero = cx.splat_like(t, 0.0)?;
            Some(cx.select(c, t, zero)?)
        }
        (None, Some(f)) => {
            let zero = cx.splat_like(f, 0.0)?;
            Some(cx.select(c, zero, f)?)
        }
    })
}

/// VJP of `y = select(c, t, f)`: the cotangent goes to the branch taken.
pub(crate) fn select_vjp(
    cx: &mut Emitter,
    x: &[Value],
    g: Value,
    needs: &[bool],
) -> Result<Vec<Option<Value>>, AdError> {
    let c = x[0];
    let mut out = vec![None, None, None];
    if needs[1] || needs[2] {
        let zero = cx.splat_like(g, 0.0)?;
        if needs[1] {
            out[1] = Some(cx.select(c, g, zero)?);
        }
        if needs[2] {
            out[2] = Some(cx.select(c, zero, g)?);
        }
    }
    Ok(out)
}

/// JVP of `y = convert(x)`: float to float converts the tangent.
pub(crate) fn convert_jvp(
    cx: &mut Emitter,
    elem: Elem,
    x: Value,
    dx: Option<Value>,
) -> Result<Option<Value>, AdError> {
    match dx {
        Some(t) if cx.elem(x).is_float() && elem.is_float() => Ok(Some(cx.convert(t, elem)?)),
        _ => Ok(None),
    }
}

/// VJP of `y = convert(x)`: the cotangent converted back to `x`'s type.
pub(crate) fn convert_vjp(cx: &mut Emitter, x: Value, g: Value) -> Result<Option<Value>, AdError> {
    let elem = cx.elem(x);
    if !elem.is_float() || !cx.elem(g).is_float() {
        return Ok(None);
    }
    Ok(Some(cx.convert(g, elem)?))
}

/// Batching rule of every elementwise op (and `select`, `convert`): the
/// unbatched operands are broadcast along the batch axis.
pub(crate) fn batch(
    cx: &mut Emitter,
    op: &Op,
    x: &[Value],
    xb: &[bool],
    size: &Dim,
) -> Result<Value, AdError> {
    let mut args = Vec::with_capacity(x.len());
    for (&v, &b) in x.iter().zip(xb) {
        args.push(if b { v } else { to_batched(cx, v, size)? });
    }
    cx.push1(op.clone(), &args)
}
