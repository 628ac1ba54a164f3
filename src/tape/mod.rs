//! An operator-overloading reverse-mode tape: the classic "interpreted tape"
//! that plain Rust code is differentiated with, and the baseline the compiled
//! derivative programs are measured against.
//!
//! A [`Tape`] is a Wengert list of scalar (`f64`) operations. Code is written
//! against [`Var`] handles, which are `Copy` and carry their value and a
//! reference to their tape, so `a * b + 2.0` records two operations without
//! mentioning the tape. Each recorded node stores at most two parent indices
//! and the local partial derivatives with respect to them, evaluated when the
//! node is recorded; [`Tape::gradient`] then runs one reverse sweep over an
//! adjoint array. Control flow reads values ([`Var::value`]), so
//! `if x.value() > 1.0 { .. }` records only the branch taken.
//!
//! The sweep skips a node whose adjoint is exactly zero, as symbolic zeros
//! would: a node that does not reach the output (an unused `ln(-1)`, or a
//! `sqrt(0)` whose infinite partial would make `0 · ∞`) adds nothing to its
//! operands, instead of turning their derivatives into NaN.
//!
//! The list lives in two parts. *Slots*, a boxed slice of `Cell`s, are
//! written without any borrow bookkeeping, so recording a node is a store
//! and a length update. Nodes past the slots go to a *spill* `Vec` (behind a
//! `RefCell`); [`Tape::clear`] then reallocates the slots to hold everything
//! recorded, so from the second recording of a computation on, recording
//! allocates nothing and never touches the spill.
//!
//! ```
//! use adjit::tape::Tape;
//!
//! let tape = Tape::new();
//! let x = tape.var(3.0);
//! let y = tape.var(2.0);
//! let f = (x + y) * (x - y);
//! let g = tape.gradient(f);
//! assert_eq!(f.value(), 5.0);
//! assert_eq!((g[x], g[y]), (6.0, -4.0));
//! ```
//!
//! # Invariants
//!
//! - Node 0 is a *sink*: unused parent entries (of inputs and one-argument
//!   operations) point at it with a zero partial, so every node is swept the
//!   same way. Its adjoint collects `0 · a` and is never read; the sweep
//!   never visits it. [`Tape::len`] does not count it.
//! - Nodes `0..slots.len()` are in the slots and nodes `slots.len()..len`
//!   in the spill, in order; the spill is empty whenever the slots are not
//!   full.
//! - Order by construction: a node's parents have smaller indices than the
//!   node, so one backward pass over the list visits every node after all of
//!   its consumers.
//! - A [`Var`] of a tape always indexes a node of that tape: nodes are only
//!   removed by [`Tape::clear`], which takes `&mut self` and therefore cannot
//!   run while any handle borrowing the tape is alive.
//! - Storage never shrinks: after the first [`Tape::clear`], re-recording a
//!   computation of the same size allocates nothing, and the adjoint buffer
//!   is kept between sweeps.
//!
//! Combining handles of two different tapes in one operation is a programming
//! error and panics (it would otherwise give silently wrong gradients).

mod functions;
mod grad;
mod gradients;
mod ops;
mod var;

use std::cell::{Cell, RefCell};
use std::fmt;

pub use grad::grad;
pub use gradients::Gradients;
pub use var::Var;

/// A mistake in the arguments of a tape entry point; each is the caller's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TapeError {
    /// A caller-supplied buffer does not have the length the call needs
    /// (the caller's fault).
    #[error("{what} has length {found}, expected {expected}")]
    LengthMismatch {
        /// Which argument is wrong.
        what: &'static str,
        /// The length the call needs.
        expected: usize,
        /// The length that was passed.
        found: usize,
    },
}

/// Index of the sink node (see the module invariants).
const SINK: u32 = 0;

