//! Evaluation across cores: one [`CompiledFn`] called on a batch of
//! independent inputs (an ensemble of simulations, per-sample gradients, a
//! parameter sweep), the batch split over a thread pool (feature
//! `parallel`, on by default; it brings in `rayon`).
//!
//! A [`Pool`] owns its threads and, per worker thread, one workspace and one
//! pair of pointer tables. [`Pool::call_batch`] checks every argument once,
//! then each worker takes samples from a shared counter, a few at a time,
//! and calls the function's raw entry on them with its own workspace: no
//! call allocates (the workspaces grow, once, when a function needs more
//! than any before it).
//!
//! Layout of a batch of `n` samples: an input is either
//! [`BatchArg::Shared`] (the same elements for every sample, the parameter's
//! element count long) or [`BatchArg::Stacked`] (`n` samples one after the
//! other, `n ×` the element count long, sample `b` at `b × count`); every
//! output is stacked the same way. Sample `b`'s outputs are exactly what a
//! call of the function on sample `b`'s inputs writes — the code reads only
//! its inputs and writes only its outputs and workspace — so the results do
//! not depend on the number of threads or on which worker ran a sample.

use crate::jit::{ArgMut, ArgRef, CompiledFn};
use adjit_ir::{Elem, Type};
use rayon::prelude::*;
use std::sync::atomic::{AtomicUsize, Ordering};

/// An input of a batch call.
#[derive(Clone, Copy, Debug)]
pub enum BatchArg<'a> {
    /// The same elements for every sample (one parameter's worth).
    Shared(ArgRef<'a>),
    /// One parameter's worth per sample, sample after sample.
    Stacked(ArgRef<'a>),
}

/// Why a batch call or a pool was rejected. Nothing has run when a call
/// returns an error.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Wrong number of inputs or outputs.
    #[error("expected {expected} {kind}(s), got {found}")]
    Count {
        /// `input` or `output`.
        kind: &'static str,
        /// What the function has.
        expected: usize,
        /// What was passed.
        found: usize,
    },
    /// An argument's element type is not its parameter's or output's.
    #[error("{kind} {index}: expected {expected} elements, got {found}")]
    ElemType {
        /// `input` or `output`.
        kind: &'static str,
        /// Its position.
        index: usize,
        /// The declared element type.
        expected: &'static str,
        /// The slice's.
        found: &'static str,
    },
    /// An argument's length is not the declared element count (times the
    /// batch size if stacked).
    #[error("{kind} {index}: expected {expected} element(s), got {found}")]
    Length {
        /// `input` or `output`.
        kind: &'static str,
        /// Its position.
        index: usize,
        /// The length the call needs.
        expected: usize,
        /// The slice's.
        found: usize,
    },
    /// The batch is so large that its element counts overflow.
    #[error("a batch of {0} samples is too large for this target")]
    TooLarge(usize),
    /// The thread pool could not be created.
    #[error("could not start the thread pool: {0}")]
    ThreadPool(String),
}

/// A 64-byte aligned block of workspace.
#[derive(Clone, Copy)]
#[repr(C, align(64))]
struct Block([u8; 64]);

/// One worker's scratch: its workspace and pointer tables (addresses kept
/// as integers; only the generated code dereferences them).
#[derive(Default)]
struct Worker {
    mem: Vec<Block>,
    ins: Vec<usize>,
    outs: Vec<usize>,
}

/// Where a sample's argument lives: `base + b × stride` bytes.
#[derive(Clone, Copy, Default)]
struct Place {
    base: usize,
    stride: usize,
}

/// A thread pool with one workspace per worker thread.
pub struct Pool {
    pool: rayon::ThreadPool,
    workers: Vec<Worker>,
    // Reused across calls so that a batch call allocates nothing either.
    ins: Vec<Place>,
    outs: Vec<Place>,
}

impl std::fmt::Debug for Pool {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pool")
            .field("threads", &self.threads())
            .finish()
    }
}

/// Bytes per element.
fn elem_bytes(e: Elem) -> usize {
    match e {
        Elem::F64 | Elem::I64 => 8,
        Elem::F32 => 4,
        Elem::Bool => 1,
    }
}

/// Element count of a concrete type (compiled functions have only those).
fn count(t: &Type) -> usize {
    t.shape
        .as_known()
        .map(|s| s.iter().product::<usize>())
        .unwrap_or(0)
}

fn ref_parts(a: &ArgRef<'_>) -> (Elem, usize, usize) {
    match a {
        ArgRef::F64(s) => (Elem::F64, s.len(), s.as_ptr() as usize),
        ArgRef::F32(s) => (Elem::F32, s.len(), s.as_ptr() as usize),
        ArgRef::I64(s) => (Elem::I64, s.len(), s.as_ptr() as usize),
        ArgRef::Bool(s) => (Elem::Bool, s.len(), s.as_ptr() as usize),
    }
}

fn mut_parts(a: &mut ArgMut<'_>) -> (Elem, usize, usize) {
    match a {
        ArgMut::F64(s) => (Elem::F64, s.len(), s.as_mut_ptr() as usize),
        ArgMut::F32(s) => (Elem::F32, s.len(), s.as_mut_ptr() as usize),
        ArgMut::I64(s) => (Elem::I64, s.len(), s.as_mut_ptr() as usize),
        ArgMut::Bool(s) => (Elem::Bool, s.len(), s.as_mut_ptr() as usize),
    }
}

