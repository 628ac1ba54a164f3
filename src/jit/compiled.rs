//! [`CompiledFn`]: generated code with its constants, and the ways to call it.
//!
//! ## The raw ABI
//!
//! ```text
//! extern "C" fn(inputs: *const *const u8, outputs: *const *mut u8, workspace: *mut u8)
//! ```
//! - `inputs` points to one pointer per parameter, in order, each to the
//!   parameter's elements in row-major order (a scalar parameter is one
//!   element). Element layout: `f64`, `f32`, `i64` native; `bool` one byte,
//!   0 or 1.
//! - `outputs` points to one pointer per output, each to a buffer of the
//!   output's element count, written row-major.
//! - `workspace` points to [`CompiledFn::workspace_size`] bytes aligned to
//!   [`CompiledFn::WORKSPACE_ALIGN`] (64), used as scratch; its contents
//!   need not be initialised and are garbage after the call.
//! - Output buffers must not overlap each other, the inputs or the workspace.
//!   Inputs may overlap each other. Every buffer must be at least as long as
//!   its type says; there is no other check.
//!
//! ## Ownership and threads
//!
//! A `CompiledFn` owns its code memory (freed when it is dropped) and its
//! constant pool. The generated code only reads its inputs and constants and
//! writes its outputs and workspace, so one `CompiledFn` may be called from
//! many threads at once, each with its own outputs and [`Workspace`].

use super::error::CallError;
use adjit_ir::{Data, Elem, Tensor, Type};
use cranelift_jit::JITModule;
use std::sync::Mutex;

/// The raw entry point. See the [module docs](self) for the ABI.
pub type RawFn = unsafe extern "C" fn(*const *const u8, *const *mut u8, *mut u8);

/// A 64-byte aligned block: the unit of workspaces and constant pools.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
pub(crate) struct Block64(pub [u8; 64]);

/// Aligned zeroed bytes.
pub(crate) fn aligned_bytes(n: usize) -> Vec<Block64> {
    vec![Block64([0; 64]); n.div_ceil(64)]
}

/// The JIT module that owns the code memory.
///
/// `JITModule` is `Send` but not `Sync`. It is wrapped in a `Mutex` — never
/// locked: after compilation nothing touches the module until `Drop`, which
/// has exclusive access — so that `CompiledFn` is `Sync` without an `unsafe
/// impl`: shared references to it only ever reach the finalised code, which
/// is immutable.
struct CodeMemory(Mutex<Option<JITModule>>);

impl Drop for CodeMemory {
    fn drop(&mut self) {
        let module = match self.0.get_mut() {
            Ok(m) => m.take(),
            Err(poisoned) => poisoned.into_inner().take(),
        };
        if let Some(m) = module {
            // SAFETY: the code is reachable only through `&CompiledFn` (its
            // entry pointer is private; `RawEntry` borrows the `CompiledFn`),
            // and we are in `Drop` of the `CompiledFn`'s field, so no call is
            // running and none can start.
            unsafe { m.free_memory() };
        }
    }
}

/// What the compiler made of a function: for tests, `adjit asm` and
/// curiosity.
#[derive(Clone, Debug, Default)]
pub struct CompileStats {
    /// One entry per loop nest generated.
    pub kernels: Vec<KernelStats>,
    /// Calls of the GEMM library (one per `matmul` not generated inline).
    pub gemm_calls: usize,
    /// Rank-0 ops computed in registers outside loop nests.
    pub scalar_ops: usize,
    /// `scan` and `while` loops of the compiled function (not counting
    /// those of loop bodies).
    pub loops: usize,
    /// Loop bodies and conditions compiled as functions of their own (each
    /// once, however many loops call it; nested ones included).
    pub loop_bodies: usize,
    /// Store-all reverse sweeps (`scan_adjoint`) of the compiled function
    /// that read the states a forward `scan` of the same recurrence wrote,
    /// instead of running the recurrence again.
    pub shared_sweeps: usize,
    /// Materialised intermediate tensors (each needs a workspace slot;
    /// slots of values not live at the same time share memory).
    pub workspace_buffers: usize,
    /// Bytes of workspace.
    pub workspace_bytes: usize,
    /// Cranelift functions generated (the entry and the chunks it calls).
    pub functions: usize,
    /// CLIF instructions generated (before optimisation).
    pub clif_insts: usize,
    /// Time spent before code generation (flattening, fusion, planning).
    pub plan_time: std::time::Duration,
    /// Time spent in Cranelift (building, compiling, finalising).
    pub codegen_time: std::time::Duration,
}

