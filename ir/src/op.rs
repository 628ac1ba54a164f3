//! The operations of the IR.
//!
//! An [`Op`] holds only attributes; its operands are the `args` of the
//! [`Node`](crate::Node) that carries it and its results are the node's
//! `results`. The operand and result conventions of every op are documented on
//! its variant, and its type rule lives in [`crate::typing`].
//!
//! Every pass matches on `Op` exhaustively (no `_ =>` arm), so adding an op makes
//! the compiler list every place to update.

use crate::checkpoint::Checkpoint;
use crate::dim::Dim;
use crate::types::{Elem, Shape, Type};
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::Arc;

/// A scalar literal. Equality and hashing are bitwise, so `NaN == NaN` and
/// `0.0 != -0.0` (what constant folding and CSE need).
#[derive(Clone, Copy, Debug)]
pub enum Scalar {
    /// An `f64` literal.
    F64(f64),
    /// An `f32` literal.
    F32(f32),
    /// An `i64` literal.
    I64(i64),
    /// A `bool` literal.
    Bool(bool),
}

impl Scalar {
    /// The element type of the literal.
    pub fn elem(self) -> Elem {
        match self {
            Scalar::F64(_) => Elem::F64,
            Scalar::F32(_) => Elem::F32,
            Scalar::I64(_) => Elem::I64,
            Scalar::Bool(_) => Elem::Bool,
        }
    }

    /// The literal `x` as the given element type (`as` conversion semantics:
    /// floats to `i64` saturate, NaN to 0; non-zero is `true`).
    pub fn from_f64(elem: Elem, x: f64) -> Scalar {
        match elem {
            Elem::F64 => Scalar::F64(x),
            Elem::F32 => Scalar::F32(x as f32),
            Elem::I64 => Scalar::I64(x as i64),
            Elem::Bool => Scalar::Bool(x != 0.0),
        }
    }

    /// The value as `f64` (`true` is 1).
    pub fn to_f64(self) -> f64 {
        match self {
            Scalar::F64(x) => x,
            Scalar::F32(x) => f64::from(x),
            Scalar::I64(x) => x as f64,
            Scalar::Bool(b) => f64::from(u8::from(b)),
        }
    }

    /// Converts to another element type, with the semantics of `convert`.
    pub fn convert(self, elem: Elem) -> Scalar {
        match (self, elem) {
            (Scalar::I64(x), Elem::I64) => Scalar::I64(x),
            (Scalar::Bool(b), Elem::Bool) => Scalar::Bool(b),
            (Scalar::I64(x), Elem::Bool) => Scalar::Bool(x != 0),
            (Scalar::F32(x), Elem::F32) => Scalar::F32(x),
            _ => Scalar::from_f64(elem, self.to_f64()),
        }
    }

    fn bits(self) -> (u8, u64) {
        match self {
            Scalar::F64(x) => (0, x.to_bits()),
            Scalar::F32(x) => (1, u64::from(x.to_bits())),
            Scalar::I64(x) => (2, x as u64),
            Scalar::Bool(b) => (3, u64::from(b)),
        }
    }
}

impl PartialEq for Scalar {
    fn eq(&self, other: &Scalar) -> bool {
        self.bits() == other.bits()
    }
}
impl Eq for Scalar {}
impl Hash for Scalar {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.bits().hash(state)
    }
}

impl fmt::Display for Scalar {
    /// Shortest text that reads back to the same bits: `1.0`, `-0.0`, `inf`,
    /// `nan`, `3`, `true`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Scalar::F64(x) if x.is_nan() => match x.to_bits() {
                bits if bits == f64::NAN.to_bits() => f.write_str("nan"),
                bits => write!(f, "nan(0x{bits:016x})"),
            },
            Scalar::F32(x) if x.is_nan() => match x.to_bits() {
                bits if bits == f32::NAN.to_bits() => f.write_str("nan"),
                bits => write!(f, "nan(0x{bits:08x})"),
            },
            Scalar::F64(x) if x.is_infinite() => f.write_str(if x > 0.0 { "inf" } else { "-inf" }),
            Scalar::F32(x) if x.is_infinite() => f.write_str(if x > 0.0 { "inf" } else { "-inf" }),
            // `{:?}` is Rust's shortest round-trip form and always has a `.` or `e`.
            Scalar::F64(x) => write!(f, "{x:?}"),
            Scalar::F32(x) => write!(f, "{x:?}"),
            Scalar::I64(x) => write!(f, "{x}"),
            Scalar::Bool(b) => write!(f, "{b}"),
        }
    }
}

