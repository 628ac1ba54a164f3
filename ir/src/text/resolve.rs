//! Turns syntax trees into a [`Module`]: resolves names, converts literals,
//! takes attributes from type annotations and infers missing result types.
//!
//! Function headers are collected first, so calls may name functions defined
//! later in the file. Nodes are added with
//! [`FunctionBuilder::push_declared`]: annotated types are stored as written
//! and checked later by the verifier; unannotated ones come from
//! [`crate::typing::infer`]. A statement that cannot be built makes its result
//! names *poisoned*: later uses of them report nothing more, so one mistake
//! gives one error.

use super::ast::{ConstLit, FuncAst, Lit, LitKind, Name, OpAst, OpKind, RulesAst, Stmt, type_list};
use super::{FunctionLocations, Location, ParseError, SourceMap};
use crate::builder::FunctionBuilder;
use crate::function::{Function, Module, Value};
use crate::op::{ConstData, Op, Scalar};
use crate::types::{Elem, Type};
use crate::typing::{Signatures, infer};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The signatures of the file's functions whose headers parsed.
struct Sigs<'a> {
    good: HashMap<&'a str, (Vec<Type>, Vec<Type>)>,
    /// Every function name written in the file (including broken headers).
    all: HashSet<&'a str>,
}

impl Signatures for Sigs<'_> {
    fn signature(&self, name: &str) -> Option<(Vec<Type>, Vec<Type>)> {
        self.good.get(name).cloned()
    }
}

/// Builds the module from the parsed functions, adding errors to `errors`.
pub(super) fn resolve(funcs: &[FuncAst], errors: &mut Vec<ParseError>) -> (Module, SourceMap) {
    let mut sigs = Sigs {
        good: HashMap::new(),
        all: HashSet::new(),
    };
    let mut first: HashMap<&str, Location> = HashMap::new();
    let mut duplicate = vec![false; funcs.len()];
    for (i, f) in funcs.iter().enumerate() {
        let name = f.name.text.as_str();
        if let Some(at) = first.get(name) {
            push_error(
                errors,
                f.name.loc,
                format!("duplicate function @{name} (first defined at {at})"),
            );
            duplicate[i] = true;
            continue;
        }
        first.insert(name, f.name.loc);
        sigs.all.insert(name);
        if f.header_ok {
            let params = f.params.iter().map(|(_, t)| t.clone()).collect();
            let results = f.results.iter().map(|(t, _)| t.clone()).collect();
            sigs.good.insert(name, (params, results));
        }
    }

    let mut module = Module::new();
    let mut map = SourceMap::default();
    for (f, dup) in funcs.iter().zip(duplicate) {
        if !f.header_ok {
            continue;
        }
        let (func, locs) = FnResolver::new(f, &sigs, errors).run();
        if !dup {
            // Names were checked for duplicates above, so `add` succeeds.
            let _ = module.add(func);
            map.push(locs);
        }
    }
    (module, map)
}

fn push_error(errors: &mut Vec<ParseError>, loc: Location, message: String) {
    errors.push(ParseError {
        line: loc.line,
        col: loc.col,
        message,
    });
}

/// What a name in a function body stands for.
#[derive(Clone, Copy)]
enum Binding {
    Value(Value),
    /// Defined by a statement that could not be built.
    Poisoned,
}

struct FnResolver<'a, 'e> {
    f: &'a FuncAst,
    sigs: &'a Sigs<'a>,
    errors: &'e mut Vec<ParseError>,
    b: FunctionBuilder,
    env: HashMap<&'a str, Binding>,
    /// Where each name of the function is first defined.
    defined_at: HashMap<&'a str, Location>,
    /// Uses of names not defined (yet) where they were used.
    pending: Vec<&'a Name>,
    /// A prefix no name of the function starts with, for temporary names.
    tmp: String,
}

impl<'a, 'e> FnResolver<'a, 'e> {
    fn new(f: &'a FuncAst, sigs: &'a Sigs<'a>, errors: &'e mut Vec<ParseError>) -> Self {
        let names = f.params.iter().map(|(n, _)| n).chain(
            f.body
                .iter()
                .flat_map(|s| s.results.iter().map(|r| &r.name)),
        );
        let mut defined_at: HashMap<&str, Location> = HashMap::new();
        let mut tmp = String::from("tmp#");
        for n in names {
            while n.text.starts_with(&tmp) {
                tmp.push('#');
            }
            if let Some(at) = defined_at.get(n.text.as_str()) {
                push_error(
                    errors,
                    n.loc,
                    format!(
                        "duplicate value name %{} (first defined at {at})",
                        super::printer::name_text(&n.text)
                    ),
                );
            } else {
                defined_at.insert(&n.text, n.loc);
            }
        }
        FnResolver {
            f,
            sigs,
            errors,
            b: FunctionBuilder::new(&f.name.text),
            env: HashMap::new(),
            defined_at,
            pending: Vec::new(),
            tmp,
        }
    }

