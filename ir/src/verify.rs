//! The verifier: checks every invariant of a module and reports all violations.
//!
//! Checked, for every function:
//! 1. Every output refers to a value of the function.
//! 2. Values are numbered in definition order: parameter `i` is value `i`, and
//!    the results of each node follow, in node order. So every operand of a
//!    node is defined before the node (SSA, definition before use).
//! 3. Every value has a name unique in its function. Any text is a name:
//!    the printer writes names made of `[A-Za-z0-9_.]` bare and quotes the
//!    others (`%"a b"`, `%""`), so every name round-trips.
//! 4. Every node's stored result types equal what [`crate::typing::infer`]
//!    computes from its operands (this covers every shape rule, literal types,
//!    callee existence and `call`/`scan`/`while` signatures).
//! 5. Every size variable mentioned anywhere in the function (value types, op
//!    attributes) is bound by a parameter: it appears as a whole dimension of
//!    some parameter's type.
//!
//! 6. No dimension written as a number is negative: in value types, slice
//!    bounds, pads, `scan` lengths and `while` maxima (a symbolic one such as
//!    `n-1` is checked when the sizes are known; `size` is a value, not a
//!    dimension, and may be negative).
//!
//! And for the module:
//! 7. The call graph (`call`, `scan` bodies, `while` conditions and bodies) has
//!    no cycles, so evaluation and transforms terminate, and no chain of calls
//!    is longer than [`Limits::max_call_depth`] functions, so every backend and
//!    transform accepts the same programs.
//! 8. Every custom derivative rule attached to a function names functions of
//!    the module, and each rule has the signature
//!    [`crate::function::CustomRules`] documents for that function.
//!
//! Facts that depend on concrete sizes (a symbolic slice bound within its axis)
//! are checked when a function is evaluated or instantiated.

use crate::dim::{Dim, SizeVar};
use crate::function::{Function, Module, NodeId, Value, ValueDef};
use crate::limits::{Limits, call_depths};
use crate::op::Op;
use crate::types::Type;
use crate::typing::infer;
use std::collections::{HashMap, HashSet};
use std::fmt;

/// One violated invariant, located by function, node and value names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyError {
    /// The function (without `@`).
    pub func: String,
    /// The node index, if the error is about a node.
    pub node: Option<NodeId>,
    /// Names of the values involved (without `%`).
    pub values: Vec<String>,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "@{}", self.func)?;
        if !self.values.is_empty() {
            let names: Vec<String> = self.values.iter().map(|n| format!("%{n}")).collect();
            write!(f, ", {}", names.join(", "))?;
        }
        write!(f, ": {}", self.message)
    }
}

/// All violations found (at least one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifyErrors(pub Vec<VerifyError>);

impl fmt::Display for VerifyErrors {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, e) in self.0.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(f, "{e}")?;
        }
        Ok(())
    }
}

impl std::error::Error for VerifyErrors {}

/// Verifies every function of the module and the call graph, with the
/// default [`Limits`].
pub fn verify_module(module: &Module) -> Result<(), VerifyErrors> {
    verify_module_with(module, &Limits::default())
}

/// Verifies every function of the module and the call graph; the call
/// graph may nest `limits.max_call_depth` functions deep.
pub fn verify_module_with(module: &Module, limits: &Limits) -> Result<(), VerifyErrors> {
    let mut errors = Vec::new();
    for f in module.functions() {
        check_function(module, f, &mut errors);
    }
    check_call_graph(module, &mut errors);
    check_call_depth(module, limits, &mut errors);
    check_rules(module, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(VerifyErrors(errors))
    }
}

/// Verifies one function against the signatures of `module`'s functions.
pub fn verify_function(module: &Module, f: &Function) -> Result<(), VerifyErrors> {
    let mut errors = Vec::new();
    check_function(module, f, &mut errors);
    if errors.is_empty() {
        Ok(())
    } else {
        Err(VerifyErrors(errors))
    }
}

