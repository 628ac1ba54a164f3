//! Instantiation: a function with size variables, specialised to concrete sizes.
//!
//! [`instantiate`] binds a function's size variables from concrete argument
//! types and returns a module in which that function and every function it
//! reaches are monomorphic: every dimension is a known, non-negative integer.
//! Callees are specialised per distinct binding (`@body` at `n = 3` becomes
//! `@body.n3`; a callee without size variables keeps its name).
//!
//! A function's custom derivative rules are specialised with it, to the
//! instance's argument types and their tangents (cotangents), and attached
//! to the instance.
//!
//! Every node is re-typed at the concrete sizes, so facts the verifier cannot
//! decide symbolically (slice bounds within their axis, non-negative sizes) are
//! checked here.

use crate::builder::FunctionBuilder;
use crate::dim::{Dim, DimOverflow, SizeVar};
use crate::function::{CustomRules, Function, Module};
use crate::op::{FuncName, Op, SliceRange};
use crate::types::{Shape, Type};
use crate::typing::Signatures;
use std::collections::HashMap;

/// Why a function could not be specialised. The caller's fault (wrong argument
/// types) or the program's (a size that is negative at these sizes).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InstantiateError {
    /// No function of that name.
    #[error("no function named @{0}")]
    UnknownFunction(String),
    /// The arguments do not fit the parameters.
    #[error("@{func}: {message}")]
    Arguments {
        /// The function.
        func: String,
        /// What does not fit.
        message: String,
    },
    /// A node is ill-typed at these sizes.
    #[error("@{func}: at sizes {sizes}: {message}")]
    Node {
        /// The function.
        func: String,
        /// The size bindings, as `n=3, m=4`.
        sizes: String,
        /// What is wrong.
        message: String,
    },
    /// Calls from the function nest deeper than
    /// [`crate::Limits::max_call_depth`] (specialising recurses over calls).
    #[error("@{func}: calls nest {depth} functions deep, deeper than the limit of {limit}")]
    CallDepth {
        /// The function.
        func: String,
        /// Its call depth.
        depth: usize,
        /// The limit.
        limit: usize,
    },
}

/// Specialises `@name` to arguments of the given concrete types. Returns the
/// new module and the name of the specialised function in it.
pub fn instantiate(
    module: &Module,
    name: &str,
    args: &[Type],
) -> Result<(Module, String), InstantiateError> {
    // Specialising recurses once per nested call: bound it first.
    let limit = crate::Limits::default().max_call_depth;
    let depth = crate::limits::call_depths(module)
        .get(name)
        .copied()
        .unwrap_or(0);
    if depth > limit {
        return Err(InstantiateError::CallDepth {
            func: name.to_string(),
            depth,
            limit,
        });
    }
    let mut st = State {
        source: module,
        out: Module::new(),
        done: HashMap::new(),
    };
    let inst = st.function(name, args)?;
    Ok((st.out, inst))
}

/// Binds the size variables of `f` from concrete argument types.
pub fn bind_sizes(f: &Function, args: &[Type]) -> Result<HashMap<SizeVar, Dim>, String> {
    let params = f.param_types();
    if params.len() != args.len() {
        return Err(format!(
            "takes {} argument(s), got {}",
            params.len(),
            args.len()
        ));
    }
    let mut binding: HashMap<SizeVar, Dim> = HashMap::new();
    for (i, (p, a)) in params.iter().zip(args).enumerate() {
        if a.shape.as_known().is_none() {
            return Err(format!("argument {i} has a symbolic type {a}"));
        }
        if p.rank() != a.rank() || p.elem != a.elem {
            return Err(format!(
                "argument {i} (%{}) has type {a}, expected {p}",
                f.value_name(f.params()[i])
            ));
        }
        for (pd, ad) in p.shape.dims().iter().zip(a.shape.dims()) {
            if let Some(v) = pd.as_var() {
                binding.entry(v.clone()).or_insert_with(|| ad.clone());
            }
        }
    }
    for (i, (p, a)) in params.iter().zip(args).enumerate() {
        let expected = subst_type(p, &binding).map_err(|e| e.to_string())?;
        if &expected != a {
            return Err(format!(
                "argument {i} (%{}) has type {a}, expected {expected} (from {p} with {})",
                f.value_name(f.params()[i]),
                show_binding(&binding)
            ));
        }
    }
    Ok(binding)
}