/// Elementwise unary operations. Result type = operand type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum UnaryOp {
    /// `-x` (numeric).
    Neg,
    /// `|x|` (numeric).
    Abs,
    /// `√x` (float).
    Sqrt,
    /// `eˣ` (float).
    Exp,
    /// `ln x` (float).
    Log,
    /// `ln(1 + x)` (float).
    Log1p,
    /// `eˣ − 1` (float).
    Expm1,
    /// `sin x` (float).
    Sin,
    /// `cos x` (float).
    Cos,
    /// `tan x` (float).
    Tan,
    /// `tanh x` (float).
    Tanh,
    /// `1 / (1 + e⁻ˣ)` (float).
    Sigmoid,
    /// The error function (float).
    Erf,
    /// `1 / x` (float).
    Recip,
    /// Round towards −∞ (float).
    Floor,
    /// Round towards +∞ (float).
    Ceil,
    /// Round half away from zero (float).
    Round,
    /// −1, 0 or 1 with the sign of `x`; ±0 and NaN map to themselves (numeric).
    Sign,
    /// Logical or bitwise not (`bool`, `i64`).
    Not,
}

impl UnaryOp {
    /// All unary ops.
    pub const ALL: [UnaryOp; 19] = [
        UnaryOp::Neg,
        UnaryOp::Abs,
        UnaryOp::Sqrt,
        UnaryOp::Exp,
        UnaryOp::Log,
        UnaryOp::Log1p,
        UnaryOp::Expm1,
        UnaryOp::Sin,
        UnaryOp::Cos,
        UnaryOp::Tan,
        UnaryOp::Tanh,
        UnaryOp::Sigmoid,
        UnaryOp::Erf,
        UnaryOp::Recip,
        UnaryOp::Floor,
        UnaryOp::Ceil,
        UnaryOp::Round,
        UnaryOp::Sign,
        UnaryOp::Not,
    ];

    /// The text-format name.
    pub fn name(self) -> &'static str {
        match self {
            UnaryOp::Neg => "neg",
            UnaryOp::Abs => "abs",
            UnaryOp::Sqrt => "sqrt",
            UnaryOp::Exp => "exp",
            UnaryOp::Log => "log",
            UnaryOp::Log1p => "log1p",
            UnaryOp::Expm1 => "expm1",
            UnaryOp::Sin => "sin",
            UnaryOp::Cos => "cos",
            UnaryOp::Tan => "tan",
            UnaryOp::Tanh => "tanh",
            UnaryOp::Sigmoid => "sigmoid",
            UnaryOp::Erf => "erf",
            UnaryOp::Recip => "recip",
            UnaryOp::Floor => "floor",
            UnaryOp::Ceil => "ceil",
            UnaryOp::Round => "round",
            UnaryOp::Sign => "sign",
            UnaryOp::Not => "not",
        }
    }

    /// Which element types the op accepts.
    pub fn accepts(self, elem: Elem) -> bool {
        match self {
            UnaryOp::Neg | UnaryOp::Abs | UnaryOp::Sign => elem.is_numeric(),
            UnaryOp::Not => matches!(elem, Elem::Bool | Elem::I64),
            _ => elem.is_float(),
        }
    }
}

/// Elementwise binary operations on two operands of the same type.
/// Result type = operand type.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum BinaryOp {
    /// `a + b` (numeric; `i64` wraps).
    Add,
    /// `a − b` (numeric; `i64` wraps).
    Sub,
    /// `a · b` (numeric; `i64` wraps).
    Mul,
    /// `a / b` (numeric; `i64` truncates, and `x / 0 = 0`).
    Div,
    /// `aᵇ` (float), as C's `pow`.
    Pow,
    /// Minimum; NaN if either operand is NaN; `min(-0, +0) = -0` (numeric).
    Min,
    /// Maximum; NaN if either operand is NaN; `max(-0, +0) = +0` (numeric).
    Max,
    /// `atan2(a, b)` = angle of the point `(b, a)` (float).
    Atan2,
    /// Logical/bitwise and (`bool`, `i64`).
    And,
    /// Logical/bitwise or (`bool`, `i64`).
    Or,
}

