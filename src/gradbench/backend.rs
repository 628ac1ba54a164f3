//! How a built module is run: a small interface with one implementation per
//! way of executing adjit's IR.
//!
//! [`Backend::compile`] turns a module and its entry function into an
//! [`Executable`] once per module/size; [`Executable::runner`] makes the
//! per-evaluation state (plans, workspaces) once per `evaluate` message, and
//! [`Runner::call`] is the only thing timed as `evaluate`.
//!
//! [`Interpreted`] runs the reference interpreter, [`adjit_ir::interp`].

use super::GradbenchError;
use crate::ir::{Interpreter, Module, Tensor, verify_module};

/// A way of executing modules.
pub trait Backend {
    /// The backend's name, reported in the `start` response.
    fn name(&self) -> &'static str;

    /// Prepares `entry` of `module` to be run (verification, compilation).
    fn compile(&self, module: Module, entry: &str) -> Result<Box<dyn Executable>, GradbenchError>;
}

/// A prepared function.
pub trait Executable {
    /// The state for a series of calls.
    fn runner(&self) -> Box<dyn Runner + '_>;
}

/// Calls a prepared function.
pub trait Runner {
    /// Evaluates the function on `inputs`, one per parameter.
    fn call(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, GradbenchError>;
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
}

impl Backend for Interpreted {
    fn name(&self) -> &'static str {
        "interpreter"
    }

    fn compile(&self, module: Module, entry: &str) -> Result<Box<dyn Executable>, GradbenchError> {
        verify_module(&module).map_err(|e| GradbenchError::Graph(e.to_string()))?;
        if !module.contains(entry) {
            return Err(GradbenchError::Graph(format!("no function @{entry}")));
        }
        Ok(Box::new(InterpretedFn {
            module,
            entry: entry.to_string(),
        }))
    }
}

impl Executable for InterpretedFn {
    fn runner(&self) -> Box<dyn Runner + '_> {
        Box::new(InterpretedRunner {
            interp: Interpreter::new(&self.module),
            entry: &self.entry,
        })
    }
}

impl Runner for InterpretedRunner<'_> {
    fn call(&mut self, inputs: &[Tensor]) -> Result<Vec<Tensor>, GradbenchError> {
        self.interp
            .eval(self.entry, inputs)
            .map_err(|e| GradbenchError::Eval(e.to_string()))
    }
}
