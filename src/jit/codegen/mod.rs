//! Code generation: the plan's steps as Cranelift functions.
//!
//! Every generated function has the entry point's signature,
//! `(inputs: i64, outputs: i64, workspace: i64) -> ()`. Each chunk of steps is
//! one function; with several chunks, the entry calls them in order.
//!
//! Within a function, code is *structured*: each step is a single-entry,
//! single-exit region appended after the previous one, so any value defined
//! at the top level (a scalar, a buffer's base pointer) dominates everything
//! after it and is cached for the rest of the function.
//!
//! Split by concern: this module holds the module and ABI side (the ISA,
//! [`Gen`] over any `cranelift_module::Module`, one Cranelift function per
//! chunk, the entry) and what every step shares (scalars, buffer bases,
//! alias regions); [`nest`] emits loop nests (with their own state,
//! [`KState`]), [`loops`] native loops and reverse sweeps, [`contraction`]
//! GEMM calls.

mod contraction;
mod loops;
mod nest;

use super::adjoint::AdjointDesc;
use super::classify::lowering;
use super::error::CompileError;
use super::flat::{Def, Flat, Vid};
use super::fusion::{Class, Fusion};
use super::kernel::{Addr, Ax, GemmStep, Kernel, MapId, Plan as EPlan, Root};
use super::lower::{self, constant, lane_ty, scalar_ty};
use super::math::MathFn;
use super::options::{OptLevel, Options};
use super::plan::{ALIGN, LoopKind, LoopStep, Plan, Step, Storage, identity};
use super::runtime;
use super::transcend::{self, KernelConsts, MathCtx};
use adjit_ir::{ConstData, Elem, Op, ReduceOp, Scalar};
use cranelift_codegen::Context;
use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, AliasRegionData, Block, ConstantData, FuncRef, InstBuilder, MemFlagsData, Signature,
    Value, types,
};
use cranelift_codegen::isa::CallConv;
use cranelift_codegen::isa::OwnedTargetIsa;
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext, Variable};
use cranelift_jit::{JITBuilder, JITModule};
use cranelift_module::{DataDescription, DataId, FuncId, Linkage, Module, default_libcall_names};
use cranelift_object::{ObjectBuilder, ObjectModule};
use std::collections::HashMap;

type R<T> = Result<T, CompileError>;

fn cg<E: std::fmt::Display>(e: E) -> CompileError {
    CompileError::Codegen(e.to_string())
}

/// The generated functions, not yet finalised, and what was kept about
/// them.
pub(crate) struct Generated<M> {
    pub module: M,
    /// The entry of the last program generated (the compiled function).
    pub entry: FuncId,
    pub clif: Vec<String>,
    pub disasm: Vec<String>,
    pub functions: usize,
    pub clif_insts: usize,
}

/// The host's ISA with the flags of `opts`; position-independent code with
/// `pic` (for objects that may be linked anywhere).
fn host_isa(opts: &Options, pic: bool) -> R<OwnedTargetIsa> {
    let mut flags = settings::builder();
    let opt = match opts.opt_level {
        OptLevel::None => "none",
        OptLevel::Speed => "speed",
        OptLevel::SpeedAndSize => "speed_and_size",
    };
    flags.set("opt_level", opt).map_err(cg)?;
    flags
        .set("is_pic", if pic { "true" } else { "false" })
        .map_err(cg)?;
    flags.set("use_colocated_libcalls", "false").map_err(cg)?;
    flags.set("enable_probestack", "true").map_err(cg)?;
    flags.set("probestack_strategy", "inline").map_err(cg)?;
    flags
        .set(
            "enable_verifier",
            if opts.verify { "true" } else { "false" },
        )
        .map_err(cg)?;
    cranelift_native::builder()
        .map_err(cg)?
        .finish(settings::Flags::new(flags))
        .map_err(cg)
}

/// An empty JIT module for the host, with the runtime's symbols.
pub(crate) fn jit_module(opts: &Options) -> R<JITModule> {
    let isa = host_isa(opts, false)?;
    let mut jb = JITBuilder::with_isa(isa, default_libcall_names());
    for (name, ptr) in runtime::symbols() {
        jb.symbol(name, ptr);
    }
    Ok(JITModule::new(jb))
}

