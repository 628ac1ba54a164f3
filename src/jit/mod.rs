//! The Cranelift backend: monomorphic IR functions to native code.
//!
//! ```text
//! Module ──verify──► flat ──► fusion ──► steps ──► plan ──► codegen ──► CompiledFn
//!                   (inline   (classify  (kernels, (analysis, (Cranelift
//!                    calls)    values)    GEMMs,    workspace,  functions)
//!                                         scalars)  chunks)
//! ```
//!
//! - [`flat`]: the function with every `call` inlined, every shape concrete.
//! - [`fusion`]: each value is a register (rank 0), a buffer (materialised)
//!   or fused (recomputed inside its consumers' loops), by a documented cost
//!   model.
//! - [`kernel`]: a *kernel* is a loop nest over an iteration space whose
//!   roots store elements, reduce, multiply matrices inline or scatter; fused
//!   expressions are evaluated at *index maps*, so broadcasts, transposes,
//!   slices, pads and concats cost no memory traffic. The kernel's analysis
//!   picks the loop order (contiguous innermost), collapses loops, splits
//!   loops at pad/concat boundaries, and chooses vector width and unrolling.
//! - [`plan`]: the step list, buffer storage, a liveness-based workspace
//!   layout (64-byte aligned slots shared between values not live at the same
//!   time) and the split into Cranelift functions of bounded size.
//! - [`codegen`]: CLIF generation: rotated loops with static trip counts,
//!   unrolled vector bodies, scalar tails, values hoisted to the loop level
//!   they depend on, register accumulators for reductions; [`lower`] holds the
//!   lowering of every elementwise op and [`transcend`] the one switch for
//!   transcendental functions.
//! - [`compiled`]: [`CompiledFn`], its ABI, and safe, zero-allocation and raw
//!   calls.
//!
//! ## Numerical contract
//!
//! - Elementwise arithmetic, comparisons, `select`, conversions and data
//!   movement are **bit-identical** to the interpreter: separate `mul` and
//!   `add` are never contracted into a fused multiply-add, even where the
//!   host has FMA. (Transcendental kernels may use FMA internally; they are
//!   held to their ulp bound either way.)
//! - Transcendental functions are the inline vector kernels of [`math`],
//!   within the ulp bounds listed there of the platform's functions that the
//!   interpreter calls; `Options::library_math` calls those functions
//!   instead, and then matches the interpreter bit for bit.
//! - Sums and products over axes, matrix products and the additions of
//!   `scatter_add` updates landing on one element are **reassociated**:
//!   several accumulators, pairwise combination, GEMM blocking. They match
//!   the interpreter to a relative error of about `n·ε·Σ|xᵢ| / |Σxᵢ|` for `n`
//!   terms (the usual bound for any summation order); the tests use
//!   `|jit − interp| ≤ 4·n·ε·Σ|xᵢ|`. Maximum and minimum reductions are exact
//!   (they are associative under the NaN-propagating, `-0 < +0` order).
//!
//! ## Loops
//!
//! `scan` and `while` are real native loops, never unrolled: compile time
//! does not depend on the trip count. Each loop body and condition is
//! planned as a *program* of its own (its own flat graph, fusion, plan and
//! Cranelift functions, with the entry ABI), compiled once per function
//! however many loops call it, into the same JIT module. The caller's plan
//! has a loop step ([`plan`]'s "Loops") that runs the trip count in a
//! native loop calling the body's entry: pointer tables and double-buffered
//! carries live in a scratch region of the caller's workspace, scanned
//! inputs and stacked outputs are addressed in place (row `t` of the
//! operand, row `t` of the result), and the callee's workspace is part of
//! that region, so the workspace size is fixed at compile time (stacked
//! outputs are `length` rows; a `while` holds two states, whatever its
//! trip count).
//!
//! `scan_adjoint` (a loop's reverse sweep) is a loop step too; its driver
//! ([`adjoint`]) is Rust code that carries out the checkpoint schedule,
//! calling the compiled body and adjoint. Its snapshots are sized from the
//! policy and the maximum trip count, so its workspace is fixed as well.
//! Reverse mode runs a loop forward (for its value) and then reverses it;
//! when the reverse sweep keeps every state, the forward `scan` writes its
//! states straight into the sweep's records and the sweep only reverses
//! (same body calls on the same states: the same bits).