/// One entry of the Wengert list: `adjoint[parents[k]] += adjoint[self] * partials[k]`.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Node {
    /// Indices of the operands; an unused slot is [`SINK`].
    parents: [u32; 2],
    /// ∂(this node)/∂(parent k), evaluated at record time; 0 for an unused slot.
    partials: [f64; 2],
}

/// An input: both parent entries unused, so pointing at the sink.
const LEAF: Node = Node {
    parents: [SINK, SINK],
    partials: [0.0, 0.0],
};

/// A Wengert list of scalar operations, recorded through [`Var`] handles.
///
/// Recording uses interior mutability (`Cell`s, and a [`RefCell`] that is
/// only borrowed inside the tape's own methods, never across user code), so
/// handles need only a shared reference. A tape is `Send` but not `Sync`.
pub struct Tape {
    /// Nodes `0..slots.len()` of the list (node 0 is the sink), written
    /// through `Cell`s so that recording needs no borrow flag.
    slots: Box<[Cell<Node>]>,
    /// How many nodes are recorded, counting the sink.
    len: Cell<usize>,
    /// Nodes `slots.len()..len`, recorded while the slots were full; the
    /// next [`Tape::clear`] grows the slots to hold them all.
    spill: RefCell<Vec<Node>>,
    /// The adjoint buffer, parked here between sweeps so its allocation is
    /// reused; a [`Gradients`] holds it while alive and hands it back on drop.
    adjoints: Cell<Vec<f64>>,
    /// Storage for the input handles of [`Tape::grad_into`], kept empty
    /// between calls so that its allocation is reused.
    inputs: Vec<grad::ParkedVar>,
}

impl Tape {
    /// An empty tape.
    pub fn new() -> Tape {
        Tape::with_capacity(0)
    }

    /// An empty tape with room for `nodes` recorded nodes before it grows.
    ///
    /// # Panics
    ///
    /// As [`Vec::with_capacity`], if the storage cannot be allocated.
    pub fn with_capacity(nodes: usize) -> Tape {
        Tape {
            slots: leaf_slots(nodes.saturating_add(1)),
            len: Cell::new(1),
            spill: RefCell::new(Vec::new()),
            adjoints: Cell::new(Vec::new()),
            inputs: Vec::new(),
        }
    }