/// An empty relocatable object for the host, named `name`: position
/// independent, importing the runtime's symbols by name.
pub(crate) fn object_module(opts: &Options, name: &str) -> R<ObjectModule> {
    let isa = host_isa(opts, true)?;
    let builder = ObjectBuilder::new(isa, name, default_libcall_names()).map_err(cg)?;
    Ok(ObjectModule::new(builder))
}

/// Generates programs (a plan each) into one module: a [`JITModule`] to run
/// now or an [`ObjectModule`] to link later. The code is the same; every
/// address it uses is a symbol (functions, runtime routines, constant
/// pools) resolved by the module's relocations.
///
/// Programs are generated callees first: a loop step of a program calls the
/// entries of programs generated before it. The last program generated is
/// the compiled function's entry.
pub(crate) struct Gen<M: Module> {
    module: M,
    /// The module is relocatable (an object): code must not hold addresses
    /// of this process.
    relocatable: bool,
    call_conv: CallConv,
    sig: Signature,
    fbc: FunctionBuilderContext,
    ctx: Context,
    math_decls: HashMap<(MathFn, Elem), FuncId>,
    gemm_decls: HashMap<Elem, FuncId>,
    rt_decls: HashMap<&'static str, FuncId>,
    outlined: HashMap<(MathFn, Elem), FuncId>,
    features: super::math::Features,
    out: Kept,
    /// Entry of each program generated so far.
    entries: Vec<FuncId>,
}

impl<M: Module> Gen<M> {
    /// Generates into `module` (empty); `relocatable` for an object.
    pub(crate) fn new(module: M, relocatable: bool) -> Gen<M> {
        let call_conv = module.isa().default_call_conv();
        let ptr_ty = module.target_config().pointer_type();
        let mut sig = Signature::new(call_conv);
        for _ in 0..3 {
            sig.params.push(AbiParam::new(ptr_ty));
        }
        let ctx = module.make_context();
        let features = super::math::Features::from_isa(module.isa());
        Gen {
            module,
            relocatable,
            call_conv,
            sig,
            fbc: FunctionBuilderContext::new(),
            ctx,
            math_decls: HashMap::new(),
            gemm_decls: HashMap::new(),
            rt_decls: HashMap::new(),
            outlined: HashMap::new(),
            features,
            out: Kept::default(),
            entries: Vec::new(),
        }
    }

    /// The constant pool of program `pi` as a read-only data object.
    fn const_pool(&mut self, pi: usize, bytes: &[u8]) -> R<Option<DataId>> {
        if bytes.is_empty() {
            return Ok(None);
        }
        let id = self
            .module
            .declare_data(&format!("p{pi}_consts"), Linkage::Local, false, false)
            .map_err(cg)?;
        let mut desc = DataDescription::new();
        desc.define(bytes.to_vec().into_boxed_slice());
        desc.set_align(ALIGN as u64);
        self.module.define_data(id, &desc).map_err(cg)?;
        Ok(Some(id))
    }

