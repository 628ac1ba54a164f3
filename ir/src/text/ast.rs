//! The syntax tree the parser produces and the resolver turns into IR.
//!
//! It holds what the text says, with positions, before names are resolved:
//! operands are names, literals are unconverted text (their element type is
//! known only once operand types are), and callees are names.

use super::Location;
use crate::checkpoint::Checkpoint;
use crate::dim::Dim;
use crate::op::{BinaryOp, CmpOp, ReduceOp, SliceRange, UnaryOp};
use crate::types::Type;

/// A `%name` or `@name` and where it was written.
#[derive(Clone, Debug)]
pub(super) struct Name {
    pub text: String,
    pub loc: Location,
}

/// A function definition.
#[derive(Debug)]
pub(super) struct FuncAst {
    pub name: Name,
    pub params: Vec<(Name, Type)>,
    /// The declared result types, each with its position.
    pub results: Vec<(Type, Location)>,
    pub body: Vec<Stmt>,
    /// The `return` statement, if it parsed.
    pub ret: Option<Return>,
    /// Whether the header parsed; if not, only the name is meaningful.
    pub header_ok: bool,
}

/// `rules @f, jvp=@r, vjp=@s`: custom derivative rules attached to a
/// function.
#[derive(Debug)]
pub(super) struct RulesAst {
    pub func: Name,
    pub jvp: Option<Name>,
    pub vjp: Option<Name>,
}

/// `return %a, %b`.
#[derive(Debug)]
pub(super) struct Return {
    pub loc: Location,
    pub values: Vec<Name>,
}

/// A node statement: `%a: T, %b = op ...`.
#[derive(Debug)]
pub(super) struct Stmt {
    pub loc: Location,
    pub results: Vec<ResultDecl>,
    /// `None` when the op part did not parse (its results are then unusable,
    /// and uses of them report nothing more).
    pub op: Option<OpAst>,
}

/// One result name with its optional type annotation.
#[derive(Debug)]
pub(super) struct ResultDecl {
    pub name: Name,
    pub ty: Option<(Type, Location)>,
}

/// An op with its operands (names) and attributes.
#[derive(Debug)]
pub(super) struct OpAst {
    /// The op's text name.
    pub name: &'static str,
    pub loc: Location,
    pub kind: OpKind,
    /// The `%` operands in op order (for scan and while: consts, then the
    /// other groups in order).
    pub args: Vec<Name>,
}

/// A literal as written: a sign and the literal's token.
#[derive(Clone, Debug)]
pub(super) struct Lit {
    pub neg: bool,
    pub kind: LitKind,
    pub loc: Location,
}

/// The unsigned part of a literal.
#[derive(Clone, Debug)]
pub(super) enum LitKind {
    /// Digits (an integer-looking literal).
    Int(String),
    /// A number with a fraction or exponent.
    Float(String),
    /// `inf`.
    Inf,
    /// `nan`, or `nan(0xBITS)` with the hexadecimal digits.
    Nan(Option<String>),
    /// `true` or `false`.
    Bool(bool),
}

/// The op-specific part of a statement.
#[derive(Debug)]
pub(super) enum OpKind {
    Const(ConstLit),
    Iota {
        axis: usize,
    },
    Size {
        dim: Dim,
    },
    Unary(UnaryOp),
    Binary(BinaryOp),
    Compare(CmpOp),
    Select,
    Broadcast {
        dims: Vec<usize>,
    },
    Reduce {
        op: ReduceOp,
        axes: Vec<usize>,
    },
    Reshape,
    Transpose {
        perm: Vec<usize>,
    },
    Slice {
        ranges: Vec<SliceRange>,
    },
    Concat {
        axis: usize,
    },
    Pad {
        lo: Vec<Dim>,
        hi: Vec<Dim>,
        interior: Vec<u64>,
        value: Lit,
    },
    Gather {
        axis: usize,
    },
    ScatterAdd {
        axis: usize,
        axis_loc: Location,
    },
    Matmul,
    Convert,
    Call {
        func: Name,
    },
    Scan {
        body: Name,
        length: Dim,
        reverse: bool,
        n_consts: usize,
        n_carry: usize,
        checkpoint: Checkpoint,
    },
    While {
        cond: Name,
        body: Name,
        max_trips: Dim,
        n_consts: usize,
        checkpoint: Checkpoint,
    },
    ScanAdjoint {
        body: Name,
        adjoint: Name,
        length: Dim,
        reverse: bool,
        checkpoint: Checkpoint,
        /// Consts, carries, scanned inputs, adjoint carries.
        counts: [usize; 4],
        /// Whether the last operand is the trip count.
        trips: bool,
    },
}

/// The literal of a `const`.
#[derive(Debug)]
pub(super) enum ConstLit {
    Splat(Lit),
    Dense(Vec<Lit>),
}

impl OpKind {
    /// Whether the op's result type cannot be inferred from its operands,
    /// so the text must annotate it (the annotation carries an attribute).
    pub fn needs_annotation(&self) -> bool {
        matches!(
            self,
            OpKind::Const(_)
                | OpKind::Iota { .. }
                | OpKind::Size { .. }
                | OpKind::Broadcast { .. }
                | OpKind::Reshape
                | OpKind::Convert
                | OpKind::ScatterAdd { .. }
        )
    }
}

/// For messages: a type list `f64[n], i64`.
pub(super) fn type_list<'a>(types: impl IntoIterator<Item = &'a Type>) -> String {
    types
        .into_iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}
