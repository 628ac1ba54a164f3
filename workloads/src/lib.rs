//! The benchmark workloads as plain Rust: deterministic input generators and
//! reference implementations of every workload's value and hand-derived
//! derivatives.
//!
//! These are the oracle that compiled programs are tested against, the
//! "hand-written Rust" line of every benchmark table, and the data source of
//! the demo. One module per workload; the definitions follow the workload table
//! of the project documentation.
//!
//! Invariants:
//! - Every function is deterministic: the same inputs give bit-identical
//!   outputs, and a generator called twice with the same seed returns the same
//!   data (the generator [`rng::SplitMix64`] is written here, so results do
//!   not depend on any other crate's version).
//! - Hot-path functions do not allocate: results go into caller-provided
//!   `&mut [f64]` buffers and scratch space lives in a reusable workspace
//!   struct. Lengths are checked on entry and a mismatch is reported as a
//!   [`WorkloadError`], never a panic.
//! - Arrays are flat and row-major; each module documents its layouts.
//! - Derivatives are derived by hand from the formula, never by an AD tool, so
//!   that they are independent of the code under test.
//!
//! ```
//! use adjit_workloads::{WorkloadError, rosen, spring};
//!
//! let inputs = rosen::inputs(1000, 7);
//! let mut grad = vec![0.0; 1000];
//! let f = rosen::value_and_grad(&inputs.x, &mut grad)?;
//! assert_eq!(f, rosen::value(&inputs.x));
//!
//! // Workloads with scratch space take a workspace built once per shape.
//! let sim = spring::inputs(spring::BENCH, 7);
//! let mut ws = spring::Workspace::new(spring::BENCH)?;
//! let (mut gk, mut gx, mut gv) = (vec![0.0; 31], vec![0.0; 32], vec![0.0; 32]);
//! let grads = spring::Grads { k: &mut gk, x0: &mut gx, v0: &mut gv };
//! let loss = spring::value_and_grad(spring::BENCH, sim.args(), &mut ws, grads)?;
//! assert_eq!(loss, spring::value(spring::BENCH, sim.args(), &mut ws)?);
//! # Ok::<(), WorkloadError>(())
//! ```

pub mod bs;
pub mod gmm;
pub mod logreg;
pub mod mlp;
pub mod rng;
pub mod rosen;
pub mod seeds;
pub mod spring;
pub mod taped;

/// Why a workload function refused its arguments. Always the caller's fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum WorkloadError {
    /// A slice does not have the length the shape requires.
    #[error("`{what}` has length {found}, expected {expected}")]
    Length {
        /// Which argument.
        what: &'static str,
        /// The length the shape requires.
        expected: usize,
        /// The length given.
        found: usize,
    },
    /// A size computed from the shape overflows `usize`.
    #[error("the size of `{what}` overflows")]
    Overflow {
        /// Which array's size.
        what: &'static str,
    },
    /// A shape or parameter is outside the workload's domain.
    #[error("invalid `{what}`: {why}")]
    Invalid {
        /// Which shape field or parameter.
        what: &'static str,
        /// What is wrong with it.
        why: &'static str,
    },
}

/// log Σ_j exp(x_j), shifted by the maximum so that it neither overflows nor
/// underflows. −∞ for an empty slice.
pub fn logsumexp(xs: &[f64]) -> f64 {
    let max = xs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    if max == f64::NEG_INFINITY {
        return max;
    }
    let sum: f64 = xs.iter().map(|&v| (v - max).exp()).sum();
    sum.ln() + max
}

/// Checks that `what` has exactly `expected` elements.
pub(crate) fn check_len(
    what: &'static str,
    found: usize,
    expected: usize,
) -> Result<(), WorkloadError> {
    if found == expected {
        Ok(())
    } else {
        Err(WorkloadError::Length {
            what,
            expected,
            found,
        })
    }
}

/// `a * b`, or an overflow error naming `what`.
pub(crate) fn checked_size(what: &'static str, a: usize, b: usize) -> Result<usize, WorkloadError> {
    a.checked_mul(b).ok_or(WorkloadError::Overflow { what })
}

/// Dot product with eight independent accumulators, so that the reduction
/// vectorises (a single accumulator forces a serial chain of additions).
#[inline]
pub(crate) fn dot(a: &[f64], b: &[f64]) -> f64 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    let mut acc = [0.0f64; 8];
    let mut ac = a.chunks_exact(8);
    let mut bc = b.chunks_exact(8);
    for (x, y) in (&mut ac).zip(&mut bc) {
        for l in 0..8 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut tail = 0.0;
    for (x, y) in ac.remainder().iter().zip(bc.remainder()) {
        tail += x * y;
    }
    lanes_sum(&acc) + tail
}

/// Sums eight lanes pairwise.
#[inline]
pub(crate) fn lanes_sum(acc: &[f64; 8]) -> f64 {
    ((acc[0] + acc[4]) + (acc[1] + acc[5])) + ((acc[2] + acc[6]) + (acc[3] + acc[7]))
}

/// `y += alpha * x` over the common length.
#[inline]
pub(crate) fn axpy(alpha: f64, x: &[f64], y: &mut [f64]) {
    for (yi, xi) in y.iter_mut().zip(x) {
        *yi += alpha * xi;
    }
}