impl BinaryOp {
    /// All binary ops.
    pub const ALL: [BinaryOp; 10] = [
        BinaryOp::Add,
        BinaryOp::Sub,
        BinaryOp::Mul,
        BinaryOp::Div,
        BinaryOp::Pow,
        BinaryOp::Min,
        BinaryOp::Max,
        BinaryOp::Atan2,
        BinaryOp::And,
        BinaryOp::Or,
    ];

    /// The text-format name.
    pub fn name(self) -> &'static str {
        match self {
            BinaryOp::Add => "add",
            BinaryOp::Sub => "sub",
            BinaryOp::Mul => "mul",
            BinaryOp::Div => "div",
            BinaryOp::Pow => "pow",
            BinaryOp::Min => "min",
            BinaryOp::Max => "max",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
        }
    }

    /// Which element types the op accepts.
    pub fn accepts(self, elem: Elem) -> bool {
        match self {
            BinaryOp::Add
            | BinaryOp::Sub
            | BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Min
            | BinaryOp::Max => elem.is_numeric(),
            BinaryOp::Pow | BinaryOp::Atan2 => elem.is_float(),
            BinaryOp::And | BinaryOp::Or => matches!(elem, Elem::Bool | Elem::I64),
        }
    }
}

/// Elementwise comparisons of two operands of the same type; result is `bool`
/// of the same shape. IEEE semantics: every comparison with NaN is false except
/// `ne`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum CmpOp {
    /// `a == b`.
    Eq,
    /// `a != b`.
    Ne,
    /// `a < b`.
    Lt,
    /// `a <= b`.
    Le,
    /// `a > b`.
    Gt,
    /// `a >= b`.
    Ge,
}

impl CmpOp {
    /// All comparisons.
    pub const ALL: [CmpOp; 6] = [
        CmpOp::Eq,
        CmpOp::Ne,
        CmpOp::Lt,
        CmpOp::Le,
        CmpOp::Gt,
        CmpOp::Ge,
    ];

    /// The text-format name.
    pub fn name(self) -> &'static str {
        match self {
            CmpOp::Eq => "eq",
            CmpOp::Ne => "ne",
            CmpOp::Lt => "lt",
            CmpOp::Le => "le",
            CmpOp::Gt => "gt",
            CmpOp::Ge => "ge",
        }
    }
}

/// Reductions over axes.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub enum ReduceOp {
    /// Sum (0 for no elements).
    Sum,
    /// Product (1 for no elements).
    Prod,
    /// Maximum, NaN-propagating (−∞ for no elements; `i64::MIN` for `i64`).
    Max,
    /// Minimum, NaN-propagating (+∞ for no elements; `i64::MAX` for `i64`).
    Min,
}

impl ReduceOp {
    /// All reductions.
    pub const ALL: [ReduceOp; 4] = [ReduceOp::Sum, ReduceOp::Prod, ReduceOp::Max, ReduceOp::Min];

    /// The text-format name.
    pub fn name(self) -> &'static str {
        match self {
            ReduceOp::Sum => "reduce_sum",
            ReduceOp::Prod => "reduce_prod",
            ReduceOp::Max => "reduce_max",
            ReduceOp::Min => "reduce_min",
        }
    }
}

/// The data of a constant.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum ConstData {
    /// Every element equals this literal (any shape, including symbolic ones).
    Splat(Scalar),
    /// Row-major elements; the shape must be known and match the length.
    Dense(Arc<[Scalar]>),
}

/// One axis of a `slice`: `start:stop:step`, `0 <= start <= stop <= dim`, `step >= 1`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub struct SliceRange {
    /// First index taken.
    pub start: Dim,
    /// One past the last index considered.
    pub stop: Dim,
    /// Stride (at least 1).
    pub step: u64,
}

/// A reference to a function of the same module, by name.
pub type FuncName = Arc<str>;