fn check_function(module: &Module, f: &Function, errors: &mut Vec<VerifyError>) {
    let err = |node: Option<NodeId>, values: Vec<String>, message: String| VerifyError {
        func: f.name().to_string(),
        node,
        values,
        message,
    };
    let count = f.value_count();
    let name_of = |v: Value| -> String {
        if v.index() < count {
            f.value_name(v).to_string()
        } else {
            format!("<value {}>", v.0)
        }
    };

    // 2. Definition order.
    let mut next = 0u32;
    let mut order_ok = true;
    for (i, &p) in f.params().iter().enumerate() {
        if p.0 != next || p.index() >= count || f.def(p) != ValueDef::Param(i as u32) {
            errors.push(err(
                None,
                vec![],
                format!("parameter {i} is not value {next}"),
            ));
            order_ok = false;
        }
        next += 1;
    }
    for (n, node) in f.nodes().iter().enumerate() {
        let id = NodeId(n as u32);
        for (j, &a) in node.args.iter().enumerate() {
            if a.0 >= next {
                errors.push(err(
                    Some(id),
                    node.results.iter().map(|&r| name_of(r)).collect(),
                    format!(
                        "`{}` operand {j} ({}) is used before it is defined",
                        node.op.name(),
                        name_of(a)
                    ),
                ));
                order_ok = false;
            }
        }
        for (j, &r) in node.results.iter().enumerate() {
            if r.0 != next || r.index() >= count || f.def(r) != ValueDef::Result(id, j as u32) {
                errors.push(err(
                    Some(id),
                    vec![],
                    format!("result {j} of `{}` is not value {next}", node.op.name()),
                ));
                order_ok = false;
            }
            next += 1;
        }
    }
    if next as usize != count {
        errors.push(err(
            None,
            vec![],
            format!(
                "{} value(s) are not defined by any parameter or node",
                count.saturating_sub(next as usize)
            ),
        ));
        order_ok = false;
    }
    for (i, &o) in f.outputs().iter().enumerate() {
        if o.index() >= count {
            errors.push(err(
                None,
                vec![],
                format!("output {i} is not a value of the function"),
            ));
            order_ok = false;
        }
    }
    if !order_ok {
        // Type checks index values by number; skip them on a broken table.
        return;
    }

    // 3. Names: any text (the printer quotes what is not bare), unique.
    let mut seen: HashMap<&str, Value> = HashMap::new();
    for v in f.values() {
        let name = f.value_name(v);
        if let Some(prev) = seen.insert(name, v) {
            errors.push(err(
                f.defining_node(v),
                vec![name.to_string()],
                format!(
                    "name %{name} is defined twice (values {} and {})",
                    prev.0, v.0
                ),
            ));
        }
    }

    // 4. Types.
    for (n, node) in f.nodes().iter().enumerate() {
        let id = NodeId(n as u32);
        let arg_types: Vec<&Type> = node.args.iter().map(|&a| f.ty(a)).collect();
        let result_names: Vec<String> = node.results.iter().map(|&r| name_of(r)).collect();
        match infer(&node.op, &arg_types, module) {
            Ok(types) => {
                if types.len() != node.results.len() {
                    errors.push(err(
                        Some(id),
                        result_names,
                        format!(
                            "`{}` has {} result(s), {} named",
                            node.op.name(),
                            types.len(),
                            node.results.len()
                        ),
                    ));
                    continue;
                }
                for (&r, t) in node.results.iter().zip(&types) {
                    if f.ty(r) != t {
                        errors.push(err(
                            Some(id),
                            vec![name_of(r)],
                            format!(
                                "`{}` gives type {t}, but %{} is declared {}",
                                node.op.name(),
                                name_of(r),
                                f.ty(r)
                            ),
                        ));
                    }
                }
            }
            Err(e) => {
                let mut names = result_names;
                names.extend(node.args.iter().map(|&a| name_of(a)));
                errors.push(err(Some(id), names, e.to_string()));
            }
        }
    }

    // 5. Size variables.
    let bound: HashSet<SizeVar> = f.size_vars().into_iter().collect();
    let mut reported: HashSet<SizeVar> = HashSet::new();
    let mut check_dim = |d: &Dim,
                         node: Option<NodeId>,
                         what: String,
                         errors: &mut Vec<VerifyError>| {
        for v in d.vars() {
            if !bound.contains(&v) && reported.insert(v.clone()) {
                errors.push(err(
                    node,
                    vec![],
                    format!("size variable `{v}` in {what} is not bound by a parameter (it must be a whole dimension of some parameter's type)"),
                ));
            }
        }
    };
    for v in f.values() {
        for d in f.ty(v).shape.dims() {
            check_dim(
                d,
                f.defining_node(v),
                format!("the type of %{}", name_of(v)),
                errors,
            );
        }
    }
    for (n, node) in f.nodes().iter().enumerate() {
        for d in op_dims(&node.op) {
            check_dim(
                d,
                Some(NodeId(n as u32)),
                format!("`{}`", node.op.name()),
                errors,
            );
        }
    }

    // 6. No negative numbers as dimensions.
    let mut negative = |d: &Dim, node: Option<NodeId>, what: String| {
        if let Some(k) = d.known()
            && k < 0
        {
            errors.push(err(
                node,
                vec![],
                format!("{what} is {k}, which is negative"),
            ));
        }
    };
    for &p in f.params() {
        for d in f.ty(p).shape.dims() {
            negative(d, None, format!("a dimension of %{}", name_of(p)));
        }
    }
    for (n, node) in f.nodes().iter().enumerate() {
        let id = Some(NodeId(n as u32));
        for &r in &node.results {
            for d in f.ty(r).shape.dims() {
                negative(d, id, format!("a dimension of %{}", name_of(r)));
            }
        }
        // `size` is an integer value, not a size: it may be negative.
        if let Op::Size { .. } = node.op {
            continue;
        }
        let what = match &node.op {
            Op::Scan { .. } => "the length of `scan`",
            Op::ScanAdjoint { .. } => "the length of `scan_adjoint`",
            Op::While { .. } => "the `max` of `while`",
            op => op.name(),
        };
        for d in op_dims(&node.op) {
            negative(d, id, format!("a size in `{what}`"));
        }
    }
}

