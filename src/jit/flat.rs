//! The flat graph: one monomorphic function with every `call` inlined.
//!
//! Invariants of a [`Flat`] graph:
//! - Every value has a concrete shape; its element count and byte size fit
//!   `isize` (checked here, so later stages compute offsets without overflow
//!   as long as they stay within one value).
//! - Nodes are in definition order. Every node but a loop (`scan`, `while`,
//!   `scan_adjoint`)
//!   has exactly one result (`call` is inlined); a loop keeps all its
//!   results in [`FNode::results`] (its body and condition are other
//!   functions, compiled as programs of their own, see [`super::program`]).
//!   A loop without results is dropped (it computes nothing).
//! - `live[v]` says whether `v` reaches an output; dead nodes are kept in the
//!   list (so indices are stable) but never lowered. A loop is live when any
//!   of its results is.

use super::classify::{Lowering, lowering};
use super::error::CompileError;
use adjit_ir::{Elem, Function, Module, Op};

/// A value of the flat graph (index into [`Flat::vals`]).
pub(crate) type Vid = u32;

/// Where a flat value comes from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Def {
    /// The `i`-th parameter of the compiled function.
    Param(usize),
    /// The result of node `n`.
    Node(usize),
}

/// A value: element type, concrete shape, definition.
#[derive(Clone, Debug)]
pub(crate) struct FVal {
    pub elem: Elem,
    pub shape: Vec<usize>,
    /// Number of elements.
    pub len: usize,
    pub def: Def,
}

impl FVal {
    pub fn rank(&self) -> usize {
        self.shape.len()
    }
}

/// A node: one result, or several for a loop.
#[derive(Clone, Debug)]
pub(crate) struct FNode {
    pub op: Op,
    pub args: Vec<Vid>,
    /// The (first) result.
    pub result: Vid,
    /// Every result (`[result]` except for loops).
    pub results: Vec<Vid>,
}

/// Whether an op is a loop, lowered by calling compiled functions.
pub(crate) fn is_loop(op: &Op) -> bool {
    lowering(op) == Lowering::Loop
}

/// The flattened function.
pub(crate) struct Flat {
    /// The compiled function's name (for error messages).
    pub name: String,
    pub vals: Vec<FVal>,
    pub nodes: Vec<FNode>,
    pub params: Vec<Vid>,
    pub outputs: Vec<Vid>,
    pub live: Vec<bool>,
}

impl Flat {
    pub fn val(&self, v: Vid) -> &FVal {
        &self.vals[v as usize]
    }

    /// The node defining `v`, if it is not a parameter.
    pub fn node_of(&self, v: Vid) -> Option<&FNode> {
        match self.vals[v as usize].def {
            Def::Param(_) => None,
            Def::Node(n) => Some(&self.nodes[n]),
        }
    }
}

/// Flattens `f` (which must be verified and monomorphic, as must its callees).
///
/// A `gather` from (or `scatter_add` into) an empty axis fails on every
/// input, which is a compile error, except in a loop body (`loop_body`):
/// a loop may run no step, and then the program does not fail. There the
/// op yields zeros (the interpreter fails if such a step runs).
pub(crate) fn flatten(
    module: &Module,
    f: &Function,
    loop_body: bool,
) -> Result<Flat, CompileError> {
    let mut flat = Flat {
        name: f.name().to_string(),
        vals: Vec::new(),
        nodes: Vec::new(),
        params: Vec::new(),
        outputs: Vec::new(),
        live: Vec::new(),
    };
    let mut params = Vec::new();
    for (i, &p) in f.params().iter().enumerate() {
        let (elem, shape, len) = concrete(&flat.name, f, p)?;
        flat.vals.push(FVal {
            elem,
            shape,
            len,
            def: Def::Param(i),
        });
        params.push((flat.vals.len() - 1) as Vid);
    }
    flat.params = params.clone();
    let outputs = inline(module, f, &params, &mut flat, 0, loop_body)?;
    flat.outputs = outputs;
    mark_live(&mut flat);
    Ok(flat)
}

/// Calls nest at most this deep (the verifier forbids cycles; this bounds the
/// recursion of inlining on pathological but acyclic call chains).
const MAX_CALL_DEPTH: usize = 200;

