//! Constant folding.
//!
//! A node whose operands are all constants is replaced by a constant. The
//! arithmetic is done by the reference interpreter ([`adjit_ir::interp`]), so
//! the meaning of every op lives in one place and folding is exact by
//! construction.
//!
//! What folds:
//! - **Splat data movement**, any shape (symbolic too), without evaluation:
//!   `broadcast`, `reshape`, `transpose`, `slice` of a splat, `concat` of
//!   bitwise-equal splats, `pad` of a splat by the same value, and
//!   `reduce_max`/`reduce_min` of a splat over a known non-zero count, are that
//!   splat in the result's shape.
//! - **Splat elementwise ops**, any shape: an elementwise op (unary, binary,
//!   comparison, `select`, `convert`) of splat operands is evaluated on one
//!   element of each operand, and the result is a splat.
//! - **Small constants**: any other op but `call`, `scan`, `while` and `iota`
//!   whose operands are constants of known shape with at most
//!   [`Options::fold_operand_limit`] elements each, and whose result has at
//!   most [`Options::fold_limit`] elements, is evaluated whole. A `size` of a
//!   known dimension folds to a scalar.
//! - **Canonical constants**: a dense constant whose elements are bitwise
//!   equal becomes a splat (so CSE and the splat rules see it).
//!
//! Results whose elements are all bitwise equal are stored as splats, never
//! densified. What does not fold: `iota` (already compact), `call`, `scan` and
//! `while` (evaluating them has no cost bound), and any node the interpreter
//! rejects (an error such as an out-of-range slice is left for run time to
//! report).

use super::rewrite::Rewriter;
use super::simplify::splat_value;
use super::{OptError, Options, Outcome, Pass, Rewritten, count};
use adjit_ir::interp::{Interpreter, Limits};
use adjit_ir::typing::NoSignatures;
use adjit_ir::{
    ConstData, Function, FunctionBuilder, Module, Node, Op, ReduceOp, Scalar, Tensor, Type, Value,
};
use std::collections::BTreeMap;
use std::sync::Arc;

/// Folds every node of `f` whose operands are constants.
pub fn fold(module: &Module, f: &Function, options: &Options) -> Result<Rewritten, OptError> {
    run(module, f, options).map(|o| o.into_rewritten(f))
}

/// [`fold`] without copying `f` if nothing changes.
pub(crate) fn run(module: &Module, f: &Function, options: &Options) -> Result<Outcome, OptError> {
    let mut rw = Rewriter::new(Pass::Fold, module, f);
    let mut rules = BTreeMap::new();
    for node in f.nodes() {
        let args = rw.args(node);
        match fold_node(&rw, node, &args, options) {
            Some((rule, ty, data)) => {
                let v = rw.emit1(Op::Const { ty, data }, &[])?;
                rw.bind_all(node, &[v])?;
                count(&mut rules, rule);
            }
            None => {
                rw.copy(node, &args)?;
            }
        }
    }
    if rules.is_empty() {
        return Ok(Outcome::unchanged());
    }
    Ok(Outcome::new(rw.finish()?, rules))
}