/// Reports the function with the longest chain of calls if it is longer than
/// the limit (one error, not one per function of the chain).
fn check_call_depth(module: &Module, limits: &Limits, errors: &mut Vec<VerifyError>) {
    let depths = call_depths(module);
    let deepest = module
        .functions()
        .iter()
        .map(|f| (depths.get(f.name()).copied().unwrap_or(0), f.name()))
        .filter(|&(d, _)| d != usize::MAX)
        .max();
    if let Some((depth, name)) = deepest
        && depth > limits.max_call_depth
    {
        errors.push(VerifyError {
            func: name.to_string(),
            node: None,
            values: vec![],
            message: format!(
                "calls nest {depth} functions deep from here, deeper than the limit of {}",
                limits.max_call_depth
            ),
        });
    }
}

/// Dimensions that appear in an op's attributes.
pub fn op_dims(op: &Op) -> Vec<&Dim> {
    match op {
        Op::Const { ty, .. } | Op::Iota { ty, .. } => ty.shape.dims().iter().collect(),
        Op::Size { dim, .. } => vec![dim],
        Op::Broadcast { shape, .. } | Op::Reshape { shape } => shape.dims().iter().collect(),
        Op::Slice { ranges } => ranges.iter().flat_map(|r| [&r.start, &r.stop]).collect(),
        Op::Pad { lo, hi, .. } => lo.iter().chain(hi).collect(),
        Op::ScatterAdd { size, .. } => vec![size],
        Op::Scan { length, .. } => vec![length],
        Op::While { max_trips, .. } => vec![max_trips],
        Op::ScanAdjoint { length, .. } => vec![length],
        Op::Unary(_)
        | Op::Binary(_)
        | Op::Compare(_)
        | Op::Select
        | Op::Reduce { .. }
        | Op::Transpose { .. }
        | Op::Concat { .. }
        | Op::Gather { .. }
        | Op::Matmul
        | Op::Convert { .. }
        | Op::Call { .. } => vec![],
    }
}