/// An operation. Operands are the node's `args`, in the order given here.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub enum Op {
    /// No operands. A constant of type `ty`.
    Const {
        /// The result type.
        ty: Type,
        /// The elements.
        data: ConstData,
    },
    /// No operands. Element `i` holds its index along `axis`. Type `ty` (numeric).
    Iota {
        /// The result type.
        ty: Type,
        /// The counting axis.
        axis: usize,
    },
    /// No operands. The scalar value of a dimension expression, as `elem`.
    Size {
        /// The dimension whose value is taken.
        dim: Dim,
        /// The numeric element type of the result.
        elem: Elem,
    },
    /// `(x)`: elementwise unary op.
    Unary(UnaryOp),
    /// `(a, b)`: elementwise binary op; operands have equal types.
    Binary(BinaryOp),
    /// `(a, b)`: elementwise comparison; operands have equal types; result bool.
    Compare(CmpOp),
    /// `(cond, on_true, on_false)`: `cond` is bool of the same shape.
    Select,
    /// `(x)`: `x`'s axis `i` becomes result axis `dims[i]` (strictly increasing);
    /// each such axis has `x`'s size or `x` has size 1 there. Result shape `shape`.
    Broadcast {
        /// The result shape.
        shape: Shape,
        /// For each operand axis, the result axis it maps to.
        dims: Vec<usize>,
    },
    /// `(x)`: reduces the listed axes (sorted, distinct), which are removed.
    Reduce {
        /// The reduction.
        op: ReduceOp,
        /// The reduced axes of the operand.
        axes: Vec<usize>,
    },
    /// `(x)`: same elements in row-major order, new shape with the same count.
    Reshape {
        /// The result shape.
        shape: Shape,
    },
    /// `(x)`: result axis `i` is operand axis `perm[i]`.
    Transpose {
        /// A permutation of the axes.
        perm: Vec<usize>,
    },
    /// `(x)`: a strided box, one range per axis.
    Slice {
        /// One range per axis.
        ranges: Vec<SliceRange>,
    },
    /// `(x0, x1, ...)`: at least one operand; joined along `axis`.
    Concat {
        /// The axis along which operands are joined.
        axis: usize,
    },
    /// `(x)`: inserts `lo[i]` elements before, `hi[i]` after and `interior[i]`
    /// between neighbours along each axis, all equal to `value`.
    Pad {
        /// Elements added before, per axis.
        lo: Vec<Dim>,
        /// Elements added after, per axis.
        hi: Vec<Dim>,
        /// Elements added between neighbours, per axis.
        interior: Vec<u64>,
        /// The padding value (same element type as `x`).
        value: Scalar,
    },
    /// `(x, indices)`: `indices` is `i64`; takes entries of `x` along `axis`
    /// (numpy `take`). Result shape: `x[..axis] ++ indices ++ x[axis+1..]`.
    /// Indices are clamped into `[0, dim-1]`.
    Gather {
        /// The axis of `x` indexed.
        axis: usize,
    },
    /// `(updates, indices)`: a zero tensor whose axis `axis` has `size`
    /// entries, with each slice of `updates` added at its (clamped) index. The
    /// transpose of `Gather`: `updates` has shape `r[..axis] ++ indices ++ r[axis+1..]`.
    ScatterAdd {
        /// The axis of the result indexed.
        axis: usize,
        /// The result's size along `axis`.
        size: Dim,
    },
    /// `(a, b)`: `a: [B.., m, k]`, `b: [B.., k, n]` → `[B.., m, n]`, with equal
    /// leading batch dims `B`; both of rank ≥ 2.
    Matmul,
    /// `(x)`: converts elements to `elem` (floats to `i64` truncate and saturate,
    /// NaN to 0; non-zero to `true`).
    Convert {
        /// The target element type.
        elem: Elem,
    },
    /// `(args...)`: calls `func`; results are its outputs.
    Call {
        /// The callee.
        func: FuncName,
    },
    /// `(consts..., init..., xs...)`: a loop of `length` steps. The body takes
    /// `(consts..., carry..., x_t...)` and returns `(carry..., y_t...)`, where
    /// `x_t` is slice `t` of each `xs` along axis 0. Results: final carry, then
    /// the `y_t` stacked along a new axis 0 of size `length`. With `reverse`, `t`
    /// runs from `length-1` down to 0 (and `y_t` is still stored at index `t`).
    /// `checkpoint` is how a reverse-mode derivative of the loop obtains its
    /// states; it does not change what the loop computes.
    Scan {
        /// The body function.
        body: FuncName,
        /// The trip count.
        length: Dim,
        /// Whether steps run backwards.
        reverse: bool,
        /// How many leading operands are loop-invariant constants.
        n_consts: usize,
        /// How many operands after the consts are carried state.
        n_carry: usize,
        /// The checkpointing policy of the loop's reverse sweep.
        checkpoint: Checkpoint,
    },
    /// `(consts..., init...)`: while `cond(consts..., state...)` returns true and
    /// fewer than `max_trips` steps have run, `state = body(consts..., state...)`.
    /// Results: the final state, then the trip count (`i64`). `checkpoint` is
    /// as for `Scan`.
    While {
        /// The condition function, returning a bool scalar.
        cond: FuncName,
        /// The body function, returning the next state.
        body: FuncName,
        /// The most steps that run.
        max_trips: Dim,
        /// How many leading operands are loop-invariant constants.
        n_consts: usize,
        /// The checkpointing policy of the loop's reverse sweep.
        checkpoint: Checkpoint,
    },
    /// `(consts..., init..., xs..., ainit..., axs..., [trips])`: the reverse
    /// sweep of a loop, with the loop's states recomputed as `checkpoint`
    /// says. Reverse-mode differentiation of `scan` and `while` emits it.
    ///
    /// Let `n = length`, or with `trips` the last operand (an `i64` scalar)
    /// clamped into `[0, length]`, and let step `s` use index
    /// `t(s) = s`, or `length−1−s` with `reverse`. The forward recurrence is
    /// `c_0 = init`, `c_{s+1} = body(consts..., c_s..., x_{t(s)}...)[..n_carry]`
    /// (the body is a scan body; its per-step outputs are ignored). The
    /// reverse sweep is `a_n = ainit` and, for `s = n−1` down to 0,
    /// `(a_s..., ay_{t(s)}...) = adjoint(consts..., a_{s+1}..., c_s...,
    /// x_{t(s)}..., ax_{t(s)}...)`. Results: `a_0`, then the `ay` stacked
    /// along a new axis 0 of size `length`, with rows no step wrote (those
    /// of steps `n..length`) zero. Each `xs` and `axs` operand has leading
    /// axis `length`.
    ///
    /// So the op is a `scan` of `adjoint` with `reverse` flipped, whose first
    /// scanned inputs are the states of the forward recurrence: every
    /// policy gives the same results, bit for bit, and differs only in the
    /// states it holds and the forward steps it repeats (see
    /// [`crate::checkpoint`]).
    ScanAdjoint {
        /// The forward step: a scan body `(consts..., carry..., x...) ->
        /// (carry..., y...)`.
        body: FuncName,
        /// The reverse step: `(consts..., acarry..., carry..., x...,
        /// ax...) -> (acarry..., ay...)`.
        adjoint: FuncName,
        /// The most steps (the stack length of the scanned operands).
        length: Dim,
        /// Whether the forward recurrence runs from index `length−1` down.
        reverse: bool,
        /// How the states are obtained.
        checkpoint: Checkpoint,
        /// How many leading operands are loop-invariant constants.
        n_consts: usize,
        /// How many operands after the consts are the forward carry.
        n_carry: usize,
        /// How many operands after the carry are the forward scanned inputs.
        n_xs: usize,
        /// How many operands after those are the reverse sweep's carry.
        n_acarry: usize,
        /// Whether the last operand is the dynamic trip count.
        trips: bool,
    },
}

