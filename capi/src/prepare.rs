//! From program text to the function to compile: parse and verify, take a
//! derivative with the meanings of the C API, optimise, and bind size
//! variables. Shared by the C entry points; every failure is a message,
//! never a panic.
//!
//! Derivative meanings (those of JAX's transforms of the same names):
//! - `grad`: `x → ∇f(x)` per differentiated parameter, *without* `f(x)`
//!   (the last output of `f` must be a float scalar);
//! - `jvp`: `(x, ẋ) → (y, ẏ)`;
//! - `vjp`: `(x, ȳ) → (y, x̄)`;
//! - `hvp`: `(x, v) → ∇²f(x)·v` per differentiated parameter, alone.

use adjit::ir::text::parse_module;
use adjit::ir::{Function, FunctionBuilder, Module, Type, Value, verify_module};
use std::collections::HashMap;

/// Which program to take of a function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// The function itself.
    Primal,
    /// Its gradient alone.
    Grad,
    /// Forward mode.
    Jvp,
    /// Reverse mode.
    Vjp,
    /// Hessian-vector products alone.
    Hvp,
}

/// Why preparation failed: a category (mapped to a status code at the C
/// boundary) and a message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PrepError {
    /// The text does not parse or verify.
    Parse(String),
    /// A function, parameter or size variable is unknown.
    NotFound(String),
    /// Differentiation or optimisation failed.
    Derive(String),
    /// A size is missing or invalid.
    Size(String),
}

impl std::fmt::Display for PrepError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PrepError::Parse(m)
            | PrepError::NotFound(m)
            | PrepError::Derive(m)
            | PrepError::Size(m) => f.write_str(m),
        }
    }
}

/// Parses and verifies program text; returns the module and the name of its
/// last function (the default entry).
pub fn parse(name: &str, text: &str) -> Result<(Module, String), PrepError> {
    let (module, _) = parse_module(text).map_err(|e| PrepError::Parse(e.render(name, text)))?;
    verify_module(&module).map_err(|e| PrepError::Parse(format!("{name}: {e}")))?;
    let entry = module
        .last()
        .ok_or_else(|| PrepError::Parse(format!("{name}: the program defines no function")))?
        .name()
        .to_string();
    Ok((module, entry))
}

/// The function `name` of `module` (a leading `@` is allowed).
pub fn function<'m>(module: &'m Module, name: &str) -> Result<&'m Function, PrepError> {
    let name = name.trim().trim_start_matches('@');
    module.get(name).ok_or_else(|| {
        let names: Vec<String> = module
            .functions()
            .iter()
            .map(|f| format!("@{}", f.name()))
            .collect();
        PrepError::NotFound(format!(
            "no function @{name} (the module has {})",
            names.join(", ")
        ))
    })
}

