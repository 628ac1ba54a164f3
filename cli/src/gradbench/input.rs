//! Reading eval inputs out of JSON and writing results back: numbers,
//! vectors and rectangular matrices, with errors that name the field.

use super::{GradbenchError, number};
use adjit::ir::{Graph, Module, Tensor, Var};
use serde_json::Value;

fn bad(msg: String) -> GradbenchError {
    GradbenchError::Input(msg)
}

/// The field `name` of an object input.
pub(crate) fn field<'a>(input: &'a Value, name: &str) -> Result<&'a Value, GradbenchError> {
    input
        .get(name)
        .ok_or_else(|| bad(format!("missing field `{name}`")))
}

/// A number.
pub(crate) fn float_of(v: &Value, name: &str) -> Result<f64, GradbenchError> {
    v.as_f64()
        .ok_or_else(|| bad(format!("`{name}` must be a number")))
}

/// The number field `name`.
pub(crate) fn float(input: &Value, name: &str) -> Result<f64, GradbenchError> {
    float_of(field(input, name)?, name)
}

/// The non-negative integer field `name`.
pub(crate) fn size(input: &Value, name: &str) -> Result<usize, GradbenchError> {
    field(input, name)?
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .ok_or_else(|| bad(format!("`{name}` must be a non-negative integer")))
}

/// A list of numbers.
pub(crate) fn vector_of(v: &Value, name: &str) -> Result<Vec<f64>, GradbenchError> {
    let list = v
        .as_array()
        .ok_or_else(|| bad(format!("`{name}` must be a list of numbers")))?;
    list.iter()
        .map(|x| {
            x.as_f64()
                .ok_or_else(|| bad(format!("`{name}` must be a list of numbers")))
        })
        .collect()
}

/// The list-of-numbers field `name`.
pub(crate) fn vector(input: &Value, name: &str) -> Result<Vec<f64>, GradbenchError> {
    vector_of(field(input, name)?, name)
}

/// The list-of-lists field `name` as a row-major matrix: (rows, columns,
/// data). Every row must have the same length; an empty list has 0 columns.
pub(crate) fn matrix(
    input: &Value,
    name: &str,
) -> Result<(usize, usize, Vec<f64>), GradbenchError> {
    let rows = field(input, name)?
        .as_array()
        .ok_or_else(|| bad(format!("`{name}` must be a list of lists of numbers")))?;
    let cols = match rows.first() {
        Some(r) => r.as_array().map_or(0, Vec::len),
        None => 0,
    };
    let mut data = Vec::with_capacity(rows.len().saturating_mul(cols));
    for (i, r) in rows.iter().enumerate() {
        let row = vector_of(r, name)?;
        if row.len() != cols {
            return Err(bad(format!(
                "`{name}` row {i} has {} entries, row 0 has {cols}",
                row.len()
            )));
        }
        data.extend(row);
    }
    Ok((rows.len(), cols, data))
}

/// An `f64` tensor, or an input error if the lengths disagree.
pub(crate) fn tensor(shape: &[usize], data: Vec<f64>) -> Result<Tensor, GradbenchError> {
    Tensor::f64(shape, data).map_err(|e| bad(e.to_string()))
}

/// The `f64` data of result `i`.
pub(crate) fn result(outs: &[Tensor], i: usize) -> Result<&[f64], GradbenchError> {
    outs.get(i)
        .and_then(Tensor::as_f64)
        .ok_or_else(|| GradbenchError::Eval(format!("result {i} is missing or not f64")))
}

/// Result `i` as one number.
pub(crate) fn scalar_result(outs: &[Tensor], i: usize) -> Result<Value, GradbenchError> {
    let data = result(outs, i)?;
    match data {
        [x] => Ok(number(*x)),
        _ => Err(GradbenchError::Eval(format!(
            "result {i} has {} elements, expected 1",
            data.len()
        ))),
    }
}

/// A JSON list of numbers.
pub(crate) fn list(data: &[f64]) -> Value {
    Value::Array(data.iter().map(|&x| number(x)).collect())
}

/// A row-major `nrows × cols` matrix as a JSON list of rows.
pub(crate) fn rows(data: &[f64], nrows: usize, cols: usize) -> Value {
    Value::Array(
        (0..nrows)
            .map(|r| list(data.get(r * cols..(r + 1) * cols).unwrap_or(&[])))
            .collect(),
    )
}

/// Finishes a graph into a one-function module and names its entry.
pub(crate) fn finish(g: &Graph, outputs: &[Var<'_>]) -> Result<(Module, String), GradbenchError> {
    let f = g
        .finish(outputs)
        .map_err(|e| GradbenchError::Graph(e.to_string()))?;
    let name = f.name().to_string();
    let mut m = Module::new();
    m.add(f).map_err(|e| GradbenchError::Graph(e.to_string()))?;
    Ok((m, name))
}
