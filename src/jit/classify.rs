//! What every op is for the backend: the one place that says how an op is
//! lowered, which elementwise ops are math functions, and what an element of
//! it costs.
//!
//! [`lowering`] is a single exhaustive `match` over [`Op`] (with exhaustive
//! matches over [`UnaryOp`] and [`BinaryOp`]); fusion, kernel formation,
//! planning and code generation all ask it instead of matching on ops for
//! these facts, so adding an op makes the compiler stop here first. The
//! math functions are [`MathFn`], the enum of the inline kernels.
//!
//! Invariants:
//! - An op is [`Lowering::fusible`] exactly when its value can be computed
//!   element by element at any index map inside a consumer's loop nest.
//! - [`Lowering::Math`] holds only transcendental functions
//!   ([`MathFn::is_transcendental`]); the cheap functions are
//!   [`Lowering::Elementwise`], lowered by [`super::lower`].
//! - `call` never reaches a phase after [`super::flat`] (it is inlined).

use super::math::MathFn;
use adjit_ir::{BinaryOp, ConstData, Op, UnaryOp};

/// How the backend lowers an op.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lowering {
    /// Arithmetic, comparison, `select` or conversion: one instruction
    /// sequence of [`super::lower`] per element or vector.
    Elementwise,
    /// An elementwise transcendental function: an inline math kernel (or a
    /// library call).
    Math(MathFn),
    /// Data movement that only transforms index maps: `broadcast`,
    /// `transpose`, `slice`, `reshape`.
    View,
    /// A choice on one axis by position: `pad` without interior padding,
    /// `concat`.
    Piecewise,
    /// A value of the index alone, without operands: `iota`, a splat
    /// constant, `size`.
    Leaf,
    /// `gather`: a load at a dynamic, clamped index.
    Gather,
    /// A dense constant: a buffer in the constant pool.
    DenseConst,
    /// `pad` with interior padding: a strided store into a buffer filled
    /// with the padding value.
    StridedStore,
    /// `reduce`: a kernel root folding its operand.
    Reduce,
    /// `matmul`: an inline product root or a GEMM call.
    Contraction,
    /// `scatter_add`: a kernel root adding at dynamic indices.
    Scatter,
    /// `scan`, `while`, `scan_adjoint`: a native loop or reverse sweep
    /// calling compiled functions.
    Loop,
    /// `call`: inlined by [`super::flat`].
    Call,
}

impl Lowering {
    /// Whether a value of this op can be recomputed per element inside its
    /// consumers' loops.
    pub fn fusible(self) -> bool {
        match self {
            Lowering::Elementwise
            | Lowering::Math(_)
            | Lowering::View
            | Lowering::Piecewise
            | Lowering::Leaf
            | Lowering::Gather => true,
            Lowering::DenseConst
            | Lowering::StridedStore
            | Lowering::Reduce
            | Lowering::Contraction
            | Lowering::Scatter
            | Lowering::Loop
            | Lowering::Call => false,
        }
    }

    /// The math function, if this is one.
    pub fn math(self) -> Option<MathFn> {
        match self {
            Lowering::Math(f) => Some(f),
            Lowering::Elementwise
            | Lowering::View
            | Lowering::Piecewise
            | Lowering::Leaf
            | Lowering::Gather
            | Lowering::DenseConst
            | Lowering::StridedStore
            | Lowering::Reduce
            | Lowering::Contraction
            | Lowering::Scatter
            | Lowering::Loop
            | Lowering::Call => None,
        }
    }
}

/// An op's lowering and its per-element cost (roughly, cycles per vector
/// lane: a load ½, an add 1, a division 4, a transcendental 20; a
/// materialised op costs its consumer one load).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct OpInfo {
    pub lowering: Lowering,
    pub cost: f64,
}

/// The cost of a transcendental function per element.
fn math(f: MathFn) -> OpInfo {
    OpInfo {
        lowering: Lowering::Math(f),
        cost: if f.arity() == 2 { 40.0 } else { 20.0 },
    }
}