fn inline(
    module: &Module,
    f: &Function,
    args: &[Vid],
    flat: &mut Flat,
    depth: usize,
    loop_body: bool,
) -> Result<Vec<Vid>, CompileError> {
    let mut map: Vec<Vid> = Vec::with_capacity(f.value_count());
    map.extend_from_slice(args);
    for node in f.nodes() {
        let ins: Vec<Vid> = node.args.iter().map(|a| map[a.index()]).collect();
        match lowering(&node.op) {
            Lowering::Call => {
                let Op::Call { func } = &node.op else {
                    return Err(CompileError::Internal(
                        "flat: a call that is not a call".into(),
                    ));
                };
                let callee = module
                    .get(func)
                    .ok_or_else(|| CompileError::UnknownFunction(func.to_string()))?;
                if depth >= MAX_CALL_DEPTH {
                    return Err(CompileError::Unsupported {
                        func: flat.name.clone(),
                        op: "call",
                        reason: format!("calls nest deeper than {MAX_CALL_DEPTH}"),
                    });
                }
                let outs = inline(module, callee, &ins, flat, depth + 1, loop_body)?;
                map.extend_from_slice(&outs);
            }
            Lowering::Loop => {
                let n = flat.nodes.len();
                let mut results = Vec::with_capacity(node.results.len());
                for &r in &node.results {
                    let (elem, shape, len) = concrete(f.name(), f, r)?;
                    flat.vals.push(FVal {
                        elem,
                        shape,
                        len,
                        def: Def::Node(n),
                    });
                    results.push((flat.vals.len() - 1) as Vid);
                }
                map.extend_from_slice(&results);
                if let Some(&result) = results.first() {
                    flat.nodes.push(FNode {
                        op: node.op.clone(),
                        args: ins,
                        result,
                        results,
                    });
                }
            }
            Lowering::Elementwise
            | Lowering::Math(_)
            | Lowering::View
            | Lowering::Piecewise
            | Lowering::Leaf
            | Lowering::Gather
            | Lowering::DenseConst
            | Lowering::StridedStore
            | Lowering::Reduce
            | Lowering::Contraction
            | Lowering::Scatter => {
                let op = &node.op;
                let r = node.results[0];
                let (elem, shape, len) = concrete(f.name(), f, r)?;
                if !loop_body {
                    check_empty_axis(flat, f, op, &ins, len, r)?;
                }
                let n = flat.nodes.len();
                flat.vals.push(FVal {
                    elem,
                    shape,
                    len,
                    def: Def::Node(n),
                });
                let result = (flat.vals.len() - 1) as Vid;
                flat.nodes.push(FNode {
                    op: op.clone(),
                    args: ins,
                    result,
                    results: vec![result],
                });
                map.push(result);
            }
        }
    }
    Ok(f.outputs().iter().map(|o| map[o.index()]).collect())
}

fn concrete(
    func: &str,
    f: &Function,
    v: adjit_ir::Value,
) -> Result<(Elem, Vec<usize>, usize), CompileError> {
    let ty = f.ty(v);
    let shape = ty
        .shape
        .as_known()
        .ok_or_else(|| CompileError::NotMonomorphic {
            func: func.to_string(),
            value: f.value_name(v).to_string(),
            ty: ty.clone(),
        })?;
    let too_large = || CompileError::TooLarge {
        func: func.to_string(),
        what: format!("%{} of type {ty}", f.value_name(v)),
    };
    let len = shape
        .iter()
        .try_fold(1usize, |a, &d| a.checked_mul(d))
        .ok_or_else(too_large)?;
    let bytes = len.checked_mul(ty.elem.byte_size()).ok_or_else(too_large)?;
    if bytes > (isize::MAX as usize) / 4 || shape.len() > 48 {
        return Err(too_large());
    }
    Ok((ty.elem, shape, len))
}

/// `gather` from, and `scatter_add` into, an axis of size 0 fail at run time
/// unless there is nothing to move (the interpreter's rule); with static
/// shapes that is known now.
fn check_empty_axis(
    flat: &Flat,
    f: &Function,
    op: &Op,
    ins: &[Vid],
    len: usize,
    r: adjit_ir::Value,
) -> Result<(), CompileError> {
    let empty_source = match op {
        Op::Gather { axis } => flat.val(ins[0]).shape[*axis] == 0 && len > 0,
        Op::ScatterAdd { size, .. } => size.known() == Some(0) && flat.val(ins[0]).len > 0,
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
        | Op::Matmul
        | Op::Convert { .. }
        | Op::Call { .. }
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::ScanAdjoint { .. } => false,
    };
    if empty_source {
        return Err(CompileError::Invalid {
            func: f.name().to_string(),
            message: format!("%{}: `{}` on an axis of size 0", f.value_name(r), op.name()),
        });
    }
    Ok(())
}

fn mark_live(flat: &mut Flat) {
    let mut live = vec![false; flat.vals.len()];
    for &o in &flat.outputs {
        live[o as usize] = true;
    }
    for node in flat.nodes.iter().rev() {
        if node.results.iter().any(|&r| live[r as usize]) {
            for &a in &node.args {
                live[a as usize] = true;
            }
        }
    }
    flat.live = live;
}
