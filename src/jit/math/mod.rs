//! Inline, branch-free, vectorised elementwise math for the Cranelift JIT.
//!
//! [`emit`] writes the CLIF of one elementwise function ([`MathFn`]) at the
//! builder's current insertion point, for one of four lane types: `F64`,
//! `F32`, `F64X2`, `F32X4`. The code never branches and never calls (no libm):
//! every condition is a lane mask consumed by `bitselect`, so the same
//! instruction sequence serves scalars and vectors, and a loop around it stays
//! a straight line.
//!
//! How lane types are handled:
//! - the transcendental kernels (exp, log, log1p, expm1, sin, cos, tan, tanh,
//!   sigmoid, erf, pow, atan2) are written once, on `f64x2`. A scalar `f64` is
//!   put in lane 0 of a vector; `f32` lanes are widened to `f64` (an `f32x4`
//!   becomes two `f64x2` halves), computed, and rounded back once. The `f32`
//!   results are therefore within 1 ulp (f32) and usually correctly rounded,
//!   at the throughput of the `f64x2` kernel (an `f32x4` costs two `f64x2`
//!   evaluations).
//! - the cheap functions (sqrt, floor, ceil, round, sign, abs, recip, min,
//!   max) run natively on the lane type (scalars in lane 0 of a vector, since
//!   x86-64 lowers scalar float `select`/`fmin` to branches).
//!
//! Every constant is requested through [`Consts`], so a loop emitter can hoist
//! them into a preheader; [`InlineConsts`] emits each in place.
//!
//! Results depend on [`Features`]: with `fma` the kernels use fused
//! multiply-adds (one rounding), without it a multiply and an add; the
//! double-double steps (pow, trig reduction) stay exact either way (Dekker
//! products). Both configurations are tested against the same bounds.
//!
//! ## Use
//!
//! ```
//! use adjit::jit::math::{Features, InlineConsts, MathFn, emit};
//! use cranelift_codegen::ir::{AbiParam, Function, InstBuilder, Signature, UserFuncName, types};
//! use cranelift_codegen::isa::{CallConv, TargetFrontendConfig};
//! use cranelift_codegen::settings;
//! use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
//!
//! // fn(x: f64x2) -> f64x2 { exp(x) }
//! let mut sig = Signature::new(CallConv::SystemV);
//! sig.params.push(AbiParam::new(types::F64X2));
//! sig.returns.push(AbiParam::new(types::F64X2));
//! let mut func = Function::with_name_signature(UserFuncName::default(), sig);
//! let mut fctx = FunctionBuilderContext::new();
//! let mut b = FunctionBuilder::new(&mut func, &mut fctx);
//! let block = b.create_block();
//! b.append_block_params_for_function_params(block);
//! b.switch_to_block(block);
//! b.seal_block(block);
//! let x = b.block_params(block)[0];
//! let y = emit(&mut b, MathFn::Exp, types::F64X2, &[x], &mut InlineConsts, Features::BASELINE)?;
//! b.ins().return_(&[y]);
//! b.finalize(TargetFrontendConfig {
//!     default_call_conv: CallConv::SystemV,
//!     pointer_width: target_lexicon::PointerWidth::U64,
//!     page_size_align_log2: 12,
//! });
//! let flags = settings::Flags::new(settings::builder());
//! cranelift_codegen::verify_function(&func, &flags).unwrap();
//! # Ok::<(), adjit::jit::math::MathError>(())
//! ```
//!
//! ## Accuracy
//!
//! Maximum error in ulps of the result type, measured against the standard
//! library (glibc through the `f64` methods; the `libm` crate for erf; for
//! sigmoid `1/(1+e)` or `e/(1+e)` in double-double around glibc's `exp`),
//! over 2^20 points per function and lane type: log-uniform sweeps of
//! magnitudes of both signs, uniform sweeps of the interesting ranges and
//! random bit patterns (see `domain` in `tests/math_ulp.rs`). `f32` lanes are
//! compared with the `f64` oracle rounded to `f32`. The same bounds hold
//! with FMA and on the baseline (no FMA, no SSE4.1): both are measured.
//!
//! | function | f64, f64x2 | f32, f32x4 | notes |
//! |---|---|---|---|
//! | exp | 1 | 0 | |
//! | expm1 | 1 | 0 | |
//! | log | 1 | 0 | |
//! | log1p | 1 | 0 | |
//! | sin, cos | 1 | 0 | `\|x\| <= 1e8` measured; accurate to ~2^45·π/2, bounded beyond |
//! | tan | 1 | 0 | same range |
//! | tanh | 2 | 0 | glibc's tanh is itself off by up to ~1.9 ulp there; at the worst points found ours is within 0.71 ulp (checked with mpmath) |
//! | sigmoid | 1 | 0 | |
//! | erf | 1 | 0 | |
//! | pow | 1 | 0 | |
//! | atan2 | 1 | 0 | |
//! | sqrt, floor, ceil, round, sign, abs, recip, min, max | 0 | 0 | exact |
//!
//! The tests assert these bounds for `f64` and 1 ulp for all `f32`
//! transcendentals (rounding an `f64` result that is itself within an ulp
//! can land one `f32` ulp off near a midpoint; none was seen). Produced by
//! `cargo test --release --test math_ulp -- --nocapture` (the `ULP` lines;
//! `TIME` gives the time per function). Special values (NaN, ±inf, ±0, the
//! smallest and largest subnormals, overflow and underflow thresholds, and
//! for pow/atan2 all pairs of them) are compared bit for bit, NaN matching
//! any NaN.
//!
//! Cost: an `f32x4` transcendental is two `f64x2` evaluations (about the
//! time of two `f64x2` calls; see the `throughput` test), a scalar costs
//! what an `f64x2` does. Where `f32` throughput matters more than the
//! shared, simpler code, native `f32x4` kernels with shorter polynomials
//! are the next step.
//!
//! Coefficients are minimax fits computed by `remez.py` in this directory
//! (mpmath); each table's comment gives the interval and achieved error.

