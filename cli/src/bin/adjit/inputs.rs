//! Binding `--in NAME=VALUE` options to a function's parameters.
//!
//! A VALUE is a path to an `.npy` file, a number (`3`, `-1.5e-3`, `inf`,
//! `nan`), `true`/`false`, or a comma-separated list (`1,2,3` or `[1, 2, 3]`)
//! for a parameter whose shape is known once its sizes are bound.

use crate::error::CliError;
use crate::npy;
use adjit::ir::{Data, Elem, Function, Tensor};
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
            Some(text) if looks_like_path(text) => npy::read(Path::new(text), ty.elem)?,
            Some(text) => {
                let values = parse_values(name, text, ty.elem)?;
                let shape = match concrete_shape(ty, &sizes) {
                    Some(s) => s,
                    None if ty.rank() == 1 => vec![values.len()],
                    None => {
                        return Err(CliError::Input(format!(
                            "--in {name}: a list cannot give the shape {} — use an .npy file",
                            ty.shape
                        )));
                    }
                };
                Tensor::new(shape.clone(), values)
                    .map_err(|e| CliError::Input(format!("--in {name}: {e}")))?
            }
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
        let count: usize = shape.iter().product();
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

/// Parses a number, a boolean, or a comma-separated list of them.
fn parse_values(name: &str, text: &str, elem: Elem) -> Result<Data, CliError> {
    let inner = text.trim();
    let inner = inner
        .strip_prefix('[')
        .and_then(|s| s.strip_suffix(']'))
        .unwrap_or(inner);
    let items: Vec<&str> = if inner.trim().is_empty() {
        Vec::new()
    } else {
        inner.split(',').map(str::trim).collect()
    };
    let bad = |item: &str| CliError::Input(format!("--in {name}: `{item}` is not a valid {elem}"));
    Ok(match elem {
        Elem::F64 => Data::F64(
            items
                .iter()
                .map(|s| parse_float(s).ok_or_else(|| bad(s)))
                .collect::<Result<_, _>>()?,
        ),
        Elem::F32 => Data::F32(
            items
                .iter()
                .map(|s| parse_float(s).map(|x| x as f32).ok_or_else(|| bad(s)))
                .collect::<Result<_, _>>()?,
        ),
        Elem::I64 => Data::I64(
            items
                .iter()
                .map(|s| s.parse::<i64>().map_err(|_| bad(s)))
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

fn parse_float(s: &str) -> Option<f64> {
    match s {
        "inf" | "+inf" => Some(f64::INFINITY),
        "-inf" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ if s.chars().all(|c| c.is_ascii_digit() || "+-.eE".contains(c)) && !s.is_empty() => {
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
                npy::read(Path::new(text), ty.elem)?
            } else {
                let values = parse_values(name, text, ty.elem)?;
                let shape = concrete_shape(ty, &sizes).unwrap_or_else(|| vec![values.len()]);
                Tensor::new(shape, values)
                    .map_err(|e| CliError::Input(format!("--in {name}: {e}")))?
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