struct State<'a> {
    source: &'a Module,
    out: Module,
    /// (function, binding text) → instance name.
    done: HashMap<(String, String), String>,
}

impl Signatures for State<'_> {
    fn signature(&self, name: &str) -> Option<(Vec<Type>, Vec<Type>)> {
        self.out.signature(name)
    }
}

impl State<'_> {
    fn function(&mut self, name: &str, args: &[Type]) -> Result<String, InstantiateError> {
        let f = self
            .source
            .get(name)
            .ok_or_else(|| InstantiateError::UnknownFunction(name.to_string()))?;
        let binding = bind_sizes(f, args).map_err(|message| InstantiateError::Arguments {
            func: name.to_string(),
            message,
        })?;
        let sizes = show_binding(&binding);
        if let Some(done) = self.done.get(&(name.to_string(), sizes.clone())) {
            return Ok(done.clone());
        }
        let node_err = |message: String| InstantiateError::Node {
            func: name.to_string(),
            sizes: sizes.clone(),
            message,
        };
        let inst_name = if binding.is_empty() {
            name.to_string()
        } else {
            let mut vars: Vec<(&SizeVar, &Dim)> = binding.iter().collect();
            vars.sort();
            let suffix: String = vars.iter().map(|(v, d)| format!(".{v}{d}")).collect();
            self.out.fresh_name(&format!("{name}{suffix}"))
        };
        self.done
            .insert((name.to_string(), sizes.clone()), inst_name.clone());

        let mut b = FunctionBuilder::new(&inst_name);
        let mut map = Vec::with_capacity(f.value_count());
        for (&p, a) in f.params().iter().zip(args) {
            map.push(b.param(f.value_name(p), a.clone()));
        }
        for node in f.nodes() {
            let mut op = subst_op(&node.op, &binding).map_err(|e| node_err(e.to_string()))?;
            let new_args: Vec<_> = node.args.iter().map(|a| map[a.index()]).collect();
            // Callees are specialised to the concrete types of their arguments.
            let arg_types: Vec<Type> = new_args.iter().map(|&a| b.ty(a).clone()).collect();
            self.specialise_callees(&mut op, &arg_types)?;
            let results = b
                .push(op, &new_args, self)
                .map_err(|e| node_err(format!("%{}: {e}", f.value_name(node.results[0]))))?;
            for (&old, &new) in node.results.iter().zip(&results) {
                b.set_name(new, f.value_name(old));
                check_known(b.ty(new))
                    .map_err(|m| node_err(format!("%{}: {m}", f.value_name(old))))?;
                map.push(new);
            }
        }
        let outputs: Vec<_> = f.outputs().iter().map(|o| map[o.index()]).collect();
        let output_types: Vec<Type> = outputs.iter().map(|&o| b.ty(o).clone()).collect();
        self.out
            .add(b.finish(&outputs))
            .map_err(|e| node_err(e.to_string()))?;
        if let Some(rules) = self.source.rules(name).cloned() {
            // The instance keeps the function's custom derivative rules, each
            // specialised to the instance's types (see `CustomRules`).
            let floats = |tys: &[Type]| -> Vec<Type> {
                tys.iter().filter(|t| t.elem.is_float()).cloned().collect()
            };
            let mut kept = CustomRules::default();
            if let Some(r) = &rules.jvp {
                let tys = [args, &floats(args)].concat();
                kept.jvp = Some(FuncName::from(self.function(r, &tys)?));
            }
            if let Some(r) = &rules.vjp {
                let tys = [args, &floats(&output_types)].concat();
                kept.vjp = Some(FuncName::from(self.function(r, &tys)?));
            }
            self.out
                .set_rules(&inst_name, kept)
                .map_err(|e| node_err(e.to_string()))?;
        }
        Ok(inst_name)
    }

    fn specialise_callees(
        &mut self,
        op: &mut Op,
        arg_types: &[Type],
    ) -> Result<(), InstantiateError> {
        match op {
            Op::Call { func } => {
                *func = FuncName::from(self.function(&func.clone(), arg_types)?);
            }
            Op::Scan {
                body,
                n_consts,
                n_carry,
                ..
            } => {
                let mut body_args: Vec<Type> = arg_types[..*n_consts + *n_carry].to_vec();
                for xs in &arg_types[*n_consts + *n_carry..] {
                    body_args.push(Type::new(
                        xs.elem,
                        Shape(xs.shape.dims().get(1..).unwrap_or_default().to_vec()),
                    ));
                }
                *body = FuncName::from(self.function(&body.clone(), &body_args)?);
            }
            Op::While { cond, body, .. } => {
                *cond = FuncName::from(self.function(&cond.clone(), arg_types)?);
                *body = FuncName::from(self.function(&body.clone(), arg_types)?);
            }
            Op::ScanAdjoint {
                body,
                adjoint,
                n_consts,
                n_carry,
                n_xs,
                n_acarry,
                trips,
                ..
            } => {
                let row = |t: &Type| {
                    Type::new(
                        t.elem,
                        Shape(t.shape.dims().get(1..).unwrap_or_default().to_vec()),
                    )
                };
                let (nc, nk, nx, na) = (*n_consts, *n_carry, *n_xs, *n_acarry);
                let end = arg_types.len().saturating_sub(usize::from(*trips));
                if nc + nk + nx + na > end {
                    // Ill-formed: the type rule reports it when the node is built.
                    return Ok(());
                }
                let consts = &arg_types[..nc];
                let init = &arg_types[nc..nc + nk];
                let x_rows: Vec<Type> = arg_types[nc + nk..nc + nk + nx].iter().map(row).collect();
                let ainit = &arg_types[nc + nk + nx..nc + nk + nx + na];
                let ax_rows: Vec<Type> =
                    arg_types[nc + nk + nx + na..end].iter().map(row).collect();
                let mut body_args = consts.to_vec();
                body_args.extend_from_slice(init);
                body_args.extend(x_rows.iter().cloned());
                *body = FuncName::from(self.function(&body.clone(), &body_args)?);
                let mut adj_args = consts.to_vec();
                adj_args.extend_from_slice(ainit);
                adj_args.extend_from_slice(init);
                adj_args.extend(x_rows);
                adj_args.extend(ax_rows);
                *adjoint = FuncName::from(self.function(&adjoint.clone(), &adj_args)?);
            }
            _ => {}
        }
        Ok(())
    }
}