mod atan;
mod basic;
mod emitter;
mod erf;
mod exp;
mod log;
mod pow;
mod trig;

use cranelift_codegen::ir::{
    ConstantData, Endianness, InstBuilder, MemFlagsData, Type, Value, types,
};
use cranelift_codegen::isa::TargetIsa;
use cranelift_frontend::FunctionBuilder;

use emitter::Em;

/// An elementwise function the JIT can inline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MathFn {
    /// `e^x`.
    Exp,
    /// Natural logarithm; `log(-x) = NaN`, `log(±0) = -inf`.
    Log,
    /// `log(1 + x)`, accurate near 0.
    Log1p,
    /// `e^x - 1`, accurate near 0.
    Expm1,
    /// Sine (radians).
    Sin,
    /// Cosine (radians).
    Cos,
    /// Tangent (radians).
    Tan,
    /// Hyperbolic tangent.
    Tanh,
    /// Logistic function `1 / (1 + e^-x)`.
    Sigmoid,
    /// Error function.
    Erf,
    /// `x^y` with the special cases of C99 `pow` (two arguments).
    Pow,
    /// `atan2(y, x)` with the special cases of C99 (two arguments: `y`, `x`).
    Atan2,
    /// Square root (correctly rounded).
    Sqrt,
    /// Round towards negative infinity.
    Floor,
    /// Round towards positive infinity.
    Ceil,
    /// Round to nearest, ties away from zero (C `round`).
    Round,
    /// `-1`, `+1` by sign; `±0` and NaN map to themselves.
    Sign,
    /// Absolute value (clears the sign bit, NaN included).
    Abs,
    /// `1 / x` (correctly rounded).
    Recip,
    /// Minimum: NaN if either operand is NaN; `min(-0, +0) = -0`.
    Min,
    /// Maximum: NaN if either operand is NaN; `max(-0, +0) = +0`.
    Max,
}

impl MathFn {
    /// Every function, in declaration order.
    pub const ALL: [MathFn; 21] = [
        MathFn::Exp,
        MathFn::Log,
        MathFn::Log1p,
        MathFn::Expm1,
        MathFn::Sin,
        MathFn::Cos,
        MathFn::Tan,
        MathFn::Tanh,
        MathFn::Sigmoid,
        MathFn::Erf,
        MathFn::Pow,
        MathFn::Atan2,
        MathFn::Sqrt,
        MathFn::Floor,
        MathFn::Ceil,
        MathFn::Round,
        MathFn::Sign,
        MathFn::Abs,
        MathFn::Recip,
        MathFn::Min,
        MathFn::Max,
    ];

