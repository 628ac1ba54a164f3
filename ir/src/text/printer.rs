//! The printer: canonical text for functions and modules.
//!
//! The output is what the parser reads back to an equal module, and printing
//! that again gives the same text. It never panics, even on a function that
//! would fail the verifier (wrong operand counts print as written; the parser
//! then reports them).

use super::lexer::is_name_char;
use crate::checkpoint::Checkpoint;
use crate::dim::Dim;
use crate::function::{Function, Module, Node, Value};
use crate::op::{ConstData, Op, SliceRange};
use std::borrow::Cow;
use std::fmt::{self, Write};

/// A value or function name as written after `%` or `@`: bare when it is
/// made of `[A-Za-z0-9_.]`, else quoted with escapes.
pub(super) fn name_text(name: &str) -> Cow<'_, str> {
    if !name.is_empty() && name.chars().all(is_name_char) {
        return Cow::Borrowed(name);
    }
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out.push('"');
    Cow::Owned(out)
}

/// The text of a module: its functions in order, separated by blank lines,
/// then one `rules` line per function with custom derivative rules.
pub fn print_module(module: &Module) -> String {
    let mut out = String::new();
    for (i, f) in module.functions().iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        write_function(&mut out, f);
    }
    for (name, rules) in module.all_rules() {
        out.push('\n');
        let _ = write!(out, "rules @{}", name_text(name));
        for (kind, rule) in [("jvp", &rules.jvp), ("vjp", &rules.vjp)] {
            if let Some(rule) = rule {
                let _ = write!(out, ", {kind}=@{}", name_text(rule));
            }
        }
        out.push('\n');
    }
    out
}

/// The text of one function, ending with a newline.
pub fn print_function(f: &Function) -> String {
    let mut out = String::new();
    write_function(&mut out, f);
    out
}

impl fmt::Display for Function {
    /// The text format (see [`crate::text`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_function(self))
    }
}

impl fmt::Display for Module {
    /// The text format (see [`crate::text`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&print_module(self))
    }
}

struct Printer<'f> {
    f: &'f Function,
    out: &'f mut String,
}

fn write_function(out: &mut String, f: &Function) {
    let mut p = Printer { f, out };
    p.function();
}

