//! `ode`: `s` classical Runge–Kutta steps over `[0, 2]` of
//! `y₀' = x₀`, `yᵢ' = xᵢ yᵢ₋₁` from `y(0) = 0`; `primal` returns `y(2)`,
//! `gradient` the gradient of its last element with respect to `x`.
//!
//! The time loop is a `scan` of `s` steps over a body function holding one
//! step, with every operation in the reference's order, so the results
//! agree to rounding; `gradient` is adjit's reverse mode of that graph,
//! differentiated through the loop (a `scan_adjoint` that keeps every
//! state), so its size does not depend on `s`.

use super::backend::Hints;
use super::input::{list, result, size, tensor, vector};
use super::{Build, GradbenchError, Job, gradient, unknown_function};
use adjit::ir::{Graph, Module, Shape, Type, Var};
use serde_json::Value;

/// The right-hand side: `z₀ = x₀`, `zᵢ = xᵢ yᵢ₋₁`.
fn rhs<'g>(g: &'g Graph, x: Var<'g>, y: Var<'g>, n: usize) -> Var<'g> {
    let one = g.constant(&[1.0], [1]);
    let shifted = g.concat(&[one, y.slice_axis(0, 0usize, n - 1)], 0);
    x * shifted
}

/// One Runge–Kutta step from `y` with step size `h`. Halving is written as
/// a product with 0.5, which rounds exactly as the reference's division by
/// 2 (the divisor is a power of two) and is much cheaper.
fn step<'g>(g: &'g Graph, x: Var<'g>, y: Var<'g>, n: usize, h: f64) -> Var<'g> {
    let k1 = rhs(g, x, y, n);
    let k2 = rhs(g, x, y + h * k1 * 0.5, n);
    let k3 = rhs(g, x, y + h * k2 * 0.5, n);
    let k4 = rhs(g, x, y + h * k3, n);
    y + h * (k1 + 2.0 * k2 + 2.0 * k3 + k4) / 6.0
}

/// The module for `n` unknowns and `s` steps; its entry returns `y(2)`, or
/// only its last element if `last_only`.
pub(crate) fn primal(
    n: usize,
    s: usize,
    last_only: bool,
) -> Result<(Module, String), GradbenchError> {
    if n == 0 {
        return Err(GradbenchError::Input("`x` must not be empty".into()));
    }
    let graph_err = |e: &dyn std::fmt::Display| GradbenchError::Graph(e.to_string());
    let h = 2.0 / s as f64;
    let mut module = Module::new();
    let body = Graph::new("rk4_step");
    let x = body.param("x", Type::f64(&[n]));
    let y = body.param("y", Type::f64(&[n]));
    let next = step(&body, x, y, n, h);
    let f = body.finish(&[next]).map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;
    let g = Graph::with_module("ode", &module);
    let x = g.param("x", Type::f64(&[n]));
    let mut y = g.scan("rk4_step", s, &[x], &[g.zeros(Type::f64(&[n]))], &[], false)[0];
    if last_only {
        y = y.slice_axis(0, n - 1, n).reshape(Shape::scalar());
    }
    let f = g.finish(&[y]).map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;
    Ok((module, "ode".into()))
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let x = vector(input, "x")?;
    let s = size(input, "s")?;
    let n = x.len();
    let inputs = vec![tensor(&[n], x)?];
    let key = format!("ode/{function}/n={n},s={s}");
    let build: Build = match function {
        "primal" => Box::new(move || primal(n, s, false)),
        "gradient" => Box::new(move || {
            let (m, f) = primal(n, s, true)?;
            gradient(m, &f, &[0])
        }),
        _ => return Err(unknown_function("ode", function)),
    };
    Ok(Job {
        key,
        hints: Hints::default(),
        build,
        inputs,
        output: Box::new(|outs| Ok(list(result(&outs, 0)?))),
    })
}
