//! `hello`: `square(x) = x²` and `double`, its derivative `2x`. The input
//! and output are bare numbers.

use super::backend::Hints;
use super::input::{finish, float_of, scalar_result, tensor};
use super::{Build, GradbenchError, Job, gradient, unknown_function};
use adjit::ir::{Graph, Module, Type};
use serde_json::Value;

/// The primal graph: `square(x) = x * x`.
pub(crate) fn square() -> Result<(Module, String), GradbenchError> {
    let g = Graph::new("square");
    let x = g.param("x", Type::f64(&[]));
    finish(&g, &[x * x])
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let x = float_of(input, "input")?;
    let build: Build = match function {
        "square" => Box::new(square),
        "double" => Box::new(|| {
            let (m, f) = square()?;
            gradient(m, &f, &[0])
        }),
        _ => return Err(unknown_function("hello", function)),
    };
    Ok(Job {
        key: format!("hello/{function}"),
        hints: Hints::default(),
        build,
        inputs: vec![tensor(&[], vec![x])?],
        output: Box::new(|outs| scalar_result(&outs, 0)),
    })
}
