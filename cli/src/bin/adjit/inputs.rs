//! Binding `--in NAME=VALUE` options to a function's parameters.
//!
//! A VALUE is a path to an `.npy` file, a number (`3`, `-1.5e-3`, `inf`,
//! `-inf`, `nan` — the spellings results are printed in), `true`/`false`,
//! a comma-separated list (`1,2,3` or `[1, 2, 3]`), or nested lists for
//! higher ranks (`[[1, 2], [3, 4]]`, every row the same length). A flat list
//! also fills a parameter of any rank whose shape is known once its sizes
//! are bound. Numbers out of the element type's range (`1e999`) and empty
//! values are errors, and sizes are checked against the [`Limits`] before
//! anything is allocated.

use crate::error::CliError;
use crate::npy;
use adjit::ir::{Data, Elem, Function, Limits, Tensor};
use std::collections::HashMap;
use std::path::Path;

/// Parses the `--in` options into `name → text`, rejecting duplicates and
/// malformed entries.
pub fn parse_assignments(items: &[String]) -> Result<Vec<(String, String)>, CliError> {
    let mut out: Vec<(String, String)> = Vec::new();
    for item in items {
        let Some((name, value)) = item.split_once('=') else {
            return Err(CliError::Input(format!("--in {item}: expected NAME=VALUE")));
        };
        let name = name.trim().trim_start_matches('%').to_string();
        if out.iter().any(|(n, _)| *n == name) {
            return Err(CliError::Input(format!("--in {name} is given twice")));
        }
        out.push((name, value.trim().to_string()));
    }
    Ok(out)
}

/// The tensors for every parameter of `f`, in order. Parameters listed in
/// `defaults` may be omitted and then take the default built from the
/// already-bound sizes.
pub fn bind(
    f: &Function,
    assignments: &[(String, String)],
    default: &dyn Fn(&str) -> Option<f64>,
    limits: &Limits,
) -> Result<Vec<Tensor>, CliError> {
    let names: Vec<&str> = f.params().iter().map(|&p| f.value_name(p)).collect();
    for (name, _) in assignments {
        if !names.contains(&name.as_str()) {
            return Err(CliError::Input(format!(
                "@{} has no parameter %{name} (its parameters: {})",
                f.name(),
                list(&names)
            )));
        }
    }
    let given: HashMap<&str, &str> = assignments
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    // Sizes bound so far, so that list values and defaults get their shapes.
    let mut sizes: HashMap<String, i64> = HashMap::new();
    let mut out = Vec::with_capacity(names.len());
    let mut pending: Vec<usize> = Vec::new();
    for (i, &p) in f.params().iter().enumerate() {
        let ty = f.ty(p);
        let name = names[i];
        let tensor = match given.get(name) {
            Some(text) if looks_like_path(text) => npy::read(Path::new(text), ty.elem, limits)?,
            Some(text) => value_tensor(name, text, ty, &sizes)?,
            None if default(name).is_some() => {
                pending.push(i);
                out.push(Tensor::from_f64(0.0));
                continue;
            }
            None => {
                return Err(CliError::Input(format!(
                    "missing --in {name}=VALUE for parameter %{name}: {ty}"
                )));
            }
        };
        check_and_bind(name, ty, &tensor, &mut sizes)?;
        out.push(tensor);
    }
    for i in pending {
        let p = f.params()[i];
        let ty = f.ty(p);
        let name = names[i];
        let shape = concrete_shape(ty, &sizes).ok_or_else(|| {
            CliError::Input(format!(
                "--in {name}: give a value; its shape {} is not bound by other inputs",
                ty.shape
            ))
        })?;
        let count = limits
            .check_shape(&format!("--in {name}"), &shape, ty.elem.byte_size())
            .map_err(CliError::Input)?;
        let x = default(name).unwrap_or(0.0);
        let data = match ty.elem {
            Elem::F64 => Data::F64(vec![x; count]),
            Elem::F32 => Data::F32(vec![x as f32; count]),
            Elem::I64 => Data::I64(vec![x as i64; count]),
            Elem::Bool => Data::Bool(vec![x != 0.0; count]),
        };
        out[i] = Tensor::new(shape, data).map_err(|e| CliError::Input(format!("{name}: {e}")))?;
    }
    Ok(out)
}