/// A folded constant: the rule, the type and the data.
type Folded = Option<(&'static str, Type, ConstData)>;

/// The constant a node folds to, if any.
fn fold_node(rw: &Rewriter<'_>, node: &Node, args: &[Value], options: &Options) -> Folded {
    if node.results.len() != 1 {
        return None;
    }
    let ty = rw.old().ty(node.results[0]).clone();
    match &node.op {
        Op::Const {
            data: ConstData::Dense(items),
            ..
        } => {
            let first = *items.first()?;
            items.iter().all(|&x| x == first).then_some((
                "fold.canonical_splat",
                ty,
                ConstData::Splat(first),
            ))
        }
        Op::Const { .. }
        | Op::Iota { .. }
        | Op::Call { .. }
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::ScanAdjoint { .. } => None,
        Op::Size { dim, .. } => {
            dim.known()?;
            let t = evaluate_with(&node.op, &[], options)?;
            Some(("fold.eval", ty, const_data(&t)?))
        }
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Convert { .. }
        | Op::Broadcast { .. }
        | Op::Reduce { .. }
        | Op::Reshape { .. }
        | Op::Transpose { .. }
        | Op::Slice { .. }
        | Op::Concat { .. }
        | Op::Pad { .. }
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::Matmul => fold_operation(rw, node, args, ty, options),
    }
}

/// Folds an op with operands (not a control op).
fn fold_operation(
    rw: &Rewriter<'_>,
    node: &Node,
    args: &[Value],
    ty: Type,
    options: &Options,
) -> Folded {
    let splats: Option<Vec<Scalar>> = args.iter().map(|&a| splat_value(rw, a)).collect();
    if let Some(splats) = &splats {
        if let Some(s) = splat_movement(rw, &node.op, args, splats) {
            return Some(("fold.splat_movement", ty, ConstData::Splat(s)));
        }
        if is_elementwise(&node.op) {
            // One element of each operand, as scalars: the op is shape-agnostic.
            let scalars: Vec<Op> = splats
                .iter()
                .map(|&s| Op::Const {
                    ty: Type::scalar(s.elem()),
                    data: ConstData::Splat(s),
                })
                .collect();
            let t = evaluate_with(&node.op, &scalars, options)?;
            let s = t.to_scalar()?;
            return Some(("fold.splat_elementwise", ty, ConstData::Splat(s)));
        }
    }
    // Small constants of known shape, evaluated whole.
    let count = |t: &Type| {
        t.shape
            .as_known()
            .and_then(|d| adjit_ir::typing::checked_count(&d))
    };
    if count(&ty)? > options.fold_limit {
        return None;
    }
    let mut consts = Vec::with_capacity(args.len());
    for &a in args {
        let (op @ Op::Const { ty: at, .. }, _) = rw.def(a)? else {
            return None;
        };
        if count(at)? > options.fold_operand_limit {
            return None;
        }
        consts.push(op.clone());
    }
    let t = evaluate_with(&node.op, &consts, options)?;
    Some(("fold.eval", ty, const_data(&t)?))
}

/// Whether the op applies to each element independently.
fn is_elementwise(op: &Op) -> bool {
    matches!(
        op,
        Op::Unary(_) | Op::Binary(_) | Op::Compare(_) | Op::Select | Op::Convert { .. }
    )
}

/// Evaluates `op` applied to the given constants with the interpreter. `None`
/// if the interpreter refuses (the error is left for run time).
fn evaluate_with(op: &Op, consts: &[Op], options: &Options) -> Option<Tensor> {
    let mut b = FunctionBuilder::new("fold");
    let mut args = Vec::with_capacity(consts.len());
    for c in consts {
        args.push(b.push1(c.clone(), &[], &NoSignatures).ok()?);
    }
    let result = b.push1(op.clone(), &args, &NoSignatures).ok()?;
    let mut module = Module::new();
    module.add(b.finish(&[result])).ok()?;
    let most = options.fold_limit.max(options.fold_operand_limit);
    let limits = Limits {
        max_elements: most,
        max_live_bytes: most.saturating_mul(8).saturating_mul(consts.len() + 2),
        ..Limits::default()
    };
    let mut out = Interpreter::with_limits(&module, limits)
        .eval("fold", &[])
        .ok()?;
    out.pop()
}

/// A tensor as constant data: a splat if every element is bitwise equal.
fn const_data(t: &Tensor) -> Option<ConstData> {
    let first = t.data().get(0);
    if let Some(first) = first
        && (1..t.len()).all(|i| t.data().get(i) == Some(first))
    {
        return Some(ConstData::Splat(first));
    }
    let items: Option<Vec<Scalar>> = (0..t.len()).map(|i| t.data().get(i)).collect();
    Some(ConstData::Dense(Arc::from(items?)))
}

/// The splat a data-movement op of splat operands gives, without evaluating.
fn splat_movement(rw: &Rewriter<'_>, op: &Op, args: &[Value], splats: &[Scalar]) -> Option<Scalar> {
    let first = *splats.first()?;
    match op {
        Op::Broadcast { .. } | Op::Reshape { .. } | Op::Transpose { .. } | Op::Slice { .. } => {
            Some(first)
        }
        Op::Concat { .. } => splats.iter().all(|&s| s == first).then_some(first),
        Op::Pad { value, .. } => (*value == first).then_some(first),
        Op::Reduce {
            op: ReduceOp::Max | ReduceOp::Min,
            axes,
        } => {
            let shape = &rw.ty(args[0]).shape;
            let all_nonempty = axes
                .iter()
                .all(|&a| shape.0[a].known().is_some_and(|k| k >= 1));
            all_nonempty.then_some(first)
        }
        Op::Reduce {
            op: ReduceOp::Sum | ReduceOp::Prod,
            ..
        }
        | Op::Const { .. }
        | Op::Iota { .. }
        | Op::Size { .. }
        | Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Gather { .. }
        | Op::ScatterAdd { .. }
        | Op::Matmul
        | Op::Convert { .. }
        | Op::Call { .. }
        | Op::Scan { .. }
        | Op::While { .. }
        | Op::ScanAdjoint { .. } => None,
    }
}
