//! The type rule of every op, in one place.
//!
//! [`infer`] computes the result types of an op from its attributes and operand
//! types, or says why the op is ill-typed. The builder, the parser and the
//! verifier all call it; nothing else encodes a shape rule.
//!
//! Shapes may be symbolic. Where a rule compares sizes, symbolic sizes must be
//! equal as polynomials; facts that cannot be decided symbolically (a slice
//! bound within its axis when either is symbolic) are checked when the function
//! is evaluated or instantiated at concrete sizes.

use crate::dim::{Dim, DimOverflow, SizeVar};
use crate::function::Module;
use crate::op::{ConstData, Op, ReduceOp, Scalar};
use crate::types::{Elem, Shape, Type};
use std::collections::HashMap;
use std::fmt;

/// An op is ill-typed. Names the op and says what is wrong, with the shapes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeError {
    /// The op's text name.
    pub op: &'static str,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for TypeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "`{}`: {}", self.op, self.message)
    }
}

impl std::error::Error for TypeError {}

/// Where the callees of `call`, `scan` and `while` are looked up.
pub trait Signatures {
    /// Parameter and output types of the named function.
    fn signature(&self, name: &str) -> Option<(Vec<Type>, Vec<Type>)>;
}

impl Signatures for Module {
    fn signature(&self, name: &str) -> Option<(Vec<Type>, Vec<Type>)> {
        self.get(name).map(|f| (f.param_types(), f.output_types()))
    }
}

/// No callees (for functions that make no calls).
pub struct NoSignatures;

impl Signatures for NoSignatures {
    fn signature(&self, _: &str) -> Option<(Vec<Type>, Vec<Type>)> {
        None
    }
}