    /// Generates one program; returns its index.
    pub(crate) fn program(
        &mut self,
        flat: &Flat,
        fusion: &Fusion,
        plan: &Plan,
        opts: &Options,
        export: Option<&str>,
    ) -> R<usize> {
        let pi = self.entries.len();
        let consts = self.const_pool(pi, &plan.consts)?;
        let nchunks = plan.chunks.len();
        // The entry is local, or exported under the caller's name.
        let entry_name = export.map_or_else(|| format!("p{pi}_entry"), str::to_string);
        let entry_linkage = if export.is_some() {
            Linkage::Export
        } else {
            Linkage::Local
        };
        let mut ids = Vec::with_capacity(nchunks);
        for i in 0..nchunks {
            let (name, linkage) = if nchunks == 1 {
                (entry_name.clone(), entry_linkage)
            } else {
                (format!("p{pi}_chunk{i}"), Linkage::Local)
            };
            ids.push(
                self.module
                    .declare_function(&name, linkage, &self.sig)
                    .map_err(cg)?,
            );
        }
        let entry_id = if nchunks == 1 {
            ids[0]
        } else {
            self.module
                .declare_function(&entry_name, entry_linkage, &self.sig)
                .map_err(cg)?
        };
        let tcfg = self.module.target_config();
        for (ci, range) in plan.chunks.iter().enumerate() {
            self.ctx.func.signature = self.sig.clone();
            {
                let mut fb = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
                let entry = fb.create_block();
                fb.append_block_params_for_function_params(entry);
                fb.switch_to_block(entry);
                fb.seal_block(entry);
                let params = fb.block_params(entry).to_vec();
                let mut em = Emit {
                    fb,
                    math: MathCtx {
                        module: &mut self.module,
                        call_conv: self.call_conv,
                        decls: &mut self.math_decls,
                        refs: HashMap::new(),
                        library: opts.library_math,
                        features: self.features,
                        consts: KernelConsts::default(),
                        outlined: &mut self.outlined,
                        outlined_refs: HashMap::new(),
                    },
                    gemm_decls: &mut self.gemm_decls,
                    gemm_refs: HashMap::new(),
                    rt_decls: &mut self.rt_decls,
                    rt_refs: HashMap::new(),
                    programs: &self.entries,
                    program_refs: HashMap::new(),
                    flat,
                    fusion,
                    plan,
                    consts,
                    relocatable: self.relocatable,
                    inputs: params[0],
                    outputs: params[1],
                    ws: params[2],
                    scalars: HashMap::new(),
                    bases: HashMap::new(),
                    ks: KState::default(),
                };
                for si in range.clone() {
                    em.step(si, &plan.steps[si])?;
                }
                em.fb.ins().return_(&[]);
                em.fb.seal_all_blocks();
                em.fb.finalize(tcfg);
            }
            finish_function(
                &mut self.module,
                &mut self.ctx,
                ids[ci],
                opts,
                &mut self.out,
            )?;
        }
        if nchunks > 1 {
            self.ctx.func.signature = self.sig.clone();
            {
                let mut fb = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
                let entry = fb.create_block();
                fb.append_block_params_for_function_params(entry);
                fb.switch_to_block(entry);
                fb.seal_block(entry);
                let params = fb.block_params(entry).to_vec();
                for &id in &ids {
                    let r = self.module.declare_func_in_func(id, fb.func);
                    fb.ins().call(r, &params);
                }
                fb.ins().return_(&[]);
                fb.finalize(tcfg);
            }
            finish_function(
                &mut self.module,
                &mut self.ctx,
                entry_id,
                opts,
                &mut self.out,
            )?;
        }
        self.entries.push(entry_id);
        Ok(pi)
    }

    /// Generates the out-of-line kernels; the last program generated is the
    /// entry. The caller finalises the module.
    pub(crate) fn finish(mut self, opts: &Options) -> R<Generated<M>> {
        let tcfg = self.module.target_config();
        let call_conv = self.call_conv;
        // The out-of-line scalar kernels the chunks call.
        let mut pending: Vec<((MathFn, Elem), FuncId)> =
            self.outlined.iter().map(|(k, v)| (*k, *v)).collect();
        pending.sort_by_key(|((f, e), _)| (f.name(), e.name()));
        for ((f, elem), id) in pending {
            self.ctx.func.signature = transcend::scalar_signature(call_conv, f, elem);
            {
                let mut fb = FunctionBuilder::new(&mut self.ctx.func, &mut self.fbc);
                let entry = fb.create_block();
                fb.append_block_params_for_function_params(entry);
                fb.switch_to_block(entry);
                fb.seal_block(entry);
                let params = fb.block_params(entry).to_vec();
                let mut none = HashMap::new();
                let mut math = MathCtx {
                    module: &mut self.module,
                    call_conv,
                    decls: &mut self.math_decls,
                    refs: HashMap::new(),
                    library: false,
                    features: self.features,
                    consts: KernelConsts::default(),
                    outlined: &mut none,
                    outlined_refs: HashMap::new(),
                };
                let y = transcend::emit(&mut fb, None, &mut math, f, elem, 1, &params)?;
                fb.ins().return_(&[y]);
                fb.seal_all_blocks();
                fb.finalize(tcfg);
            }
            finish_function(&mut self.module, &mut self.ctx, id, opts, &mut self.out)?;
        }
        let entry_id = *self
            .entries
            .last()
            .ok_or_else(|| internal("no program generated"))?;
        Ok(Generated {
            module: self.module,
            entry: entry_id,
            clif: self.out.clif,
            disasm: self.out.disasm,
            functions: self.out.functions,
            clif_insts: self.out.clif_insts,
        })
    }
}