/// Parameter indices from names (`%` optional); every float parameter when
/// `names` is empty.
pub fn wrt_indices(f: &Function, names: &[&str]) -> Result<Vec<usize>, PrepError> {
    let params: Vec<&str> = f.params().iter().map(|&p| f.value_name(p)).collect();
    if names.is_empty() {
        let floats: Vec<usize> = f
            .params()
            .iter()
            .enumerate()
            .filter(|(_, p)| f.ty(**p).elem.is_float())
            .map(|(i, _)| i)
            .collect();
        if floats.is_empty() {
            return Err(PrepError::Derive(format!(
                "@{} has no float parameter to differentiate",
                f.name()
            )));
        }
        return Ok(floats);
    }
    names
        .iter()
        .map(|n| {
            let n = n.trim().trim_start_matches('%');
            params.iter().position(|p| *p == n).ok_or_else(|| {
                PrepError::NotFound(format!(
                    "@{} has no parameter %{n} (its parameters: {})",
                    f.name(),
                    params
                        .iter()
                        .map(|p| format!("%{p}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ))
            })
        })
        .collect()
}

/// Takes the `kind` program of `func` with respect to `wrt` (names; empty:
/// every float parameter) and optimises it. Returns the new module and the
/// new function's name. `Primal` returns the module as it is.
pub fn derive(
    module: &Module,
    func: &str,
    kind: Kind,
    wrt: &[&str],
) -> Result<(Module, String), PrepError> {
    let f = function(module, func)?;
    let name = f.name().to_string();
    let transform = match kind {
        Kind::Primal => {
            if !wrt.is_empty() {
                return Err(PrepError::Derive(
                    "parameters to differentiate were given for the function itself".into(),
                ));
            }
            return Ok((module.clone(), name));
        }
        Kind::Grad => adjit::ad::grad,
        Kind::Jvp => adjit::ad::jvp,
        Kind::Vjp => adjit::ad::vjp,
        Kind::Hvp => adjit::ad::hvp,
    };
    let wrt = wrt_indices(f, wrt)?;
    let n_primal = f.outputs().len();
    let (mut m, new) =
        transform(module, &name, &wrt).map_err(|e| PrepError::Derive(e.to_string()))?;
    if kind == Kind::Grad {
        // The gradient program returns f's outputs first; keep the gradients.
        let g = function(&m, &new)?;
        let trimmed = keep_outputs_from(g, n_primal);
        m.insert_or_replace(trimmed);
    }
    let m = adjit::opt::optimize(&m, &new).map_err(|e| PrepError::Derive(e.to_string()))?;
    Ok((m, new))
}

/// A copy of `f` that returns only its outputs from index `from` on.
fn keep_outputs_from(f: &Function, from: usize) -> Function {
    let mut b = FunctionBuilder::new(f.name());
    let mut map: Vec<Option<Value>> = vec![None; f.value_count()];
    for &p in f.params() {
        map[p.index()] = Some(b.param(f.value_name(p), f.ty(p).clone()));
    }
    let get = |map: &[Option<Value>], v: Value| map[v.index()].expect("defined before use");
    for node in f.nodes() {
        let args: Vec<Value> = node.args.iter().map(|&a| get(&map, a)).collect();
        let types: Vec<Type> = node.results.iter().map(|&r| f.ty(r).clone()).collect();
        let results = b.push_declared(node.op.clone(), &args, types);
        for (&old, new) in node.results.iter().zip(results) {
            b.set_name(new, f.value_name(old));
            map[old.index()] = Some(new);
        }
    }
    let outputs: Vec<Value> = f.outputs()[from.min(f.outputs().len())..]
        .iter()
        .map(|&o| get(&map, o))
        .collect();
    b.finish(&outputs)
}

/// Parses `NAME=N` bindings separated by commas or spaces (`"n=32, m=4"`).
pub fn parse_sizes(text: &str) -> Result<HashMap<String, i64>, PrepError> {
    let mut out = HashMap::new();
    for item in text
        .split(|c: char| c == ',' || c.is_whitespace())
        .filter(|s| !s.is_empty())
    {
        let (name, value) = item
            .split_once('=')
            .ok_or_else(|| PrepError::Size(format!("size `{item}`: expected NAME=N")))?;
        let value: i64 = value
            .trim()
            .parse()
            .ok()
            .filter(|v| *v >= 0)
            .ok_or_else(|| {
                PrepError::Size(format!(
                    "size `{item}`: expected NAME=N with N a non-negative integer"
                ))
            })?;
        out.insert(name.trim().to_string(), value);
    }
    Ok(out)
}

/// The concrete parameter types of `f` under `sizes`. Every size variable
/// of `f` must be bound, and every binding must name one.
pub fn concrete_types(f: &Function, sizes: &HashMap<String, i64>) -> Result<Vec<Type>, PrepError> {
    let vars = f.size_vars();
    let missing: Vec<&str> = vars
        .iter()
        .map(|v| &**v)
        .filter(|v| !sizes.contains_key(*v))
        .collect();
    if !missing.is_empty() {
        return Err(PrepError::Size(format!(
            "@{} has size variables {}: give their values (for example \"{}\")",
            f.name(),
            vars.iter().map(|v| &**v).collect::<Vec<_>>().join(", "),
            vars.iter()
                .map(|v| format!("{v}=N"))
                .collect::<Vec<_>>()
                .join(",")
        )));
    }
    if let Some(extra) = sizes
        .keys()
        .find(|k| !vars.iter().any(|v| &**v == k.as_str()))
    {
        return Err(PrepError::NotFound(format!(
            "@{} has no size variable {extra} (its size variables: {})",
            f.name(),
            if vars.is_empty() {
                "none".to_string()
            } else {
                vars.iter().map(|v| &**v).collect::<Vec<_>>().join(", ")
            }
        )));
    }
    f.params()
        .iter()
        .map(|&p| {
            let ty = f.ty(p);
            let dims = ty
                .shape
                .dims()
                .iter()
                .map(|d| d.eval(&|v| sizes.get(v).copied()))
                .collect::<Result<Vec<usize>, _>>()
                .map_err(|e| PrepError::Size(format!("%{}: {e}", f.value_name(p))))?;
            Ok(Type::new(ty.elem, adjit::ir::Shape::known(&dims)))
        })
        .collect()
}
