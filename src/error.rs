//! [`Error`]: the one error type of the library's boundary.
//!
//! Every error a public function of adjit returns converts into it with `?`
//! (a `From` impl per error type: building, parsing, verifying, AD,
//! optimisation, compilation, calls, the interpreter, tensors), so a program
//! using several parts of adjit can return `Result<_, adjit::Error>`. The
//! per-part error types stay, each still returned by its own functions; the
//! variants here hold them unchanged, and [`std::error::Error::source`] leads
//! to them. The handles of [`crate::func`] return this type directly, with
//! variants of their own for what only they can get wrong (a parameter or
//! output named that does not exist, an output read as the wrong type).

use crate::ad::AdError;
use crate::jit::math::MathError;
use crate::jit::{CallError, CompileError};
use crate::opt::OptError;
use crate::tape::TapeError;
use adjit_ir::checkpoint::BadCheckpoint;
use adjit_ir::dim::{DimEvalError, DimOverflow};
use adjit_ir::function::DuplicateFunction;
use adjit_ir::{
    BuildError, BuildErrors, EvalError, InstantiateError, ParseError, ParseErrors, TensorError,
    Type, TypeError, VerifyErrors,
};

/// Any error of adjit's public API. Match on the variant to tell them apart;
/// each holds the error of the part that failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// Building a graph failed (every error recorded, with call sites).
    #[error(transparent)]
    Build(#[from] BuildErrors),
    /// Text did not parse (see [`ParseErrors::render`] for carets).
    #[error(transparent)]
    Parse(#[from] ParseErrors),
    /// A module does not verify.
    #[error("the module does not verify:\n{0}")]
    Verify(#[from] VerifyErrors),
    /// A module already holds a different function of that name.
    #[error(transparent)]
    Duplicate(#[from] DuplicateFunction),
    /// Automatic differentiation refused the function.
    #[error(transparent)]
    Ad(#[from] AdError),
    /// Simplification failed.
    #[error(transparent)]
    Opt(#[from] OptError),
    /// Specialising symbolic sizes failed.
    #[error(transparent)]
    Instantiate(#[from] InstantiateError),
    /// The JIT could not compile the function.
    #[error(transparent)]
    Compile(#[from] CompileError),
    /// A compiled function was called with arguments that do not fit it.
    #[error(transparent)]
    Call(#[from] CallError),
    /// The interpreter failed.
    #[error(transparent)]
    Eval(#[from] EvalError),
    /// Tensor data does not fit its shape.
    #[error(transparent)]
    Tensor(#[from] TensorError),
    /// An op's operands do not fit its type rule.
    #[error(transparent)]
    Type(#[from] TypeError),
    /// Dimension arithmetic overflowed.
    #[error(transparent)]
    DimOverflow(#[from] DimOverflow),
    /// A dimension could not be evaluated to a size.
    #[error(transparent)]
    DimEval(#[from] DimEvalError),
    /// A checkpointing policy's parameter is unusable.
    #[error(transparent)]
    Checkpoint(#[from] BadCheckpoint),
    /// A tape entry point was given arguments that do not fit.
    #[error(transparent)]
    Tape(#[from] TapeError),
    /// A math kernel was asked for a type it does not support.
    #[error(transparent)]
    Math(#[from] MathError),
    /// No function of that name.
    #[error("no function named @{0}")]
    UnknownFunction(String),
    /// A parameter or output was named (or numbered) that the function does
    /// not have.
    #[error("@{func} has no {kind} {key} (it has {available})")]
    NoSuch {
        /// The function.
        func: String,
        /// `"parameter"` or `"output"`.
        kind: &'static str,
        /// The name or index asked for.
        key: String,
        /// What there is.
        available: String,
    },
    /// An output was read as a type it does not have (an `f32` output as
    /// `f64`, a vector as a scalar).
    #[error("output {key} is of type {ty}, not {wanted}")]
    OutputType {
        /// The output's name or index.
        key: String,
        /// Its type.
        ty: Type,
        /// What it was read as.
        wanted: &'static str,
    },
}

impl From<ParseError> for Error {
    fn from(e: ParseError) -> Error {
        Error::Parse(ParseErrors(vec![e]))
    }
}

impl From<BuildError> for Error {
    fn from(e: BuildError) -> Error {
        Error::Build(BuildErrors(vec![e]))
    }
}
