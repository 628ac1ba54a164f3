//! Kernels: loop nests over an iteration space that evaluate fused element
//! expressions, and their analysis.
//!
//! A [`Kernel`] has a *logical iteration space* (a concrete shape) and one or
//! more [`Root`]s: what is computed at every point of the space — an element
//! stored to a buffer, an element folded into a reduction, a product term of
//! an inline matrix product, a `scatter_add` update.
//!
//! Values are evaluated at an *index map*: for each axis of the value, an
//! [`Ax`] giving its index as an affine function of one logical loop index (or
//! a constant, or a clamped index loaded by a `gather`). Data-movement ops
//! only transform maps: a broadcast makes an axis constant 0, a transpose
//! permutes the map, a slice composes `start + step·i`, a reshape that only
//! adds or drops unit axes renames them. So a fused expression's leaves are
//! loads from buffers at affine addresses, `offset + Σ coef[k]·i[k]`.
//!
//! `pad` and `concat` are conditions on one logical axis: the operand is read
//! when `i[k]` lies in an interval, the padding value (or another operand) is
//! used otherwise. The analysis collects every interval end as a *breakpoint*
//! of its axis; the loop over that axis is split into segments at the
//! breakpoints, and in each segment every condition is statically known. So
//! `pad(a, lo=0, hi=1) + pad(b, lo=1, hi=0)` is one vector loop over the
//! interior with scalar edges, not a branch per element.
//!
//! The [`Schedule`] orders the logical axes into loops: the innermost loop is
//! the axis along which most leaves are contiguous (which is how an inline
//! matrix product becomes i-k-j with j vectorised, and `Xᵀ·r` accumulates
//! rows of `X`), adjacent loops that every address treats as one contiguous
//! range are collapsed, and axes of extent 1 disappear. The innermost loop is
//! vectorised (`f64x2`/`f32x4`) when every leaf is contiguous or invariant
//! along it and every value computed per lane is of the kernel's float type
//! or a mask; it is unrolled by up to 4 vectors.

use super::classify::lowering;
use super::error::CompileError;
use super::flat::{Flat, Vid};
use super::fusion::{Class, Fusion, is_unit_reshape};
use super::options::Options;
use adjit_ir::{ConstData, Elem, Op, ReduceOp, Scalar};
use std::collections::HashMap;

/// An interned index map.
pub(crate) type MapId = u32;

/// One axis of an index map.
#[derive(Clone, Copy, PartialEq, Eq, Hash, Debug)]
pub(crate) enum Ax {
    /// A fixed index.
    Const(i64),
    /// `start + step · i[axis]` (`step ≠ 0`).
    Lin { axis: u8, start: i64, step: i64 },
    /// `start + step · d` where `d` is the clamped gather index `id`.
    Dyn { id: u32, start: i64, step: i64 },
}

impl Ax {
    /// `start + step · self`.
    fn affine(self, start: i64, step: i64) -> Ax {
        match self {
            Ax::Const(c) => Ax::Const(start + step * c),
            Ax::Lin {
                axis,
                start: s,
                step: t,
            } => lin(axis, start + step * s, step * t),
            Ax::Dyn {
                id,
                start: s,
                step: t,
            } => Ax::Dyn {
                id,
                start: start + step * s,
                step: step * t,
            },
        }
    }
}

fn lin(axis: u8, start: i64, step: i64) -> Ax {
    if step == 0 {
        Ax::Const(start)
    } else {
        Ax::Lin { axis, start, step }
    }
}

/// Interned index maps of one kernel.
#[derive(Default)]
pub(crate) struct MapTable {
    maps: Vec<Vec<Ax>>,
    ids: HashMap<Vec<Ax>, MapId>,
}

impl MapTable {
    pub fn intern(&mut self, m: Vec<Ax>) -> MapId {
        if let Some(&id) = self.ids.get(&m) {
            return id;
        }
        let id = self.maps.len() as MapId;
        self.maps.push(m.clone());
        self.ids.insert(m, id);
        id
    }

    pub fn get(&self, id: MapId) -> &[Ax] {
        &self.maps[id as usize]
    }

    /// The identity map over `rank` logical axes.
    pub fn identity(&mut self, rank: usize) -> MapId {
        self.intern((0..rank).map(|a| lin(a as u8, 0, 1)).collect())
    }

    /// The identity map over `rank` axes, if interned.
    pub fn identity_id(&self, rank: usize) -> Option<MapId> {
        let m: Vec<Ax> = (0..rank).map(|a| lin(a as u8, 0, 1)).collect();
        self.ids.get(&m).copied()
    }
}

