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
//! - Transcendental functions are within the ulp bound of the kernels that
//!   implement them (today: the platform's scalar functions, as the
//!   interpreter's).
//! - Sums and products over axes, and matrix products, are **reassociated**:
//!   several accumulators, pairwise combination, GEMM blocking. They match
//!   the interpreter to a relative error of about `n·ε·Σ|xᵢ| / |Σxᵢ|` for `n`
//!   terms (the usual bound for any summation order); the tests use
//!   `|jit − interp| ≤ 4·n·ε·Σ|xᵢ|`. Maximum and minimum reductions are exact
//!   (they are associative under the NaN-propagating, `-0 < +0` order).
//!
//! ## Loops
//!
//! `scan` and `while` are not lowered yet ([`CompileError::Unsupported`]).
//! The design admits them as a step kind whose body is a chunk function (or
//! inlined steps) called inside a counted native loop, with carries in
//! workspace slots.

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

use adjit_ir::{Module, Op, Type, instantiate, verify_module};
use fusion::Class;
use std::collections::HashSet;
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
    let flat = flat::flatten(module, f)?;

    let mut forced = HashSet::new();
    let (fusion, plan) = loop {
        let fusion = fusion::classify(&flat, opts, &forced);
        let steps = plan::build_steps(&flat, &fusion, opts)?;
        let plan = plan::plan(&flat, &fusion, steps, opts)?;
        let before = forced.len();
        for s in &plan.steps {
            if let plan::Step::Kernel(k) = s
                && k.segment_count() > MAX_SEGMENTS
            {
                for &(v, _) in k.facts.keys() {
                    let is_split = matches!(
                        flat.node_of(v).map(|n| &n.op),
                        Some(Op::Pad { .. } | Op::Concat { .. })
                    );
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
    let stats = stats_of(&plan);
    let plan_time = start.elapsed();

    let mut consts = compiled::aligned_bytes(plan.consts.len());
    for (block, bytes) in consts.iter_mut().zip(plan.consts.chunks(64)) {
        block.0[..bytes.len()].copy_from_slice(bytes);
    }
    let consts_addr = consts.as_ptr() as usize;
    let cg_start = Instant::now();
    let generated = codegen::generate(&flat, &fusion, &plan, opts, consts_addr)?;
    let codegen_time = cg_start.elapsed();

    // SAFETY: `entry` is the finalised entry function of `generated.module`,
    // whose signature is the ABI's (three pointers, no results, the host's
    // default calling convention, which is `extern "C"` on the supported
    // targets). It stays valid as long as the module, which the CompiledFn
    // owns.
    let entry: RawFn = unsafe { std::mem::transmute::<*const u8, RawFn>(generated.entry) };
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
        plan.workspace_size,
        consts,
        generated.module,
        stats,
        generated.clif,
        generated.disasm,
    ))
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