fn list(names: &[&str]) -> String {
    if names.is_empty() {
        "none".into()
    } else {
        names
            .iter()
            .map(|n| format!("%{n}"))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn looks_like_path(text: &str) -> bool {
    text.ends_with(".npy") || text.contains('/')
}

/// The shape of `ty` with the sizes bound so far, if all are known.
fn concrete_shape(ty: &adjit::ir::Type, sizes: &HashMap<String, i64>) -> Option<Vec<usize>> {
    ty.shape
        .dims()
        .iter()
        .map(|d| d.eval(&|v| sizes.get(v).copied()).ok())
        .collect()
}

/// Checks a tensor against a parameter type and binds the size variables it
/// determines.
fn check_and_bind(
    name: &str,
    ty: &adjit::ir::Type,
    t: &Tensor,
    sizes: &mut HashMap<String, i64>,
) -> Result<(), CliError> {
    let mismatch = |sizes: &HashMap<String, i64>| {
        let bound: Vec<String> = {
            let mut v: Vec<String> = sizes.iter().map(|(k, x)| format!("{k}={x}")).collect();
            v.sort();
            v
        };
        let with = if bound.is_empty() {
            String::new()
        } else {
            format!(" with {}", bound.join(", "))
        };
        CliError::Input(format!("--in {name}: expected {ty}{with}, got {}", t.ty()))
    };
    if t.elem() != ty.elem || t.shape().len() != ty.rank() {
        return Err(mismatch(sizes));
    }
    for (d, &actual) in ty.shape.dims().iter().zip(t.shape()) {
        let actual = i64::try_from(actual).map_err(|_| mismatch(sizes))?;
        if let Some(v) = d.as_var() {
            if let Some(&b) = sizes.get(&**v) {
                if b != actual {
                    return Err(mismatch(sizes));
                }
            } else {
                sizes.insert(v.to_string(), actual);
            }
        }
    }
    // Dimensions that are expressions are checked once their variables are bound.
    for (d, &actual) in ty.shape.dims().iter().zip(t.shape()) {
        if let Ok(expected) = d.eval(&|v| sizes.get(v).copied())
            && expected != actual
        {
            return Err(mismatch(sizes));
        }
    }
    Ok(())
}

/// The tensor a command-line value gives for a parameter of type `ty`: a
/// flat list takes the parameter's shape when its sizes are bound, nested
/// lists their own shape.
fn value_tensor(
    name: &str,
    text: &str,
    ty: &adjit::ir::Type,
    sizes: &HashMap<String, i64>,
) -> Result<Tensor, CliError> {
    let (nested, items) = parse_list(name, text)?;
    let values = parse_values(name, &items, ty.elem)?;
    let shape = match (concrete_shape(ty, sizes), nested) {
        (Some(s), _) if s.iter().product::<usize>() == items.len() && s.len() == ty.rank() => s,
        (_, Some(s)) => s,
        (_, None) if ty.rank() == 1 => vec![items.len()],
        (_, None) if ty.rank() == 0 && items.len() == 1 => vec![],
        (_, None) => {
            return Err(CliError::Input(format!(
                "--in {name}: {} value(s) cannot give the shape {} — use nested lists or an .npy file",
                items.len(),
                ty.shape
            )));
        }
    };
    Tensor::new(shape, values).map_err(|e| CliError::Input(format!("--in {name}: {e}")))
}

/// Nested lists can be at most this deep.
const MAX_RANK: usize = 64;

/// Splits a value into its items: a single item, a flat comma-separated list
/// (shape `None`: the parameter decides), or bracketed, possibly nested lists
/// with their shape (rows of equal length, numbers only at the innermost
/// level). Iterative, with the nesting bounded.
fn parse_list<'a>(
    name: &str,
    text: &'a str,
) -> Result<(Option<Vec<usize>>, Vec<&'a str>), CliError> {
    let bad = |why: &str| CliError::Input(format!("--in {name}: {why}"));
    let text = text.trim();
    if text.is_empty() {
        return Err(bad("no value (an empty list is `[]`)"));
    }
    if !text.starts_with('[') {
        if text.contains(['[', ']']) {
            return Err(bad("unbalanced brackets"));
        }
        return Ok((None, text.split(',').map(str::trim).collect()));
    }
    // counts[d]: items so far in the open list at depth d; shape[d]: the
    // length every list at depth d must have (once one has closed).
    let mut counts: Vec<usize> = Vec::new();
    let mut shape: Vec<Option<usize>> = Vec::new();
    let mut leaf_depth: Option<usize> = None;
    let mut items = Vec::new();
    let mut closed = false;
    // Whether an item (number or list) may come next rather than `,`/`]`.
    let mut expect_item = true;
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        if c.is_whitespace() {
            rest = &rest[c.len_utf8()..];
            continue;
        }
        if closed {
            return Err(bad("text after the closing bracket"));
        }
        match c {
            '[' => {
                if !expect_item {
                    return Err(bad("a `,` is missing"));
                }
                if counts.len() >= MAX_RANK {
                    return Err(bad(&format!("lists nest deeper than {MAX_RANK}")));
                }
                if leaf_depth.is_some_and(|d| counts.len() >= d) {
                    return Err(bad("rows of different depths"));
                }
                counts.push(0);
                if shape.len() < counts.len() {
                    shape.push(None);
                }
                rest = &rest[1..];
            }
            ']' => {
                let depth = counts.len();
                let n = counts.pop().ok_or_else(|| bad("unbalanced brackets"))?;
                if expect_item && n > 0 {
                    return Err(bad("an item is missing before `]`"));
                }
                if n == 0 && leaf_depth.is_none_or(|d| d != depth) {
                    // An empty list is a leaf level of its own.
                    if leaf_depth.is_some_and(|d| d != depth) {
                        return Err(bad("rows of different depths"));
                    }
                    leaf_depth = Some(depth);
                }
                match shape[depth - 1] {
                    Some(k) if k != n => return Err(bad("rows of different lengths")),
                    _ => shape[depth - 1] = Some(n),
                }
                if let Some(parent) = counts.last_mut() {
                    *parent += 1;
                } else {
                    closed = true;
                }
                expect_item = false;
                rest = &rest[1..];
            }
            ',' => {
                if expect_item || counts.is_empty() {
                    return Err(bad("an item is missing before `,`"));
                }
                expect_item = true;
                rest = &rest[1..];
            }
            _ => {
                if !expect_item || counts.is_empty() {
                    return Err(bad("a `,` is missing"));
                }
                let depth = counts.len();
                if leaf_depth.is_some_and(|d| d != depth) {
                    return Err(bad("rows of different depths"));
                }
                leaf_depth = Some(depth);
                let end = rest.find([',', ']', '[']).unwrap_or(rest.len());
                items.push(rest[..end].trim());
                *counts.last_mut().expect("inside a list") += 1;
                expect_item = false;
                rest = &rest[end..];
            }
        }
    }
    if !closed {
        return Err(bad("unbalanced brackets"));
    }
    let depth = leaf_depth.unwrap_or(1);
    let shape: Vec<usize> = shape[..depth].iter().map(|k| k.unwrap_or(0)).collect();
    Ok((Some(shape), items))
}

