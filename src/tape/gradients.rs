//! [`Gradients`]: the adjoints left by one reverse sweep, read by handle.
//!
//! Invariant: `adjoints[i]` is d(output)/d(node i) for every node up to the
//! output; nodes recorded after the output do not influence it, so their
//! derivative is 0 without being stored. On drop, the buffer goes back to
//! the tape for the next sweep.

use std::mem;
use std::ops::Index;

use super::{FOREIGN, Tape, TapeError, Var};

/// The derivatives of one output with respect to the nodes of its tape,
/// from [`Tape::gradient`]. Index it with the handles: `gradients[x]`.
pub struct Gradients<'t> {
    tape: &'t Tape,
    adjoints: Vec<f64>,
}

impl<'t> Gradients<'t> {
    pub(super) fn new(tape: &'t Tape, adjoints: Vec<f64>) -> Gradients<'t> {
        Gradients { tape, adjoints }
    }

    /// d(output)/d(`var`). `var` may be an input or an intermediate result;
    /// for an intermediate it is the derivative with respect to that node
    /// with its own operands held fixed.
    ///
    /// # Panics
    ///
    /// If `var` belongs to another tape.
    #[inline]
    pub fn wrt(&self, var: Var<'_>) -> f64 {
        *self.get(var)
    }

    /// The derivatives with respect to each of `vars`, in order.
    ///
    /// # Panics
    ///
    /// If one of `vars` belongs to another tape.
    pub fn wrt_all(&self, vars: &[Var<'_>]) -> Vec<f64> {
        vars.iter().map(|&var| self.wrt(var)).collect()
    }

    /// Writes the derivative with respect to `vars[i]` into `out[i]`.
    ///
    /// # Panics
    ///
    /// If one of `vars` belongs to another tape.
    pub fn write(&self, vars: &[Var<'_>], out: &mut [f64]) -> Result<(), TapeError> {
        if out.len() != vars.len() {
            return Err(TapeError::LengthMismatch {
                what: "gradient buffer",
                expected: vars.len(),
                found: out.len(),
            });
        }
        for (slot, &var) in out.iter_mut().zip(vars) {
            *slot = self.wrt(var);
        }
        Ok(())
    }

    /// The adjoint of every node up to the output, indexed by [`Var::index`].
    pub fn adjoints(&self) -> &[f64] {
        &self.adjoints
    }

    #[inline]
    fn get(&self, var: Var<'_>) -> &f64 {
        assert!(std::ptr::eq(self.tape, var.tape()), "{FOREIGN}");
        self.adjoints.get(var.index() as usize).unwrap_or(&0.0)
    }
}

impl Index<Var<'_>> for Gradients<'_> {
    type Output = f64;

    /// d(output)/d(`var`); see [`Gradients::wrt`].
    #[inline]
    fn index(&self, var: Var<'_>) -> &f64 {
        self.get(var)
    }
}

impl Drop for Gradients<'_> {
    fn drop(&mut self) {
        self.tape.park_adjoints(mem::take(&mut self.adjoints));
    }
}

impl std::fmt::Debug for Gradients<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gradients")
            .field("adjoints", &self.adjoints)
            .finish()
    }
}
