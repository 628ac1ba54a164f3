//! `particle`: the control parameter `w` that makes a charged particle,
//! pushed by the charges at `(10, 10 − w)` and `(10, 0)`, cross the `x`
//! axis at the origin: `argmin_w x(t_f)²` by gradient descent from the
//! input `w`, the trajectory by naive Euler steps of `Δt = 0.1` from
//! `x(0) = (0, 8)`, `ẋ(0) = (0.75, 0)` until the next position would be at
//! or below the axis, then linear interpolation to the crossing. The force
//! is `−∇ₓp` of the potential `p(x; w) = Σ 1/‖x − cᵢ‖`.
//!
//! The functions `ff`, `fr`, `rf`, `rr` name the AD modes of the outer
//! gradient (of `x(t_f)²` with respect to `w`, which differentiates through
//! the Euler loop) and of the inner one (of `p` with respect to `x`, in the
//! Euler loop's body). The Euler integration and the solver (see
//! [`super::nested`]) are `while` loops in the IR, so each function
//! compiles to one native function.

use super::backend::Hints;
use super::input::{float, result, scalar_result, tensor};
use super::nested::{MAX_TRIPS, Mode, add, argmin, gradient_fn, graph_err, scalar_param, solve};
use super::saddle::modes;
use super::{GradbenchError, Job, unknown_function};
use adjit::ir::{Elem, Graph, Module, Scalar, Shape, Type, Var};
use serde_json::Value;

/// The Euler step.
const DELTA_T: f64 = 0.1;

/// The module of the variant with outer mode `outer` and inner mode
/// `inner`; its entry takes `w: f64` and returns the final `w` and whether
/// a loop did not finish (as `f64`: zero when all did).
pub(crate) fn module(outer: Mode, inner: Mode) -> Result<(Module, String), GradbenchError> {
    let mut module = Module::new();

    // p(w; x₀, x₁): the parameter first, a constant of the inner gradient.
    let g = Graph::new("potential");
    let w = scalar_param(&g, "w");
    let x = [scalar_param(&g, "x0"), scalar_param(&g, "x1")];
    let charges = [(g.scalar(10.0), 10.0 - w), (g.scalar(10.0), g.scalar(0.0))];
    let mut p = None;
    for (cx, cy) in charges {
        let (dx, dy) = (cx - x[0], cy - x[1]);
        let term = 1.0 / (dx * dx + dy * dy).sqrt();
        p = Some(match p {
            None => term,
            Some(acc) => acc + term,
        });
    }
    let p = p.ok_or_else(|| GradbenchError::Graph("no charges".into()))?;
    add(&mut module, &g, &[p])?;
    let force_grad = gradient_fn(&mut module, "potential", 1, 2, inner)?;

    // The Euler loop over (x₀, x₁, ẋ₀, ẋ₁, go), w constant.
    let g = Graph::with_module("euler_cond", &module);
    let (_, _, go) = euler_state(&g);
    add(&mut module, &g, &[go])?;
    let g = Graph::with_module("euler_step", &module);
    let (w, s, _) = euler_state(&g);
    let grad = g.call(&force_grad, &[w, s[0], s[1]]);
    let acc = [-grad[0], -grad[1]];
    let x_new = [s[0] + DELTA_T * s[2], s[1] + DELTA_T * s[3]];
    let above = x_new[1].gt(0.0);
    let v_new = [s[2] + DELTA_T * acc[0], s[3] + DELTA_T * acc[1]];
    let next = [
        g.select(above, x_new[0], s[0]),
        g.select(above, x_new[1], s[1]),
        g.select(above, v_new[0], s[2]),
        g.select(above, v_new[1], s[3]),
        above,
    ];
    add(&mut module, &g, &next)?;

    // x(t_f)² as a function of w.
    let g = Graph::with_module("miss", &module);
    let w = scalar_param(&g, "w");
    let (s, _) = g.while_loop("euler_cond", "euler_step", MAX_TRIPS, &[w], &init_of(&g));
    let delta_t_f = -s[1] / s[3];
    let x_t_f = s[0] + delta_t_f * s[2];
    add(&mut module, &g, &[x_t_f * x_t_f])?;

    // The same, flagging an Euler loop that did not finish.
    let g = Graph::with_module("miss_checked", &module);
    let w = scalar_param(&g, "w");
    let (s, _) = g.while_loop("euler_cond", "euler_step", MAX_TRIPS, &[w], &init_of(&g));
    add(&mut module, &g, &[s[4]])?;

    let outer_grad = gradient_fn(&mut module, "miss", 0, 1, outer)?;
    let solver = argmin(&mut module, "argmin_w", "miss", &outer_grad, 0, 1)?;
    let g = Graph::with_module("particle", &module);
    let w0 = g.param("w", Type::f64(&[]));
    let (w, go) = solve(&g, &solver, ("miss", &outer_grad), &[], &[w0]);
    let euler_go = g.call("miss_checked", &[w[0]])[0];
    let unfinished = go.convert(Elem::F64) + euler_go.convert(Elem::F64);
    let f = g.finish(&[w[0], unfinished]).map_err(|e| graph_err(&e))?;
    module.add(f).map_err(|e| graph_err(&e))?;
    Ok((module, "particle".into()))
}

/// The parameters of the Euler loop's condition and body: `w`, the
/// position and velocity, and `go`.
fn euler_state(g: &Graph) -> (Var<'_>, Vec<Var<'_>>, Var<'_>) {
    let w = scalar_param(g, "w");
    let s = ["x0", "x1", "v0", "v1"]
        .iter()
        .map(|n| scalar_param(g, n))
        .collect();
    (w, s, g.param("go", Type::scalar(Elem::Bool)))
}

/// The Euler loop's initial state.
fn init_of(g: &Graph) -> [Var<'_>; 5] {
    [
        g.scalar(0.0),
        g.scalar(8.0),
        g.scalar(0.75),
        g.scalar(0.0),
        g.full(Scalar::Bool(true), Shape::scalar()),
    ]
}

pub(crate) fn job(function: &str, input: &Value) -> Result<Job, GradbenchError> {
    let (outer, inner) = modes(function).ok_or_else(|| unknown_function("particle", function))?;
    let w = float(input, "w")?;
    Ok(Job {
        key: format!("particle/{function}"),
        hints: Hints::default(),
        build: Box::new(move || module(outer, inner)),
        inputs: vec![tensor(&[], vec![w])?],
        output: Box::new(|outs| {
            if result(&outs, 1)?.iter().any(|&u| u != 0.0) {
                return Err(GradbenchError::Eval(format!(
                    "a loop did not finish in {MAX_TRIPS} steps"
                )));
            }
            scalar_result(&outs, 0)
        }),
    })
}
