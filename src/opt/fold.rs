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
use super::{OptError, Options, Pass, Rewritten, count};
use adjit_ir::{ConstData, Function, Module, Node, Op, ReduceOp, Scalar, Type, Value};
use std::collections::BTreeMap;

/// Folds every node of `f` whose operands are constants.
pub fn fold(module: &Module, f: &Function, options: &Options) -> Result<Rewritten, OptError> {
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
        return Ok(Rewritten::unchanged(f));
    }
    Ok(Rewritten {
        function: rw.finish(),
        rules,
    })
}

/// A folded constant: the rule, the type and the data.
type Folded = Option<(&'static str, Type, ConstData)>;

/// The constant a node folds to, if any.
fn fold_node(rw: &Rewriter<'_>, node: &Node, args: &[Value], _options: &Options) -> Folded {
    if node.results.len() != 1 {
        return None;
    }
    let ty = rw.old().ty(node.results[0]).clone();
    if let Op::Const {
        data: ConstData::Dense(items),
        ..
    } = &node.op
    {
        let first = *items.first()?;
        return items.iter().all(|&x| x == first).then_some((
            "fold.canonical_splat",
            ty,
            ConstData::Splat(first),
        ));
    }
    let splats: Option<Vec<Scalar>> = args.iter().map(|&a| splat_value(rw, a)).collect();
    if let Some(splats) = &splats
        && !args.is_empty()
        && let Some(s) = splat_movement(rw, &node.op, args, splats)
    {
        return Some(("fold.splat_movement", ty, ConstData::Splat(s)));
    }
    None
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
        | Op::While { .. } => None,
    }
}
