//! [`Var`], the `Copy` handle code is written against, and the two recording
//! primitives every operation is built from.
//!
//! Invariant: a handle's `index` names a node of `tape` whose value is
//! `value` (see the tape module's invariants for why it stays valid).

use std::fmt;

use super::{FOREIGN, Node, SINK, Tape};

/// A scalar recorded on a [`Tape`]: its value and its node's index.
///
/// Arithmetic operators (with other handles of the same tape and with `f64`)
/// and the elementary functions record a node and return a new handle.
/// Comparisons are made on [`Var::value`], so branching on a value records
/// the branch taken.
#[derive(Clone, Copy)]
pub struct Var<'t> {
    tape: &'t Tape,
    index: u32,
    value: f64,
}

impl<'t> Var<'t> {
    #[inline]
    pub(super) fn new(tape: &'t Tape, index: u32, value: f64) -> Var<'t> {
        Var { tape, index, value }
    }

    /// The value this handle stands for.
    #[inline]
    pub fn value(self) -> f64 {
        self.value
    }

    /// The tape this handle was recorded on.
    #[inline]
    pub fn tape(self) -> &'t Tape {
        self.tape
    }

    /// The index of this handle's node in its tape (inputs and operations are
    /// numbered from 1 in recording order).
    #[inline]
    pub fn index(self) -> u32 {
        self.index
    }

    /// Records a one-argument operation of `self` whose result is `value`
    /// and whose derivative is `partial`.
    #[inline]
    pub(super) fn unary(self, value: f64, partial: f64) -> Var<'t> {
        let index = self.tape.record(Node {
            parents: [self.index, SINK],
            partials: [partial, 0.0],
        });
        Var::new(self.tape, index, value)
    }

    /// Records a two-argument operation of `self` and `other` whose result is
    /// `value`, with partial derivatives `partial_self` and `partial_other`.
    ///
    /// # Panics
    ///
    /// If `other` belongs to another tape.
    #[inline]
    pub(super) fn binary(
        self,
        other: Var<'t>,
        value: f64,
        partial_self: f64,
        partial_other: f64,
    ) -> Var<'t> {
        assert!(std::ptr::eq(self.tape, other.tape), "{FOREIGN}");
        let index = self.tape.record(Node {
            parents: [self.index, other.index],
            partials: [partial_self, partial_other],
        });
        Var::new(self.tape, index, value)
    }
}

impl fmt::Debug for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Var")
            .field("index", &self.index)
            .field("value", &self.value)
            .finish()
    }
}

impl fmt::Display for Var<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.value, f)
    }
}
