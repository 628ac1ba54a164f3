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
//! ## Loop nests
//! A kernel's loops are *rotated* (the test is at the bottom: one conditional
//! branch per iteration) and have static trip counts, so a loop of zero trips
//! is simply not emitted. The innermost loop runs `unroll` vectors of
//! `width` lanes per iteration, then at most `unroll − 1` remaining vectors
//! and `width − 1` scalar elements straight-line, at static offsets.
//!
//! Values are evaluated lazily and memoised per `(value, index map)`. Each
//! value has a *level*: the innermost loop it depends on. Its instructions are
//! inserted at the *anchor* of that level — the first block of that loop's
//! body (or the kernel's entry block for loop-invariant values), before its
//! terminator if it is already closed. So constants, broadcast scalars and
//! row-invariant loads are hoisted out of the loops they do not depend on,
//! by construction rather than by hoping for the optimiser.
//!
//! Reductions whose innermost loops are all reduced accumulate in registers
//! (`unroll` vector accumulators and a scalar one for the tail, combined
//! pairwise then across lanes at the end); others accumulate into their
//! buffer, which is filled with the identity first.

use super::adjoint::AdjointDesc;
use super::classify::lowering;
use super::error::CompileError;
use super::flat::{Def, Flat, Vid};
use super::fusion::{Class, Fusion};
use super::kernel::{Addr, Ax, GemmStep, Kernel, MapId, Plan as EPlan, Root};
use super::lower::{self, constant, lane_ty, scalar_ty};
use super::math::MathFn;
use super::options::{OptLevel, Options};
use super::plan::{ALIGN, LoopStep, Plan, Step, Storage, identity};
use super::runtime;
use super::transcend::{self, KernelConsts, MathCtx};
use adjit_ir::{ConstData, Elem, Op, ReduceOp, Scalar};
use cranelift_codegen::Context;
use cranelift_codegen::cursor::{Cursor, FuncCursor};
use cranelift_codegen::ir::condcodes::IntCC;
use cranelift_codegen::ir::{
    AbiParam, AliasRegionData, Block, ConstantData, FuncRef, InstBuilder, MemFlagsData, Signature,
    Type, Value, types,
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
                    em.step(&plan.steps[si])?;
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
    fn step(&mut self, step: &'p Step) -> R<()> {
        match step {
            Step::Scalar(ni) => self.scalar_step(*ni),
            Step::Kernel(k) => self.kernel(k),
            Step::Gemm(g) => self.gemm(g),
            Step::Loop(l) => self.loop_step(l),
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

    // ---------------------------------------------------------------- loops

    /// A reference to program `p`'s entry in this function.
    fn program_ref(&mut self, p: usize) -> R<FuncRef> {
        if let Some(&r) = self.program_refs.get(&p) {
            return Ok(r);
        }
        let id = *self
            .programs
            .get(p)
            .ok_or_else(|| internal("a loop callee not generated before its caller"))?;
        let r = self.math.module.declare_func_in_func(id, self.fb.func);
        self.program_refs.insert(p, r);
        Ok(r)
    }

    /// The address of a loop operand or result: its buffer, its scalar
    /// slot, or (for a scalar parameter) the caller's pointer.
    fn value_ptr(&mut self, v: Vid) -> R<Value> {
        let val = self.flat.val(v);
        if val.rank() > 0 {
            return self.base(Base::Val(v), None);
        }
        match val.def {
            Def::Param(i) => {
                let inputs = self.inputs;
                Ok(self
                    .fb
                    .ins()
                    .load(types::I64, trusted(), inputs, (i * 8) as i32))
            }
            Def::Node(_) => {
                let slot = *self
                    .plan
                    .slot
                    .get(&v)
                    .ok_or_else(|| internal("a loop scalar without a slot"))?;
                let ws = self.ws;
                Ok(self.fb.ins().iadd_imm_s(ws, slot as i64))
            }
        }
    }

    /// `ws + off` for an offset in the workspace.
    fn ws_ptr(&mut self, off: usize) -> Value {
        let ws = self.ws;
        self.fb.ins().iadd_imm_s(ws, off as i64)
    }

    /// Byte size of a value's elements (8 for a scalar slot).
    fn value_bytes(&self, v: Vid) -> usize {
        let val = self.flat.val(v);
        val.len * val.elem.byte_size()
    }

    /// A reference to the runtime routine `name`, taking `params` pointer
    /// sized integers and returning nothing.
    fn runtime_ref(&mut self, name: &'static str, params: usize) -> R<FuncRef> {
        if let Some(&r) = self.rt_refs.get(name) {
            return Ok(r);
        }
        let id = match self.rt_decls.get(name) {
            Some(&id) => id,
            None => {
                let mut sig = Signature::new(self.math.call_conv);
                for _ in 0..params {
                    sig.params.push(AbiParam::new(types::I64));
                }
                let id = self
                    .math
                    .module
                    .declare_function(name, Linkage::Import, &sig)
                    .map_err(cg)?;
                self.rt_decls.insert(name, id);
                id
            }
        };
        let r = self.math.module.declare_func_in_func(id, self.fb.func);
        self.rt_refs.insert(name, r);
        Ok(r)
    }

    /// Copies `bytes` from `src` to `dst` (non-overlapping).
    fn copy_bytes(&mut self, dst: Value, src: Value, bytes: usize) -> R<()> {
        if bytes == 0 {
            return Ok(());
        }
        let r = self.runtime_ref(runtime::COPY_SYMBOL, 3)?;
        let n = self.fb.ins().iconst(types::I64, bytes as i64);
        self.fb.ins().call(r, &[dst, src, n]);
        Ok(())
    }

    /// A `scan_adjoint`: fills the node's pointer table and calls the
    /// runtime driver, which runs the checkpoint schedule (see
    /// [`super::adjoint`]).
    fn adjoint_step(&mut self, l: &'p LoopStep, desc: &'p AdjointDesc) -> R<()> {
        let node = &self.flat.nodes[l.node];
        let adjoint = l
            .cond
            .ok_or_else(|| internal("a scan_adjoint without an adjoint"))?;
        let body = self.program_ref(l.body)?;
        let adjoint = self.program_ref(adjoint)?;
        let ptrs = self.ws_ptr(l.scratch + desc.ptrs);
        let scratch = self.ws_ptr(l.scratch);
        for (i, &a) in node.args.iter().enumerate() {
            let p = self.value_ptr(a)?;
            self.fb.ins().store(trusted(), p, ptrs, (i * 8) as i32);
        }
        for (i, &r) in node.results.iter().enumerate() {
            let p = if self.fusion.class[r as usize] == Class::Dead {
                self.fb.ins().iconst(types::I64, 0)
            } else {
                self.value_ptr(r)?
            };
            let at = (node.args.len() + i) * 8;
            self.fb.ins().store(trusted(), p, ptrs, at as i32);
        }
        let body = self.fb.ins().func_addr(types::I64, body);
        let adjoint = self.fb.ins().func_addr(types::I64, adjoint);
        if self.relocatable {
            return Err(CompileError::Unsupported {
                func: self.flat.name.clone(),
                op: "scan_adjoint",
                reason: "a reverse sweep's descriptor cannot be written into an object yet".into(),
            });
        }
        let d = self
            .fb
            .ins()
            .iconst(types::I64, desc as *const AdjointDesc as i64);
        let driver = self.runtime_ref(super::adjoint::SYMBOL, 5)?;
        self.fb
            .ins()
            .call(driver, &[d, ptrs, scratch, body, adjoint]);
        Ok(())
    }

    /// A `scan` or `while`: a native loop calling the compiled body.
    ///
    /// Carries are double-buffered: step `s` reads the buffer step `s − 1`
    /// wrote (the initial value at `s = 0`) and writes the other one, so a
    /// body never writes memory it reads. For `scan` the trip count is
    /// static and the parity is chosen so that the last step writes the
    /// result's own storage; a `while` copies the final state there if it
    /// ended in the spare buffer.
    fn loop_step(&mut self, l: &'p LoopStep) -> R<()> {
        if let Some(desc) = &l.adjoint {
            return self.adjoint_step(l, desc);
        }
        let node = &self.flat.nodes[l.node];
        let lay = &l.layout;
        let (n_consts, n_carry, scan) = match &node.op {
            Op::Scan {
                length,
                reverse,
                n_consts,
                n_carry,
                ..
            } => (
                *n_consts,
                *n_carry,
                Some((length.known().unwrap_or(0).max(0) as u64, *reverse)),
            ),
            Op::While { n_consts, .. } => (*n_consts, node.results.len() - 1, None),
            Op::Const { .. }
            | Op::Iota { .. }
            | Op::Size { .. }
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::Broadcast { .. }
            | Op::Reduce { .. }
            | Op::Reshape { .. }
            | Op::Transpose { .. }
            | Op::Slice { .. }
            | Op::Concat { .. }
            | Op::Pad { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::Matmul
            | Op::Convert { .. }
            | Op::Call { .. }
            | Op::ScanAdjoint { .. } => return Err(internal("not a scan or while")),
        };
        let body = self.program_ref(l.body)?;
        let cond = l.cond.map(|c| self.program_ref(c)).transpose()?;
        let scratch = l.scratch;
        let in_tab = self.ws_ptr(scratch + lay.in_table);
        let out_tab = self.ws_ptr(scratch + lay.out_table);
        let cws = self.ws_ptr(scratch + lay.callee_ws);
        let flags = trusted();
        // Loop invariants: the consts' pointers.
        for (i, &a) in node.args[..n_consts].iter().enumerate() {
            let p = self.value_ptr(a)?;
            self.fb.ins().store(flags, p, in_tab, (i * 8) as i32);
        }
        // Carry buffers: `bufs[c][k]` is written by steps `k` mod 2 counted
        // from the last (scan) or from the first (while).
        let mut inits = Vec::with_capacity(n_carry);
        let mut bufs = Vec::with_capacity(n_carry);
        for c in 0..n_carry {
            inits.push(self.value_ptr(node.args[n_consts + c])?);
            let r = node.results[c];
            let mut pair = [in_tab; 2];
            for (k, slot) in lay.carry_bufs[c].iter().enumerate() {
                pair[k] = match slot {
                    Some(off) => self.ws_ptr(scratch + off),
                    None => self.value_ptr(r)?,
                };
            }
            bufs.push(pair);
        }
        let bytes: Vec<usize> = (0..n_carry)
            .map(|c| self.value_bytes(node.results[c]))
            .collect();
        let live: Vec<bool> = (0..n_carry)
            .map(|c| lay.carry_bufs[c][0].is_none())
            .collect();
        let Some((length, reverse)) = scan else {
            return self.while_loop(l, node, cond, body, (in_tab, out_tab, cws), &inits, &bufs);
        };
        if length == 0 {
            for c in 0..n_carry {
                if live[c] {
                    self.copy_bytes(bufs[c][0], inits[c], bytes[c])?;
                }
            }
            return Ok(());
        }
        // Scanned inputs and stacked outputs: base pointers and row sizes.
        let n_xs = node.args.len() - n_consts - n_carry;
        let mut xs = Vec::with_capacity(n_xs);
        for &x in &node.args[n_consts + n_carry..] {
            let val = self.flat.val(x);
            let row = val.len / (length as usize) * val.elem.byte_size();
            xs.push((self.value_ptr(x)?, row as i64));
        }
        let mut ys = Vec::new();
        for (j, &y) in node.results[n_carry..].iter().enumerate() {
            let val = self.flat.val(y);
            let row = val.len / (length as usize) * val.elem.byte_size();
            ys.push(match lay.ys_row[j] {
                Some(off) => (self.ws_ptr(scratch + off), 0i64),
                None => (self.value_ptr(y)?, row as i64),
            });
        }
        let parity = ((length - 1) % 2) as usize;
        let vars = self.carry_vars(&inits, &bufs, parity);
        // States kept for a later reverse sweep: state `s + 1` goes to
        // record `s`, the last one to the result.
        let records = l.record_into.as_ref().map(|r| (self.ws_ptr(r.base), r));
        self.counted_loop(0, length as i64, |em, s| {
            let t = if reverse {
                let m = em.fb.ins().ineg(s);
                em.fb.ins().iadd_imm_s(m, length as i64 - 1)
            } else {
                s
            };
            if let Some((base, r)) = records {
                let first = em.fb.ins().icmp_imm_s(IntCC::Equal, s, 0);
                let last = em.fb.ins().icmp_imm_s(IntCC::Equal, s, length as i64 - 1);
                let off = em.fb.ins().imul_imm_s(s, r.record as i64);
                let out = em.fb.ins().iadd(base, off);
                let prev = em.fb.ins().iadd_imm_s(out, -(r.record as i64));
                for (c, &o) in r.offsets.iter().enumerate() {
                    let rec_out = em.fb.ins().iadd_imm_s(out, o as i64);
                    let rec_in = em.fb.ins().iadd_imm_s(prev, o as i64);
                    let i = em.fb.ins().select(first, inits[c], rec_in);
                    let w = em.fb.ins().select(last, bufs[c][0], rec_out);
                    em.fb
                        .ins()
                        .store(flags, i, in_tab, ((n_consts + c) * 8) as i32);
                    em.fb.ins().store(flags, w, out_tab, (c * 8) as i32);
                }
            } else {
                em.store_carries(&vars, 0, in_tab, n_consts);
                em.store_carries(&vars, 1, out_tab, 0);
            }
            for (j, &(base, row)) in xs.iter().enumerate() {
                let off = em.fb.ins().imul_imm_s(t, row);
                let p = em.fb.ins().iadd(base, off);
                let at = (n_consts + n_carry + j) * 8;
                em.fb.ins().store(flags, p, in_tab, at as i32);
            }
            for (j, &(base, row)) in ys.iter().enumerate() {
                let p = if row == 0 {
                    base
                } else {
                    let off = em.fb.ins().imul_imm_s(t, row);
                    em.fb.ins().iadd(base, off)
                };
                em.fb
                    .ins()
                    .store(flags, p, out_tab, ((n_carry + j) * 8) as i32);
            }
            em.fb.ins().call(body, &[in_tab, out_tab, cws]);
            em.rotate_carries(&vars);
            Ok(())
        })
    }

    /// Per carry, the variables `[read, write, spare]`: the buffer the next
    /// step reads, the one it writes and the other one. Initially the
    /// initial value, `bufs[c][first]` and `bufs[c][1 - first]`.
    fn carry_vars(
        &mut self,
        inits: &[Value],
        bufs: &[[Value; 2]],
        first: usize,
    ) -> Vec<[Variable; 3]> {
        inits
            .iter()
            .zip(bufs)
            .map(|(&init, pair)| {
                let vars = [(); 3].map(|_| self.fb.declare_var(types::I64));
                self.fb.def_var(vars[0], init);
                self.fb.def_var(vars[1], pair[first]);
                self.fb.def_var(vars[2], pair[1 - first]);
                vars
            })
            .collect()
    }

    /// Stores variable `which` of every carry in `table` from entry `at` on.
    fn store_carries(&mut self, vars: &[[Variable; 3]], which: usize, table: Value, at: usize) {
        for (c, v) in vars.iter().enumerate() {
            let p = self.fb.use_var(v[which]);
            self.fb
                .ins()
                .store(trusted(), p, table, ((at + c) * 8) as i32);
        }
    }

    /// After a step: it read `read` and wrote `write`; the next one reads
    /// what it wrote and writes the spare buffer.
    fn rotate_carries(&mut self, vars: &[[Variable; 3]]) {
        for v in vars {
            let w = self.fb.use_var(v[1]);
            let spare = self.fb.use_var(v[2]);
            self.fb.def_var(v[0], w);
            self.fb.def_var(v[1], spare);
            self.fb.def_var(v[2], w);
        }
    }

    /// The loop of a `while` (see [`Self::loop_step`]).
    #[allow(clippy::too_many_arguments)]
    fn while_loop(
        &mut self,
        l: &'p LoopStep,
        node: &'p super::flat::FNode,
        cond: Option<FuncRef>,
        body: FuncRef,
        (in_tab, out_tab, cws): (Value, Value, Value),
        inits: &[Value],
        bufs: &[[Value; 2]],
    ) -> R<()> {
        let Op::While {
            max_trips,
            n_consts,
            ..
        } = &node.op
        else {
            return Err(internal("not a while"));
        };
        let cond = cond.ok_or_else(|| internal("a while without a condition"))?;
        let max = max_trips.known().unwrap_or(0).max(0);
        let n_state = inits.len();
        let lay = &l.layout;
        let flags = trusted();
        let cond_tab = self.ws_ptr(l.scratch + lay.cond_table);
        let cond_out = self.ws_ptr(l.scratch + lay.cond_out);
        self.fb.ins().store(flags, cond_out, cond_tab, 0);
        let vars = self.carry_vars(inits, bufs, 0);
        let trips = self.fb.declare_var(types::I64);
        let zero = self.fb.ins().iconst(types::I64, 0);
        self.fb.def_var(trips, zero);
        let header = self.fb.create_block();
        let test = self.fb.create_block();
        let step = self.fb.create_block();
        let exit = self.fb.create_block();
        self.fb.ins().jump(header, &[]);
        self.fb.switch_to_block(header);
        let n = self.fb.use_var(trips);
        let more = self.fb.ins().icmp_imm_s(IntCC::SignedLessThan, n, max);
        self.fb.ins().brif(more, test, &[], exit, &[]);
        self.fb.switch_to_block(test);
        self.fb.seal_block(test);
        self.store_carries(&vars, 0, in_tab, *n_consts);
        self.fb.ins().call(cond, &[in_tab, cond_tab, cws]);
        let go = self.fb.ins().load(types::I8, flags, cond_out, 0);
        self.fb.ins().brif(go, step, &[], exit, &[]);
        self.fb.switch_to_block(step);
        self.fb.seal_block(step);
        self.store_carries(&vars, 1, out_tab, 0);
        self.fb.ins().call(body, &[in_tab, out_tab, cws]);
        self.rotate_carries(&vars);
        let n1 = self.fb.ins().iadd_imm_s(n, 1);
        self.fb.def_var(trips, n1);
        self.fb.ins().jump(header, &[]);
        self.fb.seal_block(header);
        self.fb.switch_to_block(exit);
        self.fb.seal_block(exit);
        // The final state is where the last step wrote (or the initial one).
        for (c, v) in vars.iter().enumerate() {
            if lay.carry_bufs[c][0].is_some() {
                continue;
            }
            let last = self.fb.use_var(v[0]);
            let same = self.fb.ins().icmp(IntCC::Equal, last, bufs[c][0]);
            let copy = self.fb.create_block();
            let done = self.fb.create_block();
            self.fb.ins().brif(same, done, &[], copy, &[]);
            self.fb.switch_to_block(copy);
            self.fb.seal_block(copy);
            let bytes = self.value_bytes(node.results[c]);
            self.copy_bytes(bufs[c][0], last, bytes)?;
            self.fb.ins().jump(done, &[]);
            self.fb.switch_to_block(done);
            self.fb.seal_block(done);
        }
        let count = node.results[n_state];
        if self.fusion.class[count as usize] != Class::Dead {
            let p = self.value_ptr(count)?;
            let n = self.fb.use_var(trips);
            self.fb.ins().store(flags, n, p, 0);
        }
        Ok(())
    }

    // ---------------------------------------------------------------- GEMM

    fn gemm(&mut self, g: &'p GemmStep) -> R<()> {
        let elem = self.flat.val(g.result).elem;
        let fref = match self.gemm_refs.get(&elem) {
            Some(&r) => r,
            None => {
                let id = match self.gemm_decls.get(&elem) {
                    Some(&id) => id,
                    None => {
                        let mut sig = Signature::new(self.math.call_conv);
                        for _ in 0..12 {
                            sig.params.push(AbiParam::new(types::I64));
                        }
                        let id = self
                            .math
                            .module
                            .declare_function(runtime::gemm_symbol(elem), Linkage::Import, &sig)
                            .map_err(cg)?;
                        self.gemm_decls.insert(elem, id);
                        id
                    }
                };
                let r = self.math.module.declare_func_in_func(id, self.fb.func);
                self.gemm_refs.insert(elem, r);
                r
            }
        };
        let shape = &self.flat.val(g.result).shape;
        let r = shape.len();
        let nb = r - 2;
        let sa = &self.flat.val(g.a).shape;
        let (m, n, k) = (shape[r - 2], shape[r - 1], sa[r - 1]);
        let es = elem.byte_size() as i64;
        let abase = self.base(Base::Val(g.a_view.0), None)?;
        let bbase = self.base(Base::Val(g.b_view.0), None)?;
        let cbase = self.base(Base::Val(g.result), None)?;
        let cst = super::kernel::strides(shape);
        let batch: Vec<usize> = shape[..nb].to_vec();
        let count: usize = batch.iter().product();
        let (aa, ba) = (&g.a_view.1, &g.b_view.1);
        let body = |em: &mut Self, bi: Value| -> R<()> {
            // Per-operand byte offsets of batch element `bi` (row-major over
            // the batch dims): decompose statically when possible.
            let mut offs = [aa.off * es, ba.off * es, 0i64];
            let mut dyn_parts: Vec<(usize, i64)> = Vec::new();
            let mut div = count as i64;
            for (d, &ext) in batch.iter().enumerate() {
                div /= ext as i64;
                let coefs = [aa.coef[d] * es, ba.coef[d] * es, cst[d] * es];
                // index_d = (bi / div) % ext
                for (o, c) in coefs.iter().enumerate() {
                    if *c != 0 {
                        dyn_parts.push((o * 1000 + d, *c));
                    }
                }
                let _ = div;
            }
            let mut ptrs = [abase, bbase, cbase];
            if !batch.is_empty() {
                let mut div = count as i64;
                for (d, &ext) in batch.iter().enumerate() {
                    div /= ext as i64;
                    let q = em.fb.ins().udiv_imm_u(bi, div);
                    let idx = em.fb.ins().urem_imm_u(q, ext as i64);
                    for (o, c) in [aa.coef[d] * es, ba.coef[d] * es, cst[d] * es]
                        .into_iter()
                        .enumerate()
                    {
                        if c != 0 {
                            let t = em.fb.ins().imul_imm_s(idx, c);
                            ptrs[o] = em.fb.ins().iadd(ptrs[o], t);
                        }
                    }
                }
            }
            for (o, off) in offs.iter_mut().enumerate() {
                if *off != 0 {
                    ptrs[o] = em.fb.ins().iadd_imm_s(ptrs[o], *off);
                }
            }
            let c = |em: &mut Self, x: i64| em.fb.ins().iconst(types::I64, x);
            let args = [
                c(em, m as i64),
                c(em, k as i64),
                c(em, n as i64),
                ptrs[0],
                c(em, aa.coef[nb]),
                c(em, aa.coef[nb + 1]),
                ptrs[1],
                c(em, ba.coef[nb]),
                c(em, ba.coef[nb + 1]),
                ptrs[2],
                c(em, n as i64),
                c(em, 1),
            ];
            em.fb.ins().call(fref, &args);
            Ok(())
        };
        if count == 0 {
            return Ok(());
        }
        if count == 1 {
            let zero = self.fb.ins().iconst(types::I64, 0);
            return body(self, zero);
        }
        self.counted_loop(0, count as i64, body)
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

    // -------------------------------------------------------------- kernels

    fn kernel(&mut self, k: &'p Kernel) -> R<()> {
        let nloops = k.sched.loops.len();
        self.ks = KState {
            nloops,
            idx: vec![None; nloops],
            seg: k.space.iter().map(|&e| (0, e as i64)).collect(),
            ..KState::default()
        };
        let empty = k.space.contains(&0);

        // Fills requested by the roots.
        for &(dest, value) in &k.fills {
            let len = self.flat.val(dest).len;
            let p = self.base(Base::Val(dest), None)?;
            let flags = self.region(Base::Val(dest));
            self.fill(p, len, value, flags)?;
        }
        // Reduction strategies and identity fills.
        let mut reds = Vec::with_capacity(k.roots.len());
        for root in &k.roots {
            let (op, result, reduced) = match root {
                Root::Reduce {
                    op,
                    result,
                    reduced,
                    ..
                } => (*op, *result, *reduced),
                Root::Matmul {
                    result, reduced, ..
                } => (ReduceOp::Sum, *result, *reduced),
                Root::Store { .. } | Root::Point { .. } | Root::Scatter { .. } => {
                    reds.push(None);
                    continue;
                }
            };
            let elem = self.flat.val(result).elem;
            let loop_reduced =
                |l: usize| k.sched.loops[l].axes.iter().all(|&a| reduced >> a & 1 == 1);
            let mut b = nloops;
            while b > 0 && loop_reduced(b - 1) {
                b -= 1;
            }
            let mut block = if nloops == 0 || b < nloops {
                Some(b)
            } else {
                None
            };
            let is_buffer = self.fusion.class[result as usize] == Class::Buffer;
            let outer_reduced = (0..block.unwrap_or(nloops)).any(loop_reduced);
            if k.sched.strict && outer_reduced {
                // Partial results combined into the buffer would reassociate.
                block = None;
            }
            let fill = is_buffer && (block.is_none() || outer_reduced || empty);
            if fill {
                let len = self.flat.val(result).len;
                let p = self.base(Base::Val(result), None)?;
                let flags = self.region(Base::Val(result));
                self.fill(p, len, identity(op, elem), flags)?;
            }
            reds.push(Some(Red {
                op,
                elem,
                block,
                fill,
                accs: Vec::new(),
                tail: None,
            }));
        }
        self.ks.reds = reds;
        if empty {
            for root in &k.roots {
                if let Some(op) = root.reduce_op() {
                    let result = root.produces();
                    if self.fusion.class[result as usize] == Class::Scalar {
                        let elem = self.flat.val(result).elem;
                        let x = constant(&mut self.fb.cursor(), identity(op, elem), 1);
                        self.define_scalar(result, x);
                    }
                }
            }
            return Ok(());
        }
        let cur = self
            .fb
            .current_block()
            .ok_or_else(|| internal("no current block"))?;
        self.ks.anchors = vec![cur; nloops + 1];
        self.math.consts.reset(Some(cur));
        let r = self.level(k, 0);
        self.math.consts.reset(None);
        r
    }

    fn inner_level(&self) -> i32 {
        self.ks.nloops as i32 - 1
    }

    /// The anchor at which values of `level` are inserted (`None`: here).
    fn anchor(&self, level: i32) -> Option<Block> {
        if level >= self.inner_level() {
            None
        } else {
            Some(self.ks.anchors[(level + 1) as usize])
        }
    }

    fn clear_from(&mut self, level: i32) {
        self.ks.memo.retain(|_, e| e.1 < level);
        self.ks.splats.retain(|_, e| e.1 < level);
        self.ks.dynv.retain(|_, e| e.1 < level);
        self.ks.ptrs.retain(|key, _| key.1 < level);
    }

    fn level(&mut self, k: &'p Kernel, l: usize) -> R<()> {
        let nloops = self.ks.nloops;
        self.init_accumulators(k, l)?;
        if nloops == 0 {
            self.point(k, 1, None, 0, TAIL)?;
        } else if l == nloops - 1 {
            let spec = &k.sched.loops[l];
            for &(a, b) in &spec.segments {
                if spec.axes.len() == 1 {
                    self.ks.seg[spec.axes[0]] = (a as i64, b as i64);
                }
                self.inner(k, a as i64, b as i64)?;
            }
        } else {
            let spec = &k.sched.loops[l];
            for &(a, b) in &spec.segments {
                if spec.axes.len() == 1 {
                    self.ks.seg[spec.axes[0]] = (a as i64, b as i64);
                }
                let var = self.fb.declare_var(types::I64);
                let s = self.fb.ins().iconst(types::I64, a as i64);
                self.fb.def_var(var, s);
                let body = self.fb.create_block();
                let exit = self.fb.create_block();
                self.fb.ins().jump(body, &[]);
                self.fb.switch_to_block(body);
                let i = self.fb.use_var(var);
                self.ks.idx[l] = Some(i);
                self.ks.anchors[l + 1] = body;
                self.level(k, l + 1)?;
                self.clear_from(l as i32);
                let i1 = self.fb.ins().iadd_imm_s(i, 1);
                self.fb.def_var(var, i1);
                let c = self.fb.ins().icmp_imm_s(IntCC::NotEqual, i1, b as i64);
                self.fb.ins().brif(c, body, &[], exit, &[]);
                self.fb.seal_block(body);
                self.fb.switch_to_block(exit);
                self.fb.seal_block(exit);
            }
        }
        self.finish_accumulators(k, l)
    }

    fn inner(&mut self, k: &'p Kernel, a: i64, b: i64) -> R<()> {
        let w = k.sched.width as i64;
        let u = k.sched.unroll as i64;
        let len = b - a;
        let nvec = len / w;
        let tail = len % w;
        let main = nvec / u;
        let remv = nvec % u;
        let inner = self.inner_level();
        if main > 0 {
            // The counter runs from −(elements) up to 0 and the index is
            // `end + counter`: the back edge tests the incremented counter
            // itself, so no compare keeps the old value alive and the
            // counter stays in one register.
            let end = a + main * u * w;
            let var = self.fb.declare_var(types::I64);
            let s = self.fb.ins().iconst(types::I64, a - end);
            self.fb.def_var(var, s);
            let body = self.fb.create_block();
            let exit = self.fb.create_block();
            self.fb.ins().jump(body, &[]);
            self.fb.switch_to_block(body);
            // The increment comes first and the body addresses from the new
            // value: the old one dies at once and shares its register.
            let j = self.fb.use_var(var);
            let j1 = self.fb.ins().iadd_imm_s(j, u * w);
            for ui in 0..u {
                let off = end + ui * w - u * w;
                self.point(k, w as usize, Some(j1), off, ui as usize)?;
                self.clear_from(inner);
            }
            self.fb.def_var(var, j1);
            let c = j1;
            self.fb.ins().brif(c, body, &[], exit, &[]);
            self.fb.seal_block(body);
            self.fb.switch_to_block(exit);
            self.fb.seal_block(exit);
        }
        let base = a + main * u * w;
        for r in 0..remv {
            self.point(k, w as usize, None, base + r * w, r as usize)?;
            self.clear_from(inner);
        }
        let base = a + nvec * w;
        for t in 0..tail {
            self.point(k, 1, None, base + t, TAIL)?;
            self.clear_from(inner);
        }
        Ok(())
    }

    fn init_accumulators(&mut self, k: &'p Kernel, l: usize) -> R<()> {
        let w = k.sched.width;
        let u = k.sched.unroll;
        for ri in 0..k.roots.len() {
            let Some(red) = self.ks.reds[ri].clone() else {
                continue;
            };
            if red.block != Some(l) {
                continue;
            }
            let id = identity(red.op, red.elem);
            let vec_ty = lane_ty(red.elem, w);
            let mut accs = Vec::with_capacity(u);
            let vinit = constant(&mut self.fb.cursor(), id, w);
            for _ in 0..u {
                let var = self.fb.declare_var(vec_ty);
                self.fb.def_var(var, vinit);
                accs.push(var);
            }
            let sinit = constant(&mut self.fb.cursor(), id, 1);
            let tail = self.fb.declare_var(scalar_ty(red.elem));
            self.fb.def_var(tail, sinit);
            let r = self.ks.reds[ri].as_mut().expect("present");
            r.accs = accs;
            r.tail = Some(tail);
        }
        Ok(())
    }

    fn finish_accumulators(&mut self, k: &'p Kernel, l: usize) -> R<()> {
        let w = k.sched.width;
        for (ri, root) in k.roots.iter().enumerate() {
            let Some(red) = self.ks.reds[ri].clone() else {
                continue;
            };
            if red.block != Some(l) {
                continue;
            }
            let mut parts: Vec<Value> = red.accs.iter().map(|&v| self.fb.use_var(v)).collect();
            let tail = self.fb.use_var(red.tail.expect("initialised"));
            let mut pos = self.fb.cursor();
            while parts.len() > 1 {
                let half = parts.len().div_ceil(2);
                let mut next = Vec::with_capacity(half);
                for i in 0..half {
                    if i + half < parts.len() {
                        next.push(lower::combine(
                            &mut pos,
                            red.op,
                            red.elem,
                            parts[i],
                            parts[i + half],
                        ));
                    } else {
                        next.push(parts[i]);
                    }
                }
                parts = next;
            }
            let h = lower::horizontal(&mut pos, red.op, red.elem, w, parts[0]);
            let total = lower::combine(&mut pos, red.op, red.elem, h, tail);
            let result = root.produces();
            if self.fusion.class[result as usize] == Class::Scalar {
                self.define_scalar(result, total);
            } else {
                let addr = match root {
                    Root::Reduce { addr, .. } | Root::Matmul { addr, .. } => addr.clone(),
                    Root::Store { .. } | Root::Point { .. } | Root::Scatter { .. } => {
                        return Err(internal("not a reduction"));
                    }
                };
                let ai = self.addr_id(Base::Val(result), addr);
                let p = self.ptr(k, ai, l as i32 - 1)?;
                let ty = scalar_ty(red.elem);
                let flags = self.region(Base::Val(result));
                let total = if red.fill {
                    let old = self.fb.ins().load(ty, flags, p, 0);
                    let mut pos = self.fb.cursor();
                    lower::combine(&mut pos, red.op, red.elem, old, total)
                } else {
                    total
                };
                self.fb.ins().store(flags, total, p, 0);
            }
        }
        Ok(())
    }

    fn addr_id(&mut self, base: Base, addr: Addr) -> usize {
        let key = (base, addr);
        if let Some(&i) = self.ks.addr_ids.get(&key) {
            return i;
        }
        let i = self.ks.addrs.len();
        self.ks.addrs.push(key.clone());
        self.ks.addr_ids.insert(key, i);
        i
    }

    fn elem_of(&self, base: Base) -> Elem {
        match base {
            Base::Val(v) => self.flat.val(v).elem,
            Base::Out(i) => self.flat.val(self.flat.outputs[i]).elem,
        }
    }

    /// The coefficient (in elements) of loop `l` in an address.
    fn loop_coef(k: &Kernel, addr: &Addr, l: usize) -> i64 {
        let axis = *k.sched.loops[l].axes.last().expect("non-empty loop");
        addr.coef[axis]
    }

    /// The address with the contributions of loops `0..=level` (and the
    /// static offset), computed at the anchor of `level`.
    fn ptr(&mut self, k: &'p Kernel, ai: usize, level: i32) -> R<Value> {
        if let Some(&p) = self.ks.ptrs.get(&(ai, level)) {
            return Ok(p);
        }
        let (base, addr) = self.ks.addrs[ai].clone();
        let es = self.elem_of(base).byte_size() as i64;
        let p = if level < 0 {
            let anchor = self.anchor(-1);
            let b = self.base(base, anchor)?;
            if addr.off != 0 {
                let mut pos = cursor(&mut self.fb, anchor);
                pos.ins().iadd_imm_s(b, addr.off * es)
            } else {
                b
            }
        } else {
            let prev = self.ptr(k, ai, level - 1)?;
            let c = Self::loop_coef(k, &addr, level as usize) * es;
            if c == 0 {
                prev
            } else {
                let i = self.ks.idx[level as usize].ok_or_else(|| internal("loop index"))?;
                let anchor = self.anchor(level);
                let mut pos = cursor(&mut self.fb, anchor);
                let t = pos.ins().imul_imm_s(i, c);
                pos.ins().iadd(prev, t)
            }
        };
        self.ks.ptrs.insert((ai, level), p);
        Ok(p)
    }

    /// The address of an access at `level`: pointer and immediate offset.
    fn access(&mut self, k: &'p Kernel, ai: usize, level: i32) -> R<(Value, i32)> {
        let (base, addr) = self.ks.addrs[ai].clone();
        let es = self.elem_of(base).byte_size() as i64;
        let inner = self.inner_level();
        let (mut p, mut off) = if level < inner || self.ks.nloops == 0 {
            (self.ptr(k, ai, level.min(inner))?, 0i64)
        } else {
            let p = self.ptr(k, ai, inner - 1)?;
            let c = Self::loop_coef(k, &addr, inner as usize) * es;
            let pt = self.ks.point;
            let p = match (pt.j, c) {
                (Some(j), c) if c != 0 => {
                    let t = if c > 0 && (c as u64).is_power_of_two() {
                        self.fb.ins().ishl_imm_s(j, c.trailing_zeros() as i64)
                    } else {
                        self.fb.ins().imul_imm_s(j, c)
                    };
                    self.fb.ins().iadd(p, t)
                }
                _ => p,
            };
            (p, pt.off * c)
        };
        for &(id, scale) in &addr.dyns {
            let (d, _) = self.dyn_index(k, id)?;
            let anchor = self.anchor(level);
            let mut pos = cursor(&mut self.fb, anchor);
            let t = pos.ins().imul_imm_s(d, scale * es);
            p = pos.ins().iadd(p, t);
        }
        if off > i32::MAX as i64 || off < i32::MIN as i64 {
            let anchor = self.anchor(level);
            let mut pos = cursor(&mut self.fb, anchor);
            p = pos.ins().iadd_imm_s(p, off);
            off = 0;
        }
        Ok((p, off as i32))
    }

    /// The clamped value of dynamic index `id`.
    fn dyn_index(&mut self, k: &'p Kernel, id: u32) -> R<(Value, i32)> {
        if let Some(&e) = self.ks.dynv.get(&id) {
            return Ok(e);
        }
        let d = &k.dyns[id as usize];
        let (x, lvl) = self.eval(k, d.idx, d.map, false, 1)?;
        let anchor = self.anchor(lvl);
        let mut pos = cursor(&mut self.fb, anchor);
        let zero = pos.ins().iconst(types::I64, 0);
        let hi = pos
            .ins()
            .iconst(types::I64, d.bound.saturating_sub(1) as i64);
        let c = pos.ins().smax(x, zero);
        let c = pos.ins().smin(c, hi);
        self.ks.dynv.insert(id, (c, lvl));
        Ok((c, lvl))
    }

    /// Evaluates every root at the current innermost point.
    fn point(
        &mut self,
        k: &'p Kernel,
        lanes: usize,
        j: Option<Value>,
        off: i64,
        acc: usize,
    ) -> R<()> {
        self.ks.point = Point { j, off };
        let id = k
            .maps
            .identity_id(k.space.len())
            .ok_or_else(|| internal("identity map not interned"))?;
        let inner = self.inner_level();
        for (ri, root) in k.roots.iter().enumerate() {
            match root {
                Root::Store {
                    value,
                    own,
                    dest,
                    output,
                    addr,
                } => {
                    let x = self.operand(k, *value, id, *own, lanes)?;
                    let base = match output {
                        Some(i) => Base::Out(*i),
                        None => Base::Val(*dest),
                    };
                    let ai = self.addr_id(base, addr.clone());
                    let (p, o) = self.access(k, ai, inner)?;
                    let flags = self.region(base);
                    self.fb.ins().store(flags, x, p, o);
                }
                Root::Point { value } => {
                    let (x, _) = self.eval(k, *value, id, true, 1)?;
                    self.define_scalar(*value, x);
                }
                Root::Reduce { operand, .. } => {
                    let x = self.operand(k, *operand, id, false, lanes)?;
                    self.accumulate(k, ri, root, x, lanes, acc)?;
                }
                Root::Matmul { a, b, .. } => {
                    let (am, bm) = k.matmul_ids.ok_or_else(|| internal("matmul maps"))?;
                    let xa = self.operand(k, *a, am, false, lanes)?;
                    let xb = self.operand(k, *b, bm, false, lanes)?;
                    let elem = self.flat.val(*a).elem;
                    let mut pos = self.fb.cursor();
                    let x = if elem.is_float() {
                        pos.ins().fmul(xa, xb)
                    } else {
                        pos.ins().imul(xa, xb)
                    };
                    self.accumulate(k, ri, root, x, lanes, acc)?;
                }
                Root::Scatter {
                    updates,
                    indices,
                    axis,
                    result,
                } => {
                    let x = self.operand(k, *updates, id, false, 1)?;
                    let bound = self.flat.val(*result).shape[*axis];
                    if bound == 0 {
                        continue;
                    }
                    let im = k.scatter_ids.ok_or_else(|| internal("scatter map"))?;
                    let (iv, _) = self.eval(k, *indices, im, false, 1)?;
                    let elem = self.flat.val(*result).elem;
                    let mut pos = self.fb.cursor();
                    let zero = pos.ins().iconst(types::I64, 0);
                    let hi = pos.ins().iconst(types::I64, bound as i64 - 1);
                    let c = pos.ins().smax(iv, zero);
                    let c = pos.ins().smin(c, hi);
                    let addr = k.scatter_addr(self.flat, root);
                    let ai = self.addr_id(Base::Val(*result), addr.0);
                    let (p, o) = self.access(k, ai, inner)?;
                    let es = elem.byte_size() as i64;
                    let flags = self.region(Base::Val(*result));
                    let mut pos = self.fb.cursor();
                    let t = pos.ins().imul_imm_s(c, addr.1 * es);
                    let p = pos.ins().iadd(p, t);
                    let ty = scalar_ty(elem);
                    let old = pos.ins().load(ty, flags, p, o);
                    let new = lower::combine(&mut pos, ReduceOp::Sum, elem, old, x);
                    pos.ins().store(flags, new, p, o);
                }
            }
        }
        Ok(())
    }

    fn accumulate(
        &mut self,
        k: &'p Kernel,
        ri: usize,
        root: &Root,
        x: Value,
        lanes: usize,
        acc: usize,
    ) -> R<()> {
        let red = self.ks.reds[ri]
            .clone()
            .ok_or_else(|| internal("reduction state"))?;
        if red.block.is_some() {
            let var = if acc == TAIL || lanes == 1 && k.sched.width > 1 {
                red.tail.ok_or_else(|| internal("accumulator"))?
            } else {
                red.accs[acc]
            };
            let cur = self.fb.use_var(var);
            let mut pos = self.fb.cursor();
            let new = lower::combine(&mut pos, red.op, red.elem, cur, x);
            self.fb.def_var(var, new);
            return Ok(());
        }
        let addr = match root {
            Root::Reduce { addr, result, .. } | Root::Matmul { addr, result, .. } => {
                (addr.clone(), *result)
            }
            Root::Store { .. } | Root::Point { .. } | Root::Scatter { .. } => {
                return Err(internal("not a reduction"));
            }
        };
        let ai = self.addr_id(Base::Val(addr.1), addr.0);
        let inner = self.inner_level();
        let (p, o) = self.access(k, ai, inner)?;
        let ty = lane_ty(red.elem, lanes);
        let flags = self.region(Base::Val(addr.1));
        let mut pos = self.fb.cursor();
        let old = pos.ins().load(ty, flags, p, o);
        let new = lower::combine(&mut pos, red.op, red.elem, old, x);
        pos.ins().store(flags, new, p, o);
        Ok(())
    }

    /// `v` at `map` on `lanes` lanes (splatting loop-invariant values).
    fn operand(&mut self, k: &'p Kernel, v: Vid, map: MapId, own: bool, lanes: usize) -> R<Value> {
        let (x, lvl) = self.eval(k, v, map, own, lanes)?;
        if lanes == 1 || lvl >= self.inner_level() {
            return Ok(x);
        }
        if let Some(&(s, _)) = self.ks.splats.get(&(v, map)) {
            return Ok(s);
        }
        let elem = self.flat.val(v).elem;
        let anchor = self.anchor(lvl);
        let mut pos = cursor(&mut self.fb, anchor);
        let s = lower::splat(&mut pos, elem, lanes, x);
        self.ks.splats.insert((v, map), (s, lvl));
        Ok(s)
    }

    /// Evaluates `v` at `map`: its value and level. Values of the innermost
    /// level have `lanes` lanes; others are scalars.
    fn eval(
        &mut self,
        k: &'p Kernel,
        v: Vid,
        map: MapId,
        own: bool,
        lanes: usize,
    ) -> R<(Value, i32)> {
        if !own && let Some(&e) = self.ks.memo.get(&(v, map)) {
            return Ok(e);
        }
        let facts = *k
            .facts
            .get(&(v, map))
            .ok_or_else(|| internal("expression not analysed"))?;
        let inner = self.inner_level();
        let lvl = k.level(facts.deps);
        let lanes = if lvl >= inner && self.ks.nloops > 0 {
            lanes
        } else {
            1
        };
        let plan = k
            .plans
            .get(&(v, map, own))
            .ok_or_else(|| internal("no plan"))?;
        let elem = facts.elem;
        let anchor = self.anchor(lvl);
        let x = match plan {
            EPlan::Args(args) => {
                let mut xs = Vec::with_capacity(args.len());
                for &(a, m) in args {
                    xs.push(self.operand(k, a, m, false, lanes)?);
                }
                let arg_elem = self.flat.val(args[0].0).elem;
                let op = &self.flat.node_of(v).ok_or_else(|| internal("node"))?.op;
                let Emit { fb, math, .. } = self;
                if let Some(f) = lowering(op).math() {
                    let x = transcend::emit(fb, anchor, math, f, elem, lanes, &xs)?;
                    self.ks.memo.insert((v, map), (x, lvl));
                    return Ok((x, lvl));
                }
                let mut pos = cursor(fb, anchor);
                match op {
                    Op::Unary(u) => lower::unary(&mut pos, *u, elem, lanes, xs[0])?,
                    Op::Binary(b) => lower::binary(&mut pos, *b, elem, xs[0], xs[1])?,
                    Op::Compare(c) => lower::compare(&mut pos, *c, arg_elem, lanes, xs[0], xs[1]),
                    Op::Select => lower::select(&mut pos, elem, lanes, xs[0], xs[1], xs[2]),
                    Op::Convert { elem: to } => {
                        lower::convert(&mut pos, arg_elem, *to, lanes, xs[0])
                    }
                    Op::Const { .. }
                    | Op::Iota { .. }
                    | Op::Size { .. }
                    | Op::Broadcast { .. }
                    | Op::Reduce { .. }
                    | Op::Reshape { .. }
                    | Op::Transpose { .. }
                    | Op::Slice { .. }
                    | Op::Concat { .. }
                    | Op::Pad { .. }
                    | Op::Gather { .. }
                    | Op::ScatterAdd { .. }
                    | Op::Matmul
                    | Op::Call { .. }
                    | Op::Scan { .. }
                    | Op::While { .. }
                    | Op::ScanAdjoint { .. } => {
                        return Err(internal("not an elementwise op"));
                    }
                }
            }
            EPlan::View(x, m) => self.operand(k, *x, *m, false, lanes)?,
            EPlan::Load(b, addr) => {
                let ai = self.addr_id(Base::Val(*b), addr.clone());
                let (p, o) = self.access(k, ai, lvl)?;
                let ty = lane_ty(elem, lanes);
                let mut flags = self.region(Base::Val(*b));
                if self.plan.stable[*b as usize] {
                    flags = flags.with_readonly().with_can_move();
                }
                let mut pos = cursor(&mut self.fb, anchor);
                pos.ins().load(ty, flags, p, o)
            }
            EPlan::Register(s) => self.scalar(*s, Some(self.ks.anchors[0]))?,
            EPlan::Pad(cond, x, m, value) => {
                if self.holds(cond)? {
                    self.operand(k, *x, *m, false, lanes)?
                } else {
                    constant(&mut cursor(&mut self.fb, anchor), *value, lanes)
                }
            }
            EPlan::Concat(parts) => {
                let mut found = None;
                for (cond, x, m) in parts {
                    if self.holds(cond)? {
                        found = Some((*x, *m));
                        break;
                    }
                }
                let (x, m) = found.ok_or_else(|| internal("no concat operand in range"))?;
                self.operand(k, x, m, false, lanes)?
            }
            EPlan::Iota(ax) => self.iota(k, *ax, elem, lanes, anchor)?,
            EPlan::Splat(s) => constant(&mut cursor(&mut self.fb, anchor), *s, lanes),
            EPlan::Gather { dyn_id, x, xmap } => {
                if k.dyns[*dyn_id as usize].bound == 0 {
                    constant(
                        &mut cursor(&mut self.fb, anchor),
                        Scalar::from_f64(elem, 0.0),
                        lanes,
                    )
                } else {
                    self.operand(k, *x, *xmap, false, lanes)?
                }
            }
        };
        self.ks.memo.insert((v, map), (x, lvl));
        Ok((x, lvl))
    }

    /// Whether a condition holds in the current segment.
    fn holds(&self, cond: &super::kernel::Cond) -> R<bool> {
        let Some(terms) = cond else { return Ok(false) };
        for &(axis, a, b) in terms {
            let (lo, hi) = self.ks.seg[axis as usize];
            if lo >= a && hi <= b {
                continue;
            }
            if hi <= a || lo >= b {
                return Ok(false);
            }
            return Err(internal("a condition straddles a segment"));
        }
        Ok(true)
    }

    /// The value of an `iota` index on `lanes` lanes.
    fn iota(
        &mut self,
        k: &'p Kernel,
        ax: Ax,
        elem: Elem,
        lanes: usize,
        anchor: Option<Block>,
    ) -> R<Value> {
        let inner = self.inner_level();
        let (axis, start, step) = match ax {
            Ax::Const(c) => {
                return Ok(constant(
                    &mut cursor(&mut self.fb, anchor),
                    Scalar::from_f64(elem, c as f64),
                    lanes,
                ));
            }
            Ax::Lin { axis, start, step } => (axis as usize, start, step),
            Ax::Dyn { .. } => return Err(internal("iota of a dynamic index")),
        };
        let (ix, stat) = match k.sched.axis_loop[axis] {
            None => (None, 0i64),
            Some(l) if l as i32 == inner => (self.ks.point.j, self.ks.point.off),
            Some(l) => (self.ks.idx[l], 0),
        };
        let mut pos = cursor(&mut self.fb, anchor);
        let lane_value = |pos: &mut FuncCursor, lane: i64| -> Value {
            let c = start + step * (stat + lane);
            let i = match ix {
                Some(i) => {
                    let t = pos.ins().imul_imm_s(i, step);
                    pos.ins().iadd_imm_s(t, c)
                }
                None => pos.ins().iconst(types::I64, c),
            };
            lower::convert(pos, Elem::I64, elem, 1, i)
        };
        if lanes == 1 {
            return Ok(lane_value(&mut pos, 0));
        }
        let first = lane_value(&mut pos, 0);
        let mut v = pos.ins().splat(lane_ty(elem, lanes), first);
        for lane in 1..lanes {
            let x = lane_value(&mut pos, lane as i64);
            v = pos.ins().insertlane(v, x, lane as u8);
        }
        Ok(v)
    }
}

/// The CLIF type of a pointer-sized integer.
#[allow(dead_code)]
fn ptr_type() -> Type {
    types::I64
}

#[allow(dead_code)]
fn call_conv() -> CallConv {
    CallConv::SystemV
}
