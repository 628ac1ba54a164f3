//! The errors of the JIT boundary: [`CompileError`] (the program cannot be
//! compiled) and [`CallError`] (a compiled function was called with arguments
//! that do not fit it). Neither boundary panics on bad input.

use adjit_ir::{InstantiateError, Type, VerifyErrors};

/// Why a function could not be compiled.
#[derive(Debug, Clone, thiserror::Error)]
pub enum CompileError {
    /// The caller named a function the module does not have.
    #[error("no function named @{0}")]
    UnknownFunction(String),
    /// The program is ill-formed: the verifier rejected it.
    #[error("the module does not verify:\n{0}")]
    Verify(VerifyErrors),
    /// The caller asked for a function whose sizes are not all known; compile
    /// an instance instead (`compile_for`, or `adjit_ir::instantiate`).
    #[error("@{func}: value %{value} has type {ty}, which has symbolic dimensions")]
    NotMonomorphic {
        /// The function.
        func: String,
        /// The first value whose type is symbolic.
        value: String,
        /// Its type.
        ty: Type,
    },
    /// Specialising to the caller's argument types failed.
    #[error(transparent)]
    Instantiate(#[from] InstantiateError),
    /// The program uses an op this backend does not lower (yet).
    #[error("@{func}: the JIT does not lower `{op}` ({reason})")]
    Unsupported {
        /// The function holding the op.
        func: String,
        /// The op's text name.
        op: &'static str,
        /// Why.
        reason: String,
    },
    /// The program fails on every input (for example a `gather` from an
    /// empty axis into a non-empty result, which the interpreter rejects).
    #[error("@{func}: {message}")]
    Invalid {
        /// The function.
        func: String,
        /// What fails.
        message: String,
    },
    /// A size does not fit the target (element counts or byte sizes
    /// overflowing the address space).
    #[error("@{func}: {what} is too large for this target")]
    TooLarge {
        /// The function.
        func: String,
        /// What overflowed.
        what: String,
    },
    /// Cranelift rejected the generated code (its verifier, or a limit of
    /// its backend). This is a bug of the JIT, not of the program; the
    /// message is Cranelift's.
    #[error("code generation failed: {0}")]
    Codegen(String),
    /// One of the JIT's own invariants failed (its plan, workspace layout or
    /// code emission; see the module docs of `jit`'s phases). This is a bug
    /// of the JIT, not of the program; the message names the phase and the
    /// broken invariant.
    #[error("internal error of the JIT: {0}")]
    Internal(String),
}

/// Why a call was rejected before running any generated code. Always the
/// caller's fault: the arguments, outputs or workspace do not fit the function.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CallError {
    /// Wrong number of inputs.
    #[error("expected {expected} input(s), got {found}")]
    InputCount {
        /// Parameters of the function.
        expected: usize,
        /// Inputs passed.
        found: usize,
    },
    /// Wrong number of output buffers.
    #[error("expected {expected} output buffer(s), got {found}")]
    OutputCount {
        /// Outputs of the function.
        expected: usize,
        /// Buffers passed.
        found: usize,
    },
    /// An input has the wrong element type or shape.
    #[error("input {index}: expected {expected}, got {found}")]
    InputType {
        /// Which input.
        index: usize,
        /// The parameter type.
        expected: Type,
        /// The argument's type.
        found: Type,
    },
    /// An input or output slice has the wrong element type.
    #[error("{kind} {index}: expected {expected} elements, got {found}")]
    ElemType {
        /// `"input"` or `"output"`.
        kind: &'static str,
        /// Which argument.
        index: usize,
        /// The expected element type's name.
        expected: &'static str,
        /// The element type passed.
        found: &'static str,
    },
    /// An input or output slice has the wrong length.
    #[error("{kind} {index}: expected {expected} element(s), got {found}")]
    Length {
        /// `"input"` or `"output"`.
        kind: &'static str,
        /// Which argument.
        index: usize,
        /// The element count of the parameter or output type.
        expected: usize,
        /// The slice length.
        found: usize,
    },
    /// The workspace was made for a different compiled function.
    #[error(
        "the workspace does not belong to this function (needs {expected} bytes and {inputs} + {outputs} pointer slots)"
    )]
    Workspace {
        /// Bytes the function needs.
        expected: usize,
        /// Input pointer slots needed.
        inputs: usize,
        /// Output pointer slots needed.
        outputs: usize,
    },
}
