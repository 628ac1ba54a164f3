//! # adjit-ir: the language of adjit
//!
//! Types, ops, functions and modules; the builder; the text format; the
//! verifier; and the interpreter, which defines what every op means.
//! This crate knows nothing of differentiation, optimisation or code
//! generation: those are transforms over the IR defined here.
//!
//! Invariants every part relies on (checked by [`verify`]):
//! - Values are defined before use; a function's values are numbered in
//!   definition order (parameters, then node results in node order).
//! - Every value's stored type is what [`typing::infer`] gives for its node.
//! - Calls, scans and whiles refer to functions of the same module; the call
//!   graph has no cycles and nests no deeper than [`Limits::max_call_depth`].
//! - Sizes, trip counts and loop maxima written as numbers are not negative.

#![deny(missing_docs)]

pub mod builder;
pub mod checkpoint;
pub mod dim;
pub mod dot;
pub mod function;
pub mod graph;
pub mod instantiate;
pub mod interp;
pub mod limits;
pub mod op;
pub mod tensor;
#[cfg(feature = "testgen")]
pub mod testgen;
pub mod text;
pub mod types;
pub mod typing;
pub mod verify;

pub use builder::FunctionBuilder;
pub use checkpoint::Checkpoint;
pub use dim::{Dim, SizeVar};
pub use function::{
    CustomRules, Function, Module, NoSuchFunction, Node, NodeId, Value, ValueData, ValueDef,
};
pub use graph::{BuildError, BuildErrors, Graph, Operand, Var};
pub use instantiate::{InstantiateError, instantiate};
pub use interp::{EvalError, Interpreter};
pub use limits::Limits;
pub use op::{BinaryOp, CmpOp, ConstData, FuncName, Op, ReduceOp, Scalar, SliceRange, UnaryOp};
pub use tensor::{Data, Tensor, TensorError};
pub use text::{
    ParseError, ParseErrors, SourceMap, parse_function, parse_module, print_function, print_module,
};
pub use types::{Elem, Shape, Type};
pub use typing::TypeError;
pub use verify::{VerifyError, VerifyErrors, verify_function, verify_module};