    /// Number of operands.
    pub fn arity(self) -> usize {
        match self {
            MathFn::Pow | MathFn::Atan2 | MathFn::Min | MathFn::Max => 2,
            MathFn::Exp
            | MathFn::Log
            | MathFn::Log1p
            | MathFn::Expm1
            | MathFn::Sin
            | MathFn::Cos
            | MathFn::Tan
            | MathFn::Tanh
            | MathFn::Sigmoid
            | MathFn::Erf
            | MathFn::Sqrt
            | MathFn::Floor
            | MathFn::Ceil
            | MathFn::Round
            | MathFn::Sign
            | MathFn::Abs
            | MathFn::Recip => 1,
        }
    }

    /// The function's name in the IR's text format.
    pub fn name(self) -> &'static str {
        match self {
            MathFn::Exp => "exp",
            MathFn::Log => "log",
            MathFn::Log1p => "log1p",
            MathFn::Expm1 => "expm1",
            MathFn::Sin => "sin",
            MathFn::Cos => "cos",
            MathFn::Tan => "tan",
            MathFn::Tanh => "tanh",
            MathFn::Sigmoid => "sigmoid",
            MathFn::Erf => "erf",
            MathFn::Pow => "pow",
            MathFn::Atan2 => "atan2",
            MathFn::Sqrt => "sqrt",
            MathFn::Floor => "floor",
            MathFn::Ceil => "ceil",
            MathFn::Round => "round",
            MathFn::Sign => "sign",
            MathFn::Abs => "abs",
            MathFn::Recip => "recip",
            MathFn::Min => "min",
            MathFn::Max => "max",
        }
    }

    /// Whether the kernel reduces its argument by multiples of π/2, which is
    /// accurate only for moderate arguments (sin, cos, tan): callers guard
    /// it with a fallback for huge ones.
    pub fn is_trig(self) -> bool {
        match self {
            MathFn::Sin | MathFn::Cos | MathFn::Tan => true,
            MathFn::Exp
            | MathFn::Log
            | MathFn::Log1p
            | MathFn::Expm1
            | MathFn::Tanh
            | MathFn::Sigmoid
            | MathFn::Erf
            | MathFn::Pow
            | MathFn::Atan2
            | MathFn::Sqrt
            | MathFn::Floor
            | MathFn::Ceil
            | MathFn::Round
            | MathFn::Sign
            | MathFn::Abs
            | MathFn::Recip
            | MathFn::Min
            | MathFn::Max => false,
        }
    }

    /// Whether the function is computed by a widened `f64x2` kernel (as
    /// opposed to natively on the lane type): the transcendental functions.
    pub fn is_transcendental(self) -> bool {
        match self {
            MathFn::Exp
            | MathFn::Log
            | MathFn::Log1p
            | MathFn::Expm1
            | MathFn::Sin
            | MathFn::Cos
            | MathFn::Tan
            | MathFn::Tanh
            | MathFn::Sigmoid
            | MathFn::Erf
            | MathFn::Pow
            | MathFn::Atan2 => true,
            MathFn::Sqrt
            | MathFn::Floor
            | MathFn::Ceil
            | MathFn::Round
            | MathFn::Sign
            | MathFn::Abs
            | MathFn::Recip
            | MathFn::Min
            | MathFn::Max => false,
        }
    }
}

/// Host features the generated code may use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Features {
    /// Fused multiply-add (`vfmadd…`). Without it Cranelift would lower `fma`
    /// to a libcall, so the kernels use a multiply and an add instead.
    pub fma: bool,
    /// SSE4.1 `round{sd,pd}` for floor/ceil/trunc/nearest. Without it
    /// Cranelift would lower those to libcalls, so the kernels round with the
    /// `2^52` trick instead.
    pub sse41: bool,
}

impl Features {
    /// The features the ISA was configured with.
    pub fn from_isa(isa: &dyn TargetIsa) -> Self {
        let sse41 = isa
            .isa_flags()
            .iter()
            .any(|v| v.name == "has_sse41" && v.as_bool() == Some(true));
        Features {
            fma: isa.has_native_fma(),
            sse41,
        }
    }

    /// The baseline: no FMA, no SSE4.1 (any x86-64).
    pub const BASELINE: Features = Features {
        fma: false,
        sse41: false,
    };
}