fn elementwise(cost: f64) -> OpInfo {
    OpInfo {
        lowering: Lowering::Elementwise,
        cost,
    }
}

fn info(lowering: Lowering, cost: f64) -> OpInfo {
    OpInfo { lowering, cost }
}

/// What `op` is for the backend.
pub(crate) fn classify(op: &Op) -> OpInfo {
    match op {
        Op::Unary(u) => unary(*u),
        Op::Binary(b) => binary(*b),
        Op::Compare(_) | Op::Select | Op::Convert { .. } => elementwise(1.0),
        Op::Broadcast { .. } | Op::Transpose { .. } | Op::Slice { .. } | Op::Reshape { .. } => {
            info(Lowering::View, 0.0)
        }
        Op::Concat { .. } => info(Lowering::Piecewise, 1.0),
        Op::Pad { interior, .. } => {
            if interior.iter().all(|&i| i == 0) {
                info(Lowering::Piecewise, 1.0)
            } else {
                info(Lowering::StridedStore, 1.0)
            }
        }
        Op::Iota { .. } | Op::Size { .. } => info(Lowering::Leaf, 0.0),
        Op::Const { data, .. } => match data {
            ConstData::Splat(_) => info(Lowering::Leaf, 0.0),
            ConstData::Dense(_) => info(Lowering::DenseConst, 0.0),
        },
        Op::Gather { .. } => info(Lowering::Gather, 4.0),
        Op::Reduce { .. } => info(Lowering::Reduce, 1.0),
        Op::Matmul => info(Lowering::Contraction, 1.0),
        Op::ScatterAdd { .. } => info(Lowering::Scatter, 1.0),
        Op::Scan { .. } | Op::While { .. } | Op::ScanAdjoint { .. } => info(Lowering::Loop, 1.0),
        Op::Call { .. } => info(Lowering::Call, 1.0),
    }
}

/// How `op` is lowered (see [`classify`]).
pub(crate) fn lowering(op: &Op) -> Lowering {
    classify(op).lowering
}

fn unary(u: UnaryOp) -> OpInfo {
    match u {
        UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Not | UnaryOp::Floor | UnaryOp::Ceil => {
            elementwise(1.0)
        }
        UnaryOp::Round | UnaryOp::Sign => elementwise(3.0),
        UnaryOp::Sqrt | UnaryOp::Recip => elementwise(4.0),
        UnaryOp::Exp => math(MathFn::Exp),
        UnaryOp::Log => math(MathFn::Log),
        UnaryOp::Log1p => math(MathFn::Log1p),
        UnaryOp::Expm1 => math(MathFn::Expm1),
        UnaryOp::Sin => math(MathFn::Sin),
        UnaryOp::Cos => math(MathFn::Cos),
        UnaryOp::Tan => math(MathFn::Tan),
        UnaryOp::Tanh => math(MathFn::Tanh),
        UnaryOp::Sigmoid => math(MathFn::Sigmoid),
        UnaryOp::Erf => math(MathFn::Erf),
    }
}

fn binary(b: BinaryOp) -> OpInfo {
    match b {
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Min
        | BinaryOp::Max
        | BinaryOp::And
        | BinaryOp::Or => elementwise(1.0),
        BinaryOp::Div => elementwise(4.0),
        BinaryOp::Pow => math(MathFn::Pow),
        BinaryOp::Atan2 => math(MathFn::Atan2),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn math_functions_are_the_transcendentals_of_the_same_name() {
        let ops = UnaryOp::ALL
            .map(Op::Unary)
            .into_iter()
            .chain(BinaryOp::ALL.map(Op::Binary));
        let mut found = 0;
        for op in ops {
            if let Some(f) = lowering(&op).math() {
                assert!(f.is_transcendental(), "{op:?}");
                assert_eq!(f.name(), op.name());
                found += 1;
            }
        }
        let all = MathFn::ALL.iter().filter(|f| f.is_transcendental());
        assert_eq!(found, all.count());
    }
}