impl Pool {
    /// A pool of `threads` worker threads (0: one per available core).
    pub fn new(threads: usize) -> Result<Pool, BatchError> {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("adjit-batch-{i}"))
            .build()
            .map_err(|e| BatchError::ThreadPool(e.to_string()))?;
        let workers = (0..pool.current_num_threads())
            .map(|_| Worker::default())
            .collect();
        Ok(Pool {
            pool,
            workers,
            ins: Vec::new(),
            outs: Vec::new(),
        })
    }

    /// The number of worker threads.
    pub fn threads(&self) -> usize {
        self.workers.len()
    }

    /// Sizes every worker's workspace and pointer tables for `f` (allocates
    /// if they are too small; [`call_batch`](Self::call_batch) does it
    /// itself, so this only moves the allocation earlier).
    pub fn reserve(&mut self, f: &CompiledFn) {
        let blocks = f.workspace_size().div_ceil(64);
        for w in &mut self.workers {
            if w.mem.len() < blocks {
                w.mem.resize(blocks, Block([0; 64]));
            }
            w.ins.resize(f.param_types().len(), 0);
            w.outs.resize(f.output_types().len(), 0);
        }
        self.ins.reserve(f.param_types().len());
        self.outs.reserve(f.output_types().len());
    }

    /// Calls `f` on each of `batch` samples, spread over the pool's threads.
    /// See the [module docs](self) for the layout of `inputs` and `outputs`.
    /// Every count, element type and length is checked before anything
    /// runs.
    pub fn call_batch(
        &mut self,
        f: &CompiledFn,
        batch: usize,
        inputs: &[BatchArg<'_>],
        outputs: &mut [ArgMut<'_>],
    ) -> Result<(), BatchError> {
        let params = f.param_types();
        let results = f.output_types();
        if inputs.len() != params.len() {
            return Err(BatchError::Count {
                kind: "input",
                expected: params.len(),
                found: inputs.len(),
            });
        }
        if outputs.len() != results.len() {
            return Err(BatchError::Count {
                kind: "output",
                expected: results.len(),
                found: outputs.len(),
            });
        }
        self.reserve(f);
        self.ins.clear();
        self.outs.clear();
        for (index, (a, p)) in inputs.iter().zip(params).enumerate() {
            let (arg, stacked) = match a {
                BatchArg::Shared(r) => (r, false),
                BatchArg::Stacked(r) => (r, true),
            };
            let (elem, len, base) = ref_parts(arg);
            let n = count(p);
            let want = if stacked {
                n.checked_mul(batch).ok_or(BatchError::TooLarge(batch))?
            } else {
                n
            };
            check("input", index, p.elem, want, elem, len)?;
            let stride = if stacked { n * elem_bytes(elem) } else { 0 };
            self.ins.push(Place { base, stride });
        }
        for (index, (a, t)) in outputs.iter_mut().zip(results).enumerate() {
            let (elem, len, base) = mut_parts(a);
            let n = count(t);
            let want = n.checked_mul(batch).ok_or(BatchError::TooLarge(batch))?;
            check("output", index, t.elem, want, elem, len)?;
            self.outs.push(Place {
                base,
                stride: n * elem_bytes(elem),
            });
        }
        if batch == 0 {
            return Ok(());
        }

        // Samples are handed out a few at a time from one counter, so a
        // worker slowed down by other load takes fewer of them.
        let chunk = (batch / (self.workers.len() * 16)).max(1);
        let next = AtomicUsize::new(0);
        let Pool {
            pool,
            workers,
            ins,
            outs,
        } = self;
        let (ins, outs) = (&*ins, &*outs);
        let entry = f.raw();
        pool.install(|| {
            workers.par_iter_mut().for_each(|w| {
                loop {
                    let start = next.fetch_add(chunk, Ordering::Relaxed);
                    if start >= batch {
                        break;
                    }
                    for b in start..(start + chunk).min(batch) {
                        for (slot, p) in w.ins.iter_mut().zip(ins) {
                            *slot = p.base + b * p.stride;
                        }
                        for (slot, p) in w.outs.iter_mut().zip(outs) {
                            *slot = p.base + b * p.stride;
                        }
                        // SAFETY: every input and output slice was checked
                        // above to hold its declared element type and
                        // `count × batch` elements (`count` if shared), so
                        // sample `b < batch` lies inside it; output slices
                        // are `&mut`, so distinct from each other and from
                        // the inputs, and each sample `b` is taken from the
                        // counter by exactly one worker, so no two calls
                        // write the same bytes; the workspace is this
                        // worker's own, 64-byte aligned and at least
                        // `workspace_size` bytes (`reserve`); the pointer
                        // tables have one entry per parameter and output.
                        // `entry` borrows `f`, which outlives the batch.
                        unsafe {
                            entry.call(
                                w.ins.as_ptr().cast(),
                                w.outs.as_ptr().cast(),
                                w.mem.as_mut_ptr().cast(),
                            )
                        };
                    }
                }
            })
        });
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
) -> Result<(), BatchError> {
    if elem != want {
        return Err(BatchError::ElemType {
            kind,
            index,
            expected: want.name(),
            found: elem.name(),
        });
    }
    if len != want_len {
        return Err(BatchError::Length {
            kind,
            index,
            expected: want_len,
            found: len,
        });
    }
    Ok(())
}