/// A source of constants for the kernels.
///
/// Kernels request every constant through this trait so that a loop emitter
/// can materialise each once, outside the loop, and hand out the cached value.
pub trait Consts {
    /// A value of float type `ty` (scalar or vector) with every lane equal to
    /// `x` rounded to the lane type.
    fn float(&mut self, b: &mut FunctionBuilder, ty: Type, x: f64) -> Value;
    /// A value of integer type `ty` (scalar or vector) with every lane equal
    /// to the low lane-width bits of `bits`.
    fn int(&mut self, b: &mut FunctionBuilder, ty: Type, bits: i64) -> Value;
}

/// [`Consts`] that emits every constant at the insertion point (scalars as
/// `f64const`/`f32const`/`iconst`, vectors as `vconst` from the constant pool).
#[derive(Clone, Copy, Debug, Default)]
pub struct InlineConsts;

impl Consts for InlineConsts {
    fn float(&mut self, b: &mut FunctionBuilder, ty: Type, x: f64) -> Value {
        match ty {
            types::F64 => b.ins().f64const(x),
            types::F32 => b.ins().f32const(x as f32),
            _ => {
                let bytes: Vec<u8> = if ty.lane_type() == types::F32 {
                    (0..ty.lane_count())
                        .flat_map(|_| (x as f32).to_le_bytes())
                        .collect()
                } else {
                    (0..ty.lane_count()).flat_map(|_| x.to_le_bytes()).collect()
                };
                vconst(b, ty, bytes)
            }
        }
    }

    fn int(&mut self, b: &mut FunctionBuilder, ty: Type, bits: i64) -> Value {
        if !ty.is_vector() {
            return b.ins().iconst(ty, bits);
        }
        let lane_bytes = ty.lane_type().bytes() as usize;
        let bytes: Vec<u8> = (0..ty.lane_count())
            .flat_map(|_| bits.to_le_bytes().into_iter().take(lane_bytes))
            .collect();
        vconst(b, ty, bytes)
    }
}

fn vconst(b: &mut FunctionBuilder, ty: Type, bytes: Vec<u8>) -> Value {
    let c = b.func.dfg.constants.insert(ConstantData::from(bytes));
    b.ins().vconst(ty, c)
}

/// Why [`emit`] refused a request. Always the caller's (the lowering's) fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MathError {
    /// The lane type is not one of `F64`, `F32`, `F64X2`, `F32X4`.
    #[error("math kernels support f64, f32, f64x2, f32x4, not {ty}")]
    UnsupportedType {
        /// The requested type.
        ty: Type,
    },
    /// Wrong number of operands.
    #[error("{f:?} takes {expected} operands, got {found}")]
    Arity {
        /// The function.
        f: MathFn,
        /// Its arity.
        expected: usize,
        /// Operands passed.
        found: usize,
    },
    /// An operand's type differs from the requested lane type.
    #[error("operand {index} has type {found}, expected {expected}")]
    OperandType {
        /// Operand position.
        index: usize,
        /// The requested lane type.
        expected: Type,
        /// The operand's type.
        found: Type,
    },
}