/// A condition "`i[axis]` in `[lo, hi)`" for each listed axis (all must
/// hold); `None` is "never".
pub(crate) type Cond = Option<Vec<(u8, i64, i64)>>;

/// A dynamic (gathered) index: the value of `idx` at `map`, clamped into
/// `[0, bound - 1]`.
#[derive(Clone, Debug)]
pub(crate) struct DynIx {
    pub idx: Vid,
    pub map: MapId,
    pub bound: usize,
}

/// An affine address in elements: `off + Σ coef[k]·i[k] + Σ scale·dyn`.
#[derive(Clone, PartialEq, Eq, Hash, Debug)]
pub(crate) struct Addr {
    pub off: i64,
    pub coef: Vec<i64>,
    pub dyns: Vec<(u32, i64)>,
}

/// How a value is evaluated at one index map.
#[derive(Clone, Debug)]
pub(crate) enum Plan {
    /// Elementwise op: operands at these maps.
    Args(Vec<(Vid, MapId)>),
    /// Data movement: the operand's value at this map.
    View(Vid, MapId),
    /// A load from a buffer at an address.
    Load(Vid, Addr),
    /// A register (rank-0 value).
    Register(Vid),
    /// `pad`: the operand if the condition holds, else the padding value.
    Pad(Cond, Vid, MapId, Scalar),
    /// `concat`: the operand whose condition holds.
    Concat(Vec<(Cond, Vid, MapId)>),
    /// `iota`: the index itself.
    Iota(Ax),
    /// A splat constant.
    Splat(Scalar),
    /// `gather`: the operand at a map holding a dynamic index.
    Gather { dyn_id: u32, x: Vid, xmap: MapId },
}

/// What a kernel computes at each point of its space.
#[derive(Clone, Debug)]
pub(crate) enum Root {
    /// `dest[dest_addr(i)] = value(i)`. With `own`, `value`'s own node is
    /// evaluated (it is the buffer being produced); otherwise `value` is read
    /// as an operand (a copy). With `output`, the destination is that output
    /// buffer rather than `dest`'s storage (a copy of `dest` into an output).
    Store {
        value: Vid,
        own: bool,
        dest: Vid,
        output: Option<usize>,
        addr: Addr,
    },
    /// A rank-0 value computed once (space of rank 0), kept in a register.
    Point { value: Vid },
    /// Folds `operand(i)` into `result` at `addr(i)` (coefficient 0 on the
    /// reduced axes). A rank-0 result is a register.
    Reduce {
        op: ReduceOp,
        operand: Vid,
        result: Vid,
        addr: Addr,
        reduced: u64,
    },
    /// Inline matrix product over `[batch.., m, n, k]`: sums `a·b` over `k`.
    Matmul {
        a: Vid,
        b: Vid,
        result: Vid,
        addr: Addr,
        reduced: u64,
    },
    /// `dest[.., clamp(indices(j)), ..] += updates(i)` over the updates' space.
    Scatter {
        updates: Vid,
        indices: Vid,
        axis: usize,
        result: Vid,
    },
}

impl Root {
    /// The reduction performed, if any.
    pub fn reduce_op(&self) -> Option<ReduceOp> {
        match self {
            Root::Reduce { op, .. } => Some(*op),
            Root::Matmul { .. } => Some(ReduceOp::Sum),
            Root::Store { .. } | Root::Point { .. } | Root::Scatter { .. } => None,
        }
    }

    /// The value this root produces.
    pub fn produces(&self) -> Vid {
        match self {
            Root::Store { dest, .. } => *dest,
            Root::Point { value } => *value,
            Root::Reduce { result, .. }
            | Root::Matmul { result, .. }
            | Root::Scatter { result, .. } => *result,
        }
    }
}

/// Facts about one `(value, map)` pair of a kernel's expressions.
#[derive(Clone, Copy, Debug)]
pub(crate) struct NodeFacts {
    /// The logical axes the value depends on (bit `k` for axis `k`).
    pub deps: u64,
    pub elem: Elem,
    /// Whether its op can be computed on vector lanes (given its operands'
    /// element types), should it vary along the innermost loop.
    pub lane_ok: bool,
}

/// One loop of the schedule.
#[derive(Clone, Debug)]
pub(crate) struct LoopSpec {
    /// Logical axes, outer to inner, collapsed into this loop.
    pub axes: Vec<usize>,
    pub extent: usize,
    /// `[start, end)` ranges of the loop index, in order, covering `0..extent`.
    pub segments: Vec<(usize, usize)>,
}