    fn error(&mut self, loc: Location, message: String) {
        push_error(self.errors, loc, message);
    }

    fn run(mut self) -> (Function, FunctionLocations) {
        let f = self.f;
        let mut locs = FunctionLocations {
            name: Arc::from(f.name.text.as_str()),
            location: f.name.loc,
            params: Vec::new(),
            nodes: Vec::new(),
            ret: f.ret.as_ref().map_or(f.name.loc, |r| r.loc),
        };
        for (name, ty) in &f.params {
            let v = self.b.param(&name.text, ty.clone());
            self.env.entry(&name.text).or_insert(Binding::Value(v));
            locs.params.push(name.loc);
        }
        for stmt in &f.body {
            if self.stmt(stmt) {
                locs.nodes.push(stmt.loc);
            }
        }
        let outputs = self.ret();
        for name in std::mem::take(&mut self.pending) {
            let shown = super::printer::name_text(&name.text);
            let message = match self.defined_at.get(name.text.as_str()) {
                Some(at) => format!("value %{shown} is used before its definition (at {at})"),
                None => format!("unknown value %{shown}"),
            };
            self.error(name.loc, message);
        }
        (self.b.finish(&outputs), locs)
    }

    /// Looks an operand up. `None` if it is poisoned or undefined (an
    /// undefined name is recorded, to be reported once the whole body is known).
    fn operand(&mut self, name: &'a Name) -> Option<Value> {
        match self.env.get(name.text.as_str()) {
            Some(Binding::Value(v)) => Some(*v),
            Some(Binding::Poisoned) => None,
            None => {
                self.pending.push(name);
                None
            }
        }
    }

    /// Whether this statement's result names are all first definitions.
    fn owns_names(&self, stmt: &Stmt) -> bool {
        stmt.results
            .iter()
            .all(|r| self.defined_at.get(r.name.text.as_str()) == Some(&r.name.loc))
    }

    fn poison(&mut self, stmt: &'a Stmt) {
        for r in &stmt.results {
            self.env.entry(&r.name.text).or_insert(Binding::Poisoned);
        }
    }

    /// Builds one statement's node; returns whether a node was added.
    fn stmt(&mut self, stmt: &'a Stmt) -> bool {
        let Some(op) = &stmt.op else {
            self.poison(stmt);
            return false;
        };
        let mut args = Vec::with_capacity(op.args.len());
        let mut ok = true;
        for name in &op.args {
            match self.operand(name) {
                Some(v) => args.push(v),
                None => ok = false,
            }
        }
        if !ok || !self.owns_names(stmt) {
            self.poison(stmt);
            return false;
        }
        let Some((node_op, types)) = self.node(stmt, op, &args) else {
            self.poison(stmt);
            return false;
        };
        let results = self.b.push_declared(node_op, &args, types);
        self.name_results(stmt, &results);
        for (r, v) in stmt.results.iter().zip(results) {
            self.env.insert(&r.name.text, Binding::Value(v));
        }
        true
    }

    /// Gives the results their written names. The builder names new results
    /// `v<index>`; with several results, one of those may be the name another
    /// result wants, so they pass through names no written name starts with.
    fn name_results(&mut self, stmt: &Stmt, results: &[Value]) {
        if results.len() > 1 {
            for &v in results {
                self.b.set_name(v, &self.tmp);
            }
        }
        for (r, &v) in stmt.results.iter().zip(results) {
            self.b.set_name(v, &r.name.text);
        }
    }

    /// How many results the op defines, or `None` (reported) if a callee is
    /// missing.
    fn result_count(&mut self, op: &OpAst) -> Option<usize> {
        let callee_outputs = |this: &mut Self, name: &Name| -> Option<usize> {
            match this.sigs.good.get(name.text.as_str()) {
                Some((_, outs)) => Some(outs.len()),
                None => {
                    if !this.sigs.all.contains(name.text.as_str()) {
                        let shown = super::printer::name_text(&name.text);
                        this.error(name.loc, format!("unknown function @{shown}"));
                    }
                    None
                }
            }
        };
        match &op.kind {
            OpKind::Call { func } => callee_outputs(self, func),
            OpKind::Scan { body, .. } => callee_outputs(self, body),
            OpKind::ScanAdjoint { body, adjoint, .. } => {
                let b = callee_outputs(self, body);
                let a = callee_outputs(self, adjoint);
                b?;
                a
            }
            OpKind::While {
                cond,
                body,
                n_consts,
                ..
            } => {
                let c = callee_outputs(self, cond);
                let b = callee_outputs(self, body);
                c?;
                b?;
                op.args.len().checked_sub(*n_consts).map(|s| s + 1)
            }
            _ => Some(1),
        }
    }