// Every match over an enum in the backend names its variants: adding an op
// (or a variant of the backend's own enums) makes the compiler list every
// place that decides something about it.
#![deny(clippy::wildcard_enum_match_arm)]

mod adjoint;
mod check;
mod classify;
mod codegen;
mod compiled;
mod error;
mod flat;
mod fusion;
mod kernel;
mod lower;
pub mod math;
mod options;
mod plan;
mod runtime;
mod transcend;

pub use compiled::{
    ArgMut, ArgRef, CompileStats, CompiledFn, KernelStats, RawEntry, RawFn, Workspace,
};
pub use error::{CallError, CompileError};
pub use options::{OptLevel, Options};

use adjit_ir::{Module, Type, instantiate, verify_module};
use cranelift_module::Module as _;
use fusion::Class;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

/// A kernel split into more straight-line regions than this has the pads and
/// concats that cause it materialised instead.
const MAX_SEGMENTS: usize = 64;

/// Compiles the monomorphic function `func` of `module` with default options.
pub fn compile(module: &Module, func: &str) -> Result<CompiledFn, CompileError> {
    compile_with(module, func, &Options::default())
}

/// Specialises `func` to the given argument types, then compiles it.
pub fn compile_for(module: &Module, func: &str, args: &[Type]) -> Result<CompiledFn, CompileError> {
    compile_for_with(module, func, args, &Options::default())
}

/// [`compile_for`] with options.
pub fn compile_for_with(
    module: &Module,
    func: &str,
    args: &[Type],
    opts: &Options,
) -> Result<CompiledFn, CompileError> {
    let (m, name) = instantiate(module, func, args)?;
    compile_with(&m, &name, opts)
}

/// Compiles the monomorphic function `func` of `module`.
pub fn compile_with(
    module: &Module,
    func: &str,
    opts: &Options,
) -> Result<CompiledFn, CompileError> {
    let start = Instant::now();
    let f = module
        .get(func)
        .ok_or_else(|| CompileError::UnknownFunction(func.to_string()))?;
    verify_module(module).map_err(CompileError::Verify)?;

    let mut programs = plan_programs(module, f, opts)?;
    let main = programs
        .last()
        .ok_or_else(|| CompileError::Internal("no program planned".into()))?;
    let mut stats = stats_of(&main.plan);
    stats.loop_bodies = programs.len() - 1;
    let workspace_size = main.plan.workspace_size;
    let plan_time = start.elapsed();

    let cg_start = Instant::now();
    let module = codegen::jit_module(opts)?;
    let generated = emit(module, false, &programs, opts, None)?;
    let mut jit = generated.module;
    jit.finalize_definitions()
        .map_err(|e| CompileError::Codegen(e.to_string()))?;
    let entry_ptr = jit.get_finalized_function(generated.entry);
    let codegen_time = cg_start.elapsed();
    // The code holds the addresses of the loop drivers' descriptors: the
    // compiled function keeps them (a `Box` does not move its contents).
    let mut descriptors = Vec::new();
    for p in &mut programs {
        for s in &mut p.plan.steps {
            if let plan::Step::Loop(l) = s
                && let Some(d) = l.adjoint.take()
            {
                descriptors.push(d);
            }
        }
    }

    // SAFETY: `entry_ptr` is the finalised entry function of `jit`, whose
    // signature is the ABI's (three pointers, no results, the host's
    // default calling convention, which is `extern "C"` on the supported
    // targets). It stays valid as long as the module, which the CompiledFn
    // owns.
    let entry: RawFn = unsafe { std::mem::transmute::<*const u8, RawFn>(entry_ptr) };
    let stats = CompileStats {
        functions: generated.functions,
        clif_insts: generated.clif_insts,
        plan_time,
        codegen_time,
        ..stats
    };
    Ok(CompiledFn::new(
        entry,
        f.param_types(),
        f.output_types(),
        workspace_size,
        descriptors,
        jit,
        stats,
        generated.clif,
        generated.disasm,
    ))
}