/// Parses the items of a value as elements of type `elem`.
fn parse_values(name: &str, items: &[&str], elem: Elem) -> Result<Data, CliError> {
    let bad = |item: &str| CliError::Input(format!("--in {name}: `{item}` is not a valid {elem}"));
    let range = |item: &str| {
        CliError::Input(format!(
            "--in {name}: `{item}` is out of the range of {elem}"
        ))
    };
    let float = |s: &&str| -> Result<f64, CliError> {
        let x = parse_float(s).ok_or_else(|| bad(s))?;
        if x.is_infinite() && !s.contains("inf") {
            return Err(range(s));
        }
        Ok(x)
    };
    Ok(match elem {
        Elem::F64 => Data::F64(items.iter().map(float).collect::<Result<_, _>>()?),
        Elem::F32 => Data::F32(
            items
                .iter()
                .map(|s| {
                    let x = float(s)?;
                    let y = x as f32;
                    if y.is_infinite() && x.is_finite() {
                        return Err(range(s));
                    }
                    Ok(y)
                })
                .collect::<Result<_, _>>()?,
        ),
        Elem::I64 => Data::I64(
            items
                .iter()
                .map(|s| {
                    s.parse::<i64>().map_err(|e| match e.kind() {
                        std::num::IntErrorKind::PosOverflow
                        | std::num::IntErrorKind::NegOverflow => range(s),
                        _ => bad(s),
                    })
                })
                .collect::<Result<_, _>>()?,
        ),
        Elem::Bool => Data::Bool(
            items
                .iter()
                .map(|s| match *s {
                    "true" | "1" => Ok(true),
                    "false" | "0" => Ok(false),
                    _ => Err(bad(s)),
                })
                .collect::<Result<_, _>>()?,
        ),
    })
}