/// The result types of `op` applied to operands of types `args`.
pub fn infer(op: &Op, args: &[&Type], sigs: &dyn Signatures) -> Result<Vec<Type>, TypeError> {
    let name = op.name();
    let err = |message: String| TypeError { op: name, message };
    let overflow = |_: DimOverflow| TypeError {
        op: name,
        message: "dimension arithmetic overflows".into(),
    };
    let arity = |n: usize| -> Result<(), TypeError> {
        if args.len() == n {
            Ok(())
        } else {
            Err(err(format!("takes {n} operand(s), got {}", args.len())))
        }
    };
    let one = |t: Type| Ok(vec![t]);

    match op {
        Op::Const { ty, data } => {
            arity(0)?;
            match data {
                ConstData::Splat(s) => {
                    if s.elem() != ty.elem {
                        return Err(err(format!("literal {s} is not of type {}", ty.elem)));
                    }
                }
                ConstData::Dense(items) => {
                    let Some(known) = ty.shape.as_known() else {
                        return Err(err(format!(
                            "a dense constant needs a known shape, got {}",
                            ty.shape
                        )));
                    };
                    let count =
                        checked_count(&known).ok_or_else(|| err("too many elements".into()))?;
                    if count != items.len() {
                        return Err(err(format!(
                            "type {ty} has {count} element(s), the literal has {}",
                            items.len()
                        )));
                    }
                    if let Some(bad) = items.iter().find(|s| s.elem() != ty.elem) {
                        return Err(err(format!("element {bad} is not of type {}", ty.elem)));
                    }
                }
            }
            one(ty.clone())
        }
        Op::Iota { ty, axis } => {
            arity(0)?;
            if !ty.elem.is_numeric() {
                return Err(err(format!(
                    "element type must be numeric, got {}",
                    ty.elem
                )));
            }
            if *axis >= ty.rank() {
                return Err(err(format!("axis {axis} out of range for {ty}")));
            }
            one(ty.clone())
        }
        Op::Size { elem, .. } => {
            arity(0)?;
            if !elem.is_numeric() {
                return Err(err(format!("element type must be numeric, got {elem}")));
            }
            one(Type::scalar(*elem))
        }
        Op::Unary(u) => {
            arity(1)?;
            if !u.accepts(args[0].elem) {
                return Err(err(format!("not defined for {}", args[0])));
            }
            one(args[0].clone())
        }
        Op::Binary(b) => {
            arity(2)?;
            same_types(args[0], args[1]).map_err(&err)?;
            if !b.accepts(args[0].elem) {
                return Err(err(format!("not defined for {}", args[0])));
            }
            one(args[0].clone())
        }
        Op::Compare(c) => {
            arity(2)?;
            same_types(args[0], args[1]).map_err(&err)?;
            let ordered = !matches!(c, crate::op::CmpOp::Eq | crate::op::CmpOp::Ne);
            if ordered && !args[0].elem.is_numeric() {
                return Err(err(format!("not defined for {}", args[0])));
            }
            one(args[0].with_elem(Elem::Bool))
        }
        Op::Select => {
            arity(3)?;
            if args[0].elem != Elem::Bool || args[0].shape != args[1].shape {
                return Err(err(format!(
                    "condition must be bool{}, got {}",
                    args[1].shape, args[0]
                )));
            }
            same_types(args[1], args[2]).map_err(&err)?;
            one(args[1].clone())
        }
        Op::Broadcast { shape, dims } => {
            arity(1)?;
            let x = args[0];
            if dims.len() != x.rank() {
                return Err(err(format!(
                    "dims {dims:?} must list one result axis per axis of {x}"
                )));
            }
            if dims.windows(2).any(|w| w[0] >= w[1]) || dims.iter().any(|&d| d >= shape.rank()) {
                return Err(err(format!(
                    "dims {dims:?} must be increasing axes of the result shape {shape}"
                )));
            }
            for (i, &d) in dims.iter().enumerate() {
                let (from, to) = (&x.shape.0[i], &shape.0[d]);
                if from != to && !from.is(1) {
                    return Err(err(format!(
                        "cannot broadcast {x} to {}: axis {i} has size {from}, target axis {d} has {to}",
                        Type::new(x.elem, shape.clone())
                    )));
                }
            }
            one(Type::new(x.elem, shape.clone()))
        }
        Op::Reduce { op: r, axes } => {
            arity(1)?;
            let x = args[0];
            check_axes(axes, x.rank()).map_err(&err)?;
            if !x.elem.is_numeric() {
                return Err(err(format!("not defined for {x}")));
            }
            let _ = r;
            let shape: Vec<Dim> = x
                .shape
                .dims()
                .iter()
                .enumerate()
                .filter(|(i, _)| !axes.contains(i))
                .map(|(_, d)| d.clone())
                .collect();
            one(Type::new(x.elem, Shape(shape)))
        }
        Op::Reshape { shape } => {
            arity(1)?;
            let x = args[0];
            let from = x.shape.element_count().map_err(overflow)?;
            let to = shape.element_count().map_err(overflow)?;
            if from != to {
                return Err(err(format!(
                    "cannot reshape {x} ({from} elements) to {shape} ({to} elements)"
                )));
            }
            one(Type::new(x.elem, shape.clone()))
        }
        Op::Transpose { perm } => {
            arity(1)?;
            let x = args[0];
            let mut seen = vec![false; x.rank()];
            if perm.len() != x.rank()
                || perm
                    .iter()
                    .any(|&p| p >= x.rank() || std::mem::replace(&mut seen[p], true))
            {
                return Err(err(format!(
                    "perm {perm:?} is not a permutation of the axes of {x}"
                )));
            }
            let shape = perm.iter().map(|&p| x.shape.0[p].clone()).collect();
            one(Type::new(x.elem, Shape(shape)))
        }
        Op::Slice { ranges } => {
            arity(1)?;
            let x = args[0];
            if ranges.len() != x.rank() {
                return Err(err(format!(
                    "needs one range per axis of {x}, got {}",
                    ranges.len()
                )));
            }
            let mut shape = Vec::with_capacity(ranges.len());
            for (axis, (r, d)) in ranges.iter().zip(x.shape.dims()).enumerate() {
                if r.step == 0 {
                    return Err(err(format!("axis {axis}: step must be at least 1")));
                }
                let in_range = |a: &Dim, b: &Dim| match (a.known(), b.known()) {
                    (Some(a), Some(b)) => a <= b,
                    _ => true,
                };
                if !in_range(&Dim::ZERO, &r.start)
                    || !in_range(&r.start, &r.stop)
                    || !in_range(&r.stop, d)
                {
                    return Err(err(format!(
                        "axis {axis}: range {}:{} is not within 0:{d} of {x}",
                        r.start, r.stop
                    )));
                }
                match Dim::range_len(&r.start, &r.stop, r.step).map_err(overflow)? {
                    Some(len) => shape.push(len),
                    None => {
                        return Err(err(format!(
                            "axis {axis}: a strided range needs known bounds, got {}:{}:{}",
                            r.start, r.stop, r.step
                        )));
                    }
                }
            }
            one(Type::new(x.elem, Shape(shape)))
        }
        Op::Concat { axis } => {
            if args.is_empty() {
                return Err(err("needs at least one operand".into()));
            }
            let first = args[0];
            if *axis >= first.rank() {
                return Err(err(format!("axis {axis} out of range for {first}")));
            }
            let mut total = Dim::ZERO;
            for (i, a) in args.iter().enumerate() {
                let compatible = a.elem == first.elem
                    && a.rank() == first.rank()
                    && a.shape
                        .dims()
                        .iter()
                        .zip(first.shape.dims())
                        .enumerate()
                        .all(|(j, (p, q))| j == *axis || p == q);
                if !compatible {
                    return Err(err(format!(
                        "operand {i} of type {a} does not match {first} except along axis {axis}"
                    )));
                }
                total = total.checked_add(&a.shape.0[*axis]).map_err(overflow)?;
            }
            let mut shape = first.shape.clone();
            shape.0[*axis] = total;
            one(Type::new(first.elem, shape))
        }
        Op::Pad {
            lo,
            hi,
            interior,
            value,
        } => {
            arity(1)?;
            let x = args[0];
            if lo.len() != x.rank() || hi.len() != x.rank() || interior.len() != x.rank() {
                return Err(err(format!(
                    "lo, hi and interior need one entry per axis of {x}"
                )));
            }
            if value.elem() != x.elem {
                return Err(err(format!(
                    "padding value {value} is not of type {}",
                    x.elem
                )));
            }
            let mut shape = Vec::with_capacity(x.rank());
            for (axis, d) in x.shape.dims().iter().enumerate() {
                if lo[axis].known().is_some_and(|k| k < 0)
                    || hi[axis].known().is_some_and(|k| k < 0)
                {
                    return Err(err(format!("axis {axis}: padding must not be negative")));
                }
                let mut out = d
                    .checked_add(&lo[axis])
                    .map_err(overflow)?
                    .checked_add(&hi[axis])
                    .map_err(overflow)?;
                if interior[axis] > 0 {
                    let Some(k) = d.known() else {
                        return Err(err(format!(
                            "axis {axis}: interior padding needs a known size, got {d}"
                        )));
                    };
                    let gaps = i64::try_from(interior[axis])
                        .ok()
                        .and_then(|i| i.checked_mul(k.saturating_sub(1).max(0)))
                        .ok_or_else(|| overflow(DimOverflow))?;
                    out = out.checked_add(&Dim::Known(gaps)).map_err(overflow)?;
                }
                shape.push(out);
            }
            one(Type::new(x.elem, Shape(shape)))
        }
        Op::Gather { axis } => {
            arity(2)?;
            let (x, idx) = (args[0], args[1]);
            if idx.elem != Elem::I64 {
                return Err(err(format!("indices must be i64, got {idx}")));
            }
            if *axis >= x.rank() {
                return Err(err(format!("axis {axis} out of range for {x}")));
            }
            let mut shape = x.shape.0[..*axis].to_vec();
            shape.extend_from_slice(idx.shape.dims());
            shape.extend_from_slice(&x.shape.0[axis + 1..]);
            one(Type::new(x.elem, Shape(shape)))
        }
        Op::ScatterAdd { axis, size } => {
            arity(2)?;
            let (upd, idx) = (args[0], args[1]);
            if idx.elem != Elem::I64 {
                return Err(err(format!("indices must be i64, got {idx}")));
            }
            if !upd.elem.is_numeric() {
                return Err(err(format!("updates must be numeric, got {upd}")));
            }
            let end = axis
                .checked_add(idx.rank())
                .filter(|&end| end <= upd.rank());
            let matches = end.is_some_and(|end| upd.shape.0[*axis..end] == idx.shape.0[..]);
            if !matches {
                return Err(err(format!(
                    "updates {upd} must have the indices' shape {} at axis {axis}",
                    idx.shape
                )));
            }
            let mut shape = upd.shape.0[..*axis].to_vec();
            shape.push(size.clone());
            shape.extend_from_slice(&upd.shape.0[axis + idx.rank()..]);
            one(Type::new(upd.elem, Shape(shape)))
        }
        Op::Matmul => {
            arity(2)?;
            let (a, b) = (args[0], args[1]);
            let r = a.rank();
            let ok = a.elem == b.elem
                && a.elem.is_numeric()
                && r >= 2
                && b.rank() == r
                && a.shape.0[..r - 2] == b.shape.0[..r - 2]
                && a.shape.0[r - 1] == b.shape.0[r - 2];
            if !ok {
                return Err(err(format!(
                    "operands {a} and {b} must be [batch.., m, k] and [batch.., k, n] of one numeric type"
                )));
            }
            let mut shape = a.shape.0[..r - 1].to_vec();
            shape.push(b.shape.0[r - 1].clone());
            one(Type::new(a.elem, Shape(shape)))
        }
        Op::Convert { elem } => {
            arity(1)?;
            one(args[0].with_elem(*elem))
        }
        Op::Call { func } => {
            let (params, outputs) = sigs
                .signature(func)
                .ok_or_else(|| err(format!("no function named @{func}")))?;
            let got: Vec<Type> = args.iter().map(|t| (*t).clone()).collect();
            instantiate_signature(&params, &outputs, &got).map_err(|m| err(format!("@{func}: {m}")))
        }
        Op::Scan {
            body,
            length,
            n_consts,
            n_carry,
            checkpoint,
            ..
        } => {
            checkpoint.check().map_err(&err)?;
            let (params, outputs) = sigs
                .signature(body)
                .ok_or_else(|| err(format!("no function named @{body}")))?;
            if n_consts + n_carry > args.len() {
                return Err(err(format!(
                    "{n_consts} consts and {n_carry} carries but only {} operands",
                    args.len()
                )));
            }
            // The body sees one slice of each `xs` operand per step.
            let mut body_args: Vec<Type> = args[..n_consts + n_carry]
                .iter()
                .map(|t| (*t).clone())
                .collect();
            for (i, xs) in args[n_consts + n_carry..].iter().enumerate() {
                if xs.rank() == 0 || &xs.shape.0[0] != length {
                    return Err(err(format!(
                        "xs operand {i} of type {xs} must have leading axis of size {length}"
                    )));
                }
                body_args.push(Type::new(xs.elem, Shape(xs.shape.0[1..].to_vec())));
            }
            let outs = instantiate_signature(&params, &outputs, &body_args)
                .map_err(|m| err(format!("body @{body}: {m}")))?;
            if outs.len() < *n_carry {
                return Err(err(format!(
                    "body @{body} returns fewer values than the {n_carry} carries"
                )));
            }
            for (i, (o, c)) in outs
                .iter()
                .zip(&args[*n_consts..n_consts + n_carry])
                .enumerate()
            {
                if o != *c {
                    return Err(err(format!(
                        "body @{body} returns {o} for carry {i} of type {c}"
                    )));
                }
            }
            let mut results: Vec<Type> = outs[..*n_carry].to_vec();
            for y in &outs[*n_carry..] {
                let mut shape = vec![length.clone()];
                shape.extend_from_slice(y.shape.dims());
                results.push(Type::new(y.elem, Shape(shape)));
            }
            Ok(results)
        }
        Op::While {
            cond,
            body,
            n_consts,
            checkpoint,
            ..
        } => {
            checkpoint.check().map_err(&err)?;
            if *n_consts > args.len() {
                return Err(err(format!(
                    "{n_consts} consts but only {} operands",
                    args.len()
                )));
            }
            let got: Vec<Type> = args.iter().map(|t| (*t).clone()).collect();
            let (cp, co) = sigs
                .signature(cond)
                .ok_or_else(|| err(format!("no function named @{cond}")))?;
            let cond_out = instantiate_signature(&cp, &co, &got)
                .map_err(|m| err(format!("condition @{cond}: {m}")))?;
            if cond_out != [Type::scalar(Elem::Bool)] {
                return Err(err(format!(
                    "condition @{cond} must return one bool, returns {cond_out:?}"
                )));
            }
            let (bp, bo) = sigs
                .signature(body)
                .ok_or_else(|| err(format!("no function named @{body}")))?;
            let state = &got[*n_consts..];
            let body_out = instantiate_signature(&bp, &bo, &got)
                .map_err(|m| err(format!("body @{body}: {m}")))?;
            if body_out != state {
                return Err(err(format!(
                    "body @{body} returns {body_out:?}, the state is {state:?}"
                )));
            }
            let mut results = state.to_vec();
            results.push(Type::scalar(Elem::I64));
            Ok(results)
        }
        Op::ScanAdjoint {
            body,
            adjoint,
            length,
            checkpoint,
            n_consts,
            n_carry,
            n_xs,
            n_acarry,
            trips,
            ..
        } => {
            checkpoint.check().map_err(&err)?;
            let fixed = [*n_consts, *n_carry, *n_xs, *n_acarry, usize::from(*trips)]
                .iter()
                .try_fold(0usize, |a, &b| a.checked_add(b))
                .filter(|&k| k <= args.len())
                .ok_or_else(|| {
                    err(format!(
                        "{n_consts} consts, {n_carry} carries, {n_xs} scanned inputs and {n_acarry} adjoint carries{} but only {} operands",
                        if *trips { " and a trip count" } else { "" },
                        args.len()
                    ))
                })?;
            let n_axs = args.len() - fixed;
            let mut rest: &[&Type] = args;
            let mut take = |k: usize| {
                let (head, tail) = rest.split_at(k);
                rest = tail;
                head
            };
            let consts = take(*n_consts);
            let init = take(*n_carry);
            let xs = take(*n_xs);
            let ainit = take(*n_acarry);
            let axs = take(n_axs);
            let trip = take(usize::from(*trips));
            if let Some(t) = trip.first()
                && **t != Type::scalar(Elem::I64)
            {
                return Err(err(format!("the trip count must be i64, got {t}")));
            }
            let rows = |what: &str, stacked: &[&Type]| -> Result<Vec<Type>, TypeError> {
                stacked
                    .iter()
                    .enumerate()
                    .map(|(i, xs)| {
                        if xs.rank() == 0 || &xs.shape.0[0] != length {
                            Err(err(format!(
                                "{what} operand {i} of type {xs} must have leading axis of size {length}"
                            )))
                        } else {
                            Ok(Type::new(xs.elem, Shape(xs.shape.0[1..].to_vec())))
                        }
                    })
                    .collect()
            };
            let x_rows = rows("xs", xs)?;
            let ax_rows = rows("adjoint xs", axs)?;
            let owned = |ts: &[&Type]| ts.iter().map(|t| (*t).clone()).collect::<Vec<Type>>();

            let (bp, bo) = sigs
                .signature(body)
                .ok_or_else(|| err(format!("no function named @{body}")))?;
            let mut body_args = owned(consts);
            body_args.extend(owned(init));
            body_args.extend(x_rows.iter().cloned());
            let outs = instantiate_signature(&bp, &bo, &body_args)
                .map_err(|m| err(format!("body @{body}: {m}")))?;
            if outs.len() < *n_carry || outs[..*n_carry] != owned(init)[..] {
                return Err(err(format!(
                    "body @{body} must return the carry {} first, returns {}",
                    type_list(init.iter().copied()),
                    type_list(outs.iter())
                )));
            }

            let (ap, ao) = sigs
                .signature(adjoint)
                .ok_or_else(|| err(format!("no function named @{adjoint}")))?;
            let mut adj_args = owned(consts);
            adj_args.extend(owned(ainit));
            adj_args.extend(owned(init));
            adj_args.extend(x_rows);
            adj_args.extend(ax_rows);
            let aouts = instantiate_signature(&ap, &ao, &adj_args)
                .map_err(|m| err(format!("adjoint @{adjoint}: {m}")))?;
            if aouts.len() < *n_acarry || aouts[..*n_acarry] != owned(ainit)[..] {
                return Err(err(format!(
                    "adjoint @{adjoint} must return the adjoint carry {} first, returns {}",
                    type_list(ainit.iter().copied()),
                    type_list(aouts.iter())
                )));
            }
            let mut results: Vec<Type> = aouts[..*n_acarry].to_vec();
            for y in &aouts[*n_acarry..] {
                let mut shape = vec![length.clone()];
                shape.extend_from_slice(y.shape.dims());
                results.push(Type::new(y.elem, Shape(shape)));
            }
            Ok(results)
        }
    }
}