    /// The node's op and result types, or `None` after reporting why not.
    fn node(&mut self, stmt: &Stmt, op: &OpAst, args: &[Value]) -> Option<(Op, Vec<Type>)> {
        let count = self.result_count(op)?;
        if stmt.results.len() != count {
            let what = match &op.kind {
                OpKind::Call { func } => format!("@{} returns", func.text),
                OpKind::Scan { body, .. } => format!("`scan` over @{} defines", body.text),
                OpKind::ScanAdjoint { adjoint, .. } => {
                    format!("`scan_adjoint` with @{} defines", adjoint.text)
                }
                _ => format!("`{}` defines", op.name),
            };
            self.error(
                stmt.loc,
                format!(
                    "wrong number of results: {what} {count} value{}, but {} name{} given",
                    if count == 1 { "" } else { "s" },
                    stmt.results.len(),
                    if stmt.results.len() == 1 {
                        " is"
                    } else {
                        "s are"
                    },
                ),
            );
            return None;
        }
        let annotated = stmt.results.first().and_then(|r| r.ty.as_ref());
        let annotated = match annotated {
            Some((t, _)) => Some(t),
            None if op.kind.needs_annotation() => {
                self.error(
                    op.loc,
                    format!(
                        "`{}` needs its result type written (`%name: TYPE = {} ...`): the type says what the op makes",
                        op.name, op.name
                    ),
                );
                return None;
            }
            None => None,
        };
        let node_op = self.op(op, annotated, args)?;
        let declared: Vec<Option<Type>> = stmt
            .results
            .iter()
            .map(|r| r.ty.as_ref().map(|(t, _)| t.clone()))
            .collect();
        if let Some(types) = declared.iter().cloned().collect::<Option<Vec<Type>>>() {
            return Some((node_op, types));
        }
        let arg_types: Vec<&Type> = args.iter().map(|&a| self.b.ty(a)).collect();
        match infer(&node_op, &arg_types, self.sigs) {
            Ok(inferred) if inferred.len() == declared.len() => {
                let types = declared
                    .into_iter()
                    .zip(inferred)
                    .map(|(d, i)| d.unwrap_or(i))
                    .collect();
                Some((node_op, types))
            }
            Ok(inferred) => {
                self.error(
                    op.loc,
                    format!(
                        "wrong number of results: `{}` defines {} values, but {} names are given",
                        op.name,
                        inferred.len(),
                        declared.len()
                    ),
                );
                None
            }
            Err(e) => {
                let operands = type_list(arg_types.iter().copied());
                self.error(
                    op.loc,
                    format!(
                        "cannot infer the result type: {e} (operand types: {}); write the result type or fix the operands",
                        if operands.is_empty() { "none" } else { &operands }
                    ),
                );
                None
            }
        }
    }

