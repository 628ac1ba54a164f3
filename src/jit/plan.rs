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
//! ## Splitting
//! Steps are grouped into *chunks* of about `max_function_insts` estimated
//! CLIF instructions; each chunk is one Cranelift function and the entry calls
//! them in order. A rank-0 value used in a later chunk than the one computing
//! it is passed through an 8-byte workspace slot (those slots are reused once
//! dead, through a free list).

use super::error::CompileError;
use super::flat::{Def, Flat, Vid};
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
        let v = node.result;
        let val = flat.val(v);
        match fusion.class[v as usize] {
            Class::Dead | Class::Fused => {}
            Class::Scalar => match &node.op {
                Op::Reduce { op, .. } if flat.val(node.args[0]).rank() > 0 => {
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
                }
                _ if node.args.iter().all(|&a| flat.val(a).rank() == 0) => {
                    steps.push(Step::Scalar(ni));
                }
                _ => {
                    let mut k = Kernel::new(vec![]);
                    k.roots.push(Root::Point { value: v });
                    steps.push(Step::Kernel(Box::new(k)));
                }
            },
            Class::Buffer => match &node.op {
                Op::Const {
                    data: ConstData::Dense(_),
                    ..
                } => {}
                Op::Reduce { op, axes } => {
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
                Op::Matmul => {
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
                Op::ScatterAdd { axis, .. } => {
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
                Op::Pad {
                    lo,
                    interior,
                    value,
                    ..
                } if interior.iter().any(|&i| i > 0) => {
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
                _ => {
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
) -> Result<Plan, CompileError> {
    let n = flat.vals.len();
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
        let mut read = |v: Vid| {
            last_use[v as usize] = last_use[v as usize].max(si);
        };
        match s {
            Step::Scalar(ni) => {
                for &a in &flat.nodes[*ni].args {
                    read(a);
                }
            }
            Step::Kernel(k) => {
                for (b, _) in &k.leaves {
                    read(*b);
                }
                for &sc in &k.scalars {
                    read(sc);
                }
            }
            Step::Gemm(g) => {
                read(g.a_view.0);
                read(g.b_view.0);
            }
            Step::OutputScalar { value, .. } => read(*value),
        }
        let produced: Vec<Vid> = match s {
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
        };
        for p in produced {
            def_step[p as usize].get_or_insert(si);
        }
    }
    for (i, &p) in flat.params.iter().enumerate() {
        let _ = i;
        def_step[p as usize] = Some(0);
    }

    // Workspace buffers, first-fit by offset among live ones.
    let mut order: Vec<(usize, Vid)> = Vec::new();
    for v in 0..n {
        if fusion.class[v] == Class::Buffer
            && storage[v] == Storage::None
            && let Some(d) = def_step[v]
        {
            order.push((d, v as Vid));
        }
    }
    order.sort_unstable();
    let workspace_buffers = order.len();
    let mut active: Vec<(usize, usize, usize)> = Vec::new(); // (offset, size, last use)
    let mut placed: Vec<(Vid, usize, usize, usize, usize)> = Vec::new(); // (value, offset, size, def, last use)
    let mut size = 0usize;
    let too_large = || CompileError::TooLarge {
        func: flat.name.clone(),
        what: "the workspace".into(),
    };
    for (d, v) in order {
        active.retain(|a| a.2 >= d);
        let val = flat.val(v);
        let bytes = val
            .len
            .checked_mul(val.elem.byte_size())
            .and_then(|b| b.checked_add(ALIGN - 1))
            .ok_or_else(too_large)?
            / ALIGN
            * ALIGN;
        let bytes = bytes.max(ALIGN);
        active.sort_unstable();
        let mut off = 0usize;
        for a in &active {
            if off + bytes <= a.0 {
                break;
            }
            off = off.max(a.0 + a.1);
        }
        active.push((off, bytes, last_use[v as usize].max(d)));
        placed.push((v, off, bytes, d, last_use[v as usize].max(d)));
        storage[v as usize] = Storage::Workspace(off);
        size = size.max(off.checked_add(bytes).ok_or_else(too_large)?);
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
    let mut stable: Vec<bool> = (0..n)
        .map(|v| {
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
            let lu = last_use[v];
            if def_chunk != usize::MAX && lu < steps.len() && chunk_of[lu] != def_chunk {
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
    let workspace_size = if next > 0 { base + 8 * next } else { size };
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