fn check_known(t: &Type) -> Result<(), String> {
    for d in t.shape.dims() {
        match d.known() {
            Some(k) if k >= 0 => {}
            _ => {
                return Err(format!(
                    "type {t} has a dimension that is not a non-negative size"
                ));
            }
        }
    }
    Ok(())
}

fn show_binding(binding: &HashMap<SizeVar, Dim>) -> String {
    let mut vars: Vec<String> = binding.iter().map(|(v, d)| format!("{v}={d}")).collect();
    vars.sort();
    vars.join(", ")
}

/// A type with size variables replaced.
pub fn subst_type(t: &Type, binding: &HashMap<SizeVar, Dim>) -> Result<Type, DimOverflow> {
    Ok(Type::new(t.elem, subst_shape(&t.shape, binding)?))
}

fn subst_shape(s: &Shape, binding: &HashMap<SizeVar, Dim>) -> Result<Shape, DimOverflow> {
    s.dims()
        .iter()
        .map(|d| d.substitute(binding))
        .collect::<Result<Vec<_>, _>>()
        .map(Shape)
}

/// An op with the size variables in its attributes replaced.
pub fn subst_op(op: &Op, binding: &HashMap<SizeVar, Dim>) -> Result<Op, DimOverflow> {
    let d = |x: &Dim| x.substitute(binding);
    let ds = |xs: &[Dim]| {
        xs.iter()
            .map(|x| x.substitute(binding))
            .collect::<Result<Vec<_>, _>>()
    };
    Ok(match op {
        Op::Const { ty, data } => Op::Const {
            ty: subst_type(ty, binding)?,
            data: data.clone(),
        },
        Op::Iota { ty, axis } => Op::Iota {
            ty: subst_type(ty, binding)?,
            axis: *axis,
        },
        Op::Size { dim, elem } => Op::Size {
            dim: d(dim)?,
            elem: *elem,
        },
        Op::Broadcast { shape, dims } => Op::Broadcast {
            shape: subst_shape(shape, binding)?,
            dims: dims.clone(),
        },
        Op::Reshape { shape } => Op::Reshape {
            shape: subst_shape(shape, binding)?,
        },
        Op::Slice { ranges } => Op::Slice {
            ranges: ranges
                .iter()
                .map(|r| {
                    Ok(SliceRange {
                        start: d(&r.start)?,
                        stop: d(&r.stop)?,
                        step: r.step,
                    })
                })
                .collect::<Result<_, DimOverflow>>()?,
        },
        Op::Pad {
            lo,
            hi,
            interior,
            value,
        } => Op::Pad {
            lo: ds(lo)?,
            hi: ds(hi)?,
            interior: interior.clone(),
            value: *value,
        },
        Op::ScatterAdd { axis, size } => Op::ScatterAdd {
            axis: *axis,
            size: d(size)?,
        },
        Op::Scan {
            body,
            length,
            reverse,
            n_consts,
            n_carry,
            checkpoint,
        } => Op::Scan {
            body: body.clone(),
            length: d(length)?,
            reverse: *reverse,
            n_consts: *n_consts,
            n_carry: *n_carry,
            checkpoint: *checkpoint,
        },
        Op::While {
            cond,
            body,
            max_trips,
            n_consts,
            checkpoint,
        } => Op::While {
            cond: cond.clone(),
            body: body.clone(),
            max_trips: d(max_trips)?,
            n_consts: *n_consts,
            checkpoint: *checkpoint,
        },
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
        } => Op::ScanAdjoint {
            body: body.clone(),
            adjoint: adjoint.clone(),
            length: d(length)?,
            reverse: *reverse,
            checkpoint: *checkpoint,
            n_consts: *n_consts,
            n_carry: *n_carry,
            n_xs: *n_xs,
            n_acarry: *n_acarry,
            trips: *trips,
        },
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
        | Op::Call { .. } => op.clone(),
    })
}