/// Loop order, collapsing, vector width and unrolling of a kernel.
#[derive(Clone, Debug, Default)]
pub(crate) struct Schedule {
    pub loops: Vec<LoopSpec>,
    /// For each logical axis, the loop holding it (`None`: extent ≤ 1).
    pub axis_loop: Vec<Option<usize>>,
    /// Lanes per vector (1: scalar loops).
    pub width: usize,
    /// Vectors per iteration of the innermost loop.
    pub unroll: usize,
    /// Reductions fold in the interpreter's order.
    pub strict: bool,
}

/// A loop nest.
pub(crate) struct Kernel {
    pub space: Vec<usize>,
    pub roots: Vec<Root>,
    /// Buffers filled with a constant before the loops.
    pub fills: Vec<(Vid, Scalar)>,
    pub maps: MapTable,
    pub dyns: Vec<DynIx>,
    dyn_ids: HashMap<(Vid, MapId, usize), u32>,
    /// Filled by [`Kernel::analyse`].
    pub facts: HashMap<(Vid, MapId), NodeFacts>,
    /// How each `(value, map, own)` is evaluated.
    pub plans: HashMap<(Vid, MapId, bool), Plan>,
    /// The operand maps of a `Matmul` root.
    pub matmul_ids: Option<(MapId, MapId)>,
    /// The indices map of a `Scatter` root.
    pub scatter_ids: Option<MapId>,
    /// Distinct leaf loads.
    pub leaves: Vec<(Vid, Addr)>,
    /// Rank-0 values read.
    pub scalars: Vec<Vid>,
    /// Breakpoints per logical axis.
    pub breaks: Vec<Vec<usize>>,
    /// Axes that conditions or iotas refer to (never collapsed).
    pub special: u64,
    pub has_dyn: bool,
    pub sched: Schedule,
    /// sin, cos and tan are evaluated at the innermost level, never hoisted
    /// (their lowering branches to a fallback; see `transcend`).
    pub pin_trig: bool,
    /// Transcendental functions in the expressions (each a long inline
    /// kernel: they weigh on unrolling and function splitting).
    pub transcendentals: usize,
}

/// CLIF instructions of an inline transcendental kernel, roughly.
const TRANSCENDENTAL_INSTS: usize = 120;

/// A `deps` bit: evaluate at the innermost level whatever the axes.
pub(crate) const PINNED: u64 = 1 << 63;

/// Row-major strides of a shape, in elements.
pub(crate) fn strides(shape: &[usize]) -> Vec<i64> {
    let mut st = vec![0i64; shape.len()];
    let mut acc = 1i64;
    for a in (0..shape.len()).rev() {
        st[a] = acc;
        acc = acc.saturating_mul(shape[a] as i64);
    }
    st
}

/// The address of element `map` of a row-major buffer with strides `st`.
pub(crate) fn address(map: &[Ax], st: &[i64], nlog: usize) -> Addr {
    let mut addr = Addr {
        off: 0,
        coef: vec![0; nlog],
        dyns: Vec::new(),
    };
    for (ax, &s) in map.iter().zip(st) {
        match *ax {
            Ax::Const(c) => addr.off += c * s,
            Ax::Lin { axis, start, step } => {
                addr.off += start * s;
                addr.coef[axis as usize] += step * s;
            }
            Ax::Dyn { id, start, step } => {
                addr.off += start * s;
                if let Some(d) = addr.dyns.iter_mut().find(|d| d.0 == id) {
                    d.1 += step * s;
                } else {
                    addr.dyns.push((id, step * s));
                }
            }
        }
    }
    addr
}

/// The interval of `i` (a loop index in `0..extent`) where `lo ≤ start + step·i < hi`.
fn interval(start: i64, step: i64, lo: i64, hi: i64, extent: usize) -> (i64, i64) {
    debug_assert!(step > 0);
    let ceil_div = |a: i64, b: i64| a.div_euclid(b) + i64::from(a.rem_euclid(b) != 0);
    let a = ceil_div(lo - start, step).max(0);
    let b = ceil_div(hi - start, step).min(extent as i64);
    (a, b.max(a))
}

impl Kernel {
    pub fn new(space: Vec<usize>) -> Kernel {
        Kernel {
            breaks: vec![Vec::new(); space.len()],
            space,
            roots: Vec::new(),
            fills: Vec::new(),
            maps: MapTable::default(),
            dyns: Vec::new(),
            dyn_ids: HashMap::new(),
            facts: HashMap::new(),
            plans: HashMap::new(),
            matmul_ids: None,
            scatter_ids: None,
            leaves: Vec::new(),
            scalars: Vec::new(),
            special: 0,
            has_dyn: false,
            sched: Schedule::default(),
            pin_trig: false,
            transcendentals: 0,
        }
    }

    fn nlog(&self) -> usize {
        self.space.len()
    }