/// What is kept about generated functions while compiling.
#[derive(Default)]
struct Kept {
    clif: Vec<String>,
    disasm: Vec<String>,
    functions: usize,
    clif_insts: usize,
}

fn finish_function(
    module: &mut dyn Module,
    ctx: &mut Context,
    id: FuncId,
    opts: &Options,
    out: &mut Kept,
) -> R<()> {
    out.functions += 1;
    out.clif_insts += ctx.func.dfg.num_insts();
    if opts.keep_clif {
        out.clif.push(ctx.func.display().to_string());
    }
    if opts.keep_disasm {
        ctx.set_disasm(true);
    }
    module.define_function(id, ctx).map_err(|e| {
        if let cranelift_module::ModuleError::Compilation(c) = e {
            CompileError::Codegen(format!("{c:?}"))
        } else {
            cg(e)
        }
    })?;
    if opts.keep_disasm
        && let Some(code) = ctx.compiled_code()
    {
        out.disasm.push(disassembly(code, module));
    }
    module.clear_context(ctx);
    Ok(())
}

#[cfg(feature = "disas")]
fn disassembly(code: &cranelift_codegen::CompiledCode, module: &dyn Module) -> String {
    match code.disassemble(None, module.isa()) {
        Ok(s) => s,
        Err(_) => code.vcode.clone().unwrap_or_default(),
    }
}

#[cfg(not(feature = "disas"))]
fn disassembly(code: &cranelift_codegen::CompiledCode, _module: &dyn Module) -> String {
    code.vcode.clone().unwrap_or_default()
}

/// A buffer base: a value's storage or an output buffer.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
enum Base {
    Val(Vid),
    Out(usize),
}

/// The innermost point being evaluated.
#[derive(Clone, Copy, Default)]
struct Point {
    /// Dynamic part of the innermost index (the loop variable).
    j: Option<Value>,
    /// Static part of the innermost index.
    off: i64,
}

/// How a reduction root accumulates.
#[derive(Clone)]
struct Red {
    op: ReduceOp,
    elem: Elem,
    /// First loop level of the register-accumulated block (`None`: the
    /// buffer is updated at every point).
    block: Option<usize>,
    /// The destination is filled with the identity first.
    fill: bool,
    accs: Vec<Variable>,
    tail: Option<Variable>,
}

/// Per-kernel emission state.
#[derive(Default)]
struct KState {
    nloops: usize,
    anchors: Vec<Block>,
    idx: Vec<Option<Value>>,
    seg: Vec<(i64, i64)>,
    point: Point,
    memo: HashMap<(Vid, MapId), (Value, i32)>,
    splats: HashMap<(Vid, MapId), (Value, i32)>,
    dynv: HashMap<u32, (Value, i32)>,
    ptrs: HashMap<(usize, i32), Value>,
    addrs: Vec<(Base, Addr)>,
    addr_ids: HashMap<(Base, Addr), usize>,
    reds: Vec<Option<Red>>,
}

const TAIL: usize = usize::MAX;

struct Emit<'f, 'm, 'p> {
    fb: FunctionBuilder<'f>,
    math: MathCtx<'m>,
    gemm_decls: &'m mut HashMap<Elem, FuncId>,
    gemm_refs: HashMap<Elem, FuncRef>,
    /// Imported runtime routines (copies, loop drivers).
    rt_decls: &'m mut HashMap<&'static str, FuncId>,
    rt_refs: HashMap<&'static str, FuncRef>,
    /// Entries of the programs generated before this one (loop callees).
    programs: &'m [FuncId],
    program_refs: HashMap<usize, FuncRef>,
    flat: &'p Flat,
    fusion: &'p Fusion,
    plan: &'p Plan,
    /// This program's constant pool.
    consts: Option<DataId>,
    /// The module is an object: no addresses of this process in the code.
    relocatable: bool,
    inputs: Value,
    outputs: Value,
    ws: Value,
    scalars: HashMap<Vid, Value>,
    bases: HashMap<Base, Value>,
    ks: KState,
}