/// A decimal number, or `inf`, `-inf`, `nan` (as results are printed).
fn parse_float(s: &str) -> Option<f64> {
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c))
            && s.chars().any(|c| c.is_ascii_digit()) =>
        {
            s.parse().ok()
        }
        _ => None,
    }
}

/// Parses `--size NAME=N` options.
pub fn parse_sizes(items: &[String]) -> Result<HashMap<String, i64>, CliError> {
    let mut out = HashMap::new();
    for item in items {
        let parsed = item.split_once('=').and_then(|(n, v)| {
            Some((
                n.trim().to_string(),
                v.trim().parse::<i64>().ok().filter(|&x| x >= 0)?,
            ))
        });
        let Some((name, value)) = parsed else {
            return Err(CliError::Input(format!(
                "--size {item}: expected NAME=N with N a size"
            )));
        };
        out.insert(name, value);
    }
    Ok(out)
}

/// The concrete parameter types of `f`: from the given inputs where present,
/// otherwise from the size bindings.
pub fn types(
    f: &Function,
    assignments: &[(String, String)],
    sizes: &HashMap<String, i64>,
) -> Result<Vec<adjit::ir::Type>, CliError> {
    Ok(given_and_types(f, assignments, sizes)?.1)
}

/// The tensors given for the parameters of `f` (`None` where not given) and
/// the concrete type of every parameter, as [`types`].
pub fn given_and_types(
    f: &Function,
    assignments: &[(String, String)],
    sizes: &HashMap<String, i64>,
) -> Result<(Vec<Option<Tensor>>, Vec<adjit::ir::Type>), CliError> {
    for (name, _) in assignments {
        if !f.params().iter().any(|&p| f.value_name(p) == name) {
            let names: Vec<&str> = f.params().iter().map(|&p| f.value_name(p)).collect();
            return Err(CliError::Input(format!(
                "@{} has no parameter %{name} (its parameters: {})",
                f.name(),
                list(&names)
            )));
        }
    }
    let mut sizes = sizes.clone();
    let mut given = Vec::new();
    // Bind from the inputs given (their values only provide shapes).
    let mut out = Vec::new();
    for &p in f.params() {
        let name = f.value_name(p);
        let ty = f.ty(p);
        if let Some((_, text)) = assignments.iter().find(|(n, _)| n == name) {
            let t = if looks_like_path(text) {
                npy::read(Path::new(text), ty.elem, &Limits::default())?
            } else {
                value_tensor(name, text, ty, &sizes)?
            };
            check_and_bind(name, ty, &t, &mut sizes)?;
            out.push(Some(t.ty()));
            given.push(Some(t));
        } else {
            out.push(None);
            given.push(None);
        }
    }
    let types = f
        .params()
        .iter()
        .zip(out)
        .map(|(&p, t)| match t {
            Some(t) => Ok(t),
            None => {
                let ty = f.ty(p);
                let shape = concrete_shape(ty, &sizes).ok_or_else(|| {
                    CliError::Input(format!(
                        "the type {ty} of %{} needs its sizes: give --size for {} or --in {}=…",
                        f.value_name(p),
                        ty.shape
                            .vars()
                            .iter()
                            .map(|v| v.to_string())
                            .collect::<Vec<_>>()
                            .join(", "),
                        f.value_name(p)
                    ))
                })?;
                Ok(adjit::ir::Type::new(
                    ty.elem,
                    adjit::ir::Shape::known(&shape),
                ))
            }
        })
        .collect::<Result<_, _>>()?;
    Ok((given, types))
}
