//! Fusion decisions: which values live in registers, which in buffers, and
//! which are recomputed inside their consumers' loops.
//!
//! Every live value gets a [`Class`]:
//! - [`Class::Scalar`]: rank 0. Computed once, held in a CLIF register.
//! - [`Class::Buffer`]: materialised: a parameter, an output, a dense
//!   constant, or an intermediate in a workspace slot. The root of a kernel.
//! - [`Class::Fused`]: recomputed, element by element, inside the loop nest of
//!   every kernel that reads it; never stored.
//!
//! Reductions, matrix products, `scatter_add`, dense constants and pads with
//! interior padding are always materialised (they are kernel roots, not
//! per-element expressions). Everything elementwise, and every data-movement
//! op (broadcast, transpose, slice, reshape, pad, concat, gather, iota), can be
//! fused.
//!
//! ## The cost model
//!
//! Decisions are made in reverse definition order, so when a value is decided
//! all its consumers are. `evals[v]` estimates how many times `v`'s element
//! expression is evaluated if `v` is fused: the sum, over its consumers, of how
//! often they evaluate it (a consumer loop over a broadcast of `v` evaluates
//! `v` once per element of the broadcast; fused elementwise consumers evaluate
//! it at the same points, which the kernel computes once, so they count as
//! one). `tree_cost[v]` estimates the work of
//! one evaluation (a load ½, an add 1, a division 4, a transcendental 20;
//! an operand used twice by one op counted once).
//! A fusible value is fused when it is evaluated once per element
//! (`evals ≤ len`: fusion is then pure gain), or when the extra work of
//! recomputing, `tree_cost · (evals/len − 1)`, is at most
//! [`RECOMPUTE_BUDGET`] — the cost of a store and a reload per element, plus
//! the cache traffic of a buffer. So a cheap expression shared by two or three
//! loops is recomputed; an `exp` read by two loops is materialised; anything
//! non-trivial broadcast into a much larger loop is materialised.
//!
//! Two constraints override the model: the operands of a GEMM call and the
//! indexed operand of `gather` must be *buffer views* (a chain of transposes,
//! slices and unit reshapes over a buffer, addressed by strides), and the
//! operand of a reshape that regroups axes must be a buffer of its own.
//! Finally, a fused expression tree larger than [`MAX_FUSED_NODES`] is cut by
//! materialising it, which bounds the size of every loop body.
//!
//! Loops (`scan`, `while`) call compiled functions through pointers: their
//! tensor operands and results are buffers, their rank-0 ones scalars that
//! pass through workspace slots (see [`super::plan`]).

use super::classify::{self, lowering};
use super::flat::{Flat, Vid, is_loop};
use super::options::Options;
use adjit_ir::{Elem, Op};
use std::collections::HashSet;

/// Where a value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    /// Does not reach an output.
    Dead,
    /// A rank-0 value in a register.
    Scalar,
    /// A materialised tensor.
    Buffer,
    /// A tensor recomputed inside its consumers.
    Fused,
}

/// Extra work (in the units of [`op_cost`]) per element that fusion may spend
/// on recomputation before materialising is preferred: about what a store,
/// the reloads and the cache traffic of a buffer cost.
pub(crate) const RECOMPUTE_BUDGET: f64 = 12.0;

/// The cost of reading an element of a buffer inside a fused expression. Less
/// than an arithmetic op: a recomputed expression re-reads addresses its
/// kernel reads anyway (same or neighbouring elements, in L1).
pub(crate) const LOAD_COST: f64 = 0.5;

/// The largest fused expression tree, in nodes.
pub(crate) const MAX_FUSED_NODES: u64 = 160;

/// The decisions for one flat graph.
pub(crate) struct Fusion {
    pub class: Vec<Class>,
    /// Per node: the `matmul` calls the GEMM library.
    pub gemm: Vec<bool>,
}

const VIEW: u8 = 1;
const NO_BROADCAST: u8 = 2;

/// Whether a reshape only inserts or removes axes of size 1 (then it is a
/// renaming of axes, not a regrouping).
pub(crate) fn is_unit_reshape(from: &[usize], to: &[usize]) -> bool {
    let a = from.iter().filter(|&&d| d != 1);
    let b = to.iter().filter(|&&d| d != 1);
    a.eq(b)
}