fn trusted() -> MemFlagsData {
    MemFlagsData::trusted()
}

fn data_flags() -> MemFlagsData {
    MemFlagsData::new().with_notrap()
}

/// Loads Cranelift may move and merge like pure operations: of memory that
/// is not written while the function runs (input scalars, pointer tables).
fn pure_flags() -> MemFlagsData {
    MemFlagsData::new()
        .with_notrap()
        .with_readonly()
        .with_can_move()
}

/// A cursor inserting at the end of `anchor` (before its terminator if it
/// is closed), or at the current position.
fn cursor<'a>(fb: &'a mut FunctionBuilder<'_>, anchor: Option<Block>) -> FuncCursor<'a> {
    match anchor {
        Some(b) if Some(b) != fb.current_block() => FuncCursor::new(fb.func).at_last_inst(b),
        _ => fb.cursor(),
    }
}

fn internal(msg: &str) -> CompileError {
    CompileError::Internal(format!("codegen: {msg}"))
}

impl<'p> Emit<'_, '_, 'p> {
    fn step(&mut self, si: usize, step: &'p Step) -> R<()> {
        match step {
            Step::Scalar(ni) => self.scalar_step(*ni),
            Step::Kernel(k) => self.kernel(k),
            Step::Gemm(g) => self.gemm(g),
            Step::Loop(l) => self.loop_step(si, l),
            Step::OutputScalar { value, output } => {
                let x = self.scalar(*value, None)?;
                let elem = self.flat.val(*value).elem;
                let _ = elem;
                let outputs = self.outputs;
                let mut pos = self.fb.cursor();
                let p = pos
                    .ins()
                    .load(types::I64, trusted(), outputs, (*output * 8) as i32);
                pos.ins().store(data_flags(), x, p, 0);
                Ok(())
            }
        }
    }

    /// A rank-0 value as a register, loading it at `anchor` if needed.
    fn scalar(&mut self, v: Vid, anchor: Option<Block>) -> R<Value> {
        if let Some(&x) = self.scalars.get(&v) {
            return Ok(x);
        }
        let val = self.flat.val(v);
        let ty = scalar_ty(val.elem);
        let x = match val.def {
            Def::Param(i) => {
                let inputs = self.inputs;
                let mut pos = cursor(&mut self.fb, anchor);
                let p = pos
                    .ins()
                    .load(types::I64, trusted(), inputs, (i * 8) as i32);
                pos.ins().load(ty, pure_flags(), p, 0)
            }
            Def::Node(_) => {
                let slot = *self
                    .plan
                    .slot
                    .get(&v)
                    .ok_or_else(|| internal("scalar used before its definition"))?;
                let ws = self.ws;
                let mut pos = cursor(&mut self.fb, anchor);
                pos.ins().load(ty, trusted(), ws, slot as i32)
            }
        };
        self.scalars.insert(v, x);
        Ok(x)
    }

    /// Records a rank-0 result; stores it to its slot if a later function
    /// reads it.
    fn define_scalar(&mut self, v: Vid, x: Value) {
        self.scalars.insert(v, x);
        if let Some(&slot) = self.plan.slot.get(&v) {
            let ws = self.ws;
            self.fb.ins().store(trusted(), x, ws, slot as i32);
        }
    }

