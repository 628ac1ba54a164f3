//! The program plan: steps in execution order, where every value is stored,
//! the workspace layout, and the split into Cranelift functions.
//!
//! ## Steps
//! One [`Step`] per materialised value (a kernel, a GEMM call) or rank-0 op
//! (a register computation), in definition order; then the stores of scalar
//! outputs and the copies into output buffers that are not produced in place.
//!
//! ## Buffer planning
//! Inputs and outputs live in the caller's buffers; dense constants in the
//! compiled function's constant pool; every other materialised tensor gets a
//! workspace slot. A slot is live from the step that writes it to the last
//! step that reads it (a step's outputs never share memory with its inputs).
//! Slots are placed first-fit by offset among the slots live at the same time,
//! aligned to [`ALIGN`] bytes, so the workspace is close to the largest live
//! set, not the sum of all intermediates.
//!
//! ## Loops
//! A `scan` or `while` is one [`Step::Loop`]: a native loop (emitted by
//! [`super::codegen`]) calling its body's (and condition's) compiled entry
//! once per step. Besides its results, a loop step owns a *scratch region*
//! of the workspace, live only during the step, holding the pointer tables
//! it passes, the spare carry buffers (carries are double-buffered: a step
//! never writes the buffer it reads), a row for per-step outputs nobody
//! reads, and the callees' own workspace. Its size is fixed here, from the
//! result types and the callees' workspace sizes, whatever the trip count.
//! Rank-0 operands and results of loops live in 8-byte slots (as scalars
//! crossing functions do), so they can be passed by pointer. A
//! `scan_adjoint` is a loop step too, whose scratch region is laid out by
//! its descriptor ([`super::adjoint`]): snapshots sized from the policy and
//! the maximum trip count.
//!
//! ## Splitting
//! Steps are grouped into *chunks* of about `max_function_insts` estimated
//! CLIF instructions; each chunk is one Cranelift function and the entry calls
//! them in order. A rank-0 value used in a later chunk than the one computing
//! it is passed through an 8-byte workspace slot (those slots are reused once
//! dead, through a free list).

use super::adjoint::{AdjointDesc, AdjointShape};
use super::classify::{Lowering, lowering};
use super::error::CompileError;
use super::flat::{Def, Flat, Vid, is_loop};
use super::fusion::{Class, Fusion, is_unit_reshape};
use super::kernel::{Addr, GemmStep, Kernel, Root, resolve_view, strides};
use super::options::Options;
use adjit_ir::typing::reduce_identity;
use adjit_ir::{ConstData, Op, Scalar};
use std::collections::HashMap;

/// Workspace alignment in bytes.
pub(crate) const ALIGN: usize = 64;

/// Where a materialised value lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Storage {
    /// Not materialised (a register or fused value).
    None,
    /// The caller's input `i`.
    Input(usize),
    /// The caller's output `i`.
    Output(usize),
    /// Byte offset into the constant pool.
    Const(usize),
    /// Byte offset into the workspace.
    Workspace(usize),
}

/// One unit of generated code.
pub(crate) enum Step {
    /// A rank-0 op on rank-0 operands, computed in registers.
    Scalar(usize),
    /// A loop nest.
    Kernel(Box<Kernel>),
    /// A call of the GEMM library.
    Gemm(Box<GemmStep>),
    /// Stores a rank-0 value to output `output`.
    OutputScalar { value: Vid, output: usize },
    /// A `scan`, `while` or `scan_adjoint` calling compiled functions.
    Loop(Box<LoopStep>),
}

impl Step {
    /// The values this step reads: buffers it loads and rank-0 values it
    /// uses (parameters included).
    pub fn reads(&self, flat: &Flat) -> Vec<Vid> {
        match self {
            Step::Scalar(ni) => flat.nodes[*ni].args.clone(),
            Step::Kernel(k) => k
                .leaves
                .iter()
                .map(|l| l.0)
                .chain(k.scalars.iter().copied())
                .collect(),
            Step::Gemm(g) => vec![g.a_view.0, g.b_view.0],
            Step::OutputScalar { value, .. } => vec![*value],
            Step::Loop(l) => flat.nodes[l.node].args.clone(),
        }
    }