    /// The IR op. `annotated` is the first result's written type, present
    /// whenever the op needs one.
    fn op(&mut self, op: &OpAst, annotated: Option<&Type>, args: &[Value]) -> Option<Op> {
        let ann = || annotated.cloned();
        let built = match &op.kind {
            OpKind::Const(lit) => {
                let ty = ann()?;
                let data = match lit {
                    ConstLit::Splat(l) => ConstData::Splat(self.scalar(l, ty.elem)?),
                    ConstLit::Dense(items) => {
                        let mut out = Vec::with_capacity(items.len());
                        let mut ok = true;
                        for l in items {
                            match self.scalar(l, ty.elem) {
                                Some(s) => out.push(s),
                                None => ok = false,
                            }
                        }
                        if !ok {
                            return None;
                        }
                        ConstData::Dense(out.into())
                    }
                };
                Op::Const { ty, data }
            }
            OpKind::Iota { axis } => Op::Iota {
                ty: ann()?,
                axis: *axis,
            },
            OpKind::Size { dim } => Op::Size {
                dim: dim.clone(),
                elem: ann()?.elem,
            },
            OpKind::Unary(u) => Op::Unary(*u),
            OpKind::Binary(b) => Op::Binary(*b),
            OpKind::Compare(c) => Op::Compare(*c),
            OpKind::Select => Op::Select,
            OpKind::Broadcast { dims } => Op::Broadcast {
                shape: ann()?.shape,
                dims: dims.clone(),
            },
            OpKind::Reduce { op, axes } => Op::Reduce {
                op: *op,
                axes: axes.clone(),
            },
            OpKind::Reshape => Op::Reshape {
                shape: ann()?.shape,
            },
            OpKind::Transpose { perm } => Op::Transpose { perm: perm.clone() },
            OpKind::Slice { ranges } => Op::Slice {
                ranges: ranges.clone(),
            },
            OpKind::Concat { axis } => Op::Concat { axis: *axis },
            OpKind::Pad {
                lo,
                hi,
                interior,
                value,
            } => {
                let elem = args.first().map_or(Elem::F64, |&x| self.b.ty(x).elem);
                Op::Pad {
                    lo: lo.clone(),
                    hi: hi.clone(),
                    interior: interior.clone(),
                    value: self.scalar(value, elem)?,
                }
            }
            OpKind::Gather { axis } => Op::Gather { axis: *axis },
            OpKind::ScatterAdd { axis, axis_loc } => {
                let ty = ann()?;
                let Some(size) = ty.shape.dims().get(*axis).cloned() else {
                    self.error(
                        *axis_loc,
                        format!(
                            "axis {axis} is out of range for the result type {ty} (the result's size along the axis is taken from it)"
                        ),
                    );
                    return None;
                };
                Op::ScatterAdd { axis: *axis, size }
            }
            OpKind::Matmul => Op::Matmul,
            OpKind::Convert => Op::Convert { elem: ann()?.elem },
            OpKind::Call { func } => Op::Call {
                func: Arc::from(func.text.as_str()),
            },
            OpKind::Scan {
                body,
                length,
                reverse,
                n_consts,
                n_carry,
                checkpoint,
            } => Op::Scan {
                body: Arc::from(body.text.as_str()),
                length: length.clone(),
                reverse: *reverse,
                n_consts: *n_consts,
                n_carry: *n_carry,
                checkpoint: *checkpoint,
            },
            OpKind::While {
                cond,
                body,
                max_trips,
                n_consts,
                checkpoint,
            } => Op::While {
                cond: Arc::from(cond.text.as_str()),
                body: Arc::from(body.text.as_str()),
                max_trips: max_trips.clone(),
                n_consts: *n_consts,
                checkpoint: *checkpoint,
            },
            OpKind::ScanAdjoint {
                body,
                adjoint,
                length,
                reverse,
                checkpoint,
                counts: [n_consts, n_carry, n_xs, n_acarry],
                trips,
            } => Op::ScanAdjoint {
                body: Arc::from(body.text.as_str()),
                adjoint: Arc::from(adjoint.text.as_str()),
                length: length.clone(),
                reverse: *reverse,
                checkpoint: *checkpoint,
                n_consts: *n_consts,
                n_carry: *n_carry,
                n_xs: *n_xs,
                n_acarry: *n_acarry,
                trips: *trips,
            },
        };
        Some(built)
    }

    /// A literal as a scalar of `elem`, or `None` after reporting why not.
    fn scalar(&mut self, lit: &Lit, elem: Elem) -> Option<Scalar> {
        match literal(lit, elem) {
            Ok(s) => Some(s),
            Err(m) => {
                self.error(lit.loc, m);
                None
            }
        }
    }

    /// Resolves the return statement and checks it against the header.
    fn ret(&mut self) -> Vec<Value> {
        let f = self.f;
        let Some(ret) = &f.ret else {
            return Vec::new();
        };
        let count_ok = ret.values.len() == f.results.len();
        if !count_ok {
            let declared = f.results.len();
            self.error(
                ret.loc,
                format!(
                    "@{} declares {declared} result{}, but the return statement gives {}",
                    super::printer::name_text(&f.name.text),
                    if declared == 1 { "" } else { "s" },
                    ret.values.len()
                ),
            );
        }
        let mut outputs = Vec::new();
        for (pos, name) in ret.values.iter().enumerate() {
            let Some(v) = self.operand(name) else {
                continue;
            };
            outputs.push(v);
            let Some((declared, _)) = f.results.get(pos).filter(|_| count_ok) else {
                continue;
            };
            let got = self.b.ty(v);
            if got != declared {
                let message = format!(
                    "returned value %{} has type {got}, but result {pos} of @{} is declared {declared}",
                    super::printer::name_text(&name.text),
                    super::printer::name_text(&f.name.text)
                );
                self.error(name.loc, message);
            }
        }
        outputs
    }
}

