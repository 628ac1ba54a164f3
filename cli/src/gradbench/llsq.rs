//! `llsq`: the linear least-squares objective
//! `y(x) = ½ Σᵢ (sign(tᵢ) − Σⱼ xⱼ tᵢʲ)²` with `tᵢ = −1 + 2i/(n − 1)`, and its
//! gradient.
//!
//! `t` is computed in the graph (from an `iota`), and the powers `tᵢʲ` by
//! repeated multiplication, one `[n]` vector per coefficient, as the
//! reference does; the graph is specialised to `n` and `m = len(x)`.

use super::backend::Hints;
use super::input::{finish, list, result, scalar_result, size, tensor, vector};
use super::{GradbenchError, Job, gradient, unknown_function};
use adjit::ir::{Elem, Graph, Module, Type};
use serde_json::Value;

/// The primal graph for `n` sample points and `m` coefficients.
pub(crate) fn primal(n: usize, m: usize) -> Result<(Module, String), GradbenchError> {
    let g = Graph::new("llsq");
    let x = g.param("x", Type::f64(&[m]));
    let i = g.iota(Type::f64(&[n]), 0);
    // As the reference: −1 + (i·2)/(n − 1), all in f64.
    let t = (i * 2.0) / (n as f64 - 1.0) - 1.0;
    let mut inner = t.sign();
    let mut power = g.full(adjit::ir::Scalar::from_f64(Elem::F64, 1.0), [n]);
    for j in 0..m {
        let xj = x.slice_axis(0, j, j + 1);
        inner = inner - xj * power;
        if j + 1 < m {
            power = power * t;
        }
    }
    let y = (inner * inner).sum(&[0]) / 2.0;
    finish(&g, &[y])
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let x = vector(input, "x")?;
    let n = size(input, "n")?;
    let m = x.len();
    let inputs = vec![tensor(&[m], x)?];
    let key = format!("llsq/{function}/n={n},m={m}");
    match function {
        "primal" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || primal(n, m)),
            inputs,
            output: Box::new(|outs| scalar_result(&outs, 0)),
        }),
        "gradient" => Ok(Job {
            key,
            hints: Hints::default(),
            build: Box::new(move || {
                let (module, f) = primal(n, m)?;
                gradient(module, &f, &[0])
            }),
            inputs,
            output: Box::new(|outs| Ok(list(result(&outs, 0)?))),
        }),
        _ => Err(unknown_function("llsq", function)),
    }
}
