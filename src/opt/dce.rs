//! Dead code elimination: nodes whose results reach no output, and functions
//! no entry point reaches.
//!
//! Every op is pure (the IR has no effects; `call`, `scan` and `while` only
//! compute their results), so a node none of whose results is used by a live
//! node or an output can be dropped. Liveness is one reverse sweep over the
//! nodes (operands are defined before their users). A node with several results
//! is kept whole if any result is live. Parameters are never removed: they are
//! the function's signature.

use super::rewrite::Rewriter;
use super::{OptError, Outcome, Pass, Rewritten, count};
use adjit_ir::{Function, Module};
use std::collections::{BTreeMap, HashSet};

/// Which nodes are live: some result reaches an output.
pub fn live_nodes(f: &Function) -> Vec<bool> {
    let mut live_value = vec![false; f.value_count()];
    for &o in f.outputs() {
        live_value[o.index()] = true;
    }
    let mut live = vec![false; f.nodes().len()];
    for (i, node) in f.nodes().iter().enumerate().rev() {
        if node.results.iter().any(|r| live_value[r.index()]) {
            live[i] = true;
            for a in &node.args {
                live_value[a.index()] = true;
            }
        }
    }
    live
}

/// Removes the dead nodes of `f`. Counts rule `dce` once per removed node.
pub fn dce(module: &Module, f: &Function) -> Result<Rewritten, OptError> {
    run(module, f).map(|o| o.into_rewritten(f))
}

/// [`dce`] without copying `f` if nothing changes.
pub(crate) fn run(module: &Module, f: &Function) -> Result<Outcome, OptError> {
    let live = live_nodes(f);
    if live.iter().all(|&l| l) {
        return Ok(Outcome::unchanged());
    }
    let mut rw = Rewriter::new(Pass::Dce, module, f);
    let mut rules = BTreeMap::new();
    for (node, &is_live) in f.nodes().iter().zip(&live) {
        if is_live {
            let args = rw.args(node);
            rw.copy(node, &args)?;
        } else {
            count(&mut rules, "dce");
        }
    }
    Ok(Outcome::new(rw.finish()?, rules))
}

/// The names of the functions reachable from `roots` through `call`, `scan`
/// and `while`, and through the custom derivative rules attached to a
/// reachable function (the roots included, if they exist).
pub fn reachable(module: &Module, roots: &[&str]) -> HashSet<String> {
    let mut seen: HashSet<String> = HashSet::new();
    let mut stack: Vec<String> = roots
        .iter()
        .filter(|r| module.contains(r))
        .map(|r| r.to_string())
        .collect();
    while let Some(name) = stack.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let Some(f) = module.get(&name) else { continue };
        if let Some(rules) = module.rules(&name) {
            for rule in rules.jvp.iter().chain(&rules.vjp) {
                if module.contains(rule) && !seen.contains(&**rule) {
                    stack.push(rule.to_string());
                }
            }
        }
        for node in f.nodes() {
            for callee in node.op.callees() {
                if module.contains(callee) && !seen.contains(&**callee) {
                    stack.push(callee.to_string());
                }
            }
        }
    }
    seen
}

/// The module without the functions unreachable from `roots`, in the original
/// order, and the names of the removed functions. The custom rules attached
/// to the functions kept stay attached (the rule functions are reachable).
pub fn remove_unused_functions(module: &Module, roots: &[&str]) -> (Module, Vec<String>) {
    let keep = reachable(module, roots);
    let mut out = Module::new();
    let mut removed = Vec::new();
    for f in module.functions() {
        if keep.contains(f.name()) {
            out.insert_or_replace(f.clone());
        } else {
            removed.push(f.name().to_string());
        }
    }
    keep_rules(module, &mut out);
    (out, removed)
}

/// Attaches to the functions of `out` the custom rules they have in
/// `module`, where `out` holds both the function and its rules.
pub(crate) fn keep_rules(module: &Module, out: &mut Module) {
    for (name, rules) in module.all_rules() {
        let present = |r: &Option<adjit_ir::FuncName>| r.as_ref().is_none_or(|r| out.contains(r));
        if out.contains(name) && present(&rules.jvp) && present(&rules.vjp) {
            // Cannot fail: every name was just checked.
            let _ = out.set_rules(name, rules.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use adjit_ir::{Graph, Type};

    #[test]
    fn liveness_follows_operands_backwards() {
        let g = Graph::new("f");
        let x = g.param("x", Type::f64(&[2]));
        let a = x.exp(); // live
        let _b = a.sin(); // dead
        let c = a.cos(); // live
        let _d = c.tanh(); // dead
        let f = g.finish(&[c]).unwrap();
        assert_eq!(live_nodes(&f), [true, false, true, false]);
    }

    #[test]
    fn reachability_goes_through_callees() {
        let mut m = Module::new();
        for (name, callee) in [("a", None), ("b", Some("a")), ("c", None), ("d", Some("b"))] {
            let g = Graph::with_module(name, &m);
            let x = g.param("x", Type::f64(&[]));
            let y = match callee {
                Some(c) => g.call(c, &[x])[0],
                None => x.exp(),
            };
            m.add(g.finish(&[y]).unwrap()).unwrap();
        }
        let mut r: Vec<String> = reachable(&m, &["d"]).into_iter().collect();
        r.sort();
        assert_eq!(r, ["a", "b", "d"]);
        let (pruned, removed) = remove_unused_functions(&m, &["d"]);
        assert_eq!(removed, ["c"]);
        assert_eq!(pruned.functions().len(), 3);
    }
}