    /// Flags for accesses to a buffer: tagged with an alias region per
    /// storage (per value for workspace slots, whose memory is reused).
    ///
    /// Leaf loads of *stable* buffers (see [`Plan::stable`]) add `readonly`
    /// and `can_move`, which lets Cranelift schedule them with the arithmetic
    /// (instead of all loads first) and hoist invariant ones. That is sound
    /// because such a buffer is written only by the kernel that produces it,
    /// before any load of it, and never rewritten in a function that loads
    /// it: Cranelift may move a movable load anywhere between its operands'
    /// definitions and its first use.
    fn region(&mut self, base: Base) -> MemFlagsData {
        let (storage, v) = match base {
            Base::Val(v) => (self.plan.storage[v as usize], v),
            Base::Out(i) => (Storage::Output(i), 0),
        };
        let user_id = match storage {
            Storage::None => 0,
            Storage::Input(i) => 1 + i as u32,
            Storage::Const(_) => 0x3FFF_FFFF,
            Storage::Output(i) => 0x4000_0000 + i as u32,
            Storage::Workspace(_) => 0x8000_0000 + v,
        };
        let r = self.fb.func.dfg.alias_regions.insert(AliasRegionData {
            user_id,
            description: std::borrow::Cow::Borrowed("buffer"),
        });
        data_flags().with_alias_region(Some(r))
    }

    /// A buffer's base pointer, computed at `anchor` if needed.
    fn base(&mut self, b: Base, anchor: Option<Block>) -> R<Value> {
        if let Some(&p) = self.bases.get(&b) {
            return Ok(p);
        }
        let storage = match b {
            Base::Val(v) => self.plan.storage[v as usize],
            Base::Out(i) => Storage::Output(i),
        };
        let (inputs, outputs, ws) = (self.inputs, self.outputs, self.ws);
        let pool = match storage {
            Storage::Const(_) => {
                let id = self
                    .consts
                    .ok_or_else(|| internal("a constant without a pool"))?;
                Some(self.math.module.declare_data_in_func(id, self.fb.func))
            }
            Storage::None | Storage::Input(_) | Storage::Output(_) | Storage::Workspace(_) => None,
        };
        let mut pos = cursor(&mut self.fb, anchor);
        let p = match storage {
            Storage::Input(i) => pos
                .ins()
                .load(types::I64, trusted(), inputs, (i * 8) as i32),
            Storage::Output(i) => pos
                .ins()
                .load(types::I64, trusted(), outputs, (i * 8) as i32),
            Storage::Const(off) => {
                let gv = pool.ok_or_else(|| internal("a constant without a pool"))?;
                let p = pos.ins().symbol_value(types::I64, gv);
                pos.ins().iadd_imm_s(p, off as i64)
            }
            Storage::Workspace(off) => pos.ins().iadd_imm_s(ws, off as i64),
            Storage::None => return Err(internal("a buffer without storage")),
        };
        self.bases.insert(b, p);
        Ok(p)
    }

    fn scalar_step(&mut self, ni: usize) -> R<()> {
        let node = &self.flat.nodes[ni];
        let v = node.result;
        let elem = self.flat.val(v).elem;
        let mut args = Vec::with_capacity(node.args.len());
        for &a in &node.args {
            args.push(self.scalar(a, None)?);
        }
        let arg_elem = node.args.first().map(|&a| self.flat.val(a).elem);
        let Emit { fb, math, .. } = self;
        if let Some(f) = lowering(&node.op).math() {
            let x = transcend::call_outlined(fb, math, f, elem, &args)?;
            self.define_scalar(v, x);
            return Ok(());
        }
        let mut pos = fb.cursor();
        let x = match &node.op {
            Op::Unary(u) => lower::unary(&mut pos, *u, elem, 1, args[0])?,
            Op::Binary(b) => lower::binary(&mut pos, *b, elem, args[0], args[1])?,
            Op::Compare(c) => {
                lower::compare(&mut pos, *c, arg_elem.unwrap_or(elem), 1, args[0], args[1])
            }
            Op::Select => lower::select(&mut pos, elem, 1, args[0], args[1], args[2]),
            Op::Convert { elem: to } => {
                lower::convert(&mut pos, arg_elem.unwrap_or(*to), *to, 1, args[0])
            }
            Op::Const { data, .. } => match data {
                ConstData::Splat(s) => constant(&mut pos, *s, 1),
                ConstData::Dense(items) => constant(
                    &mut pos,
                    items.first().copied().unwrap_or(Scalar::F64(0.0)),
                    1,
                ),
            },
            Op::Size { dim, elem } => constant(
                &mut pos,
                Scalar::from_f64(*elem, dim.known().unwrap_or(0) as f64),
                1,
            ),
            Op::Broadcast { .. }
            | Op::Transpose { .. }
            | Op::Slice { .. }
            | Op::Reshape { .. }
            | Op::Pad { .. }
            | Op::Concat { .. } => args[0],
            // The interpreter folds from the identity, so a one-element sum
            // is `+0 + x` (which turns `-0` into `+0`); the other folds are
            // exact on one element.
            Op::Reduce {
                op: ReduceOp::Sum, ..
            } if elem.is_float() => {
                let zero = constant(&mut pos, Scalar::from_f64(elem, 0.0), 1);
                lower::combine(&mut pos, ReduceOp::Sum, elem, zero, args[0])
            }
            Op::Reduce { .. } => args[0],
            Op::Iota { ty, .. } => constant(&mut pos, Scalar::from_f64(ty.elem, 0.0), 1),
            Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::Matmul
            | Op::Call { .. }
            | Op::Scan { .. }
            | Op::While { .. }
            | Op::ScanAdjoint { .. } => return Err(internal("not a scalar op")),
        };
        self.define_scalar(v, x);
        Ok(())
    }