    /// The values this step writes (copies into output buffers write no
    /// value; dead results of a loop are not written anywhere).
    pub fn writes(&self, flat: &Flat, fusion: &Fusion) -> Vec<Vid> {
        match self {
            Step::Scalar(ni) => vec![flat.nodes[*ni].result],
            Step::Kernel(k) => k
                .roots
                .iter()
                .filter(|r| {
                    !matches!(
                        r,
                        Root::Store {
                            output: Some(_),
                            ..
                        }
                    )
                })
                .map(|r| r.produces())
                .collect(),
            Step::Gemm(g) => vec![g.result],
            Step::OutputScalar { .. } => vec![],
            Step::Loop(l) => flat.nodes[l.node]
                .results
                .iter()
                .copied()
                .filter(|&r| fusion.class[r as usize] != Class::Dead)
                .collect(),
        }
    }
}

/// A loop step: node, callees and the layout of its scratch region.
pub(crate) struct LoopStep {
    /// The loop node.
    pub node: usize,
    /// The body's program.
    pub body: usize,
    /// The condition's program (`while`) or the adjoint's (`scan_adjoint`).
    pub cond: Option<usize>,
    /// Byte offset of the scratch region in the workspace.
    pub scratch: usize,
    /// The layout of the scratch region (offsets relative to it).
    pub layout: LoopLayout,
    /// A `scan_adjoint`'s descriptor (its scratch layout is the
    /// descriptor's; `layout` then only gives the size).
    pub adjoint: Option<Box<AdjointDesc>>,
    /// A `scan` whose states a later store-all `scan_adjoint` reverses:
    /// where it writes them.
    pub record_into: Option<RecordInto>,
}

/// Where a forward `scan` writes the states of a later `scan_adjoint` of
/// the same recurrence: state `s + 1` (`s + 1 < length`) of carry `c` at
/// `base + s·record + offsets[c]` in the workspace.
#[derive(Clone, Debug)]
pub(crate) struct RecordInto {
    pub base: usize,
    pub record: usize,
    pub offsets: Vec<usize>,
}

/// Offsets (bytes, relative to the scratch region) of a loop's scratch.
#[derive(Clone, Debug, Default)]
pub(crate) struct LoopLayout {
    /// The callees' input pointer table.
    pub in_table: usize,
    /// The body's output pointer table.
    pub out_table: usize,
    /// The condition's output pointer table (one entry) and its result.
    pub cond_table: usize,
    /// The condition's bool result.
    pub cond_out: usize,
    /// Per carry: the two buffers steps write alternately (`None`: the
    /// result's own storage), the first by the last step of a `scan` and by
    /// the first step of a `while`.
    pub carry_bufs: Vec<[Option<usize>; 2]>,
    /// Per stacked output: a one-row buffer when the result is dead.
    pub ys_row: Vec<Option<usize>>,
    /// The callees' workspace.
    pub callee_ws: usize,
    /// Total bytes.
    pub size: usize,
}

/// What the plan of a loop needs to know about a compiled callee.
#[derive(Clone, Debug)]
pub(crate) struct Callee {
    /// Its program index.
    pub program: usize,
    /// Its workspace size.
    pub workspace: usize,
    /// Bytes of each of its outputs.
    pub outputs: Vec<usize>,
}