/// Emits `f(args)` for lane type `ty` at the builder's insertion point and
/// returns the result (of type `ty`).
///
/// `args` must all have type `ty`; for `Atan2` they are `(y, x)`, for `Pow`
/// `(x, y)`. The builder must be positioned in a block that is not yet
/// terminated; the kernel adds instructions only (no blocks, no branches).
///
/// Constants are requested from `consts` in the type the kernel computes
/// in, which is always a vector: `F64X2`/`I64X2` for the transcendentals
/// (whatever `ty`), `F64X2`/`I64X2` or `F32X4`/`I32X4` for the cheap
/// functions. A hoisting [`Consts`] can therefore cache by `(type, bits)`.
pub fn emit(
    b: &mut FunctionBuilder,
    f: MathFn,
    ty: Type,
    args: &[Value],
    consts: &mut dyn Consts,
    features: Features,
) -> Result<Value, MathError> {
    if ![types::F64, types::F32, types::F64X2, types::F32X4].contains(&ty) {
        return Err(MathError::UnsupportedType { ty });
    }
    if args.len() != f.arity() {
        return Err(MathError::Arity {
            f,
            expected: f.arity(),
            found: args.len(),
        });
    }
    for (index, &a) in args.iter().enumerate() {
        let found = b.func.dfg.value_type(a);
        if found != ty {
            return Err(MathError::OperandType {
                index,
                expected: ty,
                found,
            });
        }
    }
    let mut a = [args[0], *args.get(1).unwrap_or(&args[0])];
    let a = &mut a[..args.len()];
    let r = if f.is_transcendental() {
        match ty {
            types::F64X2 => kernel(b, f, a, consts, features),
            types::F64 => {
                for v in a.iter_mut() {
                    *v = b.ins().scalar_to_vector(types::F64X2, *v);
                }
                let r = kernel(b, f, a, consts, features);
                b.ins().extractlane(r, 0)
            }
            types::F32 => {
                for v in a.iter_mut() {
                    let w = b.ins().scalar_to_vector(types::F32X4, *v);
                    *v = b.ins().fvpromote_low(w);
                }
                let r = kernel(b, f, a, consts, features);
                let r = b.ins().fvdemote(r);
                b.ins().extractlane(r, 0)
            }
            _ => {
                // f32x4: lanes 0,1 and lanes 2,3 as two f64x2 halves.
                let mut lo = [a[0]; 2];
                let mut hi = [a[0]; 2];
                for (i, &v) in a.iter().enumerate() {
                    lo[i] = b.ins().fvpromote_low(v);
                    let up = high_half_down(b, v);
                    hi[i] = b.ins().fvpromote_low(up);
                }
                let n = a.len();
                let rl = kernel(b, f, &lo[..n], consts, features);
                let rh = kernel(b, f, &hi[..n], consts, features);
                let rl = b.ins().fvdemote(rl);
                let rh = b.ins().fvdemote(rh);
                concat_low_halves(b, rl, rh)
            }
        }
    } else {
        let vty = match ty {
            types::F64 => Some(types::F64X2),
            types::F32 => Some(types::F32X4),
            _ => None,
        };
        match vty {
            None => simple(b, f, ty, a, consts, features),
            Some(vty) => {
                for v in a.iter_mut() {
                    *v = b.ins().scalar_to_vector(vty, *v);
                }
                let r = simple(b, f, vty, a, consts, features);
                b.ins().extractlane(r, 0)
            }
        }
    };
    Ok(r)
}

fn bytes_shuffle(b: &mut FunctionBuilder, x: Value, y: Value, mask: [u8; 16]) -> Value {
    let flags = MemFlagsData::new().with_endianness(Endianness::Little);
    let xb = b.ins().bitcast(types::I8X16, flags, x);
    let yb = b.ins().bitcast(types::I8X16, flags, y);
    let imm = b
        .func
        .dfg
        .immediates
        .push(ConstantData::from(mask.to_vec()));
    let r = b.ins().shuffle(xb, yb, imm);
    b.ins().bitcast(types::F32X4, flags, r)
}

/// `[x2, x3, x2, x3]` from an `f32x4`.
fn high_half_down(b: &mut FunctionBuilder, x: Value) -> Value {
    bytes_shuffle(
        b,
        x,
        x,
        [8, 9, 10, 11, 12, 13, 14, 15, 8, 9, 10, 11, 12, 13, 14, 15],
    )
}

/// `[x0, x1, y0, y1]` from two `f32x4`.
fn concat_low_halves(b: &mut FunctionBuilder, x: Value, y: Value) -> Value {
    bytes_shuffle(
        b,
        x,
        y,
        [0, 1, 2, 3, 4, 5, 6, 7, 16, 17, 18, 19, 20, 21, 22, 23],
    )
}

/// A transcendental on `f64x2` operands.
fn kernel(
    b: &mut FunctionBuilder,
    f: MathFn,
    a: &[Value],
    consts: &mut dyn Consts,
    features: Features,
) -> Value {
    let mut em = Em::new(b, consts, features, types::F64X2);
    let em = &mut em;
    match f {
        MathFn::Exp => exp::exp(em, a[0]),
        MathFn::Expm1 => exp::expm1(em, a[0]),
        MathFn::Tanh => exp::tanh(em, a[0]),
        MathFn::Sigmoid => exp::sigmoid(em, a[0]),
        MathFn::Log => log::log(em, a[0]),
        MathFn::Log1p => log::log1p(em, a[0]),
        MathFn::Sin => trig::trig(em, a[0], trig::Trig::Sin),
        MathFn::Cos => trig::trig(em, a[0], trig::Trig::Cos),
        MathFn::Tan => trig::trig(em, a[0], trig::Trig::Tan),
        MathFn::Pow => pow::pow(em, a[0], a[1]),
        MathFn::Atan2 => atan::atan2(em, a[0], a[1]),
        MathFn::Erf => erf::erf(em, a[0]),
        MathFn::Sqrt
        | MathFn::Floor
        | MathFn::Ceil
        | MathFn::Round
        | MathFn::Sign
        | MathFn::Abs
        | MathFn::Recip
        | MathFn::Min
        | MathFn::Max => simple_em(em, f, a),
    }
}