/// One generated loop nest.
#[derive(Clone, Debug)]
pub struct KernelStats {
    /// The iteration space.
    pub space: Vec<usize>,
    /// What the kernel computes: `"store"`, `"reduce"`, `"matmul"`,
    /// `"scatter"`, `"point"` per root.
    pub roots: Vec<&'static str>,
    /// Loops of the nest (after dropping unit axes and collapsing).
    pub loops: usize,
    /// Straight-line regions the loops are split into by `pad`/`concat`
    /// boundaries (1 when there are none).
    pub segments: usize,
    /// Lanes per vector of the innermost loop (1: scalar).
    pub width: usize,
    /// Vectors per iteration of the innermost loop.
    pub unroll: usize,
    /// `(value, index map)` pairs evaluated per point (the fused expression).
    pub expr_nodes: usize,
}

/// A compiled function. See the [module docs](self) for the ABI.
pub struct CompiledFn {
    entry: RawFn,
    params: Vec<Type>,
    outputs: Vec<Type>,
    param_lens: Vec<usize>,
    output_lens: Vec<usize>,
    workspace_size: usize,
    stats: CompileStats,
    clif: Vec<String>,
    disasm: Vec<String>,
    // Dropped after the code (declaration order), though nothing runs then.
    code: CodeMemory,
    /// The descriptors the code's `scan_adjoint` drivers read. Boxed: the
    /// code holds their addresses, which must not change.
    #[allow(clippy::vec_box)]
    _descriptors: Vec<Box<super::adjoint::AdjointDesc>>,
}