    /// A condition `lo ≤ ax < hi` as a [`Cond`] term, or a static answer.
    fn cond_term(&self, ax: Ax, lo: i64, hi: i64) -> Option<Option<(u8, i64, i64)>> {
        match ax {
            Ax::Const(c) => {
                if (lo..hi).contains(&c) {
                    Some(None)
                } else {
                    None
                }
            }
            Ax::Lin { axis, start, step } => {
                let (a, b) = interval(start, step, lo, hi, self.space[axis as usize]);
                if a >= b {
                    None
                } else {
                    Some(Some((axis, a, b)))
                }
            }
            // Dynamic indices only occur in the operand of a gather, which is
            // a chain of views without pads; treat as always true.
            Ax::Dyn { .. } => Some(None),
        }
    }

    fn and_cond(cond: &mut Cond, term: Option<Option<(u8, i64, i64)>>) {
        match (cond.as_mut(), term) {
            (None, _) => {}
            (Some(_), None) => *cond = None,
            (Some(_), Some(None)) => {}
            (Some(terms), Some(Some((axis, a, b)))) => {
                if let Some(t) = terms.iter_mut().find(|t| t.0 == axis) {
                    t.1 = t.1.max(a);
                    t.2 = t.2.min(b);
                    if t.1 >= t.2 {
                        *cond = None;
                    }
                } else {
                    terms.push((axis, a, b));
                }
            }
        }
    }

    /// How to evaluate `v` at `map`. With `own`, `v`'s node is evaluated even
    /// if `v` is materialised (the root of the kernel producing it).
    pub fn plan(&mut self, flat: &Flat, fusion: &Fusion, v: Vid, map: MapId, own: bool) -> Plan {
        let val = flat.val(v);
        let class = fusion.class[v as usize];
        if !own {
            match class {
                Class::Scalar => return Plan::Register(v),
                Class::Buffer | Class::Dead => {
                    let st = strides(&val.shape);
                    let addr = address(self.maps.get(map), &st, self.nlog());
                    return Plan::Load(v, addr);
                }
                Class::Fused => {}
            }
        }
        let node = flat.node_of(v).expect("a fused or own value has a node");
        let m: Vec<Ax> = self.maps.get(map).to_vec();
        match &node.op {
            Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Convert { .. } => {
                Plan::Args(node.args.iter().map(|&a| (a, map)).collect())
            }
            Op::Broadcast { dims, .. } => {
                let x = node.args[0];
                let xs = &flat.val(x).shape;
                let xm = dims
                    .iter()
                    .enumerate()
                    .map(|(i, &d)| if xs[i] == 1 { Ax::Const(0) } else { m[d] })
                    .collect();
                Plan::View(x, self.maps.intern(xm))
            }
            Op::Transpose { perm } => {
                let x = node.args[0];
                let mut xm = vec![Ax::Const(0); perm.len()];
                for (i, &p) in perm.iter().enumerate() {
                    xm[p] = m[i];
                }
                Plan::View(x, self.maps.intern(xm))
            }
            Op::Slice { ranges } => {
                let x = node.args[0];
                let xm = ranges
                    .iter()
                    .zip(&m)
                    .map(|(r, &ax)| {
                        let start = r.start.known().unwrap_or(0);
                        ax.affine(start, r.step as i64)
                    })
                    .collect();
                Plan::View(x, self.maps.intern(xm))
            }
            Op::Reshape { .. } => {
                let x = node.args[0];
                let xs = &flat.val(x).shape;
                if is_unit_reshape(xs, &val.shape) {
                    let mut kept = val
                        .shape
                        .iter()
                        .zip(&m)
                        .filter(|(d, _)| **d != 1)
                        .map(|(_, &ax)| ax);
                    let xm = xs
                        .iter()
                        .map(|&d| {
                            if d == 1 {
                                Ax::Const(0)
                            } else {
                                kept.next().unwrap_or(Ax::Const(0))
                            }
                        })
                        .collect();
                    Plan::View(x, self.maps.intern(xm))
                } else {
                    // The operand is a buffer of its own: address it by the
                    // row-major linear index of the result.
                    let st = strides(&val.shape);
                    Plan::Load(x, address(&m, &st, self.nlog()))
                }
            }
            Op::Pad { lo, value, .. } => {
                let x = node.args[0];
                let xs = flat.val(x).shape.clone();
                let mut cond: Cond = Some(Vec::new());
                let mut xm = Vec::with_capacity(m.len());
                for (a, &ax) in m.iter().enumerate() {
                    let lo_a = lo[a].known().unwrap_or(0);
                    let term = self.cond_term(ax, lo_a, lo_a + xs[a] as i64);
                    Self::and_cond(&mut cond, term);
                    xm.push(ax.affine(-lo_a, 1));
                }
                Plan::Pad(cond, x, self.maps.intern(xm), *value)
            }
            Op::Concat { axis } => {
                let mut off = 0i64;
                let mut parts = Vec::with_capacity(node.args.len());
                for &x in &node.args {
                    let len = flat.val(x).shape[*axis] as i64;
                    let mut cond: Cond = Some(Vec::new());
                    let term = self.cond_term(m[*axis], off, off + len);
                    Self::and_cond(&mut cond, term);
                    let mut xm = m.clone();
                    xm[*axis] = m[*axis].affine(-off, 1);
                    parts.push((cond, x, self.maps.intern(xm)));
                    off += len;
                }
                Plan::Concat(parts)
            }
            Op::Iota { axis, .. } => Plan::Iota(m[*axis]),
            Op::Const { data, .. } => match data {
                ConstData::Splat(s) => Plan::Splat(*s),
                // Rank-0 dense constants are registers; others are buffers.
                ConstData::Dense(items) => {
                    Plan::Splat(items.first().copied().unwrap_or(Scalar::F64(0.0)))
                }
            },
            Op::Size { dim, elem } => {
                Plan::Splat(Scalar::from_f64(*elem, dim.known().unwrap_or(0) as f64))
            }
            Op::Gather { axis } => {
                let (x, idx) = (node.args[0], node.args[1]);
                let ri = flat.val(idx).rank();
                let bound = flat.val(x).shape[*axis];
                let imap = self.maps.intern(m[*axis..*axis + ri].to_vec());
                let key = (idx, imap, bound);
                let id = match self.dyn_ids.get(&key) {
                    Some(&id) => id,
                    None => {
                        let id = self.dyns.len() as u32;
                        self.dyns.push(DynIx {
                            idx,
                            map: imap,
                            bound,
                        });
                        self.dyn_ids.insert(key, id);
                        id
                    }
                };
                let mut xm = m[..*axis].to_vec();
                xm.push(Ax::Dyn {
                    id,
                    start: 0,
                    step: 1,
                });
                xm.extend_from_slice(&m[*axis + ri..]);
                Plan::Gather {
                    dyn_id: id,
                    x,
                    xmap: self.maps.intern(xm),
                }
            }
            Op::Reduce { .. }
            | Op::Matmul
            | Op::ScatterAdd { .. }
            | Op::Call { .. }
            | Op::Scan { .. }
            | Op::While { .. }
            | Op::ScanAdjoint { .. } => {
                // Never fused; as an operand these are buffers (handled above).
                let st = strides(&val.shape);
                Plan::Load(v, address(&m, &st, self.nlog()))
            }
        }
    }