    /// A new input variable with value `value`.
    #[inline]
    pub fn var(&self, value: f64) -> Var<'_> {
        Var::new(self, self.record(LEAF), value)
    }

    /// One new input variable per value, in order.
    pub fn vars(&self, values: &[f64]) -> Vec<Var<'_>> {
        values.iter().map(|&value| self.var(value)).collect()
    }

    /// The number of recorded nodes (inputs and operations).
    pub fn len(&self) -> usize {
        self.len.get() - 1
    }

    /// Whether nothing has been recorded since creation or the last [`Tape::clear`].
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// How many nodes the tape can hold before its storage grows.
    pub fn capacity(&self) -> usize {
        self.slots.len() + self.spill.borrow().capacity() - 1
    }

    /// Forgets every recorded node but keeps the storage, so that recording
    /// the same computation again allocates nothing. If the last recording
    /// outgrew the slots, this is where they grow to hold all of it.
    ///
    /// Taking `&mut self` guarantees that no handle of the old recording
    /// survives the call.
    pub fn clear(&mut self) {
        let spill = self.spill.get_mut();
        if !spill.is_empty() {
            // Room for everything recorded, and at least twice the old
            // slots, so that a growing computation reallocates rarely.
            let len = self.len.get().max(self.slots.len().saturating_mul(2));
            self.slots = leaf_slots(len);
            *spill = Vec::new();
        }
        self.len.set(1);
    }

    /// The sum of `terms`, recorded as a balanced tree of additions (which is
    /// more accurate than a running sum, and gives the reverse sweep
    /// independent chains). The empty sum is a new constant 0.
    ///
    /// # Panics
    ///
    /// If a term belongs to another tape.
    pub fn sum<'t>(&'t self, terms: &[Var<'t>]) -> Var<'t> {
        match terms {
            [] => self.var(0.0),
            [single] => {
                self.assert_owns(*single);
                *single
            }
            _ => {
                let (left, right) = terms.split_at(terms.len() / 2);
                self.sum(left) + self.sum(right)
            }
        }
    }

    /// The derivatives of `output` with respect to every node recorded up to
    /// it, by one reverse sweep.
    ///
    /// # Panics
    ///
    /// If `output` belongs to another tape.
    pub fn gradient(&self, output: Var<'_>) -> Gradients<'_> {
        self.assert_owns(output);
        let mut adjoints = self.adjoints.take();
        self.sweep(output.index(), &mut adjoints);
        Gradients::new(self, adjoints)
    }

    /// Records `node` and returns its index.
    #[inline]
    fn record(&self, node: Node) -> u32 {
        let index = self.len.get();
        match self.slots.get(index) {
            Some(slot) => slot.set(node),
            // By fields, so that the node is not built on the stack first.
            None => self.spill_node(node.parents, node.partials[0], node.partials[1]),
        }
        self.len.set(index + 1);
        check_index(index)
    }

    /// Records a node past the slots (kept out of line: it is the rare path).
    #[inline(never)]
    fn spill_node(&self, parents: [u32; 2], partial0: f64, partial1: f64) {
        let partials = [partial0, partial1];
        self.spill.borrow_mut().push(Node { parents, partials });
    }

    /// Fills `adjoints[..=output]` with d(output)/d(node), by one backward
    /// pass over the nodes up to `output` (later nodes cannot influence it).
    fn sweep(&self, output: u32, adjoints: &mut Vec<f64>) {
        let output = output as usize;
        adjoints.clear();
        adjoints.resize(output + 1, 0.0);
        adjoints[output] = 1.0;
        // As cells, the adjoints can be walked in step with the nodes while
        // the parents' entries are updated.
        let adjoints = Cell::from_mut(adjoints.as_mut_slice()).as_slice_of_cells();
        let split = self.slots.len();
        if output >= split {
            let spill = self.spill.borrow();
            let nodes = spill[..=output - split].iter().copied();
            propagate_all(adjoints, nodes, &adjoints[split..=output]);
        }
        let top = output.min(split - 1);
        let nodes = self.slots[1..=top].iter().map(Cell::get);
        propagate_all(adjoints, nodes, &adjoints[1..=top]);
    }

    /// Whether `var` is a handle of this tape.
    #[inline]
    fn owns(&self, var: Var<'_>) -> bool {
        std::ptr::eq(self, var.tape())
    }

    fn assert_owns(&self, var: Var<'_>) {
        assert!(self.owns(var), "{FOREIGN}");
    }

    /// Hands a sweep's buffer back for the next sweep to reuse.
    fn park_adjoints(&self, adjoints: Vec<f64>) {
        let parked = self.adjoints.take();
        // Keep whichever buffer is larger: with two `Gradients` alive, the
        // second one started from an empty buffer.
        if parked.capacity() > adjoints.capacity() {
            self.adjoints.set(parked);
        } else {
            self.adjoints.set(adjoints);
        }
    }
}

/// `len` sink-like slots, the first of them the sink.
fn leaf_slots(len: usize) -> Box<[Cell<Node>]> {
    (0..len.max(1)).map(|_| Cell::new(LEAF)).collect()
}

/// The reverse step of each of `nodes`, last first: the node's adjoint
/// (its entry of `own`), times each local partial, accumulates into its
/// parents' entries of `adjoints`.
#[inline(always)]
fn propagate_all(
    adjoints: &[Cell<f64>],
    nodes: impl DoubleEndedIterator<Item = Node> + ExactSizeIterator,
    own: &[Cell<f64>],
) {
    for (node, own) in nodes.zip(own).rev() {
        let adjoint = own.get();
        // A symbolic zero: see the module documentation.
        if adjoint == 0.0 {
            continue;
        }
        let [p0, p1] = node.parents.map(|parent| &adjoints[parent as usize]);
        p0.set(p0.get() + adjoint * node.partials[0]);
        p1.set(p1.get() + adjoint * node.partials[1]);
    }
}

/// The panic message for mixing handles of two tapes.
const FOREIGN: &str = "a variable of one tape was used with another tape";

/// Converts a node index to the handle's `u32`, panicking once a tape holds
/// more than `u32::MAX` nodes (about 100 GB of nodes: a limit of the
/// representation, reached long after memory runs out on most machines).
#[inline]
fn check_index(index: usize) -> u32 {
    match u32::try_from(index) {
        Ok(index) => index,
        Err(_) => panic!("a tape holds at most u32::MAX nodes"),
    }
}

impl Default for Tape {
    fn default() -> Tape {
        Tape::new()
    }
}

impl fmt::Debug for Tape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Tape").field("len", &self.len()).finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Tape {
        /// The recorded nodes, sink included.
        fn nodes(&self) -> Vec<Node> {
            let slots = self.slots.iter().map(Cell::get);
            let all: Vec<Node> = slots.chain(self.spill.borrow().iter().copied()).collect();
            all[..self.len.get()].to_vec()
        }
    }

    #[test]
    fn sink_is_never_counted() {
        let mut tape = Tape::new();
        assert_eq!(tape.len(), 0);
        assert!(tape.is_empty());
        let x = tape.var(1.0);
        let _ = x.sin();
        assert_eq!(tape.len(), 2);
        tape.clear();
        assert!(tape.is_empty());
        assert_eq!(tape.slots[0].get(), LEAF);
    }

    #[test]
    fn nodes_point_backwards() {
        let tape = Tape::new();
        let x = tape.var(0.5);
        let y = tape.var(2.0);
        let z = (x * y).exp() / y + x.tanh();
        let _ = tape.sum(&[x, y, z, z * 2.0]);
        let nodes = tape.nodes();
        for (index, node) in nodes.iter().enumerate().skip(1) {
            for parent in node.parents {
                assert!((parent as usize) < index, "node {index}: {node:?}");
            }
        }
    }

    #[test]
    fn sweeps_cross_from_spill_to_slots() {
        // x^(2^k) by repeated squaring, recorded partly past the slots.
        let mut tape = Tape::with_capacity(4);
        for round in 0..2 {
            let x = tape.var(1.001);
            let mut y = x;
            for _ in 0..10 {
                y = y * y;
            }
            let n = 1024.0;
            let expected = n * 1.001f64.powf(n - 1.0);
            let found = tape.gradient(y)[x];
            assert!((found - expected).abs() < 1e-12 * expected, "round {round}");
            assert_eq!(tape.nodes().len(), 12);
            if round == 0 {
                assert!(!tape.spill.borrow().is_empty());
            } else {
                assert!(tape.spill.borrow().is_empty());
            }
            tape.clear();
            assert!(tape.slots.len() >= 12);
        }
    }

    #[test]
    fn adjoint_buffer_is_reused_between_sweeps() {
        let tape = Tape::new();
        let xs = tape.vars(&[1.0; 100]);
        let f = tape.sum(&xs);
        let first = tape.gradient(f);
        let pointer = first.adjoints().as_ptr();
        drop(first);
        for _ in 0..3 {
            let again = tape.gradient(f);
            assert_eq!(again.adjoints().as_ptr(), pointer);
        }
    }

    #[test]
    fn two_live_gradients_do_not_conflict() {
        let tape = Tape::new();
        let x = tape.var(2.0);
        let a = x * x;
        let b = x.exp();
        let ga = tape.gradient(a);
        let gb = tape.gradient(b);
        assert_eq!(ga[x], 4.0);
        assert_eq!(gb[x], 2.0f64.exp());
    }
}