/// Per-element cost of an op (see [`classify`]).
pub(crate) fn op_cost(op: &Op) -> f64 {
    classify::classify(op).cost
}

/// Whether an op can be evaluated per element inside a consumer's loop.
fn fusible(op: &Op) -> bool {
    lowering(op).fusible()
}

/// Whether `matmul(a, b)` with these operand shapes calls the GEMM library.
pub(crate) fn use_gemm(elem: Elem, a: &[usize], b: &[usize], opts: &Options) -> bool {
    let r = a.len();
    let (m, k, n) = (a[r - 2], a[r - 1], b[r - 1]);
    !opts.strict_order
        && elem.is_float()
        && m > 1
        && n > 1
        && k > 0
        && m.saturating_mul(n).saturating_mul(k) >= opts.gemm_min_flops
}

/// Classifies every value. `forced` values are materialised whatever the
/// cost model says (the kernel builder uses it to cut loop nests that would
/// split into too many regions).
pub(crate) fn classify(flat: &Flat, opts: &Options, forced: &HashSet<Vid>) -> Fusion {
    let n = flat.vals.len();
    let mut class = vec![Class::Dead; n];
    let mut gemm = vec![false; flat.nodes.len()];
    let mut evals = vec![0f64; n];
    // Evaluations by fused elementwise consumers, at the consumer's own
    // index: the kernel evaluates a (value, index map) pair once per point,
    // so these coincide and count once (the largest), not once per consumer.
    let mut shared = vec![0f64; n];
    let mut needs_view = vec![0u8; n];
    let mut needs_buffer = vec![false; n];
    let mut is_output = vec![false; n];
    for &o in &flat.outputs {
        is_output[o as usize] = true;
    }

    // Forward: the cost of one evaluation of each value's fusible tree.
    let mut tree_cost = vec![LOAD_COST; n];
    for node in &flat.nodes {
        if fusible(&node.op) {
            let mut args = node.args.clone();
            args.sort_unstable();
            args.dedup();
            let c = op_cost(&node.op) + args.iter().map(|&a| tree_cost[a as usize]).sum::<f64>();
            tree_cost[node.result as usize] = c.min(1e12);
        }
    }

    for (ni, node) in flat.nodes.iter().enumerate().rev() {
        if is_loop(&node.op) {
            // Results are written by the compiled body through pointers;
            // operands are passed as pointers, so tensors must be buffers
            // (rank-0 operands go through workspace slots).
            if node.results.iter().any(|&r| flat.live[r as usize]) {
                for &r in &node.results {
                    class[r as usize] = match (flat.live[r as usize], flat.val(r).rank()) {
                        (false, _) => Class::Dead,
                        (true, 0) => Class::Scalar,
                        (true, _) => Class::Buffer,
                    };
                }
                for &a in &node.args {
                    needs_buffer[a as usize] = true;
                }
            }
            continue;
        }
        let v = node.result as usize;
        if !flat.live[v] {
            continue;
        }
        let val = &flat.vals[v];
        // Whether this op keeps its result a buffer view (the operand of a
        // GEMM call or the indexed operand of a gather) when fused.
        let view_op_ok = |flags: u8| match &node.op {
            Op::Transpose { .. } | Op::Slice { .. } => true,
            Op::Reshape { .. } => is_unit_reshape(&flat.val(node.args[0]).shape, &val.shape),
            Op::Broadcast { .. } => flags & NO_BROADCAST == 0,
            Op::Const { .. }
            | Op::Iota { .. }
            | Op::Size { .. }
            | Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::Reduce { .. }
            | Op::Concat { .. }
            | Op::Pad { .. }
            | Op::Gather { .. }
            | Op::ScatterAdd { .. }
            | Op::Matmul
            | Op::Convert { .. }
            | Op::Call { .. }
            | Op::Scan { .. }
            | Op::While { .. }
            | Op::ScanAdjoint { .. } => false,
        };
        let c = if val.rank() == 0 {
            Class::Scalar
        } else if is_output[v]
            || forced.contains(&(v as Vid))
            || needs_buffer[v]
            || !opts.fusion
            || !fusible(&node.op)
            || (needs_view[v] != 0 && !view_op_ok(needs_view[v]))
        {
            Class::Buffer
        } else {
            let len = val.len.max(1) as f64;
            let ratio = (evals[v] + shared[v]) / len;
            if ratio <= 1.0 + 1e-9 || tree_cost[v] * (ratio - 1.0) <= RECOMPUTE_BUDGET {
                Class::Fused
            } else {
                Class::Buffer
            }
        };
        class[v] = c;

        // How often this node's operands are evaluated per evaluation of it.
        let e = match c {
            Class::Fused => evals[v] + shared[v],
            Class::Dead | Class::Scalar | Class::Buffer => val.len as f64,
        };
        let len_v = val.len.max(1) as f64;
        match &node.op {
            Op::Reduce { .. } => {
                let x = node.args[0] as usize;
                evals[x] += flat.vals[x].len as f64;
            }
            Op::Matmul => {
                let (a, b) = (node.args[0], node.args[1]);
                let (sa, sb) = (&flat.val(a).shape, &flat.val(b).shape);
                if use_gemm(val.elem, sa, sb, opts) {
                    gemm[ni] = true;
                    needs_view[a as usize] |= VIEW | NO_BROADCAST;
                    needs_view[b as usize] |= VIEW | NO_BROADCAST;
                } else {
                    let k = sa[sa.len() - 1] as f64;
                    let space = val.len as f64 * k;
                    evals[a as usize] += space;
                    evals[b as usize] += space;
                }
            }
            Op::ScatterAdd { .. } => {
                let upd = flat.vals[node.args[0] as usize].len as f64;
                evals[node.args[0] as usize] += upd;
                evals[node.args[1] as usize] += upd;
            }
            Op::Pad { .. } | Op::Concat { .. } => {
                for &o in &node.args {
                    let lo = flat.vals[o as usize].len as f64;
                    evals[o as usize] += e * lo / len_v;
                }
            }
            Op::Gather { .. } => {
                needs_view[node.args[0] as usize] |= VIEW;
                evals[node.args[1] as usize] += e;
            }
            Op::Reshape { .. } => {
                let x = node.args[0] as usize;
                evals[x] += e;
                if is_unit_reshape(&flat.vals[x].shape, &val.shape) {
                    if c == Class::Fused {
                        needs_view[x] |= needs_view[v];
                    }
                } else {
                    needs_buffer[x] = true;
                }
            }
            Op::Transpose { .. } | Op::Slice { .. } | Op::Broadcast { .. } => {
                let x = node.args[0] as usize;
                evals[x] += e;
                if c == Class::Fused {
                    needs_view[x] |= needs_view[v];
                }
            }
            Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Convert { .. } => {
                let mut args = node.args.clone();
                args.sort_unstable();
                args.dedup();
                for o in args {
                    let o = o as usize;
                    if c == Class::Fused {
                        shared[o] = shared[o].max(e);
                    } else {
                        evals[o] += e;
                    }
                }
            }
            Op::Const { .. }
            | Op::Iota { .. }
            | Op::Size { .. }
            | Op::Call { .. }
            | Op::Scan { .. }
            | Op::While { .. }
            | Op::ScanAdjoint { .. } => {}
        }
    }
    for &p in &flat.params {
        class[p as usize] = if flat.val(p).rank() == 0 {
            Class::Scalar
        } else {
            Class::Buffer
        };
    }

    // Forward: cut fused trees that grew too large.
    let mut size = vec![1u64; n];
    for node in &flat.nodes {
        let v = node.result as usize;
        if class[v] != Class::Fused {
            continue;
        }
        let s = 1 + node
            .args
            .iter()
            .filter(|&&a| class[a as usize] == Class::Fused)
            .map(|&a| size[a as usize])
            .fold(0u64, u64::saturating_add);
        if s > MAX_FUSED_NODES {
            class[v] = Class::Buffer;
        } else {
            size[v] = s;
        }
    }
    Fusion { class, gemm }
}
