//! Common subexpression elimination by hash-consing.
//!
//! Every op is pure — calls, scans and whiles included, since the IR has no
//! effects — so two nodes with equal ops (attributes included) and equal
//! operands compute equal results, and the later one is replaced by the
//! earlier one. Constants are nodes like any other, so equal constants (same
//! type, bitwise-equal literals: [`adjit_ir::Scalar`]'s equality is bitwise)
//! are merged too.
//!
//! Operands of commutative ops (`add`, `mul`, `min`, `max`, `and`, `or`, `eq`,
//! `ne`) are put in a canonical order in the key, and `gt`/`ge` are keyed as
//! the swapped `lt`/`le`. IEEE addition and multiplication are commutative
//! bit for bit; `min`/`max` are specified symmetrically (`min(-0, +0) = -0`
//! either way, NaN if either operand is NaN). Only the payload of a NaN result
//! may differ when both operands are NaN. The nodes themselves keep their
//! operand order.

use super::rewrite::Rewriter;
use super::{OptError, Pass, Rewritten, count};
use adjit_ir::{BinaryOp, CmpOp, Function, Module, Op, Value};
use std::collections::{BTreeMap, HashMap};

/// The hash-consing key of a node: op and operands, canonicalised.
fn key(op: &Op, args: &[Value]) -> (Op, Vec<Value>) {
    let sorted = |a: &[Value]| {
        let mut v = a.to_vec();
        v.sort();
        v
    };
    match op {
        Op::Binary(
            BinaryOp::Add
            | BinaryOp::Mul
            | BinaryOp::Min
            | BinaryOp::Max
            | BinaryOp::And
            | BinaryOp::Or,
        )
        | Op::Compare(CmpOp::Eq | CmpOp::Ne) => (op.clone(), sorted(args)),
        Op::Compare(CmpOp::Gt) => (Op::Compare(CmpOp::Lt), args.iter().rev().copied().collect()),
        Op::Compare(CmpOp::Ge) => (Op::Compare(CmpOp::Le), args.iter().rev().copied().collect()),
        _ => (op.clone(), args.to_vec()),
    }
}

/// Merges nodes that compute the same thing. Counts rule `cse` once per merged node.
pub fn cse(module: &Module, f: &Function) -> Result<Rewritten, OptError> {
    // A first look without rebuilding, so an unchanged function keeps its names.
    let mut seen: HashMap<(Op, Vec<Value>), ()> = HashMap::new();
    let any_duplicate = f
        .nodes()
        .iter()
        .any(|n| seen.insert(key(&n.op, &n.args), ()).is_some());
    if !any_duplicate {
        return Ok(Rewritten::unchanged(f));
    }

    let mut rw = Rewriter::new(Pass::Cse, module, f);
    let mut table: HashMap<(Op, Vec<Value>), Vec<Value>> = HashMap::new();
    let mut rules = BTreeMap::new();
    for node in f.nodes() {
        let args = rw.args(node);
        let k = key(&node.op, &args);
        if let Some(existing) = table.get(&k) {
            let existing = existing.clone();
            rw.bind_all(node, &existing)?;
            count(&mut rules, "cse");
        } else {
            let results = rw.copy(node, &args)?;
            table.insert(k, results);
        }
    }
    Ok(Rewritten {
        function: rw.finish(),
        rules,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_of_commutative_and_swapped_ops_agree() {
        let (a, b) = (Value(0), Value(1));
        let add = Op::Binary(BinaryOp::Add);
        assert_eq!(key(&add, &[a, b]), key(&add, &[b, a]));
        let sub = Op::Binary(BinaryOp::Sub);
        assert_ne!(key(&sub, &[a, b]), key(&sub, &[b, a]));
        let (lt, gt) = (Op::Compare(CmpOp::Lt), Op::Compare(CmpOp::Gt));
        assert_eq!(key(&lt, &[a, b]), key(&gt, &[b, a]));
        assert_ne!(key(&lt, &[a, b]), key(&gt, &[a, b]));
    }
}