fn check_call_graph(module: &Module, errors: &mut Vec<VerifyError>) {
    // Iterative depth-first search with colours; reports each cycle once.
    #[derive(Clone, Copy, PartialEq)]
    enum Colour {
        White,
        Grey,
        Black,
    }
    let funcs = module.functions();
    let index: HashMap<&str, usize> = funcs
        .iter()
        .enumerate()
        .map(|(i, f)| (f.name(), i))
        .collect();
    let edges: Vec<Vec<usize>> = funcs
        .iter()
        .map(|f| {
            f.nodes()
                .iter()
                .flat_map(|n| n.op.callees())
                .filter_map(|c| index.get(&**c).copied())
                .collect()
        })
        .collect();
    let mut colour = vec![Colour::White; funcs.len()];
    for start in 0..funcs.len() {
        if colour[start] != Colour::White {
            continue;
        }
        let mut stack: Vec<(usize, usize)> = vec![(start, 0)];
        colour[start] = Colour::Grey;
        while let Some(&mut (u, ref mut next)) = stack.last_mut() {
            if let Some(&w) = edges[u].get(*next) {
                *next += 1;
                match colour[w] {
                    Colour::White => {
                        colour[w] = Colour::Grey;
                        stack.push((w, 0));
                    }
                    Colour::Grey => {
                        let path: Vec<String> = stack
                            .iter()
                            .skip_while(|(x, _)| *x != w)
                            .map(|(x, _)| format!("@{}", funcs[*x].name()))
                            .collect();
                        errors.push(VerifyError {
                            func: funcs[u].name().to_string(),
                            node: None,
                            values: vec![],
                            message: format!(
                                "recursive calls are not allowed: {} -> @{}",
                                path.join(" -> "),
                                funcs[w].name()
                            ),
                        });
                    }
                    Colour::Black => {}
                }
            } else {
                colour[u] = Colour::Black;
                stack.pop();
            }
        }
    }
}

/// Whether `s` is a valid value or function name.
pub fn is_identifier(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.')
}

