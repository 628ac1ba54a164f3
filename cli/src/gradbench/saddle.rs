//! `saddle`: the saddle point of `f(a, b) = (a₀² + a₁²) − (b₀² + b₁²)` by
//! nested gradient descent, from the input `start` for every solver:
//! `a* = argminₐ maxᵦ f(a, b)`, then `b* = argmaxᵦ f(a*, b)`; the output is
//! `[a*₀, a*₁, b*₀, b*₁]`.
//!
//! The functions `ff`, `fr`, `rf`, `rr` name the AD modes of the outer
//! gradient (of `maxᵦ f(a, b)` with respect to `a`, which differentiates
//! through the inner solver's `while` loop) and of the inner one (of `f`
//! with respect to `b`); the final argmax uses the outer mode. Each solver
//! is a `while` loop in the IR (see [`super::nested`]), so each function
//! compiles to one native function: the outer solver's body calls the
//! derivative of a function holding the inner solver's loop, whose body
//! calls the derivative of `f`.

use super::backend::Hints;
use super::input::{list, result, tensor, vector};
use super::nested::{
    MAX_TRIPS, Mode, add, argmin, elem, gradient_fn, graph_err, scalar_param, solve,
};
use super::{GradbenchError, Job, unknown_function};
use adjit::ir::{Graph, Module, Type};
use serde_json::Value;

/// The module of the variant with outer mode `outer` and inner mode
/// `inner`; its entry takes `start: f64[2]` and returns `[a*, b*]` and the
/// three solvers' `go` flags summed (as `f64`: zero when all converged).
pub(crate) fn module(outer: Mode, inner: Mode) -> Result<(Module, String), GradbenchError> {
    let mut module = Module::new();

    // f(a₀, a₁, b₀, b₁) and its negation, which the argmax minimises.
    let g = Graph::new("f");
    let p: Vec<_> = ["a0", "a1", "b0", "b1"]
        .iter()
        .map(|n| scalar_param(&g, n))
        .collect();
    let value = (p[0] * p[0] + p[1] * p[1]) - (p[2] * p[2] + p[3] * p[3]);
    add(&mut module, &g, &[value])?;
    let g = Graph::with_module("neg_f", &module);
    let p: Vec<_> = ["a0", "a1", "b0", "b1"]
        .iter()
        .map(|n| scalar_param(&g, n))
        .collect();
    let value = -g.call("f", &p)[0];
    add(&mut module, &g, &[value])?;

    // The inner argmax over b, a and the start being constants.
    let inner_grad = gradient_fn(&mut module, "neg_f", 2, 2, inner)?;
    let inner_solver = argmin(&mut module, "argmax_b", "neg_f", &inner_grad, 2, 2)?;

    // max_b f(a, b) as a function of a (the start as constants first).
    let g = Graph::with_module("max_f", &module);
    let s: Vec<_> = ["s0", "s1"].iter().map(|n| scalar_param(&g, n)).collect();
    let a: Vec<_> = ["a0", "a1"].iter().map(|n| scalar_param(&g, n)).collect();
    let (b, _) = solve(&g, &inner_solver, ("neg_f", &inner_grad), &a, &s);
    let value = g.call("f", &[a[0], a[1], b[0], b[1]])[0];
    add(&mut module, &g, &[value])?;

    // The outer argmin over a, and the final argmax over b.
    let outer_grad = gradient_fn(&mut module, "max_f", 2, 2, outer)?;
    let outer_solver = argmin(&mut module, "argmin_a", "max_f", &outer_grad, 2, 2)?;
    let final_grad = gradient_fn(&mut module, "neg_f", 2, 2, outer)?;
    let final_solver = argmin(&mut module, "final_argmax_b", "neg_f", &final_grad, 2, 2)?;

    let g = Graph::with_module("saddle", &module);
    let start = g.param("start", Type::f64(&[2]));
    let s = [elem(start, 0), elem(start, 1)];
    let (a, go_a) = solve(&g, &outer_solver, ("max_f", &outer_grad), &s, &s);
    let (b, go_b) = solve(&g, &final_solver, ("neg_f", &final_grad), &a, &s);
    let point = g.concat(
        &[
            a[0].reshape([1]),
            a[1].reshape([1]),
            b[0].reshape([1]),
            b[1].reshape([1]),
        ],
        0,
    );
    let unfinished = go_a.convert(adjit::ir::Elem::F64) + go_b.convert(adjit::ir::Elem::F64);
    let f = g.finish(&[point, unfinished]).map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;
    Ok((module, "saddle".into()))
}

/// The modes a function name asks for: `"fr"` is forward outside, reverse
/// inside.
pub(crate) fn modes(function: &str) -> Option<(Mode, Mode)> {
    let mut chars = function.chars();
    let (o, i) = (chars.next()?, chars.next()?);
    if chars.next().is_some() {
        return None;
    }
    Some((Mode::of(o)?, Mode::of(i)?))
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let (outer, inner) = modes(function).ok_or_else(|| unknown_function("saddle", function))?;
    let start = vector(input, "start")?;
    if start.len() != 2 {
        return Err(GradbenchError::Input(format!(
            "`start` has {} entries, expected 2",
            start.len()
        )));
    }
    Ok(Job {
        key: format!("saddle/{function}"),
        hints: Hints::default(),
        build: Box::new(move || module(outer, inner)),
        inputs: vec![tensor(&[2], start)?],
        output: Box::new(|outs| {
            if result(&outs, 1)?.iter().any(|&u| u != 0.0) {
                return Err(GradbenchError::Eval(format!(
                    "gradient descent did not converge in {MAX_TRIPS} steps"
                )));
            }
            Ok(list(result(&outs, 0)?))
        }),
    })
}
