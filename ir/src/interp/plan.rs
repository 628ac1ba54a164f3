//! Per-function evaluation plans, computed once per [`super::Interpreter`]:
//! when each value dies (so its buffer is freed, or reused in place by the op
//! that uses it last), and the structural facts evaluation relies on.
//!
//! Invariant: a plan without `broken` guarantees that every value reference of
//! its function is in range, that operands are defined by earlier nodes or are
//! parameters, and that each node's results are the values it defines. Slot
//! indexing during evaluation relies on exactly these facts.

use crate::function::{Function, NodeId, ValueDef};

/// What evaluation needs to know about one function beyond its nodes.
pub(super) struct Plan {
    /// Per node, per operand: whether the node may take the operand's value
    /// (this is its last use, it appears once among the operands, and it is
    /// not an output).
    pub(super) movable: Vec<Vec<bool>>,
    /// Per node: the values whose slots are cleared after it runs.
    pub(super) free_after: Vec<Vec<usize>>,
    /// Why the function cannot be evaluated: a broken value reference.
    pub(super) broken: Option<(Option<NodeId>, String)>,
}

/// Checks the function's value references and computes its value lifetimes.
pub(super) fn plan(f: &Function) -> Plan {
    match check(f) {
        Ok(()) => lifetimes(f),
        Err(broken) => Plan {
            movable: Vec::new(),
            free_after: Vec::new(),
            broken: Some(broken),
        },
    }
}

fn check(f: &Function) -> Result<(), (Option<NodeId>, String)> {
    let count = f.value_count();
    for (i, &p) in f.params().iter().enumerate() {
        if p.index() >= count || f.def(p) != ValueDef::Param(i as u32) {
            return Err((None, format!("parameter {i} is not a parameter value")));
        }
    }
    for (n, node) in f.nodes().iter().enumerate() {
        let id = NodeId(n as u32);
        for &a in &node.args {
            let earlier = a.index() < count
                && match f.def(a) {
                    ValueDef::Param(_) => true,
                    ValueDef::Result(m, _) => m.index() < n,
                };
            if !earlier {
                return Err((
                    Some(id),
                    format!("operand {a:?} is not defined before its use"),
                ));
            }
        }
        for (i, &r) in node.results.iter().enumerate() {
            if r.index() >= count || f.def(r) != ValueDef::Result(id, i as u32) {
                return Err((Some(id), format!("result {i} is not a value of this node")));
            }
        }
    }
    if let Some(o) = f.outputs().iter().find(|o| o.index() >= count) {
        return Err((None, format!("output {o:?} is not a value of the function")));
    }
    Ok(())
}

fn lifetimes(f: &Function) -> Plan {
    let count = f.value_count();
    let mut last_use: Vec<Option<usize>> = vec![None; count];
    let mut is_output = vec![false; count];
    for (n, node) in f.nodes().iter().enumerate() {
        for a in &node.args {
            last_use[a.index()] = Some(n);
        }
    }
    for o in f.outputs() {
        is_output[o.index()] = true;
    }
    let dies_at = |v: usize, n: usize| !is_output[v] && last_use[v] == Some(n);
    let mut movable = Vec::with_capacity(f.nodes().len());
    let mut free_after = Vec::with_capacity(f.nodes().len());
    for (n, node) in f.nodes().iter().enumerate() {
        let once = |a| node.args.iter().filter(|&&b| b == a).count() == 1;
        movable.push(
            node.args
                .iter()
                .map(|&a| dies_at(a.index(), n) && once(a))
                .collect(),
        );
        let mut free: Vec<usize> = node
            .args
            .iter()
            .map(|a| a.index())
            .filter(|&a| dies_at(a, n))
            .collect();
        free.sort_unstable();
        free.dedup();
        // Results nobody uses die at once.
        free.extend(
            node.results
                .iter()
                .map(|r| r.index())
                .filter(|&r| !is_output[r] && last_use[r].is_none()),
        );
        free_after.push(free);
    }
    Plan {
        movable,
        free_after,
        broken: None,
    }
}
