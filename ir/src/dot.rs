//! Graphviz DOT output of a module: one cluster per function, one box per
//! node, edges from operands to their users.

use crate::function::{Function, Module, ValueDef};
use crate::op::{ConstData, Op};
use std::fmt::Write;

/// The DOT text of every function of the module.
pub fn module_to_dot(module: &Module) -> String {
    let mut out = String::from(
        "digraph adjit {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n",
    );
    for (i, f) in module.functions().iter().enumerate() {
        function_body(&mut out, f, i);
    }
    out.push_str("}\n");
    out
}

/// The DOT text of one function.
pub fn function_to_dot(f: &Function) -> String {
    let mut out = String::from(
        "digraph adjit {\n  rankdir=TB;\n  node [fontname=\"monospace\", fontsize=10];\n",
    );
    function_body(&mut out, f, 0);
    out.push_str("}\n");
    out
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"")
}

fn function_body(out: &mut String, f: &Function, cluster: usize) {
    let id = |kind: &str, i: usize| format!("f{cluster}_{kind}{i}");
    let _ = writeln!(
        out,
        "  subgraph cluster_{cluster} {{\n    label=\"@{}\";",
        escape(f.name())
    );
    for (i, &p) in f.params().iter().enumerate() {
        let _ = writeln!(
            out,
            "    {} [shape=ellipse, label=\"%{}: {}\"];",
            id("p", i),
            escape(f.value_name(p)),
            f.ty(p)
        );
    }
    for (n, node) in f.nodes().iter().enumerate() {
        let results: Vec<String> = node
            .results
            .iter()
            .map(|&r| format!("%{}: {}", f.value_name(r), f.ty(r)))
            .collect();
        let detail = match &node.op {
            Op::Const {
                data: ConstData::Splat(s),
                ..
            } => format!(" {s}"),
            Op::Call { func } | Op::Scan { body: func, .. } => format!(" @{func}"),
            _ => String::new(),
        };
        let _ = writeln!(
            out,
            "    {} [shape=box, label=\"{}{}\\n{}\"];",
            id("n", n),
            node.op.name(),
            escape(&detail),
            escape(&results.join(", "))
        );
        for &a in &node.args {
            let from = match f.def(a) {
                ValueDef::Param(i) => id("p", i as usize),
                ValueDef::Result(m, _) => id("n", m.index()),
            };
            let _ = writeln!(out, "    {from} -> {};", id("n", n));
        }
    }
    for (i, &o) in f.outputs().iter().enumerate() {
        let _ = writeln!(
            out,
            "    {} [shape=doublecircle, label=\"out {i}\"];",
            id("o", i)
        );
        let from = match f.def(o) {
            ValueDef::Param(p) => id("p", p as usize),
            ValueDef::Result(m, _) => id("n", m.index()),
        };
        let _ = writeln!(out, "    {from} -> {};", id("o", i));
    }
    out.push_str("  }\n");
}
