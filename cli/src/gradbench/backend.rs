//! How a built module is run: a small interface with one implementation per
//! way of executing adjit's IR.
//!
//! [`Backend::compile`] turns a module and its entry function into an
//! [`Executable`] once per module/size; [`Executable::runner`] makes the
//! per-evaluation state (checked inputs, workspaces, output buffers) once per
//! `evaluate` message; [`Runner::call`] is the only thing timed as
//! `evaluate`, and [`Runner::outputs`] hands over the last call's results
//! afterwards.
//!
//! - [`Interpreted`] runs the reference interpreter, [`adjit::ir::interp`].
//! - [`Compiled`] specialises the entry and every function it calls to
//!   concrete sizes and compiles it with the Cranelift JIT, [`adjit::jit`],
//!   into a native function called with preallocated outputs and a reusable
//!   workspace: a call allocates nothing and checks nothing but the slice
//!   lengths. A function the JIT refuses runs on the interpreter instead,
//!   and [`Executable::backend`] says so.
//!
//! Invariant: a [`Runner`] only ever sees the inputs it was made for, whose
//! types were checked against the function's parameters when it was made.

use super::GradbenchError;
use adjit::ir::{Data, Elem, Interpreter, Module, Tensor, verify_module};
use adjit::jit::{ArgMut, ArgRef, CompiledFn, Workspace};

/// What an eval knows about its graph that a backend may use.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Hints {
    /// The graph is long straight-line code over tiny vectors (a time loop
    /// written out step by step): transcendental functions should call the
    /// scalar library functions rather than expand inline vector kernels at
    /// every use, which would make the code too large for the instruction
    /// cache.
    pub library_math: bool,
}

/// A way of executing modules.
pub trait Backend {
    /// The name reported in the `start` response's `config`.
    fn name(&self) -> &'static str;

    /// Prepares `entry` of `module` to be run (verification, compilation).
    fn compile(
        &self,
        module: Module,
        entry: &str,
        hints: Hints,
    ) -> Result<Box<dyn Executable>, GradbenchError>;
}

/// A prepared function.
pub trait Executable {
    /// The state for a series of calls on `inputs`, one per parameter.
    fn runner<'a>(&'a self, inputs: &'a [Tensor]) -> Result<Box<dyn Runner + 'a>, GradbenchError>;

    /// What runs it (`jit` or `interpreter`).
    fn backend(&self) -> &'static str;
}

/// Calls a prepared function on the inputs its runner was made for.
pub trait Runner {
    /// Evaluates the function, keeping the results for [`Runner::outputs`].
    fn call(&mut self) -> Result<(), GradbenchError>;

    /// The results of the last call.
    fn outputs(&mut self) -> Result<Vec<Tensor>, GradbenchError>;
}

/// The reference interpreter.
#[derive(Debug, Clone, Copy, Default)]
pub struct Interpreted;

struct InterpretedFn {
    module: Module,
    entry: String,
}

struct InterpretedRunner<'m> {
    interp: Interpreter<'m>,
    entry: &'m str,
    inputs: &'m [Tensor],
    last: Vec<Tensor>,
}

fn interpreted(module: Module, entry: &str) -> Result<InterpretedFn, GradbenchError> {
    verify_module(&module).map_err(|e| GradbenchError::Graph(e.to_string()))?;
    if !module.contains(entry) {
        return Err(GradbenchError::Graph(format!("no function @{entry}")));
    }
    Ok(InterpretedFn {
        module,
        entry: entry.to_string(),
    })
}

impl Backend for Interpreted {
    fn name(&self) -> &'static str {
        "interpreter"
    }

    fn compile(
        &self,
        module: Module,
        entry: &str,
        _: Hints,
    ) -> Result<Box<dyn Executable>, GradbenchError> {
        Ok(Box::new(interpreted(module, entry)?))
    }
}

impl Executable for InterpretedFn {
    fn runner<'a>(&'a self, inputs: &'a [Tensor]) -> Result<Box<dyn Runner + 'a>, GradbenchError> {
        Ok(Box::new(InterpretedRunner {
            interp: Interpreter::new(&self.module),
            entry: &self.entry,
            inputs,
            last: Vec::new(),
        }))
    }

    fn backend(&self) -> &'static str {
        "interpreter"
    }
}

impl Runner for InterpretedRunner<'_> {
    fn call(&mut self) -> Result<(), GradbenchError> {
        self.last = self
            .interp
            .eval(self.entry, self.inputs)
            .map_err(|e| GradbenchError::Eval(e.to_string()))?;
        Ok(())
    }

    fn outputs(&mut self) -> Result<Vec<Tensor>, GradbenchError> {
        Ok(std::mem::take(&mut self.last))
    }
}

/// The Cranelift JIT, falling back to the interpreter for functions it
/// cannot compile.
#[derive(Debug, Clone, Copy, Default)]
pub struct Compiled;

struct CompiledExe {
    f: CompiledFn,
}