    /// `for i in start..end { body(i) }` (`end > start`), rotated.
    fn counted_loop(
        &mut self,
        start: i64,
        end: i64,
        mut body: impl FnMut(&mut Self, Value) -> R<()>,
    ) -> R<()> {
        let var = self.fb.declare_var(types::I64);
        let s = self.fb.ins().iconst(types::I64, start);
        self.fb.def_var(var, s);
        let blk = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(blk, &[]);
        self.fb.switch_to_block(blk);
        let i = self.fb.use_var(var);
        body(self, i)?;
        let i1 = self.fb.ins().iadd_imm_s(i, 1);
        self.fb.def_var(var, i1);
        let c = self.fb.ins().icmp_imm_s(IntCC::NotEqual, i1, end);
        self.fb.ins().brif(c, blk, &[], exit, &[]);
        self.fb.seal_block(blk);
        self.fb.switch_to_block(exit);
        self.fb.seal_block(exit);
        Ok(())
    }

    /// Fills `count` elements of `elem` at `p` with `value`.
    fn fill(&mut self, p: Value, count: usize, value: Scalar, flags: MemFlagsData) -> R<()> {
        let es = value.elem().byte_size();
        let bytes = count * es;
        let mut pattern = Vec::with_capacity(16);
        while pattern.len() < 16 {
            match value {
                Scalar::F64(x) => pattern.extend_from_slice(&x.to_le_bytes()),
                Scalar::F32(x) => pattern.extend_from_slice(&x.to_le_bytes()),
                Scalar::I64(x) => pattern.extend_from_slice(&x.to_le_bytes()),
                Scalar::Bool(b) => pattern.push(u8::from(b)),
            }
        }
        let chunks = bytes / 16;
        if chunks > 0 {
            let handle = self
                .fb
                .func
                .dfg
                .constants
                .insert(ConstantData::from(pattern));
            let v = self.fb.ins().vconst(types::I8X16, handle);
            if chunks <= 4 {
                for c in 0..chunks {
                    self.fb.ins().store(flags, v, p, (c * 16) as i32);
                }
            } else {
                self.counted_loop(0, chunks as i64, |em, i| {
                    let o = em.fb.ins().ishl_imm_s(i, 4);
                    let a = em.fb.ins().iadd(p, o);
                    em.fb.ins().store(flags, v, a, 0);
                    Ok(())
                })?;
            }
        }
        let done = chunks * 16 / es;
        if done < count {
            let s = constant(&mut self.fb.cursor(), value, 1);
            for e in done..count {
                let off = (e * es) as i64;
                if off <= i32::MAX as i64 {
                    self.fb.ins().store(flags, s, p, off as i32);
                } else {
                    let a = self.fb.ins().iadd_imm_s(p, off);
                    self.fb.ins().store(flags, s, a, 0);
                }
            }
        }
        Ok(())
    }
}