/// An input slice for [`CompiledFn::call_into`] (a scalar is one element).
#[derive(Clone, Copy, Debug)]
pub enum ArgRef<'a> {
    /// `f64` elements.
    F64(&'a [f64]),
    /// `f32` elements.
    F32(&'a [f32]),
    /// `i64` elements.
    I64(&'a [i64]),
    /// `bool` elements.
    Bool(&'a [bool]),
}

/// An output slice for [`CompiledFn::call_into`] (a scalar is one element).
#[derive(Debug)]
pub enum ArgMut<'a> {
    /// `f64` elements.
    F64(&'a mut [f64]),
    /// `f32` elements.
    F32(&'a mut [f32]),
    /// `i64` elements.
    I64(&'a mut [i64]),
    /// `bool` elements.
    Bool(&'a mut [bool]),
}

impl ArgRef<'_> {
    fn parts(&self) -> (Elem, usize, *const u8) {
        match self {
            ArgRef::F64(s) => (Elem::F64, s.len(), s.as_ptr().cast()),
            ArgRef::F32(s) => (Elem::F32, s.len(), s.as_ptr().cast()),
            ArgRef::I64(s) => (Elem::I64, s.len(), s.as_ptr().cast()),
            ArgRef::Bool(s) => (Elem::Bool, s.len(), s.as_ptr().cast()),
        }
    }
}

impl ArgMut<'_> {
    fn parts(&mut self) -> (Elem, usize, *mut u8) {
        match self {
            ArgMut::F64(s) => (Elem::F64, s.len(), s.as_mut_ptr().cast()),
            ArgMut::F32(s) => (Elem::F32, s.len(), s.as_mut_ptr().cast()),
            ArgMut::I64(s) => (Elem::I64, s.len(), s.as_mut_ptr().cast()),
            ArgMut::Bool(s) => (Elem::Bool, s.len(), s.as_mut_ptr().cast()),
        }
    }
}

/// Scratch memory and pointer tables for [`CompiledFn::call_into`]: with it,
/// a call allocates nothing. Make one per thread with
/// [`CompiledFn::workspace`].
pub struct Workspace {
    mem: Vec<Block64>,
    bytes: usize,
    // Addresses, rewritten before every call (kept as integers: the
    // workspace never dereferences them).
    ins: Vec<usize>,
    outs: Vec<usize>,
}

impl Workspace {
    /// Bytes of scratch memory.
    pub fn size(&self) -> usize {
        self.bytes
    }

    /// The scratch memory (aligned to 64 bytes), for use with the raw entry.
    pub fn as_mut_ptr(&mut self) -> *mut u8 {
        self.mem.as_mut_ptr().cast()
    }
}

/// The raw entry point, borrowed from its [`CompiledFn`] (so it cannot
/// outlive the code).
#[derive(Clone, Copy)]
pub struct RawEntry<'a> {
    f: RawFn,
    _owner: std::marker::PhantomData<&'a CompiledFn>,
}

impl RawEntry<'_> {
    /// Calls the function.
    ///
    /// # Safety
    /// The arguments must follow the ABI of the [module docs](self): valid
    /// pointer tables, buffers of at least the declared element counts and
    /// types, non-overlapping outputs, and a workspace of at least
    /// [`CompiledFn::workspace_size`] bytes aligned to 64.
    #[inline]
    pub unsafe fn call(
        &self,
        inputs: *const *const u8,
        outputs: *const *mut u8,
        workspace: *mut u8,
    ) {
        // SAFETY: the caller upholds the ABI; the code is alive for 'a.
        unsafe { (self.f)(inputs, outputs, workspace) }
    }

    /// The function pointer itself, for embedding. It is valid only while
    /// the [`CompiledFn`] it came from is alive.
    pub fn as_ptr(&self) -> RawFn {
        self.f
    }
}

impl CompiledFn {
    /// Alignment of the workspace, in bytes.
    pub const WORKSPACE_ALIGN: usize = 64;

    #[allow(clippy::too_many_arguments, clippy::vec_box)]
    pub(crate) fn new(
        entry: RawFn,
        params: Vec<Type>,
        outputs: Vec<Type>,
        workspace_size: usize,
        descriptors: Vec<Box<super::adjoint::AdjointDesc>>,
        module: JITModule,
        stats: CompileStats,
        clif: Vec<String>,
        disasm: Vec<String>,
    ) -> CompiledFn {
        let len = |t: &Type| {
            t.shape
                .as_known()
                .map(|s| s.iter().product::<usize>())
                .unwrap_or(0)
        };
        CompiledFn {
            entry,
            param_lens: params.iter().map(len).collect(),
            output_lens: outputs.iter().map(len).collect(),
            params,
            outputs,
            workspace_size,
            stats,
            clif,
            disasm,
            code: CodeMemory(Mutex::new(Some(module))),
            _descriptors: descriptors,
        }
    }

    /// Parameter types.
    pub fn param_types(&self) -> &[Type] {
        &self.params
    }

    /// Output types.
    pub fn output_types(&self) -> &[Type] {
        &self.outputs
    }

    /// Bytes of workspace a call needs (fixed at compile time).
    pub fn workspace_size(&self) -> usize {
        self.workspace_size
    }

    /// What the compiler generated.
    pub fn stats(&self) -> &CompileStats {
        &self.stats
    }

    /// The CLIF text of every generated function, if
    /// [`Options::keep_clif`](super::Options::keep_clif) was set.
    pub fn clif(&self) -> &[String] {
        &self.clif
    }

    /// A machine-code listing of every generated function, if
    /// [`Options::keep_disasm`](super::Options::keep_disasm) was set
    /// (disassembly with the `disas` feature, the backend's instruction
    /// listing otherwise).
    pub fn disassembly(&self) -> &[String] {
        &self.disasm
    }

    /// A workspace for this function (allocates; reuse it across calls).
    pub fn workspace(&self) -> Workspace {
        Workspace {
            mem: super::compiled::aligned_bytes(self.workspace_size),
            bytes: self.workspace_size,
            ins: vec![0; self.params.len()],
            outs: vec![0; self.outputs.len()],
        }
    }

    /// The raw entry point.
    pub fn raw(&self) -> RawEntry<'_> {
        let _ = &self.code;
        RawEntry {
            f: self.entry,
            _owner: std::marker::PhantomData,
        }
    }

    /// Calls with tensors, checking every argument's element type and shape;
    /// allocates the outputs and a workspace.
    pub fn call(&self, inputs: &[&Tensor]) -> Result<Vec<Tensor>, CallError> {
        if inputs.len() != self.params.len() {
            return Err(CallError::InputCount {
                expected: self.params.len(),
                found: inputs.len(),
            });
        }
        let mut ins = Vec::with_capacity(inputs.len());
        for (i, (t, p)) in inputs.iter().zip(&self.params).enumerate() {
            let ty = t.ty();
            if &ty != p {
                return Err(CallError::InputType {
                    index: i,
                    expected: p.clone(),
                    found: ty,
                });
            }
            let ptr: *const u8 = match t.data() {
                Data::F64(v) => v.as_ptr().cast(),
                Data::F32(v) => v.as_ptr().cast(),
                Data::I64(v) => v.as_ptr().cast(),
                Data::Bool(v) => v.as_ptr().cast(),
            };
            ins.push(ptr);
        }
        let mut datas: Vec<Data> = self
            .outputs
            .iter()
            .zip(&self.output_lens)
            .map(|(t, &n)| match t.elem {
                Elem::F64 => Data::F64(vec![0.0; n]),
                Elem::F32 => Data::F32(vec![0.0; n]),
                Elem::I64 => Data::I64(vec![0; n]),
                Elem::Bool => Data::Bool(vec![false; n]),
            })
            .collect();
        let outs: Vec<*mut u8> = datas
            .iter_mut()
            .map(|d| match d {
                Data::F64(v) => v.as_mut_ptr().cast(),
                Data::F32(v) => v.as_mut_ptr().cast(),
                Data::I64(v) => v.as_mut_ptr().cast(),
                Data::Bool(v) => v.as_mut_ptr().cast(),
            })
            .collect();
        let mut ws = aligned_bytes(self.workspace_size);
        // SAFETY: every input was checked to have the parameter's element
        // type and shape, so it holds the element count the code reads; the
        // outputs were allocated with their types' element counts and are
        // distinct allocations; the workspace has the planned size and
        // 64-byte alignment.
        unsafe { (self.entry)(ins.as_ptr(), outs.as_ptr(), ws.as_mut_ptr().cast()) };
        let mut result = Vec::with_capacity(datas.len());
        for (d, t) in datas.into_iter().zip(&self.outputs) {
            let shape = t.shape.as_known().unwrap_or_default();
            let tensor = Tensor::new(shape, d).map_err(|_| CallError::OutputCount {
                expected: self.outputs.len(),
                found: 0,
            })?;
            result.push(tensor);
        }
        Ok(result)
    }

    /// Calls with slices and a workspace; checks counts, element types and
    /// lengths, and allocates nothing.
    pub fn call_into(
        &self,
        inputs: &[ArgRef<'_>],
        outputs: &mut [ArgMut<'_>],
        ws: &mut Workspace,
    ) -> Result<(), CallError> {
        if inputs.len() != self.params.len() {
            return Err(CallError::InputCount {
                expected: self.params.len(),
                found: inputs.len(),
            });
        }
        if outputs.len() != self.outputs.len() {
            return Err(CallError::OutputCount {
                expected: self.outputs.len(),
                found: outputs.len(),
            });
        }
        if ws.bytes < self.workspace_size
            || ws.ins.len() != self.params.len()
            || ws.outs.len() != self.outputs.len()
        {
            return Err(CallError::Workspace {
                expected: self.workspace_size,
                inputs: self.params.len(),
                outputs: self.outputs.len(),
            });
        }
        for (i, a) in inputs.iter().enumerate() {
            let (elem, len, ptr) = a.parts();
            check(
                "input",
                i,
                self.params[i].elem,
                self.param_lens[i],
                elem,
                len,
            )?;
            ws.ins[i] = ptr as usize;
        }
        for (i, a) in outputs.iter_mut().enumerate() {
            let (elem, len, ptr) = a.parts();
            check(
                "output",
                i,
                self.outputs[i].elem,
                self.output_lens[i],
                elem,
                len,
            )?;
            ws.outs[i] = ptr as usize;
        }
        // SAFETY: every slice was checked to have the declared element type
        // and count; output slices are `&mut`, so they are distinct from each
        // other and from the inputs; the workspace is at least the planned
        // size and 64-byte aligned; the pointer tables have one entry per
        // parameter and output (addresses stored as integers, read back as
        // pointers by the code).
        unsafe {
            (self.entry)(
                ws.ins.as_ptr().cast(),
                ws.outs.as_ptr().cast(),
                ws.mem.as_mut_ptr().cast(),
            )
        };
        Ok(())
    }
}

fn check(
    kind: &'static str,
    index: usize,
    want: Elem,
    want_len: usize,
    elem: Elem,
    len: usize,
) -> Result<(), CallError> {
    if elem != want {
        return Err(CallError::ElemType {
            kind,
            index,
            expected: want.name(),
            found: elem.name(),
        });
    }
    if len != want_len {
        return Err(CallError::Length {
            kind,
            index,
            expected: want_len,
            found: len,
        });
    }
    Ok(())
}
