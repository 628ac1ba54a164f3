//! Compilation options.

/// How hard Cranelift optimises.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptLevel {
    /// No optimisation (fastest compile).
    None,
    /// Optimise for speed (the default).
    Speed,
    /// Optimise for speed and code size.
    SpeedAndSize,
}

/// Options for [`compile_with`](super::compile_with).
///
/// Every field is explicit: nothing is read from the environment.
#[derive(Clone, Debug)]
pub struct Options {
    /// Cranelift's optimisation level.
    pub opt_level: OptLevel,
    /// Run Cranelift's IR verifier on every generated function (about 40% of
    /// compile time). On by default in debug builds, off in release builds.
    pub verify: bool,
    /// Keep the CLIF text of every generated function (for `adjit asm`).
    pub keep_clif: bool,
    /// Keep a listing of the machine code of every generated function (the
    /// backend's instruction listing; real disassembly with the `disas`
    /// feature).
    pub keep_disasm: bool,
    /// Fuse elementwise chains into their consumers. Off materialises every
    /// tensor value (a testing aid: both settings must compute the same).
    pub fusion: bool,
    /// Vectorise loops (`f64x2`, `f32x4`). Off generates scalar loops only.
    pub vectorize: bool,
    /// Reductions and matrix products fold their terms in the interpreter's
    /// order (one accumulator, row-major, no GEMM library), so results are
    /// bit-identical to the interpreter's, at a cost in speed. Off by
    /// default: reductions are reassociated (see the module docs).
    pub strict_order: bool,
    /// Transcendental functions call the scalar library functions the
    /// interpreter uses, element by element, instead of the inline vector
    /// kernels: bit-identical to the interpreter, much slower. With
    /// `strict_order`, every result is bit-identical to the interpreter's.
    pub library_math: bool,
    /// Split generated code into Cranelift functions of about this many
    /// instructions (register allocation is superlinear in function size).
    pub max_function_insts: usize,
    /// Matrix products with at least this many multiply-adds (and both `m` and
    /// `n` above 1) call the GEMM library; smaller ones are generated inline.
    pub gemm_min_flops: usize,
    /// The budget shared with the interpreter: a `scan` may run at most
    /// `max_elements` steps, and a loop's reverse sweep without an explicit
    /// checkpoint policy keeps every state when they fit
    /// `max_workspace_bytes`, binomial checkpointing otherwise
    /// ([`adjit_ir::Limits::loop_policy`]).
    pub limits: adjit_ir::Limits,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            opt_level: OptLevel::Speed,
            verify: cfg!(debug_assertions),
            keep_clif: false,
            keep_disasm: false,
            fusion: true,
            vectorize: true,
            strict_order: false,
            library_math: false,
            max_function_insts: 3000,
            gemm_min_flops: 16 * 16 * 16,
            limits: adjit_ir::Limits::default(),
        }
    }
}