/// Whether every type in the function is concrete.
pub fn is_monomorphic(f: &Function) -> bool {
    f.values().all(|v| f.ty(v).shape.as_known().is_some())
}

impl From<SizeVar> for Dim {
    fn from(v: SizeVar) -> Dim {
        Dim::var(&v)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::graph::Graph;
    use crate::types::Elem;

    fn vec_n(n: &str) -> Type {
        Type::new(Elem::F64, Shape(vec![Dim::var(n)]))
    }

    #[test]
    fn specialises_function_and_callees() {
        let body = Graph::new("sq");
        let x = body.param("x", vec_n("m"));
        let y = (x * x).sum_all();
        let mut module = Module::new();
        module.add(body.finish(&[y]).unwrap()).unwrap();
        let g = Graph::with_module("main", &module);
        let x = g.param("x", vec_n("n"));
        let head = x.slice_axis(0, 0usize, Dim::var("n").checked_sub(&Dim::ONE).unwrap());
        let r = g.call("sq", &[head]);
        module.add(g.finish(&r).unwrap()).unwrap();

        let (m, name) = instantiate(&module, "main", &[Type::f64(&[5])]).unwrap();
        assert_eq!(name, "main.n5");
        let f = m.get(&name).unwrap();
        assert!(is_monomorphic(f));
        assert!(m.get("sq.m4").is_some_and(is_monomorphic));
        crate::verify::verify_module(&m).unwrap();
    }

    #[test]
    fn rejects_negative_sizes_and_bad_arguments() {
        let g = Graph::new("f");
        let x = g.param("x", vec_n("n"));
        let head = x.slice_axis(0, 0usize, Dim::var("n").checked_sub(&Dim::ONE).unwrap());
        let mut module = Module::new();
        module.add(g.finish(&[head]).unwrap()).unwrap();
        let err = instantiate(&module, "f", &[Type::f64(&[0])]).unwrap_err();
        assert!(matches!(err, InstantiateError::Node { .. }), "{err}");
        let err = instantiate(&module, "f", &[Type::f64(&[2, 2])]).unwrap_err();
        assert!(matches!(err, InstantiateError::Arguments { .. }), "{err}");
        assert!(instantiate(&module, "f", &[Type::f64(&[3])]).is_ok());
    }
}