/// The function names a loop op calls: body, then condition (`while`) or
/// adjoint (`scan_adjoint`).
pub(crate) fn loop_callees(op: &Op) -> Option<(&str, Option<&str>)> {
    match op {
        Op::Scan { body, .. } => Some((&**body, None)),
        Op::While { cond, body, .. } => Some((&**body, Some(&**cond))),
        Op::ScanAdjoint { body, adjoint, .. } => Some((&**body, Some(&**adjoint))),
        Op::Const { .. }
        | Op::Iota { .. }
        | Op::Size { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Broadcast { .. }
        | Op::Reduce { .. }
        | Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Concat { .. }
        | Op::Pad { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::Matmul
        | Op::Convert { .. }
        | Op::Call { .. } => None,
    }
}

/// The plan of a whole function.
pub(crate) struct Plan {
    pub steps: Vec<Step>,
    pub storage: Vec<Storage>,
    /// Workspace slot (byte offset) of rank-0 values crossing chunks.
    pub slot: HashMap<Vid, usize>,
    /// Bytes of workspace needed.
    pub workspace_size: usize,
    /// The constant pool (dense constants), 8-byte aligned entries.
    pub consts: Vec<u8>,
    /// Step ranges of each chunk.
    pub chunks: Vec<std::ops::Range<usize>>,
    /// Number of workspace buffers (tensor slots, before sharing).
    pub workspace_buffers: usize,
    /// Per value: its buffer is not written, in any function that reads it,
    /// after it is produced (so its loads may be moved and merged freely).
    pub stable: Vec<bool>,
}

/// Builds the step list.
pub(crate) fn build_steps(
    flat: &Flat,
    fusion: &Fusion,
    opts: &Options,
) -> Result<Vec<Step>, CompileError> {
    let mut steps = Vec::new();
    for (ni, node) in flat.nodes.iter().enumerate() {
        if is_loop(&node.op) {
            if node.results.iter().any(|&r| flat.live[r as usize]) {
                steps.push(Step::Loop(Box::new(LoopStep {
                    node: ni,
                    body: 0,
                    cond: None,
                    scratch: 0,
                    layout: LoopLayout::default(),
                    adjoint: None,
                    record_into: None,
                })));
            }
            continue;
        }
        let v = node.result;
        let val = flat.val(v);
        match fusion.class[v as usize] {
            Class::Dead | Class::Fused => {}
            // A rank-0 value: a full reduction of a tensor is a kernel; an
            // op on rank-0 operands a register computation; any other op
            // (reading tensors at one point) a kernel of rank 0.
            Class::Scalar => {
                if let Op::Reduce { op, .. } = &node.op
                    && flat.val(node.args[0]).rank() > 0
                {
                    let x = node.args[0];
                    let xs = flat.val(x).shape.clone();
                    let mut k = Kernel::new(xs.clone());
                    let reduced = (0..xs.len()).fold(0u64, |m, a| m | 1 << a);
                    k.roots.push(Root::Reduce {
                        op: *op,
                        operand: x,
                        result: v,
                        addr: Addr {
                            off: 0,
                            coef: vec![0; xs.len()],
                            dyns: vec![],
                        },
                        reduced,
                    });
                    steps.push(Step::Kernel(Box::new(k)));
                } else if node.args.iter().all(|&a| flat.val(a).rank() == 0) {
                    steps.push(Step::Scalar(ni));
                } else {
                    let mut k = Kernel::new(vec![]);
                    k.roots.push(Root::Point { value: v });
                    steps.push(Step::Kernel(Box::new(k)));
                }
            }
            Class::Buffer => match lowering(&node.op) {
                Lowering::DenseConst => {}
                Lowering::Reduce => {
                    let Op::Reduce { op, axes } = &node.op else {
                        return Err(internal_plan("a reduction that is not a reduce"));
                    };
                    let x = node.args[0];
                    let xs = flat.val(x).shape.clone();
                    let st = strides(&val.shape);
                    let mut coef = vec![0i64; xs.len()];
                    let mut j = 0;
                    let mut reduced = 0u64;
                    for (a, c) in coef.iter_mut().enumerate() {
                        if axes.contains(&a) {
                            reduced |= 1 << a;
                        } else {
                            *c = st[j];
                            j += 1;
                        }
                    }
                    let mut k = Kernel::new(xs);
                    k.roots.push(Root::Reduce {
                        op: *op,
                        operand: x,
                        result: v,
                        addr: Addr {
                            off: 0,
                            coef,
                            dyns: vec![],
                        },
                        reduced,
                    });
                    steps.push(Step::Kernel(Box::new(k)));
                }
                Lowering::Contraction => {
                    let (a, b) = (node.args[0], node.args[1]);
                    if fusion.gemm[ni] {
                        steps.push(Step::Gemm(Box::new(GemmStep {
                            a,
                            result: v,
                            a_view: resolve_view(flat, fusion, a)?,
                            b_view: resolve_view(flat, fusion, b)?,
                        })));
                    } else {
                        let sa = &flat.val(a).shape;
                        let r = sa.len();
                        let mut space = val.shape.clone();
                        space.push(sa[r - 1]);
                        let st = strides(&val.shape);
                        let mut coef = st.clone();
                        coef.push(0);
                        let mut k = Kernel::new(space);
                        k.roots.push(Root::Matmul {
                            a,
                            b,
                            result: v,
                            addr: Addr {
                                off: 0,
                                coef,
                                dyns: vec![],
                            },
                            reduced: 1 << r,
                        });
                        steps.push(Step::Kernel(Box::new(k)));
                    }
                }
                Lowering::Scatter => {
                    let Op::ScatterAdd { axis, .. } = &node.op else {
                        return Err(internal_plan("a scatter that is not a scatter_add"));
                    };
                    let (upd, idx) = (node.args[0], node.args[1]);
                    let mut k = Kernel::new(flat.val(upd).shape.clone());
                    k.fills.push((v, Scalar::from_f64(val.elem, 0.0)));
                    k.roots.push(Root::Scatter {
                        updates: upd,
                        indices: idx,
                        axis: *axis,
                        result: v,
                    });
                    steps.push(Step::Kernel(Box::new(k)));
                }
                Lowering::StridedStore => {
                    let Op::Pad {
                        lo,
                        interior,
                        value,
                        ..
                    } = &node.op
                    else {
                        return Err(internal_plan("a strided store that is not a pad"));
                    };
                    let x = node.args[0];
                    let xs = flat.val(x).shape.clone();
                    let st = strides(&val.shape);
                    let mut off = 0i64;
                    let mut coef = Vec::with_capacity(xs.len());
                    for a in 0..xs.len() {
                        off += lo[a].known().unwrap_or(0) * st[a];
                        coef.push((interior[a] as i64 + 1) * st[a]);
                    }
                    let mut k = Kernel::new(xs);
                    k.fills.push((v, *value));
                    k.roots.push(Root::Store {
                        value: x,
                        own: false,
                        dest: v,
                        output: None,
                        addr: Addr {
                            off,
                            coef,
                            dyns: vec![],
                        },
                    });
                    steps.push(Step::Kernel(Box::new(k)));
                }
                Lowering::Elementwise
                | Lowering::Math(_)
                | Lowering::View
                | Lowering::Piecewise
                | Lowering::Leaf
                | Lowering::Gather
                | Lowering::Loop
                | Lowering::Call => {
                    let mut k = Kernel::new(val.shape.clone());
                    k.roots.push(Root::Store {
                        value: v,
                        own: true,
                        dest: v,
                        output: None,
                        addr: Addr {
                            off: 0,
                            coef: strides(&val.shape),
                            dyns: vec![],
                        },
                    });
                    steps.push(Step::Kernel(Box::new(k)));
                }
            },
        }
    }
    let _ = opts;
    let _ = is_unit_reshape;
    Ok(steps)
}

/// Assigns storage, adds output copies, plans the workspace and the chunks.
pub(crate) fn plan(
    flat: &Flat,
    fusion: &Fusion,
    mut steps: Vec<Step>,
    opts: &Options,
    callees: &HashMap<String, Callee>,
) -> Result<Plan, CompileError> {
    let n = flat.vals.len();
    let too_large = || CompileError::TooLarge {
        func: flat.name.clone(),
        what: "the workspace".into(),
    };
    // Rank-0 values passed to or returned by loops by pointer.
    let mut needs_slot = vec![false; n];
    for s in &mut steps {
        if let Step::Loop(l) = s {
            let node = &flat.nodes[l.node];
            let (body, cond) = loop_callees(&node.op).ok_or_else(|| internal_plan("not a loop"))?;
            let find = |name: &str| {
                callees
                    .get(name)
                    .ok_or_else(|| CompileError::UnknownFunction(name.to_string()))
            };
            let b = find(body)?;
            let c = cond.map(find).transpose()?;
            l.body = b.program;
            l.cond = c.map(|c| c.program);
            let callee_ws = b.workspace.max(c.map_or(0, |c| c.workspace));
            if let Op::ScanAdjoint { .. } = node.op {
                let desc = adjoint_desc(flat, node, b, callee_ws).ok_or_else(too_large)?;
                l.layout = LoopLayout {
                    size: desc.size,
                    ..LoopLayout::default()
                };
                l.adjoint = Some(Box::new(desc));
            } else {
                l.layout = loop_layout(flat, fusion, node, callee_ws).ok_or_else(too_large)?;
            }
            for &v in node.args.iter().chain(&node.results) {
                if flat.val(v).rank() == 0 && matches!(flat.val(v).def, Def::Node(_)) {
                    needs_slot[v as usize] = true;
                }
            }
        }
    }
    let mut storage = vec![Storage::None; n];
    let mut consts: Vec<u8> = Vec::new();
    for (i, &p) in flat.params.iter().enumerate() {
        if flat.val(p).rank() > 0 {
            storage[p as usize] = Storage::Input(i);
        }
    }
    for node in &flat.nodes {
        let v = node.result as usize;
        if fusion.class[v] == Class::Buffer
            && let Op::Const {
                data: ConstData::Dense(items),
                ..
            } = &node.op
        {
            while !consts.len().is_multiple_of(ALIGN) {
                consts.push(0);
            }
            storage[v] = Storage::Const(consts.len());
            for s in items.iter() {
                push_scalar(&mut consts, *s);
            }
        }
    }
    // Outputs produced in place: the first occurrence of each node-defined
    // buffer value not already stored elsewhere.
    for (i, &o) in flat.outputs.iter().enumerate() {
        if fusion.class[o as usize] == Class::Buffer && storage[o as usize] == Storage::None {
            storage[o as usize] = Storage::Output(i);
        }
    }
    for (i, &o) in flat.outputs.iter().enumerate() {
        let val = flat.val(o);
        if val.rank() == 0 {
            steps.push(Step::OutputScalar {
                value: o,
                output: i,
            });
        } else if storage[o as usize] != Storage::Output(i) {
            let mut k = Kernel::new(val.shape.clone());
            k.roots.push(Root::Store {
                value: o,
                own: false,
                dest: o,
                output: Some(i),
                addr: Addr {
                    off: 0,
                    coef: strides(&val.shape),
                    dyns: vec![],
                },
            });
            steps.push(Step::Kernel(Box::new(k)));
        }
    }

    // Analyse kernels (schedules, leaves).
    for s in &mut steps {
        if let Step::Kernel(k) = s {
            k.analyse(flat, fusion, opts);
        }
    }

    // Liveness of workspace buffers and scalars: first def, last use (step).
    let mut def_step: Vec<Option<usize>> = vec![None; storage.len()];
    let mut last_use: Vec<usize> = vec![0; storage.len()];
    for (si, s) in steps.iter().enumerate() {
        for v in s.reads(flat) {
            last_use[v as usize] = last_use[v as usize].max(si);
        }
        for p in s.writes(flat, fusion) {
            def_step[p as usize].get_or_insert(si);
        }
    }
    for (i, &p) in flat.params.iter().enumerate() {
        let _ = i;
        def_step[p as usize] = Some(0);
    }

    // A store-all reverse sweep of a recurrence a `scan` already runs
    // forward reads its states from that scan, which writes them into the
    // sweep's records: the sweep's scratch is live from the scan on.
    let pairs = shared_sweeps(flat, &steps);
    let mut scratch_def: HashMap<usize, usize> = HashMap::new();
    for &(si, ai) in &pairs {
        scratch_def.insert(ai, si);
        if let Step::Loop(a) = &mut steps[ai]
            && let Some(d) = &mut a.adjoint
        {
            d.precomputed = true;
        }
    }

    // Workspace buffers and loop scratch regions, first-fit by offset among
    // live ones. A scratch region is live during its step only (or from a
    // shared forward sweep on); it is keyed by a pseudo value past the last
    // real one (for the stability analysis).
    let mut order: Vec<(usize, Vid)> = Vec::new();
    for v in 0..n {
        if fusion.class[v] == Class::Buffer
            && storage[v] == Storage::None
            && let Some(d) = def_step[v]
        {
            order.push((d, v as Vid));
        }
    }
    for (si, s) in steps.iter().enumerate() {
        if let Step::Loop(_) = s {
            let def = scratch_def.get(&si).copied().unwrap_or(si);
            order.push((def, (n + si) as Vid));
        }
    }
    order.sort_unstable();
    let workspace_buffers = order.iter().filter(|o| (o.1 as usize) < n).count();
    let mut active: Vec<(usize, usize, usize)> = Vec::new(); // (offset, size, last use)
    let mut placed: Vec<(Vid, usize, usize, usize, usize)> = Vec::new(); // (value, offset, size, def, last use)
    let mut size = 0usize;
    for (d, v) in order {
        active.retain(|a| a.2 >= d);
        let (raw, last) = if (v as usize) < n {
            let val = flat.val(v);
            let raw = val
                .len
                .checked_mul(val.elem.byte_size())
                .ok_or_else(too_large)?;
            (raw, last_use[v as usize].max(d))
        } else {
            match &steps[v as usize - n] {
                Step::Loop(l) => (l.layout.size, v as usize - n),
                Step::Scalar(_) | Step::Kernel(_) | Step::Gemm(_) | Step::OutputScalar { .. } => {
                    return Err(internal_plan("scratch of a non-loop step"));
                }
            }
        };
        let bytes = raw.checked_add(ALIGN - 1).ok_or_else(too_large)? / ALIGN * ALIGN;
        let bytes = bytes.max(ALIGN);
        active.sort_unstable();
        let mut off = 0usize;
        for a in &active {
            if off.checked_add(bytes).ok_or_else(too_large)? <= a.0 {
                break;
            }
            off = off.max(a.0 + a.1);
        }
        active.push((off, bytes, last));
        placed.push((v, off, bytes, d, last));
        if (v as usize) < n {
            storage[v as usize] = Storage::Workspace(off);
        } else if let Step::Loop(l) = &mut steps[v as usize - n] {
            l.scratch = off;
        }
        size = size.max(off.checked_add(bytes).ok_or_else(too_large)?);
    }

    for &(si, ai) in &pairs {
        let into = match &steps[ai] {
            Step::Loop(a) => a.adjoint.as_ref().map(|d| RecordInto {
                base: a.scratch + d.records,
                record: d.record,
                offsets: d.carry_off.clone(),
            }),
            Step::Scalar(_) | Step::Kernel(_) | Step::Gemm(_) | Step::OutputScalar { .. } => None,
        };
        if let Step::Loop(s) = &mut steps[si] {
            s.record_into = into;
        }
    }

    // Chunks.
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut acc = 0usize;
    for (si, s) in steps.iter().enumerate() {
        let cost = match s {
            Step::Scalar(_) => 3,
            Step::Kernel(k) => k.estimated_insts(),
            Step::Gemm(_) => 40,
            Step::OutputScalar { .. } => 3,
            Step::Loop(l) => 40 + 4 * flat.nodes[l.node].args.len(),
        };
        if acc > 0 && acc + cost > opts.max_function_insts {
            chunks.push(start..si);
            start = si;
            acc = 0;
        }
        acc += cost;
    }
    chunks.push(start..steps.len());

    // Stability: a workspace value is unstable if a later value reusing its
    // memory is written in a function that also reads it (Cranelift may
    // otherwise sink a movable load of it past that write).
    let chunk_of_step = |s: usize| chunks.iter().position(|c| c.contains(&s)).unwrap_or(0);
    let mut stable: Vec<bool> = (0..n + steps.len())
        .map(|v| {
            if v >= n {
                return false;
            }
            matches!(
                storage[v],
                Storage::Input(_) | Storage::Const(_) | Storage::Output(_)
            )
        })
        .collect();
    let mut by_chunk: HashMap<usize, Vec<usize>> = HashMap::new();
    for (i, p) in placed.iter().enumerate() {
        by_chunk.entry(chunk_of_step(p.3)).or_default().push(i);
    }
    for p in &placed {
        let (first, last) = (chunk_of_step(p.3), chunk_of_step(p.4));
        let hazard = (first..=last).any(|c| {
            by_chunk.get(&c).is_some_and(|ws| {
                ws.iter().any(|&i| {
                    let w = &placed[i];
                    w.0 != p.0 && w.3 > p.3 && w.1 < p.1 + p.2 && p.1 < w.1 + w.2
                })
            })
        });
        stable[p.0 as usize] = !hazard;
    }
    stable.truncate(n);

    // Scalars crossing chunks get slots after the buffers.
    let mut chunk_of = vec![0usize; steps.len()];
    for (ci, c) in chunks.iter().enumerate() {
        for s in c.clone() {
            chunk_of[s] = ci;
        }
    }
    let mut slot = HashMap::new();
    let base = size.div_ceil(8) * 8;
    let mut crossing: Vec<(usize, usize, Vid)> = Vec::new();
    for v in 0..n {
        if fusion.class[v] == Class::Scalar
            && let Some(d) = def_step[v]
        {
            let def_chunk = if matches!(flat.vals[v].def, Def::Param(_)) {
                usize::MAX
            } else {
                chunk_of.get(d).copied().unwrap_or(0)
            };
            let lu = last_use[v].max(d);
            if def_chunk != usize::MAX
                && lu < steps.len()
                && (chunk_of[lu] != def_chunk || needs_slot[v])
            {
                crossing.push((d, lu, v as Vid));
            }
        }
    }
    crossing.sort_unstable();
    let mut free: Vec<usize> = Vec::new();
    let mut busy: std::collections::BinaryHeap<std::cmp::Reverse<(usize, usize)>> =
        Default::default();
    let mut next = 0usize;
    for (d, lu, v) in crossing {
        while let Some(std::cmp::Reverse((end, s))) = busy.peek().copied() {
            if end < d {
                busy.pop();
                free.push(s);
            } else {
                break;
            }
        }
        let s = free.pop().unwrap_or_else(|| {
            next += 1;
            next - 1
        });
        busy.push(std::cmp::Reverse((lu, s)));
        slot.insert(v, base + 8 * s);
    }
    let workspace_size = if next > 0 {
        next.checked_mul(8)
            .and_then(|b| b.checked_add(base))
            .ok_or_else(too_large)?
    } else {
        size
    };
    // The bound every value's size obeys (see `flat`): loops' snapshots and
    // stacks add up to more than any one value.
    if workspace_size > isize::MAX as usize / 4 {
        return Err(too_large());
    }
    Ok(Plan {
        steps,
        storage,
        slot,
        workspace_size,
        consts,
        chunks,
        workspace_buffers,
        stable,
    })
}

fn internal_plan(msg: &str) -> CompileError {
    CompileError::Internal(format!("plan: {msg}"))
}

/// Bytes of a value's buffer, rounded up to [`ALIGN`] (at least `ALIGN`).
fn aligned_size(flat: &Flat, v: Vid) -> Option<usize> {
    let val = flat.val(v);
    let raw = val.len.checked_mul(val.elem.byte_size())?;
    Some((raw.checked_add(ALIGN - 1)? / ALIGN * ALIGN).max(ALIGN))
}

/// Pairs `(scan step, scan_adjoint step)` where the reverse sweep keeps
/// every state and reverses, from the start, the recurrence the earlier
/// scan runs: same body, length, direction, consts, initial carry and
/// scanned inputs (the same values), no dynamic trip count. Each step is
/// in at most one pair.
fn shared_sweeps(flat: &Flat, steps: &[Step]) -> Vec<(usize, usize)> {
    let mut pairs = Vec::new();
    let mut taken = vec![false; steps.len()];
    for (ai, a) in steps.iter().enumerate() {
        let Step::Loop(a) = a else { continue };
        let Some(desc) = &a.adjoint else { continue };
        let Op::ScanAdjoint {
            body,
            length,
            reverse,
            n_consts,
            n_carry,
            n_xs,
            trips: false,
            ..
        } = &flat.nodes[a.node].op
        else {
            continue;
        };
        if desc.length == 0 || desc.slots.saturating_add(1) < desc.length {
            continue;
        }
        let forward = &flat.nodes[a.node].args[..n_consts + n_carry + n_xs];
        let found = steps[..ai].iter().enumerate().find(|(si, s)| {
            let Step::Loop(s) = s else { return false };
            let node = &flat.nodes[s.node];
            !taken[*si]
                && s.adjoint.is_none()
                && node.args == forward
                && matches!(&node.op, Op::Scan {
                    body: b,
                    length: l,
                    reverse: r,
                    n_consts: c,
                    n_carry: k,
                    ..
                } if b == body && l == length && r == reverse && c == n_consts && k == n_carry)
        });
        if let Some((si, _)) = found {
            taken[si] = true;
            pairs.push((si, ai));
        }
    }
    pairs
}

/// The descriptor of a `scan_adjoint` node (`None` on overflow).
fn adjoint_desc(
    flat: &Flat,
    node: &super::flat::FNode,
    body: &Callee,
    callee_ws: usize,
) -> Option<AdjointDesc> {
    let Op::ScanAdjoint {
        length,
        reverse,
        checkpoint,
        n_consts,
        n_carry,
        n_xs,
        n_acarry,
        trips,
        ..
    } = &node.op
    else {
        return None;
    };
    let length = usize::try_from(length.known()?).ok()?;
    let bytes = |v: Vid| {
        let val = flat.val(v);
        val.len.checked_mul(val.elem.byte_size())
    };
    let row = |v: Vid| {
        let val = flat.val(v);
        (val.len / length.max(1)).checked_mul(val.elem.byte_size())
    };
    let (nc, nk, nx, na) = (*n_consts, *n_carry, *n_xs, *n_acarry);
    let args = &node.args;
    let n_axs = args
        .len()
        .checked_sub(nc + nk + nx + na + usize::from(*trips))?;
    let axs0 = nc + nk + nx + na;
    AdjointDesc::new(AdjointShape {
        length,
        reverse: *reverse,
        policy: *checkpoint,
        trips: *trips,
        n_consts: nc,
        carry: args[nc..nc + nk]
            .iter()
            .map(|&v| bytes(v))
            .collect::<Option<_>>()?,
        xs: args[nc + nk..nc + nk + nx]
            .iter()
            .map(|&v| row(v))
            .collect::<Option<_>>()?,
        acarry: args[nc + nk + nx..axs0]
            .iter()
            .map(|&v| bytes(v))
            .collect::<Option<_>>()?,
        axs: args[axs0..axs0 + n_axs]
            .iter()
            .map(|&v| row(v))
            .collect::<Option<_>>()?,
        ays: node
            .results
            .get(na..)?
            .iter()
            .map(|&v| row(v))
            .collect::<Option<_>>()?,
        body_ys: body.outputs.get(nk..)?.to_vec(),
        callee_ws,
    })
}

/// The scratch layout of a loop node (`None` on overflow).
fn loop_layout(
    flat: &Flat,
    fusion: &Fusion,
    node: &super::flat::FNode,
    callee_ws: usize,
) -> Option<LoopLayout> {
    let (n_carry, n_ys) = match &node.op {
        Op::Scan { n_carry, .. } => (*n_carry, node.results.len().checked_sub(*n_carry)?),
        Op::While { .. } => (node.results.len().checked_sub(1)?, 0),
        Op::Const { .. }
        | Op::Iota { .. }
        | Op::Size { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Broadcast { .. }
        | Op::Reduce { .. }
        | Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Concat { .. }
        | Op::Pad { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::Matmul
        | Op::Convert { .. }
        | Op::Call { .. }
        | Op::ScanAdjoint { .. } => return None,
    };
    let mut at = 0usize;
    let mut take = |bytes: usize, align: usize| -> Option<usize> {
        let off = at.checked_add(align - 1)? / align * align;
        at = off.checked_add(bytes)?;
        Some(off)
    };
    let mut l = LoopLayout {
        in_table: take(node.args.len().checked_mul(8)?, 8)?,
        out_table: take(n_carry.checked_add(n_ys)?.checked_mul(8)?, 8)?,
        cond_table: take(8, 8)?,
        cond_out: take(8, 8)?,
        ..LoopLayout::default()
    };
    for &r in &node.results[..n_carry] {
        let dead = fusion.class[r as usize] == Class::Dead;
        let bytes = aligned_size(flat, r)?;
        let spare = take(bytes, ALIGN)?;
        l.carry_bufs.push(if dead {
            [Some(spare), Some(take(bytes, ALIGN)?)]
        } else {
            [None, Some(spare)]
        });
    }
    for &r in &node.results[n_carry..n_carry + n_ys] {
        if fusion.class[r as usize] == Class::Dead {
            let val = flat.val(r);
            let rows = val.shape.first().copied().unwrap_or(1).max(1);
            let row = (val.len / rows).checked_mul(val.elem.byte_size())?;
            l.ys_row.push(Some(take(row.max(8), ALIGN)?));
        } else {
            l.ys_row.push(None);
        }
    }
    l.callee_ws = take(callee_ws, ALIGN)?;
    l.size = at;
    Some(l)
}

fn push_scalar(out: &mut Vec<u8>, s: Scalar) {
    match s {
        Scalar::F64(x) => out.extend_from_slice(&x.to_ne_bytes()),
        Scalar::F32(x) => out.extend_from_slice(&x.to_ne_bytes()),
        Scalar::I64(x) => out.extend_from_slice(&x.to_ne_bytes()),
        Scalar::Bool(b) => out.push(u8::from(b)),
    }
}

/// The identity of a reduction, as a literal.
pub(crate) fn identity(op: adjit_ir::ReduceOp, elem: adjit_ir::Elem) -> Scalar {
    reduce_identity(op, elem)
}