    fn note_cond(&mut self, cond: &Cond) -> u64 {
        let mut deps = 0;
        if let Some(terms) = cond {
            for &(axis, a, b) in terms {
                let ext = self.space[axis as usize];
                for p in [a, b] {
                    if p > 0 && (p as usize) < ext {
                        self.breaks[axis as usize].push(p as usize);
                    }
                }
                deps |= 1 << axis;
                self.special |= 1 << axis;
            }
        }
        deps
    }

    fn note_leaf(&mut self, v: Vid, addr: Addr) -> u64 {
        let mut deps = 0;
        for (k, &c) in addr.coef.iter().enumerate() {
            if c != 0 {
                deps |= 1 << k;
            }
        }
        for &(id, _) in &addr.dyns {
            deps |= self.dyn_deps(id);
        }
        if !self.leaves.iter().any(|l| l.0 == v && l.1 == addr) {
            self.leaves.push((v, addr));
        }
        deps
    }

    fn dyn_deps(&self, id: u32) -> u64 {
        let d = &self.dyns[id as usize];
        self.facts.get(&(d.idx, d.map)).map_or(0, |f| f.deps)
    }

    /// Walks the expression of `v` at `map`, recording facts, leaves,
    /// breakpoints and dynamic indices. Returns the facts of `v`.
    pub fn visit(
        &mut self,
        flat: &Flat,
        fusion: &Fusion,
        v: Vid,
        map: MapId,
        own: bool,
    ) -> NodeFacts {
        if !own && let Some(f) = self.facts.get(&(v, map)) {
            return *f;
        }
        let elem = flat.val(v).elem;
        let plan = self.plan(flat, fusion, v, map, own);
        let (deps, lane_ok) = match plan.clone() {
            Plan::Args(args) => {
                let mut deps = 0;
                let mut elems = Vec::with_capacity(args.len());
                for (a, m) in args {
                    let f = self.visit(flat, fusion, a, m, false);
                    deps |= f.deps;
                    elems.push(f.elem);
                }
                let op = &flat.node_of(v).expect("node").op;
                if let Some(f) = lowering(op).math() {
                    if self.pin_trig && f.is_trig() {
                        deps |= PINNED;
                    }
                    self.transcendentals += 1;
                }
                let lane_ok = (elem.is_float() || elem == Elem::Bool)
                    && elems.iter().all(|e| e.is_float() || *e == Elem::Bool);
                (deps, lane_ok)
            }
            Plan::View(x, m) => {
                let f = self.visit(flat, fusion, x, m, false);
                (f.deps, true)
            }
            Plan::Load(b, addr) => {
                let deps = self.note_leaf(b, addr);
                (deps, elem.is_float())
            }
            Plan::Register(s) => {
                if !self.scalars.contains(&s) {
                    self.scalars.push(s);
                }
                (0, true)
            }
            Plan::Pad(cond, x, m, _) => {
                let mut deps = self.note_cond(&cond);
                if cond.is_some() {
                    deps |= self.visit(flat, fusion, x, m, false).deps;
                }
                (deps, true)
            }
            Plan::Concat(parts) => {
                let mut deps = 0;
                for (cond, x, m) in parts {
                    deps |= self.note_cond(&cond);
                    if cond.is_some() {
                        deps |= self.visit(flat, fusion, x, m, false).deps;
                    }
                }
                (deps, true)
            }
            Plan::Iota(ax) => match ax {
                Ax::Lin { axis, .. } => {
                    self.special |= 1 << axis;
                    (1 << axis, elem.is_float())
                }
                Ax::Const(_) | Ax::Dyn { .. } => (0, true),
            },
            Plan::Splat(_) => (0, true),
            Plan::Gather { dyn_id, x, xmap } => {
                self.has_dyn = true;
                let d = self.dyns[dyn_id as usize].clone();
                self.visit(flat, fusion, d.idx, d.map, false);
                let f = self.visit(flat, fusion, x, xmap, false);
                (f.deps | self.dyn_deps(dyn_id), false)
            }
        };
        let facts = NodeFacts {
            deps,
            elem,
            lane_ok,
        };
        self.facts.insert((v, map), facts);
        self.plans.insert((v, map, own), plan);
        facts
    }