/// A compiled function as a relocatable object file, for linking into a
/// program that calls it without compiling at run time.
///
/// The object defines one exported function, [`ObjectCode::entry`], with the
/// ABI of [`RawFn`]: `extern "C" fn(inputs, outputs, workspace)`, where
/// `inputs` and `outputs` point to arrays of pointers to each argument's and
/// output's elements (row-major, as [`CompiledFn::call_into`] passes them)
/// and `workspace` to [`ObjectCode::workspace_size`] bytes aligned to
/// [`CompiledFn::WORKSPACE_ALIGN`] (followed by nothing else: the pointer
/// arrays are the caller's). It imports the runtime routines named in
/// [`ObjectCode::imports`] (GEMM, copies, library math), which the linking
/// program provides.
#[derive(Clone, Debug)]
pub struct ObjectCode {
    /// The object file (the host's format: ELF, Mach-O or COFF).
    pub bytes: Vec<u8>,
    /// The symbol of the entry function.
    pub entry: String,
    /// Bytes of workspace the entry needs.
    pub workspace_size: usize,
    /// Parameter types, in order.
    pub params: Vec<Type>,
    /// Output types, in order.
    pub outputs: Vec<Type>,
    /// Symbols the object imports (runtime routines), sorted.
    pub imports: Vec<String>,
}

/// Compiles the monomorphic function `func` of `module` into an object file
/// whose entry function is exported as `entry`.
///
/// Everything [`compile_with`] compiles can be emitted, except the reverse
/// sweep of a loop (`scan_adjoint`), whose driver reads a descriptor that
/// lives in the compiling process ([`CompileError::Unsupported`]).
pub fn compile_object(
    module: &Module,
    func: &str,
    entry: &str,
    opts: &Options,
) -> Result<ObjectCode, CompileError> {
    let f = module
        .get(func)
        .ok_or_else(|| CompileError::UnknownFunction(func.to_string()))?;
    verify_module(module).map_err(CompileError::Verify)?;
    let programs = plan_programs(module, f, opts)?;
    let workspace_size = programs
        .last()
        .ok_or_else(|| CompileError::Internal("no program planned".into()))?
        .plan
        .workspace_size;
    let object = codegen::object_module(opts, entry)?;
    let generated = emit(object, true, &programs, opts, Some(entry))?;
    let mut imports: Vec<String> = generated
        .module
        .declarations()
        .get_functions()
        .filter(|(_, d)| d.linkage == cranelift_module::Linkage::Import)
        .map(|(id, d)| d.linkage_name(id).into_owned())
        .collect();
    imports.sort();
    imports.dedup();
    let bytes = generated
        .module
        .finish()
        .emit()
        .map_err(|e| CompileError::Codegen(e.to_string()))?;
    Ok(ObjectCode {
        bytes,
        entry: entry.to_string(),
        workspace_size,
        params: f.param_types(),
        outputs: f.output_types(),
        imports,
    })
}

/// Emits every program into `module`, callees first; the last one is the
/// entry, exported as `export` if given.
fn emit<M: cranelift_module::Module>(
    module: M,
    relocatable: bool,
    programs: &[Program],
    opts: &Options,
    export: Option<&str>,
) -> Result<codegen::Generated<M>, CompileError> {
    let mut generator = codegen::Gen::new(module, relocatable);
    for (i, p) in programs.iter().enumerate() {
        let name = if i + 1 == programs.len() {
            export
        } else {
            None
        };
        generator.program(&p.flat, &p.fusion, &p.plan, opts, name)?;
    }
    generator.finish(opts)
}

/// One function planned for code generation: the compiled function, or a
/// loop body or condition it reaches.
struct Program {
    flat: flat::Flat,
    fusion: fusion::Fusion,
    plan: plan::Plan,
}

/// Plans `f` and, callees first, every loop body and condition it reaches
/// (each once, whatever the number of loops calling it).
fn plan_programs(
    module: &Module,
    f: &adjit_ir::Function,
    opts: &Options,
) -> Result<Vec<Program>, CompileError> {
    let mut programs: Vec<Program> = Vec::new();
    let mut callees: HashMap<String, plan::Callee> = HashMap::new();
    plan_program(module, f, opts, &mut programs, &mut callees, 0)?;
    Ok(programs)
}