impl Op {
    /// The text-format name of the op.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Const { .. } => "const",
            Op::Iota { .. } => "iota",
            Op::Size { .. } => "size",
            Op::Unary(u) => u.name(),
            Op::Binary(b) => b.name(),
            Op::Compare(c) => c.name(),
            Op::Select => "select",
            Op::Broadcast { .. } => "broadcast",
            Op::Reduce { op, .. } => op.name(),
            Op::Reshape { .. } => "reshape",
            Op::Transpose { .. } => "transpose",
            Op::Slice { .. } => "slice",
            Op::Concat { .. } => "concat",
            Op::Pad { .. } => "pad",
            Op::Gather { .. } => "gather",
            Op::ScatterAdd { .. } => "scatter_add",
            Op::Matmul => "matmul",
            Op::Convert { .. } => "convert",
            Op::Call { .. } => "call",
            Op::Scan { .. } => "scan",
            Op::While { .. } => "while",
            Op::ScanAdjoint { .. } => "scan_adjoint",
        }
    }

    /// The functions this op refers to.
    pub fn callees(&self) -> Vec<&FuncName> {
        match self {
            Op::Call { func } => vec![func],
            Op::Scan { body, .. } => vec![body],
            Op::While { cond, body, .. } => vec![cond, body],
            Op::ScanAdjoint { body, adjoint, .. } => vec![body, adjoint],
            _ => vec![],
        }
    }
}