    /// Analyses every root and chooses the schedule.
    pub fn analyse(&mut self, flat: &Flat, fusion: &Fusion, opts: &Options) {
        self.pin_trig = !opts.library_math;
        let nlog = self.nlog();
        let id = self.maps.identity(nlog);
        let roots = self.roots.clone();
        for root in &roots {
            match root {
                Root::Store { value, own, .. } => {
                    self.visit(flat, fusion, *value, id, *own);
                }
                Root::Point { value } => {
                    self.visit(flat, fusion, *value, id, true);
                }
                Root::Reduce { operand, .. } => {
                    self.visit(flat, fusion, *operand, id, false);
                }
                Root::Matmul { a, b, .. } => {
                    let (am, bm) = self.matmul_maps(flat, *a);
                    self.matmul_ids = Some((am, bm));
                    self.visit(flat, fusion, *a, am, false);
                    self.visit(flat, fusion, *b, bm, false);
                }
                Root::Scatter {
                    updates, indices, ..
                } => {
                    self.has_dyn = true;
                    self.visit(flat, fusion, *updates, id, false);
                    let im = self.scatter_index_map(flat, root);
                    self.scatter_ids = Some(im);
                    self.visit(flat, fusion, *indices, im, false);
                }
            }
        }
        for b in &mut self.breaks {
            b.sort_unstable();
            b.dedup();
        }
        // Accumulating roots (reductions, matrix products, scatter-adds) keep
        // the interpreter's row-major order of terms under `strict_order`.
        let strict = opts.strict_order
            && self
                .roots
                .iter()
                .any(|r| r.reduce_op().is_some() || matches!(r, Root::Scatter { .. }));
        self.schedule(flat, opts.vectorize && !strict, strict);
    }

    /// The maps of the two operands of an inline matmul over `[B.., m, n, k]`.
    pub fn matmul_maps(&mut self, flat: &Flat, a: Vid) -> (MapId, MapId) {
        let r = flat.val(a).rank();
        let nb = r - 2;
        let batch: Vec<Ax> = (0..nb).map(|i| lin(i as u8, 0, 1)).collect();
        let (mi, ni, ki) = (nb as u8, nb as u8 + 1, nb as u8 + 2);
        let mut am = batch.clone();
        am.push(lin(mi, 0, 1));
        am.push(lin(ki, 0, 1));
        let mut bm = batch;
        bm.push(lin(ki, 0, 1));
        bm.push(lin(ni, 0, 1));
        (self.maps.intern(am), self.maps.intern(bm))
    }

