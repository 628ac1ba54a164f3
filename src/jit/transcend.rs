//! Transcendental functions: the single place where `exp`, `log`, `sin`, …,
//! `pow` and `atan2` are lowered.
//!
//! By default they are the inline, branch-free, vectorised kernels of
//! [`super::math`] (within 1–2 ulps of the standard library; see its
//! accuracy table), on scalars or on `f64x2`/`f32x4` lanes. Their constants
//! are hoisted to the kernel's entry block ([`KernelConsts`]) and, when the
//! value is invariant in the inner loops, the whole computation is moved to
//! the loop level it depends on.
//!
//! With [`Options::library_math`](super::Options::library_math) every element
//! is instead a call of the scalar function the interpreter uses (Rust's
//! `std` / the `libm` crate, registered as JIT symbols in
//! [`super::runtime`]): bit-identical to the interpreter, much slower.

use super::error::CompileError;
use super::math;
use super::math::MathFn;
use super::runtime;
use adjit_ir::Elem;
use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::condcodes::FloatCC;
use cranelift_codegen::ir::{
    AbiParam, Block, BlockArg, ConstantData, FuncRef, InstBuilder, Signature, Type, Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_frontend::FunctionBuilder;
use cranelift_module::{FuncId, Linkage, Module};
use std::collections::HashMap;

/// What lowering a transcendental needs besides the builder: the module (to
/// declare imported functions), the function's imported references, the
/// host's features and the constant cache.
pub(crate) struct MathCtx<'m> {
    pub module: &'m mut dyn Module,
    pub call_conv: CallConv,
    pub decls: &'m mut HashMap<(MathFn, Elem), FuncId>,
    pub refs: HashMap<(MathFn, Elem), FuncRef>,
    /// Call the library functions instead of inlining the kernels.
    pub library: bool,
    /// Scalar kernels compiled once as functions of their own (see
    /// [`call_outlined`]); defined after the chunks.
    pub outlined: &'m mut HashMap<(MathFn, Elem), FuncId>,
    pub outlined_refs: HashMap<(MathFn, Elem), FuncRef>,
    pub features: math::Features,
    pub consts: KernelConsts,
}

/// Constants of the math kernels, materialised once at an anchor block (the
/// entry of the current kernel) and cached by type and bits.
#[derive(Default)]
pub(crate) struct KernelConsts {
    anchor: Option<Block>,
    cache: HashMap<(Type, u64), Value>,
}

impl KernelConsts {
    /// Constants from now on go to the end of `anchor` (`None`: in place,
    /// uncached).
    pub fn reset(&mut self, anchor: Option<Block>) {
        self.anchor = anchor;
        self.cache.clear();
    }

    fn make(
        &mut self,
        b: &mut FunctionBuilder,
        ty: Type,
        bits: u64,
        value: impl FnOnce(&mut FuncCursor) -> Value,
    ) -> Value {
        if self.anchor.is_none() {
            let mut pos = b.cursor();
            return value(&mut pos);
        }
        if let Some(&v) = self.cache.get(&(ty, bits)) {
            return v;
        }
        let mut pos = at_anchor(b, self.anchor);
        let v = value(&mut pos);
        self.cache.insert((ty, bits), v);
        v
    }
}

fn at_anchor<'a>(b: &'a mut FunctionBuilder<'_>, anchor: Option<Block>) -> FuncCursor<'a> {
    match anchor {
        Some(a) if Some(a) != b.current_block() => FuncCursor::new(b.func).at_last_inst(a),
        _ => b.cursor(),
    }
}

fn vconst(pos: &mut FuncCursor, ty: Type, bytes: Vec<u8>) -> Value {
    let c = pos.func.dfg.constants.insert(ConstantData::from(bytes));
    pos.ins().vconst(ty, c)
}

impl math::Consts for KernelConsts {
    fn float(&mut self, b: &mut FunctionBuilder, ty: Type, x: f64) -> Value {
        self.make(b, ty, x.to_bits(), |pos| match ty {
            types::F64 => pos.ins().f64const(x),
            types::F32 => pos.ins().f32const(x as f32),
            _ => {
                let bytes: Vec<u8> = if ty.lane_type() == types::F32 {
                    (0..ty.lane_count())
                        .flat_map(|_| (x as f32).to_le_bytes())
                        .collect()
                } else {
                    (0..ty.lane_count()).flat_map(|_| x.to_le_bytes()).collect()
                };
                vconst(pos, ty, bytes)
            }
        })
    }

    fn int(&mut self, b: &mut FunctionBuilder, ty: Type, bits: i64) -> Value {
        self.make(b, ty, bits as u64, |pos| {
            if !ty.is_vector() {
                return pos.ins().iconst(ty, bits);
            }
            let lane = ty.lane_type().bytes() as usize;
            let bytes: Vec<u8> = (0..ty.lane_count())
                .flat_map(|_| bits.to_le_bytes().into_iter().take(lane))
                .collect();
            vconst(pos, ty, bytes)
        })
    }
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
    if !ctx.library {
        if f.is_trig() {
            return guarded_trig(fb, ctx, f, elem, lanes, args[0]);
        }
        return inline_kernel(fb, anchor, ctx, f, elem, lanes, args);
    }
    library_call(fb, anchor, ctx, f, elem, lanes, args)
}