struct CompiledRunner<'a> {
    f: &'a CompiledFn,
    ws: Workspace,
    ins: Vec<ArgRef<'a>>,
    outs: Vec<Data>,
    shapes: Vec<Vec<usize>>,
}

impl Backend for Compiled {
    fn name(&self) -> &'static str {
        "jit"
    }

    fn compile(
        &self,
        module: Module,
        entry: &str,
        hints: Hints,
    ) -> Result<Box<dyn Executable>, GradbenchError> {
        let opts = adjit::jit::Options {
            library_math: hints.library_math,
            ..adjit::jit::Options::default()
        };
        // Specialising first makes every function the entry reaches
        // monomorphic (`vmap` leaves its callees with a symbolic batch size).
        let params = module
            .get(entry)
            .ok_or_else(|| GradbenchError::Graph(format!("no function @{entry}")))?
            .param_types();
        match adjit::jit::compile_for_with(&module, entry, &params, &opts) {
            Ok(f) => Ok(Box::new(CompiledExe { f })),
            Err(e) => {
                eprintln!("adjit-gradbench: @{entry}: the JIT refused ({e}); interpreting it");
                Ok(Box::new(interpreted(module, entry)?))
            }
        }
    }
}

impl Executable for CompiledExe {
    fn runner<'a>(&'a self, inputs: &'a [Tensor]) -> Result<Box<dyn Runner + 'a>, GradbenchError> {
        let params = self.f.param_types();
        if inputs.len() != params.len() {
            return Err(GradbenchError::Eval(format!(
                "{} inputs for {} parameters",
                inputs.len(),
                params.len()
            )));
        }
        // Shapes are checked here, once: the call checks only element types
        // and counts.
        for (i, (t, p)) in inputs.iter().zip(params).enumerate() {
            if &t.ty() != p {
                return Err(GradbenchError::Eval(format!(
                    "input {i} is {}, the function takes {p}",
                    t.ty()
                )));
            }
        }
        let mut outs = Vec::new();
        let mut shapes = Vec::new();
        for t in self.f.output_types() {
            let shape = t
                .shape
                .as_known()
                .ok_or_else(|| GradbenchError::Graph(format!("output type {t} is symbolic")))?;
            let n = shape
                .iter()
                .try_fold(1usize, |a, &d| a.checked_mul(d))
                .ok_or_else(|| GradbenchError::Graph(format!("output type {t} is too large")))?;
            outs.push(match t.elem {
                Elem::F64 => Data::F64(vec![0.0; n]),
                Elem::F32 => Data::F32(vec![0.0; n]),
                Elem::I64 => Data::I64(vec![0; n]),
                Elem::Bool => Data::Bool(vec![false; n]),
            });
            shapes.push(shape);
        }
        Ok(Box::new(CompiledRunner {
            f: &self.f,
            ws: self.f.workspace(),
            ins: inputs.iter().map(arg).collect(),
            outs,
            shapes,
        }))
    }

    fn backend(&self) -> &'static str {
        "jit"
    }
}

fn arg(t: &Tensor) -> ArgRef<'_> {
    match t.data() {
        Data::F64(v) => ArgRef::F64(v),
        Data::F32(v) => ArgRef::F32(v),
        Data::I64(v) => ArgRef::I64(v),
        Data::Bool(v) => ArgRef::Bool(v),
    }
}

fn arg_mut(d: &mut Data) -> ArgMut<'_> {
    match d {
        Data::F64(v) => ArgMut::F64(v),
        Data::F32(v) => ArgMut::F32(v),
        Data::I64(v) => ArgMut::I64(v),
        Data::Bool(v) => ArgMut::Bool(v),
    }
}

impl Runner for CompiledRunner<'_> {
    fn call(&mut self) -> Result<(), GradbenchError> {
        // The output views live on the stack for the usual output counts, so
        // a timed call allocates nothing.
        let result = match self.outs.as_mut_slice() {
            [a] => self.f.call_into(&self.ins, &mut [arg_mut(a)], &mut self.ws),
            [a, b] => self
                .f
                .call_into(&self.ins, &mut [arg_mut(a), arg_mut(b)], &mut self.ws),
            [a, b, c] => self.f.call_into(
                &self.ins,
                &mut [arg_mut(a), arg_mut(b), arg_mut(c)],
                &mut self.ws,
            ),
            outs => {
                let mut views: Vec<ArgMut<'_>> = outs.iter_mut().map(arg_mut).collect();
                self.f.call_into(&self.ins, &mut views, &mut self.ws)
            }
        };
        result.map_err(|e| GradbenchError::Eval(e.to_string()))
    }

    fn outputs(&mut self) -> Result<Vec<Tensor>, GradbenchError> {
        self.outs
            .iter()
            .zip(&self.shapes)
            .map(|(d, s)| {
                Tensor::new(s.clone(), d.clone()).map_err(|e| GradbenchError::Eval(e.to_string()))
            })
            .collect()
    }
}