/// Loops nest at most this deep (the verifier forbids cycles; this bounds
/// the recursion on pathological but acyclic chains).
const MAX_LOOP_DEPTH: usize = 64;

/// Plans `f` after the loop callees it reaches that are not planned yet;
/// appends them and it to `programs` (so callees come first).
fn plan_program(
    module: &Module,
    f: &adjit_ir::Function,
    opts: &Options,
    programs: &mut Vec<Program>,
    callees: &mut HashMap<String, plan::Callee>,
    depth: usize,
) -> Result<(), CompileError> {
    let flat = flat::flatten(module, f, depth > 0)?;
    for node in &flat.nodes {
        let Some((body, cond)) = plan::loop_callees(&node.op) else {
            continue;
        };
        for name in std::iter::once(body).chain(cond) {
            if callees.contains_key(name) {
                continue;
            }
            if depth >= MAX_LOOP_DEPTH {
                return Err(CompileError::Unsupported {
                    func: flat.name.clone(),
                    op: node.op.name(),
                    reason: format!("loops nest deeper than {MAX_LOOP_DEPTH}"),
                });
            }
            let g = module
                .get(name)
                .ok_or_else(|| CompileError::UnknownFunction(name.to_string()))?;
            plan_program(module, g, opts, programs, callees, depth + 1)?;
            let p = programs
                .last()
                .ok_or_else(|| CompileError::Internal("a loop callee was not planned".into()))?;
            callees.insert(
                name.to_string(),
                plan::Callee {
                    program: programs.len() - 1,
                    workspace: p.plan.workspace_size,
                    outputs: p
                        .flat
                        .outputs
                        .iter()
                        .map(|&o| p.flat.val(o).len * p.flat.val(o).elem.byte_size())
                        .collect(),
                },
            );
        }
    }
    let mut forced = HashSet::new();
    let (fusion, plan) = loop {
        let fusion = fusion::classify(&flat, opts, &forced);
        let steps = plan::build_steps(&flat, &fusion, opts)?;
        let plan = plan::plan(&flat, &fusion, steps, opts, callees)?;
        let before = forced.len();
        for s in &plan.steps {
            if let plan::Step::Kernel(k) = s
                && k.segment_count() > MAX_SEGMENTS
            {
                for &(v, _) in k.facts.keys() {
                    let is_split = flat.node_of(v).is_some_and(|n| {
                        classify::lowering(&n.op) == classify::Lowering::Piecewise
                    });
                    if is_split && fusion.class[v as usize] == Class::Fused {
                        forced.insert(v);
                    }
                }
            }
        }
        if forced.len() == before {
            break (fusion, plan);
        }
    };
    if cfg!(debug_assertions) || opts.verify {
        check::check_plan(&flat, &fusion, &plan)?;
    }
    programs.push(Program { flat, fusion, plan });
    Ok(())
}

fn stats_of(plan: &plan::Plan) -> CompileStats {
    let mut stats = CompileStats {
        workspace_bytes: plan.workspace_size,
        workspace_buffers: plan.workspace_buffers,
        ..CompileStats::default()
    };
    for s in &plan.steps {
        match s {
            plan::Step::Scalar(_) => stats.scalar_ops += 1,
            plan::Step::Gemm(_) => stats.gemm_calls += 1,
            plan::Step::OutputScalar { .. } => {}
            plan::Step::Loop(l) => {
                stats.loops += 1;
                stats.shared_sweeps += usize::from(l.record_into.is_some());
            }
            plan::Step::Kernel(k) => stats.kernels.push(KernelStats {
                space: k.space.clone(),
                roots: k
                    .roots
                    .iter()
                    .map(|r| match r {
                        kernel::Root::Store { .. } => "store",
                        kernel::Root::Point { .. } => "point",
                        kernel::Root::Reduce { .. } => "reduce",
                        kernel::Root::Matmul { .. } => "matmul",
                        kernel::Root::Scatter { .. } => "scatter",
                    })
                    .collect(),
                loops: k.sched.loops.len(),
                segments: k.segment_count(),
                width: k.sched.width,
                unroll: k.sched.unroll,
                expr_nodes: k.facts.len(),
            }),
        }
    }
    stats
}