/// Calls the library function on every lane, at `anchor`.
fn library_call(
    fb: &mut FunctionBuilder,
    anchor: Option<Block>,
    ctx: &mut MathCtx,
    f: MathFn,
    elem: Elem,
    lanes: usize,
    args: &[Value],
) -> Result<Value, CompileError> {
    let mut pos = at_anchor(fb, anchor);
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

/// Emits the inline kernel at the current position, then moves its
/// instructions (a straight line: the kernels never branch) to `anchor`.
fn inline_kernel(
    fb: &mut FunctionBuilder,
    anchor: Option<Block>,
    ctx: &mut MathCtx,
    f: MathFn,
    elem: Elem,
    lanes: usize,
    args: &[Value],
) -> Result<Value, CompileError> {
    let ty = super::lower::lane_ty(elem, lanes);
    fb.ensure_inserted_block();
    let block = fb
        .current_block()
        .ok_or_else(|| CompileError::Internal("transcend: no current block".into()))?;
    let before = fb.func.layout.last_inst(block);
    let y = math::emit(fb, f, ty, args, &mut ctx.consts, ctx.features)
        .map_err(|e| CompileError::Internal(format!("transcend: math kernel: {e}")))?;
    if let Some(a) = anchor
        && a != block
    {
        let mut moved = Vec::new();
        let mut cur = match before {
            Some(i) => fb.func.layout.next_inst(i),
            None => fb.func.layout.first_inst(block),
        };
        while let Some(i) = cur {
            moved.push(i);
            cur = fb.func.layout.next_inst(i);
        }
        let term = fb
            .func
            .layout
            .last_inst(a)
            .ok_or_else(|| CompileError::Internal("transcend: empty anchor block".into()))?;
        for i in moved {
            fb.func.layout.remove_inst(i);
            fb.func.layout.insert_inst(i, term);
        }
    }
    Ok(y)
}

/// Arguments of sin, cos and tan beyond this magnitude take the library path:
/// the inline kernels reduce the argument with a three-piece π/2, which is
/// accurate only while the quotient stays below about 2^45 (and gives garbage
/// for huge arguments).
const TRIG_KERNEL_LIMIT: f64 = 1_099_511_627_776.0; // 2^40

/// sin, cos or tan: the inline kernel, and a rarely taken branch to the
/// library function when any lane's argument is beyond the kernel's range
/// (including ±inf and NaN, for which both give NaN). Emitted at the current
/// position (its branch splits the current block), never hoisted.
fn guarded_trig(
    fb: &mut FunctionBuilder,
    ctx: &mut MathCtx,
    f: MathFn,
    elem: Elem,
    lanes: usize,
    x: Value,
) -> Result<Value, CompileError> {
    let y = inline_kernel(fb, None, ctx, f, elem, lanes, &[x])?;
    let ty = super::lower::lane_ty(elem, lanes);
    let limit = super::lower::constant(
        &mut fb.cursor(),
        adjit_ir::Scalar::from_f64(elem, TRIG_KERNEL_LIMIT),
        lanes,
    );
    let ax = fb.ins().fabs(x);
    // `!(|x| <= limit)`: true for large lanes and for NaN.
    let small = fb.ins().fcmp(FloatCC::LessThanOrEqual, ax, limit);
    let all_small = if lanes > 1 {
        fb.ins().vall_true(small)
    } else {
        small
    };
    let slow = fb.create_block();
    let join = fb.create_block();
    let out = fb.append_block_param(join, ty);
    fb.ins()
        .brif(all_small, join, &[BlockArg::Value(y)], slow, &[]);
    fb.seal_block(slow);
    fb.set_cold_block(slow);
    fb.switch_to_block(slow);
    let z = library_call(fb, None, ctx, f, elem, lanes, &[x])?;
    fb.ins().jump(join, &[BlockArg::Value(z)]);
    fb.seal_block(join);
    fb.switch_to_block(join);
    Ok(out)
}

/// The name of the out-of-line scalar kernel of `f` on `elem`.
pub(crate) fn outlined_name(f: MathFn, elem: Elem) -> String {
    format!("kernel_{}_{}", f.name(), elem.name())
}

/// The signature of a scalar math function of `elem`.
pub(crate) fn scalar_signature(call_conv: CallConv, f: MathFn, elem: Elem) -> Signature {
    let ty = super::lower::scalar_ty(elem);
    let mut sig = Signature::new(call_conv);
    for _ in 0..f.arity() {
        sig.params.push(AbiParam::new(ty));
    }
    sig.returns.push(AbiParam::new(ty));
    sig
}

/// A call of the scalar kernel of `f`, compiled once per module as a
/// function of its own (declared here, defined by [`define_outlined`]).
/// Used for rank-0 values outside loops: an inline kernel is a hundred or
/// more instructions, and a long chain of scalar transcendentals would
/// otherwise cost that much compile time per node.
pub(crate) fn call_outlined(
    fb: &mut FunctionBuilder,
    ctx: &mut MathCtx,
    f: MathFn,
    elem: Elem,
    args: &[Value],
) -> Result<Value, CompileError> {
    if ctx.library {
        return library_call(fb, None, ctx, f, elem, 1, args);
    }
    let r = match ctx.outlined_refs.get(&(f, elem)) {
        Some(&r) => r,
        None => {
            let id = match ctx.outlined.get(&(f, elem)) {
                Some(&id) => id,
                None => {
                    let sig = scalar_signature(ctx.call_conv, f, elem);
                    let id = ctx
                        .module
                        .declare_function(&outlined_name(f, elem), Linkage::Local, &sig)
                        .map_err(|e| CompileError::Codegen(e.to_string()))?;
                    ctx.outlined.insert((f, elem), id);
                    id
                }
            };
            let r = ctx.module.declare_func_in_func(id, fb.func);
            ctx.outlined_refs.insert((f, elem), r);
            r
        }
    };
    let call = fb.ins().call(r, args);
    Ok(fb.inst_results(call)[0])
}