/// A cheap function natively on vector type `ty`.
fn simple(
    b: &mut FunctionBuilder,
    f: MathFn,
    ty: Type,
    a: &[Value],
    consts: &mut dyn Consts,
    features: Features,
) -> Value {
    let mut em = Em::new(b, consts, features, ty);
    simple_em(&mut em, f, a)
}

fn simple_em(em: &mut Em, f: MathFn, a: &[Value]) -> Value {
    match f {
        MathFn::Sqrt => em.sqrt(a[0]),
        MathFn::Floor => em.floor(a[0]),
        MathFn::Ceil => em.ceil(a[0]),
        MathFn::Round => basic::round(em, a[0]),
        MathFn::Sign => basic::sign(em, a[0]),
        MathFn::Abs => em.abs(a[0]),
        MathFn::Recip => basic::recip(em, a[0]),
        MathFn::Min => em.b.ins().fmin(a[0], a[1]),
        MathFn::Max => em.b.ins().fmax(a[0], a[1]),
        MathFn::Exp
        | MathFn::Log
        | MathFn::Log1p
        | MathFn::Expm1
        | MathFn::Sin
        | MathFn::Cos
        | MathFn::Tan
        | MathFn::Tanh
        | MathFn::Sigmoid
        | MathFn::Erf
        | MathFn::Pow
        | MathFn::Atan2 => unreachable!("transcendentals go through kernel()"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cranelift_codegen::ir::{Function, InstructionData};
    use cranelift_frontend::FunctionBuilderContext;

    #[test]
    fn all_lists_every_function_once() {
        let mut seen = std::collections::HashSet::new();
        for f in MathFn::ALL {
            assert!(seen.insert(f));
            assert!(f.arity() == 1 || f.arity() == 2);
        }
    }

    #[test]
    fn inline_consts_have_the_requested_type_and_bits() {
        let mut func = Function::new();
        let mut fctx = FunctionBuilderContext::new();
        let mut b = FunctionBuilder::new(&mut func, &mut fctx);
        let block = b.create_block();
        b.switch_to_block(block);
        let c = &mut InlineConsts;
        for ty in [types::F64, types::F32, types::F64X2, types::F32X4] {
            let v = c.float(&mut b, ty, 1.5);
            assert_eq!(b.func.dfg.value_type(v), ty);
        }
        for ty in [types::I64, types::I64X2, types::I32X4] {
            let v = c.int(&mut b, ty, -2);
            assert_eq!(b.func.dfg.value_type(v), ty);
        }
        let v = c.float(&mut b, types::F32X4, 1.5);
        let inst = b.func.dfg.value_def(v).unwrap_inst();
        let InstructionData::UnaryConst {
            constant_handle, ..
        } = b.func.dfg.insts[inst]
        else {
            panic!("a vector constant is a vconst");
        };
        let bytes = b
            .func
            .dfg
            .constants
            .get(constant_handle)
            .as_slice()
            .to_vec();
        let lanes: Vec<f32> = bytes
            .chunks(4)
            .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
            .collect();
        assert_eq!(lanes, [1.5; 4]);
    }

    #[test]
    fn features_follow_the_isa_flags() {
        let isa = cranelift_native::builder()
            .unwrap()
            .finish(cranelift_codegen::settings::Flags::new(
                cranelift_codegen::settings::builder(),
            ))
            .unwrap();
        let f = Features::from_isa(&*isa);
        assert_eq!(f.fma, isa.has_native_fma());
        let sse41 = isa
            .isa_flags()
            .iter()
            .any(|v| v.name == "has_sse41" && v.as_bool() == Some(true));
        assert_eq!(f.sse41, sse41);
    }
}