    /// The map of a scatter's indices over the updates' space.
    pub fn scatter_index_map(&mut self, flat: &Flat, root: &Root) -> MapId {
        let Root::Scatter { indices, axis, .. } = root else {
            return self.maps.identity(0);
        };
        let ri = flat.val(*indices).rank();
        let m = (*axis..*axis + ri).map(|a| lin(a as u8, 0, 1)).collect();
        self.maps.intern(m)
    }

    /// The destination address of a scatter over the updates' space, without
    /// the indexed axis, and the stride of that axis.
    pub fn scatter_addr(&self, flat: &Flat, root: &Root) -> (Addr, i64) {
        let Root::Scatter {
            indices,
            axis,
            result,
            ..
        } = root
        else {
            return (
                Addr {
                    off: 0,
                    coef: vec![0; self.nlog()],
                    dyns: vec![],
                },
                0,
            );
        };
        let st = strides(&flat.val(*result).shape);
        let ri = flat.val(*indices).rank();
        let mut coef = vec![0i64; self.nlog()];
        for (a, c) in coef.iter_mut().enumerate() {
            if a < *axis {
                *c = st[a];
            } else if a >= axis + ri {
                *c = st[a - ri + 1];
            }
        }
        (
            Addr {
                off: 0,
                coef,
                dyns: vec![],
            },
            st[*axis],
        )
    }

    /// Destination addresses of the roots, for contiguity.
    fn dest_addrs(&self) -> Vec<(Addr, bool)> {
        self.roots
            .iter()
            .filter_map(|r| match r {
                Root::Store { addr, .. } => Some((addr.clone(), true)),
                Root::Reduce { addr, .. } | Root::Matmul { addr, .. } => {
                    Some((addr.clone(), false))
                }
                Root::Point { .. } | Root::Scatter { .. } => None,
            })
            .collect()
    }

    fn schedule(&mut self, flat: &Flat, vectorize: bool, strict: bool) {
        let nlog = self.nlog();
        let dests = self.dest_addrs();
        let live_axes: Vec<usize> = (0..nlog).filter(|&a| self.space[a] > 1).collect();
        let any_empty = self.space.contains(&0);

        // The innermost axis: the one most accesses are contiguous along.
        let score = |k: usize| -> (i64, i64, usize) {
            let mut contiguous = 0i64;
            let mut strided = 0i64;
            for (_, addr) in &self.leaves {
                match addr.coef[k] {
                    0 => {}
                    1 => contiguous += 2,
                    _ => strided += 1,
                }
            }
            for (addr, _) in &dests {
                match addr.coef[k] {
                    0 => {}
                    1 => contiguous += 2,
                    _ => strided += 1,
                }
            }
            (contiguous - strided, -strided, k)
        };
        let inner = if strict {
            live_axes.last().copied()
        } else {
            live_axes.iter().copied().max_by_key(|&k| score(k))
        };
        let mut order: Vec<usize> = live_axes
            .iter()
            .copied()
            .filter(|&a| Some(a) != inner)
            .collect();
        if let Some(i) = inner {
            order.push(i);
        }

        // Collapse adjacent loops that every address sees as one range.
        let mut loops: Vec<LoopSpec> = Vec::new();
        for &a in &order {
            if let Some(last) = loops.last_mut() {
                let prev = *last.axes.last().expect("non-empty");
                let ok = (self.special >> a) & 1 == 0
                    && (self.special >> prev) & 1 == 0
                    && !self.has_dyn
                    && self
                        .leaves
                        .iter()
                        .map(|l| &l.1)
                        .chain(dests.iter().map(|d| &d.0))
                        .all(|addr| addr.coef[prev] == addr.coef[a] * self.space[a] as i64);
                if ok {
                    last.axes.push(a);
                    last.extent *= self.space[a];
                    continue;
                }
            }
            loops.push(LoopSpec {
                axes: vec![a],
                extent: self.space[a],
                segments: Vec::new(),
            });
        }
        let mut axis_loop = vec![None; nlog];
        for (li, l) in loops.iter_mut().enumerate() {
            for &a in &l.axes {
                axis_loop[a] = Some(li);
            }
            let mut cuts = vec![0usize];
            if l.axes.len() == 1 {
                cuts.extend(self.breaks[l.axes[0]].iter().copied());
            }
            cuts.push(l.extent);
            l.segments = cuts
                .windows(2)
                .map(|w| (w[0], w[1]))
                .filter(|s| s.0 < s.1)
                .collect();
        }

        // Vector width: the innermost loop must be contiguous or invariant for
        // every access, and every lane-varying value of the float type.
        let mut width = 1;
        if let (Some(inner_loop), true, false) = (loops.last(), vectorize, any_empty) {
            let k = *inner_loop.axes.last().expect("non-empty");
            let bit = 1u64 << k | PINNED;
            let mut float: Option<Elem> = None;
            let mut ok = !self.has_dyn;
            for f in self.facts.values() {
                if f.deps & bit != 0 {
                    ok &= f.lane_ok;
                    if f.elem.is_float() {
                        ok &= float.is_none_or(|e| e == f.elem);
                        float = Some(f.elem);
                    }
                }
            }
            for (b, addr) in &self.leaves {
                if addr.coef[k] != 0 {
                    ok &= addr.coef[k] == 1 && flat.val(*b).elem.is_float();
                }
            }
            for r in &self.roots {
                match r {
                    Root::Store { dest, addr, .. } => {
                        let e = flat.val(*dest).elem;
                        ok &= addr.coef[k] == 1 && e.is_float() && float.is_none_or(|f| f == e);
                        float = Some(e);
                    }
                    Root::Reduce { result, addr, .. } | Root::Matmul { result, addr, .. } => {
                        let e = flat.val(*result).elem;
                        ok &= (addr.coef[k] == 0 || addr.coef[k] == 1)
                            && e.is_float()
                            && float.is_none_or(|f| f == e);
                        float = Some(e);
                    }
                    Root::Point { .. } | Root::Scatter { .. } => ok = false,
                }
            }
            if ok && let Some(e) = float {
                width = 16 / e.byte_size();
            }
        }
        let body = self.facts.len() + self.transcendentals * TRANSCENDENTAL_INSTS / 2;
        let unroll = if strict {
            1
        } else if body <= 24 {
            4
        } else if body <= 160 {
            2
        } else {
            1
        };
        self.sched = Schedule {
            loops,
            axis_loop,
            width,
            unroll,
            strict,
        };
    }