/// Invariant 7: each attached rule exists and has its documented signature.
fn check_rules(module: &Module, errors: &mut Vec<VerifyError>) {
    let show = |tys: &[Type]| {
        let t: Vec<String> = tys.iter().map(ToString::to_string).collect();
        format!("({})", t.join(", "))
    };
    for (name, rules) in module.all_rules() {
        let mut err = |message: String| {
            errors.push(VerifyError {
                func: name.to_string(),
                node: None,
                values: vec![],
                message,
            })
        };
        let Some(f) = module.get(name) else {
            err("has custom rules but is not a function of the module".into());
            continue;
        };
        let (params, outputs) = (f.param_types(), f.output_types());
        let floats = |tys: &[Type]| -> Vec<Type> {
            tys.iter().filter(|t| t.elem.is_float()).cloned().collect()
        };
        let (fp, fo) = (floats(&params), floats(&outputs));
        let kinds = [
            (
                "JVP",
                &rules.jvp,
                [&params[..], &fp].concat(),
                [&outputs[..], &fo].concat(),
            ),
            (
                "VJP",
                &rules.vjp,
                [&params[..], &fo].concat(),
                [&outputs[..], &fp].concat(),
            ),
        ];
        for (kind, rule, want_in, want_out) in kinds {
            let Some(rule) = rule else { continue };
            let Some(r) = module.get(rule) else {
                err(format!(
                    "its {kind} rule @{rule} is not a function of the module"
                ));
                continue;
            };
            let (got_in, got_out) = (r.param_types(), r.output_types());
            if got_in != want_in || got_out != want_out {
                err(format!(
                    "its {kind} rule @{rule} has signature {} -> {}; expected {} -> {}",
                    show(&got_in),
                    show(&got_out),
                    show(&want_in),
                    show(&want_out)
                ));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::builder::FunctionBuilder;
    use crate::op::{BinaryOp, UnaryOp};
    use crate::types::{Elem, Shape};
    use crate::typing::NoSignatures;
    use std::sync::Arc;

    fn module_of(fs: Vec<Function>) -> Module {
        let mut m = Module::new();
        for f in fs {
            m.add(f).unwrap();
        }
        m
    }

    #[test]
    fn accepts_a_well_typed_function() {
        let mut b = FunctionBuilder::new("f");
        let x = b.param("x", Type::f64(&[3]));
        let y = b
            .push1(Op::Unary(UnaryOp::Exp), &[x], &NoSignatures)
            .unwrap();
        let z = b
            .push1(Op::Binary(BinaryOp::Add), &[x, y], &NoSignatures)
            .unwrap();
        let m = module_of(vec![b.finish(&[z])]);
        assert_eq!(verify_module(&m), Ok(()));
    }

    #[test]
    fn reports_every_type_error_with_names() {
        let mut b = FunctionBuilder::new("f");
        let x = b.param("x", Type::f64(&[3]));
        let y = b.param("y", Type::f64(&[4]));
        let s = b.push_declared(Op::Binary(BinaryOp::Add), &[x, y], vec![Type::f64(&[3])]);
        let t = b.push_declared(Op::Unary(UnaryOp::Exp), &[x], vec![Type::f32(&[3])]);
        b.set_name(s[0], "s");
        let m = module_of(vec![b.finish(&[s[0], t[0]])]);
        let errs = verify_module(&m).unwrap_err().0;
        assert_eq!(errs.len(), 2, "{errs:?}");
        assert!(errs[0].message.contains("f64[3] and f64[4]"), "{}", errs[0]);
        assert!(errs[0].values.contains(&"s".to_string()));
        assert_eq!(errs[0].node, Some(NodeId(0)));
        assert!(errs[1].message.contains("declared f32[3]"), "{}", errs[1]);
    }

    #[test]
    fn reports_unbound_size_variables() {
        let mut b = FunctionBuilder::new("f");
        let x = b.param("x", Type::new(Elem::F64, Shape(vec![Dim::var("n")])));
        let op = Op::Const {
            ty: Type::new(Elem::F64, Shape(vec![Dim::var("m")])),
            data: crate::op::ConstData::Splat(crate::op::Scalar::F64(0.0)),
        };
        let c = b.push(op, &[], &NoSignatures).unwrap();
        let m = module_of(vec![b.finish(&[x, c[0]])]);
        let errs = verify_module(&m).unwrap_err().0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("`m`"));
    }

    #[test]
    fn reports_recursion() {
        let mk = |name: &str, callee: &str| {
            let mut b = FunctionBuilder::new(name);
            let x = b.param("x", Type::f64(&[]));
            let r = b.push_declared(
                Op::Call {
                    func: Arc::from(callee),
                },
                &[x],
                vec![Type::f64(&[])],
            );
            b.finish(&r)
        };
        let m = module_of(vec![mk("a", "b"), mk("b", "a")]);
        let errs = verify_module(&m).unwrap_err().0;
        assert_eq!(errs.len(), 1, "{errs:?}");
        assert!(errs[0].message.contains("recursive"), "{}", errs[0]);
    }

    #[test]
    fn reports_use_before_definition() {
        let mut b = FunctionBuilder::new("f");
        let x = b.param("x", Type::f64(&[]));
        let _ = b.push_declared(
            Op::Binary(BinaryOp::Add),
            &[x, Value(5)],
            vec![Type::f64(&[])],
        );
        let f = b.finish(&[x]);
        let errs = verify_module(&module_of(vec![f])).unwrap_err().0;
        assert!(
            errs[0].message.contains("before it is defined"),
            "{}",
            errs[0]
        );
    }
}
