//! Transcendental functions: the single place where `exp`, `log`, `sin`, …,
//! `pow` and `atan2` are lowered.
//!
//! Today every element is a call of a scalar function registered with the
//! JIT (Rust's `std`/`libm` implementations, see [`super::runtime`]); vector
//! lanes are split into one call each. The vectorised inline kernels of
//! `jit::math` replace this function's body when they land; callers do not
//! change.

use super::error::CompileError;
use super::runtime;
use adjit_ir::{BinaryOp, Elem, UnaryOp};
use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::{AbiParam, Block, FuncRef, InstBuilder, Signature, Value};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use cranelift_jit::JITModule;
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;

/// A transcendental function.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum MathFn {
    Exp,
    Log,
    Log1p,
    Expm1,
    Sin,
    Cos,
    Tan,
    Tanh,
    Sigmoid,
    Erf,
    Pow,
    Atan2,
}

/// The transcendental function an elementwise op is, if any.
pub(crate) fn of_unary(op: UnaryOp) -> Option<MathFn> {
    match op {
        UnaryOp::Exp => Some(MathFn::Exp),
        UnaryOp::Log => Some(MathFn::Log),
        UnaryOp::Log1p => Some(MathFn::Log1p),
        UnaryOp::Expm1 => Some(MathFn::Expm1),
        UnaryOp::Sin => Some(MathFn::Sin),
        UnaryOp::Cos => Some(MathFn::Cos),
        UnaryOp::Tan => Some(MathFn::Tan),
        UnaryOp::Tanh => Some(MathFn::Tanh),
        UnaryOp::Sigmoid => Some(MathFn::Sigmoid),
        UnaryOp::Erf => Some(MathFn::Erf),
        UnaryOp::Neg
        | UnaryOp::Abs
        | UnaryOp::Sqrt
        | UnaryOp::Recip
        | UnaryOp::Floor
        | UnaryOp::Ceil
        | UnaryOp::Round
        | UnaryOp::Sign
        | UnaryOp::Not => None,
    }
}

/// The transcendental function a binary op is, if any.
pub(crate) fn of_binary(op: BinaryOp) -> Option<MathFn> {
    match op {
        BinaryOp::Pow => Some(MathFn::Pow),
        BinaryOp::Atan2 => Some(MathFn::Atan2),
        BinaryOp::Add
        | BinaryOp::Sub
        | BinaryOp::Mul
        | BinaryOp::Div
        | BinaryOp::Min
        | BinaryOp::Max
        | BinaryOp::And
        | BinaryOp::Or => None,
    }
}

impl MathFn {
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
        }
    }

    pub fn arity(self) -> usize {
        match self {
            MathFn::Pow | MathFn::Atan2 => 2,
            _ => 1,
        }
    }
}

/// What lowering a transcendental needs besides the cursor: the module (to
/// declare imported functions) and the function's imported references.
pub(crate) struct MathCtx<'m> {
    pub module: &'m mut JITModule,
    pub call_conv: CallConv,
    pub decls: &'m mut HashMap<(MathFn, Elem), FuncId>,
    pub refs: HashMap<(MathFn, Elem), FuncRef>,
}

impl MathCtx<'_> {
    fn func_ref(
        &mut self,
        pos: &mut FuncCursor,
        f: MathFn,
        elem: Elem,
    ) -> Result<FuncRef, CompileError> {
        if let Some(&r) = self.refs.get(&(f, elem)) {
            return Ok(r);
        }
        let id = match self.decls.get(&(f, elem)) {
            Some(&id) => id,
            None => {
                let ty = super::lower::scalar_ty(elem);
                let mut sig = Signature::new(self.call_conv);
                for _ in 0..f.arity() {
                    sig.params.push(AbiParam::new(ty));
                }
                sig.returns.push(AbiParam::new(ty));
                let name = runtime::math_symbol(f, elem);
                let id = self
                    .module
                    .declare_function(&name, Linkage::Import, &sig)
                    .map_err(|e| CompileError::Codegen(e.to_string()))?;
                self.decls.insert((f, elem), id);
                id
            }
        };
        let r = self.module.declare_func_in_func(id, pos.func);
        self.refs.insert((f, elem), r);
        Ok(r)
    }
}

/// Emits `f(args)` on `lanes` lanes of `elem` (a float type), at the end of
/// `anchor` (before its terminator if it is closed) or, with `None`, at the
/// builder's current position.
pub(crate) fn emit(
    fb: &mut FunctionBuilder,
    anchor: Option<Block>,
    ctx: &mut MathCtx,
    f: MathFn,
    elem: Elem,
    lanes: usize,
    args: &[Value],
) -> Result<Value, CompileError> {
    let mut pos = match anchor {
        Some(b) if Some(b) != fb.current_block() => FuncCursor::new(fb.func).at_last_inst(b),
        _ => fb.cursor(),
    };
    let pos = &mut pos;
    let r = ctx.func_ref(pos, f, elem)?;
    if lanes == 1 {
        let call = pos.ins().call(r, args);
        return Ok(pos.func.dfg.first_result(call));
    }
    let mut out = args[0];
    for lane in 0..lanes {
        let scalars: Vec<Value> = args
            .iter()
            .map(|&a| pos.ins().extractlane(a, lane as u8))
            .collect();
        let call = pos.ins().call(r, &scalars);
        let y = pos.func.dfg.first_result(call);
        out = pos.ins().insertlane(out, y, lane as u8);
    }
    Ok(out)
}