/// The text of a literal, for messages.
fn lit_text(lit: &Lit) -> String {
    let body = match &lit.kind {
        LitKind::Int(s) | LitKind::Float(s) => s.clone(),
        LitKind::Inf => "inf".into(),
        LitKind::Nan(None) => "nan".into(),
        LitKind::Nan(Some(h)) => format!("nan(0x{h})"),
        LitKind::Bool(b) => b.to_string(),
    };
    if lit.neg { format!("-{body}") } else { body }
}

/// Converts a literal to a scalar of `elem`. Float literals for `f32` are read
/// as `f32` directly (no double rounding), so `f32` values read back exactly.
fn literal(lit: &Lit, elem: Elem) -> Result<Scalar, String> {
    let text = lit_text(lit);
    let wrong = |what: &str| {
        Err(format!(
            "malformed literal: expected {what}, found `{text}`"
        ))
    };
    match (elem, &lit.kind) {
        (Elem::F64, LitKind::Int(_) | LitKind::Float(_)) => match text.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Scalar::F64(x)),
            _ => Err(format!("literal `{text}` is out of range for f64")),
        },
        (Elem::F32, LitKind::Int(_) | LitKind::Float(_)) => match text.parse::<f32>() {
            Ok(x) if x.is_finite() => Ok(Scalar::F32(x)),
            _ => Err(format!("literal `{text}` is out of range for f32")),
        },
        (Elem::F64, LitKind::Inf) => Ok(Scalar::F64(if lit.neg {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        })),
        (Elem::F32, LitKind::Inf) => Ok(Scalar::F32(if lit.neg {
            f32::NEG_INFINITY
        } else {
            f32::INFINITY
        })),
        (Elem::F64, LitKind::Nan(None)) => {
            Ok(Scalar::F64(if lit.neg { -f64::NAN } else { f64::NAN }))
        }
        (Elem::F32, LitKind::Nan(None)) => {
            Ok(Scalar::F32(if lit.neg { -f32::NAN } else { f32::NAN }))
        }
        (Elem::F64 | Elem::F32, LitKind::Nan(Some(_))) if lit.neg => Err(format!(
            "malformed literal `{text}`: a NaN with explicit bits takes no sign (the sign is a bit)"
        )),
        (Elem::F64, LitKind::Nan(Some(h))) => {
            match u64::from_str_radix(h, 16).ok().map(f64::from_bits) {
                Some(x) if x.is_nan() => Ok(Scalar::F64(x)),
                _ => Err(format!(
                    "malformed literal `{text}`: the bits are not those of an f64 NaN"
                )),
            }
        }
        (Elem::F32, LitKind::Nan(Some(h))) => {
            match u32::from_str_radix(h, 16).ok().map(f32::from_bits) {
                Some(x) if x.is_nan() => Ok(Scalar::F32(x)),
                _ => Err(format!(
                    "malformed literal `{text}`: the bits are not those of an f32 NaN"
                )),
            }
        }
        (Elem::F64 | Elem::F32, LitKind::Bool(_)) => wrong(&format!("an {elem} number")),
        (Elem::I64, LitKind::Int(_)) => text
            .parse::<i64>()
            .map(Scalar::I64)
            .map_err(|_| format!("literal `{text}` is out of range for i64")),
        (Elem::I64, _) => wrong("an i64 literal (an integer)"),
        (Elem::Bool, LitKind::Bool(b)) => Ok(Scalar::Bool(*b)),
        (Elem::Bool, _) => wrong("`true` or `false`"),
    }
}

/// Attaches the `rules` lines to the module's functions; a name the module
/// does not have, or a function given rules twice, is an error at its name.
pub(super) fn attach_rules(module: &mut Module, rules: &[RulesAst], errors: &mut Vec<ParseError>) {
    let mut done: HashSet<&str> = HashSet::new();
    for r in rules {
        let mut ok = true;
        for name in std::iter::once(&r.func).chain(&r.jvp).chain(&r.vjp) {
            if !module.contains(&name.text) {
                push_error(
                    errors,
                    name.loc,
                    format!("no function named @{}", name.text),
                );
                ok = false;
            }
        }
        if !done.insert(&r.func.text) {
            push_error(
                errors,
                r.func.loc,
                format!("@{} is given rules twice", r.func.text),
            );
            ok = false;
        }
        if ok {
            let set = crate::function::CustomRules {
                jvp: r.jvp.as_ref().map(|n| Arc::from(n.text.as_str())),
                vjp: r.vjp.as_ref().map(|n| Arc::from(n.text.as_str())),
            };
            if let Err(e) = module.set_rules(&r.func.text, set) {
                push_error(errors, r.func.loc, e.to_string());
            }
        }
    }
}
