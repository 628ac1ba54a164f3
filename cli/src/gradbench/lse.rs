//! `lse`: log-sum-exp of a vector, `a + log Σ exp(xᵢ − a)` with `a = max x`,
//! built from its primitives (a maximum and a sum), and its gradient.

use super::backend::Hints;
use super::input::{finish, list, result, scalar_result, tensor, vector};
use super::{GradbenchError, Job, gradient, unknown_function};
use adjit::ir::{Graph, Module, Type};
use serde_json::Value;

/// The primal graph for `n` elements.
pub(crate) fn primal(n: usize) -> Result<(Module, String), GradbenchError> {
    let g = Graph::new("lse");
    let x = g.param("x", Type::f64(&[n]));
    let a = x.reduce_max(&[0]);
    let s = (x - a).exp().sum(&[0]);
    finish(&g, &[s.log() + a])
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let x = vector(input, "x")?;
    let n = x.len();
    let inputs = vec![tensor(&[n], x)?];
    let key = format!("lse/{function}/n={n}");
    match function {
        "primal" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || primal(n)),
            inputs,
            output: Box::new(|outs| scalar_result(&outs, 0)),
        }),
        "gradient" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || {
                let (m, f) = primal(n)?;
                gradient(m, &f, &[0])
            }),
            inputs,
            output: Box::new(|outs| Ok(list(result(&outs, 0)?))),
        }),
        _ => Err(unknown_function("lse", function)),
    }
}