/// For messages: `f64[n], i64`.
fn type_list<'a>(types: impl IntoIterator<Item = &'a Type>) -> String {
    let names: Vec<String> = types.into_iter().map(ToString::to_string).collect();
    format!("({})", names.join(", "))
}

/// Binds a callee's size variables from the argument types and returns its
/// output types at those sizes. Errors are messages without the op name.
pub fn instantiate_signature(
    params: &[Type],
    outputs: &[Type],
    args: &[Type],
) -> Result<Vec<Type>, String> {
    if params.len() != args.len() {
        return Err(format!(
            "takes {} argument(s), got {}",
            params.len(),
            args.len()
        ));
    }
    let mut binding: HashMap<SizeVar, Dim> = HashMap::new();
    for (p, a) in params.iter().zip(args) {
        if p.rank() == a.rank() {
            for (pd, ad) in p.shape.dims().iter().zip(a.shape.dims()) {
                if let Some(v) = pd.as_var() {
                    binding.entry(v.clone()).or_insert_with(|| ad.clone());
                }
            }
        }
    }
    let subst = |t: &Type| -> Result<Type, String> {
        let dims = t
            .shape
            .dims()
            .iter()
            .map(|d| d.substitute(&binding).map_err(|e| e.to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Type::new(t.elem, Shape(dims)))
    };
    for (i, (p, a)) in params.iter().zip(args).enumerate() {
        let expected = subst(p)?;
        if &expected != a {
            return Err(format!("argument {i} has type {a}, expected {expected}"));
        }
    }
    outputs.iter().map(subst).collect()
}

fn same_types(a: &Type, b: &Type) -> Result<(), String> {
    if a == b {
        Ok(())
    } else {
        Err(format!("operand types differ: {a} and {b}"))
    }
}

fn check_axes(axes: &[usize], rank: usize) -> Result<(), String> {
    if axes.windows(2).any(|w| w[0] >= w[1]) || axes.iter().any(|&a| a >= rank) {
        return Err(format!(
            "axes {axes:?} must be increasing and below the rank {rank}"
        ));
    }
    Ok(())
}

/// The product of known sizes, or `None` on overflow.
pub fn checked_count(dims: &[usize]) -> Option<usize> {
    dims.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

/// The identity element of a reduction as a literal of `elem`.
pub fn reduce_identity(op: ReduceOp, elem: Elem) -> Scalar {
    match (op, elem) {
        (ReduceOp::Sum, e) => Scalar::from_f64(e, 0.0),
        (ReduceOp::Prod, e) => Scalar::from_f64(e, 1.0),
        (ReduceOp::Max, Elem::I64) => Scalar::I64(i64::MIN),
        (ReduceOp::Min, Elem::I64) => Scalar::I64(i64::MAX),
        (ReduceOp::Max, e) => Scalar::from_f64(e, f64::NEG_INFINITY),
        (ReduceOp::Min, e) => Scalar::from_f64(e, f64::INFINITY),
    }
}