    /// Total number of loop segments (a measure of code size).
    pub fn segment_count(&self) -> usize {
        self.sched
            .loops
            .iter()
            .map(|l| l.segments.len().max(1))
            .product()
    }

    /// Estimated CLIF instructions of the generated code.
    pub fn estimated_insts(&self) -> usize {
        let body = self.facts.len() * 2
            + self.transcendentals * TRANSCENDENTAL_INSTS
            + self.roots.len() * 4
            + 4;
        let per_seg = body * (self.sched.unroll + 2) + 16;
        per_seg.saturating_mul(self.segment_count()) + self.fills.len() * 16
    }

    /// The loop level holding the logical axes in `deps` innermost (`-1` if
    /// invariant).
    pub fn level(&self, deps: u64) -> i32 {
        if deps & PINNED != 0 {
            return self.sched.loops.len() as i32 - 1;
        }
        let mut level = -1i32;
        let mut d = deps;
        while d != 0 {
            let k = d.trailing_zeros() as usize;
            d &= d - 1;
            if let Some(l) = self.sched.axis_loop[k] {
                level = level.max(l as i32);
            }
        }
        level
    }
}

/// A GEMM call: `result[b] = a[b] · b[b]` for every batch index.
pub(crate) struct GemmStep {
    pub a: Vid,
    pub result: Vid,
    /// Buffer and address of each operand over its own axes.
    pub a_view: (Vid, Addr),
    pub b_view: (Vid, Addr),
}

/// Resolves a value that must be a buffer view (a chain of fused views over a
/// buffer) to the buffer and the address of its elements over its own axes.
pub(crate) fn resolve_view(
    flat: &Flat,
    fusion: &Fusion,
    v: Vid,
) -> Result<(Vid, Addr), CompileError> {
    let rank = flat.val(v).rank();
    let mut k = Kernel::new(flat.val(v).shape.clone());
    let mut map = k.maps.identity(rank);
    let mut cur = v;
    loop {
        match k.plan(flat, fusion, cur, map, false) {
            Plan::View(x, m) => {
                cur = x;
                map = m;
            }
            Plan::Load(b, addr) => return Ok((b, addr)),
            Plan::Args(_)
            | Plan::Register(_)
            | Plan::Pad(..)
            | Plan::Concat(_)
            | Plan::Iota(_)
            | Plan::Splat(_)
            | Plan::Gather { .. } => {
                return Err(CompileError::Internal(format!(
                    "kernel: operand v{v} of a GEMM or gather is not a buffer view"
                )));
            }
        }
    }
}