impl Printer<'_> {
    fn s(&mut self, text: &str) {
        self.out.push_str(text);
    }

    fn value(&mut self, v: Value) {
        self.out.push('%');
        // A value out of range can only come from a broken function; print
        // something the parser will report rather than panic.
        if v.index() < self.f.value_count() {
            let name = name_text(self.f.value_name(v)).into_owned();
            self.s(&name);
        } else {
            let _ = write!(self.out, "\"<invalid value {}>\"", v.0);
        }
    }

    fn values(&mut self, vs: &[Value]) {
        for (i, &v) in vs.iter().enumerate() {
            if i > 0 {
                self.s(", ");
            }
            self.value(v);
        }
    }

    fn ty_of(&mut self, v: Value) {
        if v.index() < self.f.value_count() {
            let _ = write!(self.out, "{}", self.f.ty(v));
        } else {
            self.s("f64");
        }
    }

    fn function(&mut self) {
        let f = self.f;
        self.s("func @");
        self.s(&name_text(f.name()));
        self.s("(");
        for (i, &p) in f.params().iter().enumerate() {
            if i > 0 {
                self.s(", ");
            }
            self.value(p);
            self.s(": ");
            self.ty_of(p);
        }
        self.s(") -> ");
        match f.outputs() {
            [o] => self.ty_of(*o),
            outs => {
                self.s("(");
                for (i, &o) in outs.iter().enumerate() {
                    if i > 0 {
                        self.s(", ");
                    }
                    self.ty_of(o);
                }
                self.s(")");
            }
        }
        self.s(" {\n");
        for node in f.nodes() {
            self.s("  ");
            self.node(node);
            self.s("\n");
        }
        self.s("  return");
        if !f.outputs().is_empty() {
            self.s(" ");
            self.values(f.outputs());
        }
        self.s("\n}\n");
    }

    fn node(&mut self, node: &Node) {
        for (i, &r) in node.results.iter().enumerate() {
            if i > 0 {
                self.s(", ");
            }
            self.value(r);
            self.s(": ");
            self.ty_of(r);
        }
        if !node.results.is_empty() {
            self.s(" = ");
        }
        self.s(node.op.name());
        self.op(&node.op, &node.args);
    }

    /// Everything after the op name.
    fn op(&mut self, op: &Op, args: &[Value]) {
        match op {
            Op::Const { data, .. } => match data {
                ConstData::Splat(s) => {
                    let _ = write!(self.out, " {s}");
                }
                ConstData::Dense(items) => {
                    self.s(" [");
                    for (i, s) in items.iter().enumerate() {
                        if i > 0 {
                            self.s(", ");
                        }
                        let _ = write!(self.out, "{s}");
                    }
                    self.s("]");
                }
            },
            Op::Iota { axis, .. } => {
                let _ = write!(self.out, " axis={axis}");
            }
            Op::Size { dim, .. } => {
                let _ = write!(self.out, " {dim}");
            }
            Op::Unary(_)
            | Op::Binary(_)
            | Op::Compare(_)
            | Op::Select
            | Op::Reshape { .. }
            | Op::Matmul
            | Op::Convert { .. } => self.operands(args),
            Op::Broadcast { dims, .. } => {
                self.operands(args);
                self.s(", dims=");
                self.usizes(dims);
            }
            Op::Reduce { axes, .. } => {
                self.operands(args);
                self.s(", axes=");
                self.usizes(axes);
            }
            Op::Transpose { perm } => {
                self.operands(args);
                self.s(", perm=");
                self.usizes(perm);
            }
            Op::Slice { ranges } => {
                self.operands(args);
                self.s(", [");
                for (i, r) in ranges.iter().enumerate() {
                    if i > 0 {
                        self.s(", ");
                    }
                    self.range(r);
                }
                self.s("]");
            }
            Op::Concat { axis } | Op::Gather { axis } | Op::ScatterAdd { axis, .. } => {
                self.operands(args);
                let _ = write!(self.out, ", axis={axis}");
            }
            Op::Pad {
                lo,
                hi,
                interior,
                value,
            } => {
                self.operands(args);
                self.s(", lo=");
                self.dims(lo);
                self.s(", hi=");
                self.dims(hi);
                let _ = write!(self.out, ", value={value}");
                // The parser fills in zeros when `interior` is left out, one
                // per `lo` entry; print it whenever that would differ.
                if interior.iter().any(|&i| i != 0) || interior.len() != lo.len() {
                    self.s(", interior=");
                    self.list(interior.iter());
                }
            }
            Op::Call { func } => {
                self.s(" @");
                self.s(&name_text(func));
                self.s("(");
                self.values(args);
                self.s(")");
            }
            Op::Scan {
                body,
                length,
                reverse,
                n_consts,
                n_carry,
                checkpoint,
            } => {
                let (consts, rest) = args.split_at((*n_consts).min(args.len()));
                let (carry, xs) = rest.split_at((*n_carry).min(rest.len()));
                self.s(" @");
                self.s(&name_text(body));
                let _ = write!(self.out, ", length={length}");
                self.group("consts", consts);
                self.group("carry", carry);
                self.group("xs", xs);
                if *reverse {
                    self.s(", reverse");
                }
                self.checkpoint(*checkpoint);
            }
            Op::While {
                cond,
                body,
                max_trips,
                n_consts,
                checkpoint,
            } => {
                let (consts, init) = args.split_at((*n_consts).min(args.len()));
                self.s(" @");
                self.s(&name_text(cond));
                self.s(", @");
                self.s(&name_text(body));
                let _ = write!(self.out, ", max={max_trips}");
                self.group("consts", consts);
                self.group("init", init);
                self.checkpoint(*checkpoint);
            }
            Op::ScanAdjoint {
                body,
                adjoint,
                length,
                reverse,
                checkpoint,
                n_consts,
                n_carry,
                n_xs,
                n_acarry,
                trips,
            } => {
                let mut rest = args;
                let mut take = |k: usize| {
                    let (head, tail) = rest.split_at(k.min(rest.len()));
                    rest = tail;
                    head
                };
                let consts = take(*n_consts);
                let carry = take(*n_carry);
                let xs = take(*n_xs);
                let acarry = take(*n_acarry);
                let (axs, trip) = if *trips {
                    rest.split_at(rest.len().saturating_sub(1))
                } else {
                    (rest, &[][..])
                };
                self.s(" @");
                self.s(&name_text(body));
                self.s(", @");
                self.s(&name_text(adjoint));
                let _ = write!(self.out, ", length={length}");
                self.group("consts", consts);
                self.group("carry", carry);
                self.group("xs", xs);
                self.group("adjoint_carry", acarry);
                self.group("adjoint_xs", axs);
                if let Some(&t) = trip.first() {
                    self.s(", trips=");
                    self.values(&[t]);
                }
                if *reverse {
                    self.s(", reverse");
                }
                self.checkpoint(*checkpoint);
            }
        }
    }

    fn operands(&mut self, args: &[Value]) {
        if !args.is_empty() {
            self.s(" ");
            self.values(args);
        }
    }

    /// `, checkpoint=P`, unless `P` is the default.
    fn checkpoint(&mut self, policy: Checkpoint) {
        if !policy.is_default() {
            let _ = write!(self.out, ", checkpoint={policy}");
        }
    }

    fn group(&mut self, key: &str, vs: &[Value]) {
        let _ = write!(self.out, ", {key}=(");
        self.values(vs);
        self.s(")");
    }

    fn list<T: fmt::Display>(&mut self, items: impl Iterator<Item = T>) {
        self.s("[");
        for (i, x) in items.enumerate() {
            if i > 0 {
                self.s(", ");
            }
            let _ = write!(self.out, "{x}");
        }
        self.s("]");
    }

    fn usizes(&mut self, xs: &[usize]) {
        self.list(xs.iter());
    }

    fn dims(&mut self, ds: &[Dim]) {
        self.list(ds.iter());
    }

    fn range(&mut self, r: &SliceRange) {
        let _ = write!(self.out, "{}:{}", r.start, r.stop);
        if r.step != 1 {
            let _ = write!(self.out, ":{}", r.step);
        }
    }
}
